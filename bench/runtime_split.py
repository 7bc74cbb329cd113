#!/usr/bin/python3
"""What the OCI runtime alone costs of a `ctr run --rm`: `runc`/`crun`
run, and create / start / delete (the split the Task API needs), on a bundle
with the spec `ctr run` makes, its rootfs a plain directory or an overlay
mount as a snapshotter gives it. No daemon or shim in the timed part: these
are the floors under bench/tasks_run.py's numbers.

The spec comes from a real `ctr run -d` through ucontainerd (its
config.json, with /bin/true as the process); the rootfs from the test
image's busybox layer. Each round uses a fresh container id and, for the
overlay bundle, a fresh upper directory. Prints the median and the minimum
per step: runtime creates vary a lot here (a new network namespace each
time; the kernel tears the last one down in the background).

usage (as root): python3 bench/runtime_split.py --ucd BUILD/bin/ucontainerd [--rounds 20]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from bench_daemon import BenchDaemon  # noqa: E402
from tasks_run import rootfs_from_layer  # noqa: E402
import images_util as iu  # noqa: E402
import runtime_util as ru  # noqa: E402

REF = "docker.io/library/ucdtest:1"


def ctr_spec(ucd, base):
    """config.json of a container `ctr run -d` started through ucontainerd."""
    img = iu.build_image(os.path.join(base, "img"), fmt="oci", name=REF, tag="a")
    d = BenchDaemon("ucd", ucd, base).wait_ready()
    try:
        d.ctr("images", "import", img.path, ns="bench")
        d.ctr("run", "-d", REF, "spec", "sleep", "1000", ns="bench")
        with open(os.path.join(d.dir, "state", "io.containerd.runtime.v2.task", "bench", "spec", "config.json")) as f:
            spec = json.load(f)
        d.ctr("task", "kill", "-s", "SIGKILL", "spec", ns="bench")
        for _ in range(100):
            if d.ctr("task", "rm", "spec", ns="bench", check=False).returncode == 0:
                break
            time.sleep(0.05)
        d.ctr("containers", "rm", "spec", ns="bench", check=False)
    finally:
        d.stop()
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    spec["root"] = {"path": "rootfs"}
    return spec


def timed(argv):
    t = time.monotonic()
    # stdio to /dev/null: a created container holds what it was given until it starts
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit("failed: %s" % " ".join(argv))
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    if not ru.runtimes():
        raise SystemExit("no usable runc/crun: %s" % ru.why_not())
    base = tempfile.mkdtemp(prefix="ucd-bench-split.", dir="/tmp")
    state = os.path.join(base, "runtime-state")
    mounted = []
    rows = []
    try:
        spec = ctr_spec(os.path.abspath(a.ucd), base)
        lower = os.path.join(base, "lower")
        rootfs_from_layer(lower)
        plain = os.path.join(base, "plain")
        shutil.copytree(lower, os.path.join(plain, "rootfs"), symlinks=True)
        ovl = os.path.join(base, "overlay")
        os.makedirs(os.path.join(ovl, "rootfs"))
        for b in (plain, ovl):
            with open(os.path.join(b, "config.json"), "w") as f:
                json.dump(spec, f)
        n = 0
        for name, _ in ru.runtimes():
            binary = ru.RUNC if name == "runc" else ru.CRUN
            pre = [binary, "--root", state]
            for kind, bundle in (("plain", plain), ("overlay", ovl)):
                res = {"run": [], "create": [], "start": [], "delete": []}
                for r in range(a.rounds + 1):   # round 0 warms caches, not counted
                    for step in ("run", "split"):
                        n += 1
                        if kind == "overlay":
                            up, wk = os.path.join(base, "u%d" % n), os.path.join(base, "w%d" % n)
                            os.makedirs(up)
                            os.makedirs(wk)
                            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                                            "index=off,lowerdir=%s,upperdir=%s,workdir=%s" % (lower, up, wk),
                                            os.path.join(ovl, "rootfs")], check=True)
                            mounted.append(os.path.join(ovl, "rootfs"))
                        cid = "split-%d" % n
                        if step == "run":
                            t = {"run": timed(pre + ["run", "--bundle", bundle, cid])}
                        else:
                            t = {"create": timed(pre + ["create", "--bundle", bundle, cid])}
                            t["start"] = timed(pre + ["start", cid])
                            time.sleep(0.01)   # /bin/true exits
                            t["delete"] = timed(pre + ["delete", cid])
                        if kind == "overlay":
                            subprocess.run(["umount", mounted.pop()], check=True)
                        if r > 0:
                            for k, v in t.items():
                                res[k].append(v)
                for k, v in res.items():
                    rows.append("| %s | %s | %s | %.1f | %.1f |" % (name, kind, k, statistics.median(v) * 1e3,
                                                                   min(v) * 1e3))
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    print("| runtime | rootfs | step | median (ms) | min (ms) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
