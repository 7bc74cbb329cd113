#!/usr/bin/python3
"""The containerd gRPC API of the real daemon, driven by a python3-grpcio
client: containers, images, namespaces, leases, events, introspection,
health; exact status codes; deadlines; persistence across a restart; message
size limits; many concurrent connections."""
import ctypes
import json
import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import rawh2  # noqa: E402
import slowgc_util  # noqa: E402
from events_util import Subscription  # noqa: E402
from slowgc_util import SNAP_SVC, SlowCollection  # noqa: E402
from harness import CODES, Failure, Harness, Skip, check, contains, eq, expect_code, wait_until  # noqa: E402

h = Harness("grpc")
d = h.daemon("main")
d.start()
c = d.client()
P = h.protos

RUNC = "io.containerd.runc.v2"
SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
DIGEST = "sha256:" + "ab" * 32
DIGEST2 = "sha256:" + "cd" * 32
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def spec(body=b'{"ociVersion":"1.0.2"}'):
    return {"type_url": SPEC_URL, "value": body}


def anyv(type_url, value=b""):
    """A google.protobuf.Any (map<string, Any> values must be messages, not dicts)."""
    return P.new("google.protobuf.Any", type_url=type_url, value=value)


def ctr_msg(cid, **kw):
    m = {"id": cid, "runtime": {"name": RUNC}, "spec": spec()}
    m.update(kw)
    return m


def create_ctr(cid, ns="default", client=None, **kw):
    return (client or c).call("containers/Create", ns=ns, container=ctr_msg(cid, **kw)).container


def image_msg(name, **kw):
    m = {"name": name, "target": {"media_type": MANIFEST, "digest": DIGEST, "size": 1234}}
    m.update(kw)
    return m


def ids(containers):
    return sorted(x.id for x in containers)


def list_ids(filters=(), ns="default"):
    return ids(c.call("containers/List", ns=ns, filters=list(filters)).containers)


def ts(t):
    return (t.seconds, t.nanos)


def unpack_any(a, full_name):
    eq(a.type_url, full_name, "event type_url")
    return P.cls(full_name).FromString(a.value)


# --- version, introspection, health -----------------------------------------

@h.test("version: Version answers with version and revision")
def _():
    r = c.version()
    check(r.version != "", "empty version")
    check(r.revision != "", "empty revision")


@h.test("introspection: Server returns a UUID")
def _():
    r = c.call("introspection/Server", ns=None)
    check(len(r.uuid) == 36 and r.uuid.count("-") == 4, "not a UUID: %r" % r.uuid)


@h.test("introspection: Plugins lists the core services as ok")
def _():
    r = c.call("introspection/Plugins", ns=None)
    got = {(p.type, p.id): p for p in r.plugins}
    for pid in ("version", "introspection", "namespaces", "containers", "images", "leases", "events",
                "healthcheck"):
        p = got.get(("io.containerd.grpc.v1", pid))
        check(p is not None, "io.containerd.grpc.v1.%s missing from %r" % (pid, sorted(got)))
        check(not p.HasField("init_err"), "%s has init_err %r" % (pid, p.init_err))


@h.test("introspection: Plugins filters type==io.containerd.grpc.v1, id==version")
def _():
    r = c.call("introspection/Plugins", ns=None, filters=["type==io.containerd.grpc.v1"])
    check(len(r.plugins) >= 8, "too few: %d" % len(r.plugins))
    for p in r.plugins:
        eq(p.type, "io.containerd.grpc.v1", "type of %s" % p.id)
    r = c.call("introspection/Plugins", ns=None, filters=["id==version"])
    eq([(p.type, p.id) for p in r.plugins], [("io.containerd.grpc.v1", "version")], "id==version")
    r = c.call("introspection/Plugins", ns=None, filters=["type==io.containerd.grpc.v1,id==events"])
    eq([p.id for p in r.plugins], ["events"], "type AND id")
    r = c.call("introspection/Plugins", ns=None, filters=["id==version", "id==events"])
    eq(sorted(p.id for p in r.plugins), ["events", "version"], "two filters are OR'ed")
    r = c.call("introspection/Plugins", ns=None, filters=["type==no.such.type"])
    eq(len(r.plugins), 0, "no match")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "introspection/Plugins", ns=None, filters=["type=="])


@h.test("health: Check('') is SERVING, an unknown service is NOT_FOUND")
def _():
    r = c.call("health/Check", ns=None, service="")
    eq(r.status, 1, "status (SERVING)")
    expect_code(CODES.NOT_FOUND, c.call, "health/Check", ns=None, service="no.such.Service")


@h.test("health: Watch('') sends SERVING first")
def _():
    it = c.call("health/Watch", ns=None, service="", timeout=5)
    first = next(it)
    eq(first.status, 1, "first Watch status")
    it.cancel()


