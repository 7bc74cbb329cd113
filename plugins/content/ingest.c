/* Ingests: writers that create, resume and commit blobs, and the status,
 * listing and abort of ingests (containerd's content/local writer). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "locks.h"
#include "store.h"
#include "writebehind.h"

#define REHASH_CHUNK (1u << 20)

struct ucd_content_writer {
	char *ref;
	char *dir;
	int dirfd;
	int fd;               /* data, O_RDWR, positioned at `offset` */
	int64_t offset;
	int64_t total;
	char *expected;       /* NULL when unknown */
	int64_t started, updated;
	struct cs_wb *wb;     /* writes the data behind the hashing; NULL until the first write */
	EVP_MD_CTX *md;
	bool committed;
};

static int sys_error(const struct cs *s, struct ucd_error **err, int e, const char *what, const char *ref)
{
	return s->host->error_new(err, e == ENOSPC ? UCD_RESOURCE_EXHAUSTED : UCD_INTERNAL, e, "%s (ref %s): %s", what,
				  ref, strerror(e));
}

static void digest_string(EVP_MD_CTX *md, char out[72])
{
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL || !EVP_MD_CTX_copy_ex(c, md) || !EVP_DigestFinal_ex(c, sum, &len))
		len = 0;
	EVP_MD_CTX_free(c);
	int n = snprintf(out, 72, "sha256:");
	for (unsigned i = 0; i < len && i < 32; i++)
		n += snprintf(out + n, (size_t)(72 - n), "%02x", sum[i]);
}

static void writer_free(struct cs *s, struct ucd_content_writer *w)
{
	cs_wb_free(w->wb);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	EVP_MD_CTX_free(w->md);
	s->host->free(w->ref);
	s->host->free(w->dir);
	s->host->free(w->expected);
	s->host->free(w);
}

/* The bytes already in `data`, hashed once: how an ingest resumes, also
 * after a restart. */
static int rehash(struct cs *s, struct ucd_content_writer *w, struct ucd_error **err)
{
	char *buf = s->host->alloc(REHASH_CHUNK);
	int64_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(w->fd, buf, REHASH_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sys_error(s, err, errno, "read ingest data", w->ref);
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(w->md, buf, (size_t)n);
		off += n;
	}
	s->host->free(buf);
	if (rc == 0) {
		w->offset = off;
		if (lseek(w->fd, (off_t)off, SEEK_SET) < 0)
			rc = sys_error(s, err, errno, "seek ingest data", w->ref);
	}
	return rc;
}

static int64_t read_int_file(struct cs *s, int dirfd, const char *name)
{
	char *v = cs_read_small(s, dirfd, name, CS_SMALL_MAX);
	if (v == NULL)
		return 0;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	bool ok = errno == 0 && end != v && (*end == '\0' || *end == '\n') && x > 0;
	s->host->free(v);
	return ok ? x : 0;
}

static bool read_time_file(struct cs *s, int dirfd, const char *name, int64_t *ns)
{
	char *v = cs_read_small(s, dirfd, name, CS_SMALL_MAX);
	bool ok = v != NULL && cs_parse_time(v, ns);
	if (v != NULL)
		s->host->free(v);
	return ok;
}

/* Picks up an existing ingest directory: its ref must match, and a total
 * given now must agree with the recorded one. False: start it over. */
