/* Compares a parsed TOML tree with toml-test's tagged JSON: every scalar is
 * {"type": "...", "value": "..."}, tables are objects, arrays are arrays. */
#include "toml_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static bool mismatch(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return false;
}

/* {"type": string, "value": string} and nothing else. */
static bool is_tagged(json_object *o)
{
	if (json_object_get_type(o) != json_type_object || json_object_object_length(o) != 2)
		return false;
	json_object *t, *v;
	return json_object_object_get_ex(o, "type", &t) && json_object_object_get_ex(o, "value", &v) &&
	       json_object_is_type(t, json_type_string) && json_object_is_type(v, json_type_string);
}

static const char *tag_of(enum toml_type t)
{
	switch (t) {
	case TOML_STRING: return "string";
	case TOML_INTEGER: return "integer";
	case TOML_FLOAT: return "float";
	case TOML_BOOL: return "bool";
	case TOML_DATETIME: return "datetime";
	case TOML_DATETIME_LOCAL: return "datetime-local";
	case TOML_DATE_LOCAL: return "date-local";
	case TOML_TIME_LOCAL: return "time-local";
	case TOML_TABLE: return "table";
	case TOML_ARRAY: return "array";
	}
	return "?";
}

static bool num(const char **s, int count, int *out)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += count;
	*out = v;
	return true;
}

static bool parse_time(const char **s, struct toml_datetime *dt)
{
	if (!num(s, 2, &dt->hour) || *(*s)++ != ':' || !num(s, 2, &dt->minute) || *(*s)++ != ':' ||
	    !num(s, 2, &dt->second))
		return false;
	if (**s == '.') {
		(*s)++;
		int n = 0;
		while (**s >= '0' && **s <= '9') {
			if (n < 9) {
				dt->nanosecond = dt->nanosecond * 10 + (**s - '0');
				n++;
			}
			(*s)++;
		}
		if (n == 0)
			return false;
		while (n++ < 9)
			dt->nanosecond *= 10;
	}
	return true;
}

/* Normalises the expected datetime string (any RFC 3339 / TOML spelling). */
bool tj_parse_datetime(const char *s, const char *tag, struct toml_datetime *dt)
{
	*dt = (struct toml_datetime){ 0 };
	if (strcmp(tag, "time-local") == 0)
		return parse_time(&s, dt) && *s == '\0';
	if (!num(&s, 4, &dt->year) || *s++ != '-' || !num(&s, 2, &dt->month) || *s++ != '-' ||
	    !num(&s, 2, &dt->day))
		return false;
	if (strcmp(tag, "date-local") == 0)
		return *s == '\0';
	if (*s != 'T' && *s != 't' && *s != ' ')
		return false;
	s++;
	if (!parse_time(&s, dt))
		return false;
	if (strcmp(tag, "datetime-local") == 0)
		return *s == '\0';
	dt->has_offset = true;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, h, m;
		if (!num(&s, 2, &h) || *s++ != ':' || !num(&s, 2, &m))
			return false;
		dt->offset_minutes = sign * (h * 60 + m);
	} else {
		return false;
	}
	return *s == '\0';
}