@h.test("unknown method and unknown service are UNIMPLEMENTED")
def _():
    stub = c.channel.unary_unary("/containerd.services.version.v1.Version/NoSuchMethod",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    expect_code(CODES.UNIMPLEMENTED, stub, b"", timeout=5)
    stub = c.channel.unary_unary("/no.such.Service/Method", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    expect_code(CODES.UNIMPLEMENTED, stub, b"", timeout=5)
    c.version()


# --- containers ---------------------------------------------------------------

@h.test("containers: Create returns the container with timestamps; Get returns it")
def _():
    before = time.time()
    got = create_ctr("crud-1", labels={"a": "1", "b": "2"}, image="docker.io/library/busybox:latest",
                     snapshotter="overlayfs", snapshot_key="crud-1-key",
                     extensions={"ext1": anyv("x.y/Z", b"\x01\x02")},
                     runtime={"name": RUNC, "options": {"type_url": "containerd.runc.v1.Options", "value": b""}})
    eq(got.id, "crud-1", "id")
    eq(dict(got.labels), {"a": "1", "b": "2"}, "labels")
    check(got.created_at.seconds >= int(before) - 1, "created_at not set: %r" % got.created_at)
    eq(ts(got.updated_at), ts(got.created_at), "updated_at == created_at on create")
    g = c.call("containers/Get", id="crud-1").container
    eq(g.id, "crud-1", "id")
    eq(dict(g.labels), {"a": "1", "b": "2"}, "labels")
    eq(g.image, "docker.io/library/busybox:latest", "image")
    eq(g.runtime.name, RUNC, "runtime.name")
    eq(g.runtime.options.type_url, "containerd.runc.v1.Options", "runtime.options.type_url")
    eq(g.spec.type_url, SPEC_URL, "spec.type_url")
    eq(g.spec.value, b'{"ociVersion":"1.0.2"}', "spec.value")
    eq(g.snapshotter, "overlayfs", "snapshotter")
    eq(g.snapshot_key, "crud-1-key", "snapshot_key")
    eq(dict((k, (v.type_url, v.value)) for k, v in g.extensions.items()), {"ext1": ("x.y/Z", b"\x01\x02")},
       "extensions")
    eq(ts(g.created_at), ts(got.created_at), "created_at")


@h.test("containers: Create of an existing id is ALREADY_EXISTS")
def _():
    create_ctr("dup-1")
    e = expect_code(CODES.ALREADY_EXISTS, create_ctr, "dup-1")
    contains(e.details(), "dup-1", "message")


@h.test("containers: Get/Delete/Update of a missing id is NOT_FOUND")
def _():
    expect_code(CODES.NOT_FOUND, c.call, "containers/Get", id="no-such-container")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Delete", id="no-such-container")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Update", container=ctr_msg("no-such-container"),
                update_mask={"paths": ["labels"]})


@h.test("containers: invalid containers are INVALID_ARGUMENT")
def _():
    for name, m in [
        ("bad id", ctr_msg("bad id!")),
        ("empty id", ctr_msg("")),
        ("id too long", ctr_msg("x" * 77)),
        ("no runtime name", {"id": "inv-1", "spec": spec()}),
        ("no spec", {"id": "inv-2", "runtime": {"name": RUNC}}),
        ("snapshot_key without snapshotter", ctr_msg("inv-3", snapshot_key="k")),
        ("empty extension key", ctr_msg("inv-4", extensions={"": anyv("a/b")})),
        ("label too long", ctr_msg("inv-5", labels={"k": "v" * 4096})),
    ]:
        try:
            expect_code(CODES.INVALID_ARGUMENT, c.call, "containers/Create", container=m)
        except Failure as e:
            raise Failure("%s: %s" % (name, e))
    expect_code(CODES.INVALID_ARGUMENT, c.call, "containers/Update", container=ctr_msg(""),
                update_mask={"paths": ["labels"]})
    eq([i for i in list_ids() if i.startswith("inv-")], [], "nothing invalid was stored")


@h.test("limits at their edge: 76-character ids and namespaces, key+value of 4096 bytes are accepted")
def _():
    create_ctr("i" * 76, ns="n" * 76, labels={"k": "v" * 4095})
    eq(c.call("containers/Get", ns="n" * 76, id="i" * 76).container.labels["k"], "v" * 4095, "stored")
    expect_code(CODES.INVALID_ARGUMENT, create_ctr, "j" * 77, ns="n" * 76)
    expect_code(CODES.INVALID_ARGUMENT, create_ctr, "edge-2", ns="n" * 76, labels={"k": "v" * 4096})
    c.call("namespaces/Create", ns=None, namespace={"name": "m" * 76, "labels": {"kk": "v" * 4094}})
    c.call("images/Create", ns="edge", image=image_msg("edge/img:1", labels={"k": "v" * 4095}))
    c.call("leases/Create", ns="edge", id="edge-lease", labels={"k": "v" * 4095})
    for ok_id in ("a", "a.b", "a_b", "a-b", "A1.b-c_d", "0"):
        create_ctr(ok_id, ns="edge")
    for bad_id in ("a.", ".a", "a..b", "a.-b", "_a", "a b", "ä"):
        expect_code(CODES.INVALID_ARGUMENT, create_ctr, bad_id, ns="edge")


@h.test("containers: a call without the namespace header is FAILED_PRECONDITION")
def _():
    for m, kw in [("containers/List", {}), ("containers/Get", {"id": "crud-1"}),
                  ("containers/Create", {"container": ctr_msg("nons-1")}), ("containers/Delete", {"id": "x"}),
                  ("images/List", {}), ("leases/List", {}), ("events/Publish", {"topic": "/a", "event": {}})]:
        e = expect_code(CODES.FAILED_PRECONDITION, c.call, m, ns=None, **kw)
        contains(e.details(), "namespace", m + " message")


@h.test("containers: an invalid namespace name is INVALID_ARGUMENT")
def _():
    for bad in ("bad ns", "-lead", "a..b", "x" * 77):
        expect_code(CODES.INVALID_ARGUMENT, c.call, "containers/List", ns=bad)


@h.test("containers: namespaces isolate containers; creating one creates its namespace")
def _():
    create_ctr("iso-1", ns="iso-a")
    create_ctr("iso-1", ns="iso-b", labels={"which": "b"})
    eq(dict(c.call("containers/Get", ns="iso-b", id="iso-1").container.labels), {"which": "b"}, "iso-b labels")
    eq(dict(c.call("containers/Get", ns="iso-a", id="iso-1").container.labels), {}, "iso-a labels")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Get", ns="iso-c", id="iso-1")
    names = [n.name for n in c.call("namespaces/List", ns=None).namespaces]
    check("iso-a" in names and "iso-b" in names, "implicit namespaces not listed: %r" % names)
    c.call("containers/Delete", ns="iso-a", id="iso-1")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Get", ns="iso-a", id="iso-1")
    c.call("containers/Get", ns="iso-b", id="iso-1")


@h.test("containers: List filters (labels, id~=, runtime.name, image, AND/OR)")
def _():
    ns = "filters"
    create_ctr("xa", ns=ns, labels={"a.b": "c", "tier": "web"}, image="docker.io/library/nginx:1")
    create_ctr("xb", ns=ns, labels={"a.b": "d"}, image="docker.io/library/busybox:latest")
    create_ctr("yc", ns=ns, labels={"tier": "web"}, runtime={"name": "io.containerd.other.v1"})
    create_ctr("yd", ns=ns)
    cases = [
        ([], ["xa", "xb", "yc", "yd"]),
        (['labels."a.b"==c'], ["xa"]),
        (['labels."a.b"!=c'], ["xb", "yc", "yd"]),
        (["labels.tier"], ["xa", "yc"]),
        (["id~=^x"], ["xa", "xb"]),
        (["id~=c$"], ["yc"]),
        (["id==yd"], ["yd"]),
        (["runtime.name==io.containerd.runc.v2"], ["xa", "xb", "yd"]),
        (["runtime.name==io.containerd.other.v1"], ["yc"]),
        (["image==docker.io/library/busybox:latest"], ["xb"]),
        (["image~=nginx"], ["xa"]),
        (["labels.tier==web,id~=^x"], ["xa"]),
        (["id==xa", "id==yd"], ["xa", "yd"]),
        (['labels."a.b"~="^[cd]$"'], ["xa", "xb"]),
        (["id==nope"], []),
    ]
    for filters, want in cases:
        eq(list_ids(filters, ns=ns), want, "filters %r" % filters)
    for bad in ["id==", "labels.\"unterminated==x", "id~=(", "==x", "id=x"]:
        try:
            expect_code(CODES.INVALID_ARGUMENT, c.call, "containers/List", ns=ns, filters=[bad])
        except Failure as e:
            raise Failure("filter %r: %s" % (bad, e))


@h.test("containers: ListStream streams every container (300)")
def _():
    ns = "stream"
    n = 300
    for i in range(n):
        create_ctr("s-%03d" % i, ns=ns, labels={"i": str(i), "even": str(i % 2 == 0).lower()})
    got = [m.container for m in c.call("containers/ListStream", ns=ns, filters=[])]
    eq(len(got), n, "count")
    eq(sorted(x.id for x in got), ["s-%03d" % i for i in range(n)], "ids")
    for x in got:
        eq(x.labels["i"], str(int(x.id[2:])), "labels of %s" % x.id)
        eq(x.runtime.name, RUNC, "runtime of %s" % x.id)
    got = [m.container.id for m in c.call("containers/ListStream", ns=ns, filters=["labels.even==true"])]
    eq(len(got), n // 2, "filtered count")
    eq(len(list(c.call("containers/ListStream", ns="stream-empty", filters=[]))), 0, "empty namespace")
    # a client that goes away in the middle of a stream
    it = c.call("containers/ListStream", ns=ns, filters=[])
    next(it)
    it.cancel()
    eq(len(c.call("containers/List", ns=ns).containers), n, "List after a cancelled stream")


def update(cid, mask, **container):
    m = ctr_msg(cid)
    m.update(container)
    kw = {"container": m}
    if mask is not None:
        kw["update_mask"] = {"paths": mask}
    return c.call("containers/Update", **kw).container


@h.test("containers: Update with mask labels.k sets/removes one label")
def _():
    orig = create_ctr("upd-1", labels={"keep": "1", "k": "old"})
    time.sleep(0.01)
    u = update("upd-1", ["labels.k"], labels={"k": "new", "ignored": "x"})
    eq(dict(u.labels), {"keep": "1", "k": "new"}, "labels after labels.k")
    eq(ts(u.created_at), ts(orig.created_at), "created_at kept")
    check(ts(u.updated_at) > ts(orig.updated_at), "updated_at did not advance: %r -> %r" % (orig.updated_at,
                                                                                            u.updated_at))
    u = update("upd-1", ["labels.new"], labels={"new": "v"})
    eq(dict(u.labels), {"keep": "1", "k": "new", "new": "v"}, "label added")
    u = update("upd-1", ["labels.k"], labels={})
    eq(dict(u.labels), {"keep": "1", "new": "v"}, "label removed by an empty value")
    eq(dict(c.call("containers/Get", id="upd-1").container.labels), {"keep": "1", "new": "v"}, "stored labels")
    u = update("upd-1", ["labels.dotted.key/x"], labels={"dotted.key/x": "y"})
    eq(u.labels["dotted.key/x"], "y", "label key with dots")


@h.test("containers: Update with masks labels, spec, image, extensions, extensions.k")
def _():
    create_ctr("upd-2", labels={"a": "1", "b": "2"}, image="img:1",
               extensions={"e1": anyv("t/1", b"1")})
    u = update("upd-2", ["labels"], labels={"c": "3"}, image="ignored")
    eq(dict(u.labels), {"c": "3"}, "labels replaced")
    eq(u.image, "img:1", "image untouched by a labels mask")
    u = update("upd-2", ["spec"], spec=spec(b'{"new":true}'), labels={"ignored": "1"})
    eq(u.spec.value, b'{"new":true}', "spec replaced")
    eq(dict(u.labels), {"c": "3"}, "labels untouched by a spec mask")
    u = update("upd-2", ["image"], image="img:2")
    eq(u.image, "img:2", "image")
    u = update("upd-2", ["extensions.e2"], extensions={"e2": anyv("t/2", b"2")})
    eq(sorted(u.extensions), ["e1", "e2"], "extension added")
    eq(u.extensions["e2"].value, b"2", "extension value")
    u = update("upd-2", ["extensions"], extensions={"e3": anyv("t/3", b"3")})
    eq(sorted(u.extensions), ["e3"], "extensions replaced")
    g = c.call("containers/Get", id="upd-2").container
    eq((g.image, dict(g.labels), sorted(g.extensions), g.spec.value), ("img:2", {"c": "3"}, ["e3"],
                                                                       b'{"new":true}'), "stored")


@h.test("containers: Update without a mask replaces labels/spec/image; runtime and snapshotter are immutable")
def _():
    orig = create_ctr("upd-3", labels={"a": "1"}, image="img:1", snapshotter="native", snapshot_key="k1")
    u = update("upd-3", None, labels={"z": "9"}, image="img:9", spec=spec(b"{}"), snapshotter="native",
               snapshot_key="k2")
    eq(dict(u.labels), {"z": "9"}, "labels")
    eq(u.image, "img:9", "image")
    eq(u.spec.value, b"{}", "spec")
    eq(u.snapshot_key, "k2", "snapshot_key")
    eq(ts(u.created_at), ts(orig.created_at), "created_at kept")
    expect_code(CODES.INVALID_ARGUMENT, update, "upd-3", None, runtime={"name": "io.containerd.other.v1"},
                snapshotter="native")
    expect_code(CODES.INVALID_ARGUMENT, update, "upd-3", None, snapshotter="overlayfs")
    eq(c.call("containers/Get", id="upd-3").container.runtime.name, RUNC, "runtime unchanged")


@h.test("containers: Update with an unknown mask path is INVALID_ARGUMENT")
def _():
    create_ctr("upd-4", labels={"a": "1"})
    for path in ("runtime", "id", "created_at", "nonsense"):
        try:
            expect_code(CODES.INVALID_ARGUMENT, update, "upd-4", [path], labels={"a": "2"})
        except Failure as e:
            raise Failure("mask %r: %s" % (path, e))
    expect_code(CODES.INVALID_ARGUMENT, update, "upd-4", ["labels.k"], labels={"k": "v" * 5000})
    eq(dict(c.call("containers/Get", id="upd-4").container.labels), {"a": "1"}, "unchanged")


@h.test("containers: Delete removes; a second Delete is NOT_FOUND")
def _():
    create_ctr("del-1")
    c.call("containers/Delete", id="del-1")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Get", id="del-1")
    expect_code(CODES.NOT_FOUND, c.call, "containers/Delete", id="del-1")
    create_ctr("del-1")   # the id can be used again


@h.test("containers: create/update/delete publish /containers/* events")
def _():
    with Subscription(c, filters=['topic~="^/containers/"']) as sub:
        sub.sync()
        create_ctr("ev-1", ns="evns", labels={"x": "y"}, image="img:ev")
        e = sub.wait_topic("/containers/create", ns="evns")
        ev = unpack_any(e.event, "containerd.events.ContainerCreate")
        eq((ev.id, ev.image, ev.runtime.name), ("ev-1", "img:ev", RUNC), "ContainerCreate")
        check(e.timestamp.seconds > 0, "no timestamp")
        c.call("containers/Update", ns="evns", container=ctr_msg("ev-1", labels={"x": "z"}),
               update_mask={"paths": ["labels"]})
        e = sub.wait_topic("/containers/update", ns="evns")
        ev = unpack_any(e.event, "containerd.events.ContainerUpdate")
        eq((ev.id, dict(ev.labels)), ("ev-1", {"x": "z"}), "ContainerUpdate")
        c.call("containers/Delete", ns="evns", id="ev-1")
        e = sub.wait_topic("/containers/delete", ns="evns")
        eq(unpack_any(e.event, "containerd.events.ContainerDelete").id, "ev-1", "ContainerDelete")


@h.test("containers: List and ListStream return containers sorted by id (as containerd's bolt buckets)")
def _():
    for cid in ("zeta", "alpha", "Mid", "beta-2", "beta-10", "0num"):
        create_ctr(cid, ns="order")
    want = sorted(["zeta", "alpha", "Mid", "beta-2", "beta-10", "0num"])
    eq([x.id for x in c.call("containers/List", ns="order").containers], want, "List order")
    eq([m.container.id for m in c.call("containers/ListStream", ns="order", filters=[])], want, "ListStream order")


@h.test("containers: created_at/updated_at sent by the client are ignored on Create")
def _():
    r = create_ctr("ts-1", ns="ts", created_at={"seconds": 1}, updated_at={"seconds": 2})
    check(r.created_at.seconds > 1000000000, "created_at taken from the client: %r" % r.created_at)
    g = c.call("containers/Get", ns="ts", id="ts-1").container
    eq(ts(g.created_at), ts(r.created_at), "stored created_at")


@h.test("events: Subscribe filter on event fields (event.id) as containerd's envelope adaptor")
def _():
    with Subscription(c, filters=['topic=="/containers/create",event.id==evf-2']) as sub:
        sub.sync()
        create_ctr("evf-1", ns="evf")
        create_ctr("evf-2", ns="evf")
        e = sub.wait_topic("/containers/create", timeout=3)
        eq(unpack_any(e.event, "containerd.events.ContainerCreate").id, "evf-2", "filtered event")
        time.sleep(0.3)
        eq(len(sub.received()), 1, "events through the filter")


@h.test("events: a subscriber gets events in publish order (500 events)")
def _():
    with Subscription(c, filters=['topic=="/order"']) as sub:
        sub.sync()
        for i in range(500):
            c.call("events/Publish", topic="/order", event=anyv("my.Seq", str(i).encode()))
        sub.wait_for(lambda e: e.event.value == b"499", timeout=10, what="the last event")
        eq([int(e.event.value) for e in sub.received()], list(range(500)), "order")


# --- images -------------------------------------------------------------------

@h.test("images: Create, Get, ALREADY_EXISTS, NOT_FOUND")
def _():
    r = c.call("images/Create", image=image_msg("docker.io/library/alpine:3", labels={"l": "1"},
                                                target={"media_type": MANIFEST, "digest": DIGEST, "size": 1234,
                                                        "annotations": {"ann": "v"}})).image
    eq(r.name, "docker.io/library/alpine:3", "name")
    check(r.created_at.seconds > 0, "created_at not set")
    g = c.call("images/Get", name="docker.io/library/alpine:3").image
    eq((g.name, dict(g.labels), g.target.media_type, g.target.digest, g.target.size, dict(g.target.annotations)),
       ("docker.io/library/alpine:3", {"l": "1"}, MANIFEST, DIGEST, 1234, {"ann": "v"}), "stored image")
    expect_code(CODES.ALREADY_EXISTS, c.call, "images/Create", image=image_msg("docker.io/library/alpine:3"))
    expect_code(CODES.NOT_FOUND, c.call, "images/Get", name="docker.io/library/nope:1")
    expect_code(CODES.NOT_FOUND, c.call, "images/Delete", name="docker.io/library/nope:1")
    expect_code(CODES.NOT_FOUND, c.call, "images/Update", image=image_msg("docker.io/library/nope:1"))


@h.test("images: invalid images are INVALID_ARGUMENT")
def _():
    for name, m in [
        ("empty name", image_msg("")),
        ("bad digest", image_msg("bad/1", target={"media_type": MANIFEST, "digest": "sha256:xyz", "size": 1})),
        ("no digest", image_msg("bad/2", target={"media_type": MANIFEST, "size": 1})),
        ("size 0", image_msg("bad/3", target={"media_type": MANIFEST, "digest": DIGEST, "size": 0})),
        ("no media type", image_msg("bad/4", target={"digest": DIGEST, "size": 1})),
        ("label too long", image_msg("bad/5", labels={"k": "v" * 4096})),
    ]:
        try:
            expect_code(CODES.INVALID_ARGUMENT, c.call, "images/Create", image=m)
        except Failure as e:
            raise Failure("%s: %s" % (name, e))


@h.test("images: List filters (name, name~=, labels, target.mediatype, target.digest)")
def _():
    ns = "imgfilters"
    for name, labels, mt, dg in [("docker.io/library/a:1", {"os": "linux"}, MANIFEST, DIGEST),
                                 ("docker.io/library/b:1", {"os": "windows"}, MANIFEST, DIGEST2),
                                 ("quay.io/c:1", {}, "application/vnd.oci.image.index.v1+json", DIGEST)]:
        c.call("images/Create", ns=ns, image=image_msg(name, labels=labels,
                                                        target={"media_type": mt, "digest": dg, "size": 10}))

    def names(filters):
        return sorted(i.name for i in c.call("images/List", ns=ns, filters=filters).images)
    eq(names([]), ["docker.io/library/a:1", "docker.io/library/b:1", "quay.io/c:1"], "all")
    eq(names(["name==quay.io/c:1"]), ["quay.io/c:1"], "name==")
    eq(names(["name~=^docker.io/"]), ["docker.io/library/a:1", "docker.io/library/b:1"], "name~=")
    eq(names(["labels.os==linux"]), ["docker.io/library/a:1"], "labels.os==")
    eq(names(["labels.os"]), ["docker.io/library/a:1", "docker.io/library/b:1"], "labels.os present")
    eq(names(["target.mediatype==application/vnd.oci.image.index.v1+json"]), ["quay.io/c:1"], "mediatype")
    eq(names(["target.digest==" + DIGEST2]), ["docker.io/library/b:1"], "digest")
    eq(names(["name==quay.io/c:1", "labels.os==windows"]), ["docker.io/library/b:1", "quay.io/c:1"], "OR")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "images/List", ns=ns, filters=["name~=("])


@h.test("images: Update masks labels.k, labels, target, annotations; bad path INVALID_ARGUMENT")
def _():
    name = "docker.io/library/upd:1"
    c.call("images/Create", image=image_msg(name, labels={"a": "1", "b": "2"}))
    u = c.call("images/Update", image=image_msg(name, labels={"a": "9", "x": "x"}),
               update_mask={"paths": ["labels.a"]}).image
    eq(dict(u.labels), {"a": "9", "b": "2"}, "labels.a")
    u = c.call("images/Update", image=image_msg(name, labels={"only": "1"}), update_mask={"paths": ["labels"]}).image
    eq(dict(u.labels), {"only": "1"}, "labels")
    u = c.call("images/Update", image=image_msg(name, target={"media_type": MANIFEST, "digest": DIGEST2,
                                                              "size": 99}),
               update_mask={"paths": ["target"]}).image
    eq((u.target.digest, u.target.size), (DIGEST2, 99), "target")
    eq(dict(u.labels), {"only": "1"}, "labels untouched by target")
    u = c.call("images/Update", image=image_msg(name, target={"media_type": MANIFEST, "digest": DIGEST2, "size": 99,
                                                              "annotations": {"k": "v"}}),
               update_mask={"paths": ["annotations"]}).image
    eq(dict(u.target.annotations), {"k": "v"}, "annotations")
    u = c.call("images/Update", image=image_msg(name, labels={"n": "1"}))   # no mask: replace
    g = c.call("images/Get", name=name).image
    eq((dict(g.labels), g.target.digest), ({"n": "1"}, DIGEST), "full replace")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "images/Update", image=image_msg(name),
                update_mask={"paths": ["name"]})
    expect_code(CODES.INVALID_ARGUMENT, c.call, "images/Update", image=image_msg(name),
                update_mask={"paths": ["nonsense"]})


