/* What changed between two directory trees: continuity's double-walk
 * (fs.Changes), the order and rules containerd's walking differ relies on.
 *
 * The upper tree may belong to a running container that renames, replaces
 * and deletes names while the walk goes on. So the walk never resolves a
 * path: it holds the directories it is in open and names each entry by
 * (that directory's fd, its name); whoever reads an entry later pins it
 * (compare_pin), which refuses a name that now denotes another inode than
 * the one the walk saw. Nothing is followed through a symlink, and no
 * device or fifo is ever opened. */
#pragma once
#include <stdbool.h>
#include <sys/stat.h>
#include <ucontainerd/error.h>

#include "diff/diff.h"

enum change_kind {
	CHANGE_UNMODIFIED,   /* only for hard-linked files, so links can be kept */
	CHANGE_ADD,
	CHANGE_MODIFY,
	CHANGE_DELETE,
};

struct change {
	enum change_kind kind;
	const char *path;        /* relative to the roots: "a/b" */
	const struct stat *st;   /* of the upper entry as the walk saw it; NULL for a deletion */
	int dir;                 /* the upper directory holding the entry, open while fn runs */
	const char *name;        /* the entry's name in dir */
};

typedef int (*change_fn)(void *arg, const struct change *c, struct ucd_error **err);

/* Calls fn for every change, parents before children, names in byte order
 * within a directory. lower < 0: an empty tree. A deleted directory is one
 * change (its contents are not listed). `cancelled` is asked before each
 * directory and each entry. A tree deeper than DIFF_MAX_DEPTH is
 * FAILED_PRECONDITION; an entry that changed under the walk is ABORTED. */
int compare_trees(int lower, int upper, change_fn fn, void *arg, diff_cancelled_fn cancelled, void *cancel_arg,
		  struct ucd_error **err);

/* Opens `name` in directory fd `dir` as an O_PATH descriptor, never
 * following it, and checks that it is the inode `seen` describes (device,
 * number, file type). Returns the fd, -ESTALE when the name now denotes
 * something else, or -errno (-ENOENT: it is gone). */
int compare_pin(int dir, const char *name, const struct stat *seen);
/* A descriptor for reading the pinned regular file `pin` (never a device
 * or a fifo: compare_pin checked the type). Returns the fd or -errno. */
int compare_open_pinned(int pin);
/* The error for an entry that could not be pinned or read as the walk saw
 * it (-ESTALE, -ENOENT: ABORTED "changed during the diff"; else UNKNOWN).
 * Returns -code. */
int compare_pin_error(const char *path, int neg_errno, struct ucd_error **err);
