/* Committed blobs: info, walk, remove and readers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

struct ucd_content_reader {
	int fd;
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int not_found(const struct cs *s, const char *digest, struct ucd_error **err)
{
	return s->host->error_new(err, UCD_NOT_FOUND, 0, "content %s", digest);
}

/* A blob's name that is not a regular file (a symlink put there by hand,
 * a directory): never followed or read; a commit of the same digest
 * replaces it with the verified bytes. */
static int not_regular(const struct cs *s, const char *digest, struct ucd_error **err)
{
	return s->host->error_new(err, UCD_DATA_LOSS, 0,
				  "blob %s is not a regular file (a symlink?): refusing to read it; commit the content "
				  "again to replace it",
				  digest);
}

int cs_info(void *self, const char *digest, struct ucd_content_info *out, struct ucd_error **err)
{
	struct cs *s = self;
	char *path;
	int r = cs_blob_path(s, digest, &path, err);
	if (r < 0)
		return r;
	struct stat st;
	r = lstat(path, &st);
	int e = errno;
	s->host->free(path);
	if (r < 0) {
		if (e == ENOENT || e == ENOTDIR)
			return not_found(s, digest, err);
		return s->host->error_new(err, UCD_INTERNAL, e, "stat blob %s: %s", digest, strerror(e));
	}
	if (!S_ISREG(st.st_mode))
		return not_regular(s, digest, err);
	/* the blob's times are its commit time, as in containerd */
	out->digest = cs_strdup(s, digest);
	out->size = st.st_size;
	out->created_at = out->updated_at = mtime_ns(&st);
	return 0;
}

static bool hex_name(const char *n, size_t want)
{
	size_t i = 0;
	for (; n[i]; i++)
		if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	return i == want;
}

/* One algorithm directory; returns fn's non-zero result or 0. */
static int walk_alg(struct cs *s, const char *alg, size_t hex_len, ucd_content_walk_fn fn, void *arg)
{
	char *dir = cs_printf(s, "%s/%s", s->blobs, alg);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (d == NULL) {
		if (errno != ENOENT)
			s->host->log(s->ic, UCD_LOG_WARN, "cannot read `%s`: %s; skipping it", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		s->host->free(dir);
		return 0;
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		if (!hex_name(e->d_name, hex_len) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode)) {
			s->host->log(s->ic, UCD_LOG_WARN, "`%s/%s` is not a blob; skipping it", dir, e->d_name);
			continue;
		}
		char *digest = cs_printf(s, "%s:%s", alg, e->d_name);
		struct ucd_content_info info = { digest, st.st_size, mtime_ns(&st), mtime_ns(&st) };
		rc = fn(arg, &info);
		s->host->free(digest);
	}
	closedir(d);
	s->host->free(dir);
	return rc;
}

int cs_walk(void *self, ucd_content_walk_fn fn, void *arg, struct ucd_error **err)
{
	(void)err;
	struct cs *s = self;
	static const struct {
		const char *name;
		size_t hex;
	} algs[] = { { "sha256", 64 }, { "sha384", 96 }, { "sha512", 128 } };
	/* anything else under blobs/ is not ours: say so once per walk */
	DIR *d = opendir(s->blobs);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		bool known = e->d_name[0] == '.';
		for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
			known = known || strcmp(e->d_name, algs[i].name) == 0;
		if (!known)
			s->host->log(s->ic, UCD_LOG_WARN, "`%s/%s` is not a digest algorithm; skipping it", s->blobs,
				     e->d_name);
	}
	if (d != NULL)
		closedir(d);
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		int rc = walk_alg(s, algs[i].name, algs[i].hex, fn, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int cs_remove(void *self, const char *digest, struct ucd_error **err)
{
	struct cs *s = self;
	char *path;
	int r = cs_blob_path(s, digest, &path, err);
	if (r < 0)
		return r;
	r = unlink(path);
	int e = errno;
	s->host->free(path);
	if (r == 0)
		return 0;
	if (e == ENOENT || e == ENOTDIR)
		return not_found(s, digest, err);
	return s->host->error_new(err, UCD_INTERNAL, e, "remove blob %s: %s", digest, strerror(e));
}

int cs_reader_open(void *self, const char *digest, struct ucd_content_reader **rd, int64_t *size,
		   struct ucd_error **err)
{
	struct cs *s = self;
	char *path;
	int r = cs_blob_path(s, digest, &path, err);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO in a blob's place must not hang the reader */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int e = errno;
	s->host->free(path);
	if (fd < 0) {
		if (e == ENOENT || e == ENOTDIR)
			return not_found(s, digest, err);
		if (e == ELOOP)
			return not_regular(s, digest, err);
		return s->host->error_new(err, UCD_INTERNAL, e, "open blob %s: %s", digest, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return not_regular(s, digest, err);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	struct ucd_content_reader *x = s->host->alloc(sizeof *x);
	x->fd = fd;
	*rd = x;
	*size = st.st_size;
	return 0;
}

ssize_t cs_reader_read_at(void *self, struct ucd_content_reader *rd, void *buf, size_t n, int64_t off,
			  struct ucd_error **err)
{
	struct cs *s = self;
	if (off < 0)
		return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0, "negative offset %lld", (long long)off);
	if (n > (size_t)(INT64_MAX - off))   /* off + n must not overflow; nothing is that far anyway */
		n = (size_t)(INT64_MAX - off);
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(rd->fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return s->host->error_new(err, UCD_INTERNAL, errno, "read blob: %s", strerror(errno));
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

void cs_reader_close(void *self, struct ucd_content_reader *rd)
{
	struct cs *s = self;
	if (rd == NULL)
		return;
	close(rd->fd);
	s->host->free(rd);
}
