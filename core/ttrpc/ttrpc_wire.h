/* ttrpc framing (github.com/containerd/ttrpc), the protocol between the
 * daemon and shims.
 *
 * A connection carries frames: a 10-byte header (big-endian u32 length of
 * the body, big-endian u32 stream id, u8 type, u8 flags) and a body of that
 * many bytes, at most 4 MiB. A client opens stream ids 1, 3, 5, ... with one
 * Request frame each and gets one Response frame on the same id; requests
 * are multiplexed, answers come in any order.
 *
 * This file is the codec only: no I/O, no event loop, no allocation through
 * the daemon's allocator, so that the shim (which has no libuv) and the
 * daemon share it. The daemon's libuv connections are in ttrpc_conn.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ttrpc/ttrpc.pb-c.h"

#define TTRPC_HEADER_LEN 10
/* ttrpc's messageLengthMax: a larger frame is refused, not buffered. */
#define TTRPC_MAX_MESSAGE (4u << 20)
/* Where containerd puts the namespace in a request's metadata. */
#define TTRPC_NAMESPACE_KEY "containerd-namespace-ttrpc"

enum ttrpc_type {
	TTRPC_REQUEST = 1,
	TTRPC_RESPONSE = 2,
	TTRPC_DATA = 3,   /* streaming (ttrpc >= 1.2); we neither send nor accept it */
};

struct ttrpc_header {
	uint32_t length;
	uint32_t stream;
	uint8_t type;
	uint8_t flags;
};

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_header *h);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h);

/* Reassembles frames from bytes as they arrive. */
struct ttrpc_reader {
	uint8_t *data;
	size_t len, off, cap;
	size_t discard;   /* body bytes of an oversized frame still to drop */
};

enum ttrpc_read {
	TTRPC_READ_MORE,      /* no whole frame buffered yet */
	TTRPC_READ_FRAME,     /* *h and *body (h->length bytes) valid until the next call */
	TTRPC_READ_TOO_LARGE, /* *h is a frame over TTRPC_MAX_MESSAGE: its body is being
	                         skipped without buffering; answer it by stream id */
};

/* Appends n bytes; returns false when memory is exhausted. */
bool ttrpc_reader_feed(struct ttrpc_reader *r, const void *p, size_t n);
enum ttrpc_read ttrpc_reader_next(struct ttrpc_reader *r, struct ttrpc_header *h, const uint8_t **body);
void ttrpc_reader_free(struct ttrpc_reader *r);

/* Encodes header + Request / Response into one malloc'ed frame (*len bytes);
 * NULL when the body would exceed TTRPC_MAX_MESSAGE or memory is exhausted.
 * `arg`/`result` may be NULL (empty payload). `ns` may be NULL (no
 * metadata). timeout_ns 0 means none. */
uint8_t *ttrpc_request_frame(uint32_t stream, const char *service, const char *method,
                             const ProtobufCMessage *arg, const char *ns, int64_t timeout_ns, size_t *len);
/* The same with a payload already packed (payload may be NULL when len is 0). */
uint8_t *ttrpc_request_frame_raw(uint32_t stream, const char *service, const char *method, const uint8_t *payload,
                                 size_t payload_len, const char *ns, int64_t timeout_ns, size_t *len);
/* code is a gRPC status code; message may be NULL. A non-zero code sends no payload. */
uint8_t *ttrpc_response_frame(uint32_t stream, int code, const char *message, const ProtobufCMessage *result,
                              size_t *len);

/* The namespace a request carries in its metadata, or NULL. Borrowed. */
const char *ttrpc_request_namespace(const Ttrpc__Request *req);
