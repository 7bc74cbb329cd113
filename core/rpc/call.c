/* One gRPC call = one HTTP/2 stream: request headers, request messages,
 * response messages and the status trailers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rpc/frame.h"
#include "rpc/internal.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_HEADERS 256

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static bool call_is_done(const struct rpc_call *call)
{
	return call->finished || call->cancelled || !call_attached(call);
}

static void flush_soon(struct rpc_call *call)
{
	/* Inside nghttp2's receive callbacks the session may not send: the read
	 * path flushes once nghttp2_session_mem_recv returns. */
	if (call->conn != NULL && !call->conn->in_recv)
		conn_flush(call->conn);
}

struct rpc_call *call_new(struct rpc_conn *c, int32_t stream_id)
{
	struct rpc_call *call = xcalloc(1, sizeof *call);
	call->refs = 1;            /* the stream's reference */
	call->srv = c->srv;
	call->conn = call->owner = c;
	call->stream_id = stream_id;
	list_add_tail(&c->calls, &call->node);
	c->n_calls++;
	return call;
}

/* --- the receive budget ---------------------------------------------------------
 *
 * What a client makes the server keep is charged to its connection and to
 * the server: the request headers of each call, and every gRPC message from
 * the moment its length prefix is in, whole (not only what has arrived: a
 * message that was let in can always complete, so streams never wait for
 * each other's bytes and nothing deadlocks). A charge that does not fit is
 * refused: headers with REFUSED_STREAM (conn.c), a message with
 * RESOURCE_EXHAUSTED on its call. Whatever the others hold, a connection may
 * use RPC_CONN_GUARANTEED, so that a fresh client can still make small
 * calls. A message's charge ends when it is delivered or dropped, the
 * headers' when the call is freed, and a connection's with it. */

static bool charge(struct rpc_call *call, size_t more)
{
	struct rpc_conn *c = call->owner;
	if (c == NULL || more == 0)
		return true;
	struct rpc_server *s = c->srv;
	if (c->buffered + more > RPC_CONN_GUARANTEED &&
	    (c->buffered + more > s->max_conn_buffered || s->buffered + more > s->max_buffered))
		return false;
	c->buffered += more;
	s->buffered += more;
	call->charged += more;
	return true;
}

static void uncharge(struct rpc_call *call, size_t less)
{
	struct rpc_conn *c = call->owner;
	if (less > call->charged)
		less = call->charged;
	call->charged -= less;
	if (c != NULL) {
		c->buffered -= less;
		c->srv->buffered -= less;
	}
}

/* What the call's input holds plus the rest of the frame it is receiving.
 * Looks at the frame headers that came in since the last time. */
static size_t input_need(struct rpc_call *call)
{
	size_t avail = buf_avail(&call->in);
	uint64_t start = call->rx - avail;   /* stream offset of the buffer's first byte */
	size_t max = call->conn->srv->max_recv;
	while (!call->scan_stopped && call->scan + GRPC_FRAME_HEADER <= call->rx) {
		uint32_t n = frame_length(call->in.data + call->in.off + (size_t)(call->scan - start));
		if (n > max) {
			call->scan_stopped = true;   /* dispatch_input refuses it when it gets there */
			break;
		}
		call->scan += GRPC_FRAME_HEADER + n;
	}
	return (size_t)((call->scan > call->rx ? call->scan : call->rx) - start);
}

/* Brings the charge for the call's input to what it needs now; false (and
 * nothing changed) when an increase does not fit. */
static bool account_input(struct rpc_call *call)
{
	size_t need = call->conn == NULL || call->ignore_input ? 0 : input_need(call);
	size_t have = call->charged - call->header_charge;
	if (need > have)
		return charge(call, need - have);
	uncharge(call, have - need);
	return true;
}

/* The connection closes under an orphan: its charges end with it. */
void call_forget_owner(struct rpc_call *call)
{
	uncharge(call, call->charged);
	call->header_charge = 0;
	if (call->orphan) {
		list_del(&call->node);
		call->owner->n_orphans--;
		call->orphan = false;
	}
	call->owner = NULL;
}

void rpc_call_ref(struct rpc_call *call) { call->refs++; }

