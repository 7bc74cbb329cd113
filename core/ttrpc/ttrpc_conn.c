/* ttrpc connections on a libuv loop: see ttrpc_conn.h. */
#include "ttrpc/ttrpc_conn.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "google/rpc/status.pb-c.h"
#include "util/error.h"
#include "util/list.h"
#include "util/mem.h"
#include "util/unixsock.h"

#define GRPC_UNAVAILABLE 14
#define GRPC_INVALID_ARGUMENT 3
#define GRPC_RESOURCE_EXHAUSTED 8

struct pending {
	struct list link;
	uint32_t stream;
	ttrpc_reply_fn reply;
	void *arg;
};

struct ttrpc_conn {
	uv_pipe_t pipe;
	int refs;
	bool closing;
	struct ttrpc_reader rd;
	uint32_t next_stream;        /* client: the next odd stream id */
	struct list pending;    /* client: calls awaiting their answer */
	struct ttrpc_server *server; /* server side: the listener it came from */
	struct list link;       /* in server->conns */
	void (*on_close)(void *arg, struct ttrpc_conn *c);
	void *on_close_arg;
	/* client: ttrpc_connect's callback until the connect completes */
	uv_connect_t connect;
	void (*connected)(void *arg, struct ttrpc_conn *c, struct ucd_error *err);
	void *connected_arg;
};

struct ttrpc_server {
	uv_pipe_t listener;
	char *path;
	ttrpc_handler_fn handler;
	void *arg;
	struct list conns;
	bool closing;
};

/* Reads go through one buffer: the loop is single-threaded and each read is
 * consumed (copied into the connection's reader) before the next alloc, so
 * fifty idle shim connections cost no read buffers. */
static char read_buffer[64 * 1024];

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = read_buffer;
	b->len = sizeof read_buffer;
}

/* --- answers that must not run inside the caller ---------------------------- */

struct deferred {
	uv_timer_t timer;
	ttrpc_reply_fn reply;
	void *arg;
	char *message;
};

static void deferred_closed(uv_handle_t *h)
{
	struct deferred *d = h->data;
	free(d->message);
	free(d);
}

static void deferred_fire(uv_timer_t *t)
{
	struct deferred *d = t->data;
	d->reply(d->arg, GRPC_UNAVAILABLE, d->message, NULL, 0);
	uv_close((uv_handle_t *)&d->timer, deferred_closed);
}

static void fail_later(uv_loop_t *loop, ttrpc_reply_fn reply, void *arg, const char *message)
{
	struct deferred *d = xcalloc(1, sizeof *d);
	d->reply = reply;
	d->arg = arg;
	d->message = xstrdup(message);
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, deferred_fire, 0, 0);
}

/* --- life cycle ------------------------------------------------------------- */

static struct ttrpc_conn *conn_new(uv_loop_t *loop)
{
	struct ttrpc_conn *c = xcalloc(1, sizeof *c);
	uv_pipe_init(loop, &c->pipe, 0);
	c->pipe.data = c;
	c->refs = 1;
	c->next_stream = 1;
	list_init(&c->pending);
	list_init(&c->link);
	return c;
}

void ttrpc_conn_ref(struct ttrpc_conn *c)
{
	c->refs++;
}

void ttrpc_conn_unref(struct ttrpc_conn *c)
{
	if (--c->refs > 0)
		return;
	ttrpc_reader_free(&c->rd);
	free(c);
}

static void on_closed(uv_handle_t *h)
{
	ttrpc_conn_unref(h->data);
}

bool ttrpc_is_open(const struct ttrpc_conn *c)
{
	return !c->closing;
}

void ttrpc_close(struct ttrpc_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	list_del(&c->link);
	/* Answer what waits: each reply may call back into us (and close). */
	ttrpc_conn_ref(c);
	while (!list_empty(&c->pending)) {
		struct pending *p = list_first_entry(&c->pending, struct pending, link);
		list_del(&p->link);
		p->reply(p->arg, GRPC_UNAVAILABLE, "ttrpc: closed", NULL, 0);
		free(p);
	}
	if (c->on_close != NULL)
		c->on_close(c->on_close_arg, c);
	uv_close((uv_handle_t *)&c->pipe, on_closed);
	ttrpc_conn_unref(c);
}

