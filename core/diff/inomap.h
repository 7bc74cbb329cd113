/* Inode number -> name (open addressing): the first name a diff wrote for
 * a hard-linked inode, so later names become links to it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct inomap {
	uint64_t *keys;   /* 0 = empty slot (inode 0 is stored as UINT64_MAX) */
	char **names;
	size_t cap, n;
};

/* Sets ino's name to a copy of `name`. */
void inomap_put(struct inomap *m, uint64_t ino, const char *name);
/* The name, or NULL. */
const char *inomap_get(const struct inomap *m, uint64_t ino);
void inomap_fini(struct inomap *m);
