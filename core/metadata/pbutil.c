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

static int cmp_entry(const void *a, const void *b)
{
	const ProtobufCMessage *const *x = a, *const *y = b;
	return strcmp(md_entry_key(*x), md_entry_key(*y));
}

ProtobufCMessage **md_map_normalize(ProtobufCMessage *const *entries, size_t n, bool drop_empty, size_t *n_out)
{
	ProtobufCMessage **out = xcalloc(n ? n : 1, sizeof *out);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		if (e == NULL)
			continue;
		/* the last occurrence of a key wins */
		bool later = false;
		for (size_t j = i + 1; j < n && !later; j++)
			later = entries[j] != NULL && strcmp(md_entry_key(entries[j]), md_entry_key(e)) == 0;
		if (later)
			continue;
		if (drop_empty && md_entry_str(e)[0] == '\0')
			continue;
		out[k++] = (ProtobufCMessage *)e;
	}
	qsort(out, k, sizeof *out, cmp_entry);
	*n_out = k;
	return out;
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
