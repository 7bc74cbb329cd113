/* The plugin registry: finds the plugins installed in plugin_dir, checks
 * their ABI, orders them by what they require, gives each its config and
 * calls its init, and remembers what happened to every one of them for the
 * introspection service (`ctr plugins ls`).
 *
 * The core's own services take part as built-in plugins, described with the
 * same struct ucd_plugin_desc a .so exports, so that the order of
 * initialization, the lookups (host->get_plugin) and introspection treat
 * both alike.
 *
 * Typical use by the daemon:
 *
 *   struct registry_opts o = { ... };
 *   registry_opts_from_config(&o, &cfg);        // dirs, disabled/required, plugin tables
 *   struct registry *reg = registry_new(&o, &err);
 *   registry_add_builtin(reg, &metadata_desc, &err);    // before registry_load
 *   if (registry_load(reg, &err) < 0) { log; exit(1); } // a required plugin is not ok
 *   registry_start(reg, server);                 // serving: start() hooks, in-process calls
 *   ...
 *   registry_stop(reg);                          // SIGTERM: stop() hooks
 *   registry_unserve(reg);                       // the server closed
 *   registry_free(reg);                          // closes in reverse init order
 *
 * Everything here runs on the loop thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <ucontainerd/error.h>
#include <ucontainerd/plugin.h>

struct config;
struct toml_value;
struct registry;
struct registry_plugin;
struct rpc_server;

enum registry_status {
	REGISTRY_PENDING,   /* registered, init not attempted yet (only before/during registry_load) */
	REGISTRY_OK,        /* initialized */
	REGISTRY_SKIP,      /* init said "not applicable here" (message: the reason) */
	REGISTRY_ERROR,     /* refused or failed (message says why) */
	REGISTRY_DISABLED,  /* listed in disabled_plugins: never loaded; introspection omits it */
};

/* Returns the table `[plugins."<uri>"]` that configures a plugin, or NULL
 * when the configuration has none; *file (may be left NULL) names the file
 * it came from, for "FILE:LINE:COL" messages. The tree must stay alive
 * until registry_load returns (built-ins registered later: until then). */
typedef const struct toml_value *(*registry_table_fn)(void *arg, const char *uri, const char **file);

struct registry_opts {
	const char *plugin_dir;      /* NULL: no directory is scanned (built-ins only) */
	const char *root;            /* required: plugins get "<root>/<uri>" */
	const char *state;           /* required: plugins get "<state>/<uri>" */
	const char *address;         /* gRPC socket path given to plugins; NULL: "" */
	const char *ttrpc_address;   /* ttrpc socket path given to plugins; NULL: "" */
	const char *const *disabled; /* URIs, NULL-terminated; may be NULL */
	const char *const *required; /* URIs, NULL-terminated; may be NULL */
	registry_table_fn plugin_table; /* NULL: every plugin gets its defaults */
	void *plugin_table_arg;
	void *loop;                  /* the daemon's uv_loop_t, for host->loop; NULL: none */
};

/* Fills plugin_dir, root, state, address, ttrpc_address, disabled, required
 * and plugin_table from a loaded config (pointers into cfg, which must
 * outlive the registry's load). cfg->plugin_dir NULL leaves plugin_dir as
 * it was (the daemon puts its default there first). */
void registry_opts_from_config(struct registry_opts *opts, const struct config *cfg);

/* Copies opts. Fails (NULL, *err) only when root or state is missing. */
struct registry *registry_new(const struct registry_opts *opts, struct ucd_error **err);

/* Closes every ok plugin in reverse init order, frees their configs,
 * dlcloses every loaded .so. NULL is a no-op. */
void registry_free(struct registry *reg);

/* Registers a plugin compiled into the daemon. `desc` (static storage, must
 * outlive the registry) is validated like a .so's descriptor, minus the ABI
 * gate. desc->init NULL: the plugin is `ok` at once (it exists for
 * introspection and lookups only; self/ops NULL). With an init: before
 * registry_load it joins the dependency order and is initialized there
 * (config included); after registry_load it is initialized at once.
 * Returns 0 when registered (whatever the init's outcome: see its status),
 * 1 when its URI is disabled (recorded as such, init never called), or
 * -code when refused (bad descriptor, URI already registered). */
int registry_add_builtin(struct registry *reg, const struct ucd_plugin_desc *desc, struct ucd_error **err);

/* Scans plugin_dir, loads every plugin file (see docs/plugins.md), orders
 * and initializes them together with pending built-ins, then checks
 * required plugins. A missing plugin_dir is not an error (no plugins). Only
 * one call per registry. Returns 0, or -code with *err when the directory
 * cannot be read or a required plugin is not ok (message names each one and
 * why) - the daemon then exits. Individual plugin failures are not errors
 * here: they are recorded, logged and shown by introspection. */
int registry_load(struct registry *reg, struct ucd_error **err);

