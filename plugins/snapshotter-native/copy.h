/* Copies a directory tree for the native snapshotter (copy.c). */
#pragma once
#include "snst.h"

/* Copies the contents and the attributes of directory `src` into the
 * existing, empty directory `dst`: regular files (cloned with FICLONE when
 * the filesystem can, else copied extent by extent so holes stay holes),
 * directories, symlinks, device nodes, fifos and sockets, with owners,
 * modes, times and extended attributes (security.capability included);
 * hard links within the tree stay hard links. `dst` itself gets `src`'s
 * owner, mode, times and xattrs. Never follows symlinks, never crosses
 * into another filesystem mounted inside `src`. Extended attributes the
 * destination refuses are skipped (logged at debug), like containerd. */
int native_copy_tree(const struct ucd_host *h, const struct ucd_init_ctx *ic, const char *src, const char *dst,
		     struct ucd_error **err);