void rpc_call_unref(struct rpc_call *call)
{
	if (call == NULL || --call->refs > 0)
		return;
	if (call->owner != NULL)
		call_forget_owner(call);
	for (size_t i = 0; i < call->n_headers; i++) {
		free(call->headers[i].name);
		free(call->headers[i].value);
	}
	free(call->headers);
	buf_free(&call->in);
	buf_free(&call->out);
	free(call->status_msg);
	free(call);
}

static void deadline_closed(uv_handle_t *h)
{
	struct rpc_call *call = h->data;
	free(h);
	call->deadline_closing = false;
	rpc_call_unref(call);
}

static void stop_deadline(struct rpc_call *call)
{
	if (call->deadline == NULL)
		return;
	uv_timer_stop(call->deadline);
	uv_close((uv_handle_t *)call->deadline, deadline_closed);
	call->deadline = NULL;
	call->deadline_closing = true;
}

/* grpc-message is percent-encoded: anything outside printable ASCII, and '%'. */
static char *percent_encode(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1), *p = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c > 0x7e || c == '%')
			p += sprintf(p, "%%%02X", c);
		else
			*p++ = (char)c;
	}
	*p = 0;
	return out;
}

static void start_response(struct rpc_call *call)
{
	nghttp2_nv nva[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = conn_data_source_read};
	call->response_started = true;
	int r = nghttp2_submit_response(call->conn->h2, call->stream_id, nva, ARRAY_LEN(nva), &prd);
	if (r != 0)
		log_debug("rpc: submit response on stream %d: %s", call->stream_id, nghttp2_strerror(r));
}

static void resume(struct rpc_call *call)
{
	if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->conn->h2, call->stream_id);
	}
}

/* The send budget: responses queued in calls are counted on their
 * connection and on the server until nghttp2 takes them (as the client's
 * flow-control window allows), so that clients that do not read cannot make
 * the daemon queue without bound. */
static void out_count(struct rpc_call *call, size_t added, size_t taken)
{
	struct rpc_conn *c = call->conn;
	if (c == NULL)
		return;   /* in-process: not counted (local.c) */
	c->out_buffered = c->out_buffered + added - taken;
	c->srv->out_buffered = c->srv->out_buffered + added - taken;
	if (taken > 0)
		server_wake_soon(c->srv);
}

/* Frames one message of `size` bytes into the call's output: `msg` packed,
 * or `bytes` as they are. */
static void send_message(struct rpc_call *call, size_t size, const ProtobufCMessage *msg, const uint8_t *bytes);

void rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg)
{
	if (call_is_done(call))
		return;
	send_message(call, protobuf_c_message_get_packed_size(msg), msg, NULL);
}

void rpc_call_send_bytes(struct rpc_call *call, const uint8_t *data, size_t len)
{
	if (call_is_done(call))
		return;
	send_message(call, len, NULL, data);
}

static void pack_into(uint8_t *p, size_t size, const ProtobufCMessage *msg, const uint8_t *bytes)
{
	frame_header(p, (uint32_t)size);
	if (msg != NULL)
		protobuf_c_message_pack(msg, p + GRPC_FRAME_HEADER);
	else if (size > 0)
		memcpy(p + GRPC_FRAME_HEADER, bytes, size);
}

static void send_message(struct rpc_call *call, size_t size, const ProtobufCMessage *msg, const uint8_t *bytes)
{
	struct rpc_server *s = call->srv;
	if (size > s->max_send || size > UINT32_MAX) {
		rpc_call_finish(call, UCD_RESOURCE_EXHAUSTED,
				"grpc: trying to send message larger than max (%zu vs. %zu)", size, s->max_send);
		return;
	}
	size_t n = GRPC_FRAME_HEADER + size;
	if (call->local) {
		/* In-process: the caller takes what was sent on the next turn,
		 * so nothing is counted against the send budget. */
		pack_into(buf_reserve(&call->out, n), size, msg, bytes);
		call->out.len += n;
		call->out_reserved = 0;
		local_ready(call);
		return;
	}
	size_t reserved = n < call->out_reserved ? n : call->out_reserved;   /* counted already */
	if (!server_out_fits(s, call->conn, n - reserved)) {
		struct rpc_conn *c = call->conn;
		server_log_refusal(s, &s->refused_output,
				   "grpc: failing a call whose response of %zu bytes does not fit the send budget (%zu of "
				   "%zu bytes of responses wait for their clients, %zu of %zu on its connection; [grpc] "
				   "max_send_buffer_size, max_conn_send_buffer_size)", n, s->out_buffered, s->max_out,
				   c->out_buffered, s->max_conn_out);
		rpc_call_finish(call, UCD_RESOURCE_EXHAUSTED,
				"grpc: no room to queue a response of %zu bytes: %zu of at most %zu bytes of responses "
				"wait for their clients, %zu of at most %zu on this connection", n, s->out_buffered,
				s->max_out, c->out_buffered, s->max_conn_out);
		return;
	}
	pack_into(buf_reserve(&call->out, n), size, msg, bytes);
	call->out.len += n;
	call->out_reserved -= reserved;
	out_count(call, n - reserved, 0);
	if (!call->response_started)
		start_response(call);
	else
		resume(call);
	flush_soon(call);
}

