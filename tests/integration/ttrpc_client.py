"""A minimal ttrpc client for tests (github.com/containerd/ttrpc's framing):
10-byte header (big-endian length, stream id, type, flags) and the
ttrpc.Request / ttrpc.Response messages from the build's descriptor set."""
import socket
import struct

REQUEST, RESPONSE = 1, 2
NS_KEY = "containerd-namespace-ttrpc"


class TtrpcClient:
    def __init__(self, protos, path, timeout=10.0):
        self.protos = protos
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.stream = 1
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def frame(stream, type_, body, flags=0, length=None):
        return struct.pack(">IIBB", len(body) if length is None else length, stream, type_, flags) + body

    def request_bytes(self, service, method, payload=b"", ns=None, stream=None):
        req = self.protos.new("ttrpc.Request", service=service, method=method, payload=payload)
        if ns is not None:
            kv = req.metadata.add()
            kv.key = NS_KEY
            kv.value = ns
        if stream is None:
            stream = self.stream
            self.stream += 2
        return stream, self.frame(stream, REQUEST, req.SerializeToString())

    def read_frame(self):
        """(stream, type, body) or None at EOF."""
        while len(self.buf) < 10 or len(self.buf) < 10 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        length, stream, type_, _flags = struct.unpack(">IIBB", self.buf[:10])
        body = self.buf[10:10 + length]
        self.buf = self.buf[10 + length:]
        return stream, type_, body

    def response(self, want_stream):
        while True:
            f = self.read_frame()
            if f is None:
                raise ConnectionError("ttrpc: connection closed")
            stream, type_, body = f
            if stream == want_stream and type_ == RESPONSE:
                r = self.protos.new("ttrpc.Response")
                r.ParseFromString(body)
                return r

    def call(self, service, method, msg=None, ns=None, out_type=None):
        """(code, message, result message or raw payload)."""
        payload = msg.SerializeToString() if msg is not None else b""
        stream, data = self.request_bytes(service, method, payload, ns)
        self.send_raw(data)
        r = self.response(stream)
        code = r.status.code if r.HasField("status") else 0
        out = r.payload
        if code == 0 and out_type is not None:
            m = self.protos.new(out_type)
            m.ParseFromString(r.payload)
            out = m
        return code, (r.status.message if r.HasField("status") else ""), out