void ttrpc_on_close(struct ttrpc_conn *c, void (*fn)(void *arg, struct ttrpc_conn *c), void *arg)
{
	c->on_close = fn;
	c->on_close_arg = arg;
}

/* --- writing ---------------------------------------------------------------- */

struct write_req {
	uv_write_t req;
	uint8_t *frame;
};

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	free(wr->frame);
	free(wr);
	/* A failed write surfaces as a read error or EOF, which closes. */
}

static bool send_frame(struct ttrpc_conn *c, uint8_t *frame, size_t len)
{
	struct write_req *wr = xcalloc(1, sizeof *wr);
	wr->frame = frame;
	uv_buf_t b = uv_buf_init((char *)frame, (unsigned)len);
	if (uv_write(&wr->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
		free(frame);
		free(wr);
		return false;
	}
	return true;
}

/* --- reading ---------------------------------------------------------------- */

static void client_response(struct ttrpc_conn *c, const struct ttrpc_header *h, const uint8_t *body)
{
	struct pending *p = NULL;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &c->pending) {
		struct pending *it = list_entry(pos, struct pending, link);
		if (it->stream == h->stream) {
			p = it;
			break;
		}
	}
	if (p == NULL)
		return;   /* an answer nobody asked for: ignore, as ttrpc does */
	list_del(&p->link);
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h->length, body);
	if (resp == NULL)
		p->reply(p->arg, GRPC_UNAVAILABLE, "ttrpc: undecodable response", NULL, 0);
	else if (resp->status != NULL && resp->status->code != 0)
		p->reply(p->arg, resp->status->code, resp->status->message, NULL, 0);
	else
		p->reply(p->arg, 0, NULL, resp->payload.data, resp->payload.len);
	if (resp != NULL)
		ttrpc__response__free_unpacked(resp, NULL);
	free(p);
}

static void server_request(struct ttrpc_conn *c, const struct ttrpc_header *h, const uint8_t *body)
{
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, h->length, body);
	if (req == NULL) {
		ttrpc_respond(c, h->stream, GRPC_INVALID_ARGUMENT, "ttrpc: undecodable request", NULL);
		return;
	}
	c->server->handler(c->server->arg, c, h->stream, req);
	ttrpc__request__free_unpacked(req, NULL);
}

