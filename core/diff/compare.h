/* What changed between two directory trees: continuity's double-walk
 * (fs.Changes), the order and rules containerd's walking differ relies on. */
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
	const struct stat *st;   /* of the upper file; NULL for a deletion */
};

typedef int (*change_fn)(void *arg, const struct change *c, struct ucd_error **err);

/* Calls fn for every change, parents before children, names in byte order
 * within a directory. lower < 0: an empty tree. A deleted directory is one
 * change (its contents are not listed). */
int compare_trees(int lower, int upper, change_fn fn, void *arg, diff_cancelled_fn cancelled, void *cancel_arg,
		  struct ucd_error **err);
