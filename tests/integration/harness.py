"""Integration test harness: runs the real ucontainerd and talks to it.

What a test file gets from here:

  h = Harness("ctr")              # parses --daemon/--descriptors/--build-dir/--ctr
  d = h.daemon()                  # a Daemon on a fresh temp dir (socket, root, state)
  d.start(config="...")           # writes config.toml, starts, polls Version until it answers
  c = d.client()                  # grpc client; message classes come from the descriptor set
  c.call("/containerd.services.version.v1.Version/Version")
  d.ctr("namespaces", "ls")       # Debian's ctr against the daemon's socket
  d.stop()                        # SIGTERM by PID: exit 0, socket removed, no sanitizer report

  @h.test("name")                 # TAP-ish: "ok N - name" / "not ok N - name"
  def _(): ...
  h.finish()                      # "N passed, N failed[, N skipped]", exit 1 on any failure

Every daemon a test starts is stopped by PID when the file ends, even after a
failure; its stderr (logfmt) is printed when a test failed while it ran or
when it did not stop cleanly.
"""
import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SKIP = 77
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ERROR: UndefinedBehaviorSanitizer")

CODES = grpc.StatusCode


class Failure(AssertionError):
    pass


class Skip(Exception):
    pass


# --- assertions ---------------------------------------------------------------

def check(cond, msg="check failed"):
    if not cond:
        raise Failure(msg)


def eq(got, want, what="value"):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


def contains(haystack, needle, what="output"):
    if needle not in haystack:
        raise Failure("%s: expected to contain %r, got:\n%s" % (what, needle, haystack))


def not_contains(haystack, needle, what="output"):
    if needle in haystack:
        raise Failure("%s: expected not to contain %r, got:\n%s" % (what, needle, haystack))


def expect_code(code, fn, *args, **kwargs):
    """Calls fn; it must raise grpc.RpcError with `code`. Returns the error."""
    try:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):      # a server stream: the error comes while reading
            list(r)
    except grpc.RpcError as e:
        if e.code() != code:
            raise Failure("expected %s, got %s: %s" % (code.name, e.code().name, e.details()))
        return e
    raise Failure("expected %s, the call succeeded" % code.name)


def call_status(fn, *args, **kwargs):
    """Calls fn (reading a server stream to its end); it must raise
    grpc.RpcError. Returns (code, details)."""
    try:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):
            list(r)
    except grpc.RpcError as e:
        return e.code(), e.details()
    raise Failure("expected an error status, the call succeeded")


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:   # noqa: BLE001 -- retried until the deadline
            last = e
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


# --- messages from the descriptor set ------------------------------------------

class Protos:
    def __init__(self, path):
        with open(path, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            self.pool.Add(fd)
        self.factory = message_factory.MessageFactory(self.pool)
        self._classes = {}

    def cls(self, full_name):
        c = self._classes.get(full_name)
        if c is None:
            c = self.factory.GetPrototype(self.pool.FindMessageTypeByName(full_name))
            self._classes[full_name] = c
        return c

    def new(self, full_name, **fields):
        return self.cls(full_name)(**fields)

    def method(self, path):
        """'/pkg.Service/Method' -> MethodDescriptor"""
        service, _, name = path.lstrip("/").partition("/")
        svc = self.pool.FindServiceByName(service)
        m = svc.methods_by_name.get(name)
        if m is None:
            raise KeyError("no method %s in %s" % (name, service))
        return m


# Short names for the services the tests use most.
SVC = {
    "version": "containerd.services.version.v1.Version",
    "introspection": "containerd.services.introspection.v1.Introspection",
    "namespaces": "containerd.services.namespaces.v1.Namespaces",
    "containers": "containerd.services.containers.v1.Containers",
    "images": "containerd.services.images.v1.Images",
    "leases": "containerd.services.leases.v1.Leases",
    "events": "containerd.services.events.v1.Events",
    "health": "grpc.health.v1.Health",
}


def method_path(short):
    """'containers/Create' or a full '/pkg.Svc/Method' path."""
    if short.startswith("/"):
        return short
    svc, _, m = short.partition("/")
    return "/%s/%s" % (SVC[svc], m)


class Client:
    """A grpcio channel on the daemon's unix socket. call() builds the request
    from keyword fields (nested dicts work) unless a message is given, and
    sends `containerd-namespace: ns` unless ns is None."""

    def __init__(self, protos, sock, ns="default", options=()):
        self.protos = protos
        self.ns = ns
        opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20),
                ("grpc.enable_retries", 0)] + list(options)
        self.channel = grpc.insecure_channel("unix:" + sock, options=opts)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def request(self, path, **fields):
        m = self.protos.method(method_path(path))
        return self.protos.cls(m.input_type.full_name)(**fields)

    def msg(self, full_name, **fields):
        return self.protos.new(full_name, **fields)

    def _metadata(self, ns, metadata):
        md = list(metadata)
        if ns is not None:
            md.append(("containerd-namespace", ns))
        return md

    def stub(self, path, raw_request=False):
        path = method_path(path)
        m = self.protos.method(path)
        out = self.protos.cls(m.output_type.full_name)
        ser = (lambda b: b) if raw_request else (lambda x: x.SerializeToString())
        kind = {(False, False): self.channel.unary_unary, (False, True): self.channel.unary_stream,
                (True, False): self.channel.stream_unary, (True, True): self.channel.stream_stream}
        return kind[(m.client_streaming, m.server_streaming)](path, request_serializer=ser,
                                                              response_deserializer=out.FromString)

    def call(self, path, request=None, ns="__default__", timeout=10.0, metadata=(), **fields):
        """Unary: returns the response. Server streaming: returns the iterator
        (grpc's call object: .cancel(), .code()). Client streaming: request is an iterable."""
        if ns == "__default__":
            ns = self.ns
        if request is None:
            request = self.request(path, **fields)
        return self.stub(path, raw_request=isinstance(request, (bytes, bytearray)))(
            request, timeout=timeout, metadata=self._metadata(ns, metadata))

    def version(self, timeout=5.0):
        return self.call("version/Version", timeout=timeout, ns=None)


