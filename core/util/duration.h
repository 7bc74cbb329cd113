/* Durations as containerd's config files write them: Go's
 * time.ParseDuration ("10s", "1m30s", "250ms", "1.5h", "0"). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* False when `s` is not a duration or does not fit in int64 nanoseconds. */
bool duration_parse(const char *s, int64_t *ns);
/* `ns` in a form duration_parse reads back, units largest first without
 * zero parts ("30m", "1h30m", "1s500ms"; "0s" for 0). */
void duration_format(int64_t ns, char *buf, size_t size);
