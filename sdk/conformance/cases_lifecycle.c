/* The life cycle of snapshots and the error class of every misuse
 * (snapshotter.h "Errors"), as containerd's snapshots/testsuite and
 * snapshots/storage define them. None of these cases mounts anything. */
#include <string.h>

#include "case_util.h"
#include "cases.h"

#define R_PREPARE "snapshotter.h prepare: makes an ACTIVE snapshot whose name is the key"
#define R_COMMIT "snapshotter.h commit: turns ACTIVE `key` into COMMITTED `name`; key disappears"
#define R_EMPTY_PARENT "snapshotter.h prepare: parent NULL or \"\" means no parent"
#define R_KINDS "snapshotter.h: stat reports the kind and the committed parent"
#define R_EXISTS "snapshotter.h errors: ALREADY_EXISTS for prepare/view/commit to a key or name that exists"
#define R_MISSING "snapshotter.h errors: NOT_FOUND for an unknown key, name or parent"
#define R_NOT_COMMITTED "snapshotter.h errors: INVALID_ARGUMENT when the parent is not COMMITTED"
#define R_EMPTY_KEY "snapshotter.h errors: INVALID_ARGUMENT for an empty key"
#define R_NOT_ACTIVE "snapshotter.h errors: FAILED_PRECONDITION for commit of a snapshot that is not ACTIVE"
#define R_UNCHANGED "snapshotter.h: a failed op changes nothing"
#define R_MOUNTS_VIEW "snapshotter.h mounts: a VIEW's mounts are read-only: every mount carries \"ro\""
#define R_MOUNTS_COMMITTED "snapshotter.h errors: FAILED_PRECONDITION for mounts of a COMMITTED snapshot"
#define R_REMOVE_CHILDREN "snapshotter.h errors: FAILED_PRECONDITION for remove of a snapshot with children"
#define R_REMOVE "snapshotter.h remove: deletes a snapshot of any kind that has no children"

void case_basic_prepare_commit(struct tcase *t)
{
	if (!EXPECT_OK(t, sn_prepare(t, "a", NULL, NULL, 0, NULL), R_PREPARE, "prepare `a` with no parent"))
		return;
	expect_snapshot(t, "a", UCD_SNAPSHOT_ACTIVE, NULL, R_PREPARE);
	if (!EXPECT_OK(t, sn_commit(t, "c", "a", NULL, 0), R_COMMIT, "commit `a` as `c`"))
		return;
	expect_snapshot(t, "c", UCD_SNAPSHOT_COMMITTED, NULL, R_COMMIT);
	expect_absent(t, "a", R_COMMIT);
	/* The key is free again and can be prepared on what it became. */
	if (EXPECT_OK(t, sn_prepare(t, "a", "c", NULL, 0, NULL), R_COMMIT, "prepare `a` again, on `c`"))
		expect_snapshot(t, "a", UCD_SNAPSHOT_ACTIVE, "c", R_PREPARE);
	if (EXPECT_OK(t, sn_prepare(t, "e", "", NULL, 0, NULL), R_EMPTY_PARENT, "prepare `e` on parent \"\""))
		expect_snapshot(t, "e", UCD_SNAPSHOT_ACTIVE, NULL, R_EMPTY_PARENT);
	if (EXPECT_OK(t, sn_view(t, "ve", "", NULL, 0, NULL), R_EMPTY_PARENT, "view `ve` on parent \"\""))
		expect_snapshot(t, "ve", UCD_SNAPSHOT_VIEW, NULL, R_EMPTY_PARENT);
	size_t n = walk_count(t);
	TC_CHECK(t, n == 4, R_COMMIT, "walk reports %zu snapshots, want 4 (c, a, e, ve)", n);
}

