/* commit, remove and cleanup. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "sweep.h"

int snst_op_commit(void *self, const char *name, const char *key, const struct ucd_label *labels,
		   size_t n_labels, struct ucd_error **err)
{
	struct snst *s = self;
	const struct ucd_host *h = s->host;
	int r;
	if ((r = snst_check_key(s, name, "committed snapshot name", err)) < 0 ||
	    (r = snst_check_key(s, key, "snapshot key", err)) < 0)
		return h->error_wrap(err, "failed to commit snapshot");

	/* 1. locked: check, mark `key` busy, reserve `name` */
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec, *nm;
	for (;;) {
		rec = snst_index_find(&s->index, key);
		nm = snst_index_find(&s->index, name);
		if ((rec != NULL && rec->busy) || (nm != NULL && nm->busy)) {
			pthread_cond_wait(&s->settled, &s->mu);
			continue;
		}
		break;
	}
	if (rec == NULL) {
		pthread_mutex_unlock(&s->mu);
		return snst_not_found(s, err, key);
	}
	if (nm != NULL) {
		pthread_mutex_unlock(&s->mu);
		return h->error_new(err, UCD_ALREADY_EXISTS, 0,
				    "failed to commit snapshot: committed snapshot `%s`: already exists", name);
	}
	if (rec->kind != UCD_SNAPSHOT_ACTIVE) {
		pthread_mutex_unlock(&s->mu);
		return h->error_new(err, UCD_FAILED_PRECONDITION, 0,
				    "failed to commit snapshot: snapshot `%s` is not active: failed precondition", key);
	}
	rec->busy = true;
	struct snst_rec *placeholder = snst_rec_new(h, name);
	placeholder->busy = true;
	snst_index_add(h, &s->index, placeholder);
	uint64_t id = rec->id;
	pthread_mutex_unlock(&s->mu);

	/* 2. unlocked: measure what the snapshot holds, once for all */
	const char *sub = s->drv->usage_subdir;
	char *path = snst_printf(h, "%s/%llu%s%s", s->snapshots, (unsigned long long)id, sub[0] ? "/" : "", sub);
	struct snst_rec *next = snst_rec_new(h, name);
	next->id = id;
	next->kind = UCD_SNAPSHOT_COMMITTED;
	next->created = next->updated = snst_now();
	snst_rec_set_labels(h, next, labels, n_labels);
	r = snst_disk_usage(h, path, &next->size, &next->inodes, err);
	h->free(path);

	/* 3. locked: store, then turn the record into the committed one */
	pthread_mutex_lock(&s->mu);
	if (r == 0)
		r = snst_db_commit(s, next, err);
	snst_index_del(&s->index, placeholder);
	if (r == 0) {
		snst_index_del(&s->index, rec);
		char *tn = rec->name;
		rec->name = next->name;
		next->name = tn;
		struct ucd_label *tl = rec->labels;
		size_t tnl = rec->n_labels;
		rec->labels = next->labels;
		rec->n_labels = next->n_labels;
		next->labels = tl;
		next->n_labels = tnl;
		rec->kind = UCD_SNAPSHOT_COMMITTED;
		rec->created = next->created;
		rec->updated = next->updated;
		rec->size = next->size;
		rec->inodes = next->inodes;
		snst_index_add(h, &s->index, rec);
	}
	snst_settle(s, rec);
	pthread_mutex_unlock(&s->mu);
	snst_rec_free(h, placeholder);
	snst_rec_free(h, next);
	if (r < 0)
		return h->error_wrap(err, "failed to commit snapshot `%s` as `%s`", key, name);
	return 0;
}

int snst_op_remove(void *self, const char *key, struct ucd_error **err)
{
	struct snst *s = self;
	const struct ucd_host *h = s->host;
	int r = snst_check_key(s, key, "snapshot key", err);
	if (r < 0)
		return h->error_wrap(err, "failed to remove");
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec = snst_find_settled(s, key);
	if (rec == NULL) {
		pthread_mutex_unlock(&s->mu);
		return h->error_new(err, UCD_NOT_FOUND, 0, "failed to remove: snapshot `%s`: not found", key);
	}
	if (rec->children > 0) {
		pthread_mutex_unlock(&s->mu);
		return h->error_new(err, UCD_FAILED_PRECONDITION, 0,
				    "failed to remove: cannot remove snapshot `%s` with child: failed precondition", key);
	}
	if ((r = snst_db_delete(s, rec->id, err)) < 0) {
		pthread_mutex_unlock(&s->mu);
		return h->error_wrap(err, "failed to remove `%s`", key);
	}
	snst_index_del(&s->index, rec);
	if (rec->parent != NULL)
		rec->parent->children--;
	uint64_t id = rec->id;
	pthread_mutex_unlock(&s->mu);
	snst_rec_free(h, rec);

	/* The record is gone: the key is free again. The directory follows
	 * into the trash; if that fails, cleanup (or the next start) finds it
	 * as a leftover. */
	char name[32];
	snprintf(name, sizeof name, "%llu", (unsigned long long)id);
	r = snst_trash_move(&s->trash, s->snapshots_fd, name);
	if (r < 0)
		h->log(s->ic, UCD_LOG_WARN, "cannot move `snapshots/%s` to the trash: %s", name, strerror(-r));
	if (s->drv->removed != NULL)
		s->drv->removed(s, id);
	return 0;
}

int snst_op_cleanup(void *self, struct ucd_error **err)
{
	(void)err;
	struct snst *s = self;
	pthread_mutex_lock(&s->mu);
	snst_sweep(s);
	pthread_mutex_unlock(&s->mu);
	snst_trash_flush(&s->trash);
	return 0;
}
