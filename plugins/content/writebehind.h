/* Write-behind for one ingest's data file (writebehind.c). All calls come
 * from the one thread that uses the writer at a time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cs_wb;

/* Writes to `fd` (reopened through /proc/self/fd with O_DIRECT when the
 * file system allows it) from file offset `pos` on, on a thread of its own;
 * NULL when no thread can be started (the caller then writes itself). */
struct cs_wb *cs_wb_new(int fd, int64_t pos);
/* Waits for the chunk in flight, then hands `data` (copied) to the thread.
 * 0, or -errno of an earlier write that failed. */
int cs_wb_submit(struct cs_wb *wb, const void *data, size_t n);
/* Waits until everything submitted is in the file (the unaligned rest
 * through the page cache): 0 or -errno (sticky). */
int cs_wb_wait(struct cs_wb *wb);
/* After a truncate: waits, then continues at `pos` with the error cleared. */
void cs_wb_reset(struct cs_wb *wb, int64_t pos);
/* Stops the thread and frees; what cs_wb_wait did not write is dropped.
 * NULL is fine. */
void cs_wb_free(struct cs_wb *wb);
