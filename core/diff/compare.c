/* Comparing two directory trees (see compare.h). Both trees are read
 * through directory fds and never followed through a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "diff/compare.h"
#include "util/error.h"
#include "util/mem.h"

struct walker {
	change_fn fn;
	void *arg;
	diff_cancelled_fn cancelled;
	void *cancel_arg;
};

struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in directory fd (fd stays open). */
static int list_dir(int fd, const char *rel, struct names *out, struct ucd_error **err)
{
	*out = (struct names){0};
	if (fd < 0)
		return 0;
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (d == NULL) {
		int e = errno;
		if (dup_fd >= 0)
			close(dup_fd);
		return error_set(err, UCD_UNKNOWN, e, "read directory /%s: %s", rel, strerror(e));
	}
	size_t cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->v = xrealloc(out->v, cap * sizeof *out->v);
		}
		out->v[out->n++] = xstrdup(de->d_name);
	}
	int e = errno;
	closedir(d);
	if (e != 0) {
		names_free(out);
		return error_set(err, UCD_UNKNOWN, e, "read directory /%s: %s", rel, strerror(e));
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, cmp_name);
	return 0;
}

static ssize_t get_cap(int dir, const char *name, char *buf, size_t cap)
{
	char path[64 + NAME_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dir, name);
	ssize_t n = lgetxattr(path, "security.capability", buf, cap);
	if (n < 0 && (errno == ENODATA || errno == ENOTSUP))
		return 0;
	return n;
}

