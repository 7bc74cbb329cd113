/* Applying a layer tar onto a directory: containerd's archive.Apply, with
 * every path operation confined to the root (rootfs.h) and each entry
 * written through file descriptors, so nothing is resolved twice. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "diff/diff.h"
#include "diff/layer_stream.h"
#include "diff/rootfs.h"
#include "util/strset.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/quote.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
/* A name longer than any path the kernel accepts cannot be created anyway;
 * refusing it early also bounds what we copy per entry. */
#define NAME_MAX_BYTES (PATH_MAX - 1)

struct dir_time {
	char *path;
	struct timespec times[2];
};

struct applier {
	int root;
	const struct diff_apply_opts *opts;
	int *parent_fds;            /* overlay lowerdirs, for created parents */
	size_t n_parents;
	struct archive *tar;
	struct layer_stream *stream;
	/* Plain mode: what this layer wrote, for opaque directories, as
	 * (directory's device:inode, name): the same whether the entry named
	 * its directory through a symlink or not. */
	struct strset unpacked;
	struct dir_time *dirs;      /* directory times, set at the end */
	size_t n_dirs, cap_dirs;
	/* The previous entry's parent directory: tar entries come grouped by
	 * directory, and an entry only ever changes children of its own
	 * parent, so the open fd stays right for the next entry with the
	 * same parent. */
	char *cached_parent;
	int cached_fd;
	char cached_key[48];        /* its "device:inode" */
	const char *name;           /* the entry being applied, as in the archive */
	struct diff_limits limits;  /* opts->limits with the defaults filled in */
	uint64_t entries, name_bytes, hole_bytes;   /* spent so far */
};

/* Tests that link this file define this to act at an apply's critical
 * moment: "chmod", right before a mode is set through a name (what a
 * process writing the same tree would race). Undefined (NULL) in
 * ucd-layers.so. */
void diff_apply_test_hook(const char *what, int dir, const char *name) __attribute__((weak, visibility("hidden")));

/* --- errors naming the entry ----------------------------------------------- */

static int entry_error(struct applier *ap, struct ucd_error **err, int code, int errno_, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int entry_error(struct applier *ap, struct ucd_error **err, int code, int errno_, const char *fmt, ...)
{
	char shown[256];
	snprintf(shown, sizeof shown, "%s", ap->name ? ap->name : "");
	if (ap->name != NULL && strlen(ap->name) >= sizeof shown)
		strcpy(shown + sizeof shown - 4, "...");
	autofree char *quoted = go_quote(shown);
	autofree char *what = NULL;
	va_list va;
	va_start(va, fmt);
	if (vasprintf(&what, fmt, va) < 0)
		oom();
	va_end(va);
	return error_set(err, code, errno_, "entry %s: %s", quoted, what);
}

static int os_error(struct applier *ap, struct ucd_error **err, int e, const char *op)
{
	return entry_error(ap, err, UCD_UNKNOWN, e, "%s: %s", op, strerror(e));
}

/* What rootfs_remove_all answered: -ELOOP is its depth limit. */
static int remove_error(struct applier *ap, struct ucd_error **err, int neg_errno, const char *op)
{
	if (neg_errno == -ELOOP)
		return entry_error(ap, err, UCD_FAILED_PRECONDITION, ELOOP,
				   "%s: the tree is deeper than %d directories, the most a layer apply removes", op,
				   DIFF_MAX_DEPTH);
	return os_error(ap, err, -neg_errno, op);
}

/* A ceiling of struct diff_limits reached: "the layer <what> more than
 * <limit><unit>". */
static int ceiling_error(struct applier *ap, struct ucd_error **err, const char *what, uint64_t limit, bool bytes,
			 const char *unit)
{
	char size[32];
	if (!bytes)
		snprintf(size, sizeof size, "%llu", (unsigned long long)limit);
	return entry_error(ap, err, UCD_RESOURCE_EXHAUSTED, EFBIG, "the layer %s more than %s%s", what,
			   bytes ? layer_stream_size_text(limit, size) : size, unit);
}

/* --- parents ----------------------------------------------------------------- */

/* "device:inode" of directory fd, the key of the names in it. */
static void dir_key(int fd, char key[48])
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		memset(&st, 0, sizeof st);   /* no name will match: opaque removes what it cannot place */
	snprintf(key, 48, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
}

static void drop_cache(struct applier *ap)
{
	if (ap->cached_fd >= 0)
		close(ap->cached_fd);
	ap->cached_fd = -1;
	free(ap->cached_parent);
	ap->cached_parent = NULL;
}

/* The entry's parent directory, created if missing (containerd's mkparent);
 * borrowed fd, valid until the next call. */
static int parent_dir(struct applier *ap, const char *parent, struct ucd_error **err)
{
	if (ap->cached_parent != NULL && strcmp(ap->cached_parent, parent) == 0)
		return ap->cached_fd;
	drop_cache(ap);
	int fd = rootfs_make_dir(ap->root, parent, ap->parent_fds, ap->n_parents);
	if (fd >= 0) {
		ap->cached_parent = xstrdup(parent);
		ap->cached_fd = fd;
		dir_key(fd, ap->cached_key);
		return fd;
	}
	autofree char *q = go_quote(parent);
	switch (-fd) {
	case ENOTDIR:
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, ENOTDIR, "parent %s is not a directory", q);
	case ENOENT:
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, ENOENT,
				   "parent %s is a symbolic link to nothing", q);
	case ELOOP:
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, ELOOP,
				   "parent %s: too many levels of symbolic links", q);
	default:
		return entry_error(ap, err, UCD_UNKNOWN, -fd, "parent %s: %s", q, strerror(-fd));
	}
}