@h.test("images: Delete removes; events /images/create, /images/update, /images/delete")
def _():
    name = "docker.io/library/ev:1"
    with Subscription(c, filters=['topic~="^/images/"']) as sub:
        sub.sync()
        c.call("images/Create", image=image_msg(name, labels={"a": "b"}))
        # containerd 1.x declares the image events in package containerd.services.images.v1
        ev = unpack_any(sub.wait_topic("/images/create", ns="default").event, "containerd.services.images.v1.ImageCreate")
        eq((ev.name, dict(ev.labels)), (name, {"a": "b"}), "ImageCreate")
        c.call("images/Update", image=image_msg(name, labels={"a": "c"}), update_mask={"paths": ["labels"]})
        ev = unpack_any(sub.wait_topic("/images/update", ns="default").event, "containerd.services.images.v1.ImageUpdate")
        eq((ev.name, dict(ev.labels)), (name, {"a": "c"}), "ImageUpdate")
        c.call("images/Delete", name=name)
        ev = unpack_any(sub.wait_topic("/images/delete", ns="default").event, "containerd.services.images.v1.ImageDelete")
        eq(ev.name, name, "ImageDelete")
    expect_code(CODES.NOT_FOUND, c.call, "images/Get", name=name)


# --- namespaces -----------------------------------------------------------------