static void finish_v(struct rpc_call *call, int code, const char *fmt, va_list ap)
{
	if (call_is_done(call))
		return;
	call->finished = true;
	call->status = code;
	if (fmt != NULL && *fmt) {
		if (vasprintf(&call->status_msg, fmt, ap) < 0)
			oom();
	}
	stop_deadline(call);
	if (call->local) {
		local_ready(call);
	} else if (!call->response_started) {
		/* Trailers-Only: status in the one HEADERS frame that ends the stream. */
		char status[16];
		snprintf(status, sizeof status, "%d", code);
		autofree char *msg = call->status_msg ? percent_encode(call->status_msg) : NULL;
		nghttp2_nv nva[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
				    NV("grpc-status", status), NV("grpc-message", msg ? msg : "")};
		call->response_started = true;
		nghttp2_submit_response(call->conn->h2, call->stream_id, nva, ARRAY_LEN(nva) - (msg ? 0 : 1), NULL);
	} else {
		resume(call);
	}
	if (code != UCD_OK && log_enabled(LOG_DEBUG))
		log_debug("rpc %s: %s: %s", call->path ? call->path : "?", error_code_name(code),
			  call->status_msg ? call->status_msg : "");
	/* --log-level trace: every call with its duration (where time goes) */
	if (call->started != 0 && log_enabled(LOG_TRACE))
		log_msg(LOG_TRACE, NULL, "rpc %s: %s in %.3f ms", call->path ? call->path : "?", error_code_name(code),
			(double)(uv_hrtime() - call->started) / 1e6);
	flush_soon(call);
}

void rpc_call_finish(struct rpc_call *call, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	finish_v(call, code, fmt, ap);
	va_end(ap);
}

/* The server ends a call the handler was given (the deadline): the handler hears of it through on_cancel, so it can drop what
 * it kept for the call. */
void call_end_by_server(struct rpc_call *call, int code, const char *fmt, ...)
{
	if (call_is_done(call))
		return;
	va_list ap;
	va_start(ap, fmt);
	finish_v(call, code, fmt, ap);
	va_end(ap);
	if (call->dispatched && call->method->on_cancel != NULL) {
		rpc_call_ref(call);
		call->method->on_cancel(call);
		rpc_call_unref(call);
	}
}

/* The server refuses input of a call the handler was given (oversized,
 * truncated or undecodable). A handler with on_input_error finishes the call
 * itself once it has let go of what it holds, so that the client hears the
 * status only after that (as with grpc-go, where the handler's deferred
 * cleanup runs before the status goes out); otherwise as end_by_server. */
static void refuse_input(struct rpc_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse_input(struct rpc_call *call, int code, const char *fmt, ...)
{
	if (call_is_done(call))
		return;
	va_list ap;
	va_start(ap, fmt);
	if (call->dispatched && call->method->on_input_error != NULL) {
		struct ucd_error *e = NULL;
		error_setv(&e, code, 0, fmt, ap);
		call->ignore_input = true;
		rpc_call_ref(call);
		call->method->on_input_error(call, e);
		rpc_call_unref(call);
	} else {
		finish_v(call, code, fmt, ap);
		if (call->dispatched && call->method->on_cancel != NULL) {
			rpc_call_ref(call);
			call->method->on_cancel(call);
			rpc_call_unref(call);
		}
	}
	va_end(ap);
}

void rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *msg)
{
	rpc_call_send(call, msg);
	rpc_call_finish(call, UCD_OK, NULL);
}

