/* io.containerd.snapshotter.v1.overlayfs: the plugin's own state and its
 * parts (check.c: can overlay work here; driver.c: directories and mounts).
 * The bookkeeping is the shared snapshot store (plugins/snapshot-store).
 *
 * Layout under the root (containerd's, plus l/ and trash/):
 *   snapshots/<id>/fs     the upper directory (for committed snapshots:
 *                         the layer, a lowerdir of their children)
 *   snapshots/<id>/work   overlay's workdir (ACTIVE snapshots)
 *   l/<short>             symlink to ../snapshots/<id>/fs, <short> the id
 *                         in base 36: lowerdir lists name these, so
 *                         long chains fit into one page of mount options
 *   metadata.db, trash/   see snst.h
 */
#pragma once
#include <stdbool.h>

#include "snst.h"

struct ovl_config {
	const char *root_path;
	bool upperdir_label;
};

/* What the kernel and the backing filesystem offer. */
struct ovl_features {
	bool index_off;     /* the kernel knows the `index` option: pass index=off */
	bool userxattr;     /* in a user namespace: pass userxattr */
};

struct ovl {
	const struct ucd_host *host;
	struct snst *store;
	char *root;
	char *links;         /* <root>/l */
	int links_fd;
	struct ovl_features f;
	bool upperdir_label;
};

/* 0 when overlay works on `root`; otherwise UCD_PLUGIN_SKIP with *err
 * saying why in words an operator can act on. Leaves nothing behind. */
int ovl_check(const struct ucd_host *h, const char *root, struct ovl_features *f, struct ucd_error **err);

extern const struct snst_driver ovl_driver;

/* "<id in base 36>" into buf (>= 16 bytes). */
void ovl_short_name(uint64_t id, char *buf);