@h.test("namespaces: Create, Get, List, ALREADY_EXISTS, NOT_FOUND, INVALID_ARGUMENT")
def _():
    r = c.call("namespaces/Create", ns=None, namespace={"name": "nsa", "labels": {"team": "x"}}).namespace
    eq((r.name, dict(r.labels)), ("nsa", {"team": "x"}), "created")
    g = c.call("namespaces/Get", ns=None, name="nsa").namespace
    eq((g.name, dict(g.labels)), ("nsa", {"team": "x"}), "Get")
    lst = {n.name: dict(n.labels) for n in c.call("namespaces/List", ns=None).namespaces}
    eq(lst.get("nsa"), {"team": "x"}, "List")
    expect_code(CODES.ALREADY_EXISTS, c.call, "namespaces/Create", ns=None, namespace={"name": "nsa"})
    # containerd 1.6 answers Get of a missing namespace with no labels (docs/metadata.md), and does not list it
    g = c.call("namespaces/Get", ns=None, name="no-such-ns").namespace
    eq((g.name, dict(g.labels)), ("no-such-ns", {}), "Get of a missing namespace")
    check("no-such-ns" not in [n.name for n in c.call("namespaces/List", ns=None).namespaces], "listed by a Get")
    expect_code(CODES.NOT_FOUND, c.call, "namespaces/Delete", ns=None, name="no-such-ns")
    for bad in ("", "bad name", "UPPER_", "a/b", "x" * 77):
        try:
            expect_code(CODES.INVALID_ARGUMENT, c.call, "namespaces/Create", ns=None, namespace={"name": bad})
        except Failure as e:
            raise Failure("name %r: %s" % (bad, e))
    expect_code(CODES.INVALID_ARGUMENT, c.call, "namespaces/Create", ns=None,
                namespace={"name": "nsbadlabel", "labels": {"k": "v" * 4096}})


@h.test("namespaces, images and leases are listed sorted by name/id")
def _():
    for n in ("ns-z", "ns-a", "ns-m"):
        c.call("namespaces/Create", ns=None, namespace={"name": n})
    names = [n.name for n in c.call("namespaces/List", ns=None).namespaces]
    eq(names, sorted(names), "namespaces order")
    for n in ("z/img:1", "a/img:1", "m/img:1"):
        c.call("images/Create", ns="sorted", image=image_msg(n))
    eq([i.name for i in c.call("images/List", ns="sorted").images], ["a/img:1", "m/img:1", "z/img:1"], "images order")
    for n in ("lz", "la", "lm"):
        c.call("leases/Create", ns="sorted", id=n)
    eq([x.id for x in c.call("leases/List", ns="sorted").leases], ["la", "lm", "lz"], "leases order")


