/* Unit tests of core/registry against the fixture plugins of
 * tests/fixtures/plugins (one .so per behaviour). Every test runs in its
 * own forked process, so a crash is one failure and dlopen state never
 * leaks from one test into the next. Asserts status AND message text.
 *
 *   test_registry            run every test
 *   test_registry NAME...    run only those
 * Ends with "N passed, N failed"; exits 1 if anything failed. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "registry/registry.h"
#include "registry/registry_int.h"
#include "rpc/rpc.h"
#include "toml/toml.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/log.h"

#ifndef UCD_FIXTURE_DIR
#error UCD_FIXTURE_DIR must name the fixture plugin directory
#endif

static bool failed;

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			failed = true; \
		} \
	} while (0)

#define CHECK_STR(a, b) check_str(__FILE__, __LINE__, #a, (a), (b))
static void check_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
	if (got == NULL || want == NULL ? got != want : strcmp(got, want) != 0) {
		fprintf(stderr, "%s:%d: %s\n    got:  %s%s%s\n    want: %s%s%s\n", file, line, expr, got ? "\"" : "",
		        got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
		failed = true;
	}
}

#define CHECK_CONTAINS(hay, needle) check_contains(__FILE__, __LINE__, #hay, (hay), (needle))
static void check_contains(const char *file, int line, const char *expr, const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL) {
		fprintf(stderr, "%s:%d: %s\n    got:  %s\n    does not contain: %s\n", file, line, expr,
		        hay ? hay : "NULL", needle);
		failed = true;
	}
}

/* ---- fixtures of the tests themselves ---- */

static char tmpdir[256];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ucd-test-registry-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static void remove_tmpdir(void)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static char *fixture_dir(const char *set)
{
	static char buf[1024];
	snprintf(buf, sizeof buf, "%s/%s", UCD_FIXTURE_DIR, set);
	return buf;
}

/* A parsed config.toml, handed to the registry through its table callback. */
struct cfg {
	struct toml_value *doc;
};

static const struct toml_value *cfg_table(void *arg, const char *uri, const char **file)
{
	struct cfg *c = arg;
	*file = "cfg.toml";
	return toml_get(toml_get(c->doc, "plugins"), uri);
}

static struct toml_value *parse_toml(const char *text, const char *name)
{
	char *err = NULL;
	struct toml_value *v = toml_parse(text, strlen(text), name, &err);
	if (v == NULL) {
		fprintf(stderr, "test TOML does not parse: %s\n", err);
		free(err);
		exit(2);
	}
	return v;
}

struct setup {
	const char *set;                 /* fixture set, or NULL for none */
	const char *dir;                 /* overrides set */
	const char *const *disabled;
	const char *const *required;
	const char *toml;                /* config.toml text, or NULL */
	void *loop;                      /* uv_loop_t for host->loop, or NULL */
};

static struct cfg the_cfg;

static struct registry *open_registry(const struct setup *s)
{
	if (s->toml)
		the_cfg.doc = parse_toml(s->toml, "cfg.toml");
	char root[512], state[512];
	snprintf(root, sizeof root, "%s/root", tmpdir);
	snprintf(state, sizeof state, "%s/state", tmpdir);
	/* As the daemon does before it loads plugins (plugin.h: a plugin's
	 * root and state have existing parents). */
	mkdir(root, 0711);
	mkdir(state, 0711);
	struct registry_opts o = {
		.plugin_dir = s->dir ? s->dir : s->set ? fixture_dir(s->set) : NULL,
		.root = root,
		.state = state,
		.address = "/run/test.sock",
		.ttrpc_address = "/run/test.sock.ttrpc",
		.disabled = s->disabled,
		.required = s->required,
		.plugin_table = s->toml ? cfg_table : NULL,
		.plugin_table_arg = &the_cfg,
		.loop = s->loop,
	};
	struct ucd_error *err = NULL;
	struct registry *reg = registry_new(&o, &err);
	if (reg == NULL) {
		fprintf(stderr, "registry_new: %s\n", err->msg);
		exit(2);
	}
	return reg;
}

static void close_registry(struct registry *reg)
{
	registry_free(reg);
	toml_free(the_cfg.doc);
	the_cfg.doc = NULL;
}

static struct registry *load(const struct setup *s)
{
	struct registry *reg = open_registry(s);
	struct ucd_error *err = NULL;
	int r = registry_load(reg, &err);
	if (r < 0) {
		fprintf(stderr, "registry_load failed: %s\n", err->msg);
		failed = true;
		error_free(err);
	}
	return reg;
}

static const struct registry_plugin *must_find(struct registry *reg, const char *uri)
{
	const struct registry_plugin *p = registry_find(reg, uri);
	if (p == NULL) {
		fprintf(stderr, "plugin %s not registered\n", uri);
		failed = true;
		exit(1);
	}
	return p;
}

#define CHECK_STATUS(reg, uri, st, msg) check_status(__FILE__, __LINE__, (reg), (uri), (st), (msg))
static void check_status(const char *file, int line, struct registry *reg, const char *uri, enum registry_status st,
                         const char *msg)
{
	const struct registry_plugin *p = registry_find(reg, uri);
	if (p == NULL) {
		fprintf(stderr, "%s:%d: plugin %s not registered\n", file, line, uri);
		failed = true;
		return;
	}
	if (registry_plugin_status(p) != st) {
		fprintf(stderr, "%s:%d: %s: status %s, want %s (message: %s)\n", file, line, uri,
		        registry_status_name(registry_plugin_status(p)), registry_status_name(st),
		        registry_plugin_message(p) ? registry_plugin_message(p) : "none");
		failed = true;
	}
	check_str(file, line, uri, registry_plugin_message(p), msg);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return strdup("");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int c;
	while ((c = fgetc(f)) != EOF) {
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 256;
			buf = realloc(buf, cap);
		}
		buf[n++] = (char)c;
	}
	fclose(f);
	if (buf == NULL)
		return strdup("");
	buf[n] = '\0';
	return buf;
}

static char trace_path[512];

static void start_trace(void)
{
	snprintf(trace_path, sizeof trace_path, "%s/trace", tmpdir);
	setenv("UCD_FIXTURE_TRACE", trace_path, 1);
}

/* ---- tests ---- */

