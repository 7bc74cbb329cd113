#!/usr/bin/python3
"""Seeds for the fuzz targets whose inputs are not network traffic, taken
from the tests (capture/capture.sh records the rest from the integration
tests' daemons):

  filters      every filter string and regexp (with its text) of
               tests/unit/filters/test_filters.c
  layer_apply  the layers of tests/integration/images_util.py (the busybox
               binary left out), the hostile layers of
               tests/unit/diff/test_diff.c rebuilt with tarfile, each plain,
               gzip- and zstd-wrapped, plain and overlay mode
  config       `ucontainerd config default` of the build
  toml         the TOML documents of tests/unit/toml/test_toml.c

Usage: seeds.py BUILD_DIR OUT_DIR  (then merge into tests/fuzz/corpus with
libFuzzer's -merge=1, as capture.sh does)."""
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "tests", "integration"))
import images_util  # noqa: E402


def put(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


C_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def c_unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
            out.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += 1 + len(m.group(0))
        else:
            out += {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'",
                    "a": b"\a", "b": b"\b", "f": b"\f", "v": b"\v"}.get(n, n.encode())
            i += 2
    return bytes(out)


def call_args(text, macro):
    """The string literals of each `macro(...)` call (adjacent literals joined)."""
    for m in re.finditer(r"\b%s\(" % macro, text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            if text[i] == '"':
                j = C_STRING.match(text, i)
                i = j.end() if j else i + 1
                continue
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        args = text[m.end():i - 1]
        parts = []
        for a in split_args(args):
            lits = C_STRING.findall(a)
            parts.append(b"".join(c_unescape(x) for x in lits) if lits else None)
        yield parts


def split_args(s):
    out, depth, cur, i = [], 0, "", 0
    while i < len(s):
        c = s[i]
        if c == '"':
            j = C_STRING.match(s, i)
            cur += j.group(0)
            i = j.end()
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def filters(out):
    with open(os.path.join(top, "tests/unit/filters/test_filters.c")) as f:
        text = f.read()
    obj = b"\n--\nname=foo\nother=too complex, yo\nlabels.foo=true\nlabels.more complex label=present\n"
    n = 0
    for macro in ("T", "E"):
        for args in call_args(text, macro):
            if args and args[0] is not None:
                put(out, "filters", b"\x00" + args[0] + obj)
                n += 1
    for args in call_args(text, "R"):
        if len(args) >= 2 and args[0] is not None and args[1] is not None:
            put(out, "filters", b"\x01" + args[0] + b"\x00" + args[1])
            n += 1
    for args in call_args(text, "RE"):
        if args and args[0] is not None:
            put(out, "filters", b"\x01" + args[0] + b"\x00")
            n += 1
    return n


def tar(entries, raw=False):
    """entries: (name, kind, data, mode[, attrs]) as images_util._tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT if not raw else tarfile.USTAR_FORMAT) as t:
        for e in entries:
            name, kind, data, mode = e[:4]
            attrs = e[4] if len(e) > 4 else {}
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            ti.mtime = 1700000000
            for k, v in (attrs or {}).items():
                setattr(ti, k, v)
            if kind == "f":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE,
                       "b": tarfile.BLKTYPE, "p": tarfile.FIFOTYPE}[kind]
            if kind in ("l", "h"):
                ti.linkname = data
            if kind in ("c", "b"):
                ti.devmajor, ti.devminor = data
            t.addfile(ti)
    return buf.getvalue()


# The hostile layers of tests/unit/diff/test_diff.c (test_hostile and the
# whiteout cases), as tars.
HOSTILE = [
    [("../pwned", "f", b"x", 0o644)],
    [("a/../../canary/secret", "f", b"x", 0o644)],
    [("..", "d", None, 0o777)],
    [("/etc/passwd", "f", b"mine", 0o644), ("/../../pwned", "f", b"x", 0o644)],
    [("s", "l", "/", 0o777), ("s/pwned", "f", b"x", 0o644), ("s/etc/shadow", "f", b"y", 0o644)],
    [("canary", "d", None, 0o755), ("up", "l", "../canary", 0o777), ("up/secret", "f", b"overwritten?", 0o644)],
    [("l1", "l", "l2", 0o777), ("l2", "l", "../../../../..", 0o777), ("l1/x", "f", b"x", 0o644)],
    [("la", "l", "lb", 0o777), ("lb", "l", "la", 0o777), ("la/x", "f", b"x", 0o644)],
    [("dl", "l", "/no/such/dir", 0o777), ("dl/x", "f", b"x", 0o644)],
    [("h", "h", "/etc/passwd", 0o644)],
    [("h", "h", "../canary/secret", 0o644)],
    [("up", "l", "../canary", 0o777), ("h", "h", "up/secret", 0o644)],
    [("dd", "d", None, 0o755), ("h", "h", "dd", 0o644)],
    [("h", "h", "./", 0o644)],
    [("etc", "d", None, 0o755), ("etc", "l", "/", 0o777), ("etc/passwd", "f", b"x", 0o644)],
    [("etc", "d", None, 0o755), ("etc", "l", "/etc", 0o777), ("etc/passwd", "f", b"x", 0o644)],
    [("dev0", "c", (1, 3), 0o644), ("dev0/x", "f", b"x", 0o644)],
    [("a/.wh..", "f", b"", 0o644)],
    [(".wh.", "f", b"", 0o644)],
    [(".wh...", "f", b"", 0o644)],
    [("up/.wh.secret", "f", b"", 0o644)],
    [("etc/.wh.passwd", "f", b"", 0o644), ("opq/.wh..wh..opq", "f", b"", 0o644)],
    [("up/.wh..wh..opq", "f", b"", 0o644)],
    [("top/.wh..wh..opq", "f", b"", 0o644)],
    [("fifo", "p", None, 0o644), ("fifo", "f", b"data", 0o644)],
    [("blk", "b", (8, 0), 0o600), ("null", "c", (1, 3), 0o666), ("zero", "c", (0, 0), 0o000)],
    [("hard", "f", b"replaced", 0o644), ("etc/passwd", "f", b"through the hard link?", 0o644)],
    [("suid", "f", b"#!/bin/sh\n", 0o4755, {"uid": 0, "gid": 0}),
     ("owned", "f", b"x", 0o640, {"uid": 4294967294, "gid": 1000})],
    [("x", "f", b"x", 0o644, {"pax_headers": {"SCHILY.xattr.trusted.overlay.opaque": "y",
                                              "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}})],
    [("sparse", "f", b"\0" * 4096 + b"end", 0o644)],
]


def layers(out):
    n = 0
    base = [e for e in images_util.base_layer_entries() if e[0] != "bin/busybox"]
    base.insert(1, ("bin/busybox", "f", b"\x7fELF small stand-in", 0o755, None))
    layers_ = [images_util._tar(base), images_util._tar(images_util.top_layer_entries("a"))]
    layers_ += [tar(h) for h in HOSTILE]
    for t in layers_:
        for how in (0, 1, 2, 3, 4, 5, 12):   # detect, gzip, zstd, plain tar; overlay variants
            put(out, "layer_apply", bytes([how]) + t)
            n += 1
    # already compressed blobs, as a registry serves them (detected, not wrapped)
    for t in layers_[:2]:
        put(out, "layer_apply", b"\x00" + images_util._gzip(t))
        z = subprocess.run(["zstd", "-q", "-c", "-3"], input=t, capture_output=True)
        if z.returncode == 0:
            put(out, "layer_apply", b"\x00" + z.stdout)
        n += 2
    return n


def config(out, build):
    r = subprocess.run([os.path.join(build, "bin", "ucontainerd"), "config", "default"], capture_output=True)
    if r.returncode != 0:
        return 0
    put(out, "config", r.stdout)
    put(out, "toml", r.stdout)
    return 1


def toml(out):
    with open(os.path.join(top, "tests/unit/toml/test_toml.c")) as f:
        text = f.read()
    n = 0
    for lit in re.finditer(r'((?:"(?:[^"\\\n]|\\.)*"\s*)+)', text):
        b = b"".join(c_unescape(x) for x in C_STRING.findall(lit.group(1)))
        if b"=" in b or b"[" in b:
            put(out, "toml", b)
            n += 1
    return n


def main():
    build, out = sys.argv[1:3]
    print("filters: %d, layer_apply: %d, config: %d, toml: %d" %
          (filters(out), layers(out), config(out, build), toml(out)))


if __name__ == "__main__":
    main()
