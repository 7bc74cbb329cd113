#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/mem.h"

int fs_mkdir_p(const char *path, mode_t mode, struct ucd_error **err)
{
	autofree char *p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != 0)
			continue;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return error_set(err, UCD_INTERNAL, errno, "create directory `%s`: %s", p, strerror(errno));
		*s = c;
		if (c == 0)
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(err, UCD_INTERNAL, ENOTDIR, "`%s` is not a directory", path);
	return 0;
}

int fs_mkdir_parent(const char *path, mode_t mode, struct ucd_error **err)
{
	autofree char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = 0;
	return fs_mkdir_p(dir, mode, err);
}

ssize_t fs_read_small(const char *path, char *buf, size_t cap)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool durable,
		    struct ucd_error **err)
{
	autofree char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	autoclose int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return error_set(err, UCD_INTERNAL, errno, "create `%s`: %s", tmp, strerror(errno));
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			unlink(tmp);
			return error_set(err, UCD_INTERNAL, e, "write `%s`: %s", tmp, strerror(e));
		}
		p += w;
		len -= (size_t)w;
	}
	if ((durable && fsync(fd) < 0) || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return error_set(err, UCD_INTERNAL, e, "write `%s`: %s", path, strerror(e));
	}
	return 0;
}
