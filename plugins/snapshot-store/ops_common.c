/* Helpers every op uses, and the vtable both plugins hand out. */
#include <string.h>

#include "ops.h"

const struct ucd_snapshotter_ops snst_ops = {
	.size = sizeof(struct ucd_snapshotter_ops),
	.stat = snst_op_stat,
	.update = snst_op_update,
	.usage = snst_op_usage,
	.mounts = snst_op_mounts,
	.prepare = snst_op_prepare,
	.view = snst_op_view,
	.commit = snst_op_commit,
	.remove = snst_op_remove,
	.walk = snst_op_walk,
	.cleanup = snst_op_cleanup,
};

struct snst_rec *snst_find_settled(struct snst *s, const char *name)
{
	for (;;) {
		struct snst_rec *r = snst_index_find(&s->index, name);
		if (r == NULL || !r->busy)
			return r;
		pthread_cond_wait(&s->settled, &s->mu);
	}
}

void snst_settle(struct snst *s, struct snst_rec *r)
{
	if (r != NULL)
		r->busy = false;
	pthread_cond_broadcast(&s->settled);
}

void snst_info_of(struct snst *s, const struct snst_rec *r, struct ucd_snapshot_info *out)
{
	const struct ucd_host *h = s->host;
	memset(out, 0, sizeof *out);
	out->name = snst_strdup(h, r->name);
	out->parent = r->parent ? snst_strdup(h, r->parent->name) : NULL;
	out->kind = r->kind;
	out->created_at = r->created;
	out->updated_at = r->updated;
	if (r->n_labels) {
		out->labels.v = h->alloc(r->n_labels * sizeof *out->labels.v);
		for (size_t i = 0; i < r->n_labels; i++) {
			out->labels.v[i].key = snst_strdup(h, r->labels[i].key);
			out->labels.v[i].value = snst_strdup(h, r->labels[i].value);
		}
		out->labels.n = r->n_labels;
	}
	if (s->drv->decorate != NULL)
		s->drv->decorate(s, r->id, out);
}

uint64_t *snst_chain_of(struct snst *s, const struct snst_rec *r, size_t *n)
{
	size_t depth = 0;
	for (const struct snst_rec *p = r->parent; p != NULL; p = p->parent)
		depth++;
	uint64_t *v = s->host->alloc((depth ? depth : 1) * sizeof *v);
	size_t i = 0;
	for (const struct snst_rec *p = r->parent; p != NULL; p = p->parent)
		v[i++] = p->id;
	*n = depth;
	return v;
}

int snst_check_key(struct snst *s, const char *key, const char *what, struct ucd_error **err)
{
	if (key == NULL || key[0] == '\0')
		return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0, "%s must not be empty: invalid argument", what);
	return 0;
}

int snst_not_found(struct snst *s, struct ucd_error **err, const char *key)
{
	return s->host->error_new(err, UCD_NOT_FOUND, 0, "snapshot `%s` does not exist: not found", key);
}
