/* One client connection: a unix socket, an nghttp2 server session, and the
 * write path with its backpressure.
 *
 * Reading: bytes go straight into nghttp2_session_mem_recv, whose callbacks
 * drive the calls (call.c). Writing: after each read, and whenever a handler
 * answers outside a read, conn_flush pulls frames from nghttp2 into `out` and
 * hands them to one uv_write at a time. While more than RPC_OUT_HIGH_WATER
 * bytes wait for a peer that does not read, we stop reading from it, so a
 * client that never reads its answers costs bounded memory and nobody else
 * waits for it. */
#include <string.h>

#include "rpc/internal.h"
#include "util/log.h"
#include "util/mem.h"

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static struct rpc_call *stream_call(nghttp2_session *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2, id);
}

/* RST_STREAM(REFUSED_STREAM): the stream was not processed, a client may
 * retry it (grpc-go does so by itself). */
static int refuse_stream(nghttp2_session *h2, int32_t id)
{
	nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
	struct rpc_conn *c = user;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (c->n_calls + c->n_orphans >= RPC_MAX_LIVE_CALLS) {
		server_log_refusal(c->srv, &c->srv->refused_streams,
				   "grpc: refusing a stream: its connection has %zu calls open and %zu more whose client "
				   "reset them while their work goes on (at most %d)",
				   c->n_calls, c->n_orphans, RPC_MAX_LIVE_CALLS);
		return refuse_stream(h2, f->hd.stream_id);
	}
	struct rpc_call *call = call_new(c, f->hd.stream_id);
	nghttp2_session_set_stream_user_data(h2, f->hd.stream_id, call);
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;   /* trailers from the client carry nothing we use */
	struct rpc_call *call = stream_call(h2, f->hd.stream_id);
	if (call == NULL)
		return 0;
	int r = call_on_header(call, name, nlen, value, vlen);
	if (r == -2) {
		struct rpc_server *s = call->owner->srv;
		server_log_refusal(s, &s->refused_input,
				   "grpc: refusing a stream: receive buffers full for its headers (%zu of %zu bytes in use, "
				   "%zu of %zu on its connection)", s->buffered, s->max_buffered, call->owner->buffered,
				   s->max_conn_buffered);
		return refuse_stream(h2, f->hd.stream_id);
	}
	if (r < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* RST_STREAM this one */
	return 0;
}

static void final_goaway(struct rpc_conn *c);
static const uint8_t idle_ping[8];

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f, void *user)
{
	struct rpc_conn *c = user;
	struct rpc_call *call;
	switch (f->hd.type) {
	case NGHTTP2_PING:
		/* the client has read our idle announcement (see on_timer) */
		if ((f->hd.flags & NGHTTP2_FLAG_ACK) && c->draining && !c->goaway_final &&
		    memcmp(f->ping.opaque_data, idle_ping, sizeof idle_ping) == 0)
			final_goaway(c);
		break;
	case NGHTTP2_HEADERS:
		call = stream_call(h2, f->hd.stream_id);
		if (call == NULL)
			return 0;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
			call_on_headers_done(call);
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			call_on_half_close(call);
		break;
	case NGHTTP2_DATA:
		call = stream_call(h2, f->hd.stream_id);
		if (call != NULL && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			call_on_half_close(call);
		break;
	default:
		break;
	}
	return 0;
}

/* Window updates are ours to send (no_auto_window_update): the connection's
 * window is returned at once, so one stream that holds its input never
 * starves the others; a stream's own window as its bytes leave the call's
 * buffer (call.c, ack_input; see rpc_call_hold_input). */
static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
	nghttp2_session_consume_connection(h2, len);
	struct rpc_call *call = stream_call(h2, id);
	if (call == NULL) {
		nghttp2_session_consume_stream(h2, id, len);
		return 0;
	}
	call->unacked += len;
	call_on_data(call, data, len);
	return 0;
}

void conn_consume_stream(struct rpc_conn *c, int32_t stream_id, size_t n)
{
	if (c == NULL || c->closing || n == 0)
		return;
	nghttp2_session_consume_stream(c->h2, stream_id, n);
	if (!c->in_recv)
		conn_flush(c);
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	struct rpc_call *call = stream_call(h2, id);
	if (call != NULL) {
		nghttp2_session_set_stream_user_data(h2, id, NULL);
		call_on_stream_close(call);
	}
	return 0;
}

ssize_t conn_data_source_read(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
			      nghttp2_data_source *src, void *user)
{
	return call_read_data(src->ptr, buf, length, flags);
}

