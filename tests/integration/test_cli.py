#!/usr/bin/python3
"""The daemon as a program: command line, config.toml (good and bad),
`config default` / `config dump`, logging, signals, a second daemon on the
same socket, a stale socket file, disabled/required plugins."""
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from harness import CODES, Failure, Harness, Skip, check, contains, eq, expect_code, not_contains  # noqa: E402

h = Harness("cli")
LOCATION = re.compile(r"config\.toml:(\d+):(\d+)")


def start_fails(d, config, what):
    """Starts d with `config`; it must exit non-zero without serving. Returns its stderr."""
    d.start(config=config, wait=False)
    rc = d.wait_exit(20)
    err = d.stderr()
    check(rc != 0, "%s: the daemon exited 0:\n%s" % (what, err))
    check(rc > 0, "%s: the daemon died of signal %d:\n%s" % (what, -rc, err))
    check(not os.path.exists(d.sock) or not sock_answers(d.sock), "%s: a socket is served" % what)
    d.check_sanitizers()
    return err


def sock_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# --- command line ----------------------------------------------------------------------

@h.test("--version prints the version; --help prints usage; bad options exit 2")
def _():
    d = h.daemon("cli")
    r = d.run_cli("--version")
    eq(r.returncode, 0, "--version exit code")
    check(re.match(r"ucontainerd \d+\.\d+\.\d+", r.stdout), "--version output %r" % r.stdout)
    r = d.run_cli("--help")
    eq(r.returncode, 0, "--help exit code")
    contains(r.stdout, "--config", "--help")
    for args in (["--no-such-option"], ["frobnicate"], ["config"], ["config", "nope"], ["--log-level", "loud"]):
        r = d.run_cli(*args)
        eq(r.returncode, 2, "exit code of %r (stderr %r)" % (args, r.stderr))
        check(r.stderr.strip(), "no message for %r" % args)


@h.test("logs are logfmt on stderr with a serving line naming the address")
def _():
    d = h.daemon("log", log_level="info")
    d.start()
    d.stop()
    lines = [ln for ln in d.stderr().splitlines() if ln.strip()]
    check(lines, "no log lines")
    for ln in lines:
        check(re.match(r'time=\S+ level=(trace|debug|info|warn|warning|error|fatal) msg=', ln),
              "not logfmt: %r" % ln)
    serving = [ln for ln in lines if 'msg="serving..."' in ln]
    check(serving, "no serving line in:\n" + "\n".join(lines))
    contains(serving[0], "address=" + d.sock, "serving line")
    not_contains(d.stderr(), "level=debug", "debug lines at --log-level info")


@h.test("SIGINT shuts down as cleanly as SIGTERM")
def _():
    d = h.daemon("sigint")
    d.start()
    d.proc.send_signal(signal.SIGINT)
    rc = d.wait_exit(15)
    eq(rc, 0, "exit code after SIGINT")
    check(not os.path.exists(d.sock), "socket left behind")
    d.check_sanitizers()


@h.test("SIGTERM with open streams and busy clients: exit 0 quickly, clients see the end")
def _():
    d = h.daemon("busy")
    d.start()
    c = d.client()
    streams = [c.call("events/Subscribe", ns=None, filters=[], timeout=60) for _ in range(10)]
    lc = d.client()
    it = lc.call("containers/ListStream", ns="x", filters=[])
    t0 = time.monotonic()
    d.stop(timeout=10)
    el = time.monotonic() - t0
    check(el < 5, "shutdown took %.1fs" % el)
    for s in streams:
        try:
            list(s)
        except grpc.RpcError as e:
            check(e.code() in (CODES.UNAVAILABLE, CODES.CANCELLED, CODES.INTERNAL, CODES.UNKNOWN),
                  "stream ended with %s" % e.code())
    try:
        list(it)
    except grpc.RpcError:
        pass
    c.close()
    lc.close()


