/* ucontainerd plugin SDK: the host API, everything a plugin may call on the
 * daemon.
 *
 * A plugin links against no symbol of the daemon. The daemon passes a
 * pointer to this table to init(); keep it (a static is fine: the table
 * outlives the plugin) and call through it:
 *
 *   static const struct ucd_host *host;
 *   ...
 *   return host->error_new(err, UCD_NOT_FOUND, 0, "snapshot `%s` not found", key);
 *
 * The table is append-only (SQLite's sqlite3_api_routines rule): members are
 * never removed, reordered or changed in type within ABI major 1. A member
 * added after ABI 1.0 says so in its comment; before calling it, test
 *
 *   if (UCD_HOST_HAS(host, member)) ...
 *
 * because a daemon older than your SDK (but of the same major) has a shorter
 * table. Members present in 1.0 are always there.
 *
 * Threads. The daemon runs one event loop thread, which calls init, close
 * and every op documented as "loop thread". Each member below is marked:
 *   any thread   - may be called from any thread, including worker threads
 *                  running blocking ops;
 *   loop thread  - only from the loop thread (init, close, loop-thread ops);
 *   during init  - only from inside this plugin's own init().
 *
 * Memory. host->alloc/free is the daemon's allocator. Anything a plugin hands
 * to the daemon to free (errors, and in later headers: mounts, infos) is
 * allocated with it; anything the daemon hands to a plugin is either
 * borrowed for the call or freed with host->free. Never free the other side's
 * memory with your own allocator.
 */
#ifndef UCONTAINERD_HOST_H
#define UCONTAINERD_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <ucontainerd/call.h>
#include <ucontainerd/error.h>
#include <ucontainerd/plugin.h>
#include <ucontainerd/service.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels for host->log, as containerd's (logrus) names them. */
enum ucd_log_level {
	UCD_LOG_TRACE = 0,
	UCD_LOG_DEBUG = 1,
	UCD_LOG_INFO = 2,
	UCD_LOG_WARN = 3,
	UCD_LOG_ERROR = 4,
};

#if defined(__GNUC__)
#define UCD_PRINTF_(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define UCD_PRINTF_(fmt, args)
#endif

struct ucd_host {
	/* sizeof(struct ucd_host) as the daemon was compiled: how many members
	 * this table really has (UCD_HOST_HAS). */
	uint32_t size;
	/* The plugin ABI the daemon provides (always the major the plugin was
	 * built for; a minor >= the plugin's). */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* ---- ABI 1.0 ---- */

	/* any thread. Allocates n bytes (n == 0 allowed). Never returns NULL:
	 * the daemon aborts with a message when memory is exhausted. */
	void *(*alloc)(size_t n);
	/* any thread. Frees what alloc returned; NULL is a no-op. */
	void (*free)(void *p);

	/* any thread. Creates an error with class `code` (enum ucd_code, not
	 * UCD_OK), the errno behind it (0 if none) and a printf-formatted
	 * message: lowercase, no trailing period, names in backticks, e.g.
	 * "snapshot `%s` not found". Stores it in *err if err is not NULL (an
	 * error already there is freed first) and returns -code, so that
	 *     return host->error_new(err, UCD_NOT_FOUND, 0, "...");
	 * is the usual way to fail. */
	int (*error_new)(struct ucd_error **err, int code, int errno_, const char *fmt, ...)
		UCD_PRINTF_(4, 5);
	/* any thread. Prepends "<context>: " to the message of *err, keeping its
	 * class, and returns -code; on the way up:
	 *     if (r < 0) return host->error_wrap(err, "commit `%s`", key);
	 * Returns -UCD_UNKNOWN and does nothing if err or *err is NULL. */
	int (*error_wrap)(struct ucd_error **err, const char *fmt, ...) UCD_PRINTF_(2, 3);
	/* any thread. Frees an error (NULL is a no-op): used when a plugin
	 * handles an error a host function gave it instead of returning it. */
	void (*error_free)(struct ucd_error *e);

	/* any thread. Writes one log line at `level` (enum ucd_log_level) in
	 * the daemon's format, with this plugin's URI as the field
	 * `plugin=<uri>`. `ic` is the plugin's init context (NULL: no plugin
	 * field). Lines below the daemon's --log-level are dropped cheaply. */
	void (*log)(const struct ucd_init_ctx *ic, int level, const char *fmt, ...) UCD_PRINTF_(3, 4);

