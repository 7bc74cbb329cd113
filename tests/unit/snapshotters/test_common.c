/* What both snapshotters must do alike: the life cycle, the error classes,
 * labels, walk, usage, concurrency, persistence, leftovers of a crash. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "registry/registry.h"

static void lifecycle(struct subj *s)
{
	struct ucd_mounts m = {0};
	struct ucd_label l[] = {{"a", "1"}, {"empty", ""}, {"b", "2"}};
	CHECK(sn_prepare_labels(s, "a", NULL, l, 3, &m) == 0);
	CHECK(m.n == 1 && strcmp(m.v[0].type, "bind") == 0);
	const char *dir = mount_at(&m, "a");
	CHECK(dir != NULL);
	sn_mounts_free(s, &m);
	if (dir != NULL) {
		CHECK(write_file(dir, "base", "base-1") == 0);
		CHECK(write_file(dir, "gone", "x") == 0);
		CHECK(mkdir(strcat(strcpy((char[700]){0}, dir), "/d"), 0755) == 0);
		unmount_one(dir);
	}
	struct ucd_snapshot_info i = {0};
	CHECK(sn_stat(s, "a", &i) == 0);
	CHECK_STR(i.name, "a");
	CHECK(i.parent == NULL);
	CHECK(i.kind == UCD_SNAPSHOT_ACTIVE);
	CHECK(i.labels.n == 3);                      /* exactly as given, empty values too */
	CHECK_STR(info_label(&i, "b"), "2");
	CHECK_STR(info_label(&i, "empty"), "");
	CHECK(i.created_at > 0 && i.created_at == i.updated_at);
	sn_info_free(s, &i);

	struct ucd_snapshot_usage u = {0};
	CHECK(sn_usage(s, "a", &u) == 0);
	CHECK(u.inodes >= 4);                        /* root, base, gone, d */
	CHECK(u.size > 0);

	struct ucd_label cl[] = {{"committed", "yes"}};
	CHECK(sn_commit_labels(s, "c1", "a", cl, 1) == 0);
	CHECK(sn_stat(s, "a", NULL) == UCD_NOT_FOUND);
	CHECK(sn_stat(s, "c1", &i) == 0);
	CHECK(i.kind == UCD_SNAPSHOT_COMMITTED);
	CHECK(i.labels.n == 1 && info_label(&i, "committed") != NULL);   /* commit's labels replace */
	sn_info_free(s, &i);
	struct ucd_snapshot_usage cu = {0};
	CHECK(sn_usage(s, "c1", &cu) == 0);
	CHECK(cu.inodes == u.inodes);

	/* a child sees its parent and writes on top of it */
	CHECK(sn_prepare(s, "b", "c1", &m) == 0);
	dir = mount_at(&m, "b");
	CHECK(dir != NULL);
	sn_mounts_free(s, &m);
	if (dir != NULL) {
		CHECK_STR(read_file(dir, "base"), "base-1");
		CHECK(write_file(dir, "base", "base-2") == 0);
		CHECK(write_file(dir, "new", "new-2") == 0);
		CHECK(unlink(strcat(strcpy((char[700]){0}, dir), "/gone")) == 0);
		unmount_one(dir);
	}
	CHECK(sn_stat(s, "b", &i) == 0);
	CHECK_STR(i.parent, "c1");
	sn_info_free(s, &i);
	CHECK(sn_commit(s, "c2", "b") == 0);

	/* a view: read-only, sees the chain */
	CHECK(sn_view(s, "v", "c2", &m) == 0);
	bool ro = true;
	for (size_t k = 0; k < m.n; k++) {
		bool has = false;
		for (size_t j = 0; j < m.v[k].n_options; j++)
			has |= strcmp(m.v[k].options[j], "ro") == 0;
		ro &= has;
	}
	CHECK(ro);
	dir = mount_at(&m, "v");
	CHECK(dir != NULL);
	sn_mounts_free(s, &m);
	if (dir != NULL) {
		CHECK_STR(read_file(dir, "base"), "base-2");
		CHECK_STR(read_file(dir, "new"), "new-2");
		CHECK(!exists(dir, "gone"));
		CHECK(write_file(dir, "nope", "x") == -EROFS);
		unmount_one(dir);
	}
	/* mounts answers again for active and view */
	CHECK(sn_mounts(s, "v", &m) == 0 && m.n == 1);
	sn_mounts_free(s, &m);
	CHECK(sn_stat(s, "v", &i) == 0 && i.kind == UCD_SNAPSHOT_VIEW);
	sn_info_free(s, &i);
	CHECK(sn_usage(s, "v", &u) == 0);
}

