/* ucontainerd plugin SDK: gRPC services a plugin serves (ABI 1.3).
 *
 * A plugin registers a service during its init with host->service_register;
 * the daemon serves it on its socket, next to containerd's services, from
 * the start() hooks on, and in-process too (call.h): clients call it as any
 * gRPC service (the CRI's runtime.v1.RuntimeService is one). Messages are
 * protobuf bytes: the plugin decodes its requests and encodes its answers
 * with code generated from its own .proto files (protobuf-c); the daemon
 * frames them, applies its size limits, namespaces and deadlines, and
 * reports statuses exactly as for its own services.
 *
 *   static void version(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len)
 *   {
 *           ... decode data, encode the answer into buf ...
 *           host->server_call_send(call, buf, n, NULL);
 *           host->server_call_finish(call, UCD_OK, NULL, NULL);
 *   }
 *   static const struct ucd_method methods[] = {
 *           { .name = "Version", .kind = UCD_METHOD_UNARY, .on_message = version },
 *   };
 *   static const struct ucd_service svc = { "runtime.v1.RuntimeService", methods, 1 };
 *   ...in init: host->service_register(ic, &svc, me, err);
 *
 * A service whose name the daemon or an earlier plugin already serves is not
 * served: the plugin's status turns to `error` with a message naming who
 * serves it, and none of its services are served. A plugin that is
 * disabled, skipped or failed serves nothing; one whose start() fails stops
 * serving. A path the plugin does not serve gets UNIMPLEMENTED in grpc-go's
 * words ("unknown method X for service Y").
 *
 * Every callback runs on the loop thread; a handler must not block (work
 * goes to the loop, see host->loop). A call stays valid while a callback
 * for it runs; to answer later, take a reference (server_call_ref) and drop
 * it when done. Every server_call_* is a harmless no-op on a call that was
 * cancelled or already finished, so a late answer needs no special case.
 */
#ifndef UCONTAINERD_SERVICE_H
#define UCONTAINERD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One call of a plugin's method, in progress (opaque). */
struct ucd_server_call;

enum ucd_method_kind {
	UCD_METHOD_UNARY = 0,
	UCD_METHOD_SERVER_STREAMING = 1,
	UCD_METHOD_CLIENT_STREAMING = 2,
	UCD_METHOD_BIDI_STREAMING = 3,
};

struct ucd_method {
	/* "Version": the method's path is "/<service>/<name>". Letters, digits
	 * and '_'. */
	const char *name;
	/* enum ucd_method_kind. */
	int kind;
	/* Nonzero: a call without a valid `containerd-namespace` ends with
	 * containerd's status (FAILED_PRECONDITION "namespace is required",
	 * INVALID_ARGUMENT for a bad name) before on_message. */
	int namespaced;
	/* Each request message (protobuf bytes), borrowed until it returns.
	 * Unary and server-streaming methods get exactly one. Required. */
	void (*on_message)(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len);
	/* Optional: the client has sent everything (client and bidi
	 * streaming). */
	void (*on_half_close)(void *self, struct ucd_server_call *call);
	/* Optional: the call ended before the plugin finished it (the client
	 * went away, its deadline passed, its input was refused, the daemon
	 * stops serving): drop what the plugin kept for it. At most once. */
	void (*on_cancel)(void *self, struct ucd_server_call *call);
};

struct ucd_service {
	/* The full gRPC service name, "runtime.v1.RuntimeService": letters,
	 * digits, '_' and '.'. */
	const char *name;
	const struct ucd_method *methods;
	size_t n_methods;
};

#ifdef __cplusplus
}
#endif

#endif