static void test_parse_filename(void)
{
	char *uri, *type, *id;
	CHECK(registry_parse_filename("io.containerd.snapshotter.v1.overlayfs.so", &uri, &type, &id));
	CHECK_STR(uri, "io.containerd.snapshotter.v1.overlayfs");
	CHECK_STR(type, "io.containerd.snapshotter.v1");
	CHECK_STR(id, "overlayfs");
	free(uri);
	free(type);
	free(id);
	CHECK(registry_parse_filename("io.containerd.cycle-a.v12.some.dotted_id.so", NULL, &type, &id));
	CHECK_STR(type, "io.containerd.cycle-a.v12");
	CHECK_STR(id, "some.dotted_id");
	free(type);
	free(id);
	const char *bad[] = {
		"README.txt", "io.containerd.testing.so", "io.containerd.testing.v1.so", "io.containerd.testing.v1..so",
		"io.containerd.testing.x1.id.so", "io.containerd.Testing.v1.id.so", "org.example.snapshotter.v1.x.so",
		"io.containerd.snapshotter.v1.zfs.so.1", "io.containerd.snapshotter.v1.zfs", "io.containerd..v1.x.so",
		"io.containerd.snapshotter.v.x.so", "io.containerd.snapshotter.v1.x y.so", "io.containerd.snapshotter.v1.x..so",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (registry_parse_filename(bad[i], NULL, NULL, NULL)) {
			fprintf(stderr, "accepted bad plugin file name %s\n", bad[i]);
			failed = true;
		}
	}
}

static void test_parse_duration(void)
{
	static const struct {
		const char *s;
		int64_t ns;
	} ok[] = {
		{"0", 0}, {"10s", 10000000000}, {"1m30s", 90000000000}, {"250ms", 250000000}, {"1h", 3600000000000},
		{"1.5s", 1500000000}, {"-2m", -120000000000}, {"+3us", 3000}, {"7\xc2\xb5s", 7000}, {"1h2m3s4ms5us6ns", 3723004005006},
		{".5s", 500000000}, {"2562047h", INT64_C(2562047) * 3600000000000},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t ns = -1;
		if (!duration_parse(ok[i].s, &ns) || ns != ok[i].ns) {
			fprintf(stderr, "duration %s: got %lld, want %lld\n", ok[i].s, (long long)ns, (long long)ok[i].ns);
			failed = true;
		}
	}
	const char *bad[] = {"", "s", "10", "1x", "1.s.", "--1s", "1 s", "9999999999999h", "."};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ns;
		if (duration_parse(bad[i], &ns)) {
			fprintf(stderr, "accepted bad duration \"%s\"\n", bad[i]);
			failed = true;
		}
	}
}

static void test_good_set_statuses(void)
{
	struct registry *reg = load(&(struct setup){.set = "good"});
	CHECK(registry_count(reg) == 6);
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.init_fails", REGISTRY_ERROR, "init_fails: this fixture always fails");
	CHECK_STATUS(reg, "io.containerd.testing.v1.init_skips", REGISTRY_SKIP, "init_skips: nothing to do on this host");
	CHECK_STATUS(reg, "io.containerd.testing.v1.requires_missing", REGISTRY_ERROR,
	             "requires_missing: no plugin of type `io.containerd.nothing.v1` is available");
	CHECK_STATUS(reg, "io.containerd.consumer.v1.requires_good", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.alpha.v1.requires_star", REGISTRY_OK, NULL);

	const struct registry_plugin *fails = must_find(reg, "io.containerd.testing.v1.init_fails");
	CHECK(registry_plugin_code(fails) == UCD_FAILED_PRECONDITION);
	CHECK_STR(registry_plugin_init_err(fails), "init_fails: this fixture always fails");
	const struct registry_plugin *skips = must_find(reg, "io.containerd.testing.v1.init_skips");
	CHECK(registry_plugin_code(skips) == UCD_UNIMPLEMENTED);
	/* `ctr plugins ls` shows "skip" when init_err contains "skip plugin". */
	CHECK_STR(registry_plugin_init_err(skips), "init_skips: nothing to do on this host: skip plugin");
	CHECK(registry_plugin_exports(skips)[0] == NULL);   /* what it exported before skipping is dropped */
	CHECK(registry_plugin_self(skips) == NULL);

	const struct registry_plugin *good = must_find(reg, "io.containerd.testing.v1.good");
	CHECK(registry_plugin_code(good) == UCD_OK);
	CHECK(registry_plugin_init_err(good) == NULL);
	CHECK(registry_plugin_ops(good) != NULL);
	CHECK_CONTAINS(registry_plugin_path(good), "/good/io.containerd.testing.v1.good.so");
	CHECK(!registry_plugin_builtin(good));
	CHECK_STR(registry_plugin_type(good), "io.containerd.testing.v1");
	CHECK_STR(registry_plugin_id(good), "good");

	/* The consumer reached good through host->get_plugin and called its op. */
	const struct registry_plugin *consumer = must_find(reg, "io.containerd.consumer.v1.requires_good");
	CHECK_STR(registry_plugin_export(consumer, "good_says"), "hello from good");
	CHECK_STR(registry_plugin_requires(consumer)[0], "io.containerd.testing.v1");
	CHECK(registry_plugin_requires(consumer)[1] == NULL);
	CHECK(registry_plugin_requires(good)[0] == NULL);
	const struct registry_plugin *star = must_find(reg, "io.containerd.alpha.v1.requires_star");
	CHECK_STR(registry_plugin_requires(star)[0], "*");
	close_registry(reg);
}

static void test_good_set_order(void)
{
	start_trace();
	struct registry *reg = load(&(struct setup){.set = "good"});
	/* Dependency order beats URI order; "*" is last though its URI sorts first. */
	static const char *const want[] = {
		"io.containerd.testing.v1.good",
		"io.containerd.testing.v1.init_fails",
		"io.containerd.testing.v1.init_skips",
		"io.containerd.testing.v1.requires_missing",
		"io.containerd.consumer.v1.requires_good",
		"io.containerd.alpha.v1.requires_star",
	};
	CHECK(registry_count(reg) == 6);
	for (size_t i = 0; i < 6 && i < registry_count(reg); i++)
		CHECK_STR(registry_plugin_uri(registry_at(reg, i)), want[i]);
	CHECK(registry_at(reg, 6) == NULL);
	close_registry(reg);

	/* init in that order; close in reverse, ok plugins only; good's close
	 * found export_set refused after init. */
	char *trace = read_file(trace_path);
	CHECK_STR(trace, "init io.containerd.testing.v1.good\n"
	                 "init io.containerd.testing.v1.init_fails\n"
	                 "init io.containerd.testing.v1.init_skips\n"
	                 "init io.containerd.testing.v1.requires_missing\n"
	                 "init io.containerd.consumer.v1.requires_good\n"
	                 "init io.containerd.alpha.v1.requires_star\n"
	                 "close io.containerd.alpha.v1.requires_star\n"
	                 "close io.containerd.consumer.v1.requires_good\n"
	                 "close-export-refused io.containerd.testing.v1.good\n"
	                 "close io.containerd.testing.v1.good\n");
	free(trace);
}

static void test_defaults_and_meta(void)
{
	struct registry *reg = load(&(struct setup){.set = "good"});
	const struct registry_plugin *good = must_find(reg, "io.containerd.testing.v1.good");
	char want_root[600], want_state[600];
	snprintf(want_root, sizeof want_root, "%s/root/io.containerd.testing.v1.good", tmpdir);
	snprintf(want_state, sizeof want_state, "%s/state/io.containerd.testing.v1.good", tmpdir);
	CHECK_STR(registry_plugin_export(good, "root"), want_root);
	CHECK_STR(registry_plugin_export(good, "state"), want_state);
	CHECK_STR(registry_plugin_export(good, "enable"), "true");
	CHECK_STR(registry_plugin_export(good, "max_items"), "42");
	CHECK_STR(registry_plugin_export(good, "ratio"), "0.5");
	CHECK_STR(registry_plugin_export(good, "timeout_ns"), "90000000000");
	CHECK_STR(registry_plugin_export(good, "tags"), "alpha,beta");
	CHECK_STR(registry_plugin_export(good, "nested.name"), "inner");
	CHECK_STR(registry_plugin_export(good, "nested.on"), "false");
	CHECK(registry_plugin_export(good, "late") == NULL);
	/* exports come as key, value pairs */
	const char *const *ex = registry_plugin_exports(good);
	CHECK_STR(ex[0], "root");
	CHECK_STR(ex[1], want_root);
	/* The registry does not create plugin directories (containerd's way). */
	CHECK(access(want_root, F_OK) != 0);
	const char *const *caps = registry_plugin_capabilities(good);
	CHECK_STR(caps[0], "testing");
	CHECK(caps[1] == NULL);
	size_t n;
	const struct registry_platform *pl = registry_plugin_platforms(good, &n);
	CHECK(n == 1);
	if (n == 1) {
		CHECK_STR(pl[0].os, "linux");
		CHECK_STR(pl[0].architecture, "testarch");
		CHECK_STR(pl[0].variant, "");
	}
	close_registry(reg);
}

static const char good_config_toml[] =
	"[plugins.\"io.containerd.testing.v1.good\"]\n"
	"  root_path = \"/srv/good\"\n"
	"  enable = false\n"
	"  max_items = -7\n"
	"  ratio = 2\n"
	"  timeout = \"250ms\"\n"
	"  tags = [\"x\", \"y\", \"z\"]\n"
	"  [plugins.\"io.containerd.testing.v1.good\".nested]\n"
	"    name = \"deep\"\n"
	"    on = true\n";

static void test_config_values(void)
{
	struct registry *reg = load(&(struct setup){.set = "good", .toml = good_config_toml});
	const struct registry_plugin *good = must_find(reg, "io.containerd.testing.v1.good");
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	CHECK_STR(registry_plugin_export(good, "root"), "/srv/good");
	CHECK_STR(registry_plugin_export(good, "enable"), "false");
	CHECK_STR(registry_plugin_export(good, "max_items"), "-7");
	CHECK_STR(registry_plugin_export(good, "ratio"), "2");
	CHECK_STR(registry_plugin_export(good, "timeout_ns"), "250000000");
	CHECK_STR(registry_plugin_export(good, "tags"), "x,y,z");
	CHECK_STR(registry_plugin_export(good, "nested.name"), "deep");
	CHECK_STR(registry_plugin_export(good, "nested.on"), "true");
	close_registry(reg);

	/* A duration may also be an integer of nanoseconds; an empty array is fine. */
	reg = load(&(struct setup){.set = "good",
	                           .toml = "[plugins.\"io.containerd.testing.v1.good\"]\n"
	                                   "timeout = 1500\ntags = []\n"});
	good = must_find(reg, "io.containerd.testing.v1.good");
	CHECK_STR(registry_plugin_export(good, "timeout_ns"), "1500");
	CHECK_STR(registry_plugin_export(good, "tags"), "");
	close_registry(reg);
}

static void expect_config_error(const char *toml, const char *uri, const char *msg)
{
	struct registry *reg = load(&(struct setup){.set = "good", .toml = toml});
	CHECK_STATUS(reg, uri, REGISTRY_ERROR, msg);
	const struct registry_plugin *p = registry_find(reg, uri);
	if (p)
		CHECK(registry_plugin_code(p) == UCD_INVALID_ARGUMENT);
	close_registry(reg);
}

static void test_config_unknown_key(void)
{
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\n"
	                    "  max_items = 1\n"
	                    "  bogus = 1\n",
	                    "io.containerd.testing.v1.good",
	                    "cfg.toml:3:11: unknown key `bogus` (known keys: root_path, enable, max_items, ratio, "
	                    "timeout, tags, nested)");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\".nested]\n"
	                    "nam = \"typo\"\n",
	                    "io.containerd.testing.v1.good",
	                    "cfg.toml:2:7: unknown key `nested.nam` (known keys: name, on)");
	/* A plugin without settings: any key is unknown. */
	expect_config_error("[plugins.\"io.containerd.testing.v1.init_fails\"]\n"
	                    "x = true\n",
	                    "io.containerd.testing.v1.init_fails",
	                    "cfg.toml:2:5: unknown key `x` (this plugin has no settings)");
}