/* --- metadata ------------------------------------------------------------------ */

/* Where an xattr call goes: an fd we hold (files, directories) or a name in
 * a directory fd (symlinks, devices, fifos: they cannot be opened for
 * that). The /proc path is the kernel's handle for "this name in that
 * directory" without resolving the name's own path again. */
struct target {
	int fd;         /* >= 0: operate on the fd */
	int dir;
	const char *base;
	mode_t type;    /* S_IFREG, S_IFDIR, S_IFLNK, ... */
};

static int set_xattr(const struct target *t, const char *key, const void *value, size_t size)
{
	if (t->fd >= 0)
		return fsetxattr(t->fd, key, value, size, 0);
	char path[64 + NAME_MAX];
	snprintf(path, sizeof path, "/proc/self/fd/%d/%s", t->dir, t->base);
	return lsetxattr(path, key, value, size, 0);
}

static int apply_xattrs(struct applier *ap, struct archive_entry *e, const struct target *t, struct ucd_error **err)
{
	const char *key;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		/* trusted.* is the overlay driver's own state (opaque, redirect):
		 * containerd never takes it from an archive, and neither the
		 * user.overlay.* equivalents when the overlay uses those. */
		if (strncmp(key, "trusted.", 8) == 0 ||
		    (ap->opts->mode == DIFF_APPLY_OVERLAY && ap->opts->userxattr && strncmp(key, "user.overlay.", 13) == 0)) {
			log_debug("layer apply: ignored xattr %s of %s", key, ap->name);
			continue;
		}
		if (set_xattr(t, key, value, size) == 0)
			continue;
		int e_ = errno;
		if (e_ == ENOTSUP || (e_ == EPERM && strncmp(key, "user.", 5) == 0 && t->type != S_IFREG && t->type != S_IFDIR)) {
			log_warn("layer apply: ignored xattr %s of %s: %s", key, ap->name, strerror(e_));
			continue;
		}
		return entry_error(ap, err, UCD_UNKNOWN, e_, "failed to setxattr %s: %s", key, strerror(e_));
	}
	return 0;
}

/* containerd: access time is the later of atime and mtime; times before
 * the epoch (or beyond what a timespec holds) become the epoch. */
static void entry_times(struct archive_entry *e, struct timespec t[2])
{
	struct timespec m = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
	struct timespec a = m;
	if (archive_entry_atime_is_set(e)) {
		struct timespec at = {archive_entry_atime(e), archive_entry_atime_nsec(e)};
		if (at.tv_sec > a.tv_sec || (at.tv_sec == a.tv_sec && at.tv_nsec > a.tv_nsec))
			a = at;
	}
	const time_t max = INT64_MAX / 1000000000;
	if (m.tv_sec < 0 || m.tv_sec >= max)
		m = (struct timespec){0, 0};
	if (a.tv_sec < 0 || a.tv_sec >= max)
		a = (struct timespec){0, 0};
	t[0] = a;
	t[1] = m;
}

