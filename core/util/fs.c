/* Filesystem helpers for start-up work, and the one place that decides
 * whether a directory or file on the host may be trusted (docs/config.md,
 * "Directories the daemon trusts").
 *
 * The daemon runs as root and keeps in its directories what an
 * unprivileged user must not read (bundles, layers, the metadata) or
 * change (plugins it will run). Creating them with a tight mode is not
 * enough when they exist already: a directory made by someone else, left
 * group- or world-writable, or reached through a symlink another user can
 * replace, gives that user the daemon's files. So every directory on the
 * way from / is checked as sshd checks the path to a key file (StrictModes),
 * with one allowance: a sticky world-writable directory (/tmp) is fine on
 * the way, since only an entry's owner may rename or remove it there, and
 * the next component is checked to be root's.
 *
 * The walk resolves symlinks itself (readlink) instead of letting the
 * kernel do it, so that each link can be checked too: the kernel's
 * protected_symlinks does not apply to readlink, and a link in a sticky
 * directory owned by another user is exactly the trap to refuse. */
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* Symlinks followed in one walk, as the kernel's own limit (ELOOP). */
#define MAX_LINKS 40

static bool trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* " (on the way to `what`)" when the offending path is not the one asked
 * for: which of the two an operator must look at. */
static char *way(const char *what, const char *path)
{
	return strcmp(what, path) == 0 ? xstrdup("") : xasprintf(" (on the way to `%s`)", what);
}

static int owner_error(const char *what, const struct stat *st, const char *path, struct ucd_error **err)
{
	autofree char *w = way(what, path);
	return error_set(err, UCD_FAILED_PRECONDITION, 0,
			 "`%s`%s is owned by uid %u, not by root: refusing to trust it (another user could change "
			 "what is in it); chown it to root if it is the daemon's, after checking its content",
			 path, w, (unsigned)st->st_uid);
}

static int writable_error(const char *what, const struct stat *st, const char *path, struct ucd_error **err)
{
	autofree char *w = way(what, path);
	bool others = (st->st_mode & S_IWOTH) != 0;
	return error_set(err, UCD_FAILED_PRECONDITION, 0,
			 "`%s`%s is writable by %s (mode %04o): refusing to trust it (%s could %s); `chmod go-w` it",
			 path, w, others ? "others" : "its group", (unsigned)(st->st_mode & 07777),
			 others ? "any user" : "a member of its group",
			 S_ISDIR(st->st_mode) ? "replace what is in it" : "change it");
}

/* A directory on the way to what is checked: root's (or ours), and only
 * its owner may change its entries. */
static int check_on_the_way(const char *what, const char *path, const struct stat *st, struct ucd_error **err)
{
	if (!trusted_uid(st->st_uid))
		return owner_error(what, st, path, err);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st->st_mode & S_ISVTX) == 0)
		return writable_error(what, st, path, err);
	return 0;
}

static int sys_error(const char *what, const char *verb, const char *path, struct ucd_error **err)
{
	int e = errno;
	int code = e == EACCES || e == EPERM || e == EROFS ? UCD_PERMISSION_DENIED
		   : e == ENOSPC || e == EDQUOT		   ? UCD_RESOURCE_EXHAUSTED
							   : UCD_INTERNAL;
	autofree char *w = way(what, path);
	return error_set(err, code, e, "cannot %s `%s`%s: %s", verb, path, w, strerror(e));
}

/* Joins `dir` (absolute, no trailing slash but "/") and `name`. */
static char *join(const char *dir, const char *name)
{
	return xasprintf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

struct walk {
	const char *what;     /* for messages: the path as asked */
	bool create;          /* mkdir what is missing */
	mode_t mode;          /* for what it creates */
	char *created;        /* the topmost directory it created, or NULL */
	char *done;           /* the resolved path so far: a checked directory */
};

/* Resolves `path` component by component from /, checking each directory
 * on the way and each symlink, creating missing directories when asked.
 * On success w->done is the resolved path of the last component and *st
 * its lstat (a directory or a file; not checked here: the caller's
 * policy). */
static int walk(struct walk *w, const char *path, struct stat *st, struct ucd_error **err)
{
	autofree char *todo = NULL;
	if (path[0] == '/') {
		todo = xstrdup(path);
	} else {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof cwd) == NULL)
			return sys_error(w->what, "resolve", path, err);
		todo = xasprintf("%s/%s", cwd, path);
	}
	w->done = xstrdup("/");
	if (lstat("/", st) < 0)
		return sys_error(w->what, "inspect", "/", err);
	int links = 0;
	char *rest = todo;
	for (;;) {
		while (*rest == '/')
			rest++;
		if (*rest == '\0')
			return 0;
		char *slash = strchr(rest, '/');
		autofree char *name = slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
		rest = slash ? slash : rest + strlen(rest);
		/* w->done is checked before anything below it is used */
		if (check_on_the_way(w->what, w->done, st, err) < 0)
			return -UCD_FAILED_PRECONDITION;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			/* done has no symlink in it: its parent is its dirname */
			char *last = strrchr(w->done, '/');
			if (last == w->done)
				last[1] = '\0';
			else
				*last = '\0';
			if (lstat(w->done, st) < 0)
				return sys_error(w->what, "inspect", w->done, err);
			continue;
		}
		autofree char *next = join(w->done, name);
		if (lstat(next, st) < 0) {
			if (errno != ENOENT || !w->create)
				return sys_error(w->what, "inspect", next, err);
			/* ours from here on: created in a directory only root can
			 * write, with exactly `mode` whatever the umask */
			bool made = mkdir(next, w->mode) == 0;
			if (!made && errno != EEXIST)
				return sys_error(w->what, "create", next, err);
			if (lstat(next, st) < 0)
				return sys_error(w->what, "inspect", next, err);
			/* one somebody else made meanwhile is checked like any */
			if (made && (st->st_mode & 07777) != w->mode) {
				if (chmod(next, w->mode) < 0 || lstat(next, st) < 0)
					return sys_error(w->what, "set the mode of", next, err);
			}
			if (made && w->created == NULL)
				w->created = xstrdup(next);
		}
		if (S_ISLNK(st->st_mode)) {
			if (!trusted_uid(st->st_uid))
				return owner_error(w->what, st, next, err);
			if (++links > MAX_LINKS) {
				errno = ELOOP;
				return sys_error(w->what, "resolve", path, err);
			}
			char target[PATH_MAX];
			ssize_t n = readlink(next, target, sizeof target - 1);
			if (n >= (ssize_t)sizeof target - 1)
				errno = ENAMETOOLONG;
			if (n < 0 || n >= (ssize_t)sizeof target - 1)
				return sys_error(w->what, "read the symlink", next, err);
			target[n] = '\0';
			char *nt = xasprintf("%s%s", target, rest);
			free(todo);
			todo = nt;
			rest = todo;
			if (target[0] == '/') {
				free(w->done);
				w->done = xstrdup("/");
				if (lstat("/", st) < 0)
					return sys_error(w->what, "inspect", "/", err);
			} else if (lstat(w->done, st) < 0) {
				return sys_error(w->what, "inspect", w->done, err);
			}
			continue;
		}
		free(w->done);
		w->done = steal(next);
		if (!S_ISDIR(st->st_mode)) {
			while (*rest == '/')
				rest++;
			if (*rest != '\0') {
				errno = ENOTDIR;
				return sys_error(w->what, "resolve", w->done, err);
			}
			return 0;
		}
	}
}

