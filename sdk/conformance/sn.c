#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucontainerd/host.h>

#include "sn.h"
#include "tcase.h"
#include "track.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define R_ERRCONV "error.h: a failing op returns -code and sets *err to an error of that code; success returns 0 and leaves *err alone"
#define R_OUTFAIL "types.h: on failure an op leaves *out untouched (or released and zeroed)"
#define R_MOUNTS "types.h/snapshotter.h: prepare, view and mounts hand out at least one mount, each with a type and a source, target NULL, no NULL option"
#define R_ALLOC "types.h: every pointer member of *out comes from host->alloc, one block per member"
#define R_INFO "types.h/snapshotter.h: an info has a name, a known kind, parent NULL when none (not \"\"), labels with unique non-NULL keys and values"

static __thread char last_msg[1024];

const char *sn_last_message(void)
{
	return last_msg;
}

const char *sn_code_name(int code)
{
	return code == 0 ? "ok" : error_code_name(code);
}

const char *sn_kind_name(int32_t kind)
{
	switch (kind) {
	case UCD_SNAPSHOT_VIEW: return "VIEW";
	case UCD_SNAPSHOT_ACTIVE: return "ACTIVE";
	case UCD_SNAPSHOT_COMMITTED: return "COMMITTED";
	default: return "UNKNOWN";
	}
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return false;
	return true;
}

/* The error convention, shared by every op. `what` names the call. Returns
 * the positive code (0 on success). */
static int settle(struct tcase *t, const char *what, int r, struct ucd_error *e)
{
	last_msg[0] = '\0';
	if (r == 0) {
		if (e != NULL) {
			tc_fail(t, R_ERRCONV, "%s returned 0 but set *err (`%s`)", what, e->msg ? e->msg : "");
			error_free(e);
		}
		return 0;
	}
	if (r > 0) {
		tc_fail(t, R_ERRCONV, "%s returned %d (positive)", what, r);
		snprintf(last_msg, sizeof last_msg, "%s", e && e->msg ? e->msg : "");
		int code = e ? e->code : UCD_UNKNOWN;
		error_free(e);
		return code ? code : UCD_UNKNOWN;
	}
	if (e == NULL) {
		tc_fail(t, R_ERRCONV, "%s returned %d without setting *err", what, r);
		snprintf(last_msg, sizeof last_msg, "(no error set)");
		return -r;
	}
	if (e->code != -r)
		tc_fail(t, R_ERRCONV, "%s returned %d but *err has code %d (%s)", what, r, e->code,
		        sn_code_name(e->code));
	if (e->msg == NULL)
		tc_fail(t, R_ERRCONV, "%s: *err has no message", what);
	snprintf(last_msg, sizeof last_msg, "%s", e->msg ? e->msg : "");
	error_free(e);
	return -r;
}

static bool labels_valid(struct tcase *t, const char *what, const struct ucd_labels *l)
{
	if (l->n > 0 && l->v == NULL)
		return tc_fail(t, R_INFO, "%s: labels.n is %zu but labels.v is NULL", what, l->n);
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].key == NULL || l->v[i].value == NULL)
			return tc_fail(t, R_INFO, "%s: label %zu has a NULL key or value", what, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(l->v[i].key, l->v[j].key) == 0)
				return tc_fail(t, R_INFO, "%s: label `%s` appears twice", what, l->v[i].key);
	}
	return true;
}

static bool info_valid(struct tcase *t, const char *what, const struct ucd_snapshot_info *i)
{
	bool ok = true;
	if (i->name == NULL)
		ok = tc_fail(t, R_INFO, "%s: name is NULL", what);
	if (i->kind < UCD_SNAPSHOT_VIEW || i->kind > UCD_SNAPSHOT_COMMITTED)
		ok = tc_fail(t, R_INFO, "%s: kind %d is not VIEW, ACTIVE or COMMITTED", what, (int)i->kind);
	if (i->parent != NULL && i->parent[0] == '\0')
		ok = tc_fail(t, R_INFO, "%s: parent is \"\" (NULL when none)", what);
	return labels_valid(t, what, &i->labels) && ok;
}

