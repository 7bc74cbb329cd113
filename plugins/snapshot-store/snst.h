/* snapshot-store: what the overlayfs and native snapshotters share.
 *
 * Both plugins keep the same bookkeeping as containerd's snapshots/storage:
 * a record per snapshot (numeric id, name, parent, kind, labels, times,
 * usage measured at commit) and the same rules (only committed snapshots
 * are parents, a snapshot with children cannot be removed). This library
 * implements every op of struct ucd_snapshotter_ops on top of that; a
 * plugin supplies a struct snst_driver that says how a snapshot's directory
 * is filled (overlay: empty fs + work; native: a copy of the parent) and
 * what its mounts are.
 *
 * On disk, under the plugin's root:
 *
 *   metadata.db        sqlite3 (WAL): the records (db.c)
 *   snapshots/<id>/    one directory per snapshot, its layout the driver's
 *   trash/             removed snapshots, deleted by a background thread
 *
 * Threads: every snst_* op may run on any thread, concurrently. One mutex
 * guards the records and the database handle; slow disk work (filling a
 * new snapshot, measuring usage, deleting trees) runs without it. While a
 * snapshot is being created or committed its record is "busy": other ops on
 * that name wait for it to settle, so concurrent callers see the same
 * outcomes as if the ops had run one after the other.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontainerd/ucontainerd.h>

struct snst;

/* What differs between snapshotters. Hooks run without the store's lock
 * unless said otherwise. */
struct snst_driver {
	/* Short name for messages, e.g. "overlayfs". */
	const char *name;
	/* Below snapshots/<id>/: the directory whose disk use is a snapshot's
	 * usage ("fs" for overlay: its upper directory; "" for native). */
	const char *usage_subdir;
	/* Fills `dir` (snapshots/<id>, empty, mode 0755; the record is not
	 * live until this returns 0) for a new snapshot of `kind`
	 * whose ancestors' ids are parents[0] (the parent) ... parents[n-1].
	 * Those ancestors cannot go away while this runs. A snapshot that needs
	 * no directory of its own may leave `dir` empty. */
	int (*create)(struct snst *s, const char *dir, uint64_t id, int kind, const uint64_t *parents,
		      size_t n_parents, struct ucd_error **err);
	/* The mounts of snapshot `id` (ACTIVE or VIEW) with that ancestry. Also
	 * called before create() to refuse a snapshot that could never be
	 * mounted; must then fail without side effects. */
	int (*mounts)(struct snst *s, uint64_t id, int kind, const uint64_t *parents, size_t n_parents,
		      struct ucd_mounts *out, struct ucd_error **err);
	/* Optional. Snapshot `id` is gone (its record deleted, its directory
	 * in the trash or never made): drop what create() made elsewhere. */
	void (*removed)(struct snst *s, uint64_t id);
	/* Optional. Called with the lock held, at open and by cleanup, with the
	 * ids that exist or are being created (sorted): repair and sweep what
	 * create() made elsewhere. */
	void (*sweep)(struct snst *s, const uint64_t *ids, size_t n_ids);
	/* Optional. Adds to an info about to be handed out (e.g. the
	 * overlay.upperdir label). Labels are host->alloc'ed. */
	void (*decorate)(struct snst *s, uint64_t id, struct ucd_snapshot_info *info);
};

struct snst_opts {
	const struct ucd_host *host;
	const struct ucd_init_ctx *ic;  /* for host->log */
	const char *root;               /* exists */
	const struct snst_driver *driver;
	void *driver_arg;               /* snst_driver_arg() */
};

/* Opens (creating when new) metadata.db, snapshots/ and trash/ under
 * opts->root, loads the records, moves leftovers of a crash (directories no
 * record names) to the trash and starts the thread that empties it. */
int snst_open(const struct snst_opts *opts, struct snst **out, struct ucd_error **err);
/* Stops the trash thread (what it has not deleted yet stays in trash/ and
 * is deleted after the next start) and frees everything. */
void snst_close(struct snst *s);

/* The vtable both plugins hand out; `self` is the struct snst. */
extern const struct ucd_snapshotter_ops snst_ops;

/* ---- for drivers ---- */

const struct ucd_host *snst_host(const struct snst *s);
const struct ucd_init_ctx *snst_ic(const struct snst *s);
void *snst_driver_arg(const struct snst *s);
const char *snst_root(const struct snst *s);
/* host->alloc'ed "<root>/snapshots/<id><suffix>", suffix e.g. "/fs" or "". */
char *snst_dir(const struct snst *s, uint64_t id, const char *suffix);

/* Small helpers (util.c); strings are host->alloc'ed. */
char *snst_strdup(const struct ucd_host *h, const char *str);
char *snst_printf(const struct ucd_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends one mount; `opts` are copied. */
void snst_mount_add(const struct ucd_host *h, struct ucd_mounts *m, const char *type, const char *source,
		    const char *const *opts, size_t n_opts);
/* The host's dir_ensure (ABI 1.2): mkdir -p with `mode` for the directories
 * it creates, an existing one checked (owner, symlinks and modes on the
 * way) and narrowed to `mode`. *created (may be NULL) gets the topmost
 * directory it created (host->alloc'ed; NULL when it created none), so a
 * skipping init can undo exactly that. */
int snst_mkdir_all(const struct ucd_host *h, const char *path, mode_t mode, char **created,
		   struct ucd_error **err);
/* An error of a failed syscall: class from errno, message "<what>: <strerror>". */
int snst_errno(const struct ucd_host *h, struct ucd_error **err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* mkdir(path, mode), then chmod only when the process umask took bits of
 * `mode` away (a chmod is a journalled inode write: skipped when it would
 * change nothing). */
int snst_mkdir_exact(const struct snst *s, const char *path, mode_t mode);
/* Nanoseconds since the epoch. */
int64_t snst_now(void);
/* Declares the platform the daemon runs on (containerd's platforms.DefaultSpec). */
void snst_platform_add(const struct ucd_host *h, const struct ucd_init_ctx *ic);

/* Deletes `name` under directory fd `dirfd` and everything below it,
 * without following symlinks or crossing into other filesystems. Stops
 * early (returning -ECANCELED) when *stop becomes true (stop may be NULL).
 * Returns 0 or -errno of the first failure (it still deletes what it can). */
int snst_remove_tree(int dirfd, const char *name, const volatile bool *stop);
/* Deletes `path` like snst_remove_tree; ENOENT is success. */
int snst_remove_path(const char *path);

/* Disk use of the tree at `path` as containerd's fs.DiskUsage counts it:
 * every distinct inode once (hard links too), size = allocated blocks. */
int snst_disk_usage(const struct ucd_host *h, const char *path, int64_t *size, int64_t *inodes,
		    struct ucd_error **err);

/* How deep trees the walks (usage, copy, removal) follow; deeper trees are
 * refused by usage and copy (removal handles them). */
#define SNST_MAX_DEPTH 512
