#include "util/pbfield.h"

#include <string.h>

#include "util/mem.h"

/* protobuf-c has no map type: a map is a repeated message named *Entry with
 * string fields key = 1 and value = 2. */
static bool is_string_map(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t len = strlen(d->name);
	return d->n_fields == 2 && len > 5 && strcmp(d->name + len - 5, "Entry") == 0 &&
	       d->fields[0].id == 1 && d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
	       d->fields[1].id == 2 && d->fields[1].type == PROTOBUF_C_TYPE_STRING;
}

/* The entry's key and value are its first two members after the base. */
struct string_entry {
	ProtobufCMessage base;
	char *key, *value;
};

static bool map_lookup(const void *member, size_t count, const char *const *path, size_t n, const char **value)
{
	if (n == 0)
		return false;
	/* join the rest of the path: labels.a.b looks up key "a.b" */
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(path[i]) + 1;
	autofree char *key = xmalloc(len);
	key[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(key, ".");
		strcat(key, path[i]);
	}
	struct string_entry *const *entries = *(struct string_entry *const *const *)member;
	/* a Go map built from the wire keeps the last entry of a key */
	for (size_t i = count; i-- > 0;) {
		if (entries[i]->key != NULL && strcmp(entries[i]->key, key) == 0) {
			*value = entries[i]->value ? entries[i]->value : "";
			return true;
		}
	}
	return false;
}

bool pbfield_get(const ProtobufCMessage *m, const char *const *path, size_t n, const char **value)
{
	if (m == NULL || n == 0)
		return false;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f = NULL;
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (strcmp(d->fields[i].name, path[0]) == 0) {
			f = &d->fields[i];
			break;
		}
	}
	if (f == NULL)
		return false;
	const char *member = (const char *)m + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t count = *(const size_t *)((const char *)m + f->quantifier_offset);
		return is_string_map(f) && map_lookup(member, count, path + 1, n - 1, value);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)member;
		if (n != 1 || s == NULL || s[0] == 0)
			return false;
		*value = s;
		return true;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (n != 1)
			return false;
		*value = *(const protobuf_c_boolean *)member ? "true" : "false";
		return true;
	case PROTOBUF_C_TYPE_MESSAGE:
		return pbfield_get(*(const ProtobufCMessage *const *)member, path + 1, n - 1, value);
	default:
		return false;
	}
}