/* Owner, xattrs, mode, times, in containerd's order (chown clears setuid,
 * so mode comes after it). */
static int apply_metadata(struct applier *ap, struct archive_entry *e, const struct target *t, struct ucd_error **err)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "invalid owner %lld:%lld", (long long)uid,
				   (long long)gid);
	int r = t->fd >= 0 ? fchown(t->fd, (uid_t)uid, (gid_t)gid)
			   : fchownat(t->dir, t->base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return entry_error(ap, err, UCD_UNKNOWN, errno, "failed to Lchown for UID %lld, GID %lld: %s",
				   (long long)uid, (long long)gid, strerror(errno));
	if (apply_xattrs(ap, e, t, err) < 0)
		return -1;
	mode_t mode = archive_entry_perm(e) & 07777;
	if (t->type != S_IFLNK) {   /* Linux has no mode for symlinks */
		/* Never through a symlink, should the name have become one:
		 * fchmodat(2) itself always follows; glibc's AT_SYMLINK_NOFOLLOW
		 * pins the name with O_PATH and refuses a symlink (EOPNOTSUPP). */
		if (t->fd < 0 && diff_apply_test_hook != NULL)
			diff_apply_test_hook("chmod", t->dir, t->base);
		r = t->fd >= 0 ? fchmod(t->fd, mode) : fchmodat(t->dir, t->base, mode, AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return os_error(ap, err, errno, "chmod");
	}
	if (t->type == S_IFDIR)
		return 0;   /* directories get their times at the end */
	struct timespec times[2];
	entry_times(e, times);
	r = t->fd >= 0 ? futimens(t->fd, times) : utimensat(t->dir, t->base, times, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? os_error(ap, err, errno, "chtimes") : 0;
}

/* --- entry kinds ----------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n, int64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int create_file(struct applier *ap, struct archive_entry *e, int dir, const char *base, struct ucd_error **err)
{
	autoclose int fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return os_error(ap, err, errno, "create");
	/* A sparse entry (GNU or pax sparse formats) has holes: offsets no
	 * data is written at, and an end past its last data. They cost no
	 * disk here, but whoever reads the file later (a diff of this
	 * snapshot, a copy without SEEK_DATA) reads them in full: they count
	 * against limits.hole_bytes. */
	int64_t end = 0, data = 0;
	for (;;) {
		const void *p;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(ap->tar, &p, &len, &off);
		layer_stream_in_headers(ap->stream, false);   /* a GNU 1.0 sparse map is read with the first block */
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			layer_stream_error(ap->stream, "invalid tar", err);
			return error_wrap(err, "entry %s", ap->name);
		}
		data += (int64_t)len;
		if (ap->hole_bytes + (uint64_t)(off + (int64_t)len - data) > ap->limits.hole_bytes)
			return ceiling_error(ap, err, "has sparse files with holes of", ap->limits.hole_bytes, true, "");
		int w = write_all(fd, p, len, off);
		if (w < 0)
			return os_error(ap, err, -w, "write");
		end = off + (int64_t)len;
	}
	/* A sparse file may end in a hole. */
	int64_t size = archive_entry_size(e) > end ? archive_entry_size(e) : end;
	ap->hole_bytes += (uint64_t)(size - data);
	if (ap->hole_bytes > ap->limits.hole_bytes)
		return ceiling_error(ap, err, "has sparse files with holes of", ap->limits.hole_bytes, true, "");
	if (end < size && ftruncate(fd, size) < 0)
		return os_error(ap, err, errno, "truncate");
	struct target t = {.fd = fd, .type = S_IFREG};
	return apply_metadata(ap, e, &t, err);
}

