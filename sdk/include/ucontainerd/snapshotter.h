/* ucontainerd plugin SDK: the snapshotter kind, "io.containerd.snapshotter.v1".
 * ABI 1.1.
 *
 * A snapshotter plugin's init() returns its instance in out->self and a
 * pointer to a static const struct ucd_snapshotter_ops in out->ops. The
 * daemon puts the Snapshots gRPC service, the per-namespace key space, leases
 * and garbage collection on top; the plugin sees one flat key space.
 *
 * The model is containerd's (snapshots/snapshotter.go), summarised:
 *
 *  - A snapshot has a unique key (`name`), a kind, an optional parent, labels
 *    and created/updated times (equal when it is created). Keys and names
 *    are any non-empty strings - slashes, "..", spaces, any UTF-8: the
 *    daemon passes "<namespace>/<n>/<client's key>" - so never use them as
 *    file names.
 *  - prepare(key, parent) makes an ACTIVE snapshot: a writable filesystem
 *    whose initial content is the parent's (empty when parent is NULL or "").
 *    Its mounts say how to mount it.
 *  - view(key, parent) makes a VIEW: like prepare, but read-only mounts, and
 *    it can never be committed.
 *  - commit(name, key) turns the ACTIVE snapshot `key` into the COMMITTED
 *    snapshot `name` (key disappears). Only committed snapshots can be
 *    parents. A committed snapshot's content never changes.
 *  - remove(key) deletes a snapshot of any kind that has no children.
 *
 * Errors (class, then the condition; messages are free but should name the
 * key in backticks, e.g. "snapshot `k`: already exists"):
 *   UCD_NOT_FOUND            key, name or parent unknown
 *   UCD_ALREADY_EXISTS       prepare/view/commit to a key or name that exists
 *   UCD_INVALID_ARGUMENT     parent is not COMMITTED; empty key or commit
 *                            name; an update
 *                            field path other than labels / labels.<key>
 *   UCD_FAILED_PRECONDITION  commit of a snapshot that is not ACTIVE; remove of
 *                            a snapshot with children; mounts of a COMMITTED one
 *
 * Threads: every op is BLOCKING and is called on one of the daemon's worker
 * threads, never on the loop thread, possibly CONCURRENTLY with any other op
 * on the same instance (several clients, parallel layer unpacks). The plugin
 * serialises what needs it. Ops must not call host->get_plugin (loop only).
 *
 * Memory: see types.h. Every `*out` is filled with host->alloc'ed members;
 * the daemon releases it with ucd_snapshot_info_release / ucd_mounts_release.
 *
 * `ucontainerd-snapshotter-conformance PLUGIN.so` (installed with the SDK)
 * checks all of this against a plugin; run it in your CI.
 */
#ifndef UCONTAINERD_SNAPSHOTTER_H
#define UCONTAINERD_SNAPSHOTTER_H

#include <stddef.h>
#include <stdint.h>

#include <ucontainerd/error.h>
#include <ucontainerd/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The plugin type string of this kind. */
#define UCD_SNAPSHOTTER_TYPE "io.containerd.snapshotter.v1"

/* Values are containerd's snapshots.Kind and the Snapshots API enum. */
enum ucd_snapshot_kind {
	UCD_SNAPSHOT_UNKNOWN = 0,
	UCD_SNAPSHOT_VIEW = 1,
	UCD_SNAPSHOT_ACTIVE = 2,
	UCD_SNAPSHOT_COMMITTED = 3,
};

struct ucd_snapshot_info {
	char *name;          /* the key (active, view) or committed name */
	char *parent;        /* committed parent's name; NULL when none */
	int32_t kind;        /* enum ucd_snapshot_kind */
	struct ucd_labels labels;
	int64_t created_at;  /* nanoseconds since the epoch, UTC */
	int64_t updated_at;
};

/* Disk use, as containerd's snapshots.Usage. For a committed snapshot it may
 * be what was measured at commit; for an active one it is measured now. A
 * layered snapshotter (overlayfs) counts only what the snapshot adds on top
 * of its parent; a copying one (native) counts its whole tree, parent's copy
 * included, as containerd's native does. Either way, writing N bytes into an
 * active snapshot makes its usage grow by about N. */
