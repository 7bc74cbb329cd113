#!/usr/bin/python3
"""Debian's ctr (containerd 1.6 client) against the real daemon: version and
UUID, plugins (ok / skip / error from fixture plugins), namespaces, leases,
containers and images listing, events."""
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Failure, Harness, Skip, call_status, check, contains, eq, not_contains, wait_until  # noqa: E402

h = Harness("ctr")
h.require_ctr()
d = h.daemon("main")
d.start()
c = d.client()

RUNC = "io.containerd.runc.v2"
SPEC = {"type_url": "types.containerd.io/opencontainers/runtime-spec/1/Spec", "value": b'{"ociVersion":"1.0.2"}'}
DIGEST = "sha256:" + "ab" * 32


def server_section(out):
    """The key: value pairs under `Server:` in `ctr version` output."""
    _, sep, srv = out.partition("Server:")
    check(sep, "no Server: section in:\n" + out)
    kv = {}
    for line in srv.splitlines():
        k, s, v = line.strip().partition(":")
        if s:
            kv[k.strip()] = v.strip()
    return kv


def plugin_rows(out):
    """`ctr plugins ls` -> {(type, id): status}"""
    rows = {}
    lines = out.strip().splitlines()
    check(lines and lines[0].split()[:2] == ["TYPE", "ID"], "no header in:\n" + out)
    for line in lines[1:]:
        f = line.split()
        if len(f) >= 3:
            rows[(f[0], f[1])] = f[-1]
    return rows


def ns_rows(out):
    """`ctr ns ls` -> {name: labels string}"""
    rows = {}
    lines = out.strip().splitlines()
    check(lines and lines[0].split() == ["NAME", "LABELS"], "no header in:\n" + out)
    for line in lines[1:]:
        f = line.split(None, 1)
        rows[f[0]] = f[1].strip() if len(f) > 1 else ""
    return rows


# --- version ----------------------------------------------------------------------

@h.test("ctr version shows the server version, revision and UUID")
def _():
    r = d.ctr("version")
    srv = server_section(r.stdout)
    v = c.version()
    eq(srv.get("Version"), v.version, "Version")
    eq(srv.get("Revision"), v.revision, "Revision")
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", srv.get("UUID", "")),
          "UUID %r in:\n%s" % (srv.get("UUID"), r.stdout))


@h.test("ctr version: the UUID stays the same after a restart on the same root")
def _():
    before = server_section(d.ctr("version").stdout)["UUID"]
    d.stop()
    d.start()
    after = server_section(d.ctr("version").stdout)["UUID"]
    eq(after, before, "UUID after restart")
    other = h.daemon("other-root")
    other.start()
    check(server_section(other.ctr("version").stdout)["UUID"] != before, "another root has the same UUID")
    other.stop()


# --- plugins ----------------------------------------------------------------------

@h.test("ctr plugins ls lists the built-in services as ok")
def _():
    rows = plugin_rows(d.ctr("plugins", "ls").stdout)
    for pid in ("version", "introspection", "namespaces", "containers", "images", "leases", "events",
                "healthcheck"):
        eq(rows.get(("io.containerd.grpc.v1", pid)), "ok", "io.containerd.grpc.v1 %s" % pid)
    eq(rows.get(("io.containerd.metadata.v1", "sqlite")), "ok", "metadata plugin")
    q = d.ctr("plugins", "ls", "-q").stdout.split()
    check("namespaces" in q and "containers" in q, "plugins ls -q: %r" % q)


def detail_blocks(out):
    """`ctr plugins ls -d` -> one text block per plugin (blocks are separated by blank-looking lines)."""
    blocks = [b for b in re.split(r"\n[ \t]*\n", out) if b.strip()]
    check(len(blocks) > 5, "could not split `ctr plugins ls -d` into blocks:\n" + out[:2000])
    return blocks


def fixture(set_, name):
    p = os.path.join(h.build_dir, "tests", "fixture-plugins", set_, "io.containerd.testing.v1.%s.so" % name)
    if not os.path.exists(p):
        raise Skip("fixture plugin %s not built (tests/fixtures/plugins)" % p)
    return p


