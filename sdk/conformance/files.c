#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "util/buf.h"
#include "util/mem.h"

static char *join(const char *dir, const char *rel)
{
	return xasprintf("%s/%s", dir, rel);
}

int files_write(const char *dir, const char *rel, const void *data, size_t len)
{
	autofree char *p = join(dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const char *c = data;
	while (len > 0) {
		ssize_t w = write(fd, c, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		c += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return -1;
	return 0;
}

int files_read(const char *dir, const char *rel, char **out)
{
	autofree char *p = join(dir, rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct buf b = {0};
	for (;;) {
		uint8_t *dst = buf_reserve(&b, 4096);
		ssize_t r = read(fd, dst, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			buf_free(&b);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
	}
	close(fd);
	buf_append(&b, "", 1);
	*out = (char *)b.data;
	return 0;
}

int files_mkdir(const char *dir, const char *rel)
{
	autofree char *p = join(dir, rel);
	return mkdir(p, 0755);
}

int files_unlink(const char *dir, const char *rel)
{
	autofree char *p = join(dir, rel);
	return unlink(p);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

int files_remove_tree(const char *dir)
{
	if (nftw(dir, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
		return -1;
	return access(dir, F_OK) == 0 ? -1 : 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *files_list(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, by_name);
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		buf_append(&b, names[i], strlen(names[i]));
		free(names[i]);
	}
	free(names);
	buf_append(&b, "", 1);
	return (char *)b.data;
}
