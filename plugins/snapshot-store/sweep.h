/* The ids of the records (live and being created), and the sweep of
 * leftovers that uses them (store.c). */
#pragma once
#include "snst_int.h"

struct snst_ids {
	uint64_t *v;   /* sorted */
	size_t n;
};

/* Caller holds snst.mu; free ids->v with host->free. */
void snst_ids_collect(struct snst *s, struct snst_ids *ids);
bool snst_ids_has(const struct snst_ids *ids, uint64_t id);

/* Caller holds snst.mu (or is alone, at open). Moves every directory under
 * snapshots/ that no record names ("<id>" or "new-<id>") to the trash, then
 * lets the driver sweep its own things. */
void snst_sweep(struct snst *s);
