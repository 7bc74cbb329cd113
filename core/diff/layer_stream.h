/* The bytes of a layer blob turned into a tar archive to read entries from:
 * decompression (gzip or zstd, told apart by magic bytes as containerd
 * does) and SHA-256 of the uncompressed stream in one pass, without copying
 * the decompressed bytes again. */
#pragma once
#include <archive.h>
#include <stdint.h>

#include "diff/diff.h"

struct layer_stream;

/* Reads the first bytes to detect the compression, then opens the tar
 * reader; *tar is owned by the stream. */
struct layer_stream *layer_stream_open(enum diff_compression comp, diff_read_fn read, void *read_arg,
				       diff_cancelled_fn cancelled, void *cancel_arg, struct archive **tar,
				       struct ucd_error **err);
/* After the tar's end: reads (and hashes) what follows, then *out is the
 * digest and size of the whole uncompressed stream. */
int layer_stream_finish(struct layer_stream *s, struct diff_digest *out, struct ucd_error **err);
/* The error behind a failed archive_read_* call: the read callback's own
 * error (I/O, cancellation), or libarchive's message as InvalidArgument
 * prefixed with `what`. Returns -code. */
int layer_stream_error(struct layer_stream *s, const char *what, struct ucd_error **err);
void layer_stream_free(struct layer_stream *s);
