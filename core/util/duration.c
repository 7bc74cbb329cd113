/* See duration.h. */
#include "util/duration.h"

#include <stdio.h>
#include <string.h>

#include "util/mem.h"

struct unit {
	const char *name;
	int64_t ns;
};
static const struct unit units[] = {
	{"ns", 1},
	{"us", 1000},
	{"\xc2\xb5s", 1000},   /* U+00B5 micro sign */
	{"\xce\xbcs", 1000},   /* U+03BC greek mu */
	{"ms", 1000000},
	{"s", INT64_C(1000000000)},
	{"m", INT64_C(60000000000)},
	{"h", INT64_C(3600000000000)},
};

bool duration_parse(const char *s, int64_t *ns)
{
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return true;
	}
	if (*s == '\0')
		return false;
	uint64_t total = 0;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1;
		bool digits = false;
		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (whole > (UINT64_MAX - 9) / 10)
				return false;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++, digits = true) {
				if (scale < UINT64_C(1000000000000000000)) {   /* digits beyond 1e-18 cannot matter */
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
			}
		}
		if (!digits)
			return false;
		const struct unit *u = NULL;
		size_t ulen = 0;
		for (size_t i = 0; i < ARRAY_LEN(units); i++) {
			size_t n = strlen(units[i].name);
			/* longest match: "ms" before "m" */
			if (strncmp(s, units[i].name, n) == 0 && n > ulen) {
				u = &units[i];
				ulen = n;
			}
		}
		if (u == NULL)
			return false;
		s += ulen;
		uint64_t unit_ns = (uint64_t)u->ns;
		if (whole > (uint64_t)INT64_MAX / unit_ns)
			return false;
		uint64_t v = whole * unit_ns;
		/* frac / scale of a unit, without overflowing: unit_ns <= 3.6e12 and
		 * frac < scale <= 1e18, so split the multiplication. */
		long double part = (long double)frac * (long double)unit_ns / (long double)scale;
		v += (uint64_t)part;
		if (v > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX - v)
			return false;
		total += v;
	}
	*ns = neg ? -(int64_t)total : (int64_t)total;
	return true;
}

void duration_format(int64_t ns, char *buf, size_t size)
{
	static const struct unit parts[] = {
		{"h", INT64_C(3600000000000)}, {"m", INT64_C(60000000000)}, {"s", INT64_C(1000000000)},
		{"ms", 1000000}, {"us", 1000}, {"ns", 1},
	};
	size_t n = 0;
	uint64_t left = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	if (ns < 0 && n + 1 < size)
		buf[n++] = '-';
	buf[n] = 0;
	if (left == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(parts) && left > 0; i++) {
		uint64_t q = left / (uint64_t)parts[i].ns;
		left %= (uint64_t)parts[i].ns;
		if (q > 0 && n < size)
			n += (size_t)snprintf(buf + n, size - n, "%llu%s", (unsigned long long)q, parts[i].name);
	}
}
