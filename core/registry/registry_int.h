/* Private to core/registry: the pieces registry.c is built from.
 *
 *   loader.c         file name -> URI, dlopen, the ABI gate, descriptor checks
 *   plugin_config.c  config field tables: validation, defaults, TOML -> struct,
 *                    `config default` printing
 *   host.c           struct ucd_host, the plugins' only door into the core
 *   calls.c          the host's in-process calls and loop (ABI 1.3)
 *   registry.c       records, dependency order, init/close, lookups
 */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <ucontainerd/host.h>

#include "registry/registry.h"
#include "util/list.h"

struct toml_value;
struct rpc_server;

/* A growable NULL-terminated array of pointers (v[n] == NULL whenever v). */
struct ptrvec {
	void **v;
	size_t n, cap;
};
void ptrvec_push(struct ptrvec *pv, void *p);
/* Calls free() on every element, then frees the array. */
void ptrvec_free_all(struct ptrvec *pv);
void ptrvec_fini(struct ptrvec *pv);

/* A plugin's record, and the registry (registry.c owns both; calls.c reads
 * them). */
struct registry_plugin {
	struct ucd_init_ctx ic;        /* first member: what the plugin sees */
	struct registry *reg;
	char *uri, *type, *id;
	char *path;                    /* NULL for built-ins */
	char *file;                    /* base name, for messages */
	struct ptrvec requires;        /* char *, NULL-terminated */
	bool builtin;
	bool duplicate;                /* a second record of a registered URI: never found by lookups */
	bool in_init;
	enum registry_status status;
	int code;
	char *message, *init_err;
	struct ptrvec exports;         /* key, value, ... */
	struct ptrvec caps;
	struct registry_platform *platforms;
	size_t n_platforms;
	void *handle;                  /* dlopen handle, until registry_free */
	const struct ucd_plugin_desc *desc;
	void *config;
	struct ptrvec config_allocs;
	void *self;
	const void *ops;
	char *root, *state;
	struct list calls;             /* its in-process calls open (calls.c) */
	struct ptrvec services;        /* struct plugin_service *, its own gRPC services (services.c) */
	bool closed;                   /* close() has run */
	/* scratch for ordering */
	int tj_index, tj_low, scc;
	bool tj_on_stack, placed;
};

struct registry {
	struct ucd_host host;          /* handed to plugins; get_plugin finds the registry from it */
	char *plugin_dir, *root, *state, *address, *ttrpc_address;
	struct ptrvec disabled, required;
	registry_table_fn plugin_table;
	void *plugin_table_arg;
	struct ptrvec all;             /* every record, owner */
	struct ptrvec order;           /* records whose status is decided, in that order */
	struct ptrvec inited;          /* init returned 0: closed in reverse */
	bool loaded;
	pthread_t loop_thread;         /* the thread that created the registry */
	void *loop;                    /* the daemon's uv_loop_t (host->loop) */
	/* In-process calls (calls.c) go to `server` from registry_start until
	 * registry_unserve; `stopping` from registry_stop on. */
	struct rpc_server *server;
	bool started, stopping;
};

static inline bool registry_on_loop(const struct registry *reg)
{
	return pthread_equal(pthread_self(), reg->loop_thread);
}

/* The record of the plugin an init context belongs to (its first member). */
static inline struct registry_plugin *registry_ctx_plugin(const struct ucd_init_ctx *ic)
{
	return (struct registry_plugin *)ic;
}

/* ---- loader.c ---- */

/* The descriptor size of ABI 1.0: what a descriptor must at least cover. */
#define LOADER_DESC_SIZE_1_0 (offsetof(struct ucd_plugin_desc, reserved) + 4 * sizeof(uintptr_t))

/* Opens `path` (RTLD_NOW | RTLD_LOCAL), finds the entry symbol and passes its
 * descriptor through the ABI gate and loader_validate; the descriptor's type
 * and id must be `type` and `id` (from the file name `name`, used in
 * messages). On success *handle and *desc are set. On failure the .so is
 * closed again and *err says why in words an operator can act on. */
int loader_open(const char *path, const char *name, const char *type, const char *id, void **handle,
                const struct ucd_plugin_desc **desc, struct ucd_error **err);
/* Checks what the ABI gate does not: init present, requires well-formed,
 * reserved members zero, the config table sound. `what` names the plugin in
 * messages ("`x.so`", "built-in `uri`"). */