@h.test("SIGTERM while a client blocks big streams by flow control and never reads: exit 0 quickly")
def _():
    import rawh2
    d = h.daemon("blocked")
    d.start()
    with d.client() as c:
        for i in range(300):
            c.call("containers/Create", ns="bulk", container={"id": "b-%d" % i, "labels": {"pad": "p" * 4000},
                                                             "runtime": {"name": "io.containerd.runc.v2"},
                                                             "spec": {"type_url": "x/y", "value": b"{}"}})
    body = h.protos.new("containerd.services.containers.v1.ListContainersRequest").SerializeToString()
    conns = []
    for _ in range(3):
        rc = rawh2.Conn(d.sock, auto_window=False)
        rc.handshake()
        for _ in range(5):
            rc.call("/containerd.services.containers.v1.Containers/ListStream", body, ns="bulk")
        rc.call("/containerd.services.events.v1.Events/Subscribe", b"", end_stream=False)
        conns.append(rc)
    time.sleep(0.3)
    t0 = time.monotonic()
    d.stop(timeout=15)
    check(time.monotonic() - t0 < 10, "shutdown took %.1fs" % (time.monotonic() - t0))
    for rc in conns:
        rc.close()


@h.test("SIGTERM under load (20 threads creating, listing, publishing, subscribing): exit 0, nothing lost")
def _():
    import threading
    d = h.daemon("load")
    d.start()
    stop = threading.Event()
    acked = []
    errors = []

    def worker(i):
        try:
            with d.client() as c:
                j = 0
                while not stop.is_set():
                    cid = "w%d-%d" % (i, j)
                    c.call("containers/Create", ns="load", timeout=5, container={
                        "id": cid, "runtime": {"name": "io.containerd.runc.v2"},
                        "spec": {"type_url": "x/y", "value": b"{}"}})
                    acked.append(cid)
                    c.call("containers/List", ns="load", filters=["id~=^w%d-" % i], timeout=5)
                    c.call("events/Publish", ns="load", topic="/load", timeout=5,
                           event=c.msg("google.protobuf.Any", type_url="x", value=b"y"))
                    j += 1
        except grpc.RpcError as e:
            if e.code() not in (CODES.UNAVAILABLE, CODES.CANCELLED, CODES.UNKNOWN, CODES.INTERNAL):
                errors.append(e)

    subs = d.client()
    streams = [subs.call("events/Subscribe", ns=None, filters=[], timeout=60) for _ in range(5)]
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(2)
    d.stop(timeout=15)
    stop.set()
    for t in threads:
        t.join(30)
    for st in streams:   # the daemon ended them: they must not hang
        try:
            list(st)
        except grpc.RpcError:
            pass
    subs.close()
    check(not errors, "unexpected errors: %r" % errors[:3])
    check(len(acked) > 20, "too little load: %d creates" % len(acked))
    d.start()
    with d.client() as c:
        have = {x.id for x in c.call("containers/List", ns="load", timeout=30).containers}
    lost = [x for x in acked if x not in have]
    check(not lost, "%d acknowledged creates lost after a clean shutdown: %r" % (len(lost), lost[:5]))
    d.stop()


# --- config.toml: bad --------------------------------------------------------------------

@h.test("config syntax errors: exit non-zero and stderr names file:line:col")
def _():
    cases = {
        "unclosed table header": ('version = 2\n[grpc\naddress = "x"\n', 2),
        "unterminated string": ('version = 2\nroot = "/tmp/x\n', 2),
        "missing value": ("version = 2\n\nroot =\n", 3),
        "duplicate key": ('version = 2\nroot = "/a"\nroot = "/b"\n', 3),
        "duplicate table": ("version = 2\n[grpc]\n[grpc]\n", 3),
        "bad escape": ('version = 2\nroot = "\\q"\n', 2),
        "garbage": ("version = 2\n@@@\n", 2),
        "bare key with space": ("version = 2\nfoo bar = 1\n", 2),
    }
    problems = []
    for name, (text, line) in cases.items():
        d = h.daemon("syntax")
        err = start_fails(d, text, name)
        m = LOCATION.search(err)
        if not m:
            problems.append("%s: no config.toml:LINE:COL in stderr:\n%s" % (name, err))
        elif int(m.group(1)) != line:
            problems.append("%s: line %s, expected %d: %s" % (name, m.group(1), line, err.strip()))
        if d.config_path not in err:
            problems.append("%s: stderr does not name %s" % (name, d.config_path))
    check(not problems, "\n".join(problems))


