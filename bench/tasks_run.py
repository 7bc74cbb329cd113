#!/usr/bin/python3
"""Containers side by side: ucontainerd + ucontainerd-shim against Debian's
containerd 1.6 + containerd-shim-runc-v2, on the same runc and crun binaries
and the same busybox image, in one interleaved run.

Prints (markdown):
  - `ctr run --rm IMG id /bin/true`, median of --rounds, with runc and crun;
  - floors: a bare `runc run` / `crun run` of a prepared bundle, and one
    `ctr version` (the cost of a ctr process);
  - 10 `ctr run --rm` in parallel (runc), wall time;
  - with --containers N (default 50) `sleep` containers running: the
    daemon's RSS, and each shim's RSS and PSS (from /proc/PID/smaps_rollup).

usage (as root): python3 bench/tasks_run.py --ucd BUILD/bin/ucontainerd [--rounds 11] [--containers 50]
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
import images_util as iu  # noqa: E402
import runtime_util as ru  # noqa: E402

REF = "docker.io/library/ucdtest:1"
TARGETS = {"runc": 0.070, "crun": 0.045}


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def rootfs_from_layer(path):
    """A rootfs directory with the test image's busybox layer."""
    os.makedirs(path, exist_ok=True)
    for name, kind, data, mode, _ in iu.base_layer_entries():
        p = os.path.join(path, name)
        if kind == "d":
            os.makedirs(p, exist_ok=True)
        elif kind == "f":
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, mode)
        elif kind == "l":
            if not os.path.lexists(p):
                os.symlink(data, p)


def bare_bundle(base, runtime):
    b = os.path.join(base, "bundle-" + os.path.basename(runtime))
    rootfs_from_layer(os.path.join(b, "rootfs"))
    subprocess.run([runtime, "spec"], cwd=b, check=True, capture_output=True)
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    return b


