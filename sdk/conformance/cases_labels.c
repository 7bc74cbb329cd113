/* Labels and times: what prepare, view and commit record, and containerd's
 * Update semantics (snapshots/testsuite checkUpdate, storage UpdateInfo). */
#include <stdio.h>
#include <string.h>

#include "case_util.h"
#include "cases.h"
#include "util/mem.h"

#define R_LABELS "snapshotter.h prepare/view/commit: the snapshot gets exactly the labels given"
#define R_COMMIT_LABELS "snapshotter.h commit: `labels` replace the active snapshot's labels"
#define R_BORROWED "types.h: inputs are borrowed for the call; a plugin copies what it keeps"
#define R_UPDATE "snapshotter.h update: no path or `labels` replaces all labels; `labels.<k>` sets or removes k"
#define R_UPDATE_PATH "snapshotter.h update: any other field path is INVALID_ARGUMENT and changes nothing"
#define R_UPDATE_ONLY "snapshotter.h update: changes only labels (name, parent, kind stay)"
#define R_UPDATE_OUT "snapshotter.h update: fills *out with the result, as stat then reports it"
#define R_TIMES "snapshotter.h: created_at and updated_at are nanoseconds since the epoch, UTC; on creation they are equal; an update moves updated_at only"

/* Plugins may keep times at microsecond or millisecond precision. */
#define SLACK_NS 1000000

static bool expect_labels(struct tcase *t, const char *key, const struct ucd_label *want, size_t n, const char *rule)
{
	struct ucd_snapshot_info i = {0};
	if (!EXPECT_OK(t, sn_stat(t, key, &i), rule, "stat `%s`", key))
		return false;
	char diff[512];
	bool ok = TC_CHECK(t, labels_match(&i.labels, want, n, diff, sizeof diff), rule, "`%s`: %s", key, diff);
	sn_info_release(t, &i);
	return ok;
}

void case_labels_create(struct tcase *t)
{
	struct ucd_label two[] = {{"x", "1"}, {"y", "2"}};
	struct ucd_label odd[] = {{"containerd.io/gc.ref.snapshot.overlayfs", "sha256:abc"},
	                          {"empty", ""},
	                          {"spaces in key", "and in value"},
	                          {"ünïcödé", "値"}};
	struct ucd_label other[] = {{"w", "4"}};
	if (EXPECT_OK(t, sn_prepare(t, "a", NULL, two, 2, NULL), R_SETUP, "prepare `a` with labels"))
		expect_labels(t, "a", two, 2, R_LABELS);
	if (EXPECT_OK(t, sn_prepare(t, "odd", NULL, odd, 4, NULL), R_SETUP, "prepare `odd` with labels"))
		expect_labels(t, "odd", odd, 4, R_LABELS);
	if (EXPECT_OK(t, sn_view(t, "v", NULL, odd, 4, NULL), R_SETUP, "view `v` with labels"))
		expect_labels(t, "v", odd, 4, R_LABELS);
	if (EXPECT_OK(t, sn_commit(t, "c", "a", other, 1), R_SETUP, "commit `a` as `c` with labels"))
		expect_labels(t, "c", other, 1, R_COMMIT_LABELS);
	if (EXPECT_OK(t, sn_commit(t, "c-bare", "odd", NULL, 0), R_SETUP, "commit `odd` as `c-bare` without labels"))
		expect_labels(t, "c-bare", NULL, 0, R_COMMIT_LABELS);
	if (EXPECT_OK(t, sn_prepare(t, "child", "c", NULL, 0, NULL), R_SETUP, "prepare `child` on `c`"))
		expect_labels(t, "child", NULL, 0, "snapshotter.h prepare: labels are not inherited from the parent");

	/* Inputs are borrowed for the call: the key, the parent and the labels
	 * are overwritten as soon as the op returns, as the daemon frees its
	 * request then. A plugin that kept the pointers now holds garbage. */
	char key[] = "borrowed", parent[] = "c", name[] = "borrowed-c", lk[] = "lk", lv[] = "lv";
	struct ucd_label bl[] = {{lk, lv}};
	struct ucd_label want[] = {{"lk", "lv"}};
	int r = sn_prepare(t, key, parent, bl, 1, NULL);
	memset(key, 'X', sizeof key - 1);
	memset(parent, 'X', sizeof parent - 1);
	memset(lk, 'X', sizeof lk - 1);
	memset(lv, 'X', sizeof lv - 1);
	if (!EXPECT_OK(t, r, R_SETUP, "prepare `borrowed` on `c`"))
		return;
	expect_snapshot(t, "borrowed", UCD_SNAPSHOT_ACTIVE, "c", R_BORROWED);
	expect_labels(t, "borrowed", want, 1, R_BORROWED);
	memcpy(key, "borrowed", sizeof key);
	memcpy(lk, "lk", sizeof lk);
	memcpy(lv, "lv", sizeof lv);
	r = sn_commit(t, name, key, bl, 1);
	memset(name, 'X', sizeof name - 1);
	memset(lk, 'X', sizeof lk - 1);
	memset(lv, 'X', sizeof lv - 1);
	if (EXPECT_OK(t, r, R_SETUP, "commit `borrowed` as `borrowed-c`")) {
		expect_snapshot(t, "borrowed-c", UCD_SNAPSHOT_COMMITTED, "c", R_BORROWED);
		expect_labels(t, "borrowed-c", want, 1, R_BORROWED);
	}
}