@h.test("config type errors: [grpc] uid = \"root\" and friends give a clear error")
def _():
    cases = {
        '[grpc]\n  uid = "root"\n': ("grpc.uid", "integer", 3),
        '[grpc]\n  max_recv_message_size = "big"\n': ("max_recv_message_size", "integer", 3),
        "[grpc]\n  max_recv_message_size = 0\n": ("max_recv_message_size", "", 3),
        "root = 5\n": ("root", "string", 2),
        "grpc = 1\n": ("grpc", "table", 2),
        'disabled_plugins = "x"\n': ("disabled_plugins", "array", 2),
        "oom_score = 5000\n": ("oom_score", "", 2),
        "version = 1\n": ("version", "", 1),
    }
    problems = []
    for text, (key, want, line) in cases.items():
        d = h.daemon("types")
        body = text if text.startswith("version") else "version = 2\n" + text
        err = start_fails(d, body, text.strip())
        if key not in err or want not in err:
            problems.append("%r: stderr does not mention %r/%r:\n%s" % (text, key, want, err))
        m = LOCATION.search(err)
        if not m or int(m.group(1)) != line:
            problems.append("%r: no config.toml:%d:COL in:\n%s" % (text, line, err))
    check(not problems, "\n".join(problems))


@h.test("an explicit --config that does not exist is an error naming it")
def _():
    d = h.daemon("noconf")
    missing = os.path.join(d.dir, "missing.toml")
    d.start(args=d.args(missing), wait=False)
    rc = d.wait_exit(10)
    check(rc != 0, "exit 0")
    contains(d.stderr(), missing, "stderr")


@h.test("a root that cannot be created is a clear error")
def _():
    d = h.daemon("badroot")
    blocker = os.path.join(d.dir, "file")
    open(blocker, "w").close()
    d.root = os.path.join(blocker, "root")
    err = start_fails(d, d.base_config(), "root under a regular file")
    contains(err, blocker, "stderr")


NOBODY = 65534


def plugin_status(d, uri):
    """(status text as `ctr plugins ls` prints it, init error message) of plugin `uri`."""
    typ, _, pid = uri.rpartition(".")
    with d.client() as c:
        r = c.call("introspection/Plugins", ns=None, filters=['type=="%s",id=="%s"' % (typ, pid)])
    eq(len(r.plugins), 1, "plugins named " + uri)
    p = r.plugins[0]
    return ("error" if p.HasField("init_err") and p.init_err.message else "ok"), p.init_err.message


@h.test("existing root, state and plugin directories are narrowed to the daemon's modes, never widened")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root")
    d = h.daemon("narrow")
    content = os.path.join(d.root, "io.containerd.content.v1.content")
    os.makedirs(content)
    os.chmod(d.root, 0o755)
    os.chmod(content, 0o777)
    os.makedirs(d.state)
    os.chmod(d.state, 0o2777)
    d.start()
    eq(oct(os.stat(d.root).st_mode & 0o7777), oct(0o700), "root")
    eq(oct(os.stat(d.state).st_mode & 0o7777), oct(0o711), "state")
    eq(oct(os.stat(content).st_mode & 0o7777), oct(0o700), "content plugin root")
    contains(d.stderr(), "`%s` had mode 0755, more than the 0700 the daemon gives it: narrowed to 0700" % d.root)
    contains(d.stderr(), "`%s` had mode 2777, more than the 0711 the daemon gives it: narrowed to 0711" % d.state)
    eq(plugin_status(d, "io.containerd.content.v1.content")[0], "ok", "content plugin")
    d.stop()
    os.chmod(d.root, 0o500)   # tighter than ours: kept as it is
    d.start()
    eq(oct(os.stat(d.root).st_mode & 0o7777), oct(0o500), "a tighter root is not widened")
    d.stop()


