#!/usr/bin/python3
"""Containers for real with Debian's ctr, through each shim we support:
ours (ucontainerd-shim, the default for io.containerd.runc.v2) and Debian's
containerd-shim-runc-v2 (runc_shim = "containerd-shim-runc-v2"), each on
runc and crun. Covered: `ctr run` (--rm, -d, exit codes, stdout/stderr),
`ctr containers create` + `ctr task start -d`, task ls / ps / exec / pause /
resume / metrics / kill / rm, events from the shim through the daemon's
ttrpc socket; kill -9 of the daemon with containers running (one exiting
while it is down), then a restart that finds them all; a shim killed by
hand; and the errors a user meets (a command missing from the image, a
runtime binary that is not installed, a second task, no task)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Failure, Harness, check, contains, eq  # noqa: E402
import images_util as iu  # noqa: E402
import runtime_util as ru  # noqa: E402
from events_util import CtrEvents  # noqa: E402

h = Harness("tasks")
h.require_ctr()
if not os.path.exists(iu.BUSYBOX):
    print("# %s missing (package busybox-static): cannot build test images" % iu.BUSYBOX)
    sys.exit(77)
RUNTIMES = ru.runtimes()
if not RUNTIMES:
    print("# neither runc nor crun is usable here: %s" % ru.why_not())
    sys.exit(77)
REF = "docker.io/library/ucdtest:1"
SHIMS = []
if os.path.exists(os.path.join(os.path.dirname(h.daemon_bin), "ucontainerd-shim")):
    SHIMS.append(("ucontainerd-shim", ""))
else:
    print("# ucontainerd-shim is not built next to the daemon: our shim is not tested")
if os.path.exists("/usr/bin/containerd-shim-runc-v2"):
    SHIMS.append(("containerd-shim-runc-v2",
                  '[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "containerd-shim-runc-v2"\n'))
else:
    print("# /usr/bin/containerd-shim-runc-v2 missing (package containerd): Debian's shim not tested")

IMG = None
daemons = {}


def daemon_for(shim, extra):
    global IMG
    d = h.daemon(shim)
    d.start(extra=extra)
    if IMG is None:
        IMG = iu.build_image(os.path.join(h.tmp, "img"), fmt="oci", name=REF, tag="a")
    for ns in (NS, NS_RESTART):
        ctr(d, "images", "import", IMG.path, ns=ns, timeout=120)
    return d


# Namespaces of this run only: the OCI runtime's state (/run/.../runc/<ns>)
# is shared by the machine, so a run that failed half-way never collides
# with the next.
NS = "t%d" % os.getpid()
NS_RESTART = "r%d" % os.getpid()


def with_fifo_dir(args):
    """ctr's stdio FIFOs in this run's temp dir instead of /run/containerd/fifo,
    where ctr leaves them whenever it does not get to delete them (a task
    cleaned up by the daemon, a refused exec, a killed ctr)."""
    args = list(args)
    if args and args[0] == "run":
        at = 1
    elif len(args) > 1 and args[0] == "task" and args[1] in ("exec", "start"):
        at = 2
    else:
        return args
    return args[:at] + ["--fifo-dir", os.path.join(h.tmp, "fifo")] + args[at:]


def ctr(d, *args, ns=None, **kw):
    return d.ctr(*with_fifo_dir(args), ns=ns or NS, **kw)


def run_args(binary):
    return ["--runc-binary", binary] if binary else []


def task_rows(d, ns=None):
    """`ctr task ls` -> {id: (pid, status)}"""
    rows = {}
    for line in ctr(d, "task", "ls", ns=ns).stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 3:
            rows[f[0]] = (f[1], f[2])
    return rows


def wait_status(d, cid, want, ns=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        rows = task_rows(d, ns)
        if rows.get(cid, (None, None))[1] == want:
            return rows[cid]
        if time.monotonic() > deadline:
            raise Failure("task %s never became %s: %r" % (cid, want, rows))
        time.sleep(0.05)


def alive(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def run_with_tty(d, args, timeout=30.0):
    """Runs ctr on a pseudo-terminal of 33x101 (as an interactive user
    would); returns (everything it printed, exit code)."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    p = subprocess.Popen([h.ctr_bin, "-a", d.sock, "-n", NS] + with_fifo_dir(args), stdin=slave, stdout=slave,
                         stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        import select
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    os.close(master)
    return out.decode(errors="replace"), rc


def remove_all(d, ns=None):
    """Kills and deletes every task and container of the namespace."""
    for cid in task_rows(d, ns):
        ctr(d, "task", "kill", "-s", "SIGKILL", cid, ns=ns, check=False)
    for cid in task_rows(d, ns):
        for _ in range(100):
            if ctr(d, "task", "rm", "-f", cid, ns=ns, check=False).returncode == 0:
                break
            time.sleep(0.05)
    for cid in ctr(d, "containers", "ls", "-q", ns=ns).stdout.split():
        ctr(d, "containers", "rm", cid, ns=ns, check=False)


