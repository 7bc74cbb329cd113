/* io.containerd.snapshotter.v1.overlayfs: overlayfs snapshots (ovl.h has
 * the layout). Registration, config and life cycle; the checks are in
 * check.c, directories and mounts in driver.c, the bookkeeping and ops in
 * the shared snapshot store.
 *
 * Settings are containerd 1.6's: root_path and upperdir_label. Exports
 * `root` and declares the platform, as containerd's overlay plugin does; it
 * claims no capability. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

static const struct ucd_config_field ovl_fields[] = {
	UCD_FIELD_STRING(struct ovl_config, root_path, "root_path", "\"\"",
			 "where snapshots are kept; empty: the plugin's directory under the daemon's root"),
	UCD_FIELD_BOOL(struct ovl_config, upperdir_label, "upperdir_label", "false",
		       "report each snapshot's upper directory in the label\n"
		       "`containerd.io/snapshot/overlay.upperdir` (stat, update, list)"),
	UCD_FIELD_END,
};

static void ovl_free(struct ovl *o)
{
	const struct ucd_host *h = o->host;
	snst_close(o->store);
	if (o->links_fd >= 0)
		close(o->links_fd);
	h->free(o->root);
	h->free(o->links);
	h->free(o);
}

static void ovl_close(void *self)
{
	struct snst *s = self;
	if (s != NULL)
		ovl_free(snst_driver_arg(s));
}

static int ovl_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		    struct ucd_error **err)
{
	const struct ovl_config *cfg = ic->config;
	const char *root = cfg != NULL && cfg->root_path[0] ? cfg->root_path : ic->root;
	char *created = NULL;
	int r = snst_mkdir_all(host, root, 0700, &created, err);
	if (r < 0)
		return host->error_wrap(err, "overlayfs");

	struct ovl_features f;
	if ((r = ovl_check(host, root, &f, err)) != 0) {
		/* a skipped plugin leaves no directory behind */
		if (created != NULL)
			snst_remove_path(created);
		host->free(created);
		return r;
	}

	struct ovl *o = host->alloc(sizeof *o);
	memset(o, 0, sizeof *o);
	o->host = host;
	o->root = snst_strdup(host, root);
	o->links = snst_printf(host, "%s/l", root);
	o->links_fd = -1;
	o->f = f;
	o->upperdir_label = cfg != NULL && cfg->upperdir_label;
	if ((r = snst_mkdir_all(host, o->links, 0700, NULL, err)) == 0) {
		o->links_fd = open(o->links, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (o->links_fd < 0)
			r = snst_errno(host, err, errno, "overlayfs: cannot open `%s`", o->links);
	}
	if (r == 0) {
		struct snst_opts so = {
			.host = host, .ic = ic, .root = root, .driver = &ovl_driver, .driver_arg = o,
		};
		r = snst_open(&so, &o->store, err);
	}
	if (r < 0) {
		ovl_free(o);
		if (created != NULL)
			snst_remove_path(created);
		host->free(created);
		return r;
	}
	host->free(created);
	host->log(ic, UCD_LOG_DEBUG, "overlayfs at `%s`: index=off %s, userxattr %s", root,
		  f.index_off ? "passed" : "not supported by the kernel", f.userxattr ? "passed" : "not needed");
	host->export_set(ic, "root", root, NULL);
	snst_platform_add(host, ic);
	out->self = o->store;
	out->ops = &snst_ops;
	return 0;
}

/* As containerd 1.6's overlayfs snapshotter: no requirements. */
static const char *const ovl_requires[] = {NULL};

static const struct ucd_plugin_desc ovl_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.snapshotter.v1",
	.id = "overlayfs",
	.requires_types = ovl_requires,
	.config = ovl_fields,
	.config_size = sizeof(struct ovl_config),
	.init = ovl_init,
	.close = ovl_close,
};
UCD_PLUGIN_DEFINE(ovl_desc)