static int create_dir(struct applier *ap, struct archive_entry *e, int dir, const char *base, const char *path,
		      bool exists, struct ucd_error **err)
{
	if (!exists && mkdirat(dir, base, 0700) < 0)
		return os_error(ap, err, errno, "mkdir");
	autoclose int fd = openat(dir, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return os_error(ap, err, errno, "open directory");
	struct target t = {.fd = fd, .type = S_IFDIR};
	if (apply_metadata(ap, e, &t, err) < 0)
		return -1;
	if (ap->n_dirs == ap->cap_dirs) {
		ap->cap_dirs = ap->cap_dirs ? ap->cap_dirs * 2 : 64;
		ap->dirs = xrealloc(ap->dirs, ap->cap_dirs * sizeof *ap->dirs);
	}
	struct dir_time *d = &ap->dirs[ap->n_dirs++];
	d->path = xstrdup(path);
	entry_times(e, d->times);
	return 0;
}

/* Hard link: the target is a name in the same archive, resolved inside the
 * root like any path; its last component is not followed (a link to a
 * symlink links the symlink, as containerd does). */
static int create_hardlink(struct applier *ap, struct archive_entry *e, int dir, const char *base,
			   const char *linkname, struct ucd_error **err)
{
	autofree char *target = xmalloc(strlen(linkname) + 2);
	autofree char *q = go_quote(linkname);
	int c = rootfs_clean(linkname, target);
	if (c < 0)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "hard link target %s escapes the root", q);
	if (c > 0)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "hard link target %s is the root", q);
	const char *tparent, *tbase;
	rootfs_split(target, &tparent, &tbase);
	autoclose int tdir = rootfs_open_dir(ap->root, tparent);
	if (tdir < 0 && tdir != -ENOENT)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, -tdir, "hard link target %s: %s", q, strerror(-tdir));
	if (tdir == -ENOENT || linkat(tdir, tbase, dir, base, 0) < 0) {
		int e_ = tdir == -ENOENT ? ENOENT : errno;
		if (e_ == ENOENT)
			return entry_error(ap, err, UCD_INVALID_ARGUMENT, e_, "hard link target %s does not exist", q);
		if (e_ == EPERM)
			return entry_error(ap, err, UCD_INVALID_ARGUMENT, e_, "hard link target %s is a directory", q);
		return os_error(ap, err, e_, "link");
	}
	struct stat st;
	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return os_error(ap, err, errno, "stat");
	struct target t = {.fd = -1, .dir = dir, .base = base, .type = st.st_mode & S_IFMT};
	return apply_metadata(ap, e, &t, err);
}

static int create_special(struct applier *ap, struct archive_entry *e, int dir, const char *base, mode_t type,
			  struct ucd_error **err)
{
	int r;
	if (type == S_IFLNK) {
		const char *link = archive_entry_symlink(e);
		r = symlinkat(link ? link : "", dir, base);
	} else {
		dev_t dev = type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
		r = mknodat(dir, base, type | (archive_entry_perm(e) & 07777), dev);
	}
	if (r < 0)
		return os_error(ap, err, errno, type == S_IFLNK ? "symlink" : "mknod");
	struct target t = {.fd = -1, .dir = dir, .base = base, .type = type};
	return apply_metadata(ap, e, &t, err);
}

/* --- whiteouts -------------------------------------------------------------------- */

/* Plain mode, `dir/.wh..wh..opq`: the directory keeps only what this layer
 * put there (before or after the marker); the rest came from below. Goes
 * down into this layer's own directories (depth: how many it is in). */
static int make_opaque(struct applier *ap, int dir_fd, int depth, struct ucd_error **err)
{
	if (depth >= DIFF_MAX_DEPTH)
		return remove_error(ap, err, -ELOOP, "opaque directory");
	char key[48];
	dir_key(dir_fd, key);
	autoclose int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return os_error(ap, err, errno, "open directory");
	DIR *d = fdopendir(fd);
	if (d == NULL)
		return os_error(ap, err, errno, "read directory");
	fd = -1;   /* owned by d now */
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!strset_has2(&ap->unpacked, key, de->d_name)) {
			int r = rootfs_remove_all(dirfd(d), de->d_name);
			if (r < 0)
				rc = remove_error(ap, err, r, "remove for opaque directory");
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = os_error(ap, err, errno, "open directory");
			else {
				rc = make_opaque(ap, sub, depth + 1, err);
				close(sub);
			}
		}
	}
	closedir(d);
	return rc;
}