int loader_validate(const struct ucd_plugin_desc *d, const char *what, bool need_init, struct ucd_error **err);
/* Type and id shapes: [a-z0-9] then [a-z0-9_.-]; id: [A-Za-z0-9_.-]+ not
 * starting with a dot. */
bool loader_valid_type(const char *type);
bool loader_valid_id(const char *id);
/* dirent names of `dir`, sorted by strcmp, hidden ones excluded. Returns -1
 * with errno set if the directory cannot be read. */
int loader_list_dir(const char *dir, struct ptrvec *names);

/* ---- plugin_config.c ---- */

/* Checks a field table against config_size: names unique and present, types
 * known, offsets in range, defaults parse as their type. */
int plugin_config_validate(const struct ucd_config_field *fields, size_t config_size, const char *what,
                           struct ucd_error **err);
/* Stores every field's default into base (config_size zeroed bytes), then
 * the values of `table` (may be NULL). Strings and arrays it allocates are
 * pushed onto *allocs. On failure returns -1 and *msg (malloc'd) reads
 * "FILE:LINE:COL: unknown key `x`; known keys: ..." or "...: `x` must be an
 * integer, not a string". */
int plugin_config_fill(const struct ucd_config_field *fields, void *base, const struct toml_value *table,
                       const char *file, struct ptrvec *allocs, char **msg);
/* Prints the keys of `fields` (then their sub-tables) at `indent`, as the
 * body of the section whose TOML header path is `section` (e.g.
 * `plugins."io.containerd.x.v1.y"`). */
void plugin_config_print(FILE *out, const struct ucd_config_field *fields, const char *section, int indent);

/* ---- host.c ---- */

void host_fill(struct ucd_host *h);

/* ---- calls.c ---- */

int host_loop(const struct ucd_init_ctx *ic, void **loop, struct ucd_error **err);
struct ucd_call *host_call_start(const struct ucd_init_ctx *ic, const char *method, const struct ucd_metadata *md,
                                 size_t n_md, uint64_t timeout_ms, const struct ucd_call_ops *ops, void *arg,
                                 struct ucd_error **err);
int host_call_send(struct ucd_call *call, const void *data, size_t len, struct ucd_error **err);
int host_call_close_send(struct ucd_call *call, struct ucd_error **err);
int host_call_cancel(struct ucd_call *call, struct ucd_error **err);
/* Cancels every in-process call the plugin still has open (before its
 * close(): no callback may reach a plugin that is gone). */
void calls_cancel_all(struct registry_plugin *p);

/* ---- services.c ---- */

int host_service_register(const struct ucd_init_ctx *ic, const struct ucd_service *svc, void *self,
                          struct ucd_error **err);
int host_server_call_send(struct ucd_server_call *call, const void *data, size_t len, struct ucd_error **err);
int host_server_call_finish(struct ucd_server_call *call, int code, const char *message, struct ucd_error **err);
const char *host_server_call_metadata(struct ucd_server_call *call, const char *name);
int host_server_call_ref(struct ucd_server_call *call, struct ucd_error **err);
int host_server_call_unref(struct ucd_server_call *call, struct ucd_error **err);
int host_server_call_done(struct ucd_server_call *call);
void host_server_call_set_data(struct ucd_server_call *call, void *data);
void *host_server_call_data(struct ucd_server_call *call);
/* Puts the plugin's services on `server`, all or none: -1 and *msg
 * (malloc'd: who serves which already) when one of them is served. */
int services_serve(struct registry_plugin *p, struct rpc_server *server, char **msg);
/* Takes them off again (server NULL: only forgets they were served). */
void services_withdraw(struct registry_plugin *p, struct rpc_server *server);
/* The names of those served, comma-separated, into buf. */
const char *services_names(const struct registry_plugin *p, char *buf, size_t n);
void services_free(struct registry_plugin *p);

/* ---- registry.c, called by host.c ---- */

/* 0 when called during the plugin's own init on the loop thread, else
 * -UCD_FAILED_PRECONDITION naming `what`. */
int registry_during_init(const struct ucd_init_ctx *ic, const char *what, struct ucd_error **err);

int registry_host_get_plugin(const struct ucd_host *host, const char *type, const char *id, void **self,
                             const void **ops, struct ucd_error **err);
int registry_host_export_set(const struct ucd_init_ctx *ic, const char *key, const char *value,
                             struct ucd_error **err);
int registry_host_capability_add(const struct ucd_init_ctx *ic, const char *capability, struct ucd_error **err);
int registry_host_platform_add(const struct ucd_init_ctx *ic, const char *os, const char *architecture,
                               const char *variant, struct ucd_error **err);