@h.test("files the daemon keeps are 0600; an older database of 0644 is narrowed")
def _():
    d = h.daemon("filemodes")
    d.start()
    meta = os.path.join(d.root, "io.containerd.metadata.v1.sqlite", "meta.db")
    snapdb = os.path.join(d.root, "io.containerd.snapshotter.v1.native", "metadata.db")
    files = [meta, snapdb, os.path.join(d.root, "ucontainerd.lock"),
             os.path.join(d.root, "io.containerd.grpc.v1.introspection", "uuid")]
    for f in files:
        eq(oct(os.stat(f).st_mode & 0o7777), oct(0o600), f)
    d.stop()
    os.chmod(meta, 0o644)
    os.chmod(snapdb, 0o644)
    d.start()
    for f in (meta, snapdb):
        eq(oct(os.stat(f).st_mode & 0o7777), oct(0o600), "narrowed " + f)
        contains(d.stderr(), "`%s` had mode 0644" % f)
    for f in os.listdir(os.path.dirname(meta)):   # the WAL too, while it exists
        eq(oct(os.stat(os.path.join(os.path.dirname(meta), f)).st_mode & 0o077), oct(0), f)
    d.stop()


@h.test("a root owned by another user, or reached through another user's symlink, is refused")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root")
    d = h.daemon("foreign")
    os.makedirs(d.root)
    os.chown(d.root, NOBODY, NOBODY)
    err = start_fails(d, d.base_config(), "root owned by nobody")
    contains(err, "`%s` is owned by uid 65534, not by root: refusing to trust it" % d.root)
    eq(os.listdir(d.root), [], "nothing made in a refused root")
    eq(os.stat(d.root).st_mode & 0o7777, 0o755, "a refused root's mode is untouched")
    # a symlink in a sticky world-writable directory, made by another user
    os.chown(d.root, 0, 0)
    sticky = os.path.join(d.dir, "sticky")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    link = os.path.join(sticky, "root")
    os.symlink(d.root, link)
    os.lchown(link, NOBODY, NOBODY)
    real_root, d.root = d.root, link
    err = start_fails(d, d.base_config(), "root through nobody's symlink")
    contains(err, "`%s` is owned by uid 65534, not by root: refusing to trust it" % link)
    # the same symlink made by root is the operator's: followed
    os.lchown(link, 0, 0)
    d.start()
    check(os.path.isdir(os.path.join(real_root, "io.containerd.metadata.v1.sqlite")), "root used through the link")
    d.stop()


@h.test("a plugin's directory owned by another user: that plugin fails, saying why; the daemon serves")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root")
    d = h.daemon("plugdir")
    content = os.path.join(d.root, "io.containerd.content.v1.content")
    os.makedirs(content)
    os.chown(content, NOBODY, NOBODY)
    d.start()
    status, msg = plugin_status(d, "io.containerd.content.v1.content")
    eq(status, "error", "content plugin")
    contains(msg, "content store: `%s` is owned by uid 65534, not by root: refusing to trust it" % content)
    contains(d.stderr(), "failed to load plugin io.containerd.content.v1.content")
    with d.client() as c:
        c.version()
    d.stop()


@h.test("a socket directory others may write is refused; an existing one is not narrowed")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root")
    d = h.daemon("opensock")
    run = os.path.join(d.dir, "run")
    os.mkdir(run)
    os.chmod(run, 0o777)
    d.sock = os.path.join(run, "ucd.sock")
    err = start_fails(d, d.base_config(), "socket in a world-writable directory")
    contains(err, "`%s` is writable by others (mode 0777): refusing to trust it" % run)
    os.chmod(run, 0o755)
    d.start()
    eq(oct(os.stat(run).st_mode & 0o7777), oct(0o755), "a shared socket directory keeps its mode")
    d.stop()


# --- config default / dump ------------------------------------------------------------------

@h.test("`config default` is accepted by the daemon as is")
def _():
    d = h.daemon("default")
    r = d.run_cli("config", "default")
    eq(r.returncode, 0, "exit code (stderr %r)" % r.stderr)
    contains(r.stdout, "version = 2", "config default")
    contains(r.stdout, "[grpc]", "config default")
    d.start(config=r.stdout)
    with d.client() as c:
        c.version()
        c.call("namespaces/Create", ns=None, namespace={"name": "fromdefault"})
    d.stop()
    not_contains(d.stderr(), "level=warn", "warnings for the default config")