static void test_config_wrong_type(void)
{
	const char *uri = "io.containerd.testing.v1.good";
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\nmax_items = \"many\"\n", uri,
	                    "cfg.toml:2:13: `max_items` must be an integer, not a string");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\nenable = 1\n", uri,
	                    "cfg.toml:2:10: `enable` must be a boolean, not an integer");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\ntags = [\"a\", 2]\n", uri,
	                    "cfg.toml:2:14: `tags` must be an array of strings, but element 2 is an integer");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\ntimeout = \"soon\"\n", uri,
	                    "cfg.toml:2:11: `timeout` `soon` is not a valid duration (examples: \"10s\", \"1m30s\", "
	                    "\"250ms\")");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\nnested = 3\n", uri,
	                    "cfg.toml:2:10: `nested` must be a table, not an integer");
	expect_config_error("[plugins.\"io.containerd.testing.v1.good\"]\nroot_path = [\"a\"]\n", uri,
	                    "cfg.toml:2:13: `root_path` must be a string, not an array");
	expect_config_error("[plugins]\n\"io.containerd.testing.v1.good\" = \"on\"\n", uri,
	                    "cfg.toml:2:35: the plugin's settings must be a table, not a string");
}

static void test_abi_set(void)
{
	struct registry *reg = load(&(struct setup){.set = "abi"});
	/* README.txt and io.containerd.testing.so are ignored: not plugin names. */
	CHECK(registry_count(reg) == 10);
	CHECK(registry_find(reg, "io.containerd.testing") == NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.bad_magic", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.bad_magic.so` is not a ucontainerd plugin: its descriptor starts with "
	             "0xdeadbeef, not the magic 0x55434450");
	char sizes_msg[512];
	snprintf(sizes_msg, sizeof sizes_msg,
	         "`io.containerd.testing.v1.bad_sizes.so` is not binary compatible with this daemon: it was built "
	         "with sizeof(void *, off_t, time_t, long) = 4, %zu, %zu, %zu; this daemon has %zu, %zu, %zu, %zu",
	         sizeof(off_t), sizeof(time_t), sizeof(long), sizeof(void *), sizeof(off_t), sizeof(time_t),
	         sizeof(long));
	CHECK_STATUS(reg, "io.containerd.testing.v1.bad_sizes", REGISTRY_ERROR, sizes_msg);
	/* The daemon's own version appears in these messages: build them from
	 * the SDK's numbers so that an ABI minor bump needs no edit here. */
	char ver_msg[3][512];
	snprintf(ver_msg[0], sizeof ver_msg[0],
	         "`io.containerd.testing.v1.abi_major_next.so` was built for plugin ABI %d.0; this daemon provides "
	         "%d.%d: it needs a newer daemon", UCD_ABI_MAJOR + 1, UCD_ABI_MAJOR, UCD_ABI_MINOR);
	snprintf(ver_msg[1], sizeof ver_msg[1],
	         "`io.containerd.testing.v1.abi_major_entry.so` was built for plugin ABI %d.x; this daemon "
	         "provides %d.%d: it needs a newer daemon", UCD_ABI_MAJOR + 1, UCD_ABI_MAJOR, UCD_ABI_MINOR);
	snprintf(ver_msg[2], sizeof ver_msg[2],
	         "`io.containerd.testing.v1.abi_minor_next.so` was built for plugin ABI %d.%d; this daemon provides "
	         "%d.%d: it needs a newer daemon", UCD_ABI_MAJOR, UCD_ABI_MINOR + 1, UCD_ABI_MAJOR, UCD_ABI_MINOR);
	CHECK_STATUS(reg, "io.containerd.testing.v1.abi_major_next", REGISTRY_ERROR, ver_msg[0]);
	CHECK_STATUS(reg, "io.containerd.testing.v1.abi_major_entry", REGISTRY_ERROR, ver_msg[1]);
	CHECK_STATUS(reg, "io.containerd.testing.v1.abi_minor_next", REGISTRY_ERROR, ver_msg[2]);
	CHECK_STATUS(reg, "io.containerd.testing.v1.no_entry", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.no_entry.so` is not a ucontainerd plugin: it does not export "
	             "`ucd_plugin_entry_v1`");
	CHECK_STATUS(reg, "io.containerd.testing.v1.not_elf", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.not_elf.so` cannot be loaded: invalid ELF header");
	CHECK_STATUS(reg, "io.containerd.testing.v1.wrong_uri", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.wrong_uri.so` declares plugin `io.containerd.testing.v1.someone_else`; "
	             "a plugin's file must be named after it (`io.containerd.testing.v1.someone_else.so`)");
	CHECK_STATUS(reg, "io.containerd.testing.v1.undefined_symbol", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.undefined_symbol.so` cannot be loaded: undefined symbol: "
	             "ucd_fixture_symbol_nobody_defines");
	CHECK_STATUS(reg, "io.containerd.testing.v1.bad_default", REGISTRY_ERROR,
	             "`io.containerd.testing.v1.bad_default.so`: config field `count`: default `\"ten\"` must be an "
	             "integer, not a string");
	/* refused files are closed again at once */
	char path[2048];
	snprintf(path, sizeof path, "%s/io.containerd.testing.v1.wrong_uri.so", fixture_dir("abi"));
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	CHECK(h == NULL);
	if (h)
		dlclose(h);
	close_registry(reg);
}

static void test_cycle_set(void)
{
	start_trace();
	struct registry *reg = load(&(struct setup){.set = "cycle"});
	CHECK(registry_count(reg) == 4);
	CHECK_STATUS(reg, "io.containerd.cycle-a.v1.requires_cycle_a", REGISTRY_ERROR,
	             "dependency loop: `io.containerd.cycle-a.v1.requires_cycle_a` -> "
	             "`io.containerd.cycle-b.v1.requires_cycle_b` -> `io.containerd.cycle-a.v1.requires_cycle_a`");
	CHECK_STATUS(reg, "io.containerd.cycle-b.v1.requires_cycle_b", REGISTRY_ERROR,
	             "dependency loop: `io.containerd.cycle-b.v1.requires_cycle_b` -> "
	             "`io.containerd.cycle-a.v1.requires_cycle_a` -> `io.containerd.cycle-b.v1.requires_cycle_b`");
	/* Outside the loop, init still runs and decides. */
	CHECK_STATUS(reg, "io.containerd.after.v1.after_cycle", REGISTRY_ERROR,
	             "after_cycle: no plugin of type `io.containerd.cycle-a.v1` is available "
	             "(`io.containerd.cycle-a.v1.requires_cycle_a`: it failed: dependency loop: "
	             "`io.containerd.cycle-a.v1.requires_cycle_a` -> `io.containerd.cycle-b.v1.requires_cycle_b` -> "
	             "`io.containerd.cycle-a.v1.requires_cycle_a`)");
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	/* Loop members are decided first and never initialized. */
	CHECK_STR(registry_plugin_uri(registry_at(reg, 0)), "io.containerd.cycle-a.v1.requires_cycle_a");
	CHECK_STR(registry_plugin_uri(registry_at(reg, 1)), "io.containerd.cycle-b.v1.requires_cycle_b");
	close_registry(reg);
	char *trace = read_file(trace_path);
	CHECK(strstr(trace, "init io.containerd.cycle") == NULL);
	CHECK_CONTAINS(trace, "init io.containerd.after.v1.after_cycle\n");
	free(trace);
}

static void test_disabled(void)
{
	static const char *const disabled[] = {"io.containerd.testing.v1.good", "io.containerd.testing.v1.nothere",
	                                       NULL};
	struct registry *reg = load(&(struct setup){.set = "good", .disabled = disabled});
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_DISABLED, NULL);
	const struct registry_plugin *good = must_find(reg, "io.containerd.testing.v1.good");
	CHECK(registry_plugin_init_err(good) == NULL);
	CHECK(registry_plugin_code(good) == UCD_OK);
	CHECK(registry_is_disabled(reg, "io.containerd.testing.v1.good"));
	CHECK(!registry_is_disabled(reg, "io.containerd.testing.v1.init_fails"));
	/* never mapped into the process */
	char path[2048];
	snprintf(path, sizeof path, "%s/io.containerd.testing.v1.good.so", fixture_dir("good"));
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	CHECK(h == NULL);
	if (h)
		dlclose(h);
	/* ...while the others are */
	snprintf(path, sizeof path, "%s/io.containerd.testing.v1.init_skips.so", fixture_dir("good"));
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	CHECK(h != NULL);
	if (h)
		dlclose(h);
	/* its dependent learns why through get_plugin */
	CHECK_STATUS(reg, "io.containerd.consumer.v1.requires_good", REGISTRY_ERROR,
	             "requires_good: plugin `io.containerd.testing.v1.good` is not available: it is disabled");
	close_registry(reg);
}

