/* HTTP/2 bytes of gRPC requests as a real client sends them, made with
 * nghttp2's client session (no I/O): the connection preface, SETTINGS,
 * then per request HEADERS and DATA frames. For targets and seeds that
 * need well-formed connections around a fuzzed message. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct fuzz_h2;

struct fuzz_h2_header {
	const char *name, *value;
};

struct fuzz_h2 *fuzz_h2_new(void);
/* Adds one call: `:path` and the extra headers, then the gRPC message
 * (5-byte prefix and `msg`) with END_STREAM. */
void fuzz_h2_request(struct fuzz_h2 *h, const char *path, const struct fuzz_h2_header *extra, size_t n_extra,
		     const uint8_t *msg, size_t len);
/* The bytes so far (valid until the next call); *len their count. */
const uint8_t *fuzz_h2_bytes(struct fuzz_h2 *h, size_t *len);
void fuzz_h2_free(struct fuzz_h2 *h);