def wait_shim_gone(d, cid, timeout=10.0):
    """The shim of cid exits a little after its answer to Shutdown (it
    flushes its replies and events first): waited for, not raced."""
    deadline = time.monotonic() + timeout
    while ru.shim_of(d.sock, NS, cid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    check(ru.shim_of(d.sock, NS, cid) is None, "no shim of %s left" % cid)


def sleeper(d, cid):
    """`ctr run -d` of a container that sleeps; returns its pid once running."""
    ctr(d, "run", "-d", REF, cid, "sleep", "1000")
    return wait_status(d, cid, "RUNNING")[0]


def kill_and_remove(d, cid, ns=None):
    """A running task killed, waited, deleted, and its container removed."""
    ctr(d, "task", "kill", "-s", "SIGKILL", cid, ns=ns)
    wait_status(d, cid, "STOPPED", ns=ns)
    ctr(d, "task", "rm", cid, ns=ns)
    ctr(d, "containers", "rm", cid, ns=ns)


def plugin_state(d):
    return os.path.join(d.state, "io.containerd.runtime.v2.task")


def bundle_of(d, cid, ns=None):
    return os.path.join(plugin_state(d), ns or NS, cid)


def open_up(d):
    """The harness's temp dirs are 0700: opened to 0755 down to the daemon's
    root and state, so that what an unprivileged user cannot reach below
    them is the daemon's doing."""
    for p in (h.tmp, d.dir, d.state, d.root):
        os.chmod(p, 0o755)


def mode(path):
    import stat
    return stat.S_IMODE(os.lstat(path).st_mode)


# Run as nobody: each named action, "ok" or the errno's name.
PROBE = r"""
import errno, json, os, subprocess, sys
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
state, bundle = sys.argv[1], sys.argv[2]
attempt("list the daemon's state dir", lambda: os.listdir(state))
attempt("list the bundle", lambda: os.listdir(bundle))
attempt("read config.json", lambda: open(bundle + "/config.json").read())
attempt("list rootfs/bin", lambda: os.listdir(bundle + "/rootfs/bin"))
attempt("open the log FIFO", lambda: os.close(os.open(bundle + "/log", os.O_RDONLY | os.O_NONBLOCK)))
attempt("stat the setuid binary", lambda: os.stat(bundle + "/rootfs/tmp/suid"))
attempt("run the setuid binary", lambda: subprocess.run([bundle + "/rootfs/tmp/suid", "id", "-u"], check=True))
print(json.dumps(out))
"""


def probe_as_nobody(d, bundle):
    import json
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
                        PROBE, d.state, bundle], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Failure("the probe as nobody failed: %s" % r.stderr)
    return json.loads(r.stdout)


def check_private(d, shim, cid):
    """As nobody, nothing of the running container cid's bundle is reachable
    (the temp dirs opened up above the daemon's own); the modes as they must be."""
    wait_status(d, cid, "RUNNING")
    bundle = bundle_of(d, cid)
    suid = os.path.join(bundle, "rootfs/tmp/suid")
    deadline = time.monotonic() + 10
    while not os.path.exists(suid) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(os.stat(suid).st_mode & 0o4000, "the container made it setuid")
    open_up(d)
    eq(mode(plugin_state(d)), 0o711, "mode of the plugin's state dir")
    eq(mode(os.path.dirname(bundle)), 0o711, "mode of the namespace dir")
    eq(mode(bundle), 0o700, "mode of the bundle")
    for name in ("config.json", "shim-binary-path", "log"):
        eq(mode(os.path.join(bundle, name)), 0o600, "mode of %s" % name)
    if shim == "ucontainerd-shim":   # and the shim's own files
        for name in os.listdir(bundle):
            if name != "rootfs":
                eq(mode(os.path.join(bundle, name)) & 0o077, 0, "no access for others to %s" % name)
    got = probe_as_nobody(d, bundle)
    eq(got.pop("list the daemon's state dir"), "ok", "nobody reaches the daemon's state dir (opened up)")
    for action, result in got.items():
        eq(result, "EACCES", "as nobody: %s" % action)


def mounts_of(d, cid, snapshotter="overlayfs"):
    with d.client(ns=NS) as c:
        return list(c.call("/containerd.services.snapshots.v1.Snapshots/Mounts", snapshotter=snapshotter,
                           key=cid).mounts)


