/* Mounting what a snapshotter returns, the way containerd's clients do
 * (mount.All): each struct ucd_mount is given to mount(2) in order, at the
 * same target. Options that are mount flags (ro, rw, bind, rbind, nosuid, ...)
 * become flags; the rest are joined with commas into the data string. A
 * read-only bind is remounted to apply `ro` (a first bind ignores it);
 * propagation options (private, rslave, ...) are applied by a call of their
 * own. An overlay option string longer than a page, which the kernel refuses,
 * is shortened as containerd does: lowerdir paths are made relative to their
 * common directory, which a child process chdirs into before mounting. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/types.h>

/* Mounts all of m at target. On failure returns -1 and writes why (naming the
 * mount and errno) into why; whatever was already mounted at target is
 * unmounted again. */
int mnt_all(const struct ucd_mounts *m, const char *target, char *why, size_t cap);
/* Unmounts everything stacked at target (0 when nothing was mounted). */
int mnt_unmount(const char *target);
/* Unmounts every mount point at or below dir, deepest first (from
 * /proc/self/mountinfo), so a directory can be removed safely. Returns how
 * many were unmounted, -1 if mountinfo cannot be read. */
int mnt_unmount_under(const char *dir);
/* Whether this process may mount at all (root is not enough in a container
 * without CAP_SYS_ADMIN): bind-mounts dir on itself and undoes it. */
bool mnt_possible(const char *dir);
/* "overlay overlay [index=off,lowerdir=...]" for messages; malloc'd. */
char *mnt_describe(const struct ucd_mount *m);
