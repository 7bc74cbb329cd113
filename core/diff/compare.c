/* Comparing two directory trees (see compare.h). The walk is a loop over
 * an explicit stack of open directories, not a recursion: its depth is
 * bounded by DIFF_MAX_DEPTH with an error, and a deep tree costs heap, not
 * the worker thread's stack. */
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

struct names {
	char **v;
	size_t n;
};

/* One directory being walked: the same directory on both sides. */
struct frame {
	int lower, upper;       /* lower -1: nothing below; the root frame's fds are the caller's */
	struct names ln, un;
	size_t i, j;            /* the next names of ln and un */
	size_t path_len;        /* length of this directory's path in walker.path */
};

struct walker {
	change_fn fn;
	void *arg;
	diff_cancelled_fn cancelled;
	void *cancel_arg;
	struct frame *stack;
	size_t depth, cap;
	char *path;             /* the current entry's path */
	size_t path_cap;
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	*ns = (struct names){0};
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

int compare_pin(int dir, const char *name, const struct stat *seen)
{
	/* O_PATH: no open of the inode itself, so a fifo cannot block and a
	 * device's driver is never called; O_NOFOLLOW: a symlink is pinned as
	 * itself. */
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (st.st_dev != seen->st_dev || st.st_ino != seen->st_ino ||
	    (st.st_mode & S_IFMT) != (seen->st_mode & S_IFMT)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int compare_open_pinned(int pin)
{
	/* Reopening through the descriptor's /proc link opens that very
	 * inode, whatever its name denotes by now. */
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pin);
	int fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int compare_pin_error(const char *path, int neg_errno, struct ucd_error **err)
{
	int e = -neg_errno;
	if (e == ESTALE || e == ENOENT || e == ELOOP || e == ENOTDIR)
		return error_set(err, UCD_ABORTED, e,
				 "/%s changed during the diff (it is not what the walk found); "
				 "a container that writes its root file system while it is diffed should be paused",
				 path);
	return error_set(err, UCD_UNKNOWN, e, "open /%s: %s", path, strerror(e));
}

/* The security.capability xattr of `name` in dir; 0 when it has none.
 * The path is the directory's /proc link (the directory the walk holds,
 * not a lookup by name) and the name, not followed: it cannot lead out of
 * the tree. The bytes are only compared; what the diff writes comes from
 * the pinned inode (diff_write.c). */
static ssize_t get_cap(int dir, const char *name, char *buf, size_t cap)
{
	char path[64 + NAME_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dir, name);
	ssize_t n = lgetxattr(path, "security.capability", buf, cap);
	if (n < 0 && (errno == ENODATA || errno == ENOTSUP))
		return 0;
	return n;
}

static int same_content(int ldir, int udir, const char *name, const struct stat *l, const struct stat *u, bool *same)
{
	autoclose int lpin = compare_pin(ldir, name, l);
	if (lpin < 0)
		return lpin;
	autoclose int upin = compare_pin(udir, name, u);
	if (upin < 0)
		return upin;
	autoclose int a = compare_open_pinned(lpin);
	autoclose int b = compare_open_pinned(upin);
	if (a < 0 || b < 0)
		return a < 0 ? a : b;
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
			/* Both targets fit: a symlink's target is shorter than
			 * PATH_MAX, and a longer read only means it changed. */
			autofree char *ta = xmalloc(PATH_MAX), *tb = xmalloc(PATH_MAX);
			ssize_t la = readlinkat(ldir, name, ta, PATH_MAX), lb = readlinkat(udir, name, tb, PATH_MAX);
			if (la < 0 || lb < 0)
				return -errno;
			*same = la == lb && memcmp(ta, tb, (size_t)la) == 0;
			return 0;
		}
		if (l->st_size == 0 || !S_ISREG(l->st_mode)) {
			*same = true;
			return 0;
		}
		return same_content(ldir, udir, name, l, u, same);
	}
	*same = l->st_mtim.tv_nsec == u->st_mtim.tv_nsec;
	return 0;
}

static bool cancelled(struct walker *w)
{
	return w->cancelled != NULL && w->cancelled(w->cancel_arg);
}

static void frame_fini(struct walker *w, struct frame *f)
{
	if (f != &w->stack[0]) {   /* the root's fds are the caller's */
		if (f->lower >= 0)
			close(f->lower);
		if (f->upper >= 0)
			close(f->upper);
	}
	names_free(&f->ln);
	names_free(&f->un);
}

/* Sets w->path to the path of `name` in the top frame's directory. */
static void set_path(struct walker *w, const char *name)
{
	const struct frame *f = &w->stack[w->depth - 1];
	size_t n = strlen(name), need = f->path_len + 1 + n + 1;
	if (need > w->path_cap) {
		w->path_cap = need * 2;
		w->path = xrealloc(w->path, w->path_cap);
	}
	size_t at = f->path_len;
	if (at > 0)
		w->path[at++] = '/';
	memcpy(w->path + at, name, n + 1);
}

/* Enters directory `name` of the top frame (w->path is its path); `st` is
 * what the walk saw of its upper side. */
static int push(struct walker *w, const char *name, const struct stat *st, bool with_lower, struct ucd_error **err)
{
	if (w->depth >= DIFF_MAX_DEPTH)
		return error_set(err, UCD_FAILED_PRECONDITION, ELOOP,
				 "/%s: the tree is deeper than %d directories, the most a diff walks", w->path,
				 DIFF_MAX_DEPTH);
	const struct frame *top = &w->stack[w->depth - 1];
	int l = -1;
	if (with_lower && (l = openat(top->lower, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return error_set(err, UCD_UNKNOWN, errno, "open lower /%s: %s", w->path, strerror(errno));
	int u = openat(top->upper, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat ust;
	int e = u < 0 ? errno : fstat(u, &ust) < 0 ? errno : 0;
	if (e == 0 && (ust.st_dev != st->st_dev || ust.st_ino != st->st_ino))
		e = ESTALE;
	if (e != 0) {
		if (l >= 0)
			close(l);
		if (u >= 0)
			close(u);
		return compare_pin_error(w->path, -e, err);
	}
	if (w->depth == w->cap) {
		w->cap *= 2;
		w->stack = xrealloc(w->stack, w->cap * sizeof *w->stack);
	}
	struct frame *f = &w->stack[w->depth++];
	*f = (struct frame){.lower = l, .upper = u, .path_len = strlen(w->path)};
	if (cancelled(w))
		return error_set(err, UCD_CANCELLED, 0, "context canceled");
	if (list_dir(l, w->path, &f->ln, err) < 0 || list_dir(u, w->path, &f->un, err) < 0)
		return -1;
	return 0;
}

static int emit(struct walker *w, enum change_kind kind, const struct stat *st, const char *name,
		struct ucd_error **err)
{
	struct change c = {.kind = kind, .path = w->path, .st = st, .dir = w->stack[w->depth - 1].upper, .name = name};
	return w->fn(w->arg, &c, err);
}

/* The next entry of the top frame: emits its change and enters it when it
 * is a directory. */
static int step(struct walker *w, struct ucd_error **err)
{
	struct frame *f = &w->stack[w->depth - 1];
	int c = f->i >= f->ln.n ? 1 : f->j >= f->un.n ? -1 : strcmp(f->ln.v[f->i], f->un.v[f->j]);
	const char *name = c < 0 ? f->ln.v[f->i] : f->un.v[f->j];
	set_path(w, name);
	if (c < 0) {   /* only below: deleted, and its contents with it */
		f->i++;
		return emit(w, CHANGE_DELETE, NULL, name, err);
	}
	struct stat us, ls;
	if (fstatat(f->upper, name, &us, AT_SYMLINK_NOFOLLOW) < 0)
		return compare_pin_error(w->path, -errno, err);
	if (cancelled(w))
		return error_set(err, UCD_CANCELLED, 0, "context canceled");
	if (c > 0) {   /* only above: added, with everything under it */
		f->j++;
		if (emit(w, CHANGE_ADD, &us, name, err) < 0)
			return -1;
		return S_ISDIR(us.st_mode) ? push(w, name, &us, false, err) : 0;
	}
	f->i++;
	f->j++;
	if (fstatat(f->lower, name, &ls, AT_SYMLINK_NOFOLLOW) < 0)
		return error_set(err, UCD_UNKNOWN, errno, "stat lower /%s: %s", w->path, strerror(errno));
	bool same;
	int r = same_file(f->lower, f->upper, name, &ls, &us, &same);
	if (r == -ESTALE || r == -ENOENT)
		return compare_pin_error(w->path, r, err);
	if (r < 0)
		return error_set(err, UCD_UNKNOWN, -r, "compare /%s: %s", w->path, strerror(-r));
	if (!same)
		r = emit(w, CHANGE_MODIFY, &us, name, err);
	else if (!S_ISDIR(us.st_mode) && us.st_nlink > 1)
		r = emit(w, CHANGE_UNMODIFIED, &us, name, err);
	if (r < 0)
		return -1;
	return S_ISDIR(us.st_mode) ? push(w, name, &us, S_ISDIR(ls.st_mode), err) : 0;
}

int compare_trees(int lower, int upper, change_fn fn, void *arg, diff_cancelled_fn cancelled_fn, void *cancel_arg,
		  struct ucd_error **err)
{
	struct walker w = {.fn = fn, .arg = arg, .cancelled = cancelled_fn, .cancel_arg = cancel_arg, .cap = 16};
	w.stack = xcalloc(w.cap, sizeof *w.stack);
	w.path_cap = 256;
	w.path = xcalloc(1, w.path_cap);
	w.stack[0] = (struct frame){.lower = lower, .upper = upper};
	w.depth = 1;
	int rc = 0;
	if (cancelled(&w))
		rc = error_set(err, UCD_CANCELLED, 0, "context canceled");
	else if (list_dir(lower, "", &w.stack[0].ln, err) < 0 || list_dir(upper, "", &w.stack[0].un, err) < 0)
		rc = -1;
	while (rc == 0 && w.depth > 0) {
		struct frame *f = &w.stack[w.depth - 1];
		if (f->i >= f->ln.n && f->j >= f->un.n) {
			frame_fini(&w, f);
			w.depth--;
			continue;
		}
		rc = step(&w, err);
	}
	while (w.depth > 0)
		frame_fini(&w, &w.stack[--w.depth]);
	free(w.stack);
	free(w.path);
	return rc < 0 ? -1 : 0;
}