@h.test("namespaces: Update with masks labels.k and labels; bad path INVALID_ARGUMENT")
def _():
    c.call("namespaces/Create", ns=None, namespace={"name": "nsupd", "labels": {"a": "1", "b": "2"}})
    u = c.call("namespaces/Update", ns=None, namespace={"name": "nsupd", "labels": {"a": "9", "z": "z"}},
               update_mask={"paths": ["labels.a"]}).namespace
    eq(dict(u.labels), {"a": "9", "b": "2"}, "labels.a")
    u = c.call("namespaces/Update", ns=None, namespace={"name": "nsupd", "labels": {}},
               update_mask={"paths": ["labels.b"]}).namespace
    eq(dict(u.labels), {"a": "9"}, "labels.b removed")
    u = c.call("namespaces/Update", ns=None, namespace={"name": "nsupd", "labels": {"n": "1"}},
               update_mask={"paths": ["labels"]}).namespace
    eq(dict(u.labels), {"n": "1"}, "labels replaced")
    eq(dict(c.call("namespaces/Get", ns=None, name="nsupd").namespace.labels), {"n": "1"}, "stored")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "namespaces/Update", ns=None, namespace={"name": "nsupd"},
                update_mask={"paths": ["name"]})
    # containerd 1.6: Update of a missing namespace creates it; the name is validated as in Create
    c.call("namespaces/Update", ns=None, namespace={"name": "nsnew", "labels": {"x": "1"}},
           update_mask={"paths": ["labels.x"]})
    eq(dict(c.call("namespaces/Get", ns=None, name="nsnew").namespace.labels), {"x": "1"}, "created by Update")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "namespaces/Update", ns=None, namespace={"name": "bad name"},
                update_mask={"paths": ["labels.x"]})
    # no mask: replace all labels
    u = c.call("namespaces/Update", ns=None, namespace={"name": "nsnew", "labels": {"y": "2"}})
    eq(dict(c.call("namespaces/Get", ns=None, name="nsnew").namespace.labels), {"y": "2"}, "no mask")


@h.test("namespaces: Delete of a namespace holding a container is FAILED_PRECONDITION naming it")
def _():
    c.call("namespaces/Create", ns=None, namespace={"name": "nsfull"})
    create_ctr("holder", ns="nsfull")
    e = expect_code(CODES.FAILED_PRECONDITION, c.call, "namespaces/Delete", ns=None, name="nsfull")
    contains(e.details(), "containers", "message")
    c.call("namespaces/Get", ns=None, name="nsfull")
    c.call("containers/Delete", ns="nsfull", id="holder")
    c.call("namespaces/Create", ns=None, namespace={"name": "nsimg"})
    c.call("images/Create", ns="nsimg", image=image_msg("x/y:1"))
    e = expect_code(CODES.FAILED_PRECONDITION, c.call, "namespaces/Delete", ns=None, name="nsimg")
    contains(e.details(), "images", "message")
    c.call("namespaces/Delete", ns=None, name="nsfull")
    check("nsfull" not in [n.name for n in c.call("namespaces/List", ns=None).namespaces], "still listed")
    expect_code(CODES.NOT_FOUND, c.call, "namespaces/Delete", ns=None, name="nsfull")
    # leases do not keep a namespace (containerd deletes them with it)
    c.call("leases/Create", ns="nslease", id="l")
    c.call("namespaces/Delete", ns=None, name="nslease")
    eq(len(c.call("leases/List", ns="nslease").leases), 0, "leases of a deleted namespace")


@h.test("namespaces: events /namespaces/create, /namespaces/update, /namespaces/delete")
def _():
    with Subscription(c, filters=['topic~="^/namespaces/"']) as sub:
        sub.sync()
        c.call("namespaces/Create", ns=None, namespace={"name": "nsev", "labels": {"a": "b"}})
        ev = unpack_any(sub.wait_topic("/namespaces/create").event, "containerd.events.NamespaceCreate")
        eq((ev.name, dict(ev.labels)), ("nsev", {"a": "b"}), "NamespaceCreate")
        c.call("namespaces/Update", ns=None, namespace={"name": "nsev", "labels": {"a": "c"}},
               update_mask={"paths": ["labels"]})
        ev = unpack_any(sub.wait_topic("/namespaces/update").event, "containerd.events.NamespaceUpdate")
        eq((ev.name, dict(ev.labels)), ("nsev", {"a": "c"}), "NamespaceUpdate")
        c.call("namespaces/Delete", ns=None, name="nsev")
        ev = unpack_any(sub.wait_topic("/namespaces/delete").event, "containerd.events.NamespaceDelete")
        eq(ev.name, "nsev", "NamespaceDelete")


# --- leases -----------------------------------------------------------------------

@h.test("leases: Create, List with filters, ALREADY_EXISTS, Delete, NOT_FOUND")
def _():
    ns = "leases1"
    r = c.call("leases/Create", ns=ns, id="lease-a", labels={"app": "x"}).lease
    eq((r.id, dict(r.labels)), ("lease-a", {"app": "x"}), "created")
    check(r.created_at.seconds > 0, "created_at not set")
    c.call("leases/Create", ns=ns, id="lease-b", labels={"app": "y"})
    expect_code(CODES.ALREADY_EXISTS, c.call, "leases/Create", ns=ns, id="lease-a")
    gen = c.call("leases/Create", ns="leases-gen", id="").lease.id
    check(gen != "", "an empty id got no generated id")

    def lids(filters):
        return sorted(x.id for x in c.call("leases/List", ns=ns, filters=filters).leases)
    eq(lids([]), ["lease-a", "lease-b"], "all")
    eq(lids(["id==lease-b"]), ["lease-b"], "id==")
    eq(lids(["labels.app==x"]), ["lease-a"], "labels.app==")
    eq(lids(['labels."app"~=^[xy]$']), ["lease-a", "lease-b"], "quoted label regexp")
    eq(sorted(x.id for x in c.call("leases/List", ns="leases-other").leases), [], "other namespace")
    c.call("leases/Delete", ns=ns, id="lease-a")
    eq(lids([]), ["lease-b"], "after delete")
    expect_code(CODES.NOT_FOUND, c.call, "leases/Delete", ns=ns, id="lease-a")


@h.test("leases: AddResource, ListResources, DeleteResource")
def _():
    ns = "leases2"
    c.call("leases/Create", ns=ns, id="res")
    c.call("leases/AddResource", ns=ns, id="res", resource={"id": DIGEST, "type": "content"})
    c.call("leases/AddResource", ns=ns, id="res", resource={"id": "snap-key-1", "type": "snapshots/overlayfs"})
    c.call("leases/AddResource", ns=ns, id="res", resource={"id": "ingest-ref", "type": "ingests"})
    c.call("leases/AddResource", ns=ns, id="res", resource={"id": DIGEST, "type": "content"})   # idempotent
    got = sorted((r.type, r.id) for r in c.call("leases/ListResources", ns=ns, id="res").resources)
    eq(got, [("content", DIGEST), ("ingests", "ingest-ref"), ("snapshots/overlayfs", "snap-key-1")], "resources")
    c.call("leases/DeleteResource", ns=ns, id="res", resource={"id": "snap-key-1", "type": "snapshots/overlayfs"})
    got = sorted((r.type, r.id) for r in c.call("leases/ListResources", ns=ns, id="res").resources)
    eq(got, [("content", DIGEST), ("ingests", "ingest-ref")], "after DeleteResource")
    expect_code(CODES.NOT_FOUND, c.call, "leases/AddResource", ns=ns, id="no-lease",
                resource={"id": DIGEST, "type": "content"})
    expect_code(CODES.NOT_FOUND, c.call, "leases/ListResources", ns=ns, id="no-lease")
    expect_code(CODES.NOT_FOUND, c.call, "leases/DeleteResource", ns=ns, id="no-lease",
                resource={"id": DIGEST, "type": "content"})
    expect_code(CODES.INVALID_ARGUMENT, c.call, "leases/AddResource", ns=ns, id="res",
                resource={"id": "not-a-digest", "type": "content"})
    expect_code(CODES.INVALID_ARGUMENT, c.call, "leases/AddResource", ns=ns, id="res",
                resource={"id": "k", "type": "snapshots"})
    expect_code(CODES.INVALID_ARGUMENT, c.call, "leases/AddResource", ns=ns, id="res",
                resource={"id": DIGEST, "type": "content/x"})


@h.test("leases: AddResource of an unknown resource type is UNIMPLEMENTED (as containerd)")
def _():
    ns = "leases3"
    c.call("leases/Create", ns=ns, id="res")
    expect_code(CODES.UNIMPLEMENTED, c.call, "leases/AddResource", ns=ns, id="res",
                resource={"id": "x", "type": "containers"})