@h.test("ctr plugins ls: broken fixture plugins show error, a skipping one skip, a good one ok")
def _():
    pdir = os.path.join(h.tmp, "plugins-broken")
    os.makedirs(pdir, exist_ok=True)
    for set_, name in [("good", "good"), ("good", "init_fails"), ("good", "init_skips"), ("abi", "bad_magic"),
                       ("abi", "abi_major_next"), ("abi", "not_elf"), ("abi", "no_entry")]:
        shutil.copy(fixture(set_, name), pdir)
    p = h.daemon("plugins", plugin_dir=pdir)
    p.start()
    try:
        rows = plugin_rows(p.ctr("plugins", "ls").stdout)
        t = "io.containerd.testing.v1"
        eq(rows.get((t, "good")), "ok", "good")
        eq(rows.get((t, "init_fails")), "error", "init_fails")
        eq(rows.get((t, "init_skips")), "skip", "init_skips")
        for name in ("bad_magic", "abi_major_next", "not_elf", "no_entry"):
            eq(rows.get((t, name)), "error", name)
        eq(rows.get(("io.containerd.grpc.v1", "namespaces")), "ok", "core services still ok")
        det = p.ctr("plugins", "ls", "-d").stdout
        contains(det, "Type:", "plugins ls -d")
        # the detailed block of init_fails carries its error message
        blocks = detail_blocks(det)
        fails = [b for b in blocks if re.search(r"ID:\s+init_fails\b", b)]
        check(fails, "no detailed block for init_fails in:\n" + det)
        contains(fails[0], "this fixture always fails", "init_fails block")
        skips = [b for b in blocks if re.search(r"ID:\s+init_skips\b", b)]
        check(skips, "no detailed block for init_skips")
        contains(skips[0], "nothing to do on this host", "init_skips block")
        abi = [b for b in blocks if re.search(r"ID:\s+abi_major_next\b", b)]
        check(abi, "no detailed block for abi_major_next")
        check(re.search(r"ABI", abi[0]), "abi_major_next block names no ABI:\n" + abi[0])
        # the daemon serves as usual with broken plugins around
        with p.client() as pc:
            pc.call("namespaces/Create", ns=None, namespace={"name": "fine"})
    finally:
        p.stop()