static bool resume(struct cs *s, struct ucd_content_writer *w, int64_t total, struct ucd_error **err)
{
	char *ref = cs_read_small(s, w->dirfd, "ref", CS_REF_MAX);
	bool same = ref != NULL && strcmp(ref, w->ref) == 0;
	if (ref != NULL)
		s->host->free(ref);
	if (!same || !read_time_file(s, w->dirfd, "startedat", &w->started))
		return false;
	if (!read_time_file(s, w->dirfd, "updatedat", &w->updated))
		w->updated = w->started;
	int64_t recorded = read_int_file(s, w->dirfd, "total");
	if (total > 0 && recorded > 0 && total != recorded) {
		s->host->log(s->ic, UCD_LOG_INFO, "ingest %s: total %" PRId64 " differs from the recorded %" PRId64
			     "; starting it over", w->ref, total, recorded);
		return false;
	}
	w->total = recorded;
	w->expected = cs_read_small(s, w->dirfd, "expected", CS_SMALL_MAX);
	w->fd = openat(w->dirfd, "data", O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (w->fd < 0 || fstat(w->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	/* the flag was for the open (a FIFO must not block it) */
	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_NONBLOCK);
	struct ucd_error *e = NULL;
	if (rehash(s, w, &e) < 0) {
		s->host->log(s->ic, UCD_LOG_WARN, "ingest %s: %s; starting it over", w->ref, e->msg);
		s->host->error_free(e);
		return false;
	}
	(void)err;
	return true;
}

/* Writes the files of a new (or restarted) ingest and an empty `data`. */
static int start_fresh(struct cs *s, struct ucd_content_writer *w, int64_t total, const char *expected,
		       struct ucd_error **err)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	s->host->free(w->expected);
	w->expected = NULL;
	EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
	w->started = w->updated = cs_now();
	w->offset = 0;
	w->total = total > 0 ? total : 0;
	char when[40], num[32];
	cs_format_time(w->started, when);
	int r;
	if ((r = cs_write_small(w->dirfd, "ref", w->ref)) < 0 || (r = cs_write_small(w->dirfd, "startedat", when)) < 0 ||
	    (r = cs_write_small(w->dirfd, "updatedat", when)) < 0)
		return sys_error(s, err, -r, "write ingest files", w->ref);
	unlinkat(w->dirfd, "total", 0);
	unlinkat(w->dirfd, "expected", 0);
	if (total > 0) {
		snprintf(num, sizeof num, "%" PRId64, total);
		if ((r = cs_write_small(w->dirfd, "total", num)) < 0)
			return sys_error(s, err, -r, "write ingest files", w->ref);
	}
	if (expected != NULL && expected[0] != '\0') {
		if ((r = cs_write_small(w->dirfd, "expected", expected)) < 0)
			return sys_error(s, err, -r, "write ingest files", w->ref);
		w->expected = cs_strdup(s, expected);
	}
	/* whatever is there goes, unread and unfollowed (a symlink, a FIFO:
	 * O_TRUNC through a symlink would truncate its target) */
	unlinkat(w->dirfd, "data", 0);
	w->fd = openat(w->dirfd, "data", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0)
		return sys_error(s, err, errno, "create ingest data", w->ref);
	return 0;
}

int cs_writer_open(void *self, const char *ref, int64_t total, const char *expected, struct ucd_content_writer **out,
		   struct ucd_error **err)
{
	struct cs *s = self;
	if (ref == NULL || ref[0] == '\0')
		return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0, "ref must not be empty");
	if (strlen(ref) > CS_REF_MAX)
		return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0,
					  "ref is %zu bytes long; the content store takes refs of up to %d bytes",
					  strlen(ref), CS_REF_MAX);
	int r = cs_lock_take(s, ref, err);
	if (r < 0)
		return r;
	struct ucd_content_writer *w = s->host->alloc(sizeof *w);
	*w = (struct ucd_content_writer){ .dirfd = -1, .fd = -1 };
	w->ref = cs_strdup(s, ref);
	w->dir = cs_ingest_dir(s, ref);
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL)) {
		r = s->host->error_new(err, UCD_INTERNAL, 0, "sha256 is not available from libcrypto");
		goto fail;
	}
	bool existed = mkdir(w->dir, 0700) < 0;
	if (existed && errno != EEXIST) {
		r = sys_error(s, err, errno, "create ingest directory", ref);
		goto fail;
	}
	w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (w->dirfd < 0) {
		r = sys_error(s, err, errno, "open ingest directory", ref);
		goto fail;
	}
	if (!existed || !resume(s, w, total, err)) {
		if (existed)
			s->host->log(s->ic, UCD_LOG_INFO, "ingest %s could not be resumed; starting it over", ref);
		if ((r = start_fresh(s, w, total, expected, err)) < 0)
			goto fail;
	} else if (total > 0 && w->total == 0) {
		char num[32];
		snprintf(num, sizeof num, "%" PRId64, total);
		cs_write_small(w->dirfd, "total", num);
		w->total = total;
	}
	*out = w;
	return 0;
fail:
	cs_lock_release(s, ref);
	writer_free(s, w);
	return r;
}

int cs_writer_status(void *self, struct ucd_content_writer *w, struct ucd_content_status *out, struct ucd_error **err)
{
	struct cs *s = self;
	(void)err;
	out->ref = cs_strdup(s, w->ref);
	out->offset = w->offset;
	out->total = w->total;
	out->expected = w->expected ? cs_strdup(s, w->expected) : NULL;
	out->started_at = w->started;
	out->updated_at = w->updated;
	return 0;
}

int cs_writer_digest(void *self, struct ucd_content_writer *w, char out[72], struct ucd_error **err)
{
	(void)self, (void)err;
	digest_string(w->md, out);
	return 0;
}

