/* The host allocator, instrumented. The tester puts these in place of
 * host->alloc / host->free before any plugin code runs, so that every pointer
 * a plugin hands out and the tester releases with host->free (through the
 * SDK's ucd_*_release helpers, as the daemon does) can be checked: it must
 * come from host->alloc and be released once. A pointer that does not is
 * recorded as a violation and deliberately not freed (freeing a static string
 * or another allocator's block would crash the tester instead of explaining).
 * Thread-safe: snapshotter ops run concurrently. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct ucd_host;

/* Replaces h->alloc and h->free (h is the registry's table, before load). */
void track_install(struct ucd_host *h);
/* Whether p is a live block from host->alloc (NULL: true). */
bool track_is_live(const void *p);
/* How many violations were recorded so far (monotonic). */
size_t track_violations(void);
/* Copies the text of violation number i (0-based, i < track_violations(); only
 * the first TRACK_KEPT are kept) into buf. */
#define TRACK_KEPT 64
void track_violation_text(size_t i, char *buf, size_t cap);
