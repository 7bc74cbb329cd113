/* The services the core serves over its metadata, its registry and its
 * event exchange. Each service lives in its own file and registers its method
 * table on the gRPC server with svc_<name>_register(). */
#pragma once
#include <uv.h>

struct rpc_server;
struct md_db;
struct events;
struct registry;
struct config;
struct gc;
struct ttrpc_server;
struct ucd_error;
struct ucd_host;
struct ucd_init_ctx;
struct ucd_plugin_out;

struct svc_ctx {
	uv_loop_t *loop;
	struct rpc_server *server;
	struct md_db *db;          /* core/metadata/db.h */
	struct events *events;     /* core/events/events.h */
	struct registry *registry; /* core/registry/registry.h */
	const struct config *config;
	const char *uuid;          /* this daemon's persistent server UUID (introspection) */
	struct gc *gc;             /* core/gc/gc.h: the garbage collector */
	struct ttrpc_server *ttrpc; /* the `.ttrpc` socket for shims (events_ttrpc.c) */
	struct svc_defer *defer;   /* work run after the current callback and its replies (defer.c) */
};

/* defer.c: `fn(arg)` runs on the loop once the callback deferring it has
 * returned and the replies it made are written (libuv's idle phase, before
 * the loop blocks); for work a handler starts once it has answered.
 * Before svc_defer_init and after svc_defer_close it runs at once. Close
 * runs what is pending. */
void svc_defer_init(struct svc_ctx *ctx);
void svc_defer(struct svc_ctx *ctx, void (*fn)(void *arg), void *arg);
void svc_defer_close(struct svc_ctx *ctx);

void svc_version_register(struct svc_ctx *ctx);
void svc_introspection_register(struct svc_ctx *ctx);
void svc_health_register(struct svc_ctx *ctx);
void svc_events_register(struct svc_ctx *ctx);
void svc_namespaces_register(struct svc_ctx *ctx);
void svc_containers_register(struct svc_ctx *ctx);
void svc_images_register(struct svc_ctx *ctx);
void svc_leases_register(struct svc_ctx *ctx);
/* containerd.services.content.v1.Content over the content plugin and the
 * metadata store (content.c, content_read.c, content_write.c). */
void svc_content_register(struct svc_ctx *ctx);
/* containerd.services.snapshots.v1.Snapshots over the snapshotter plugins
 * (snapshots.c; snapshots.h for the core's other users of snapshotters). */
void svc_snapshots_register(struct svc_ctx *ctx);
/* containerd.services.diff.v1.Diff: layer apply and diff (core/diff). */
void svc_diff_register(struct svc_ctx *ctx);
/* containerd.services.tasks.v1.Tasks over the runtime v2 plugin (tasks.c):
 * attaches the plugin (it reconnects to the shims that outlived the last
 * daemon) and serves; not served, after logging why, when it cannot. */
void svc_tasks_register(struct svc_ctx *ctx);
/* Init of the built-in plugin io.containerd.grpc.v1.tasks: `skip`, saying
 * why, when the runtime plugin io.containerd.runtime.v2.task is not there
 * (not installed, disabled, skipped, failed, or built with a vtable this
 * daemon cannot use). */
int svc_tasks_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		   struct ucd_error **err);
/* Detaches the runtime plugin (shims keep running); before the loop closes. */
void svc_tasks_shutdown(struct svc_ctx *ctx);
/* The ttrpc socket where shims forward events (events_ttrpc.c): its path
 * (the config's [ttrpc] address, else "<grpc address>.ttrpc"; free it). */
char *svc_ttrpc_address(const struct config *cfg);
int svc_events_ttrpc_start(struct svc_ctx *ctx, struct ucd_error **err);
void svc_events_ttrpc_stop(struct svc_ctx *ctx);
/* Stops timers a service started (lease expiry); before the loop closes. */
void svc_leases_shutdown(struct svc_ctx *ctx);
