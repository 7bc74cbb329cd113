/* Snapshotter plugins seen from the loop: lookup, the per-snapshotter queue
 * of backend removals, and the holds of snapshots in flight (snapshots.h). */
#include "services/snapshots.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "metadata/db.h"
#include "registry/registry.h"
#include "services/services.h"
#include "util/error.h"
#include "util/list.h"
#include "util/log.h"
#include "util/mem.h"

int snap_backend_find(struct svc_ctx *ctx, const char *name, struct snap_backend *out, struct ucd_error **err)
{
	if (name == NULL || name[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "snapshotter argument missing: invalid argument");
	const struct registry_plugin *p = registry_get(ctx->registry, UCD_SNAPSHOTTER_TYPE, name);
	const struct ucd_snapshotter_ops *ops = p ? registry_plugin_ops(p) : NULL;
	if (p == NULL || registry_plugin_status(p) != REGISTRY_OK || ops == NULL ||
	    ops->size < offsetof(struct ucd_snapshotter_ops, cleanup) || ops->remove == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "snapshotter not loaded: %s: invalid argument", name);
	out->name = registry_plugin_id(p);
	out->self = registry_plugin_self(p);
	out->ops = ops;
	out->host = registry_host(ctx->registry);
	return 0;
}

/* --- backend keys ---------------------------------------------------------------- */

/* Sequence numbers are reserved this many at a time: one metadata write
 * per 64 new snapshots instead of one per snapshot. A restart skips what
 * was left of a block. */
#define SEQ_BLOCK 64

struct seq_block {
	struct list link;
	char *snapshotter;
	int64_t next, end;   /* next to hand out; end is one past the block */
};

static struct list seq_blocks = LIST_INIT(seq_blocks);

int snap_new_backend_key(struct svc_ctx *ctx, const char *sn, const char *ns, const char *key, char **out,
			 struct ucd_error **err)
{
	struct seq_block *b = NULL;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &seq_blocks) {
		struct seq_block *x = list_entry(pos, struct seq_block, link);
		if (strcmp(x->snapshotter, sn) == 0)
			b = x;
	}
	if (b == NULL) {
		b = xcalloc(1, sizeof *b);
		b->snapshotter = xstrdup(sn);
		list_add_tail(&seq_blocks, &b->link);
	}
	if (b->next == b->end) {
		int64_t first = 0;
		if (md_tx_depth(ctx->db) != 0)   /* a rollback would hand the block out twice */
			return error_set(err, UCD_INTERNAL, 0, "snapshot sequence reserved inside a transaction");
		int r = md_snapshot_reserve_sequence(ctx->db, sn, SEQ_BLOCK, &first, err);
		if (r < 0)
			return r;
		b->next = first;
		b->end = first + SEQ_BLOCK;
	}
	*out = md_snapshot_backend_key(ns, b->next++, key);
	return 0;
}

/* --- removals, one at a time per snapshotter ----------------------------------- */

struct removal_queue;

struct removal {
	uv_work_t work;
	struct list link;
	struct removal_queue *queue;
	struct snap_backend be;
	char *backend_key;
	struct ucd_error *err;
	snap_removed_fn done;
	void *arg;
};

struct removal_queue {
	struct list link;
	char *snapshotter;
	struct list pending;   /* of struct removal; the head is running when busy */
	bool busy;
	uv_loop_t *loop;
};

static struct list queues = LIST_INIT(queues);

static struct removal_queue *queue_of(uv_loop_t *loop, const char *sn)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &queues) {
		struct removal_queue *q = list_entry(pos, struct removal_queue, link);
		if (q->loop == loop && strcmp(q->snapshotter, sn) == 0)   /* a test may run loops one after another */
			return q;
	}
	struct removal_queue *q = xcalloc(1, sizeof *q);
	q->snapshotter = xstrdup(sn);
	q->loop = loop;
	list_init(&q->pending);
	list_add_tail(&queues, &q->link);
	return q;
}

/* Worker thread. */
static void removal_work(uv_work_t *w)
{
	struct removal *rm = w->data;
	int r = rm->be.ops->remove(rm->be.self, rm->backend_key, &rm->err);
	if (r >= 0 || (rm->err != NULL && rm->err->code == UCD_NOT_FOUND)) {
		error_free(rm->err);   /* already gone is what we wanted */
		rm->err = NULL;
	} else if (rm->err == NULL) {
		error_set(&rm->err, UCD_UNKNOWN, 0, "remove failed without an error (%d)", r);
	}
}

static void removal_next(struct removal_queue *q);

static void removal_done(uv_work_t *w, int status)
{
	(void)status;   /* never cancelled: uv_cancel is not used */
	struct removal *rm = w->data;
	struct removal_queue *q = rm->queue;
	list_del(&rm->link);
	q->busy = false;
	if (rm->err != NULL)
		log_warn("snapshotter %s: remove `%s`: %s (the garbage collector will retry)", rm->be.name,
			 rm->backend_key, rm->err->msg);
	else
		log_debug("snapshotter %s: removed `%s`", rm->be.name, rm->backend_key);
	if (rm->done != NULL)
		rm->done(rm->arg, rm->err);
	error_free(rm->err);
	free(rm->backend_key);
	free(rm);
	removal_next(q);
}

static void start_next(void *q)
{
	removal_next(q);
}

static void removal_next(struct removal_queue *q)
{
	if (q->busy || list_empty(&q->pending))
		return;
	struct removal *rm = list_entry(q->pending.next, struct removal, link);
	q->busy = true;
	uv_queue_work(q->loop, &rm->work, removal_work, removal_done);
}

void snap_backend_remove(struct svc_ctx *ctx, const struct snap_backend *be, const char *backend_key,
			 snap_removed_fn done, void *arg)
{
	struct removal *rm = xcalloc(1, sizeof *rm);
	rm->work.data = rm;
	rm->be = *be;
	rm->backend_key = xstrdup(backend_key);
	rm->done = done;
	rm->arg = arg;
	struct removal_queue *q = queue_of(ctx->loop, be->name);
	rm->queue = q;
	list_add_tail(&q->pending, &rm->link);
	/* the caller has answered its client: the worker starts once that
	 * answer is written (defer.c says why) */
	svc_defer(ctx, start_next, q);
}

/* --- holds ------------------------------------------------------------------------- */

struct snap_hold {
	struct list link;
	enum snap_hold_kind kind;
	char *sn, *ns, *key;
};

/* Few entries at a time (the requests in flight): a list is enough. */
static struct list holds = LIST_INIT(holds);

struct snap_hold *snap_hold_add(enum snap_hold_kind kind, const char *sn, const char *ns, const char *key)
{
	struct snap_hold *h = xcalloc(1, sizeof *h);
	h->kind = kind;
	h->sn = xstrdup(sn);
	h->ns = xstrdup(ns);
	h->key = xstrdup(key);
	list_add_tail(&holds, &h->link);
	return h;
}

void snap_hold_release(struct snap_hold *h)
{
	if (h == NULL)
		return;
	list_del(&h->link);
	free(h->sn);
	free(h->ns);
	free(h->key);
	free(h);
}

bool snap_held(enum snap_hold_kind kind, const char *sn, const char *ns, const char *key)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &holds) {
		struct snap_hold *h = list_entry(pos, struct snap_hold, link);
		if (h->kind == kind && strcmp(h->key, key) == 0 && strcmp(h->ns, ns) == 0 && strcmp(h->sn, sn) == 0)
			return true;
	}
	return false;
}
