#!/usr/bin/python3
"""The Snapshots service over the real snapshotter plugins (native,
overlayfs): Debian's ctr `snapshots` commands with the mounts it prints
mounted for real; grpcio for containerd's codes and messages, namespace
isolation, List filters and batches, lease resources, events, concurrent
requests from many connections, hostile input, restart and crash."""
import os
import shlex
import subprocess
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

from events_util import Subscription  # noqa: E402
from harness import CODES, Failure, Harness, Skip, check, contains, eq, expect_code, wait_until  # noqa: E402

SNAP = "/containerd.services.snapshots.v1.Snapshots/"
LEASES = "/containerd.services.leases.v1.Leases/"

h = Harness("snapshots")
h.require_root()
h.require_ctr()

# One plugin directory with the build's plugins and the fake snapshotter
# (tests/fixtures/plugins/fake_snapshotter.c: in memory, fails or stalls on
# request), so that one daemon serves every snapshotter.
PLUGINS = os.path.join(h.tmp, "plugins")
os.mkdir(PLUGINS)
_built = os.path.join(h.build_dir, "lib", "ucontainerd", "plugins")
for _f in sorted(os.listdir(_built)) if os.path.isdir(_built) else []:
    os.symlink(os.path.join(_built, _f), os.path.join(PLUGINS, _f))
FAKE_SO = os.path.join(h.build_dir, "tests", "fixture-plugins", "snapfake", "io.containerd.snapshotter.v1.fake.so")
if not os.path.exists(FAKE_SO):
    print("1..0 # SKIP %s not built (target fixture_snapfake_fake_snapshotter)" % FAKE_SO)
    sys.exit(77)
os.symlink(FAKE_SO, os.path.join(PLUGINS, os.path.basename(FAKE_SO)))

d = h.daemon("main", plugin_dir=PLUGINS)
d.start()
c = d.client()


def snapshotters_ok():
    r = c.call("introspection/Plugins", ns=None, filters=['type=="io.containerd.snapshotter.v1"'])
    return [p.id for p in r.plugins if not p.HasField("init_err") or not p.init_err.message]


_ok = snapshotters_ok()
REAL = [s for s in ("native", "overlayfs") if s in _ok]
print("# snapshotters ok: %s" % ", ".join(_ok), flush=True)
# The service's semantics are tested on the fake (always there, and it can
# fail on request); what needs real files on each real snapshotter.
SN = "fake"
FAKE_KEYS = os.path.join(d.root, "io.containerd.snapshotter.v1.fake", "keys")


def fake_keys():
    with open(FAKE_KEYS) as f:
        return sorted(ln for ln in f.read().splitlines() if ln)


def call(method, client=None, **kw):
    return (client or c).call(SNAP + method, **kw)


# The garbage collector removes snapshots nothing references (containerd's
# rules): like ctr, the helpers label what they create as a gc root.
GCROOT = "containerd.io/gc.root"


def rooted(labels):
    out = dict(labels or {})
    out.setdefault(GCROOT, "test")
    return out


def user_labels(info):
    return {k: v for k, v in info.labels.items() if k != GCROOT}


def prepare(key, parent="", sn=SN, labels=None, **kw):
    return call("Prepare", snapshotter=sn, key=key, parent=parent, labels=rooted(labels), **kw)


def view(key, parent="", sn=SN, labels=None, **kw):
    return call("View", snapshotter=sn, key=key, parent=parent, labels=rooted(labels), **kw)


def commit(name, key, sn=SN, labels=None, **kw):
    return call("Commit", snapshotter=sn, name=name, key=key, labels=rooted(labels), **kw)


def remove(key, sn=SN, **kw):
    return call("Remove", snapshotter=sn, key=key, **kw)


def stat(key, sn=SN, **kw):
    return call("Stat", snapshotter=sn, key=key, **kw).info


def listing(sn=SN, filters=(), **kw):
    out = []
    for resp in call("List", snapshotter=sn, filters=list(filters), **kw):
        out.extend(resp.info)
    return out


def names(infos):
    return sorted(i.name for i in infos)


def expect_err(code, text, fn, *a, **kw):
    e = expect_code(code, fn, *a, **kw)
    if text is not None:
        eq(e.details(), text, "grpc-message")
    return e


