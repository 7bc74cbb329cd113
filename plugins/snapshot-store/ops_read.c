/* The ops that look at snapshots: stat, usage, mounts, walk, and update
 * (which only changes labels). */
#include <string.h>

#include "ops.h"

int snst_op_stat(void *self, const char *key, struct ucd_snapshot_info *out, struct ucd_error **err)
{
	struct snst *s = self;
	int r = snst_check_key(s, key, "snapshot key", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec = snst_find_settled(s, key);
	if (rec != NULL)
		snst_info_of(s, rec, out);
	pthread_mutex_unlock(&s->mu);
	return rec != NULL ? 0 : snst_not_found(s, err, key);
}

/* The label `key` of a borrowed array, NULL when absent. */
static const char *label_get(const struct ucd_labels *l, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].key != NULL && strcmp(l->v[i].key, key) == 0)
			v = l->v[i].value;
	return v;
}

/* Sets k to val in a scratch array of borrowed strings; val NULL removes k. */
static void scratch_set(struct ucd_label *v, size_t *n, const char *k, const char *val)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].key, k) == 0) {
			if (val != NULL) {
				v[i].value = (char *)val;
			} else {
				v[i] = v[*n - 1];
				(*n)--;
			}
			return;
		}
	if (val == NULL)
		return;
	v[*n].key = (char *)k;
	v[*n].value = (char *)val;
	(*n)++;
}

int snst_op_update(void *self, const struct ucd_snapshot_info *info, const char *const *fieldpaths,
		   size_t n_fieldpaths, struct ucd_snapshot_info *out, struct ucd_error **err)
{
	struct snst *s = self;
	const struct ucd_host *h = s->host;
	int r = snst_check_key(s, info->name, "snapshot name", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec = snst_find_settled(s, info->name);
	if (rec == NULL) {
		pthread_mutex_unlock(&s->mu);
		return snst_not_found(s, err, info->name);
	}
	/* The new label set, as borrowed strings: the old labels, then the
	 * requested changes. */
	size_t cap = rec->n_labels + info->labels.n + n_fieldpaths + 1, n = 0;
	struct ucd_label *v = h->alloc(cap * sizeof *v);
	if (n_fieldpaths == 0) {
		for (size_t i = 0; i < info->labels.n; i++)
			scratch_set(v, &n, info->labels.v[i].key, info->labels.v[i].value);
	} else {
		for (size_t i = 0; i < rec->n_labels; i++)
			scratch_set(v, &n, rec->labels[i].key, rec->labels[i].value);
		for (size_t f = 0; f < n_fieldpaths; f++) {
			const char *path = fieldpaths[f] ? fieldpaths[f] : "";
			if (strncmp(path, "labels.", 7) == 0) {
				scratch_set(v, &n, path + 7, label_get(&info->labels, path + 7));
			} else if (strcmp(path, "labels") == 0) {
				n = 0;
				for (size_t i = 0; i < info->labels.n; i++)
					scratch_set(v, &n, info->labels.v[i].key, info->labels.v[i].value);
			} else {
				pthread_mutex_unlock(&s->mu);
				h->free(v);
				return h->error_new(err, UCD_INVALID_ARGUMENT, 0,
						    "cannot update `%s` field on snapshot `%s`: invalid argument", path,
						    info->name);
			}
		}
	}
	/* Written to the database first; the record changes only when that
	 * worked. */
	struct snst_rec *next = snst_rec_new(h, rec->name);
	next->id = rec->id;
	next->updated = snst_now();
	snst_rec_set_labels(h, next, v, n);
	h->free(v);
	r = snst_db_update_labels(s, next, err);
	if (r == 0) {
		struct ucd_label *tl = rec->labels;
		size_t tn = rec->n_labels;
		rec->labels = next->labels;
		rec->n_labels = next->n_labels;
		next->labels = tl;
		next->n_labels = tn;
		rec->updated = next->updated;
		snst_info_of(s, rec, out);
	}
	pthread_mutex_unlock(&s->mu);
	snst_rec_free(h, next);
	return r;
}

int snst_op_usage(void *self, const char *key, struct ucd_snapshot_usage *out, struct ucd_error **err)
{
	struct snst *s = self;
	int r = snst_check_key(s, key, "snapshot key", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec = snst_find_settled(s, key);
	if (rec == NULL) {
		pthread_mutex_unlock(&s->mu);
		return snst_not_found(s, err, key);
	}
	if (rec->kind != UCD_SNAPSHOT_ACTIVE) {
		/* committed: measured at commit; a view adds nothing */
		out->size = rec->size;
		out->inodes = rec->inodes;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	const char *sub = s->drv->usage_subdir;
	char *path = snst_printf(s->host, "%s/%llu%s%s", s->snapshots, (unsigned long long)rec->id,
				 sub[0] ? "/" : "", sub);
	pthread_mutex_unlock(&s->mu);
	/* The walk runs unlocked: an active snapshot's files change anyway. */
	int64_t size = 0, inodes = 0;
	r = snst_disk_usage(s->host, path, &size, &inodes, err);
	s->host->free(path);
	if (r < 0)
		return s->host->error_wrap(err, "usage of snapshot `%s`", key);
	out->size = size;
	out->inodes = inodes;
	return 0;
}

int snst_op_mounts(void *self, const char *key, struct ucd_mounts *out, struct ucd_error **err)
{
	struct snst *s = self;
	int r = snst_check_key(s, key, "snapshot key", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	struct snst_rec *rec = snst_find_settled(s, key);
	if (rec == NULL) {
		pthread_mutex_unlock(&s->mu);
		snst_not_found(s, err, key);
		return s->host->error_wrap(err, "failed to get active mount");
	}
	if (rec->kind != UCD_SNAPSHOT_ACTIVE && rec->kind != UCD_SNAPSHOT_VIEW) {
		pthread_mutex_unlock(&s->mu);
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0,
					  "failed to get active mount: requested snapshot `%s` not active or view: "
					  "failed precondition",
					  key);
	}
	size_t n = 0;
	uint64_t *chain = snst_chain_of(s, rec, &n);
	uint64_t id = rec->id;
	int kind = rec->kind;
	pthread_mutex_unlock(&s->mu);
	struct ucd_mounts m = {0};
	r = s->drv->mounts(s, id, kind, chain, n, &m, err);
	s->host->free(chain);
	if (r == 0)
		*out = m;
	return r;
}

struct collect {
	struct snst *s;
	struct ucd_snapshot_info *v;
	size_t n;
};

static void collect_one(void *arg, struct snst_rec *r)
{
	struct collect *c = arg;
	if (r->live)
		snst_info_of(c->s, r, &c->v[c->n++]);
}

int snst_op_walk(void *self, ucd_snapshot_walk_fn fn, void *arg, struct ucd_error **err)
{
	(void)err;
	struct snst *s = self;
	const struct ucd_host *h = s->host;
	/* Copied out under the lock, handed to fn without it: fn may take its
	 * time, or call other ops. */
	pthread_mutex_lock(&s->mu);
	struct collect c = {.s = s, .v = h->alloc((s->index.n ? s->index.n : 1) * sizeof *c.v)};
	snst_index_each(&s->index, collect_one, &c);
	pthread_mutex_unlock(&s->mu);
	int r = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (r == 0)
			r = fn(arg, &c.v[i]);
		ucd_snapshot_info_release(h->free, &c.v[i]);
	}
	h->free(c.v);
	return r;
}