struct ucd_snapshot_usage {
	int64_t size;    /* bytes */
	int64_t inodes;
};

/* Called by walk for each snapshot; `info` is borrowed for the call. A
 * non-zero return stops the walk, and walk returns that value. */
typedef int (*ucd_snapshot_walk_fn)(void *arg, const struct ucd_snapshot_info *info);

struct ucd_snapshotter_ops {
	/* sizeof(struct ucd_snapshotter_ops) as the plugin was compiled: ops
	 * appended in later minors are present only when size covers them. */
	uint32_t size;
	uint32_t reserved0;

	/* Information about a snapshot of any kind. */
	int (*stat)(void *self, const char *key, struct ucd_snapshot_info *out, struct ucd_error **err);
	/* Changes the labels of snapshot info->name, like containerd's Update:
	 * no field paths replace all labels with info->labels; "labels" does
	 * the same; "labels.<k>" sets key k from info->labels (or removes it when
	 * info->labels lacks k). Other paths: UCD_INVALID_ARGUMENT. Sets
	 * updated_at. Fills *out with the result. */
	int (*update)(void *self, const struct ucd_snapshot_info *info, const char *const *fieldpaths,
		      size_t n_fieldpaths, struct ucd_snapshot_info *out, struct ucd_error **err);
	/* Disk use of a snapshot of any kind. */
	int (*usage)(void *self, const char *key, struct ucd_snapshot_usage *out, struct ucd_error **err);
	/* Mounts of an ACTIVE (read-write) or VIEW (read-only: every mount
	 * carries "ro") snapshot. Options may be longer than mount(2) takes
	 * in one page (an overlay on many layers): as with containerd's
	 * mount.All, whoever mounts them shortens long lowerdir lists, so a
	 * snapshotter does not refuse deep chains for that reason. */
	int (*mounts)(void *self, const char *key, struct ucd_mounts *out, struct ucd_error **err);
	/* Creates ACTIVE `key` on `parent` (NULL or "": none) with `labels`
	 * (borrowed; may be NULL when n_labels is 0) and returns its mounts. */
	int (*prepare)(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		       size_t n_labels, struct ucd_mounts *out, struct ucd_error **err);
	/* Creates VIEW `key` on `parent`; mounts are read-only. */
	int (*view)(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		    size_t n_labels, struct ucd_mounts *out, struct ucd_error **err);
	/* Commits ACTIVE `key` as `name` with `labels` (replacing the active
	 * snapshot's labels); `key` no longer exists afterwards. The usage is
	 * computed here. */
	int (*commit)(void *self, const char *name, const char *key, const struct ucd_label *labels,
		      size_t n_labels, struct ucd_error **err);
	/* Removes a snapshot that has no children. */
	int (*remove)(void *self, const char *key, struct ucd_error **err);
	/* Calls fn for every snapshot, in any order. Filtering (containerd's
	 * walk filters) is the daemon's job: it applies them to what walk
	 * reports, so name, parent, kind and labels must be exact. A walk may
	 * see a snapshot created or removed concurrently, or not. When fn
	 * returns non-zero, walk stops and returns that value, leaving *err
	 * unset. */
	int (*walk)(void *self, ucd_snapshot_walk_fn fn, void *arg, struct ucd_error **err);
	/* Optional (NULL: nothing to clean). Frees disk space of removed
	 * snapshots that remove() left behind (containerd's Cleaner; asynchronous
	 * removal makes remove() cheap). */
	int (*cleanup)(void *self, struct ucd_error **err);

	/* -- ABI 1.1 ends here; append only -- */
};

#define UCD_SNAPSHOTTER_OPS_HAS(ops, m) \
	((ops)->size >= offsetof(struct ucd_snapshotter_ops, m) + sizeof((ops)->m) && (ops)->m != NULL)

static inline void ucd_snapshot_info_release(void (*free_fn)(void *), struct ucd_snapshot_info *i)
{
	free_fn(i->name);
	free_fn(i->parent);
	i->name = i->parent = NULL;
	ucd_labels_release(free_fn, &i->labels);
}

#ifdef __cplusplus
}
#endif

#endif
