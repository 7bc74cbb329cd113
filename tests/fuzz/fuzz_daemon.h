/* The daemon's serving half, in the fuzz target's process: the real gRPC
 * server (core/rpc) on a unix socket in the target's temporary directory,
 * the real services over a real metadata database (core/metadata, sqlite in
 * that directory), the event exchange, the plugin registry, and the ttrpc
 * socket shims forward events to (core/services/events_ttrpc.c). What is
 * left out: the garbage collector (no backend to sweep), the Diff and
 * Tasks services (mounts and shims), and with plugins off, the Content and
 * Snapshots services.
 *
 * An input is sent as one client connection: connect, write every byte,
 * shut down the write side, read what the server answers until it closes
 * the connection, then run the loop until nothing is left to do (no
 * connection, no work on the thread pool, nothing deferred). Every input
 * runs inside a metadata savepoint that is rolled back afterwards, so each
 * input starts from the same database: the one fuzz_daemon_start seeded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "services/services.h"

struct fuzz_daemon {
	uv_loop_t loop;
	struct svc_ctx svc;
	struct config *cfg;
	char *grpc_path, *ttrpc_path;
	bool plugins;
};

/* Starts the daemon once per process (later calls return the same one).
 * `plugins`: load the content store and the snapshotters from the build's
 * plugin directory and serve Content and Snapshots over them. */
struct fuzz_daemon *fuzz_daemon_start(bool plugins);
/* One connection to `socket_path` carrying `data`; returns once the daemon
 * is idle again. The metadata written meanwhile is kept until
 * fuzz_daemon_reset (a seed can build on it). */
void fuzz_daemon_exchange(struct fuzz_daemon *d, const char *socket_path, const uint8_t *data, size_t n);
/* Undoes what the inputs since the last reset wrote to the metadata. */
void fuzz_daemon_reset(struct fuzz_daemon *d);
