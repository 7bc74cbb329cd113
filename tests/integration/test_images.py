#!/usr/bin/python3
"""Images end to end with Debian's ctr, as an operator uses them: import
(OCI layout and `docker save` archives, --index-name, --all-platforms), ls,
check, tag, label, export, mount/unmount, rm --sync with garbage collection,
and pull/push against Debian's docker-registry on 127.0.0.1. The images are
built at test time from the host's static busybox (images_util.py).
Everything runs on both snapshotters."""
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Failure, Harness, check, contains, eq  # noqa: E402
import images_util as iu  # noqa: E402

h = Harness("images")
h.require_ctr()
if not os.path.exists(iu.BUSYBOX):
    print("# %s missing (package busybox-static): cannot build test images" % iu.BUSYBOX)
    sys.exit(77)

d = h.daemon("main")
d.start()
tmp = d.dir
IMG = iu.build_image(os.path.join(tmp, "img"), fmt="oci", name="docker.io/library/ucdtest:1", tag="a")
DOCK = iu.build_image(os.path.join(tmp, "img"), fmt="docker", name="docker.io/library/dock:2", tag="b")
MULTI = iu.build_image(os.path.join(tmp, "img"), fmt="oci", name="docker.io/library/multi:1", tag="m",
                       multi_platform=True)
MNT = os.path.join(tmp, "mnt")
os.makedirs(MNT, exist_ok=True)


def ctr(*args, ns="default", timeout=60.0, check=True):
    """ctr's stdout (with check=False: stdout and stderr together)."""
    r = d.ctr(*args, ns=ns, timeout=timeout, check=check)
    return r.stdout if check else r.stdout + r.stderr


def image_rows(out):
    """`ctr images ls` -> {ref: [type, digest, size..., platforms, labels]}"""
    rows = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if f:
            rows[f[0]] = f[1:]
    return rows


def content_digests(ns="default"):
    out = ctr("content", "ls", "-q", ns=ns)
    return set(out.split())


def snapshot_keys(snapshotter, ns="default"):
    out = ctr("snapshots", "--snapshotter", snapshotter, "ls", ns=ns)
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