/* Returns 1 when the entry was a whiteout (handled), 0 when it is not. */
static int whiteout(struct applier *ap, struct archive_entry *e, int dir, const char *base, struct ucd_error **err)
{
	if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) != 0)
		return 0;
	bool overlay = ap->opts->mode == DIFF_APPLY_OVERLAY;
	if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
		if (!overlay)
			return make_opaque(ap, dir, 0, err) < 0 ? -1 : 1;
		const char *key = ap->opts->userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
		if (fsetxattr(dir, key, "y", 1, 0) < 0)
			return os_error(ap, err, errno, "set opaque xattr");
		return 1;
	}
	const char *orig = base + strlen(WHITEOUT_PREFIX);
	if (orig[0] == '\0' || strcmp(orig, ".") == 0 || strcmp(orig, "..") == 0)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "invalid whiteout name: %s: invalid archive", base);
	int r = rootfs_remove_all(dir, orig);
	if (r < 0)
		return remove_error(ap, err, r, "remove whited-out file");
	if (!overlay)
		return 1;
	/* overlayfs' whiteout: a 0/0 character device owned like the entry. */
	if (mknodat(dir, orig, S_IFCHR, makedev(0, 0)) < 0)
		return os_error(ap, err, errno, "mknod whiteout");
	if (fchownat(dir, orig, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return os_error(ap, err, errno, "chown whiteout");
	return 1;
}

/* --- one entry ---------------------------------------------------------------------- */

static int apply_entry(struct applier *ap, struct archive_entry *e, struct ucd_error **err)
{
	const char *name = archive_entry_pathname(e);
	if (name == NULL)
		name = archive_entry_pathname_utf8(e);
	ap->name = name;
	if (name == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, EINVAL, "entry with an unreadable name: invalid archive");
	size_t len = strlen(name);
	if (len > NAME_MAX_BYTES)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, ENAMETOOLONG, "name is %zu bytes long, longer than %d",
				   len, NAME_MAX_BYTES);
	/* What this entry keeps in memory until the end (the names of what
	 * the layer wrote, its directories' times) grows with its name. */
	if ((ap->name_bytes += len) > ap->limits.name_bytes)
		return ceiling_error(ap, err, "has entry names of", ap->limits.name_bytes, true, "");
	autofree char *path = xmalloc(len + 2);
	int c = rootfs_clean(name, path);
	if (c < 0)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "path escapes the root");
	if (c > 0)
		return 0;   /* the root itself: containerd ignores it too */
	autofree char *split = xstrdup(path);
	const char *parent, *base;
	rootfs_split(split, &parent, &base);

	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hardlink == NULL && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFCHR &&
	    type != AE_IFBLK && type != AE_IFIFO)
		return entry_error(ap, err, UCD_INVALID_ARGUMENT, EINVAL, "unhandled tar header type (mode %o)", type);

	int dir = parent_dir(ap, parent, err);
	if (dir < 0)
		return -1;
	int w = whiteout(ap, e, dir, base, err);
	if (w != 0)
		return w < 0 ? -1 : 0;

	/* What is there is replaced, except a directory by a directory: then
	 * the two merge and the entry's metadata wins. */
	struct stat st;
	bool exists = fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	bool is_dir = hardlink == NULL && type == AE_IFDIR;
	if (exists && !(S_ISDIR(st.st_mode) && is_dir)) {
		int r = rootfs_remove_all(dir, base);
		if (r < 0)
			return remove_error(ap, err, r, "remove existing");
		exists = false;
	}

	int r;
	if (hardlink != NULL)
		r = create_hardlink(ap, e, dir, base, hardlink, err);
	else if (type == AE_IFREG)
		r = create_file(ap, e, dir, base, err);
	else if (type == AE_IFDIR)
		r = create_dir(ap, e, dir, base, path, exists, err);
	else
		r = create_special(ap, e, dir, base, type, err);
	if (r < 0)
		return -1;
	if (ap->opts->mode == DIFF_APPLY_PLAIN)
		strset_add2(&ap->unpacked, ap->cached_key, base);
	return 0;
}

/* Directory times last: creating entries inside changed them. */
static int set_dir_times(struct applier *ap, struct ucd_error **err)
{
	for (size_t i = 0; i < ap->n_dirs; i++) {
		struct dir_time *d = &ap->dirs[i];
		ap->name = d->path;
		const char *parent, *base;
		rootfs_split(d->path, &parent, &base);
		int dir = rootfs_open_dir(ap->root, parent);
		if (dir == -ENOENT || dir == -ENOTDIR)
			continue;   /* removed by a later entry */
		if (dir < 0)
			return os_error(ap, err, -dir, "open directory");
		int r = utimensat(dir, base, d->times, AT_SYMLINK_NOFOLLOW);
		int e = errno;
		close(dir);
		if (r < 0 && e != ENOENT)
			return os_error(ap, err, e, "chtimes");
	}
	return 0;
}

