/* What a snapshot contains, seen through real mounts: parent chains, views,
 * the immutability of committed snapshots, a deep chain. Needs root. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "case_util.h"
#include "cases.h"
#include "files.h"
#include "util/mem.h"

#define R_CHAIN "snapshotter.h prepare: an ACTIVE snapshot's initial content is its parent's (and so its ancestors')"
#define R_ACTIVE_KEEPS "snapshotter.h: an ACTIVE snapshot keeps what was written to it, as mounts shows again"
#define R_VIEW_CONTENT "snapshotter.h view: a VIEW shows its parent's content"
#define R_VIEW_RO "snapshotter.h view: a VIEW is read-only: writing through its mounts fails with EROFS"
#define R_IMMUTABLE "snapshotter.h: a committed snapshot's content never changes"
#define R_ISOLATED "snapshotter.h: snapshots on the same parent do not see each other's writes"
#define R_DEEP "snapshotter.h: a long parent chain mounts and shows every layer"

/* One committed layer: prepare on parent, write files, commit. files is
 * "name", "content", ... NULL; a NULL content deletes the file. */
static bool layer(struct tcase *t, const char *name, const char *parent, const char *const *files)
{
	autofree char *key = xasprintf("%s-active", name);
	const char *dir = prepare_mounted(t, key, parent);
	if (dir == NULL)
		return false;
	bool ok = true;
	for (size_t i = 0; files[i] != NULL && ok; i += 2) {
		if (files[i + 1] != NULL)
			ok = tc_write(t, dir, files[i], files[i + 1]);
		else
			ok = TC_CHECK(t, files_unlink(dir, files[i]) == 0, R_CHAIN, "delete `%s` in `%s`: %s",
			              files[i], key, strerror(errno));
	}
	tc_unmount(t, dir);
	return ok && EXPECT_OK(t, sn_commit(t, name, key, NULL, 0), R_SETUP, "commit `%s` as `%s`", key, name);
}

void case_content_chain(struct tcase *t)
{
	if (!layer(t, "l0", NULL, (const char *[]){"f0", "zero", "top", "0", NULL}) ||
	    !layer(t, "l1", "l0", (const char *[]){"f1", "one", "top", "1", NULL}) ||
	    !layer(t, "l2", "l1", (const char *[]){"f2", "two", "top", "2", NULL}))
		return;
	const char *dir = prepare_mounted(t, "l3", "l2");
	if (dir == NULL)
		return;
	tc_expect_file(t, dir, "f0", "zero", R_CHAIN);
	tc_expect_file(t, dir, "f1", "one", R_CHAIN);
	tc_expect_file(t, dir, "f2", "two", R_CHAIN);
	tc_expect_file(t, dir, "top", "2", R_CHAIN);
	tc_write(t, dir, "f3", "three");
	tc_unmount(t, dir);
	expect_snapshot(t, "l0", UCD_SNAPSHOT_COMMITTED, NULL, R_CHAIN);
	expect_snapshot(t, "l1", UCD_SNAPSHOT_COMMITTED, "l0", R_CHAIN);
	expect_snapshot(t, "l2", UCD_SNAPSHOT_COMMITTED, "l1", R_CHAIN);
	expect_snapshot(t, "l3", UCD_SNAPSHOT_ACTIVE, "l2", R_CHAIN);

	/* The active snapshot keeps its write across mounts. */
	if ((dir = mounts_mounted(t, "l3")) != NULL) {
		tc_expect_file(t, dir, "f3", "three", R_ACTIVE_KEEPS);
		tc_expect_file(t, dir, "f0", "zero", R_ACTIVE_KEEPS);
		tc_unmount(t, dir);
	}
	/* A view of l1 shows l0 and l1, nothing later. */
	if ((dir = view_mounted(t, "v1", "l1")) != NULL) {
		tc_expect_file(t, dir, "f0", "zero", R_VIEW_CONTENT);
		tc_expect_file(t, dir, "f1", "one", R_VIEW_CONTENT);
		tc_expect_file(t, dir, "f2", NULL, R_VIEW_CONTENT);
		tc_expect_file(t, dir, "top", "1", R_VIEW_CONTENT);
		tc_unmount(t, dir);
	}
}

static void expect_readonly(struct tcase *t, const char *dir, const char *what)
{
	int r = files_write(dir, "new-file", "x", 1);
	int e = errno;
	TC_CHECK(t, r < 0 && e == EROFS, R_VIEW_RO, "creating a file through the mounts of %s: %s", what,
	         r == 0 ? "succeeded" : strerror(e));
	r = files_write(dir, "existing", "changed", 7);
	e = errno;
	TC_CHECK(t, r < 0 && e == EROFS, R_VIEW_RO, "overwriting a file through the mounts of %s: %s", what,
	         r == 0 ? "succeeded" : strerror(e));
	r = files_mkdir(dir, "new-dir");
	e = errno;
	TC_CHECK(t, r < 0 && e == EROFS, R_VIEW_RO, "mkdir through the mounts of %s: %s", what,
	         r == 0 ? "succeeded" : strerror(e));
}

