/* The plugin under test, loaded exactly as the daemon loads it: a plugin
 * directory holding one file named by the plugin's URI (a symlink to the
 * given .so), the real registry (core/registry), the plugin's config from an
 * optional config.toml, then registry_get(type, id). Every instance gets a
 * fresh registry, hence a fresh init, on the root and state it is given. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/snapshotter.h>

#include "config/config.h"

struct subject {
	char *so_path;        /* absolute */
	char *uri, *type, *id;
	char *plugin_dir;     /* <tmp>/plugins: <uri>.so -> so_path */
	struct config cfg;
	bool has_cfg;
};

/* Finds the plugin's URI (from the file name when it has the shape
 * io.containerd.<kind>.<version>.<id>.so, else from its descriptor) and
 * prepares the plugin directory under tmp. -1 with why on failure. */
int subject_init(struct subject *s, const char *so_path, const char *config_path, const char *tmp, char *why,
                 size_t cap);
void subject_fini(struct subject *s);

struct instance {
	struct registry *reg;
	const struct ucd_host *host;                /* the plugin's host table (allocator tracked) */
	const struct ucd_snapshotter_ops *ops;
	void *self;
};

enum instance_outcome { INSTANCE_OK, INSTANCE_SKIP, INSTANCE_ERROR };

/* Loads and initializes a fresh instance whose daemon root and state are
 * `root` and `state` (the plugin gets <root>/<uri>, <state>/<uri>). On skip
 * or error, *msg (malloc'd) says why and *inst is zeroed. */
enum instance_outcome instance_open(const struct subject *s, const char *root, const char *state,
                                    struct instance *inst, char **msg);
/* Closes the plugin (its close op) and unloads it; a zeroed inst is a no-op. */
void instance_close(struct instance *inst);
