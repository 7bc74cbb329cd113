"""The Tasks service over a fake runtime (fake_server.c), driven by grpcio:
every method's request as the runtime receives it (decoded field by field
with the shim API's descriptors), every answer as the client receives it,
the errors containerd gives (namespace, container, task, exec id,
checkpoint, filters), the 2 s State timeout, Wait cancelled by its client
while the shim still holds it, the events of a shim that died, and a clean
shutdown with a Wait still open."""
import os, queue, subprocess, sys, tempfile, threading, time

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


def T(name):
    return factory.GetPrototype(pool.FindMessageTypeByName(name))


TASKS = "containerd.services.tasks.v1."
SHIM = "containerd.task.v2."
Any = T("google.protobuf.Any")
Empty = T("google.protobuf.Empty")

n = failed = 0


def check(name, ok, detail=""):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, "" if ok else " # " + str(detail)))
    sys.stdout.flush()


NS = (("containerd-namespace", "default"),)

with tempfile.TemporaryDirectory() as tmp:
    sock = os.path.join(tmp, "tasks.sock")
    p = subprocess.Popen([server_bin, os.path.join(tmp, "md"), sock], stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def pump():
        for line in p.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    first = lines.get(timeout=10)
    check("runtime attached with the daemon's addresses",
          first == "ATTACH address=%s ttrpc=%s.ttrpc exe=fake_tasks_server" % (sock, sock), first)
    check("server ready", lines.get(timeout=10) == "ready")
    ch = grpc.insecure_channel("unix:" + sock)

    def rpc(svc, method, req_type, resp_type):
        return ch.unary_unary("/%s/%s" % (svc, method), request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=T(resp_type).FromString)

    def tasks(method, resp, **fields):
        req_names = {"Create": "CreateTaskRequest", "Delete": "DeleteTaskRequest", "List": "ListTasksRequest",
                     "Exec": "ExecProcessRequest", "Pause": "PauseTaskRequest", "Resume": "ResumeTaskRequest",
                     "Checkpoint": "CheckpointTaskRequest", "Update": "UpdateTaskRequest",
                     "CloseIO": "CloseIORequest"}
        req_t = TASKS + req_names.get(method, method + "Request")
        metadata = fields.pop("_md", NS)
        timeout = fields.pop("_timeout", 10)
        call = rpc("containerd.services.tasks.v1.Tasks", method, req_t, resp)
        return call(T(req_t)(**fields), metadata=metadata, timeout=timeout)

    def err(fn, *a, **kw):
        try:
            fn(*a, **kw)
            return None, "no error"
        except grpc.RpcError as e:
            return e.code(), e.details()

    def req(op, shim_type=None):
        """The next request the fake runtime saw: (ns, id, decoded shim request, extra)."""
        line = lines.get(timeout=10)
        f = line.split(" ") if line else []
        if len(f) < 5 or f[0] != "REQ" or f[1] != op:
            check("runtime saw %s" % op, False, line)
            return None, None, None, None
        raw = bytes.fromhex(f[4]) if f[4] != "-" else b""
        msg = T(SHIM + shim_type).FromString(raw) if shim_type else raw
        return f[2], f[3], msg, f[5:]

    def no_req():
        try:
            line = lines.get(timeout=0.3)
        except queue.Empty:
            return True
        check("no request reached the runtime", False, line)
        return False

    # containers to run tasks in
    mk = rpc("containerd.services.containers.v1.Containers", "Create",
             "containerd.services.containers.v1.CreateContainerRequest",
             "containerd.services.containers.v1.CreateContainerResponse")
    Container = T("containerd.services.containers.v1.Container")
    Runtime = T("containerd.services.containers.v1.Container.Runtime")
    rt_opts = Any(type_url="containerd.runc.v1.Options", value=b"\x12\x04runc")
    spec = b'{"ociVersion":"1.0.2","process":{"args":["sh"]}}'
    for cid in ("c1", "c2", "hang", "broken", "gone", "notask"):
        mk(T("containerd.services.containers.v1.CreateContainerRequest")(container=Container(
            id=cid, runtime=Runtime(name="io.containerd.runc.v2", options=rt_opts),
            spec=Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec", value=spec))),
            metadata=NS, timeout=10)

    # --- Create ---
    code, msg = err(tasks, "Create", TASKS + "CreateTaskResponse", container_id="c1", _md=())
    check("no namespace: FailedPrecondition", code == grpc.StatusCode.FAILED_PRECONDITION and
          msg == "namespace is required: failed precondition", (code, msg))
    code, msg = err(tasks, "Create", TASKS + "CreateTaskResponse", container_id="nope")
    check("missing container: NotFound as containerd", code == grpc.StatusCode.NOT_FOUND and
          msg == 'container "nope" in namespace "default": not found', (code, msg))
    code, msg = err(tasks, "Create", TASKS + "CreateTaskResponse", container_id="c1",
                    checkpoint=T("containerd.types.Descriptor")(digest="sha256:" + "0" * 64))
    check("checkpoint restore: Unimplemented", code == grpc.StatusCode.UNIMPLEMENTED and "checkpoint" in msg,
          (code, msg))
    no_req()
    Mount = T("containerd.types.Mount")
    topts = Any(type_url="containerd.runc.v1.Options", value=b"\x08\x01")
    r = tasks("Create", TASKS + "CreateTaskResponse", container_id="c1",
              rootfs=[Mount(type="overlay", source="overlay", target="/t", options=["lowerdir=/l", "upperdir=/u"])],
              stdin="/fifo/in", stdout="/fifo/out", stderr="/fifo/err", terminal=True, options=topts)
    check("Create answers container_id and pid", r.container_id == "c1" and r.pid == 4242, r)
    ns, tid, m, extra = req("Create", "CreateTaskRequest")
    check("Create: namespace and id", (ns, tid) == ("default", "c1"), (ns, tid))
    if m is not None:
        check("Create: shim request id/stdio/terminal",
              (m.id, m.stdin, m.stdout, m.stderr, m.terminal, m.bundle, m.checkpoint)
              == ("c1", "/fifo/in", "/fifo/out", "/fifo/err", True, "", ""), m)
        check("Create: rootfs without target",
              len(m.rootfs) == 1 and m.rootfs[0].type == "overlay" and m.rootfs[0].source == "overlay"
              and list(m.rootfs[0].options) == ["lowerdir=/l", "upperdir=/u"] and m.rootfs[0].target == "", m.rootfs)
        check("Create: no options in the request (the plugin adds them)", not m.HasField("options"), m)
        kv = dict(e.split("=", 1) for e in extra[:3])
        check("Create: runtime name", kv.get("runtime") == "io.containerd.runc.v2", extra)
        check("Create: runtime options are the container's Any",
              Any.FromString(bytes.fromhex(kv.get("rtopts", ""))) == rt_opts, extra)
        check("Create: task options are the request's Any",
              Any.FromString(bytes.fromhex(kv.get("taskopts", ""))) == topts, extra)
        check("Create: spec is the container's OCI JSON", " ".join(extra[3:]) == "spec=" + spec.decode(), extra)
    code, msg = err(tasks, "Create", TASKS + "CreateTaskResponse", container_id="c1")
    check("second Create: AlreadyExists", code == grpc.StatusCode.ALREADY_EXISTS and msg == "task c1: already exists",
          (code, msg))
    req("Create")
    for cid in ("c2", "hang", "broken", "gone"):
        tasks("Create", TASKS + "CreateTaskResponse", container_id=cid,
              runtime_path="/opt/shim" if cid == "c2" else "")
        _, _, _, extra = req("Create")
        if cid == "c2":
            check("Create: runtime_path replaces the runtime name", extra and extra[0] == "runtime=/opt/shim",
                  extra)
            check("Create: no task options -> none given", extra and extra[2] == "taskopts=-", extra)

    # --- Start ---
    r = tasks("Start", TASKS + "StartResponse", container_id="c1")
    check("Start answers the shim's pid", r.pid == 4243, r)
    _, tid, m, _ = req("Start", "StartRequest")
    check("Start: shim request", m is not None and (m.id, m.exec_id) == ("c1", ""), m)
    code, msg = err(tasks, "Start", TASKS + "StartResponse", container_id="notask")
    check("no task: NotFound as containerd", code == grpc.StatusCode.NOT_FOUND and msg == "task notask not found",
          (code, msg))
    req("Start")
    code, msg = err(tasks, "CloseIO", "google.protobuf.Empty", container_id="notask", stdin=False)
    check("CloseIO without stdin, no task: NotFound", code == grpc.StatusCode.NOT_FOUND and
          msg == "task notask not found", (code, msg))
    no_req()
    tasks("Start", TASKS + "StartResponse", container_id="c1", exec_id="e1")
    _, _, m, _ = req("Start", "StartRequest")
    check("Start of an exec process", m is not None and m.exec_id == "e1", m)

    # --- Get ---
    r = tasks("Get", TASKS + "GetResponse", container_id="c1")
    pr = r.process
    check("Get: process fields from State",
          (pr.id, pr.container_id, pr.pid, pr.status, pr.stdin, pr.stdout, pr.stderr, pr.terminal, pr.exit_status,
           pr.exited_at.seconds, pr.exited_at.nanos)
          == ("c1", "", 4242, 2, "/in", "/out", "/err", True, 0, 100, 5), pr)
    _, _, m, _ = req("State", "StateRequest")
    check("Get: State request", m is not None and (m.id, m.exec_id) == ("c1", ""), m)
    r = tasks("Get", TASKS + "GetResponse", container_id="c1", exec_id="e1")
    check("Get of an exec process: id is the exec id", r.process.id == "e1", r)
    _, _, m, _ = req("State", "StateRequest")
    check("Get exec: State request", m is not None and m.exec_id == "e1", m)
    t0 = time.monotonic()
    r = tasks("Get", TASKS + "GetResponse", container_id="hang")
    dt = time.monotonic() - t0
    check("Get: a State that hangs reads UNKNOWN after about 2 s",
          r.process.id == "hang" and r.process.status == 0 and 1.5 < dt < 5, (r, dt))
    req("State")
    r = tasks("Get", TASKS + "GetResponse", container_id="broken")
    check("Get: a State that fails reads UNKNOWN", r.process.id == "broken" and r.process.status == 0, r)
    req("State")
    code, msg = err(tasks, "Get", TASKS + "GetResponse", container_id="gone")
    check("Get: State NotFound is NotFound", code == grpc.StatusCode.NOT_FOUND and msg == "process gone: not found",
          (code, msg))
    req("State")

    # --- List ---
    t0 = time.monotonic()
    r = tasks("List", TASKS + "ListTasksResponse", filter="id==c1")
    dt = time.monotonic() - t0
    got = {t.id: t.status for t in r.tasks}
    check("List: every task but the NotFound one, the filter ignored as containerd",
          got == {"c1": 2, "c2": 2, "hang": 0, "broken": 0}, got)
    check("List: waits at most the State timeout", dt < 5, dt)
    seen = sorted(req("State", "StateRequest")[1] for _ in range(5))
    check("List: one State per task", seen == ["broken", "c1", "c2", "gone", "hang"], seen)
    r = tasks("List", TASKS + "ListTasksResponse", _md=(("containerd-namespace", "other"),))
    check("List: another namespace has no tasks", len(r.tasks) == 0, r)

    # --- Kill ---
    tasks("Kill", "google.protobuf.Empty", container_id="c1", signal=15, all=True)
    _, _, m, _ = req("Kill", "KillRequest")
    check("Kill: init with all", m is not None and (m.id, m.exec_id, m.signal, m.all) == ("c1", "", 15, True), m)
    tasks("Kill", "google.protobuf.Empty", container_id="c1", exec_id="e1", signal=2, all=True)
    _, _, m, _ = req("Kill", "KillRequest")
    check("Kill: exec without all", m is not None and (m.exec_id, m.signal, m.all) == ("e1", 2, False), m)

    # --- Exec ---
    code, msg = err(tasks, "Exec", "google.protobuf.Empty", container_id="c1")
    check("Exec: empty exec id", code == grpc.StatusCode.INVALID_ARGUMENT and msg == "exec id cannot be empty",
          (code, msg))
    code, msg = err(tasks, "Exec", "google.protobuf.Empty", container_id="c1", exec_id="a..b")
    check("Exec: invalid exec id", code == grpc.StatusCode.INVALID_ARGUMENT and msg ==
          'invalid exec id a..b: identifier "a..b" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: '
          'invalid argument', (code, msg))
    no_req()
    pspec = Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process", value=b'{"args":["ls"]}')
    tasks("Exec", "google.protobuf.Empty", container_id="c1", exec_id="e2", stdin="i", stdout="o", stderr="e",
          terminal=True, spec=pspec)
    _, _, m, _ = req("Exec", "ExecProcessRequest")
    check("Exec: shim request", m is not None and (m.id, m.exec_id, m.stdin, m.stdout, m.stderr, m.terminal)
          == ("c1", "e2", "i", "o", "e", True) and m.spec == pspec, m)

    # --- ResizePty, CloseIO, Pause, Resume, Update ---
    tasks("ResizePty", "google.protobuf.Empty", container_id="c1", exec_id="e2", width=120, height=40)
    _, _, m, _ = req("ResizePty", "ResizePtyRequest")
    check("ResizePty", m is not None and (m.id, m.exec_id, m.width, m.height) == ("c1", "e2", 120, 40), m)
    tasks("CloseIO", "google.protobuf.Empty", container_id="c1", exec_id="e2", stdin=False)
    no_req()
    tasks("CloseIO", "google.protobuf.Empty", container_id="c1", exec_id="e2", stdin=True)
    _, _, m, _ = req("CloseIO", "CloseIORequest")
    check("CloseIO stdin", m is not None and (m.id, m.exec_id, m.stdin) == ("c1", "e2", True), m)
    tasks("Pause", "google.protobuf.Empty", container_id="c1")
    _, _, m, _ = req("Pause", "PauseRequest")
    check("Pause", m is not None and m.id == "c1", m)
    tasks("Resume", "google.protobuf.Empty", container_id="c1")
    _, _, m, _ = req("Resume", "ResumeRequest")
    check("Resume", m is not None and m.id == "c1", m)
    res = Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", value=b"{}")
    tasks("Update", "google.protobuf.Empty", container_id="c1", resources=res, annotations={"a": "1", "b": "2"})
    _, _, m, _ = req("Update", "UpdateTaskRequest")
    check("Update", m is not None and m.id == "c1" and m.resources == res and dict(m.annotations) == {"a": "1", "b": "2"},
          m)

    # --- ListPids ---
    r = tasks("ListPids", TASKS + "ListPidsResponse", container_id="c1")
    check("ListPids", [(x.pid, x.info.type_url) for x in r.processes]
          == [(4242, ""), (4244, "containerd.runc.v1.ProcessDetails")] and r.processes[1].info.value == b"\x0a\x02e1",
          r)
    _, _, m, _ = req("Pids", "PidsRequest")
    check("ListPids: Pids request", m is not None and m.id == "c1", m)

    # --- Metrics ---
    t0 = time.time()
    r = tasks("Metrics", TASKS + "MetricsResponse", filters=["id==c1"])
    check("Metrics: filtered on the id",
          [(x.id, x.data.type_url, x.data.value) for x in r.metrics] == [("c1", "io.containerd.cgroups.v2.Metrics",
                                                                          b"c1")], r)
    check("Metrics: timestamp of the collection", r.metrics and abs(r.metrics[0].timestamp.seconds - t0) < 5, r)
    _, _, m, _ = req("Stats", "StatsRequest")
    check("Metrics: Stats request", m is not None and m.id == "c1", m)
    r = tasks("Metrics", TASKS + "MetricsResponse", filters=["namespace==default"])
    check("Metrics: failing Stats are left out", sorted(x.id for x in r.metrics) == ["c1", "c2", "hang"], r)
    for _ in range(5):
        req("Stats")
    r = tasks("Metrics", TASKS + "MetricsResponse", filters=["namespace==other"])
    check("Metrics: namespace filter", len(r.metrics) == 0, r)
    code, msg = err(tasks, "Metrics", TASKS + "MetricsResponse", filters=["id=="])
    check("Metrics: bad filter is InvalidArgument", code == grpc.StatusCode.INVALID_ARGUMENT, (code, msg))

    # --- Wait: cancelled by its client, then answered by the shim ---
    code, msg = err(tasks, "Wait", TASKS + "WaitResponse", container_id="c2", _timeout=0.5)
    check("Wait: the client's deadline ends it", code == grpc.StatusCode.DEADLINE_EXCEEDED, (code, msg))
    _, _, m, _ = req("Wait", "WaitRequest")
    check("Wait: shim request", m is not None and (m.id, m.exec_id) == ("c2", ""), m)
    tasks("Kill", "google.protobuf.Empty", container_id="c2", signal=9)   # the shim answers the abandoned Wait
    req("Kill")
    out = {}

    def waiter():
        try:
            out["r"] = tasks("Wait", TASKS + "WaitResponse", container_id="c1", exec_id="e2", _timeout=20)
        except grpc.RpcError as e:
            out["e"] = e

    th = threading.Thread(target=waiter)
    th.start()
    _, _, m, _ = req("Wait", "WaitRequest")
    check("Wait exec: shim request", m is not None and m.exec_id == "e2", m)
    check("Wait is still waiting", th.is_alive())
    tasks("Kill", "google.protobuf.Empty", container_id="c1", signal=9)
    req("Kill")
    th.join(10)
    r = out.get("r")
    check("Wait answers exit status and time", r is not None and r.exit_status == 137 and r.exited_at.seconds == 200,
          out)
    r = tasks("Get", TASKS + "GetResponse", container_id="c1")
    req("State")
    check("still serving after a late answer to a cancelled call", r.process.pid == 4242, r)

    # --- DeleteProcess, Delete ---
    r = tasks("DeleteProcess", TASKS + "DeleteResponse", container_id="c1", exec_id="e2")
    check("DeleteProcess answers id=exec id and the exit",
          (r.id, r.pid, r.exit_status, r.exited_at.seconds, r.exited_at.nanos) == ("e2", 4243, 3, 100, 5), r)
    _, _, m, _ = req("Delete", "DeleteRequest")
    check("DeleteProcess: shim Delete", m is not None and (m.id, m.exec_id) == ("c1", "e2"), m)
    r = tasks("Delete", TASKS + "DeleteResponse", container_id="c1")
    check("Delete answers the exit, id empty as containerd",
          (r.id, r.pid, r.exit_status, r.exited_at.seconds) == ("", 4242, 0, 1), r)
    req("DeleteTask")
    code, msg = err(tasks, "Delete", TASKS + "DeleteResponse", container_id="c1")
    check("Delete again: NotFound", code == grpc.StatusCode.NOT_FOUND and msg == "task c1 not found", (code, msg))
    req("DeleteTask")
    code, msg = err(tasks, "Get", TASKS + "GetResponse", container_id="c1")
    check("Get after Delete: NotFound", code == grpc.StatusCode.NOT_FOUND and msg == "task c1 not found", (code, msg))
    req("State")

    # --- Checkpoint ---
    code, msg = err(tasks, "Checkpoint", TASKS + "CheckpointTaskResponse", container_id="c2")
    check("Checkpoint: Unimplemented", code == grpc.StatusCode.UNIMPLEMENTED and "checkpoint is not supported" in msg,
          (code, msg))

    # --- a shim that died: /tasks/exit and /tasks/delete ---
    sub = ch.unary_stream("/containerd.services.events.v1.Events/Subscribe",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=T("containerd.services.events.v1.Envelope").FromString)
    stream = sub(T("containerd.services.events.v1.SubscribeRequest")(filters=['topic~="/tasks/"']), timeout=10)
    time.sleep(0.3)
    tasks("Kill", "google.protobuf.Empty", container_id="c2", signal=31)
    req("Kill")
    evs = []
    for env in stream:
        evs.append(env)
        if len(evs) == 2:
            break
    stream.cancel()
    check("task_gone: /tasks/exit then /tasks/delete", [e.topic for e in evs] == ["/tasks/exit", "/tasks/delete"]
          and all(e.namespace == "default" for e in evs), evs)
    if len(evs) == 2:
        ex = T("containerd.events.TaskExit").FromString(evs[0].event.value)
        de = T("containerd.events.TaskDelete").FromString(evs[1].event.value)
        check("TaskExit fields", evs[0].event.type_url == "containerd.events.TaskExit" and
              (ex.container_id, ex.id, ex.pid, ex.exit_status, ex.exited_at.seconds, ex.exited_at.nanos)
              == ("c2", "c2", 4242, 255, 300, 7), ex)
        check("TaskDelete fields", evs[1].event.type_url == "containerd.events.TaskDelete" and
              (de.container_id, de.id, de.pid, de.exit_status, de.exited_at.seconds) == ("c2", "", 4242, 255, 300), de)

    # --- shutdown with a Wait open ---
    out = {}

    def waiter2():
        try:
            out["r"] = tasks("Wait", TASKS + "WaitResponse", container_id="hang", _timeout=20)
        except grpc.RpcError as e:
            out["e"] = e.code()

    th = threading.Thread(target=waiter2)
    th.start()
    req("Wait")
    p.terminate()
    th.join(10)
    check("open Wait ends with an error at shutdown", "e" in out and out["e"] in (
        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), out)
    rc = p.wait(10)
    rest = []
    while True:
        line = lines.get(timeout=10)
        if line is None:
            break
        rest.append(line)
    check("server exits cleanly, every handle and answer released", rc == 0 and rest and rest[-1].startswith("clean"),
          (rc, rest))

print("1..%d" % n)
sys.exit(1 if failed else 0)
