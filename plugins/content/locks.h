/* One writer per ref (locks.c). */
#pragma once
#include "store.h"

/* Takes the lock of `ref`, or fails with UCD_UNAVAILABLE and containerd's
 * text "ref <ref> locked for <duration> (since <time>)". Any thread. */
int cs_lock_take(struct cs *s, const char *ref, struct ucd_error **err);
void cs_lock_release(struct cs *s, const char *ref);
/* At close: drops every lock still recorded. */
void cs_locks_free(struct cs *s);