for snap in ("overlayfs", "native"):
    ns = "imgs-" + snap

    @h.test("%s: import an OCI layout archive and unpack it" % snap)
    def _():
        out = ctr("images", "import", "--snapshotter", snap, IMG.path, ns=ns, timeout=120)
        contains(out, "unpacking docker.io/library/ucdtest:1 (%s)...done" % IMG.manifest_digest)
        rows = image_rows(ctr("images", "ls", ns=ns))
        check("docker.io/library/ucdtest:1" in rows, rows)
        eq(rows["docker.io/library/ucdtest:1"][1], IMG.manifest_digest, "image digest")
        contains(" ".join(rows["docker.io/library/ucdtest:1"]), "linux/amd64")
        # every blob of the archive is in the namespace's content store
        have = content_digests(ns)
        for dg in [IMG.manifest_digest, IMG.config_digest] + IMG.layer_digests:
            check(dg in have, "blob %s missing from content ls" % dg)

    @h.test("%s: unpacked snapshots are named by chain ID with containerd's gc labels" % snap)
    def _():
        # chain IDs: chain(0) = diffID0; chain(n) = sha256(chain(n-1) + " " + diffID_n)
        import hashlib
        chain = [IMG.diff_ids[0]]
        for did in IMG.diff_ids[1:]:
            chain.append("sha256:" + hashlib.sha256((chain[-1] + " " + did).encode()).hexdigest())
        keys = snapshot_keys(snap, ns)
        for c in chain:
            check(c in keys, "snapshot %s missing: %s" % (c, keys))
        info = json.loads(ctr("snapshots", "--snapshotter", snap, "info", chain[1], ns=ns))
        eq(info["Kind"], "Committed", "kind")
        eq(info["Parent"], chain[0], "parent")
        # the config blob references the top snapshot (what keeps it from GC)
        out = ctr("content", "ls", ns=ns)
        contains(out, "containerd.io/gc.ref.snapshot.%s=%s" % (snap, chain[-1]))
        contains(out, "containerd.io/uncompressed=%s" % IMG.diff_ids[0])

    @h.test("%s: images check says complete and unpacked" % snap)
    def _():
        out = ctr("images", "check", "--snapshotter", snap, ns=ns)
        line = [l for l in out.splitlines() if l.startswith("docker.io/library/ucdtest:1")]
        check(line, out)
        contains(line[0], "complete (3/3)")
        check(line[0].split()[-1] == "true", "not unpacked: " + line[0])

    @h.test("%s: images mount shows the layers applied in order (whiteouts, opaque dirs, owners)" % snap)
    def _():
        ctr("images", "mount", "--snapshotter", snap, "docker.io/library/ucdtest:1", MNT, ns=ns)
        try:
            check(mounted(MNT), "nothing mounted on " + MNT)
            with open(os.path.join(MNT, "hello")) as f:
                eq(f.read(), "hello from a\n", "top layer file")
            with open(os.path.join(MNT, "etc/hostname")) as f:
                eq(f.read(), "top-a\n", "file replaced by the top layer")
            check(not os.path.exists(os.path.join(MNT, "etc/gone")), "whiteout did not remove etc/gone")
            eq(sorted(os.listdir(os.path.join(MNT, "opq"))), ["new"], "opaque dir")
            st = os.stat(os.path.join(MNT, "data/owned"))
            eq((st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_nlink), (1000, 1000, 0o640, 2), "owner/mode/links")
            eq(os.stat(os.path.join(MNT, "tmp")).st_mode & 0o7777, 0o1777, "sticky tmp")
            eq(os.readlink(os.path.join(MNT, "bin/sh")), "busybox", "symlink")
            out = subprocess.run(["chroot", MNT, "/bin/sh", "-c", "echo ok-$(cat /hello)"], capture_output=True,
                                 text=True, timeout=10)
            eq(out.stdout.strip(), "ok-hello from a", "busybox runs from the mounted image")
        finally:
            ctr("images", "unmount", MNT, ns=ns, check=False)
        check(not mounted(MNT), "still mounted after unmount")

    @h.test("%s: import a docker save archive" % snap)
    def _():
        out = ctr("images", "import", "--snapshotter", snap, DOCK.path, ns=ns, timeout=120)
        contains(out, "unpacking docker.io/library/dock:2")
        rows = image_rows(ctr("images", "ls", ns=ns))
        check("docker.io/library/dock:2" in rows, rows)
        eq(rows["docker.io/library/dock:2"][0], "application/vnd.docker.distribution.manifest.v2+json", "type")

    @h.test("%s: multi-platform index: --all-platforms keeps every platform's blobs" % snap)
    def _():
        ctr("images", "import", "--snapshotter", snap, "--all-platforms", MULTI.path, ns=ns, timeout=120)
        rows = image_rows(ctr("images", "ls", ns=ns))
        check("docker.io/library/multi:1" in rows, rows)
        contains(" ".join(rows["docker.io/library/multi:1"]), "linux/amd64,linux/arm64")
        have = content_digests(ns)
        check(MULTI.arm_layer in have and MULTI.arm_manifest in have, "arm64 blobs missing")

    @h.test("%s: --index-name names the image after the archive's index" % snap)
    def _():
        ctr("images", "import", "--snapshotter", snap, "--index-name", "idx/named:1", IMG.path, ns=ns + "-idx",
              timeout=120)
        out = ctr("images", "ls", "-q", ns=ns + "-idx")
        contains(out, "idx/named:1")

    @h.test("%s: tag and label" % snap)
    def _():
        ctr("images", "tag", "docker.io/library/ucdtest:1", "docker.io/library/ucdtest:tagged", ns=ns)
        rows = image_rows(ctr("images", "ls", ns=ns))
        eq(rows["docker.io/library/ucdtest:tagged"][1], IMG.manifest_digest, "tag target")
        ctr("images", "label", "docker.io/library/ucdtest:tagged", "team=storage", ns=ns)
        contains(ctr("images", "ls", ns=ns), "team=storage")

    @h.test("%s: export writes an archive that imports again with the same digests" % snap)
    def _():
        out_path = os.path.join(tmp, "export-%s.tar" % snap)
        ctr("images", "export", out_path, "docker.io/library/ucdtest:1", ns=ns, timeout=120)
        with tarfile.open(out_path) as t:
            names = set(t.getnames())
        for dg in [IMG.manifest_digest, IMG.config_digest] + IMG.layer_digests:
            check("blobs/sha256/" + dg[7:] in names, "exported archive lacks " + dg)
        out = ctr("images", "import", "--snapshotter", snap, out_path, ns=ns + "-re", timeout=120)
        contains(out, IMG.manifest_digest)

    @h.test("%s: rm --sync collects the image's blobs and snapshots" % snap)
    def _():
        gns = ns + "-gc"
        ctr("images", "import", "--snapshotter", snap, IMG.path, ns=gns, timeout=120)
        check(IMG.layer_digests[1] in content_digests(gns), "layer not there before rm")
        check(len(snapshot_keys(snap, gns)) == 2, "snapshots not there before rm")
        ctr("images", "rm", "--sync", "docker.io/library/ucdtest:1", ns=gns)
        eq(content_digests(gns), set(), "content left after rm --sync")
        eq(snapshot_keys(snap, gns), set(), "snapshots left after rm --sync")
        # the other namespace still has everything
        check(IMG.layer_digests[1] in content_digests(ns), "another namespace lost its blob")