void rpc_call_fail(struct rpc_call *call, struct ucd_error *e)
{
	if (e == NULL) {
		rpc_call_finish(call, UCD_INTERNAL, "internal error without a message");
		return;
	}
	rpc_call_finish(call, e->code, "%s", e->msg);
	error_free(e);
}

/* The data source of a response: framed messages, then the trailers. */
ssize_t call_read_data(struct rpc_call *call, uint8_t *dst, size_t length, uint32_t *flags)
{
	size_t n = buf_avail(&call->out);
	if (n > length)
		n = length;
	memcpy(dst, call->out.data + call->out.off, n);
	buf_consume(&call->out, n);
	out_count(call, 0, n);
	if (buf_avail(&call->out) > 0)
		return (ssize_t)n;
	if (call->finished) {
		char status[16];
		snprintf(status, sizeof status, "%d", call->status);
		autofree char *msg = call->status_msg ? percent_encode(call->status_msg) : NULL;
		nghttp2_nv nva[] = {NV("grpc-status", status), NV("grpc-message", msg ? msg : "")};
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (nghttp2_submit_trailer(call->conn->h2, call->stream_id, nva, ARRAY_LEN(nva) - (msg ? 0 : 1)) == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		return (ssize_t)n;
	}
	if (n == 0) {
		call->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

int call_on_header(struct rpc_call *call, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen)
{
	size_t cost = nlen + vlen + 32;   /* HPACK's per-entry overhead */
	call->header_bytes += cost;
	if (call->header_bytes > RPC_MAX_HEADER_BYTES || call->n_headers >= MAX_HEADERS)
		return -1;                         /* resets this stream only */
	if (!charge(call, cost))
		return -2;                         /* over the receive budget: refused */
	call->header_charge += cost;
	if (call->n_headers % 16 == 0)
		call->headers = xrealloc(call->headers, (call->n_headers + 16) * sizeof *call->headers);
	struct rpc_header *h = &call->headers[call->n_headers++];
	h->name = xstrndup((const char *)name, nlen);
	h->value = xstrndup((const char *)value, vlen);
	return 0;
}

const char *rpc_call_header(const struct rpc_call *call, const char *name)
{
	for (size_t i = 0; i < call->n_headers; i++)
		if (strcmp(call->headers[i].name, name) == 0)
			return call->headers[i].value;
	return NULL;
}

/* grpc-timeout: up to 8 digits and a unit (H M S m u n). */
static bool parse_timeout(const char *s, uint64_t *ms)
{
	size_t n = strlen(s);
	if (n < 2 || n > 9)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	switch (s[n - 1]) {
	case 'H': *ms = v * 3600000; break;
	case 'M': *ms = v * 60000; break;
	case 'S': *ms = v * 1000; break;
	case 'm': *ms = v; break;
	case 'u': *ms = (v + 999) / 1000; break;
	case 'n': *ms = (v + 999999) / 1000000; break;
	default: return false;
	}
	return true;
}

static void deadline_fired(uv_timer_t *t)
{
	struct rpc_call *call = t->data;
	if (call_is_done(call))
		return;
	call_end_by_server(call, UCD_DEADLINE_EXCEEDED, "context deadline exceeded");
}

static void start_deadline(struct rpc_call *call, uint64_t ms)
{
	call->deadline = xmalloc(sizeof *call->deadline);
	uv_timer_init(call->srv->loop, call->deadline);
	call->deadline->data = call;
	rpc_call_ref(call);   /* dropped in deadline_closed */
	uv_timer_start(call->deadline, deadline_fired, ms, 0);
}

/* A response that is not gRPC at all: the client sent no gRPC request. */
static void refuse_http(struct rpc_call *call, const char *http_status, int code, const char *msg)
{
	char status[16];
	snprintf(status, sizeof status, "%d", code);
	nghttp2_nv nva[] = {NV(":status", http_status), NV("content-type", "application/grpc"),
			    NV("grpc-status", status), NV("grpc-message", msg)};
	call->finished = call->response_started = true;
	call->status = code;
	nghttp2_submit_response(call->conn->h2, call->stream_id, nva, ARRAY_LEN(nva), NULL);
}

static void refuse_unknown(struct rpc_call *call)
{
	const char *path = call->path;
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
	if (slash == NULL) {
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "malformed method name: \"%s\"", path);
		return;
	}
	autofree char *service = xstrndup(path + 1, (size_t)(slash - path - 1));
	if (rpc_server_has_service(call->srv, service))
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "unknown method %s for service %s", slash + 1, service);
	else
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "unknown service %s", service);
}