static int same_content(int ldir, int udir, const char *name, bool *same)
{
	autoclose int a = openat(ldir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	autoclose int b = openat(udir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (a < 0 || b < 0)
		return -errno;
	static const size_t chunk = 64 * 1024;
	autofree char *ba = xmalloc(chunk);
	autofree char *bb = xmalloc(chunk);
	for (;;) {
		ssize_t na = read(a, ba, chunk), nb = read(b, bb, chunk);
		if (na < 0 || nb < 0)
			return -errno;
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			*same = false;
			return 0;
		}
		if (na == 0) {
			*same = true;
			return 0;
		}
	}
}

/* continuity's sameFile: same inode; else type+mode, owner and device
 * number, file capabilities, and for non-directories size and mtime, and
 * the content (or symlink target) when both mtimes look truncated to whole
 * seconds. */
static int same_file(int ldir, int udir, const char *name, const struct stat *l, const struct stat *u, bool *same)
{
	*same = false;
	if (l->st_dev == u->st_dev && l->st_ino == u->st_ino) {
		*same = true;
		return 0;
	}
	if (l->st_mode != u->st_mode || l->st_uid != u->st_uid || l->st_gid != u->st_gid || l->st_rdev != u->st_rdev)
		return 0;
	char ca[256], cb[256];
	ssize_t na = get_cap(ldir, name, ca, sizeof ca), nb = get_cap(udir, name, cb, sizeof cb);
	if (na < 0 || nb < 0)
		return -errno;
	if (na != nb || memcmp(ca, cb, (size_t)na) != 0)
		return 0;
	if (S_ISDIR(l->st_mode)) {
		*same = true;
		return 0;
	}
	if (l->st_size != u->st_size || l->st_mtim.tv_sec != u->st_mtim.tv_sec)
		return 0;
	if (l->st_mtim.tv_nsec == 0 && u->st_mtim.tv_nsec == 0) {
		if (S_ISLNK(l->st_mode)) {
			char ta[PATH_MAX], tb[PATH_MAX];
			ssize_t la = readlinkat(ldir, name, ta, sizeof ta), lb = readlinkat(udir, name, tb, sizeof tb);
			if (la < 0 || lb < 0)
				return -errno;
			*same = la == lb && memcmp(ta, tb, (size_t)la) == 0;
			return 0;
		}
		if (l->st_size == 0 || !S_ISREG(l->st_mode)) {
			*same = true;
			return 0;
		}
		return same_content(ldir, udir, name, same);
	}
	*same = l->st_mtim.tv_nsec == u->st_mtim.tv_nsec;
	return 0;
}

static int walk(struct walker *w, int lower, int upper, const char *rel, struct ucd_error **err);

static int emit(struct walker *w, enum change_kind kind, const char *path, const struct stat *st, struct ucd_error **err)
{
	struct change c = {.kind = kind, .path = path, .st = st};
	return w->fn(w->arg, &c, err);
}

static int descend(struct walker *w, int lower, int upper, const char *name, const char *path, bool with_lower,
		   struct ucd_error **err)
{
	int l = -1;
	if (with_lower && (l = openat(lower, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return error_set(err, UCD_UNKNOWN, errno, "open lower /%s: %s", path, strerror(errno));
	int u = openat(upper, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u < 0) {
		int e = errno;
		if (l >= 0)
			close(l);
		return error_set(err, UCD_UNKNOWN, e, "open upper /%s: %s", path, strerror(e));
	}
	int rc = walk(w, l, u, path, err);
	if (l >= 0)
		close(l);
	close(u);
	return rc;
}

static int walk(struct walker *w, int lower, int upper, const char *rel, struct ucd_error **err)
{
	if (w->cancelled != NULL && w->cancelled(w->cancel_arg))
		return error_set(err, UCD_CANCELLED, 0, "context canceled");
	struct names ln, un;
	if (list_dir(lower, rel, &ln, err) < 0)
		return -1;
	if (list_dir(upper, rel, &un, err) < 0) {
		names_free(&ln);
		return -1;
	}
	int rc = 0;
	size_t i = 0, j = 0;
	while (rc == 0 && (i < ln.n || j < un.n)) {
		int c = i >= ln.n ? 1 : j >= un.n ? -1 : strcmp(ln.v[i], un.v[j]);
		const char *name = c < 0 ? ln.v[i] : un.v[j];
		autofree char *path = rel[0] ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		if (c < 0) {   /* only below: deleted, and its contents with it */
			rc = emit(w, CHANGE_DELETE, path, NULL, err);
			i++;
			continue;
		}
		struct stat us, ls;
		if (fstatat(upper, name, &us, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = error_set(err, UCD_UNKNOWN, errno, "stat /%s: %s", path, strerror(errno));
			break;
		}
		if (c > 0) {   /* only above: added, with everything under it */
			j++;
			rc = emit(w, CHANGE_ADD, path, &us, err);
			if (rc == 0 && S_ISDIR(us.st_mode))
				rc = descend(w, lower, upper, name, path, false, err);
			continue;
		}
		i++;
		j++;
		if (fstatat(lower, name, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = error_set(err, UCD_UNKNOWN, errno, "stat lower /%s: %s", path, strerror(errno));
			break;
		}
		bool same;
		int r = same_file(lower, upper, name, &ls, &us, &same);
		if (r < 0) {
			rc = error_set(err, UCD_UNKNOWN, -r, "compare /%s: %s", path, strerror(-r));
			break;
		}
		if (!same)
			rc = emit(w, CHANGE_MODIFY, path, &us, err);
		else if (!S_ISDIR(us.st_mode) && us.st_nlink > 1)
			rc = emit(w, CHANGE_UNMODIFIED, path, &us, err);
		if (rc == 0 && S_ISDIR(us.st_mode))
			rc = descend(w, lower, upper, name, path, S_ISDIR(ls.st_mode), err);
	}
	names_free(&ln);
	names_free(&un);
	return rc;
}

int compare_trees(int lower, int upper, change_fn fn, void *arg, diff_cancelled_fn cancelled, void *cancel_arg,
		  struct ucd_error **err)
{
	struct walker w = {.fn = fn, .arg = arg, .cancelled = cancelled, .cancel_arg = cancel_arg};
	return walk(&w, lower, upper, "", err);
}
