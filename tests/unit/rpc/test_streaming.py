"""All four gRPC call kinds through the rpc module, with grpcio as the
client: unary (with a status message that needs percent-encoding),
server-streaming, client-streaming, bidi, deadlines and cancellation (the
handler hears about both), the namespace check, the receive limit, and a
clean shutdown with calls still open."""
import os, subprocess, sys, tempfile, threading, time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

server_bin, descriptors = sys.argv[1], sys.argv[2]
fds = descriptor_pb2.FileDescriptorSet()
with open(descriptors, "rb") as f:
    fds.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)
factory = message_factory.MessageFactory(pool)
Req = factory.GetPrototype(pool.FindMessageTypeByName("containerd.services.events.v1.PublishRequest"))
Env = factory.GetPrototype(pool.FindMessageTypeByName("containerd.services.events.v1.Envelope"))

n = failed = 0


def check(name, ok, detail=""):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, "" if ok else " # " + str(detail)))


def method(ch, kind, name):
    ser, de = (lambda m: m.SerializeToString()), Env.FromString
    return getattr(ch, kind)("/ucd.test.Echo/" + name, request_serializer=ser, response_deserializer=de)


def reqs(*topics, pause=0.0):
    for t in topics:
        if pause:
            time.sleep(pause)
        yield Req(topic=t)


