/* Small filesystem helpers for start-up work (not for the loop's hot path). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <ucontainerd/error.h>

/* mkdir -p with `mode` for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode, struct ucd_error **err);
/* mkdir -p of the directory `path` is in (nothing for a name without one,
 * or directly under /): where a socket is to be bound. */
int fs_mkdir_parent(const char *path, mode_t mode, struct ucd_error **err);
/* Reads up to cap bytes; returns the count, or -1 (errno set). */
ssize_t fs_read_small(const char *path, char *buf, size_t cap);
/* Writes via a temporary file + rename: readers see old or new, whole. With
 * `durable`, the file is fsync'ed before the rename so it also survives a
 * power cut; without, a power cut may leave the old file or an empty one. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable,
		    struct ucd_error **err);
