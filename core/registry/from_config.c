/* The glue between the daemon's config and the registry, in its own file so
 * that the registry's unit tests (which pass their own table callback) do not
 * pull in the config module. */
#include "config/config.h"
#include "registry/registry.h"

static const struct toml_value *table_from_config(void *arg, const char *uri, const char **file)
{
	return config_plugin_table(arg, uri, file);
}

void registry_opts_from_config(struct registry_opts *opts, const struct config *cfg)
{
	if (cfg->plugin_dir != NULL)
		opts->plugin_dir = cfg->plugin_dir;
	opts->root = cfg->root;
	opts->state = cfg->state;
	if (cfg->grpc.address != NULL)
		opts->address = cfg->grpc.address;
	if (cfg->ttrpc.address != NULL)
		opts->ttrpc_address = cfg->ttrpc.address;
	opts->disabled = (const char *const *)cfg->disabled_plugins;
	opts->required = (const char *const *)cfg->required_plugins;
	opts->plugin_table = table_from_config;
	opts->plugin_table_arg = (void *)cfg;
}
