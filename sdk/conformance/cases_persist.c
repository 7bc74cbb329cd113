/* What survives: cleanup of removed snapshots, and a new init on the same
 * root (a daemon restart, with a container's mount still in place) or on the
 * same root with an empty state (a reboot). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "case_util.h"
#include "cases.h"
#include "files.h"
#include "util/mem.h"

#define R_CLEANUP "snapshotter.h cleanup: frees what remove left behind, and only that"
#define R_PERSIST "snapshotter.h: snapshots live in the plugin's root: a new init on the same root finds each with the same kind, parent, labels and times"
#define R_PERSIST_CONTENT "snapshotter.h: a snapshot's content survives a new init on the same root"
#define R_PERSIST_CHILDREN "snapshotter.h errors: FAILED_PRECONDITION for remove of a snapshot with children (children known again after a new init)"
#define R_RUNNING "snapshotter.h: a mount made before a daemon restart keeps working (containers survive a restart)"

static bool committed_with_file(struct tcase *t, const char *name, const char *parent, const char *file,
                                const char *content, const struct ucd_label *labels, size_t n_labels)
{
	autofree char *key = xasprintf("%s-active", name);
	const char *dir = prepare_mounted(t, key, parent);
	if (dir == NULL)
		return false;
	bool ok = tc_write(t, dir, file, content);
	tc_unmount(t, dir);
	return ok && EXPECT_OK(t, sn_commit(t, name, key, labels, n_labels), R_SETUP, "commit `%s`", key);
}

void case_cleanup(struct tcase *t)
{
	if (!UCD_SNAPSHOTTER_OPS_HAS(t->inst.ops, cleanup)) {
		tc_skip(t, "the plugin has no cleanup op (it is optional)");
		return;
	}
	EXPECT_OK(t, sn_cleanup(t), R_CLEANUP, "cleanup of an empty snapshotter");
	bool root = t->can_mount;
	if (root ? !committed_with_file(t, "c1", NULL, "f", "kept", NULL, 0) : !make_committed(t, "c1", NULL, NULL, 0))
		return;
	if (!make_committed(t, "c2", "c1", NULL, 0) ||
	    !EXPECT_OK(t, sn_prepare(t, "a", "c2", NULL, 0, NULL), R_SETUP, "prepare `a` on `c2`") ||
	    !EXPECT_OK(t, sn_view(t, "v", "c1", NULL, 0, NULL), R_SETUP, "view `v` on `c1`"))
		return;
	EXPECT_OK(t, sn_remove(t, "a"), R_SETUP, "remove `a`");
	EXPECT_OK(t, sn_remove(t, "c2"), R_SETUP, "remove `c2`");
	EXPECT_OK(t, sn_cleanup(t), R_CLEANUP, "cleanup after removals");
	EXPECT_OK(t, sn_cleanup(t), R_CLEANUP, "cleanup again");
	expect_snapshot(t, "c1", UCD_SNAPSHOT_COMMITTED, NULL, R_CLEANUP);
	expect_snapshot(t, "v", UCD_SNAPSHOT_VIEW, "c1", R_CLEANUP);
	expect_absent(t, "c2", R_CLEANUP);
	if (root) {
		const char *dir = mounts_mounted(t, "v");
		if (dir != NULL) {
			tc_expect_file(t, dir, "f", "kept", R_CLEANUP);
			tc_unmount(t, dir);
		}
		if ((dir = prepare_mounted(t, "b", "c1")) != NULL) {
			tc_expect_file(t, dir, "f", "kept", R_CLEANUP);
			tc_unmount(t, dir);
		}
	}
}

/* Compares the walk before and after the new init. */
static void expect_same(struct tcase *t, const struct snaplist *before, const struct snaplist *after)
{
	TC_CHECK(t, after->n == before->n, R_PERSIST, "walk reports %zu snapshots after the new init, %zu before",
	         after->n, before->n);
	for (size_t i = 0; i < before->n; i++) {
		const struct snap *b = &before->v[i];
		size_t count;
		const struct snap *a = snaplist_find(after, b->name, &count);
		if (!TC_CHECK(t, count == 1, R_PERSIST, "`%s` is reported %zu times after the new init", b->name, count))
			continue;
		TC_CHECK(t, a->kind == b->kind, R_PERSIST, "`%s` was %s, is %s", b->name, sn_kind_name(b->kind),
		         sn_kind_name(a->kind));
		TC_CHECK(t, b->parent ? a->parent && strcmp(a->parent, b->parent) == 0 : a->parent == NULL, R_PERSIST,
		         "`%s` had parent `%s`, has `%s`", b->name, b->parent ? b->parent : "(none)",
		         a->parent ? a->parent : "(none)");
		bool same_labels = a->n_labels == b->n_labels;
		for (size_t k = 0; same_labels && k < b->n_labels; k++)
			same_labels = strcmp(a->keys[k], b->keys[k]) == 0 && strcmp(a->vals[k], b->vals[k]) == 0;
		TC_CHECK(t, same_labels, R_PERSIST, "`%s` had %zu labels, has %zu, or other values", b->name, b->n_labels,
		         a->n_labels);
		TC_CHECK(t, a->created_at == b->created_at && a->updated_at == b->updated_at, R_PERSIST,
		         "`%s` had times %lld/%lld, has %lld/%lld", b->name, (long long)b->created_at,
		         (long long)b->updated_at, (long long)a->created_at, (long long)a->updated_at);
	}
}