static void test_required(void)
{
	struct ucd_error *err = NULL;
	/* all ok */
	static const char *const req_ok[] = {"io.containerd.testing.v1.good", "io.containerd.alpha.v1.requires_star",
	                                     NULL};
	struct registry *reg = open_registry(&(struct setup){.set = "good", .required = req_ok});
	CHECK(registry_load(reg, &err) == 0);
	CHECK(err == NULL);
	close_registry(reg);

	/* failed, skipped, disabled, absent: one error naming each, with why */
	static const char *const req_bad[] = {"io.containerd.testing.v1.init_fails", "io.containerd.testing.v1.good",
	                                      "io.containerd.testing.v1.init_skips", "io.containerd.testing.v1.absent",
	                                      "io.containerd.alpha.v1.requires_star", NULL};
	static const char *const dis[] = {"io.containerd.alpha.v1.requires_star", NULL};
	reg = open_registry(&(struct setup){.set = "good", .required = req_bad, .disabled = dis});
	CHECK(registry_load(reg, &err) == -UCD_FAILED_PRECONDITION);
	CHECK(err != NULL);
	if (err) {
		CHECK_STR(err->msg,
		          "required plugin `io.containerd.testing.v1.init_fails` is not available: it failed: init_fails: "
		          "this fixture always fails; "
		          "required plugin `io.containerd.testing.v1.init_skips` is not available: it was skipped: "
		          "init_skips: nothing to do on this host; "
		          "required plugin `io.containerd.testing.v1.absent` is not available: it is not installed; "
		          "required plugin `io.containerd.alpha.v1.requires_star` is not available: it is disabled");
		error_free(err);
		err = NULL;
	}
	/* the rest still loaded */
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	close_registry(reg);
}

