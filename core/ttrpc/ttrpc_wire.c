/* ttrpc framing: see ttrpc_wire.h. */
#include "ttrpc/ttrpc_wire.h"

#include <stdlib.h>
#include <string.h>

#include "google/rpc/status.pb-c.h"

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_LEN], const struct ttrpc_header *h)
{
	out[0] = (uint8_t)(h->length >> 24);
	out[1] = (uint8_t)(h->length >> 16);
	out[2] = (uint8_t)(h->length >> 8);
	out[3] = (uint8_t)h->length;
	out[4] = (uint8_t)(h->stream >> 24);
	out[5] = (uint8_t)(h->stream >> 16);
	out[6] = (uint8_t)(h->stream >> 8);
	out[7] = (uint8_t)h->stream;
	out[8] = h->type;
	out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h)
{
	h->length = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
	h->stream = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
	h->type = in[8];
	h->flags = in[9];
}

bool ttrpc_reader_feed(struct ttrpc_reader *r, const void *p, size_t n)
{
	const uint8_t *src = p;

	/* An oversized frame's body is dropped as it arrives. */
	if (r->discard > 0) {
		size_t k = n < r->discard ? n : r->discard;
		r->discard -= k;
		src += k;
		n -= k;
	}
	if (n == 0)
		return true;
	if (r->off > 0) {   /* the front was consumed: move what is left down */
		memmove(r->data, r->data + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->cap - r->len < n) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap - r->len < n)
			cap *= 2;
		uint8_t *d = realloc(r->data, cap);
		if (d == NULL)
			return false;
		r->data = d;
		r->cap = cap;
	}
	memcpy(r->data + r->len, src, n);
	r->len += n;
	return true;
}

enum ttrpc_read ttrpc_reader_next(struct ttrpc_reader *r, struct ttrpc_header *h, const uint8_t **body)
{
	size_t avail = r->len - r->off;

	if (avail < TTRPC_HEADER_LEN)
		return TTRPC_READ_MORE;
	ttrpc_header_decode(r->data + r->off, h);
	if (h->length > TTRPC_MAX_MESSAGE) {
		size_t have = avail - TTRPC_HEADER_LEN;
		size_t drop = have < h->length ? have : h->length;
		r->off += TTRPC_HEADER_LEN + drop;
		r->discard = h->length - drop;
		*body = NULL;
		return TTRPC_READ_TOO_LARGE;
	}
	if (avail - TTRPC_HEADER_LEN < h->length)
		return TTRPC_READ_MORE;
	*body = r->data + r->off + TTRPC_HEADER_LEN;
	r->off += TTRPC_HEADER_LEN + h->length;
	return TTRPC_READ_FRAME;
}

void ttrpc_reader_free(struct ttrpc_reader *r)
{
	free(r->data);
	*r = (struct ttrpc_reader){0};
}

/* Packs `msg` behind a header into a new buffer. */
static uint8_t *frame_of(uint32_t stream, uint8_t type, const ProtobufCMessage *msg, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > TTRPC_MAX_MESSAGE)
		return NULL;
	uint8_t *out = malloc(TTRPC_HEADER_LEN + n);
	if (out == NULL)
		return NULL;
	struct ttrpc_header h = {.length = (uint32_t)n, .stream = stream, .type = type};
	ttrpc_header_encode(out, &h);
	protobuf_c_message_pack(msg, out + TTRPC_HEADER_LEN);
	*len = TTRPC_HEADER_LEN + n;
	return out;
}

/* Packs an inner message into a malloc'ed payload (NULL data for none). */
static bool pack_payload(const ProtobufCMessage *m, ProtobufCBinaryData *out)
{
	*out = (ProtobufCBinaryData){0};
	if (m == NULL)
		return true;
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > TTRPC_MAX_MESSAGE)
		return false;
	out->data = malloc(n ? n : 1);
	if (out->data == NULL)
		return false;
	out->len = protobuf_c_message_pack(m, out->data);
	return true;
}

uint8_t *ttrpc_request_frame_raw(uint32_t stream, const char *service, const char *method, const uint8_t *payload,
                                 size_t payload_len, const char *ns, int64_t timeout_ns, size_t *len)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
	Ttrpc__KeyValue *kvs[1] = {&kv};

	req.service = (char *)service;
	req.method = (char *)method;
	req.timeout_nano = timeout_ns;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = payload_len;
	if (ns != NULL) {
		kv.key = TTRPC_NAMESPACE_KEY;
		kv.value = (char *)ns;
		req.metadata = kvs;
		req.n_metadata = 1;
	}
	return frame_of(stream, TTRPC_REQUEST, &req.base, len);
}

uint8_t *ttrpc_request_frame(uint32_t stream, const char *service, const char *method,
                             const ProtobufCMessage *arg, const char *ns, int64_t timeout_ns, size_t *len)
{
	ProtobufCBinaryData p;
	if (!pack_payload(arg, &p))
		return NULL;
	uint8_t *out = ttrpc_request_frame_raw(stream, service, method, p.data, p.len, ns, timeout_ns, len);
	free(p.data);
	return out;
}

uint8_t *ttrpc_response_frame(uint32_t stream, int code, const char *message, const ProtobufCMessage *result,
                              size_t *len)
{
	Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;

	if (code != 0) {
		st.code = code;
		st.message = (char *)(message ? message : "");
		resp.status = &st;
	} else if (!pack_payload(result, &resp.payload)) {
		return NULL;
	}
	uint8_t *out = frame_of(stream, TTRPC_RESPONSE, &resp.base, len);
	free(resp.payload.data);
	return out;
}

const char *ttrpc_request_namespace(const Ttrpc__Request *req)
{
	for (size_t i = 0; i < req->n_metadata; i++)
		if (req->metadata[i]->key != NULL && strcmp(req->metadata[i]->key, TTRPC_NAMESPACE_KEY) == 0)
			return req->metadata[i]->value;
	return NULL;
}
