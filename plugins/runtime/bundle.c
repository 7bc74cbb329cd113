/* Task bundles: <state>/<namespace>/<id>/, as containerd's runtime v2
 * lays them out. The manager writes config.json (the OCI spec) and records
 * which shim runs the task (shim-binary-path); the shim writes `address`,
 * mounts `rootfs` and keeps its own files there.
 *
 * Who may look inside (containerd 1.5.7+ after CVE-2021-41103): the
 * plugin's root and state directories and the namespace directories are
 * 0711, traversable but not listable; a bundle is 0700 and its files 0600.
 * A bundle holds the container's environment (config.json) and its mounted
 * rootfs, with the image's setuid binaries and device nodes: another local
 * user who could reach them could run the first as root and open the
 * second. The rootfs mount itself keeps suid and dev (the container's root
 * is a bind of it and inherits its flags, see docs/runtime.md): the
 * directory modes are the protection. When user namespaces come, a bundle
 * whose spec maps container root to a host gid becomes 0710 with that
 * group, so that the remapped root can enter it (as containerd does).
 *
 * Directories that exist already are checked as the daemon checks its
 * own (host->dir_ensure, docs/config.md "Directories the daemon trusts"):
 * they and the way to them must be root's; more permissive modes, e.g.
 * the 0711 bundles of older versions, are brought down. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime.h"

static int dir_ensure(struct runtime *rt, const char *path, mode_t mode, struct ucd_error **err)
{
	return rt->host->dir_ensure(rt->host, path, mode, NULL, err);
}

/* A new file of the bundle, 0600. The bundle was just made 0700 by us:
 * nothing can be in the way, so an existing name is an error. */
static int write_file(struct runtime *rt, const char *path, const void *data, size_t len, struct ucd_error **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rt->host->error_new(err, UCD_INTERNAL, errno, "create `%s`: %s", path, strerror(errno));
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			int e = errno;
			close(fd);
			return rt->host->error_new(err, UCD_INTERNAL, e, "write `%s`: %s", path, strerror(e));
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return 0;
}

int bundle_write(struct runtime *rt, const char *bundle, const char *name, const char *value,
		 struct ucd_error **err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", bundle, name);
	return write_file(rt, path, value, strlen(value), err);
}

char *bundle_read(const char *bundle, const char *name)
{
	char path[4096], buf[4096];
	snprintf(path, sizeof path, "%s/%s", bundle, name);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	return strdup(buf);
}

int bundle_create(struct runtime *rt, struct rt_task *t, const uint8_t *spec, size_t spec_len,
		  struct ucd_error **err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", rt->state, t->ns);
	if (dir_ensure(rt, rt->state, 0711, err) < 0 || dir_ensure(rt, path, 0711, err) < 0)
		return -1;
	if (mkdir(t->bundle, 0700) < 0) {
		if (errno != EEXIST)
			return rt->host->error_new(err, UCD_INTERNAL, errno, "mkdir `%s`: %s", t->bundle,
						   strerror(errno));
		/* Left by a create that crashed half-way: no shim owns it
		 * (the manager knows every live task), so start afresh. */
		bundle_remove(rt, t->bundle);
		if (mkdir(t->bundle, 0700) < 0)
			return rt->host->error_new(err, UCD_INTERNAL, errno, "mkdir `%s`: %s", t->bundle,
						   strerror(errno));
	}
	/* the umask may have left less; never more */
	if (dir_ensure(rt, t->bundle, 0700, err) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/config.json", t->bundle);
	if (write_file(rt, path, spec, spec_len, err) < 0)
		return -1;
	return bundle_write(rt, t->bundle, "shim-binary-path", t->shim, err);
}

int bundle_secure(struct runtime *rt, const char *bundle, struct ucd_error **err)
{
	if (dir_ensure(rt, bundle, 0700, err) < 0)
		return -1;
	int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return RT_ERR(rt, err, UCD_INTERNAL, "open `%s`: %s", bundle, strerror(errno));
	}
	/* the bundle's own files (not the rootfs below it): regular files and
	 * the log FIFO, opened without following a symlink or waiting */
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_REG && e->d_type != DT_FIFO && e->d_type != DT_UNKNOWN)
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		struct stat st;
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) && (st.st_mode & 07177) != 0)
			fchmod(fd, st.st_mode & 0600);
		close(fd);
	}
	closedir(d);
	return 0;
}

/* A bundle is shallow (rootfs, a few files): deeper is not ours. */
#define BUNDLE_MAX_DEPTH 8

/* Removes a tree without ever crossing into another mount: a rootfs still
 * mounted (a shim that could not unmount it) is left alone rather than
 * emptied, also when it is a bind mount from the same filesystem (same
 * st_dev: the kernel's mount-root attribute tells it). */
static void remove_tree(int dirfd, const char *name, dev_t dev, int depth)
{
	struct statx stx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) < 0 ||
	    makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev ||
	    (stx.stx_attributes_mask & stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0)
		return;
	if (S_ISDIR(stx.stx_mode)) {
		int fd = depth < BUNDLE_MAX_DEPTH ? openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
						  : -1;
		if (fd >= 0) {
			DIR *d = fdopendir(fd);
			if (d != NULL) {
				struct dirent *e;
				while ((e = readdir(d)) != NULL)
					if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
						remove_tree(fd, e->d_name, dev, depth + 1);
				closedir(d);
			} else {
				close(fd);
			}
		}
		unlinkat(dirfd, name, AT_REMOVEDIR);
	} else {
		unlinkat(dirfd, name, 0);
	}
}

void bundle_remove(struct runtime *rt, const char *bundle)
{
	struct stat st;
	if (lstat(bundle, &st) < 0)
		return;
	remove_tree(AT_FDCWD, bundle, st.st_dev, 0);
	if (access(bundle, F_OK) == 0)
		rt->host->log(rt->ic, UCD_LOG_WARN, "bundle `%s` not fully removed (a mount left inside?)", bundle);
}
