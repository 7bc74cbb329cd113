/* Writing the layer between two trees: containerd's ChangeWriter over the
 * changes compare_trees finds, as a PAX tar, gzip-compressed or not, hashed
 * both before and after compression. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "diff/compare.h"
#include "diff/diff.h"
#include "diff/inomap.h"
#include "util/strset.h"
#include "util/error.h"
#include "util/mem.h"

#define OUT_CHUNK (256u * 1024)

struct hashed {
	EVP_MD_CTX *sha;
	int64_t size;
};

/* A hard-linked inode seen unmodified before its first changed name. */
struct link_ref {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct writer {
	int upper;                     /* the upper root: parents of entries are opened beneath it */
	struct archive *tar;
	diff_write_fn write;
	void *write_arg;
	bool gzip;
	z_stream z;
	unsigned char *zout;
	struct hashed tar_hash, blob_hash;
	struct ucd_error *err;         /* from the write callback */
	time_t whiteout_time;
	struct strset added_dirs;      /* directories already in the tar */
	struct inomap inode_src;       /* inode -> first name written */
	struct link_ref *refs;         /* inode -> names waiting for their source */
	size_t n_refs, cap_refs;
	unsigned char *copy_buf;
};

static void hash_init(struct hashed *h)
{
	h->sha = EVP_MD_CTX_new();
	if (h->sha == NULL || EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) != 1)
		oom();
}

static void hash_final(struct hashed *h, struct diff_digest *out)
{
	unsigned char md[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(h->sha, md, &len);
	memcpy(out->digest, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out->digest + 7 + 2 * i, 3, "%02x", md[i]);
	out->size = h->size;
}

static int emit_blob(struct writer *w, const void *p, size_t n)
{
	EVP_DigestUpdate(w->blob_hash.sha, p, n);
	w->blob_hash.size += (int64_t)n;
	return w->write(w->write_arg, p, n, &w->err);
}

static int deflate_some(struct writer *w, const void *p, size_t n, int flush)
{
	w->z.next_in = (unsigned char *)p;
	w->z.avail_in = (uInt)n;
	do {
		w->z.next_out = w->zout;
		w->z.avail_out = OUT_CHUNK;
		int r = deflate(&w->z, flush);
		if (r == Z_STREAM_ERROR)
			return error_set(&w->err, UCD_INTERNAL, 0, "gzip: deflate failed");
		size_t have = OUT_CHUNK - w->z.avail_out;
		if (have > 0 && emit_blob(w, w->zout, have) < 0)
			return -1;
	} while (w->z.avail_out == 0 || (flush == Z_FINISH && w->z.avail_in > 0));
	return 0;
}

/* libarchive's output: the uncompressed tar. */
static la_ssize_t tar_out_cb(struct archive *a, void *arg, const void *p, size_t n)
{
	struct writer *w = arg;
	EVP_DigestUpdate(w->tar_hash.sha, p, n);
	w->tar_hash.size += (int64_t)n;
	int r = w->gzip ? deflate_some(w, p, n, Z_NO_FLUSH) : emit_blob(w, p, n);
	if (r < 0) {
		archive_set_error(a, EIO, "%s", w->err ? w->err->msg : "write failed");
		return -1;
	}
	return (la_ssize_t)n;
}

static int tar_error(struct writer *w, const char *what, const char *path, struct ucd_error **err)
{
	if (w->err != NULL) {
		*err = steal(w->err);
		return error_wrap(err, "%s /%s", what, path);
	}
	return error_set(err, UCD_UNKNOWN, archive_errno(w->tar), "%s /%s: %s", what, path,
			 archive_error_string(w->tar));
}

static int write_entry(struct writer *w, const char *path, const struct stat *st, enum change_kind kind, int pin,
		       struct ucd_error **err);

/* A directory of the upper tree by its path, for a parent header: opened
 * beneath the root without following any symlink, so a name a container
 * swapped for a symlink fails instead of leading out. */
static int open_parent(struct writer *w, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	for (int attempt = 0;; attempt++) {
		long fd = syscall(SYS_openat2, w->upper, path, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN || attempt >= 16)
			return -errno;
	}
}

/* Every entry's parent directories go first, once each (containerd's
 * includeParents), so the layer can be applied by readers that do not
 * create parents. Walks up to the closest parent already written, then
 * writes the missing ones top-down. */
static int include_parent(struct writer *w, const char *path, bool is_dir, struct ucd_error **err)
{
	size_t end = strlen(path);
	while (end > 0) {
		const char *slash = memrchr(path, '/', end);
		end = slash != NULL ? (size_t)(slash - path) : 0;
		if (end == 0)
			break;
		autofree char *parent = xstrndup(path, end);
		if (strset_has(&w->added_dirs, parent))
			break;
	}
	/* path[0..end) is written (or the root); everything from there down
	 * to the entry's own parent is not. */
	const char *last = strrchr(path, '/');
	size_t stop = last != NULL ? (size_t)(last - path) : 0;
	while (end < stop) {
		const char *next = memchr(path + end + 1, '/', stop - end - 1);
		end = next != NULL ? (size_t)(next - path) : stop;
		autofree char *parent = xstrndup(path, end);
		int pin = open_parent(w, parent);
		if (pin < 0)
			return compare_pin_error(parent, pin, err);
		struct stat st;
		int rc = fstat(pin, &st) < 0 ? error_set(err, UCD_UNKNOWN, errno, "stat /%s: %s", parent, strerror(errno))
					     : write_entry(w, parent, &st, CHANGE_MODIFY, pin, err);
		close(pin);
		if (rc < 0)
			return -1;
	}
	if (is_dir)
		strset_add(&w->added_dirs, path);
	return 0;
}

static int write_whiteout(struct writer *w, const char *path, struct ucd_error **err)
{
	const char *slash = strrchr(path, '/');
	autofree char *name = slash ? xasprintf("%.*s/.wh.%s", (int)(slash - path), path, slash + 1)
				    : xasprintf(".wh.%s", path);
	if (include_parent(w, name, false, err) < 0)
		return -1;
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, w->whiteout_time, 0);
	int r = archive_write_header(w->tar, e);
	archive_entry_free(e);
	return r < ARCHIVE_WARN ? tar_error(w, "failed to write whiteout header", path, err) : 0;
}