static int builtin_inits;

static int builtin_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                        struct ucd_error **err)
{
	builtin_inits++;
	static int instance;
	out->self = &instance;
	host->export_set(ic, "kind", "builtin", NULL);
	return 0;
}

static void test_builtins(void)
{
	static const char *const svc_requires[] = {"io.containerd.metadata.v1", NULL};
	static const struct ucd_plugin_desc metadata = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.metadata.v1", .id = "sqlite", .requires_types = NULL,
		.init = NULL,
	};
	static const struct ucd_plugin_desc namespaces = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.grpc.v1", .id = "namespaces", .requires_types = svc_requires,
	};
	/* A built-in with an init joins the dependency order: the consumer
	 * requires io.containerd.testing.v1, so it waits for this one too. */
	static const struct ucd_plugin_desc tbuiltin = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.testing.v1", .id = "builtin", .init = builtin_init,
	};
	/* Same URI as a file in the directory: the file is refused. */
	static const struct ucd_plugin_desc dup = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.testing.v1", .id = "init_skips",
	};
	static const char *const disabled[] = {"io.containerd.grpc.v1.namespaces", NULL};
	struct registry *reg = open_registry(&(struct setup){.set = "good", .disabled = disabled});
	struct ucd_error *err = NULL;
	CHECK(registry_add_builtin(reg, &metadata, &err) == 0);
	CHECK(registry_add_builtin(reg, &namespaces, &err) == 1);
	CHECK(registry_add_builtin(reg, &tbuiltin, &err) == 0);
	CHECK(registry_add_builtin(reg, &dup, &err) == 0);
	CHECK(err == NULL);
	CHECK(registry_add_builtin(reg, &metadata, &err) == -UCD_ALREADY_EXISTS);
	if (err) {
		CHECK_STR(err->msg, "plugin `io.containerd.metadata.v1.sqlite` is already registered");
		error_free(err);
		err = NULL;
	}
	CHECK(builtin_inits == 0);
	CHECK(registry_load(reg, &err) == 0);
	CHECK(builtin_inits == 1);

	CHECK_STATUS(reg, "io.containerd.metadata.v1.sqlite", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.grpc.v1.namespaces", REGISTRY_DISABLED, NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.builtin", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.init_skips", REGISTRY_OK, NULL);   /* the built-in one */
	const struct registry_plugin *b = must_find(reg, "io.containerd.testing.v1.builtin");
	CHECK(registry_plugin_builtin(b));
	CHECK(registry_plugin_path(b) == NULL);
	CHECK_STR(registry_plugin_export(b, "kind"), "builtin");
	CHECK(registry_plugin_self(b) != NULL);
	CHECK(registry_get(reg, "io.containerd.metadata.v1", NULL) == must_find(reg, "io.containerd.metadata.v1.sqlite"));
	CHECK(registry_get(reg, "io.containerd.testing.v1", "builtin") == b);
	CHECK(registry_get(reg, "io.containerd.nothing.v1", NULL) == NULL);

	/* the duplicate file is listed as an error, and lookups find the built-in */
	bool seen_dup = false;
	for (size_t i = 0; i < registry_count(reg); i++) {
		const struct registry_plugin *p = registry_at(reg, i);
		if (strcmp(registry_plugin_uri(p), "io.containerd.testing.v1.init_skips") == 0 &&
		    registry_plugin_status(p) == REGISTRY_ERROR) {
			seen_dup = true;
			CHECK_STR(registry_plugin_message(p),
			          "`io.containerd.testing.v1.init_skips.so` is ignored: plugin "
			          "`io.containerd.testing.v1.init_skips` is already registered (built into the daemon)");
			CHECK(registry_plugin_code(p) == UCD_ALREADY_EXISTS);
		}
	}
	CHECK(seen_dup);

	/* order: pre-registered ok built-ins, then decided-at-scan, then init order */
	size_t i_builtin = SIZE_MAX, i_consumer = SIZE_MAX, i_meta = SIZE_MAX;
	for (size_t i = 0; i < registry_count(reg); i++) {
		const char *u = registry_plugin_uri(registry_at(reg, i));
		if (strcmp(u, "io.containerd.testing.v1.builtin") == 0)
			i_builtin = i;
		else if (strcmp(u, "io.containerd.consumer.v1.requires_good") == 0)
			i_consumer = i;
		else if (strcmp(u, "io.containerd.metadata.v1.sqlite") == 0)
			i_meta = i;
	}
	CHECK(i_meta == 0);
	CHECK(i_builtin < i_consumer && i_consumer != SIZE_MAX);

	/* a built-in added after load is initialized at once */
	static const struct ucd_plugin_desc late = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.service.v1", .id = "late", .init = builtin_init,
	};
	CHECK(registry_add_builtin(reg, &late, &err) == 0);
	CHECK(builtin_inits == 2);
	CHECK_STATUS(reg, "io.containerd.service.v1.late", REGISTRY_OK, NULL);

	/* malformed built-ins are refused */
	static const char *const own[] = {"io.containerd.service.v1", NULL};
	static const struct ucd_plugin_desc selfreq = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.service.v1", .id = "selfish", .requires_types = own,
	};
	CHECK(registry_add_builtin(reg, &selfreq, &err) == -UCD_FAILED_PRECONDITION);
	if (err) {
		CHECK_STR(err->msg, "built-in plugin `io.containerd.service.v1.selfish`: requires its own type "
		                    "`io.containerd.service.v1`");
		error_free(err);
		err = NULL;
	}
	static const char *const mixed[] = {"*", "io.containerd.content.v1", NULL};
	static const struct ucd_plugin_desc starmix = {
		UCD_PLUGIN_DESC_INIT, .type = "io.containerd.service.v1", .id = "starmix", .requires_types = mixed,
	};
	CHECK(registry_add_builtin(reg, &starmix, &err) == -UCD_FAILED_PRECONDITION);
	if (err) {
		CHECK_STR(err->msg, "built-in plugin `io.containerd.service.v1.starmix`: requires `*` together with "
		                    "other types; `*` must be the only entry");
		error_free(err);
		err = NULL;
	}
	static const struct ucd_plugin_desc badid = {
		UCD_PLUGIN_DESC_INIT, .type = "containerd.service", .id = "x",
	};
	CHECK(registry_add_builtin(reg, &badid, &err) == -UCD_INVALID_ARGUMENT);
	error_free(err);
	err = NULL;
	close_registry(reg);
}

