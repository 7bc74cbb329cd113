/* The tree copy of the native snapshotter (copy.h). Works on directory
 * file descriptors (openat, fstatat, mkdirat, ...) all the way down.
 *
 * Attributes are applied in this order, for each entry: owner (chown
 * clears set-id bits and security.capability), mode, extended
 * attributes, then times (everything before changes them); a directory's
 * after its contents. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "copy.h"

/* Tests that link copy.c define this to watch and steer a copy at its
 * critical moments: "chmod" right before a mode is set through a name,
 * "open" right before a source file is opened, "probe" for each slot the
 * hard-link table visits. Left undefined (NULL) in the plugin. */
void native_copy_test_hook(const char *what, int dirfd, const char *name) __attribute__((weak, visibility("hidden")));

static void hook(const char *what, int dirfd, const char *name)
{
	if (native_copy_test_hook != NULL)
		native_copy_test_hook(what, dirfd, name);
}

/* The first copied name of each hard-linked inode, by (device, inode):
 * open addressing over a mix of the pair with a key drawn per copy, so a
 * tree with a million hard links costs a million lookups of a few slots,
 * whichever inodes its author chose to link. */
struct link_entry {
	dev_t dev;
	ino_t ino;
	char *path;   /* relative to the destination root; NULL: empty slot */
};

struct link_table {
	struct link_entry *v;
	size_t cap, n;   /* cap: a power of two, or 0 */
	uint64_t key;
};

struct copy_ctx {
	const struct ucd_host *h;
	const struct ucd_init_ctx *ic;
	int dst_root;           /* fd of the destination root */
	dev_t dev;              /* the source's filesystem */
	struct link_table links;
	char path[4096];        /* relative path of the current entry, for messages and links */
	size_t path_len;
	char *buf;              /* for read/write fallback and xattrs */
	size_t buf_size;
	int err;                /* errno of the first failure */
	char *failed;           /* its relative path */
	const char *what;       /* and what was done */
};

static void fail(struct copy_ctx *c, int e, const char *what)
{
	if (c->err != 0)
		return;
	c->err = e;
	c->what = what;
	c->failed = snst_strdup(c->h, c->path_len ? c->path : ".");
}

/* Pushes "/name" onto c->path; false when too long. */
static bool path_push(struct copy_ctx *c, const char *name, size_t *saved)
{
	*saved = c->path_len;
	size_t n = strlen(name);
	if (c->path_len + 1 + n + 1 > sizeof c->path)
		return false;
	if (c->path_len)
		c->path[c->path_len++] = '/';
	memcpy(c->path + c->path_len, name, n + 1);
	c->path_len += n;
	return true;
}

static void path_pop(struct copy_ctx *c, size_t saved)
{
	c->path_len = saved;
	c->path[saved] = '\0';
}

static size_t link_slot(const struct link_table *t, dev_t dev, ino_t ino)
{
	/* splitmix64's finalizer over the keyed pair */
	uint64_t x = ((uint64_t)ino ^ t->key) + (uint64_t)dev * 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	size_t i = (size_t)x & (t->cap - 1);
	while (t->v[i].path != NULL && !(t->v[i].dev == dev && t->v[i].ino == ino)) {
		hook("probe", -1, NULL);
		i = (i + 1) & (t->cap - 1);
	}
	hook("probe", -1, NULL);
	return i;
}

static const char *link_source(struct copy_ctx *c, const struct stat *st)
{
	if (c->links.cap == 0)
		return NULL;
	return c->links.v[link_slot(&c->links, st->st_dev, st->st_ino)].path;
}

