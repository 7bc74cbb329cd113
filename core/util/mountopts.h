/* containerd's parseMountOptions: a mount's option strings split into the
 * flags mount(2) takes, the propagation change to apply after it, and the
 * rest joined with commas as data for the filesystem. Shared by the
 * daemon's temporary mounts (core/diff/tempmount.c) and the shim's rootfs
 * mounts (shim/mount.c); libc only. */
#pragma once
#include <stddef.h>

struct mount_opts {
	unsigned long flags;        /* MS_* ("ro", "nosuid", "rbind", ...); `clear` options remove one */
	unsigned long propagation;  /* MS_PRIVATE, MS_SHARED, ... | MS_REC; 0: none given */
	char *data;                 /* the rest, "a,b=c" ("" when none); free() it */
};

void mount_opts_parse(const char *const *options, size_t n, struct mount_opts *out);
