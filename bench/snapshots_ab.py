#!/usr/bin/python3
"""Two ucontainerd builds side by side on the Snapshots service: the same
Prepare -> Commit -> Remove cycles as bench/snapshots.py (its client and
requests), interleaved rounds, the median client latency per op and the
ratio B/A. For measuring one change: A the build before it, B after.

  python3 bench/snapshots_ab.py A/bin/ucontainerd B/bin/ucontainerd [--rounds 8] [--cycles 200]

e.g. A from `git worktree add /tmp/base HEAD~1` built in /tmp/base/build.
Root only (overlayfs); each daemon on a fresh temporary root, stopped by PID.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshots as S  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--snapshotter", default="overlayfs")
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="ucd-bench-ab.", dir="/tmp")
    ds = {}
    sn = a.snapshotter
    lat = {k: {"Prepare": [], "Commit": [], "Remove": [], "Version": []} for k in ("A", "B")}
    try:
        for k, binary in (("A", a.a), ("B", a.b)):
            ds[k] = S.Daemon("ucd", binary, base)
        for d in ds.values():
            d.unary(S.SNAP + "Prepare", S.prepare_req(sn, "base-active", ""))
            d.unary(S.SNAP + "Commit", S.commit_req(sn, "base", "base-active"))
            scratch = {"Prepare": [], "Commit": [], "Remove": []}
            for i in range(20):
                S.cycle(d, sn, "warm", i, scratch)
        for r in range(a.rounds):
            for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
                d = ds[k]
                for i in range(a.cycles):
                    S.cycle(d, sn, "r%d" % r, i, lat[k])
                for _ in range(50):
                    t = time.perf_counter_ns()
                    d.unary(S.VERSION, b"", ns=None)
                    lat[k]["Version"].append((time.perf_counter_ns() - t) / 1e6)
    finally:
        for d in ds.values():
            d.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("A: %s\nB: %s\n%d rounds x %d cycles each, interleaved; median client latency" % (a.a, a.b, a.rounds,
                                                                                             a.cycles))
    for op in ("Prepare", "Commit", "Remove", "Version"):
        x, y = statistics.median(lat["A"][op]), statistics.median(lat["B"][op])
        print("%-8s A %.3f ms  B %.3f ms  B/A %.2f" % (op, x, y, y / x))


if __name__ == "__main__":
    main()