@h.test("leases: a lease whose containerd.io/gc.expire passed disappears")
def _():
    ns = "leases4"
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    c.call("leases/Create", ns=ns, id="short", labels={"containerd.io/gc.expire": exp})
    c.call("leases/Create", ns=ns, id="long", labels={"containerd.io/gc.expire": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))})
    eq(sorted(x.id for x in c.call("leases/List", ns=ns).leases), ["long", "short"], "both at first")
    wait_until(lambda: [x.id for x in c.call("leases/List", ns=ns).leases] == ["long"], timeout=20,
               what="the expired lease to disappear")


# --- events -------------------------------------------------------------------------

@h.test("events: Publish with a topic reaches a topic== subscriber with namespace and payload")
def _():
    with Subscription(c, filters=['topic=="/x"']) as sub:
        sub.sync()
        ev = c.msg("google.protobuf.Any", type_url="my.Event", value=b"\x00payload\xff")
        c.call("events/Publish", ns="pubns", topic="/x", event=ev)
        c.call("events/Publish", ns="pubns", topic="/y", event=ev)
        e = sub.wait_topic("/x")
        eq((e.namespace, e.topic, e.event.type_url, e.event.value), ("pubns", "/x", "my.Event", b"\x00payload\xff"),
           "envelope")
        check(abs(e.timestamp.seconds - time.time()) < 60, "timestamp %r" % e.timestamp)
        time.sleep(0.3)
        eq([x.topic for x in sub.received()], ["/x"], "only /x passes the filter")


@h.test("events: Subscribe with namespace==ns sees only that namespace")
def _():
    with Subscription(c, filters=["namespace==ns1"]) as sub:
        sub.sync()
        ev = c.msg("google.protobuf.Any", type_url="my.Event", value=b"1")
        c.call("events/Publish", ns="ns2", topic="/a/b", event=ev)
        c.call("events/Publish", ns="ns1", topic="/a/c", event=ev)
        sub.wait_topic("/a/c", ns="ns1")
        time.sleep(0.3)
        eq([(x.namespace, x.topic) for x in sub.received()], [("ns1", "/a/c")], "received")


@h.test("events: Subscribe without filters sees everything; two filters are OR'ed")
def _():
    ev = c.msg("google.protobuf.Any", type_url="my.Event", value=b"1")
    with Subscription(c) as allsub, Subscription(c, filters=['topic=="/or/a"', "namespace==orns"]) as orsub:
        allsub.sync()
        orsub.sync()
        c.call("events/Publish", ns="default", topic="/or/a", event=ev)
        c.call("events/Publish", ns="orns", topic="/or/b", event=ev)
        c.call("events/Publish", ns="default", topic="/or/c", event=ev)
        allsub.wait_topic("/or/c")
        orsub.wait_topic("/or/b")
        time.sleep(0.3)
        eq(sorted(x.topic for x in allsub.received() if x.topic.startswith("/or/")), ["/or/a", "/or/b", "/or/c"],
           "unfiltered")
        eq(sorted(x.topic for x in orsub.received()), ["/or/a", "/or/b"], "OR")


@h.test("events: invalid topics are INVALID_ARGUMENT")
def _():
    ev = c.msg("google.protobuf.Any", type_url="my.Event", value=b"1")
    for bad in ("", "x", "/", "//", "/a//b", "/a/", "/bad topic", "/-x", "x/y"):
        try:
            expect_code(CODES.INVALID_ARGUMENT, c.call, "events/Publish", topic=bad, event=ev)
        except Failure as e:
            raise Failure("topic %r: %s" % (bad, e))
    expect_code(CODES.INVALID_ARGUMENT, c.call, "events/Subscribe", ns=None, filters=["topic=="], timeout=5)


@h.test("events: Forward keeps the envelope's namespace and timestamp")
def _():
    with Subscription(c, filters=['topic=="/fwd"']) as sub:
        sub.sync()
        env = {"timestamp": {"seconds": 1000000000, "nanos": 5}, "namespace": "fwdns", "topic": "/fwd",
               "event": {"type_url": "my.Fwd", "value": b"f"}}
        c.call("events/Forward", ns=None, envelope=env)
        e = sub.wait_topic("/fwd")
        eq((e.namespace, e.timestamp.seconds, e.timestamp.nanos, e.event.type_url), ("fwdns", 1000000000, 5, "my.Fwd"),
           "forwarded envelope")
    expect_code(CODES.INVALID_ARGUMENT, c.call, "events/Forward", ns=None,
                envelope={"namespace": "fwdns", "topic": "bad", "event": {"type_url": "a"}})


@h.test("events: a Subscribe with a 300 ms deadline ends with DEADLINE_EXCEEDED")
def _():
    t0 = time.monotonic()
    it = c.call("events/Subscribe", ns=None, filters=['topic=="/never"'], timeout=0.3)
    expect_code(CODES.DEADLINE_EXCEEDED, lambda: list(it))
    el = time.monotonic() - t0
    check(el < 5, "took %.1fs" % el)
    c.version()


@h.test("events: subscribers that go away are dropped; publishing still works")
def _():
    subs = [Subscription(c) for _ in range(20)]
    for s in subs:
        s.sync()
    for s in subs:
        s.close()
    ev = c.msg("google.protobuf.Any", type_url="my.Event", value=b"x" * 1000)
    for i in range(200):
        c.call("events/Publish", topic="/after/close", event=ev)
    with Subscription(c, filters=['topic=="/after/close2"']) as sub:
        sub.sync()
        c.call("events/Publish", topic="/after/close2", event=ev)
        sub.wait_topic("/after/close2")


# --- many clients -------------------------------------------------------------------------

@h.test("50 channels x 20 calls in threads all succeed")
def _():
    errors = []
    counts = [0] * 50

    def worker(i):
        try:
            with d.client() as cl:
                for j in range(20):
                    k = j % 4
                    if k == 0:
                        cl.version()
                    elif k == 1:
                        cl.call("containers/Create", ns="conc", container=ctr_msg("c-%d-%d" % (i, j)))
                    elif k == 2:
                        cl.call("containers/Get", ns="conc", id="c-%d-%d" % (i, j - 1))
                    else:
                        cl.call("namespaces/List", ns=None)
                    counts[i] += 1
        except Exception as e:   # noqa: BLE001
            errors.append("worker %d: %r" % (i, e))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not errors, "%d workers failed, first: %s" % (len(errors), errors[:3]))
    eq(sum(counts), 1000, "calls done")
    eq(len(c.call("containers/List", ns="conc").containers), 250, "containers created")


@h.test("labels: unicode, odd characters and empty values (dropped, as containerd) round-trip")
def _():
    labels = {"ключ": "значение", "a=b": "c,d", "sp ace": "v v", "quote\"d": "x'y", "emoji": "\U0001F433",
              "containerd.io/gc.ref.content.0": "sha256:" + "0" * 64, "empty": ""}
    want = {k: v for k, v in labels.items() if v != ""}
    r = create_ctr("lbl-1", ns="labels", labels=labels)
    eq(dict(r.labels), want, "Create response labels")
    eq(dict(c.call("containers/Get", ns="labels", id="lbl-1").container.labels), want, "stored labels")
    eq(list_ids(['labels."ключ"==значение'], ns="labels"), ["lbl-1"], "unicode filter")
    eq(list_ids(['labels."a=b"=="c,d"'], ns="labels"), ["lbl-1"], "quoted filter value")
    eq(list_ids(["labels.empty"], ns="labels"), [], "an empty label is not stored")
    c.call("namespaces/Create", ns=None, namespace={"name": "lblns", "labels": labels})
    eq(dict(c.call("namespaces/Get", ns=None, name="lblns").namespace.labels), want, "namespace labels")
    r = c.call("leases/Create", ns="labels", id="lbl-lease", labels=labels).lease
    eq(dict(r.labels), want, "lease labels")


@h.test("a big List / ListStream (2000 containers with 4 KiB of labels, ~8 MB)")
def _():
    ns = "bulk"
    for i in range(2000):
        create_ctr("b-%04d" % i, ns=ns, labels={"pad": "p" * 4000, "i": str(i)})
    t0 = time.monotonic()
    got = [m.container for m in c.call("containers/ListStream", ns=ns, filters=[], timeout=60)]
    eq(len(got), 2000, "ListStream count")
    check(all(len(x.labels["pad"]) == 4000 for x in got), "ListStream labels")
    r = c.call("containers/List", ns=ns, timeout=60)
    eq(len(r.containers), 2000, "List count")
    check(time.monotonic() - t0 < 60, "slow")
    # a deadline that fires in the middle of the stream
    it = c.call("containers/ListStream", ns=ns, filters=[], timeout=0.05)
    try:
        n = sum(1 for _ in it)
        eq(n, 2000, "a stream that beat its deadline is complete")
    except grpc.RpcError as e:
        eq(e.code(), CODES.DEADLINE_EXCEEDED, "code")
    # cancelled after the first message
    for _ in range(5):
        it = c.call("containers/ListStream", ns=ns, filters=[], timeout=30)
        next(it)
        it.cancel()
    c.version()


