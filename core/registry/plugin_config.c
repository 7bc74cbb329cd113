/* Config field tables (sdk/include/ucontainerd/config.h): the core parses,
 * type-checks and stores each plugin's settings, nginx-style, so plugins
 * write no parsing code and operators get "FILE:LINE:COL" for every mistake. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "toml/toml.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/mem.h"

static const char empty_string[] = "";
static const char *const empty_array[] = {NULL};

static size_t ctype_size(uint32_t type)
{
	switch (type) {
	case UCD_CONFIG_STRING: return sizeof(const char *);
	case UCD_CONFIG_BOOL: return sizeof(bool);
	case UCD_CONFIG_INT: return sizeof(int64_t);
	case UCD_CONFIG_FLOAT: return sizeof(double);
	case UCD_CONFIG_DURATION: return sizeof(int64_t);
	case UCD_CONFIG_STRING_ARRAY: return sizeof(const char *const *);
	case UCD_CONFIG_TABLE: return 0;
	default: return SIZE_MAX;
	}
}

static const char *field_kind(uint32_t type)
{
	switch (type) {
	case UCD_CONFIG_STRING: return "a string";
	case UCD_CONFIG_BOOL: return "a boolean";
	case UCD_CONFIG_INT: return "an integer";
	case UCD_CONFIG_FLOAT: return "a float";
	case UCD_CONFIG_DURATION: return "a duration (a string like \"10s\", or an integer of nanoseconds)";
	case UCD_CONFIG_STRING_ARRAY: return "an array of strings";
	case UCD_CONFIG_TABLE: return "a table";
	default: return "of an unknown type";
	}
}

static const char *value_kind(const struct toml_value *v)
{
	switch (toml_type(v)) {
	case TOML_TABLE: return "a table";
	case TOML_ARRAY: return "an array";
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL: return "a date-time";
	case TOML_DATE_LOCAL: return "a date";
	case TOML_TIME_LOCAL: return "a time";
	}
	return "a value";
}

/* Keys are printed bare by `config default`, so they must be bare keys. */
static bool bare_key(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* ---- storing one value ---- */

/* Stores v into the member of `f` at base; on a type mismatch returns -1,
 * with *why ("must be an integer, not a string") and *at (the offending
 * value, an array element perhaps). */
static int store(const struct ucd_config_field *f, char *base, const struct toml_value *v, struct ptrvec *allocs,
                 char **why, const struct toml_value **at)
{
	enum toml_type t = toml_type(v);
	char *dst = base + f->offset;
	*at = v;
	switch (f->type) {
	case UCD_CONFIG_STRING: {
		if (t != TOML_STRING)
			break;
		char *s = xstrdup(toml_string(v, NULL));
		ptrvec_push(allocs, s);
		memcpy(dst, &s, sizeof s);
		return 0;
	}
	case UCD_CONFIG_BOOL: {
		if (t != TOML_BOOL)
			break;
		bool b = toml_bool(v);
		memcpy(dst, &b, sizeof b);
		return 0;
	}
	case UCD_CONFIG_INT: {
		if (t != TOML_INTEGER)
			break;
		int64_t i = toml_integer(v);
		memcpy(dst, &i, sizeof i);
		return 0;
	}
	case UCD_CONFIG_FLOAT: {
		double d;
		if (t == TOML_FLOAT)
			d = toml_float(v);
		else if (t == TOML_INTEGER)
			d = (double)toml_integer(v);
		else
			break;
		memcpy(dst, &d, sizeof d);
		return 0;
	}
	case UCD_CONFIG_DURATION: {
		int64_t ns;
		if (t == TOML_INTEGER) {
			ns = toml_integer(v);
		} else if (t == TOML_STRING) {
			const char *s = toml_string(v, NULL);
			if (!duration_parse(s, &ns)) {
				*why = xasprintf("`%s` is not a valid duration (examples: \"10s\", \"1m30s\", \"250ms\")", s);
				return -1;
			}
		} else {
			break;
		}
		memcpy(dst, &ns, sizeof ns);
		return 0;
	}
	case UCD_CONFIG_STRING_ARRAY: {
		if (t != TOML_ARRAY)
			break;
		size_t n = toml_array_len(v);
		for (size_t i = 0; i < n; i++) {
			const struct toml_value *e = toml_array_at(v, i);
			if (toml_type(e) != TOML_STRING) {
				*at = e;
				*why = xasprintf("must be an array of strings, but element %zu is %s", i + 1, value_kind(e));
				return -1;
			}
		}
		char **arr = xcalloc(n + 1, sizeof *arr);
		ptrvec_push(allocs, arr);
		for (size_t i = 0; i < n; i++) {
			arr[i] = xstrdup(toml_string(toml_array_at(v, i), NULL));
			ptrvec_push(allocs, arr[i]);
		}
		memcpy(dst, &arr, sizeof arr);
		return 0;
	}
	default:
		break;
	}
	*why = xasprintf("must be %s, not %s", field_kind(f->type), value_kind(v));
	return -1;
}

static void store_zero(const struct ucd_config_field *f, char *base)
{
	char *dst = base + f->offset;
	if (f->type == UCD_CONFIG_STRING) {
		const char *s = empty_string;
		memcpy(dst, &s, sizeof s);
	} else if (f->type == UCD_CONFIG_STRING_ARRAY) {
		const char *const *a = empty_array;
		memcpy(dst, &a, sizeof a);
	}
	/* everything else is zero already */
}

/* Parses `default_toml` as the value of a key and stores it; -1 with *msg. */
static int store_default(const struct ucd_config_field *f, char *base, struct ptrvec *allocs, char **msg)
{
	if (f->default_toml == NULL) {
		store_zero(f, base);
		return 0;
	}
	char *text = xasprintf("v = %s\n", f->default_toml);
	char *perr = NULL;
	struct toml_value *doc = toml_parse(text, strlen(text), "default", &perr);
	free(text);
	if (doc == NULL) {
		*msg = xasprintf("default `%s` is not a TOML value (%s)", f->default_toml, perr ? perr : "parse error");
		free(perr);
		return -1;
	}
	const struct toml_value *v = toml_get(doc, "v");
	int r = -1;
	if (v == NULL || toml_table_len(doc) != 1) {
		*msg = xasprintf("default `%s` is not a single TOML value", f->default_toml);
	} else {
		char *why = NULL;
		const struct toml_value *at;
		r = store(f, base, v, allocs, &why, &at);
		if (r < 0) {
			*msg = xasprintf("default `%s` %s", f->default_toml, why);
			free(why);
		}
	}
	toml_free(doc);
	return r;
}

/* Defaults of a whole table (recursively); -1 with *msg naming the key. */
static int apply_defaults(const struct ucd_config_field *fields, char *base, const char *prefix,
                          struct ptrvec *allocs, char **msg)
{
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++) {
		if (f->type == UCD_CONFIG_TABLE) {
			char *sub = xasprintf("%s%s.", prefix, f->name);
			int r = apply_defaults(f->sub, base + f->offset, sub, allocs, msg);
			free(sub);
			if (r < 0)
				return r;
			continue;
		}
		char *m = NULL;
		if (store_default(f, base, allocs, &m) < 0) {
			*msg = xasprintf("config field `%s%s`: %s", prefix, f->name, m);
			free(m);
			return -1;
		}
	}
	return 0;
}

