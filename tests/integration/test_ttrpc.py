#!/usr/bin/python3
"""The daemon's ttrpc socket (`<address>.ttrpc`), where shims publish task
events (containerd.services.events.ttrpc.v1.Events/Forward), and the
`publish` command shims may run instead: an event gets to `ctr events`;
hostile input (garbage, a 4 GiB length, an unknown method, an invalid
envelope, a broken topic) gets an answer or a closed connection while the
daemon keeps serving both sockets."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Harness, check, contains, eq, timestamp_now  # noqa: E402
from ttrpc_client import REQUEST, TtrpcClient  # noqa: E402
from events_util import CtrEvents  # noqa: E402

h = Harness("ttrpc")
d = h.daemon("main")
d.start()
P = h.protos
TSOCK = d.sock + ".ttrpc"
EV = "containerd.services.events.ttrpc.v1.Events"


def task_oom(cid):
    ev = P.new("containerd.events.TaskOOM", container_id=cid)
    return P.new("google.protobuf.Any", type_url="containerd.events.TaskOOM", value=ev.SerializeToString())


def forward_req(ns, topic, any_msg):
    env = P.new("containerd.services.events.ttrpc.v1.Envelope", namespace=ns, topic=topic,
                timestamp=timestamp_now(P), event=any_msg)
    return P.new("containerd.services.events.ttrpc.v1.ForwardRequest", envelope=env)


def events_seen(action):
    """Runs action while `ctr events` listens; returns what it printed."""
    ev = CtrEvents(d)
    try:
        action()
        time.sleep(0.3)
    finally:
        out = ev.output()
    return out


def still_serving():
    with d.client() as c:
        c.version()
    with TtrpcClient(P, TSOCK) as t:
        code, msg, _ = t.call(EV, "Forward", forward_req("default", "/tasks/oom", task_oom("alive")), ns="default")
        eq(code, 0, "Forward after the bad input (%s)" % msg)


@h.test("the ttrpc socket exists next to the gRPC socket, mode 0660")
def _():
    st = os.stat(TSOCK)
    eq(oct(st.st_mode & 0o777), oct(0o660), "mode")


@h.test("Forward: the event reaches ctr events with its namespace, topic and payload")
def _():
    def act():
        with TtrpcClient(P, TSOCK) as t:
            code, msg, _ = t.call(EV, "Forward", forward_req("default", "/tasks/oom", task_oom("c-ttrpc")),
                                  ns="default")
            eq(code, 0, "Forward (%s)" % msg)
    out = events_seen(act)
    contains(out, "/tasks/oom")
    contains(out, "c-ttrpc")


@h.test("publish: the shim-facing command forwards an event from stdin")
def _():
    def act():
        r = subprocess.run([h.daemon_bin, "--address", d.sock, "publish", "--namespace", "default", "--topic",
                            "/tasks/oom"], input=task_oom("c-publish").SerializeToString(), capture_output=True,
                           timeout=20)
        eq(r.returncode, 0, "publish exit (%r)" % r.stderr)
    out = events_seen(act)
    contains(out, "c-publish")


@h.test("publish: no topic, a bad topic, a bad namespace, stdin that is not an Any, no daemon")
def _():
    def pub(*args, stdin=b"", address=d.sock):
        return subprocess.run([h.daemon_bin, "--address", address, "publish"] + list(args), input=stdin,
                              capture_output=True, timeout=20)
    good = task_oom("x").SerializeToString()
    r = pub("--namespace", "default", stdin=good)
    check(r.returncode != 0 and b"topic required" in r.stderr, r.stderr)
    r = pub("--namespace", "default", "--topic", "no-slash", stdin=good)
    check(r.returncode != 0, r.stderr)
    r = pub("--namespace", "bad ns!", "--topic", "/tasks/oom", stdin=good)
    check(r.returncode != 0, r.stderr)
    r = pub("--namespace", "default", "--topic", "/tasks/oom", stdin=b"\xff\xff\xff garbage")
    check(r.returncode != 0 and b"not a google.protobuf.Any" in r.stderr, r.stderr)
    r = pub("--namespace", "default", "--topic", "/tasks/oom", stdin=good,
            address=os.path.join(d.dir, "nothing.sock"))
    check(r.returncode != 0 and b"failed to dial" in r.stderr, r.stderr)
    still_serving()


@h.test("hostile ttrpc input: unknown method, invalid payload, empty envelope, bad topic and namespace")
def _():
    with TtrpcClient(P, TSOCK) as t:
        code, msg, _ = t.call(EV, "Nope", ns="default")
        eq(code, 12, "unknown method")
        contains(msg, "unimplemented")
        code, msg, _ = t.call("no.Such", "Forward", ns="default")
        eq(code, 12, "unknown service")
        stream, data = t.request_bytes(EV, "Forward", b"\xff\xff\xff\xff", ns="default")
        t.send_raw(data)
        r = t.response(stream)
        eq(r.status.code, 3, "undecodable ForwardRequest")
        code, msg, _ = t.call(EV, "Forward", P.new("containerd.services.events.ttrpc.v1.ForwardRequest"))
        eq(code, 3, "empty envelope")
        code, msg, _ = t.call(EV, "Forward", forward_req("default", "bad topic", task_oom("x")))
        eq(code, 3, "bad topic")
        code, msg, _ = t.call(EV, "Forward", forward_req("bad ns!", "/tasks/oom", task_oom("x")))
        eq(code, 3, "bad namespace")
    still_serving()


@h.test("hostile ttrpc frames: 4 GiB length, a response sent to the server, garbage, a half frame")
def _():
    with TtrpcClient(P, TSOCK) as t:
        # over 4 MiB: answered RESOURCE_EXHAUSTED on its stream, the body skipped unbuffered
        t.send_raw(TtrpcClient.frame(1, REQUEST, b"", length=0xFFFFFFFF))
        r = t.response(1)
        eq(r.status.code, 8, "oversized")
        contains(r.status.message, "exceed maximum message size")
    with TtrpcClient(P, TSOCK) as t:
        t.send_raw(TtrpcClient.frame(1, 2, b"abc"))    # a response: the client is broken, hang up
        eq(t.read_frame(), None, "connection closed")
    with TtrpcClient(P, TSOCK) as t:
        t.send_raw(os.urandom(4096))
        t.sock.settimeout(1)
        try:
            while t.read_frame() is not None:
                pass
        except (ConnectionError, OSError):
            pass
    with TtrpcClient(P, TSOCK) as t:
        t.send_raw(TtrpcClient.frame(1, REQUEST, b"x" * 100)[:50])   # then silence, then gone
    still_serving()


@h.test("[ttrpc] address in a directory not made yet, uid/gid: the socket is made there, owned so, mode 0660")
def _():
    o = h.daemon("owner")
    path = os.path.join(o.dir, "tt", "deeper", "events.sock")
    o.start(extra='[ttrpc]\n  address = "%s"\n  uid = 1234\n  gid = 5678\n' % path)
    st = os.stat(path)
    eq((st.st_uid, st.st_gid), (1234, 5678), "socket owner")
    eq(oct(st.st_mode & 0o777), oct(0o660), "mode")
    check(not os.path.exists(o.sock + ".ttrpc"), "no socket at the default place")
    with TtrpcClient(P, path) as t:
        code, msg, _ = t.call(EV, "Forward", forward_req("default", "/tasks/oom", task_oom("c-owner")),
                              ns="default")
        eq(code, 0, "Forward on the configured socket: %s" % msg)
    o.stop()
    check(not os.path.exists(path), "socket removed at stop")


@h.test("main stops cleanly at the end and removes the ttrpc socket")
def _():
    d.stop()
    check(not os.path.exists(TSOCK), "ttrpc socket removed")


h.finish()