static void link_remember(struct copy_ctx *c, const struct stat *st)
{
	struct link_table *t = &c->links;
	if ((t->n + 1) * 4 > t->cap * 3) {
		struct link_table bigger = {.cap = t->cap ? t->cap * 2 : 64, .n = t->n, .key = t->key};
		if (t->cap == 0 && getrandom(&bigger.key, sizeof bigger.key, 0) != (ssize_t)sizeof bigger.key)
			bigger.key = (uint64_t)(uintptr_t)&bigger ^ (uint64_t)snst_now();
		bigger.v = c->h->alloc(bigger.cap * sizeof *bigger.v);
		memset(bigger.v, 0, bigger.cap * sizeof *bigger.v);
		for (size_t i = 0; i < t->cap; i++)
			if (t->v[i].path != NULL)
				bigger.v[link_slot(&bigger, t->v[i].dev, t->v[i].ino)] = t->v[i];
		c->h->free(t->v);
		*t = bigger;
	}
	struct link_entry *e = &t->v[link_slot(t, st->st_dev, st->st_ino)];
	if (e->path == NULL)
		t->n++;
	c->h->free(e->path);
	*e = (struct link_entry){st->st_dev, st->st_ino, snst_strdup(c->h, c->path)};
}

/* "/proc/self/fd/<dirfd>/<name>": the xattr calls have no *at form. */
static void fd_path(char *buf, size_t n, int dirfd, const char *name)
{
	snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, name);
}

static bool grow_buf(struct copy_ctx *c, size_t n)
{
	if (n <= c->buf_size)
		return true;
	c->h->free(c->buf);
	c->buf = c->h->alloc(n);
	c->buf_size = n;
	return true;
}

/* Copies every xattr. Through fds where we have them (sfd/dfd >= 0),
 * through paths (never following symlinks) otherwise. */
static void copy_xattrs(struct copy_ctx *c, int sfd, const char *spath, int dfd, const char *dpath)
{
	ssize_t n = sfd >= 0 ? flistxattr(sfd, NULL, 0) : llistxattr(spath, NULL, 0);
	if (n <= 0) {
		if (n < 0 && errno != ENOTSUP && errno != ENODATA)
			fail(c, errno, "list xattrs of");
		return;
	}
	char *names = c->h->alloc((size_t)n + 1);
	n = sfd >= 0 ? flistxattr(sfd, names, (size_t)n) : llistxattr(spath, names, (size_t)n);
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *name = names + off;
		ssize_t vn = sfd >= 0 ? fgetxattr(sfd, name, NULL, 0) : lgetxattr(spath, name, NULL, 0);
		if (vn < 0)
			continue;
		grow_buf(c, (size_t)vn + 1);
		vn = sfd >= 0 ? fgetxattr(sfd, name, c->buf, (size_t)vn) : lgetxattr(spath, name, c->buf, (size_t)vn);
		if (vn < 0)
			continue;
		int r = dfd >= 0 ? fsetxattr(dfd, name, c->buf, (size_t)vn, 0)
				 : lsetxattr(dpath, name, c->buf, (size_t)vn, 0);
		if (r != 0)
			c->h->log(c->ic, UCD_LOG_DEBUG, "failed to copy xattr `%s` of `%s`: %s", name,
				  c->path_len ? c->path : ".", strerror(errno));
	}
	c->h->free(names);
}

/* Owner, mode, xattrs, times of an entry already created. */
static void copy_attrs(struct copy_ctx *c, const struct stat *st, int sdir, int ddir, const char *name, int sfd,
		       int dfd)
{
	bool lnk = S_ISLNK(st->st_mode);
	if (dfd >= 0 ? fchown(dfd, st->st_uid, st->st_gid) : fchownat(ddir, name, st->st_uid, st->st_gid,
								       AT_SYMLINK_NOFOLLOW))
		fail(c, errno, "chown");
	if (!lnk && dfd < 0)
		hook("chmod", ddir, name);
	/* By name, never through a symlink the name may have become: glibc's
	 * AT_SYMLINK_NOFOLLOW pins it with O_PATH and refuses a symlink. */
	if (!lnk && (dfd >= 0 ? fchmod(dfd, st->st_mode & 07777)
			      : fchmodat(ddir, name, st->st_mode & 07777, AT_SYMLINK_NOFOLLOW)))
		fail(c, errno, "chmod");
	char sp[64 + 256], dp[64 + 256];
	fd_path(sp, sizeof sp, sdir, name);
	fd_path(dp, sizeof dp, ddir, name);
	copy_xattrs(c, sfd, sp, dfd, dp);
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (dfd >= 0 ? futimens(dfd, ts) : utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW))
		fail(c, errno, "set times of");
}

