"""Test images built at test time from the host's static busybox, and a
local registry (Debian's docker-registry on 127.0.0.1), for the image and
container tests. No network: everything an image needs is made here.

  img = build_image(tmpdir, fmt="oci")        # an OCI layout archive
  img = build_image(tmpdir, fmt="docker")     # a `docker save` archive
  img.path, img.name, img.manifest_digest, img.layer_digests, img.diff_ids
  reg = Registry(h); reg.start(); reg.address  # "127.0.0.1:PORT"
"""
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time

BUSYBOX = "/bin/busybox"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# The busybox applets the container tests call.
APPLETS = ("sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "test", "sync", "mkdir", "rm",
           "touch", "wc", "head", "ps", "kill", "hostname", "stat", "readlink", "printf")


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _tar(entries):
    """entries: list of (name, kind, data/target, mode, extra) -> tar bytes.
    kind: f (file), d (dir), l (symlink), h (hard link), c (char device)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, mode, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            ti.mtime = 1700000000
            ti.uid = ti.gid = 0
            if extra:
                for k, v in extra.items():
                    setattr(ti, k, v)
            if kind == "f":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
                       "c": tarfile.CHRTYPE}[kind]
            if kind in ("l", "h"):
                ti.linkname = data
            t.addfile(ti)
    return buf.getvalue()


def _gzip(b):
    return gzip.compress(b, compresslevel=6, mtime=0)


def base_layer_entries():
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    e = [("bin", "d", None, 0o755, None), ("bin/busybox", "f", bb, 0o755, None)]
    e += [("bin/" + a, "l", "busybox", 0o777, None) for a in APPLETS]
    e += [("etc", "d", None, 0o755, None),
          ("etc/passwd", "f", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n", 0o644, None),
          ("etc/group", "f", b"root:x:0:\nnogroup:x:65534:\n", 0o644, None),
          ("etc/hostname", "f", b"base\n", 0o644, None),
          ("etc/gone", "f", b"removed by the next layer\n", 0o644, None),
          ("opq", "d", None, 0o755, None), ("opq/old", "f", b"hidden by an opaque dir\n", 0o644, None),
          ("root", "d", None, 0o700, None), ("tmp", "d", None, 0o1777, None),
          ("proc", "d", None, 0o555, None), ("sys", "d", None, 0o555, None), ("dev", "d", None, 0o755, None),
          ("data", "d", None, 0o755, None), ("data/owned", "f", b"uid 1000\n", 0o640, {"uid": 1000, "gid": 1000}),
          ("data/hard", "h", "data/owned", 0o640, {"uid": 1000, "gid": 1000})]
    return e


def top_layer_entries(tag):
    return [("etc", "d", None, 0o755, None),
            ("etc/.wh.gone", "f", b"", 0o644, None),
            ("etc/hostname", "f", ("top-%s\n" % tag).encode(), 0o644, None),
            ("opq", "d", None, 0o755, None), ("opq/.wh..wh..opq", "f", b"", 0o644, None),
            ("opq/new", "f", b"after the opaque dir\n", 0o644, None),
            ("hello", "f", ("hello from %s\n" % tag).encode(), 0o644, None)]


class Image:
    pass


def _layer(entries):
    raw = _tar(entries)
    gz = _gzip(raw)
    return raw, gz


def _config(diff_ids, arch="amd64", cmd=("/bin/sh",)):
    return json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": list(cmd), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "images_util.py"} for _ in diff_ids],
    }, sort_keys=True).encode()


def _manifest(config, layers):
    """An OCI image manifest of `config` and gzip `layers` [(raw, gz)]."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(gz), "size": len(gz)} for _, gz in layers],
    }, sort_keys=True).encode()


def _named(desc, name):
    """An index entry that ctr imports as image `name`."""
    return dict(desc, annotations={"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"})


def _write_layout(path, top, blobs):
    """An OCI layout archive: index.json listing `top`, and every blob."""
    index = json.dumps({"schemaVersion": 2, "manifests": top}, sort_keys=True).encode()
    with tarfile.open(path, "w") as t:
        def add(n, b):
            ti = tarfile.TarInfo(n)
            ti.size = len(b)
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(b))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, b in blobs.items():
            add("blobs/sha256/" + d[7:], b)