@h.test("events: Forward with an invalid envelope namespace is INVALID_ARGUMENT")
def _():
    for ns in ("", "bad ns", "-x"):
        expect_code(CODES.INVALID_ARGUMENT, c.call, "events/Forward", ns=None,
                    envelope={"namespace": ns, "topic": "/a", "event": {"type_url": "a"}})


# --- restart and limits (own daemons) --------------------------------------------------------

@h.test("data survives a restart: containers, images, namespaces, leases, UUID")
def _():
    r = h.daemon("restart")
    r.start()
    with r.client() as rc:
        uuid = rc.call("introspection/Server", ns=None).uuid
        rc.call("namespaces/Create", ns=None, namespace={"name": "keep", "labels": {"k": "v"}})
        created = create_ctr("keep-ctr", ns="keep", client=rc, labels={"a": "b"}, image="img:keep",
                             extensions={"e": anyv("t/e", b"e")})
        rc.call("images/Create", ns="keep", image=image_msg("docker.io/library/keep:1", labels={"i": "1"}))
        rc.call("leases/Create", ns="keep", id="keep-lease", labels={"l": "1"})
        rc.call("leases/AddResource", ns="keep", id="keep-lease", resource={"id": DIGEST, "type": "content"})
    r.stop()
    r.start()
    with r.client() as rc:
        eq(rc.call("introspection/Server", ns=None).uuid, uuid, "uuid after restart")
        eq(dict(rc.call("namespaces/Get", ns=None, name="keep").namespace.labels), {"k": "v"}, "namespace labels")
        g = rc.call("containers/Get", ns="keep", id="keep-ctr").container
        eq((dict(g.labels), g.image, g.runtime.name, g.spec.value, sorted(g.extensions)),
           ({"a": "b"}, "img:keep", RUNC, b'{"ociVersion":"1.0.2"}', ["e"]), "container")
        eq(ts(g.created_at), ts(created.created_at), "created_at")
        i = rc.call("images/Get", ns="keep", name="docker.io/library/keep:1").image
        eq((dict(i.labels), i.target.digest, i.target.size), ({"i": "1"}, DIGEST, 1234), "image")
        ls = rc.call("leases/List", ns="keep").leases
        eq([(x.id, dict(x.labels)) for x in ls], [("keep-lease", {"l": "1"})], "leases")
        eq([(x.type, x.id) for x in rc.call("leases/ListResources", ns="keep", id="keep-lease").resources],
           [("content", DIGEST)], "lease resources")
    r.stop()


@h.test("data survives SIGKILL: what was acknowledged is there after a restart; the stale socket is replaced")
def _():
    r = h.daemon("crash")
    r.start()
    with r.client() as rc:
        uuid = rc.call("introspection/Server", ns=None).uuid
        for i in range(50):
            create_ctr("k-%d" % i, ns="crash", client=rc, labels={"i": str(i)})
        rc.call("containers/Update", ns="crash", container=ctr_msg("k-7", labels={"i": "updated"}),
                update_mask={"paths": ["labels.i"]})
        rc.call("containers/Delete", ns="crash", id="k-9")
        rc.call("namespaces/Create", ns=None, namespace={"name": "crashns", "labels": {"a": "b"}})
        rc.call("leases/Create", ns="crash", id="crash-lease")
    r.kill9()
    check(os.path.exists(r.sock), "setup: SIGKILL left no socket file")
    r.start()
    with r.client() as rc:
        eq(rc.call("introspection/Server", ns=None).uuid, uuid, "uuid")
        got = {x.id: x.labels["i"] for x in rc.call("containers/List", ns="crash").containers}
        eq(len(got), 49, "containers after the crash")
        eq(got.get("k-7"), "updated", "the update")
        check("k-9" not in got, "the delete was lost")
        eq(dict(rc.call("namespaces/Get", ns=None, name="crashns").namespace.labels), {"a": "b"}, "namespace")
        eq([x.id for x in rc.call("leases/List", ns="crash").leases], ["crash-lease"], "lease")
    r.stop()


def leases_in_db(d, ns):
    """The ids of namespace ns's leases in a stopped daemon's database: List
    would delete the expired ones itself (docs/metadata.md: table leases)."""
    db = os.path.join(d.root, "io.containerd.metadata.v1.sqlite", "meta.db")
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return sorted(x[0] for x in con.execute("SELECT id FROM leases WHERE namespace = ?", (ns,)))
    finally:
        con.close()


@h.test("a lease expiry still happens after a restart")
def _():
    r = h.daemon("expiry")
    r.start()
    with r.client() as rc:
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
        rc.call("leases/Create", ns="exp", id="soon", labels={"containerd.io/gc.expire": exp})
        rc.call("leases/Create", ns="exp", id="never")
    r.stop()
    r.start()
    with r.client() as rc:
        eq(sorted(x.id for x in rc.call("leases/List", ns="exp").leases), ["never", "soon"], "after restart")
    # Leases.List cleans its namespace itself: to see that the expiry timer was armed again at start-up,
    # make no call, stop the daemon and look into its database (docs/metadata.md: table leases)
    time.sleep(6)
    r.stop()
    eq(leases_in_db(r, "exp"), ["never"], "leases in the database 6 s after the expiry, with no call made")


@h.test("a lease whose gc.expire lies before 1677 is deleted by the timer at once")
def _():
    # md_parse_rfc3339 stores such a date as INT64_MIN; the timer's delay
    # was INT64_MIN - now, an overflow that armed it for centuries instead
    # (found by fuzz_grpc_conn)
    r = h.daemon("ancient")
    r.start()
    with r.client() as rc:
        rc.call("leases/Create", ns="anc", id="ancient", labels={"containerd.io/gc.expire": "0370-12-07T14:26:14Z"})
        rc.call("leases/Create", ns="anc", id="never")
    time.sleep(1.5)
    r.stop()
    eq(leases_in_db(r, "anc"), ["never"], "leases in the database 1.5 s after creating one that expired in 370")


@h.test("max_recv_message_size: a bigger request is RESOURCE_EXHAUSTED; the daemon still serves")
def _():
    m = h.daemon("maxmsg")
    m.start(extra="[grpc]\n  max_recv_message_size = 4096\n  max_send_message_size = 8192\n")
    with m.client() as mc:
        create_ctr("small", client=mc, labels={"k": "v" * 100})
        e = expect_code(CODES.RESOURCE_EXHAUSTED, create_ctr, "big", client=mc, labels={"k": "v" * 4000,
                                                                                      "k2": "v" * 1000})
        contains(e.details(), "larger than max", "message")
        mc.version()
        expect_code(CODES.NOT_FOUND, mc.call, "containers/Get", id="big")
        # the answer to List would exceed max_send_message_size
        for i in range(5):
            create_ctr("fill-%d" % i, client=mc, labels={"k": "v" * 2000})
        e = expect_code(CODES.RESOURCE_EXHAUSTED, mc.call, "containers/List")
        contains(e.details(), "larger than max", "message")
        mc.version()
        eq(mc.call("containers/Get", id="small").container.labels["k"], "v" * 100, "small container")
    with m.client() as mc2:
        mc2.version()
    m.stop()


# --- calls that wait behind a garbage collection -------------------------------------------------------------
#
# Requests that create backend objects (Diff.Diff, Snapshots.Prepare/View/Commit, the COMMIT of a Content.Write)
# wait for a collection in progress (core/gc/gc.h). A client that gives up meanwhile must not leave the waiting
# request pointing at its freed call: under ASan such a write is a use-after-free report. The collection is made
# slow with the fake snapshotter (tests/fixtures/plugins/fake_snapshotter.c), whose removal of a key containing
# "@slow" sleeps 300 ms: the collector removes every unreferenced snapshot, one after the other.

DIFF_SVC = "/containerd.services.diff.v1.Diff/"
VERSION_PATH = "/containerd.services.version.v1.Version/Version"
CONTENT_SVC = "/containerd.services.content.v1.Content/"


