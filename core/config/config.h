/* The daemon's configuration: containerd's config.toml, version 2.
 *
 * Precedence, lowest first: built-in defaults, the config file (and the
 * drop-in files its `imports` name), then the command line. Each plugin's
 * own table `[plugins."<type>.<id>"]` is kept as a TOML subtree and handed to
 * the registry, which checks it against the plugin's declared config fields. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <ucontainerd/error.h>

#include "toml/toml.h"

#define CONFIG_DEFAULT_PATH "/etc/ucontainerd/config.toml"

struct config_listener {
	char *address;           /* unix socket path */
	int uid, gid;            /* owner of the socket; -1 keeps the daemon's */
	int64_t max_recv_message_size;  /* bytes, gRPC only */
	int64_t max_send_message_size;
	/* gRPC only, docs/grpc.md: request bytes buffered in all connections
	 * and in one, responses likewise; connections at once (0: no cap); how long a connection
	 * without streams may stay silent (0: forever). */
	int64_t max_recv_buffer_size, max_conn_recv_buffer_size;
	int64_t max_send_buffer_size, max_conn_send_buffer_size;   /* responses not taken yet */
	int64_t max_connections;
	int64_t idle_timeout_ns;
};

struct config {
	int version;             /* 2 (1 is refused with a message: we never spoke it) */
	char *root;              /* persistent data: metadata, content, snapshots */
	char *state;             /* runtime data: sockets, shim state */
	char *plugin_dir;        /* NULL: <dir of the binary>/UCD_REL_PLUGIN_DIR */
	char **disabled_plugins; /* URIs, NULL-terminated */
	char **required_plugins; /* URIs, NULL-terminated */
	char **imports;          /* drop-in files that were merged, NULL-terminated */
	int oom_score;
	struct config_listener grpc;
	struct config_listener ttrpc;
	struct config_listener debug;   /* `[debug] address` (not served yet), `level` */
	char *debug_level;       /* "" when unset */
	char *debug_format;
	char *metrics_address;   /* `[metrics]`: accepted; no listener yet */
	bool metrics_grpc_histogram;

	/* The parsed main document and its imports, kept alive because plugin
	 * tables point into them. Use config_plugin_table() to look one up. */
	struct toml_value **docs;       /* main file first, then imports in order */
	char **doc_paths;
	size_t n_docs;
	char *path;              /* file it was read from, NULL for defaults only */
};

/* The table `[plugins."<uri>"]` that applies (as in containerd, a drop-in
 * file's table replaces the same plugin's table of an earlier file), or NULL
 * when no file configures that plugin. `*file` (if not NULL) receives the
 * path of the file it came from, for messages. */
const struct toml_value *config_plugin_table(const struct config *cfg, const char *uri, const char **file);

/* Defaults, then `path` (NULL: the default path, silently skipped if it does
 * not exist; a path given explicitly must exist). */
int config_load(struct config *cfg, const char *path, bool explicit_path, struct ucd_error **err);
void config_fini(struct config *cfg);
