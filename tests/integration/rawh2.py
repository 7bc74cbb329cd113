"""A deliberately small HTTP/2 client for crafting bad input by hand.

Frames are built byte by byte (so a test can send anything, valid or not);
header blocks are HPACK-encoded and decoded with Debian's python3-hpack. The
client answers SETTINGS and PING as a peer must, gives back flow-control
credit for what it reads (unless told not to), and collects per stream the
response headers, the DATA bytes, the trailers and any RST_STREAM, plus a
GOAWAY for the connection.
"""
import socket
import struct
import time
import urllib.parse

try:
    import hpack
except ImportError:   # the bad-input tests that need it skip without it
    hpack = None

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# SETTINGS identifiers
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = \
    range(1, 7)

# error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, \
    REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)


def hpack_int(value, prefix_bits, first=0):
    """HPACK integer (RFC 7541 5.1) with `first` holding the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(headers):
    """A header block of literal fields without indexing, no Huffman: valid
    HPACK that needs no encoder state (so any block can be sent, or not, in any order)."""
    out = b""
    for k, v in headers:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += b"\x00" + hpack_int(len(k), 7) + k + hpack_int(len(v), 7) + v
    return out


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def settings(**kv):
    ids = {"header_table_size": HEADER_TABLE_SIZE, "enable_push": ENABLE_PUSH,
           "max_concurrent_streams": MAX_CONCURRENT_STREAMS, "initial_window_size": INITIAL_WINDOW_SIZE,
           "max_frame_size": MAX_FRAME_SIZE, "max_header_list_size": MAX_HEADER_LIST_SIZE}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


def window_update(stream, inc):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", inc))


def rst_stream(stream, code=CANCEL):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def grpc_message(body, compressed=0, length=None):
    """One gRPC length-prefixed message: flag byte, 4-byte big-endian length, body."""
    return bytes([compressed]) + struct.pack(">I", len(body) if length is None else length) + body


def grpc_messages(data):
    """Splits DATA bytes into gRPC message bodies (complete ones only)."""
    out = []
    i = 0
    while i + 5 <= len(data):
        n = struct.unpack(">I", data[i + 1:i + 5])[0]
        if i + 5 + n > len(data):
            break
        out.append(data[i + 5:i + 5 + n])
        i += 5 + n
    return out


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None        # the first header block (response headers or trailers-only)
        self.trailers = None
        self.chunks = []           # DATA payloads (joined by .data: appending to bytes is quadratic)
        self.rst = None            # RST_STREAM error code
        self.ended = False         # END_STREAM from the server, or RST_STREAM

    @property
    def data(self):
        if len(self.chunks) > 1:
            self.chunks = [b"".join(self.chunks)]
        return self.chunks[0] if self.chunks else b""

    def all_headers(self):
        return dict((self.headers or []) + (self.trailers or []))

    @property
    def http_status(self):
        return self.all_headers().get(":status")

    @property
    def grpc_status(self):
        s = self.all_headers().get("grpc-status")
        return int(s) if s is not None else None

    @property
    def grpc_message(self):
        return urllib.parse.unquote(self.all_headers().get("grpc-message", ""))

    def messages(self):
        return grpc_messages(self.data)

    def __repr__(self):
        return "<stream %d status=%r message=%r rst=%r headers=%r data=%d bytes>" % (
            self.id, self.grpc_status, self.grpc_message, self.rst, self.headers, len(self.data))


class ConnectionClosed(Exception):
    pass


class Conn:
    def __init__(self, path, timeout=5.0, auto_window=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # a blocking connect waits while the listen backlog is full (a non-blocking one gets EAGAIN)
        self.s.settimeout(None)
        self.s.connect(path)
        self.s.settimeout(timeout)
        self.timeout = timeout
        self.auto_window = auto_window
        self.dec = hpack.Decoder() if hpack else None
        if self.dec is not None:
            self.dec.max_header_list_size = 1 << 24
        self.inbuf = bytearray()   # received, not handled yet from inpos on
        self.inpos = 0
        self.streams = {}
        self.goaway = None         # (last_stream_id, error_code, debug bytes)
        self.closed = False
        self.server_settings = {}
        self.next_id = 1
        # flow control of what we send (send_flow): the connection's window and each stream's
        self.conn_window = 65535
        self.stream_window = {}
        self._hblock = None        # (stream, flags, fragments) while CONTINUATION frames are due

    # --- sending ---------------------------------------------------------
    def send(self, data):
        self.s.sendall(data)

    def try_send(self, data):
        """send() that reports a closed peer instead of raising."""
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            return False

    def handshake(self, **settings_kv):
        self.send(PREFACE + settings(**settings_kv))

    def new_stream_id(self):
        sid = self.next_id
        self.next_id += 2
        return sid

    @staticmethod
    def encode_headers(headers):
        return hpack_literal(headers)

    def headers_frame(self, sid, headers, end_stream=False, max_frame=16384):
        """HEADERS (+ CONTINUATION frames when the block exceeds max_frame)."""
        block = self.encode_headers(headers)
        first, rest = block[:max_frame], block[max_frame:]
        es = END_STREAM if end_stream else 0
        if not rest:
            return frame(HEADERS, END_HEADERS | es, sid, first)
        out = frame(HEADERS, es, sid, first)
        while rest:
            chunk, rest = rest[:max_frame], rest[max_frame:]
            out += frame(CONTINUATION, 0 if rest else END_HEADERS, sid, chunk)
        return out

    @staticmethod
    def grpc_request_headers(path, ns=None, extra=(), content_type="application/grpc", method="POST"):
        h = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost")]
        if content_type is not None:
            h.append(("content-type", content_type))
        h.append(("te", "trailers"))
        if ns is not None:
            h.append(("containerd-namespace", ns))
        return h + list(extra)

    def call(self, path, body=b"", ns=None, extra=(), raw_data=None, end_stream=True, sid=None):
        """Sends one gRPC request (HEADERS + one DATA with `body` framed, or
        `raw_data` as the DATA payload as is). Returns the stream id."""
        sid = sid or self.new_stream_id()
        self.streams.setdefault(sid, Stream(sid))
        payload = grpc_message(body) if raw_data is None else raw_data
        self.send(self.headers_frame(sid, self.grpc_request_headers(path, ns, extra)) +
                  frame(DATA, END_STREAM if end_stream else 0, sid, payload))
        return sid

    def send_flow(self, sid, data, end_stream=False, timeout=10.0, max_frame=16384):
        """DATA frames within the server's flow-control windows (waiting for its
        WINDOW_UPDATEs as a real client does). Stops early, returning the bytes
        not sent, when the stream ends (refused, answered) or the connection
        closes."""
        if sid not in self.stream_window:
            self.stream_window[sid] = self.server_settings.get(INITIAL_WINDOW_SIZE, 65535)
        st = self._stream(sid)
        while data or end_stream:
            if st.ended or self.closed or self.goaway is not None and sid > self.goaway[0]:
                return len(data)
            n = min(len(data), self.conn_window, self.stream_window[sid], max_frame)
            if n == 0 and data:
                try:
                    ok = self.pump(lambda: st.ended or min(self.conn_window, self.stream_window[sid]) > 0, timeout)
                except ConnectionClosed:
                    return len(data)
                if not ok:
                    raise TimeoutError("stream %d: no flow-control window for %.0f s" % (sid, timeout))
                continue
            last = n == len(data) and end_stream
            if not self.try_send(frame(DATA, END_STREAM if last else 0, sid, data[:n])):
                self.closed = True
                return len(data)
            self.conn_window -= n
            self.stream_window[sid] -= n
            data = data[n:]
            if last or not data and not end_stream:
                break
            try:
                self.drain()
            except ConnectionClosed:
                return len(data)
        return 0

    def drain(self):
        """Handles what the server has sent so far (SETTINGS, PING, WINDOW_UPDATE,
        answers) without waiting for more; raises ConnectionClosed at its end."""
        self.s.setblocking(False)
        try:
            while True:
                b = self.s.recv(1 << 16)
                if not b:
                    self.closed = True
                    raise ConnectionClosed()
                self.inbuf += b
        except (BlockingIOError, InterruptedError):
            pass
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            raise ConnectionClosed()
        finally:
            self.s.settimeout(self.timeout)
        while True:
            f = self._next_frame()
            if f is None:
                break
            self._handle(f)

    # --- receiving -------------------------------------------------------
    def _recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.s.settimeout(remaining)
        try:
            b = self.s.recv(1 << 16)
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            b = b""
        if not b:
            self.closed = True
            raise ConnectionClosed()
        self.inbuf += b
        return True

    def _next_frame(self):
        # an offset into the buffer, compacted now and then: slicing the front
        # off at every frame is quadratic for megabytes of DATA
        b, i = self.inbuf, self.inpos
        if len(b) - i < 9:
            return None
        n = int.from_bytes(b[i:i + 3], "big")
        if len(b) - i < 9 + n:
            return None
        ftype, flags = b[i + 3], b[i + 4]
        sid = int.from_bytes(b[i + 5:i + 9], "big") & 0x7FFFFFFF
        payload = bytes(b[i + 9:i + 9 + n])
        self.inpos = i + 9 + n
        if self.inpos > (1 << 20) and self.inpos * 2 > len(b):
            del b[:self.inpos]
            self.inpos = 0
        return ftype, flags, sid, payload

    def _stream(self, sid):
        st = self.streams.get(sid)
        if st is None:
            st = self.streams[sid] = Stream(sid)
        return st

    def _header_block(self, sid, flags, block):
        st = self._stream(sid)
        headers = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                   for k, v in self.dec.decode(block)] if self.dec else []
        if st.headers is None:
            st.headers = headers
        else:
            st.trailers = headers
        if flags & END_STREAM:
            st.ended = True

    def _handle(self, f):
        ftype, flags, sid, payload = f
        if self._hblock is not None and ftype != CONTINUATION:
            raise AssertionError("server sent frame type %d inside a header block" % ftype)
        if ftype == SETTINGS:
            if not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    self.server_settings[k] = v
                self.try_send(frame(SETTINGS, ACK, 0))
        elif ftype == PING:
            if not flags & ACK:
                self.try_send(frame(PING, ACK, 0, payload))
        elif ftype == HEADERS:
            p = payload
            if flags & PADDED:
                pad = p[0]
                p = p[1:len(p) - pad]
            if flags & PRIORITY_FLAG:
                p = p[5:]
            if flags & END_HEADERS:
                self._header_block(sid, flags, p)
            else:
                self._hblock = (sid, flags, [p])
        elif ftype == CONTINUATION:
            hsid, hflags, frags = self._hblock
            frags.append(payload)
            if flags & END_HEADERS:
                self._hblock = None
                self._header_block(hsid, hflags, b"".join(frags))
        elif ftype == DATA:
            st = self._stream(sid)
            p = payload
            if flags & PADDED:
                pad = p[0]
                p = p[1:len(p) - pad]
            st.chunks.append(p)
            if flags & END_STREAM:
                st.ended = True
            if self.auto_window and len(payload) > 0:
                self.try_send(window_update(0, len(payload)) + (window_update(sid, len(payload))
                                                                if not st.ended else b""))
        elif ftype == RST_STREAM:
            st = self._stream(sid)
            st.rst = struct.unpack(">I", payload[:4])[0]
            st.ended = True
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
        elif ftype == WINDOW_UPDATE:
            inc = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            if sid == 0:
                self.conn_window += inc
            elif sid in self.stream_window:
                self.stream_window[sid] += inc

    def pump(self, until, timeout=None):
        """Reads and handles frames until until() is true (returns True), the
        timeout passes (False) or the server closes (raises ConnectionClosed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            while True:
                f = self._next_frame()
                if f is None:
                    break
                self._handle(f)
            if until():
                return True
            if not self._recv_some(deadline):
                return until()

    def wait_stream(self, sid, timeout=None):
        """The stream once it ended (END_STREAM or RST_STREAM). Raises on
        timeout; a connection closed by the server ends every stream."""
        st = self._stream(sid)
        try:
            ok = self.pump(lambda: st.ended or self.goaway is not None and sid > self.goaway[0], timeout)
        except ConnectionClosed:
            return st
        if not ok:
            raise TimeoutError("stream %d did not end in time: %r" % (sid, st))
        return st

    def wait_closed(self, timeout=5.0):
        """True when the server closed the connection within the timeout."""
        try:
            self.pump(lambda: False, timeout)
        except ConnectionClosed:
            return True
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
