"""One daemon under benchmark (ucontainerd or Debian's containerd) on a fresh
temporary root/state/socket, for the storage benchmarks (content_ingest.py,
snapshots.py, images_import.py). bench.py keeps its own spawner because it
times the start itself.

  d = BenchDaemon("ucd", "/path/to/ucontainerd", base_dir)   # started
  d.wait_ready(ready)          # ready(d) -> True once the daemon answers
  d.ctr("images", "ls")        # Debian's ctr against it (CompletedProcess)
  d.stop()                     # SIGTERM by PID (SIGKILL after 10 s), directory removed
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time


class BenchDaemon:
    def __init__(self, kind, binary, base, ctr_bin="ctr", extra_config="", top_config=""):
        self.kind = kind  # "ucd" or "ctd"
        self.name = "ucontainerd" if kind == "ucd" else "containerd"
        self.ctr_bin = ctr_bin
        self.dir = tempfile.mkdtemp(prefix=kind + ".", dir=base)
        self.sock = os.path.join(self.dir, "d.sock")
        cfg = os.path.join(self.dir, "config.toml")
        with open(cfg, "w") as f:
            # top_config: top-level keys (before the first table)
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n%s\n[grpc]\n  address = "%s"\n'
                    % (self.dir, self.dir, top_config, self.sock))
            f.write(extra_config)
        self.logf = open(os.path.join(self.dir, "daemon.log"), "w")
        self.proc = subprocess.Popen([binary, "--config", cfg], stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def ctr(self, *args, ns=None, stdin=None, check=True, timeout=600):
        argv = [self.ctr_bin, "-a", self.sock] + (["-n", ns] if ns else []) + list(args)
        r = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise SystemExit("%s: ctr %s failed (%d): %s%s\n%s" % (self.name, " ".join(args), r.returncode,
                                                                   r.stdout, r.stderr, self.log_tail()))
        return r

    def wait_ready(self, ready=None, timeout=30):
        """Polls `ready(self)` (default: `ctr version` succeeds) until true."""
        if ready is None:
            def ready(d):
                return d.ctr("version", check=False, timeout=10).returncode == 0
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("%s exited at start:\n%s" % (self.name, self.log_tail()))
            if os.path.exists(self.sock) and ready(self):
                return self
            if time.monotonic() > deadline:
                raise SystemExit("%s did not answer within %d s:\n%s" % (self.name, timeout, self.log_tail()))
            time.sleep(0.05)

    def log_tail(self, n=20):
        try:
            with open(self.logf.name, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
