/* config.toml loading: defaults, values, imports (merge order, plugin tables
 * replaced whole), errors with file:line:col, and the writer round trip. */
#include <stdlib.h>
#include <unistd.h>

#include "../../harness/tap.h"
#include "config/config.h"
#include "config/config_write.h"
#include "util/error.h"
#include "util/mem.h"

static char dir[] = "/tmp/ucd-config-test-XXXXXX";

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(struct config *cfg, const char *path, struct ucd_error **err)
{
	return config_load(cfg, path, true, err);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	struct config cfg;
	struct ucd_error *err = NULL;

	/* no file at the default path: defaults, no error */
	CHECK(config_load(&cfg, "/nonexistent/x.toml", false, &err) == 0);
	CHECK_STR(cfg.root, "/var/lib/ucontainerd");
	CHECK_STR(cfg.state, "/run/ucontainerd");
	CHECK_STR(cfg.grpc.address, "/run/ucontainerd/ucontainerd.sock");
	CHECK(cfg.grpc.max_recv_message_size == 16 << 20);
	CHECK(cfg.grpc.max_recv_buffer_size == 256 << 20 && cfg.grpc.max_conn_recv_buffer_size == 64 << 20);
	CHECK(cfg.grpc.max_send_buffer_size == 256 << 20 && cfg.grpc.max_conn_send_buffer_size == 64 << 20);
	CHECK(cfg.grpc.max_connections == 1024 && cfg.grpc.idle_timeout_ns == INT64_C(1800000000000));
	config_fini(&cfg);
	/* an explicit path must exist */
	CHECK(config_load(&cfg, "/nonexistent/x.toml", true, &err) < 0 && err != NULL);
	error_free(err);
	err = NULL;
	config_fini(&cfg);

	autofree char *drop = write_file("drop.toml",
		"disabled_plugins = [\"io.containerd.x.v1.b\"]\n"
		"[grpc]\nmax_recv_message_size = 1024\n"
		"[plugins.\"io.containerd.testing.v1.good\"]\nname = \"from-import\"\n");
	autofree char *main_path = write_file("main.toml",
		"version = 2\nroot = \"/r\"\nstate = \"/s\"\nimports = [\"drop.toml\", \"none-*.toml\"]\n"
		"disabled_plugins = [\"io.containerd.x.v1.a\"]\n"
		"[grpc]\naddress = \"/a.sock\"\nuid = 12\n"
		"[debug]\nlevel = \"debug\"\n"
		"[plugins.\"io.containerd.testing.v1.good\"]\nname = \"main\"\nflag = true\n"
		"[plugins.\"io.containerd.other.v1.x\"]\nk = 1\n");
	CHECK(load(&cfg, main_path, &err) == 0);
	CHECK_STR(cfg.root, "/r");
	CHECK_STR(cfg.grpc.address, "/a.sock");
	CHECK(cfg.grpc.uid == 12 && cfg.grpc.gid == -1);
	CHECK(cfg.grpc.max_recv_message_size == 1024);      /* the import overrides */
	CHECK_STR(cfg.debug_level, "debug");
	CHECK(cfg.disabled_plugins[0] && cfg.disabled_plugins[1] && !cfg.disabled_plugins[2]);   /* lists append */
	CHECK(cfg.imports[0] != NULL && cfg.imports[1] == NULL);
	const char *file = NULL;
	const struct toml_value *t = config_plugin_table(&cfg, "io.containerd.testing.v1.good", &file);
	CHECK(t != NULL && toml_get(t, "flag") == NULL);    /* replaced whole by the import */
	CHECK_STR(toml_string(toml_get(t, "name"), NULL), "from-import");
	CHECK(file != NULL && strstr(file, "drop.toml") != NULL);
	CHECK(config_plugin_table(&cfg, "io.containerd.other.v1.x", NULL) != NULL);
	CHECK(config_plugin_table(&cfg, "io.containerd.none.v1.x", NULL) == NULL);

	/* the core section written back parses to the same values */
	char *text;
	size_t len;
	FILE *m = open_memstream(&text, &len);
	config_write_core(m, &cfg, true);
	fclose(m);
	config_fini(&cfg);
	autofree char *again = write_file("again.toml", text);
	free(text);
	CHECK(load(&cfg, again, &err) == 0);
	CHECK_STR(cfg.root, "/r");
	CHECK(cfg.grpc.uid == 12 && cfg.grpc.max_recv_message_size == 1024);
	config_fini(&cfg);

	/* plugin tables written back (`config dump`) load again to the same
	 * tables, whatever their keys hold: a quote, a backslash, a NUL (two
	 * keys that differ only after it are two tables, as the fuzzer found:
	 * the writer used to cut keys at the NUL and made them one) */
	autofree char *odd = write_file("odd.toml",
		"[plugins.\"we\\\"ird\\\\uri\"]\nk = \"v\\u0000w\"\n"
		"[plugins.cio.\"key\\u0000one\"]\na = 1\n"
		"[plugins.cio.\"key\\u0000two\"]\na = 2\n");
	CHECK(load(&cfg, odd, &err) == 0);
	m = open_memstream(&text, &len);
	config_write_plugin_tables(m, &cfg, true);
	fclose(m);
	config_fini(&cfg);
	autofree char *odd_again = write_file("odd-again.toml", text);
	printf("# %s\n", strstr(text, "[plugins.\"we") ? "quoted" : text);
	free(text);
	CHECK(load(&cfg, odd_again, &err) == 0);
	if (err)
		printf("# %s\n", err->msg);
	t = config_plugin_table(&cfg, "we\"ird\\uri", NULL);
	size_t vlen = 0;
	CHECK(t != NULL && toml_string(toml_get(t, "k"), &vlen) != NULL && vlen == 3);
	t = config_plugin_table(&cfg, "cio", NULL);
	CHECK(t != NULL && toml_table_len(t) == 2);
	CHECK(t != NULL && toml_integer(toml_get(toml_getn(t, "key\0two", 7), "a")) == 2);
	config_fini(&cfg);

	/* the receive budget, the connection cap, the idle timeout (a duration, written back as one) */
	autofree char *lim = write_file("limits.toml", "[grpc]\nmax_recv_buffer_size = 1000000\n"
				       "max_conn_recv_buffer_size = 2000\nmax_connections = 0\nidle_timeout = \"1h30m\"\n"
				       "max_send_buffer_size = 3000\nmax_conn_send_buffer_size = 4000\n");
	CHECK(load(&cfg, lim, &err) == 0);
	CHECK(cfg.grpc.max_recv_buffer_size == 1000000 && cfg.grpc.max_conn_recv_buffer_size == 2000);
	CHECK(cfg.grpc.max_connections == 0 && cfg.grpc.idle_timeout_ns == INT64_C(5400000000000));
	CHECK(cfg.grpc.max_send_buffer_size == 3000 && cfg.grpc.max_conn_send_buffer_size == 4000);
	m = open_memstream(&text, &len);
	config_write_core(m, &cfg, false);
	fclose(m);
	CHECK(strstr(text, "idle_timeout = \"1h30m\"") != NULL);
	free(text);
	config_fini(&cfg);
	autofree char *ns = write_file("idle-ns.toml", "[grpc]\nidle_timeout = 0\n");
	CHECK(load(&cfg, ns, &err) == 0 && cfg.grpc.idle_timeout_ns == 0);
	config_fini(&cfg);
	const char *bad_idle[] = {"[grpc]\nidle_timeout = \"soon\"\n", "[grpc]\nidle_timeout = \"-1s\"\n",
				  "[grpc]\nidle_timeout = true\n", "[grpc]\nmax_connections = -1\n"};
	for (size_t i = 0; i < ARRAY_LEN(bad_idle); i++) {
		autofree char *b = write_file("bad-limit.toml", bad_idle[i]);
		CHECK(load(&cfg, b, &err) < 0 && err && err->code == UCD_INVALID_ARGUMENT &&
		      strstr(err->msg, "bad-limit.toml:2:"));
		if (err)
			printf("# %s\n", err->msg);
		error_free(err);
		err = NULL;
		config_fini(&cfg);
	}

	/* errors name file, line and column */
	autofree char *bad_type = write_file("bad-type.toml", "version = 2\n[grpc]\n  uid = \"root\"\n");
	CHECK(load(&cfg, bad_type, &err) < 0 && err->code == UCD_INVALID_ARGUMENT);
	CHECK(err && strstr(err->msg, "bad-type.toml:3:") && strstr(err->msg, "`grpc.uid` must be an integer"));
	if (err)
		printf("# %s\n", err->msg);
	error_free(err);
	err = NULL;
	config_fini(&cfg);

	autofree char *bad_syntax = write_file("bad-syntax.toml", "version = 2\nroot = \"/x\n");
	CHECK(load(&cfg, bad_syntax, &err) < 0 && err && strstr(err->msg, "bad-syntax.toml:2:"));
	if (err)
		printf("# %s\n", err->msg);
	error_free(err);
	err = NULL;
	config_fini(&cfg);

	autofree char *v1 = write_file("v1.toml", "version = 1\n");
	CHECK(load(&cfg, v1, &err) < 0 && err && strstr(err->msg, "version 1 is not supported"));
	error_free(err);
	err = NULL;
	config_fini(&cfg);

	/* an import cycle is loaded once, not forever */
	autofree char *c1 = write_file("c1.toml", "imports = [\"c2.toml\"]\n");
	autofree char *c2 = write_file("c2.toml", "imports = [\"c1.toml\"]\nroot = \"/c2\"\n");
	CHECK(load(&cfg, c1, &err) == 0);
	CHECK_STR(cfg.root, "/c2");
	config_fini(&cfg);

	autofree char *cmd = xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
