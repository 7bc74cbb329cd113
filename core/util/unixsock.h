/* Listening unix sockets that appear at their path already listening, with
 * their final mode and owner.
 *
 * bind(2) creates the socket file with 0777 & ~umask, and Linux keeps the
 * file's mode and owner apart from the socket's own inode: fchmod and fchown
 * on the socket fd succeed but leave the file as it was (tests/unit/util
 * shows it), so a socket cannot be opened up or handed over through its fd.
 * Changing the umask around bind is no answer in a process with threads
 * (it is process-wide: a pool thread creating a file meanwhile gets the
 * wrong mode), and chmod/chown by path after bind leave a moment in which
 * the socket is at its path with other permissions. So the socket is bound
 * in a fresh directory of mode 0700 next to its path, given its mode and
 * owner there, set listening, and renamed into place: a client that can
 * see the path sees the final socket. */
#pragma once
#include <sys/types.h>
#include <ucontainerd/error.h>

/* Binds, chmods `mode`, chowns to uid/gid (-1 leaves either as created),
 * listens with `backlog` and renames the socket to `path`, replacing a
 * socket file already there (the caller decides first whether that one is
 * stale); anything else at `path` is refused with FAILED_PRECONDITION.
 * Returns the listening fd (close-on-exec, non-blocking) or -1. */
int unixsock_listen(const char *path, mode_t mode, int uid, int gid, int backlog, struct ucd_error **err);
