/* ttrpc connections on a libuv loop: the daemon's side of ttrpc.
 *
 * One struct ttrpc_conn is one unix-socket connection, either end:
 *  - a client (the runtime plugin talking to a shim) sends calls with
 *    ttrpc_call and gets each answer through its callback; calls are
 *    multiplexed on odd stream ids;
 *  - a server connection (the daemon's `.ttrpc` socket, where shims publish
 *    events) hands each request to the server's handler, which answers with
 *    ttrpc_respond, now or later.
 * Everything runs on the loop thread. Nothing here logs: errors go to the
 * callbacks, so the code works the same inside a plugin. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <ucontainerd/error.h>

#include "ttrpc/ttrpc_wire.h"

struct ttrpc_conn;
struct ttrpc_server;

/* An answer: code 0 and the result payload, or a gRPC code and message
 * (UNAVAILABLE when the connection closed before the answer came). The
 * payload and message are borrowed for the call. */
typedef void (*ttrpc_reply_fn)(void *arg, int code, const char *message, const uint8_t *payload, size_t len);

/* --- client ------------------------------------------------------------ */

/* Connects to a unix socket path (a "unix://" prefix is accepted). `done`
 * gets the connection, or NULL and an error it owns. */
void ttrpc_connect(uv_loop_t *loop, const char *address,
		   void (*done)(void *arg, struct ttrpc_conn *c, struct ucd_error *err), void *arg);
/* Sends one request; `reply` runs exactly once, never from inside this call.
 * ns may be NULL; timeout_ns 0 means none (the peer is told; the answer is
 * awaited as long as the connection lives). */
void ttrpc_call(struct ttrpc_conn *c, const char *service, const char *method, const char *ns,
		const uint8_t *payload, size_t len, int64_t timeout_ns, ttrpc_reply_fn reply, void *arg);
/* Called once when the connection ends (peer closed, broken frame, or
 * ttrpc_close), after the pending calls were answered UNAVAILABLE. */
void ttrpc_on_close(struct ttrpc_conn *c, void (*fn)(void *arg, struct ttrpc_conn *c), void *arg);
/* Closes; pending calls are answered UNAVAILABLE; the struct is freed once
 * libuv has closed the handle. */
void ttrpc_close(struct ttrpc_conn *c);
bool ttrpc_is_open(const struct ttrpc_conn *c);

/* --- server ------------------------------------------------------------ */

/* The request is borrowed for the call; the handler answers with
 * ttrpc_respond on (c, stream), now or later (until then it may hold c with
 * ttrpc_conn_ref). `ns` is the request's containerd namespace or NULL. */
typedef void (*ttrpc_handler_fn)(void *arg, struct ttrpc_conn *c, uint32_t stream, const Ttrpc__Request *req);

/* Binds and listens on `path` (a stale socket file is replaced), mode 0660,
 * owned by uid/gid where they are not -1 (containerd's [ttrpc] uid/gid). */
struct ttrpc_server *ttrpc_server_new(uv_loop_t *loop, const char *path, int uid, int gid, ttrpc_handler_fn handler,
				      void *arg, struct ucd_error **err);
/* Stops listening, closes every connection, removes the socket file; the
 * server is freed once every handle is closed. */
void ttrpc_server_close(struct ttrpc_server *s);

/* Answers a request: code 0 with result (may be NULL for Empty), or a gRPC
 * code and message. A connection that was closed meanwhile drops it. */
void ttrpc_respond(struct ttrpc_conn *c, uint32_t stream, int code, const char *message,
		   const ProtobufCMessage *result);
void ttrpc_conn_ref(struct ttrpc_conn *c);
void ttrpc_conn_unref(struct ttrpc_conn *c);
