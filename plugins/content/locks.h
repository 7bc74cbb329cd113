/* One writer per ref (locks.c). */
#pragma once
#include "store.h"

/* Takes the lock of `ref`, or fails with UCD_UNAVAILABLE and containerd's
 * text "ref <ref> locked for <duration> (since <time>)". Any thread. */
int cs_lock_take(struct cs *s, const char *ref, struct ucd_error **err);
void cs_lock_release(struct cs *s, const char *ref);
/* True when `name` (a directory under ingest/, the hash of a ref) belongs to
 * a ref whose lock is held: a writer is creating or committing it right now,
 * so a half-made directory there is expected, not damage. */
bool cs_lock_held_for_dir(struct cs *s, const char *name);
/* At close: drops every lock still recorded. */
void cs_locks_free(struct cs *s);
