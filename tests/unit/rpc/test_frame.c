/* gRPC message framing: whole, split, oversized, flagged and hostile frames. */
#include "../../harness/tap.h"
#include "rpc/frame.h"

static void put(struct buf *b, const void *p, size_t n) { buf_append(b, p, n); }

int main(void)
{
	struct buf in = {0};
	const uint8_t *msg;
	size_t len;

	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_NEED_MORE);
	put(&in, "\0\0\0", 3);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_NEED_MORE);   /* partial header */
	put(&in, "\0\3ab", 4);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_NEED_MORE);   /* partial body */
	put(&in, "c", 1);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_OK && len == 3 && memcmp(msg, "abc", 3) == 0);
	frame_consume(&in, len);
	CHECK(buf_avail(&in) == 0);

	/* zero-length message (an empty request) */
	put(&in, "\0\0\0\0\0", 5);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_OK && len == 0);
	frame_consume(&in, len);

	/* two messages in one read */
	put(&in, "\0\0\0\0\1x\0\0\0\0\2yz", 13);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_OK && len == 1 && msg[0] == 'x');
	frame_consume(&in, len);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_OK && len == 2 && msg[0] == 'y');
	frame_consume(&in, len);

	/* the limit is checked on the header, before any body arrives */
	put(&in, "\0\xff\xff\xff\xff", 5);
	CHECK(frame_next(&in, 16 << 20, &msg, &len) == FRAME_TOO_LARGE && len == 0xffffffffu);
	buf_free(&in);
	put(&in, "\0\0\0\0\x65", 5);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_TOO_LARGE && len == 101);
	buf_free(&in);

	put(&in, "\1\0\0\0\0", 5);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_COMPRESSED);
	buf_free(&in);
	put(&in, "\7\0\0\0\0", 5);
	CHECK(frame_next(&in, 100, &msg, &len) == FRAME_BAD_FLAG);
	buf_free(&in);

	uint8_t h[5];
	frame_header(h, 0x01020304);
	CHECK(h[0] == 0 && h[1] == 1 && h[2] == 2 && h[3] == 3 && h[4] == 4);
	return tap_done();
}