@h.test("a GC refuses to collect while an image record does not decode, says why, and loses nothing")
def _():
    """An image whose labels are the only reference to another image's
    config blob and top snapshot (containerd.io/gc.ref.*) gets a record that
    does not decode (the daemon stopped, its bytes overwritten in the sqlite
    file): `images rm --sync` of the other image fails with the collector's
    reason and nothing is collected; once the unreadable image is removed,
    collections work again."""
    dg = h.daemon("gcfail")
    dg.start()
    ns = "gcref"
    other = iu.build_image(os.path.join(dg.dir, "img"), name="docker.io/library/other:1", tag="g")
    dg.ctr("images", "import", "--snapshotter", "native", IMG.path, ns=ns, timeout=120)

    def keys():
        out = dg.ctr("snapshots", "--snapshotter", "native", "ls", ns=ns).stdout
        return {ln.split()[0] for ln in out.splitlines()[1:] if ln.strip()}

    def digests():
        return set(dg.ctr("content", "ls", "-q", ns=ns).stdout.split())
    keys_img = keys()
    dg.ctr("images", "import", "--snapshotter", "native", other.path, ns=ns, timeout=120)
    other_top = keys() - keys_img
    eq(len(other_top), 1, "snapshots the other image adds")
    other_top = other_top.pop()
    with dg.client(ns) as cl:
        cl.call("images/Create", image={
            "name": "holder",
            "target": {"media_type": "application/vnd.oci.image.manifest.v1+json", "digest": IMG.manifest_digest,
                       "size": 1},
            "labels": {"containerd.io/gc.ref.content.cfg": other.config_digest,
                       "containerd.io/gc.ref.snapshot.native": other_top}})
    dg.stop()
    db = os.path.join(dg.root, "io.containerd.metadata.v1.sqlite", "meta.db")
    con = sqlite3.connect(db)
    n = con.execute("UPDATE images SET record = ? WHERE namespace = ? AND name = 'holder'",
                    (b"\xff\xff\xff\xff\xff\xff", ns)).rowcount
    con.commit()
    con.close()
    eq(n, 1, "records overwritten")
    dg.start(wait=False)
    dg.wait_ready()
    want = ('garbage collection refused: image "holder" in namespace "gcref" has a record this daemon cannot decode '
            '(corrupt, or written by another version), so what it references is unknown; nothing was collected')
    before = digests()
    for dg_ in [other.config_digest, other.manifest_digest] + other.layer_digests:
        check(dg_ in before, "%s in the store before rm" % dg_)
    r = dg.ctr("images", "rm", "--sync", "docker.io/library/other:1", ns=ns, check=False)
    check(r.returncode != 0, "rm --sync must fail when the collection is refused: %s %s" % (r.stdout, r.stderr))
    contains(r.stdout + r.stderr, want)
    contains(dg.stderr(), want.replace('"', '\\"'))
    eq(digests(), before, "content after a refused collection")
    check(other_top in keys(), "the snapshot only the unreadable record references is still there")
    eq(len(keys()), 3, "snapshots after a refused collection")
    # the way out: remove the unreadable record; the next collection runs
    dg.ctr("images", "rm", "holder", ns=ns)
    dg.ctr("images", "rm", "--sync", "docker.io/library/ucdtest:1", ns=ns)
    eq(digests(), set(), "content once the unreadable record is gone")
    eq(keys(), set(), "snapshots once the unreadable record is gone")
    dg.stop()


