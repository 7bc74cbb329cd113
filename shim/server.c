/* The ttrpc server: the daemon connects (again after a restart, so there
 * may be several connections), sends Request frames on odd stream ids and
 * gets one Response per stream, in any order. Requests are handled one at
 * a time; a handler either replies before it returns or parks the call
 * (Wait) and replies later through its struct call.
 *
 * Bad input never stops the shim: an undecodable request is answered with
 * InvalidArgument, an unknown method with Unimplemented, an oversized frame
 * with ResourceExhausted; a header that is not ttrpc at all closes that
 * connection only. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"
#include "ttrpc/ttrpc_wire.h"

#define TASK_SERVICE "containerd.task.v2.Task"
#define MAX_CONNS 64
/* Replies a client does not read are dropped with the connection beyond
 * this, so memory stays bounded. */
#define MAX_PENDING_OUT (16u << 20)
/* A drained reader buffer larger than this is released (after a big frame). */
#define KEEP_READER_CAP (64u << 10)

struct conn {
	struct watch w;
	struct conn *next;
	uint64_t id;
	struct ttrpc_reader rd;
	uint8_t *out;
	size_t out_len, out_off;
};

static struct watch listener = {.fd = -1};
static struct conn *conns;
static uint64_t next_conn_id = 1;
static int n_conns;

