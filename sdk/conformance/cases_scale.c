/* Many snapshots, many threads, odd keys. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "cases.h"
#include "files.h"
#include "util/mem.h"

#define R_CONCURRENT "snapshotter.h threads: ops run concurrently on one instance; the plugin serialises what needs it"
#define R_ONCE "snapshotter.h walk: calls fn for every snapshot, once"
#define R_REMOVE "snapshotter.h remove: deletes a snapshot of any kind that has no children"
#define R_KEYS "snapshotter.h: a key is any non-empty string, kept exactly (containerd's keys hold slashes, colons, any UTF-8)"
#define R_ROOT "plugin.h: a plugin keeps its files under its root and state (<root>/<uri>, <state>/<uri>)"

#define WORKERS 8
#define ROUNDS 50
#define KEEP_EVERY 5     /* each worker keeps every 5th commit, as the parent of the next ones */

struct worker {
	struct tcase *t;
	int id;
	atomic_bool *done;
};

/* Each worker builds its own chain: prepare on the last kept commit, commit,
 * and remove what it does not keep (always a leaf). */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct tcase *t = w->t;
	char parent[48] = "", key[48], name[48];
	for (int j = 0; j < ROUNDS; j++) {
		snprintf(key, sizeof key, "w%d-%02d-active", w->id, j);
		snprintf(name, sizeof name, "w%d-%02d", w->id, j);
		if (!EXPECT_OK(t, sn_prepare(t, key, parent[0] ? parent : NULL, NULL, 0, NULL), R_CONCURRENT,
		               "prepare `%s` on `%s`", key, parent) ||
		    !EXPECT_OK(t, sn_commit(t, name, key, NULL, 0), R_CONCURRENT, "commit `%s` as `%s`", key, name))
			break;
		if (j % KEEP_EVERY == 0)
			snprintf(parent, sizeof parent, "%s", name);
		else if (!EXPECT_OK(t, sn_remove(t, name), R_CONCURRENT, "remove `%s`", name))
			break;
	}
	return NULL;
}

/* A bare walk, for the wrapper's checks only (each info well formed). */
static int ignore_info(void *arg, const struct ucd_snapshot_info *info)
{
	return 0;
}

/* Walks and stats while the workers run: each walk must not report a name
 * twice, and a kept snapshot, once seen, must stay statable. */
static void *observe(void *arg)
{
	struct worker *w = arg;
	struct tcase *t = w->t;
	while (!atomic_load(w->done)) {
		struct snaplist l;
		if (!EXPECT_OK(t, sn_walk_all(t, &l), R_CONCURRENT, "walk during the workers")) {
			snaplist_free(&l);
			break;
		}
		for (size_t i = 0; i < l.n; i++) {
			size_t count;
			snaplist_find(&l, l.v[i].name, &count);
			if (!TC_CHECK(t, count == 1, R_CONCURRENT, "a walk reported `%s` %zu times", l.v[i].name, count))
				break;
			/* Kept commits (w<i>-<multiple of 5>) never go away. */
			int wid, j;
			char tail;
			if (sscanf(l.v[i].name, "w%d-%d%c", &wid, &j, &tail) == 2 && j % KEEP_EVERY == 0)
				EXPECT_OK(t, sn_stat(t, l.v[i].name, NULL), R_CONCURRENT, "stat kept `%s` during the workers",
				          l.v[i].name);
		}
		snaplist_free(&l);
		sn_walk(t, ignore_info, NULL);
	}
	return NULL;
}

