/* protobuf-c helpers: map fields, timestamps, pack/copy. */
#include <stdlib.h>
#include <string.h>

#include "metadata/md_internal.h"
#include "util/mem.h"

/* Map entries are messages whose fields[0] is the key (number 1) and
 * fields[1] the value (number 2); fields are sorted by number. */
static const ProtobufCFieldDescriptor *entry_field(const ProtobufCMessage *e, unsigned idx)
{
	return &e->descriptor->fields[idx];
}

const char *md_entry_key(const ProtobufCMessage *e)
{
	const char *k = *(char *const *)((const char *)e + entry_field(e, 0)->offset);
	return k ? k : "";
}

const char *md_entry_str(const ProtobufCMessage *e)
{
	const ProtobufCFieldDescriptor *f = entry_field(e, 1);
	if (f->type != PROTOBUF_C_TYPE_STRING)
		return "";
	const char *v = *(char *const *)((const char *)e + f->offset);
	return v ? v : "";
}

/* Sorting by key, then by position, puts each key's occurrences together
 * with the last one written at the end of its run. */
struct indexed_entry {
	ProtobufCMessage *e;
	size_t pos;
};

static int cmp_indexed(const void *a, const void *b)
{
	const struct indexed_entry *x = a, *y = b;
	int c = strcmp(md_entry_key(x->e), md_entry_key(y->e));
	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

ProtobufCMessage **md_map_normalize(ProtobufCMessage *const *entries, size_t n, bool drop_empty, size_t *n_out)
{
	autofree struct indexed_entry *tmp = xcalloc(n ? n : 1, sizeof *tmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (entries[i] != NULL)
			tmp[m++] = (struct indexed_entry){entries[i], i};
	qsort(tmp, m, sizeof *tmp, cmp_indexed);
	ProtobufCMessage **out = xcalloc(m ? m : 1, sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) {
		/* the last occurrence of a key wins, as in a Go map built from the wire */
		if (i + 1 < m && strcmp(md_entry_key(tmp[i].e), md_entry_key(tmp[i + 1].e)) == 0)
			continue;
		if (drop_empty && md_entry_str(tmp[i].e)[0] == '\0')
			continue;
		out[k++] = tmp[i].e;
	}
	*n_out = k;
	return out;
}

int md_get_decoded(struct md_db *db, const char *sql, const char *ns, const char *key, md_decode_fn decode,
		   ProtobufCMessage **out, const char *what, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, what);
	ProtobufCMessage *m = decode(key, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
				     sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), err);
	if (m == NULL)
		return -UCD_DATA_LOSS;
	*out = m;
	return 1;
}

int md_delete_keyed(struct md_db *db, const char *sql, const char *ns, const char *key, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, key);
	int r = md_step_done(db, st, err);
	return r < 0 ? r : sqlite3_changes(db->sql) > 0;
}

int md_list_decoded(struct md_db *db, const char *sql, const char *ns, md_decode_fn decode, md_match_fn match,
		    void *arg, ProtobufCMessage ***out, size_t *n, const char *what, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	ProtobufCMessage **list = NULL;
	size_t n_list = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ProtobufCMessage *m = decode(md_col_text(st, 0), sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
					     sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), err);
		if (m == NULL) {
			md_free_array(list, n_list);
			return -UCD_DATA_LOSS;
		}
		if (match == NULL || match(m, arg))
			md_array_push((void ***)&list, &n_list, &cap, m);
		else
			md_free(m);
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, what);
	}
	*out = list;
	*n = n_list;
	return 0;
}

ssize_t md_map_find(ProtobufCMessage *const *entries, size_t n, const char *key)
{
	for (size_t i = n; i-- > 0;)
		if (entries[i] != NULL && strcmp(md_entry_key(entries[i]), key) == 0)
			return (ssize_t)i;
	return -1;
}

ProtobufCMessage *md_entry_new(const ProtobufCMessageDescriptor *desc, const char *key, const char *value)
{
	ProtobufCMessage *e = xcalloc(1, desc->sizeof_message);
	protobuf_c_message_init(desc, e);
	*(char **)((char *)e + desc->fields[0].offset) = xstrdup(key);
	*(char **)((char *)e + desc->fields[1].offset) = xstrdup(value);
	return e;
}

Google__Protobuf__Timestamp *md_timestamp_new(int64_t ns)
{
	Google__Protobuf__Timestamp *t = xmalloc(sizeof *t);
	google__protobuf__timestamp__init(t);
	int64_t s = ns / 1000000000, r = ns % 1000000000;
	if (r < 0) {
		r += 1000000000;
		s--;
	}
	t->seconds = s;
	t->nanos = (int32_t)r;
	return t;
}

uint8_t *md_pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = xmalloc(*len ? *len : 1);
	protobuf_c_message_pack(m, buf);
	return buf;
}

void *md_copy(const ProtobufCMessage *m)
{
	size_t len;
	uint8_t *buf = md_pack(m, &len);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	if (c == NULL)
		oom();   /* a message we packed always unpacks, but for memory */
	return c;
}

void md_array_push(void ***arr, size_t *n, size_t *cap, void *item)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*arr = xrealloc(*arr, *cap * sizeof **arr);
	}
	(*arr)[(*n)++] = item;
}

void md_elist_init(struct md_elist *l, ProtobufCMessage *const *entries, size_t n)
{
	l->v = NULL;
	l->n = l->cap = 0;
	for (size_t i = 0; i < n; i++)
		if (entries[i] != NULL)
			md_array_push((void ***)&l->v, &l->n, &l->cap, entries[i]);
}

void md_elist_set(struct md_elist *l, const char *key, ProtobufCMessage *entry)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(md_entry_key(l->v[i]), key) != 0)
			l->v[k++] = l->v[i];
	l->n = k;
	if (entry != NULL)
		md_array_push((void ***)&l->v, &l->n, &l->cap, entry);
}

void md_elist_fini(struct md_elist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

size_t md_keep_matching(void **msgs, size_t n, md_match_fn match, void *arg)
{
	if (match == NULL)
		return n;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (match(msgs[i], arg))
			msgs[k++] = msgs[i];
		else
			md_free(msgs[i]);
	}
	return k;
}

const char *md_kv_lookup(const struct md_kv *kv, size_t n, const char *key)
{
	for (size_t i = n; i-- > 0;)
		if (kv[i].key != NULL && strcmp(kv[i].key, key) == 0)
			return kv[i].value ? kv[i].value : "";
	return "";
}