static void errors(struct subj *s)
{
	CHECK(sn_prepare(s, "x", "nope", NULL) == UCD_NOT_FOUND);
	CHECK(sn_prepare(s, "active", NULL, NULL) == 0);
	CHECK(sn_prepare(s, "x", "active", NULL) == UCD_INVALID_ARGUMENT);
	CHECK(sn_view(s, "x", "v", NULL) == UCD_INVALID_ARGUMENT);
	CHECK(sn_prepare(s, "active", NULL, NULL) == UCD_ALREADY_EXISTS);
	CHECK(strstr(last_msg, "`active`") != NULL && strstr(last_msg, "already exists") != NULL);
	printf("# prepare twice: %s\n", last_msg);
	CHECK(sn_prepare(s, "c1", NULL, NULL) == UCD_ALREADY_EXISTS);
	CHECK(sn_view(s, "v", "c1", NULL) == UCD_ALREADY_EXISTS);
	CHECK(sn_prepare(s, "", NULL, NULL) == UCD_INVALID_ARGUMENT);
	CHECK(sn_view(s, "", NULL, NULL) == UCD_INVALID_ARGUMENT);
	int rc = sn_commit(s, "", "active");
	printf("# commit '' -> %d %s\n", rc, last_msg);
	CHECK(rc == UCD_INVALID_ARGUMENT);
	CHECK(sn_commit(s, "x", "nope") == UCD_NOT_FOUND);
	CHECK(sn_commit(s, "x", "v") == UCD_FAILED_PRECONDITION);
	CHECK(sn_commit(s, "x", "c1") == UCD_FAILED_PRECONDITION);
	CHECK(sn_commit(s, "c1", "active") == UCD_ALREADY_EXISTS);
	CHECK(sn_commit(s, "active", "active") == UCD_ALREADY_EXISTS);
	CHECK(sn_stat(s, "active", NULL) == 0);   /* failed commits change nothing */
	CHECK(sn_remove(s, "c1") == UCD_FAILED_PRECONDITION);
	printf("# remove parent: %s\n", last_msg);
	CHECK(sn_remove(s, "c2") == UCD_FAILED_PRECONDITION);   /* the view v */
	CHECK(sn_remove(s, "nope") == UCD_NOT_FOUND);
	CHECK(sn_mounts(s, "c1", NULL) == UCD_FAILED_PRECONDITION);
	CHECK(sn_mounts(s, "nope", NULL) == UCD_NOT_FOUND);
	CHECK(sn_stat(s, "nope", NULL) == UCD_NOT_FOUND);
	CHECK(sn_usage(s, "nope", NULL) == UCD_NOT_FOUND);
	CHECK(sn_remove(s, "active") == 0);
	CHECK(sn_prepare(s, "x", "", NULL) == 0);   /* "" is no parent */
	CHECK(sn_remove(s, "x") == 0);
}

static void update(struct subj *s)
{
	struct ucd_label start[] = {{"keep", "k"}, {"drop", "d"}};
	CHECK(sn_prepare_labels(s, "u", NULL, start, 2, NULL) == 0);
	struct ucd_label nl[] = {{"new", "n"}, {"keep", "K"}};
	struct ucd_snapshot_info in = {.name = "u", .labels = {nl, 2}}, out = {0};
	struct ucd_error *e = NULL;
	const char *p1[] = {"labels.new", "labels.drop"};
	CHECK(s->ops->update(s->self, &in, p1, 2, &out, &e) == 0);
	CHECK_STR(info_label(&out, "new"), "n");
	CHECK_STR(info_label(&out, "keep"), "k");     /* not in the paths */
	CHECK(info_label(&out, "drop") == NULL);      /* in the paths, not in the labels */
	CHECK(out.updated_at > out.created_at);
	sn_info_free(s, &out);
	struct ucd_snapshot_info st = {0};
	CHECK(sn_stat(s, "u", &st) == 0 && st.labels.n == 2 && info_label(&st, "drop") == NULL);
	sn_info_free(s, &st);
	CHECK(s->ops->update(s->self, &in, NULL, 0, &out, &e) == 0);   /* no paths: replace all */
	CHECK(out.labels.n == 2 && strcmp(info_label(&out, "keep"), "K") == 0);
	sn_info_free(s, &out);
	const char *bad[] = {"name"};
	CHECK(s->ops->update(s->self, &in, bad, 1, &out, &e) < 0 && e && e->code == UCD_INVALID_ARGUMENT);
	s->host->error_free(e);
	e = NULL;
	in.name = "nope";
	CHECK(s->ops->update(s->self, &in, NULL, 0, &out, &e) < 0 && e && e->code == UCD_NOT_FOUND);
	s->host->error_free(e);
	CHECK(sn_remove(s, "u") == 0);
}