def suite(shim, d, extra):
    for rname, binary in RUNTIMES:
        tag = "%s, %s" % (shim, rname)
        sfx = "-%s-%s" % ("u" if shim.startswith("ucontainerd") else "c", rname)

        @h.test("%s: ctr run --rm: stdout, stderr and the exit code come back" % tag)
        def _(binary=binary, sfx=sfx):
            r = ctr(d, "run", "--rm", *run_args(binary), REF, "echo" + sfx, "echo", "hello", "world")
            eq(r.stdout, "hello world\n", "stdout")
            r = ctr(d, "run", "--rm", *run_args(binary), REF, "codes" + sfx, "sh", "-c",
                      "echo out; echo err >&2; exit 7", check=False)
            eq(r.returncode, 7, "exit code (stderr %r)" % r.stderr)
            eq(r.stdout, "out\n", "stdout")
            contains(r.stderr, "err")
            eq(task_rows(d), {}, "tasks after --rm")
            out = ctr(d, "containers", "ls", "-q").stdout.split()
            check("echo" + sfx not in out and "codes" + sfx not in out, out)

        @h.test("%s: run -d; task ls, ps, exec, pause/resume, metrics, kill, rm; containers rm" % tag)
        def _(binary=binary, sfx=sfx):
            cid = "detached" + sfx
            ctr(d, "run", "-d", *run_args(binary), REF, cid, "sleep", "1000")
            pid, _ = wait_status(d, cid, "RUNNING")
            check(int(pid) > 0 and alive(pid), "pid %s of a running task" % pid)
            contains(ctr(d, "task", "ps", cid).stdout, pid)
            r = ctr(d, "task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in-exec; exit 4", check=False)
            eq(r.returncode, 4, "exec exit code (%r)" % r.stderr)
            eq(r.stdout, "in-exec\n", "exec stdout")
            ctr(d, "task", "pause", cid)
            wait_status(d, cid, "PAUSED")
            ctr(d, "task", "resume", cid)
            wait_status(d, cid, "RUNNING")
            contains(ctr(d, "task", "metrics", cid).stdout, cid)
            r = ctr(d, "task", "rm", cid, check=False)
            check(r.returncode != 0, "rm of a running task must fail")
            ctr(d, "task", "kill", "-s", "SIGKILL", cid)
            wait_status(d, cid, "STOPPED")
            ctr(d, "task", "rm", cid)
            eq(task_rows(d), {}, "tasks after rm")
            ctr(d, "containers", "rm", cid)
            check(not alive(pid), "the container's process is gone")

        @h.test("%s: the spec ctr builds: native snapshotter (bind rootfs), --read-only, --mount, --env, --cwd, "
                "--memory-limit" % tag)
        def _(binary=binary, sfx=sfx):
            # native's rootfs is a bind mount, overlayfs's an overlay: both through the shim's mount
            r = ctr(d, "run", "--rm", "--snapshotter", "native", *run_args(binary), REF, "native" + sfx, "sh", "-c",
                    "echo on-native > /tmp/w && cat /tmp/w")
            eq(r.stdout, "on-native\n", "a container on the native snapshotter (%r)" % r.stderr)
            host = os.path.join(h.tmp, "hostdir" + sfx)
            os.makedirs(host, exist_ok=True)
            with open(os.path.join(host, "f"), "w") as f:
                f.write("from-host\n")
            r = ctr(d, "run", "--rm", "--read-only", "--env", "FOO=bar", "--cwd", "/tmp",
                    "--mount", "type=bind,src=%s,dst=/mnt,options=rbind:ro" % host, *run_args(binary), REF,
                    "spec" + sfx, "sh", "-c", "echo $FOO; pwd; cat /mnt/f; touch /x || echo read-only")
            eq(r.stdout, "bar\n/tmp\nfrom-host\nread-only\n", "env, cwd, bind mount, read-only rootfs (%r)" % r.stderr)
            cid = "mem" + sfx
            ctr(d, "run", "-d", "--memory-limit", "33554432", *run_args(binary), REF, cid, "sleep", "1000")
            wait_status(d, cid, "RUNNING")
            out = ctr(d, "task", "metrics", cid).stdout
            check("33554432" in out, "memory limit in the metrics: %s" % out)
            ctr(d, "task", "kill", "-s", "SIGKILL", cid)
            wait_status(d, cid, "STOPPED")
            ctr(d, "task", "rm", cid)
            ctr(d, "containers", "rm", cid)
            eq(task_rows(d), {}, "no task left")

        @h.test("%s: a command the image does not have: the runtime's error, nothing left behind" % tag)
        def _(binary=binary, sfx=sfx):
            cid = "nocmd" + sfx
            r = ctr(d, "run", "--rm", *run_args(binary), REF, cid, "/bin/no-such-command", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "no-such-command")
            eq(task_rows(d), {}, "no task left")
            ctr(d, "containers", "rm", cid, check=False)

        @h.test("%s: a running container's bundle, config.json, rootfs, log FIFO and the setuid binaries of its "
                "writable layer are out of reach of other local users" % tag)
        def _(binary=binary, sfx=sfx):
            cid = "private" + sfx
            # made aside, then renamed: it appears setuid or not at all
            ctr(d, "run", "-d", *run_args(binary), REF, cid, "sh", "-c",
                "cp /bin/busybox /tmp/s && chmod 4755 /tmp/s && mv /tmp/s /tmp/suid && sleep 1000")
            try:
                check_private(d, shim, cid)
            finally:
                kill_and_remove(d, cid)

        @h.test("%s: the container's stdio are pipes: /proc/self/fd/N names no host file, and chmod/chown "
                "through it leave a file:// log's mode and owner alone" % tag)
        def _(binary=binary, sfx=sfx):
            r = ctr(d, "run", "--rm", *run_args(binary), REF, "fds" + sfx, "sh", "-c",
                    "for f in 0 1 2; do readlink /proc/self/fd/$f; done")
            links = r.stdout.split()
            eq(len(links), 3, "three links (%r)" % r.stderr)
            for fd, link in enumerate(links):
                check(link.startswith("pipe:["), "fd %d of the container is %s, not a pipe" % (fd, link))
            log = os.path.join(h.tmp, "log" + sfx)
            with open(log, "w"):
                pass
            os.chmod(log, 0o640)
            r = ctr(d, "run", "--rm", "--log-uri", "file://" + log, *run_args(binary), REF, "logfd" + sfx, "sh", "-c",
                    "echo hello; chmod 6755 /proc/self/fd/1 /proc/self/fd/2; "
                    "chown 1234:1234 /proc/self/fd/1 /proc/self/fd/2; echo done")
            st = os.stat(log)
            eq((mode(log), st.st_uid, st.st_gid), (0o640, 0, 0), "mode and owner of the file:// log")
            with open(log) as f:
                eq(f.read(), "hello\ndone\n", "the log")

    @h.test("%s: ctr run -t: a terminal in the container (ctr resizes it), the exit code back" % shim)
    def _():
        out, rc = run_with_tty(d, ["run", "-t", "--rm", REF, "tty1", "sh", "-c", "tty; echo tty-ok; exit 3"])
        eq(rc, 3, "exit code (output %r)" % out)
        contains(out, "/dev/pts/")
        contains(out, "tty-ok")

    @h.test("%s: containers create + task start -d + kill -s SIGTERM + task rm" % shim)
    def _():
        cid = "created"
        # pid 1 gets no default action for SIGTERM: the container traps it.
        # (ctr containers create has no --runc-binary: the default runtime.)
        ctr(d, "containers", "create", REF, cid, "--", "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")
        ctr(d, "task", "start", "-d", cid)
        wait_status(d, cid, "RUNNING")
        ctr(d, "task", "kill", "-s", "SIGTERM", cid)
        wait_status(d, cid, "STOPPED")
        ctr(d, "task", "rm", cid)
        ctr(d, "containers", "rm", cid)

    @h.test("%s: a runtime binary that is not installed: the error names it (and the PATH searched)" % shim)
    def _():
        r = ctr(d, "run", "--rm", "--runc-binary", "/nonexistent/runc", REF, "nobin", "true", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "/nonexistent/runc")
        eq(task_rows(d), {}, "no task left")
        ctr(d, "containers", "rm", "nobin", check=False)
        # a bare name is looked up in PATH; ours says which PATH it searched
        r = ctr(d, "run", "--rm", "--runc-binary", "no-such-runc", REF, "nobin2", "true", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "no-such-runc")
        if shim == "ucontainerd-shim":
            contains(r.stderr, "/usr/sbin")
        eq(task_rows(d), {}, "no task left")
        ctr(d, "containers", "rm", "nobin2", check=False)

    @h.test("%s: errors: no task, a second task of one container, exec id twice, kill of a stopped task" % shim)
    def _():
        ctr(d, "containers", "create", REF, "twice", "sleep", "1000")
        r = ctr(d, "task", "kill", "twice", check=False)
        check(r.returncode != 0, "kill without a task")
        contains(r.stderr, "not found")
        ctr(d, "task", "start", "-d", "twice")
        r = ctr(d, "task", "start", "-d", "twice", check=False)
        check(r.returncode != 0, "second task")
        contains(r.stderr, "already exists")
        p = subprocess.Popen([h.ctr_bin, "-a", d.sock, "-n", NS] + with_fifo_dir(["task", "exec", "--exec-id", "dup",
                                                                                 "twice", "sleep", "5"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            r = ctr(d, "task", "exec", "--exec-id", "dup", "twice", "true", check=False)
            check(r.returncode != 0, "duplicate exec id")
            contains(r.stderr, "already exists")
        finally:
            p.kill()
            p.wait()
        ctr(d, "task", "kill", "-s", "SIGKILL", "twice")
        wait_status(d, "twice", "STOPPED")
        r = ctr(d, "task", "kill", "twice", check=False)
        check(r.returncode != 0, "kill of a stopped task")
        contains(r.stderr, "not found")
        r = ctr(d, "task", "exec", "--exec-id", "late", "twice", "true", check=False)
        check(r.returncode != 0, "exec in a stopped task")
        ctr(d, "task", "rm", "twice")
        ctr(d, "containers", "rm", "twice")

    if shim == "ucontainerd-shim":
        @h.test("%s: crun on a hybrid cgroup layout: the error says what to do" % shim)
        def _():
            fake_rt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_runtime.sh")
            r = ctr(d, "run", "--rm", "--runc-binary", fake_rt, REF, "hybrid", "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "hybrid mode not supported")
            contains(r.stderr, "mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb")
            eq(task_rows(d), {}, "no task")
            ctr(d, "containers", "rm", "hybrid", check=False)

    if shim == "ucontainerd-shim":
        @h.test("%s: ctr run --runc-root, --runc-systemd-cgroup: the runtime is run with --root, --systemd-cgroup"
                % shim)
        def _():
            argv_rt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "argv_runtime.sh")
            r = ctr(d, "run", "--rm", "--runc-binary", argv_rt, "--runc-root", "/run/ucd-argv-root", REF, "sysd",
                    "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "argv: ")
            contains(r.stderr, "--root /run/ucd-argv-root/%s " % NS)   # as containerd's shim: root/namespace
            check("--systemd-cgroup" not in r.stderr, "no --systemd-cgroup unless asked: %s" % r.stderr)
            ctr(d, "containers", "rm", "sysd", check=False)
            r = ctr(d, "run", "--rm", "--runc-systemd-cgroup", "--cgroup", "system.slice:ucd:sysd", "--runc-binary",
                    argv_rt, REF, "sysd", "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "--systemd-cgroup")
            contains(r.stderr, " create ")
            eq(task_rows(d), {}, "no task")
            ctr(d, "containers", "rm", "sysd", check=False)

    @h.test("%s: a container whose snapshot is gone: a clear error, no task" % shim)
    def _():
        ctr(d, "containers", "create", REF, "nosnap", "true")
        ctr(d, "snapshots", "rm", "nosnap")
        r = ctr(d, "task", "start", "nosnap", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "nosnap")
        contains(r.stderr, "not found")
        eq(task_rows(d), {}, "no task")
        ctr(d, "containers", "rm", "nosnap")

    @h.test("%s: events: /tasks/create, start, exit and delete reach ctr events" % shim)
    def _():
        ev = CtrEvents(d, ns=NS)
        try:
            ctr(d, "run", "--rm", REF, "evented", "true")
            time.sleep(0.5)
        finally:
            out = ev.output()
        for topic in ("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"):
            contains(out, topic)

    @h.test("%s: kill -9 of the daemon with 17 containers running; one exits meanwhile; after the restart every "
            "task is listed, exec'ed, killed, waited and deleted" % shim)
    def _():
        ns = NS_RESTART
        keep = ["keep%d" % i for i in range(16)]
        for cid in keep:
            ctr(d, "run", "-d", REF, cid, "sleep", "1000", ns=ns)
        ctr(d, "run", "-d", REF, "quits", "sh", "-c", "sleep 1; exit 42", ns=ns)
        before = task_rows(d, ns)
        eq(len(before), len(keep) + 1, "tasks before")
        d.kill9()
        time.sleep(1.5)   # "quits" exits while no daemon runs
        for cid in keep:
            check(alive(before[cid][0]), "%s survives the daemon" % cid)
        d.start(extra=extra)
        after = task_rows(d, ns)
        for cid in keep:
            eq(after.get(cid), (before[cid][0], "RUNNING"), "%s after restart" % cid)
        eq(after.get("quits", (None, None))[1], "STOPPED", "the task that exited while the daemon was down")
        with d.client() as c:
            w = c.call("/containerd.services.tasks.v1.Tasks/Wait", container_id="quits", ns=ns)
        eq(w.exit_status, 42, "Wait: the real exit status of the task that exited while the daemon was down")
        r = ctr(d, "task", "rm", "quits", ns=ns)
        contains(r.stderr, "exit code 42")
        for cid in keep:
            r = ctr(d, "task", "exec", "--exec-id", "post", cid, "echo", "still-here", cid, ns=ns)
            eq(r.stdout, "still-here %s\n" % cid, "exec in %s after restart" % cid)
        for cid in keep:
            ctr(d, "task", "kill", "-s", "SIGKILL", cid, ns=ns)
        with d.client() as c:
            for cid in keep:
                w = c.call("/containerd.services.tasks.v1.Tasks/Wait", container_id=cid, ns=ns)
                eq(w.exit_status, 137, "Wait on %s after SIGKILL" % cid)
        for cid in keep:
            ctr(d, "task", "rm", cid, ns=ns)
            check(not alive(before[cid][0]), "%s's process is gone" % cid)
        remove_all(d, ns)
        eq(task_rows(d, ns), {}, "all deleted")

    @h.test("%s: bundles of an older version (0711, files 0644) are tightened at start, with their container "
            "running; it is still served" % shim)
    def _():
        cid = "upgraded"
        pid = sleeper(d, cid)
        bundle = bundle_of(d, cid)
        d.stop()
        loose = {plugin_state(d): 0o755, os.path.dirname(bundle): 0o755, bundle: 0o711,
                 os.path.join(bundle, "config.json"): 0o644, os.path.join(bundle, "shim-binary-path"): 0o644,
                 os.path.join(bundle, "log"): 0o700}
        for path, m in loose.items():
            os.chmod(path, m)
        d.start(extra=extra)
        want = {plugin_state(d): 0o711, os.path.dirname(bundle): 0o711, bundle: 0o700,
                os.path.join(bundle, "config.json"): 0o600, os.path.join(bundle, "shim-binary-path"): 0o600,
                os.path.join(bundle, "log"): 0o600}
        for path, m in want.items():
            eq(mode(path), m, "mode of %s after the restart" % path)
        contains(d.stderr(), "`%s` had mode 0711, more than the 0700 the daemon gives it: narrowed to 0700" % bundle)
        eq(task_rows(d).get(cid), (pid, "RUNNING"), "the task after the restart")
        r = ctr(d, "task", "exec", "--exec-id", "after", cid, "echo", "served")
        eq(r.stdout, "served\n", "exec after the restart")
        kill_and_remove(d, cid)

    @h.test("%s: exec ids config, log, init, resources, address: the bundle's files stay as they are, the task "
            "works on" % shim)
    def _():
        cid = "execnames"
        sleeper(d, cid)
        bundle = bundle_of(d, cid)
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            config = f.read()
        for eid in ("config", "log", "init", "resources", "address", "shim-binary-path"):
            r = ctr(d, "task", "exec", "--exec-id", eid, cid, "sh", "-c", "echo exec-$0", eid)
            eq(r.stdout, "exec-%s\n" % eid, "exec %s" % eid)
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            eq(f.read(), config, "config.json after the execs")
        import stat
        check(stat.S_ISFIFO(os.lstat(os.path.join(bundle, "log")).st_mode), "the log FIFO is still a FIFO")
        eq(task_rows(d).get(cid, (None, None))[1], "RUNNING", "the task")
        ctr(d, "task", "pause", cid)
        ctr(d, "task", "resume", cid)
        r = ctr(d, "task", "exec", "--exec-id", "last", cid, "echo", "still")
        eq(r.stdout, "still\n", "an exec after them")
        kill_and_remove(d, cid)

    @h.test("%s: a mount left inside a bundle (a bind from the same filesystem) is not emptied when the task is "
            "deleted" % shim)
    def _():
        cid = "keepmount"
        sleeper(d, cid)
        bundle = bundle_of(d, cid)
        precious = os.path.join(d.dir, "precious")
        os.makedirs(precious, exist_ok=True)
        with open(os.path.join(precious, "file"), "w") as f:
            f.write("keep me\n")
        inside = os.path.join(bundle, "leftover")
        os.mkdir(inside)
        subprocess.run(["mount", "--bind", precious, inside], check=True)
        try:
            ctr(d, "task", "kill", "-s", "SIGKILL", cid)
            wait_status(d, cid, "STOPPED")
            ctr(d, "task", "rm", cid)
            check(os.path.exists(os.path.join(precious, "file")), "the bind-mounted directory is intact")
            contains(d.stderr(), "bundle `%s` not fully removed" % bundle)
        finally:
            subprocess.run(["umount", inside], capture_output=True)
        os.rmdir(inside)
        os.rmdir(bundle)
        ctr(d, "containers", "rm", cid)

    if shim == "ucontainerd-shim":
        @h.test("%s: stdout or stderr that is a symlink, a regular file or a directory: Create fails with a clear "
                "error, the daemon serves on" % shim)
        def _():
            cid = "badstdio"
            ctr(d, "containers", "create", REF, cid, "true")
            io = os.path.join(h.tmp, "badstdio")
            os.makedirs(io)
            os.mkfifo(os.path.join(io, "fifo"))
            os.symlink(os.path.join(io, "fifo"), os.path.join(io, "link"))
            with open(os.path.join(io, "file"), "w") as f:
                f.write("keep\n")
            os.mkdir(os.path.join(io, "dir"))
            rootfs = mounts_of(d, cid)
            import grpc
            from harness import expect_code
            with d.client(ns=NS) as c:
                for field, name, kind in (("stdout", "link", "a symlink"), ("stdout", "file", "a regular file"),
                                          ("stderr", "dir", "a directory")):
                    path = os.path.join(io, name)
                    e = expect_code(grpc.StatusCode.INVALID_ARGUMENT, c.call, "/containerd.services.tasks.v1.Tasks/Create",
                                    container_id=cid, rootfs=rootfs, **{field: path})
                    contains(e.details(), "%s fifo %s: it is %s, not a FIFO" % (field, path, kind))
                    eq(task_rows(d), {}, "no task after %s" % name)
                c.version()
            with open(os.path.join(io, "file")) as f:
                eq(f.read(), "keep\n", "the regular file is untouched")
            r = ctr(d, "run", "--rm", REF, "afterbad", "echo", "serving")
            eq(r.stdout, "serving\n", "a container afterwards")
            ctr(d, "containers", "rm", cid)

    @h.test("%s: a clean stop (SIGTERM) leaves containers running; the next daemon finds them" % shim)
    def _():
        ctr(d, "run", "-d", REF, "survivor", "sleep", "1000")
        pid, _ = wait_status(d, "survivor", "RUNNING")
        d.stop()
        check(alive(pid), "the container outlives the daemon's clean stop")
        d.start(extra=extra)
        eq(task_rows(d).get("survivor"), (pid, "RUNNING"), "found after the restart")
        ctr(d, "task", "kill", "-s", "SIGKILL", "survivor")
        wait_status(d, "survivor", "STOPPED")
        ctr(d, "task", "rm", "survivor")
        ctr(d, "containers", "rm", "survivor")

    @h.test("%s: a shim killed by hand: its task is cleaned up and reported stopped, never a hang" % shim)
    def _():
        ctr(d, "run", "-d", REF, "orphan", "sleep", "1000")
        pid, _ = wait_status(d, "orphan", "RUNNING")
        shim_pid = ru.shim_of(d.sock, NS, "orphan")
        check(shim_pid is not None, "found the shim process")
        ev = CtrEvents(d, ns=NS)
        try:
            os.kill(shim_pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while "orphan" in task_rows(d) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        finally:
            out = ev.output()
        check("orphan" not in task_rows(d), "the task is gone from task ls")
        contains(out, "/tasks/exit")
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not alive(pid), "the container process was killed by the cleanup")
        ctr(d, "containers", "rm", "orphan")

    @h.test("%s: an OCI runtime whose create never returns: the task is not listed, task rm answers at once, "
            "and once the runtime is killed everything is cleaned up" % shim)
    def _():
        hang_rt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hang_runtime.sh")
        bundle = os.path.join(d.dir, "state", "io.containerd.runtime.v2.task", NS, "hung")
        p = subprocess.Popen([h.ctr_bin, "-a", d.sock, "-n", NS] + with_fifo_dir([
                              "run", "--rm", "--runc-binary", hang_rt, REF, "hung", "true"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        def creates():
            return [pid for pid, argv in ru.processes()
                    if argv and argv[-1] == "hung" and "create" in argv and bundle in argv]

        try:
            rt_pid = None
            deadline = time.monotonic() + 20
            while rt_pid is None and time.monotonic() < deadline:
                # the runtime, not a fork of its shell that has yet to exec
                # `sleep` (it carries the same argv for a moment): the one
                # whose parent is not one of them
                found = creates()
                rt_pid = next((pid for pid in found if ru.parent_of(pid) not in found), None)
                time.sleep(0.05)
            check(rt_pid is not None, "the runtime's create is running")
            check("hung" not in task_rows(d), "a task whose Create is not answered is not listed")
            t = time.monotonic()
            r = ctr(d, "task", "rm", "-f", "hung", check=False, timeout=30)
            check(time.monotonic() - t < 5, "task rm -f answered in %.1f s" % (time.monotonic() - t))
            check(r.returncode != 0, "task rm -f of a task still being created fails")
            contains(r.stderr, "not found")
            os.kill(rt_pid, signal.SIGKILL)   # the hung create fails: the shim answers, the daemon cleans up
            out, err = p.communicate(timeout=30)
            check(p.returncode != 0, "ctr run fails once the runtime is killed")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            for pid in creates():   # a create left hanging would hold the shim (and this file) for good
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        while os.path.exists(bundle) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not os.path.exists(bundle), "the bundle is removed")
        wait_shim_gone(d, "hung")
        eq(task_rows(d), {}, "no task")
        ctr(d, "containers", "rm", "hung", check=False)

    # Our shim only: Debian's shim opens the stdio FIFOs for writing, which
    # waits for a reader; when ctr (the reader) died first, its Create never
    # comes back (seen once: threads in openat, wchan wait_for_partner).
    # containerd gets out of it by sending Shutdown when the client cancels
    # (the Go shim serves it meanwhile and exits); the daemon does not yet.
    if shim == "ucontainerd-shim":
        @h.test("%s: a client that goes away during Create: the task the shim makes afterwards is deleted" % shim)
        def _():
            slow_rt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_runtime.sh")
            bundle = os.path.join(d.dir, "state", "io.containerd.runtime.v2.task", NS, "late")
            p = subprocess.Popen([h.ctr_bin, "-a", d.sock, "-n", NS] + with_fifo_dir([
                                  "run", "--rm", "--runc-binary", slow_rt, REF, "late", "sleep", "1000"]),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not any(
                        "create" in argv and bundle in argv for _, argv in ru.processes()):
                    time.sleep(0.05)
            finally:
                p.kill()   # the client is gone in the middle of the runtime's 2 s create
                p.wait()
            deadline = time.monotonic() + 15
            while "created after its client had gone" not in d.stderr() and time.monotonic() < deadline:
                time.sleep(0.1)
            contains(d.stderr(), "task %s/late: created after its client had gone: deleted" % NS)
            check(not os.path.exists(bundle), "its bundle is removed")
            wait_shim_gone(d, "late")
            eq(task_rows(d), {}, "no task")
            ctr(d, "containers", "rm", "late", check=False)

    @h.test("%s: a shim left with no task (the daemon died between starting it and Create): the next daemon "
            "shuts it down and removes its bundle" % shim)
    def _():
        binary = (os.path.join(os.path.dirname(h.daemon_bin), "ucontainerd-shim") if shim == "ucontainerd-shim"
                  else "/usr/bin/containerd-shim-runc-v2")
        d.stop()
        try:
            # what the runtime plugin does before Create, by hand: the
            # bundle (Debian's shim reads config.json at start), the shim's
            # `start`, the address it prints
            bundle = os.path.join(d.dir, "state", "io.containerd.runtime.v2.task", NS, "noinit")
            os.makedirs(bundle)
            for name, data in (("shim-binary-path", binary), ("config.json", "{}")):
                with open(os.path.join(bundle, name), "w") as f:
                    f.write(data)
            # the log FIFO the runtime keeps open for reading (Debian's shim
            # opens it for writing and exits without it)
            os.mkfifo(os.path.join(bundle, "log"))
            log_fd = os.open(os.path.join(bundle, "log"), os.O_RDWR | os.O_NONBLOCK)
            env = dict(os.environ, TTRPC_ADDRESS=d.sock + ".ttrpc")
            r = subprocess.run([binary, "-namespace", NS, "-address", d.sock, "-publish-binary", h.daemon_bin,
                                "-id", "noinit", "start"], cwd=bundle, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
            eq(r.returncode, 0, "shim start: %r" % r.stderr)
            time.sleep(0.3)   # a shim that cannot serve is gone by now
            if not os.path.exists(os.path.join(bundle, "address")):
                with open(os.path.join(bundle, "address"), "w") as f:
                    f.write(r.stdout.decode().strip())
            pid = ru.shim_of(d.sock, NS, "noinit")
            check(pid is not None and alive(pid), "the shim serves")
        finally:
            d.start(extra=extra)
        os.close(log_fd)   # the daemon has the FIFO open now
        deadline = time.monotonic() + 10
        while (alive(pid) or os.path.exists(bundle)) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(not alive(pid), "the shim without a task exits")
        check(not os.path.exists(bundle), "its bundle is removed")
        contains(d.stderr(), "holds no task")
        check("noinit" not in task_rows(d), "no task listed")


def config_suite():
    """The runtime plugin's settings and runtime names, on a daemon of its own."""
    d = h.daemon("config")
    d.start(extra='[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "/nonexistent/shim"\n')
    d.ctr("images", "import", IMG.path, ns=NS, timeout=120)
    daemons["config"] = d

    @h.test("config: runc_shim that does not exist: the error names it, nothing is left")
    def _():
        r = ctr(d, "run", "--rm", REF, "c1", "true", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "/nonexistent/shim")
        eq(task_rows(d), {}, "no task")
        ctr(d, "containers", "rm", "c1", check=False)

    @h.test("config: a runtime name resolves by containerd's convention (containerd-shim-<name>-<v>)")
    def _():
        r = ctr(d, "run", "--rm", "--runtime", "io.containerd.nope.v7", REF, "c2", "true", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "containerd-shim-nope-v7")
        r = ctr(d, "run", "--rm", "--runtime", "nodots", REF, "c3", "true", check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "invalid runtime name")
        for c in ("c2", "c3"):
            ctr(d, "containers", "rm", c, check=False)

    if os.path.exists("/usr/bin/containerd-shim-runc-v2"):
        @h.test("config: binary_name is the default OCI runtime when the container names none")
        def _():
            d.stop()
            d.start(extra='[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "containerd-shim-runc-v2"\n'
                          '  binary_name = "/nonexistent/crun-default"\n')
            r = ctr(d, "run", "--rm", REF, "c4", "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "/nonexistent/crun-default")
            ctr(d, "containers", "rm", "c4", check=False)
            # the container's own option wins over the default
            r = ctr(d, "run", "--rm", "--runc-binary", ru.RUNC, REF, "c5", "echo", "own-binary")
            eq(r.stdout, "own-binary\n", "run with the container's binary")

    @h.test("config: binary_name and systemd_cgroup reach our shim; the container's binary_name wins")
    def _():
        argv_rt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "argv_runtime.sh")
        d.stop()
        d.start(extra='[plugins."io.containerd.runtime.v2.task"]\n  binary_name = "%s"\n'
                      '  systemd_cgroup = true\n' % argv_rt)
        try:
            r = ctr(d, "run", "--rm", REF, "c6", "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "argv: ")
            contains(r.stderr, "--systemd-cgroup")
            ctr(d, "containers", "rm", "c6", check=False)
            # a bool cannot be unset in the options: systemd_cgroup = true
            # holds for every task; the binary is the container's own
            r = ctr(d, "run", "--rm", "--runc-binary", "/nonexistent/own-rt", REF, "c7", "true", check=False)
            check(r.returncode != 0, "must fail")
            contains(r.stderr, "/nonexistent/own-rt")
            ctr(d, "containers", "rm", "c7", check=False)
        finally:
            d.stop()
            d.start(extra='[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "/nonexistent/shim"\n')

    fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_shim.py")
    base_extra = '[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "/nonexistent/shim"\n'

    def executable(path, marker):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\ntouch %s\nexit 1\n" % marker)
        os.chmod(path, 0o755)

    @h.test("config: a runtime name or runc_shim with a '/' that is not an absolute path is refused, never looked "
            "up in the daemon's working directory")
    def _():
        cwd = os.path.join(h.tmp, "daemon-cwd")
        marker = os.path.join(h.tmp, "relative-shim-ran")
        # what the old resolution ran: containerd-shim-<b/c>-<d> for "a.b/c.d", a relative runc_shim
        executable(os.path.join(cwd, "containerd-shim-b", "c-d"), marker)
        executable(os.path.join(cwd, "sub", "containerd-shim-x"), marker)
        d.stop()
        here = os.getcwd()
        os.chdir(cwd)   # the daemon's working directory
        try:
            d.start(extra='[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "sub/containerd-shim-x"\n')
        finally:
            os.chdir(here)
        try:
            for name in ("a.b/c.d", "./x", "sub/io.containerd.runc.v2", "../x.y.z"):
                r = ctr(d, "run", "--rm", "--runtime", name, REF, "relname", "true", check=False)
                check(r.returncode != 0, "%s must fail" % name)
                contains(r.stderr, "invalid runtime name %s, correct runtime name should be either format like "
                         "`io.containerd.runc.v2` or a full path to the binary" % name)
                ctr(d, "containers", "rm", "relname", check=False)
            r = ctr(d, "run", "--rm", REF, "relshim", "true", check=False)
            check(r.returncode != 0, "a relative runc_shim must fail")
            contains(r.stderr, "runc_shim `sub/containerd-shim-x` is a relative path")
            ctr(d, "containers", "rm", "relshim", check=False)
            check(not os.path.exists(marker), "no binary of the working directory was run")
            eq(task_rows(d), {}, "no task")
        finally:
            d.stop()
            d.start(extra=base_extra)

    @h.test("config: a namespace directory of another user is refused; one of root's that others may write to is "
            "brought down to 0711")
    def _():
        ns = "own%d" % os.getpid()
        d.ctr("images", "import", IMG.path, ns=ns, timeout=120)
        nsdir = os.path.join(plugin_state(d), ns)
        os.makedirs(nsdir)
        os.chown(nsdir, 65534, 65534)
        os.chmod(nsdir, 0o711)
        r = ctr(d, "run", "--rm", "--runtime", fake, REF, "shim-fails", "true", ns=ns, check=False)
        check(r.returncode != 0, "must fail")
        contains(r.stderr, "`%s` is owned by uid 65534, not by root: refusing to trust it" % nsdir)
        ctr(d, "containers", "rm", "shim-fails", ns=ns, check=False)
        os.chown(nsdir, 0, 0)
        os.chmod(nsdir, 0o777)
        r = ctr(d, "run", "--rm", "--runtime", fake, REF, "shim-fails", "true", ns=ns, check=False)
        contains(r.stderr, "no cgroup for you")   # past the directory: the fake shim's own failure
        eq(mode(nsdir), 0o711, "mode of the namespace directory")
        contains(d.stderr(), "`%s` had mode 0777, more than the 0711 the daemon gives it: narrowed to 0711" % nsdir)
        ctr(d, "containers", "rm", "shim-fails", ns=ns, check=False)

    @h.test("config: a bundle of another user found at start is not loaded: its shim-binary-path is never run")
    def _():
        marker = os.path.join(h.tmp, "foreign-shim-ran")
        script = os.path.join(h.tmp, "foreign-shim")
        executable(script, marker)
        d.stop()
        bundle = bundle_of(d, "foreign")
        os.makedirs(bundle)
        with open(os.path.join(bundle, "shim-binary-path"), "w") as f:
            f.write(script)
        os.chown(bundle, 65534, 65534)
        d.start(extra=base_extra)
        try:
            time.sleep(0.5)   # a cleanup would have run the binary by now
            check(not os.path.exists(marker), "the bundle's shim binary was not run")
            contains(d.stderr(), "`%s` is owned by uid 65534, not by root: refusing to trust it" % bundle)
            contains(d.stderr(), "the task is not loaded")
        finally:
            import shutil
            shutil.rmtree(bundle)

    def runtime_plugin_error(dd):
        with dd.client() as c:
            r = c.call("introspection/Plugins", ns=None)
        for p in r.plugins:
            if p.type == "io.containerd.runtime.v2" and p.id == "task":
                return p.init_err.message if p.HasField("init_err") else ""
        raise Failure("no runtime plugin listed")

    @h.test("config: the runtime plugin refuses a state directory of another user, and one below a directory "
            "others may write to")
    def _():
        dd = h.daemon("plugindir")
        os.makedirs(plugin_state(dd))
        os.chown(plugin_state(dd), 65534, 65534)
        dd.start()
        try:
            contains(runtime_plugin_error(dd), "`%s` is owned by uid 65534" % plugin_state(dd), "init error")
        finally:
            dd.stop()
        dd = h.daemon("openparent")
        parent = os.path.join(dd.dir, "open")
        os.makedirs(parent)
        os.chmod(parent, 0o777)
        dd.state = os.path.join(parent, "state")
        try:
            dd.start()
        except Exception:   # noqa: BLE001 -- the daemon may refuse such a state directory itself
            contains(dd.stderr(), parent, "the daemon's refusal")
            return
        try:
            contains(runtime_plugin_error(dd), "`%s` (on the way to `%s`) is writable by others (mode 0777)"
                     % (parent, plugin_state(dd)), "init error")
        finally:
            dd.stop()

    @h.test("broken shims: failing, silent, unreachable, garbage-speaking, pipe-holding: clear errors, no hang")
    def _():
        want = {"shim-fails": "no cgroup for you", "shim-silent": "no address printed",
                "shim-nosocket": "failed to connect to shim", "shim-garbage": "failed to create shim task",
                "shim-pipes": "failed to connect to shim"}
        for cid, text in want.items():
            t = time.monotonic()
            r = ctr(d, "run", "--rm", "--runtime", fake, REF, cid, "true", check=False)
            took = time.monotonic() - t
            check(r.returncode != 0, "%s must fail" % cid)
            contains(r.stderr, text, "%s: error" % cid)
            check(took < 10, "%s took %.1f s" % (cid, took))
            ctr(d, "containers", "rm", cid, check=False)
        eq(task_rows(d), {}, "no task left")
        with d.client() as c:
            c.version()

    @h.test("broken shims: one that dies under a Delete: the client gets an error, the task is cleaned up")
    def _():
        ctr(d, "containers", "create", "--runtime", fake, REF, "shim-dies", "true")
        ctr(d, "task", "start", "-d", "shim-dies")
        check("shim-dies" in task_rows(d), "the task is listed")
        r = ctr(d, "task", "rm", "shim-dies", check=False)
        check(r.returncode != 0, "the delete fails: %r" % r.stderr)
        deadline = time.monotonic() + 10
        while "shim-dies" in task_rows(d) and time.monotonic() < deadline:
            time.sleep(0.05)
        check("shim-dies" not in task_rows(d), "the task is gone after the cleanup")
        ctr(d, "containers", "rm", "shim-dies")

    h.run("config: the daemon stops cleanly", d.stop)


try:
    for shim, extra in SHIMS:
        d = daemon_for(shim, extra)
        daemons[shim] = d
        suite(shim, d, extra)
        h.run("%s: every container removed, the daemon stops cleanly" % shim,
              lambda d=d: (remove_all(d), remove_all(d, NS_RESTART), d.stop()))
    config_suite()
finally:
    for d in daemons.values():
        ru.kill_shims(d.sock)
    ru.kill_strays(h.tmp, keep={dd.proc.pid for dd in h._daemons if dd.running()})
    ru.force_cleanup([NS, NS_RESTART], h.tmp)
    h.finish()