void call_on_headers_done(struct rpc_call *call)
{
	const char *method = rpc_call_header(call, ":method");
	const char *ctype = rpc_call_header(call, "content-type");
	call->path = rpc_call_header(call, ":path");
	if (call->srv->on_call != NULL)
		call->srv->on_call(call->srv->on_call_arg);
	if (log_enabled(LOG_TRACE))
		call->started = uv_hrtime();
	if (method == NULL || strcmp(method, "POST") != 0) {
		refuse_http(call, "405", UCD_INTERNAL, "grpc: method must be POST");
		return;
	}
	if (ctype == NULL || strncmp(ctype, "application/grpc", 16) != 0 ||
	    (ctype[16] != 0 && ctype[16] != '+' && ctype[16] != ';')) {
		refuse_http(call, "415", UCD_INTERNAL, "grpc: invalid content-type");
		return;
	}
	call_route(call, UINT64_MAX);
}

void call_route(struct rpc_call *call, uint64_t timeout_ms)
{
	if (call->path == NULL) {
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "malformed method name: \"\"");
		return;
	}
	call->method = server_find_method(call->srv, call->path);
	if (call->method == NULL) {
		refuse_unknown(call);
		return;
	}
	const char *enc = rpc_call_header(call, "grpc-encoding");
	if (enc != NULL && strcmp(enc, "identity") != 0) {
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "grpc: Decompressor is not installed for grpc-encoding \"%s\"", enc);
		return;
	}
	call->ns = rpc_call_header(call, "containerd-namespace");
	if (call->method->namespaced) {
		struct ucd_error *e = NULL;
		if (call->ns == NULL || call->ns[0] == 0) {
			rpc_call_finish(call, UCD_FAILED_PRECONDITION, "namespace is required: failed precondition");
			return;
		}
		if (identifier_validate(call->ns, &e) < 0) {
			error_wrap(&e, "namespace validation");
			rpc_call_fail(call, e);
			return;
		}
	}
	const char *timeout = rpc_call_header(call, "grpc-timeout");
	if (timeout_ms != UINT64_MAX) {
		start_deadline(call, timeout_ms);
	} else if (timeout != NULL) {
		uint64_t ms;
		if (!parse_timeout(timeout, &ms)) {
			rpc_call_finish(call, UCD_INTERNAL, "malformed grpc-timeout: \"%s\"", timeout);
			return;
		}
		start_deadline(call, ms);
	}
	call->dispatched = true;
}

static void deliver_half_close(struct rpc_call *call);

/* What decoding one request may allocate. protobuf-c makes a structure and
 * a string per map entry or repeated element: a message of 16 MiB can hold 8
 * million empty label entries (2 bytes each on the wire) and decode into
 * half a gigabyte. Real requests stay within a few times their size; this
 * is 4 x max_recv_message_size, at least 64 MiB. The allocations are plain
 * malloc (counted with their chunk overhead), so the message is freed, and
 * rpc_call_take_bytes' buffers too, with free(). */
struct decode_budget {
	size_t used, limit;
	bool over;
};

static size_t decode_limit(const struct rpc_server *s)
{
	size_t four = s->max_recv > SIZE_MAX / 4 ? SIZE_MAX : s->max_recv * 4;
	return four > ((size_t)64 << 20) ? four : (size_t)64 << 20;
}

static void *decode_alloc(void *arg, size_t size)
{
	struct decode_budget *b = arg;
	size_t cost = size + 16;   /* malloc's header and rounding, about */
	if (b->over || cost > b->limit - b->used) {
		b->over = true;
		return NULL;
	}
	b->used += cost;
	return xmalloc(size ? size : 1);
}

static void decode_free(void *arg, void *p)
{
	(void)arg;
	free(p);
}

