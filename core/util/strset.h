/* A set of strings (open addressing, FNV-1a): the garbage collector's
 * "still referenced" sets, built on the loop and read on a worker. Not
 * thread-safe while it is being changed; any number of readers after. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct strset {
	char **slots;   /* NULL = empty */
	size_t cap;     /* a power of two, or 0 */
	size_t n;
};

#define STRSET_INIT {NULL, 0, 0}

/* Adds a copy of `s`; true when it was not there yet. */
bool strset_add(struct strset *set, const char *s);
/* Adds the concatenation of `a`, a 0x1f separator and `b` (composite keys). */
bool strset_add2(struct strset *set, const char *a, const char *b);
bool strset_has(const struct strset *set, const char *s);
bool strset_has2(const struct strset *set, const char *a, const char *b);
void strset_free(struct strset *set);
