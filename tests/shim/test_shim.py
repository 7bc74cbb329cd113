"""ucontainerd-shim without the daemon: this script is the daemon's side.

It starts the shim with its `start` command, speaks ttrpc to it
(containerd.task.v2.Task), receives its events on a fake TTRPC_ADDRESS
server, and runs busybox containers with runc and crun from a rootfs given
to Create as a bind mount. Message classes come from the build's
descriptor set.

  test_shim.py --shim build/bin/ucontainerd-shim --descriptors build/proto/ucontainerd.pb
               [--runtime runc|crun|all] [-k NAME]

Output is TAP-like ("ok N - name"); exit 0 when all passed, 1 on a failure,
77 when it cannot run here (not root, no runc). Every shim, container,
mount and runtime state it makes is removed at the end, processes by PID.
"""
import argparse
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SKIP = 77
TASK = "containerd.task.v2.Task"
NS = "shimtest"
REQUEST, RESPONSE = 1, 2
OK, UNKNOWN, INVALID, NOT_FOUND, EXISTS, EXHAUSTED, PRECONDITION, UNIMPLEMENTED = 0, 2, 3, 5, 6, 8, 9, 12
CREATED, RUNNING, STOPPED, PAUSED = 1, 2, 3, 4


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def eq(got, want, what="value"):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


def contains(hay, needle, what="text"):
    if needle not in hay:
        raise Failure("%s: expected to contain %r, got %r" % (what, needle, hay))


