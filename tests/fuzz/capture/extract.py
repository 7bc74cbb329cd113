#!/usr/bin/python3
"""Turns the streams rec.c recorded into fuzz seeds (see capture.sh).

  grpc-*.in   -> grpc_conn/      the client's bytes as they are
              -> proto_requests/ each request message: [method index,
                 task_requests/  header flags, message] (fuzz_requests.h),
                                 to the target whose method list has it
  ttrpc-*.in  -> ttrpc/          [1] + bytes (the daemon's ttrpc server)
  shim-*.in   -> ttrpc/          [2] + bytes (a shim's answers to the daemon)
  shim-*.out  -> shim_request/   the daemon's requests to a shim
  config-*.in -> config/, toml/  the config files the daemon read
  both        -> ttrpc/          [0, piece] + bytes (the codec)
Usage: extract.py RAW_DIR SEED_DIR TARGET=METHODS_TXT...
(METHODS_TXT: what FUZZ_LIST_METHODS=1 prints for the target)"""
import hashlib
import os
import struct
import sys

import hpack

MAX = 1 << 20


def put(seed_dir, target, data):
    if not data or len(data) > MAX:
        return
    d = os.path.join(seed_dir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def h2_requests(data):
    """(path, headers, message bytes) of each stream's first gRPC message."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    if not data.startswith(preface):
        return
    off = len(preface)
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 1 << 16
    streams = {}
    block = {}
    while off + 9 <= len(data):
        length = int.from_bytes(data[off:off + 3], "big")
        ftype, flags = data[off + 3], data[off + 4]
        sid = struct.unpack(">I", data[off + 5:off + 9])[0] & 0x7fffffff
        payload = data[off + 9:off + 9 + length]
        off += 9 + length
        if len(payload) < length:
            break
        if ftype in (1, 9):   # HEADERS, CONTINUATION
            p = payload
            if ftype == 1:
                pad = p[0] if flags & 0x8 else 0
                p = p[1:] if flags & 0x8 else p
                p = p[5:] if flags & 0x20 else p
                p = p[:len(p) - pad] if pad else p
            block.setdefault(sid, b"")
            block[sid] += p
            if flags & 0x4:   # END_HEADERS
                try:
                    hdrs = dict((k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                                for k, v in dec.decode(block.pop(sid)))
                except Exception:
                    return
                if ":path" in hdrs and sid not in streams:
                    streams[sid] = [hdrs, b""]
        elif ftype == 0 and sid in streams:   # DATA
            p = payload
            if flags & 0x8:
                pad = p[0]
                p = p[1:len(p) - pad]
            streams[sid][1] += p
    for hdrs, body in streams.values():
        if len(body) >= 5:
            n = int.from_bytes(body[1:5], "big")
            yield hdrs[":path"], hdrs, body[5:5 + n]
        else:
            yield hdrs[":path"], hdrs, b""


def main():
    raw, seeds = sys.argv[1:3]
    index = {}   # path -> (target, index)
    for arg in sys.argv[3:]:
        target, _, methods_txt = arg.partition("=")
        with open(methods_txt) as f:
            for line in f:
                i, path, _ = line.split()
                index[path] = (target, int(i))
    ns_flag = {"default": 1, "fuzz": 2, "k8s.io": 3}
    for name in sorted(os.listdir(raw)):
        with open(os.path.join(raw, name), "rb") as f:
            data = f.read()
        kind, _, _ = name.partition("-")
        direction = name.rsplit(".", 1)[1]
        if kind == "grpc" and direction == "in":
            put(seeds, "grpc_conn", data)
            for path, hdrs, msg in h2_requests(data):
                if path not in index:
                    continue
                flags = ns_flag.get(hdrs.get("containerd-namespace"), 1 if "containerd-namespace" in hdrs else 0)
                if "containerd-lease" in hdrs:
                    flags |= 4
                target, i = index[path]
                put(seeds, target, bytes([i, flags]) + msg)
        elif kind == "ttrpc" and direction == "in":
            put(seeds, "ttrpc", b"\x01" + data)
            put(seeds, "ttrpc", b"\x00\xff" + data)
        elif kind == "shim" and direction == "in":
            put(seeds, "ttrpc", b"\x02" + data)
            put(seeds, "ttrpc", b"\x00\x07" + data)
        elif kind == "shim" and direction == "out":
            put(seeds, "shim_request", data)
        elif kind == "config" and direction == "in":
            put(seeds, "config", data)
            put(seeds, "toml", data)


if __name__ == "__main__":
    main()
