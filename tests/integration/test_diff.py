#!/usr/bin/python3
"""The Diff service over the real content store and snapshotters: layers
written with Content.Write, applied with Diff.Apply onto Snapshots.Prepare
mounts (native: a bind mount, applied on its source; overlayfs: applied
straight onto the upperdir, whiteouts as overlay's own), checked through the
mounts mounted for real; Diff between two committed snapshots read back
from the content store and applied again; hostile layers refused with
clear errors while the daemon keeps serving and nothing appears outside
the snapshot."""
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CODES, Harness, check, eq, expect_code  # noqa: E402

CS = "/containerd.services.content.v1.Content/"
SNAP = "/containerd.services.snapshots.v1.Snapshots/"
DIFF = "/containerd.services.diff.v1.Diff/"
LEASES = "/containerd.services.leases.v1.Leases/"
STAT, WRITE, COMMIT = 0, 1, 2
MT = "application/vnd.oci.image.layer.v1.tar"
MT_GZ = MT + "+gzip"
LEASE = "diff-test"

h = Harness("diff")
h.require_root()
d = h.daemon("main")
d.start()
c = d.client()
MD = [("containerd-lease", LEASE)]
c.call(LEASES + "Create", id=LEASE)

snapshotters = [p.id for p in c.call("introspection/Plugins", ns=None,
                                      filters=['type=="io.containerd.snapshotter.v1"']).plugins
                if not p.HasField("init_err") or not p.init_err.message]
REAL = [s for s in ("native", "overlayfs") if s in snapshotters]
print("# snapshotters ok: %s" % ", ".join(snapshotters), flush=True)
if not REAL:
    print("# SKIP the snapshotter cases: neither native nor overlayfs is ok in this build", flush=True)


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(entries):
    """entries: (name, kind, payload) with kind file/dir/symlink/link/raw-info."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1600000000
            if kind == "file":
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "link": tarfile.LNKTYPE}[kind]
            ti.mode = 0o755
            if kind in ("symlink", "link"):
                ti.linkname = payload
            t.addfile(ti)
    return buf.getvalue()


def write_blob(data, ns="default"):
    """Content.Write of `data`; returns its digest."""
    import queue
    q = queue.Queue()
    dg = sha(data)
    md = [("containerd-namespace", ns), ("containerd-lease", LEASE)]
    responses = c.stub(CS + "Write")(iter(q.get, None), timeout=60, metadata=md)
    q.put(c.request(CS + "Write", action=STAT, ref="diff-test-" + dg[7:19], total=len(data), expected=dg))
    try:
        off = next(responses).offset
    except grpc.RpcError as e:
        if e.code() != CODES.ALREADY_EXISTS:
            raise
        q.put(None)
        return dg   # written by an earlier test
    while off < len(data):
        q.put(c.request(CS + "Write", action=WRITE, offset=off, data=data[off:off + (1 << 20)]))
        off = next(responses).offset
    q.put(c.request(CS + "Write", action=COMMIT, offset=off, total=len(data), expected=dg))
    next(responses)
    q.put(None)
    list(responses)
    return dg


def apply(dg, mt, mounts, size=0, **kw):
    return c.call(DIFF + "Apply", diff={"media_type": mt, "digest": dg, "size": size}, mounts=mounts,
                  timeout=60, metadata=MD, **kw).applied


class Mounted:
    """The snapshot's mounts mounted for real on a temporary directory."""

    def __init__(self, mounts):
        self.mounts = mounts
        self.dir = tempfile.mkdtemp(dir=h.tmp)
        self.n = 0

    def __enter__(self):
        for m in self.mounts:
            opts = ",".join(o for o in m.options)
            subprocess.run(["mount", "-t", m.type, "-o", opts or "defaults", m.source, self.dir], check=True)
            self.n += 1
        return self.dir

    def __exit__(self, *a):
        for _ in range(self.n):
            subprocess.run(["umount", self.dir], check=True)
        os.rmdir(self.dir)


def read(path):
    with open(path, "rb") as f:
        return f.read()


LAYER1 = tar_of([("etc/", "dir", None), ("etc/hostname", "file", b"one\n"), ("bin/", "dir", None),
                 ("bin/tool", "file", b"#!/bin/sh\n"), ("bin/alias", "link", "bin/tool"),
                 ("lib", "symlink", "usr/lib"), ("gone/", "dir", None), ("gone/f", "file", b"x"),
                 ("opq/", "dir", None), ("opq/old", "file", b"old")])