/* Gives the stream's window back for every byte received except, while the
 * input is held, those still buffered: the client can then have at most one
 * window of bytes in our buffer. */
static void ack_input(struct rpc_call *call)
{
	size_t keep = call->held ? buf_avail(&call->in) : 0;
	if (call->conn == NULL || call->unacked <= keep)
		return;
	size_t n = call->unacked - keep;
	call->unacked = keep;
	conn_consume_stream(call->conn, call->stream_id, n);
}

/* Frames and dispatches the buffered input until it runs out, the call ends
 * or the handler holds the input. */
static void dispatch_input(struct rpc_call *call)
{
	if (call->in_dispatch)
		return;   /* the loop below is on the stack: it sees `held` change */
	call->in_dispatch = true;
	const struct rpc_method *m = call->method;
	size_t max = call->srv->max_recv;
	while (!call_is_done(call) && !call->held) {
		const uint8_t *msg;
		size_t n = 0;
		switch (frame_next(&call->in, max, &msg, &n)) {
		case FRAME_NEED_MORE:
			goto out;
		case FRAME_TOO_LARGE:
			refuse_input(call, UCD_RESOURCE_EXHAUSTED, "grpc: received message larger than max (%zu vs. %zu)", n, max);
			goto drop_input;
		case FRAME_COMPRESSED:
			refuse_input(call, UCD_INTERNAL, "grpc: compressed flag set with identity or empty encoding");
			goto drop_input;
		case FRAME_BAD_FLAG:
			refuse_input(call, UCD_INTERNAL, "grpc: invalid message compression flag");
			goto drop_input;
		case FRAME_OK:
			break;
		}
		if (call->n_received > 0 && (m->kind == RPC_UNARY || m->kind == RPC_SERVER_STREAMING)) {
			refuse_input(call, UCD_INTERNAL, "grpc: more than one request message for a unary request");
			goto drop_input;
		}
		if (m->input == NULL) {
			/* A method that takes its messages undecoded (a plugin's
			 * service): a copy of its own, as the handler may feed
			 * more input to this very call before it returns. */
			uint8_t *copy = xmalloc(n ? n : 1);
			memcpy(copy, msg, n);
			frame_consume(&call->in, n);
			call->n_received++;
			rpc_call_ref(call);
			m->on_bytes(call, copy, n);
			free(copy);
			if (call->refs == 1 && !call_attached(call)) {
				call->in_dispatch = false;
				rpc_call_unref(call);   /* the last reference: the call goes */
				return;
			}
			rpc_call_unref(call);
			continue;
		}
		struct decode_budget db = {.limit = decode_limit(call->srv)};
		ProtobufCAllocator alloc = {.alloc = decode_alloc, .free = decode_free, .allocator_data = &db};
		ProtobufCMessage *req = protobuf_c_message_unpack(m->input, &alloc, n, msg);
		frame_consume(&call->in, n);
		if (req == NULL && db.over) {
			refuse_input(call, UCD_RESOURCE_EXHAUSTED, "grpc: decoding the %s request of %zu bytes takes more "
				     "than %zu bytes of memory", m->input->name, n, db.limit);
			goto drop_input;
		}
		if (req == NULL) {
			refuse_input(call, UCD_INTERNAL, "grpc: error unmarshalling request: invalid %s message",
					m->input->name);
			goto drop_input;
		}
		call->n_received++;
		rpc_call_ref(call);
		m->on_message(call, req);
		protobuf_c_message_free_unpacked(req, NULL);
		bool gone = call->refs == 1 && !call_attached(call);
		if (gone) {
			call->in_dispatch = false;
			rpc_call_unref(call);
			return;
		}
		rpc_call_unref(call);
	}
out:
	call->in_dispatch = false;
	/* a long stream keeps no big empty buffer between its messages */
	if (buf_avail(&call->in) == 0 && call->in.cap > RPC_CONN_GUARANTEED)
		buf_free(&call->in);
	account_input(call);
	ack_input(call);
	if (call->half_close_pending && !call->held && !call_is_done(call)) {
		call->half_close_pending = false;
		deliver_half_close(call);
	}
	return;
drop_input:
	call->in_dispatch = false;
	call->ignore_input = true;
	buf_free(&call->in);
	account_input(call);
	ack_input(call);
}