static char *known_keys(const struct ucd_config_field *fields)
{
	size_t n = 0, len = 0;
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++, n++)
		len += strlen(f->name) + 2;
	if (n == 0)
		return xstrdup("this plugin has no settings");
	char *s = xmalloc(len + 16), *p = s;
	p += sprintf(p, "known keys: ");
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++)
		p += sprintf(p, "%s%s", f == fields ? "" : ", ", f->name);
	return s;
}

static int apply_table(const struct ucd_config_field *fields, char *base, const struct toml_value *table,
                       const char *file, const char *prefix, struct ptrvec *allocs, char **msg)
{
	size_t n = toml_table_len(table);
	for (size_t i = 0; i < n; i++) {
		const char *key = toml_table_key(table, i);
		const struct toml_value *v = toml_table_value(table, i);
		const struct ucd_config_field *f = fields;
		while (f->name != NULL && strcmp(f->name, key) != 0)
			f++;
		if (f->name == NULL) {
			char *known = known_keys(fields);
			*msg = xasprintf("%s:%d:%d: unknown key `%s%s` (%s)", file, toml_line(v), toml_col(v), prefix,
			                 key, known);
			free(known);
			return -1;
		}
		if (f->type == UCD_CONFIG_TABLE) {
			if (toml_type(v) != TOML_TABLE) {
				*msg = xasprintf("%s:%d:%d: `%s%s` must be a table, not %s", file, toml_line(v),
				                 toml_col(v), prefix, key, value_kind(v));
				return -1;
			}
			char *sub = xasprintf("%s%s.", prefix, key);
			int r = apply_table(f->sub, base + f->offset, v, file, sub, allocs, msg);
			free(sub);
			if (r < 0)
				return r;
			continue;
		}
		char *why = NULL;
		const struct toml_value *at = v;
		if (store(f, base, v, allocs, &why, &at) < 0) {
			*msg = xasprintf("%s:%d:%d: `%s%s` %s", file, toml_line(at), toml_col(at), prefix, key, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

int plugin_config_fill(const struct ucd_config_field *fields, void *base, const struct toml_value *table,
                       const char *file, struct ptrvec *allocs, char **msg)
{
	if (file == NULL)
		file = "config";
	if (apply_defaults(fields, base, "", allocs, msg) < 0)
		return -1;
	if (table == NULL)
		return 0;
	if (toml_type(table) != TOML_TABLE) {
		*msg = xasprintf("%s:%d:%d: the plugin's settings must be a table, not %s", file, toml_line(table),
		                 toml_col(table), value_kind(table));
		return -1;
	}
	return apply_table(fields, base, table, file, "", allocs, msg);
}

/* ---- validation of a plugin's table ---- */

static int validate(const struct ucd_config_field *fields, size_t limit, const char *prefix, const char *what,
                    struct ucd_error **err)
{
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++) {
		if (!bare_key(f->name))
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config field name `%s%s` is not a bare TOML key ([A-Za-z0-9_-]+)", what,
			                 prefix, f->name);
		for (const struct ucd_config_field *g = fields; g != f; g++)
			if (strcmp(g->name, f->name) == 0)
				return error_set(err, UCD_FAILED_PRECONDITION, 0,
				                 "%s: config field `%s%s` is declared twice", what, prefix, f->name);
		if (f->reserved[0] != 0 || f->reserved[1] != 0)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config field `%s%s` has non-zero reserved members", what, prefix, f->name);
		size_t size = ctype_size(f->type);
		if (size == SIZE_MAX)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config field `%s%s` has type %u, unknown to plugin ABI %d.%d", what, prefix,
			                 f->name, f->type, UCD_ABI_MAJOR, UCD_ABI_MINOR);
		if (f->offset > limit || size > limit - f->offset)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config field `%s%s` (offset %zu) lies outside the %zu-byte config struct",
			                 what, prefix, f->name, f->offset, limit);
		if (f->type == UCD_CONFIG_TABLE) {
			if (f->sub == NULL || f->default_toml != NULL)
				return error_set(err, UCD_FAILED_PRECONDITION, 0,
				                 "%s: config table `%s%s` needs `sub` fields and no default", what, prefix,
				                 f->name);
			char *sub = xasprintf("%s%s.", prefix, f->name);
			int r = validate(f->sub, limit - f->offset, sub, what, err);
			free(sub);
			if (r < 0)
				return r;
		} else if (f->sub != NULL) {
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config field `%s%s` is not a table but has `sub` fields", what, prefix,
			                 f->name);
		}
	}
	return 0;
}