static struct conn *find_conn(uint64_t id)
{
	for (struct conn *c = conns; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void conn_close(struct conn *c)
{
	for (struct conn **pp = &conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	log_debug("connection %llu closed", (unsigned long long)c->id);
	loop_close(&c->w);
	ttrpc_reader_free(&c->rd);
	free(c->out);
	n_conns--;
	loop_free_later(c);
}

static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (r <= 0)
			return false;
		c->out_off += (size_t)r;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return true;
}

static void conn_send(struct conn *c, uint8_t *frame, size_t len)
{
	if (c->out_len - c->out_off + len > MAX_PENDING_OUT) {
		log_warn("connection %llu does not read its replies: closed", (unsigned long long)c->id);
		free(frame);
		conn_close(c);
		return;
	}
	if (c->out == NULL) {
		c->out = frame;
		c->out_len = len;
	} else {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		c->out = xrealloc(c->out, c->out_len + len);
		memcpy(c->out + c->out_len, frame, len);
		c->out_len += len;
		free(frame);
	}
	if (!flush_out(c)) {
		conn_close(c);
		return;
	}
	loop_mod(&c->w, EPOLLIN | (c->out != NULL ? EPOLLOUT : 0));
}

static void send_response(uint64_t conn, uint32_t stream, int code, const char *msg, const ProtobufCMessage *result)
{
	struct conn *c = find_conn(conn);
	if (c == NULL)
		return;   /* the client went away: nobody to tell */
	size_t len;
	uint8_t *frame = ttrpc_response_frame(stream, code, msg, result, &len);
	if (frame == NULL) {
		frame = ttrpc_response_frame(stream, CODE_RESOURCE_EXHAUSTED, "response too large", NULL, &len);
		if (frame == NULL)
			return;
	}
	conn_send(c, frame, len);
}

void reply(struct call c, const ProtobufCMessage *result)
{
	send_response(c.conn, c.stream, CODE_OK, NULL, result);
}

void reply_err(struct call c, const struct shim_err *e)
{
	log_debug("stream %u: error %d: %s", c.stream, e->code, e->msg);
	send_response(c.conn, c.stream, e->code ? e->code : CODE_UNKNOWN, e->msg, NULL);
}

void reply_code(struct call c, int code, const char *fmt, ...)
{
	struct shim_err e = {.code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof e.msg, fmt, ap);
	va_end(ap);
	reply_err(c, &e);
}

static const struct method *find_method(const char *name)
{
	for (size_t i = 0; i < task_methods_len; i++)
		if (strcmp(task_methods[i].name, name) == 0)
			return &task_methods[i];
	return NULL;
}

static void handle_request(struct conn *c, uint32_t stream, const uint8_t *body, size_t len)
{
	struct call call = {.conn = c->id, .stream = stream};
	Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, body);
	if (req == NULL) {
		reply_code(call, CODE_INVALID_ARGUMENT, "unmarshal request error: invalid ttrpc request");
		return;
	}
	const char *service = req->service ? req->service : "";
	const char *name = req->method ? req->method : "";
	const struct method *m = strcmp(service, TASK_SERVICE) == 0 ? find_method(name) : NULL;
	if (m == NULL) {
		reply_code(call, CODE_UNIMPLEMENTED, "service %s: method %s: unimplemented", service, name);
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	ProtobufCMessage *in = protobuf_c_message_unpack(m->input, NULL, req->payload.len, req->payload.data);
	if (in == NULL) {
		reply_code(call, CODE_INVALID_ARGUMENT, "%s: cannot decode %s", name, m->input->name);
	} else {
		log_debug("%s (stream %u)", name, stream);
		m->fn(call, in);
		protobuf_c_message_free_unpacked(in, NULL);
	}
	ttrpc__request__free_unpacked(req, NULL);
}

/* Returns false when the connection was closed. */
static bool handle_frames(struct conn *c)
{
	struct ttrpc_header h;
	const uint8_t *body;
	uint64_t id = c->id;
	for (;;) {
		enum ttrpc_read r = ttrpc_reader_next(&c->rd, &h, &body);
		if (r == TTRPC_READ_MORE)
			break;
		if (h.type < TTRPC_REQUEST || h.type > TTRPC_DATA) {
			log_warn("connection %llu: not a ttrpc frame (type %u): closed", (unsigned long long)id, h.type);
			conn_close(c);
			return false;
		}
		if (r == TTRPC_READ_TOO_LARGE) {
			struct call call = {.conn = id, .stream = h.stream};
			reply_code(call, CODE_RESOURCE_EXHAUSTED, "message length %u exceed maximum message size of %u",
				   h.length, TTRPC_MAX_MESSAGE);
		} else if (h.stream % 2 != 1) {
			struct call call = {.conn = id, .stream = h.stream};
			reply_code(call, CODE_INVALID_ARGUMENT, "StreamID must be odd for client initiated streams");
		} else if (h.type == TTRPC_REQUEST) {
			handle_request(c, h.stream, body, h.length);
		}
		/* other types (responses, streaming data) are ignored, as ttrpc does */
		if (find_conn(id) == NULL)
			return false;   /* a reply could not be queued: closed */
	}
	if (c->rd.off == c->rd.len && c->rd.cap > KEEP_READER_CAP && c->rd.discard == 0)
		ttrpc_reader_free(&c->rd);
	return true;
}

static void on_conn(struct watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	if (events & EPOLLOUT) {
		if (!flush_out(c)) {
			conn_close(c);
			return;
		}
		if (c->out == NULL)
			loop_mod(&c->w, EPOLLIN);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	uint8_t buf[16384];
	ssize_t n = recv(c->w.fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (!ttrpc_reader_feed(&c->rd, buf, (size_t)n)) {
		log_error("connection %llu: out of memory: closed", (unsigned long long)c->id);
		conn_close(c);
		return;
	}
	handle_frames(c);
}

static void on_listen(struct watch *w, uint32_t events)
{
	for (;;) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (n_conns >= MAX_CONNS) {
			log_warn("too many connections: refused");
			close(fd);
			continue;
		}
		struct conn *c = xcalloc(1, sizeof *c);
		c->w.fd = fd;
		c->w.fn = on_conn;
		c->id = next_conn_id++;
		if (!loop_add(&c->w, EPOLLIN)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = conns;
		conns = c;
		n_conns++;
		log_debug("connection %llu accepted", (unsigned long long)c->id);
	}
}

int server_init(int listen_fd)
{
	set_nonblock(listen_fd);
	set_cloexec(listen_fd);
	listener.fd = listen_fd;
	listener.fn = on_listen;
	return loop_add(&listener, EPOLLIN) ? 0 : -1;
}

void server_flush(int timeout_ms)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (struct conn *c = conns; c != NULL; c = c->next) {
		while (c->out != NULL) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
			if (spent >= timeout_ms)
				return;
			struct pollfd p = {.fd = c->w.fd, .events = POLLOUT};
			if (poll(&p, 1, (int)(timeout_ms - spent)) <= 0 || !flush_out(c))
				break;
		}
	}
}
