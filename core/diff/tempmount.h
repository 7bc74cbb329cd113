/* Mounting a snapshot's mounts on a temporary directory, as containerd's
 * mount.WithTempMount: the Diff service's way to reach a tree it cannot
 * write to directly. Blocking; worker threads only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/error.h>

/* One mount as the gRPC message carries it (strings borrowed). */
struct tempmount_spec {
	const char *type;
	const char *source;
	char *const *options;
	size_t n_options;
};

/* Creates a directory under `parent` (created if needed) and mounts every
 * spec on it in order (mount(8)'s options: flags such as ro, nosuid, bind,
 * rbind; the rest is the filesystem's data). Every mount is nosuid and
 * nodev; with `readonly`, read-only too. No specs: an empty directory. On
 * success *dir (malloc'd)
 * is the mount point; on failure nothing stays mounted or created. */
int tempmount_mount(const char *parent, const struct tempmount_spec *specs, size_t n, bool readonly, char **dir,
		    struct ucd_error **err);
/* Unmounts everything on `dir` and removes it; frees dir. */
int tempmount_unmount(char *dir, size_t n, struct ucd_error **err);
