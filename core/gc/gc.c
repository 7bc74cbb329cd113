/* Scheduling, the mutation gate and the backend half of a collection.
 * See gc.h; the marking rules are in core/metadata/gc.c. */
#include "gc/gc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontainerd/content.h>
#include <ucontainerd/snapshotter.h>

#include "metadata/db.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/list.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strset.h"

#define DEBOUNCE_MS 100

struct waiter {
	struct list node;
	void (*go)(void *arg);            /* a mutation waiting for the sweep */
	gc_done_fn done;                   /* or a caller waiting for a collection */
	void *arg;
};

struct snapshotter_ref {
	const char *id;
	void *self;
	const struct ucd_snapshotter_ops *ops;
};

/* One collection's backend half, run on the pool. */
struct sweep {
	struct gc *gc;
	uv_work_t work;
	const struct ucd_host *host;
	void *content_self;
	const struct ucd_content_ops *content;
	struct snapshotter_ref *snaps;
	size_t n_snaps;
	struct strset digests, ingest_refs, snapshots;
	struct gc_stats stats;
	int64_t started;
};

struct gc {
	uv_loop_t *loop;
	struct md_db *db;
	struct registry *reg;
	uv_timer_t debounce;
	bool shut;
	bool running;          /* a collection started: new mutations wait */
	bool again;            /* asked for while running: one more afterwards */
	int mutations;         /* in flight */
	struct list blocked;   /* struct waiter with go: mutations waiting */
	struct list want;      /* struct waiter with done: for the next collection */
	struct list current;   /* struct waiter with done: for the running one */
	struct gc_stats last;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void maybe_start(struct gc *gc);

static void debounce_fire(uv_timer_t *t)
{
	struct gc *gc = t->data;
	gc->again = true;
	maybe_start(gc);
}

struct gc *gc_new(uv_loop_t *loop, struct md_db *db, struct registry *reg)
{
	struct gc *gc = xcalloc(1, sizeof *gc);
	gc->loop = loop;
	gc->db = db;
	gc->reg = reg;
	list_init(&gc->blocked);
	list_init(&gc->want);
	list_init(&gc->current);
	uv_timer_init(loop, &gc->debounce);
	gc->debounce.data = gc;
	return gc;
}

void gc_shutdown(struct gc *gc)
{
	if (gc == NULL || gc->shut)
		return;
	gc->shut = true;
	uv_close((uv_handle_t *)&gc->debounce, NULL);
}

static void free_waiters(struct list *l)
{
	while (!list_empty(l)) {
		struct waiter *w = list_first_entry(l, struct waiter, node);
		list_del(&w->node);
		free(w);
	}
}

void gc_free(struct gc *gc)
{
	if (gc == NULL)
		return;
	free_waiters(&gc->blocked);
	free_waiters(&gc->want);
	free_waiters(&gc->current);
	free(gc);
}

void gc_schedule(struct gc *gc)
{
	if (gc == NULL || gc->shut)
		return;
	/* The first request arms the timer and later ones join it: a steady
	 * stream of deletes still gets a collection every DEBOUNCE_MS instead
	 * of postponing it for as long as the stream lasts. */
	if (!uv_is_active((uv_handle_t *)&gc->debounce))
		uv_timer_start(&gc->debounce, debounce_fire, DEBOUNCE_MS, 0);
}

void gc_collect_now(struct gc *gc, gc_done_fn done, void *arg)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	w->done = done;
	w->arg = arg;
	list_add_tail(&gc->want, &w->node);
	gc->again = true;
	maybe_start(gc);
}

void gc_mutation_begin(struct gc *gc, void (*go)(void *arg), void *arg)
{
	if (gc == NULL || !gc->running) {
		if (gc != NULL)
			gc->mutations++;
		go(arg);
		return;
	}
	struct waiter *w = xcalloc(1, sizeof *w);
	w->go = go;
	w->arg = arg;
	list_add_tail(&gc->blocked, &w->node);
}

void gc_mutation_end(struct gc *gc)
{
	if (gc == NULL)
		return;
	if (gc->mutations > 0)
		gc->mutations--;
	maybe_start(gc);
}

const struct gc_stats *gc_last(const struct gc *gc)
{
	return &gc->last;
}

/* --- the backend half, on a worker ----------------------------------------- */

struct name_list {
	char **v;
	size_t n, cap;
};

static void names_push(struct name_list *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = xstrdup(s);
}

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct name_list){0};
}

struct walk_ctx {
	const struct strset *keep;
	const char *snapshotter;   /* for snapshot walks: the composite key's first half */
	struct name_list drop;
};

static int content_seen(void *arg, const struct ucd_content_info *info)
{
	struct walk_ctx *w = arg;
	if (!strset_has(w->keep, info->digest))
		names_push(&w->drop, info->digest);
	return 0;
}

static int ingest_seen(void *arg, const struct ucd_content_status *st)
{
	struct walk_ctx *w = arg;
	if (!strset_has(w->keep, st->ref))
		names_push(&w->drop, st->ref);
	return 0;
}

