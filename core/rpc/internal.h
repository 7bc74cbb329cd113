/* Shared between the files of the gRPC server; not for services. */
#pragma once
#include <nghttp2/nghttp2.h>

#include "rpc/rpc.h"
#include "util/buf.h"
#include "util/list.h"

/* Per-connection limits that keep one client from hurting the others. */
#define RPC_MAX_CONCURRENT_STREAMS 256
/* Calls of one connection at once, counting those whose stream is gone
 * but whose handler still works for them (a client that resets a stream
 * does not get its slot back before the work ends: "rapid reset"). */
#define RPC_MAX_LIVE_CALLS RPC_MAX_CONCURRENT_STREAMS
#define RPC_MAX_HEADER_BYTES (64 * 1024)   /* all request headers of one stream */
#define RPC_OUT_HIGH_WATER (1024 * 1024)   /* stop reading a peer that does not read us */
#define RPC_WINDOW_SIZE (1024 * 1024)      /* HTTP/2 receive window, stream and connection */
#define RPC_LISTEN_BACKLOG 4096            /* the kernel caps it at net.core.somaxconn, as Go's listeners do */
/* What every connection may buffer whatever the others hold: a client on a
 * fresh connection can always make a small call while the budget is full. */
#define RPC_CONN_GUARANTEED (64 * 1024)
/* An idle connection is told GOAWAY, then closed this long after unless its
 * client closes it first. */
#define RPC_IDLE_GRACE_MS 10000
/* At most one log line per this many ms for each kind of refusal. */
#define RPC_REFUSAL_LOG_MS 10000

struct rpc_refusals {              /* rate-limited log of one kind of refusal */
	uint64_t last_log;         /* uv_now of the last line */
	size_t since;              /* refusals not logged yet */
};

struct rpc_server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	bool listening, closing;
	char *address;
	size_t max_recv, max_send;
	int uid, gid;
	unsigned mode;
	/* Request bytes buffered (partial and undelivered messages, headers),
	 * in all and per connection; see call.c, "the receive budget". */
	size_t max_buffered, max_conn_buffered, buffered;
	/* Response bytes queued in calls and not yet taken by nghttp2 (the
	 * send budget: call.c, rpc_call_send), in all and per connection. */
	size_t max_out, max_conn_out, out_buffered;
	/* Calls waiting in rpc_call_when_can_send; woken from `wake`, an idle
	 * handle started when output drains, so never inside nghttp2 or a
	 * handler. Closed last in rpc_server_close. */
	struct list send_waiters;
	uv_idle_t wake;
	bool wake_open;
	/* In-process calls (local.c): every one whose caller has not had its
	 * status yet, and those with something to deliver on the next turn
	 * (through `wake` too). */
	struct list local_calls, local_ready;
	size_t max_conns;
	uint64_t idle_ms;              /* 0: connections are never closed for idleness */
	struct rpc_refusals refused_conns, refused_streams, refused_input, refused_output;
	/* Sorted by path after each register, looked up with bsearch. */
	const struct rpc_method **methods;
	size_t n_methods;
	struct list conns;
	size_t n_conns;
	int pending_closes;            /* handles whose close callback has not run */
	void (*close_done)(void *);
	void *close_arg;
	nghttp2_session_callbacks *callbacks;
	nghttp2_option *h2_options;
	void (*on_call)(void *arg);    /* rpc_server_on_call */
	void *on_call_arg;
	char read_buf[64 * 1024];      /* reads are processed synchronously: one buffer serves all */
};

struct rpc_conn {
	struct rpc_server *srv;
	uv_pipe_t pipe;
	uv_timer_t timer;              /* idleness, then the grace after GOAWAY */
	int handles;                   /* of pipe and timer, not closed yet */
	struct list node;              /* in srv->conns */
	nghttp2_session *h2;
	struct list calls;             /* open streams */
	size_t n_calls;
	/* Calls whose stream closed while a handler still holds them; they
	 * count against RPC_MAX_LIVE_CALLS and keep their charges here until
	 * they are freed or the connection closes. */
	struct list orphans;
	size_t n_orphans;
	size_t buffered;               /* what its calls have charged */
	size_t out_buffered;           /* its calls' queued responses */
	uint64_t last_active;          /* uv_now when bytes last came in */
	struct buf out;                /* bytes from nghttp2 waiting to be written */
	uv_write_t write_req;
	uint8_t *inflight;             /* buffer of the write in progress */
	bool writing, reading, closing, in_recv;
	bool out_blocked;              /* the peer does not read: we stop reading it */
	bool draining;                 /* idle: GOAWAY announced (conn.c, on_timer) */
	bool goaway_final;             /* ... and the final GOAWAY sent */
	bool refused;                  /* over max_connections: GOAWAY, then close */
};

struct rpc_header {
	char *name, *value;
};

