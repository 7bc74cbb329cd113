/* gRPC over HTTP/2 on libuv: the daemon's server side.
 *
 * The server owns the listening unix socket, one nghttp2 session per
 * connection and one `struct rpc_call` per HTTP/2 stream. Services register a
 * table of methods; the server decodes each request message with protobuf-c
 * and hands it to the method's handler ON THE LOOP THREAD. A handler answers
 * at once or later (after work on the thread pool), by sending zero or more
 * response messages and finishing the call exactly once with a status.
 *
 * Lifetime: a call stays valid until it is finished AND its stream closed, or
 * until on_cancel has returned. A handler that answers later must hold a
 * reference (rpc_call_ref) and drop it when done; every function below is a
 * safe no-op on a call that was cancelled or already finished, so a late
 * answer to a vanished client needs no special case. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontainerd/error.h>
#include <uv.h>

struct rpc_server;
struct rpc_call;

enum rpc_kind {
	RPC_UNARY,
	RPC_SERVER_STREAMING,
	RPC_CLIENT_STREAMING,
	RPC_BIDI_STREAMING,
};

struct rpc_method {
	const char *path;                          /* "/containerd.services.version.v1.Version/Version" */
	enum rpc_kind kind;
	/* Request type, decoded before on_message; NULL for a method that
	 * takes its request messages undecoded, through on_bytes (a plugin's
	 * service, whose types the daemon does not know). */
	const ProtobufCMessageDescriptor *input;
	/* True if the call needs the `containerd-namespace` header: a call without
	 * one fails with containerd's FailedPrecondition "namespace is required"
	 * before the handler runs, one with an invalid name with InvalidArgument. */
	bool namespaced;
	/* Each request message, decoded. Unary and server-streaming methods get
	 * exactly one. `msg` is freed when the handler returns: copy what you keep. */
	void (*on_message)(struct rpc_call *call, const ProtobufCMessage *msg);
	/* With input NULL: each request message as it came, borrowed until it
	 * returns. The receive limits apply as to decoded messages. */
	void (*on_bytes)(struct rpc_call *call, const uint8_t *data, size_t len);
	/* Optional: the client has finished sending (client/bidi streaming). */
	void (*on_half_close)(struct rpc_call *call);
	/* Optional: the call ended before the handler finished it (client reset,
	 * deadline from grpc-timeout, connection lost, server shutdown, or the
	 * server refusing later input: an oversized, truncated or undecodable
	 * message). The handler drops what it kept for the call (an event
	 * subscription, a partial upload). Called at most once per call. */
	void (*on_cancel)(struct rpc_call *call);
	/* Optional: the server refuses this call's later input (an oversized,
	 * truncated or undecodable message). Without it the call ends at once and
	 * on_cancel follows; with it the handler owns `e` and finishes the call
	 * with it (rpc_call_fail) when it has released what it holds, so a client
	 * that retries at once finds e.g. an ingest lock already free. No more
	 * messages or half-close are delivered; on_cancel still comes if the
	 * client goes first. */
	void (*on_input_error)(struct rpc_call *call, struct ucd_error *e);
	void *data;                                /* handed back by rpc_call_method_data() */
};

/* A method table entry; add `.on_cancel = fn` etc. after it where needed:
 *   { RPC_METHOD("/pkg.Svc/Get", RPC_UNARY, &req__descriptor, true, get) }, */
#define RPC_METHOD(path_, kind_, input_, namespaced_, fn_) \
	.path = (path_), .kind = (kind_), .input = (input_), .namespaced = (namespaced_), .on_message = (fn_)

struct rpc_server_opts {
	const char *address;       /* unix socket path */
	int uid, gid;              /* socket owner; -1 = leave as created */
	unsigned mode;             /* socket mode, e.g. 0660 */
	size_t max_recv_message_size;  /* containerd's default: 16 MiB */
	size_t max_send_message_size;
	/* The receive budget: request bytes buffered across all connections
	 * and on one connection (0: the defaults below). A message is charged
	 * whole when its length prefix arrives; one that does not fit ends its
	 * call with RESOURCE_EXHAUSTED. Each is raised to hold one message of
	 * max_recv_message_size. Every connection may also use
	 * RPC_CONN_GUARANTEED (64 KiB) beyond the total. docs/grpc.md. */
	size_t max_recv_buffer, max_conn_recv_buffer;
	/* The send budget: response bytes queued for clients that have not
	 * taken them yet (0: the defaults below). A response that does not
	 * fit ends its call with RESOURCE_EXHAUSTED; server streams that can
	 * wait use rpc_call_can_send. Raised to hold one message of
	 * max_send_message_size. */
	size_t max_send_buffer, max_conn_send_buffer;
	/* Connections at once; one more gets GOAWAY and is closed. 0: no cap.
	 * Lowered to half the RLIMIT_NOFILE soft limit. */
	size_t max_connections;
	/* A connection without open streams that sends nothing this long gets
	 * GOAWAY (NO_ERROR) and is closed. 0: never. */
	uint64_t idle_timeout_ms;
};