/* Synchronous fallback when no write-behind thread could be started. */
static int write_all(struct ucd_content_writer *w, const char *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(w->fd, p + done, n - done, (off_t)(w->offset + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int cs_writer_write(void *self, struct ucd_content_writer *w, const void *buf, size_t n, struct ucd_error **err)
{
	struct cs *s = self;
	if (w->committed)
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0, "cannot write on committed writer");
	if (n == 0)
		return 0;
	if (n > (size_t)(INT64_MAX - w->offset))
		return s->host->error_new(err, UCD_OUT_OF_RANGE, 0, "write of %zu bytes at offset %lld: beyond the largest "
					  "blob size", n, (long long)w->offset);
	if (w->wb == NULL)
		w->wb = cs_wb_new(w->fd, w->offset);
	/* the file write of this chunk overlaps the hashing here and the
	 * next chunk's transfer; an earlier chunk's failure surfaces now */
	int r = w->wb != NULL ? cs_wb_submit(w->wb, buf, n) : write_all(w, buf, n);
	if (r < 0)
		return sys_error(s, err, -r, "write ingest data", w->ref);
	EVP_DigestUpdate(w->md, buf, n);
	w->offset += (int64_t)n;
	w->updated = cs_now();
	return 0;
}

int cs_writer_truncate(void *self, struct ucd_content_writer *w, int64_t size, struct ucd_error **err)
{
	struct cs *s = self;
	if (size != 0)
		return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0, "Truncate: unsupported size");
	if (w->committed)
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0, "cannot truncate committed writer");
	if (w->wb != NULL)
		cs_wb_wait(w->wb);   /* a failed write no longer matters: it is all cut */
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
		return sys_error(s, err, errno, "truncate ingest data", w->ref);
	if (w->wb != NULL)
		cs_wb_reset(w->wb, 0);
	EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
	w->offset = 0;
	w->updated = cs_now();
	return 0;
}

/* rename(2) that never replaces: 0, or -errno (-EEXIST when the blob is
 * there already). */
static int rename_noreplace(int fromdir, const char *from, const char *to)
{
	if (renameat2(fromdir, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* a filesystem without RENAME_NOREPLACE: check, then rename (the
	 * window between the two only makes an identical blob replace itself) */
	struct stat st;
	if (stat(to, &st) == 0)
		return -EEXIST;
	return renameat(fromdir, from, AT_FDCWD, to) < 0 ? -errno : 0;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int cs_writer_commit(void *self, struct ucd_content_writer *w, int64_t size, const char *expected, char **digest_out,
		     struct ucd_error **err)
{
	struct cs *s = self;
	if (w->committed)
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0, "cannot commit on closed writer");
	int we = w->wb != NULL ? -cs_wb_wait(w->wb) : 0;
	if (we != 0)
		return sys_error(s, err, we, "write ingest data", w->ref);
	if (size > 0 && size != w->offset)
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0, "unexpected commit size %" PRId64
					  ", expected %" PRId64, w->offset, size);
	char digest[72];
	digest_string(w->md, digest);
	if (expected != NULL && expected[0] != '\0' && strcmp(expected, digest) != 0)
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0, "unexpected commit digest %s, expected %s",
					  digest, expected);
	char *target = NULL, *alg_dir = cs_printf(s, "%s/sha256", s->blobs);
	int r = cs_blob_path(s, digest, &target, err);
	if (r < 0)
		goto out;
	if (mkdir(s->blobs, 0755) < 0 && errno != EEXIST) {
		r = sys_error(s, err, errno, "create blobs directory", w->ref);
		goto out;
	}
	if (mkdir(alg_dir, 0755) < 0 && errno != EEXIST) {
		r = sys_error(s, err, errno, "create blobs directory", w->ref);
		goto out;
	}
	/* durable before visible: the data reaches the disk, then the name */
	if (fdatasync(w->fd) < 0) {
		r = sys_error(s, err, errno, "sync ingest data", w->ref);
		goto out;
	}
	/* its times say when it was committed */
	futimens(w->fd, NULL);
	int e = -rename_noreplace(w->dirfd, "data", target);
	struct stat tst;
	if (e == EEXIST && lstat(target, &tst) == 0 && !S_ISREG(tst.st_mode)) {
		/* not a blob but something put in its place (a symlink): the
		 * verified bytes replace it, so that readers find the content */
		s->host->log(s->ic, UCD_LOG_WARN, "`%s` was not a regular file: replaced by the committed blob", target);
		e = S_ISDIR(tst.st_mode) ? EISDIR : renameat(w->dirfd, "data", AT_FDCWD, target) < 0 ? errno : 0;
	}
	if (e != 0 && e != EEXIST) {
		r = sys_error(s, err, e, "commit ingest", w->ref);
		goto out;
	}
	bool exists = e == EEXIST;
	if (!exists)
		fchmod(w->fd, 0444);   /* read-only from now on, as containerd's blobs */
	w->committed = true;
	if (digest_out != NULL)
		*digest_out = cs_strdup(s, digest);
	if (!exists && (e = -sync_dir(alg_dir)) != 0)
		s->host->log(s->ic, UCD_LOG_WARN, "sync `%s`: %s", alg_dir, strerror(e));
	if ((e = -cs_remove_tree(w->dir)) != 0)
		s->host->log(s->ic, UCD_LOG_WARN, "remove ingest directory `%s`: %s", w->dir, strerror(e));
	if (exists) {
		r = s->host->error_new(err, UCD_ALREADY_EXISTS, 0, "content %s", digest);
		goto out;
	}
	r = 0;
out:
	s->host->free(target);
	s->host->free(alg_dir);
	return r;
}