static bool mounts_valid(struct tcase *t, const char *what, const struct ucd_mounts *m)
{
	if (m->n == 0 || m->v == NULL)
		return tc_fail(t, R_MOUNTS, "%s: no mounts", what);
	for (size_t i = 0; i < m->n; i++) {
		const struct ucd_mount *x = &m->v[i];
		if (x->type == NULL || x->source == NULL)
			return tc_fail(t, R_MOUNTS, "%s: mount %zu has a NULL type or source", what, i);
		if (x->target != NULL)
			tc_fail(t, R_MOUNTS, "%s: mount %zu has target `%s` (unused by snapshotters: NULL)", what,
			        i, x->target);
		if (x->n_options > 0 && x->options == NULL)
			return tc_fail(t, R_MOUNTS, "%s: mount %zu has n_options %zu but options NULL", what, i,
			               x->n_options);
		for (size_t j = 0; j < x->n_options; j++)
			if (x->options[j] == NULL)
				return tc_fail(t, R_MOUNTS, "%s: mount %zu option %zu is NULL", what, i, j);
	}
	return true;
}

static int unimplemented(const char *op)
{
	snprintf(last_msg, sizeof last_msg, "the plugin has no `%s` op (NULL)", op);
	return UCD_UNIMPLEMENTED;
}

#define HAS(t, op) UCD_SNAPSHOTTER_OPS_HAS((t)->inst.ops, op)

void sn_info_release(struct tcase *t, struct ucd_snapshot_info *i)
{
	ucd_snapshot_info_release(t->inst.host->free, i);
}

void sn_mounts_release(struct tcase *t, struct ucd_mounts *m)
{
	ucd_mounts_release(t->inst.host->free, m);
}

/* The pointers of one *out, to check that each comes from host->alloc and
 * that none is handed out twice (the daemon frees each once). */
struct owned {
	const void *p[64];
	size_t n;
	bool bad;
};

static void own(struct tcase *t, struct owned *o, const char *what, const char *member, const void *p)
{
	if (p == NULL || o->bad)
		return;
	if (!track_is_live(p)) {
		o->bad = !tc_fail(t, R_ALLOC, "%s: %s (%p) was not allocated with host->alloc", what, member, p);
		return;
	}
	for (size_t i = 0; i < o->n; i++)
		if (o->p[i] == p) {
			o->bad = !tc_fail(t, R_ALLOC, "%s: %s (%p) is also another member: it would be freed twice",
			                  what, member, p);
			return;
		}
	if (o->n < ARRAY_LEN(o->p))
		o->p[o->n++] = p;
}

static void own_labels(struct tcase *t, struct owned *o, const char *what, const struct ucd_labels *l)
{
	own(t, o, what, "labels.v", l->v);
	for (size_t i = 0; l->v != NULL && i < l->n; i++) {
		own(t, o, what, "a label key", l->v[i].key);
		own(t, o, what, "a label value", l->v[i].value);
	}
}

static void own_info(struct tcase *t, const char *what, const struct ucd_snapshot_info *i)
{
	struct owned o = {.n = 0};
	own(t, &o, what, "name", i->name);
	own(t, &o, what, "parent", i->parent);
	own_labels(t, &o, what, &i->labels);
}

static void own_mounts(struct tcase *t, const char *what, const struct ucd_mounts *m)
{
	struct owned o = {.n = 0};
	own(t, &o, what, "mounts.v", m->v);
	for (size_t i = 0; m->v != NULL && i < m->n; i++) {
		own(t, &o, what, "a mount's type", m->v[i].type);
		own(t, &o, what, "a mount's source", m->v[i].source);
		own(t, &o, what, "a mount's target", m->v[i].target);
		own(t, &o, what, "a mount's options array", m->v[i].options);
		for (size_t j = 0; m->v[i].options != NULL && j < m->v[i].n_options; j++)
			own(t, &o, what, "a mount option", m->v[i].options[j]);
	}
}

/* After an op that fills an info: validate, release when the caller does not
 * want it. */
