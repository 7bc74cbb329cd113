/* Inode -> name (see inomap.h). */
#include <string.h>

#include "diff/inomap.h"
#include "util/mem.h"
#include "util/siphash.h"

static size_t slot(const struct inomap *m, dev_t dev, ino_t ino)
{
	uint64_t k[2] = {(uint64_t)dev, (uint64_t)ino};
	size_t i = (size_t)siphash24(m->key, k, sizeof k) & (m->cap - 1);
	while (m->v[i].name != NULL && !(m->v[i].dev == dev && m->v[i].ino == ino))
		i = (i + 1) & (m->cap - 1);
	return i;
}

void inomap_put(struct inomap *m, dev_t dev, ino_t ino, const char *name)
{
	if ((m->n + 1) * 4 >= m->cap * 3) {
		struct inomap bigger = {.cap = m->cap ? m->cap * 2 : 64, .n = m->n, .key = {m->key[0], m->key[1]}};
		if (m->cap == 0)
			siphash_key_new(bigger.key);
		bigger.v = xcalloc(bigger.cap, sizeof *bigger.v);
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].name != NULL)
				bigger.v[slot(&bigger, m->v[i].dev, m->v[i].ino)] = m->v[i];
		free(m->v);
		*m = bigger;
	}
	struct inomap_slot *s = &m->v[slot(m, dev, ino)];
	if (s->name == NULL)
		m->n++;
	free(s->name);
	*s = (struct inomap_slot){dev, ino, xstrdup(name)};
}

const char *inomap_get(const struct inomap *m, dev_t dev, ino_t ino)
{
	if (m->cap == 0)
		return NULL;
	return m->v[slot(m, dev, ino)].name;
}

void inomap_fini(struct inomap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].name);
	free(m->v);
	*m = (struct inomap){0};
}