def slow_gc_daemon():
    return slowgc_util.slow_gc_daemon(h)


@h.test("Diff.Diff whose deadline passes while it waits behind a collection: no use of the freed call")
def _():
    g = slow_gc_daemon()
    left, right = (os.path.join(g.dir, x) for x in ("left", "right"))
    for x in (left, right):
        os.mkdir(x)
    with open(os.path.join(right, "f"), "w") as f:
        f.write("new file\n")
    bind = lambda src: {"type": "bind", "source": src, "options": ["rbind", "ro"]}   # noqa: E731
    sc = SlowCollection(g)
    with g.client() as gc_:
        t0 = time.monotonic()
        expect_code(CODES.DEADLINE_EXCEEDED, gc_.call, DIFF_SVC + "Diff", ns="slowgc", left=[bind(left)],
                    right=[bind(right)], timeout=0.3)
        waited = time.monotonic() - t0
    took = sc.wait()
    check(took > 1.5, "the collection took %.1f s: too short to have held the Diff back" % took)
    check(waited < took, "the Diff's deadline (%.1f s) did not pass during the collection (%.1f s)" % (waited, took))
    # the job the collection held back has run (or been dropped) by now; the daemon is intact
    with g.client() as gc_:
        gc_.version()
        r = gc_.call(DIFF_SVC + "Diff", ns="slowgc", left=[bind(left)], right=[bind(right)], timeout=30).diff
        check(r.digest.startswith("sha256:"), "a Diff after the collection: %r" % r)
    g.stop()   # fails on a sanitizer report in its stderr


@h.test("rapid reset: calls reset while their work waits keep their slot; with 256 of them a connection's next "
        "stream is REFUSED_STREAM until the work is over")
def _():
    g = slow_gc_daemon()
    left, right = (os.path.join(g.dir, x) for x in ("left", "right"))
    for x in (left, right):
        os.mkdir(x)
    bind = [{"type": "bind", "source": left, "options": ["rbind", "ro"]}]
    body = P.new("containerd.services.diff.v1.DiffRequest", left=bind, right=bind).SerializeToString()
    sc = SlowCollection(g)
    x = rawh2.Conn(g.sock)
    try:
        x.handshake()
        x.pump(lambda: rawh2.MAX_CONCURRENT_STREAMS in x.server_settings, timeout=5)
        out = b""
        for _ in range(256):   # each Diff waits for the collection, its client gone at once
            sid = x.new_stream_id()
            out += x.headers_frame(sid, rawh2.Conn.grpc_request_headers(DIFF_SVC + "Diff", ns="slowgc")) + \
                rawh2.frame(rawh2.DATA, rawh2.END_STREAM, sid, rawh2.grpc_message(body)) + rawh2.rst_stream(sid)
        x.send(out)
        x.pump(lambda: False, timeout=0.5)
        st = x.wait_stream(x.call(VERSION_PATH, b""), timeout=5)
        check(sc.running(), "the collection was over before the check")
        eq(st.rst, rawh2.REFUSED_STREAM, "the 257th live call of the connection (%r)" % st)
        with g.client() as other:   # other connections are not affected
            other.version(timeout=5)
        sc.wait()

        def served():
            st = x.wait_stream(x.call(VERSION_PATH, b""), timeout=5)
            return st.rst is None and len(st.messages()) == 1
        wait_until(served, timeout=20, what="the connection's calls once the reset ones' work ended")
    finally:
        x.close()
    contains(g.stderr(), "refusing a stream", "the daemon's log")
    g.stop()


@h.test("Snapshots.Prepare and Content.Write's COMMIT cancelled while they wait behind a collection")
def _():
    g = slow_gc_daemon()
    sc = SlowCollection(g)
    with g.client() as gc_:
        expect_code(CODES.DEADLINE_EXCEEDED, gc_.call, SNAP_SVC + "Prepare", ns="slowgc", snapshotter="native",
                    key="waits", timeout=0.3)
        data = b"blob waiting for the collector\n"
        reqs = [gc_.request(CONTENT_SVC + "Write", action=1, ref="waits", total=len(data), offset=0, data=data),
                gc_.request(CONTENT_SVC + "Write", action=2, ref="waits", total=len(data), offset=len(data))]
        calls = gc_.call(CONTENT_SVC + "Write", request=iter(reqs), ns="slowgc", timeout=0.3)
        expect_code(CODES.DEADLINE_EXCEEDED, list, calls)
    sc.wait()
    with g.client() as gc_:
        gc_.version()
        # the Prepare was recorded or not, consistently; a new one of the same key works or says it exists
        try:
            gc_.call(SNAP_SVC + "Prepare", ns="slowgc", snapshotter="native", key="waits", timeout=30)
        except grpc.RpcError as e:
            eq(e.code(), CODES.ALREADY_EXISTS, "Prepare after the collection")
    g.stop()


# --- the sockets at start-up -------------------------------------------------------------------------------

IN_ATTRIB, IN_MOVED_TO, IN_CREATE = 0x4, 0x80, 0x100
POLLER = r"""
import json, os, sys, time
paths, stop = sys.argv[1:-1], sys.argv[-1]
seen = {p: [] for p in paths}
end = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < end:
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        v = [st.st_mode, st.st_uid, st.st_gid]
        if v not in seen[p]:
            seen[p].append(v)
print(json.dumps(seen))
"""


def inotify_events(fd):
    """(name, mask) of every event queued on a non-blocking inotify fd."""
    out = []
    while True:
        try:
            buf = os.read(fd, 65536)
        except BlockingIOError:
            return out
        i = 0
        while i + 16 <= len(buf):
            _, mask, _, n = struct.unpack("iIII", buf[i:i + 16])
            out.append((buf[i + 16:i + 16 + n].rstrip(b"\0").decode(), mask))
            i += 16 + n


@h.test("the gRPC and ttrpc sockets appear with their final mode and owner (renamed into place), seen as nobody")
def _():
    if os.geteuid() != 0:
        raise Skip("needs root to chown the sockets")
    g = h.daemon("sockets")
    # nobody must reach the socket's directory, or polling as nobody proves nothing
    os.chmod(h.tmp, 0o711)
    os.chmod(g.dir, 0o711)
    ttrpc = g.sock + ".ttrpc"
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    check(fd >= 0, "inotify_init1: errno %d" % ctypes.get_errno())
    try:
        check(libc.inotify_add_watch(fd, g.dir.encode(), IN_ATTRIB | IN_MOVED_TO | IN_CREATE) >= 0, "inotify watch")
        stop = os.path.join(g.dir, "stop-polling")
        poller = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                                   "-c", POLLER, g.sock, ttrpc, stop], stdout=subprocess.PIPE)
        try:
            g.start(extra="[grpc]\n  gid = 65534\n[ttrpc]\n  gid = 65534\n")
            wait_until(lambda: os.path.exists(ttrpc), what="the ttrpc socket")
        finally:
            open(stop, "w").close()
            out, _ = poller.communicate(timeout=30)
        events = inotify_events(fd)
    finally:
        os.close(fd)
    seen = json.loads(out)
    for path in (g.sock, ttrpc):
        name = os.path.basename(path)
        masks = [m for n, m in events if n == name]
        eq(masks, [IN_MOVED_TO], "inotify events of %s (IN_CREATE 0x100 = bound at its path, IN_ATTRIB 0x4 = "
                                 "chmod/chown after it appeared)" % name)
        eq(seen[path], [[0o140660, 0, 65534]], "what nobody saw of %s" % name)
    g.stop()


@h.test("nothing in the daemon's process calls umask (process-wide: a pool thread's files would race it)")
def _():
    built = os.path.join(h.build_dir, "lib", "ucontainerd")
    objs = [h.daemon_bin] + [os.path.join(dp, f) for dp, _, fs in os.walk(built) for f in fs if f.endswith(".so")]
    check(len(objs) > 2, "no plugins found under %s" % built)
    for o in objs:
        r = subprocess.run(["nm", "-D", "--undefined-only", o], capture_output=True, text=True)
        eq(r.returncode, 0, "nm %s: %s" % (o, r.stderr))
        check(not any(ln.split()[-1].startswith("umask@") for ln in r.stdout.splitlines() if ln.strip()),
              "%s imports umask" % o)


h.finish()
