/* ttrpc: the codec (headers, reassembly from any split, oversized frames
 * skipped without buffering, request and response round trips) and the
 * libuv connections (a client and a server on one loop: calls answered in
 * any order, errors, a server that answers later, a peer that closes with
 * calls pending, garbage from a raw client while the server keeps serving). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../harness/tap.h"
#include "google/protobuf/empty.pb-c.h"
#include "ttrpc/ttrpc_conn.h"
#include "ttrpc/ttrpc_wire.h"

static void test_header(void)
{
	uint8_t b[TTRPC_HEADER_LEN];
	struct ttrpc_header h = {.length = 0x01020304, .stream = 0xa0b0c0d1, .type = 2, .flags = 4}, g;
	ttrpc_header_encode(b, &h);
	CHECK(b[0] == 1 && b[3] == 4 && b[4] == 0xa0 && b[7] == 0xd1 && b[8] == 2 && b[9] == 4);
	ttrpc_header_decode(b, &g);
	CHECK(g.length == h.length && g.stream == h.stream && g.type == 2 && g.flags == 4);
}

static void test_reader_splits(void)
{
	size_t len;
	uint8_t *f = ttrpc_request_frame_raw(7, "svc.S", "M", (const uint8_t *)"abc", 3, "ns1", 5, &len);
	CHECK(f != NULL);
	/* two frames back to back, fed one byte at a time */
	struct ttrpc_reader r = {0};
	int frames = 0;
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < len; i++) {
			ttrpc_reader_feed(&r, f + i, 1);
			struct ttrpc_header h;
			const uint8_t *body;
			enum ttrpc_read rr = ttrpc_reader_next(&r, &h, &body);
			if (i + 1 < len) {
				if (rr != TTRPC_READ_MORE)
					CHECK(!"frame before its last byte");
				continue;
			}
			CHECK(rr == TTRPC_READ_FRAME);
			CHECK(h.stream == 7 && h.type == TTRPC_REQUEST);
			Ttrpc__Request *req = ttrpc__request__unpack(NULL, h.length, body);
			CHECK(req != NULL);
			if (req != NULL) {
				CHECK_STR(req->service, "svc.S");
				CHECK_STR(req->method, "M");
				CHECK(req->payload.len == 3 && memcmp(req->payload.data, "abc", 3) == 0);
				CHECK(req->timeout_nano == 5);
				CHECK_STR(ttrpc_request_namespace(req), "ns1");
				ttrpc__request__free_unpacked(req, NULL);
			}
			frames++;
		}
	}
	CHECK(frames == 2);
	ttrpc_reader_free(&r);
	free(f);
}

static void test_reader_too_large(void)
{
	struct ttrpc_reader r = {0};
	uint8_t hdr[TTRPC_HEADER_LEN];
	struct ttrpc_header h = {.length = TTRPC_MAX_MESSAGE + 1, .stream = 9, .type = TTRPC_REQUEST}, g;
	ttrpc_header_encode(hdr, &h);
	ttrpc_reader_feed(&r, hdr, sizeof hdr);
	const uint8_t *body;
	CHECK(ttrpc_reader_next(&r, &g, &body) == TTRPC_READ_TOO_LARGE);
	CHECK(g.stream == 9);
	/* its body streams past without being buffered */
	static uint8_t junk[1 << 16];
	size_t left = TTRPC_MAX_MESSAGE + 1;
	while (left > 0) {
		size_t n = left < sizeof junk ? left : sizeof junk;
		ttrpc_reader_feed(&r, junk, n);
		left -= n;
	}
	CHECK(r.cap <= 4096);
	CHECK(ttrpc_reader_next(&r, &g, &body) == TTRPC_READ_MORE);
	/* and the next frame is read normally */
	size_t len;
	uint8_t *f = ttrpc_response_frame(11, 5, "gone: not found", NULL, &len);
	ttrpc_reader_feed(&r, f, len);
	CHECK(ttrpc_reader_next(&r, &g, &body) == TTRPC_READ_FRAME);
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, g.length, body);
	CHECK(resp != NULL && resp->status != NULL && resp->status->code == 5);
	if (resp != NULL) {
		CHECK_STR(resp->status->message, "gone: not found");
		ttrpc__response__free_unpacked(resp, NULL);
	}
	free(f);
	ttrpc_reader_free(&r);
}