struct thread_lookup {
	const struct ucd_host *h;
	int r;
	struct ucd_error *err;
};

static void *lookup_off_loop(void *arg)
{
	struct thread_lookup *t = arg;
	t->r = t->h->get_plugin(t->h, "io.containerd.testing.v1", "good", NULL, NULL, &t->err);
	return NULL;
}

static void test_host_api(void)
{
	struct registry *reg = load(&(struct setup){.set = "good"});
	const struct ucd_host *h = registry_host(reg);
	CHECK(h->size == sizeof(struct ucd_host));
	CHECK(h->abi_major == UCD_ABI_MAJOR && h->abi_minor == UCD_ABI_MINOR);
	CHECK(UCD_HOST_HAS(h, platform_add));
	struct ucd_error *err = NULL;
	void *self = (void *)1;
	const void *ops = NULL;
	CHECK(h->get_plugin(h, "io.containerd.testing.v1", "good", &self, &ops, &err) == 0);
	CHECK(ops != NULL && self != (void *)1);
	CHECK(h->get_plugin(h, "io.containerd.testing.v1", NULL, &self, &ops, &err) == 0);
	CHECK(h->get_plugin(h, "io.containerd.testing.v1", "init_skips", &self, &ops, &err) == -UCD_NOT_FOUND);
	if (err) {
		CHECK_STR(err->msg, "plugin `io.containerd.testing.v1.init_skips` is not available: it was skipped: "
		                    "init_skips: nothing to do on this host");
		h->error_free(err);
		err = NULL;
	}
	CHECK(h->get_plugin(h, "io.containerd.testing.v1", "nope", &self, &ops, &err) == -UCD_NOT_FOUND);
	if (err) {
		CHECK_STR(err->msg, "plugin `io.containerd.testing.v1.nope` is not installed");
		h->error_free(err);
		err = NULL;
	}
	CHECK(h->error_new(&err, UCD_NOT_FOUND, 2, "snapshot `%s` not found", "k") == -UCD_NOT_FOUND);
	CHECK(h->error_wrap(&err, "prepare `%s`", "k2") == -UCD_NOT_FOUND);
	if (err) {
		CHECK_STR(err->msg, "prepare `k2`: snapshot `k` not found");
		CHECK(err->errno_ == 2);
	}
	h->error_free(err);
	CHECK(h->error_wrap(NULL, "x") == -UCD_UNKNOWN);
	char *p = h->alloc(0);
	CHECK(p != NULL);
	h->free(p);
	h->log(NULL, UCD_LOG_DEBUG, "dropped below the log level %d", 1);

	/* get_plugin is loop-thread only */
	struct thread_lookup t = {.h = h};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, lookup_off_loop, &t) == 0);
	pthread_join(th, NULL);
	CHECK(t.r == -UCD_FAILED_PRECONDITION);
	if (t.err)
		CHECK_STR(t.err->msg, "get_plugin(`io.containerd.testing.v1`) called off the loop thread; it is "
		                      "loop-thread only");
	h->error_free(t.err);
	close_registry(reg);
}

static void test_no_dir(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/does-not-exist", tmpdir);
	struct registry *reg = load(&(struct setup){.dir = dir});
	CHECK(registry_count(reg) == 0);
	struct ucd_error *err = NULL;
	CHECK(registry_load(reg, &err) == -UCD_FAILED_PRECONDITION);
	if (err)
		CHECK_STR(err->msg, "plugins are already loaded");
	error_free(err);
	close_registry(reg);

	/* no plugin_dir at all: built-ins only */
	reg = load(&(struct setup){0});
	CHECK(registry_count(reg) == 0);
	close_registry(reg);

	/* root and state are required */
	err = NULL;
	struct registry_opts o = {.plugin_dir = dir};
	CHECK(registry_new(&o, &err) == NULL);
	if (err)
		CHECK_STR(err->msg, "plugin registry: root and state directories are required");
	error_free(err);
}

static char *config_default(const char *dir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct ucd_error *err = NULL;
	CHECK(registry_config_default(dir, f, &err) == 0);
	fclose(f);
	if (err) {
		fprintf(stderr, "config default: %s\n", err->msg);
		error_free(err);
	}
	return buf;
}

