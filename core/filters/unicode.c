/* UTF-8 and rune classes with Go's exact rules (see unicode.h). */
#include "filters/unicode.h"

static bool cont(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

uint32_t flt_utf8_decode(const char *str, size_t n, size_t *width)
{
	const unsigned char *s = (const unsigned char *)str;
	if (n == 0) {
		*width = 0;
		return FLT_RUNE_ERROR;
	}
	unsigned char b0 = s[0];
	*width = 1;
	if (b0 < 0x80)
		return b0;
	/* the accepted range of the second byte depends on the first one, which
	 * is what rules out overlong forms, surrogates and runes past U+10FFFF */
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t r;
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		need = 2;
		r = b0 & 0x1F;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		need = 3;
		r = b0 & 0x0F;
		if (b0 == 0xE0)
			lo = 0xA0;
		else if (b0 == 0xED)
			hi = 0x9F;
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		need = 4;
		r = b0 & 0x07;
		if (b0 == 0xF0)
			lo = 0x90;
		else if (b0 == 0xF4)
			hi = 0x8F;
	} else {
		return FLT_RUNE_ERROR;
	}
	if (n < need || !cont(s[1], lo, hi))
		return FLT_RUNE_ERROR;
	for (size_t i = 1; i < need; i++) {
		if (i > 1 && !cont(s[i], 0x80, 0xBF))
			return FLT_RUNE_ERROR;
		r = (r << 6) | (s[i] & 0x3F);
	}
	*width = need;
	return r;
}

size_t flt_utf8_encode(uint32_t r, char out[4])
{
	unsigned char *o = (unsigned char *)out;
	if (r > FLT_MAX_RUNE || (r >= 0xD800 && r <= 0xDFFF))
		r = FLT_RUNE_ERROR;
	if (r < 0x80) {
		o[0] = (unsigned char)r;
		return 1;
	}
	if (r < 0x800) {
		o[0] = (unsigned char)(0xC0 | (r >> 6));
		o[1] = (unsigned char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (r >> 12));
		o[1] = (unsigned char)(0x80 | ((r >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (r & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (r >> 18));
	o[1] = (unsigned char)(0x80 | ((r >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((r >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (r & 0x3F));
	return 4;
}

bool flt_is_space(uint32_t r)
{
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return true;
	}
	return r >= 0x2000 && r <= 0x200A;
}

bool flt_is_graphic(uint32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7F;
	size_t lo = 0, hi = flt_graphic_ranges_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r < flt_graphic_ranges[mid].lo)
			hi = mid;
		else if (r > flt_graphic_ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint32_t flt_simple_fold(uint32_t r)
{
	size_t lo = 0, hi = flt_fold_pairs_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r < flt_fold_pairs[mid].r)
			hi = mid;
		else if (r > flt_fold_pairs[mid].r)
			lo = mid + 1;
		else
			return flt_fold_pairs[mid].next;
	}
	return r;
}