#define RPC_DEFAULT_MAX_RECV_BUFFER ((size_t)256 << 20)
#define RPC_DEFAULT_MAX_CONN_RECV_BUFFER ((size_t)64 << 20)
#define RPC_DEFAULT_MAX_SEND_BUFFER ((size_t)256 << 20)
#define RPC_DEFAULT_MAX_CONN_SEND_BUFFER ((size_t)64 << 20)

/* Binds and listens. A stale socket (a file nobody accepts on) is replaced; a
 * socket another live server accepts on makes this fail with a message
 * saying so (FAILED_PRECONDITION). */
struct rpc_server *rpc_server_new(uv_loop_t *loop, const struct rpc_server_opts *opts, struct ucd_error **err);
/* The methods table must outlive the server (calls keep pointers into it
 * after it is unregistered). */
void rpc_server_register(struct rpc_server *s, const struct rpc_method *methods, size_t n);
/* Stops serving every method of `service` ("runtime.v1.RuntimeService"):
 * new calls get UNIMPLEMENTED ("unknown service"), calls in progress go
 * on. Returns how many methods went. */
size_t rpc_server_unregister(struct rpc_server *s, const char *service);
bool rpc_server_has_service(const struct rpc_server *s, const char *service);  /* "containerd.services.version.v1.Version" */
/* Starts accepting connections. */
int rpc_server_start(struct rpc_server *s, struct ucd_error **err);
/* Stops accepting, cancels every call, closes every connection and removes
 * the socket file; `done` runs when every handle is closed. In-process
 * calls end with UNAVAILABLE. A server that made in-process calls must be
 * closed before it is freed. */
void rpc_server_close(struct rpc_server *s, void (*done)(void *arg), void *arg);
void rpc_server_free(struct rpc_server *s);
/* Connections and calls currently open, for tests and introspection. */
size_t rpc_server_connections(const struct rpc_server *s);
/* Request bytes buffered now (the receive budget's use), for tests. */
size_t rpc_server_buffered(const struct rpc_server *s);
/* `fn` runs on the loop at the start of every call (the daemon's idle
 * detection); NULL to stop. */
void rpc_server_on_call(struct rpc_server *s, void (*fn)(void *arg), void *arg);

/* --- in-process calls ------------------------------------------------------
 *
 * The daemon's own code and its plugins call the services the server
 * serves without a socket: the same method table, the same handlers, and
 * the same semantics as a gRPC client (namespace and lease from metadata,
 * containerd's status codes and texts, deadlines, cancellation, size
 * limits). Request and response messages are containerd's protobuf bytes.
 *
 * Everything happens on the loop thread. The handler runs inside
 * rpc_local_send (a unary handler may answer before it returns); the
 * caller's callbacks never run inside an rpc_local_* function but on a
 * later turn of the loop, so a caller needs no reentrancy guard: responses
 * in the order sent, then the status, exactly once, unless the caller
 * cancelled first. After on_finish (or rpc_local_cancel) the call handle is
 * gone. Responses are delivered as fast as the handler produces them: a
 * caller that cannot keep up with a long server stream cancels. */
struct rpc_local_ops {
	/* One response message, borrowed until the callback returns. */
	void (*on_message)(void *arg, const uint8_t *data, size_t len);
	/* The call's status: code (enum ucd_code) and message ("" for none). */
	void (*on_finish)(void *arg, int code, const char *msg);
};

struct rpc_metadata {
	const char *name;    /* lower case, e.g. "containerd-namespace", "containerd-lease" */
	const char *value;
};

/* Starts a call of `path` ("/containerd.services.images.v1.Images/List")
 * with request metadata md[0..n_md) and a deadline of timeout_ms
 * (0: none). A path the server does not serve, a missing or invalid
 * namespace, metadata names starting with ':' (reserved) end the call with
 * the status a gRPC client would get, delivered through on_finish. Returns
 * NULL, calling nothing, only when the server is closing. */
struct rpc_call *rpc_local_start(struct rpc_server *s, const char *path, const struct rpc_metadata *md,
				 size_t n_md, uint64_t timeout_ms, const struct rpc_local_ops *ops, void *arg);
/* Sends one request message (unary and server-streaming methods take
 * exactly one). Ignored once the call is done or the input closed. */
void rpc_local_send(struct rpc_call *call, const void *data, size_t len);
/* The caller has sent everything (gRPC's CloseSend). */
void rpc_local_close_send(struct rpc_call *call);
/* The caller gives up: the handler hears it through on_cancel, the caller
 * hears nothing more. Not allowed after on_finish has run. */
