"""A garbage collection made slow on purpose, for tests of what waits behind one.

The fake snapshotter (tests/fixtures/plugins/fake_snapshotter.c) sleeps 300 ms in every op on a key that contains
"@slow", its removal included, and the collector removes unreferenced snapshots one after the other: n such
snapshots make a collection of about n x 0.3 s.
"""
import os
import threading
import time

from harness import Skip, check

SNAP_SVC = "/containerd.services.snapshots.v1.Snapshots/"


def slow_gc_daemon(h, name="slowgc"):
    """A started daemon with the build's plugins and the fake snapshotter."""
    fake = os.path.join(h.build_dir, "tests", "fixture-plugins", "snapfake", "io.containerd.snapshotter.v1.fake.so")
    if not os.path.exists(fake):
        raise Skip("%s not built (target fixture_snapfake_fake_snapshotter)" % fake)
    plugins = os.path.join(h.tmp, "plugins-slowgc")
    if not os.path.isdir(plugins):
        os.mkdir(plugins)
        built = os.path.join(h.build_dir, "lib", "ucontainerd", "plugins")
        for f in sorted(os.listdir(built)):
            os.symlink(os.path.join(built, f), os.path.join(plugins, f))
        os.symlink(fake, os.path.join(plugins, os.path.basename(fake)))
    g = h.daemon(name, plugin_dir=plugins)
    g.start()
    return g


class SlowCollection:
    """Starts a collection that lasts about n x 0.3 s: n unreferenced "@slow" snapshots on the fake snapshotter,
    then a lease deleted with sync, whose answer waits for the collection. wait() returns how long it took."""

    def __init__(self, g, n=10, ns="slowgc"):
        self.g = g
        self.ns = ns
        with g.client() as c:
            ts = [threading.Thread(target=c.call, args=(SNAP_SVC + "Prepare",),
                                   kwargs=dict(ns=ns, snapshotter="fake", key="victim-%d@slow" % i, timeout=30))
                  for i in range(n)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            c.call("leases/Create", ns=ns, id="trigger")
        self.err = []
        self.t0 = time.monotonic()
        self.t = threading.Thread(target=self._delete)
        self.t.start()
        time.sleep(0.3)   # the collection's metadata half runs at once; its backend half takes n x 0.3 s

    def _delete(self):
        try:
            with self.g.client() as c:
                c.call("leases/Delete", ns=self.ns, id="trigger", sync=True, timeout=60)
        except Exception as e:   # noqa: BLE001 -- reported by wait()
            self.err.append(e)

    def running(self):
        return self.t.is_alive()

    def wait(self):
        self.t.join(60)
        check(not self.err, "the lease delete: %r" % self.err[:1])
        return time.monotonic() - self.t0
