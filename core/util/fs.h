/* Small filesystem helpers for start-up work (not for the loop's hot path),
 * and the checks that decide whether the daemon may trust a directory or a
 * file on the host (fs.c explains them; docs/config.md states the policy). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <ucontainerd/error.h>

/* What fs_dir_ensure does with the directory itself when it exists. */
enum fs_dir_kind {
	/* The daemon's own (root, state, a plugin's directory): its mode is
	 * narrowed to at most `mode` (bits are only taken away, with a
	 * warning), as containerd does with its root and state at start. */
	FS_DIR_OWN,
	/* Possibly shared with the system (a socket's directory, e.g. /run):
	 * left as it is, refused when group- or world-writable without the
	 * sticky bit. */
	FS_DIR_SHARED,
};

/* mkdir -p of `path` that the daemon may then trust: missing directories
 * are made with exactly `mode`; every directory and symlink on the way
 * from / must be owned by root (or the daemon's user), and a directory on
 * the way must not be writable by group or others unless it is sticky
 * (/tmp); the directory itself must be owned by root (or the daemon's
 * user), then `kind` applies. Symlinks are followed (an operator may move
 * a root elsewhere with one) once checked. A refusal is
 * UCD_FAILED_PRECONDITION naming the offending path and what to do.
 * *created (may be NULL) gets the topmost directory made (malloc'ed; NULL
 * when none was). */
int fs_dir_ensure(const char *path, mode_t mode, enum fs_dir_kind kind, char **created, struct ucd_error **err);
/* fs_dir_ensure(path, mode, FS_DIR_OWN, NULL, err). */
int fs_mkdir_p(const char *path, mode_t mode, struct ucd_error **err);
/* The directory `path` is in (nothing for a name without one, or directly
 * under /), as FS_DIR_SHARED: where a socket is to be bound. */
int fs_mkdir_parent(const char *path, mode_t mode, struct ucd_error **err);
/* Opens a file the daemon is about to run code from (a plugin, a helper
 * library) after checking it as sshd checks a key file: the way to it as
 * fs_dir_ensure checks it (nothing is created), its own directory not
 * writable by group or others (sticky or not), the file regular, owned by
 * root (or the daemon's user) and not writable by group or others. The
 * checks are made on the returned fd (O_RDONLY, O_CLOEXEC); since only
 * root can change the names on the checked way, opening the same path again
 * (dlopen) finds the same file. Returns the fd, or -code with *err. */
int fs_open_trusted(const char *path, struct ucd_error **err);
/* Takes group and other bits away from an existing file the daemon owns
 * (a database made by an older release, or by sqlite with 0644), with a
 * warning; nothing when it is missing or already tight. */
void fs_file_narrow(const char *path, mode_t mode);
/* Reads up to cap bytes; returns the count, or -1 (errno set). */
ssize_t fs_read_small(const char *path, char *buf, size_t cap);
/* Writes via a temporary file + rename: readers see old or new, whole. With
 * `durable`, the file is fsync'ed before the rename so it also survives a
 * power cut; without, a power cut may leave the old file or an empty one. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable,
		    struct ucd_error **err);
