#!/usr/bin/python3
"""In-process calls against the same calls over the socket (plugin ABI 1.3,
docs/architecture.md): the daemon's CPU per 10k calls of Version and of
Images.List over 100 images, made by a plugin inside the daemon
(bench/inprocess_plugin.c, through host->call_start) and by a gRPC client
on the socket (bench/grpc_load.c, one connection, one call at a time).

  python3 bench/inprocess.py [--build-dir build] [--calls 10000] [--rounds 3]

The daemon is build-dir/bin/ucontainerd with only the bench plugin
installed. Socket side: utime+stime of the daemon (/proc/PID/stat) over the
calls, as grpc_load measures it. In-process side: the daemon's
CLOCK_PROCESS_CPUTIME_ID over the calls, as the plugin measures it (the
plugin's own work included). Both sides get 1000 uncounted calls first.
Target (issue 10): the in-process path costs at most a fifth. Run as root."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.join(here, "..")
sys.path.insert(0, os.path.join(top, "tests", "integration"))
from harness import Client, Protos  # noqa: E402
sys.path.insert(0, here)
from bench_daemon import BenchDaemon  # noqa: E402

TARGET = 0.2
LOADS = [("Version", "/containerd.services.version.v1.Version/Version", ""),
         ("Images.List, 100 images", "/containerd.services.images.v1.Images/List", "bench")]


def sh(*argv):
    subprocess.run(argv, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(top, "build"))
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ucd = os.path.join(a.build_dir, "bin", "ucontainerd")
    desc = None
    with open(os.path.join(a.build_dir, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("UCD_PROTO_DESCRIPTOR_SET"):
                desc = line.strip().split("=", 1)[1]
    if not os.access(ucd, os.X_OK) or desc is None:
        raise SystemExit("inprocess.py: no daemon or descriptor set in %s: build it first" % a.build_dir)
    tmp = tempfile.mkdtemp(prefix="ucd-bench-inproc.")
    d = None
    try:
        pdir = os.path.join(tmp, "plugins")
        os.makedirs(pdir)
        os.chmod(tmp, 0o755)
        sh("cc", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-o", os.path.join(tmp, "grpc_load"), os.path.join(here, "grpc_load.c"),
           "-lnghttp2")
        sh("cc", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-fvisibility=hidden", "-Wl,-z,defs",
           "-I", os.path.join(top, "sdk", "include"), "-o",
           os.path.join(pdir, "io.containerd.bench.v1.inprocess.so"), os.path.join(here, "inprocess_plugin.c"))
        d = BenchDaemon("ucd", ucd, tmp, top_config='plugin_dir = "%s"\n' % pdir)
        d.wait_ready()
        if "ucd.bench.InProcess" not in d.ctr("plugins", "ls", "-d").stdout:
            raise SystemExit("inprocess.py: the bench plugin does not serve:\n%s\n%s"
                             % (d.ctr("plugins", "ls").stdout, d.log_tail()))
        protos = Protos(desc)
        with Client(protos, d.sock, ns="bench") as c:
            for i in range(100):
                c.call("images/Create", image={"name": "docker.io/library/bench:%d" % i, "target": {
                    "media_type": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:%064x" % i, "size": 1000 + i}})

            run = c.channel.unary_unary("/ucd.bench.InProcess/Run")   # bytes in, bytes out

            def inproc(path, ns, n):
                out = run(("%d %s %s" % (n, path, ns)).encode(), timeout=600)
                cpu, wall, failed = (int(x) for x in out.decode().split())
                if failed:
                    raise SystemExit("inprocess.py: %d in-process calls of %s failed" % (failed, path))
                return cpu / 1e9, wall / 1e9

            def socket(path, ns, n):
                argv = [os.path.join(tmp, "grpc_load"), "load", "-s", d.sock, "-m", path, "-c", "1", "-n", str(n),
                        "-w", "1000", "-p", str(d.proc.pid)] + (["-N", ns] if ns else [])
                r = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
                return r["daemon_cpu_s"], r["seconds"]

            print("| calls | over the socket: daemon CPU s per 10k | in-process: daemon CPU s per 10k | "
                  "in-process / socket | target |")
            print("|---|---|---|---|---|")
            for name, path, ns in LOADS:
                sock_cpu = in_cpu = 0.0
                for _ in range(a.rounds):
                    inproc(path, ns, 1000)   # warm-up, uncounted
                    in_cpu += inproc(path, ns, a.calls)[0]
                    sock_cpu += socket(path, ns, a.calls)[0]
                per = 10000.0 / (a.calls * a.rounds)
                ratio = in_cpu / sock_cpu if sock_cpu > 0 else float("inf")
                print("| %s | %.3f | %.3f | %.3f | %s (<= %.1f) |" % (
                    name, sock_cpu * per, in_cpu * per, ratio, "met" if ratio <= TARGET else "NOT met", TARGET))
            print("\n(%d rounds of %d calls each; %s)" % (a.rounds, a.calls, " ".join(sys.argv)))
    finally:
        if d is not None:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