/* Copies the bytes of a regular file, keeping holes. */
static int copy_data(struct copy_ctx *c, int in, int out, off_t size)
{
	if (size == 0 || ioctl(out, FICLONE, in) == 0)
		return 0;
	off_t pos = 0;
	bool sparse = true;
	while (pos < size) {
		off_t data = sparse ? lseek(in, pos, SEEK_DATA) : pos;
		if (data < 0) {
			if (errno == ENXIO)
				break;   /* only a hole is left */
			sparse = false;   /* the filesystem cannot tell: copy everything */
			continue;
		}
		off_t end = sparse ? lseek(in, data, SEEK_HOLE) : size;
		if (end < 0)
			end = size;
		off_t o_in = data, o_out = data;
		while (o_in < end) {
			ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t)(end - o_in), 0);
			if (n > 0)
				continue;
			if (n == 0)
				break;   /* the file shrank */
			if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
				return -errno;
			/* no in-kernel copy here: read and write */
			grow_buf(c, 1 << 20);
			ssize_t rd = pread(in, c->buf, (size_t)(end - o_in) < c->buf_size ? (size_t)(end - o_in) : c->buf_size,
					   o_in);
			if (rd < 0)
				return -errno;
			if (rd == 0)
				break;
			for (ssize_t w = 0; w < rd;) {
				ssize_t k = pwrite(out, c->buf + w, (size_t)(rd - w), o_out + w);
				if (k < 0)
					return -errno;
				w += k;
			}
			o_in += rd;
			o_out += rd;
		}
		pos = end;
	}
	return ftruncate(out, size) == 0 ? 0 : -errno;
}

static void copy_dir(struct copy_ctx *c, int sdir, int ddir, int depth);

/* Opens the source file `name` for reading if it is still the regular
 * file `st` describes: pinned with O_PATH first, so that a name that has
 * become a fifo or a device is never opened (a fifo would block, a
 * device's driver would run). Returns the fd, or -1 after fail(). */
static int open_regular(struct copy_ctx *c, int sdir, const char *name, const struct stat *st)
{
	hook("open", sdir, name);
	int pin = openat(sdir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat now;
	if (pin < 0 || fstat(pin, &now) != 0) {
		fail(c, errno, "open");
		if (pin >= 0)
			close(pin);
		return -1;
	}
	if (!S_ISREG(now.st_mode) || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		fail(c, ESTALE, "open");
		close(pin);
		return -1;
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pin);
	int in = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
	if (in < 0 && errno == EPERM)   /* O_NOATIME needs ownership */
		in = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0)
		fail(c, errno, "open");
	close(pin);
	return in;
}

