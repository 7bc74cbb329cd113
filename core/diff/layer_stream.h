/* The bytes of a layer blob turned into a tar archive to read entries from:
 * decompression (gzip or zstd, told apart by magic bytes as containerd
 * does) and SHA-256 of the uncompressed stream in one pass, without copying
 * the decompressed bytes again. */
#pragma once
#include <archive.h>
#include <stdbool.h>
#include <stdint.h>

#include "diff/diff.h"

struct layer_stream;

/* Reads the first bytes to detect the compression, then opens the tar
 * reader; *tar is owned by the stream. Only the tar format is read (ustar,
 * pax, GNU, v7), only gzip and zstd decompressed: every other archive
 * format or compression libarchive knows is an invalid tar. `limits`
 * (resolved: no zero member) bounds the uncompressed stream and each
 * entry's headers; the stream keeps the pointer. */
struct layer_stream *layer_stream_open(enum diff_compression comp, diff_read_fn read, void *read_arg,
				       diff_cancelled_fn cancelled, void *cancel_arg, const struct diff_limits *limits,
				       struct archive **tar, struct ucd_error **err);
/* Marks where the reading of an entry's headers starts (true: before
 * archive_read_next_header) and ends (false: once its first data block
 * came, or it has none). The bytes pulled in between count against
 * limits->header_bytes: what libarchive allocates for one entry (pax
 * records, GNU sparse maps) grows with them. */
void layer_stream_in_headers(struct layer_stream *s, bool on);
/* "4 MiB", "1 TiB", "1000 bytes": a ceiling as the errors name it. */
const char *layer_stream_size_text(uint64_t n, char buf[32]);
/* After the tar's end: reads (and hashes) what follows, then *out is the
 * digest and size of the whole uncompressed stream. */
int layer_stream_finish(struct layer_stream *s, struct diff_digest *out, struct ucd_error **err);
/* The error behind a failed archive_read_* call: the read callback's own
 * error (I/O, cancellation), or libarchive's message as InvalidArgument
 * prefixed with `what`. Returns -code. */
int layer_stream_error(struct layer_stream *s, const char *what, struct ucd_error **err);
void layer_stream_free(struct layer_stream *s);
