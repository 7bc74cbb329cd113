#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ucontainerd/plugin.h>

#include "registry/registry.h"
#include "subject.h"
#include "track.h"
#include "util/error.h"
#include "util/mem.h"

/* Reads type and id from the descriptor, for a file not named by its URI.
 * The entry function only returns the descriptor (plugin.h), so calling it
 * outside the registry runs no other plugin code. */
static int uri_from_descriptor(struct subject *s, char *why, size_t cap)
{
	void *h = dlopen(s->so_path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(why, cap, "cannot load `%s`: %s", s->so_path, dlerror());
		return -1;
	}
	const struct ucd_plugin_desc *(*entry)(void) = (const struct ucd_plugin_desc *(*)(void))dlsym(h, UCD_PLUGIN_ENTRY);
	const struct ucd_plugin_desc *d = entry ? entry() : NULL;
	int r = -1;
	if (d == NULL || d->magic != UCD_PLUGIN_MAGIC)
		snprintf(why, cap, "`%s` is not a ucontainerd plugin (no `%s` or bad magic)", s->so_path,
		         UCD_PLUGIN_ENTRY);
	else if (d->type == NULL || d->id == NULL)
		snprintf(why, cap, "`%s`: the descriptor has no type or id", s->so_path);
	else {
		s->type = xstrdup(d->type);
		s->id = xstrdup(d->id);
		s->uri = xasprintf("%s.%s", d->type, d->id);
		r = 0;
	}
	dlclose(h);
	return r;
}

int subject_init(struct subject *s, const char *so_path, const char *config_path, const char *tmp, char *why,
                 size_t cap)
{
	memset(s, 0, sizeof *s);
	char real[PATH_MAX];
	if (realpath(so_path, real) == NULL) {
		snprintf(why, cap, "`%s`: %s", so_path, strerror(errno));
		return -1;
	}
	s->so_path = xstrdup(real);
	autofree char *copy = xstrdup(so_path);
	if (!registry_parse_filename(basename(copy), &s->uri, &s->type, &s->id) &&
	    uri_from_descriptor(s, why, cap) < 0)
		return -1;
	if (strcmp(s->type, UCD_SNAPSHOTTER_TYPE) != 0) {
		snprintf(why, cap, "`%s` is a plugin of type `%s`, not a snapshotter (`%s`)", so_path, s->type,
		         UCD_SNAPSHOTTER_TYPE);
		return -1;
	}
	s->plugin_dir = xasprintf("%s/plugins", tmp);
	autofree char *link = xasprintf("%s/%s.so", s->plugin_dir, s->uri);
	if (mkdir(s->plugin_dir, 0755) < 0 || symlink(s->so_path, link) < 0) {
		snprintf(why, cap, "cannot make the plugin directory `%s`: %s", s->plugin_dir, strerror(errno));
		return -1;
	}
	if (config_path != NULL) {
		struct ucd_error *e = NULL;
		if (config_load(&s->cfg, config_path, true, &e) < 0) {
			snprintf(why, cap, "%s", e->msg);
			error_free(e);
			return -1;
		}
		s->has_cfg = true;
	}
	return 0;
}

void subject_fini(struct subject *s)
{
	if (s->plugin_dir != NULL) {
		autofree char *link = xasprintf("%s/%s.so", s->plugin_dir, s->uri);
		unlink(link);
		rmdir(s->plugin_dir);
	}
	if (s->has_cfg)
		config_fini(&s->cfg);
	free(s->so_path);
	free(s->uri);
	free(s->type);
	free(s->id);
	free(s->plugin_dir);
	memset(s, 0, sizeof *s);
}

static const struct toml_value *table_of(void *arg, const char *uri, const char **file)
{
	return config_plugin_table(arg, uri, file);
}

enum instance_outcome instance_open(const struct subject *s, const char *root, const char *state,
                                    struct instance *inst, char **msg)
{
	memset(inst, 0, sizeof *inst);
	*msg = NULL;
	struct registry_opts o = {
		.plugin_dir = s->plugin_dir,
		.root = root,
		.state = state,
	};
	if (s->has_cfg) {
		o.plugin_table = table_of;
		o.plugin_table_arg = (void *)&s->cfg;
	}
	struct ucd_error *e = NULL;
	struct registry *reg = registry_new(&o, &e);
	if (reg == NULL) {
		*msg = xstrdup(e->msg);
		error_free(e);
		return INSTANCE_ERROR;
	}
	/* The registry's host table is a plain member it hands to plugins at
	 * init; instrument its allocator before any plugin code runs. */
	track_install((struct ucd_host *)registry_host(reg));
	if (registry_load(reg, &e) < 0) {
		*msg = xstrdup(e->msg);
		error_free(e);
		registry_free(reg);
		return INSTANCE_ERROR;
	}
	const struct registry_plugin *p = registry_find(reg, s->uri);
	enum registry_status st = p ? registry_plugin_status(p) : REGISTRY_ERROR;
	if (st != REGISTRY_OK) {
		const char *m = p ? registry_plugin_message(p) : NULL;
		*msg = xasprintf("%s", m ? m : "the registry did not load the plugin");
		registry_free(reg);
		return st == REGISTRY_SKIP ? INSTANCE_SKIP : INSTANCE_ERROR;
	}
	p = registry_get(reg, UCD_SNAPSHOTTER_TYPE, s->id);
	inst->reg = reg;
	inst->host = registry_host(reg);
	inst->self = registry_plugin_self(p);
	inst->ops = registry_plugin_ops(p);
	if (inst->ops == NULL) {
		*msg = xstrdup("init returned 0 but no ops (ucd_plugin_out.ops is NULL)");
		instance_close(inst);
		return INSTANCE_ERROR;
	}
	return INSTANCE_OK;
}

void instance_close(struct instance *inst)
{
	if (inst->reg != NULL)
		registry_free(inst->reg);
	memset(inst, 0, sizeof *inst);
}