/* A message the receive budget has no room for: its call ends with
 * RESOURCE_EXHAUSTED and what it had buffered goes. */
static void refuse_over_budget(struct rpc_call *call)
{
	struct rpc_conn *c = call->owner;
	struct rpc_server *s = c->srv;
	size_t need = input_need(call), have = call->charged - call->header_charge;
	server_log_refusal(s, &s->refused_input,
			   "grpc: refusing a request message of %zu bytes: receive buffers full (%zu of %zu bytes in "
			   "use, %zu of %zu on its connection; [grpc] max_recv_buffer_size, max_conn_recv_buffer_size)",
			   need - have, s->buffered, s->max_buffered, c->buffered, s->max_conn_buffered);
	call->ignore_input = true;
	refuse_input(call, UCD_RESOURCE_EXHAUSTED,
		     "grpc: no room to receive a message of %zu bytes: the server buffers %zu of at most %zu bytes "
		     "of requests, %zu of at most %zu for this connection", need - have, s->buffered, s->max_buffered,
		     c->buffered, s->max_conn_buffered);
	buf_free(&call->in);
	account_input(call);
	ack_input(call);
}

/* The rest of the frame being received is known: room for exactly that, not
 * a doubling (a 15 MiB message costs 15 MiB). */
static void in_append(struct rpc_call *call, const uint8_t *data, size_t len)
{
	size_t expect = call->scan > call->rx ? (size_t)(call->scan - call->rx) : 0;
	if (expect > len)
		buf_reserve_exact(&call->in, expect);
	buf_append(&call->in, data, len);
	call->rx += len;
}

void call_on_data(struct rpc_call *call, const uint8_t *data, size_t len)
{
	if (!call->dispatched || call_is_done(call) || call->ignore_input) {
		ack_input(call);
		return;
	}
	in_append(call, data, len);
	if (!account_input(call))
		return refuse_over_budget(call);
	dispatch_input(call);
}

/* In-process input is framed as the wire's, so that the one dispatch path
 * (size limit, unary checks, decode budget, held input) serves both. A
 * message over max_recv is refused from its header alone, unbuffered. */