static bool cmp_scalar(json_object *exp, const struct toml_value *v, const char *path, char *why,
		       size_t whylen)
{
	json_object *jt, *jv;
	json_object_object_get_ex(exp, "type", &jt);
	json_object_object_get_ex(exp, "value", &jv);
	const char *tag = json_object_get_string(jt);
	const char *want = json_object_get_string(jv);
	size_t wantlen = (size_t)json_object_get_string_len(jv);
	if (strcmp(tag, tag_of(toml_type(v))) != 0)
		return mismatch(why, whylen, "%s: expected type %s, got %s", path, tag,
				tag_of(toml_type(v)));
	switch (toml_type(v)) {
	case TOML_STRING: {
		size_t len;
		const char *got = toml_string(v, &len);
		if (len != wantlen || memcmp(got, want, len) != 0)
			return mismatch(why, whylen, "%s: expected string \"%s\", got \"%s\" (len %zu vs %zu)",
					path, want, got, wantlen, len);
		return true;
	}
	case TOML_INTEGER: {
		char *end;
		long long w = strtoll(want, &end, 10);
		if (*end != '\0')
			return mismatch(why, whylen, "%s: bad expected integer %s", path, want);
		if (w != toml_integer(v))
			return mismatch(why, whylen, "%s: expected integer %s, got %lld", path, want,
					(long long)toml_integer(v));
		return true;
	}
	case TOML_FLOAT: {
		double got = toml_float(v), w;
		const char *p = want;
		if (*p == '+' || *p == '-')
			p++;
		if (strcmp(p, "nan") == 0)
			w = NAN;
		else if (strcmp(p, "inf") == 0)
			w = want[0] == '-' ? -INFINITY : INFINITY;
		else
			w = strtod(want, NULL);
		if (isnan(w) ? !isnan(got) : got != w)
			return mismatch(why, whylen, "%s: expected float %s, got %.17g", path, want, got);
		return true;
	}
	case TOML_BOOL:
		if (strcmp(want, toml_bool(v) ? "true" : "false") != 0)
			return mismatch(why, whylen, "%s: expected bool %s", path, want);
		return true;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: {
		struct toml_datetime w;
		const struct toml_datetime *g = toml_datetime(v);
		if (!tj_parse_datetime(want, tag, &w))
			return mismatch(why, whylen, "%s: cannot parse expected %s %s", path, tag, want);
		if (w.year != g->year || w.month != g->month || w.day != g->day || w.hour != g->hour ||
		    w.minute != g->minute || w.second != g->second || w.nanosecond != g->nanosecond ||
		    w.has_offset != g->has_offset || w.offset_minutes != g->offset_minutes)
			return mismatch(why, whylen,
					"%s: expected %s, got %04d-%02d-%02dT%02d:%02d:%02d.%09d off=%d(%d)",
					path, want, g->year, g->month, g->day, g->hour, g->minute,
					g->second, g->nanosecond, g->offset_minutes, g->has_offset);
		return true;
	}
	default:
		return mismatch(why, whylen, "%s: unexpected container", path);
	}
}

bool tj_compare(json_object *exp, const struct toml_value *v, const char *path, char *why,
		size_t whylen)
{
	char sub[1024];
	if (json_object_is_type(exp, json_type_array)) {
		if (toml_type(v) != TOML_ARRAY)
			return mismatch(why, whylen, "%s: expected array, got %s", path,
					tag_of(toml_type(v)));
		size_t n = json_object_array_length(exp);
		if (toml_array_len(v) != n)
			return mismatch(why, whylen, "%s: expected %zu elements, got %zu", path, n,
					toml_array_len(v));
		for (size_t i = 0; i < n; i++) {
			snprintf(sub, sizeof sub, "%s[%zu]", path, i);
			if (!tj_compare(json_object_array_get_idx(exp, i), toml_array_at(v, i), sub, why,
					whylen))
				return false;
		}
		return true;
	}
	if (!json_object_is_type(exp, json_type_object))
		return mismatch(why, whylen, "%s: malformed expected JSON", path);
	if (is_tagged(exp))
		return cmp_scalar(exp, v, path, why, whylen);
	if (toml_type(v) != TOML_TABLE)
		return mismatch(why, whylen, "%s: expected table, got %s", path, tag_of(toml_type(v)));
	if ((size_t)json_object_object_length(exp) != toml_table_len(v))
		return mismatch(why, whylen, "%s: expected %d keys, got %zu", path,
				json_object_object_length(exp), toml_table_len(v));
	json_object_object_foreach(exp, key, val) {
		snprintf(sub, sizeof sub, "%s.%s", path, key);
		const struct toml_value *got = toml_get(v, key);
		if (got == NULL)
			return mismatch(why, whylen, "%s: missing key", sub);
		if (!tj_compare(val, got, sub, why, whylen))
			return false;
	}
	return true;
}
