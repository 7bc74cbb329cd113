/* Path handling confined to a root directory (see rootfs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "diff/diff.h"
#include "diff/rootfs.h"
#include "util/mem.h"

int rootfs_clean(const char *name, char *out)
{
	bool rooted = name[0] == '/';
	size_t len = 0;      /* bytes in out */
	size_t climbs = 0;   /* leading ".." components kept in out */
	const char *p = name;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p != '\0' && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			size_t kept = climbs > 0 ? climbs * 3 - 1 : 0;   /* length of "../.." prefix */
			if (len > kept) {                                /* drop the last real component */
				while (len > 0 && out[len - 1] != '/')
					len--;
				if (len > 0)
					len--;
				continue;
			}
			if (rooted)                                      /* ".." of "/" is "/" */
				continue;
			if (len > 0)
				out[len++] = '/';
			out[len++] = '.';
			out[len++] = '.';
			climbs++;
			continue;
		}
		if (len > 0)
			out[len++] = '/';
		memcpy(out + len, start, n);
		len += n;
	}
	out[len] = '\0';
	if (climbs > 0)
		return -1;
	if (len == 0) {
		strcpy(out, ".");
		return 1;
	}
	return 0;
}

void rootfs_split(char *path, const char **parent, const char **base)
{
	char *slash = strrchr(path, '/');
	if (slash == NULL) {
		*parent = "";
		*base = path;
		return;
	}
	*slash = '\0';
	*parent = path;
	*base = slash + 1;
}

static int open_in_root(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	for (int attempt = 0;; attempt++) {
		long fd = syscall(SYS_openat2, rootfd, rel[0] != '\0' ? rel : ".", &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a concurrent rename made the kernel unsure the walk
		 * stayed inside; asking again is what openat2(2) advises. */
		if (errno != EAGAIN || attempt >= 16)
			return -errno;
	}
}

int rootfs_open_dir(int rootfd, const char *rel)
{
	return open_in_root(rootfd, rel, O_RDONLY | O_DIRECTORY);
}

/* Attributes for a parent directory created on the way: from the first
 * lower layer that has the same directory, else containerd's 0755. */
static int init_created_dir(int fd, const char *rel, const int *parent_fds, size_t n_parents)
{
	for (size_t i = 0; i < n_parents; i++) {
		int lower = rootfs_open_dir(parent_fds[i], rel);
		if (lower == -ENOENT)
			continue;
		if (lower == -ENOTDIR)   /* replaced by a file there: keep defaults */
			break;
		if (lower < 0)
			return lower;
		int rc = rootfs_copy_dir_info(lower, fd);
		close(lower);
		return rc;
	}
	return fchmod(fd, 0755) < 0 ? -errno : 0;
}

int rootfs_make_dir(int rootfd, const char *rel, const int *parent_fds, size_t n_parents)
{
	int fd = rootfs_open_dir(rootfd, rel);
	if (fd != -ENOENT)
		return fd;

	/* Walk down from the root: open what exists (inside the root), create
	 * the first missing component and everything below it. */
	autofree char *path = xstrdup(rel);
	int dir = -1;
	bool creating = false;
	for (char *p = path;;) {
		char *slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		const char *comp = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		int next = creating ? -ENOENT : rootfs_open_dir(rootfd, path);
		if (next == -ENOENT) {
			int at = dir >= 0 ? dir : rootfd;
			if (mkdirat(at, comp, 0755) < 0) {
				/* It exists although the lookup found nothing: a
				 * symlink pointing nowhere. Not followed. */
				int e = errno == EEXIST ? ENOENT : errno;
				if (dir >= 0)
					close(dir);
				return -e;
			}
			creating = true;
			next = openat(at, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0)
				next = -errno;
			else {
				int rc = init_created_dir(next, path, parent_fds, n_parents);
				if (rc < 0) {
					close(next);
					next = rc;
				}
			}
		}
		if (dir >= 0)
			close(dir);
		if (next < 0)
			return next;
		dir = next;
		if (slash == NULL)
			return dir;
		*slash = '/';
		p = slash + 1;
	}
}

static int remove_at(int dirfd, const char *name, int depth);

static int empty_dir(int fd, int depth)
{
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = 0;
	/* Removing while reading may make readdir skip names: go round until a
	 * pass finds nothing left. */
	for (bool again = true; again && rc == 0;) {
		again = false;
		rewinddir(d);
		struct dirent *de;
		while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			rc = remove_at(dirfd(d), de->d_name, depth);
			again = true;
		}
		if (rc == 0 && errno != 0)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

/* depth: how many directories above `name` this removal has entered. */
static int remove_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth >= DIFF_MAX_DEPTH)
		return -ELOOP;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno == ELOOP ? -ENOTDIR : -errno;
	int rc = empty_dir(fd, depth + 1);
	if (rc < 0)
		return rc;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rootfs_remove_all(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

int rootfs_copy_dir_info(int src, int dst)
{
	struct stat st;
	if (fstat(src, &st) < 0 || fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
		return -errno;

	/* Sized by asking first: the kernel holds up to 64 KiB of names and
	 * 64 KiB per value, and a fixed buffer lost or refused what a layer
	 * below could legitimately carry. A list that grew in between is
	 * asked for again. */
	autofree char *names = NULL;
	ssize_t len;
	for (;;) {
		len = flistxattr(src, NULL, 0);
		if (len <= 0)
			break;
		free(names);
		names = xmalloc((size_t)len);
		if ((len = flistxattr(src, names, (size_t)len)) >= 0 || errno != ERANGE)
			break;
	}
	if (len < 0 && errno != ENOTSUP)
		return -errno;
	autofree char *value = NULL;
	for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
		const char *key = names + off;
		if (strncmp(key, "trusted.", 8) == 0)   /* overlay's own state: never copied up */
			continue;
		ssize_t vlen;
		for (;;) {
			vlen = fgetxattr(src, key, NULL, 0);
			if (vlen < 0)
				break;
			free(value);
			value = xmalloc((size_t)vlen + 1);
			if ((vlen = fgetxattr(src, key, value, (size_t)vlen)) >= 0 || errno != ERANGE)
				break;
		}
		if (vlen < 0) {
			if (errno == ENODATA || errno == ENOTSUP)
				continue;
			return -errno;
		}
		if (fsetxattr(dst, key, value, (size_t)vlen, 0) < 0 && errno != ENOTSUP)
			return -errno;
	}

	struct timespec times[2] = {st.st_atim, st.st_mtim};
	return futimens(dst, times) < 0 ? -errno : 0;
}