@h.test("a lost metadata database while blobs and snapshots are on disk: the daemon refuses to start, deletes nothing")
def _():
    """meta.db deleted (or moved away) with the daemon stopped: a new empty
    database would reference nothing, and the collection every start runs
    would remove every blob and snapshot. The daemon refuses to start instead,
    says why, and leaves no database behind (so the next start refuses
    too); with the database restored, everything is there."""
    dl = h.daemon("lostmeta")
    dl.start()
    ns = "lost"
    dl.ctr("images", "import", "--snapshotter", "native", IMG.path, ns=ns, timeout=120)
    dl.stop()
    mdir = os.path.join(dl.root, "io.containerd.metadata.v1.sqlite")
    db = os.path.join(mdir, "meta.db")
    blobs = os.path.join(dl.root, "io.containerd.content.v1.content", "blobs", "sha256")
    snaps = os.path.join(dl.root, "io.containerd.snapshotter.v1.native", "snapshots")
    before = (sorted(os.listdir(blobs)), sorted(os.listdir(snaps)))
    check(len(before[0]) >= 4 and len(before[1]) == 2, "blobs and snapshots on disk: %r" % (before,))
    saved = os.path.join(dl.dir, "meta.db.saved")
    os.rename(db, saved)
    for attempt in (1, 2):
        dl.start(wait=False)
        rc = dl.wait_exit(30)
        check(rc not in (0, None) and rc > 0, "start %d with meta.db gone: exit %r" % (attempt, rc))
        contains(dl.stderr(), "is new, but the content store holds %d blobs and the snapshotters 2 snapshots "
                 "(2 in `native`): the database was lost, and the first garbage collection would delete them all; "
                 "refusing to start" % len(before[0]))
        eq((sorted(os.listdir(blobs)), sorted(os.listdir(snaps))), before, "blobs and snapshots after start %d"
           % attempt)
        check(not os.path.exists(db), "no meta.db left behind by the refused start")
    os.rename(saved, db)
    dl.start()
    out = dl.ctr("images", "check", "--snapshotter", "native", ns=ns).stdout
    contains(out, "complete (3/3)")
    dl.stop()


def hostile_archive(name, mutate):
    """An OCI archive of an image of its own (no blob of it is in the store
    yet, so nothing is deduplicated away) whose files `mutate(img, files)`
    changed."""
    img = iu.build_image(os.path.join(tmp, "hostile"), fmt="oci", name="docker.io/library/hostile:1", tag=name)
    files = {}
    with tarfile.open(img.path) as t:
        for m in t.getmembers():
            files[m.name] = t.extractfile(m).read()
    mutate(img, files)
    path = os.path.join(tmp, "hostile-%s.tar" % name)
    with tarfile.open(path, "w") as t:
        for n, b in files.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))
    return path


def blob_name(dg):
    return "blobs/sha256/" + dg[7:]


def garbage_index(IMG, files):
    files["index.json"] = b"{not json"


def garbage_manifest(IMG, files):
    files[blob_name(IMG.manifest_digest)] = b"[1, 2"