LAYER2 = tar_of([("etc/hostname", "file", b"two\n"), (".wh.gone", "file", b""),
                 ("opq/.wh..wh..opq", "file", b""), ("opq/new", "file", b"new"), ("added", "file", b"a")])


for SN in REAL:
    @h.test("%s: Apply of a gzip layer onto Prepare's mounts answers the diffID; files are there" % SN)
    def _(SN=SN):
        dg = write_blob(gzip.compress(LAYER1))
        mounts = c.call(SNAP + "Prepare", snapshotter=SN, key=SN + "-k1", metadata=MD).mounts
        a = apply(dg, MT_GZ, mounts)
        eq(a.media_type, MT, "applied media type")
        eq(a.digest, sha(LAYER1), "applied digest (uncompressed)")
        eq(a.size, len(LAYER1), "applied size")
        with Mounted(mounts) as root:
            eq(read(os.path.join(root, "etc/hostname")), b"one\n", "etc/hostname")
            eq(os.stat(os.path.join(root, "bin/alias")).st_ino, os.stat(os.path.join(root, "bin/tool")).st_ino,
               "hard link")
            eq(os.readlink(os.path.join(root, "lib")), "usr/lib", "symlink")
        c.call(SNAP + "Commit", snapshotter=SN, name=SN + "-l1", key=SN + "-k1", metadata=MD)

    @h.test("%s: whiteouts and opaque directories of a second layer" % SN)
    def _(SN=SN):
        dg = write_blob(LAYER2)
        mounts = c.call(SNAP + "Prepare", snapshotter=SN, key=SN + "-k2", parent=SN + "-l1", metadata=MD).mounts
        a = apply(dg, MT, mounts)
        eq(a.digest, sha(LAYER2), "applied digest")
        with Mounted(mounts) as root:
            eq(read(os.path.join(root, "etc/hostname")), b"two\n", "changed file")
            check(not os.path.exists(os.path.join(root, "gone")), "whited-out directory is gone")
            eq(sorted(os.listdir(os.path.join(root, "opq"))), ["new"], "opaque directory")
            eq(read(os.path.join(root, "bin/tool")), b"#!/bin/sh\n", "lower file still there")
        c.call(SNAP + "Commit", snapshotter=SN, name=SN + "-l2", key=SN + "-k2", metadata=MD)

    @h.test("%s: Diff between two committed snapshots, read back and applied again" % SN)
    def _(SN=SN):
        left = c.call(SNAP + "View", snapshotter=SN, key=SN + "-v1", parent=SN + "-l1", metadata=MD).mounts
        right = c.call(SNAP + "View", snapshotter=SN, key=SN + "-v2", parent=SN + "-l2", metadata=MD).mounts
        r = c.call(DIFF + "Diff", left=left, right=right, labels={"x": "y"}, timeout=60, metadata=MD).diff
        eq(r.media_type, MT_GZ, "default media type")
        blob = b"".join(x.data for x in c.call(CS + "Read", digest=r.digest))
        eq(sha(blob), r.digest, "blob digest")
        eq(len(blob), r.size, "blob size")
        raw = gzip.decompress(blob)
        info = c.call(CS + "Info", digest=r.digest).info
        eq(info.labels.get("containerd.io/uncompressed"), sha(raw), "uncompressed label")
        eq(info.labels.get("x"), "y", "request label")
        names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
        for want in (".wh.gone", "added", "etc/hostname", "opq/new", "opq/.wh.old"):
            check(want in names, "%s in the diff (%s)" % (want, names))
        # the diff applied onto l1 gives l2
        mounts = c.call(SNAP + "Prepare", snapshotter=SN, key=SN + "-k3", parent=SN + "-l1", metadata=MD).mounts
        apply(r.digest, r.media_type, mounts)
        with Mounted(mounts) as root, Mounted(right) as want:
            for rel in ("etc/hostname", "added", "opq/new"):
                eq(read(os.path.join(root, rel)), read(os.path.join(want, rel)), rel)
            check(not os.path.exists(os.path.join(root, "gone")), "gone")
            eq(sorted(os.listdir(os.path.join(root, "opq"))), ["new"], "opaque")

    @h.test("%s: hostile layers are refused clearly; nothing outside the snapshot; the daemon serves" % SN)
    def _(SN=SN):
        snapdir = os.path.join(d.root, "io.containerd.snapshotter.v1." + SN)
        before = set(os.listdir(snapdir))
        cases = [
            (tar_of([("../escape", "file", b"x")]), "path escapes the root"),
            (tar_of([("h", "link", "../../../../etc/passwd")]), "escapes the root"),
            (tar_of([("loop", "symlink", "loop"), ("loop/x", "file", b"x")]), "too many levels"),
            (b"\x1f\x8b\x08garbage that is not gzip at all", "invalid"),
            (tar_of([("f", "file", b"0123456789" * 100)])[:700], "Truncated tar archive"),
        ]
        for i, (blob, text) in enumerate(cases):
            dg = write_blob(blob)
            mounts = c.call(SNAP + "Prepare", snapshotter=SN, key="%s-bad%d" % (SN, i), metadata=MD).mounts
            e = expect_code(CODES.INVALID_ARGUMENT, apply, dg, MT_GZ, mounts)
            check(text in e.details(), "%r in %r" % (text, e.details()))
            c.call("version/Version", ns=None)
        check(not os.path.exists(os.path.join(d.root, "escape")) and not os.path.exists("/escape"), "no escape")
        eq(set(os.listdir(snapdir)) - before, set(), "nothing new next to the snapshots")

        # through a symlink to /: lands inside the snapshot, as in containerd
        dg = write_blob(tar_of([("s", "symlink", "/"), ("s/inside", "file", b"in")]))
        mounts = c.call(SNAP + "Prepare", snapshotter=SN, key=SN + "-sym", metadata=MD).mounts
        apply(dg, MT, mounts)
        with Mounted(mounts) as root:
            eq(read(os.path.join(root, "inside")), b"in", "written inside")
        check(not os.path.exists("/inside"), "not on the host")


