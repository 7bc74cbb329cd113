/* Config loading (core/config): the input is a whole config.toml, version
 * 2, loaded with config_load as the daemon loads it, with drop-in files to
 * import; then every plugin's table is read into its config struct with
 * the registry's plugin_config_fill, against the field tables of the real
 * plugins (read from their .so files, without init) and one table of every
 * field kind; then `config dump` is written and must load again to the
 * same core settings.
 *
 * Inputs whose `imports` leave the target's temporary directory (absolute
 * paths, "..") are not loaded: a glob over /dev or /proc would read
 * devices, not test the parser. */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_write.h"
#include "fuzz.h"
#include "registry/registry_int.h"
#include "util/error.h"
#include "util/mem.h"

/* Every kind of field, nested table included. */
struct all_sub {
	const char *name;
	int64_t n;
};
struct all_config {
	const char *s;
	bool b;
	int64_t i;
	double f;
	int64_t d;
	const char *const *a;
	struct all_sub t;
};
static const struct ucd_config_field all_sub_fields[] = {
	UCD_FIELD_STRING(struct all_sub, name, "name", "\"x\"", "a string"),
	UCD_FIELD_INT(struct all_sub, n, "n", "-1", "an integer"),
	UCD_FIELD_END,
};
static const struct ucd_config_field all_fields[] = {
	UCD_FIELD_STRING(struct all_config, s, "s", "\"default\"", "a string"),
	UCD_FIELD_BOOL(struct all_config, b, "b", "true", "a boolean"),
	UCD_FIELD_INT(struct all_config, i, "i", "42", "an integer"),
	UCD_FIELD_FLOAT(struct all_config, f, "f", "0.5", "a float"),
	UCD_FIELD_DURATION(struct all_config, d, "d", "\"1m30s\"", "a duration"),
	UCD_FIELD_STRING_ARRAY(struct all_config, a, "a", "[\"one\", \"two\"]", "strings"),
	UCD_FIELD_TABLE(struct all_config, t, "t", all_sub_fields, "a table"),
	UCD_FIELD_END,
};

struct plugin_fields {
	char *uri;
	const struct ucd_config_field *fields;
	size_t size;
	void *handle;
};
static struct plugin_fields plugins[16];
static size_t n_plugins;
static char *config_path, *dump_path;

static void close_plugins(void)
{
	for (size_t i = 0; i < n_plugins; i++) {
		free(plugins[i].uri);
		if (plugins[i].handle != NULL)
			dlclose(plugins[i].handle);
	}
	free(config_path);
	free(dump_path);
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0, "open %s", path);
	FUZZ_CHECK(write(fd, text, len) == (ssize_t)len, "write %s", path);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	const char *tmp = fuzz_tmpdir();
	config_path = xasprintf("%s/config.toml", tmp);
	dump_path = xasprintf("%s/dump.toml", tmp);
	char *dropins = xasprintf("%s/conf.d", tmp);
	mkdir(dropins, 0700);
	static const char a[] = "oom_score = -500\n"
				"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
				"[plugins.\"io.containerd.snapshotter.v1.native\"]\n  root_path = \"/var/lib/x\"\n"
				"[plugins.\"io.containerd.fuzz.v1.all\".t]\n  name = \"from a drop-in\"\n";
	static const char b[] = "[grpc]\n  max_recv_message_size = 1048576\n"
				"[plugins.\"io.containerd.runtime.v2.task\"]\n  runc_shim = \"containerd-shim-runc-v2\"\n"
				"  systemd_cgroup = true\n";
	char *p = xasprintf("%s/10-a.toml", dropins);
	write_file(p, a, sizeof a - 1);
	free(p);
	p = xasprintf("%s/20-b.toml", dropins);
	write_file(p, b, sizeof b - 1);
	free(p);
	free(dropins);

	plugins[n_plugins++] = (struct plugin_fields){xstrdup("io.containerd.fuzz.v1.all"), all_fields,
						      sizeof(struct all_config), NULL};
	struct ptrvec names = {0};
	if (loader_list_dir(FUZZ_PLUGIN_DIR, &names) == 0) {
		for (size_t i = 0; i < names.n && n_plugins < ARRAY_LEN(plugins); i++) {
			char *uri, *type, *id;
			if (!registry_parse_filename(names.v[i], &uri, &type, &id))
				continue;
			char *path = xasprintf("%s/%s", FUZZ_PLUGIN_DIR, (char *)names.v[i]);
			void *handle = NULL;
			const struct ucd_plugin_desc *d = NULL;
			struct ucd_error *e = NULL;
			if (loader_open(path, names.v[i], type, id, &handle, &d, &e) == 0)
				plugins[n_plugins++] = (struct plugin_fields){xstrdup(uri), d->config, d->config_size, handle};
			else
				error_free(e);
			free(path);
			free(uri);
			free(type);
			free(id);
		}
		ptrvec_free_all(&names);
	}
	atexit(close_plugins);
	return 0;
}

