#!/usr/bin/python3
"""Snapshots service latency, ucontainerd against Debian's containerd, side by
side and interleaved: Prepare (on a committed parent), Commit and Remove
through containerd.services.snapshots.v1.Snapshots on the overlayfs
snapshotter, p50/p99 per op, and the ratio containerd/ucontainerd.

  python3 bench/snapshots.py --ucd build/bin/ucontainerd [--containerd /usr/bin/containerd]
                             [--rounds 5] [--cycles 200] [--warmup 20] [--snapshotter overlayfs]

Run through `sh bench/run.sh` (which builds ucontainerd), or directly. Each
daemon runs on a fresh temporary root/state/socket (overlayfs needs a file
system with d_type: /tmp here) and is stopped by PID at the end, also on
failure or SIGINT/SIGTERM. A round runs `cycles` Prepare -> Commit -> Remove
cycles on one daemon, then the same on the other; rounds alternate which
daemon goes first, so that noise hits both. Requests carry ctr's
containerd.io/gc.root label (the garbage collector keeps them) and are
encoded by hand (no generated code), sent with grpcio over the unix socket;
the client's own cost per call is shown as the Version floor. Root only."""
import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_daemon import BenchDaemon  # noqa: E402

import grpc

SNAP = "/containerd.services.snapshots.v1.Snapshots/"
VERSION = "/containerd.services.version.v1.Version/Version"
NS = "bench"
GCROOT = "containerd.io/gc.root"
TARGET = 5.0   # each op at least 5x faster than containerd


# --- protobuf by hand: strings and map<string,string> only -------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def labels(num, m):
    return b"".join(field(num, field(1, k) + field(2, v)) for k, v in sorted(m.items()))


def prepare_req(sn, key, parent):
    return field(1, sn) + field(2, key) + field(3, parent) + labels(4, {GCROOT: "bench"})


def commit_req(sn, name, key):
    return field(1, sn) + field(2, name) + field(3, key) + labels(4, {GCROOT: "bench"})


def remove_req(sn, key):
    return field(1, sn) + field(2, key)


# --- daemons ---------------------------------------------------------------------------

class Daemon(BenchDaemon):
    """A BenchDaemon with a raw-bytes gRPC channel: requests are encoded by
    hand above, so the client's cost per call stays small and equal."""

    def __init__(self, kind, binary, base):
        super().__init__(kind, binary, base)
        self.channel = None
        self.wait_ready(Daemon.answers)

    def answers(self):
        try:
            self.connect()
            self.unary(VERSION, b"", ns=None)
            return True
        except grpc.RpcError:
            self.channel.close()
            self.channel = None
            return False

    def connect(self):
        self.channel = grpc.insecure_channel("unix:" + self.sock, options=[("grpc.enable_retries", 0)])
        self.calls = {}

    def unary(self, path, body, ns=NS):
        fn = self.calls.get(path)
        if fn is None:
            fn = self.channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            self.calls[path] = fn
        md = (("containerd-namespace", ns),) if ns else ()
        return fn(body, timeout=30, metadata=md)

    def timed(self, path, body):
        t = time.perf_counter_ns()
        self.unary(path, body)
        return (time.perf_counter_ns() - t) / 1e6

    def stop(self):
        # overlay mounts are never made by the daemons here (mounts are only
        # returned), so the directory can go as it is
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        super().stop()


def cycle(d, sn, tag, i, lat):
    key, name = "active-%s-%d" % (tag, i), "layer-%s-%d" % (tag, i)
    lat["Prepare"].append(d.timed(SNAP + "Prepare", prepare_req(sn, key, "base")))
    lat["Commit"].append(d.timed(SNAP + "Commit", commit_req(sn, name, key)))
    lat["Remove"].append(d.timed(SNAP + "Remove", remove_req(sn, name)))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True, help="the ucontainerd binary")
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--snapshotter", default="overlayfs")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=200, help="Prepare/Commit/Remove cycles per round and daemon")
    ap.add_argument("--warmup", type=int, default=20, help="cycles per daemon before measuring")
    ap.add_argument("--cmdline", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("snapshots.py: run as root (both daemons need it)")

    base = tempfile.mkdtemp(prefix="ucd-bench-sn.", dir="/tmp")
    daemons = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        for kind, binary in (("ucd", a.ucd), ("ctd", a.containerd)):
            daemons.append(Daemon(kind, binary, base))
        sn = a.snapshotter
        lat = {d.kind: {"Prepare": [], "Commit": [], "Remove": []} for d in daemons}
        floor = {d.kind: [] for d in daemons}
        for d in daemons:
            d.unary(SNAP + "Prepare", prepare_req(sn, "base-active", ""))
            d.unary(SNAP + "Commit", commit_req(sn, "base", "base-active"))
            scratch = {"Prepare": [], "Commit": [], "Remove": []}
            for i in range(a.warmup):
                cycle(d, sn, "warm", i, scratch)
        for r in range(a.rounds):
            order = daemons if r % 2 == 0 else daemons[::-1]
            for d in order:
                for i in range(a.cycles):
                    cycle(d, sn, "r%d" % r, i, lat[d.kind])
                for _ in range(50):
                    t = time.perf_counter_ns()
                    d.unary(VERSION, b"", ns=None)
                    floor[d.kind].append((time.perf_counter_ns() - t) / 1e6)
            print("# round %d/%d done" % (r + 1, a.rounds), file=sys.stderr, flush=True)
        problems = []
        for d in daemons:
            if d.proc.poll() is not None:
                problems.append("%s died:\n%s" % (d.name, d.log_tail()))
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(base, ignore_errors=True)

    print("command:     %s" % (a.cmdline or " ".join([sys.executable] + sys.argv)))
    print("date:        %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("snapshotter: %s on %s; %d rounds x %d cycles per daemon (+%d warm-up), interleaved"
          % (a.snapshotter, "/tmp", a.rounds, a.cycles, a.warmup))
    print()
    head = ("op", "ucd p50", "ctd p50", "p50 adv", "ucd p99", "ctd p99", "p99 adv", "target")
    rows = []
    for op in ("Prepare", "Commit", "Remove"):
        u, c = lat["ucd"][op], lat["ctd"][op]
        u50, c50, u99, c99 = statistics.median(u), statistics.median(c), pct(u, 99), pct(c, 99)
        ok = c50 / u50 >= TARGET
        rows.append((op, "%.3f ms" % u50, "%.3f ms" % c50, "%.1fx" % (c50 / u50), "%.3f ms" % u99,
                     "%.3f ms" % c99, "%.1fx" % (c99 / u99), "%s (p50 >=%gx)" % ("PASS" if ok else "MISS", TARGET)))
    rows.append(("Version (client floor)", "%.3f ms" % statistics.median(floor["ucd"]),
                 "%.3f ms" % statistics.median(floor["ctd"]), "", "%.3f ms" % pct(floor["ucd"], 99),
                 "%.3f ms" % pct(floor["ctd"], 99), "", ""))
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(("%-*s" if i == 0 or i == 7 else "%*s") % (w[i], r[i]) for i in range(len(head))))
    print()
    print("adv = containerd / ucontainerd latency (above 1: ucontainerd is faster). Latencies include the")
    print("python client's own cost per call (about the Version floor) on both sides.")
    if problems:
        print("\nAnomalies:\n" + "\n".join("- " + p for p in problems))
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