def wrong_layer_bytes(IMG, files):
    # the archive names the layer by digest but holds other bytes
    files[blob_name(IMG.layer_digests[1])] = b"\x1f\x8b" + b"x" * 300


def unknown_layer_type(IMG, files):
    m = json.loads(files[blob_name(IMG.manifest_digest)])
    m["layers"][1]["mediaType"] = "application/x-ucd-unknown"
    new = json.dumps(m, sort_keys=True).encode()
    del files[blob_name(IMG.manifest_digest)]
    files[blob_name(iu.sha256(new))] = new
    idx = json.loads(files["index.json"])
    idx["manifests"][0]["digest"] = iu.sha256(new)
    idx["manifests"][0]["size"] = len(new)
    files["index.json"] = json.dumps(idx).encode()


def layer_escapes(IMG, files):
    # a layer that tries to write outside the rootfs: ../ and a symlinked parent
    raw = iu._tar([("../escaped", "f", b"x", 0o644, None)])
    gz = iu._gzip(raw)
    m = json.loads(files[blob_name(IMG.manifest_digest)])
    m["layers"][1] = {"mediaType": iu.OCI_LAYER_GZIP, "digest": iu.sha256(gz), "size": len(gz)}
    cfg = json.loads(files[blob_name(IMG.config_digest)])
    cfg["rootfs"]["diff_ids"][1] = iu.sha256(raw)
    cfgb = json.dumps(cfg, sort_keys=True).encode()
    m["config"] = {"mediaType": iu.OCI_CONFIG, "digest": iu.sha256(cfgb), "size": len(cfgb)}
    new = json.dumps(m, sort_keys=True).encode()
    files[blob_name(iu.sha256(gz))] = gz
    files[blob_name(iu.sha256(cfgb))] = cfgb
    files[blob_name(iu.sha256(new))] = new
    idx = json.loads(files["index.json"])
    idx["manifests"][0]["digest"] = iu.sha256(new)
    idx["manifests"][0]["size"] = len(new)
    files["index.json"] = json.dumps(idx).encode()


for case, mutate, want in (
        ("garbage index.json", garbage_index, "invalid"),
        ("garbage manifest", garbage_manifest, "not found"),   # containerd 1.6 says the same
        ("layer bytes that do not match their digest", wrong_layer_bytes, "digest"),
        ("unknown layer media type", unknown_layer_type, "media"),
        ("layer escaping the rootfs", layer_escapes, "escapes"),
):
    @h.test("hostile archive: %s is refused clearly and nothing is lost" % case)
    def _(mutate=mutate, want=want, case=case):
        name = case.replace(" ", "-").replace(".", "")
        ns = "hostile-" + name
        path = hostile_archive(name, mutate)
        out = ctr("images", "import", path, ns=ns, check=False, timeout=120)
        check(("ctr:" in out) or ("error" in out.lower()), "no error from ctr: " + out)
        if want:
            contains(out.lower(), want)
        check(not os.path.exists(os.path.join(tmp, "escaped")) and not os.path.exists("/escaped"),
              "a layer wrote outside its rootfs")
        # the daemon serves, and what was there before is intact
        rows = image_rows(ctr("images", "ls", ns="imgs-overlayfs"))
        check("docker.io/library/ucdtest:1" in rows, rows)
        contains(ctr("images", "check", ns="imgs-overlayfs"), "complete (3/3)")


