/* Decompression and hashing of a layer's bytes (see layer_stream.h).
 *
 * Two libarchive readers: `raw` (only when compressed) reads the blob
 * through a decompression filter with the "raw" format, which hands out the
 * decompressed bytes in the filter's own buffer; `tar` reads its input from
 * those buffers (or, uncompressed, straight from the caller's reads). Every
 * block is hashed once, as it is handed to the tar reader. */
#include <archive.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "diff/layer_stream.h"
#include "util/error.h"
#include "util/mem.h"

#define READ_BLOCK (1u << 20)

struct layer_stream {
	diff_read_fn read;
	void *read_arg;
	diff_cancelled_fn cancelled;
	void *cancel_arg;
	unsigned char *buf;          /* the caller's reads land here */
	size_t prefetched;           /* bytes of buf read for detection, not yet handed out */
	struct archive *raw;         /* decompressor, NULL when plain */
	struct archive *tar;
	EVP_MD_CTX *sha;
	int64_t total;               /* uncompressed bytes hashed */
	struct ucd_error *err;       /* why the last read failed */
	const struct diff_limits *limits;
	bool in_headers;
	uint64_t header_bytes;       /* pulled since the current entry's headers began */
};

const char *layer_stream_size_text(uint64_t n, char buf[32])
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
	for (int i = 0; i < 4; i++) {
		uint64_t unit = 1ull << (10 * (4 - i));
		if (n >= unit && n % unit == 0) {
			snprintf(buf, 32, "%llu %s", (unsigned long long)(n / unit), units[i]);
			return buf;
		}
	}
	snprintf(buf, 32, "%llu bytes", (unsigned long long)n);
	return buf;
}

void layer_stream_in_headers(struct layer_stream *s, bool on)
{
	s->in_headers = on;
	s->header_bytes = 0;
}

/* One read from the caller into buf (after the detection prefix). */
static ssize_t pull(struct layer_stream *s)
{
	if (s->prefetched > 0) {
		ssize_t n = (ssize_t)s->prefetched;
		s->prefetched = 0;
		return n;
	}
	if (s->cancelled != NULL && s->cancelled(s->cancel_arg)) {
		error_set(&s->err, UCD_CANCELLED, 0, "context canceled");
		return -1;
	}
	ssize_t n = s->read(s->read_arg, s->buf, READ_BLOCK, &s->err);
	return n < 0 ? -1 : n;
}

static la_ssize_t raw_read_cb(struct archive *a, void *arg, const void **out)
{
	struct layer_stream *s = arg;
	ssize_t n = pull(s);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", s->err ? s->err->msg : "read failed");
		return -1;
	}
	*out = s->buf;
	return n;
}

/* Hashes and counts the next n uncompressed bytes; -1 (s->err set) when
 * they take the layer over a ceiling. */
static int hash(struct layer_stream *s, const void *p, size_t n)
{
	char size[32];
	if ((uint64_t)s->total + n > s->limits->stream_bytes) {
		error_set(&s->err, UCD_RESOURCE_EXHAUSTED, 0, "the layer is larger than %s uncompressed",
			  layer_stream_size_text(s->limits->stream_bytes, size));
		return -1;
	}
	if (s->in_headers && (s->header_bytes += n) > s->limits->header_bytes) {
		error_set(&s->err, UCD_RESOURCE_EXHAUSTED, 0,
			  "the headers of one entry (pax records, sparse map) take more than %s",
			  layer_stream_size_text(s->limits->header_bytes, size));
		return -1;
	}
	EVP_DigestUpdate(s->sha, p, n);
	s->total += (int64_t)n;
	return 0;
}

/* The next block of uncompressed bytes, hashed; 0 at the end, -1 on error. */
static ssize_t next_block(struct layer_stream *s, const void **out)
{
	if (s->raw == NULL) {
		ssize_t n = pull(s);
		if (n > 0 && hash(s, s->buf, (size_t)n) < 0)
			return -1;
		*out = s->buf;
		return n;
	}
	size_t len = 0;
	la_int64_t off;
	int r = archive_read_data_block(s->raw, out, &len, &off);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		if (s->err == NULL)
			error_set(&s->err, UCD_INVALID_ARGUMENT, 0, "%s", archive_error_string(s->raw));
		return -1;
	}
	if (hash(s, *out, len) < 0)
		return -1;
	return (ssize_t)len;
}