/* containerd's checkUpdate, on one snapshot of each kind. */
static void update_one(struct tcase *t, const char *key, int kind, const char *parent)
{
	struct ucd_snapshot_info st = {0}, out = {0};
	if (!EXPECT_OK(t, sn_stat(t, key, &st), R_SETUP, "stat `%s`", key))
		return;
	int64_t created = st.created_at, updated = st.updated_at;
	sn_info_release(t, &st);
	char diff[512];

	/* 1. No field path: all labels replaced. Other members of the info
	 * the daemon passes are not the plugin's to apply. */
	struct ucd_label l1[] = {{"l1", "v1"}, {"l2", "v2"}, {"l3", "v3"}, {"containerd.io/gc.root", "now"}};
	struct ucd_snapshot_info in = {.name = (char *)key, .parent = "doesnotexist", .kind = UCD_SNAPSHOT_UNKNOWN,
	                               .labels = {l1, 4}};
	tc_sleep_ms(5);
	int64_t u1 = tc_now_ns();
	if (!EXPECT_OK(t, sn_update(t, &in, NULL, 0, &out), R_UPDATE, "update `%s` with no field path", key))
		return;
	int64_t u2 = tc_now_ns();
	TC_CHECK(t, labels_match(&out.labels, l1, 4, diff, sizeof diff), R_UPDATE, "`%s` after update: %s", key, diff);
	TC_CHECK(t, out.name && strcmp(out.name, key) == 0, R_UPDATE_ONLY, "update `%s` reports name `%s`", key,
	         out.name ? out.name : "(null)");
	TC_CHECK(t, out.kind == kind, R_UPDATE_ONLY, "update `%s` reports kind %s, want %s", key, sn_kind_name(out.kind),
	         sn_kind_name(kind));
	TC_CHECK(t, parent ? out.parent && strcmp(out.parent, parent) == 0 : out.parent == NULL, R_UPDATE_ONLY,
	         "update `%s` reports parent `%s`, want `%s`", key, out.parent ? out.parent : "(none)",
	         parent ? parent : "(none)");
	TC_CHECK(t, out.created_at == created, R_TIMES, "update `%s` changed created_at from %lld to %lld", key,
	         (long long)created, (long long)out.created_at);
	TC_CHECK(t, out.updated_at >= u1 - SLACK_NS && out.updated_at <= u2 + SLACK_NS && out.updated_at > updated,
	         R_TIMES, "update `%s`: updated_at %lld, want between %lld and %lld (and after %lld)", key,
	         (long long)out.updated_at, (long long)u1, (long long)u2, (long long)updated);
	updated = out.updated_at;
	sn_info_release(t, &out);

	/* 2. labels.l1 sets l1; labels.l2 removes l2 (absent from the info);
	 * l4 is in the info but not in a path: ignored. */
	struct ucd_label l2in[] = {{"l1", "updated"}, {"l4", "v4"}};
	struct ucd_label l2want[] = {{"l1", "updated"}, {"l3", "v3"}, {"containerd.io/gc.root", "now"}};
	const char *p2[] = {"labels.l1", "labels.l2"};
	in.labels = (struct ucd_labels){l2in, 2};
	tc_sleep_ms(5);
	if (EXPECT_OK(t, sn_update(t, &in, p2, 2, &out), R_UPDATE, "update `%s` labels.l1 labels.l2", key)) {
		TC_CHECK(t, labels_match(&out.labels, l2want, 3, diff, sizeof diff), R_UPDATE,
		         "`%s` after update of labels.l1, labels.l2: %s", key, diff);
		TC_CHECK(t, out.updated_at > updated, R_TIMES, "update `%s`: updated_at did not move (%lld)", key,
		         (long long)out.updated_at);
		TC_CHECK(t, out.created_at == created, R_TIMES, "update `%s` changed created_at", key);
		updated = out.updated_at;
		sn_info_release(t, &out);
	}

	/* 3. "labels": the whole set. */
	struct ucd_label l3[] = {{"l4", "v4"}, {"containerd.io/gc.root", "now"}};
	const char *p3[] = {"labels"};
	in.labels = (struct ucd_labels){l3, 2};
	if (EXPECT_OK(t, sn_update(t, &in, p3, 1, &out), R_UPDATE, "update `%s` labels", key)) {
		TC_CHECK(t, labels_match(&out.labels, l3, 2, diff, sizeof diff), R_UPDATE,
		         "`%s` after update of `labels`: %s", key, diff);
		sn_info_release(t, &out);
	}

	/* 4. Paths that are not labels. */
	static const char *const bad[] = {"parent", "name", "kind", "created_at", "labelsx", "bogus"};
	struct ucd_label junk[] = {{"junk", "1"}};
	in.labels = (struct ucd_labels){junk, 1};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		sn_expect(t, sn_update(t, &in, &bad[i], 1, NULL), UCD_INVALID_ARGUMENT, R_UPDATE_PATH,
		          "update `%s` with field path `%s`", key, bad[i]);
	const char *mixed[] = {"labels.junk", "parent"};
	sn_expect(t, sn_update(t, &in, mixed, 2, NULL), UCD_INVALID_ARGUMENT, R_UPDATE_PATH,
	          "update `%s` with paths `labels.junk`, `parent`", key);

	/* What stat says now: the labels of step 3, unchanged by the refusals. */
	if (EXPECT_OK(t, sn_stat(t, key, &st), R_UPDATE_OUT, "stat `%s`", key)) {
		TC_CHECK(t, labels_match(&st.labels, l3, 2, diff, sizeof diff), R_UPDATE_PATH,
		         "`%s` after refused updates: %s", key, diff);
		TC_CHECK(t, st.kind == kind, R_UPDATE_ONLY, "`%s` is now %s", key, sn_kind_name(st.kind));
		TC_CHECK(t, st.created_at == created, R_TIMES, "stat `%s`: created_at changed", key);
		sn_info_release(t, &st);
	}
}

