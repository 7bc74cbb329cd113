/* A set of the live blocks host->alloc returned: open addressing over the
 * pointer value, one mutex (allocation is not the bottleneck of a snapshotter
 * op, the filesystem is). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontainerd/host.h>

#include "track.h"
#include "util/mem.h"

#define TOMB ((uintptr_t)1)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *slots;       /* 0: empty, TOMB: deleted, else a live block */
static size_t cap, used;       /* used counts live blocks and tombstones */
static size_t n_violations;
static char *kept[TRACK_KEPT];

static size_t slot_of(uintptr_t p)
{
	uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 17) & (cap - 1);
}

static void rehash(size_t new_cap)
{
	uintptr_t *old = slots;
	size_t old_cap = cap;
	slots = xcalloc(new_cap, sizeof *slots);
	cap = new_cap;
	used = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i] == 0 || old[i] == TOMB)
			continue;
		size_t s = slot_of(old[i]);
		while (slots[s] != 0)
			s = (s + 1) & (cap - 1);
		slots[s] = old[i];
		used++;
	}
	free(old);
}

static void set_add(uintptr_t p)
{
	if ((used + 1) * 2 > cap)
		rehash(cap ? cap * 2 : 4096);
	size_t s = slot_of(p);
	while (slots[s] != 0 && slots[s] != TOMB)
		s = (s + 1) & (cap - 1);
	if (slots[s] == 0)
		used++;
	slots[s] = p;
}

static bool set_remove(uintptr_t p)
{
	if (cap == 0)
		return false;
	for (size_t s = slot_of(p); slots[s] != 0; s = (s + 1) & (cap - 1)) {
		if (slots[s] == p) {
			slots[s] = TOMB;
			return true;
		}
	}
	return false;
}

static bool set_has(uintptr_t p)
{
	if (cap == 0)
		return false;
	for (size_t s = slot_of(p); slots[s] != 0; s = (s + 1) & (cap - 1))
		if (slots[s] == p)
			return true;
	return false;
}

bool track_is_live(const void *p)
{
	if (p == NULL)
		return true;
	pthread_mutex_lock(&lock);
	bool live = set_has((uintptr_t)p);
	pthread_mutex_unlock(&lock);
	return live;
}

static void *track_alloc(size_t n)
{
	void *p = xmalloc(n ? n : 1);
	pthread_mutex_lock(&lock);
	set_add((uintptr_t)p);
	pthread_mutex_unlock(&lock);
	return p;
}

static void track_free(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&lock);
	bool known = set_remove((uintptr_t)p);
	if (!known) {
		if (n_violations < TRACK_KEPT)
			kept[n_violations] = xasprintf(
				"host->free(%p): a block host->alloc did not return, or one already "
				"released (a pointer handed out twice?)",
				p);
		n_violations++;
	}
	pthread_mutex_unlock(&lock);
	if (known)
		free(p);
}

void track_install(struct ucd_host *h)
{
	h->alloc = track_alloc;
	h->free = track_free;
}

size_t track_violations(void)
{
	pthread_mutex_lock(&lock);
	size_t n = n_violations;
	pthread_mutex_unlock(&lock);
	return n;
}

void track_violation_text(size_t i, char *buf, size_t cap_)
{
	pthread_mutex_lock(&lock);
	snprintf(buf, cap_, "%s", i < TRACK_KEPT && kept[i] != NULL ? kept[i] : "(not kept)");
	pthread_mutex_unlock(&lock);
}
