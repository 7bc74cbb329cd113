/* The TOML parser (core/toml) on any bytes, and the TOML writer of
 * `ucontainerd config dump` (core/config/config_write.c) on what it parsed:
 * a document written back must parse again to the same tree. */
#include <math.h>
#include <string.h>

#include "config/config_write.h"
#include "fuzz.h"
#include "toml/toml.h"
#include "util/mem.h"

/* Keys and strings holding U+0000 are cut short by the writer's C strings
 * (config files never need them): such documents skip the round trip. */
static bool has_nul(const struct toml_value *v)
{
	size_t len;
	switch (toml_type(v)) {
	case TOML_STRING: {
		const char *s = toml_string(v, &len);
		return strlen(s) != len;
	}
	case TOML_ARRAY:
		for (size_t i = 0; i < toml_array_len(v); i++)
			if (has_nul(toml_array_at(v, i)))
				return true;
		return false;
	case TOML_TABLE:
		for (size_t i = 0; i < toml_table_len(v); i++) {
			const char *k = toml_table_keyn(v, i, &len);
			if (strlen(k) != len || has_nul(toml_table_value(v, i)))
				return true;
		}
		return false;
	default:
		return false;
	}
}

/* Every accessor on every value: what a consumer of the tree may call. */
static void walk(const struct toml_value *v, int depth)
{
	FUZZ_CHECK(depth < 100000, "tree deeper than any input could make");
	FUZZ_CHECK(toml_line(v) >= 1 && toml_col(v) >= 1, "value at %d:%d", toml_line(v), toml_col(v));
	FUZZ_CHECK(toml_type_name(toml_type(v)) != NULL, "type %d has no name", toml_type(v));
	switch (toml_type(v)) {
	case TOML_TABLE:
		for (size_t i = 0; i < toml_table_len(v); i++) {
			size_t len;
			const char *k = toml_table_keyn(v, i, &len);
			FUZZ_CHECK(toml_getn(v, k, len) == toml_table_value(v, i), "key %zu does not find its value", i);
			FUZZ_CHECK(toml_table_key_line(v, i) >= 1, "key %zu has no line", i);
			walk(toml_table_value(v, i), depth + 1);
		}
		FUZZ_CHECK(toml_table_key_line(v, toml_table_len(v)) == 0, "key past the end has a line");
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < toml_array_len(v); i++)
			walk(toml_array_at(v, i), depth + 1);
		FUZZ_CHECK(toml_array_at(v, toml_array_len(v)) == NULL, "element past the end");
		break;
	case TOML_STRING: {
		size_t len;
		const char *s = toml_string(v, &len);
		FUZZ_CHECK(s != NULL && s[len] == 0, "string not terminated");
		break;
	}
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: {
		const struct toml_datetime *d = toml_datetime(v);
		FUZZ_CHECK(d != NULL && d->nanosecond >= 0 && d->nanosecond < 1000000000, "bad fraction");
		FUZZ_CHECK(d->hour >= 0 && d->hour < 24 && d->minute >= 0 && d->minute < 60 && d->second >= 0 &&
				   d->second <= 60,
			   "time %d:%d:%d accepted", d->hour, d->minute, d->second);
		if (toml_type(v) != TOML_TIME_LOCAL)
			FUZZ_CHECK(d->month >= 1 && d->month <= 12 && d->day >= 1 && d->day <= 31,
				   "date %d-%d-%d accepted", d->year, d->month, d->day);
		break;
	}
	default:
		break;
	}
}

static bool same(const struct toml_value *a, const struct toml_value *b)
{
	if (toml_type(a) != toml_type(b))
		return false;
	switch (toml_type(a)) {
	case TOML_TABLE:
		if (toml_table_len(a) != toml_table_len(b))
			return false;
		for (size_t i = 0; i < toml_table_len(a); i++) {
			size_t len;
			const char *k = toml_table_keyn(a, i, &len);
			const struct toml_value *o = toml_getn(b, k, len);
			if (o == NULL || !same(toml_table_value(a, i), o))
				return false;
		}
		return true;
	case TOML_ARRAY:
		if (toml_array_len(a) != toml_array_len(b))
			return false;
		for (size_t i = 0; i < toml_array_len(a); i++)
			if (!same(toml_array_at(a, i), toml_array_at(b, i)))
				return false;
		return true;
	case TOML_STRING: {
		size_t la, lb;
		const char *sa = toml_string(a, &la), *sb = toml_string(b, &lb);
		return la == lb && memcmp(sa, sb, la) == 0;
	}
	case TOML_INTEGER:
		return toml_integer(a) == toml_integer(b);
	case TOML_FLOAT: {
		double x = toml_float(a), y = toml_float(b);
		return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
	}
	case TOML_BOOL:
		return toml_bool(a) == toml_bool(b);
	default: {
		const struct toml_datetime *x = toml_datetime(a), *y = toml_datetime(b);
		return x->year == y->year && x->month == y->month && x->day == y->day && x->hour == y->hour &&
		       x->minute == y->minute && x->second == y->second && x->nanosecond == y->nanosecond &&
		       x->has_offset == y->has_offset && x->offset_minutes == y->offset_minutes;
	}
	}
}

/* The document as `config dump` writes plugin tables: scalars and arrays
 * as `key = value`, tables as [sections]. */
static char *write_doc(const struct toml_value *doc, size_t *len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, len);
	for (size_t i = 0; i < toml_table_len(doc); i++) {
		const struct toml_value *v = toml_table_value(doc, i);
		if (toml_type(v) == TOML_TABLE)
			continue;
		config_write_string(out, toml_table_key(doc, i));
		fputs(" = ", out);
		config_write_value(out, v);
		fputc('\n', out);
	}
	for (size_t i = 0; i < toml_table_len(doc); i++) {
		const struct toml_value *v = toml_table_value(doc, i);
		if (toml_type(v) != TOML_TABLE)
			continue;
		char *prefix = NULL;
		size_t plen;
		FILE *p = open_memstream(&prefix, &plen);
		config_write_string(p, toml_table_key(doc, i));
		fclose(p);
		config_write_table(out, prefix, v);
		free(prefix);
	}
	fclose(out);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = NULL;
	struct toml_value *doc = toml_parse((const char *)data, size, "fuzz.toml", &msg);
	if (doc == NULL) {
		FUZZ_CHECK(msg != NULL && strncmp(msg, "fuzz.toml:", 10) == 0, "error message `%s`", msg ? msg : "(none)");
		free(msg);
		return 0;
	}
	FUZZ_CHECK(msg == NULL, "a message on success: %s", msg);
	FUZZ_CHECK(toml_type(doc) == TOML_TABLE, "the root is a %s", toml_type_name(toml_type(doc)));
	walk(doc, 0);
	if (!has_nul(doc)) {
		size_t len;
		char *text = write_doc(doc, &len);
		char *msg2 = NULL;
		struct toml_value *again = toml_parse(text, len, "written.toml", &msg2);
		FUZZ_CHECK(again != NULL, "the written document does not parse: %s\n--- written:\n%s", msg2, text);
		FUZZ_CHECK(same(doc, again), "the written document parses to another tree\n--- written:\n%s", text);
		toml_free(again);
		free(text);
	}
	toml_free(doc);
	return 0;
}