static void applier_fini(struct applier *ap)
{
	drop_cache(ap);
	for (size_t i = 0; i < ap->n_parents; i++)
		close(ap->parent_fds[i]);
	free(ap->parent_fds);
	for (size_t i = 0; i < ap->n_dirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
	strset_free(&ap->unpacked);
	layer_stream_free(ap->stream);
	if (ap->root >= 0)
		close(ap->root);
}

static int apply_all(struct applier *ap, struct ucd_error **err)
{
	struct archive_entry *e = archive_entry_new();
	if (e == NULL)
		oom();
	int rc = 0;
	for (;;) {
		if (ap->opts->cancelled != NULL && ap->opts->cancelled(ap->opts->cancel_arg)) {
			rc = error_set(err, UCD_CANCELLED, 0, "context canceled");
			break;
		}
		ap->name = NULL;
		layer_stream_in_headers(ap->stream, true);
		int r = archive_read_next_header2(ap->tar, e);
		if (r == ARCHIVE_EOF)
			break;
		/* ARCHIVE_RETRY is a header that failed its checksum */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			rc = layer_stream_error(ap->stream, "invalid tar", err);
			break;
		}
		if (++ap->entries > ap->limits.entries) {
			ap->name = archive_entry_pathname(e);
			rc = ceiling_error(ap, err, "has", ap->limits.entries, false, " entries");
			break;
		}
		if ((rc = apply_entry(ap, e, err)) < 0)
			break;
		/* What the entry's data held and nobody read (a whiteout's,
		 * a device's) is skipped as data, not as the next headers. */
		layer_stream_in_headers(ap->stream, false);
		if (archive_read_data_skip(ap->tar) != ARCHIVE_OK) {
			rc = layer_stream_error(ap->stream, "invalid tar", err);
			error_wrap(err, "entry %s", ap->name ? ap->name : "");
			break;
		}
	}
	archive_entry_free(e);
	return rc;
}

int diff_apply(const char *root, enum diff_compression comp, diff_read_fn read, void *read_arg,
	       const struct diff_apply_opts *opts, struct diff_digest *out, struct ucd_error **err)
{
	struct applier ap = {.root = -1, .opts = opts, .cached_fd = -1, .limits = opts->limits};
	struct diff_limits *l = &ap.limits;
	l->entries = l->entries ? l->entries : DIFF_MAX_ENTRIES;
	l->stream_bytes = l->stream_bytes ? l->stream_bytes : DIFF_MAX_STREAM_BYTES;
	l->hole_bytes = l->hole_bytes ? l->hole_bytes : DIFF_MAX_HOLE_BYTES;
	l->name_bytes = l->name_bytes ? l->name_bytes : DIFF_MAX_NAME_BYTES;
	l->header_bytes = l->header_bytes ? l->header_bytes : DIFF_MAX_HEADER_BYTES;
	ap.root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ap.root < 0)
		return error_set(err, UCD_UNKNOWN, errno, "open %s: %s", root, strerror(errno));
	int rc = 0;
	if (opts->n_parents > 0) {
		ap.parent_fds = xcalloc(opts->n_parents, sizeof *ap.parent_fds);
		for (; ap.n_parents < opts->n_parents; ap.n_parents++) {
			int fd = open(opts->parents[ap.n_parents], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				rc = error_set(err, UCD_UNKNOWN, errno, "open lower directory %s: %s",
					       opts->parents[ap.n_parents], strerror(errno));
				goto out;
			}
			ap.parent_fds[ap.n_parents] = fd;
		}
	}
	ap.stream = layer_stream_open(comp, read, read_arg, opts->cancelled, opts->cancel_arg, &ap.limits, &ap.tar, err);
	if (ap.stream == NULL) {
		rc = -1;
		goto out;
	}
	if ((rc = apply_all(&ap, err)) < 0 || (rc = set_dir_times(&ap, err)) < 0)
		goto out;
	rc = layer_stream_finish(ap.stream, out, err);
out:
	applier_fini(&ap);
	return rc < 0 ? -((*err)->code) : 0;
}