def read_notes(state, name, ext="txt"):
    path = os.path.join(state, "io.containerd.testing.v1.caller", "%s.%s" % (name, ext))
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@h.test("active plugins (ABI 1.3): the loop, in-process calls, start and stop hooks; a 1.1 descriptor still loads")
def _():
    """The caller fixture (tests/fixtures/plugins/caller.c) calls the daemon's
    services in-process from its start() hook, a timer on the daemon's loop
    and its stop() hook, and records what it heard: the statuses and texts a
    gRPC client gets, responses a client can decode, events through the
    events service; calls during init and off the loop thread refused."""
    pdir = os.path.join(h.tmp, "plugins-active")
    os.makedirs(pdir, exist_ok=True)
    for name in ("caller", "start_fails", "abi_1_1", "libuv_next"):
        shutil.copy(fixture("active", name), pdir)
    p = h.daemon("active", plugin_dir=pdir)
    p.start()
    try:
        notes = lambda name, ext="txt": read_notes(p.state, name, ext)  # noqa: E731
        wait_until(lambda: notes("version") and notes("from_timer") and notes("publish"), what="the caller's calls")
        # during init: refused with the reason; the loop is there
        eq(len(notes("init_call")), 1, "init_call lines")
        contains(notes("init_call")[0], "start 9 call_start(`/containerd.services.version.v1.Version/Version`): "
                 "plugin `io.containerd.testing.v1.caller` called it during init", "init_call")
        eq(notes("init_loop"), ["ok"], "init_loop")
        # Version answered with what ctr version shows
        eq(notes("version"), ["0 "], "version status")
        vr = h.protos.cls("containerd.services.version.v1.VersionResponse").FromString(
            bytes.fromhex(notes("version", "resp")[0]))
        eq(vr.version, server_section(p.ctr("version").stdout)["Version"], "version")
        # the statuses and texts a gRPC client gets
        eq(notes("images_nons"), ["9 namespace is required: failed precondition"], "images without namespace")
        eq(notes("unknown"), ["12 unknown service containerd.services.nope.v1.Nope"], "unknown service")
        contains(notes("thread")[0] if notes("thread") else "", "start 9 call_start(", "off-loop call")
        contains(notes("thread")[0], "off the loop thread", "off-loop call")
        eq(notes("from_timer"), ["0 "], "a call from a timer on the daemon's loop")
        nl = h.protos.cls("containerd.services.namespaces.v1.ListNamespacesResponse").FromString(
            bytes.fromhex(notes("from_timer", "resp")[0]))
        eq([n.name for n in nl.namespaces], [], "namespaces of a fresh root, listed in-process")
        eq(notes("publish"), ["0 "], "publish")
        # events: its own publish, then a namespace a client creates
        p.ctr("namespaces", "create", "made-by-ctr")
        env = h.protos.cls("containerd.services.events.v1.Envelope")
        wait_until(lambda: len(notes("events", "resp")) >= 2, what="two events")
        evs = [env.FromString(bytes.fromhex(x)) for x in notes("events", "resp")]
        eq([e.topic for e in evs], ["/caller/hello", "/namespaces/create"], "event topics")
        eq(evs[0].event.value, b"hi", "published event value")
        eq(evs[0].namespace, "default", "published event namespace")
        # statuses: start_fails turns to error with its hook's message
        rows = plugin_rows(p.ctr("plugins", "ls").stdout)
        t = "io.containerd.testing.v1"
        eq(rows.get((t, "caller")), "ok", "caller")
        eq(rows.get((t, "abi_1_1")), "ok", "a 1.1 descriptor")
        eq(rows.get((t, "start_fails")), "error", "start_fails")
        eq(rows.get((t, "libuv_next")), "error", "libuv_next")
        blocks = detail_blocks(p.ctr("plugins", "ls", "-d").stdout)
        sf = [b for b in blocks if re.search(r"ID:\s+start_fails\b", b)]
        check(sf, "no detailed block for start_fails")
        contains(sf[0], "start: start_fails: this fixture fails to start", "start_fails block")
        lu = [b for b in blocks if re.search(r"ID:\s+libuv_next\b", b)]
        check(lu, "no detailed block for libuv_next")
        contains(lu[0], "was built against libuv 2; this daemon uses libuv 1", "libuv_next block")
        eq(notes("stop"), [], "no stop before SIGTERM")
    finally:
        p.stop()
    notes = lambda name, ext="txt": read_notes(p.state, name, ext)  # noqa: E731
    eq(notes("stop"), ["stopping"], "stop hook")
    eq(notes("stop_call"), ["0 "], "a call from the stop hook")
    eq(notes("events"), ["14 server is shutting down"], "the subscription ends as the daemon stops serving")
    eq(notes("close"), ["closed"], "close")