def wait_until(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for %s" % what)
        time.sleep(0.02)


class Protos:
    def __init__(self, path):
        with open(path, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            self.pool.Add(fd)
        self.factory = message_factory.MessageFactory(self.pool)
        self.classes = {}

    def new(self, name, **fields):
        c = self.classes.get(name)
        if c is None:
            c = self.factory.GetPrototype(self.pool.FindMessageTypeByName(name))
            self.classes[name] = c
        m = c()
        for k, v in fields.items():
            if isinstance(v, (list, tuple)):
                getattr(m, k).extend(v)
            elif hasattr(v, "SerializeToString"):
                getattr(m, k).CopyFrom(v)
            else:
                setattr(m, k, v)
        return m

    def parse(self, name, data):
        m = self.new(name)
        m.ParseFromString(data)
        return m


P = None   # Protos, set in main


def frame(stream, type_, body, length=None):
    return struct.pack(">IIBB", len(body) if length is None else length, stream, type_, 0) + body


class Client:
    """ttrpc client; responses may come in any order."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.stream = 1
        self.buf = b""
        self.pending = {}

    def close(self):
        self.sock.close()

    def read_frame(self):
        while len(self.buf) < 10 or len(self.buf) < 10 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        length, stream, type_, _ = struct.unpack(">IIBB", self.buf[:10])
        body = self.buf[10:10 + length]
        self.buf = self.buf[10 + length:]
        return stream, type_, body

    def send(self, method, msg=None, payload=None, service=TASK, stream=None):
        if payload is None:
            payload = msg.SerializeToString() if msg is not None else b""
        req = P.new("ttrpc.Request", service=service, method=method, payload=payload)
        kv = req.metadata.add()
        kv.key, kv.value = "containerd-namespace-ttrpc", NS
        if stream is None:
            stream = self.stream
            self.stream += 2
        self.sock.sendall(frame(stream, REQUEST, req.SerializeToString()))
        return stream

    def result(self, stream, out_type=None):
        while stream not in self.pending:
            f = self.read_frame()
            if f is None:
                raise ConnectionError("shim closed the connection")
            if f[1] == RESPONSE:
                self.pending[f[0]] = f[2]
        r = P.parse("ttrpc.Response", self.pending.pop(stream))
        code = r.status.code if r.HasField("status") else 0
        msg = r.status.message if r.HasField("status") else ""
        out = r.payload
        if code == 0 and out_type is not None:
            out = P.parse(out_type, r.payload)
        return code, msg, out

    def call(self, method, msg=None, out_type=None):
        return self.result(self.send(method, msg), out_type)

    def ok(self, method, msg=None, out_type=None):
        code, text, out = self.call(method, msg, out_type)
        if code != 0:
            raise Failure("%s: code %d: %s" % (method, code, text))
        return out

    def err(self, method, msg, want_code):
        code, text, _ = self.call(method, msg)
        if code != want_code:
            raise Failure("%s: expected code %d, got %d (%s)" % (method, want_code, code, text))
        return text


class EventServer:
    """The daemon's ttrpc socket as far as the shim's events go."""

    def __init__(self, path):
        self.path = path
        self.events = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 10 and len(buf) >= 10 + struct.unpack(">I", buf[:4])[0]:
                length, stream, _, _ = struct.unpack(">IIBB", buf[:10])
                req = P.parse("ttrpc.Request", buf[10:10 + length])
                buf = buf[10 + length:]
                ns = [kv.value for kv in req.metadata if kv.key == "containerd-namespace-ttrpc"]
                fwd = P.parse("containerd.services.events.ttrpc.v1.ForwardRequest", req.payload)
                env = fwd.envelope
                ev = P.parse(env.event.type_url, env.event.value)
                with self.lock:
                    self.events.append((env.topic, ev, env.namespace, ns, req.service, req.method))
                try:
                    c.sendall(frame(stream, RESPONSE, P.new("ttrpc.Response").SerializeToString()))
                except OSError:
                    return   # the shim went away (killed by a test)

    def for_container(self, cid):
        with self.lock:
            return [(t, e) for (t, e, _, _, _, _) in self.events if e.container_id == cid]

    def topics(self, cid):
        return [t for t, _ in self.for_container(cid)]

    def wait_topic(self, cid, topic, timeout=10):
        return wait_until(lambda: [e for t, e in self.for_container(cid) if t == topic], timeout,
                          "event %s of %s" % (topic, cid))[0]

    def close(self):
        self.stopped = True
        self.sock.close()


class Reader:
    """Reads a FIFO until EOF in a thread (the client's stdout/stderr)."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        # O_NONBLOCK opens at once; blocking reads start once the shim is a writer
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = b""
        self.eof = False
        self.thread = None

    def start(self):
        os.set_blocking(self.fd, True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            b = os.read(self.fd, 65536)
            if not b:
                break
            self.data += b
        self.eof = True
        os.close(self.fd)

    def wait_eof(self, timeout=10):
        wait_until(lambda: self.eof, timeout, "EOF on " + os.path.basename(self.path))
        return self.data.decode()


class Env:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="ucd-shim-")
        self.daemon_dir = os.path.join(self.tmp, "d")
        os.makedirs(self.daemon_dir)
        self.address = os.path.join(self.daemon_dir, "ucd.sock")
        self.ttrpc = self.address + ".ttrpc"
        self.events = EventServer(self.ttrpc)
        self.rootfs = os.path.join(self.tmp, "rootfs")
        self.runc_root = os.path.join(self.tmp, "runc-root")
        self.shims = []        # pids
        self.containers = []   # (binary, id)
        self.bundles = []
        self.make_rootfs()

    def make_rootfs(self):
        for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(self.rootfs, d))
        shutil.copy("/bin/busybox", os.path.join(self.rootfs, "bin/busybox"))
        names = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
        for n in names:
            if n != "busybox":
                os.symlink("busybox", os.path.join(self.rootfs, "bin", n))

    def bundle(self, cid, args, terminal=False, memory_limit=None):
        b = os.path.join(self.tmp, "b", cid)
        os.makedirs(os.path.join(b, "rootfs"))
        os.makedirs(os.path.join(b, "io"))
        subprocess.run(["runc", "spec"], cwd=b, check=True)
        import json
        with open(os.path.join(b, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = terminal
        spec["hostname"] = cid
        if memory_limit is not None:
            spec["linux"].setdefault("resources", {})["memory"] = {"limit": memory_limit, "swap": memory_limit}
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        self.bundles.append(b)
        return b

    def shim_cmd(self, cid, command, bundle=None):
        cmd = [self.args.shim, "-namespace", NS, "-address", self.address, "-publish-binary", "/bin/true",
               "-id", cid]
        if self.args.debug:
            cmd.append("-debug")
        if bundle is not None and command == "delete":
            cmd += ["-bundle", bundle]
        return cmd + [command]

    def run_start(self, cid, bundle, ttrpc=None, cmd=None, env=None, pass_fds=()):
        """`start` as the daemon runs it (cmd/env/pass_fds to vary it);
        returns the CompletedProcess."""
        env = dict(os.environ, TTRPC_ADDRESS=ttrpc or self.ttrpc, **(env or {}))
        return subprocess.run(cmd or self.shim_cmd(cid, "start"), cwd=bundle, env=env, input=b"",
                              capture_output=True, timeout=20, pass_fds=pass_fds)

    def start_shim(self, cid, bundle, ttrpc=None, **kw):
        r = self.run_start(cid, bundle, ttrpc, **kw)
        if r.returncode != 0:
            raise Failure("shim start failed (%d): %s" % (r.returncode, r.stderr.decode()))
        address = r.stdout.decode().strip()
        check(address.startswith("unix://"), "start printed %r" % address)
        path = address[len("unix://"):]
        c = Client(path)
        pid = c.ok("Connect", P.new("containerd.task.v2.ConnectRequest", id=cid),
                   "containerd.task.v2.ConnectResponse").shim_pid
        self.shims.append(pid)
        return c, path, pid

    def options(self, runtime):
        o = P.new("containerd.runc.v1.Options", binary_name=runtime, root=self.runc_root)
        return P.new("google.protobuf.Any", type_url="containerd.runc.v1.Options", value=o.SerializeToString())

    def create_req(self, cid, bundle, runtime, stdout="", stderr="", stdin="", terminal=False, mount=True):
        req = P.new("containerd.task.v2.CreateTaskRequest", id=cid, bundle=bundle, stdout=stdout, stderr=stderr,
                    stdin=stdin, terminal=terminal, options=self.options(runtime))
        if mount:
            m = req.rootfs.add()
            m.type, m.source = "bind", self.rootfs
            m.options.extend(["rbind", "ro"])
        self.containers.append((runtime, cid))
        return req

    def stray_shims(self):
        """Shims of this run that no test registered (their `start` failed
        after the server was forked): found by the daemon address in argv."""
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0] == self.args.shim.encode() and any(self.tmp.encode() in a for a in argv):
                out.append(int(p))
        return out

    def cleanup(self):
        for runtime, cid in self.containers:
            if shutil.which(runtime) is None:
                continue
            subprocess.run([runtime, "--root", os.path.join(self.runc_root, NS), "delete", "--force", cid],
                           capture_output=True)
        for pid in self.shims + self.stray_shims():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for b in self.bundles:
            r = os.path.join(b, "rootfs")
            while subprocess.run(["umount", "-l", r], capture_output=True).returncode == 0:
                pass
        self.events.close()
        still = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
        if self.tmp in still:
            print("# WARNING: mounts left under %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def mounted(path):
    """os.path.ismount misses a bind mount from the same filesystem."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def task(method_or_type, **kw):
    return P.new("containerd.task.v2." + method_or_type, **kw)


def shim_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie counts as gone (it is not our child)
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def run_container(env, runtime, cid, args, want_exit, want_out=None, want_err=None):
    """Create/Start/Wait/Delete with state checks; returns the events seen."""
    b = env.bundle(cid, args)
    out, err = Reader(os.path.join(b, "io", "stdout")), Reader(os.path.join(b, "io", "stderr"))
    c, path, shim_pid = env.start_shim(cid, b)
    resp = c.ok("Create", env.create_req(cid, b, runtime, stdout=out.path, stderr=err.path),
                "containerd.task.v2.CreateTaskResponse")
    out.start()
    err.start()
    check(resp.pid > 0, "create returned pid %d" % resp.pid)
    st = c.ok("State", task("StateRequest", id=cid), "containerd.task.v2.StateResponse")
    eq(st.status, CREATED, "status after create")
    eq(st.pid, resp.pid, "state pid")
    eq(st.bundle, b, "state bundle")
    eq(st.stdout, out.path, "state stdout")
    check(mounted(os.path.join(b, "rootfs")), "rootfs mounted")
    wait_stream = c.send("Wait", task("WaitRequest", id=cid))
    started = c.ok("Start", task("StartRequest", id=cid), "containerd.task.v2.StartResponse")
    eq(started.pid, resp.pid, "start pid")
    code, msg, w = c.result(wait_stream, "containerd.task.v2.WaitResponse")
    eq(code, 0, "wait code (%s)" % msg)
    eq(w.exit_status, want_exit, "exit status")
    check(w.exited_at.seconds > 0, "exited_at set")
    st = c.ok("State", task("StateRequest", id=cid), "containerd.task.v2.StateResponse")
    eq(st.status, STOPPED, "status after exit")
    eq(st.exit_status, want_exit, "state exit status")
    text = out.wait_eof()
    etext = err.wait_eof()
    if want_out is not None:
        eq(text, want_out, "stdout")
    if want_err is not None:
        eq(etext, want_err, "stderr")
    d = c.ok("Delete", task("DeleteRequest", id=cid), "containerd.task.v2.DeleteResponse")
    eq(d.exit_status, want_exit, "delete exit status")
    eq(d.pid, resp.pid, "delete pid")
    check(not mounted(os.path.join(b, "rootfs")), "rootfs unmounted after delete")
    env.events.wait_topic(cid, "/tasks/delete")
    topics = env.events.topics(cid)
    eq(topics, ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], "events")
    ex = [e for t, e in env.events.for_container(cid) if t == "/tasks/exit"][0]
    eq((ex.id, ex.pid, ex.exit_status), (cid, resp.pid, want_exit), "TaskExit")
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit after Shutdown")
    check(not os.path.exists(path), "socket removed")
    c.close()


def exec_spec(bundle, args, env=()):
    """An exec's process spec: the bundle's process with other args (and env)."""
    import json
    with open(os.path.join(bundle, "config.json")) as f:
        proc = json.load(f)["process"]
    proc["args"] = args
    proc["env"] = proc.get("env", []) + list(env)
    return P.new("google.protobuf.Any", type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                 value=json.dumps(proc).encode())


def running(env, rt, cid, args=("sleep", "1000"), **io):
    """A started container; returns (client, bundle, shim pid)."""
    b = env.bundle(cid, list(args))
    c, _, shim_pid = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, **io))
    c.ok("Start", task("StartRequest", id=cid))
    return c, b, shim_pid


def kill_and_delete(c, cid):
    """The init killed, waited and deleted; the shim told to go."""
    c.ok("Kill", task("KillRequest", id=cid, signal=9, all=True))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


# --- tests -----------------------------------------------------------------

TESTS = []


def test(name, runtimes=("runc", "crun")):
    def deco(fn):
        TESTS.append((name, fn, runtimes))
        return fn
    return deco


@test("true: create, start, wait, delete, events, shutdown")
def _(env, rt):
    run_container(env, rt, "true-" + rt, ["true"], 0, "", "")


@test("sh exits 3: output in the FIFOs, EOF seen")
def _(env, rt):
    run_container(env, rt, "sh-" + rt, ["sh", "-c", "echo hi; echo oops >&2; exit 3"], 3, "hi\n", "oops\n")


@test("kill a sleep: pids, 137, second kill is NotFound, Wait does not block")
def _(env, rt):
    cid = "sleep-" + rt
    b = env.bundle(cid, ["sleep", "1000"])
    c, _, shim_pid = env.start_shim(cid, b)
    pid = c.ok("Create", env.create_req(cid, b, rt), "containerd.task.v2.CreateTaskResponse").pid
    c.ok("Start", task("StartRequest", id=cid))
    eq(c.ok("State", task("StateRequest", id=cid), "containerd.task.v2.StateResponse").status, RUNNING, "status")
    pids = c.ok("Pids", task("PidsRequest", id=cid), "containerd.task.v2.PidsResponse")
    check(pid in [p.pid for p in pids.processes], "pid %d in %s" % (pid, [p.pid for p in pids.processes]))
    # a parked Wait must not hold other requests back
    ws = c.send("Wait", task("WaitRequest", id=cid))
    c.ok("Connect", task("ConnectRequest", id=cid))
    c.err("Delete", task("DeleteRequest", id=cid), PRECONDITION)
    c.err("Start", task("StartRequest", id=cid), PRECONDITION)
    c.ok("Kill", task("KillRequest", id=cid, signal=9))
    code, _, w = c.result(ws, "containerd.task.v2.WaitResponse")
    eq((code, w.exit_status), (0, 137), "wait after SIGKILL")
    eq(c.err("Kill", task("KillRequest", id=cid, signal=9), NOT_FOUND), "process already finished: not found",
       "kill message")
    # an unknown exec id, an unknown task id
    c.err("State", task("StateRequest", id=cid, exec_id="nope"), NOT_FOUND)
    c.err("State", task("StateRequest", id="other"), NOT_FOUND)
    # Shutdown with a task keeps the shim
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    time.sleep(0.2)
    check(not shim_gone(shim_pid), "shim stays while its task exists")
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")


@test("delete a created, never started task")
def _(env, rt):
    cid = "created-" + rt
    b = env.bundle(cid, ["sleep", "1000"])
    c, _, shim_pid = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt))
    d = c.ok("Delete", task("DeleteRequest", id=cid), "containerd.task.v2.DeleteResponse")
    eq(d.exit_status, 137, "exit status of the killed init")
    c.err("State", task("StateRequest", id=cid), NOT_FOUND)
    check(not mounted(os.path.join(b, "rootfs")), "rootfs unmounted")
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")


@test("stdin through a pipe, CloseIO ends it")
def _(env, rt):
    cid = "stdin-" + rt
    b = env.bundle(cid, ["sh", "-c", "cat; echo done"])
    out = Reader(os.path.join(b, "io", "stdout"))
    inp = os.path.join(b, "io", "stdin")
    os.mkfifo(inp)
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout=out.path, stdin=inp))
    out.start()
    c.ok("Start", task("StartRequest", id=cid))
    w = os.open(inp, os.O_WRONLY)
    os.write(w, b"hello\n")
    ws = c.send("Wait", task("WaitRequest", id=cid))
    time.sleep(0.3)
    c.ok("CloseIO", task("CloseIORequest", id=cid, stdin=True))
    code, _, res = c.result(ws, "containerd.task.v2.WaitResponse")
    eq((code, res.exit_status), (0, 0), "wait")
    eq(out.wait_eof(), "hello\ndone\n", "stdout")
    os.close(w)
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("exec: added, started, exit, duplicate id, delete")
def _(env, rt):
    import json
    cid = "exec-" + rt
    b = env.bundle(cid, ["sleep", "1000"])
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    with open(os.path.join(b, "config.json")) as f:
        proc = json.load(f)["process"]
    proc["args"] = ["sh", "-c", "echo from-exec; exit 5"]
    out = Reader(os.path.join(b, "io", "exec-out"))
    spec = P.new("google.protobuf.Any", type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                 value=json.dumps(proc).encode())
    c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id="e1", stdout=out.path, spec=spec))
    eq(c.err("Exec", task("ExecProcessRequest", id=cid, exec_id="e1", spec=spec), EXISTS), "id e1: already exists",
       "duplicate exec")
    st = c.ok("State", task("StateRequest", id=cid, exec_id="e1"), "containerd.task.v2.StateResponse")
    eq(st.status, CREATED, "exec status before start")
    ws = c.send("Wait", task("WaitRequest", id=cid, exec_id="e1"))
    epid = c.ok("Start", task("StartRequest", id=cid, exec_id="e1"), "containerd.task.v2.StartResponse").pid
    out.start()
    code, _, res = c.result(ws, "containerd.task.v2.WaitResponse")
    eq((code, res.exit_status), (0, 5), "exec wait")
    eq(out.wait_eof(), "from-exec\n", "exec stdout")
    d = c.ok("Delete", task("DeleteRequest", id=cid, exec_id="e1"), "containerd.task.v2.DeleteResponse")
    eq((d.pid, d.exit_status), (epid, 5), "exec delete")
    c.err("State", task("StateRequest", id=cid, exec_id="e1"), NOT_FOUND)
    # a command that does not exist: the runtime's own words
    proc["args"] = ["/no/such/binary"]
    spec.value = json.dumps(proc).encode()
    c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id="e2", spec=spec))
    code, msg, _ = c.call("Start", task("StartRequest", id=cid, exec_id="e2"))
    check(code != 0, "exec of a missing binary failed")
    contains(msg, "OCI runtime exec failed", "exec error")
    contains(msg, "/no/such/binary", "exec error")
    evs = env.events.topics(cid)
    check("/tasks/exec-added" in evs and "/tasks/exec-started" in evs, "exec events: %s" % evs)
    c.ok("Kill", task("KillRequest", id=cid, signal=9))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.err("Exec", task("ExecProcessRequest", id=cid, exec_id="e3", spec=spec), PRECONDITION)
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("terminal: output through the pty, resize")
def _(env, rt):
    cid = "tty-" + rt
    b = env.bundle(cid, ["sh", "-c", "sleep 0.3; stty size; echo tty-ok"], terminal=True)
    out = Reader(os.path.join(b, "io", "stdout"))
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout=out.path, terminal=True))
    out.start()
    c.ok("ResizePty", task("ResizePtyRequest", id=cid, width=100, height=30))
    c.ok("Start", task("StartRequest", id=cid))
    code, _, res = c.result(c.send("Wait", task("WaitRequest", id=cid)), "containerd.task.v2.WaitResponse")
    eq((code, res.exit_status), (0, 0), "wait")
    eq(out.wait_eof().replace("\r", ""), "30 100\ntty-ok\n", "terminal output")
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("terminal: the container's fds are the pty's slave only")
def _(env, rt):
    cid = "ttyfds-" + rt
    b = env.bundle(cid, ["sh", "-c", "ls /proc/$$/fd; readlink /proc/$$/fd/0"],
                   terminal=True)
    out = Reader(os.path.join(b, "io", "stdout"))
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout=out.path, terminal=True))
    out.start()
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Wait", task("WaitRequest", id=cid))
    lines = out.wait_eof().replace("\r", "").split()
    eq(lines[:3], ["0", "1", "2"], "the shell's fds (%r)" % lines)
    check(len(lines) == 4 and lines[3].startswith("/dev/pts/"), "fd 0 is the pty's slave: %r" % lines)
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("pause and resume")
def _(env, rt):
    cid = "pause-" + rt
    b = env.bundle(cid, ["sleep", "1000"])
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Pause", task("PauseRequest", id=cid))
    eq(c.ok("State", task("StateRequest", id=cid), "containerd.task.v2.StateResponse").status, PAUSED, "paused")
    c.ok("Resume", task("ResumeRequest", id=cid))
    eq(c.ok("State", task("StateRequest", id=cid), "containerd.task.v2.StateResponse").status, RUNNING, "resumed")
    env.events.wait_topic(cid, "/tasks/resumed")
    check("/tasks/paused" in env.events.topics(cid), "paused event")
    c.ok("Kill", task("KillRequest", id=cid, signal=9, all=True))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("a command that does not exist: the runtime's error, rootfs unmounted")
def _(env, rt):
    cid = "nocmd-" + rt
    b = env.bundle(cid, ["/no/such/cmd"])
    c, _, _ = env.start_shim(cid, b)
    code, msg, _ = c.call("Create", env.create_req(cid, b, rt))
    if code == 0:
        # crun and newer runc find out at start
        code, msg, _ = c.call("Start", task("StartRequest", id=cid))
        c.call("Delete", task("DeleteRequest", id=cid))
    else:
        contains(msg, "OCI runtime create failed", "create error")
    check(code != 0, "the missing command is an error")
    contains(msg, "/no/such/cmd", "error")
    check(not mounted(os.path.join(b, "rootfs")), "rootfs unmounted")
    c.ok("Connect", task("ConnectRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("missing runtime binary: clear error, shim keeps serving", runtimes=("runc",))
def _(env, rt):
    cid = "nobin"
    b = env.bundle(cid, ["true"])
    c, _, shim_pid = env.start_shim(cid, b)
    req = env.create_req(cid, b, "no-such-runc")
    code, msg, _ = c.call("Create", req)
    check(code != 0, "create failed")
    contains(msg, 'runtime binary "no-such-runc" not found in PATH', "error")
    check(not mounted(os.path.join(b, "rootfs")), "nothing mounted")
    c.err("State", task("StateRequest", id=cid), NOT_FOUND)
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")


@test("bad input: garbage, oversized frame, unknown method, bad payload", runtimes=("runc",))
def _(env, rt):
    cid = "badinput"
    b = env.bundle(cid, ["true"])
    c, path, shim_pid = env.start_shim(cid, b)
    # not ttrpc at all: that connection is closed, the shim lives
    g = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    g.settimeout(10)
    g.connect(path)
    g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
    check(g.recv(100) == b"", "garbage connection closed")
    g.close()
    # a frame over 4 MiB: ResourceExhausted on its stream, then business as usual
    big = Client(path)
    big.sock.sendall(frame(1, REQUEST, b"", length=5 << 20) + b"\0" * (5 << 20))
    big.stream = 3
    eq(big.result(1)[0], EXHAUSTED, "oversized frame")
    big.ok("Connect", task("ConnectRequest", id=cid))
    code, msg, _ = big.call("Nope")
    eq(code, UNIMPLEMENTED, "unknown method")
    contains(msg, "Nope", "unimplemented message")
    eq(big.result(big.send("Connect", service="containerd.other.v1.X"))[0], UNIMPLEMENTED, "unknown service")
    eq(big.result(big.send("State", payload=b"\xff\xff\xff"))[0], INVALID, "undecodable payload")
    # a request frame whose body is not a ttrpc Request
    big.sock.sendall(frame(big.stream, REQUEST, b"\x0a\xff\xff"))
    eq(big.result(big.stream)[0], INVALID, "bad ttrpc request")
    big.stream += 2
    # a connection that goes away with a Wait parked
    c.ok("Create", env.create_req(cid, b, rt))
    w = Client(path)
    w.send("Wait", task("WaitRequest", id=cid))
    w.close()
    c.ok("Start", task("StartRequest", id=cid))
    eq(c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse").exit_status, 0, "wait")
    c.ok("Delete", task("DeleteRequest", id=cid))
    check(not shim_gone(shim_pid), "shim alive")
    big.close()
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("start twice, delete command, namespace of events", runtimes=("runc",))
def _(env, rt):
    cid = "cmds"
    b = env.bundle(cid, ["sleep", "1000"])
    c, path, shim_pid = env.start_shim(cid, b)
    with open(os.path.join(b, "address")) as f:
        eq(f.read(), "unix://" + path, "address file")
    r = subprocess.run(env.shim_cmd(cid, "start"), cwd=b, input=b"", capture_output=True, timeout=20,
                       env=dict(os.environ, TTRPC_ADDRESS=env.ttrpc))
    check(r.returncode != 0, "second start fails")
    contains(r.stderr.decode(), "already running", "second start")
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    # the shim dies: `delete` cleans up after it
    os.kill(shim_pid, signal.SIGKILL)
    wait_until(lambda: shim_gone(shim_pid), 5, "shim killed")
    r = subprocess.run(env.shim_cmd(cid, "delete", bundle=b), cwd="/", capture_output=True, timeout=20)
    eq(r.returncode, 0, "delete exit code (%s)" % r.stderr.decode())
    d = P.parse("containerd.task.v2.DeleteResponse", r.stdout)
    eq(d.exit_status, 137, "delete exit status")
    check(d.exited_at.seconds > 0, "exited_at")
    check(not mounted(os.path.join(b, "rootfs")), "rootfs unmounted")
    st = subprocess.run([rt, "--root", os.path.join(env.runc_root, NS), "state", cid], capture_output=True)
    check(st.returncode != 0, "runtime state removed")
    with env.events.lock:
        evs = [e for e in env.events.events if e[1].container_id == cid]
    check(evs, "events received")
    for topic, _, ns, md, service, method in evs:
        eq((ns, md, service, method), (NS, [NS], "containerd.services.events.ttrpc.v1.Events", "Forward"),
           "envelope of " + topic)


@test("stats from the cgroup, update, OOM event")
def _(env, rt):
    import json
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        raise Skip("no cgroup v1 memory hierarchy")
    cid = "stats-" + rt
    b = env.bundle(cid, ["sleep", "1000"])
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    r = c.ok("Stats", task("StatsRequest", id=cid), "containerd.task.v2.StatsResponse")
    eq(r.stats.type_url, "io.containerd.cgroups.v1.Metrics", "type url")
    m = P.parse("io.containerd.cgroups.v1.Metrics", r.stats.value)
    check(m.memory.usage.usage > 0, "memory usage %d" % m.memory.usage.usage)
    check(m.pids.current >= 1, "pids current %d" % m.pids.current)
    check(m.cpu.usage.total > 0 and len(m.cpu.usage.per_cpu) > 0, "cpu usage")
    limit = 64 << 20
    res = P.new("google.protobuf.Any", type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                value=json.dumps({"memory": {"limit": limit}}).encode())
    c.ok("Update", task("UpdateTaskRequest", id=cid, resources=res))
    m = P.parse("io.containerd.cgroups.v1.Metrics",
                c.ok("Stats", task("StatsRequest", id=cid), "containerd.task.v2.StatsResponse").stats.value)
    eq(m.memory.usage.limit, limit, "limit after Update")
    c.ok("Kill", task("KillRequest", id=cid, signal=9))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.ok("Delete", task("DeleteRequest", id=cid))
    check("/tasks/oom" not in env.events.topics(cid), "no OOM event for a deleted cgroup")
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    # a container that runs out of memory
    cid = "oom-" + rt
    b = env.bundle(cid, ["sh", "-c", "x=0123456789; while true; do x=$x$x; done"], memory_limit=16 << 20)
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    w = c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse")
    eq(w.exit_status, 137, "killed by the OOM killer")
    env.events.wait_topic(cid, "/tasks/oom")
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("events wait for a daemon that is not there yet", runtimes=("runc",))
def _(env, rt):
    cid = "late"
    b = env.bundle(cid, ["true"])
    late = os.path.join(env.daemon_dir, "late.ttrpc")
    c, _, _ = env.start_shim(cid, b, ttrpc=late)
    c.ok("Create", env.create_req(cid, b, rt))
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Wait", task("WaitRequest", id=cid))
    time.sleep(0.5)
    server = EventServer(late)
    try:
        wait_until(lambda: len(server.topics(cid)) == 3, 5, "queued events delivered")
        eq(server.topics(cid), ["/tasks/create", "/tasks/start", "/tasks/exit"], "events in order")
        c.ok("Delete", task("DeleteRequest", id=cid))
        server.wait_topic(cid, "/tasks/delete")
    finally:
        server.close()
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


# --- stdio: the container holds pipes, never a file the shim opened ---------

def run_to_exit(env, rt, cid, args, **io):
    """Create/Start/Wait/Delete/Shutdown of a container with the given stdio
    (paths); returns its exit status."""
    b = env.bundle(cid, args)
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, **io))
    c.ok("Start", task("StartRequest", id=cid))
    status = c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse").exit_status
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    return status


@test("stdio: fds 0, 1 and 2 of the container are pipes, with FIFOs and without any stdio")
def _(env, rt):
    cid = "pipes-" + rt
    b = env.bundle(cid, ["sh", "-c", "for f in 0 1 2; do readlink /proc/self/fd/$f; done"])
    out, err = Reader(os.path.join(b, "io", "stdout")), Reader(os.path.join(b, "io", "stderr"))
    inp = os.path.join(b, "io", "stdin")
    os.mkfifo(inp)
    w = os.open(inp, os.O_RDWR)   # a writer that stays: stdin never ends by itself
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout=out.path, stderr=err.path, stdin=inp))
    out.start()
    err.start()
    c.ok("Start", task("StartRequest", id=cid))
    eq(c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse").exit_status, 0, "exit")
    links = out.wait_eof().split()
    eq(len(links), 3, "three links: %r" % links)
    for fd, link in enumerate(links):
        check(link.startswith("pipe:["), "fd %d of the container is %s, not a pipe" % (fd, link))
    eq(err.wait_eof(), "", "stderr")
    os.close(w)
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    # no stdio at all: not the host's /dev/null either (root in the
    # container could chmod it through /proc/self/fd)
    status = run_to_exit(env, rt, "nullio-" + rt, [
        "sh", "-c", "for f in 0 1 2; do case $(readlink /proc/self/fd/$f) in pipe:*) ;; *) exit 1;; esac; done"])
    eq(status, 0, "fds 0-2 of a container without stdio are pipes")


@test("stdio: chmod, chown and writes through /proc/self/fd/1 and 2 never reach the host FIFO or file:// log")
def _(env, rt):
    import json
    cid = "fdchmod-" + rt
    b = env.bundle(cid, ["sh", "-c", "echo hello; echo through >> /proc/self/fd/1; "
                         "chmod 6755 /proc/self/fd/1 /proc/self/fd/2; chown 1234:1234 /proc/self/fd/1 /proc/self/fd/2; "
                         "echo to-err >&2"])
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    for caps in spec["process"]["capabilities"].values():   # what ctr's default spec gives root, too
        caps.extend(["CAP_CHOWN", "CAP_FOWNER", "CAP_FSETID"])
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    log = os.path.join(env.tmp, "logs-" + rt, "sub", "out.log")   # its directories are made too
    err = Reader(os.path.join(b, "io", "stderr"))
    fifo_before = os.stat(err.path)
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout="file://" + log, stderr=err.path))
    err.start()
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Wait", task("WaitRequest", id=cid))
    eq(err.wait_eof(), "to-err\n", "stderr")
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    st = os.stat(log)
    eq(stat.S_IMODE(st.st_mode), 0o640, "mode of the file:// log (%o)" % st.st_mode)
    eq((st.st_uid, st.st_gid), (0, 0), "owner of the file:// log")
    with open(log) as f:
        eq(f.read(), "hello\nthrough\n", "the log's contents")
    st = os.stat(err.path)
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid),
       (stat.S_IMODE(fifo_before.st_mode), fifo_before.st_uid, fifo_before.st_gid), "mode and owner of the FIFO")


@test("stdio: a file:// log URI is percent-decoded as containerd's shim reads it (ctr encodes a space as %20), "
      "with an empty or localhost authority, its query and fragment left out", runtimes=("runc",))
def _(env, rt):
    from urllib.parse import quote
    cid = "loguri"
    b = env.bundle(cid, ["sh", "-c", "echo out; echo err >&2"])
    logs = os.path.join(env.tmp, "log uri", "100%")
    out, err = os.path.join(logs, "a b#1.log"), os.path.join(logs, "c?d.log")
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout="file://" + quote(out) + "?mode=ignored#frag",
                                  stderr="file://localhost" + quote(err)))
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    eq(sorted(os.listdir(logs)), ["a b#1.log", "c?d.log"], "the files the URIs name, and no other")
    for path, want in ((out, "out\n"), (err, "err\n")):
        with open(path) as f:
            eq(f.read(), want, path)


@test("stdio: a stdout/stderr/stdin that is not a FIFO (symlink, file, directory, device, relative) or a file:// "
      "that is not a regular file: refused with a clear error, the shim serves on", runtimes=("runc",))
def _(env, rt):
    cid = "badio"
    b = env.bundle(cid, ["true"])
    io = os.path.join(b, "io")
    fifo = os.path.join(io, "fifo")
    os.mkfifo(fifo)
    os.symlink(fifo, os.path.join(io, "link"))
    with open(os.path.join(io, "file"), "w") as f:
        f.write("keep\n")
    os.mkdir(os.path.join(io, "dir"))
    os.symlink(os.path.join(io, "file"), os.path.join(io, "filelink"))
    c, _, shim_pid = env.start_shim(cid, b)
    cases = [
        ({"stdout": os.path.join(io, "link")}, "stdout fifo %s/link: it is a symlink, not a FIFO" % io),
        ({"stdout": os.path.join(io, "file")}, "stdout fifo %s/file: it is a regular file, not a FIFO" % io),
        ({"stderr": os.path.join(io, "dir")}, "stderr fifo %s/dir: it is a directory, not a FIFO" % io),
        ({"stdout": "/dev/null"}, "stdout fifo /dev/null: it is a character device, not a FIFO"),
        ({"stdin": os.path.join(io, "file")}, "stdin fifo %s/file: it is a regular file, not a FIFO" % io),
        ({"stdout": "io/fifo"}, "stdout fifo io/fifo: not an absolute path"),
        ({"stdout": "file://" + fifo}, "stdout log file %s: it is a FIFO, not a regular file" % fifo),
        ({"stdout": "file://" + os.path.join(io, "filelink")},
         "stdout log file %s/filelink: it is a symlink, not a regular file" % io),
        ({"stdout": "file://" + os.path.join(io, "dir")},
         "stdout log file %s/dir: it is a directory, not a regular file" % io),
        ({"stdout": "file://relative.log"}, "stdout log file relative.log: not an absolute path"),
        ({"stdout": "file://" + io + "/bad%zz.log"},
         'unable to parse stdout uri file://%s/bad%%zz.log: invalid URL escape "%%zz"' % io),
        ({"stdout": "file://" + io + "/cut%2"}, 'invalid URL escape "%2"'),
        ({"stdout": "file://" + io + "/nul%00.log"}, 'invalid URL escape "%00"'),
        ({"stderr": "file://" + io + "/tab\t.log"}, "unable to parse stderr uri: invalid control character in URL"),
        ({"stdout": "file://elsewhere" + io + "/x.log"}, "host `elsewhere` is not this machine"),
        ({"stdout": os.path.join(io, "fifo"), "terminal": True, "stdin": os.path.join(io, "link")},
         "stdin fifo %s/link: it is a symlink, not a FIFO" % io),
    ]
    for io_args, want in cases:
        code, msg, _ = c.call("Create", env.create_req(cid, b, rt, **io_args))
        eq(code, INVALID, "code for %r (%s)" % (io_args, msg))
        contains(msg, want, "error for %r" % io_args)
        check(not mounted(os.path.join(b, "rootfs")), "nothing left mounted")
        c.err("State", task("StateRequest", id=cid), NOT_FOUND)
    with open(os.path.join(io, "file")) as f:
        eq(f.read(), "keep\n", "the regular file is untouched")
    check(not shim_gone(shim_pid), "the shim serves on")
    c.ok("Create", env.create_req(cid, b, rt, stdout=fifo))
    c.ok("Start", task("StartRequest", id=cid))
    c.ok("Wait", task("WaitRequest", id=cid))
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("stdio: a file:// log that fails (a full disk) is given up: the process neither blocks nor dies of SIGPIPE",
      runtimes=("runc",))
def _(env, rt):
    cid = "fulldisk"
    full = os.path.join(env.tmp, "full")
    os.makedirs(full)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "none", full], check=True)
    try:
        b = env.bundle(cid, ["sh", "-c", "head -c 1048576 /dev/zero; st=$?; echo head exited $st >&2; exit $st"])
        err = Reader(os.path.join(b, "io", "stderr"))
        c, _, _ = env.start_shim(cid, b)
        c.ok("Create", env.create_req(cid, b, rt, stdout="file://" + os.path.join(full, "out.log"), stderr=err.path))
        err.start()
        c.ok("Start", task("StartRequest", id=cid))
        w = c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse")
        eq(w.exit_status, 0, "exit status (141 would be SIGPIPE)")
        eq(err.wait_eof(), "head exited 0\n", "stderr")
        with open(os.path.join(b, "shim.log")) as f:
            contains(f.read(), "stdout: writing to the target failed (No space left on device): the rest is dropped")
        c.ok("Delete", task("DeleteRequest", id=cid))
        c.ok("Shutdown", task("ShutdownRequest", id=cid))
    finally:
        subprocess.run(["umount", "-l", full], capture_output=True)


class SlowReader(Reader):
    """Reads small pieces with a pause between them: a client that lags."""

    def run(self):
        time.sleep(0.5)
        while True:
            b = os.read(self.fd, 4096)
            if not b:
                break
            self.data += b
            time.sleep(0.0005)
        self.eof = True
        os.close(self.fd)


@test("stdio: 4 MiB on stdout and on stderr to a slow reader: every byte, then EOF")
def _(env, rt):
    cid = "big-" + rt
    n = 4 << 20
    b = env.bundle(cid, ["sh", "-c", "yes 0123456789abcdef | head -c %d; yes fedcba9876543210 | head -c %d >&2; "
                         "exit 6" % (n, n)])
    out, err = SlowReader(os.path.join(b, "io", "stdout")), Reader(os.path.join(b, "io", "stderr"))
    c, _, _ = env.start_shim(cid, b)
    c.ok("Create", env.create_req(cid, b, rt, stdout=out.path, stderr=err.path))
    out.start()
    err.start()
    c.ok("Start", task("StartRequest", id=cid))
    eq(c.ok("Wait", task("WaitRequest", id=cid), "containerd.task.v2.WaitResponse").exit_status, 6, "exit")
    text = out.wait_eof(timeout=60)
    eq(len(text), n, "bytes on stdout")
    check(text == ("0123456789abcdef\n" * (n // 17 + 1))[:n], "stdout content")
    etext = err.wait_eof(timeout=60)
    eq(len(etext), n, "bytes on stderr")
    c.ok("Delete", task("DeleteRequest", id=cid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("stdio: an exec whose background child keeps stdout: the exit comes at once, the output and EOF when the "
      "child is done; a Delete of the exec ends the copy")
def _(env, rt):
    cid = "bgexec-" + rt
    c, b, _ = running(env, rt, cid)
    out = Reader(os.path.join(b, "io", "bg1"))
    c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id="bg1", stdout=out.path,
                      spec=exec_spec(b, ["sh", "-c", "echo first; (sleep 1; echo late) & exit 0"])))
    c.ok("Start", task("StartRequest", id=cid, exec_id="bg1"))
    out.start()
    t = time.monotonic()
    eq(c.ok("Wait", task("WaitRequest", id=cid, exec_id="bg1"), "containerd.task.v2.WaitResponse").exit_status, 0,
       "exec exit")
    check(time.monotonic() - t < 0.9, "the exit is not held back by the background child")
    eq(out.wait_eof(timeout=10), "first\nlate\n", "all the output, then EOF")
    check(time.monotonic() - t >= 0.9, "EOF came once the child was done")
    c.ok("Delete", task("DeleteRequest", id=cid, exec_id="bg1"))
    out = Reader(os.path.join(b, "io", "bg2"))
    c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id="bg2", stdout=out.path,
                      spec=exec_spec(b, ["sh", "-c", "echo early; sleep 1000 & exit 0"])))
    c.ok("Start", task("StartRequest", id=cid, exec_id="bg2"))
    out.start()
    c.ok("Wait", task("WaitRequest", id=cid, exec_id="bg2"))
    time.sleep(0.3)
    check(not out.eof, "no EOF while the background child holds stdout")
    c.ok("Delete", task("DeleteRequest", id=cid, exec_id="bg2"))
    eq(out.wait_eof(timeout=5), "early\n", "EOF after the exec's Delete")
    kill_and_delete(c, cid)


# --- files, sockets, names ---------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))


def fd_targets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


@test("files the shim and the runtime write in the bundle are 0600; the socket directory is 0700, the socket "
      "0600, bound so (no chmod after bind)")
def _(env, rt):
    cid = "modes-" + rt
    c, b, shim_pid = running(env, rt, cid)
    path = c.sock.getpeername()
    c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id="e1", spec=exec_spec(b, ["sleep", "1000"])))
    c.ok("Start", task("StartRequest", id=cid, exec_id="e1"))
    for name in ("address", "runtime", "log.json", "init.pid", "shim.log", "exec-e1.json", "exec-e1.pid"):
        st = os.lstat(os.path.join(b, name))
        check(stat.S_ISREG(st.st_mode), "%s is a file" % name)
        eq(stat.S_IMODE(st.st_mode), 0o600, "mode of %s" % name)
    st = os.lstat(path)
    check(stat.S_ISSOCK(st.st_mode), "the socket")
    eq(stat.S_IMODE(st.st_mode), 0o600, "mode of the shim's socket")
    eq(stat.S_IMODE(os.lstat(os.path.dirname(path)).st_mode), 0o700, "mode of the socket directory")
    kill_and_delete(c, cid)
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")
    if shutil.which("strace") is None:
        raise Skip("strace missing (package strace): the bind-then-chmod check is not made")
    # a fresh start under strace: nothing chmods or chowns the socket by its path
    cid = "modes2-" + rt
    b = env.bundle(cid, ["true"])
    trace = os.path.join(env.tmp, "strace-" + rt)
    # (the socket is bound before the fork: the server need not be traced)
    c, sock, _ = env.start_shim(cid, b, cmd=["strace", "-qq", "-o", trace, "-e",
                                             "trace=bind,chmod,fchmodat,chown,lchown,fchownat"]
                                + env.shim_cmd(cid, "start"),
                                env={"ASAN_OPTIONS": "detect_leaks=0"})   # LeakSanitizer cannot run under ptrace
    with open(trace) as f:
        calls = f.read()
    contains(calls, "bind(", "the trace")
    for line in calls.splitlines():
        check(not ("ch" in line.split("(")[0] and sock in line), "a chmod/chown of the socket: %s" % line)
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("the socket directory: an older 0711 is brought down to 0700; one of another user is refused",
      runtimes=("runc",))
def _(env, rt):
    d = os.path.join(env.tmp, "sockdir")
    os.makedirs(os.path.join(d, "s"))
    os.chmod(os.path.join(d, "s"), 0o711)
    cid = "sockdir"
    b = env.bundle(cid, ["true"])
    cmd = env.shim_cmd(cid, "start")
    cmd[cmd.index("-address") + 1] = os.path.join(d, "ucd.sock")
    c, _, shim_pid = env.start_shim(cid, b, cmd=cmd)
    eq(stat.S_IMODE(os.stat(os.path.join(d, "s")).st_mode), 0o700, "mode of the socket directory")
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")
    os.chown(os.path.join(d, "s"), 65534, 65534)
    r = env.run_start(cid, b, cmd=cmd)
    check(r.returncode != 0, "start with a socket directory of another user must fail")
    contains(r.stderr.decode(), "belongs to uid 65534, not to us (uid 0): refused", "start's error")
    eq(os.listdir(os.path.join(d, "s")), [], "no socket made there")


@test("exec ids: config, log, init, resources cannot overwrite bundle files; ids that are not identifiers are "
      "refused")
def _(env, rt):
    import json
    cid = "execids-" + rt
    c, b, _ = running(env, rt, cid)
    before = {}
    for name in ("config.json", "init.pid", "runtime", "address"):
        with open(os.path.join(b, name), "rb") as f:
            before[name] = f.read()
    spec = exec_spec(b, ["true"], env=["MARKER=exec-spec-marker"])
    for eid in ("config", "log", "init", "resources", "runtime", "address"):
        c.ok("Exec", task("ExecProcessRequest", id=cid, exec_id=eid, spec=spec))
        c.ok("Start", task("StartRequest", id=cid, exec_id=eid))
        eq(c.ok("Wait", task("WaitRequest", id=cid, exec_id=eid), "containerd.task.v2.WaitResponse").exit_status, 0,
           "exec %s" % eid)
        c.ok("Delete", task("DeleteRequest", id=cid, exec_id=eid))
    for name, data in before.items():
        with open(os.path.join(b, name), "rb") as f:
            eq(f.read(), data, "%s after the execs" % name)
    with open(os.path.join(b, "log.json"), "rb") as f:
        check(b"exec-spec-marker" not in f.read(), "log.json holds no exec spec")
    # the task still works: Update writes resources.json, the init is the init
    res = P.new("google.protobuf.Any", type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                value=json.dumps({"pids": {"limit": 1000}}).encode())
    c.ok("Update", task("UpdateTaskRequest", id=cid, resources=res))
    for eid in ("../x", "a/b", ".hidden", "a..b", "x" * 77, "a b", "e\n1"):
        msg = c.err("Exec", task("ExecProcessRequest", id=cid, exec_id=eid, spec=spec), INVALID)
        contains(msg, "invalid exec id", "error for %r" % eid)
    check(not os.path.exists(os.path.join(os.path.dirname(b), "x.json")), "nothing written outside the bundle")
    kill_and_delete(c, cid)


@test("Create names the shim's own task and bundle; a relative runtime path or a relative PATH entry is not run",
      runtimes=("runc",))
def _(env, rt):
    cid = "ownbundle"
    b = env.bundle(cid, ["true"])
    other = env.bundle("otherbundle", ["true"])
    c, _, shim_pid = env.start_shim(cid, b)
    msg = c.err("Create", env.create_req(cid, other, rt), INVALID)
    contains(msg, "bundle %s is not the directory this shim was started in" % other)
    check(not mounted(os.path.join(other, "rootfs")), "nothing mounted in the other bundle")
    msg = c.err("Create", env.create_req("otherid", b, rt), INVALID)
    contains(msg, "task id otherid: this shim was started for ownbundle")
    msg = c.err("Create", env.create_req("../x", b, rt), INVALID)
    contains(msg, "invalid task id ../x")
    # runtimes in the bundle (the shim's working directory), reachable by a
    # relative path or an empty PATH entry: never run
    marker = os.path.join(env.tmp, "relative-runtime-ran")
    for name in ("relrt", "pathrt"):
        with open(os.path.join(b, name), "w") as f:
            f.write("#!/bin/sh\ntouch %s\nexit 1\n" % marker)
        os.chmod(os.path.join(b, name), 0o755)
    msg = c.err("Create", env.create_req(cid, b, "./relrt"), INVALID)
    contains(msg, 'runtime binary "./relrt": a path must be absolute')
    c.ok("Shutdown", task("ShutdownRequest", id=cid))
    wait_until(lambda: shim_gone(shim_pid), 5, "shim exit")
    # a second shim in the same bundle, with an empty entry in its PATH
    c, _, _ = env.start_shim(cid, b, env={"PATH": ":/usr/sbin:/usr/bin:/sbin:/bin"})
    msg = c.err("Create", env.create_req(cid, b, "pathrt"), NOT_FOUND)
    contains(msg, 'runtime binary "pathrt" not found in PATH')
    check(not os.path.exists(marker), "no runtime from the bundle was run")
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("console socket: bound 0600 in a 0700 directory; two fds, a non-terminal or no fd from the runtime are "
      "refused, and every fd received is closed", runtimes=("runc",))
def _(env, rt):
    fake = os.path.join(HERE, "console_runtime.py")
    for mode, want in (("stat", "console socket mode 600, directory mode 700"),
                       ("two", "the runtime sent 2 fds, expected one"),
                       ("notty", "the fd received is not a terminal"),
                       ("none", "no fd received")):
        cid = "console-" + mode
        b = env.bundle(cid, ["true"], terminal=True)
        with open(os.path.join(b, "console-mode"), "w") as f:
            f.write(mode)
        secret = os.path.join(b, "console-file")
        with open(secret, "w") as f:
            f.write("not a terminal's output\n")
        out = Reader(os.path.join(b, "io", "stdout"))
        c, _, shim_pid = env.start_shim(cid, b)
        code, msg, _ = c.call("Create", env.create_req(cid, b, fake, stdout=out.path, terminal=True))
        check(code != 0, "%s: Create must fail" % mode)
        contains(msg, want, "%s: error" % mode)
        held = fd_targets(shim_pid)
        check(secret not in held, "%s: the shim keeps no fd of the file it was sent: %s" % (mode, held))
        check(not any(t.startswith("/dev/pts/") or t == "/dev/ptmx" for t in held),
              "%s: no pty kept: %s" % (mode, held))
        c.ok("Connect", task("ConnectRequest", id=cid))
        c.ok("Shutdown", task("ShutdownRequest", id=cid))
        out.start()
        eq(out.wait_eof(), "", "%s: nothing on stdout" % mode)


@test("fds the shim was started with are not kept by its server", runtimes=("runc",))
def _(env, rt):
    cid = "inherit"
    b = env.bundle(cid, ["true"])
    leak = os.path.join(env.tmp, "inherited-file")
    with open(leak, "w") as f:
        f.write("x")
    fd = os.open(leak, os.O_RDONLY)
    try:
        c, _, pid = env.start_shim(cid, b, pass_fds=(fd,))
    finally:
        os.close(fd)
    check(leak not in fd_targets(pid), "the server holds no inherited fd: %s" % fd_targets(pid))
    c.ok("Shutdown", task("ShutdownRequest", id=cid))


@test("delete command: a rootfs that is a symlink is not followed to unmount something else", runtimes=("runc",))
def _(env, rt):
    cid = "rootfslink"
    b = os.path.join(env.tmp, "b", cid)
    os.makedirs(b)
    env.bundles.append(b)
    target = os.path.join(env.tmp, "elsewhere")
    os.makedirs(target)
    subprocess.run(["mount", "-t", "tmpfs", "none", target], check=True)
    with open(os.path.join(b, "runtime"), "w") as f:   # as Create records it: the runtime's state stays ours
        f.write("binary=%s\nroot=%s\nsystemd_cgroup=0\n" % (shutil.which("runc"), os.path.join(env.runc_root, NS)))
    try:
        os.symlink(target, os.path.join(b, "rootfs"))
        r = subprocess.run(env.shim_cmd(cid, "delete", bundle=b), cwd="/", capture_output=True, timeout=20)
        eq(r.returncode, 0, "delete (%s)" % r.stderr.decode())
        check(mounted(target), "the mount the symlink points at is still there")
    finally:
        subprocess.run(["umount", target], capture_output=True)


def crun_setup():
    """crun here needs the hugetlb hierarchy mounted (once)."""
    ctl = "/sys/fs/cgroup/unified/cgroup.controllers"
    if not os.path.exists(ctl) or "hugetlb" not in open(ctl).read().split():
        return
    if os.path.ismount("/sys/fs/cgroup/hugetlb"):
        return
    os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
    subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"], check=False)


def main():
    global P
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim", required=True)
    ap.add_argument("--descriptors", required=True)
    ap.add_argument("--runtime", default="all")
    ap.add_argument("-k", dest="filter", default="")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()
    args.shim = os.path.abspath(args.shim)
    if os.geteuid() != 0:
        print("# SKIP: needs root (mounts, containers)")
        return SKIP
    if shutil.which("runc") is None or not os.path.exists("/bin/busybox"):
        print("# SKIP: needs runc and /bin/busybox (busybox-static)")
        return SKIP
    P = Protos(args.descriptors)
    runtimes = ["runc", "crun"] if args.runtime == "all" else [args.runtime]
    if "crun" in runtimes and shutil.which("crun") is None:
        print("# crun not installed: its cases are skipped")
        runtimes.remove("crun")
    if "crun" in runtimes:
        crun_setup()
    env = Env(args)
    n = failed = 0
    try:
        for name, fn, rts in TESTS:
            for rt in runtimes:
                if rt not in rts or args.filter not in name:
                    continue
                n += 1
                label = "%s [%s]" % (name, rt)
                t0 = time.monotonic()
                try:
                    fn(env, rt)
                    print("ok %d - %s (%.1fs)" % (n, label, time.monotonic() - t0))
                except Skip as e:
                    print("ok %d - %s # SKIP %s" % (n, label, e))
                except Exception as e:  # noqa: BLE001 -- reported, then the next test
                    failed += 1
                    print("not ok %d - %s" % (n, label))
                    for line in traceback.format_exception(type(e), e, e.__traceback__):
                        for l in line.rstrip().split("\n"):
                            print("#   " + l)
                    for b in env.bundles[-1:]:
                        log = os.path.join(b, "shim.log")
                        if os.path.exists(log):
                            print("#   shim.log: " + open(log).read().replace("\n", "\n#   "))
                sys.stdout.flush()
    finally:
        env.cleanup()
    print("%d passed, %d failed" % (n - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
