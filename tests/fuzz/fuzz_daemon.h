/* The daemon's serving half, in the fuzz target's process: the real gRPC
 * server (core/rpc) on a unix socket in the target's temporary directory,
 * the real services over a real metadata database (core/metadata, sqlite in
 * that directory), the event exchange, the plugin registry, and the ttrpc
 * socket shims forward events to (core/services/events_ttrpc.c). What is
 * left out: the garbage collector (no backend to sweep); the Content and
 * Snapshots services unless FUZZ_DAEMON_STORAGE; the Diff and Tasks
 * services (mounts, shims) unless FUZZ_DAEMON_TASKS.
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

struct toml_value;

struct fuzz_daemon {
	uv_loop_t loop;
	struct svc_ctx svc;
	struct config *cfg;
	char *grpc_path, *ttrpc_path;
	unsigned parts;
	struct toml_value *plugin_config;
};

/* What the daemon serves beyond its core services (a set of flags). */
enum {
	/* the content store and the snapshotters, loaded from the build's
	 * plugin directory, with the Content and Snapshots services */
	FUZZ_DAEMON_STORAGE = 1,
	/* with the storage: the runtime plugin and the Tasks and Diff services.
	 * The runtime's shim for io.containerd.runc.v2 is configured as a path
	 * that does not exist; the target itself must keep the shims a request
	 * may name (runtime_path) and the mounts a Diff request names from
	 * running (fuzz_task_requests.c does: seccomp). */
	FUZZ_DAEMON_TASKS = 2,
};

/* Starts the daemon once per process (later calls return the same one)
 * with the `parts` named (FUZZ_DAEMON_*; 0: the core services only). */
struct fuzz_daemon *fuzz_daemon_start(unsigned parts);
/* One connection to `socket_path` carrying `data`; returns once the daemon
 * is idle again. The metadata written meanwhile is kept until
 * fuzz_daemon_reset (a seed can build on it). */
void fuzz_daemon_exchange(struct fuzz_daemon *d, const char *socket_path, const uint8_t *data, size_t n);
/* Undoes what the inputs since the last reset wrote to the metadata. */
void fuzz_daemon_reset(struct fuzz_daemon *d);
