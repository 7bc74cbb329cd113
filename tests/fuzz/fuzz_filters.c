/* containerd's filter language (core/filters): the parser, the matcher with
 * a label adaptor, the field-mask helpers, and the regexp engine behind
 * `~=` on its own.
 *
 * Input: the first byte picks the mode.
 *  - even: filter strings, one per line (NUL bytes kept: filter_parse_len),
 *    up to a line "--"; after it, the object to match: `field=value` lines,
 *    where a field `labels.<key>` is a label.
 *  - odd: a regexp, a NUL byte, then the text to match it against. */
#include <string.h>

#include "filters/filters.h"
#include "filters/regex.h"
#include "fuzz.h"
#include "util/error.h"

#define MAX_FIELDS 32

struct object {
	const char *keys[MAX_FIELDS], *vals[MAX_FIELDS];   /* plain fields */
	size_t n;
	const char *lkeys[MAX_FIELDS], *lvals[MAX_FIELDS]; /* labels */
	size_t nl;
};

static bool get(void *arg, const char *const *path, size_t n, const char **value)
{
	const struct object *o = arg;
	FUZZ_CHECK(n >= 1 && *value == NULL, "adaptor called with %zu components, value %p", n, (void *)*value);
	if (strcmp(path[0], "labels") == 0)
		return filter_get_label(o->lkeys, o->lvals, o->nl, path + 1, n - 1, value);
	for (size_t i = 0; i < o->n; i++) {
		if (filter_path_equals(o->keys[i], path, n)) {
			*value = o->vals[i];
			return true;
		}
	}
	return false;
}

static void fuzz_filter(const char *text, size_t len)
{
	/* copy into NUL-terminated lines */
	char *buf = malloc(len + 1);
	memcpy(buf, text, len);
	buf[len] = 0;
	const char *strs[FILTER_MAX_STRINGS + 2];
	size_t lens[FILTER_MAX_STRINGS + 2], n = 0;
	struct object obj = {0};
	bool in_object = false;
	char *p = buf, *end = buf + len;
	while (p <= end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line_end = nl ? nl : end;
		*line_end = 0;
		size_t l = (size_t)(line_end - p);
		if (!in_object && l == 2 && memcmp(p, "--", 2) == 0) {
			in_object = true;
		} else if (!in_object) {
			if (n < FILTER_MAX_STRINGS + 2) {
				strs[n] = p;
				lens[n++] = l;
			}
		} else {
			char *eq = strchr(p, '=');
			if (eq != NULL) {
				*eq = 0;
				if (strncmp(p, "labels.", 7) == 0 && obj.nl < MAX_FIELDS) {
					obj.lkeys[obj.nl] = p + 7;
					obj.lvals[obj.nl++] = eq + 1;
				} else if (obj.n < MAX_FIELDS) {
					obj.keys[obj.n] = p;
					obj.vals[obj.n++] = eq + 1;
				}
			}
			/* update-mask helpers on every line of the object part */
			const char *rest;
			size_t head = filter_fieldmask_split(p, &rest);
			FUZZ_CHECK(head <= strlen(p), "mask head %zu past %zu", head, strlen(p));
			const char *k = filter_fieldmask_key(p, "labels");
			FUZZ_CHECK(k == NULL || k == p + 7, "mask key not after `labels.`");
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	struct ucd_error *e = NULL;
	struct filter *f = filter_parse_len(strs, lens, n, &e);
	if (f == NULL) {
		FUZZ_CHECK(e != NULL && e->code == UCD_INVALID_ARGUMENT, "parse failed without InvalidArgument");
		error_free(e);
	} else {
		FUZZ_CHECK(e == NULL, "error set on success");
		bool all = filter_is_match_all(f);
		bool m = filter_match(f, get, &obj);
		FUZZ_CHECK(!all || m, "a match-all filter did not match");
		FUZZ_CHECK(filter_match(f, get, &obj) == m, "matching twice gave two answers");
		filter_free(f);
	}
	free(buf);
}

static void fuzz_regex(const char *text, size_t len)
{
	const char *nul = memchr(text, 0, len);
	size_t plen = nul ? (size_t)(nul - text) : len;
	const char *subject = nul ? nul + 1 : "";
	size_t slen = nul ? len - plen - 1 : 0;
	char *msg = NULL;
	struct flt_re *re = flt_re_compile(text, plen, &msg);
	if (re == NULL) {
		FUZZ_CHECK(msg != NULL && strncmp(msg, "error parsing regexp: ", 22) == 0, "message `%s`",
			   msg ? msg : "(none)");
		free(msg);
		return;
	}
	bool m = flt_re_match(re, subject, slen);
	FUZZ_CHECK(flt_re_match(re, subject, slen) == m, "matching twice gave two answers");
	if (plen == 0)
		FUZZ_CHECK(m, "the empty regexp did not match");
	flt_re_free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_regex((const char *)data + 1, size - 1);
	else
		fuzz_filter((const char *)data + 1, size - 1);
	return 0;
}
