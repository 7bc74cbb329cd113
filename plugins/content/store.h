/* The local content store, laid out as containerd's content/local:
 *
 *   <root>/blobs/<algorithm>/<hex>    committed blobs, read-only (0444)
 *   <root>/ingest/<sha256(ref)>/      one directory per ingest (0700, files 0600):
 *       ref         the ingest's ref (the directory name is its hash)
 *       data        the bytes written so far
 *       startedat   RFC 3339 time the ingest began
 *       updatedat   RFC 3339 time of the last close (data's mtime is newer
 *                   while writing)
 *       total       expected size, when known
 *       expected    expected digest, when known
 *
 * Shared between the files of this plugin only. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontainerd/ucontainerd.h>

struct cs_lock;

struct cs {
	const struct ucd_host *host;
	const struct ucd_init_ctx *ic;
	char *root;
	char *blobs;    /* <root>/blobs */
	char *ingest;   /* <root>/ingest */
	pthread_mutex_t mu;        /* guards `locks` */
	struct cs_lock *locks;     /* refs with an open writer */
};

/* host->alloc'ed copies and formatting. */
char *cs_strdup(const struct cs *s, const char *str);
char *cs_printf(const struct cs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "sha256:<hex>" -> "<root>/blobs/sha256/<hex>" (host->alloc'ed). Only
 * well-formed digests of sha256, sha384 and sha512 have a path; anything
 * else is UCD_INVALID_ARGUMENT. */
int cs_blob_path(const struct cs *s, const char *digest, char **path, struct ucd_error **err);
/* "<root>/ingest/<sha256 hex of ref>" (host->alloc'ed). */
char *cs_ingest_dir(const struct cs *s, const char *ref);

/* Nanoseconds since the epoch. */
int64_t cs_now(void);
/* RFC 3339 with nanoseconds, UTC, as Go's time.MarshalText writes it. */
void cs_format_time(int64_t ns, char out[40]);
bool cs_parse_time(const char *s, int64_t *ns);

/* Reads a regular file of at most `max` bytes whole into a host->alloc'ed
 * NUL-terminated string, without following a symlink; NULL with errno set
 * on failure (EFBIG: longer than `max`, never cut). */
char *cs_read_small(const struct cs *s, int dirfd, const char *name, size_t max);
/* The longest ingest ref the store takes (the "ref" file holds it), and
 * the longest of its other small files (times, sizes, digests). */
#define CS_REF_MAX 16384
#define CS_SMALL_MAX 256
/* Writes a small file through "<name>.tmp" + rename (no fsync: these
 * files describe an ingest, and a lost one only restarts it). */
int cs_write_small(int dirfd, const char *name, const char *data);
/* Removes directory `path` and everything in it. */
int cs_remove_tree(const char *path);

/* sha256 of a string as 64 hex digits. */
void cs_sha256_hex(const void *data, size_t n, char out[65]);

/* ingest.c */
int cs_writer_open(void *self, const char *ref, int64_t total, const char *expected, struct ucd_content_writer **w,
		   struct ucd_error **err);
int cs_writer_status(void *self, struct ucd_content_writer *w, struct ucd_content_status *out, struct ucd_error **err);
int cs_writer_digest(void *self, struct ucd_content_writer *w, char out[72], struct ucd_error **err);
int cs_writer_write(void *self, struct ucd_content_writer *w, const void *buf, size_t n, struct ucd_error **err);
int cs_writer_truncate(void *self, struct ucd_content_writer *w, int64_t size, struct ucd_error **err);
int cs_writer_commit(void *self, struct ucd_content_writer *w, int64_t size, const char *expected, char **digest_out,
		     struct ucd_error **err);
void cs_writer_close(void *self, struct ucd_content_writer *w);
int cs_status(void *self, const char *ref, struct ucd_content_status *out, struct ucd_error **err);
int cs_walk_statuses(void *self, ucd_content_status_fn fn, void *arg, struct ucd_error **err);
int cs_abort(void *self, const char *ref, struct ucd_error **err);

/* blobs.c */
int cs_info(void *self, const char *digest, struct ucd_content_info *out, struct ucd_error **err);
int cs_walk(void *self, ucd_content_walk_fn fn, void *arg, struct ucd_error **err);
int cs_remove(void *self, const char *digest, struct ucd_error **err);
int cs_reader_open(void *self, const char *digest, struct ucd_content_reader **r, int64_t *size,
		   struct ucd_error **err);
ssize_t cs_reader_read_at(void *self, struct ucd_content_reader *r, void *buf, size_t n, int64_t off,
			  struct ucd_error **err);
void cs_reader_close(void *self, struct ucd_content_reader *r);