void case_concurrent(struct tcase *t)
{
	pthread_t th[WORKERS + 2];
	struct worker w[WORKERS + 2];
	atomic_bool done = false;
	for (int i = 0; i < WORKERS + 2; i++) {
		w[i] = (struct worker){t, i, &done};
		if (pthread_create(&th[i], NULL, i < WORKERS ? work : observe, &w[i]) != 0) {
			tc_fail(t, "tester", "pthread_create failed");
			atomic_store(&done, true);
			for (int k = 0; k < i; k++)
				pthread_join(th[k], NULL);
			return;
		}
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&done, true);
	pthread_join(th[WORKERS], NULL);
	pthread_join(th[WORKERS + 1], NULL);
	if (tc_failed(t))
		return;

	/* Exactly the kept commits remain, each with its parent. */
	struct snaplist l;
	if (!EXPECT_OK(t, sn_walk_all(t, &l), R_CONCURRENT, "walk after the workers")) {
		snaplist_free(&l);
		return;
	}
	size_t want = WORKERS * (ROUNDS / KEEP_EVERY);
	TC_CHECK(t, l.n == want, R_CONCURRENT, "walk reports %zu snapshots after the workers, want %zu", l.n, want);
	for (int i = 0; i < WORKERS; i++) {
		for (int j = 0; j < ROUNDS; j += KEEP_EVERY) {
			char name[48], parent[48];
			snprintf(name, sizeof name, "w%d-%02d", i, j);
			snprintf(parent, sizeof parent, "w%d-%02d", i, j - KEEP_EVERY);
			size_t count;
			const struct snap *s = snaplist_find(&l, name, &count);
			if (!TC_CHECK(t, count == 1, R_CONCURRENT, "`%s` is reported %zu times, want once", name, count))
				continue;
			TC_CHECK(t, j == 0 ? s->parent == NULL : s->parent && strcmp(s->parent, parent) == 0, R_CONCURRENT,
			         "`%s` has parent `%s`, want `%s`", name, s->parent ? s->parent : "(none)",
			         j == 0 ? "(none)" : parent);
			TC_CHECK(t, s->kind == UCD_SNAPSHOT_COMMITTED, R_CONCURRENT, "`%s` is %s", name, sn_kind_name(s->kind));
		}
	}
	snaplist_free(&l);
}

#define MANY 1000

void case_remove_1000(struct tcase *t)
{
	char key[32], name[32];
	/* Half committed, half active; every 10th active sits on a committed one. */
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof key, "r-%04d-active", i);
		snprintf(name, sizeof name, "r-%04d", i);
		char parent[32] = "";
		if (i % 2 == 1 && i % 10 == 1)
			snprintf(parent, sizeof parent, "r-%04d", i - 1);
		if (!EXPECT_OK(t, sn_prepare(t, key, parent[0] ? parent : NULL, NULL, 0, NULL), R_SETUP, "prepare `%s`", key))
			return;
		if (i % 2 == 0 && !EXPECT_OK(t, sn_commit(t, name, key, NULL, 0), R_SETUP, "commit `%s`", key))
			return;
	}
	size_t n = walk_count(t);
	TC_CHECK(t, n == MANY, R_ONCE, "walk reports %zu snapshots, want %d", n, MANY);
	/* Children first (the odd ones), then the rest in a scrambled order. */
	for (int i = 1; i < MANY; i += 2) {
		snprintf(key, sizeof key, "r-%04d-active", i);
		if (!EXPECT_OK(t, sn_remove(t, key), R_REMOVE, "remove `%s`", key))
			return;
	}
	for (int k = 0; k < MANY / 2; k++) {
		int i = (k * 337) % (MANY / 2) * 2;    /* 337 is prime to 500: a permutation */
		snprintf(name, sizeof name, "r-%04d", i);
		if (!EXPECT_OK(t, sn_remove(t, name), R_REMOVE, "remove `%s`", name))
			return;
	}
	n = walk_count(t);
	TC_CHECK(t, n == 0, R_REMOVE, "walk reports %zu snapshots after removing all %d", n, MANY);
	for (int i = 0; i < MANY; i += 97) {
		snprintf(name, sizeof name, i % 2 ? "r-%04d-active" : "r-%04d", i);
		expect_absent(t, name, R_REMOVE);
	}
	if (UCD_SNAPSHOTTER_OPS_HAS(t->inst.ops, cleanup))
		EXPECT_OK(t, sn_cleanup(t), "snapshotter.h cleanup: frees what remove left behind", "cleanup");
}