int conn_setup_callbacks(struct rpc_server *srv)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		oom();
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	srv->callbacks = cb;
	if (nghttp2_option_new(&srv->h2_options) != 0)
		oom();
	/* Bound what a peer can make us keep for streams it reset or never finished. */
	nghttp2_option_set_max_outbound_ack(srv->h2_options, 1000);
	nghttp2_option_set_max_settings(srv->h2_options, 64);
	nghttp2_option_set_no_auto_window_update(srv->h2_options, 1);
	/* CVE-2023-44487, "rapid reset": past a burst of 1000, at most 33
	 * RST_STREAM a second from a client, else GOAWAY (nghttp2's defence,
	 * in Debian's 1.52.0-1+deb12u1 and upstream 1.57; set here so that it
	 * does not hang on the library's defaults). The work that reset
	 * streams leave behind is bounded by RPC_MAX_LIVE_CALLS. */
	nghttp2_option_set_stream_reset_rate_limit(srv->h2_options, 1000, 33);
	/* CVE-2024-28182: at most 8 CONTINUATION frames after a HEADERS (64 KiB
	 * of headers take 4 of the default 16 KiB frames). */
	nghttp2_option_set_max_continuations(srv->h2_options, 8);
	return 0;
}

static void conn_closed(uv_handle_t *h)
{
	struct rpc_conn *c = h->data;
	if (--c->handles > 0)
		return;   /* the pipe's and the timer's close callbacks: the second one frees */
	struct rpc_server *srv = c->srv;
	/* The session is gone with the socket: every open call ends here. */
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &c->calls) {
		struct rpc_call *call = list_entry(pos, struct rpc_call, node);
		nghttp2_session_set_stream_user_data(c->h2, call->stream_id, NULL);
		call_on_stream_close(call);
	}
	while (!list_empty(&c->orphans))
		call_forget_owner(list_first_entry(&c->orphans, struct rpc_call, node));
	nghttp2_session_del(c->h2);
	buf_free(&c->out);
	free(c->inflight);
	list_del(&c->node);
	srv->n_conns--;
	free(c);
	server_handle_closed(srv);
}

void conn_close(struct rpc_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->srv->pending_closes++;
	uv_close((uv_handle_t *)&c->pipe, conn_closed);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct rpc_conn *c = h->data;
	b->base = c->srv->read_buf;
	b->len = sizeof c->srv->read_buf;
}

static void set_reading(struct rpc_conn *c, bool on)
{
	if (c->closing || c->refused || c->reading == on)
		return;
	c->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	else
		uv_read_stop((uv_stream_t *)&c->pipe);
}

static void on_write(uv_write_t *req, int status)
{
	struct rpc_conn *c = req->data;
	free(c->inflight);
	c->inflight = NULL;
	c->writing = false;
	if (status < 0) {
		log_debug("rpc: write to client failed: %s", uv_strerror(status));
		conn_close(c);
		return;
	}
	conn_flush(c);
}

void conn_flush(struct rpc_conn *c)
{
	if (c->closing || c->writing)
		return;
	while (buf_avail(&c->out) < RPC_OUT_HIGH_WATER) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0) {
			log_debug("rpc: http2 send: %s", nghttp2_strerror((int)n));
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
		buf_append(&c->out, data, (size_t)n);
	}
	if (buf_avail(&c->out) > 0) {
		/* Try to write it all now: the common case (a small answer to a
		 * reading client) then costs one write(2) and no write request,
		 * whose completion would re-arm the socket in epoll every time. */
		uv_buf_t b = uv_buf_init((char *)c->out.data + c->out.off, (unsigned)buf_avail(&c->out));
		int w = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
		if (w > 0)
			buf_consume(&c->out, (size_t)w);
		else if (w != UV_EAGAIN) {
			log_debug("rpc: write to client failed: %s", uv_strerror(w));
			conn_close(c);
			return;
		}
	}
	if (buf_avail(&c->out) > 0) {
		/* The peer is not keeping up: hand the rest to libuv and start a new buffer. */
		size_t n = buf_avail(&c->out);
		c->inflight = c->out.data;
		uv_buf_t b = uv_buf_init((char *)c->out.data + c->out.off, (unsigned)n);
		c->out = (struct buf){0};
		c->writing = true;
		c->write_req.data = c;
		int r = uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
		if (r < 0) {
			c->writing = false;
			conn_close(c);
			return;
		}
		/* A peer that does not read: stop taking requests from it until it does. */
		set_reading(c, uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) < RPC_OUT_HIGH_WATER);
		return;
	}
	if (c->refused) {   /* its GOAWAY is written */
		conn_close(c);
		return;
	}
	set_reading(c, true);
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
		conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct rpc_conn *c = s->data;
	if (nread < 0) {
		conn_close(c);   /* EOF or error: the client is gone */
		return;
	}
	if (nread == 0)
		return;
	c->last_active = uv_now(c->srv->loop);
	c->in_recv = true;
	ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)b->base, (size_t)nread);
	c->in_recv = false;
	if (r < 0) {
		/* Not HTTP/2 (bad preface, garbage) or a protocol violation nghttp2
		 * cannot recover from: tell the peer if we can, then hang up. */
		log_debug("rpc: closing connection: %s", nghttp2_strerror((int)r));
		if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
			nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
		conn_flush(c);
		conn_close(c);
		return;
	}
	conn_flush(c);
}

