/* The little of Go's unicode and unicode/utf8 packages the filter language
 * depends on, so that scanning and regular expressions classify runes the way
 * containerd does. Internal to core/filters. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLT_RUNE_ERROR 0xFFFDu
#define FLT_MAX_RUNE 0x10FFFFu

struct flt_urange {
	uint32_t lo, hi;
};
struct flt_ufold {
	uint32_t r, next;
};

/* unicode_tables.c (generated) */
extern const struct flt_urange flt_graphic_ranges[];
extern const size_t flt_graphic_ranges_len;
extern const struct flt_ufold flt_fold_pairs[];
extern const size_t flt_fold_pairs_len;

/* utf8.DecodeRune: an invalid or truncated sequence, a surrogate or an
 * overlong form decodes as (FLT_RUNE_ERROR, 1); an empty input as
 * (FLT_RUNE_ERROR, 0). */
uint32_t flt_utf8_decode(const char *s, size_t n, size_t *width);
/* utf8.EncodeRune: surrogates and runes above FLT_MAX_RUNE encode U+FFFD.
 * Returns the number of bytes written (1..4). */
size_t flt_utf8_encode(uint32_t r, char out[4]);
/* unicode.IsSpace */
bool flt_is_space(uint32_t r);
/* unicode.IsGraphic */
bool flt_is_graphic(uint32_t r);
/* unicode.SimpleFold: the next rune of r's case-folding orbit (r itself when
 * r has no case). */
uint32_t flt_simple_fold(uint32_t r);
