/* The vtable between the core's Tasks service (core/services/tasks.c) and
 * io.containerd.runtime.v2.task (this directory): the runtime v2 task
 * manager, which owns the shims.
 *
 * Not part of the installed SDK on purpose: a runtime is extended with a
 * shim binary that speaks the v2 shim protocol (containerd-shim-<name>-<v>),
 * not with a plugin .so, so only a plugin built from this tree provides it.
 * The plugin's ucd_plugin_out.ops points at a struct ucd_runtime_ops.
 *
 * Messages cross this boundary packed (protobuf bytes), never as protobuf-c
 * structs, so either side may be rebuilt alone.
 *
 * Threads: everything here runs on the loop thread, and every operation that
 * talks to a shim is asynchronous: `done` is called exactly once, later, on
 * the loop thread (never from inside the call), with either err (the
 * callback owns it) or the shim's packed response (borrowed for the call). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <ucontainerd/error.h>

#define UCD_RUNTIME_TYPE "io.containerd.runtime.v2"

/* What the core gives the plugin once, after init, from the loop thread. */
struct ucd_runtime_env {
	uv_loop_t *loop;
	const char *address;        /* the daemon's gRPC socket: shims get it as -address */
	const char *ttrpc_address;  /* where shims publish events (TTRPC_ADDRESS) */
	const char *self_exe;       /* the daemon binary: shims get it as -publish-binary */
	/* A task whose shim died was cleaned up (at start-up or later): the core
	 * publishes /tasks/exit and /tasks/delete as containerd does. */
	void (*task_gone)(void *arg, const char *ns, const char *id, uint32_t pid, uint32_t exit_status,
			  int64_t exited_sec, int32_t exited_nsec);
	void *arg;
};

typedef void (*ucd_runtime_done)(void *arg, struct ucd_error *err, const uint8_t *resp, size_t len);

struct ucd_runtime_create {
	const char *ns;
	const char *id;
	const char *runtime;        /* the container's runtime name, e.g. io.containerd.runc.v2 */
	/* The container's runtime options and the request's task options (a
	 * google.protobuf.Any each, packed; len 0 for none). */
	const uint8_t *runtime_options;
	size_t runtime_options_len;
	const uint8_t *task_options;
	size_t task_options_len;
	/* The OCI spec as JSON (the container's spec Any value): config.json. */
	const uint8_t *spec;
	size_t spec_len;
	/* containerd.task.v2.CreateTaskRequest, packed, without bundle or
	 * options: the plugin fills them in. */
	const uint8_t *request;
	size_t request_len;
};

struct ucd_runtime_ops {
	size_t size;   /* sizeof(struct ucd_runtime_ops) the plugin was built with */

	/* Once, before any other op: starts the work that needs the loop, and
	 * reconnects to every shim recorded in the state directory (shims
	 * found dead are cleaned up and reported through env->task_gone). */
	int (*attach)(void *self, const struct ucd_runtime_env *env, struct ucd_error **err);
	/* Makes the bundle, starts the runtime's shim and sends Create; on any
	 * failure nothing is left behind. Response: CreateTaskResponse.
	 * AlreadyExists when the namespace already has a task with this id. */
	void (*create)(void *self, const struct ucd_runtime_create *c, ucd_runtime_done done, void *arg);
	/* Sends one method of containerd.task.v2.Task ("State", "Kill", ...)
	 * to the shim of ns/id. NotFound when there is no such task. */
	void (*call)(void *self, const char *ns, const char *id, const char *method, const uint8_t *req,
		     size_t len, ucd_runtime_done done, void *arg);
	/* Deletes the task's init process and the task: Delete, Shutdown, the
	 * bundle removed, the shim forgotten. Response: DeleteResponse. A shim
	 * that is gone is cleaned up with its `delete` command instead. */
	void (*delete_task)(void *self, const char *ns, const char *id, ucd_runtime_done done, void *arg);
	/* The ids of the tasks the namespace has (NULL ns: all namespaces, as
	 * "ns/id"); a NULL-terminated array the caller frees with the host's
	 * free, as each string. */
	char **(*list)(void *self, const char *ns);
	/* Before close: drops connections, leaves every shim running. */
	void (*detach)(void *self);
};