static void copy_entry(struct copy_ctx *c, int sdir, int ddir, const char *name, int depth)
{
	struct stat st;
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)
			fail(c, errno, "stat");
		return;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		const char *first = link_source(c, &st);
		if (first != NULL) {
			if (linkat(c->dst_root, first, ddir, name, 0) != 0)
				fail(c, errno, "hard link");
			return;
		}
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		if (st.st_dev != c->dev)
			return;   /* a mount point inside the parent: not part of it */
		if (depth + 1 >= SNST_MAX_DEPTH) {
			fail(c, ELOOP, "copy (tree too deep)");
			return;
		}
		if (mkdirat(ddir, name, 0700) != 0) {
			fail(c, errno, "mkdir");
			return;
		}
		int s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0) {
			fail(c, errno, "open");
		} else {
			copy_dir(c, s, d, depth + 1);
			copy_attrs(c, &st, sdir, ddir, name, s, d);
		}
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
		return;
	}
	case S_IFREG: {
		int in = open_regular(c, sdir, name, &st);
		if (in < 0)
			return;
		int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0) {
			fail(c, errno, "create");
			close(in);
			return;
		}
		int r = copy_data(c, in, out, st.st_size);
		if (r < 0)
			fail(c, -r, "copy");
		else
			copy_attrs(c, &st, sdir, ddir, name, in, out);
		close(in);
		close(out);
		break;
	}
	case S_IFLNK: {
		char target[4097];
		ssize_t n = readlinkat(sdir, name, target, sizeof target - 1);
		if (n < 0) {
			fail(c, errno, "readlink");
			return;
		}
		target[n] = '\0';
		if (symlinkat(target, ddir, name) != 0) {
			fail(c, errno, "symlink");
			return;
		}
		copy_attrs(c, &st, sdir, ddir, name, -1, -1);
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (mknodat(ddir, name, st.st_mode, st.st_rdev) != 0) {
			fail(c, errno, "mknod");
			return;
		}
		copy_attrs(c, &st, sdir, ddir, name, -1, -1);
		break;
	default:
		c->h->log(c->ic, UCD_LOG_WARN, "copy: `%s` has an unknown file type 0%o: skipped", c->path,
			  st.st_mode & S_IFMT);
		return;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
		link_remember(c, &st);
}

static void copy_dir(struct copy_ctx *c, int sdir, int ddir, int depth)
{
	int fd = openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		fail(c, errno, "read directory");
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while (c->err == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		size_t saved;
		if (!path_push(c, e->d_name, &saved)) {
			fail(c, ENAMETOOLONG, "copy");
			break;
		}
		copy_entry(c, sdir, ddir, e->d_name, depth);
		path_pop(c, saved);
	}
	closedir(d);
}

int native_copy_tree(const struct ucd_host *h, const struct ucd_init_ctx *ic, const char *src, const char *dst,
		     struct ucd_error **err)
{
	struct copy_ctx c = {.h = h, .ic = ic, .dst_root = -1};
	int s = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return snst_errno(h, err, errno, "copying of parent failed: cannot open `%s`", src);
	c.dst_root = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c.dst_root < 0) {
		int e = errno;
		close(s);
		return snst_errno(h, err, e, "copying of parent failed: cannot open `%s`", dst);
	}
	struct stat st;
	if (fstat(s, &st) != 0) {
		fail(&c, errno, "stat");
	} else {
		c.dev = st.st_dev;
		copy_dir(&c, s, c.dst_root, 0);
		if (c.err == 0) {
			/* the root's own attributes, through its fds */
			if (fchown(c.dst_root, st.st_uid, st.st_gid) != 0)
				fail(&c, errno, "chown");
			if (fchmod(c.dst_root, st.st_mode & 07777) != 0)
				fail(&c, errno, "chmod");
			copy_xattrs(&c, s, NULL, c.dst_root, NULL);
			struct timespec ts[2] = {st.st_atim, st.st_mtim};
			if (futimens(c.dst_root, ts) != 0)
				fail(&c, errno, "set times of");
		}
	}
	close(s);
	close(c.dst_root);
	for (size_t i = 0; i < c.links.cap; i++)
		h->free(c.links.v[i].path);
	h->free(c.links.v);
	h->free(c.buf);
	int r = 0;
	if (c.err != 0) {
		if (c.err == ELOOP)
			r = h->error_new(err, UCD_FAILED_PRECONDITION, ELOOP,
					 "copying of parent failed: `%s/%s` is deeper than %d directories", src, c.failed,
					 SNST_MAX_DEPTH);
		else if (c.err == ESTALE)
			r = h->error_new(err, UCD_ABORTED, ESTALE,
					 "copying of parent failed: `%s/%s` changed during the copy (it is not the file "
					 "that was listed)", src, c.failed);
		else
			r = snst_errno(h, err, c.err, "copying of parent failed: %s `%s/%s`", c.what, src, c.failed);
	}
	h->free(c.failed);
	return r;
}