void case_view_readonly(struct tcase *t)
{
	if (!layer(t, "base", NULL, (const char *[]){"existing", "original", NULL}))
		return;
	const char *dir = view_mounted(t, "v", "base");
	if (dir != NULL) {
		expect_readonly(t, dir, "view `v` (from view)");
		tc_unmount(t, dir);
	}
	if ((dir = mounts_mounted(t, "v")) != NULL) {
		expect_readonly(t, dir, "view `v` (from mounts)");
		tc_unmount(t, dir);
	}
	/* Whatever was attempted, the parent is unchanged. */
	if ((dir = view_mounted(t, "v2", "base")) != NULL) {
		tc_expect_file(t, dir, "existing", "original", R_IMMUTABLE);
		tc_expect_file(t, dir, "new-file", NULL, R_IMMUTABLE);
		tc_unmount(t, dir);
	}
	if ((dir = view_mounted(t, "v0", NULL)) != NULL) {
		int r = files_write(dir, "new-file", "x", 1);
		int e = errno;
		TC_CHECK(t, r < 0 && e == EROFS, R_VIEW_RO, "creating a file through the mounts of view `v0` (no parent): %s",
		         r == 0 ? "succeeded" : strerror(e));
		tc_unmount(t, dir);
	}
}

void case_committed_immutable(struct tcase *t)
{
	if (!layer(t, "base", NULL, (const char *[]){"a", "A", "b", "B", "keep", "K", NULL}))
		return;
	const char *child = prepare_mounted(t, "child", "base");
	const char *sib = prepare_mounted(t, "sibling", "base");
	if (child == NULL || sib == NULL)
		return;
	tc_write(t, child, "a", "changed by child");
	TC_CHECK(t, files_unlink(child, "b") == 0, R_CHAIN, "delete `b` in the child: %s", strerror(errno));
	tc_write(t, child, "c", "new in child");
	/* The sibling, on the same parent, sees none of it, and vice versa. */
	tc_expect_file(t, sib, "a", "A", R_ISOLATED);
	tc_expect_file(t, sib, "b", "B", R_ISOLATED);
	tc_expect_file(t, sib, "c", NULL, R_ISOLATED);
	tc_write(t, sib, "s", "sibling's");
	tc_expect_file(t, child, "s", NULL, R_ISOLATED);
	tc_unmount(t, child);
	tc_unmount(t, sib);

	const char *v = view_mounted(t, "v-base", "base");
	if (v != NULL) {
		tc_expect_file(t, v, "a", "A", R_IMMUTABLE);
		tc_expect_file(t, v, "b", "B", R_IMMUTABLE);
		tc_expect_file(t, v, "c", NULL, R_IMMUTABLE);
		tc_expect_file(t, v, "s", NULL, R_IMMUTABLE);
		tc_unmount(t, v);
	}
	/* Committing the child: its changes, deletion included, are its own. */
	if (!EXPECT_OK(t, sn_commit(t, "top", "child", NULL, 0), R_SETUP, "commit `child` as `top`"))
		return;
	if ((v = view_mounted(t, "v-top", "top")) != NULL) {
		tc_expect_file(t, v, "a", "changed by child", R_CHAIN);
		tc_expect_file(t, v, "b", NULL, R_CHAIN);
		tc_expect_file(t, v, "c", "new in child", R_CHAIN);
		tc_expect_file(t, v, "keep", "K", R_CHAIN);
		tc_unmount(t, v);
	}
	if ((v = view_mounted(t, "v-base2", "base")) != NULL) {
		tc_expect_file(t, v, "a", "A", R_IMMUTABLE);
		tc_expect_file(t, v, "b", "B", R_IMMUTABLE);
		tc_unmount(t, v);
	}
}

#define DEPTH 50

void case_chain_50(struct tcase *t)
{
	char parent[32] = "", name[32], key[32], file[32], content[32];
	for (int i = 0; i < DEPTH; i++) {
		snprintf(key, sizeof key, "layer-%02d-active", i);
		snprintf(name, sizeof name, "layer-%02d", i);
		const char *dir = prepare_mounted(t, key, parent[0] ? parent : NULL);
		if (dir == NULL)
			return;
		bool ok = true;
		if (i > 0) {
			ok = tc_expect_file(t, dir, "bottom", "way at the bottom", R_DEEP);
			snprintf(file, sizeof file, "file-%02d", i - 1);
			snprintf(content, sizeof content, "layer %d", i - 1);
			ok = tc_expect_file(t, dir, file, content, R_DEEP) && ok;
			ok = tc_expect_file(t, dir, "overwritten", content, R_DEEP) && ok;
		} else {
			ok = tc_write(t, dir, "bottom", "way at the bottom");
		}
		snprintf(file, sizeof file, "file-%02d", i);
		snprintf(content, sizeof content, "layer %d", i);
		ok = ok && tc_write(t, dir, file, content) && tc_write(t, dir, "overwritten", content);
		tc_unmount(t, dir);
		if (!ok || !EXPECT_OK(t, sn_commit(t, name, key, NULL, 0), R_DEEP, "commit layer %d", i))
			return;
		snprintf(parent, sizeof parent, "%s", name);
	}
	const char *dir = view_mounted(t, "full-view", parent);
	if (dir == NULL)
		return;
	tc_expect_file(t, dir, "bottom", "way at the bottom", R_DEEP);
	snprintf(content, sizeof content, "layer %d", DEPTH - 1);
	tc_expect_file(t, dir, "overwritten", content, R_DEEP);
	for (int i = 0; i < DEPTH; i++) {
		snprintf(file, sizeof file, "file-%02d", i);
		snprintf(content, sizeof content, "layer %d", i);
		if (!tc_expect_file(t, dir, file, content, R_DEEP))
			break;
	}
	tc_unmount(t, dir);
	expect_snapshot(t, "layer-49", UCD_SNAPSHOT_COMMITTED, "layer-48", R_DEEP);
}
