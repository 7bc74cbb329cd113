/* A growable byte buffer with a read offset: writers append at `len`,
 * readers consume from `off`. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/mem.h"

struct buf {
	uint8_t *data;
	size_t len;   /* bytes written */
	size_t off;   /* bytes already consumed */
	size_t cap;
};

static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }

/* Makes room for n more bytes and returns where they go (len is not moved). */
static inline uint8_t *buf_reserve(struct buf *b, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len < n) {
		if (b->off > 0 && b->off >= b->cap / 2) {   /* reclaim the consumed front */
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->cap - b->len < n) {
			size_t cap = b->cap ? b->cap : 256;
			while (cap - b->len < n)
				cap *= 2;
			b->data = xrealloc(b->data, cap);
			b->cap = cap;
		}
	}
	return b->data + b->len;
}

/* Makes room for n more bytes, growing to exactly that (after reclaiming
 * the consumed front) instead of doubling: for a size known in advance. */
static inline void buf_reserve_exact(struct buf *b, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len < n) {
		b->data = xrealloc(b->data, b->len + n);
		b->cap = b->len + n;
	}
}

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), p, n);
	b->len += n;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static inline void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}
