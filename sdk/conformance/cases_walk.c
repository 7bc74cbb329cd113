/* walk, and the daemon's filtering on top of it. The snapshot set and the
 * expected matches are those of containerd's snapshots/testsuite checkWalk,
 * plus regexp and quoted-label filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "cases.h"
#include "filters/filters.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define R_ONCE "snapshotter.h walk: calls fn for every snapshot, once"
#define R_EXACT "snapshotter.h walk: reports name, parent, kind and labels exactly (the daemon filters on them), as stat does"
#define R_FILTER "snapshotter.h walk: the daemon's filters over walk's results select exactly the matching snapshots"
#define R_STOP "snapshotter.h walk: a non-zero return of fn stops the walk, and walk returns that value"

#define GC "containerd.io/gc.root"

struct expect {
	const char *name, *parent;
	int kind;
	struct ucd_label labels[3];
	size_t n_labels;
};

static const struct expect walk_set[] = {
	{"a-np", NULL, UCD_SNAPSHOT_ACTIVE, {{GC, "check-walk"}}, 1},
	{"p", NULL, UCD_SNAPSHOT_COMMITTED, {{GC, "check-walk"}}, 1},
	{"a", "p", UCD_SNAPSHOT_ACTIVE, {{GC, "check-walk"}}, 1},
	{"v", "p", UCD_SNAPSHOT_VIEW, {{GC, "check-walk"}}, 1},
	{"p-wl", NULL, UCD_SNAPSHOT_COMMITTED, {{"l", "1"}, {GC, "check-walk"}}, 2},
	{"a-wl", "p-wl", UCD_SNAPSHOT_ACTIVE, {{"l", "2"}, {GC, "check-walk"}}, 2},
	{"v-wl", "p-wl", UCD_SNAPSHOT_VIEW, {{"l", "3"}, {GC, "check-walk"}}, 2},
	{"a-np-wl", NULL, UCD_SNAPSHOT_ACTIVE, {{"l", "2"}, {GC, "check-walk"}}, 2},
	{"odd", "p", UCD_SNAPSHOT_ACTIVE, {{"a", "b"}, {"dotted.key", "x y"}}, 2},
};
#define N_WALK (sizeof walk_set / sizeof *walk_set)

/* Builds walk_set in order (parents come first). */
static bool build(struct tcase *t)
{
	for (size_t i = 0; i < N_WALK; i++) {
		const struct expect *e = &walk_set[i];
		int r;
		if (e->kind == UCD_SNAPSHOT_VIEW) {
			r = sn_view(t, e->name, e->parent, e->labels, e->n_labels, NULL);
		} else if (e->kind == UCD_SNAPSHOT_ACTIVE) {
			r = sn_prepare(t, e->name, e->parent, e->labels, e->n_labels, NULL);
		} else {
			autofree char *tmp = xasprintf("%s-tmp", e->name);
			struct ucd_label gc = {GC, "check-walk"};
			r = sn_prepare(t, tmp, e->parent, &gc, 1, NULL);
			if (r == 0)
				r = sn_commit(t, e->name, tmp, e->labels, e->n_labels);
		}
		if (!EXPECT_OK(t, r, R_SETUP, "create %s `%s`", sn_kind_name(e->kind), e->name))
			return false;
	}
	return true;
}

void case_walk_exact(struct tcase *t)
{
	if (!build(t))
		return;
	struct snaplist l;
	if (!EXPECT_OK(t, sn_walk_all(t, &l), R_ONCE, "walk")) {
		snaplist_free(&l);
		return;
	}
	TC_CHECK(t, l.n == N_WALK, R_ONCE, "walk reported %zu snapshots, want %zu", l.n, N_WALK);
	for (size_t i = 0; i < l.n; i++) {
		bool known = false;
		for (size_t j = 0; j < N_WALK && !known; j++)
			known = strcmp(l.v[i].name, walk_set[j].name) == 0;
		TC_CHECK(t, known, R_ONCE, "walk reported `%s`, which does not exist", l.v[i].name);
	}
	char diff[512];
	for (size_t j = 0; j < N_WALK; j++) {
		const struct expect *e = &walk_set[j];
		size_t count;
		const struct snap *s = snaplist_find(&l, e->name, &count);
		if (!TC_CHECK(t, count == 1, R_ONCE, "walk reported `%s` %zu times", e->name, count))
			continue;
		TC_CHECK(t, s->kind == e->kind, R_EXACT, "walk: `%s` is %s, want %s", e->name, sn_kind_name(s->kind),
		         sn_kind_name(e->kind));
		TC_CHECK(t, e->parent ? s->parent && strcmp(s->parent, e->parent) == 0 : s->parent == NULL, R_EXACT,
		         "walk: `%s` has parent `%s`, want `%s`", e->name, s->parent ? s->parent : "(none)",
		         e->parent ? e->parent : "(none)");
		TC_CHECK(t, snap_labels_match(s, e->labels, e->n_labels, diff, sizeof diff), R_EXACT, "walk: `%s`: %s",
		         e->name, diff);
		struct ucd_snapshot_info st = {0};
		if (EXPECT_OK(t, sn_stat(t, e->name, &st), R_EXACT, "stat `%s`", e->name)) {
			TC_CHECK(t, st.created_at == s->created_at && st.updated_at == s->updated_at, R_EXACT,
			         "`%s`: walk reports times %lld/%lld, stat %lld/%lld", e->name, (long long)s->created_at,
			         (long long)s->updated_at, (long long)st.created_at, (long long)st.updated_at);
			sn_info_release(t, &st);
		}
	}
	snaplist_free(&l);
}

