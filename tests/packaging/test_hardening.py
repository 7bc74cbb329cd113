#!/usr/bin/python3
"""Installs the build into a temporary prefix, as a package would, and reads
every installed ELF file (executables, plugins, ucd-layers.so) with readelf
(binutils): each must keep the hardening cmake/UcdHardening.cmake gives it.

  relro        a GNU_RELRO segment
  bindnow      BIND_NOW in FLAGS or NOW in FLAGS_1 (immediate binding)
  pie          executables: Type DYN with PIE in FLAGS_1
  noexecstack  a GNU_STACK segment without E
  ssp          __stack_chk_fail referenced, where a function keeps an array
               on its stack (found in the DWARF: a local of array type
               addressed from the frame base); without DWARF (a stripped
               install), by every file with more than 4 KiB of code
  fortify      (optimised, unsanitized builds) some __*_chk function
               referenced, and none of the printf family imported plain
               (_FORTIFY_SOURCE=2 turns every such call into its _chk,
               snprintf excepted)
  flags        with DWARF from gcc: every compilation unit of this project
               was compiled with -fstack-protector-strong,
               -fstack-clash-protection and, on x86, -fcf-protection (the
               two last leave no other mark in the binary)

Usage: test_hardening.py BUILD_DIR SOURCE_DIR [--fortify] [--cet]
Output is TAP; exit status 1 when any check fails."""
import os
import re
import subprocess
import sys
import tempfile

# The printf family that _FORTIFY_SOURCE=2 always routes through __*_chk
# (for the %n check). Not snprintf: gcc calls it plain where it sees that
# the buffer is large enough.
PRINTF_FAMILY = {"printf", "fprintf", "sprintf", "vprintf", "vfprintf", "vsprintf", "vsnprintf",
                 "dprintf", "vdprintf", "asprintf", "vasprintf"}


# (name, the switches that decide the feature, the ones that turn it on):
# the last switch of its family on a compile line is the one that counts.
FLAG_CHECKS = [
    ("-fstack-protector-strong", re.compile(r"-f(no-)?stack-protector(-\w+)?$"),
     re.compile(r"-fstack-protector-(strong|all)$")),
    ("-fstack-clash-protection", re.compile(r"-f(no-)?stack-clash-protection$"),
     re.compile(r"-fstack-clash-protection$")),
    ("-fcf-protection", re.compile(r"-f(no-)?cf-protection(=\w+)?$"),
     re.compile(r"-fcf-protection(=(full|branch|return))?$")),
]


def last_is(producer, family, good):
    last = None
    for w in producer.split():
        if family.match(w):
            last = w
    return last is not None and good.match(last) is not None


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True, text=True).stdout


class Elf:
    def __init__(self, path):
        self.path = path
        self.header = readelf("-h", path)
        self.segments = readelf("-l", path)
        self.dynamic = readelf("-d", path)
        self.sections = readelf("-S", path)
        self.symbols = []          # (name, undefined)
        for line in readelf("-s", path).splitlines():
            f = line.split()
            if len(f) >= 8 and f[0].endswith(":") and f[0][:-1].isdigit():
                self.symbols.append((f[7].split("@")[0], f[6] == "UND"))
        self.names = {n for n, _ in self.symbols}

    def segment_flags(self, kind):
        for line in self.segments.splitlines():
            f = line.split()
            if f and f[0] == kind:
                # Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
                return "".join(f[6:-1])
        return None

    def text_size(self):
        m = re.search(r"\]\s+\.text\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+)", self.sections)
        return int(m.group(1), 16) if m else 0

    def has_dwarf(self):
        return ".debug_info" in self.sections