def bind(path, ro=False):
    return [{"type": "bind", "source": path, "options": ["rbind", "ro" if ro else "rw"]}]


def fresh(name):
    path = os.path.join(h.tmp, name)
    os.makedirs(path)
    return path


@h.test("Apply onto a bind mount (its source), a tmpfs (a temporary mount) and an overlay upperdir")
def _():
    dg = write_blob(gzip.compress(LAYER1))
    target = fresh("bind-target")
    a = apply(dg, MT_GZ, bind(target))
    eq(a.digest, sha(LAYER1), "diffID")
    eq(read(os.path.join(target, "etc/hostname")), b"one\n", "file via bind")
    # a tmpfs: mounted on a temporary directory, applied, unmounted
    apply(dg, MT_GZ, [{"type": "tmpfs", "source": "tmpfs", "options": ["size=16m"]}])
    tmpmounts = os.path.join(d.state, "tmpmounts")
    eq(os.listdir(tmpmounts) if os.path.isdir(tmpmounts) else [], [], "temporary mounts cleaned up")
    # overlay: the second layer straight onto an upperdir, whiteouts as overlay's
    lower, upper, work = fresh("ovl-lower"), fresh("ovl-upper"), fresh("ovl-work")
    apply(dg, MT_GZ, bind(lower))
    opts = ["index=off", "lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work]
    apply(write_blob(LAYER2), MT, [{"type": "overlay", "source": "overlay", "options": opts}])
    st = os.lstat(os.path.join(upper, "gone"))
    check(os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0 and (st.st_mode & 0o170000) == 0o020000,
          "whiteout is a 0/0 char device")
    eq(os.getxattr(os.path.join(upper, "opq"), "trusted.overlay.opaque"), b"y", "opaque xattr")
    with Mounted([c.msg("containerd.types.Mount", type="overlay", source="overlay", options=opts)]) as root:
        check(not os.path.exists(os.path.join(root, "gone")), "gone through overlay")
        eq(sorted(os.listdir(os.path.join(root, "opq"))), ["new"], "opaque through overlay")
        eq(read(os.path.join(root, "etc/hostname")), b"two\n", "changed file through overlay")


@h.test("Diff between two bind mounts (mounted read-only), read back, applied onto a copy of the left")
def _():
    left, right = fresh("d-left"), fresh("d-right")
    apply(write_blob(LAYER1), MT, bind(left))
    apply(write_blob(LAYER1), MT, bind(right))
    apply(write_blob(LAYER2), MT, bind(right))
    r = c.call(DIFF + "Diff", left=bind(left), right=bind(right), labels={"x": "y"}, timeout=60, metadata=MD).diff
    eq(r.media_type, MT_GZ, "default media type")
    blob = b"".join(x.data for x in c.call(CS + "Read", digest=r.digest))
    eq(sha(blob), r.digest, "blob digest")
    raw = gzip.decompress(blob)
    info = c.call(CS + "Info", digest=r.digest).info
    eq(info.labels.get("containerd.io/uncompressed"), sha(raw), "uncompressed label")
    eq(info.labels.get("x"), "y", "request label")
    names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
    for want in (".wh.gone", "added", "etc/hostname", "opq/new", "opq/.wh.old"):
        check(want in names, "%s in the diff (%s)" % (want, names))
    again = fresh("d-again")
    apply(write_blob(LAYER1), MT, bind(again))
    apply(r.digest, r.media_type, bind(again))
    for rel in ("etc/hostname", "added", "opq/new"):
        eq(read(os.path.join(again, rel)), read(os.path.join(right, rel)), rel)
    check(not os.path.exists(os.path.join(again, "gone")), "gone")
    eq(sorted(os.listdir(os.path.join(again, "opq"))), ["new"], "opaque")
    # the same diff again: the blob exists already, the answer is the same
    r2 = c.call(DIFF + "Diff", left=bind(left), right=bind(right), media_type=MT, timeout=60, metadata=MD).diff
    eq(r2.media_type, MT, "plain media type")
    eq(c.call(CS + "Info", digest=r2.digest).info.labels.get("containerd.io/uncompressed"), r2.digest,
       "plain layer's uncompressed label")


@h.test("hostile layers through the service: refused clearly, canary intact, the daemon serves")
def _():
    base = fresh("hostile")
    canary = os.path.join(base, "canary")
    os.mkdir(canary)
    with open(os.path.join(canary, "secret"), "wb") as f:
        f.write(b"canary")
    cases = [
        (tar_of([("../canary/secret", "file", b"x")]), CODES.INVALID_ARGUMENT, "path escapes the root"),
        (tar_of([("h", "link", "../canary/secret")]), CODES.INVALID_ARGUMENT, "escapes the root"),
        (tar_of([("h", "link", "/etc/passwd")]), CODES.INVALID_ARGUMENT, "does not exist"),
        (tar_of([("loop", "symlink", "loop"), ("loop/x", "file", b"x")]), CODES.INVALID_ARGUMENT, "too many levels"),
        (b"\x1f\x8b\x08garbage that is not gzip at all", CODES.INVALID_ARGUMENT, "invalid"),
        (tar_of([("f", "file", b"0123456789" * 100)])[:700], CODES.INVALID_ARGUMENT, "Truncated tar archive"),
        (os.urandom(5000), CODES.INVALID_ARGUMENT, "invalid tar"),
    ]
    for i, (blob, code, text) in enumerate(cases):
        target = os.path.join(base, "root%d" % i)
        os.mkdir(target)
        e = expect_code(code, apply, write_blob(blob), MT_GZ, bind(target))
        check(text in e.details(), "%r in %r" % (text, e.details()))
        c.call("version/Version", ns=None)
    eq(read(os.path.join(canary, "secret")), b"canary", "canary")
    eq(sorted(os.listdir(base)), sorted(["canary"] + ["root%d" % i for i in range(len(cases))]), "nothing new")
    # through symlinks: lands inside, as in containerd
    target = os.path.join(base, "inside")
    os.mkdir(target)
    apply(write_blob(tar_of([("s", "symlink", "/"), ("s/x", "file", b"in"), ("canary/", "dir", None),
                             ("up", "symlink", "../canary"),
                             ("up/secret", "file", b"mine")])), MT, bind(target))
    eq(read(os.path.join(target, "x")), b"in", "through s -> /")
    eq(read(os.path.join(target, "canary/secret")), b"mine", "through up -> ../canary")
    eq(read(os.path.join(canary, "secret")), b"canary", "canary")


def content_ingests():
    """{backend ref: ingest directory} of the content store."""
    out = {}
    top = os.path.join(d.root, "io.containerd.content.v1.content", "ingest")
    for name in os.listdir(top) if os.path.isdir(top) else []:
        try:
            out[read(os.path.join(top, name, "ref")).decode()] = name
        except OSError:
            pass
    return out


@h.test("Diff's ingests never take Content.Write's: namespace `diff` and one named like its sequence number")
def _():
    # Content.Write in namespace "diff": an ingest left half-written, to be
    # resumed later (the content store names it diff/<sequence>/<ref>)
    import queue
    data = b"resumable " * 300
    dg, ref = sha(data), "shared-ref"
    md = [("containerd-namespace", "diff")]
    q = queue.Queue()
    responses = c.stub(CS + "Write")(iter(q.get, None), timeout=30, metadata=md)
    q.put(c.request(CS + "Write", action=STAT, ref=ref, total=len(data), expected=dg))
    next(responses)
    q.put(c.request(CS + "Write", action=WRITE, offset=0, data=data[:1000]))
    eq(next(responses).offset, 1000, "offset after the first part")
    q.put(None)
    list(responses)
    backend = [r for r in content_ingests() if r.startswith("diff/") and r.endswith("/" + ref)]
    eq(len(backend), 1, "the content store's name for it (%s)" % content_ingests())
    seq = backend[0].split("/")[1]
    # Diff in the namespace named like that sequence number, with the same
    # ref: under diff/<ns>/<ref> its ingest would be the one above
    src = fresh("ingest-right")
    with open(os.path.join(src, "f"), "wb") as f:
        f.write(b"layer")
    r = c.call(DIFF + "Diff", ns=seq, left=[], right=bind(src, ro=True), ref=ref, media_type=MT, timeout=30).diff
    check(b"layer" in b"".join(x.data for x in c.call(CS + "Read", ns=seq, digest=r.digest)), "the diff's layer")
    # the half-written ingest is still there, and completes
    eq(c.call(CS + "Status", ns="diff", ref=ref).status.offset, 1000, "offset kept")
    q = queue.Queue()
    responses = c.stub(CS + "Write")(iter(q.get, None), timeout=30, metadata=md)
    q.put(c.request(CS + "Write", action=STAT, ref=ref, total=len(data), expected=dg))
    eq(next(responses).offset, 1000, "resumed at")
    q.put(c.request(CS + "Write", action=COMMIT, offset=1000, data=data[1000:], total=len(data), expected=dg))
    next(responses)
    q.put(None)
    list(responses)
    eq(c.call(CS + "Info", ns="diff", digest=dg).info.size, len(data), "the resumed blob")
    check(not [r for r in content_ingests() if ref in r], "no ingest left (%s)" % content_ingests())


@h.test("Apply: unknown media type, missing blob, blob of another namespace, no descriptor")
def _():
    dg = write_blob(tar_of([("f", "file", b"x")]))
    e = expect_code(CODES.UNKNOWN, apply, dg, "application/vnd.oci.image.config.v1+json", [])
    eq(e.details(), "failed to get stream processor for application/vnd.oci.image.config.v1+json: "
       "no processor for media-type", "message")
    missing = sha(b"never written")
    e = expect_code(CODES.NOT_FOUND, apply, missing, MT, [])
    check("failed to get reader from content store" in e.details(), e.details())
    e = expect_code(CODES.NOT_FOUND, c.call, DIFF + "Apply", ns="other-ns",
                    diff={"media_type": MT, "digest": dg}, mounts=[])
    expect_code(CODES.INVALID_ARGUMENT, c.call, DIFF + "Apply", mounts=[])


@h.test("Diff: an unsupported media type is Unimplemented, as containerd")
def _():
    e = expect_code(CODES.UNIMPLEMENTED, c.call, DIFF + "Diff", left=[], right=[], media_type="application/x-foo")
    eq(e.details(), "unsupported diff media type: application/x-foo: not implemented", "message")


@h.test("Diff of two empty mount lists is an empty layer")
def _():
    r = c.call(DIFF + "Diff", left=[], right=[], media_type=MT, timeout=30, metadata=MD).diff
    blob = b"".join(x.data for x in c.call(CS + "Read", digest=r.digest))
    eq(blob, b"\0" * 1024, "an empty tar")


h.finish()