/* --- connections ------------------------------------------------------------ */

static uv_loop_t loop;
static struct ttrpc_conn *held_conn;   /* the server holds one request to answer later */
static uint32_t held_stream;
static int answers, unavailable;
static char last_msg[256], last_payload[64];
static int last_code;

static void handler(void *arg, struct ttrpc_conn *c, uint32_t stream, const Ttrpc__Request *req)
{
	if (strcmp(req->method, "Echo") == 0) {
		/* answer with the payload as the "result": an Empty-sized message won't carry it,
		 * so reply with a Request message as a generic container */
		Ttrpc__Request echo = TTRPC__REQUEST__INIT;
		echo.service = "echo";
		echo.method = (char *)(ttrpc_request_namespace(req) ? ttrpc_request_namespace(req) : "");
		echo.payload = req->payload;
		ttrpc_respond(c, stream, 0, NULL, &echo.base);
	} else if (strcmp(req->method, "Later") == 0) {
		ttrpc_conn_ref(c);
		if (held_conn != NULL)
			ttrpc_conn_unref(held_conn);   /* only the last one is answered */
		held_conn = c;
		held_stream = stream;
	} else {
		ttrpc_respond(c, stream, 12, "unimplemented here", NULL);
	}
}

static void reply(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	answers++;
	last_code = code;
	snprintf(last_msg, sizeof last_msg, "%s", msg ? msg : "");
	last_payload[0] = 0;
	if (code == 14)
		unavailable++;
	if (code == 0 && p != NULL) {
		Ttrpc__Request *r = ttrpc__request__unpack(NULL, len, p);
		if (r != NULL) {
			snprintf(last_payload, sizeof last_payload, "%s:%.*s", r->method, (int)r->payload.len,
				 (const char *)r->payload.data);
			ttrpc__request__free_unpacked(r, NULL);
		}
	}
	if (arg != NULL)
		*(int *)arg += 1;
}

static struct ttrpc_conn *client;
static void connected(void *arg, struct ttrpc_conn *c, struct ucd_error *err)
{
	client = c;
	*(struct ucd_error **)arg = err;
}

static int closes;
static void on_close(void *arg, struct ttrpc_conn *c)
{
	closes++;
}

static void run_until(int *counter, int want)
{
	for (int i = 0; i < 2000 && *counter < want; i++)
		uv_run(&loop, UV_RUN_ONCE);
}

