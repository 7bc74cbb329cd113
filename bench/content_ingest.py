#!/usr/bin/python3
"""Content ingest throughput, ucontainerd against Debian's containerd, side by
side and interleaved: Debian's `ctr content ingest` of one random blob
(256 MiB by default) from a file on stdin, wall time per ingest, MiB/s, and
the ratio ucontainerd/containerd.

  python3 bench/content_ingest.py --ucd build/bin/ucontainerd [--containerd /usr/bin/containerd]
                                  [--size-mib 256] [--rounds 3] [--ctr /usr/bin/ctr] [--dir /var/tmp]

Run through `sh bench/run.sh --what content` (which builds ucontainerd), or
directly. Each daemon runs on a fresh temporary root/state/socket under --dir
(the blob's file system matters: use the one your content store lives on) and
is stopped by PID at the end, also on failure or SIGINT/SIGTERM. The blob is
written once and read from the page cache by ctr; its first bytes change before
every ingest, so each ingest is of a blob new to both daemons. Each round ingests it into
one daemon, then the other (alternating which goes first); after each
ingest the blob is removed again with `ctr content rm`. What is timed is the whole `ctr content
ingest` process: connect, stream, hash, fsync, commit. Root only."""
import argparse
import hashlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_daemon import BenchDaemon  # noqa: E402

TARGET_MIBS = 400.0


def ctr(a, d, *args, stdin=None):
    return d.ctr(*args, stdin=stdin).stdout


def new_digest(blob, n):
    """Makes the blob a new one (its first 8 bytes count ingests), so that
    neither daemon finds it in its store already (a removed blob stays there
    until the garbage collector runs, and an ingest of it would then commit
    at once); the file stays in the page cache."""
    with open(blob, "r+b") as f:
        f.write(n.to_bytes(8, "little"))
        f.seek(0)
        h = hashlib.sha256()
        while True:
            b = f.read(1 << 20)
            if not b:
                return "sha256:" + h.hexdigest()
            h.update(b)


def ingest(a, d, blob, n, ref):
    digest = new_digest(blob, n)
    with open(blob, "rb") as f:
        t = time.perf_counter()
        ctr(a, d, "content", "ingest", "--expected-digest", digest, ref, stdin=f)
        dt = time.perf_counter() - t
    ctr(a, d, "content", "rm", digest)
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True, help="the ucontainerd binary")
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--ctr", default="/usr/bin/ctr")
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/var/tmp", help="where the daemons' roots and the blob live")
    ap.add_argument("--cmdline", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("content_ingest.py: run as root (both daemons need it)")

    base = tempfile.mkdtemp(prefix="ucd-bench-content.", dir=a.dir)
    daemons = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    times = {"ucd": [], "ctd": []}
    try:
        blob = os.path.join(base, "blob")
        with open(blob, "wb") as f:
            for _ in range(a.size_mib):
                f.write(os.urandom(1 << 20))
        n = 0
        for kind, binary in (("ucd", a.ucd), ("ctd", a.containerd)):
            daemons.append(BenchDaemon(kind, binary, base, ctr_bin=a.ctr))
        for d in daemons:
            d.wait_ready()
            n += 1
            ingest(a, d, blob, n, "warmup")   # page cache, first-use costs
        for r in range(a.rounds):
            order = daemons if r % 2 == 0 else daemons[::-1]
            for d in order:
                n += 1
                times[d.kind].append(ingest(a, d, blob, n, "round%d" % r))
            print("# round %d/%d: %s" % (r + 1, a.rounds, ", ".join(
                "%s %.2f s" % (d.name, times[d.kind][-1]) for d in daemons)), file=sys.stderr, flush=True)
        problems = ["%s died:\n%s" % (d.name, d.log_tail()) for d in daemons if d.proc.poll() is not None]
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(base, ignore_errors=True)

    mib = float(a.size_mib)
    u, c = statistics.median(times["ucd"]), statistics.median(times["ctd"])
    print("command:  %s" % (a.cmdline or " ".join([sys.executable] + sys.argv)))
    print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("workload: ctr content ingest of a %d MiB random blob, %d rounds per daemon (+1 warm-up), "
          "interleaved, on %s" % (a.size_mib, a.rounds, a.dir))
    print()
    print("%-12s %10s %10s %10s" % ("daemon", "median", "MiB/s", "best MiB/s"))
    for kind, name in (("ucd", "ucontainerd"), ("ctd", "containerd")):
        t = times[kind]
        print("%-12s %9.2fs %10.0f %10.0f" % (name, statistics.median(t), mib / statistics.median(t), mib / min(t)))
    print()
    print("ucontainerd/containerd throughput: %.2fx; target >= %.0f MiB/s: %s"
          % (c / u, TARGET_MIBS, "PASS" if mib / u >= TARGET_MIBS else "MISS"))
    if problems:
        print("\nAnomalies:\n" + "\n".join("- " + p for p in problems))
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