void cs_writer_close(void *self, struct ucd_content_writer *w)
{
	struct cs *s = self;
	if (w == NULL)
		return;
	if (w->wb != NULL)
		cs_wb_wait(w->wb);
	if (!w->committed && w->fd >= 0) {
		/* as containerd: what was written survives for a resume */
		fdatasync(w->fd);
		char when[40];
		cs_format_time(w->updated, when);
		cs_write_small(w->dirfd, "updatedat", when);
	}
	cs_lock_release(s, w->ref);
	writer_free(s, w);
}

/* --- ingests by ref ------------------------------------------------------------ */

static int status_of_dir(struct cs *s, int dirfd, const char *want_ref, struct ucd_content_status *out,
			 struct ucd_error **err)
{
	struct stat st;
	if (fstatat(dirfd, "data", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return s->host->error_new(err, UCD_NOT_FOUND, 0, "ingest ref %s has no data", want_ref ? want_ref : "");
	char *ref = cs_read_small(s, dirfd, "ref", CS_REF_MAX);
	if (ref == NULL || (want_ref != NULL && strcmp(ref, want_ref) != 0)) {
		if (ref != NULL)
			s->host->free(ref);
		return s->host->error_new(err, UCD_NOT_FOUND, 0, "ingest ref %s", want_ref ? want_ref : "");
	}
	int64_t started, updated;
	if (!read_time_file(s, dirfd, "startedat", &started)) {
		s->host->free(ref);
		return s->host->error_new(err, UCD_INTERNAL, 0, "could not read startedat");
	}
	if (!read_time_file(s, dirfd, "updatedat", &updated))
		updated = started;
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	out->ref = ref;
	out->offset = st.st_size;
	out->total = read_int_file(s, dirfd, "total");
	out->expected = cs_read_small(s, dirfd, "expected", CS_SMALL_MAX);
	out->started_at = started;
	out->updated_at = mtime > updated ? mtime : updated;
	return 0;
}

int cs_status(void *self, const char *ref, struct ucd_content_status *out, struct ucd_error **err)
{
	struct cs *s = self;
	char *dir = cs_ingest_dir(s, ref);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	s->host->free(dir);
	if (dirfd < 0)
		return s->host->error_new(err, UCD_NOT_FOUND, 0, "ingest ref %s", ref);
	int r = status_of_dir(s, dirfd, ref, out, err);
	close(dirfd);
	return r;
}

int cs_walk_statuses(void *self, ucd_content_status_fn fn, void *arg, struct ucd_error **err)
{
	struct cs *s = self;
	DIR *d = opendir(s->ingest);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return s->host->error_new(err, UCD_INTERNAL, errno, "read `%s`: %s", s->ingest, strerror(errno));
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		struct ucd_content_status st = {0};
		struct ucd_error *se = NULL;
		if (fd < 0 || status_of_dir(s, fd, NULL, &st, &se) < 0) {
			/* A writer between mkdir and its data file, or between
			 * moving the data into blobs/ and removing the
			 * directory, is no status yet (or any more) and no
			 * damage either: skipped without a warning. */
			if (!cs_lock_held_for_dir(s, e->d_name))
				s->host->log(s->ic, UCD_LOG_WARN, "`%s/%s` is not a readable ingest (%s); skipping it",
					     s->ingest, e->d_name, se ? se->msg : strerror(errno));
			s->host->error_free(se);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		rc = fn(arg, &st);
		ucd_content_status_release(s->host->free, &st);
	}
	closedir(d);
	return rc;
}

int cs_abort(void *self, const char *ref, struct ucd_error **err)
{
	struct cs *s = self;
	int r = cs_lock_take(s, ref, err);
	if (r < 0)
		return r;
	char *dir = cs_ingest_dir(s, ref);
	int e = -cs_remove_tree(dir);
	s->host->free(dir);
	cs_lock_release(s, ref);
	if (e == ENOENT)
		return s->host->error_new(err, UCD_NOT_FOUND, 0, "ingest ref %s", ref);
	if (e != 0)
		return sys_error(s, err, e, "remove ingest", ref);
	return 0;
}