static la_ssize_t tar_read_cb(struct archive *a, void *arg, const void **out)
{
	struct layer_stream *s = arg;
	ssize_t n = next_block(s, out);
	if (n < 0)
		archive_set_error(a, EIO, "%s", s->err ? s->err->msg : "read failed");
	return n;
}

/* containerd's DetectCompression: gzip by its magic, zstd by its frame or
 * skippable-frame magic, anything else is taken as plain tar. */
static const char *detect(const unsigned char *p, size_t n)
{
	if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08)
		return "gzip";
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return "zstd";
	if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
		return "zstd";
	return NULL;
}

static int open_raw(struct layer_stream *s, const char *codec, struct ucd_error **err)
{
	s->raw = archive_read_new();
	if (s->raw == NULL)
		oom();
	int r = strcmp(codec, "gzip") == 0 ? archive_read_support_filter_gzip(s->raw)
					   : archive_read_support_filter_zstd(s->raw);
	if (r != ARCHIVE_OK)
		return error_set(err, UCD_UNIMPLEMENTED, 0, "%s layers are not supported by this libarchive: %s",
				 codec, archive_error_string(s->raw));
	archive_read_support_format_raw(s->raw);
	struct archive_entry *entry;
	if (archive_read_open(s->raw, s, NULL, raw_read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(s->raw, &entry) != ARCHIVE_OK)
		return layer_stream_error(s, codec, err);
	return 0;
}

struct layer_stream *layer_stream_open(enum diff_compression comp, diff_read_fn read, void *read_arg,
				       diff_cancelled_fn cancelled, void *cancel_arg, const struct diff_limits *limits,
				       struct archive **tar, struct ucd_error **err)
{
	struct layer_stream *s = xcalloc(1, sizeof *s);
	s->limits = limits;
	s->read = read;
	s->read_arg = read_arg;
	s->cancelled = cancelled;
	s->cancel_arg = cancel_arg;
	s->buf = xmalloc(READ_BLOCK);
	s->sha = EVP_MD_CTX_new();
	if (s->sha == NULL || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		oom();

	if (comp == DIFF_DETECT) {
		/* Enough bytes to see a magic number (or the whole blob). */
		while (s->prefetched < 16) {
			ssize_t n = s->read(s->read_arg, s->buf + s->prefetched, READ_BLOCK - s->prefetched, err);
			if (n < 0)
				goto fail;
			if (n == 0)
				break;
			s->prefetched += (size_t)n;
		}
		const char *codec = detect(s->buf, s->prefetched);
		if (codec != NULL && open_raw(s, codec, err) < 0)
			goto fail;
	}

	s->tar = archive_read_new();
	if (s->tar == NULL)
		oom();
	archive_read_support_format_tar(s->tar);
	archive_read_support_format_empty(s->tar);   /* an empty layer is a valid layer */
	if (archive_read_open(s->tar, s, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
		layer_stream_error(s, "invalid tar", err);
		goto fail;
	}
	*tar = s->tar;
	return s;
fail:
	layer_stream_free(s);
	return NULL;
}

int layer_stream_error(struct layer_stream *s, const char *what, struct ucd_error **err)
{
	if (s->err != NULL) {
		int code = s->err->code;
		*err = steal(s->err);
		return -code;
	}
	struct archive *a = s->raw != NULL && archive_errno(s->raw) != 0 ? s->raw : s->tar;
	const char *msg = a != NULL ? archive_error_string(a) : NULL;
	return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: %s", what, msg ? msg : "unreadable archive");
}

int layer_stream_finish(struct layer_stream *s, struct diff_digest *out, struct ucd_error **err)
{
	const void *p;
	ssize_t n;
	while ((n = next_block(s, &p)) > 0)
		;
	if (n < 0)
		return layer_stream_error(s, "reading after the end of the tar", err);
	unsigned char md[32];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(s->sha, md, &len) != 1)
		return error_set(err, UCD_INTERNAL, 0, "sha256 failed");
	memcpy(out->digest, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out->digest + 7 + 2 * i, 3, "%02x", md[i]);
	out->size = s->total;
	return 0;
}

void layer_stream_free(struct layer_stream *s)
{
	if (s == NULL)
		return;
	if (s->tar != NULL)
		archive_read_free(s->tar);
	if (s->raw != NULL)
		archive_read_free(s->raw);
	EVP_MD_CTX_free(s->sha);
	error_free(s->err);
	free(s->buf);
	free(s);
}