/* The data of the pinned regular file: exactly the size the header
 * announced. A file that shrank meanwhile is an error; bytes it grew by
 * are not read. */
static int copy_file(struct writer *w, const char *path, int pin, int64_t size, struct ucd_error **err)
{
	autoclose int fd = compare_open_pinned(pin);
	if (fd < 0)
		return compare_pin_error(path, fd, err);
	int64_t done = 0;
	while (done < size) {
		size_t want = size - done < OUT_CHUNK ? (size_t)(size - done) : OUT_CHUNK;
		ssize_t n = read(fd, w->copy_buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, UCD_UNKNOWN, errno, "failed to copy /%s: %s", path, strerror(errno));
		if (n == 0)
			return error_set(err, UCD_ABORTED, 0,
					 "failed to copy /%s: it shrank from %lld to %lld bytes during the diff", path,
					 (long long)size, (long long)done);
		if (archive_write_data(w->tar, w->copy_buf, (size_t)n) < 0)
			return tar_error(w, "failed to copy", path, err);
		done += n;
	}
	return 0;
}

/* security.capability of the pinned inode: getxattr through the O_PATH
 * descriptor's /proc link reads that inode, a symlink included (an O_PATH
 * descriptor takes no f*xattr call). */
static void add_capability(struct archive_entry *e, int pin)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pin);
	char cap[256];
	ssize_t n = getxattr(proc, "security.capability", cap, sizeof cap);
	if (n > 0)
		archive_entry_xattr_add_entry(e, "security.capability", cap, (size_t)n);
}