static int finish_info(struct tcase *t, const char *what, int code, struct ucd_snapshot_info *got,
                       struct ucd_snapshot_info *out)
{
	if (code != 0) {
		if (!all_zero(got, sizeof *got)) {
			tc_fail(t, R_OUTFAIL, "%s failed (%s) but filled *out", what, sn_code_name(code));
			memset(got, 0, sizeof *got);  /* not ours to free: the plugin's state is unknown */
		}
		return code;
	}
	if (info_valid(t, what, got))
		own_info(t, what, got);
	if (out != NULL)
		*out = *got;
	else
		sn_info_release(t, got);
	return 0;
}

static int finish_mounts(struct tcase *t, const char *what, int code, struct ucd_mounts *got,
                         struct ucd_mounts *out)
{
	if (code != 0) {
		if (!all_zero(got, sizeof *got)) {
			tc_fail(t, R_OUTFAIL, "%s failed (%s) but filled *out", what, sn_code_name(code));
			memset(got, 0, sizeof *got);
		}
		return code;
	}
	if (mounts_valid(t, what, got))
		own_mounts(t, what, got);
	if (out != NULL)
		*out = *got;
	else
		sn_mounts_release(t, got);
	return 0;
}

int sn_stat(struct tcase *t, const char *key, struct ucd_snapshot_info *out)
{
	if (!HAS(t, stat))
		return unimplemented("stat");
	autofree char *what = xasprintf("stat `%s`", key);
	struct ucd_snapshot_info got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->stat(t->inst.self, key, &got, &e);
	return finish_info(t, what, settle(t, what, r, e), &got, out);
}

int sn_prepare(struct tcase *t, const char *key, const char *parent, const struct ucd_label *labels,
               size_t n_labels, struct ucd_mounts *out)
{
	if (!HAS(t, prepare))
		return unimplemented("prepare");
	autofree char *what = parent && parent[0] ? xasprintf("prepare `%s` on `%s`", key, parent)
	                                          : xasprintf("prepare `%s` (no parent)", key);
	struct ucd_mounts got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->prepare(t->inst.self, key, parent, labels, n_labels, &got, &e);
	return finish_mounts(t, what, settle(t, what, r, e), &got, out);
}

int sn_view(struct tcase *t, const char *key, const char *parent, const struct ucd_label *labels, size_t n_labels,
            struct ucd_mounts *out)
{
	if (!HAS(t, view))
		return unimplemented("view");
	autofree char *what = parent && parent[0] ? xasprintf("view `%s` on `%s`", key, parent)
	                                          : xasprintf("view `%s` (no parent)", key);
	struct ucd_mounts got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->view(t->inst.self, key, parent, labels, n_labels, &got, &e);
	return finish_mounts(t, what, settle(t, what, r, e), &got, out);
}

int sn_mounts(struct tcase *t, const char *key, struct ucd_mounts *out)
{
	if (!HAS(t, mounts))
		return unimplemented("mounts");
	autofree char *what = xasprintf("mounts `%s`", key);
	struct ucd_mounts got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->mounts(t->inst.self, key, &got, &e);
	return finish_mounts(t, what, settle(t, what, r, e), &got, out);
}

int sn_commit(struct tcase *t, const char *name, const char *key, const struct ucd_label *labels,
              size_t n_labels)
{
	if (!HAS(t, commit))
		return unimplemented("commit");
	autofree char *what = xasprintf("commit `%s` as `%s`", key, name);
	struct ucd_error *e = NULL;
	int r = t->inst.ops->commit(t->inst.self, name, key, labels, n_labels, &e);
	return settle(t, what, r, e);
}

int sn_remove(struct tcase *t, const char *key)
{
	if (!HAS(t, remove))
		return unimplemented("remove");
	autofree char *what = xasprintf("remove `%s`", key);
	struct ucd_error *e = NULL;
	int r = t->inst.ops->remove(t->inst.self, key, &e);
	return settle(t, what, r, e);
}

int sn_usage(struct tcase *t, const char *key, struct ucd_snapshot_usage *out)
{
	if (!HAS(t, usage))
		return unimplemented("usage");
	autofree char *what = xasprintf("usage `%s`", key);
	struct ucd_snapshot_usage got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->usage(t->inst.self, key, &got, &e);
	int code = settle(t, what, r, e);
	if (code == 0 && (got.size < 0 || got.inodes < 0))
		tc_fail(t, "snapshotter.h usage: sizes are bytes and inodes, never negative",
		        "%s: size %lld inodes %lld", what, (long long)got.size, (long long)got.inodes);
	if (code == 0 && out != NULL)
		*out = got;
	return code;
}

