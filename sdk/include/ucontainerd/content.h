/* ucontainerd plugin SDK: the content store kind, "io.containerd.content.v1".
 * ABI 1.1.
 *
 * A content store holds immutable blobs addressed by digest
 * ("sha256:<64 hex>") and the ingests that are writing new ones. The
 * daemon puts the Content gRPC service on top, and with it everything that
 * is per namespace: which namespace sees which blob, labels, leases, garbage
 * collection. The plugin's store is one flat, shared set of blobs; it keeps
 * no labels.
 *
 * Ingests (containerd's content.Writer):
 *  - An ingest is named by a client's `ref` (any non-empty string; the
 *    daemon passes its own per-namespace name). writer_open creates it, or
 *    RESUMES it when it exists (also after a daemon restart): offset = bytes
 *    already written, and the running digest covers them.
 *  - One writer per ref at a time: a second writer_open of a ref that is open
 *    fails with UCD_UNAVAILABLE ("ref `r` locked"); clients retry.
 *  - writer_write appends at the current offset. writer_truncate(0) starts
 *    over (other sizes: UCD_INVALID_ARGUMENT).
 *  - writer_commit(size, expected) verifies (size > 0: must equal the bytes
 *    written, else UCD_FAILED_PRECONDITION "unexpected commit size 3,
 *    expected 4"; expected non-empty: must equal the digest, else
 *    UCD_FAILED_PRECONDITION "unexpected commit digest sha256:..., expected
 *    sha256:..."), makes the blob durable and visible atomically (a reader
 *    never sees a partial blob, a crash never leaves one) and removes the
 *    ingest. When the blob already exists it removes the ingest and fails with
 *    UCD_ALREADY_EXISTS. After a failed verification the ingest stays and
 *    can be truncated or aborted. Only one algorithm is required: sha256.
 *  - writer_close releases the lock; the ingest stays for a later resume,
 *    unless it was committed. abort removes an ingest that is not open
 *    (UCD_NOT_FOUND when there is none).
 *
 * Threads: every op is BLOCKING (file I/O, hashing) and is called on the
 * daemon's worker threads, never on the loop thread, possibly CONCURRENTLY
 * with any other op. One writer or reader object is never used by two
 * threads at once. Ops must not call host->get_plugin.
 *
 * Memory: see types.h. Out strings come from host->alloc; release info and
 * status structs with the helpers below.
 */
#ifndef UCONTAINERD_CONTENT_H
#define UCONTAINERD_CONTENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ucontainerd/error.h>
#include <ucontainerd/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UCD_CONTENT_TYPE "io.containerd.content.v1"

struct ucd_content_info {
	char *digest;        /* "sha256:<hex>" */
	int64_t size;
	int64_t created_at;  /* ns since the epoch: when the blob was committed */
	int64_t updated_at;
};

struct ucd_content_status {
	char *ref;
	int64_t offset;      /* bytes written so far */
	int64_t total;       /* expected size, 0 when unknown */
	char *expected;      /* expected digest, NULL when unknown */
	int64_t started_at;  /* ns since the epoch */
	int64_t updated_at;
};

/* Opaque handles owned by the plugin. */
struct ucd_content_reader;
struct ucd_content_writer;

typedef int (*ucd_content_walk_fn)(void *arg, const struct ucd_content_info *info);
typedef int (*ucd_content_status_fn)(void *arg, const struct ucd_content_status *status);

struct ucd_content_ops {
	/* sizeof(struct ucd_content_ops) as the plugin was compiled. */
	uint32_t size;
	uint32_t reserved0;

	/* Blob `digest`; UCD_NOT_FOUND when absent. */
	int (*info)(void *self, const char *digest, struct ucd_content_info *out, struct ucd_error **err);
	/* Every blob, any order; a non-zero return of fn stops the walk and is
	 * returned. */
	int (*walk)(void *self, ucd_content_walk_fn fn, void *arg, struct ucd_error **err);
	/* Deletes blob `digest`; UCD_NOT_FOUND when absent. Readers already
	 * open keep reading it. */
	int (*remove)(void *self, const char *digest, struct ucd_error **err);

	/* Opens blob `digest` for reading; *size = its size. */
	int (*reader_open)(void *self, const char *digest, struct ucd_content_reader **r, int64_t *size,
			   struct ucd_error **err);
	/* Reads up to n bytes at offset `off`; returns the count (0 at the end)
	 * or -code. */
	ssize_t (*reader_read_at)(void *self, struct ucd_content_reader *r, void *buf, size_t n, int64_t off,
				  struct ucd_error **err);
	void (*reader_close)(void *self, struct ucd_content_reader *r);

	/* Opens (creates or resumes) the ingest `ref`. `total` (0: unknown) and
	 * `expected` (NULL or "": unknown) are recorded when given. */
	int (*writer_open)(void *self, const char *ref, int64_t total, const char *expected,
			   struct ucd_content_writer **w, struct ucd_error **err);
	int (*writer_status)(void *self, struct ucd_content_writer *w, struct ucd_content_status *out,
			     struct ucd_error **err);
	/* Digest of the bytes written so far ("sha256:<hex>"), in `out`. */
	int (*writer_digest)(void *self, struct ucd_content_writer *w, char out[72], struct ucd_error **err);
	int (*writer_write)(void *self, struct ucd_content_writer *w, const void *buf, size_t n,
			    struct ucd_error **err);
	int (*writer_truncate)(void *self, struct ucd_content_writer *w, int64_t size, struct ucd_error **err);
	/* On success (and on UCD_ALREADY_EXISTS) *digest_out (may be NULL) gets
	 * the blob's digest in host->alloc'ed memory; the writer stays open
	 * until writer_close, but no longer writes. */
	int (*writer_commit)(void *self, struct ucd_content_writer *w, int64_t size, const char *expected,
			     char **digest_out, struct ucd_error **err);
	void (*writer_close)(void *self, struct ucd_content_writer *w);

	/* Status of ingest `ref` (open or not); UCD_NOT_FOUND when none. */
	int (*status)(void *self, const char *ref, struct ucd_content_status *out, struct ucd_error **err);
	/* Every ingest, any order. */
	int (*walk_statuses)(void *self, ucd_content_status_fn fn, void *arg, struct ucd_error **err);
	/* Removes ingest `ref` and its data. */
	int (*abort)(void *self, const char *ref, struct ucd_error **err);

	/* -- ABI 1.1 ends here; append only -- */
};

#define UCD_CONTENT_OPS_HAS(ops, m) \
	((ops)->size >= offsetof(struct ucd_content_ops, m) + sizeof((ops)->m) && (ops)->m != NULL)

static inline void ucd_content_info_release(void (*free_fn)(void *), struct ucd_content_info *i)
{
	free_fn(i->digest);
	i->digest = NULL;
}

static inline void ucd_content_status_release(void (*free_fn)(void *), struct ucd_content_status *s)
{
	free_fn(s->ref);
	free_fn(s->expected);
	s->ref = s->expected = NULL;
}

#ifdef __cplusplus
}
#endif

#endif