void case_labels_update(struct tcase *t)
{
	if (!make_committed(t, "c1", NULL, NULL, 0) || !make_committed(t, "c2", "c1", NULL, 0))
		return;
	EXPECT_OK(t, sn_prepare(t, "a1", "c2", NULL, 0, NULL), R_SETUP, "prepare `a1` on `c2`");
	EXPECT_OK(t, sn_prepare(t, "a2", NULL, NULL, 0, NULL), R_SETUP, "prepare `a2`");
	EXPECT_OK(t, sn_view(t, "v1", "c2", NULL, 0, NULL), R_SETUP, "view `v1` on `c2`");
	EXPECT_OK(t, sn_view(t, "v2", NULL, NULL, 0, NULL), R_SETUP, "view `v2`");
	if (tc_failed(t))
		return;
	update_one(t, "c1", UCD_SNAPSHOT_COMMITTED, NULL);
	update_one(t, "c2", UCD_SNAPSHOT_COMMITTED, "c1");
	update_one(t, "a1", UCD_SNAPSHOT_ACTIVE, "c2");
	update_one(t, "a2", UCD_SNAPSHOT_ACTIVE, NULL);
	update_one(t, "v1", UCD_SNAPSHOT_VIEW, "c2");
	update_one(t, "v2", UCD_SNAPSHOT_VIEW, NULL);
}

void case_times(struct tcase *t)
{
	int64_t t1 = tc_now_ns();
	make_committed(t, "c", NULL, NULL, 0);
	EXPECT_OK(t, sn_prepare(t, "a", "c", NULL, 0, NULL), R_SETUP, "prepare `a` on `c`");
	EXPECT_OK(t, sn_view(t, "v", "c", NULL, 0, NULL), R_SETUP, "view `v` on `c`");
	int64_t t2 = tc_now_ns();
	if (tc_failed(t))
		return;
	static const char *const keys[] = {"c", "a", "v"};
	for (size_t k = 0; k < 3; k++) {
		struct ucd_snapshot_info i = {0};
		if (!EXPECT_OK(t, sn_stat(t, keys[k], &i), R_SETUP, "stat `%s`", keys[k]))
			continue;
		TC_CHECK(t, i.created_at >= t1 - SLACK_NS && i.created_at <= t2 + SLACK_NS, R_TIMES,
		         "`%s`: created_at %lld, want between %lld and %lld", keys[k], (long long)i.created_at,
		         (long long)t1, (long long)t2);
		TC_CHECK(t, i.updated_at == i.created_at, R_TIMES, "`%s`: updated_at %lld differs from created_at %lld",
		         keys[k], (long long)i.updated_at, (long long)i.created_at);
		sn_info_release(t, &i);
	}
	/* Time does not move by itself. */
	struct ucd_snapshot_info a = {0}, b = {0};
	if (EXPECT_OK(t, sn_stat(t, "a", &a), R_SETUP, "stat `a`")) {
		tc_sleep_ms(10);
		if (EXPECT_OK(t, sn_stat(t, "a", &b), R_SETUP, "stat `a` again")) {
			TC_CHECK(t, a.created_at == b.created_at && a.updated_at == b.updated_at, R_TIMES,
			         "stat `a` twice gives different times");
			sn_info_release(t, &b);
		}
		sn_info_release(t, &a);
	}
}