void case_basic_kinds(struct tcase *t)
{
	if (!make_committed(t, "base", NULL, NULL, 0) || !make_committed(t, "mid", "base", NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "act", "mid", NULL, 0, NULL), R_SETUP, "prepare `act` on `mid`");
	EXPECT_OK(t, sn_view(t, "vw", "mid", NULL, 0, NULL), R_SETUP, "view `vw` on `mid`");
	EXPECT_OK(t, sn_view(t, "vw0", NULL, NULL, 0, NULL), R_SETUP, "view `vw0` with no parent");
	EXPECT_OK(t, sn_prepare(t, "act0", NULL, NULL, 0, NULL), R_SETUP, "prepare `act0` with no parent");
	expect_snapshot(t, "base", UCD_SNAPSHOT_COMMITTED, NULL, R_KINDS);
	expect_snapshot(t, "mid", UCD_SNAPSHOT_COMMITTED, "base", R_KINDS);
	expect_snapshot(t, "act", UCD_SNAPSHOT_ACTIVE, "mid", R_KINDS);
	expect_snapshot(t, "vw", UCD_SNAPSHOT_VIEW, "mid", R_KINDS);
	expect_snapshot(t, "vw0", UCD_SNAPSHOT_VIEW, NULL, R_KINDS);
	expect_snapshot(t, "act0", UCD_SNAPSHOT_ACTIVE, NULL, R_KINDS);
}