	/* loop thread. Looks up another plugin that has been initialized
	 * successfully (status `ok`), including the daemon's built-in ones
	 * (e.g. "io.containerd.metadata.v1", "sqlite"). `id` NULL means "any
	 * plugin of this type": the first one initialized. On success stores
	 * its instance and vtable (either may be NULL for a plugin without
	 * ops) and returns 0. Fails with UCD_NOT_FOUND when there is no such
	 * plugin, or when it was disabled, skipped, failed, or is not
	 * initialized yet; the message says which. To be sure a plugin is
	 * initialized before yours, list its type in `requires_types`. The pointers
	 * stay valid until your close() has returned (plugins close in reverse
	 * init order). Called from another thread, it fails with
	 * UCD_FAILED_PRECONDITION. */
	int (*get_plugin)(const struct ucd_host *host, const char *type, const char *id, void **self,
	                  const void **ops, struct ucd_error **err);

	/* during init. Sets an export of this plugin, shown by introspection
	 * (containerd's ic.Meta.Exports), e.g. export_set(ic, "root", path).
	 * Both strings are copied; setting a key again replaces its value.
	 * Returns 0, or -UCD_FAILED_PRECONDITION outside init (or off the loop
	 * thread),
	 * -UCD_INVALID_ARGUMENT for NULL strings. `err` may be NULL. */
	int (*export_set)(const struct ucd_init_ctx *ic, const char *key, const char *value,
	                  struct ucd_error **err);
	/* during init. Declares a capability (containerd's
	 * ic.Meta.Capabilities), e.g. "remap-ids" for a snapshotter. Claim only
	 * what the plugin really does: clients act on it. Duplicates are
	 * ignored. Same returns as export_set. */
	int (*capability_add)(const struct ucd_init_ctx *ic, const char *capability,
	                      struct ucd_error **err);
	/* during init. Declares a platform the plugin supports (containerd's
	 * ic.Meta.Platforms), e.g. ("linux", "amd64", ""). `variant` may be NULL
	 * or "". Same returns as export_set. */
	int (*platform_add)(const struct ucd_init_ctx *ic, const char *os, const char *architecture,
	                    const char *variant, struct ucd_error **err);

	/* ---- ABI 1.0 ends here; append only ---- */

	/* ---- ABI 1.2 ---- */

	/* any thread (ABI 1.2). Makes sure `path` is a directory the daemon may
	 * trust, the way the daemon treats its own root and state (the
	 * operator's rules are in docs/config.md, "Directories the daemon
	 * trusts"): missing directories are created with exactly `mode`; every
	 * directory and symlink on the way from / must be owned by root (or
	 * the daemon's user), and a directory on the way must not be writable
	 * by group or others unless sticky; an existing `path` must be owned by
	 * root (or the daemon's user) and has its mode narrowed to at most
	 * `mode` (bits taken away, never added). Use it for every directory a
	 * plugin keeps data in (its root, its state, their subdirectories), so
	 * that no plugin trusts a directory another user made or can change.
	 * `host` is the table the plugin was given. *created (may be NULL)
	 * gets the topmost directory it made (host->alloc'ed; NULL when it
	 * made none), so that a skipping init
	 * can remove exactly that. Fails with UCD_FAILED_PRECONDITION and a
	 * message naming the offending path and the fix when the path cannot
	 * be trusted, or with the errno's class when it cannot be made. */
	int (*dir_ensure)(const struct ucd_host *host, const char *path, uint32_t mode, char **created,
	                  struct ucd_error **err);

	/* ---- ABI 1.3 ---- */

	/* loop thread (ABI 1.3). The daemon's event loop, a libuv `uv_loop_t *`
	 * (cast it), for the plugin's timers, child processes, sockets and
	 * uv_queue_work: everything on it runs on the loop thread, so a
	 * callback must not block. Only for a plugin whose descriptor sets
	 * `libuv_major` to the UV_VERSION_MAJOR it was built with (the daemon
	 * refuses to load it when that is not its own libuv's): otherwise it
	 * fails with UCD_FAILED_PRECONDITION. Close every handle the plugin
	 * opened on it before its close() returns (uv_close; the close
	 * callbacks run on a later turn, while the plugin's code is still
	 * mapped: the daemon turns the loop before it unloads plugins). */
	int (*loop)(const struct ucd_init_ctx *ic, void **loop, struct ucd_error **err);

