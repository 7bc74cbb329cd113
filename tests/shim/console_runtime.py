#!/usr/bin/python3
"""A stand-in OCI runtime for the shim's console socket: its `create`
connects to --console-socket and sends what the bundle's file
`console-mode` says, then fails with a message the test reads back (the
shim reports it as the runtime's error):

  stat    the mode of the socket and of its directory, nothing sent
  two     two fds: a file's and a pty master's (one expected)
  notty   one fd of a regular file (a pty master expected)
  none    a message without fds

Every other command (delete) succeeds."""
import array
import json
import os
import socket
import stat
import sys

args = sys.argv[1:]
if "create" not in args:
    sys.exit(0)


def opt(name):
    return args[args.index(name) + 1] if name in args else None


bundle, path = opt("--bundle"), opt("--console-socket")
with open(os.path.join(bundle, "console-mode")) as f:
    mode = f.read().strip()
if mode == "stat":
    # as runc logs its errors (--log, --log-format json): the shim reads them back
    msg = "console socket mode %o, directory mode %o" % (stat.S_IMODE(os.stat(path).st_mode),
                                                       stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode))
    with open(opt("--log"), "a") as f:
        f.write(json.dumps({"level": "error", "msg": msg}) + "\n")
    sys.exit(1)
fds = []
if mode in ("two", "notty"):
    fds.append(os.open(os.path.join(bundle, "console-file"), os.O_RDONLY))
if mode == "two":
    master, slave = os.openpty()
    fds.append(master)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
s.sendmsg([b"/dev/pts/99"], anc)
s.close()
# the shim reads the pid file before it takes the master
with open(opt("--pid-file"), "w") as f:
    f.write(str(os.getpid()))
sys.exit(0)