int sn_update(struct tcase *t, const struct ucd_snapshot_info *info, const char *const *paths, size_t n_paths,
              struct ucd_snapshot_info *out)
{
	if (!HAS(t, update))
		return unimplemented("update");
	struct buf b = {0};
	for (size_t i = 0; i < n_paths; i++) {
		if (i > 0)
			buf_append(&b, ", ", 2);
		buf_append(&b, paths[i], strlen(paths[i]));
	}
	buf_append(&b, "", 1);
	autofree char *what = xasprintf("update `%s` [%s]", info->name, (char *)b.data);
	buf_free(&b);
	struct ucd_snapshot_info got = {0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->update(t->inst.self, info, paths, n_paths, &got, &e);
	return finish_info(t, what, settle(t, what, r, e), &got, out);
}

struct walk_ctx {
	struct tcase *t;
	ucd_snapshot_walk_fn fn;
	void *arg;
	int stopped_with;
};

static int walk_check(void *arg, const struct ucd_snapshot_info *info)
{
	struct walk_ctx *w = arg;
	info_valid(w->t, "walk", info);
	if (info->name == NULL)
		return 0;
	int r = w->fn(w->arg, info);
	if (r != 0)
		w->stopped_with = r;
	return r;
}

int sn_walk(struct tcase *t, ucd_snapshot_walk_fn fn, void *arg)
{
	if (!HAS(t, walk))
		return unimplemented("walk");
	struct walk_ctx w = {t, fn, arg, 0};
	struct ucd_error *e = NULL;
	int r = t->inst.ops->walk(t->inst.self, walk_check, &w, &e);
	if (w.stopped_with != 0) {
		last_msg[0] = '\0';
		if (e != NULL) {
			tc_fail(t, "snapshotter.h walk: when fn returns non-zero, walk stops and returns that value",
			        "walk set *err (`%s`) after fn returned %d", e->msg ? e->msg : "", w.stopped_with);
			error_free(e);
		}
		return r;
	}
	return settle(t, "walk", r, e);
}

int sn_cleanup(struct tcase *t)
{
	if (!HAS(t, cleanup))
		return unimplemented("cleanup");
	struct ucd_error *e = NULL;
	int r = t->inst.ops->cleanup(t->inst.self, &e);
	return settle(t, "cleanup", r, e);
}

bool sn_expect(struct tcase *t, int got, int want, const char *rule, const char *what_fmt, ...)
{
	if (got == want)
		return true;
	va_list ap;
	va_start(ap, what_fmt);
	char *what;
	if (vasprintf(&what, what_fmt, ap) < 0)
		oom();
	va_end(ap);
	if (got != 0)
		tc_fail(t, rule, "%s: got %s (`%s`), want %s", what, sn_code_name(got), sn_last_message(),
		        sn_code_name(want));
	else
		tc_fail(t, rule, "%s: got ok, want %s", what, sn_code_name(want));
	free(what);
	return false;
}

/* ---- the tester's own copies ---- */

static int by_key(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

void snap_from_info(struct snap *s, const struct ucd_snapshot_info *i)
{
	memset(s, 0, sizeof *s);
	s->name = xstrdup(i->name ? i->name : "");
	s->parent = i->parent ? xstrdup(i->parent) : NULL;
	s->kind = i->kind;
	s->created_at = i->created_at;
	s->updated_at = i->updated_at;
	size_t n = i->labels.v ? i->labels.n : 0;
	s->keys = xcalloc(n + 1, sizeof *s->keys);
	s->vals = xcalloc(n + 1, sizeof *s->vals);
	/* Sort key/value pairs together through an index of key pointers. */
	char ***idx = xcalloc(n + 1, sizeof *idx);
	for (size_t k = 0; k < n; k++) {
		s->keys[k] = xstrdup(i->labels.v[k].key ? i->labels.v[k].key : "");
		s->vals[k] = xstrdup(i->labels.v[k].value ? i->labels.v[k].value : "");
		idx[k] = &s->keys[k];
	}
	if (n > 0)
		qsort(idx, n, sizeof *idx, by_key);
	char **keys = xcalloc(n + 1, sizeof *keys), **vals = xcalloc(n + 1, sizeof *vals);
	for (size_t k = 0; k < n; k++) {
		size_t from = (size_t)(idx[k] - s->keys);
		keys[k] = s->keys[from];
		vals[k] = s->vals[from];
	}
	free(idx);
	free(s->keys);
	free(s->vals);
	s->keys = keys;
	s->vals = vals;
	s->n_labels = n;
}

void snap_fini(struct snap *s)
{
	for (size_t k = 0; k < s->n_labels; k++) {
		free(s->keys[k]);
		free(s->vals[k]);
	}
	free(s->keys);
	free(s->vals);
	free(s->name);
	free(s->parent);
	memset(s, 0, sizeof *s);
}

const char *snap_label(const struct snap *s, const char *key)
{
	for (size_t k = 0; k < s->n_labels; k++)
		if (strcmp(s->keys[k], key) == 0)
			return s->vals[k];
	return NULL;
}

static int collect(void *arg, const struct ucd_snapshot_info *info)
{
	struct snaplist *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	snap_from_info(&l->v[l->n++], info);
	return 0;
}

int sn_walk_all(struct tcase *t, struct snaplist *out)
{
	memset(out, 0, sizeof *out);
	return sn_walk(t, collect, out);
}

void snaplist_free(struct snaplist *l)
{
	for (size_t i = 0; i < l->n; i++)
		snap_fini(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

const struct snap *snaplist_find(const struct snaplist *l, const char *name, size_t *count)
{
	const struct snap *first = NULL;
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].name, name) == 0) {
			if (first == NULL)
				first = &l->v[i];
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return first;
}

static bool match_pairs(size_t n_got, const char *(*key_at)(const void *, size_t),
                        const char *(*val_at)(const void *, size_t), const void *got, const struct ucd_label *want,
                        size_t n, char *diff, size_t cap)
{
	diff[0] = '\0';
	size_t used = 0;
	bool ok = true;
#define ADD(...) \
	do { \
		if (used < cap) \
			used += (size_t)snprintf(diff + used, cap - used, __VA_ARGS__); \
	} while (0)
	for (size_t i = 0; i < n; i++) {
		const char *v = NULL;
		for (size_t j = 0; j < n_got && v == NULL; j++)
			if (strcmp(key_at(got, j), want[i].key) == 0)
				v = val_at(got, j);
		if (v == NULL) {
			ADD("%slabel `%s` missing", ok ? "" : "; ", want[i].key);
			ok = false;
		} else if (strcmp(v, want[i].value) != 0) {
			ADD("%slabel `%s` is `%s`, want `%s`", ok ? "" : "; ", want[i].key, v, want[i].value);
			ok = false;
		}
	}
	for (size_t j = 0; j < n_got; j++) {
		bool expected = false;
		for (size_t i = 0; i < n && !expected; i++)
			expected = strcmp(key_at(got, j), want[i].key) == 0;
		if (!expected) {
			ADD("%sunexpected label `%s`=`%s`", ok ? "" : "; ", key_at(got, j), val_at(got, j));
			ok = false;
		}
	}
#undef ADD
	return ok;
}

static const char *labels_key(const void *l, size_t i) { return ((const struct ucd_labels *)l)->v[i].key; }
static const char *labels_val(const void *l, size_t i) { return ((const struct ucd_labels *)l)->v[i].value; }
static const char *snap_key(const void *s, size_t i) { return ((const struct snap *)s)->keys[i]; }
static const char *snap_val(const void *s, size_t i) { return ((const struct snap *)s)->vals[i]; }

bool labels_match(const struct ucd_labels *got, const struct ucd_label *want, size_t n, char *diff, size_t cap)
{
	return match_pairs(got->v ? got->n : 0, labels_key, labels_val, got, want, n, diff, cap);
}

bool snap_labels_match(const struct snap *got, const struct ucd_label *want, size_t n, char *diff, size_t cap)
{
	return match_pairs(got->n_labels, snap_key, snap_val, got, want, n, diff, cap);
}
