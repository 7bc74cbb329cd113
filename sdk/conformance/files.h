/* The small file operations the cases do through mounted snapshots. Each
 * returns 0 or -1 with errno set, so a case can tell EROFS from the rest. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* Writes (creates or truncates) dir/rel with len bytes; fsyncs it. */
int files_write(const char *dir, const char *rel, const void *data, size_t len);
/* Reads dir/rel into a malloc'd, NUL-terminated string (*out). */
int files_read(const char *dir, const char *rel, char **out);
/* mkdir dir/rel 0755. */
int files_mkdir(const char *dir, const char *rel);
/* unlink dir/rel. */
int files_unlink(const char *dir, const char *rel);
/* rm -rf, staying on dir's filesystem (mounts below must be gone first). */
int files_remove_tree(const char *dir);
/* Entries of dir other than "." and "..", sorted, joined with " "; malloc'd,
 * NULL if dir cannot be read. */
char *files_list(const char *dir);
