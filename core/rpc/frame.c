#include "rpc/frame.h"

uint32_t frame_length(const uint8_t hdr[GRPC_FRAME_HEADER])
{
	return (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
}

enum frame_result frame_next(const struct buf *in, size_t max, const uint8_t **msg, size_t *len)
{
	size_t avail = buf_avail(in);
	if (avail < GRPC_FRAME_HEADER)
		return FRAME_NEED_MORE;
	const uint8_t *p = in->data + in->off;
	uint32_t n = frame_length(p);
	if (p[0] > 1)
		return FRAME_BAD_FLAG;
	if (p[0] == 1)
		return FRAME_COMPRESSED;
	*len = n;
	if (n > max)
		return FRAME_TOO_LARGE;
	if (avail - GRPC_FRAME_HEADER < n)
		return FRAME_NEED_MORE;
	*msg = p + GRPC_FRAME_HEADER;
	return FRAME_OK;
}

void frame_consume(struct buf *in, size_t len)
{
	buf_consume(in, GRPC_FRAME_HEADER + len);
}

void frame_header(uint8_t out[GRPC_FRAME_HEADER], uint32_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}