int fs_dir_ensure(const char *path, mode_t mode, enum fs_dir_kind kind, char **created, struct ucd_error **err)
{
	if (created != NULL)
		*created = NULL;
	struct walk w = {.what = path, .create = true, .mode = mode & 07777};
	struct stat st = {0};
	int r = walk(&w, path, &st, err);
	if (r == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		r = sys_error(path, "use", w.done, err);
	}
	if (r == 0 && !trusted_uid(st.st_uid))
		r = owner_error(path, &st, w.done, err);
	if (r == 0 && kind == FS_DIR_SHARED && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)
		r = writable_error(path, &st, w.done, err);
	mode_t have = st.st_mode & 07777;
	if (r == 0 && kind == FS_DIR_OWN && (have & ~w.mode) != 0) {
		/* containerd narrows its root and state at every start too, so
		 * that a directory made by an older release (or by hand) loses
		 * what it must not give away; never widened */
		mode_t narrow = have & w.mode;
		if (chmod(w.done, narrow) < 0)
			r = sys_error(path, "narrow the mode of", w.done, err);
		else
			log_warn("`%s` had mode %04o, more than the %04o the daemon gives it: narrowed to %04o", w.done,
				 (unsigned)have, (unsigned)w.mode, (unsigned)narrow);
	}
	if (r == 0 && created != NULL)
		*created = steal(w.created);
	free(w.created);
	free(w.done);
	return r;
}

int fs_open_trusted(const char *path, struct ucd_error **err)
{
	struct walk w = {.what = path};
	struct stat st;
	int r = walk(&w, path, &st, err);
	autofree char *resolved = w.done;
	if (r < 0)
		return r;
	/* the file's own directory: where a file is replaced, no sticky bit
	 * makes it safe enough to run code from */
	autofree char *dir = xstrdup(resolved);
	char *slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	struct stat dst;
	if (lstat(dir, &dst) < 0)
		return sys_error(path, "inspect", dir, err);
	if ((dst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return writable_error(path, &dst, dir, err);
	/* What is checked is what the caller gets: the fd. Only root can
	 * change the names on the (checked) way to it, so a later open by
	 * name finds the same file. */
	int fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return sys_error(path, "open", resolved, err);
	if (fstat(fd, &st) < 0) {
		r = sys_error(path, "inspect", resolved, err);
	} else if (!S_ISREG(st.st_mode)) {
		r = error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s` is not a regular file", resolved);
	} else if (!trusted_uid(st.st_uid)) {
		r = owner_error(path, &st, resolved, err);
	} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		r = writable_error(path, &st, resolved, err);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int fs_mkdir_p(const char *path, mode_t mode, struct ucd_error **err)
{
	return fs_dir_ensure(path, mode, FS_DIR_OWN, NULL, err);
}

int fs_mkdir_parent(const char *path, mode_t mode, struct ucd_error **err)
{
	autofree char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = 0;
	return fs_dir_ensure(dir, mode, FS_DIR_SHARED, NULL, err);
}

void fs_file_narrow(const char *path, mode_t mode)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777 & ~mode) == 0)
		return;
	mode_t narrow = st.st_mode & 07777 & mode;
	if (chmod(path, narrow) < 0)
		log_warn("cannot narrow the mode of `%s` (%04o): %s", path, (unsigned)(st.st_mode & 07777), strerror(errno));
	else
		log_warn("`%s` had mode %04o, more than the %04o the daemon gives it: narrowed to %04o", path,
			 (unsigned)(st.st_mode & 07777), (unsigned)mode, (unsigned)narrow);
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