	/* loop thread (ABI 1.3). Starts an in-process call (call.h) of `method`
	 * ("/containerd.services.images.v1.Images/List") with request metadata
	 * md[0..n_md) (NULL, 0 for none) and a deadline of timeout_ms (0:
	 * none). Available from the plugin's start() hook until the daemon
	 * stops serving; during init (when not every service is registered
	 * yet) it fails with UCD_FAILED_PRECONDITION, after the daemon stopped
	 * serving with UCD_UNAVAILABLE. What a gRPC client would hear as a
	 * status (no such method, no namespace, ...) comes through
	 * ops->on_finish, not here. Returns the call, or NULL with *err. */
	struct ucd_call *(*call_start)(const struct ucd_init_ctx *ic, const char *method,
	                               const struct ucd_metadata *md, size_t n_md, uint64_t timeout_ms,
	                               const struct ucd_call_ops *ops, void *arg, struct ucd_error **err);
	/* loop thread (ABI 1.3). Sends one request message (protobuf bytes,
	 * copied): unary and server-streaming methods take exactly one. The
	 * method's handler runs before this returns. Ignored (returns 0) once
	 * the call has ended or after call_close_send; a message over the
	 * daemon's max_recv_message_size ends the call with
	 * UCD_RESOURCE_EXHAUSTED, as over the socket. */
	int (*call_send)(struct ucd_call *call, const void *data, size_t len, struct ucd_error **err);
	/* loop thread (ABI 1.3). The plugin has sent all its messages (gRPC's
	 * CloseSend). */
	int (*call_close_send)(struct ucd_call *call, struct ucd_error **err);
	/* loop thread (ABI 1.3). Gives up the call: the method's handler is
	 * told, the plugin hears nothing more of it, and the handle is gone.
	 * Never after on_finish has run. Calls a plugin still has open when it
	 * is closed are cancelled by the daemon just before its close(): it
	 * hears nothing more of them, and frees in close() what their `arg`
	 * holds. */
	int (*call_cancel)(struct ucd_call *call, struct ucd_error **err);

	/* during init (ABI 1.3). Serves `svc` (service.h; static storage: it
	 * is read until the daemon exits) on the daemon's socket and
	 * in-process, from the start() hooks on; its handlers get `self`.
	 * Fails with UCD_INVALID_ARGUMENT for a malformed service (a name or
	 * method name of other characters, a method without on_message, an
	 * unknown kind, two methods of one name) and UCD_ALREADY_EXISTS when
	 * this plugin registered that name already. A clash with a service
	 * served by the daemon or an earlier plugin shows when the daemon
	 * starts serving: see service.h. */
	int (*service_register)(const struct ucd_init_ctx *ic, const struct ucd_service *svc, void *self,
	                        struct ucd_error **err);
	/* loop thread (ABI 1.3), inside a handler or while holding a
	 * reference. Queues one response message (protobuf bytes, copied). A
	 * message over max_send_message_size, or one for which the client
	 * leaves no room, ends the call with UCD_RESOURCE_EXHAUSTED (check
	 * server_call_done after sending). */
	int (*server_call_send)(struct ucd_server_call *call, const void *data, size_t len, struct ucd_error **err);
	/* loop thread (ABI 1.3). Ends the call with a status: code (enum
	 * ucd_code) and message (NULL or "" for none); exactly once. */
	int (*server_call_finish)(struct ucd_server_call *call, int code, const char *message, struct ucd_error **err);
	/* loop thread (ABI 1.3). A request metadata value by lower-case name
	 * ("containerd-namespace", "containerd-lease", "authorization"), or
	 * NULL; valid as long as the call. NULL off the loop thread. */
	const char *(*server_call_metadata)(struct ucd_server_call *call, const char *name);
	/* loop thread (ABI 1.3). Keep the call beyond the callback that gave
	 * it, and let it go. */
	int (*server_call_ref)(struct ucd_server_call *call, struct ucd_error **err);
	int (*server_call_unref)(struct ucd_server_call *call, struct ucd_error **err);
	/* loop thread (ABI 1.3). Nonzero once the call was finished or
	 * cancelled: nothing more reaches its client. */
	int (*server_call_done)(struct ucd_server_call *call);
	/* loop thread (ABI 1.3). The plugin's own per-call state (a client
	 * stream's accumulator); NULL until set. */
	void (*server_call_set_data)(struct ucd_server_call *call, void *data);
	void *(*server_call_data)(struct ucd_server_call *call);
};

/* True when the daemon's table has member `m` (see the top of this file). */
#define UCD_HOST_HAS(h, m) ((h)->size >= offsetof(struct ucd_host, m) + sizeof((h)->m))

#ifdef __cplusplus
}
#endif

#endif