@h.test("`config dump` reflects the config's values and is itself a valid config")
def _():
    d = h.daemon("dump")
    drop = os.path.join(d.dir, "conf.d")
    os.makedirs(drop)
    with open(os.path.join(drop, "10-grpc.toml"), "w") as f:
        f.write("version = 2\n[grpc]\n  max_send_message_size = 7654321\n")
    cfg = d.write_config(
        'version = 2\nroot = "/var/lib/ucd-dump-test"\nstate = "/run/ucd-dump-test"\noom_score = -500\n'
        'imports = ["conf.d/*.toml"]\ndisabled_plugins = ["io.containerd.testing.v1.nothing"]\n'
        '[grpc]\n  address = "/run/ucd-dump-test/x.sock"\n  max_recv_message_size = 1234567\n'
        '[debug]\n  level = "warn"\n')
    r = d.run_cli("--config", cfg, "config", "dump")
    eq(r.returncode, 0, "exit code (stderr %r)" % r.stderr)
    out = r.stdout
    for want in ('root = "/var/lib/ucd-dump-test"', 'state = "/run/ucd-dump-test"', "oom_score = -500",
                 'address = "/run/ucd-dump-test/x.sock"', "max_recv_message_size = 1234567",
                 "max_send_message_size = 7654321", "io.containerd.testing.v1.nothing", 'level = "warn"'):
        contains(out, want, "config dump")
    # every installed plugin appears: configured ones as set, the others with their defaults
    pdir = os.path.join(os.path.dirname(os.path.dirname(h.daemon_bin)), "lib", "ucontainerd", "plugins")
    for f in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []:
        if f.endswith(".so"):
            contains(out, '[plugins."%s"]' % f[:-3], "config dump")
    # command-line overrides show in the dump
    r = d.run_cli("--config", cfg, "--root", "/tmp/ucd-other-root", "config", "dump")
    contains(r.stdout, 'root = "/tmp/ucd-other-root"', "dump with --root")
    # the dump is a config the daemon accepts (socket/root/state overridden by flags)
    d.start(config=out.replace("\nimports", "\n# imports"))
    d.stop()


@h.test("`config default` has a section for each installed plugin")
def _():
    d = h.daemon("plugsec")
    out = d.run_cli("config", "default").stdout
    pdir = os.path.join(os.path.dirname(os.path.dirname(h.daemon_bin)), "lib", "ucontainerd", "plugins")
    sos = sorted(f[:-3] for f in os.listdir(pdir) if f.endswith(".so")) if os.path.isdir(pdir) else []
    for uri in sos:
        contains(out, '[plugins."%s"]' % uri, "config default")


@h.test("root, state and [grpc] address from the config file are used without flags")
def _():
    d = h.daemon("fromfile")
    d.sock = os.path.join(d.dir, "cfg-run", "c.sock")
    root = os.path.join(d.dir, "cfg-root")
    state = os.path.join(d.dir, "cfg-state")
    d.write_config('version = 2\nroot = "%s"\nstate = "%s"\n[grpc]\n  address = "%s"\n' % (root, state, d.sock))
    d.start(args=[h.daemon_bin, "--config", d.config_path])
    check(os.path.isdir(os.path.join(root, "io.containerd.metadata.v1.sqlite")), "metadata not under root")
    check(os.path.isdir(state), "state not created")
    d.stop()


@h.test("[debug] level from the config applies when --log-level is not given")
def _():
    d = h.daemon("cfglevel")
    d.write_config('version = 2\n[debug]\n  level = "warn"\n')
    d.start(args=d.args(d.config_path, log_level=False))
    with d.client() as c:
        c.version()
    d.stop()
    not_contains(d.stderr(), "level=info", "stderr at [debug] level = warn")


@h.test("oom_score is applied to the daemon process")
def _():
    # Raising the score is allowed to any process, so this always checks.
    d = h.daemon("oom")
    d.start(extra="oom_score = 321\n")
    with open("/proc/%d/oom_score_adj" % d.pid) as f:
        got = f.read().strip()
    d.stop()
    eq(got, "321", "oom_score_adj")
    # Lowering needs CAP_SYS_RESOURCE, which some sandboxes deny even to root:
    # then the daemon must say so (as containerd does) and keep running.
    d = h.daemon("oomneg")
    d.start(extra="oom_score = -321\n")
    with open("/proc/%d/oom_score_adj" % d.pid) as f:
        got = f.read().strip()
    d.stop()
    if got != "-321":
        contains(d.stderr(), "failed to adjust OOM score for ucontainerd to -321", "stderr when lowering is denied")


