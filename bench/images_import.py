#!/usr/bin/python3
"""`ctr images import` with unpack, ucontainerd against Debian's containerd,
side by side and interleaved, on one 6-layer image of about 101 MiB built
here from the host's busybox plus four layers of random data (gzip cannot
shrink them, so the archive is as big as the image).

  python3 bench/images_import.py --ucd build/bin/ucontainerd [--rounds 5] [--snapshotter overlayfs]

Each round imports into a fresh namespace of each daemon and then removes
the image with `ctr images rm --sync`, so that every import writes and
unpacks every blob again. Also prints the floor: `tar -xzf` of the same
layers into an empty directory. Run as root (both daemons need it)."""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import images_util as iu  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_daemon import BenchDaemon  # noqa: E402

TARGET_S = 1.5   # issue 3: import of this image in at most 1.5 s


def build(tmp):
    """The bench image: busybox + a small layer + 4 x 25 MiB of random data."""
    rnd = random.Random(20261123)
    layers = [iu._layer(iu.base_layer_entries()), iu._layer(iu.top_layer_entries("bench"))]
    for i in range(4):
        layers.append(iu._layer([("data%d" % i, "d", None, 0o755, None),
                                 ("data%d/blob" % i, "f", rnd.randbytes(25 << 20), 0o644, None)]))
    img = iu.write_oci_archive(os.path.join(tmp, "bench.tar"), "docker.io/library/bench:1", layers)
    return img.path, layers


def floor(tmp, layers):
    """tar -xzf of every layer, in order, into one empty directory."""
    out = os.path.join(tmp, "floor")
    paths = []
    for i, (_, gz) in enumerate(layers):
        p = os.path.join(tmp, "layer%d.tar.gz" % i)
        with open(p, "wb") as f:
            f.write(gz)
        paths.append(p)
    times = []
    for _ in range(3):
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        subprocess.run(["sync"])
        t = time.monotonic()
        for p in paths:
            subprocess.run(["tar", "-xzf", p, "-C", out], check=True)
        times.append(time.monotonic() - t)
    shutil.rmtree(out, ignore_errors=True)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True)
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--snapshotter", default="overlayfs")
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="ucd-bench-import.")
    daemons = []
    try:
        path, layers = build(base)
        size = os.path.getsize(path)
        print("# image: %d layers, archive %.1f MiB (%s)" % (len(layers), size / 2**20, path))
        daemons = [BenchDaemon("ucd", os.path.abspath(a.ucd), base).wait_ready(),
                   BenchDaemon("ctd", a.containerd, base).wait_ready()]
        res = {d.kind: [] for d in daemons}
        for r in range(a.rounds):
            for d in (daemons if r % 2 == 0 else daemons[::-1]):
                subprocess.run(["sync"])
                t = time.monotonic()
                d.ctr("images", "import", "--snapshotter", a.snapshotter, path, ns="bench")
                res[d.kind].append(time.monotonic() - t)
                d.ctr("images", "rm", "--sync", "docker.io/library/bench:1", ns="bench")
                left = d.ctr("content", "ls", "-q", ns="bench").stdout.split()
                if left:
                    print("# %s: %d blobs left after rm --sync" % (d.kind, len(left)))
        fl = floor(base, layers)
        u, c = statistics.median(res["ucd"]), statistics.median(res["ctd"])
        print("| metric | ucontainerd | containerd | ratio | target |")
        print("|---|---|---|---|---|")
        print("| `ctr images import` %s, median of %d (s) | %.3f | %.3f | %.1fx | %s (<= %.1f s) |"
              % (a.snapshotter, a.rounds, u, c, c / u, "MET" if u <= TARGET_S else "MISS", TARGET_S))
        print("| floor: `tar -xzf` of the layers (s) | %.3f | | | |" % fl)
        print("# rounds ucd: %s" % " ".join("%.3f" % x for x in res["ucd"]))
        print("# rounds ctd: %s" % " ".join("%.3f" % x for x in res["ctd"]))
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