@h.test("a plugin's own gRPC service (ABI 1.3): served on the socket like the daemon's, clashes refused")
def _():
    """served.c serves ucd.test.Plugin (plain bytes for messages); twin
    registers the same name and clash containerd's Version service: both
    turn to `error` naming who serves it. A gRPC client gets the plugin's
    answers and the statuses and texts of grpc-go; the caller plugin reaches
    the service in-process."""
    import grpc
    pdir = os.path.join(h.tmp, "plugins-served")
    os.makedirs(pdir, exist_ok=True)
    for name in ("served", "twin", "clash", "caller"):
        shutil.copy(fixture("active", name), pdir)
    p = h.daemon("served", plugin_dir=pdir)
    p.start(extra='[plugins."io.containerd.testing.v1.clash"]\n  daemon_service = true\n')
    try:
        rows = plugin_rows(p.ctr("plugins", "ls").stdout)
        t = "io.containerd.testing.v1"
        eq(rows.get((t, "served")), "ok", "served")
        eq(rows.get((t, "twin")), "error", "twin")
        eq(rows.get((t, "clash")), "error", "clash")
        blocks = detail_blocks(p.ctr("plugins", "ls", "-d").stdout)

        def block(id_):
            b = [x for x in blocks if re.search(r"ID:\s+%s\b" % id_, x)]
            check(b, "no detailed block for " + id_)
            return b[0]
        contains(block("twin"), "service `ucd.test.Plugin` is already served by plugin "
                 "`io.containerd.testing.v1.served`", "twin block")
        contains(block("clash"), "service `containerd.services.version.v1.Version` is already served by the "
                 "daemon", "clash block")
        contains(block("served"), "ucd.test.Plugin", "served block lists its service")
        eq(server_section(p.ctr("version").stdout)["Version"] != "", True, "the daemon's Version still answers")

        ch = grpc.insecure_channel("unix:" + p.sock)
        try:
            def unary(m, req, md=(), timeout=10):
                return ch.unary_unary("/ucd.test.Plugin/" + m)(req, metadata=md, timeout=timeout)
            eq(unary("Unary", b"hello"), b"hello", "Unary")
            eq(call_status(lambda: unary("Unary", b"fail")), (grpc.StatusCode.NOT_FOUND, "asked to fail"), "fail")
            eq(call_status(lambda: unary("Nope", b"")),
               (grpc.StatusCode.UNIMPLEMENTED, "unknown method Nope for service ucd.test.Plugin"), "no method")
            eq(call_status(lambda: unary("Namespaced", b"x")),
               (grpc.StatusCode.FAILED_PRECONDITION, "namespace is required: failed precondition"), "no namespace")
            eq(unary("Namespaced", b"x", md=(("containerd-namespace", "k8s.io"),)), b"x", "namespaced")
            eq(unary("Metadata", b"containerd-namespace", md=(("containerd-namespace", "abc"),)), b"abc", "metadata")
            eq(list(ch.unary_stream("/ucd.test.Plugin/Stream")(b"3", timeout=10)), [b"0", b"1", b"2"], "Stream")
            eq(ch.stream_unary("/ucd.test.Plugin/Collect")(iter([b"a", b"b", b"c"]), timeout=10), b"a,b,c",
               "Collect")
            eq(unary("Later", b""), b"late", "Later")
            eq(call_status(lambda: unary("Later", b"", timeout=0.05))[0], grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")
            wait_until(lambda: unary("Cancelled", b"") == b"1", what="the plugin heard of the cancelled call")
            # over the daemon's limits as for its own services
            big = b"x" * (17 << 20)
            eq(call_status(lambda: unary("Unary", big))[0], grpc.StatusCode.RESOURCE_EXHAUSTED, "oversized request")
        finally:
            ch.close()
        notes = lambda name, ext="txt": read_notes(p.state, name, ext)  # noqa: E731
        wait_until(lambda: notes("plugin_svc"), what="the caller's in-process call")
        eq(notes("plugin_svc"), ["0 "], "in-process call of a plugin's service")
        eq(notes("plugin_svc", "resp"), [b"ping".hex()], "its answer")
    finally:
        p.stop()


@h.test("ctr plugins ls: a world-writable .so, a .so of nobody's and a group-writable plugin directory are refused")
def _():
    """As sshd refuses key files others can change: the daemon runs no code
    another user could have changed. Each refused file is `error` with a
    message naming it and why; the daemon serves with the rest."""
    if os.geteuid() != 0:
        raise Skip("needs root to chown")
    pdir = os.path.join(h.tmp, "plugins-trust")
    os.makedirs(pdir)
    for name, mode in (("good", 0o755), ("init_fails", 0o777), ("init_skips", 0o755)):
        dst = os.path.join(pdir, os.path.basename(fixture("good", name)))
        shutil.copy(fixture("good", name), dst)
        os.chmod(dst, mode)
    theirs = os.path.join(pdir, os.path.basename(fixture("good", "init_skips")))
    os.chown(theirs, 65534, 65534)
    p = h.daemon("trust", plugin_dir=pdir)
    p.start()
    t = "io.containerd.testing.v1"
    try:
        rows = plugin_rows(p.ctr("plugins", "ls").stdout)
        eq((rows.get((t, "good")), rows.get((t, "init_fails")), rows.get((t, "init_skips"))),
           ("ok", "error", "error"), "statuses")
        eq(rows.get(("io.containerd.grpc.v1", "namespaces")), "ok", "core services still ok")
        blocks = detail_blocks(p.ctr("plugins", "ls", "-d").stdout)
        ww = [b for b in blocks if re.search(r"ID:\s+init_fails\b", b)]
        contains(ww[0], "`io.containerd.testing.v1.init_fails.so` is not loaded: `%s/io.containerd.testing.v1."
                 "init_fails.so` is writable by others (mode 0777): refusing to trust it (any user could change "
                 "it); `chmod go-w` it" % pdir)
        nb = [b for b in blocks if re.search(r"ID:\s+init_skips\b", b)]
        contains(nb[0], "`io.containerd.testing.v1.init_skips.so` is not loaded: `%s` is owned by uid 65534, not "
                 "by root: refusing to trust it" % theirs)
        contains(p.stderr(), "failed to load plugin io.containerd.testing.v1.init_fails")
        with p.client() as pc:
            pc.call("namespaces/Create", ns=None, namespace={"name": "fine"})
    finally:
        p.stop()
    os.chmod(pdir, 0o775)
    p.start()
    try:
        rows = plugin_rows(p.ctr("plugins", "ls").stdout)
        eq(rows.get((t, "good")), "error", "good, in a group-writable directory")
        blocks = detail_blocks(p.ctr("plugins", "ls", "-d").stdout)
        g = [b for b in blocks if re.search(r"ID:\s+good\b", b)]
        contains(g[0], "`io.containerd.testing.v1.good.so` is not loaded: `%s` (on the way to `%s/io.containerd."
                 "testing.v1.good.so`) is writable by its group (mode 0775): refusing to trust it" % (pdir, pdir))
        with p.client() as pc:
            pc.version()
    finally:
        p.stop()


@h.test("ctr plugins ls -d shows requires and exports of the core plugins")
def _():
    det = d.ctr("plugins", "ls", "-d").stdout
    blocks = [b for b in detail_blocks(det) if re.search(r"ID:\s+containers\b", b)]
    check(blocks, "no containers block in:\n" + det[:3000])
    contains(blocks[0], "io.containerd.grpc.v1", "containers block")
    contains(blocks[0], "io.containerd.metadata.v1", "containers block requires")


# --- namespaces -------------------------------------------------------------------

@h.test("ctr namespaces create/label/ls/ls -q/rm")
def _():
    d.ctr("namespaces", "create", "ctrns", "a=b")
    rows = ns_rows(d.ctr("namespaces", "ls").stdout)
    eq(rows.get("ctrns"), "a=b", "labels after create")
    d.ctr("namespaces", "label", "ctrns", "c=d")
    rows = ns_rows(d.ctr("namespaces", "ls").stdout)
    eq(rows.get("ctrns"), "a=b,c=d", "labels after label")
    d.ctr("namespaces", "label", "ctrns", "a=")
    eq(ns_rows(d.ctr("namespaces", "ls").stdout).get("ctrns"), "c=d", "an empty value clears a label")
    q = d.ctr("ns", "ls", "-q").stdout.split()
    check("ctrns" in q, "ns ls -q: %r" % q)
    eq(dict(c.call("namespaces/Get", ns=None, name="ctrns").namespace.labels), {"c": "d"}, "seen by grpc")
    r = d.ctr("namespaces", "create", "ctrns", check=False)
    check(r.returncode != 0, "creating an existing namespace succeeded")
    contains(r.stderr.lower(), "already exists", "stderr")
    r = d.ctr("namespaces", "rm", "ctrns")
    contains(r.stdout, "ctrns", "rm output")
    not_contains(d.ctr("ns", "ls", "-q").stdout.split(), "ctrns", "ns ls -q after rm")


@h.test("ctr namespaces rm of a namespace holding a container fails and says what remains")
def _():
    d.ctr("namespaces", "create", "ctrfull")
    c.call("containers/Create", ns="ctrfull", container={"id": "keeper", "runtime": {"name": RUNC}, "spec": SPEC})
    r = d.ctr("namespaces", "rm", "ctrfull", check=False)
    check(r.returncode != 0, "rm of a non-empty namespace succeeded:\n" + r.stdout + r.stderr)
    contains(r.stderr, "containers", "stderr")
    check("ctrfull" in d.ctr("ns", "ls", "-q").stdout.split(), "namespace gone after a failed rm")
    c.call("containers/Delete", ns="ctrfull", id="keeper")
    d.ctr("namespaces", "rm", "ctrfull")
    check("ctrfull" not in d.ctr("ns", "ls", "-q").stdout.split(), "namespace still listed")


# --- leases -----------------------------------------------------------------------

def lease_rows(out):
    lines = out.strip().splitlines()
    check(lines and lines[0].split()[:3] == ["ID", "CREATED", "AT"], "no header in:\n" + out)
    rows = {}
    for line in lines[1:]:
        f = line.split()
        rows[f[0]] = line
    return rows


@h.test("ctr leases create (--id, labels, --expires 0), ls, ls -q, filter, rm")
def _():
    r = d.ctr("leases", "create", "--id", "l1", "--expires", "0", "app=x", "tier=db")
    contains(r.stdout, "l1", "create output")
    rows = lease_rows(d.ctr("leases", "ls").stdout)
    check("l1" in rows, "l1 not listed: %r" % rows)
    contains(rows["l1"], "app=x", "labels column")
    contains(rows["l1"], "tier=db", "labels column")
    r = d.ctr("leases", "create", "--expires", "0")
    gen = r.stdout.split()[0] if r.stdout.split() else ""
    check(gen, "no generated id printed: %r" % r.stdout)
    q = d.ctr("leases", "ls", "-q").stdout.split()
    eq(sorted(q), sorted(["l1", gen]), "ls -q")
    eq(d.ctr("leases", "ls", "-q", "id==l1").stdout.split(), ["l1"], "ls with a filter")
    eq(d.ctr("leases", "ls", "-q", "labels.app==x").stdout.split(), ["l1"], "ls with a label filter")
    ls = c.call("leases/List").leases
    eq({x.id: dict(x.labels) for x in ls}.get("l1"), {"app": "x", "tier": "db"}, "seen by grpc")
    d.ctr("leases", "rm", "l1", gen)
    eq(d.ctr("leases", "ls", "-q").stdout.split(), [], "after rm")
    r = d.ctr("leases", "rm", "l1", check=False)
    check(r.returncode != 0, "rm of a missing lease succeeded")
    contains(r.stderr.lower(), "not found", "stderr")


@h.test("ctr leases create --expires 2s: the lease disappears once expired")
def _():
    d.ctr("leases", "create", "--id", "short", "--expires", "2s")
    d.ctr("leases", "create", "--id", "long", "--expires", "1h")
    rows = lease_rows(d.ctr("leases", "ls").stdout)
    contains(rows.get("short", ""), "containerd.io/gc.expire=", "short lease labels")
    wait_until(lambda: d.ctr("leases", "ls", "-q").stdout.split() == ["long"], timeout=20,
               what="the expired lease to disappear from ctr leases ls")
    d.ctr("leases", "rm", "long")


# --- containers and images (created by grpc, seen by ctr) -----------------------------

@h.test("ctr containers ls/info/label/rm")
def _():
    c.call("containers/Create", ns="ctrc", container={"id": "web", "runtime": {"name": RUNC}, "spec": SPEC,
                                                      "image": "docker.io/library/nginx:1", "labels": {"a": "1"}})
    out = d.ctr("containers", "ls", ns="ctrc").stdout
    line = [x for x in out.splitlines() if x.startswith("web")]
    check(line, "web not listed:\n" + out)
    contains(line[0], "docker.io/library/nginx:1", "image column")
    contains(line[0], RUNC, "runtime column")
    eq(d.ctr("containers", "ls", "-q", ns="ctrc").stdout.split(), ["web"], "ls -q")
    info = d.ctr("containers", "info", "web", ns="ctrc").stdout
    contains(info, '"ID": "web"', "info")
    d.ctr("containers", "label", "web", "b=2", ns="ctrc")
    eq(dict(c.call("containers/Get", ns="ctrc", id="web").container.labels), {"a": "1", "b": "2"}, "labels")
    out = d.ctr("containers", "ls", "labels.b==2", ns="ctrc").stdout
    check("web" in out, "filter in ctr containers ls:\n" + out)
    d.ctr("containers", "rm", "web", ns="ctrc")
    eq(d.ctr("containers", "ls", "-q", ns="ctrc").stdout.split(), [], "after rm")


@h.test("ctr images ls -q / label / tag / rm")
def _():
    c.call("images/Create", ns="ctri", image={"name": "docker.io/library/alpine:3", "target": {
        "media_type": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 100}})
    eq(d.ctr("images", "ls", "-q", ns="ctri").stdout.split(), ["docker.io/library/alpine:3"], "ls -q")
    d.ctr("images", "label", "docker.io/library/alpine:3", "x=y", ns="ctri")
    eq(dict(c.call("images/Get", ns="ctri", name="docker.io/library/alpine:3").image.labels), {"x": "y"}, "label")
    d.ctr("images", "tag", "docker.io/library/alpine:3", "docker.io/library/alpine:copy", ns="ctri")
    eq(sorted(d.ctr("images", "ls", "-q", ns="ctri").stdout.split()),
       ["docker.io/library/alpine:3", "docker.io/library/alpine:copy"], "after tag")
    g = c.call("images/Get", ns="ctri", name="docker.io/library/alpine:copy").image
    eq(g.target.digest, DIGEST, "tagged target")
    d.ctr("images", "rm", "docker.io/library/alpine:copy", ns="ctri")
    eq(d.ctr("images", "ls", "-q", ns="ctri").stdout.split(), ["docker.io/library/alpine:3"], "after rm")


# --- events -------------------------------------------------------------------------

class LineReader:
    def __init__(self, stream):
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in iter(stream.readline, b""):
            with self.lock:
                self.lines.append(line.decode("utf-8", "replace"))

    def text(self):
        with self.lock:
            return "".join(self.lines)


@h.test("ctr events prints /namespaces/create for a namespace created meanwhile")
def _():
    p = d.ctr_popen("events")
    out = LineReader(p.stdout)
    err = LineReader(p.stderr)
    try:
        # ctr gives no sign that its subscription is live: create namespaces until one shows up
        found = None
        deadline = time.monotonic() + 15
        i = 0
        while found is None and time.monotonic() < deadline:
            name = "evns%d" % i
            i += 1
            d.ctr("namespaces", "create", name, "k=v")
            t_end = time.monotonic() + 0.5
            while time.monotonic() < t_end:
                m = [ln for ln in out.text().splitlines() if "/namespaces/create" in ln]
                if m:
                    found = m[0]
                    break
                if p.poll() is not None:
                    raise Failure("ctr events exited %d: %s" % (p.returncode, err.text()))
                time.sleep(0.05)
        check(found, "no /namespaces/create line; stdout:\n%s\nstderr:\n%s" % (out.text(), err.text()))
        check(re.search(r'"name":"evns\d+"', found), "the event does not carry the namespace name: " + found)
        # later events arrive too: a label update
        d.ctr("namespaces", "label", "evns0", "x=y")
        wait_until(lambda: "/namespaces/update" in out.text(), timeout=5, what="a /namespaces/update line")
        not_contains(err.text(), "cannot unmarshal", "ctr events stderr")
    finally:
        p.kill()      # the ctr process this test started
        p.wait()
    c.version()


h.finish()