static int handle(void *arg, const struct change *c, struct ucd_error **err)
{
	struct writer *w = arg;
	if (c->kind == CHANGE_DELETE)
		return write_whiteout(w, c->path, err);
	if (S_ISSOCK(c->st->st_mode))
		return 0;   /* a tar cannot hold a socket */
	/* An unchanged name only matters as a hard link, and is only written
	 * once its inode has a changed name to carry the data. */
	bool linked = !S_ISDIR(c->st->st_mode) && c->st->st_nlink > 1;
	if (c->kind == CHANGE_UNMODIFIED &&
	    (!linked || inomap_get(&w->inode_src, c->st->st_dev, c->st->st_ino) == NULL)) {
		if (linked) {
			if (w->n_refs == w->cap_refs) {
				w->cap_refs = w->cap_refs ? w->cap_refs * 2 : 16;
				w->refs = xrealloc(w->refs, w->cap_refs * sizeof *w->refs);
			}
			w->refs[w->n_refs++] = (struct link_ref){c->st->st_dev, c->st->st_ino, xstrdup(c->path)};
		}
		return 0;
	}
	int pin = compare_pin(c->dir, c->name, c->st);
	if (pin < 0)
		return compare_pin_error(c->path, pin, err);
	int rc = write_entry(w, c->path, c->st, c->kind, pin, err);
	close(pin);
	return rc;
}

/* One entry's header (and data), from the walk's stat and the pinned
 * inode; the first changed name of a hard-linked inode carries the data
 * and is followed by the names waiting for it. */
static int write_entry(struct writer *w, const char *path, const struct stat *st, enum change_kind kind, int pin,
		       struct ucd_error **err)
{
	bool is_dir = S_ISDIR(st->st_mode);
	autofree char *name = is_dir ? xasprintf("%s/", path) : xstrdup(path);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_mode(e, st->st_mode);   /* type and permissions, setuid/setgid/sticky included */
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);   /* whole seconds, as containerd */
	if (S_ISREG(st->st_mode))
		archive_entry_set_size(e, st->st_size);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		archive_entry_set_rdev(e, st->st_rdev);
	if (S_ISLNK(st->st_mode)) {
		/* A symlink's target is shorter than PATH_MAX; one of another
		 * length than the walk saw was replaced meanwhile (a filesystem
		 * that reports no length for symlinks is taken at its word). */
		char target[PATH_MAX];
		ssize_t n = readlinkat(pin, "", target, sizeof target);
		if (n < 0 || n == (ssize_t)sizeof target || (st->st_size > 0 && n != st->st_size)) {
			archive_entry_free(e);
			return n < 0 ? error_set(err, UCD_UNKNOWN, errno, "readlink /%s: %s", path, strerror(errno))
				     : compare_pin_error(path, -ESTALE, err);
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	}

	struct link_ref *later = NULL;
	size_t n_later = 0;
	if (!is_dir && st->st_nlink > 1) {
		const char *src = inomap_get(&w->inode_src, st->st_dev, st->st_ino);
		if (src != NULL) {
			archive_entry_set_hardlink(e, src);
			archive_entry_set_size(e, 0);
		} else if (kind != CHANGE_UNMODIFIED) {
			inomap_put(&w->inode_src, st->st_dev, st->st_ino, name);
			/* Take the waiting names of this inode out of the list. */
			later = xcalloc(w->n_refs + 1, sizeof *later);
			size_t k = 0;
			for (size_t i = 0; i < w->n_refs; i++) {
				if (w->refs[i].dev == st->st_dev && w->refs[i].ino == st->st_ino)
					later[n_later++] = w->refs[i];
				else
					w->refs[k++] = w->refs[i];
			}
			w->n_refs = k;
		}
	}

	add_capability(e, pin);
	int rc = include_parent(w, name[strlen(name) - 1] == '/' ? path : name, is_dir, err);
	if (rc == 0 && archive_write_header(w->tar, e) < ARCHIVE_WARN)
		rc = tar_error(w, "failed to write file header", path, err);
	if (rc == 0 && S_ISREG(st->st_mode) && archive_entry_hardlink(e) == NULL && st->st_size > 0)
		rc = copy_file(w, path, pin, st->st_size, err);
	for (size_t i = 0; i < n_later; i++) {
		if (rc == 0) {
			archive_entry_set_pathname(e, later[i].name);
			archive_entry_set_hardlink(e, name);
			archive_entry_set_size(e, 0);
			if ((rc = include_parent(w, later[i].name, false, err)) == 0 &&
			    archive_write_header(w->tar, e) < ARCHIVE_WARN)
				rc = tar_error(w, "failed to write file header", later[i].name, err);
		}
		free(later[i].name);
	}
	free(later);
	archive_entry_free(e);
	return rc;
}

