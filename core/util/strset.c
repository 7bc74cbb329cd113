#include "util/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/siphash.h"

static size_t home(const struct strset *set, const char *s)
{
	return (size_t)siphash24(set->key, s, strlen(s)) & (set->cap - 1);
}

/* The slot holding `s`, or the empty slot where it would go. */
static size_t find(const struct strset *set, const char *s)
{
	size_t mask = set->cap - 1, i = home(set, s);
	while (set->slots[i] != NULL && strcmp(set->slots[i], s) != 0)
		i = (i + 1) & mask;
	return i;
}

static void grow(struct strset *set)
{
	size_t cap = set->cap ? set->cap * 2 : 64;
	struct strset bigger = {xcalloc(cap, sizeof(char *)), cap, set->n, {set->key[0], set->key[1]}};
	if (set->cap == 0)
		siphash_key_new(bigger.key);
	for (size_t i = 0; i < set->cap; i++)
		if (set->slots[i] != NULL)
			bigger.slots[find(&bigger, set->slots[i])] = set->slots[i];
	free(set->slots);
	*set = bigger;
}

static bool add_owned(struct strset *set, char *s)
{
	if ((set->n + 1) * 4 > set->cap * 3)   /* keep the load under 3/4 */
		grow(set);
	size_t i = find(set, s);
	if (set->slots[i] != NULL) {
		free(s);
		return false;
	}
	set->slots[i] = s;
	set->n++;
	return true;
}

bool strset_add(struct strset *set, const char *s)
{
	return add_owned(set, xstrdup(s));
}

bool strset_add2(struct strset *set, const char *a, const char *b)
{
	return add_owned(set, xasprintf("%s\x1f%s", a, b));
}

bool strset_has(const struct strset *set, const char *s)
{
	return set->cap > 0 && set->slots[find(set, s)] != NULL;
}

bool strset_has2(const struct strset *set, const char *a, const char *b)
{
	if (set->cap == 0)
		return false;
	autofree char *k = xasprintf("%s\x1f%s", a, b);
	return strset_has(set, k);
}

void strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slots[i]);
	free(set->slots);
	*set = (struct strset)STRSET_INIT;
}

size_t strset_longest_probe(const struct strset *set)
{
	size_t longest = 0;
	for (size_t i = 0; i < set->cap; i++) {
		if (set->slots[i] == NULL)
			continue;
		size_t visits = ((i - home(set, set->slots[i])) & (set->cap - 1)) + 1;
		if (visits > longest)
			longest = visits;
	}
	return longest;
}