static int snapshot_seen(void *arg, const struct ucd_snapshot_info *info)
{
	struct walk_ctx *w = arg;
	if (!strset_has2(w->keep, w->snapshotter, info->name))
		names_push(&w->drop, info->name);
	return 0;
}

static void note_error(struct sweep *s, const char *what, const char *name, struct ucd_error *e)
{
	log_warn("garbage collection: %s `%s`: %s", what, name, e ? e->msg : "failed");
	error_free(e);
	s->stats.errors++;
}

static void sweep_content(struct sweep *s)
{
	struct ucd_error *e = NULL;
	struct walk_ctx w = {.keep = &s->digests};
	if (s->content->walk(s->content_self, content_seen, &w, &e) < 0)
		note_error(s, "walk", "content", steal(e));
	for (size_t i = 0; i < w.drop.n; i++) {
		if (s->content->remove(s->content_self, w.drop.v[i], &e) == 0)
			s->stats.blobs++;
		else if (e == NULL || e->code != UCD_NOT_FOUND)
			note_error(s, "remove blob", w.drop.v[i], steal(e));
		error_free(e);
		e = NULL;
	}
	names_free(&w.drop);

	w = (struct walk_ctx){.keep = &s->ingest_refs};
	if (s->content->walk_statuses(s->content_self, ingest_seen, &w, &e) < 0)
		note_error(s, "walk", "ingests", steal(e));
	for (size_t i = 0; i < w.drop.n; i++) {
		/* An ingest a writer holds open answers Unavailable: it is left
		 * for a later collection. */
		if (s->content->abort(s->content_self, w.drop.v[i], &e) == 0)
			s->stats.ingests++;
		else if (e == NULL || e->code != UCD_NOT_FOUND)
			note_error(s, "abort ingest", w.drop.v[i], steal(e));
		error_free(e);
		e = NULL;
	}
	names_free(&w.drop);
}

/* Unreferenced snapshots go children first: a pass removes every one that
 * has no children left, until a pass removes nothing. */
static void sweep_snapshotter(struct sweep *s, const struct snapshotter_ref *r)
{
	struct ucd_error *e = NULL;
	struct walk_ctx w = {.keep = &s->snapshots, .snapshotter = r->id};
	if (r->ops->walk(r->self, snapshot_seen, &w, &e) < 0)
		note_error(s, "walk snapshots of", r->id, steal(e));
	bool progress = true;
	while (progress) {
		progress = false;
		for (size_t i = 0; i < w.drop.n; i++) {
			if (w.drop.v[i] == NULL)
				continue;
			int rc = r->ops->remove(r->self, w.drop.v[i], &e);
			if (rc == 0 || (e != NULL && e->code == UCD_NOT_FOUND)) {
				if (rc == 0)
					s->stats.snapshots++;
				free(w.drop.v[i]);
				w.drop.v[i] = NULL;
				progress = true;
			}
			error_free(e);
			e = NULL;
		}
	}
	for (size_t i = 0; i < w.drop.n; i++)
		if (w.drop.v[i] != NULL)   /* a child some namespace still holds keeps it */
			log_debug("garbage collection: %s snapshot `%s` kept: it still has children", r->id,
				  w.drop.v[i]);
	names_free(&w.drop);
	if (UCD_SNAPSHOTTER_OPS_HAS(r->ops, cleanup) && r->ops->cleanup(r->self, &e) < 0)
		note_error(s, "cleanup of", r->id, steal(e));
}

static void sweep_work(uv_work_t *req)
{
	struct sweep *s = req->data;
	if (s->content != NULL)
		sweep_content(s);
	for (size_t i = 0; i < s->n_snaps; i++)
		sweep_snapshotter(s, &s->snaps[i]);
}

/* --- a collection, on the loop ---------------------------------------------- */

static void finish(struct gc *gc, const struct gc_stats *st, const struct ucd_error *e)
{
	gc->running = false;
	if (st != NULL)
		gc->last = *st;
	/* the collection's waiters, then the mutations it held back */
	struct list done;
	list_init(&done);
	list_splice_tail_init(&gc->current, &done);
	while (!list_empty(&done)) {
		struct waiter *w = list_first_entry(&done, struct waiter, node);
		list_del(&w->node);
		w->done(w->arg, st, e);
		free(w);
	}
	while (!list_empty(&gc->blocked) && !gc->running) {
		struct waiter *w = list_first_entry(&gc->blocked, struct waiter, node);
		list_del(&w->node);
		gc->mutations++;
		w->go(w->arg);
		free(w);
	}
	maybe_start(gc);
}

