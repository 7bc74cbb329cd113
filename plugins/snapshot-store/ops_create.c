/* prepare and view: a new ACTIVE or VIEW snapshot.
 *
 *   1. locked: check the key and the parent, reserve the key (a busy
 *      record that pins the parent) and take an id;
 *   2. unlocked: ask the driver for the mounts (it refuses chains it could
 *      never mount), make snapshots/<id> and let the driver fill it (slow
 *      for native: a copy);
 *   3. locked: write the record to the database; it is live.
 * A crash between 2 and 3 leaves a directory without a record, which the
 * next start moves to the trash. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"

/* Undoes step 1. */
static void unreserve(struct snst *s, struct snst_rec *rec)
{
	pthread_mutex_lock(&s->mu);
	snst_index_del(&s->index, rec);
	if (rec->parent != NULL)
		rec->parent->children--;
	snst_settle(s, NULL);
	pthread_mutex_unlock(&s->mu);
	snst_rec_free(s->host, rec);
}

static int reserve(struct snst *s, int kind, const char *key, const char *parent, const struct ucd_label *labels,
		   size_t n_labels, struct snst_rec **out, struct ucd_error **err)
{
	const struct ucd_host *h = s->host;
	struct snst_rec *p = NULL;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct snst_rec *k = snst_index_find(&s->index, key);
		if (k != NULL && k->busy) {
			pthread_cond_wait(&s->settled, &s->mu);
			continue;
		}
		if (k != NULL) {
			pthread_mutex_unlock(&s->mu);
			return h->error_new(err, UCD_ALREADY_EXISTS, 0, "snapshot `%s`: already exists", key);
		}
		if (parent == NULL)
			break;
		p = snst_index_find(&s->index, parent);
		if (p != NULL && p->busy) {
			pthread_cond_wait(&s->settled, &s->mu);
			continue;
		}
		if (p == NULL) {
			pthread_mutex_unlock(&s->mu);
			return h->error_new(err, UCD_NOT_FOUND, 0, "missing parent `%s` bucket: not found", parent);
		}
		if (p->kind != UCD_SNAPSHOT_COMMITTED) {
			pthread_mutex_unlock(&s->mu);
			return h->error_new(err, UCD_INVALID_ARGUMENT, 0,
					    "parent `%s` is not committed snapshot: invalid argument", parent);
		}
		break;
	}
	struct snst_rec *rec = snst_rec_new(h, key);
	rec->id = s->next_id++;
	rec->kind = kind;
	rec->parent = p;
	rec->busy = true;
	rec->created = rec->updated = snst_now();
	snst_rec_set_labels(h, rec, labels, n_labels);
	if (p != NULL)
		p->children++;
	snst_index_add(h, &s->index, rec);
	pthread_mutex_unlock(&s->mu);
	*out = rec;
	return 0;
}

static int create(struct snst *s, int kind, const char *key, const char *parent, const struct ucd_label *labels,
		  size_t n_labels, struct ucd_mounts *out, struct ucd_error **err)
{
	const struct ucd_host *h = s->host;
	int r = snst_check_key(s, key, "snapshot key", err);
	if (r < 0)
		return h->error_wrap(err, "failed to create snapshot");
	if (parent != NULL && parent[0] == '\0')
		parent = NULL;
	struct snst_rec *rec = NULL;
	if ((r = reserve(s, kind, key, parent, labels, n_labels, &rec, err)) < 0)
		return h->error_wrap(err, "failed to create snapshot");

	/* The chain cannot change now: every ancestor has a child. */
	pthread_mutex_lock(&s->mu);
	size_t n = 0;
	uint64_t *chain = snst_chain_of(s, rec, &n);
	pthread_mutex_unlock(&s->mu);
	struct ucd_mounts m = {0};
	char name[32];
	snprintf(name, sizeof name, "%llu", (unsigned long long)rec->id);
	char *path = snst_printf(h, "%s/%s", s->snapshots, name);
	bool made = false;
	if ((r = s->drv->mounts(s, rec->id, kind, chain, n, &m, err)) < 0)
		goto fail;
	/* Made under its final name: until the record is live nobody looks
	 * at it, and a crash leaves a directory without a record, which the
	 * next start sweeps. (No temporary name and rename: on a busy ext4
	 * every metadata operation saved shows in the latency.) */
	if ((r = snst_mkdir_exact(s, path, 0755)) < 0) {
		r = snst_errno(h, err, -r, "failed to create snapshot dir `%s`", path);
		goto fail;
	}
	made = true;
	if ((r = s->drv->create(s, path, rec->id, kind, chain, n, err)) < 0)
		goto fail;

	pthread_mutex_lock(&s->mu);
	r = snst_db_insert(s, rec, err);
	if (r == 0) {
		rec->live = true;
		snst_settle(s, rec);
	}
	pthread_mutex_unlock(&s->mu);
	if (r < 0)
		goto fail;
	h->free(chain);
	h->free(path);
	*out = m;
	return 0;

fail:
	ucd_mounts_release(h->free, &m);
	if (made) {
		int rr = snst_remove_tree(s->snapshots_fd, name, NULL);
		if (rr < 0)
			h->log(s->ic, UCD_LOG_WARN, "failed to clean up `snapshots/%s`: %s (cleanup retries)", name,
			       strerror(-rr));
	}
	if (s->drv->removed != NULL)
		s->drv->removed(s, rec->id);
	h->free(path);
	h->free(chain);
	unreserve(s, rec);
	return h->error_wrap(err, "failed to create snapshot `%s`", key);
}

int snst_op_prepare(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		    size_t n_labels, struct ucd_mounts *out, struct ucd_error **err)
{
	return create(self, UCD_SNAPSHOT_ACTIVE, key, parent, labels, n_labels, out, err);
}

int snst_op_view(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		 size_t n_labels, struct ucd_mounts *out, struct ucd_error **err)
{
	return create(self, UCD_SNAPSHOT_VIEW, key, parent, labels, n_labels, out, err);
}