struct walk_seen {
	int n, c1, c2, v;
	bool parents_ok;
};

static int walk_fn(void *arg, const struct ucd_snapshot_info *i)
{
	struct walk_seen *w = arg;
	w->n++;
	if (strcmp(i->name, "c1") == 0)
		w->c1++, w->parents_ok &= i->parent == NULL && i->kind == UCD_SNAPSHOT_COMMITTED;
	if (strcmp(i->name, "c2") == 0)
		w->c2++, w->parents_ok &= i->parent && strcmp(i->parent, "c1") == 0;
	if (strcmp(i->name, "v") == 0)
		w->v++, w->parents_ok &= i->kind == UCD_SNAPSHOT_VIEW && strcmp(i->parent, "c2") == 0;
	return 0;
}

static int walk_stop(void *arg, const struct ucd_snapshot_info *i)
{
	(void)i;
	return ++*(int *)arg == 2 ? 42 : 0;
}

static void walk(struct subj *s)
{
	struct walk_seen w = {.parents_ok = true};
	struct ucd_error *e = NULL;
	CHECK(s->ops->walk(s->self, walk_fn, &w, &e) == 0);
	CHECK(w.n == 3 && w.c1 == 1 && w.c2 == 1 && w.v == 1 && w.parents_ok);
	int calls = 0;
	CHECK(s->ops->walk(s->self, walk_stop, &calls, &e) == 42 && calls == 2);
}

/* ---- concurrency ---- */

struct worker {
	struct subj *s;
	int n;
	int failures;
	int won;      /* of the race for one key */
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	char key[64], name[64];
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof key, "w%d-%d", w->n, i);
		snprintf(name, sizeof name, "w%d-%d-c", w->n, i);
		if (sn_prepare(w->s, key, "c1", NULL) != 0 || sn_commit(w->s, name, key) != 0 ||
		    sn_view(w->s, key, name, NULL) != 0 || sn_remove(w->s, key) != 0 || sn_remove(w->s, name) != 0)
			w->failures++;
		if (sn_prepare(w->s, "race", NULL, NULL) == 0)
			w->won++;
	}
	return NULL;
}

static void concurrency(struct subj *s)
{
	enum { N = 6 };
	pthread_t t[N];
	struct worker w[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct worker){.s = s, .n = i};
		pthread_create(&t[i], NULL, churn, &w[i]);
	}
	int failures = 0, won = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		failures += w[i].failures;
		won += w[i].won;
	}
	CHECK(failures == 0);
	CHECK(won == 1);   /* one prepare of `race` wins, every other sees ALREADY_EXISTS */
	CHECK(sn_remove(s, "race") == 0);
	struct walk_seen ws = {.parents_ok = true};
	struct ucd_error *e = NULL;
	CHECK(s->ops->walk(s->self, walk_fn, &ws, &e) == 0 && ws.n == 3);
}

/* ---- speed (printed, never asserted: bench/ measures through the daemon) ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void speed(struct subj *s)
{
	enum { N = 300 };
	static int64_t t[3][N];
	char key[32], name[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "speed-%d", i);
		snprintf(name, sizeof name, "speed-%d-c", i);
		int64_t t0 = now_ns();
		int r = sn_prepare(s, key, "c1", NULL);
		int64_t t1 = now_ns();
		r |= sn_commit(s, name, key);
		int64_t t2 = now_ns();
		r |= sn_remove(s, name);
		int64_t t3 = now_ns();
		if (r != 0) {
			CHECK(r == 0);
			return;
		}
		t[0][i] = t1 - t0, t[1][i] = t2 - t1, t[2][i] = t3 - t2;
	}
	static const char *what[] = {"prepare", "commit", "remove"};
	for (int k = 0; k < 3; k++) {
		qsort(t[k], N, sizeof t[k][0], cmp_i64);
		printf("# %s %s (in process, empty layer): p50 %.3f ms, p99 %.3f ms\n", s->id, what[k],
		       t[k][N / 2] / 1e6, t[k][N * 99 / 100] / 1e6);
	}
	CHECK(sn_cleanup(s) == 0);
}

/* ---- persistence, cleanup ---- */