/* The required_plugins check registry_load ends with, for callers that add
 * built-ins afterwards: each required URI must be registered and `ok`. */
int registry_check_required(const struct registry *reg, struct ucd_error **err);

/* The daemon serves on `server`: plugins may call its services in-process
 * (host->call_start) from now on, and their start() hooks run, in init
 * order; a hook that fails turns its plugin's status into `error`. */
void registry_start(struct registry *reg, struct rpc_server *server);
/* Shutdown begins: stop() hooks, in reverse init order (once). */
void registry_stop(struct registry *reg);
/* The server is closed (its in-process calls all ended): calls fail with
 * UNAVAILABLE from now on. Call it before the server is freed. */
void registry_unserve(struct registry *reg);

/* Whether a URI is listed in disabled_plugins. */
bool registry_is_disabled(const struct registry *reg, const char *uri);

/* All plugins, in the order their status was decided: built-ins registered
 * before registry_load, then (in registry_load) disabled ones and refused
 * files in URI order, then the rest in init order. Includes disabled ones
 * (introspection skips them, as containerd does). */
size_t registry_count(const struct registry *reg);
const struct registry_plugin *registry_at(const struct registry *reg, size_t i);
/* By URI; NULL if not registered. */
const struct registry_plugin *registry_find(const struct registry *reg, const char *uri);
/* By type and id (id NULL: the first `ok` plugin of that type); NULL if none. */
const struct registry_plugin *registry_get(const struct registry *reg, const char *type, const char *id);

/* The host API table plugins of this registry receive. */
const struct ucd_host *registry_host(const struct registry *reg);

/* Accessors. Strings are owned by the registry. */
const char *registry_plugin_uri(const struct registry_plugin *p);
const char *registry_plugin_type(const struct registry_plugin *p);
const char *registry_plugin_id(const struct registry_plugin *p);
/* The .so it was loaded from; NULL for a built-in. */
const char *registry_plugin_path(const struct registry_plugin *p);
bool registry_plugin_builtin(const struct registry_plugin *p);
/* NULL-terminated, never NULL (as declared; empty if the descriptor could
 * not be read). */
const char *const *registry_plugin_requires(const struct registry_plugin *p);
enum registry_status registry_plugin_status(const struct registry_plugin *p);
/* "ok", "skip", "error", "disabled", "pending" */
const char *registry_status_name(enum registry_status s);
/* Skip: the plugin's reason; error: what went wrong; NULL otherwise. */
const char *registry_plugin_message(const struct registry_plugin *p);
/* enum ucd_code of the skip/error (as the plugin set it); UCD_OK otherwise. */
int registry_plugin_code(const struct registry_plugin *p);
/* The message introspection reports as init_err.message, shaped like
 * containerd's so `ctr plugins ls` shows the right STATUS: for a skip
 * "<reason>: skip plugin" (ctr looks for "skip plugin"), for an error the
 * message, NULL when ok or disabled. */
const char *registry_plugin_init_err(const struct registry_plugin *p);
/* Exports as key, value, key, value, ..., NULL; never NULL. */
const char *const *registry_plugin_exports(const struct registry_plugin *p);
/* Value of one export, NULL if not set. */
const char *registry_plugin_export(const struct registry_plugin *p, const char *key);
/* NULL-terminated, never NULL. */
const char *const *registry_plugin_capabilities(const struct registry_plugin *p);
struct registry_platform {
	const char *os, *architecture, *variant; /* variant "" when none */
};
const struct registry_platform *registry_plugin_platforms(const struct registry_plugin *p, size_t *n);
/* What init returned in ucd_plugin_out; NULL unless ok. */
void *registry_plugin_self(const struct registry_plugin *p);
const void *registry_plugin_ops(const struct registry_plugin *p);

/* Splits a plugin file name "io.containerd.<kind>.<version>.<id>.so" into
 * malloc'd uri, type and id (each out-pointer may be NULL). False if the
 * name does not have that shape; nothing is allocated then. */
bool registry_parse_filename(const char *name, char **uri, char **type, char **id);

/* For `ucontainerd config default`: for each plugin file in plugin_dir, in
 * URI order, reads its descriptor (the .so is loaded and ABI-checked, its
 * init is NOT called) and prints `[plugins."<uri>"]` with every config
 * field's default and its doc as `#` comments. Files that cannot be loaded
 * are reported as `#` comments. The output is valid TOML. Returns 0, or
 * -code if the directory cannot be read (a missing one prints nothing). */
int registry_config_default(const char *plugin_dir, FILE *out, struct ucd_error **err);
/* The same, leaving out the plugins for which skip(arg, uri) is true
 * (`config dump` prints their configured tables instead). */
int registry_config_default_except(const char *plugin_dir, FILE *out, bool (*skip)(void *arg, const char *uri),
				   void *arg, struct ucd_error **err);
