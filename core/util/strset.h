/* A set of strings (open addressing, linear probing): the garbage
 * collector's "still referenced" sets, built on the loop and read on a
 * worker; the paths a layer apply or a diff has written. Those paths come
 * from an image or a container, so the hash is SipHash under a random key
 * per set (util/siphash.h): no set of names collides by construction.
 * Not thread-safe while it is being changed; any number of readers after. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strset {
	char **slots;     /* NULL = empty */
	size_t cap;       /* a power of two, or 0 */
	size_t n;
	uint64_t key[2];  /* drawn when the first slot array is made */
};

#define STRSET_INIT {NULL, 0, 0, {0, 0}}

/* Adds a copy of `s`; true when it was not there yet. */
bool strset_add(struct strset *set, const char *s);
/* Adds the concatenation of `a`, a 0x1f separator and `b` (composite keys). */
bool strset_add2(struct strset *set, const char *a, const char *b);
bool strset_has(const struct strset *set, const char *s);
bool strset_has2(const struct strset *set, const char *a, const char *b);
void strset_free(struct strset *set);
/* The most slots a lookup of a member visits (1 when none collide); for
 * tests and diagnostics. */
size_t strset_longest_probe(const struct strset *set);