static void test_config_default(void)
{
	char *text = config_default(fixture_dir("good"));
	char *perr = NULL;
	struct toml_value *doc = toml_parse(text, strlen(text), "config-default", &perr);
	if (doc == NULL) {
		fprintf(stderr, "config default output does not parse: %s\n---\n%s---\n", perr, text);
		failed = true;
		free(perr);
		free(text);
		return;
	}
	const struct toml_value *plugins = toml_get(doc, "plugins");
	const struct toml_value *good = toml_get(plugins, "io.containerd.testing.v1.good");
	CHECK(good != NULL);
	if (good) {
		CHECK_STR(toml_string(toml_get(good, "root_path"), NULL), "");
		CHECK(toml_bool(toml_get(good, "enable")) == true);
		CHECK(toml_integer(toml_get(good, "max_items")) == 42);
		CHECK(toml_float(toml_get(good, "ratio")) == 0.5);
		CHECK_STR(toml_string(toml_get(good, "timeout"), NULL), "1m30s");
		const struct toml_value *tags = toml_get(good, "tags");
		CHECK(tags && toml_array_len(tags) == 2);
		if (tags && toml_array_len(tags) == 2)
			CHECK_STR(toml_string(toml_array_at(tags, 1), NULL), "beta");
		const struct toml_value *nested = toml_get(good, "nested");
		CHECK(nested != NULL);
		CHECK_STR(toml_string(toml_get(nested, "name"), NULL), "inner");
		CHECK(toml_get(nested, "on") != NULL && toml_bool(toml_get(nested, "on")) == false);
	}
	/* every installed plugin has a section, settings or not */
	CHECK(toml_table_len(plugins) == 6);
	CHECK(toml_get(plugins, "io.containerd.alpha.v1.requires_star") != NULL);
	/* docs as comments, multi-line docs as several */
	CHECK_CONTAINS(text, "  # where the fixture keeps its data\n  # empty: <root>/<uri>\n  root_path = \"\"\n");
	CHECK_CONTAINS(text, "  # a sub-table\n  [plugins.\"io.containerd.testing.v1.good\".nested]\n"
	                     "    # a string in a sub-table\n    name = \"inner\"\n");
	CHECK_CONTAINS(text, "[plugins.\"io.containerd.testing.v1.init_fails\"]\n  # this plugin has no settings\n");
	toml_free(doc);
	free(text);

	/* Broken plugins become comments; still valid TOML; nothing initialized. */
	text = config_default(fixture_dir("abi"));
	doc = toml_parse(text, strlen(text), "config-default-abi", &perr);
	CHECK(doc != NULL);
	if (doc == NULL) {
		fprintf(stderr, "%s\n---\n%s---\n", perr, text);
		free(perr);
	}
	CHECK(doc == NULL || toml_table_len(doc) == 0);
	CHECK_CONTAINS(text, "# io.containerd.testing.v1.bad_magic: not loadable: `io.containerd.testing.v1.bad_magic.so` "
	                     "is not a ucontainerd plugin");
	toml_free(doc);
	free(text);

	/* a missing directory prints nothing */
	char dir[600];
	snprintf(dir, sizeof dir, "%s/nothing", tmpdir);
	text = config_default(dir);
	CHECK_STR(text, "");
	free(text);
}

/* The five plugins of this release: each loads and declares its requires
 * (containerd 1.6's, but for the CRI, whose `io.containerd.service.v1` has
 * no counterpart here). The storage plugins initialize (overlayfs may skip
 * on a filesystem without overlay support, with its reason) and export
 * their root as containerd's do; the runtime and the CRI initialize and,
 * as containerd's, export nothing. */
static void test_product_plugins(void)
{
#ifdef UCD_PLUGIN_BUILD_DIR
	static const struct {
		const char *uri, *req0, *req1;
		bool exports_root;
	} want[] = {
		{"io.containerd.content.v1.content", NULL, NULL, true},
		{"io.containerd.snapshotter.v1.overlayfs", NULL, NULL, true},
		{"io.containerd.snapshotter.v1.native", NULL, NULL, true},
		{"io.containerd.runtime.v2.task", "io.containerd.event.v1", "io.containerd.metadata.v1", false},
		{"io.containerd.grpc.v1.cri", "io.containerd.event.v1", "io.containerd.metadata.v1", false},
	};
	struct registry *reg = load(&(struct setup){.dir = UCD_PLUGIN_BUILD_DIR});
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct registry_plugin *p = registry_find(reg, want[i].uri);
		if (p == NULL)
			continue;   /* switched off by its CMake option */
		bool ok = registry_plugin_status(p) == REGISTRY_OK;
		if (!ok)
			fprintf(stderr, "    %s: %s %s\n", want[i].uri, registry_status_name(registry_plugin_status(p)),
			        registry_plugin_message(p));
		CHECK(ok || (registry_plugin_status(p) == REGISTRY_SKIP && strstr(want[i].uri, "overlayfs") != NULL));
		if (ok)
			CHECK((registry_plugin_export(p, "root") != NULL) == want[i].exports_root);
		else
			CHECK(strstr(registry_plugin_message(p), "not implemented") == NULL);
		const char *const *r = registry_plugin_requires(p);
		CHECK_STR(r[0], want[i].req0);
		if (r[0])
			CHECK_STR(r[1], want[i].req1);
	}
	close_registry(reg);
#endif
}

/* Copies fixture `name` of set `set` to dir/name with `mode`. */
static void copy_fixture(const char *set, const char *name, const char *dir, mode_t mode)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s' && chmod %o '%s/%s'", fixture_dir(set), name, dir, name,
	         (unsigned)mode, dir, name);
	if (system(cmd) != 0) {
		fprintf(stderr, "setup failed: %s\n", cmd);
		exit(2);
	}
}

/* Plugin files and directories anyone but root may change are refused, as
 * sshd refuses such key files, with a message naming the file and why; the
 * rest loads. */
static void test_file_trust(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "    (skipped: needs root to chown)\n");
		return;
	}
	char dir[512], gdir[600], msg[2048];
	snprintf(dir, sizeof dir, "%s/plugins", tmpdir);
	mkdir(dir, 0755);
	chmod(dir, 0755);
	copy_fixture("good", "io.containerd.testing.v1.good.so", dir, 0755);
	copy_fixture("good", "io.containerd.testing.v1.init_fails.so", dir, 0757);          /* world-writable */
	copy_fixture("good", "io.containerd.testing.v1.init_skips.so", dir, 0775);          /* group-writable */
	copy_fixture("good", "io.containerd.consumer.v1.requires_good.so", dir, 0755);
	char nobody[700];
	snprintf(nobody, sizeof nobody, "%s/io.containerd.consumer.v1.requires_good.so", dir);
	CHECK(chown(nobody, 65534, 65534) == 0);
	struct registry *reg = load(&(struct setup){.dir = dir});
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	snprintf(msg, sizeof msg,
	         "`io.containerd.testing.v1.init_fails.so` is not loaded: `%s/io.containerd.testing.v1.init_fails.so` "
	         "is writable by others (mode 0757): refusing to trust it (any user could change it); `chmod go-w` it",
	         dir);
	CHECK_STATUS(reg, "io.containerd.testing.v1.init_fails", REGISTRY_ERROR, msg);
	snprintf(msg, sizeof msg,
	         "`io.containerd.testing.v1.init_skips.so` is not loaded: `%s/io.containerd.testing.v1.init_skips.so` "
	         "is writable by its group (mode 0775): refusing to trust it (a member of its group could change it); "
	         "`chmod go-w` it",
	         dir);
	CHECK_STATUS(reg, "io.containerd.testing.v1.init_skips", REGISTRY_ERROR, msg);
	snprintf(msg, sizeof msg,
	         "`io.containerd.consumer.v1.requires_good.so` is not loaded: `%s` is owned by uid 65534, not by root: "
	         "refusing to trust it (another user could change what is in it); chown it to root if it is the "
	         "daemon's, after checking its content",
	         nobody);
	CHECK_STATUS(reg, "io.containerd.consumer.v1.requires_good", REGISTRY_ERROR, msg);
	const struct registry_plugin *p = must_find(reg, "io.containerd.testing.v1.init_fails");
	CHECK(registry_plugin_code(p) == UCD_FAILED_PRECONDITION);
	close_registry(reg);

	/* a group-writable plugin directory: every file in it is refused, naming it */
	snprintf(gdir, sizeof gdir, "%s/gplugins", tmpdir);
	mkdir(gdir, 0755);
	copy_fixture("good", "io.containerd.testing.v1.good.so", gdir, 0755);
	CHECK(chmod(gdir, 0775) == 0);
	reg = load(&(struct setup){.dir = gdir});
	snprintf(msg, sizeof msg,
	         "`io.containerd.testing.v1.good.so` is not loaded: `%s` (on the way to "
	         "`%s/io.containerd.testing.v1.good.so`) is writable by its group (mode 0775): refusing to trust it (a "
	         "member of its group could replace what is in it); `chmod go-w` it",
	         gdir, gdir);
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_ERROR, msg);
	close_registry(reg);

	/* a symlink to a trusted file is followed (packagers link plugins) */
	char link[700], target[1200];
	snprintf(link, sizeof link, "%s/io.containerd.testing.v1.good.so", dir);
	snprintf(target, sizeof target, "%s/io.containerd.testing.v1.good.so", fixture_dir("good"));
	CHECK(unlink(link) == 0 && symlink(target, link) == 0);
	reg = load(&(struct setup){.dir = dir});
	CHECK_STATUS(reg, "io.containerd.testing.v1.good", REGISTRY_OK, NULL);
	close_registry(reg);
}

