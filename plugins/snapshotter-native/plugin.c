/* io.containerd.snapshotter.v1.native: snapshots as plain copies, as
 * containerd's native snapshotter. Works on any filesystem.
 *
 * Layout under the root (containerd's):
 *   snapshots/<id>/    the snapshot's tree itself (no fs/ below it)
 *   metadata.db, trash/  see plugins/snapshot-store/snst.h
 *
 * prepare on a parent copies the parent's whole tree (copy.c) - outside
 * the store's lock, so other ops go on meanwhile; a view on a parent needs
 * no copy: it is a read-only bind mount of the parent. Usage is the disk
 * use of the whole tree, which for a copy is what it really takes.
 *
 * Settings are containerd 1.6's: root_path. Exports `root`, declares the
 * platform; no capability. */
#include <stddef.h>
#include <string.h>

#include "copy.h"
#include "snst.h"

struct native_config {
	const char *root_path;
};

static const struct ucd_config_field native_fields[] = {
	UCD_FIELD_STRING(struct native_config, root_path, "root_path", "\"\"",
			 "where snapshots are kept; empty: the plugin's directory under the daemon's root"),
	UCD_FIELD_END,
};

static int native_create(struct snst *s, const char *dir, uint64_t id, int kind, const uint64_t *parents,
			 size_t n_parents, struct ucd_error **err)
{
	(void)id;
	if (kind != UCD_SNAPSHOT_ACTIVE || n_parents == 0)
		return 0;   /* empty, or a view that mounts its parent */
	char *src = snst_dir(s, parents[0], "");
	int r = native_copy_tree(snst_host(s), snst_ic(s), src, dir, err);
	snst_host(s)->free(src);
	return r;
}

static int native_mounts(struct snst *s, uint64_t id, int kind, const uint64_t *parents, size_t n_parents,
			 struct ucd_mounts *out, struct ucd_error **err)
{
	(void)err;
	bool own = kind == UCD_SNAPSHOT_ACTIVE || n_parents == 0;
	char *src = snst_dir(s, own ? id : parents[0], "");
	const char *opts[] = {"rbind", kind == UCD_SNAPSHOT_VIEW ? "ro" : "rw"};
	snst_mount_add(snst_host(s), out, "bind", src, opts, 2);
	snst_host(s)->free(src);
	return 0;
}

static const struct snst_driver native_driver = {
	.name = "native",
	.usage_subdir = "",
	.create = native_create,
	.mounts = native_mounts,
};

static void native_close(void *self)
{
	snst_close(self);
}

static int native_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		       struct ucd_error **err)
{
	const struct native_config *cfg = ic->config;
	const char *root = cfg != NULL && cfg->root_path[0] ? cfg->root_path : ic->root;
	char *created = NULL;
	int r = snst_mkdir_all(host, root, 0700, &created, err);
	if (r < 0)
		return host->error_wrap(err, "native");
	struct snst_opts so = {.host = host, .ic = ic, .root = root, .driver = &native_driver};
	struct snst *s = NULL;
	if ((r = snst_open(&so, &s, err)) < 0) {
		if (created != NULL)
			snst_remove_path(created);
		host->free(created);
		return r;
	}
	host->free(created);
	host->export_set(ic, "root", root, NULL);
	snst_platform_add(host, ic);
	out->self = s;
	out->ops = &snst_ops;
	return 0;
}

/* As containerd 1.6's native snapshotter: no requirements. */
static const char *const native_requires[] = {NULL};

static const struct ucd_plugin_desc native_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.snapshotter.v1",
	.id = "native",
	.requires_types = native_requires,
	.config = native_fields,
	.config_size = sizeof(struct native_config),
	.init = native_init,
	.close = native_close,
};
UCD_PLUGIN_DEFINE(native_desc)