# --- the daemon ----------------------------------------------------------------

class DaemonError(Exception):
    pass


class Daemon:
    """One ucontainerd on its own directory. start() may be called again after
    stop() (a restart on the same root/state)."""

    def __init__(self, h, name="d", plugin_dir=None, log_level="debug", dir=None):
        self.h = h
        self.name = name
        self.dir = dir or tempfile.mkdtemp(prefix="ucd-%s-" % name, dir=h.tmp)
        self.sock = os.path.join(self.dir, "ucd.sock")
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.config_path = os.path.join(self.dir, "config.toml")
        self.plugin_dir = plugin_dir
        self.log_level = log_level
        self.proc = None
        self.runs = 0
        self.log_path = None
        self.logs = []          # every stderr file of this daemon, in order
        self.last_stop_at = 0.0
        h._daemons.append(self)

    # config --------------------------------------------------------------
    def base_config(self, extra=""):
        lines = ["version = 2"]
        if self.plugin_dir is not None:
            lines.append('plugin_dir = "%s"' % self.plugin_dir)
        return "\n".join(lines) + "\n" + extra

    def write_config(self, text, path=None):
        path = path or self.config_path
        with open(path, "w") as f:
            f.write(text)
        return path

    def args(self, config_path=None, address=True, root=True, state=True, log_level=True):
        a = [self.h.daemon_bin]
        if config_path:
            a += ["--config", config_path]
        if address:
            a += ["--address", self.sock]
        if root:
            a += ["--root", self.root]
        if state:
            a += ["--state", self.state]
        if log_level and self.log_level:
            a += ["--log-level", self.log_level]
        return a

    # life cycle ----------------------------------------------------------
    def start(self, config=None, extra="", args=None, wait=True, timeout=30.0):
        """config: the whole config.toml text (default: base_config(extra)).
        args: the whole command line (default: self.args(config file))."""
        if self.proc is not None and self.proc.poll() is None:
            raise DaemonError("%s already running" % self.name)
        own_args = args is not None
        if args is None:
            self.write_config(config if config is not None else self.base_config(extra))
            args = self.args(self.config_path)
        self.runs += 1
        self.log_path = os.path.join(self.dir, "stderr-%d.log" % self.runs)
        self.logs.append(self.log_path)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=self.h.daemon_env())
        log.close()
        if wait:
            self.wait_ready(timeout)
            if not own_args:   # a command line of the test's own may log at another level
                self.wait_startup_gc()
        return self

    def wait_startup_gc(self, timeout=10.0):
        """Every start schedules a garbage collection 100 ms later (as
        containerd's scheduler does): wait for it, so that a test never races
        it over objects it creates unreferenced on purpose. Its log line is
        at debug level when it removed nothing, so this only works (and only
        waits) with debug or trace logging; a daemon that exits meanwhile is
        left for the test to notice."""
        self.wait_gc(0, timeout)

    def gc_count(self):
        """How many collections this run of the daemon has logged."""
        return self.stderr().count("garbage collected")

    def wait_gc(self, after, timeout=10.0):
        """Wait until more than `after` collections are logged (see
        gc_count). A delete schedules a collection 100 ms later, which takes
        every unreferenced object, as containerd's does; a test that deleted
        something and then creates objects nothing references (`ctr
        snapshots view` sets no gc.root label) waits for it first. Needs
        debug or trace logging (the line is at debug when nothing was
        removed); a daemon that exits meanwhile is left for the test to
        notice."""
        if self.log_level not in ("debug", "trace"):
            return
        deadline = time.monotonic() + timeout
        while self.gc_count() <= after and self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise DaemonError("%s: no garbage collection within %.0fs:\n%s"
                                  % (self.name, timeout, self.stderr()))
            time.sleep(0.02)

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise DaemonError("%s exited with %d before serving:\n%s" % (self.name, rc, self.stderr()))
            if os.path.exists(self.sock):
                try:
                    with self.client() as c:
                        c.version(timeout=1.0)
                    return
                except grpc.RpcError:
                    pass
            if time.monotonic() > deadline:
                raise DaemonError("%s did not answer Version within %.0fs:\n%s" % (self.name, timeout, self.stderr()))
            time.sleep(0.05)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=15.0, check=True):
        """SIGTERM by PID; the daemon must exit 0 within `timeout`, remove its
        socket and print no sanitizer report."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        self.last_stop_at = time.monotonic()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                if check:
                    raise Failure("%s did not exit within %.0fs of SIGTERM (killed):\n%s"
                                  % (self.name, timeout, self.stderr()))
                return None
        rc = p.returncode
        if check:
            if rc != 0:
                raise Failure("%s exited with %d after SIGTERM:\n%s" % (self.name, rc, self.stderr()))
            if os.path.exists(self.sock):
                raise Failure("%s left its socket %s behind after a clean shutdown" % (self.name, self.sock))
            self.check_sanitizers()
        return rc

    def wait_exit(self, timeout=20.0):
        """For a daemon expected to exit by itself: returns its exit code."""
        self.last_stop_at = time.monotonic()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise Failure("%s did not exit within %.0fs:\n%s" % (self.name, timeout, self.stderr()))
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is not None:
            self.last_stop_at = time.monotonic()
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def stderr(self, all_runs=False):
        out = []
        for p in (self.logs if all_runs else self.logs[-1:]):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(out)

    def check_sanitizers(self):
        text = self.stderr()
        for m in SANITIZER_MARKERS:
            if m in text:
                raise Failure("%s: sanitizer report (%r) in its stderr:\n%s" % (self.name, m, text))

    # clients ---------------------------------------------------------------
    def client(self, ns="default"):
        return Client(self.h.protos, self.sock, ns=ns)

    def ctr(self, *args, ns="default", check=True, timeout=30.0, input=None):
        """Runs `ctr -a SOCK -n NS args...`; returns CompletedProcess (text)."""
        cmd = [self.h.ctr_bin, "-a", self.sock, "--namespace", ns, "--timeout", "20s"] + list(args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise Failure("ctr %s: no answer within %.0fs (stdout %r, stderr %r)" % (" ".join(args), timeout,
                                                                                    e.stdout, e.stderr))
        if check and r.returncode != 0:
            raise Failure("ctr %s exited %d:\nstdout: %s\nstderr: %s" % (" ".join(args), r.returncode, r.stdout,
                                                                         r.stderr))
        return r

    def ctr_popen(self, *args, ns="default"):
        cmd = [self.h.ctr_bin, "-a", self.sock, "--namespace", ns] + list(args)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def run_cli(self, *args, timeout=30.0):
        """The daemon binary as a command (`config default`, `--version`, ...)."""
        return subprocess.run([self.h.daemon_bin] + list(args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=self.h.daemon_env())


# --- the runner ----------------------------------------------------------------

class Harness:
    def __init__(self, name, argv=None):
        ap = argparse.ArgumentParser(description="ucontainerd integration tests: " + name)
        ap.add_argument("--daemon", required=True, help="path of the ucontainerd binary")
        ap.add_argument("--descriptors", required=True, help="FileDescriptorSet of the project's protos")
        ap.add_argument("--build-dir", required=True, help="the CMake build directory")
        ap.add_argument("--ctr", default="/usr/bin/ctr")
        ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
        ap.add_argument("--only", action="append", default=[], help="run only tests whose name contains this")
        self.args = ap.parse_args(argv)
        self.name = name
        self.daemon_bin = os.path.abspath(self.args.daemon)
        self.build_dir = os.path.abspath(self.args.build_dir)
        self.ctr_bin = self.args.ctr
        self.protos = Protos(self.args.descriptors)
        # unix socket paths must stay under 108 bytes: keep the base short
        self.tmp = tempfile.mkdtemp(prefix="ucd-it-%s-" % name, dir="/tmp")
        self._daemons = []
        self.n = 0
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failed_names = []
        print("# %s: daemon %s, temp dir %s" % (name, self.daemon_bin, self.tmp), flush=True)

    def daemon_env(self):
        env = dict(os.environ)
        # Under ASan: report leaks, do not abort on the first error so that
        # stderr holds the whole report; UBSan prints a stack and stops.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        return env

    def daemon(self, name="d", **kw):
        return Daemon(self, name=name, **kw)

    def require_root(self):
        if os.geteuid() != 0:
            print("1..0 # SKIP needs root")
            sys.exit(SKIP)

    def require_ctr(self):
        if not os.access(self.ctr_bin, os.X_OK):
            print("1..0 # SKIP %s not found (Debian package containerd)" % self.ctr_bin)
            sys.exit(SKIP)

    def test(self, name):
        def deco(fn):
            self.run(name, fn)
            return fn
        return deco

    def run(self, name, fn, *args):
        if self.args.only and not any(o in name for o in self.args.only):
            return
        self.n += 1
        t0 = time.monotonic()
        logs_before = {id(d): len(d.logs) for d in self._daemons}
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print("ok %d - %s # SKIP %s" % (self.n, name, e), flush=True)
            return
        except Exception as e:   # noqa: BLE001 -- a test's failure, reported below
            self.failed += 1
            self.failed_names.append(name)
            print("not ok %d - %s (%.1fs)" % (self.n, name, time.monotonic() - t0), flush=True)
            detail = traceback.format_exc() if not isinstance(e, Failure) else "%s\n%s" % (
                e, "".join(traceback.format_tb(e.__traceback__)[-2:]))
            for line in detail.rstrip().splitlines():
                print("#   " + line)
            # the stderr of every daemon that ran during this test
            for d in self._daemons:
                before = logs_before.get(id(d), 0)
                # logs of runs started during the test, and of the run that was going on when it began
                first = before - 1 if before > 0 and (d.running() or d.last_stop_at > t0) else before
                for p in d.logs[max(first, 0):]:
                    self._print_log(d, p)
            sys.stdout.flush()
            return
        self.passed += 1
        print("ok %d - %s (%.1fs)" % (self.n, name, time.monotonic() - t0), flush=True)

    def _print_log(self, d, path):
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return
        lines = text.splitlines()
        print("#   --- %s: %s (%d lines, last 80) ---" % (d.name, path, len(lines)))
        for line in lines[-80:]:
            print("#   | " + line)

    def cleanup(self):
        """Stops every daemon still running (by PID) and checks it stopped cleanly."""
        for d in self._daemons:
            if d.running():
                name = "%s stops cleanly at the end" % d.name
                self.run(name, d.stop)
        # a sanitizer report from any earlier run of any daemon fails the file
        for d in self._daemons:
            for p in d.logs:
                try:
                    with open(p, "rb") as f:
                        text = f.read().decode("utf-8", "replace")
                except OSError:
                    continue
                for m in SANITIZER_MARKERS:
                    if m in text:
                        def fail(p=p, m=m):
                            raise Failure("sanitizer report %r in %s" % (m, p))
                        self.run("no sanitizer report in %s" % os.path.basename(os.path.dirname(p)) + "/" +
                                 os.path.basename(p), fail)
                        break

    def finish(self):
        try:
            self.cleanup()
        finally:
            for d in self._daemons:
                if d.proc is not None and d.proc.poll() is None:
                    d.proc.kill()
                    d.proc.wait()
        print("1..%d" % self.n)
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped))
        if self.failed:
            print("# failed: " + "; ".join(self.failed_names))
        if not self.args.keep and not self.failed:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("# temp dir kept: " + self.tmp)
        sys.stdout.flush()
        if self.failed:
            sys.exit(1)
        if self.passed == 0 and self.skipped > 0:
            sys.exit(SKIP)
        sys.exit(0)


# --- small helpers shared by the test files -----------------------------------

def unix_connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)          # blocking: waits while the listen backlog is full
    s.settimeout(timeout)
    return s


def read_until_closed(s, timeout=5.0, limit=1 << 20):
    """Reads until the peer closes; returns (bytes, closed?)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while len(data) < limit and time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                return data, True
            data += b
    except (socket.timeout, TimeoutError):
        return data, False
    except (ConnectionResetError, BrokenPipeError):
        return data, True
    return data, False


@contextlib.contextmanager
def background(fn, *args):
    """Runs fn in a thread for the duration of the with-block; re-raises its error."""
    err = []

    def run():
        try:
            fn(*args)
        except BaseException as e:   # noqa: BLE001
            err.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield t
    t.join(60)
    if err:
        raise err[0]


def timestamp_now(protos):
    now = time.time()
    return protos.new("google.protobuf.Timestamp", seconds=int(now), nanos=int((now % 1) * 1e9))
