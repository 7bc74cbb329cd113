#!/usr/bin/python3
"""A broken runtime v2 shim for tests: run as `ctr run --runtime
/path/fake_shim.py`, it misbehaves in the way its container id names.
  shim-fails     `start` prints an error and exits 1
  shim-silent    `start` exits 0 and prints no address
  shim-nosocket  `start` prints the address of a socket nobody serves
  shim-garbage   the server answers the first request with garbage and hangs up
  shim-pipes     like shim-nosocket, but a child keeps stdout open for 20 s
  shim-dies      answers every request with an empty success, except
                 Delete, on which it hangs up and exits (a shim dying under
                 a Delete)
`delete` always succeeds with an empty DeleteResponse."""
import os
import socket
import sys
import time

args = sys.argv[1:]
cmd = args[-1] if args else ""
cid = args[args.index("-id") + 1] if "-id" in args else ""

if cmd == "delete":
    sys.exit(0)
if cmd != "start":
    sys.exit(2)

if cid == "shim-fails":
    sys.stderr.write("fake shim: cannot start: no cgroup for you\n")
    sys.exit(1)
if cid == "shim-silent":
    sys.exit(0)
path = "/tmp/fake-shim-%d.sock" % os.getpid()
if cid == "shim-nosocket":
    print("unix://" + path)
    sys.exit(0)
if cid == "shim-pipes":
    if os.fork() == 0:
        time.sleep(20)    # holds the stdout and stderr it inherited
        os._exit(0)
    print("unix://" + path)
    sys.exit(0)
if cid == "shim-garbage":
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    if os.fork() == 0:
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        srv.settimeout(20)
        try:
            c, _ = srv.accept()
            c.recv(65536)
            c.sendall(b"\x00\x00\x00\x05\x00\x00\x00\x01\x02\x00garbage that is not a response")
            c.close()
        finally:
            os.unlink(path)
        os._exit(0)
    print("unix://" + path)
    sys.exit(0)
if cid == "shim-dies":
    import struct
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    if os.fork() == 0:
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        srv.settimeout(30)
        try:
            c, _ = srv.accept()
            buf = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 10 and len(buf) >= 10 + struct.unpack(">I", buf[:4])[0]:
                    length, stream = struct.unpack(">II", buf[:8])
                    body, buf = buf[10:10 + length], buf[10 + length:]
                    if b"\x12\x06Delete" in body:   # ttrpc.Request field 2 (method) = "Delete"
                        c.close()
                        os._exit(0)
                    c.sendall(struct.pack(">IIBB", 0, stream, 2, 0))   # an empty Response: OK
        finally:
            os.unlink(path)
        os._exit(0)
    print("unix://" + path)
    sys.exit(0)
sys.exit(3)