/* Rejects imports that would glob outside the temporary directory. */
static bool imports_stay_inside(const uint8_t *data, size_t size)
{
	char *msg = NULL;
	struct toml_value *doc = toml_parse((const char *)data, size, "fuzz", &msg);
	free(msg);
	if (doc == NULL)
		return true;   /* config_load fails on it before any import */
	bool ok = true;
	const struct toml_value *imports = toml_get(doc, "imports");
	for (size_t i = 0; imports && i < toml_array_len(imports); i++) {
		const struct toml_value *e = toml_array_at(imports, i);
		const char *s = toml_type(e) == TOML_STRING ? toml_string(e, NULL) : "";
		if (s[0] == '/' || strstr(s, "..") != NULL || s[0] == '~')
			ok = false;
	}
	toml_free(doc);
	return ok;
}

static void fill_plugins(const struct config *cfg)
{
	for (size_t i = 0; i < n_plugins; i++) {
		const char *file = NULL;
		const struct toml_value *t = config_plugin_table(cfg, plugins[i].uri, &file);
		static const struct ucd_config_field none[] = {UCD_FIELD_END};
		void *base = xcalloc(1, plugins[i].size ? plugins[i].size : 1);
		struct ptrvec allocs = {0};
		char *msg = NULL;
		if (plugin_config_fill(plugins[i].fields ? plugins[i].fields : none, base, t, file, &allocs, &msg) < 0) {
			FUZZ_CHECK(msg != NULL, "plugin_config_fill failed without a message");
			free(msg);
		} else {
			FUZZ_CHECK(msg == NULL, "message on success");
		}
		ptrvec_free_all(&allocs);
		free(base);
	}
}

/* `config dump`, as main.c writes it: the core, then each plugin table. */
static char *dump(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, len);
	config_write_core(out, cfg, true);
	config_write_plugin_tables(out, cfg, true);   /* what `ucontainerd config dump` prints */
	fclose(out);
	return text;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!imports_stay_inside(data, size))
		return 0;
	write_file(config_path, (const char *)data, size);
	struct config cfg;
	struct ucd_error *e = NULL;
	if (config_load(&cfg, config_path, true, &e) < 0) {
		FUZZ_CHECK(e != NULL && e->msg != NULL && e->msg[0] != 0, "config_load failed without a message");
		error_free(e);
		config_fini(&cfg);
		return 0;
	}
	fill_plugins(&cfg);
	/* The dump must load again (a dump is a valid config) to the same core
	 * settings (imports apply again on top of it, to the same effect). */
	size_t len;
	char *text = dump(&cfg, &len);
	write_file(dump_path, text, len);
	struct config again;
	int r = config_load(&again, dump_path, true, &e);
	FUZZ_CHECK(r == 0, "the dump does not load: %s\n--- dump:\n%s", e ? e->msg : "?", text);
	FUZZ_CHECK(streq(cfg.root, again.root) && streq(cfg.state, again.state) &&
			   streq(cfg.grpc.address, again.grpc.address) && cfg.oom_score == again.oom_score &&
			   cfg.grpc.max_recv_message_size == again.grpc.max_recv_message_size &&
			   cfg.grpc.max_send_message_size == again.grpc.max_send_message_size &&
			   streq(cfg.debug_level, again.debug_level) && streq(cfg.metrics_address, again.metrics_address) &&
			   streq(cfg.ttrpc.address, again.ttrpc.address),
		   "the dump loads to other settings\n--- dump:\n%s", text);
	fill_plugins(&again);
	config_fini(&again);
	free(text);
	config_fini(&cfg);
	return 0;
}
