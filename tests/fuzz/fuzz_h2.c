#include "fuzz_h2.h"

#include <nghttp2/nghttp2.h>
#include <string.h>

#include "fuzz.h"
#include "util/mem.h"

struct fuzz_h2 {
	nghttp2_session *s;
	uint8_t *out;
	size_t len, cap;
};

struct body {
	uint8_t *data;
	size_t len, off;
};

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct body *b = src->ptr;
	size_t n = b->len - b->off < length ? b->len - b->off : length;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	if (b->off == b->len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		free(b->data);
		free(b);
	}
	return (ssize_t)n;
}

static void drain(struct fuzz_h2 *h)
{
	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(h->s, &data);
		FUZZ_CHECK(n >= 0, "nghttp2 client: %s", nghttp2_strerror((int)n));
		if (n == 0)
			return;
		if (h->len + (size_t)n > h->cap) {
			h->cap = (h->len + (size_t)n) * 2;
			h->out = xrealloc(h->out, h->cap);
		}
		memcpy(h->out + h->len, data, (size_t)n);
		h->len += (size_t)n;
	}
}

struct fuzz_h2 *fuzz_h2_new(void)
{
	struct fuzz_h2 *h = xcalloc(1, sizeof *h);
	nghttp2_session_callbacks *cb;
	FUZZ_CHECK(nghttp2_session_callbacks_new(&cb) == 0, "nghttp2 callbacks");
	FUZZ_CHECK(nghttp2_session_client_new(&h->s, cb, h) == 0, "nghttp2 client");
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, NULL, 0);
	drain(h);
	return h;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

void fuzz_h2_request(struct fuzz_h2 *h, const char *path, const struct fuzz_h2_header *extra, size_t n_extra,
		     const uint8_t *msg, size_t len)
{
	nghttp2_nv nv[16] = {
		NV(":method", "POST"),          NV(":scheme", "http"), NV(":path", path),
		NV(":authority", "localhost"), NV("content-type", "application/grpc"), NV("te", "trailers"),
	};
	size_t n = 6;
	for (size_t i = 0; i < n_extra && n < ARRAY_LEN(nv); i++)
		nv[n++] = (nghttp2_nv)NV(extra[i].name, extra[i].value);
	struct body *b = xcalloc(1, sizeof *b);
	b->len = 5 + len;
	b->data = xmalloc(b->len);
	b->data[0] = 0;
	b->data[1] = (uint8_t)(len >> 24);
	b->data[2] = (uint8_t)(len >> 16);
	b->data[3] = (uint8_t)(len >> 8);
	b->data[4] = (uint8_t)len;
	if (len > 0)
		memcpy(b->data + 5, msg, len);
	nghttp2_data_provider dp = {.source.ptr = b, .read_callback = read_body};
	FUZZ_CHECK(nghttp2_submit_request(h->s, NULL, nv, n, &dp, NULL) > 0, "nghttp2_submit_request");
	drain(h);
}

const uint8_t *fuzz_h2_bytes(struct fuzz_h2 *h, size_t *len)
{
	*len = h->len;
	return h->out;
}

void fuzz_h2_free(struct fuzz_h2 *h)
{
	nghttp2_session_del(h->s);
	free(h->out);
	free(h);
}