void rpc_local_cancel(struct rpc_call *call);
/* start + send + close_send, for unary and server-streaming methods. */
struct rpc_call *rpc_local_unary(struct rpc_server *s, const char *path, const struct rpc_metadata *md,
				 size_t n_md, uint64_t timeout_ms, const void *data, size_t len,
				 const struct rpc_local_ops *ops, void *arg);
/* In-process calls whose caller has not had its status yet (for tests). */
size_t rpc_server_local_calls(const struct rpc_server *s);

/* --- inside a handler -------------------------------------------------- */

/* Queues one response message. Streaming sends are buffered: a server stream
 * whose client does not read is bounded by rpc_call_pending_bytes(), which a
 * producer checks (events drop a subscriber past a limit), or paced with
 * rpc_call_can_send. A message over max_send_message_size, or one that does
 * not fit the send budget (responses queued for clients that do not take
 * them), ends the call with RESOURCE_EXHAUSTED right here, without
 * on_cancel (the handler is in the middle of its own code): a handler that
 * keeps state checks rpc_call_done() after sending. */
void rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg);
/* For server streams that can wait for their client (Content.Read, long
 * Lists): when at most `ahead` bytes of this call wait to be sent and `more`
 * bytes fit the send budget, reserves those `more` bytes for the call (in
 * place of what it had reserved) and returns true: the next messages it
 * sends use the reservation, so producers working at once cannot together
 * overshoot the budget. What is left of it goes when the call ends. False
 * (nothing reserved) otherwise, and once the call is done. */
bool rpc_call_reserve_send(struct rpc_call *call, size_t ahead, size_t more);
/* Runs fn(call, arg) once, on the loop on a later turn (never from inside
 * an rpc_* function), when rpc_call_reserve_send(call, ahead, more) may
 * succeed or the call has ended meanwhile: fn tries again. Holds a
 * reference on the call until then. One waiter per call (a second call
 * replaces the first's fn). Returns false, registering nothing, when the
 * call is already done: the caller ends its work itself. */
bool rpc_call_when_can_send(struct rpc_call *call, size_t ahead, size_t more,
			    void (*fn)(struct rpc_call *call, void *arg), void *arg);
/* Queues one response message already encoded (len bytes), as
 * rpc_call_send does. */
void rpc_call_send_bytes(struct rpc_call *call, const uint8_t *data, size_t len);
/* Ends the call with a status; message is printf-style (may be NULL for OK). */
void rpc_call_finish(struct rpc_call *call, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rpc_call_send(msg) then rpc_call_finish(UCD_OK). */
void rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *msg);
/* Finishes with e->code and e->msg, then frees e. */
void rpc_call_fail(struct rpc_call *call, struct ucd_error *e);

/* The validated `containerd-namespace` value, or NULL when the request had none. */
const char *rpc_call_namespace(const struct rpc_call *call);
/* Any request header (metadata) by lower-case name, or NULL. */
const char *rpc_call_header(const struct rpc_call *call, const char *name);
void *rpc_call_method_data(const struct rpc_call *call);
const struct rpc_method *rpc_call_method(const struct rpc_call *call);
void rpc_call_set_data(struct rpc_call *call, void *data);   /* handler's own per-call state */
void *rpc_call_data(const struct rpc_call *call);
/* True once the call was finished or cancelled: nothing more will be sent. */
bool rpc_call_done(const struct rpc_call *call);
size_t rpc_call_pending_bytes(const struct rpc_call *call);
/* Flow control for client and bidi streams whose messages take work off the
 * loop (writing a chunk of a blob): while held, no on_message or
 * on_half_close is delivered, what arrives is buffered, and the stream's
 * HTTP/2 receive window is not replenished, so the client stops sending
 * after one window (1 MiB) instead of filling the daemon's memory. Other
 * streams of the connection are not affected. Releasing (hold = false)
 * delivers what was buffered: at once when called from a loop callback,
 * or right after the current on_message returns when called inside one.
 * Holding a call that is done is a no-op. */
void rpc_call_hold_input(struct rpc_call *call, bool hold);
/* Takes over the buffer of a bytes field of the request message being
 * delivered to on_message (only there): returns it (free() it when done; NULL
 * when the field is empty) with its length in *len, and leaves the field
 * empty so that the message's free after on_message skips it. Saves a copy
 * of large payloads such as Content.Write chunks. */
uint8_t *rpc_call_take_bytes(struct rpc_call *call, const ProtobufCBinaryData *field, size_t *len);
/* Request bytes received and not yet delivered as messages (for tests and
 * debugging of flow control). */
size_t rpc_call_input_bytes(const struct rpc_call *call);
void rpc_call_ref(struct rpc_call *call);
void rpc_call_unref(struct rpc_call *call);