static const char *odd_key(size_t i, char *buf, size_t cap)
{
	static const char *const fixed[] = {
		"a/b/c",
		"/leading/slash",
		"trailing/",
		"with space",
		"tab\there",
		"ünïcödé-键-🙂",
		"default/1/../../../escape",
		"../escape-up",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"k8s.io/42/extract-123456789-AbCd sha256:00ff",
		"quote\"and'back\\slash",
		"percent%s%n",
	};
	if (i < sizeof fixed / sizeof *fixed)
		return fixed[i];
	if (i == sizeof fixed / sizeof *fixed) {
		size_t n = cap - 1 < 512 ? cap - 1 : 512;
		for (size_t k = 0; k < n; k++)
			buf[k] = (char)('a' + k % 26);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

void case_keys_odd(struct tcase *t)
{
	char longkey[600];
	const char *k;
	size_t n_keys = 0;
	for (size_t i = 0; (k = odd_key(i, longkey, sizeof longkey)) != NULL; i++, n_keys++) {
		autofree char *active = xasprintf("%s|active", k);
		autofree char *view = xasprintf("%s|view", k);
		if (!EXPECT_OK(t, sn_prepare(t, active, NULL, NULL, 0, NULL), R_KEYS, "prepare `%s`", active) ||
		    !EXPECT_OK(t, sn_commit(t, k, active, NULL, 0), R_KEYS, "commit `%s` as `%s`", active, k))
			continue;
		expect_snapshot(t, k, UCD_SNAPSHOT_COMMITTED, NULL, R_KEYS);
		if (EXPECT_OK(t, sn_view(t, view, k, NULL, 0, NULL), R_KEYS, "view `%s` on `%s`", view, k))
			expect_snapshot(t, view, UCD_SNAPSHOT_VIEW, k, R_KEYS);
	}
	if (tc_failed(t))
		return;
	struct snaplist l;
	if (EXPECT_OK(t, sn_walk_all(t, &l), R_KEYS, "walk")) {
		TC_CHECK(t, l.n == 2 * n_keys, R_KEYS, "walk reports %zu snapshots, want %zu", l.n, 2 * n_keys);
		for (size_t i = 0; (k = odd_key(i, longkey, sizeof longkey)) != NULL; i++) {
			size_t count;
			snaplist_find(&l, k, &count);
			TC_CHECK(t, count == 1, R_KEYS, "walk reports `%s` %zu times", k, count);
		}
	}
	snaplist_free(&l);

	/* Content through an odd key (root only). */
	static const char *const odd_child = "default/7/../../x y/ü";
	if (t->can_mount) {
		const char *dir = prepare_mounted(t, odd_child, "a/b/c");
		if (dir != NULL) {
			tc_write(t, dir, "f", "odd");
			tc_unmount(t, dir);
			if ((dir = mounts_mounted(t, odd_child)) != NULL) {
				tc_expect_file(t, dir, "f", "odd", R_KEYS);
				tc_unmount(t, dir);
			}
			EXPECT_OK(t, sn_remove(t, odd_child), R_KEYS, "remove `%s`", odd_child);
		}
	}
	/* Nothing was created outside the plugin's root and state. */
	autofree char *top = files_list(t->dir);
	autofree char *root = files_list(t->root);
	autofree char *state = files_list(t->state);
	TC_CHECK(t, top && strcmp(top, "root state work") == 0, R_ROOT, "the case directory holds [%s]", top ? top : "?");
	TC_CHECK(t, root && (root[0] == '\0' || strcmp(root, t->subject->uri) == 0), R_ROOT,
	         "the daemon's root holds [%s], want only `%s`", root ? root : "?", t->subject->uri);
	TC_CHECK(t, state && (state[0] == '\0' || strcmp(state, t->subject->uri) == 0), R_ROOT,
	         "the daemon's state holds [%s], want only `%s`", state ? state : "?", t->subject->uri);

	for (size_t i = 0; (k = odd_key(i, longkey, sizeof longkey)) != NULL; i++) {
		autofree char *view = xasprintf("%s|view", k);
		EXPECT_OK(t, sn_remove(t, view), R_KEYS, "remove `%s`", view);
		EXPECT_OK(t, sn_remove(t, k), R_KEYS, "remove `%s`", k);
	}
}