void call_local_input(struct rpc_call *call, const uint8_t *data, size_t len)
{
	if (!call->dispatched || call_is_done(call) || call->ignore_input)
		return;
	size_t body = len <= call->srv->max_recv ? len : 0;   /* an oversized one: its header only */
	uint8_t *p = buf_reserve(&call->in, GRPC_FRAME_HEADER + body);
	frame_header(p, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	if (body > 0)
		memcpy(p + GRPC_FRAME_HEADER, data, body);
	call->in.len += GRPC_FRAME_HEADER + body;
	dispatch_input(call);
}

/* The client is gone (a stream closed, an in-process caller let go):
 * nothing is sent or delivered any more, and a handler still working hears
 * it through on_cancel. */
static void client_gone(struct rpc_call *call)
{
	call->out_reserved = 0;
	buf_free(&call->out);
	stop_deadline(call);
	buf_free(&call->in);
	account_input(call);
	if (call->waiting_on != NULL)
		server_wake_soon(call->waiting_on);   /* it hears that the call is over */
	if (!call->finished && !call->cancelled) {
		call->cancelled = true;
		if (call->dispatched && call->method->on_cancel != NULL)
			call->method->on_cancel(call);
	}
}

void call_local_detach(struct rpc_call *call)
{
	call->local_open = false;
	client_gone(call);
}

uint8_t *rpc_call_take_bytes(struct rpc_call *call, const ProtobufCBinaryData *field, size_t *len)
{
	(void)call;   /* the message belongs to the call's delivery in progress */
	/* The server owns the message it unpacked and frees it after
	 * on_message with protobuf_c_message_free_unpacked, which skips a
	 * bytes field whose data is NULL: handing the buffer over is safe. */
	ProtobufCBinaryData *f = (ProtobufCBinaryData *)field;
	uint8_t *data = f->len > 0 ? f->data : NULL;
	*len = data != NULL ? f->len : 0;
	if (data != NULL) {
		f->data = NULL;
		f->len = 0;
	}
	return data;
}

size_t rpc_call_input_bytes(const struct rpc_call *call)
{
	return buf_avail(&call->in);
}

void rpc_call_hold_input(struct rpc_call *call, bool hold)
{
	if (hold || !call->held) {
		call->held = hold;
		return;
	}
	call->held = false;
	if (!call_attached(call) || call_is_done(call) || call->ignore_input || call->in_dispatch)
		return;   /* in_dispatch: the loop on the stack goes on by itself */
	rpc_call_ref(call);
	dispatch_input(call);
	rpc_call_unref(call);
}


void call_on_half_close(struct rpc_call *call)
{
	if (!call->dispatched || call_is_done(call) || call->ignore_input)
		return;
	if (call->held || call->in_dispatch) {
		call->half_close_pending = true;   /* after the buffered messages */
		return;
	}
	deliver_half_close(call);
}

static void deliver_half_close(struct rpc_call *call)
{
	const struct rpc_method *m = call->method;
	if (buf_avail(&call->in) > 0) {
		refuse_input(call, UCD_INTERNAL, "grpc: request ended inside a message (%zu bytes left)",
				buf_avail(&call->in));
		return;
	}
	if (call->n_received == 0 && (m->kind == RPC_UNARY || m->kind == RPC_SERVER_STREAMING)) {
		refuse_input(call, UCD_INTERNAL, "grpc: request message missing");
		return;
	}
	if (m->on_half_close != NULL)
		m->on_half_close(call);
}

void call_on_stream_close(struct rpc_call *call)
{
	struct rpc_conn *c = call->conn;
	list_del(&call->node);
	c->n_calls--;
	out_count(call, 0, buf_avail(&call->out) + call->out_reserved);   /* uncounted: nothing is sent any more */
	call->conn = NULL;
	client_gone(call);
	if (call->refs - (call->deadline_closing ? 1 : 0) > 1 && call->owner != NULL) {
		/* a handler still holds it */
		list_add_tail(&c->orphans, &call->node);
		c->n_orphans++;
		call->orphan = true;
	} else if (call->owner != NULL) {
		call_forget_owner(call);   /* it goes with its last reference, soon */
	}
	rpc_call_unref(call);   /* the stream's reference */
}

const char *rpc_call_namespace(const struct rpc_call *call) { return call->ns && call->ns[0] ? call->ns : NULL; }
void *rpc_call_method_data(const struct rpc_call *call) { return call->method ? call->method->data : NULL; }
const struct rpc_method *rpc_call_method(const struct rpc_call *call) { return call->method; }
void rpc_call_set_data(struct rpc_call *call, void *data) { call->data = data; }
void *rpc_call_data(const struct rpc_call *call) { return call->data; }
bool rpc_call_done(const struct rpc_call *call) { return call_is_done(call); }
size_t rpc_call_pending_bytes(const struct rpc_call *call) { return buf_avail(&call->out); }

bool call_can_reserve(const struct rpc_call *call, size_t ahead, size_t more)
{
	if (call_is_done(call) || buf_avail(&call->out) > ahead)
		return false;
	if (call->local)
		return true;   /* not counted against the send budget */
	/* what it has reserved now is given back if this one is made */
	size_t keep = more < call->out_reserved ? more : call->out_reserved;
	return server_out_fits(call->conn->srv, call->conn, more - keep);
}

bool rpc_call_reserve_send(struct rpc_call *call, size_t ahead, size_t more)
{
	if (!call_can_reserve(call, ahead, more))
		return false;
	size_t old = call->out_reserved;
	call->out_reserved = more;
	out_count(call, more, old);
	return true;
}

bool rpc_call_when_can_send(struct rpc_call *call, size_t ahead, size_t more,
			    void (*fn)(struct rpc_call *call, void *arg), void *arg)
{
	if (call_is_done(call))
		return false;
	struct rpc_server *s = call->srv;
	if (call->waiting_on == NULL) {
		rpc_call_ref(call);
		list_add_tail(&s->send_waiters, &call->waiter_node);
		call->waiting_on = s;
	}
	call->can_send_fn = fn;
	call->can_send_arg = arg;
	call->can_send_ahead = ahead;
	call->can_send_more = more;
	if (call_can_reserve(call, ahead, more))
		server_wake_soon(s);
	return true;
}