struct rpc_call {
	int refs;
	struct rpc_server *srv;
	struct rpc_conn *conn;         /* NULL once the stream is gone; always NULL for a local call */
	/* The connection its charges are on: conn, then (an orphan) until
	 * that connection closes; NULL after. */
	struct rpc_conn *owner;
	size_t charged;                /* bytes charged to owner and its server */
	size_t header_charge;          /* the headers' part of it */
	struct list node;              /* in owner->calls, then in owner->orphans */
	int32_t stream_id;
	const struct rpc_method *method;
	struct rpc_header *headers;
	size_t n_headers, header_bytes;
	const char *path, *ns;         /* point into headers */
	struct buf in;                 /* request bytes not yet framed into messages */
	struct buf out;                /* framed response messages not yet in DATA frames */
	size_t n_received;
	uv_timer_t *deadline;          /* from grpc-timeout; freed in its close callback */
	bool deadline_closing;         /* its close callback (and reference) is still due */
	uint64_t started;              /* uv_hrtime() at its headers, for the trace log only */
	void *data;
	int status;
	char *status_msg;
	bool dispatched;               /* headers checked, method found */
	bool response_started;         /* response HEADERS submitted */
	bool finished;                 /* status decided; trailers follow the data */
	bool cancelled;                /* ended without the handler finishing it */
	bool deferred;                 /* data source returned DEFERRED: resume on send */
	bool ignore_input;             /* after an input error: drop the rest */
	/* rpc_call_hold_input: while held, input is buffered, not dispatched,
	 * and the stream's HTTP/2 window is given back only for what left the
	 * buffer, so the client stops after one window. */
	bool held;
	bool in_dispatch;              /* inside the dispatch loop (no recursion) */
	bool half_close_pending;       /* END_STREAM arrived while held */
	size_t unacked;                /* bytes received, stream window not yet given back */
	/* Stream offsets of the request body: bytes received into `in`, and
	 * where the next gRPC frame header starts (frames are charged whole
	 * as soon as their header is in). */
	uint64_t rx, scan;
	bool scan_stopped;             /* a frame over max_recv: dispatch refuses it */
	bool orphan;                   /* in owner->orphans */
	size_t out_reserved;           /* rpc_call_reserve_send: counted, not queued yet */
	/* rpc_call_when_can_send: the waiter, in srv->send_waiters */
	void (*can_send_fn)(struct rpc_call *call, void *arg);
	void *can_send_arg;
	size_t can_send_ahead, can_send_more;
	struct rpc_server *waiting_on;
	struct list waiter_node;
	/* An in-process call (local.c): its caller's callbacks, and whether the
	 * caller still holds it (until its status is delivered or it cancels).
	 * `node` is then in srv->local_calls, `ready_node` in srv->local_ready
	 * while `ready` is set. */
	bool local, local_open, ready;
	bool local_sent_all;           /* rpc_local_close_send was called */
	const struct rpc_local_ops *local_ops;
	void *local_arg;
	struct list ready_node;
};

/* True while a client (a stream, or an in-process caller) is there. */
static inline bool call_attached(const struct rpc_call *call)
{
	return call->conn != NULL || call->local_open;
}

/* conn.c */
/* Gives `n` bytes of a stream's receive window back to the peer (sent at
 * once unless nghttp2 is busy receiving: then with the next flush). */
void conn_consume_stream(struct rpc_conn *c, int32_t stream_id, size_t n);
/* Logs a refusal at most every RPC_REFUSAL_LOG_MS, with the count since. */
void server_log_refusal(struct rpc_server *s, struct rpc_refusals *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void conn_accept(struct rpc_server *srv);
void conn_flush(struct rpc_conn *c);
void conn_close(struct rpc_conn *c);
int conn_setup_callbacks(struct rpc_server *srv);
/* The nghttp2 data source of every response; reads from the call. */
ssize_t conn_data_source_read(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length,
			      uint32_t *flags, nghttp2_data_source *src, void *user);

/* call.c: nghttp2 callbacks dispatch into these */
struct rpc_call *call_new(struct rpc_conn *c, int32_t stream_id);
int call_on_header(struct rpc_call *call, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);
void call_on_headers_done(struct rpc_call *call);
void call_on_data(struct rpc_call *call, const uint8_t *data, size_t len);
void call_on_half_close(struct rpc_call *call);
/* The stream is gone (closed or reset, or the connection died). */
void call_on_stream_close(struct rpc_call *call);
/* The connection closes: the orphans stop counting on it. */
void call_forget_owner(struct rpc_call *call);
ssize_t call_read_data(struct rpc_call *call, uint8_t *buf, size_t length, uint32_t *flags);
/* What every call goes through once its path and metadata are known, from
 * the socket or in-process: the method looked up, the namespace checked, the
 * deadline started. The call is finished with containerd's (grpc-go's)
 * status when any of it fails; otherwise it is dispatched. `timeout_ms`
 * (UINT64_MAX: none) overrides grpc-timeout. */
void call_route(struct rpc_call *call, uint64_t timeout_ms);
/* Appends one request message (framed as on the wire) to the call's input
 * and delivers what can be delivered. */
void call_local_input(struct rpc_call *call, const uint8_t *data, size_t len);
/* The server ends the call (finish, then on_cancel to the handler). */
void call_end_by_server(struct rpc_call *call, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The caller is gone: as a stream closing, for an in-process call. */
void call_local_detach(struct rpc_call *call);

/* local.c */
/* The call has output or its status to deliver to its in-process caller. */
void local_ready(struct rpc_call *call);
/* Delivers what in-process calls have waiting (from the server's wake). */
void local_deliver(struct rpc_server *s);
/* The server closes: every in-process call ends with UNAVAILABLE. */
void local_end_all(struct rpc_server *s);

/* server.c */
/* Output drained (or a call ended): waiters get a look on the next turn. */
void server_wake_soon(struct rpc_server *s);
/* Makes the wake handle (at start, or at the first in-process call). */
void server_wake_init(struct rpc_server *s);
/* call.c: whether rpc_call_reserve_send(call, ahead, more) would succeed. */
bool call_can_reserve(const struct rpc_call *call, size_t ahead, size_t more);
/* Whether `n` more response bytes fit the send budget of connection `c`. */
bool server_out_fits(const struct rpc_server *s, const struct rpc_conn *c, size_t n);
const struct rpc_method *server_find_method(const struct rpc_server *s, const char *path);
void server_handle_closed(struct rpc_server *s);