def bare_run(runtime, bundle, i):
    r = subprocess.run([runtime, "run", "--bundle", bundle, "bare-%d" % i], capture_output=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit("%s run failed: %s" % (runtime, r.stderr))


def mem_of(pid):
    """(rss_kb, pss_kb) from smaps_rollup."""
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def shim_pids(name):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/comm" % p) as f:
                    if f.read().strip() == name[:15]:
                        out.append(int(p))
            except OSError:
                pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True)
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--runc-shim", default="", help="ucontainerd's shim for io.containerd.runc.v2 (default: its own)")
    a = ap.parse_args()
    runtimes = [(n, b) for n, b in ru.runtimes()]
    if not runtimes:
        raise SystemExit("no usable runc/crun: %s" % ru.why_not())
    base = tempfile.mkdtemp(prefix="ucd-bench-tasks.")
    daemons = []
    try:
        img = iu.build_image(os.path.join(base, "img"), fmt="oci", name=REF, tag="a")
        extra = ('\n[plugins."io.containerd.runtime.v2.task"]\n  runc_shim = "%s"\n' % a.runc_shim
                 if a.runc_shim else "")
        daemons = [BenchDaemon("ucd", os.path.abspath(a.ucd), base, extra_config=extra).wait_ready(),
                   BenchDaemon("ctd", a.containerd, base).wait_ready()]
        for d in daemons:
            d.ctr("images", "import", img.path, ns="bench")
        rows = []
        n = 0
        for rname, binary in runtimes:
            extra = ["--runc-binary", binary] if binary else []
            res = {d.kind: [] for d in daemons}
            for r in range(a.rounds + 1):          # round 0 warms caches, not counted
                for d in (daemons if r % 2 == 0 else daemons[::-1]):
                    n += 1
                    cid = "b%d" % n
                    t = timed(lambda: d.ctr("run", "--rm", *extra, REF, cid, "/bin/true", ns="bench"))
                    if r > 0:
                        res[d.kind].append(t)
            u, c = statistics.median(res["ucd"]), statistics.median(res["ctd"])
            tgt = TARGETS[rname]
            rows.append("| `ctr run --rm` /bin/true, %s, median of %d (ms) | %.1f | %.1f | %.1fx | %s (<= %d ms) |"
                        % (rname, a.rounds, u * 1e3, c * 1e3, c / u, "MET" if u <= tgt else "MISS", tgt * 1e3))
            bin_path = ru.RUNC if rname == "runc" else ru.CRUN
            bundle = bare_bundle(base, bin_path)
            fl = statistics.median([timed(lambda i=i: bare_run(bin_path, bundle, i)) for i in range(a.rounds)])
            rows.append("| floor: bare `%s run` of a prepared bundle (ms) | %.1f | | | |" % (rname, fl * 1e3))
        ctr_cost = statistics.median([timed(lambda: daemons[0].ctr("version")) for _ in range(a.rounds)])
        rows.append("| floor: one `ctr version` (ms) | %.1f | | | |" % (ctr_cost * 1e3))

        # 10 in parallel (runc)
        par = {}
        for d in daemons:
            t = time.monotonic()
            procs = [subprocess.Popen([d.ctr_bin, "-a", d.sock, "-n", "bench", "run", "--rm", REF, "p%d-%s" % (i, d.kind),
                                       "/bin/true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      stdin=subprocess.DEVNULL) for i in range(10)]
            rcs = [p.wait() for p in procs]
            par[d.kind] = time.monotonic() - t
            if any(rcs):
                print("# %s: %d of 10 parallel runs failed" % (d.kind, sum(1 for x in rcs if x)))
        rows.append("| 10 parallel `ctr run --rm` (runc), wall (s) | %.2f | %.2f | %.1fx | |"
                    % (par["ucd"], par["ctd"], par["ctd"] / par["ucd"]))

        # N running containers: daemon RSS, shim RSS/PSS
        mem = {}
        for d in daemons:
            for i in range(a.containers):
                d.ctr("run", "-d", REF, "m%d" % i, "sleep", "100000", ns="bench")
            time.sleep(0.5)
            busy_rss, _ = mem_of(d.proc.pid)
            # ucontainerd gives back the pages a burst of work mapped 2 s
            # after the last call (core/util/memtrim.c): measure after that
            time.sleep(3)
            drss, _ = mem_of(d.proc.pid)
            shim = (a.runc_shim or "ucontainerd-shim") if d.kind == "ucd" else "containerd-shim-runc-v2"
            ms = [mem_of(p) for p in shim_pids(shim)]
            mem[d.kind] = (drss, statistics.median([m[0] for m in ms]) if ms else 0,
                           statistics.median([m[1] for m in ms]) if ms else 0, len(ms), busy_rss)
            for i in range(a.containers):
                d.ctr("task", "kill", "-s", "SIGKILL", "m%d" % i, ns="bench", check=False)
            for i in range(a.containers):
                for _ in range(100):
                    if d.ctr("task", "rm", "m%d" % i, ns="bench", check=False).returncode == 0:
                        break
                    time.sleep(0.05)
                d.ctr("containers", "rm", "m%d" % i, ns="bench", check=False)
        u, c = mem["ucd"], mem["ctd"]
        rows.append("| daemon RSS with %d containers, 3.5 s after the last start (MB) | %.1f | %.1f | %.1fx | %s (<= 6 MB) |"
                    % (a.containers, u[0] / 1024, c[0] / 1024, c[0] / u[0], "MET" if u[0] <= 6 * 1024 else "MISS"))
        rows.append("| daemon RSS 0.5 s after the last start, before the idle trim (MB) | %.1f | %.1f | %.1fx | |"
                    % (u[4] / 1024, c[4] / 1024, c[4] / u[4]))
        rows.append("| shim RSS, median of %d/%d (MB) | %.2f | %.2f | %.1fx | %s (<= 1.3 MB) |"
                    % (u[3], c[3], u[1] / 1024, c[1] / 1024, c[1] / max(u[1], 1), "MET" if u[1] <= 1.3 * 1024 else "MISS"))
        rows.append("| shim PSS, median (MB) | %.2f | %.2f | %.1fx | %s (<= 0.5 MB) |"
                    % (u[2] / 1024, c[2] / 1024, c[2] / max(u[2], 1), "MET" if u[2] <= 512 else "MISS"))
        print("| metric | ucontainerd | containerd | ratio | target |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(r)
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
