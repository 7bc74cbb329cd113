/* The ttrpc codec (core/ttrpc), both directions. Byte 0 of the input picks
 * what the rest is (modulo 3):
 *  0  frames into ttrpc_reader, fed in pieces whose sizes come from byte 1
 *     (as a socket delivers them); every Request and Response decoded,
 *     encoded again with the codec's own frame builders and decoded once
 *     more: the fields the builders carry must come back the same;
 *  1  what a shim sends to the daemon's ttrpc socket (the Events service
 *     of core/services/events_ttrpc.c over core/ttrpc/ttrpc_conn.c);
 *  2  what a shim answers the daemon: the daemon's ttrpc client (the
 *     runtime plugin's connection to a shim) sends three calls, the input
 *     is the shim's side of the connection; every call must be answered
 *     exactly once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_daemon.h"
#include "ttrpc/ttrpc_conn.h"
#include "ttrpc/ttrpc_wire.h"
#include "util/mem.h"

static void roundtrip_request(const struct ttrpc_header *h, const uint8_t *body)
{
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, h->length, body);
	if (req == NULL)
		return;
	const char *ns = ttrpc_request_namespace(req);
	size_t len;
	uint8_t *frame = ttrpc_request_frame_raw(h->stream, req->service, req->method, req->payload.data,
						 req->payload.len, ns, req->timeout_nano, &len);
	FUZZ_CHECK(frame != NULL, "a decoded request does not encode again");
	struct ttrpc_header h2;
	ttrpc_header_decode(frame, &h2);
	FUZZ_CHECK(h2.stream == h->stream && h2.type == TTRPC_REQUEST && h2.length == len - TTRPC_HEADER_LEN,
		   "header: stream %u type %u length %u", h2.stream, h2.type, h2.length);
	Ttrpc__Request *again = ttrpc__request__unpack(NULL, h2.length, frame + TTRPC_HEADER_LEN);
	FUZZ_CHECK(again != NULL, "an encoded request does not decode");
	const char *ns2 = ttrpc_request_namespace(again);
	FUZZ_CHECK(strcmp(req->service, again->service) == 0 && strcmp(req->method, again->method) == 0 &&
			   req->timeout_nano == again->timeout_nano && req->payload.len == again->payload.len &&
			   (req->payload.len == 0 ||
			    memcmp(req->payload.data, again->payload.data, req->payload.len) == 0) &&
			   (ns == NULL) == (ns2 == NULL) && (ns == NULL || strcmp(ns, ns2) == 0),
		   "request fields changed in the round trip");
	ttrpc__request__free_unpacked(again, NULL);
	ttrpc__request__free_unpacked(req, NULL);
	free(frame);
}

static void roundtrip_response(const struct ttrpc_header *h, const uint8_t *body)
{
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h->length, body);
	if (resp == NULL)
		return;
	if (resp->status != NULL && resp->status->code != 0) {
		size_t len;
		uint8_t *frame = ttrpc_response_frame(h->stream, resp->status->code, resp->status->message, NULL, &len);
		FUZZ_CHECK(frame != NULL, "a decoded status does not encode again");
		Ttrpc__Response *again = ttrpc__response__unpack(NULL, len - TTRPC_HEADER_LEN, frame + TTRPC_HEADER_LEN);
		FUZZ_CHECK(again != NULL && again->status != NULL && again->status->code == resp->status->code &&
				   strcmp(again->status->message, resp->status->message) == 0,
			   "status changed in the round trip");
		ttrpc__response__free_unpacked(again, NULL);
		free(frame);
	}
	ttrpc__response__free_unpacked(resp, NULL);
}

static void codec(const uint8_t *data, size_t size)
{
	if (size == 0)
		return;
	unsigned piece = (unsigned)data[0] + 1;   /* 1..256 bytes per read */
	data++;
	size--;
	struct ttrpc_reader rd = {0};
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		FUZZ_CHECK(ttrpc_reader_feed(&rd, data + off, n), "feed");
		off += n;
		struct ttrpc_header h;
		const uint8_t *body;
		enum ttrpc_read r;
		while ((r = ttrpc_reader_next(&rd, &h, &body)) != TTRPC_READ_MORE) {
			if (r == TTRPC_READ_TOO_LARGE) {
				FUZZ_CHECK(h.length > TTRPC_MAX_MESSAGE && body == NULL, "too large: %u", h.length);
				continue;
			}
			FUZZ_CHECK(h.length <= TTRPC_MAX_MESSAGE, "a frame of %u bytes", h.length);
			uint8_t hdr[TTRPC_HEADER_LEN];
			ttrpc_header_encode(hdr, &h);
			struct ttrpc_header h2;
			ttrpc_header_decode(hdr, &h2);
			FUZZ_CHECK(h.length == h2.length && h.stream == h2.stream && h.type == h2.type && h.flags == h2.flags,
				   "header round trip");
			if (h.type == TTRPC_REQUEST)
				roundtrip_request(&h, body);
			else if (h.type == TTRPC_RESPONSE)
				roundtrip_response(&h, body);
		}
	}
	ttrpc_reader_free(&rd);
}