/* containerd's snapshot adaptor (metadata/adaptors.go adaptSnapshot): kind as
 * "active"/"view"/"committed", name, parent ("" when none), labels. */
static bool snap_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const struct snap *s = obj;
	if (strcmp(path[0], "kind") == 0) {
		switch (s->kind) {
		case UCD_SNAPSHOT_ACTIVE: *value = "active"; return true;
		case UCD_SNAPSHOT_VIEW: *value = "view"; return true;
		case UCD_SNAPSHOT_COMMITTED: *value = "committed"; return true;
		default: return false;
		}
	}
	if (strcmp(path[0], "name") == 0) {
		*value = s->name;
		return true;
	}
	if (strcmp(path[0], "parent") == 0) {
		*value = s->parent ? s->parent : "";
		return true;
	}
	if (strcmp(path[0], "labels") == 0)
		return filter_get_label((const char *const *)s->keys, (const char *const *)s->vals, s->n_labels, path + 1,
		                        n - 1, value);
	return false;
}

struct filter_case {
	const char *filters[3];
	const char *matches;   /* names, space-separated, sorted */
};

static const struct filter_case filter_cases[] = {
	{{"labels.\"" GC "\"==check-walk"}, "a a-np a-np-wl a-wl p p-wl v v-wl"},
	{{"kind==active,labels.\"" GC "\"==check-walk"}, "a a-np a-np-wl a-wl"},
	{{"kind==view,labels.\"" GC "\"==check-walk"}, "v v-wl"},
	{{"kind==committed,labels.\"" GC "\"==check-walk"}, "p p-wl"},
	{{"name==p", "name==a-np-wl"}, "a-np-wl p"},
	{{"name==a-wl,labels.l"}, "a-wl"},
	{{"parent==p"}, "a odd v"},
	{{"parent!=\"\",labels.\"" GC "\"==check-walk"}, "a a-wl v v-wl"},
	{{"labels.l"}, "a-np-wl a-wl p-wl v-wl"},
	{{"labels.l==2"}, "a-np-wl a-wl"},
	{{"name~=^a-"}, "a-np a-np-wl a-wl"},
	{{"name~=/wl$/"}, "a-np-wl a-wl p-wl v-wl"},
	{{"labels.\"a\"==b"}, "odd"},
	{{"labels.\"dotted.key\"==\"x y\""}, "odd"},
	{{"parent==\"\""}, "a-np a-np-wl p p-wl"},
	{{"kind!=committed,parent==p-wl"}, "a-wl v-wl"},
};

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void case_walk_filters(struct tcase *t)
{
	if (!build(t))
		return;
	struct snaplist l;
	if (!EXPECT_OK(t, sn_walk_all(t, &l), R_ONCE, "walk")) {
		snaplist_free(&l);
		return;
	}
	for (size_t c = 0; c < sizeof filter_cases / sizeof *filter_cases; c++) {
		const struct filter_case *fc = &filter_cases[c];
		size_t nf = 0;
		while (nf < 3 && fc->filters[nf] != NULL)
			nf++;
		struct ucd_error *e = NULL;
		struct filter *f = filter_parse(fc->filters, nf, &e);
		if (f == NULL) {
			tc_fail(t, "tester", "filter `%s` does not parse: %s", fc->filters[0], e->msg);
			error_free(e);
			continue;
		}
		char **names = NULL;
		size_t n = 0;
		for (size_t i = 0; i < l.n; i++) {
			if (filter_match(f, snap_field, &l.v[i])) {
				names = xrealloc(names, (n + 1) * sizeof *names);
				names[n++] = l.v[i].name;
			}
		}
		filter_free(f);
		if (n > 0)
			qsort(names, n, sizeof *names, by_str);
		struct buf b = {0};
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_append(&b, " ", 1);
			buf_append(&b, names[i], strlen(names[i]));
		}
		buf_append(&b, "", 1);
		TC_CHECK(t, strcmp((char *)b.data, fc->matches) == 0, R_FILTER, "filters [%s%s%s] select [%s], want [%s]",
		         fc->filters[0], nf > 1 ? "] [" : "", nf > 1 ? fc->filters[1] : "", (char *)b.data, fc->matches);
		buf_free(&b);
		free(names);
	}
	snaplist_free(&l);
}

static int stop_at_first(void *arg, const struct ucd_snapshot_info *info)
{
	(*(int *)arg)++;
	return 7;
}

void case_walk_stop(struct tcase *t)
{
	for (int i = 0; i < 3; i++) {
		char key[16];
		snprintf(key, sizeof key, "s%d", i);
		if (!EXPECT_OK(t, sn_prepare(t, key, NULL, NULL, 0, NULL), R_SETUP, "prepare `%s`", key))
			return;
	}
	int calls = 0;
	int r = sn_walk(t, stop_at_first, &calls);
	TC_CHECK(t, calls == 1, R_STOP, "fn returned 7 and was called %d times", calls);
	TC_CHECK(t, r == 7, R_STOP, "fn returned 7 and walk returned %d", r);
	/* An empty snapshotter walks nothing, successfully. */
	for (int i = 0; i < 3; i++) {
		char key[16];
		snprintf(key, sizeof key, "s%d", i);
		EXPECT_OK(t, sn_remove(t, key), R_SETUP, "remove `%s`", key);
	}
	calls = 0;
	r = sn_walk(t, stop_at_first, &calls);
	TC_CHECK(t, r == 0 && calls == 0, R_ONCE, "walk of an empty snapshotter returned %d after %d calls", r, calls);
}