def run(*cmd, check_rc=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if check_rc and r.returncode != 0:
        raise Failure("%s exited %d: %s %s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


class Mounted:
    """Mounts what `ctr snapshots mounts TARGET KEY` prints, for real, and
    unmounts it on exit whatever happens."""

    def __init__(self, key, sn, ns="default"):
        self.dir = tempfile.mkdtemp(prefix="mnt-", dir=h.tmp)
        self.out = d.ctr("snapshots", "--snapshotter", sn, "mounts", self.dir, key, ns=ns).stdout
        self.mounted = 0

    def __enter__(self):
        lines = [ln for ln in self.out.splitlines() if ln.strip()]
        check(lines, "ctr printed no mount command")
        for ln in lines:
            argv = shlex.split(ln)
            check(argv[:2] == ["mount", "-t"], "not a mount command: %r" % ln)
            if argv[-1] == "-o":          # no options
                argv = argv[:-1]
            run(*argv)
            self.mounted += 1
        return self.dir

    def __exit__(self, *a):
        for _ in range(self.mounted):
            subprocess.run(["umount", self.dir], capture_output=True)
        self.mounted = 0


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def ctr_sn(sn, *args, **kw):
    return d.ctr("snapshots", "--snapshotter", sn, *args, **kw)


def ls_rows(out):
    """`ctr snapshots ls` -> {key: (parent, kind)}"""
    lines = out.strip().splitlines()
    check(lines and lines[0].split() == ["KEY", "PARENT", "KIND"], "no header in:\n" + out)
    rows = {}
    for ln in lines[1:]:
        f = ln.split()
        if len(f) == 3:
            rows[f[0]] = (f[1], f[2])
        elif len(f) == 2:
            rows[f[0]] = ("", f[1])
    return rows


# --- ctr, for each snapshotter -----------------------------------------------------

def ctr_workflow(sn):
    ns = "ctr-" + sn
    ctr_sn(sn, "prepare", "work1", ns=ns)
    with Mounted("work1", sn, ns) as m:
        write(os.path.join(m, "a.txt"), "layer one")
        os.mkdir(os.path.join(m, "dir"))
    ctr_sn(sn, "commit", "base", "work1", ns=ns)
    ctr_sn(sn, "prepare", "work2", "base", ns=ns)
    with Mounted("work2", sn, ns) as m:
        eq(read(os.path.join(m, "a.txt")), "layer one", "file of the parent")
        write(os.path.join(m, "b.txt"), "layer two")
        os.remove(os.path.join(m, "a.txt"))
        with open(os.path.join(m, "big"), "wb") as f:
            f.write(os.urandom(1 << 20))
    usage = ctr_sn(sn, "usage", "work2", ns=ns).stdout
    contains(usage, "work2")
    u = call("Usage", snapshotter=sn, key="work2", ns=ns)
    check(u.size >= 1 << 20 and u.inodes >= 2, "usage of work2: %s" % u)
    ctr_sn(sn, "commit", "layer2", "work2", ns=ns)
    ctr_sn(sn, "view", "v1", "layer2", ns=ns)
    with Mounted("v1", sn, ns) as m:
        eq(read(os.path.join(m, "b.txt")), "layer two", "file of layer 2")
        check(not os.path.exists(os.path.join(m, "a.txt")), "a.txt was deleted in layer 2")
        check(os.path.isdir(os.path.join(m, "dir")), "dir of layer 1")
        try:
            write(os.path.join(m, "c.txt"), "x")
            raise Failure("a view must be read-only")
        except OSError:
            pass
    # the first layer is unchanged by what the second did
    ctr_sn(sn, "view", "v0", "base", ns=ns)
    with Mounted("v0", sn, ns) as m:
        eq(read(os.path.join(m, "a.txt")), "layer one", "layer 1 is immutable")
        check(not os.path.exists(os.path.join(m, "b.txt")), "layer 1 does not see layer 2")

    rows = ls_rows(ctr_sn(sn, "ls", ns=ns).stdout)
    eq(rows, {"base": ("", "Committed"), "layer2": ("base", "Committed"), "v0": ("base", "View"),
              "v1": ("layer2", "View")}, "ctr snapshots ls")
    info = ctr_sn(sn, "info", "layer2", ns=ns).stdout
    contains(info, '"Kind": "Committed"')
    contains(info, '"Name": "layer2"')
    contains(info, '"Parent": "base"')
    contains(info, '"containerd.io/gc.root"')       # ctr commit labels it
    out = ctr_sn(sn, "label", "layer2", "team=x", "tier=base", ns=ns).stdout
    contains(out, "team=x")
    contains(out, "tier=base")
    out = ctr_sn(sn, "label", "layer2", "team=", ns=ns).stdout
    check("team=" not in out and "tier=base" in out, "label removed: %r" % out)
    tree = ctr_sn(sn, "tree", ns=ns).stdout
    contains(tree, "base")
    contains(tree, "\\_ layer2")
    r = ctr_sn(sn, "rm", "base", ns=ns, check=False)
    check(r.returncode != 0, "rm of a parent must fail")
    contains(r.stderr, "cannot remove snapshot with child: failed precondition")
    gcs = d.gc_count()
    ctr_sn(sn, "rm", "v1", "v0", ns=ns)
    ctr_sn(sn, "rm", "layer2", ns=ns)
    ctr_sn(sn, "rm", "base", ns=ns)
    eq(ls_rows(ctr_sn(sn, "ls", ns=ns).stdout), {}, "everything removed")
    d.ctr("namespaces", "rm", ns, ns="default")
    d.wait_gc(gcs)   # before the next test makes unreferenced views


@h.test("ctr snapshots on the fake snapshotter: prepare/mounts/commit/view/ls/info/label/usage/tree/rm")
def _():
    sn, ns = "fake", "ctr-fake"
    out = ctr_sn(sn, "prepare", "--mounts", "w", ns=ns).stdout
    contains(out, '"Type": "bind"')
    contains(ctr_sn(sn, "mounts", "/mnt/x", "w", ns=ns).stdout, "mount -t bind /nonexistent/fake/")
    ctr_sn(sn, "commit", "base", "w", ns=ns)
    ctr_sn(sn, "prepare", "w2", "base", ns=ns)
    ctr_sn(sn, "view", "v", "base", ns=ns)
    eq(ls_rows(ctr_sn(sn, "ls", ns=ns).stdout),
       {"base": ("", "Committed"), "w2": ("base", "Active"), "v": ("base", "View")}, "ls")
    contains(ctr_sn(sn, "info", "w2", ns=ns).stdout, '"Kind": "Active"')
    contains(ctr_sn(sn, "label", "base", "a=b", ns=ns).stdout, "a=b")
    contains(ctr_sn(sn, "usage", ns=ns).stdout, "base")
    contains(ctr_sn(sn, "tree", ns=ns).stdout, "\\_ w2")
    r = ctr_sn(sn, "rm", "base", ns=ns, check=False)
    check(r.returncode != 0 and "cannot remove snapshot with child" in r.stderr, r.stderr)
    r = ctr_sn(sn, "prepare", "w2", ns=ns, check=False)
    check(r.returncode != 0 and 'snapshot "w2": already exists' in r.stderr, r.stderr)
    r = d.ctr("snapshots", "--snapshotter", "nope", "ls", ns=ns, check=False)
    check(r.returncode != 0 and "snapshotter not loaded: nope" in r.stderr, r.stderr)
    gcs = d.gc_count()
    ctr_sn(sn, "rm", "w2", "v", "base", ns=ns)
    eq(ls_rows(ctr_sn(sn, "ls", ns=ns).stdout), {}, "all removed")
    d.wait_gc(gcs)   # before the next test makes unreferenced views


for _sn in REAL:
    h.run("ctr snapshots prepare/mounts/commit/view/ls/info/label/usage/tree/rm on %s, mounted for real" % _sn,
          ctr_workflow, _sn)


@h.test("the backend snapshot is gone from disk after rm (native: its directory)")
def _():
    if "native" not in REAL:
        raise Skip("the native snapshotter is not available")
    ns = "disk"
    prepare("k", sn="native", ns=ns)
    m = call("Mounts", snapshotter="native", key="k", ns=ns).mounts
    src = m[0].source
    check(os.path.isdir(src), "native keeps a directory: %r" % src)
    remove("k", sn="native", ns=ns)
    # removal runs after the reply, in the background
    deadline = time.monotonic() + 10
    while os.path.exists(src) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not os.path.exists(src), "%s still exists after rm" % src)


# --- codes and messages --------------------------------------------------------------

@h.test("errors: containerd's codes and texts")
def _():
    ns = "errs"
    expect_err(CODES.INVALID_ARGUMENT, "snapshotter not loaded: nope: invalid argument",
               prepare, "k", sn="nope", ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, "snapshotter argument missing: invalid argument", prepare, "k", sn="", ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, "snapshotter not loaded: nope: invalid argument",
               listing, sn="nope", ns=ns)
    expect_err(CODES.FAILED_PRECONDITION, None, prepare, "k", ns=None)
    prepare("active", ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'snapshot "active": already exists', prepare, "active", ns=ns)
    expect_err(CODES.NOT_FOUND, "parent snapshot nope does not exist: not found", prepare, "k", "nope", ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, 'parent "active" is not committed snapshot: invalid argument',
               prepare, "k", "active", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found", commit, "n", "nope", ns=ns)
    view("view", sn=SN, ns=ns)
    expect_err(CODES.FAILED_PRECONDITION, 'snapshot "view" is not active: failed precondition',
               commit, "n", "view", ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'snapshot "view": already exists', commit, "view", "active", ns=ns)
    commit("base", "active", ns=ns)
    expect_err(CODES.FAILED_PRECONDITION, "requested snapshot base not active or view: failed precondition",
               call, "Mounts", snapshotter=SN, key="base", ns=ns)
    prepare("child", "base", ns=ns)
    expect_err(CODES.FAILED_PRECONDITION, "cannot remove snapshot with child: failed precondition",
               remove, "base", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found", remove, "nope", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found", stat, "nope", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found",
               call, "Mounts", snapshotter=SN, key="nope", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found",
               call, "Usage", snapshotter=SN, key="nope", ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, 'cannot update "parent" field on snapshot "base": invalid argument',
               call, "Update", snapshotter=SN, info={"name": "base"}, update_mask={"paths": ["parent"]}, ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, "invalid argument", call, "Update", snapshotter=SN, info={}, ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot nope does not exist: not found",
               call, "Update", snapshotter=SN, info={"name": "nope"}, ns=ns)
    expect_err(CODES.INVALID_ARGUMENT,
               "info.Labels: label key and value greater than maximum size (4096 bytes), key: big: invalid argument",
               prepare, "k2", labels={"big": "x" * 4096}, ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'target snapshot "base": already exists',
               prepare, "k3", labels={"containerd.io/snapshot.ref": "base"}, ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, "snapshot key must not be empty: invalid argument", prepare, "", ns=ns)
    expect_err(CODES.INVALID_ARGUMENT, "snapshot name must not be empty: invalid argument", commit, "", "x", ns=ns)
    # nothing of the failed requests was created
    eq(names(listing(ns=ns)), ["base", "child", "view"], "snapshots after the failures")


@h.test("Stat, Update and List report the namespace's names, labels and times")
def _():
    ns = "infos"
    prepare("w", labels={"a": "1", "containerd.io/snapshot/x": "inh"}, ns=ns)
    i = stat("w", ns=ns)
    eq((i.name, i.parent, i.kind), ("w", "", 2), "active info")
    eq(user_labels(i), {"a": "1", "containerd.io/snapshot/x": "inh"}, "labels")
    check(i.created_at.seconds > 0 and i.created_at == i.updated_at, "times: %s" % i)
    commit("c", "w", labels={"b": "2"}, ns=ns)
    i = stat("c", ns=ns)
    eq((i.name, i.parent, i.kind, user_labels(i)), ("c", "", 3, {"b": "2"}),
       "committed info (labels are the commit's)")
    time.sleep(0.01)
    u = call("Update", snapshotter=SN, info={"name": "c", "labels": {"n": "v", "b": "ignored"}},
             update_mask={"paths": ["labels.n"]}, ns=ns).info
    eq(user_labels(u), {"b": "2", "n": "v"}, "labels.n update")
    check(u.updated_at.ToNanoseconds() > u.created_at.ToNanoseconds(), "updated_at moved")
    eq(u.created_at, i.created_at, "created_at kept")
    u = call("Update", snapshotter=SN, info={"name": "c", "labels": {"only": "1", GCROOT: "t"}}, ns=ns).info
    eq(dict(u.labels), {"only": "1", GCROOT: "t"}, "update without a mask replaces the labels")
    eq(dict(stat("c", ns=ns).labels), {"only": "1", GCROOT: "t"}, "stored")


@h.test("namespaces: the same key in two namespaces is two snapshots; parents stay in their namespace")
def _():
    prepare("same", ns="iso-a", labels={"ns": "a"})
    prepare("same", ns="iso-b", labels={"ns": "b"})
    eq(user_labels(stat("same", ns="iso-a")), {"ns": "a"}, "a's")
    eq(user_labels(stat("same", ns="iso-b")), {"ns": "b"}, "b's")
    commit("base", "same", ns="iso-a")
    expect_err(CODES.NOT_FOUND, "parent snapshot base does not exist: not found", prepare, "k", "base", ns="iso-b")
    eq(names(listing(ns="iso-a")), ["base"], "iso-a")
    eq(names(listing(ns="iso-b")), ["same"], "iso-b")
    expect_err(CODES.NOT_FOUND, None, remove, "base", ns="iso-b")
    # the namespace cannot go while it holds snapshots
    e = expect_code(CODES.FAILED_PRECONDITION, c.call, "namespaces/Delete", ns=None, name="iso-a")
    eq(e.details(), 'namespace "iso-a" must be empty, but it still has snapshots on "%s" snapshotter: '
       'failed precondition' % SN, "namespace delete")
    if REAL:
        prepare("other", sn=REAL[0], ns="iso-a")
        e = expect_code(CODES.FAILED_PRECONDITION, c.call, "namespaces/Delete", ns=None, name="iso-a")
        contains(e.details(), 'snapshots on "%s" snapshotter, snapshots on "%s" snapshotter'
                 % tuple(sorted([SN, REAL[0]])))
        remove("other", sn=REAL[0], ns="iso-a")
    remove("base", ns="iso-a")
    c.call("namespaces/Delete", ns=None, name="iso-a")


@h.test("List: filters on name, parent, kind and labels; batches of 100")
def _():
    ns = "lists"
    prepare("l0", ns=ns)
    commit("base", "l0", labels={"tier": "base", "a.b": "dotted"}, ns=ns)
    for i in range(3):
        prepare("a%d" % i, "base", labels={"i": str(i)}, ns=ns)
    view("v", "base", sn=SN, ns=ns)
    eq(names(listing(ns=ns, filters=["name==a1"])), ["a1"], "name==")
    eq(names(listing(ns=ns, filters=["parent==base"])), ["a0", "a1", "a2", "v"], "parent==")
    eq(names(listing(ns=ns, filters=["kind==committed"])), ["base"], "kind==committed")
    eq(names(listing(ns=ns, filters=["kind==view"])), ["v"], "kind==view")
    eq(names(listing(ns=ns, filters=["kind==active,labels.i==2"])), ["a2"], "AND")
    eq(names(listing(ns=ns, filters=["labels.i==0", "name==v"])), ["a0", "v"], "OR")
    eq(names(listing(ns=ns, filters=['labels."a.b"==dotted'])), ["base"], "quoted label key")
    eq(names(listing(ns=ns, filters=["labels.tier"])), ["base"], "presence")
    eq(names(listing(ns=ns, filters=['name~="^a[02]$"'])), ["a0", "a2"], "regexp")
    e = expect_code(CODES.INVALID_ARGUMENT, listing, ns=ns, filters=["name==a,"])
    contains(e.details(), "filters: parse error")
    check(not e.details().endswith("invalid argument: invalid argument"), e.details())
    # 250 snapshots come in blocks of 100, 100, 50, sorted by key
    bns = "batches"
    for i in range(250):
        prepare("k%03d" % i, ns=bns)
    sizes = [len(r.info) for r in call("List", snapshotter=SN, ns=bns)]
    eq(sizes, [100, 100, 50], "batch sizes")
    eq([i.name for i in listing(ns=bns)], ["k%03d" % i for i in range(250)], "order")
    eq(list(call("List", snapshotter=SN, ns="empty-ns")), [], "an empty namespace sends no message")


# --- leases and events ----------------------------------------------------------------

@h.test("leases: Prepare/View/Commit under containerd-lease add snapshots/<snapshotter>; Remove drops it")
def _():
    ns = "leased"
    c.call(LEASES + "Create", ns=ns, id="l1")
    md = (("containerd-lease", "l1"),)

    def resources():
        r = c.call(LEASES + "ListResources", ns=ns, id="l1")
        return sorted((x.type, x.id) for x in r.resources)
    t = "snapshots/" + SN
    prepare("w", ns=ns, metadata=md)
    view("v", sn=SN, ns=ns, metadata=md)
    eq(resources(), [(t, "v"), (t, "w")], "after prepare and view")
    commit("c", "w", ns=ns, metadata=md)
    eq(resources(), [(t, "c"), (t, "v")], "commit replaces the key by the name")
    remove("v", ns=ns, metadata=md)
    eq(resources(), [(t, "c")], "remove drops it")
    # without the header nothing is tracked
    prepare("free", ns=ns)
    eq(resources(), [(t, "c")], "no header")
    # an unknown lease fails before anything is created
    expect_err(CODES.NOT_FOUND, 'lease "nope": not found', prepare, "x", ns=ns,
               metadata=(("containerd-lease", "nope"),))
    expect_err(CODES.NOT_FOUND, 'lease "nope": not found', commit, "c2", "free", ns=ns,
               metadata=(("containerd-lease", "nope"),))
    eq(names(listing(ns=ns)), ["c", "free"], "nothing created by the refused requests")
    # removing under a lease that does not exist is fine (containerd)
    remove("free", ns=ns, metadata=(("containerd-lease", "nope"),))


@h.test("events: /snapshot/prepare, /snapshot/commit, /snapshot/remove as containerd 1.6 publishes them")
def _():
    ns = "evs"
    with Subscription(c, filters=['topic~="^/snapshot/"']) as sub:
        sub.sync()
        prepare("w", ns=ns)
        view("v", sn=SN, ns=ns)   # no event in containerd 1.6
        commit("c", "w", ns=ns)
        prepare("w2", "c", ns=ns)
        remove("w2", ns=ns)
        ev = sub.wait_topic("/snapshot/remove", ns=ns)
        got = [(e.topic, e.namespace, e.event.type_url) for e in sub.received()]
        eq(got, [("/snapshot/prepare", ns, "containerd.events.SnapshotPrepare"),
                 ("/snapshot/commit", ns, "containerd.events.SnapshotCommit"),
                 ("/snapshot/prepare", ns, "containerd.events.SnapshotPrepare"),
                 ("/snapshot/remove", ns, "containerd.events.SnapshotRemove")], "events")
        evs = sub.received()
        p = h.protos.cls("containerd.events.SnapshotPrepare").FromString(evs[2].event.value)
        eq((p.key, p.parent), ("w2", "c"), "prepare event")
        cm = h.protos.cls("containerd.events.SnapshotCommit").FromString(evs[1].event.value)
        eq((cm.key, cm.name), ("w", "c"), "commit event")
        rm = h.protos.cls("containerd.events.SnapshotRemove").FromString(ev.event.value)
        eq(rm.key, "w2", "remove event")
        # failures publish nothing
        expect_code(CODES.ALREADY_EXISTS, prepare, "c", ns=ns)
        time.sleep(0.2)
        eq(len(sub.received()), 4, "no event for a failed request")


# --- concurrency ---------------------------------------------------------------------------

def threads(n, fn):
    errs = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:   # noqa: BLE001 -- collected and reported
            errs.append("%d: %r" % (i, e))
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    check(not errs, "thread errors:\n" + "\n".join(errs[:10]))


@h.test("concurrency: 16 connections prepare/commit/remove chains at once; the same key is won once")
def _():
    ns = "conc"
    prepare("root0", ns=ns)
    commit("root", "root0", ns=ns)

    def chain(i):
        with d.client() as cl:
            parent = "root"
            for j in range(8):
                k = "t%d-%d" % (i, j)
                prepare("a-" + k, parent, ns=ns, client=cl)
                commit(k, "a-" + k, ns=ns, client=cl)
                parent = k
            for j in reversed(range(8)):
                remove("t%d-%d" % (i, j), ns=ns, client=cl)
    threads(16, chain)
    eq(names(listing(ns=ns)), ["root"], "every chain removed")

    wins = []

    def race(i):
        with d.client() as cl:
            try:
                prepare("contended", "root", ns=ns, client=cl)
                wins.append(i)
            except grpc.RpcError as e:
                if e.code() != CODES.ALREADY_EXISTS:
                    raise
    threads(16, race)
    eq(len(wins), 1, "prepares of one key that succeeded")
    cwins = []

    def commit_race(i):
        with d.client() as cl:
            try:
                commit("n%d" % i, "contended", ns=ns, client=cl)
                cwins.append(i)
            except grpc.RpcError as e:
                if e.code() != CODES.NOT_FOUND:
                    raise
    threads(8, commit_race)
    eq(len(cwins), 1, "commits of one key that succeeded")
    won = "n%d" % cwins[0]
    eq(names(listing(ns=ns)), sorted(["root", won]), "one committed name")

    # removing the parent while children are being prepared on it: either
    # the remove fails (a child exists or is in flight), or no child exists
    res = {"rm": None, "kids": []}

    def mixed(i):
        with d.client() as cl:
            if i == 0:
                time.sleep(0.01)
                try:
                    remove(won, ns=ns, client=cl)
                    res["rm"] = "ok"
                except grpc.RpcError as e:
                    res["rm"] = e.code()
            else:
                try:
                    prepare("kid%d" % i, won, ns=ns, client=cl)
                    res["kids"].append(i)
                except grpc.RpcError as e:
                    if e.code() != CODES.NOT_FOUND:
                        raise
    threads(12, mixed)
    if res["rm"] == "ok":
        eq(res["kids"], [], "children of a removed parent")
    else:
        eq(res["rm"], CODES.FAILED_PRECONDITION, "remove of a parent with children")
    for info in listing(ns=ns):
        if info.kind != 3:
            call("Mounts", snapshotter=SN, key=info.name, ns=ns)   # every row has its backend snapshot


# --- plugin failures and requests in flight (the fake snapshotter) ----------------------

def in_background(fn, *a, **kw):
    """Runs fn in a thread; join() returns its result or raises its error."""
    box = {}

    def run_it():
        try:
            box["r"] = fn(*a, **kw)
        except Exception as e:   # noqa: BLE001 -- handed to join()
            box["e"] = e
    t = threading.Thread(target=run_it)
    t.start()

    class J:
        @staticmethod
        def join():
            t.join(30)
            if "e" in box:
                raise box["e"]
            return box.get("r")
    time.sleep(0.1)   # the request has passed its checks and is in the plugin
    return J


@h.test("a plugin failure records nothing; its message names the client's key, not the backend's")
def _():
    ns = "faults"
    def mine():
        return [k for k in fake_keys() if k.startswith(ns + "/")]
    expect_err(CODES.UNAVAILABLE, "injected failure for `x@fail`: unavailable", prepare, "x@fail", ns=ns)
    expect_err(CODES.UNAVAILABLE, "injected failure for `v@fail`: unavailable",
               call, "View", snapshotter=SN, key="v@fail", ns=ns)
    eq(names(listing(ns=ns)), [], "nothing recorded")
    eq(mine(), [], "nothing in the plugin")
    # a plugin that claims a brand-new backend key exists: Unknown, as containerd
    expect_err(CODES.UNKNOWN, "unexpected error from snapshotter: snapshot `e@exists` already exists: unknown",
               prepare, "e@exists", ns=ns)
    prepare("k", ns=ns)
    expect_err(CODES.UNAVAILABLE, "injected failure for `n@fail`: unavailable", commit, "n@fail", "k", ns=ns)
    i = stat("k", ns=ns)
    eq(i.kind, 2, "still active after the failed commit")
    expect_code(CODES.NOT_FOUND, stat, "n@fail", ns=ns)
    commit("n", "k", ns=ns)   # the key is not held by the failed commit
    remove("n", ns=ns)


@h.test("in flight: a Prepare being made holds its key and pins its parent; a Commit holds both names")
def _():
    ns = "flight"
    prepare("b0", ns=ns)
    commit("base", "b0", ns=ns)
    j = in_background(prepare, "p@slow", "base", ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'snapshot "p@slow": already exists', prepare, "p@slow", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot p@slow does not exist: not found", remove, "p@slow", ns=ns)
    expect_err(CODES.FAILED_PRECONDITION, "cannot remove snapshot with child: failed precondition",
               remove, "base", ns=ns)
    j.join()
    eq(stat("p@slow", ns=ns).parent, "base", "recorded")
    j = in_background(commit, "done", "p@slow", ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'snapshot "done": already exists', prepare, "done", ns=ns)
    expect_err(CODES.ALREADY_EXISTS, 'snapshot "done": already exists', commit, "done", "b1", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot p@slow does not exist: not found", commit, "other", "p@slow", ns=ns)
    expect_err(CODES.NOT_FOUND, "snapshot p@slow does not exist: not found", remove, "p@slow", ns=ns)
    j.join()
    eq((stat("done", ns=ns).kind, stat("done", ns=ns).parent), (3, "base"), "committed")
    expect_code(CODES.NOT_FOUND, stat, "p@slow", ns=ns)
    # a client that goes away mid-request: the snapshot is still recorded
    try:
        prepare("gone@slow", ns=ns, timeout=0.1)
    except grpc.RpcError as e:
        eq(e.code(), CODES.DEADLINE_EXCEEDED, "client deadline")
    time.sleep(0.5)
    eq(stat("gone@slow", ns=ns).kind, 2, "recorded although the client left")


@h.test("a metadata failure after the plugin op undoes it (lease deleted while Prepare is in flight)")
def _():
    ns = "undo"
    c.call(LEASES + "Create", ns=ns, id="short")
    j = in_background(prepare, "u@slow", ns=ns, metadata=(("containerd-lease", "short"),))
    c.call(LEASES + "Delete", ns=ns, id="short")
    try:
        j.join()
        raise Failure("the prepare succeeded without its lease")
    except grpc.RpcError as e:
        eq((e.code(), e.details()), (CODES.NOT_FOUND, 'lease "short": not found'), "error")
    expect_code(CODES.NOT_FOUND, stat, "u@slow", ns=ns)
    # the plugin's snapshot is removed in the background
    wait_until(lambda: not [k for k in fake_keys() if k.startswith(ns + "/")], what="the undo")


@h.test("the fake plugin ends up holding exactly what the metadata references")
def _():
    for ns in ("faults", "flight", "undo"):
        # children first: committed parents last
        infos = listing(ns=ns)
        while infos:
            parents = {i.parent for i in infos}
            for i in infos:
                if i.name not in parents:
                    remove(i.name, ns=ns)
            infos = listing(ns=ns)
    wait_until(lambda: not [k for k in fake_keys() if k.split("/")[0] in ("faults", "flight", "undo")],
               what="background removals")


# --- hostile input ----------------------------------------------------------------------------

@h.test("hostile input: huge keys, odd keys, loops, many labels, invalid messages; the daemon keeps serving")
def _():
    ns = "hostile"
    huge = "k" * 40000
    expect_code(CODES.INVALID_ARGUMENT, prepare, huge, ns=ns)
    expect_code(CODES.INVALID_ARGUMENT, commit, huge, "x", ns=ns)
    expect_code(CODES.INVALID_ARGUMENT, stat, huge, ns=ns)
    expect_code(CODES.INVALID_ARGUMENT, remove, huge, ns=ns)
    big_ok = "b" * 30000        # allowed: containerd stores keys up to 32 KiB
    prepare(big_ok, ns=ns)
    eq(stat(big_ok, ns=ns).name, big_ok, "long key")
    remove(big_ok, ns=ns)
    for k in ("a/b/c", "../../etc", "with space", "ünïcødé", "1", "-", ".", "x" * 255):
        prepare(k, ns=ns)
        call("Mounts", snapshotter=SN, key=k, ns=ns)
        commit(k + "@c", k, ns=ns)
        eq(stat(k + "@c", ns=ns).kind, 3, "committed %r" % k)
        remove(k + "@c", ns=ns)
    # loops cannot be made: a parent must exist and be committed first
    expect_code(CODES.NOT_FOUND, prepare, "self", "self", ns=ns)
    prepare("p0", ns=ns)
    expect_code(CODES.INVALID_ARGUMENT, prepare, "q", "p0", ns=ns)
    expect_code(CODES.ALREADY_EXISTS, commit, "p0", "p0", ns=ns)
    commit("p", "p0", ns=ns)
    prepare("q0", "p", ns=ns)
    expect_code(CODES.ALREADY_EXISTS, commit, "p", "q0", ns=ns)
    commit("q", "q0", ns=ns)
    eq(stat("q", ns=ns).parent, "p", "chain")
    # many labels, and label keys with dots and empty values
    labels = {"l%05d" % i: "v" for i in range(5000)}
    labels["empty"] = ""
    prepare("many", labels=labels, ns=ns)
    got = user_labels(stat("many", ns=ns))
    eq(len(got), 5000, "labels stored (the empty one is not)")
    # undecodable requests
    for m in ("Prepare", "Commit", "Remove", "Stat", "List", "Update"):
        try:
            r = c.call(SNAP + m, request=b"\x0a\xff\xff\xff\xff\x0f", ns=ns)
            if hasattr(r, "__next__"):
                list(r)
            raise Failure("%s accepted a truncated message" % m)
        except grpc.RpcError as e:
            check(e.code() != CODES.OK, m)
    # an unknown snapshotter name of every shape
    for s in ("../native", "native\n", "x" * 1000, "io.containerd.snapshotter.v1.native"):
        expect_code(CODES.INVALID_ARGUMENT, prepare, "k", sn=s, ns=ns)
    c.version()
    eq(stat("q", ns=ns).parent, "p", "still serving, data intact")


def odd_keys_real(sn):
    ns = "odd-" + sn
    for k in ("a/b/c", "../../../../etc", "with space", "ünïcødé", "-", ".", "..", "x" * 255, "y" * 30000):
        prepare(k, sn=sn, ns=ns)
        with Mounted(k, sn, ns) as m:
            write(os.path.join(m, "f"), k[:10])
        commit(k + "@c", k, sn=sn, ns=ns)
        view(k + "@v", k + "@c", sn=sn, ns=ns)
        with Mounted(k + "@v", sn, ns) as m:
            eq(read(os.path.join(m, "f")), k[:10], "content of %r" % k[:20])
        remove(k + "@v", sn=sn, ns=ns)
        remove(k + "@c", sn=sn, ns=ns)
    eq(listing(sn=sn, ns=ns), [], "all removed")
    check(os.path.isdir("/etc") and os.path.exists("/etc/passwd"), "the host is intact")


for _sn in REAL:
    h.run("odd keys on %s: slashes, dot-dot, unicode, 30000 bytes; files land in the snapshot" % _sn,
          odd_keys_real, _sn)


def concurrent_real(sn):
    ns = "conc-" + sn
    prepare("b0", sn=sn, ns=ns)
    commit("base", "b0", sn=sn, ns=ns)

    def chain(i):
        with d.client() as cl:
            parent = "base"
            for j in range(4):
                k = "t%d-%d" % (i, j)
                prepare("a-" + k, parent, sn=sn, ns=ns, client=cl)
                commit(k, "a-" + k, sn=sn, ns=ns, client=cl)
                parent = k
            for j in reversed(range(4)):
                remove("t%d-%d" % (i, j), sn=sn, ns=ns, client=cl)
    threads(8, chain)
    eq(names(listing(sn=sn, ns=ns)), ["base"], "every chain removed")
    remove("base", sn=sn, ns=ns)


for _sn in REAL:
    h.run("concurrency on %s: 8 connections build and remove chains" % _sn, concurrent_real, _sn)


# --- persistence -------------------------------------------------------------------------------

@h.test("restart: snapshots, parents, labels and files survive; new keys do not collide")
def _():
    if not REAL:
        raise Skip("no real snapshotter")
    sn = REAL[0]
    ns = "persist"
    prepare("w", sn=sn, ns=ns)
    with Mounted("w", sn, ns) as m:
        write(os.path.join(m, "f"), "kept")
    commit("base", "w", labels={"x": "y"}, sn=sn, ns=ns)
    prepare("w2", "base", sn=sn, ns=ns)
    before = {i.name: (i.parent, i.kind, dict(i.labels)) for i in listing(sn=sn, ns=ns)}
    d.restart()
    c2 = d.client()
    after = {i.name: (i.parent, i.kind, dict(i.labels)) for i in listing(sn=sn, ns=ns, client=c2)}
    eq(after, before, "listing after restart")
    view("v", "base", sn=sn, ns=ns, client=c2)
    with Mounted("v", sn, ns) as m:
        eq(read(os.path.join(m, "f")), "kept", "file after restart")
    # keys removed before the restart can be prepared again
    remove("w2", sn=sn, ns=ns, client=c2)
    prepare("w2", "base", sn=sn, ns=ns, client=c2)
    call("Mounts", snapshotter=sn, key="w2", ns=ns, client=c2)
    c2.close()


def lost_db(sn):
    """A snapshotter whose metadata.db is deleted, then truncated, while its
    snapshots are on disk refuses to start instead of sweeping them all as
    leftovers: every snapshot directory is still there (nothing in trash/),
    the log and introspection say why, the daemon serves; with the database
    restored every snapshot is back."""
    dl = h.daemon("lostdb-" + sn, plugin_dir=PLUGINS)
    dl.start()
    ns = "lostdb"
    with dl.client() as cl:
        prepare("w", sn=sn, ns=ns, client=cl)
        commit("base", "w", sn=sn, ns=ns, client=cl)
        prepare("w2", "base", sn=sn, ns=ns, client=cl)
        before = names(listing(sn=sn, ns=ns, client=cl))
    dl.stop()
    proot = os.path.join(dl.root, "io.containerd.snapshotter.v1." + sn)
    db = os.path.join(proot, "metadata.db")
    dirs = sorted(os.listdir(os.path.join(proot, "snapshots")))
    eq(len(dirs), 2, "snapshot directories on disk")
    with open(db, "rb") as f:
        saved = f.read()
    lost = "`%s` is %%s but `%s` holds 2 snapshot directories: refusing to start rather than delete them as " \
        "leftovers; nothing was changed" % (db, os.path.join(proot, "snapshots"))

    def garbage():
        with open(db, "wb") as f:
            f.write(b"not a database, " * 300)

    def newer():
        with open(db, "wb") as f:
            f.write(saved)
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
    for how, damage, want in (
            ("missing", lambda: os.unlink(db), lost % "missing"),
            ("empty", lambda: open(db, "wb").close(), lost % "empty"),
            ("garbage", garbage, "`%s` is not an sqlite database or is corrupt (file is not a database): refusing to "
             "use it; nothing was changed" % db),
            ("newer", newer, "`%s` has schema version 99; this plugin knows up to 1" % db)):
        damage()
        dl.start()
        eq(sorted(os.listdir(os.path.join(proot, "snapshots"))), dirs, "snapshot directories after a start with "
           "metadata.db " + how)
        eq(os.listdir(os.path.join(proot, "trash")), [], "trash after a start with metadata.db " + how)
        contains(dl.stderr(), "failed to load plugin io.containerd.snapshotter.v1." + sn)
        contains(dl.stderr(), want.split("`")[-1][:40])
        with dl.client() as cl:
            r = cl.call("introspection/Plugins", ns=None, filters=['id==' + sn])
            eq(len(r.plugins), 1, "plugins named " + sn)
            contains(r.plugins[0].init_err.message, want)
            expect_err(CODES.INVALID_ARGUMENT, "snapshotter not loaded: %s: invalid argument" % sn, prepare, "new",
                       sn=sn, ns=ns, client=cl)
            prepare("still-serving", sn=SN, ns=ns, client=cl)   # the daemon and other snapshotters serve
            remove("still-serving", sn=SN, ns=ns, client=cl)
        dl.stop()
        if how == "missing":
            check(not os.path.exists(db), "the refused start created no metadata.db")
    with open(db, "wb") as f:
        f.write(saved)
    dl.start()
    with dl.client() as cl:
        eq(names(listing(sn=sn, ns=ns, client=cl)), before, "snapshots with metadata.db restored")
        call("Mounts", snapshotter=sn, key="w2", ns=ns, client=cl)
    dl.stop()


for _sn in REAL:
    h.run("a missing, empty, garbage or newer metadata.db of %s: nothing swept, the plugin refuses and says why" % _sn, lost_db,
          _sn)


@h.test("crash: SIGKILL during concurrent prepares leaves no row without a backend snapshot")
def _():
    if not REAL:
        raise Skip("no real snapshotter")
    sn = REAL[0]
    ns = "crash"
    stop = threading.Event()

    def load(i):
        with d.client() as cl:
            j = 0
            while not stop.is_set():
                try:
                    prepare("c%d-%d" % (i, j), sn=sn, ns=ns, client=cl, timeout=2)
                except grpc.RpcError:
                    return
                j += 1
    ts = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    d.kill9()
    stop.set()
    for t in ts:
        t.join(10)
    d.start()
    with d.client() as cl:
        infos = listing(sn=sn, ns=ns, client=cl)
        check(len(infos) > 0, "some prepares were recorded before the kill")
        for info in infos:
            call("Mounts", snapshotter=sn, key=info.name, ns=ns, client=cl)
            remove(info.name, sn=sn, ns=ns, client=cl)


@h.test("Cleanup answers OK, or Unimplemented with containerd's text")
def _():
    expect_err(CODES.UNIMPLEMENTED, "snapshotter does not implement Cleanup method: not implemented",
               call, "Cleanup", snapshotter="fake")
    for sn in REAL:
        try:
            call("Cleanup", snapshotter=sn)
        except grpc.RpcError as e:
            eq(e.code(), CODES.UNIMPLEMENTED, "code")
            eq(e.details(), "snapshotter does not implement Cleanup method: not implemented", "message")


h.finish()
