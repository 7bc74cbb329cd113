#!/usr/bin/python3
"""ucontainerd against Debian's containerd, side by side, interleaved.

Run through `sh bench/run.sh`, which builds ucontainerd and bench/grpc_load.c
and then calls this file. See docs/benchmarks.md for what is measured and how.

Every daemon runs on a fresh temporary root/state/socket with a generated
config (version = 2, root, state, [grpc] address; nothing disabled) and is
stopped by PID (SIGTERM, SIGKILL after 5 s) and its directory removed, also
on failure or on SIGINT/SIGTERM/SIGHUP.
"""
import argparse
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

VERSION = "/containerd.services.version.v1.Version/Version"
NS_LIST = "/containerd.services.namespaces.v1.Namespaces/List"

TARGETS = {  # metric -> minimum advantage of ucontainerd (containerd / ucontainerd)
    "start": 20.0,
    "rss": 10.0,
    "cpu": 10.0,
}


PROBLEM = re.compile(r"level=(warn|warning|error|fatal|panic)\b|Sanitizer|runtime error:|Segmentation|Aborted")
TIMESTAMP = re.compile(r'^time="[^"]*" ')


class BenchError(Exception):
    pass


class Daemon:
    """One daemon instance, started by `grpc_load spawn`, which stays its parent."""

    def __init__(self, kind, binary, grpc_load, base):
        self.kind = kind  # "ucd" or "ctd"
        self.dir = tempfile.mkdtemp(prefix=kind + ".", dir=base)
        self.sock = os.path.join(self.dir, kind + ".sock")
        self.log = os.path.join(self.dir, "daemon.log")
        self.config = os.path.join(self.dir, "config.toml")
        with open(self.config, "w") as f:
            f.write('version = 2\nroot = "%s/root"\nstate = "%s/state"\n\n[grpc]\n  address = "%s"\n'
                    % (self.dir, self.dir, self.sock))
        self.argv = [binary, "--config", self.config]
        self.grpc_load = grpc_load
        self.spawner = None
        self.pid = None
        self.first_ms = None
        self.exit_status = None

    def start(self, timeout=20):
        self.spawner = subprocess.Popen(
            [self.grpc_load, "spawn", "-s", self.sock, "-m", VERSION, "-t", str(timeout), "-l", self.log, "--"]
            + self.argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.spawner.stdout], [], [], timeout + 5)
        line = self.spawner.stdout.readline() if ready else ""
        try:
            res = json.loads(line)
        except ValueError:
            raise BenchError("%s: no answer from grpc_load spawn (%r)" % (self.kind, line))
        self.pid = res.get("pid")
        if "error" in res:
            raise BenchError("%s did not answer Version: %s\n%s" % (self.kind, res["error"], self.log_tail()))
        self.first_ms = res["first_answer_ms"]
        return self

    def alive(self):
        return self.spawner is not None and self.spawner.poll() is None

    def status(self):
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
        return out

    def stop(self):
        if self.spawner is not None:
            if self.spawner.poll() is None and self.pid:
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.spawner.wait(5)
                except subprocess.TimeoutExpired:
                    try:
                        os.kill(self.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    try:
                        self.spawner.wait(5)
                    except subprocess.TimeoutExpired:
                        self.spawner.kill()
                        self.spawner.wait()
            self.exit_status = self.spawner.returncode
            self.spawner.stdout.close()
            self.spawner = None

    def log_tail(self, n=15):
        try:
            with open(self.log, errors="replace") as f:
                lines = f.readlines()
            return "  log %s (last %d lines):\n" % (self.log, n) + "".join("    " + l for l in lines[-n:])
        except OSError:
            return "  (no log)"

    def log_problems(self):
        """Log lines at level warning/error/fatal/panic, and sanitizer reports."""
        out = []
        try:
            with open(self.log, errors="replace") as f:
                for line in f:
                    if PROBLEM.search(line):
                        out.append(line.rstrip("\n"))
        except OSError:
            pass
        return out

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.base = tempfile.mkdtemp(prefix="ucd-bench.")
        self.live = []
        self.anomalies = []
        self.problems = {}  # ucontainerd log line (timestamp dropped) -> how many instances logged it
        self.instances = 0
        self.bin = {"ucd": args.ucd, "ctd": args.containerd}

    def new(self, kind):
        d = Daemon(kind, self.bin[kind], self.args.grpc_load, self.base)
        self.live.append(d)
        return d

    def finish(self, d, expect_clean=True):
        """Stops a daemon; records a crash or an unclean exit and its log problems."""
        crashed = not d.alive()
        d.stop()
        name = "ucontainerd" if d.kind == "ucd" else "containerd"
        if crashed:
            self.anomalies.append("%s (pid %s) died during the benchmark, exit status %s\n%s"
                                  % (name, d.pid, d.exit_status, d.log_tail()))
        elif expect_clean and d.exit_status not in (0,):
            self.anomalies.append("%s (pid %s) exited with status %s on SIGTERM\n%s"
                                  % (name, d.pid, d.exit_status, d.log_tail()))
        if d.kind == "ucd":
            self.instances += 1
            for p in d.log_problems():
                p = TIMESTAMP.sub("", p).replace(d.dir, "<tmp>")
                self.problems[p] = self.problems.get(p, 0) + 1
        d.remove()
        self.live.remove(d)

    def log_anomalies(self):
        if self.problems:
            lines = sorted(self.problems.items(), key=lambda kv: -kv[1])
            self.anomalies.append("ucontainerd logged %d distinct warning/error line(s) over %d instances:\n%s"
                                  % (len(lines), self.instances,
                                     "\n".join("    [%dx] %s" % (n, l[:300]) for l, n in lines[:10])))
            self.problems = {}

    def cleanup(self):
        for d in list(self.live):
            d.stop()
            d.remove()
        self.live = []
        shutil.rmtree(self.base, ignore_errors=True)

    def load(self, d, path, conns):
        a = self.args
        cmd = [a.grpc_load, "load", "-s", d.sock, "-m", path, "-c", str(conns), "-n", str(a.calls),
               "-w", str(a.warmup), "-p", str(d.pid)]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        if p.returncode != 0:
            name = "ucontainerd" if d.kind == "ucd" else "containerd"
            self.anomalies.append("%s: %s on %d connection(s) failed (grpc_load exit %d): %s%s"
                                  % (name, path, conns, p.returncode, p.stderr.strip(),
                                     "" if d.alive() else "\n  the daemon is gone:\n" + d.log_tail()))
            return None
        return json.loads(p.stdout)

    def run(self):
        a = self.args
        kinds = ("ucd", "ctd")
        starts = {k: [] for k in kinds}
        rest = {k: [] for k in kinds}
        # 1+2: cold starts, alternating; each instance on a fresh root, then at rest.
        for i in range(a.starts):
            for k in kinds:
                d = self.new(k).start()
                starts[k].append(d.first_ms)
                time.sleep(a.rest_delay)
                rest[k].append(d.status())
                self.finish(d)
            progress("cold start %d/%d: ucd %.2f ms, ctd %.2f ms" % (i + 1, a.starts, starts["ucd"][-1],
                                                                     starts["ctd"][-1]))
        # 3+4: load. Per round a fresh pair of daemons; every configuration is run
        # on ucd then on ctd before the next one, so noise hits both.
        configs = [(VERSION, 1), (VERSION, 8), (NS_LIST, 1), (NS_LIST, 8)]
        loads = {(k, p, c): [] for k in kinds for p, c in configs}
        after = {k: [] for k in kinds}
        for r in range(a.rounds):
            pair = {k: self.new(k).start() for k in kinds}
            time.sleep(a.rest_delay)
            for p, c in configs:
                for k in kinds:
                    res = self.load(pair[k], p, c)
                    if res is not None:
                        loads[(k, p, c)].append(res)
            for k in kinds:
                if pair[k].alive():
                    after[k].append(pair[k].status())
                self.finish(pair[k])
            progress("load round %d/%d done" % (r + 1, a.rounds))
        return starts, rest, loads, after, configs


def progress(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def med(xs):
    return statistics.median(xs)


def fmt_ms(x):
    return "%.2f ms" % x if x < 10 else "%.1f ms" % x


def fmt_us(x):
    return "%.0f us" % x if x >= 100 else "%.1f us" % x


def fmt_ratio(x):
    if x is None:
        return "-"
    return "%.1fx" % x if x < 100 else "%.0fx" % x


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_header(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    u = platform.uname()
    lines = [
        "command:     %s" % args.cmdline,
        "date:        %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "kernel:      %s %s %s" % (u.system, u.release, u.version),
        "cpu:         %s, %d online CPUs" % (cpu, os.cpu_count() or 0),
        "ucontainerd: %s (%s)" % (out([args.ucd, "--version"]), args.ucd),
        "containerd:  %s (%s)" % (out([args.containerd, "--version"]), args.containerd),
        "load avg:    %s (before the run)" % loadavg(),
        "runs:        %d cold starts each, %d load rounds each, %d calls per load (+%d warm-up), "
        "interleaved ucd/ctd" % (args.starts, args.rounds, args.calls, args.warmup),
    ]
    return "\n".join(lines)


def report(args, starts, rest, loads, after, configs, anomalies):
    rows = []  # (metric, ucd, ctd, ratio, target)

    def target(key, adv):
        t = TARGETS[key]
        return "%s (>=%gx)" % ("PASS" if adv >= t else "MISS", t)

    su, sc = med(starts["ucd"]), med(starts["ctd"])
    rows.append(("cold start to first Version (median)", fmt_ms(su), fmt_ms(sc), fmt_ratio(sc / su),
                 target("start", sc / su)))
    rows.append(("  cold start min .. max", "%.2f .. %.2f" % (min(starts["ucd"]), max(starts["ucd"])),
                 "%.1f .. %.1f" % (min(starts["ctd"]), max(starts["ctd"])), "", ""))
    ru = med([s["VmRSS"] for s in rest["ucd"]])
    rc = med([s["VmRSS"] for s in rest["ctd"]])
    rows.append(("RSS at rest (median)", "%.1f MB" % (ru / 1024), "%.1f MB" % (rc / 1024), fmt_ratio(rc / ru),
                 target("rss", rc / ru)))
    for key, label in (("RssAnon", "  of which anonymous (RssAnon)"),
                       ("RssFile", "  of which file-backed (RssFile)")):
        xu = med([s.get(key, 0) for s in rest["ucd"]])
        xc = med([s.get(key, 0) for s in rest["ctd"]])
        rows.append((label, "%.1f MB" % (xu / 1024), "%.1f MB" % (xc / 1024),
                     fmt_ratio(xc / xu) if xu else "-", ""))
    tu = med([s["Threads"] for s in rest["ucd"]])
    tc = med([s["Threads"] for s in rest["ctd"]])
    rows.append(("threads at rest", "%g" % tu, "%g" % tc, fmt_ratio(tc / tu), ""))

    names = {VERSION: "Version", NS_LIST: "Namespaces.List"}
    cpu_tot = {"ucd": [0.0, 0], "ctd": [0.0, 0]}
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    gen = 0.0
    for p, c in configs:
        key = "%s, %d conn%s" % (names[p], c, "" if c == 1 else "s")
        u, k = loads[("ucd", p, c)], loads[("ctd", p, c)]
        if not u or not k:
            rows.append((key, "failed" if not u else "", "failed" if not k else "", "", "see anomalies"))
            continue
        qu, qc = med([x["calls_per_s"] for x in u]), med([x["calls_per_s"] for x in k])
        rows.append((key + ": calls/s", "%.0f" % qu, "%.0f" % qc, fmt_ratio(qu / qc), ""))
        for q in ("p50", "p99"):
            lu, lc = med([x[q + "_us"] for x in u]), med([x[q + "_us"] for x in k])
            rows.append(("  latency " + q, fmt_us(lu), fmt_us(lc), fmt_ratio(lc / lu), ""))
        cu = sum(x["daemon_cpu_s"] for x in u)
        nu = sum(x["calls"] for x in u)
        cc = sum(x["daemon_cpu_s"] for x in k)
        ncc = sum(x["calls"] for x in k)
        cpu_tot["ucd"][0] += cu
        cpu_tot["ucd"][1] += nu
        cpu_tot["ctd"][0] += cc
        cpu_tot["ctd"][1] += ncc
        rows.append(("  daemon CPU s per 10k calls", cpu_fmt(cu, nu, tick), cpu_fmt(cc, ncc, tick),
                     cpu_ratio(cu, nu, cc, ncc, tick), ""))
        gen = max([gen] + [x["client_cpu_s"] / x["seconds"] for x in u + k])
    cu, nu = cpu_tot["ucd"]
    cc, ncc = cpu_tot["ctd"]
    if nu and ncc:
        adv = cc / max(cu, tick) * nu / ncc
        rows.append(("daemon CPU s per 10k calls (all loads)", cpu_fmt(cu, nu, tick), cpu_fmt(cc, ncc, tick),
                    cpu_ratio(cu, nu, cc, ncc, tick), target("cpu", adv)))
    if after["ucd"] and after["ctd"]:
        au = med([s["VmRSS"] for s in after["ucd"]])
        ac = med([s["VmRSS"] for s in after["ctd"]])
        rows.append(("RSS after the loads", "%.1f MB" % (au / 1024), "%.1f MB" % (ac / 1024), fmt_ratio(ac / au),
                     ""))
        tu = med([s["Threads"] for s in after["ucd"]])
        tc = med([s["Threads"] for s in after["ctd"]])
        rows.append(("threads after the loads", "%g" % tu, "%g" % tc, fmt_ratio(tc / tu), ""))

    head = ("metric", "ucontainerd", "containerd", "ucd advantage", "target")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    out = []
    for r in [head] + rows:
        out.append("%-*s  %*s  %*s  %*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], w[3], r[3], r[4]))
    out.append("")
    out.append("ucd advantage = containerd/ucontainerd for times, memory, threads, latency and CPU;")
    out.append("                ucontainerd/containerd for calls/s (above 1: ucontainerd is better).")
    out.append("Load generator (grpc_load, one thread): at most %.0f%% of one CPU during any load." % (gen * 100))
    out.append("Targets: start >=20x faster, RSS <=1/10, daemon CPU per call <=1/10 (all four loads together).")
    if anomalies:
        out.append("")
        out.append("Anomalies:")
        for a in anomalies:
            out.append("- " + a)
    return "\n".join(out)


def cpu_fmt(cpu, calls, tick):
    if cpu < tick / 2:  # below /proc/PID/stat resolution
        return "<%.4f s" % (tick * 1e4 / calls)
    return "%.3f s" % (cpu * 1e4 / calls)


def cpu_ratio(cu, nu, cc, nc, tick):
    if cc < tick / 2:
        return "-"
    if cu < tick / 2:
        return ">" + fmt_ratio((cc / nc) / (tick / nu))
    return fmt_ratio((cc / nc) / (cu / nu))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ucd", required=True, help="the ucontainerd binary")
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--grpc-load", required=True)
    ap.add_argument("--starts", type=int, default=7, help="cold starts per daemon")
    ap.add_argument("--rounds", type=int, default=3, help="load rounds per daemon")
    ap.add_argument("--calls", type=int, default=20000, help="measured calls per load configuration")
    ap.add_argument("--warmup", type=int, default=1000, help="uncounted calls before each load")
    ap.add_argument("--rest-delay", type=float, default=1.5, help="seconds between start and the RSS reading")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--cmdline", default=" ".join(sys.argv))
    args = ap.parse_args()

    b = Bench(args)

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    try:
        print(machine_header(args), flush=True)
        t0 = time.monotonic()
        starts, rest, loads, after, configs = b.run()
        b.log_anomalies()
        print("", flush=True)
        print(report(args, starts, rest, loads, after, configs, b.anomalies))
        print("\n(benchmark took %.0f s; load average after it: %s)" % (time.monotonic() - t0, loadavg()))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"starts_ms": starts, "rest": rest, "after": after,
                           "loads": [dict(daemon=k, **r) for (k, p, c), rs in loads.items() for r in rs],
                           "anomalies": b.anomalies}, f, indent=1)
        return 0
    except BenchError as e:
        print("\nbenchmark failed: %s" % e, file=sys.stderr)
        b.log_anomalies()
        for a in b.anomalies:
            print("- " + a, file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("\ninterrupted (%s); cleaning up" % e, file=sys.stderr)
        return 130
    finally:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