@h.test("systemd notify: READY=1 once serving, STOPPING=1 on SIGTERM")
def _():
    d = h.daemon("notify")
    path = os.path.join(d.dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(10)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = path
    try:
        d.start(wait=False)
    finally:
        if old is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old
    msgs = []
    try:
        while not any(b"READY=1" in m for m in msgs):
            msgs.append(ns.recv(4096))
        with d.client() as c:
            c.version(timeout=2)   # READY=1 means serving: the first call must work at once
        d.proc.send_signal(signal.SIGTERM)
        while not any(b"STOPPING=1" in m for m in msgs):
            msgs.append(ns.recv(4096))
    except socket.timeout:
        raise Failure("notifications received: %r" % msgs)
    finally:
        ns.close()
    eq(d.wait_exit(15), 0, "exit code")


# --- sockets ---------------------------------------------------------------------------

@h.test("a second daemon on the same live socket exits non-zero with a message; the first keeps serving")
def _():
    first = h.daemon("first")
    first.start()
    with first.client() as c:
        c.call("namespaces/Create", ns=None, namespace={"name": "mine", "labels": {"a": "b"}})
    second = h.daemon("second")
    second.sock = first.sock
    second.start(wait=False)
    rc = second.wait_exit(20)
    err = second.stderr()
    check(rc != 0, "the second daemon exited 0:\n" + err)
    check(first.sock in err or "in use" in err or "already" in err, "unclear message:\n" + err)
    second.check_sanitizers()
    check(os.path.exists(first.sock), "the second daemon removed the first one's socket")
    with first.client() as c:
        c.version()
        eq(dict(c.call("namespaces/Get", ns=None, name="mine").namespace.labels), {"a": "b"}, "first's data")
    first.stop()


@h.test("a stale socket file (nobody listening) is replaced")
def _():
    d = h.daemon("stale")
    os.makedirs(os.path.dirname(d.sock), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d.sock)
    s.close()
    check(os.path.exists(d.sock), "setup: no stale socket")
    d.start()
    with d.client() as c:
        c.version()
    d.stop()


@h.test("a socket path in a directory that does not exist yet is created")
def _():
    d = h.daemon("sockdir")
    d.sock = os.path.join(d.dir, "run", "deeper", "ucd.sock")
    d.start()
    d.stop()


@h.test("[grpc] uid/gid set the socket's owner; its mode is 0660")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root to chown the socket")
    d = h.daemon("owner")
    d.start(extra="[grpc]\n  uid = 1234\n  gid = 5678\n")
    st = os.stat(d.sock)
    eq((st.st_uid, st.st_gid), (1234, 5678), "socket owner")
    eq(st.st_mode & 0o777, 0o660, "socket mode")
    d.stop()


# --- plugins by config -------------------------------------------------------------------

@h.test("disabled_plugins: a disabled service is not listed and not served")
def _():
    d = h.daemon("disabled")
    d.start(extra='disabled_plugins = ["io.containerd.grpc.v1.leases"]\n')
    with d.client() as c:
        ids = [p.id for p in c.call("introspection/Plugins", ns=None, filters=["type==io.containerd.grpc.v1"]).plugins]
        check("leases" not in ids, "disabled leases plugin still listed: %r" % ids)
        check("containers" in ids, "containers missing: %r" % ids)
        expect_code(CODES.UNIMPLEMENTED, c.call, "leases/List")
        c.call("containers/List")
    d.stop()


@h.test("required_plugins naming a missing plugin: exit non-zero naming it")
def _():
    d = h.daemon("required")
    err = start_fails(d, d.base_config('required_plugins = ["io.containerd.testing.v1.not_installed"]\n'),
                      "required missing plugin")
    contains(err, "io.containerd.testing.v1.not_installed", "stderr")


@h.test("unknown keys are warned about, not fatal")
def _():
    d = h.daemon("unknown")
    d.start(extra='no_such_key = 1\n[grpc]\n  no_such_grpc_key = "x"\n[plugins."io.containerd.testing.v1.absent"]\n'
                  '  whatever = 1\n')
    d.stop()
    err = d.stderr()
    contains(err, "no_such_key", "stderr")
    contains(err, "no_such_grpc_key", "stderr")


h.finish()