static void persistence(const char *id, struct subj *s)
{
	char root[600];
	snprintf(root, sizeof root, "%s", s->root);
	struct ucd_snapshot_usage before = {0};
	CHECK(sn_usage(s, "c1", &before) == 0);
	subj_close(s);

	/* a crash left a half-made snapshot and a directory no record names */
	char p[1200];
	snprintf(p, sizeof p, "%s/snapshots/new-999", s->plugin_root);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/snapshots/998", s->plugin_root);
	CHECK(mkdir(p, 0755) == 0);

	subj_open(s, id, root, NULL);
	CHECK(s->ops != NULL);
	if (s->ops == NULL)
		return;
	struct ucd_snapshot_info i = {0};
	CHECK(sn_stat(s, "c2", &i) == 0 && i.parent && strcmp(i.parent, "c1") == 0);
	sn_info_free(s, &i);
	CHECK(sn_stat(s, "c1", &i) == 0 && info_label(&i, "committed") != NULL);
	sn_info_free(s, &i);
	struct ucd_snapshot_usage after = {0};
	CHECK(sn_usage(s, "c1", &after) == 0 && after.size == before.size && after.inodes == before.inodes);
	CHECK(sn_remove(s, "c1") == UCD_FAILED_PRECONDITION);   /* children survive a restart */
	struct ucd_mounts m = {0};
	CHECK(sn_prepare(s, "after", "c2", &m) == 0);
	const char *dir = mount_at(&m, "after");
	sn_mounts_free(s, &m);
	if (dir != NULL) {
		CHECK_STR(read_file(dir, "new"), "new-2");
		unmount_one(dir);
	}
	CHECK(sn_cleanup(s) == 0);
	snprintf(p, sizeof p, "%s/snapshots/new-999", s->plugin_root);
	CHECK(!exists(p, "."));
	snprintf(p, sizeof p, "%s/snapshots/998", s->plugin_root);
	CHECK(!exists(p, "."));
}

static void remove_all(struct subj *s)
{
	CHECK(sn_remove(s, "after") == 0);
	CHECK(sn_remove(s, "v") == 0);
	CHECK(sn_remove(s, "c2") == 0);
	CHECK(sn_remove(s, "c1") == 0);
	CHECK(sn_prepare(s, "c1", NULL, NULL) == 0);   /* a removed name is free again */
	CHECK(sn_remove(s, "c1") == 0);
	CHECK(sn_cleanup(s) == 0);
	CHECK(sn_cleanup(s) == 0);
	char p[700];
	snprintf(p, sizeof p, "%s/snapshots", s->plugin_root);
	CHECK(count_entries(p) == 0);
	if (count_entries(p) != 0)
		(void)!system(strcat(strcpy((char[800]){0}, "ls -la "), p));   /* diagnostics only */
	snprintf(p, sizeof p, "%s/trash", s->plugin_root);
	CHECK(count_entries(p) == 0);
	if (count_entries(p) != 0)
		(void)!system(strcat(strcpy((char[800]){0}, "ls -la "), p));   /* diagnostics only */
	if (strcmp(s->id, "overlayfs") == 0) {
		snprintf(p, sizeof p, "%s/l", s->plugin_root);
		CHECK(count_entries(p) == 0);
	}
}

void test_common(const char *id)
{
	printf("# ---- %s: common ----\n", id);
	char root[400];
	snprintf(root, sizeof root, "%s/root-%s", tmpdir, id);
	struct subj s;
	subj_open(&s, id, root, NULL);
	CHECK_STR(subj_status(&s), "ok");
	if (s.ops == NULL) {
		subj_close(&s);
		return;
	}
	const struct registry_plugin *p = registry_find(s.reg, s.uri);
	CHECK_STR(registry_plugin_export(p, "root"), s.plugin_root);
	CHECK(registry_plugin_capabilities(p)[0] == NULL);
	lifecycle(&s);
	errors(&s);
	update(&s);
	walk(&s);
	concurrency(&s);
	speed(&s);
	persistence(id, &s);
	if (s.ops != NULL)
		remove_all(&s);
	unmount_all();
	subj_close(&s);
}
