/* Path handling confined to a root directory: what keeps a layer from
 * writing outside its snapshot. Every lookup goes through openat2 with
 * RESOLVE_IN_ROOT, so `..` and absolute symlinks met on the way are resolved
 * as if the root were `/` (containerd's fs.RootPath, done by the kernel);
 * the last component of a name is never followed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Cleans a tar entry name lexically, as Go's filepath.Clean then made
 * relative to the root: "a//b/./c/" -> "a/b/c", "/etc/x" -> "etc/x",
 * "/../x" -> "x". Returns 1 and "." for the root itself, -1 for a relative
 * name that climbs above the root ("../x", "a/../../x"), 0 otherwise.
 * `out` has room for strlen(name) + 2 bytes. */
int rootfs_clean(const char *name, char *out);

/* Splits a cleaned relative path in place into its parent ("" for the root)
 * and last component. */
void rootfs_split(char *path, const char **parent, const char **base);

/* Opens directory `rel` (cleaned, "" = the root) under rootfd, resolving
 * symlinks inside the root. Returns the fd or -errno: -ENOENT when a
 * component is missing, -ENOTDIR when one is not a directory. */
int rootfs_open_dir(int rootfd, const char *rel);

/* Like rootfs_open_dir, but creates missing directories (mode 0755, or the
 * attributes of the same directory in the first of `parents` that has it,
 * containerd's mkparent). A component that is a dangling symlink is -ENOENT. */
int rootfs_make_dir(int rootfd, const char *rel, const int *parent_fds, size_t n_parents);

/* Removes `name` in dirfd and, if it is a directory, everything under it,
 * never following a symlink. A missing name is not an error. Returns 0 or
 * -errno; -ELOOP means the tree is deeper than DIFF_MAX_DEPTH (it is left
 * partly removed). */
int rootfs_remove_all(int dirfd, const char *name);

/* Copies owner, mode, times and the xattrs other than trusted.* of the
 * directory `src` onto `dst` (both open fds). Returns 0 or -errno. */
int rootfs_copy_dir_info(int src, int dst);
