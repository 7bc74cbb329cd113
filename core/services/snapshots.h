/* The snapshotter plugins as the daemon drives them: lookup by name, the
 * blocking plugin ops run on libuv's thread pool, and the bookkeeping of
 * snapshots that requests are creating right now. Used by the Snapshots
 * gRPC service (snapshots.c) and by the core code that must touch a
 * snapshotter too (garbage collection, image unpack). Loop thread only.
 *
 * Names: a snapshot is `key` in namespace `ns` of snapshotter `sn` (what
 * clients see, core/metadata's rows); the plugin stores it under its
 * backend key "<ns>/<seq>/<key>" (md_snapshot_new_backend_key). */
#pragma once
#include <stdbool.h>
#include <ucontainerd/error.h>
#include <ucontainerd/host.h>
#include <ucontainerd/snapshotter.h>

struct svc_ctx;

/* A loaded snapshotter plugin. Pointers are the registry's; they stay valid
 * until the registry closes the plugins, after the loop has finished every
 * queued job. */
struct snap_backend {
	const char *name;                        /* plugin id: "overlayfs" */
	void *self;
	const struct ucd_snapshotter_ops *ops;
	const struct ucd_host *host;             /* host->free releases what ops hand out */
};

/* Finds snapshotter `name` among the plugins that initialized (`ok`).
 * Errors are containerd's: INVALID_ARGUMENT "snapshotter argument missing"
 * for "", "snapshotter not loaded: <name>" for any other miss (a plugin
 * that skipped or failed, or none of that name). */
int snap_backend_find(struct svc_ctx *ctx, const char *name, struct snap_backend *out, struct ucd_error **err);

/* A new backend key "<ns>/<seq>/<key>" for a snapshot of `sn`. Sequence
 * numbers come from blocks reserved in the metadata store
 * (md_snapshot_reserve_sequence), so most calls write nothing; call it
 * outside any transaction. */
int snap_new_backend_key(struct svc_ctx *ctx, const char *sn, const char *ns, const char *key, char **out,
			 struct ucd_error **err);

/* Queues the removal of backend snapshot `backend_key` of `be`. Removals of
 * one snapshotter run one at a time in the order they were queued, so a
 * child queued before its parent is gone before the parent's turn (the
 * plugin refuses to remove a snapshot with children). `done` (may be NULL)
 * runs on the loop afterwards with the plugin's error, NULL on success; the
 * error is borrowed for the call. A backend snapshot that no longer exists
 * counts as removed. */
typedef void (*snap_removed_fn)(void *arg, const struct ucd_error *e);
void snap_backend_remove(struct svc_ctx *ctx, const struct snap_backend *be, const char *backend_key,
			 snap_removed_fn done, void *arg);

/* --- snapshots in flight ----------------------------------------------------------
 *
 * Between its metadata checks and its metadata write, a request runs the
 * plugin op on the thread pool; meanwhile these holds stand for what it is
 * doing, so that concurrent requests act as if it had already happened.
 * (The garbage collector is kept off by gc_mutation_begin/end instead.) */
enum snap_hold_kind {
	SNAP_HOLD_CREATE,   /* key being created: Prepare, View, Commit's name */
	SNAP_HOLD_COMMIT,   /* active key being committed: gone once the commit is recorded */
	SNAP_HOLD_PARENT,   /* committed key a snapshot is being created on: it has a child */
};
struct snap_hold;
struct snap_hold *snap_hold_add(enum snap_hold_kind kind, const char *sn, const char *ns, const char *key);
/* NULL is a no-op. */
void snap_hold_release(struct snap_hold *h);
bool snap_held(enum snap_hold_kind kind, const char *sn, const char *ns, const char *key);