def _oci_image(name, layers):
    """An Image for `layers` (not written yet) and its blobs."""
    img = Image()
    img.name = name
    img.diff_ids = [sha256(raw) for raw, _ in layers]
    img.layer_digests = [sha256(gz) for _, gz in layers]
    config = _config(img.diff_ids)
    manifest = _manifest(config, layers)
    img.config_digest = sha256(config)
    img.manifest_digest = sha256(manifest)
    blobs = {img.config_digest: config, img.manifest_digest: manifest}
    blobs.update({sha256(gz): gz for _, gz in layers})
    img.desc = {"mediaType": OCI_MANIFEST, "digest": img.manifest_digest, "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"}}
    return img, blobs


def write_oci_archive(path, name, layers):
    """An OCI layout archive at `path` of one linux/amd64 image `name` made of
    `layers` [(raw tar, gzip), ...]; returns its Image."""
    img, blobs = _oci_image(name, layers)
    _write_layout(path, [_named(img.desc, name)], blobs)
    img.path = path
    return img


def build_image(tmpdir, fmt="oci", name="docker.io/library/ucdtest:1", tag="a", extra_layers=0,
                extra_size=0, multi_platform=False):
    """Writes an image archive into tmpdir and returns an Image describing it.
    extra_layers/extra_size: that many more layers of random-ish data (for
    bigger images)."""
    os.makedirs(tmpdir, exist_ok=True)
    layers = [_layer(base_layer_entries()), _layer(top_layer_entries(tag))]
    for i in range(extra_layers):
        data = hashlib.sha256(("%s-%d" % (tag, i)).encode()).digest() * max(1, extra_size // 32)
        layers.append(_layer([("extra", "d", None, 0o755, None), ("extra/l%d" % i, "f", data, 0o644, None)]))
    if fmt == "docker":
        img = Image()
        img.name = name
        img.diff_ids = [sha256(raw) for raw, _ in layers]
        img.layer_digests = [sha256(gz) for _, gz in layers]
        config = _config(img.diff_ids)
        img.config_digest = sha256(config)
        path = os.path.join(tmpdir, "docker-%s.tar" % tag)
        files = {}
        names = []
        for i, (raw, _) in enumerate(layers):
            n = "%064x/layer.tar" % (i + 1)
            files[n] = raw
            names.append(n)
        cfg_name = img.config_digest[7:] + ".json"
        files[cfg_name] = config
        short = name.split("/", 1)[1] if name.startswith("docker.io/") else name
        files["manifest.json"] = json.dumps([{"Config": cfg_name, "RepoTags": [short], "Layers": names}]).encode()
        with tarfile.open(path, "w") as t:
            for n, b in files.items():
                ti = tarfile.TarInfo(n)
                ti.size = len(b)
                ti.mtime = 1700000000
                t.addfile(ti, io.BytesIO(b))
        img.path = path
        img.manifest_digest = None   # ctr converts it to an OCI/docker manifest itself
        return img

    path = os.path.join(tmpdir, "oci-%s.tar" % tag)
    if not multi_platform:
        return write_oci_archive(path, name, layers)
    img, blobs = _oci_image(name, layers)
    # an arm64 variant with its own (tiny) layer and config, under one index
    arm = [_layer([("arm", "f", b"arm64\n", 0o644, None)])]
    cfg = _config([sha256(arm[0][0])], arch="arm64")
    man = _manifest(cfg, arm)
    blobs.update({sha256(cfg): cfg, sha256(man): man, sha256(arm[0][1]): arm[0][1]})
    img.arm_layer = sha256(arm[0][1])
    img.arm_manifest = sha256(man)
    manifests = [img.desc, {"mediaType": OCI_MANIFEST, "digest": sha256(man), "size": len(man),
                            "platform": {"architecture": "arm64", "os": "linux"}}]
    sub_index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                           sort_keys=True).encode()
    blobs[sha256(sub_index)] = sub_index
    img.index_digest = sha256(sub_index)
    _write_layout(path, [_named({"mediaType": OCI_INDEX, "digest": sha256(sub_index), "size": len(sub_index)},
                                name)], blobs)
    img.path = path
    return img


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Registry:
    """Debian's docker-registry on 127.0.0.1:<free port>, storage in a temp
    dir; stopped by PID."""

    BIN = "/usr/bin/docker-registry"

    def __init__(self, tmpdir):
        self.dir = os.path.join(tmpdir, "registry")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                    "  delete:\n    enabled: true\nhttp:\n  addr: %s\n" % (os.path.join(self.dir, "data"),
                                                                        self.address))
        self.log = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen([self.BIN, "serve", cfg], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: see " + self.log.name)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not listen on " + self.address)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