def dwarf_units(path):
    """Compile units (name, producer) and whether some function keeps a
    local array on its stack."""
    out = subprocess.run(["readelf", "--debug-dump=info", path], check=True, capture_output=True,
                         text=True).stdout
    dies = {}                  # offset -> [tag, attrs]
    order = []
    cur = None
    for line in out.splitlines():
        m = re.match(r"\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: \d+ \((\w+)\)", line)
        if m:
            cur = [m.group(3), {}, int(m.group(1))]
            dies[int(m.group(2), 16)] = cur
            order.append(cur)
            continue
        m = re.match(r"\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s*(.*)", line)
        if m and cur is not None:
            cur[1][m.group(1)] = m.group(2)

    def ref(v):
        m = re.match(r"<0x([0-9a-f]+)>", v or "")
        return int(m.group(1), 16) if m else None

    def is_array(off, depth=0):
        while off is not None and depth < 32:
            d = dies.get(off)
            if d is None:
                return False
            if d[0] == "DW_TAG_array_type":
                return True
            if d[0] not in ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type"):
                return False
            off = ref(d[1].get("DW_AT_type"))
            depth += 1
        return False

    units = []
    stack_array = None
    for tag, attrs, depth in order:
        if tag == "DW_TAG_compile_unit":
            units.append((attrs.get("DW_AT_name", "").split(": ")[-1].strip(),
                          attrs.get("DW_AT_producer", "").split("): ")[-1].strip()))
        elif tag == "DW_TAG_variable" and depth >= 2 and stack_array is None:
            if "DW_OP_fbreg" not in attrs.get("DW_AT_location", ""):
                continue
            t = ref(attrs.get("DW_AT_type"))
            if t is None:
                origin = dies.get(ref(attrs.get("DW_AT_abstract_origin")))
                t = ref(origin[1].get("DW_AT_type")) if origin else None
            if is_array(t):
                stack_array = attrs.get("DW_AT_name", "?").split(": ")[-1]
    return units, stack_array


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    fortify = "--fortify" in sys.argv
    cet = "--cet" in sys.argv
    build, source = args[0], os.path.realpath(args[1])
    n = failed = 0

    def check(name, ok, why=""):
        nonlocal n, failed
        n += 1
        if ok:
            print(f"ok {n} - {name}")
        else:
            failed += 1
            print(f"not ok {n} - {name}" + (f": {why}" if why else ""))

    with tempfile.TemporaryDirectory(prefix="ucd-harden-") as tmp:
        prefix = os.path.join(tmp, "prefix")
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            print("Bail out! cmake --install failed")
            return 1
        files = []
        for d, _, names in os.walk(prefix):
            for name in sorted(names):
                p = os.path.join(d, name)
                if not os.path.islink(p):
                    with open(p, "rb") as f:
                        if f.read(4) == b"\x7fELF":
                            files.append(p)
        check("installed ELF files found", len(files) >= 3, f"{len(files)} found")
        for p in sorted(files):
            rel = os.path.relpath(p, prefix)
            e = Elf(p)
            is_exe = rel.startswith("bin/")
            check(f"{rel}: relro (GNU_RELRO)", e.segment_flags("GNU_RELRO") is not None)
            check(f"{rel}: bindnow (BIND_NOW / FLAGS_1 NOW)",
                  re.search(r"\(FLAGS\)\s+.*BIND_NOW", e.dynamic) is not None or
                  re.search(r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", e.dynamic) is not None)
            stack = e.segment_flags("GNU_STACK")
            check(f"{rel}: noexecstack (GNU_STACK RW)", stack is not None and "E" not in stack,
                  f"GNU_STACK {stack}")
            if is_exe:
                check(f"{rel}: pie (Type DYN, FLAGS_1 PIE)",
                      re.search(r"Type:\s+DYN", e.header) is not None and
                      re.search(r"\(FLAGS_1\)\s+Flags:.*\bPIE\b", e.dynamic) is not None,
                      re.search(r"Type:\s+(.*)", e.header).group(1))
            ssp = "__stack_chk_fail" in e.names
            if e.has_dwarf():
                units, array = dwarf_units(p)
                if array is not None:
                    check(f"{rel}: ssp (__stack_chk_fail; `{array}` is a stack array)", ssp)
                else:
                    check(f"{rel}: ssp (no function keeps an array on its stack)", True)
                ours = [(u, prod) for u, prod in units if u.startswith(source) or "/proto/gen/" in u]
                recorded = [(u, prod) for u, prod in ours if prod.startswith("GNU ")]
                if recorded:
                    for flag, family, good in FLAG_CHECKS:
                        if flag == "-fcf-protection" and not cet:
                            continue
                        missing = [u for u, prod in recorded if not last_is(prod, family, good)]
                        check(f"{rel}: {flag} in all {len(recorded)} compilation units", not missing,
                              "missing in " + ", ".join(os.path.relpath(u, source) for u in missing[:5]))
            else:
                check(f"{rel}: ssp (__stack_chk_fail; no DWARF, {e.text_size()} bytes of code)",
                      ssp or e.text_size() <= 4096)
            if fortify:
                chk = sorted(s for s in e.names if re.fullmatch(r"__\w+_chk", s) and not s.startswith("__stack_chk"))
                plain = sorted(s for s, und in e.symbols if und and s in PRINTF_FAMILY)
                uses_libc = any(und and s not in ("", "__cxa_finalize", "__gmon_start__", "_ITM_registerTMCloneTable",
                                                  "_ITM_deregisterTMCloneTable") for s, und in e.symbols)
                check(f"{rel}: fortify (__*_chk referenced: {' '.join(chk[:4]) or 'none'})",
                      bool(chk) or not uses_libc or e.text_size() <= 4096)
                check(f"{rel}: fortify (no printf-family function imported unchecked)", not plain,
                      "imports " + " ".join(plain))
    print(f"1..{n}")
    print(f"{n - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