static void sweep_done(uv_work_t *req, int status)
{
	struct sweep *s = req->data;
	struct gc *gc = s->gc;
	s->stats.duration_ns = now_ns() - s->started;
	const struct gc_stats *st = &s->stats;
	log_msg(st->blobs + st->snapshots + st->ingests + st->content_rows + st->snapshot_rows > 0 ? LOG_INFO
												   : LOG_DEBUG,
		NULL, "garbage collected: %zu blobs, %zu snapshots, %zu ingests removed (%zu, %zu, %zu metadata rows) in %.3f ms",
		st->blobs, st->snapshots, st->ingests, st->content_rows, st->snapshot_rows, st->ingest_rows,
		(double)st->duration_ns / 1e6);
	strset_free(&s->digests);
	strset_free(&s->ingest_refs);
	strset_free(&s->snapshots);
	struct gc_stats copy = s->stats;
	free(s->snaps);
	free(s);
	finish(gc, &copy, NULL);
}

/* Collects the backends to sweep: the content store and every snapshotter
 * that initialized. */
static void find_backends(struct gc *gc, struct sweep *s)
{
	const struct registry_plugin *c = registry_get(gc->reg, UCD_CONTENT_TYPE, NULL);
	if (c != NULL && registry_plugin_status(c) == REGISTRY_OK && registry_plugin_ops(c) != NULL) {
		s->content_self = registry_plugin_self(c);
		s->content = registry_plugin_ops(c);
	}
	size_t n = registry_count(gc->reg);
	s->snaps = xcalloc(n ? n : 1, sizeof *s->snaps);
	for (size_t i = 0; i < n; i++) {
		const struct registry_plugin *p = registry_at(gc->reg, i);
		if (strcmp(registry_plugin_type(p), UCD_SNAPSHOTTER_TYPE) != 0 ||
		    registry_plugin_status(p) != REGISTRY_OK || registry_plugin_ops(p) == NULL)
			continue;
		s->snaps[s->n_snaps++] = (struct snapshotter_ref){registry_plugin_id(p), registry_plugin_self(p),
								  registry_plugin_ops(p)};
	}
}

static int count_blob(void *arg, const struct ucd_content_info *info)
{
	(void)info;
	(*(size_t *)arg)++;
	return 0;
}

static int count_snapshot(void *arg, const struct ucd_snapshot_info *info)
{
	(void)info;
	(*(size_t *)arg)++;
	return 0;
}

int gc_check_new_metadata(struct gc *gc, struct ucd_error **err)
{
	struct sweep s = {0};
	find_backends(gc, &s);
	size_t blobs = 0, snaps = 0;
	struct ucd_error *e = NULL;
	autofree char *which = xstrdup("");
	if (s.content != NULL && s.content->walk(s.content_self, count_blob, &blobs, &e) < 0) {
		log_warn("garbage collection: walk content: %s", e->msg);
		error_free(steal(e));
	}
	for (size_t i = 0; i < s.n_snaps; i++) {
		size_t n = 0;
		if (s.snaps[i].ops->walk(s.snaps[i].self, count_snapshot, &n, &e) < 0) {
			log_warn("garbage collection: walk snapshots of %s: %s", s.snaps[i].id, e->msg);
			error_free(steal(e));
		}
		if (n > 0) {
			char *w = xasprintf("%s%s%zu in `%s`", which, which[0] ? ", " : "", n, s.snaps[i].id);
			free(which);
			which = w;
		}
		snaps += n;
	}
	free(s.snaps);
	if (blobs == 0 && snaps == 0)
		return 0;
	return error_set(err, UCD_FAILED_PRECONDITION, 0,
			 "metadata database `%s` is new, but the content store holds %zu blobs and the snapshotters "
			 "%zu snapshots%s%s%s: the database was lost, and the first garbage collection would delete "
			 "them all; refusing to start (the new database is removed again, nothing else is changed). "
			 "Restore it from a backup, or move the plugins' directories under the root aside to start "
			 "empty (docs/metadata.md, \"A lost database\")",
			 md_path(gc->db), blobs, snaps, which[0] ? " (" : "", which, which[0] ? ")" : "");
}

static void maybe_start(struct gc *gc)
{
	if (gc->running || !gc->again || gc->mutations > 0 || gc->shut)
		return;
	gc->again = false;
	gc->running = true;
	list_splice_tail_init(&gc->want, &gc->current);

	struct sweep *s = xcalloc(1, sizeof *s);
	s->gc = gc;
	s->started = now_ns();
	struct md_gc_stats ms = {.now = s->started};
	struct ucd_error *e = NULL;
	if (md_gc_collect(gc->db, &ms, &e) < 0 ||
	    md_gc_referenced(gc->db, &s->digests, &s->ingest_refs, &s->snapshots, &e) < 0) {
		log_error("%s%s", strncmp(e->msg, "garbage collection", 18) != 0 ? "garbage collection: " : "", e->msg);
		strset_free(&s->digests);
		strset_free(&s->ingest_refs);
		strset_free(&s->snapshots);
		free(s);
		finish(gc, NULL, e);
		error_free(e);
		return;
	}
	s->stats.content_rows = ms.content;
	s->stats.snapshot_rows = ms.snapshots;
	s->stats.ingest_rows = ms.ingests;
	find_backends(gc, s);
	s->work.data = s;
	uv_queue_work(gc->loop, &s->work, sweep_work, sweep_done);
}
