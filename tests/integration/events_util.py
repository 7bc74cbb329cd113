"""An events subscription that knows when it is live.

The daemon sends nothing on a Subscribe stream until the first event, so a
client cannot tell when its subscription was registered. Subscription adds a
private sentinel topic to the filters (filters are OR'ed) and publishes that
topic until the sentinel comes back: from then on every event is seen.
"""
import os
import select
import threading
import time

import grpc

from harness import Failure


class Subscription:
    def __init__(self, client, filters=(), ns=None, timeout=120.0):
        self.client = client
        self.token = "sync-" + os.urandom(6).hex()
        self.sentinel = "/" + self.token
        self.filters = list(filters)
        if self.filters:
            self.filters.append('topic=="%s"' % self.sentinel)
        self.call = client.call("events/Subscribe", filters=self.filters, ns=ns, timeout=timeout)
        self.events = []
        self.error = None
        self.done = False
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for env in self.call:
                with self.cv:
                    self.events.append(env)
                    self.cv.notify_all()
        except grpc.RpcError as e:
            self.error = e
        finally:
            with self.cv:
                self.done = True
                self.cv.notify_all()

    def _wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0 or self.done:
                    return pred()
                self.cv.wait(left)
            return True

    def sync(self, timeout=10.0):
        """Publishes the sentinel until it arrives: the subscription is live."""
        deadline = time.monotonic() + timeout
        any_msg = self.client.msg("google.protobuf.Any", type_url="ucd.test.Sync", value=b"")
        while time.monotonic() < deadline:
            self.client.call("events/Publish", topic=self.sentinel, event=any_msg, ns="default")
            if self._wait(lambda: any(e.topic == self.sentinel for e in self.events), 0.3):
                return self
            if self.done:
                raise Failure("subscription ended before it was live: %r" % (self.error,))
        raise Failure("the events subscription never saw its own sentinel within %.0fs" % timeout)

    def received(self):
        with self.cv:
            return [e for e in self.events if e.topic != self.sentinel]

    def wait_for(self, pred, timeout=5.0, what="event"):
        found = []

        def check():
            for e in self.events:
                if e.topic != self.sentinel and pred(e):
                    found.append(e)
                    return True
            return False
        if not self._wait(check, timeout):
            raise Failure("no %s within %.0fs; got topics %r (error %r)" % (
                what, timeout, [e.topic for e in self.received()], self.error))
        return found[0]

    def wait_topic(self, topic, timeout=5.0, ns=None):
        return self.wait_for(lambda e: e.topic == topic and (ns is None or e.namespace == ns), timeout,
                             "event %s%s" % (topic, "" if ns is None else " in namespace " + ns))

    def close(self):
        self.call.cancel()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class CtrEvents:
    """Debian's `ctr events` as a process, once its subscription is live.

    ctr prints nothing until an event comes, so a test that starts it and
    sleeps a moment may act before the daemon registered the subscription
    (seen on a loaded machine under ASan: the /tasks/exit of a killed shim
    never reached ctr). This publishes a sentinel topic in `ns` until ctr
    prints it; output() stops ctr and returns everything it printed."""

    def __init__(self, d, ns="default", timeout=30.0):
        self.p = d.ctr_popen("events", ns=ns)
        self.buf = b""
        token = "/sync-" + os.urandom(6).hex()
        fd = self.p.stdout.fileno()
        deadline = time.monotonic() + timeout
        with d.client() as c:
            # a type ctr knows (it skips events it cannot decode)
            ev = c.msg("containerd.events.NamespaceCreate", name=token[1:]).SerializeToString()
            any_msg = c.msg("google.protobuf.Any", type_url="containerd.events.NamespaceCreate", value=ev)
            while token.encode() not in self.buf:
                if time.monotonic() > deadline or self.p.poll() is not None:
                    self.p.kill()
                    self.p.wait()
                    raise Failure("`ctr events` never printed its sentinel within %.0fs: %r" % (timeout, self.buf))
                c.call("events/Publish", topic=token, event=any_msg, ns=ns)
                end = time.monotonic() + 0.3
                while time.monotonic() < end and token.encode() not in self.buf:
                    r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
                    if r:
                        chunk = os.read(fd, 65536)
                        if not chunk:
                            break
                        self.buf += chunk

    def output(self):
        self.p.terminate()
        rest = self.p.communicate(timeout=10)[0]
        return (self.buf + rest).decode()