void case_prepare_exists(struct tcase *t)
{
	if (!make_committed(t, "c", NULL, NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "k", "c", NULL, 0, NULL), R_SETUP, "prepare `k` on `c`");
	EXPECT_OK(t, sn_view(t, "v", "c", NULL, 0, NULL), R_SETUP, "view `v` on `c`");
	if (tc_failed(t))
		return;
	sn_expect(t, sn_prepare(t, "k", "c", NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS, "prepare `k` again");
	sn_expect(t, sn_prepare(t, "k", NULL, NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS,
	          "prepare `k` again, with no parent");
	sn_expect(t, sn_view(t, "k", "c", NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS, "view `k` (an ACTIVE key)");
	sn_expect(t, sn_view(t, "v", "c", NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS, "view `v` again");
	sn_expect(t, sn_prepare(t, "v", "c", NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS, "prepare `v` (a VIEW key)");
	sn_expect(t, sn_prepare(t, "c", NULL, NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS,
	          "prepare `c` (a COMMITTED name)");
	sn_expect(t, sn_view(t, "c", NULL, NULL, 0, NULL), UCD_ALREADY_EXISTS, R_EXISTS, "view `c` (a COMMITTED name)");
	expect_snapshot(t, "k", UCD_SNAPSHOT_ACTIVE, "c", R_UNCHANGED);
	expect_snapshot(t, "v", UCD_SNAPSHOT_VIEW, "c", R_UNCHANGED);
	expect_snapshot(t, "c", UCD_SNAPSHOT_COMMITTED, NULL, R_UNCHANGED);
	size_t n = walk_count(t);
	TC_CHECK(t, n == 3, R_UNCHANGED, "walk reports %zu snapshots, want 3 (c, k, v)", n);
}

void case_prepare_parent_missing(struct tcase *t)
{
	if (!make_committed(t, "c", NULL, NULL, 0))
		return;
	sn_expect(t, sn_prepare(t, "k", "nope", NULL, 0, NULL), UCD_NOT_FOUND, R_MISSING, "prepare `k` on unknown `nope`");
	sn_expect(t, sn_view(t, "v", "nope", NULL, 0, NULL), UCD_NOT_FOUND, R_MISSING, "view `v` on unknown `nope`");
	/* A removed snapshot is unknown too. */
	EXPECT_OK(t, sn_remove(t, "c"), R_SETUP, "remove `c`");
	sn_expect(t, sn_prepare(t, "k2", "c", NULL, 0, NULL), UCD_NOT_FOUND, R_MISSING, "prepare `k2` on removed `c`");
	expect_absent(t, "k", R_UNCHANGED);
	expect_absent(t, "v", R_UNCHANGED);
	expect_absent(t, "k2", R_UNCHANGED);
}

void case_prepare_parent_not_committed(struct tcase *t)
{
	if (!make_committed(t, "c", NULL, NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "act", "c", NULL, 0, NULL), R_SETUP, "prepare `act` on `c`");
	EXPECT_OK(t, sn_view(t, "vw", "c", NULL, 0, NULL), R_SETUP, "view `vw` on `c`");
	if (tc_failed(t))
		return;
	sn_expect(t, sn_prepare(t, "x1", "act", NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_NOT_COMMITTED,
	          "prepare `x1` on ACTIVE `act`");
	sn_expect(t, sn_prepare(t, "x2", "vw", NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_NOT_COMMITTED,
	          "prepare `x2` on VIEW `vw`");
	sn_expect(t, sn_view(t, "x3", "act", NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_NOT_COMMITTED,
	          "view `x3` on ACTIVE `act`");
	sn_expect(t, sn_view(t, "x4", "vw", NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_NOT_COMMITTED,
	          "view `x4` on VIEW `vw`");
	expect_absent(t, "x1", R_UNCHANGED);
	expect_absent(t, "x2", R_UNCHANGED);
	expect_absent(t, "x3", R_UNCHANGED);
	expect_absent(t, "x4", R_UNCHANGED);
	expect_snapshot(t, "act", UCD_SNAPSHOT_ACTIVE, "c", R_UNCHANGED);
	expect_snapshot(t, "vw", UCD_SNAPSHOT_VIEW, "c", R_UNCHANGED);
}

void case_prepare_empty_key(struct tcase *t)
{
	sn_expect(t, sn_prepare(t, "", NULL, NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_EMPTY_KEY, "prepare \"\"");
	sn_expect(t, sn_view(t, "", NULL, NULL, 0, NULL), UCD_INVALID_ARGUMENT, R_EMPTY_KEY, "view \"\"");
	if (!EXPECT_OK(t, sn_prepare(t, "a", NULL, NULL, 0, NULL), R_SETUP, "prepare `a`"))
		return;
	sn_expect(t, sn_commit(t, "", "a", NULL, 0), UCD_INVALID_ARGUMENT, R_EMPTY_KEY, "commit `a` as \"\"");
	expect_snapshot(t, "a", UCD_SNAPSHOT_ACTIVE, NULL, R_UNCHANGED);
	size_t n = walk_count(t);
	TC_CHECK(t, n == 1, R_UNCHANGED, "walk reports %zu snapshots, want 1 (a)", n);
}

void case_commit_view(struct tcase *t)
{
	if (!make_committed(t, "base", NULL, NULL, 0))
		return;
	if (!EXPECT_OK(t, sn_view(t, "v", "base", NULL, 0, NULL), R_SETUP, "view `v` on `base`"))
		return;
	sn_expect(t, sn_commit(t, "x", "v", NULL, 0), UCD_FAILED_PRECONDITION, R_NOT_ACTIVE, "commit VIEW `v` as `x`");
	expect_snapshot(t, "v", UCD_SNAPSHOT_VIEW, "base", R_UNCHANGED);
	expect_absent(t, "x", R_UNCHANGED);
	sn_expect(t, sn_commit(t, "y", "base", NULL, 0), UCD_FAILED_PRECONDITION, R_NOT_ACTIVE,
	          "commit COMMITTED `base` as `y`");
	expect_snapshot(t, "base", UCD_SNAPSHOT_COMMITTED, NULL, R_UNCHANGED);
	expect_absent(t, "y", R_UNCHANGED);
}

void case_commit_exists(struct tcase *t)
{
	if (!make_committed(t, "c1", NULL, NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "a2", "c1", NULL, 0, NULL), R_SETUP, "prepare `a2` on `c1`");
	EXPECT_OK(t, sn_prepare(t, "a3", NULL, NULL, 0, NULL), R_SETUP, "prepare `a3`");
	EXPECT_OK(t, sn_view(t, "v4", "c1", NULL, 0, NULL), R_SETUP, "view `v4` on `c1`");
	if (tc_failed(t))
		return;
	sn_expect(t, sn_commit(t, "c1", "a2", NULL, 0), UCD_ALREADY_EXISTS, R_EXISTS,
	          "commit `a2` as existing COMMITTED `c1`");
	sn_expect(t, sn_commit(t, "a3", "a2", NULL, 0), UCD_ALREADY_EXISTS, R_EXISTS,
	          "commit `a2` as existing ACTIVE `a3`");
	sn_expect(t, sn_commit(t, "v4", "a2", NULL, 0), UCD_ALREADY_EXISTS, R_EXISTS,
	          "commit `a2` as existing VIEW `v4`");
	expect_snapshot(t, "a2", UCD_SNAPSHOT_ACTIVE, "c1", R_UNCHANGED);
	expect_snapshot(t, "a3", UCD_SNAPSHOT_ACTIVE, NULL, R_UNCHANGED);
	expect_snapshot(t, "v4", UCD_SNAPSHOT_VIEW, "c1", R_UNCHANGED);
	if (EXPECT_OK(t, sn_commit(t, "c2", "a2", NULL, 0), R_COMMIT, "commit `a2` as `c2` after the refusals"))
		expect_snapshot(t, "c2", UCD_SNAPSHOT_COMMITTED, "c1", R_COMMIT);
}

void case_commit_missing(struct tcase *t)
{
	sn_expect(t, sn_commit(t, "x", "nope", NULL, 0), UCD_NOT_FOUND, R_MISSING, "commit unknown `nope` as `x`");
	expect_absent(t, "x", R_UNCHANGED);
}

void case_mounts_kinds(struct tcase *t)
{
	if (!make_committed(t, "c", NULL, NULL, 0))
		return;
	struct ucd_mounts m = {0};
	if (EXPECT_OK(t, sn_prepare(t, "a", "c", NULL, 0, &m), R_SETUP, "prepare `a` on `c`")) {
		sn_mounts_release(t, &m);
		EXPECT_OK(t, sn_mounts(t, "a", NULL), "snapshotter.h mounts: mounts of an ACTIVE snapshot",
		          "mounts `a`");
	}
	if (EXPECT_OK(t, sn_view(t, "v", "c", NULL, 0, &m), R_SETUP, "view `v` on `c`")) {
		TC_CHECK(t, mounts_all_ro(&m), R_MOUNTS_VIEW, "the mounts view `v` returned lack \"ro\"");
		sn_mounts_release(t, &m);
		if (EXPECT_OK(t, sn_mounts(t, "v", &m), R_MOUNTS_VIEW, "mounts `v`")) {
			TC_CHECK(t, mounts_all_ro(&m), R_MOUNTS_VIEW, "mounts `v` lack \"ro\"");
			sn_mounts_release(t, &m);
		}
	}
	if (EXPECT_OK(t, sn_view(t, "v0", NULL, NULL, 0, &m), R_SETUP, "view `v0` with no parent")) {
		TC_CHECK(t, mounts_all_ro(&m), R_MOUNTS_VIEW, "the mounts view `v0` returned lack \"ro\"");
		sn_mounts_release(t, &m);
	}
	sn_expect(t, sn_mounts(t, "c", NULL), UCD_FAILED_PRECONDITION, R_MOUNTS_COMMITTED, "mounts of COMMITTED `c`");
}

void case_remove_parent(struct tcase *t)
{
	if (!make_committed(t, "p", NULL, NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "a", "p", NULL, 0, NULL), R_SETUP, "prepare `a` on `p`");
	EXPECT_OK(t, sn_view(t, "v", "p", NULL, 0, NULL), R_SETUP, "view `v` on `p`");
	if (tc_failed(t))
		return;
	sn_expect(t, sn_remove(t, "p"), UCD_FAILED_PRECONDITION, R_REMOVE_CHILDREN,
	          "remove `p` with an ACTIVE and a VIEW child");
	expect_snapshot(t, "p", UCD_SNAPSHOT_COMMITTED, NULL, R_UNCHANGED);
	EXPECT_OK(t, sn_remove(t, "a"), R_REMOVE, "remove ACTIVE `a`");
	sn_expect(t, sn_remove(t, "p"), UCD_FAILED_PRECONDITION, R_REMOVE_CHILDREN, "remove `p` with a VIEW child");
	expect_snapshot(t, "p", UCD_SNAPSHOT_COMMITTED, NULL, R_UNCHANGED);
	EXPECT_OK(t, sn_remove(t, "v"), R_REMOVE, "remove VIEW `v`");
	EXPECT_OK(t, sn_remove(t, "p"), R_REMOVE, "remove `p` once its children are gone");
	expect_absent(t, "p", R_REMOVE);
	expect_absent(t, "a", R_REMOVE);
	expect_absent(t, "v", R_REMOVE);

	/* A committed child holds its parent too, through every level. */
	if (!make_committed(t, "g1", NULL, NULL, 0) || !make_committed(t, "g2", "g1", NULL, 0) ||
	    !make_committed(t, "g3", "g2", NULL, 0))
		return;
	sn_expect(t, sn_remove(t, "g1"), UCD_FAILED_PRECONDITION, R_REMOVE_CHILDREN, "remove `g1` with COMMITTED child `g2`");
	sn_expect(t, sn_remove(t, "g2"), UCD_FAILED_PRECONDITION, R_REMOVE_CHILDREN, "remove `g2` with COMMITTED child `g3`");
	expect_snapshot(t, "g1", UCD_SNAPSHOT_COMMITTED, NULL, R_UNCHANGED);
	expect_snapshot(t, "g2", UCD_SNAPSHOT_COMMITTED, "g1", R_UNCHANGED);
	EXPECT_OK(t, sn_remove(t, "g3"), R_REMOVE, "remove `g3`");
	EXPECT_OK(t, sn_remove(t, "g2"), R_REMOVE, "remove `g2`");
	EXPECT_OK(t, sn_remove(t, "g1"), R_REMOVE, "remove `g1`");
	/* Keys of removed snapshots are free again (containerd's Remove test). */
	if (make_committed(t, "g1", NULL, NULL, 0))
		expect_snapshot(t, "g1", UCD_SNAPSHOT_COMMITTED, NULL, R_REMOVE);
	size_t n = walk_count(t);
	TC_CHECK(t, n == 1, R_REMOVE, "walk reports %zu snapshots, want 1 (g1)", n);
}

void case_unknown_keys(struct tcase *t)
{
	if (!make_committed(t, "known", NULL, NULL, 0))
		return;
	sn_expect(t, sn_stat(t, "nope", NULL), UCD_NOT_FOUND, R_MISSING, "stat `nope`");
	sn_expect(t, sn_mounts(t, "nope", NULL), UCD_NOT_FOUND, R_MISSING, "mounts `nope`");
	sn_expect(t, sn_usage(t, "nope", NULL), UCD_NOT_FOUND, R_MISSING, "usage `nope`");
	sn_expect(t, sn_remove(t, "nope"), UCD_NOT_FOUND, R_MISSING, "remove `nope`");
	sn_expect(t, sn_commit(t, "x", "nope", NULL, 0), UCD_NOT_FOUND, R_MISSING, "commit `nope` as `x`");
	struct ucd_label l = {"k", "v"};
	struct ucd_snapshot_info info = {.name = "nope", .labels = {&l, 1}};
	sn_expect(t, sn_update(t, &info, NULL, 0, NULL), UCD_NOT_FOUND, R_MISSING, "update `nope`");
	/* A prefix or an extension of a known name is unknown as well. */
	sn_expect(t, sn_stat(t, "know", NULL), UCD_NOT_FOUND, R_MISSING, "stat `know`");
	sn_expect(t, sn_stat(t, "known2", NULL), UCD_NOT_FOUND, R_MISSING, "stat `known2`");
	sn_expect(t, sn_stat(t, "known-active", NULL), UCD_NOT_FOUND, R_MISSING, "stat `known-active` (committed)");
}