static void persistence(struct tcase *t, bool reboot)
{
	struct ucd_label l0[] = {{"p", "0"}};
	struct ucd_label l1[] = {{"p", "1"}, {"containerd.io/gc.root", "x"}};
	struct ucd_label la[] = {{"a", "1"}};
	struct ucd_label lv[] = {{"v", "1"}};
	if (!committed_with_file(t, "l0", NULL, "f0", "zero", l0, 1) ||
	    !committed_with_file(t, "l1", "l0", "f1", "one", l1, 2))
		return;
	struct ucd_mounts m = {0};
	if (!EXPECT_OK(t, sn_prepare(t, "act", "l1", la, 1, &m), R_SETUP, "prepare `act` on `l1`"))
		return;
	const char *running = tc_mount(t, &m, "act");
	sn_mounts_release(t, &m);
	if (running == NULL || !tc_write(t, running, "fa", "active"))
		return;
	EXPECT_OK(t, sn_view(t, "vw", "l1", lv, 1, NULL), R_SETUP, "view `vw` on `l1`");
	/* An update, so that updated_at differs from created_at. */
	struct ucd_label lu[] = {{"p", "0"}, {"u", "1"}};
	struct ucd_snapshot_info in = {.name = "l0", .labels = {lu, 2}};
	tc_sleep_ms(2);
	EXPECT_OK(t, sn_update(t, &in, NULL, 0, NULL), R_SETUP, "update `l0`");
	if (tc_failed(t))
		return;
	struct snaplist before, after;
	if (!EXPECT_OK(t, sn_walk_all(t, &before), R_SETUP, "walk before the new init")) {
		snaplist_free(&before);
		return;
	}

	if (reboot) {
		/* Nothing stays mounted across a reboot, and the state is a tmpfs. */
		tc_unmount(t, running);
		running = NULL;
	}
	tc_close(t);
	if (reboot) {
		files_remove_tree(t->state);
		mkdir(t->state, 0755);
	}
	if (!tc_open(t)) {
		snaplist_free(&before);
		return;
	}
	if (EXPECT_OK(t, sn_walk_all(t, &after), R_PERSIST, "walk after the new init"))
		expect_same(t, &before, &after);
	snaplist_free(&after);
	snaplist_free(&before);

	if (running != NULL) {
		tc_expect_file(t, running, "fa", "active", R_RUNNING);
		tc_expect_file(t, running, "f0", "zero", R_RUNNING);
		tc_write(t, running, "fb", "after restart");
		tc_unmount(t, running);
	}
	const char *dir = mounts_mounted(t, "act");
	if (dir != NULL) {
		tc_expect_file(t, dir, "fa", "active", R_PERSIST_CONTENT);
		tc_expect_file(t, dir, "f1", "one", R_PERSIST_CONTENT);
		if (!reboot)
			tc_expect_file(t, dir, "fb", "after restart", R_RUNNING);
		tc_unmount(t, dir);
	}
	if ((dir = mounts_mounted(t, "vw")) != NULL) {
		tc_expect_file(t, dir, "f0", "zero", R_PERSIST_CONTENT);
		tc_expect_file(t, dir, "f1", "one", R_PERSIST_CONTENT);
		tc_expect_file(t, dir, "fa", NULL, R_PERSIST_CONTENT);
		tc_unmount(t, dir);
	}
	/* The restored snapshots work as before: new children, commit, remove. */
	if ((dir = prepare_mounted(t, "new", "l1")) != NULL) {
		tc_expect_file(t, dir, "f1", "one", R_PERSIST_CONTENT);
		tc_unmount(t, dir);
	}
	if (EXPECT_OK(t, sn_commit(t, "l2", "act", NULL, 0), R_PERSIST, "commit `act` after the new init") &&
	    (dir = view_mounted(t, "vl2", "l2")) != NULL) {
		tc_expect_file(t, dir, "fa", "active", R_PERSIST_CONTENT);
		tc_unmount(t, dir);
	}
	sn_expect(t, sn_remove(t, "l1"), UCD_FAILED_PRECONDITION, R_PERSIST_CHILDREN,
	          "remove `l1` (children restored with it) after the new init");
	static const char *const order[] = {"vl2", "l2", "new", "vw", "l1", "l0"};
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		EXPECT_OK(t, sn_remove(t, order[i]), R_PERSIST, "remove `%s` after the new init", order[i]);
	size_t n = walk_count(t);
	TC_CHECK(t, n == 0, R_PERSIST, "walk reports %zu snapshots after removing everything", n);
}

void case_persist_restart(struct tcase *t)
{
	persistence(t, false);
}

void case_persist_reboot(struct tcase *t)
{
	persistence(t, true);
}
