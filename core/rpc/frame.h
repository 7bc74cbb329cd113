/* gRPC length-prefixed message framing: 1 byte compressed flag, 4 bytes
 * big-endian length, then the message. Kept apart from HTTP/2 so it can be
 * tested (and fuzzed) on its own. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define GRPC_FRAME_HEADER 5

enum frame_result {
	FRAME_NEED_MORE,   /* not a whole message yet */
	FRAME_OK,          /* msg and len point into the buffer; consume with frame_consume */
	FRAME_TOO_LARGE,   /* declared length over the limit: *len holds it */
	FRAME_COMPRESSED,  /* compressed flag set: we negotiate no compression */
	FRAME_BAD_FLAG,    /* flag byte neither 0 nor 1 */
};

/* Looks at the front of `in` for one whole message of at most `max` bytes.
 * Never reads past buf_avail(in); the length check happens on the header, so
 * an oversized message is refused before its body is buffered. */
enum frame_result frame_next(const struct buf *in, size_t max, const uint8_t **msg, size_t *len);
/* The length a frame header declares. */
uint32_t frame_length(const uint8_t hdr[GRPC_FRAME_HEADER]);
/* Drops the message frame_next returned. */
void frame_consume(struct buf *in, size_t len);
/* Writes the 5-byte header for a message of `len` bytes. */
void frame_header(uint8_t out[GRPC_FRAME_HEADER], uint32_t len);