static void writer_fini(struct writer *w)
{
	if (w->tar != NULL)
		archive_write_free(w->tar);
	if (w->gzip)
		deflateEnd(&w->z);
	EVP_MD_CTX_free(w->tar_hash.sha);
	EVP_MD_CTX_free(w->blob_hash.sha);
	error_free(w->err);
	strset_free(&w->added_dirs);
	inomap_fini(&w->inode_src);
	for (size_t i = 0; i < w->n_refs; i++)
		free(w->refs[i].name);
	free(w->refs);
	free(w->zout);
	free(w->copy_buf);
	if (w->upper >= 0)
		close(w->upper);
}

static int write_layer(struct writer *w, int lower, diff_cancelled_fn cancelled, void *cancel_arg,
		       struct diff_result *out, struct ucd_error **err)
{
	w->tar = archive_write_new();
	if (w->tar == NULL)
		oom();
	archive_write_set_format_pax_restricted(w->tar);
	archive_write_set_bytes_in_last_block(w->tar, 1);   /* end at the two zero blocks, as Go's tar */
	if (archive_write_open(w->tar, w, NULL, tar_out_cb, NULL) != ARCHIVE_OK)
		return tar_error(w, "failed to start tar", "", err);
	if (compare_trees(lower, w->upper, handle, w, cancelled, cancel_arg, err) < 0)
		return error_wrap(err, "failed to create diff tar stream");
	if (archive_write_close(w->tar) != ARCHIVE_OK)
		return tar_error(w, "failed to close tar writer", "", err);
	if (w->gzip && deflate_some(w, NULL, 0, Z_FINISH) < 0) {
		*err = steal(w->err);
		return error_wrap(err, "failed to write compressed diff");
	}
	hash_final(&w->tar_hash, &out->uncompressed);
	hash_final(&w->blob_hash, &out->blob);
	return 0;
}

int diff_trees(const char *lower, const char *upper, bool gzip, diff_write_fn write, void *write_arg,
	       diff_cancelled_fn cancelled, void *cancel_arg, struct diff_result *out, struct ucd_error **err)
{
	struct writer w = {.upper = -1, .write = write, .write_arg = write_arg, .gzip = gzip};
	w.whiteout_time = time(NULL);
	hash_init(&w.tar_hash);
	hash_init(&w.blob_hash);
	w.copy_buf = xmalloc(OUT_CHUNK);
	if (gzip) {
		w.zout = xmalloc(OUT_CHUNK);
		if (deflateInit2(&w.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			oom();
	}
	int rc;
	int lfd = -1;
	if ((w.upper = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = error_set(err, UCD_UNKNOWN, errno, "open %s: %s", upper, strerror(errno));
	else if (lower != NULL && (lfd = open(lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = error_set(err, UCD_UNKNOWN, errno, "open %s: %s", lower, strerror(errno));
	else
		rc = write_layer(&w, lfd, cancelled, cancel_arg, out, err);
	if (lfd >= 0)
		close(lfd);
	writer_fini(&w);
	return rc;
}
