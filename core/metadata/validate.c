/* Validation with containerd's rules and error strings: labels, digests;
 * RFC 3339 time parsing. Identifiers: util/identifiers.c. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"

#define LABEL_MAX 4096

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int md_validate_label(const char *key, const char *value, struct ucd_error **err)
{
	size_t kl = strlen(key);
	if (kl + strlen(value) <= LABEL_MAX)
		return 0;
	return error_set(err, UCD_INVALID_ARGUMENT, 0,
			 "label key and value greater than maximum size (%d bytes), key: %.*s: invalid argument",
			 LABEL_MAX, (int)(kl > 10 ? 10 : kl), key);
}

/* go-digest: DigestRegexpAnchored = ^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$ */
static bool digest_syntax_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL || colon == s)
		return false;
	bool prev = false;
	for (const char *p = s; p < colon; p++) {
		bool lower_alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		if (lower_alnum)
			prev = true;
		else if (strchr(".+_-", *p) && prev)
			prev = false;
		else
			return false;
	}
	if (!prev || colon[1] == '\0')
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (!is_alnum(*p) && !strchr("=_-", *p))
			return false;
	return true;
}

const char *md_digest_error(const char *d)
{
	static const char *const invalid_format = "invalid checksum digest format";
	const char *colon = strchr(d, ':');
	if (colon == NULL || colon == d || colon[1] == '\0')
		return invalid_format;
	size_t alg_len = (size_t)(colon - d), hex_len;
	if (alg_len == 6 && strncmp(d, "sha256", 6) == 0)
		hex_len = 64;
	else if (alg_len == 6 && strncmp(d, "sha384", 6) == 0)
		hex_len = 96;
	else if (alg_len == 6 && strncmp(d, "sha512", 6) == 0)
		hex_len = 128;
	else
		return digest_syntax_ok(d) ? "unsupported digest algorithm" : invalid_format;
	const char *hex = colon + 1;
	if (strlen(hex) != hex_len)
		return "invalid checksum digest length";
	for (const char *p = hex; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return invalid_format;
	return NULL;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* time.RFC3339 = "2006-01-02T15:04:05Z07:00"; Go also takes fractional
 * seconds after the seconds field. */
bool md_parse_rfc3339(const char *s, int64_t *ns)
{
	int Y, M, D, h, m, sec;
	if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
	    !digits(s + 8, 2, &D) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &m) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.' || *p == ',') {
		p++;
		int n = 0;
		int64_t scale = 100000000;
		while (isdigit((unsigned char)*p)) {
			if (n < 9) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
			n++;
			p++;
		}
		if (n == 0)
			return false;
	}
	int off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 59)
		return false;
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M == 2 && D == 29 && !leap)
		return false;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec };
	int64_t t = (int64_t)timegm(&tm) - off;
	if (t >= INT64_MAX / 1000000000 - 1)      /* past 2262: as good as never */
		*ns = INT64_MAX;
	else if (t <= INT64_MIN / 1000000000 + 1)
		*ns = INT64_MIN;
	else
		*ns = t * 1000000000 + frac;
	return true;
}