/* --- the daemon as a ttrpc client ---------------------------------------------------- */

struct client {
	struct ttrpc_conn *c;
	bool connected, closed;
	int answers[3];
};

static int shim_listener = -1;
static char *shim_path;

static void on_reply(void *arg, int code, const char *message, const uint8_t *payload, size_t len)
{
	int *n = arg;
	(*n)++;
}

static void on_close(void *arg, struct ttrpc_conn *c)
{
	struct client *cl = arg;
	cl->closed = true;
}

static void on_connected(void *arg, struct ttrpc_conn *c, struct ucd_error *err)
{
	struct client *cl = arg;
	FUZZ_CHECK(c != NULL, "connect to the fuzzer's shim socket: %s", err ? err->msg : "?");
	cl->c = c;
	cl->connected = true;
	ttrpc_on_close(c, on_close, cl);
}

static void run_until(struct fuzz_daemon *d, bool *flag)
{
	while (!*flag)
		uv_run(&d->loop, UV_RUN_ONCE);
}

static void client(struct fuzz_daemon *d, const uint8_t *data, size_t size)
{
	struct client cl = {0};
	ttrpc_connect(&d->loop, shim_path, on_connected, &cl);
	run_until(d, &cl.connected);
	int fd = accept4(shim_listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	FUZZ_CHECK(fd >= 0, "accept: %s", strerror(errno));
	static const char *const methods[] = {"State", "Pids", "Wait"};
	for (int i = 0; i < 3; i++)
		ttrpc_call(cl.c, "containerd.task.v2.Task", methods[i], "default", (const uint8_t *)"\n\x02id", 4,
			   i == 2 ? 0 : 1000000000, on_reply, &cl.answers[i]);
	size_t off = 0;
	bool shut = false;
	char sink[4096];
	while (!cl.closed || cl.answers[0] + cl.answers[1] + cl.answers[2] < 3) {
		while (recv(fd, sink, sizeof sink, 0) > 0)
			;
		while (off < size) {
			ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (w <= 0) {
				if (w < 0 && errno != EAGAIN && errno != EINTR)
					off = size;
				break;
			}
			off += (size_t)w;
		}
		if (off == size && !shut) {
			/* the shim goes away: what is unanswered must be answered now */
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		uv_run(&d->loop, off < size ? UV_RUN_NOWAIT : UV_RUN_ONCE);
	}
	for (int i = 0; i < 3; i++)
		FUZZ_CHECK(cl.answers[i] == 1, "call %d answered %d times", i, cl.answers[i]);
	close(fd);
	/* the connection's handle closes in the next loop turns */
	for (int i = 0; i < 4; i++)
		uv_run(&d->loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_daemon_start(0);
	shim_path = xasprintf("%s/shim.sock", fuzz_tmpdir());
	shim_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", shim_path);
	FUZZ_CHECK(bind(shim_listener, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(shim_listener, 16) == 0,
		   "listen on %s: %s", shim_path, strerror(errno));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct fuzz_daemon *d = fuzz_daemon_start(0);
	switch (data[0] % 3) {
	case 0:
		codec(data + 1, size - 1);
		break;
	case 1:
		fuzz_daemon_exchange(d, d->ttrpc_path, data + 1, size - 1);
		fuzz_daemon_reset(d);
		break;
	case 2:
		client(d, data + 1, size - 1);
		break;
	}
	return 0;
}