/* ---- runner ---- */

struct test {
	const char *name;
	void (*fn)(void);
};

/* ABI 1.3 on the registry alone: the active set with a loop and an rpc
 * server that serves nothing (every in-process call ends UNIMPLEMENTED). */
static char *caller_note(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/state/io.containerd.testing.v1.caller/%s.txt", tmpdir, name);
	return read_file(path);
}

static void test_active(void)
{
	start_trace();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct registry *reg = load(&(struct setup){.set = "active", .loop = &loop});
	CHECK_STATUS(reg, "io.containerd.testing.v1.caller", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.abi_1_1", REGISTRY_OK, NULL);
	CHECK_STATUS(reg, "io.containerd.testing.v1.start_fails", REGISTRY_OK, NULL);
	char msg[512];
	snprintf(msg, sizeof msg, "`io.containerd.testing.v1.libuv_next.so` was built against libuv %d; this daemon "
	         "uses libuv %d: rebuild it against this daemon's libuv", UV_VERSION_MAJOR + 1, UV_VERSION_MAJOR);
	CHECK_STATUS(reg, "io.containerd.testing.v1.libuv_next", REGISTRY_ERROR, msg);
	char *n = caller_note("init_call");
	CHECK_CONTAINS(n, "start 9 call_start(`/containerd.services.version.v1.Version/Version`): plugin "
	               "`io.containerd.testing.v1.caller` called it during init");
	free(n);

	char sock[512];
	snprintf(sock, sizeof sock, "%s/never.sock", tmpdir);
	struct ucd_error *err = NULL;
	struct rpc_server *srv = rpc_server_new(&loop, &(struct rpc_server_opts){.address = sock, .uid = -1, .gid = -1},
	                                        &err);
	CHECK(srv != NULL);
	registry_start(reg, srv);
	CHECK_STATUS(reg, "io.containerd.testing.v1.start_fails", REGISTRY_ERROR,
	             "start: start_fails: this fixture fails to start");
	CHECK(registry_plugin_code(must_find(reg, "io.containerd.testing.v1.start_fails")) == UCD_FAILED_PRECONDITION);
	CHECK_STR(registry_plugin_init_err(must_find(reg, "io.containerd.testing.v1.start_fails")),
	          "start: start_fails: this fixture fails to start");
	/* statuses come on a later turn of the loop, never inside the hook */
	n = caller_note("version");
	CHECK_STR(n, "");
	free(n);
	n = caller_note("thread");
	CHECK_CONTAINS(n, "plugin `io.containerd.testing.v1.caller` called it off the loop thread");
	free(n);
	for (int i = 0; i < 200; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	n = caller_note("version");
	CHECK_STR(n, "12 unknown service containerd.services.version.v1.Version\n");
	free(n);
	n = caller_note("from_timer");   /* the plugin's timer on our loop fired */
	CHECK_STR(n, "12 unknown service containerd.services.namespaces.v1.Namespaces\n");
	free(n);

	/* a call still open when its plugin is closed is cancelled: its
	 * status never reaches the closed plugin */
	registry_stop(reg);
	n = caller_note("stop");
	CHECK_STR(n, "stopping\n");
	free(n);
	registry_free(reg);
	toml_free(the_cfg.doc);
	the_cfg.doc = NULL;
	n = caller_note("stop_call");
	CHECK_STR(n, "");
	free(n);
	n = caller_note("close");
	CHECK_STR(n, "closed\n");
	free(n);
	CHECK(rpc_server_local_calls(srv) == 0);
	char *trace = read_file(trace_path);
	CHECK_CONTAINS(trace, "init io.containerd.testing.v1.start_fails\nstart io.containerd.testing.v1.start_fails\n");
	CHECK_CONTAINS(trace, "close io.containerd.testing.v1.start_fails\n");
	free(trace);
	rpc_server_close(srv, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	rpc_server_free(srv);
	CHECK(uv_loop_close(&loop) == 0);
}

static const struct test tests[] = {
	{"parse_filename", test_parse_filename},
	{"parse_duration", test_parse_duration},
	{"good_set_statuses", test_good_set_statuses},
	{"good_set_order", test_good_set_order},
	{"defaults_and_meta", test_defaults_and_meta},
	{"config_values", test_config_values},
	{"config_unknown_key", test_config_unknown_key},
	{"config_wrong_type", test_config_wrong_type},
	{"abi_set", test_abi_set},
	{"cycle_set", test_cycle_set},
	{"disabled", test_disabled},
	{"required", test_required},
	{"builtins", test_builtins},
	{"host_api", test_host_api},
	{"no_dir", test_no_dir},
	{"config_default", test_config_default},
	{"product_plugins", test_product_plugins},
	{"file_trust", test_file_trust},
	{"active", test_active},
};

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	/* Plugin log lines go to stderr; keep them unless asked to be quiet. */
	if (getenv("UCD_TEST_QUIET"))
		log_set_level(LOG_ERROR);
	int passed = 0, nfailed = 0;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			make_tmpdir();
			tests[i].fn();
			remove_tmpdir();
			fflush(NULL);
			exit(failed ? 1 : 0);   /* not _exit: LeakSanitizer runs at exit */
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (WIFSIGNALED(st))
			fprintf(stderr, "%s: killed by signal %d\n", tests[i].name, WTERMSIG(st));
		printf("%s - %s\n", ok ? "ok" : "FAIL", tests[i].name);
		if (ok)
			passed++;
		else
			nfailed++;
	}
	printf("%d passed, %d failed\n", passed, nfailed);
	return nfailed ? 1 : 0;
}
