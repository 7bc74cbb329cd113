/* ucontainerd: command line. Everything else starts in daemon.c. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "config/config.h"
#include "config/config_write.h"
#include "publish.h"
#include "services/services.h"
#include "daemon.h"
#include "registry/registry.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ucontainerd [options]            run the daemon\n"
		"       ucontainerd [options] config default   print the default config.toml\n"
		"       ucontainerd [options] config dump      print the effective config\n"
		"       ucontainerd [options] publish --namespace NS --topic TOPIC < event\n"
		"                                              forward a shim's event (a packed Any)\n"
		"\n"
		"options:\n"
		"  -c, --config FILE     config file (default %s)\n"
		"  -a, --address SOCK    gRPC socket (overrides [grpc] address)\n"
		"      --root DIR        persistent data directory (overrides root)\n"
		"      --state DIR       runtime state directory (overrides state)\n"
		"  -l, --log-level L     trace, debug, info, warn, error, fatal\n"
		"  -v, --version         print the version\n"
		"  -h, --help            this text\n",
		CONFIG_DEFAULT_PATH);
}

/* The plugin directory next to the binary: <dir of exe>/UCD_REL_PLUGIN_DIR. */
static char *default_plugin_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return xstrdup("/usr/lib/ucontainerd/plugins");
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash != NULL)
		*slash = 0;
	return xasprintf("%s/%s", exe, UCD_REL_PLUGIN_DIR);
}

static int print_default(struct config *cfg, const char *plugin_dir)
{
	struct ucd_error *err = NULL;
	config_write_core(stdout, cfg, true);
	printf("\n# Each installed plugin's section, with its defaults (%s).\n", plugin_dir);
	if (registry_config_default(plugin_dir, stdout, &err) < 0) {
		log_error("%s", err->msg);
		error_free(err);
		return 1;
	}
	return 0;
}

static bool configured(void *arg, const char *uri)
{
	return config_plugin_table(arg, uri, NULL) != NULL;
}

/* The effective config: the core's values after defaults, files, imports and
 * the command line; every plugin table a file sets; the defaults of every
 * installed plugin no file configures. */
static int print_dump(struct config *cfg, const char *plugin_dir)
{
	config_write_core(stdout, cfg, false);
	config_write_plugin_tables(stdout, cfg, true);
	struct ucd_error *err = NULL;
	printf("\n# Installed plugins no file configures run on their defaults:\n");
	if (registry_config_default_except(plugin_dir, stdout, configured, cfg, &err) < 0) {
		log_error("%s", err->msg);
		error_free(err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},   {"address", required_argument, NULL, 'a'},
		{"root", required_argument, NULL, 'R'},     {"state", required_argument, NULL, 'S'},
		{"log-level", required_argument, NULL, 'l'}, {"version", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},           {0},
	};
	const char *config_path = NULL, *address = NULL, *root = NULL, *state = NULL, *level = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "+c:a:l:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'a': address = optarg; break;
		case 'R': root = optarg; break;
		case 'S': state = optarg; break;
		case 'l': level = optarg; break;
		case 'v':
			printf("ucontainerd %s %s\n", UCD_VERSION, UCD_REVISION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	enum { RUN, CONFIG_DEFAULT, CONFIG_DUMP, PUBLISH } what = RUN;
	if (optind < argc) {
		if (strcmp(argv[optind], "publish") == 0)
			what = PUBLISH;
		else if (strcmp(argv[optind], "config") == 0 && optind + 2 == argc && strcmp(argv[optind + 1], "default") == 0)
			what = CONFIG_DEFAULT;
		else if (strcmp(argv[optind], "config") == 0 && optind + 2 == argc && strcmp(argv[optind + 1], "dump") == 0)
			what = CONFIG_DUMP;
		else {
			fprintf(stderr, "ucontainerd: unknown command `%s`\n", argv[optind]);
			usage(stderr);
			return 2;
		}
	}

	enum log_level l = LOG_INFO;
	if (level != NULL && !log_parse_level(level, &l)) {
		fprintf(stderr, "ucontainerd: unknown log level `%s`\n", level);
		return 2;
	}
	log_set_level(l);

	struct config cfg;
	struct ucd_error *err = NULL;
	/* `config default` describes what a fresh install runs with: no file. */
	int rc = config_load(&cfg, what == CONFIG_DEFAULT ? "/nonexistent/ucontainerd.toml" : config_path,
			     what != CONFIG_DEFAULT && config_path != NULL, &err);
	if (rc < 0) {
		log_msg(LOG_FATAL, NULL, "failed to load config: %s", err->msg);
		error_free(err);
		config_fini(&cfg);
		return 1;
	}
	if (address != NULL) {
		free(cfg.grpc.address);
		cfg.grpc.address = xstrdup(address);
	}
	if (root != NULL) {
		free(cfg.root);
		cfg.root = xstrdup(root);
	}
	if (state != NULL) {
		free(cfg.state);
		cfg.state = xstrdup(state);
	}
	if (level == NULL && cfg.debug_level[0] != 0) {
		if (!log_parse_level(cfg.debug_level, &l)) {
			log_msg(LOG_FATAL, NULL, "failed to load config: unknown [debug] level `%s`", cfg.debug_level);
			config_fini(&cfg);
			return 1;
		}
		log_set_level(l);
	}

	autofree char *plugin_dir = cfg.plugin_dir && cfg.plugin_dir[0] ? xstrdup(cfg.plugin_dir) : default_plugin_dir();
	int status;
	switch (what) {
	case CONFIG_DEFAULT: status = print_default(&cfg, plugin_dir); break;
	case CONFIG_DUMP: status = print_dump(&cfg, plugin_dir); break;
	case PUBLISH: {
		autofree char *ttrpc = svc_ttrpc_address(&cfg);
		status = publish_run(ttrpc, argc - optind - 1, argv + optind + 1);
		break;
	}
	default: status = daemon_run(&cfg, plugin_dir); break;
	}
	config_fini(&cfg);
	return status;
}
