/* Inode (device and number) -> name (open addressing): the first name a
 * diff wrote for a hard-linked inode, so later names become links to it.
 * The slots are picked by SipHash under a key drawn per map: a container
 * chooses which of its inodes get several names, never where they land. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct inomap_slot {
	dev_t dev;
	ino_t ino;
	char *name;   /* NULL = empty slot */
};

struct inomap {
	struct inomap_slot *v;
	size_t cap, n;
	uint64_t key[2];
};

/* Sets the inode's name to a copy of `name`. */
void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *name);
/* The name, or NULL. */
const char *inomap_get(const struct inomap *m, dev_t dev, ino_t ino);
void inomap_fini(struct inomap *m);
