/* The in-memory index of snapshot records: a hash table by name. Every op
 * reads it instead of the database, which is only written to (db.c), so a
 * Stat or a parent chain costs no query. */
#include <string.h>

#include "snst_int.h"

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void snst_index_init(struct snst_index *ix)
{
	memset(ix, 0, sizeof *ix);
}

void snst_index_fini(const struct ucd_host *h, struct snst_index *ix)
{
	for (size_t i = 0; i < ix->n_buckets; i++) {
		struct snst_rec *r = ix->buckets[i];
		while (r != NULL) {
			struct snst_rec *next = r->hnext;
			snst_rec_free(h, r);
			r = next;
		}
	}
	h->free(ix->buckets);
	memset(ix, 0, sizeof *ix);
}

struct snst_rec *snst_index_find(const struct snst_index *ix, const char *name)
{
	if (ix->n_buckets == 0)
		return NULL;
	struct snst_rec *r = ix->buckets[hash_name(name) & (ix->n_buckets - 1)];
	while (r != NULL && strcmp(r->name, name) != 0)
		r = r->hnext;
	return r;
}

static void grow(const struct ucd_host *h, struct snst_index *ix)
{
	size_t nb = ix->n_buckets ? ix->n_buckets * 2 : 64;
	struct snst_rec **b = h->alloc(nb * sizeof *b);
	memset(b, 0, nb * sizeof *b);
	for (size_t i = 0; i < ix->n_buckets; i++) {
		struct snst_rec *r = ix->buckets[i];
		while (r != NULL) {
			struct snst_rec *next = r->hnext;
			size_t j = hash_name(r->name) & (nb - 1);
			r->hnext = b[j];
			b[j] = r;
			r = next;
		}
	}
	h->free(ix->buckets);
	ix->buckets = b;
	ix->n_buckets = nb;
}

void snst_index_add(const struct ucd_host *h, struct snst_index *ix, struct snst_rec *r)
{
	if (ix->n + 1 > ix->n_buckets)
		grow(h, ix);
	size_t j = hash_name(r->name) & (ix->n_buckets - 1);
	r->hnext = ix->buckets[j];
	ix->buckets[j] = r;
	ix->n++;
}

void snst_index_del(struct snst_index *ix, struct snst_rec *r)
{
	struct snst_rec **p = &ix->buckets[hash_name(r->name) & (ix->n_buckets - 1)];
	while (*p != NULL && *p != r)
		p = &(*p)->hnext;
	if (*p == r) {
		*p = r->hnext;
		r->hnext = NULL;
		ix->n--;
	}
}

void snst_index_each(const struct snst_index *ix, void (*fn)(void *arg, struct snst_rec *r), void *arg)
{
	for (size_t i = 0; i < ix->n_buckets; i++)
		for (struct snst_rec *r = ix->buckets[i]; r != NULL; r = r->hnext)
			fn(arg, r);
}

struct snst_rec *snst_rec_new(const struct ucd_host *h, const char *name)
{
	struct snst_rec *r = h->alloc(sizeof *r);
	memset(r, 0, sizeof *r);
	r->name = snst_strdup(h, name);
	return r;
}

static void free_labels(const struct ucd_host *h, struct snst_rec *r)
{
	for (size_t i = 0; i < r->n_labels; i++) {
		h->free(r->labels[i].key);
		h->free(r->labels[i].value);
	}
	h->free(r->labels);
	r->labels = NULL;
	r->n_labels = 0;
}

void snst_rec_free(const struct ucd_host *h, struct snst_rec *r)
{
	if (r == NULL)
		return;
	free_labels(h, r);
	h->free(r->name);
	h->free(r);
}

void snst_rec_set_labels(const struct ucd_host *h, struct snst_rec *r, const struct ucd_label *in, size_t n)
{
	struct ucd_label *v = h->alloc((n ? n : 1) * sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i].key == NULL || in[i].value == NULL)
			continue;
		/* a key given twice: the last one wins, as in a Go map */
		size_t j = 0;
		while (j < k && strcmp(v[j].key, in[i].key) != 0)
			j++;
		if (j < k) {
			h->free(v[j].value);
			v[j].value = snst_strdup(h, in[i].value);
			continue;
		}
		v[k].key = snst_strdup(h, in[i].key);
		v[k].value = snst_strdup(h, in[i].value);
		k++;
	}
	free_labels(h, r);
	r->labels = v;
	r->n_labels = k;
}