with tempfile.TemporaryDirectory() as tmp:
    sock = os.path.join(tmp, "echo.sock")
    p = subprocess.Popen([server_bin, sock, "4096"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    ch = grpc.insecure_channel("unix:" + sock)

    r = method(ch, "unary_unary", "Unary")(Req(topic="hello"), timeout=5)
    check("unary echo", r.topic == "hello", r)
    try:
        method(ch, "unary_unary", "Unary")(Req(topic="fail"), timeout=5)
        check("unary error status", False, "no error")
    except grpc.RpcError as e:
        check("unary error status", e.code() == grpc.StatusCode.NOT_FOUND, e.code())
        check("status message survives percent-encoding", e.details() == "asked to fail: \u00e9%\n", repr(e.details()))

    got = [m.topic for m in method(ch, "unary_stream", "ServerStream")(Req(topic="500"), timeout=10)]
    check("server streaming: 500 messages in order", got == [str(i) for i in range(500)], got[:5])
    got = list(method(ch, "unary_stream", "ServerStream")(Req(topic="0"), timeout=5))
    check("server streaming: zero messages, status OK", got == [], got)

    r = method(ch, "stream_unary", "ClientStream")(reqs("a", "b", "c"), timeout=5)
    check("client streaming: every message arrives", r.topic == "a,b,c", r)
    r = method(ch, "stream_unary", "ClientStream")(reqs("x", "y", pause=0.05), timeout=5)
    check("client streaming: messages spread over time", r.topic == "x,y", r)
    r = method(ch, "stream_unary", "ClientStream")(iter(()), timeout=5)
    check("client streaming: no message at all", r.topic == "", r)
    big = ["m%04d" % i for i in range(2000)]
    r = method(ch, "stream_unary", "ClientStream")(reqs(*big), timeout=20)
    check("client streaming: 2000 messages", r.topic == ",".join(big), len(r.topic))

    # Flow control: the handler holds its input 1 ms per message. 1000
    # messages of ~4 KB (this server's limit) sent as fast as the client can
    # must arrive in order while the server buffers at most about one HTTP/2
    # window (1 MiB) plus a message; without the hold reaching HTTP/2 the
    # client would push all 4 MB into the server's memory at once.
    chunk = "x" * 4000
    def sink_reqs():
        for i in range(1000):
            yield Req(topic="%d %s" % (i, chunk))
    try:
        r = method(ch, "stream_unary", "SlowSink")(sink_reqs(), timeout=30)
        count, in_order, max_buf = r.topic.split(",")
    except grpc.RpcError as e:
        count, in_order, max_buf = "error", str(e.details()), "0"
    check("held input: every message delivered, in order", count == "1000" and in_order == "1",
          (count, in_order))
    check("held input: server buffers at most ~1 window", 0 < int(max_buf) <= 1024 * 1024 + 4096, max_buf)

    got = [m.topic for m in method(ch, "stream_stream", "Bidi")(reqs("one", "two", "three"), timeout=5)]
    check("bidi: one answer per message", got == ["ONE", "TWO", "THREE"], got)

    # bidi answers arrive while the client is still sending
    q, answers = [], []
    cond = threading.Condition()

    def feeder():
        for t in ("ping", "pong"):
            yield Req(topic=t)
            with cond:   # wait for the answer before sending the next one
                cond.wait_for(lambda: len(answers) >= len(q) + 1, timeout=5)
                q.append(t)

    for m in method(ch, "stream_stream", "Bidi")(feeder(), timeout=10):
        with cond:
            answers.append(m.topic)
            cond.notify_all()
    check("bidi: interleaved request / answer", answers == ["PING", "PONG"], answers)

    try:
        method(ch, "unary_unary", "Hang")(Req(topic="x"), timeout=0.3)
        check("deadline", False, "no error")
    except grpc.RpcError as e:
        check("deadline: DEADLINE_EXCEEDED", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code())
    fut = method(ch, "unary_unary", "Hang").future(Req(topic="x"))
    time.sleep(0.2)
    fut.cancel()
    # a client-streaming call reset halfway: its handler must hear of it
    it = method(ch, "stream_unary", "ClientStream").future(reqs("a", "b", "c", "d", "e", pause=0.1))
    time.sleep(0.15)
    it.cancel()

    try:
        method(ch, "unary_unary", "Namespaced")(Req(topic="x"), timeout=5)
        check("namespaced method without namespace", False, "no error")
    except grpc.RpcError as e:
        check("namespaced method without namespace: FAILED_PRECONDITION",
              e.code() == grpc.StatusCode.FAILED_PRECONDITION and "namespace is required" in e.details(), e)
    r = method(ch, "unary_unary", "Namespaced")(Req(topic="ns"), metadata=[("containerd-namespace", "k8s.io")], timeout=5)
    check("namespaced method with namespace", r.topic == "ns", r)

    try:
        method(ch, "stream_unary", "ClientStream")(reqs("ok", "z" * 5000), timeout=5)
        check("receive limit", False, "no error")
    except grpc.RpcError as e:
        check("receive limit on a stream: RESOURCE_EXHAUSTED", e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e)

    # a handler with on_input_error ends the call itself, after its cleanup
    t0 = time.monotonic()
    try:
        method(ch, "stream_unary", "Tidy")(reqs("ok", "z" * 5000), timeout=5)
        check("input error handed to the handler", False, "no error")
    except grpc.RpcError as e:
        took = time.monotonic() - t0
        check("input error handed to the handler: its status, after its cleanup",
              e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and e.details().endswith("(after cleanup)")
              and "larger than max" in e.details() and took >= 0.2, (e, took))
    r = method(ch, "stream_unary", "Tidy")(reqs("a", "b"), timeout=5)
    check("the same method without bad input", r.topic == "tidy", r)

    # calls still open at shutdown are cancelled, and everything is freed
    open_call = method(ch, "unary_unary", "Hang").future(Req(topic="x"))
    open_stream = method(ch, "stream_unary", "ClientStream").future(reqs("a", "b", pause=2.0))
    time.sleep(0.3)
    p.terminate()
    out, _ = p.communicate(timeout=10)
    print("# " + out.strip())
    check("server exits cleanly with calls open", p.returncode == 0, (p.returncode, out))
    stats = dict(kv.split("=") for kv in out.split())
    # Hang: deadline + cancel + shutdown; ClientStream: the reset one + shutdown
    check("every cancelled call was reported to its handler", int(stats["cancelled"]) >= 5, stats)
    ch.close()

print("1..%d" % n)
print("%d passed, %d failed" % (n - failed, failed))
sys.exit(1 if failed else 0)
