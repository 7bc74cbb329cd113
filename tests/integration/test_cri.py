#!/usr/bin/python3
"""The CRI plugin's skeleton (io.containerd.grpc.v1.cri, issue 10): its
runtime.v1 services on the daemon's socket, driven with grpcio from the
plugin's own protos as crictl and the kubelet drive them: Version and
Status answer, every other method answers UNIMPLEMENTED in grpc-go's words
after decoding its request; undecodable requests, a disabled plugin."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Client, Harness, Protos, call_status, check, contains, eq  # noqa: E402

import grpc  # noqa: E402

h = Harness("cri")
cri_desc = os.path.join(h.build_dir, "plugins", "cri", "cri.pb")
cri_so = os.path.join(h.build_dir, "lib", "ucontainerd", "plugins", "io.containerd.grpc.v1.cri.so")
if not os.path.exists(cri_desc) or not os.path.exists(cri_so):
    print("1..0 # SKIP the CRI plugin is not built (%s)" % cri_so)
    sys.exit(77)
cri = Protos(cri_desc)
RS = "/runtime.v1.RuntimeService/"
IS = "/runtime.v1.ImageService/"

d = h.daemon("main")
d.start()


@h.test("ctr plugins ls: io.containerd.grpc.v1 cri ok, serving both runtime.v1 services")
def _():
    out = d.ctr("plugins", "ls").stdout
    rows = [line.split() for line in out.splitlines()]
    check(["io.containerd.grpc.v1", "cri", "-", "ok"] in rows, "no `io.containerd.grpc.v1 cri - ok` in:\n" + out)
    det = d.ctr("plugins", "ls", "-d").stdout
    contains(det, "runtime.v1.RuntimeService,runtime.v1.ImageService", "plugins ls -d")


@h.test("Version: runtime name and version, CRI v1 (what crictl version prints)")
def _():
    with Client(cri, d.sock, ns=None) as c:
        v = c.call(RS + "Version", version="v1")
    eq(v.version, "0.1.0", "version (the kubelet API version, as containerd answers)")
    eq(v.runtime_name, "ucontainerd", "runtime_name")
    want = d.client().version().version
    eq(v.runtime_version, want, "runtime_version = the daemon's Version")
    eq(v.runtime_api_version, "v1", "runtime_api_version")


@h.test("Status: RuntimeReady true, NetworkReady false with containerd's reason and message")
def _():
    with Client(cri, d.sock, ns=None) as c:
        for verbose in (False, True):
            s = c.call(RS + "Status", verbose=verbose)
            conds = {x.type: x for x in s.status.conditions}
            eq(sorted(conds), ["NetworkReady", "RuntimeReady"], "condition types")
            eq(conds["RuntimeReady"].status, True, "RuntimeReady")
            eq(conds["NetworkReady"].status, False, "NetworkReady")
            eq(conds["NetworkReady"].reason, "NetworkPluginNotReady", "NetworkReady reason")
            eq(conds["NetworkReady"].message, "Network plugin returns error: cni plugin not initialized",
               "NetworkReady message")


@h.test("every other method: UNIMPLEMENTED \"method X not implemented\", as grpc-go's generated server")
def _():
    with Client(cri, d.sock, ns=None) as c:
        for svc in ("runtime.v1.RuntimeService", "runtime.v1.ImageService"):
            for m in cri.pool.FindServiceByName(svc).methods:
                if m.name in ("Version", "Status"):
                    continue
                path = "/%s/%s" % (svc, m.name)
                got = call_status(c.call, path)
                eq(got, (grpc.StatusCode.UNIMPLEMENTED, "method %s not implemented" % m.name), path)
        eq(call_status(lambda: c.channel.unary_unary(RS + "Nope")(b"", timeout=10)),
           (grpc.StatusCode.UNIMPLEMENTED, "unknown method Nope for service runtime.v1.RuntimeService"), "no method")


@h.test("undecodable requests: INTERNAL, and the daemon keeps serving")
def _():
    with Client(cri, d.sock, ns=None) as c:
        for path, msg in ((RS + "Version", "runtime.v1.VersionRequest"),
                          (IS + "PullImage", "runtime.v1.PullImageRequest")):
            eq(call_status(lambda: c.call(path, request=b"\xff\xff\xff")),
               (grpc.StatusCode.INTERNAL, "grpc: error unmarshalling request: invalid %s message" % msg), path)
        # a request over the daemon's max_recv_message_size (16 MiB)
        eq(call_status(lambda: c.call(IS + "PullImage", request=b"\x0a" + b"\xff" * (17 << 20)))[0],
           grpc.StatusCode.RESOURCE_EXHAUSTED, "oversized")
        eq(c.call(RS + "Version").runtime_api_version, "v1", "still serving")


@h.test("disabled_plugins: the CRI services are not served at all")
def _():
    p = h.daemon("disabled")
    p.start(extra='disabled_plugins = ["io.containerd.grpc.v1.cri"]\n', config=None)
    try:
        with Client(cri, p.sock, ns=None) as c:
            eq(call_status(lambda: c.call(RS + "Version")),
               (grpc.StatusCode.UNIMPLEMENTED, "unknown service runtime.v1.RuntimeService"), "Version")
    finally:
        p.stop()


h.finish()
