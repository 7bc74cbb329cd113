/* ucontainerd plugin SDK: in-process calls to the daemon's services (ABI 1.3).
 *
 * A plugin calls any gRPC method the daemon serves on its socket
 * (containerd's API: Images, Content, Snapshots, Containers, Leases, Tasks,
 * Events, Diff, Namespaces, Introspection, Version, and the services other
 * plugins register) without a socket, through host->call_start. The
 * messages are containerd's protobuf bytes, exactly what a gRPC client
 * sends and receives: generate C code for them from the daemon's .proto
 * files (protobuf-c) or from containerd's, which have the same wire format.
 * The handlers are those that serve ctr, with the same semantics: the
 * namespace and lease come from metadata ("containerd-namespace",
 * "containerd-lease"), errors are containerd's status codes (enum
 * ucd_code) and texts, events are published, deadlines and size limits
 * apply.
 *
 *   static void got(void *arg, const uint8_t *data, size_t len)
 *   {
 *           Containerd__Services__Version__V1__VersionResponse *v =
 *                   containerd__services__version__v1__version_response__unpack(NULL, len, data);
 *           ...
 *   }
 *   static void done(void *arg, int code, const char *message) { ... }
 *   static const struct ucd_call_ops version_ops = {got, done};
 *   ...
 *   host->call_start(ic, "/containerd.services.version.v1.Version/Version", NULL, 0, 0,
 *                    &version_ops, me, &err);   // then call_send(empty message), call_close_send
 *
 * Everything happens on the loop thread: call_* from elsewhere fails with
 * UCD_FAILED_PRECONDITION. The handler of the method runs inside
 * call_send; the callbacks never run inside a call_* function, always on a
 * later turn of the loop, in order: the response messages, then the status,
 * exactly once, unless the plugin cancelled the call first. After on_finish
 * returns, or once call_cancel has returned, the handle is gone.
 */
#ifndef UCONTAINERD_CALL_H
#define UCONTAINERD_CALL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One in-process call in progress (opaque). */
struct ucd_call;

/* A request metadata entry (a gRPC header): lower-case name, value. */
struct ucd_metadata {
	const char *name;
	const char *value;
};

/* The plugin's side of a call. Static storage is fine: `arg` tells calls
 * apart. */
struct ucd_call_ops {
	/* One response message (protobuf bytes), borrowed until the callback
	 * returns. Unary methods send at most one. */
	void (*on_message)(void *arg, const uint8_t *data, size_t len);
	/* The status: code (enum ucd_code, UCD_OK on success) and message ("" for
	 * none). Last callback of the call. */
	void (*on_finish)(void *arg, int code, const char *message);
};

#ifdef __cplusplus
}
#endif

#endif