int plugin_config_validate(const struct ucd_config_field *fields, size_t config_size, const char *what,
                           struct ucd_error **err)
{
	if (config_size == 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "%s: config fields are declared but config_size is 0", what);
	int r = validate(fields, config_size, "", what, err);
	if (r < 0)
		return r;
	/* The defaults must parse: store them into scratch space. */
	char *scratch = xcalloc(1, config_size);
	struct ptrvec allocs = {0};
	char *msg = NULL;
	r = apply_defaults(fields, scratch, "", &allocs, &msg);
	ptrvec_free_all(&allocs);
	free(scratch);
	if (r < 0) {
		r = error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: %s", what, msg);
		free(msg);
	}
	return r;
}

/* ---- `config default` ---- */

static void print_doc(FILE *out, const char *doc, int indent)
{
	if (doc == NULL || *doc == '\0')
		return;
	const char *p = doc;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r' || p[n - 1] == '\t'))
			n--;
		fprintf(out, "%*s#%s%.*s\n", indent, "", n ? " " : "", (int)n, p);
		if (nl == NULL || nl[1] == '\0')
			break;
		p = nl + 1;
	}
}

static const char *zero_text(uint32_t type)
{
	switch (type) {
	case UCD_CONFIG_STRING: return "\"\"";
	case UCD_CONFIG_BOOL: return "false";
	case UCD_CONFIG_INT: return "0";
	case UCD_CONFIG_FLOAT: return "0.0";
	case UCD_CONFIG_DURATION: return "\"0s\"";
	case UCD_CONFIG_STRING_ARRAY: return "[]";
	default: return "\"\"";
	}
}

void plugin_config_print(FILE *out, const struct ucd_config_field *fields, const char *section, int indent)
{
	if (fields == NULL)
		return;
	/* Keys first: after a [sub] header, a key would belong to the sub-table. */
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++) {
		if (f->type == UCD_CONFIG_TABLE)
			continue;
		print_doc(out, f->doc, indent);
		fprintf(out, "%*s%s = %s\n", indent, "", f->name, f->default_toml ? f->default_toml : zero_text(f->type));
	}
	for (const struct ucd_config_field *f = fields; f->name != NULL; f++) {
		if (f->type != UCD_CONFIG_TABLE)
			continue;
		char *sub = xasprintf("%s.%s", section, f->name);
		fputc('\n', out);
		print_doc(out, f->doc, indent);
		fprintf(out, "%*s[%s]\n", indent, "", sub);
		plugin_config_print(out, f->sub, sub, indent + 2);
		free(sub);
	}
}