@h.test("kill -9 in the middle of an unpack: restart, blobs are whole, the import completes")
def _():
    import hashlib
    import random
    import subprocess
    import time
    rnd = random.Random(7)
    layers = [iu._layer(iu.base_layer_entries())]
    for i in range(4):
        layers.append(iu._layer([("big%d" % i, "f", rnd.randbytes(12 << 20), 0o644, None)]))
    big = iu.write_oci_archive(os.path.join(tmp, "big.tar"), "docker.io/library/big:1", layers)
    ns = "killed"
    p = d.ctr_popen("images", "import", big.path, ns=ns)
    killed = False
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        r = d.ctr("snapshots", "ls", ns=ns, check=False)
        if "Active" in r.stdout and "big" not in r.stdout:
            d.kill9()
            killed = True
            break
        time.sleep(0.01)
    p.wait(60)
    check(killed, "the import ended before an unpack could be interrupted")
    d.start()
    # every committed blob reads back whole and matches its digest (the
    # collection that runs 100 ms after the start may take the blobs only
    # the dead import's lease held, e.g. the archive's index: those must
    # then be gone from the listing too)
    for dg in ctr("content", "ls", "-q", ns=ns).split():
        r = subprocess.run([h.ctr_bin, "-a", d.sock, "-n", ns, "content", "get", dg], capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            contains(r.stderr.decode(), "not found")
            check(dg not in ctr("content", "ls", "-q", ns=ns).split(), "unreadable blob still listed: " + dg)
            continue
        eq("sha256:" + hashlib.sha256(r.stdout).hexdigest(), dg, "blob read back")
    out = ctr("images", "import", big.path, ns=ns, timeout=300)
    contains(out, "unpacking docker.io/library/big:1")
    contains(ctr("images", "check", ns=ns), "complete (6/6)")
    d.ctr("images", "mount", "docker.io/library/big:1", MNT, ns=ns)
    try:
        eq(os.path.getsize(os.path.join(MNT, "big3")), 12 << 20, "top layer file size")
    finally:
        d.ctr("images", "unmount", MNT, ns=ns, check=False)


reg = iu.Registry(tmp)
try:
    reg.start()
except (RuntimeError, OSError) as e:
    reg = None
    print("# registry did not start: %s" % e)


@h.test("push to and pull from a local registry (plain HTTP)")
def _():
    if reg is None:
        raise Failure("docker-registry did not start")
    ref = "%s/test/ucd:1" % reg.address
    ns = "imgs-overlayfs"
    ctr("images", "tag", "docker.io/library/ucdtest:1", ref, ns=ns)
    ctr("images", "push", "--plain-http", ref, ns=ns, timeout=120)
    for pns, snap in (("pulled-overlayfs", "overlayfs"), ("pulled-native", "native")):
        out = ctr("images", "pull", "--plain-http", "--snapshotter", snap, ref, ns=pns, timeout=120)
        contains(out, "unpacking linux/amd64 %s" % IMG.manifest_digest)
        rows = image_rows(ctr("images", "ls", ns=pns))
        eq(rows[ref][1], IMG.manifest_digest, "pulled digest")
        check(IMG.layer_digests[0] in content_digests(pns), "pulled layer missing")
        out = ctr("images", "check", "--snapshotter", snap, ns=pns)
        contains(out, "complete (3/3)")


@h.test("ctr content fetch brings every blob of an image from the registry, without unpacking")
def _():
    if reg is None:
        raise Failure("docker-registry did not start")
    ref = "%s/test/ucd:1" % reg.address
    ns = "fetched"
    ctr("content", "fetch", "--plain-http", ref, ns=ns, timeout=120)
    have = content_digests(ns)
    for dg in [IMG.manifest_digest, IMG.config_digest] + IMG.layer_digests:
        check(dg in have, "fetched content lacks " + dg)
    eq(snapshot_keys("overlayfs", ns), set(), "fetch unpacked something")


@h.test("pull of a missing tag fails clearly and the daemon keeps serving")
def _():
    if reg is None:
        raise Failure("docker-registry did not start")
    out = ctr("images", "pull", "--plain-http", "%s/test/none:1" % reg.address, ns="pulled-overlayfs",
                check=False)
    contains(out.lower(), "not found")
    ctr("version")


@h.test("images and snapshots survive a restart")
def _():
    d.restart()
    rows = image_rows(ctr("images", "ls", ns="imgs-overlayfs"))
    check("docker.io/library/ucdtest:1" in rows, rows)
    out = ctr("images", "check", "--snapshotter", "overlayfs", ns="imgs-overlayfs")
    contains(out, "complete (3/3)")


try:
    h.finish()
finally:
    if reg is not None:
        reg.stop()
