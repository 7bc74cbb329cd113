"""OCI runtimes for the container tests: which of runc and crun can run
containers on this machine, and the one piece of host set-up crun needs.

crun refuses a hybrid cgroup layout (v1 controllers plus the unified
hierarchy) while the unified hierarchy still holds a controller; on these
machines that is `hugetlb`. Binding hugetlb to a v1 hierarchy of its own
moves it out of the unified one, after which crun runs. The binding is
made once and left in place (it is what a v1 host has anyway)."""
import os
import shutil
import subprocess

RUNC = shutil.which("runc") or "/usr/sbin/runc"
CRUN = shutil.which("crun") or "/usr/bin/crun"
_why = []


def _unified_controllers():
    for p in ("/sys/fs/cgroup/unified/cgroup.controllers",):
        try:
            with open(p) as f:
                return f.read().split()
        except OSError:
            pass
    return []


def _mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def prepare_crun():
    """Binds hugetlb to v1 where the hybrid layout needs it; True when crun can run."""
    if not os.path.exists("/sys/fs/cgroup/unified") or "hugetlb" not in _unified_controllers():
        return True
    target = "/sys/fs/cgroup/hugetlb"
    if _mounted(target):
        return True
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        _why.append("cannot create %s: %s" % (target, e))
        return False
    r = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", target], capture_output=True, text=True)
    if r.returncode != 0:
        _why.append("mount hugetlb cgroup: %s" % r.stderr.strip())
        return False
    return True


def _works(binary):
    try:
        r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        _why.append("%s: %s" % (binary, e))
        return False
    if r.returncode != 0:
        _why.append("%s --version exited %d" % (binary, r.returncode))
    return r.returncode == 0


def runtimes():
    """[(name, --runc-binary value or None)] for the runtimes usable here;
    runc is the default (no --runc-binary)."""
    out = []
    if _works(RUNC):
        out.append(("runc", None))
    if _works(CRUN) and prepare_crun():
        out.append(("crun", CRUN))
    return out


def why_not():
    return "; ".join(_why)


def processes():
    """[(pid, argv)] of every process."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[-1] == "":
            argv.pop()
        out.append((int(p), argv))
    return out


def parent_of(pid):
    """The parent pid of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _shims():
    """[(pid, argv)] of every process whose argv[0] looks like a shim."""
    return [(pid, argv) for pid, argv in processes() if argv and "shim" in os.path.basename(argv[0])]


def shim_of(address, ns, cid):
    """The pid of the shim serving ns/cid for the daemon at `address`."""
    for pid, argv in _shims():   # the `start` command has exited by then
        if address in argv and cid in argv and ns in argv:
            return pid
    return None


def kill_shims(address):
    """Test clean-up: SIGKILL to the shims a test's daemon (at `address`) started."""
    for pid, argv in _shims():
        if address in argv:
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def kill_strays(tmpdir, keep=()):
    """Test clean-up: SIGKILL to what a failed test may have left running
    that names the run's temp dir in its argv (a stand-in runtime whose shim
    was killed, a ctr client), by pid; never this process nor `keep` (the
    daemons, which the harness stops and checks)."""
    for pid, argv in processes():
        if pid != os.getpid() and pid not in keep and any(tmpdir + "/" in a for a in argv):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def force_cleanup(namespaces, tmpdir):
    """After a failed test: the containers of these namespaces (by runc's
    state under both shims' roots) deleted by force, and whatever is still
    mounted under tmpdir unmounted, so nothing outlives the test."""
    for root in ("/run/ucontainerd/runc", "/run/containerd/runc"):
        for ns in namespaces:
            d = os.path.join(root, ns)
            if not os.path.isdir(d):
                continue
            for cid in os.listdir(d):
                subprocess.run([RUNC, "--root", d, "delete", "--force", cid], capture_output=True)
            try:
                os.rmdir(d)
            except OSError:
                pass
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(tmpdir + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)