/* Idle connections are closed gracefully, as grpc-go's MaxConnectionIdle
 * does: a GOAWAY that announces the end without refusing anything yet
 * (last stream 2^31-1) and a PING; once the PING's ACK shows that the
 * client has read the announcement (and so opens no more streams here),
 * the final GOAWAY, and the connection closes when its streams are done.
 * A client that started a call before it read the announcement is
 * answered normally. grpcio reads an idle channel only every few seconds
 * (its backup poller): closing at once would fail the call it makes
 * meanwhile with "broken pipe". Without the ACK, the final GOAWAY goes
 * after RPC_IDLE_GRACE_MS, and the connection is closed after as long
 * again. */
static const uint8_t idle_ping[8] = {'u', 'c', 'd', '-', 'i', 'd', 'l', 'e'};

static void final_goaway(struct rpc_conn *c)
{
	static const char why[] = "idle";
	c->goaway_final = true;
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
			      NGHTTP2_NO_ERROR, (const uint8_t *)why, sizeof why - 1);
}

static void on_timer(uv_timer_t *t)
{
	struct rpc_conn *c = t->data;
	struct rpc_server *srv = c->srv;
	if (c->closing)
		return;
	if (c->draining) {
		if (c->goaway_final) {
			log_debug("rpc: closing an idle connection that its client did not close after GOAWAY");
			conn_close(c);
			return;
		}
		final_goaway(c);
		uv_timer_start(&c->timer, on_timer, RPC_IDLE_GRACE_MS, 0);
		conn_flush(c);
		return;
	}
	uint64_t quiet = uv_now(srv->loop) - c->last_active;
	if (c->n_calls > 0 || quiet < srv->idle_ms) {
		uv_timer_start(&c->timer, on_timer, c->n_calls > 0 ? srv->idle_ms : srv->idle_ms - quiet, 0);
		return;
	}
	log_debug("rpc: connection idle for %llu s: GOAWAY", (unsigned long long)(quiet / 1000));
	c->draining = true;
	nghttp2_submit_shutdown_notice(c->h2);
	nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, idle_ping);
	uv_timer_start(&c->timer, on_timer, RPC_IDLE_GRACE_MS, 0);
	conn_flush(c);
}

/* One connection over max_connections: GOAWAY(ENHANCE_YOUR_CALM) with the
 * reason, and closed once that is written; nothing is read from it. */
static void refuse_connection(struct rpc_conn *c)
{
	struct rpc_server *srv = c->srv;
	c->refused = true;
	server_log_refusal(srv, &srv->refused_conns, "grpc: refusing a connection: %zu are open, at most %zu "
			   "([grpc] max_connections)", srv->n_conns - 1, srv->max_conns);
	static const char why[] = "too many connections";
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)why,
			      sizeof why - 1);
	conn_flush(c);
}

void conn_accept(struct rpc_server *srv)
{
	struct rpc_conn *c = xcalloc(1, sizeof *c);
	c->srv = srv;
	list_init(&c->calls);
	list_init(&c->orphans);
	uv_pipe_init(srv->loop, &c->pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles = 2;
	list_add_tail(&srv->conns, &c->node);
	srv->n_conns++;
	if (nghttp2_session_server_new2(&c->h2, srv->callbacks, c, srv->h2_options) != 0)
		oom();
	if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	if (srv->max_conns > 0 && srv->n_conns > srv->max_conns) {
		refuse_connection(c);
		return;
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, RPC_MAX_CONCURRENT_STREAMS},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RPC_WINDOW_SIZE},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, RPC_MAX_HEADER_BYTES},
	};
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, ARRAY_LEN(iv));
	nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, RPC_WINDOW_SIZE);
	c->last_active = uv_now(srv->loop);
	if (srv->idle_ms > 0)
		uv_timer_start(&c->timer, on_timer, srv->idle_ms, 0);
	set_reading(c, true);
	conn_flush(c);
}
