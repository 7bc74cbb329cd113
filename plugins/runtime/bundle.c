/* Task bundles: <state>/<namespace>/<id>/, as containerd's runtime v2
 * lays them out. The manager writes config.json (the OCI spec) and records
 * which shim runs the task (shim-binary-path); the shim writes `address`,
 * mounts `rootfs` and keeps its own files there. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

static int mkdir_one(struct runtime *rt, const char *path, mode_t mode, struct ucd_error **err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return rt->host->error_new(err, UCD_INTERNAL, errno, "mkdir `%s`: %s", path, strerror(errno));
	return 0;
}

static int write_file(struct runtime *rt, const char *path, const void *data, size_t len, struct ucd_error **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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
	if (mkdir_one(rt, rt->state, 0711, err) < 0 || mkdir_one(rt, path, 0711, err) < 0)
		return -1;
	if (mkdir(t->bundle, 0711) < 0) {
		if (errno != EEXIST)
			return rt->host->error_new(err, UCD_INTERNAL, errno, "mkdir `%s`: %s", t->bundle,
						   strerror(errno));
		/* Left by a create that crashed half-way: no shim owns it
		 * (the manager knows every live task), so start afresh. */
		bundle_remove(rt, t->bundle);
		if (mkdir(t->bundle, 0711) < 0)
			return rt->host->error_new(err, UCD_INTERNAL, errno, "mkdir `%s`: %s", t->bundle,
						   strerror(errno));
	}
	snprintf(path, sizeof path, "%s/config.json", t->bundle);
	if (write_file(rt, path, spec, spec_len, err) < 0)
		return -1;
	return bundle_write(rt, t->bundle, "shim-binary-path", t->shim, err);
}

/* Removes a tree without ever crossing into another filesystem: a rootfs
 * still mounted (a shim that could not unmount it) is left alone rather
 * than emptied. */
static void remove_tree(int dirfd, const char *name, dev_t dev)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
		return;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			DIR *d = fdopendir(fd);
			if (d != NULL) {
				struct dirent *e;
				while ((e = readdir(d)) != NULL)
					if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
						remove_tree(fd, e->d_name, dev);
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
	remove_tree(AT_FDCWD, bundle, st.st_dev);
	if (access(bundle, F_OK) == 0)
		rt->host->log(rt->ic, UCD_LOG_WARN, "bundle `%s` not fully removed (a mount left inside?)", bundle);
}
