/* Inode number -> name (see inomap.h). */
#include <string.h>

#include "diff/inomap.h"
#include "util/mem.h"

static uint64_t key_of(uint64_t ino)
{
	return ino != 0 ? ino : UINT64_MAX;
}

static size_t slot(const struct inomap *m, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h ^ (h >> 32)) & (m->cap - 1);
	while (m->keys[i] != 0 && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void inomap_put(struct inomap *m, uint64_t ino, const char *name)
{
	if ((m->n + 1) * 4 >= m->cap * 3) {
		struct inomap bigger = {.cap = m->cap ? m->cap * 2 : 64};
		bigger.keys = xcalloc(bigger.cap, sizeof *bigger.keys);
		bigger.names = xcalloc(bigger.cap, sizeof *bigger.names);
		for (size_t i = 0; i < m->cap; i++) {
			if (m->keys[i] == 0)
				continue;
			size_t j = slot(&bigger, m->keys[i]);
			bigger.keys[j] = m->keys[i];
			bigger.names[j] = m->names[i];
		}
		bigger.n = m->n;
		free(m->keys);
		free(m->names);
		*m = bigger;
	}
	uint64_t key = key_of(ino);
	size_t i = slot(m, key);
	if (m->keys[i] == 0)
		m->n++;
	free(m->names[i]);
	m->keys[i] = key;
	m->names[i] = xstrdup(name);
}

const char *inomap_get(const struct inomap *m, uint64_t ino)
{
	if (m->cap == 0)
		return NULL;
	size_t i = slot(m, key_of(ino));
	return m->keys[i] != 0 ? m->names[i] : NULL;
}

void inomap_fini(struct inomap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->names[i]);
	free(m->keys);
	free(m->names);
	*m = (struct inomap){0};
}