static void test_conn(const char *dir)
{
	char path[256];
	snprintf(path, sizeof path, "%s/t.sock", dir);
	uv_loop_init(&loop);
	struct ucd_error *err = NULL;
	struct ttrpc_server *s = ttrpc_server_new(&loop, path, -1, -1, handler, NULL, &err);
	CHECK(s != NULL);

	struct ucd_error *cerr = (struct ucd_error *)1;
	int dummy = 0;
	ttrpc_connect(&loop, path, connected, &cerr);
	while (cerr == (struct ucd_error *)1)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(client != NULL && cerr == NULL);
	(void)dummy;

	/* a call never answers from inside ttrpc_call */
	int n = 0;
	ttrpc_call(client, "s", "Echo", "ns9", (const uint8_t *)"hello", 5, 0, reply, &n);
	CHECK(n == 0);
	run_until(&n, 1);
	CHECK(last_code == 0);
	CHECK_STR(last_payload, "ns9:hello");

	/* an error status reaches the caller with its message */
	ttrpc_call(client, "s", "Nope", NULL, NULL, 0, 0, reply, &n);
	run_until(&n, 2);
	CHECK(last_code == 12);
	CHECK_STR(last_msg, "unimplemented here");

	/* answered out of order: Later waits, Echo passes it */
	int later = 0, echo = 0;
	ttrpc_call(client, "s", "Later", NULL, NULL, 0, 0, reply, &later);
	ttrpc_call(client, "s", "Echo", NULL, (const uint8_t *)"x", 1, 0, reply, &echo);
	run_until(&echo, 1);
	CHECK(echo == 1 && later == 0);
	ttrpc_respond(held_conn, held_stream, 0, NULL, NULL);
	ttrpc_conn_unref(held_conn);
	held_conn = NULL;
	run_until(&later, 1);
	CHECK(later == 1 && last_code == 0);

	/* garbage from a raw client: that connection ends, the server serves on */
	int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1 < sizeof sa.sun_path ? strlen(path) + 1 : sizeof sa.sun_path - 1);
	CHECK(connect(raw, (struct sockaddr *)&sa, sizeof sa) == 0);
	uint8_t bad[TTRPC_HEADER_LEN + 4];
	struct ttrpc_header bh = {.length = 4, .stream = 2, .type = TTRPC_RESPONSE};   /* a response to a server */
	ttrpc_header_encode(bad, &bh);
	memcpy(bad + TTRPC_HEADER_LEN, "junk", 4);
	CHECK(write(raw, bad, sizeof bad) == (ssize_t)sizeof bad);
	/* an undecodable request on an odd stream is answered, not fatal */
	int n2 = 0;
	for (int i = 0; i < 50; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	char buf[64];
	ssize_t got = read(raw, buf, sizeof buf);   /* closed by the server: EOF */
	CHECK(got == 0);
	close(raw);
	ttrpc_call(client, "s", "Echo", NULL, (const uint8_t *)"still", 5, 0, reply, &n2);
	run_until(&n2, 1);
	CHECK_STR(last_payload, ":still");

	/* a request over 4 MiB is refused by the client before it is sent */
	size_t big = TTRPC_MAX_MESSAGE + 1;
	uint8_t *huge = calloc(1, big);
	int n3 = 0;
	ttrpc_call(client, "s", "Echo", NULL, huge, big, 0, reply, &n3);
	CHECK(n3 == 0);
	run_until(&n3, 1);
	CHECK(last_code == 14);
	free(huge);

	/* pending calls end UNAVAILABLE when the connection closes */
	int pend = 0;
	ttrpc_on_close(client, on_close, NULL);
	ttrpc_call(client, "s", "Later", NULL, NULL, 0, 0, reply, &pend);
	ttrpc_call(client, "s", "Later", NULL, NULL, 0, 0, reply, &pend);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	unavailable = 0;
	ttrpc_close(client);
	CHECK(pend == 2 && unavailable == 2 && closes == 1);
	/* a call on a closed connection is answered later, UNAVAILABLE */
	int after = 0;
	ttrpc_call(client, "s", "Echo", NULL, NULL, 0, 0, reply, &after);
	CHECK(after == 0);
	run_until(&after, 1);
	CHECK(after == 1 && last_code == 14);
	if (held_conn != NULL) {
		ttrpc_conn_unref(held_conn);
		held_conn = NULL;
	}

	/* connecting to nothing fails cleanly */
	char nopath[300];
	snprintf(nopath, sizeof nopath, "unix://%s/none.sock", dir);
	cerr = (struct ucd_error *)1;
	client = (struct ttrpc_conn *)1;
	ttrpc_connect(&loop, nopath, connected, &cerr);
	while (cerr == (struct ucd_error *)1)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(client == NULL && cerr != NULL && cerr->code == 14);
	if (cerr != NULL && cerr != (struct ucd_error *)1) {
		free(cerr->msg);
		free(cerr);
	}

	ttrpc_server_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK(uv_loop_close(&loop) == 0);
}

int main(void)
{
	char dir[] = "/tmp/ucd-ttrpc-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 2;
	test_header();
	test_reader_splits();
	test_reader_too_large();
	test_conn(dir);
	rmdir(dir);
	return tap_done();
}
