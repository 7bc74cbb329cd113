/* See unixsock.h. */
#include "util/unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

#define SOCK_NAME "s"

/* Where bind(2) is told to put the socket inside the private directory:
 * its path when that fits in sun_path, else the same directory through
 * /proc/self/fd (a socket path may be up to 107 bytes, and the private
 * directory's name is longer than the socket's last component can be). */
static bool bind_address(struct sockaddr_un *sa, const char *dir, int dirfd)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/" SOCK_NAME, dir);
	if (n > 0 && (size_t)n < sizeof sa->sun_path)
		return true;
	n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/" SOCK_NAME, dirfd);
	return n > 0 && (size_t)n < sizeof sa->sun_path;
}

int unixsock_listen(const char *path, mode_t mode, int uid, int gid, int backlog, struct ucd_error **err)
{
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s` exists and is not a socket: refusing to replace it",
				 path), -1;
	const char *slash = strrchr(path, '/');
	autofree char *parent = slash == NULL ? xstrdup(".") : slash == path ? xstrdup("/")
										 : xstrndup(path, (size_t)(slash - path));
	autofree char *dir = xasprintf("%s/.%s.XXXXXX", strcmp(parent, "/") == 0 ? "" : parent,
				       slash ? slash + 1 : path);
	if (mkdtemp(dir) == NULL)   /* mode 0700: nobody else can reach what is inside */
		return error_set(err, UCD_INTERNAL, errno, "create a private directory next to `%s`: %s", path,
				 strerror(errno)), -1;
	autofree char *inner = xasprintf("%s/" SOCK_NAME, dir);
	int fd = -1, e = 0;
	const char *what = NULL;
	autoclose int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct sockaddr_un sa;
	if (dirfd < 0) {
		e = errno, what = "open the private directory";
	} else if (!bind_address(&sa, dir, dirfd)) {
		e = ENAMETOOLONG, what = "name the socket in the private directory";
	} else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		e = errno, what = "socket";
	} else if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		e = errno, what = "bind";
	} else if (fchmodat(dirfd, SOCK_NAME, mode, 0) < 0) {
		e = errno, what = "chmod";
	} else if ((uid >= 0 || gid >= 0) && fchownat(dirfd, SOCK_NAME, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0) {
		e = errno, what = "chown";
	} else if (listen(fd, backlog) < 0) {
		e = errno, what = "listen";
	} else if (rename(inner, path) < 0) {
		e = errno, what = "move into place";
	}
	if (what != NULL) {
		if (fd >= 0)
			close(fd);
		fd = -1;
		unlink(inner);
	}
	rmdir(dir);
	if (what != NULL)
		return error_set(err, UCD_INTERNAL, e, "socket `%s`: %s: %s", path, what, strerror(e)), -1;
	return fd;
}
