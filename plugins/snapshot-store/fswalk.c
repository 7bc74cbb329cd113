/* Walks over snapshot trees: deleting one, measuring its disk use. Both go
 * through directory file descriptors (openat/fstatat/unlinkat), never follow
 * symlinks and never descend into another filesystem mounted inside. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snst.h"

/* ---- removal ---- */

struct rm_ctx {
	int topfd;                  /* where subtrees deeper than SNST_MAX_DEPTH are moved to */
	dev_t dev;
	const volatile bool *stop;
	int err;                    /* first errno */
	char (*deferred)[40];       /* names moved to topfd, still to delete */
	size_t n_deferred, cap_deferred;
};

static void fail(struct rm_ctx *c, int e)
{
	if (c->err == 0)
		c->err = e;
}

static void defer(struct rm_ctx *c, int dirfd, const char *name)
{
	static atomic_ulong seq;
	char tmp[40];
	snprintf(tmp, sizeof tmp, ".deep-%d-%lu", (int)getpid(), (unsigned long)atomic_fetch_add(&seq, 1));
	if (renameat(dirfd, name, c->topfd, tmp) != 0) {
		fail(c, errno);
		return;
	}
	if (c->n_deferred == c->cap_deferred) {
		size_t cap = c->cap_deferred ? c->cap_deferred * 2 : 8;
		char(*v)[40] = realloc(c->deferred, cap * sizeof *v);
		if (v == NULL) {
			fail(c, ENOMEM);
			return;
		}
		c->deferred = v;
		c->cap_deferred = cap;
	}
	memcpy(c->deferred[c->n_deferred++], tmp, sizeof tmp);
}

static void rm_at(struct rm_ctx *c, int dirfd, const char *name, int depth)
{
	if (c->stop != NULL && *c->stop) {
		fail(c, ECANCELED);
		return;
	}
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (errno != EISDIR && errno != EPERM) {
		fail(c, errno);
		return;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			fail(c, errno);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_dev != c->dev) {
		/* something is mounted here: never delete another filesystem's files */
		fail(c, EBUSY);
		close(fd);
		return;
	}
	if (depth >= SNST_MAX_DEPTH) {
		close(fd);
		defer(c, dirfd, name);
		return;
	}
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		fail(c, errno);
		close(fd);
		return;
	}
	/* Entries removed while reading may make readdir skip others on some
	 * filesystems: read again until the directory can go. */
	for (int pass = 0; pass < 4; pass++) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			rm_at(c, fd, e->d_name, depth + 1);
			if (c->err == ECANCELED)
				break;
		}
		if (c->err == ECANCELED || unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			closedir(d);
			return;
		}
		if (errno != ENOTEMPTY && errno != EEXIST)
			break;
		rewinddir(d);
	}
	fail(c, errno);
	closedir(d);
}

int snst_remove_tree(int dirfd, const char *name, const volatile bool *stop)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	struct rm_ctx c = {.topfd = dirfd, .dev = st.st_dev, .stop = stop};
	rm_at(&c, dirfd, name, 0);
	for (size_t i = 0; i < c.n_deferred && c.err != ECANCELED; i++)
		rm_at(&c, dirfd, c.deferred[i], 0);
	free(c.deferred);
	return -c.err;
}

int snst_remove_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return snst_remove_tree(AT_FDCWD, path, NULL);
	char dir[4096];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof dir)
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n ? n : 1] = '\0';
	if (n == 0)
		dir[0] = '/';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	int r = snst_remove_tree(dfd, slash + 1, NULL);
	close(dfd);
	return r;
}

/* ---- disk usage ---- */

struct inode_set {
	struct {
		dev_t dev;
		ino_t ino;
	} *v;
	size_t n, cap;   /* open addressing; cap a power of two; ino 0 = empty */
};

struct du_ctx {
	const struct ucd_host *h;
	struct inode_set seen;
	dev_t dev;
	int64_t size, inodes;
	int err;
	const char *path;
};

/* True when (dev, ino) was not in the set yet. */
static bool inode_add(const struct ucd_host *h, struct inode_set *s, dev_t dev, ino_t ino)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		__typeof__(s->v) v = h->alloc(cap * sizeof *v);
		memset(v, 0, cap * sizeof *v);
		for (size_t i = 0; i < s->cap; i++) {
			if (s->v[i].ino == 0)
				continue;
			size_t j = (size_t)(s->v[i].ino * 0x9e3779b97f4a7c15ull) & (cap - 1);
			while (v[j].ino != 0)
				j = (j + 1) & (cap - 1);
			v[j] = s->v[i];
		}
		h->free(s->v);
		s->v = v;
		s->cap = cap;
	}
	size_t j = (size_t)(ino * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
	while (s->v[j].ino != 0) {
		if (s->v[j].ino == ino && s->v[j].dev == dev)
			return false;
		j = (j + 1) & (s->cap - 1);
	}
	s->v[j].dev = dev;
	s->v[j].ino = ino;
	s->n++;
	return true;
}

static void count(struct du_ctx *c, const struct stat *st)
{
	/* Only an inode with several names can be met twice (directories
	 * cannot be hard-linked). */
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && st->st_ino != 0 &&
	    !inode_add(c->h, &c->seen, st->st_dev, st->st_ino))
		return;
	c->inodes++;
	c->size += (int64_t)st->st_blocks * 512;
}

static void du_dir(struct du_ctx *c, int fd, int depth)
{
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		c->err = errno;
		close(fd);
		return;
	}
	struct dirent *e;
	while (c->err == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)   /* removed while we walk: not ours to count */
				c->err = errno;
			continue;
		}
		count(c, &st);
		if (!S_ISDIR(st.st_mode) || st.st_dev != c->dev)
			continue;
		if (depth + 1 >= SNST_MAX_DEPTH) {
			c->err = ELOOP;
			break;
		}
		int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno != ENOENT)
				c->err = errno;
			continue;
		}
		du_dir(c, sub, depth + 1);
	}
	closedir(d);
}

int snst_disk_usage(const struct ucd_host *h, const char *path, int64_t *size, int64_t *inodes,
		    struct ucd_error **err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return snst_errno(h, err, errno, "disk usage of `%s`", path);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return snst_errno(h, err, e, "disk usage of `%s`", path);
	}
	struct du_ctx c = {.h = h, .dev = st.st_dev, .path = path};
	count(&c, &st);
	du_dir(&c, fd, 0);
	h->free(c.seen.v);
	if (c.err == ELOOP)
		return h->error_new(err, UCD_FAILED_PRECONDITION, ELOOP,
				    "disk usage of `%s`: the tree is deeper than %d directories", path, SNST_MAX_DEPTH);
	if (c.err != 0)
		return snst_errno(h, err, c.err, "disk usage of `%s`", path);
	*size = c.size;
	*inodes = c.inodes;
	return 0;
}