/* Handles every whole frame buffered; false when the connection must end. */
static bool drain(struct ttrpc_conn *c)
{
	struct ttrpc_header h;
	const uint8_t *body;
	for (;;) {
		enum ttrpc_read r = ttrpc_reader_next(&c->rd, &h, &body);
		if (r == TTRPC_READ_MORE)
			return true;
		if (r == TTRPC_READ_TOO_LARGE) {
			if (c->server == NULL)
				return false;   /* a shim answering 4 MiB+: nothing to wait for */
			char msg[96];
			snprintf(msg, sizeof msg, "message length %u exceed maximum message size of %u", h.length,
				 TTRPC_MAX_MESSAGE);
			ttrpc_respond(c, h.stream, GRPC_RESOURCE_EXHAUSTED, msg, NULL);
			continue;
		}
		if (c->server != NULL && h.type == TTRPC_REQUEST && (h.stream & 1) == 1)
			server_request(c, &h, body);
		else if (c->server == NULL && h.type == TTRPC_RESPONSE)
			client_response(c, &h, body);
		else
			return false;   /* a frame this end never expects: the peer is broken */
		if (c->closing)
			return false;
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct ttrpc_conn *c = s->data;
	if (n == 0)
		return;
	if (n < 0 || !ttrpc_reader_feed(&c->rd, b->base, (size_t)n)) {
		ttrpc_close(c);
		return;
	}
	ttrpc_conn_ref(c);
	if (!drain(c))
		ttrpc_close(c);
	ttrpc_conn_unref(c);
}

/* --- client ----------------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status)
{
	struct ttrpc_conn *c = req->data;
	void (*done)(void *, struct ttrpc_conn *, struct ucd_error *) = c->connected;
	void *arg = c->connected_arg;
	c->connected = NULL;
	if (status < 0) {
		struct ucd_error *e = NULL;
		error_set(&e, UCD_UNAVAILABLE, -status, "connect to shim: %s", uv_strerror(status));
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, on_closed);
		done(arg, NULL, e);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	done(arg, c, NULL);
}

void ttrpc_connect(uv_loop_t *loop, const char *address,
		   void (*done)(void *arg, struct ttrpc_conn *c, struct ucd_error *err), void *arg)
{
	if (strncmp(address, "unix://", 7) == 0)
		address += 7;
	struct ttrpc_conn *c = conn_new(loop);
	c->connected = done;
	c->connected_arg = arg;
	c->connect.data = c;
	uv_pipe_connect(&c->connect, &c->pipe, address, on_connected);
}

void ttrpc_call(struct ttrpc_conn *c, const char *service, const char *method, const char *ns,
		const uint8_t *payload, size_t len, int64_t timeout_ns, ttrpc_reply_fn reply, void *arg)
{
	if (c->closing) {
		fail_later(c->pipe.loop, reply, arg, "ttrpc: closed");
		return;
	}
	uint32_t stream = c->next_stream;
	c->next_stream += 2;
	size_t flen;
	uint8_t *frame = ttrpc_request_frame_raw(stream, service, method, payload, len, ns, timeout_ns, &flen);
	if (frame == NULL) {
		fail_later(c->pipe.loop, reply, arg, "ttrpc: request larger than 4 MiB");
		return;
	}
	if (!send_frame(c, frame, flen)) {
		fail_later(c->pipe.loop, reply, arg, "ttrpc: write failed");
		return;
	}
	struct pending *p = xcalloc(1, sizeof *p);
	p->stream = stream;
	p->reply = reply;
	p->arg = arg;
	list_add_tail(&c->pending, &p->link);
}

/* --- server ----------------------------------------------------------------- */

void ttrpc_respond(struct ttrpc_conn *c, uint32_t stream, int code, const char *message,
		   const ProtobufCMessage *result)
{
	if (c->closing)
		return;
	size_t len;
	uint8_t *frame = ttrpc_response_frame(stream, code, message, result, &len);
	if (frame == NULL)
		frame = ttrpc_response_frame(stream, GRPC_RESOURCE_EXHAUSTED, "ttrpc: response too large", NULL, &len);
	if (frame != NULL && !send_frame(c, frame, len))
		ttrpc_close(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct ttrpc_server *s = l->data;
	if (status < 0 || s->closing)
		return;
	struct ttrpc_conn *c = conn_new(l->loop);
	if (uv_accept(l, (uv_stream_t *)&c->pipe) < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->pipe, on_closed);
		return;
	}
	c->server = s;
	list_add_tail(&s->conns, &c->link);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

struct ttrpc_server *ttrpc_server_new(uv_loop_t *loop, const char *path, int uid, int gid, ttrpc_handler_fn handler,
				      void *arg, struct ucd_error **err)
{
	struct ttrpc_server *s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->handler = handler;
	s->arg = arg;
	list_init(&s->conns);
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	/* A client of this socket can have a shim exec in a container: it
	 * appears at its path already 0660 and owned as configured
	 * (util/unixsock.h), replacing a stale one. */
	int fd = unixsock_listen(path, 0660, uid, gid, 128, err);
	if (fd < 0)
		goto fail;
	int r = uv_pipe_open(&s->listener, fd);
	if (r < 0)
		close(fd);
	else
		r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (r < 0) {
		unlink(path);
		error_set(err, UCD_INTERNAL, -r, "listen on ttrpc socket `%s`: %s", path, uv_strerror(r));
		goto fail;
	}
	return s;
fail:
	s->closing = true;
	uv_close((uv_handle_t *)&s->listener, (uv_close_cb)free);   /* listener is the first member */
	free(s->path);
	return NULL;
}

static void server_closed(uv_handle_t *h)
{
	struct ttrpc_server *s = h->data;
	free(s->path);
	free(s);
}

void ttrpc_server_close(struct ttrpc_server *s)
{
	if (s == NULL || s->closing)
		return;
	s->closing = true;
	while (!list_empty(&s->conns))
		ttrpc_close(list_first_entry(&s->conns, struct ttrpc_conn, link));
	unlink(s->path);
	uv_close((uv_handle_t *)&s->listener, server_closed);
}
