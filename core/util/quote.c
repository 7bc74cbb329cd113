#include "util/quote.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

char *go_quote(const char *s)
{
	size_t len = strlen(s);
	char *out = xmalloc(len * 4 + 3), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	*o++ = '"';
	while (*p) {
		unsigned char c = *p;
		const char *esc = NULL;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\v': esc = "\\v"; break;
		}
		if (esc) {
			o = stpcpy(o, esc);
			p++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\x%02x", c);
			p++;
			continue;
		}
		if (c < 0x80) {
			*o++ = (char)c;
			p++;
			continue;
		}
		/* Valid UTF-8 passes through as Go prints it; stray bytes are \x. */
		size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
		bool ok = n > 0;
		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			o += sprintf(o, "\\x%02x", c);
			p++;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}
