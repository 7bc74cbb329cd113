/* config.toml, version 2: defaults, the file, its drop-in imports. */
#include "config/config.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "util/duration.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define DEFAULT_ROOT "/var/lib/ucontainerd"
#define DEFAULT_STATE "/run/ucontainerd"
#define DEFAULT_ADDRESS "/run/ucontainerd/ucontainerd.sock"
#define MAX_IMPORTS 64

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static void strv_push(char ***v, const char *s)
{
	size_t n = strv_len(*v);
	*v = xrealloc(*v, (n + 2) * sizeof **v);
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s);
}

static void defaults(struct config *cfg)
{
	*cfg = (struct config){0};
	cfg->version = 2;
	cfg->root = xstrdup(DEFAULT_ROOT);
	cfg->state = xstrdup(DEFAULT_STATE);
	cfg->grpc.address = xstrdup(DEFAULT_ADDRESS);
	cfg->grpc.uid = cfg->grpc.gid = -1;
	cfg->grpc.max_recv_message_size = 16 << 20;
	cfg->grpc.max_send_message_size = 16 << 20;
	cfg->grpc.max_recv_buffer_size = INT64_C(256) << 20;   /* RPC_DEFAULT_MAX_RECV_BUFFER */
	cfg->grpc.max_conn_recv_buffer_size = INT64_C(64) << 20;
	cfg->grpc.max_send_buffer_size = INT64_C(256) << 20;    /* RPC_DEFAULT_MAX_SEND_BUFFER */
	cfg->grpc.max_conn_send_buffer_size = INT64_C(64) << 20;
	cfg->grpc.max_connections = 1024;
	cfg->grpc.idle_timeout_ns = INT64_C(30) * 60 * 1000000000;
	cfg->ttrpc.address = xstrdup("");
	cfg->ttrpc.uid = cfg->ttrpc.gid = -1;
	cfg->debug.address = xstrdup("");
	cfg->debug.uid = cfg->debug.gid = -1;
	cfg->debug_level = xstrdup("");
	cfg->debug_format = xstrdup("");
	cfg->metrics_address = xstrdup("");
	cfg->disabled_plugins = xcalloc(1, sizeof(char *));
	cfg->required_plugins = xcalloc(1, sizeof(char *));
	cfg->imports = xcalloc(1, sizeof(char *));
}

/* --- typed reads with file:line:col messages ---------------------------- */

struct reader {
	const char *file;
	const char *section;   /* "" or "grpc" ... for messages */
	struct ucd_error **err;
};

static int type_error(struct reader *r, const struct toml_value *v, const char *key, const char *want)
{
	return error_set(r->err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `%s%s%s` must be %s, not %s", r->file,
			 toml_line(v), toml_col(v), r->section, *r->section ? "." : "", key, want,
			 toml_type_name(toml_type(v)));
}

static int read_string(struct reader *r, const struct toml_value *v, const char *key, char **dst)
{
	if (toml_type(v) != TOML_STRING)
		return type_error(r, v, key, "a string");
	size_t len;
	const char *s = toml_string(v, &len);
	if (strlen(s) != len)
		return error_set(r->err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `%s` must not contain a NUL character",
				 r->file, toml_line(v), toml_col(v), key);
	set_str(dst, s);
	return 0;
}

static int read_int(struct reader *r, const struct toml_value *v, const char *key, int64_t min, int64_t max, int64_t *dst)
{
	if (toml_type(v) != TOML_INTEGER)
		return type_error(r, v, key, "an integer");
	int64_t i = toml_integer(v);
	if (i < min || i > max)
		return error_set(r->err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `%s` is %lld, outside %lld..%lld", r->file,
				 toml_line(v), toml_col(v), key, (long long)i, (long long)min, (long long)max);
	*dst = i;
	return 0;
}

/* containerd's durations: a Go duration string ("30m", "1h30m"), or integer
 * nanoseconds; never negative here. */
static int read_duration(struct reader *r, const struct toml_value *v, const char *key, int64_t *dst)
{
	int64_t ns;
	if (toml_type(v) == TOML_INTEGER)
		ns = toml_integer(v);
	else if (toml_type(v) != TOML_STRING)
		return type_error(r, v, key, "a duration (\"30m\", \"1h\", \"0\")");
	else if (!duration_parse(toml_string(v, NULL), &ns))
		return error_set(r->err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `%s%s%s` = \"%s\" is not a duration "
				 "(examples: \"30m\", \"1h30m\", \"0\")", r->file, toml_line(v), toml_col(v), r->section,
				 *r->section ? "." : "", key, toml_string(v, NULL));
	if (ns < 0)
		return error_set(r->err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `%s%s%s` must not be negative", r->file,
				 toml_line(v), toml_col(v), r->section, *r->section ? "." : "", key);
	*dst = ns;
	return 0;
}

static int read_strv_append(struct reader *r, const struct toml_value *v, const char *key, char ***dst)
{
	if (toml_type(v) != TOML_ARRAY)
		return type_error(r, v, key, "an array of strings");
	for (size_t i = 0; i < toml_array_len(v); i++) {
		const struct toml_value *e = toml_array_at(v, i);
		if (toml_type(e) != TOML_STRING)
			return type_error(r, e, key, "an array of strings");
		strv_push(dst, toml_string(e, NULL));
	}
	return 0;
}

static int read_listener(struct reader *r, const struct toml_value *t, struct config_listener *l, bool grpc)
{
	if (toml_type(t) != TOML_TABLE)
		return type_error(r, t, "", "a table");
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *k = toml_table_key(t, i);
		const struct toml_value *v = toml_table_value(t, i);
		int64_t n;
		int rc = 0;
		if (strcmp(k, "address") == 0)
			rc = read_string(r, v, k, &l->address);
		else if (strcmp(k, "uid") == 0 && (rc = read_int(r, v, k, 0, INT_MAX, &n)) == 0)
			l->uid = (int)n;
		else if (strcmp(k, "gid") == 0 && (rc = read_int(r, v, k, 0, INT_MAX, &n)) == 0)
			l->gid = (int)n;
		else if (grpc && strcmp(k, "max_recv_message_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT32_MAX, &n)) == 0)
			l->max_recv_message_size = n;
		else if (grpc && strcmp(k, "max_send_message_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT32_MAX, &n)) == 0)
			l->max_send_message_size = n;
		else if (grpc && strcmp(k, "max_recv_buffer_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT64_C(1) << 40, &n)) == 0)
			l->max_recv_buffer_size = n;
		else if (grpc && strcmp(k, "max_conn_recv_buffer_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT64_C(1) << 40, &n)) == 0)
			l->max_conn_recv_buffer_size = n;
		else if (grpc && strcmp(k, "max_send_buffer_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT64_C(1) << 40, &n)) == 0)
			l->max_send_buffer_size = n;
		else if (grpc && strcmp(k, "max_conn_send_buffer_size") == 0 &&
			 (rc = read_int(r, v, k, 1, INT64_C(1) << 40, &n)) == 0)
			l->max_conn_send_buffer_size = n;
		else if (grpc && strcmp(k, "max_connections") == 0 && (rc = read_int(r, v, k, 0, INT32_MAX, &n)) == 0)
			l->max_connections = n;
		else if (grpc && strcmp(k, "idle_timeout") == 0)
			rc = read_duration(r, v, k, &l->idle_timeout_ns);
		else if (grpc && (strcmp(k, "tcp_address") == 0 || strncmp(k, "tcp_tls_", 8) == 0)) {
			if (toml_type(v) == TOML_STRING && toml_string(v, NULL)[0])
				log_warn("%s:%d: `grpc.%s` is not supported yet: only the unix socket is served", r->file,
					 toml_line(v), k);
		} else if (strcmp(k, "address") != 0 && strcmp(k, "uid") != 0 && strcmp(k, "gid") != 0 &&
			   !(grpc && strncmp(k, "max_", 4) == 0) && !(grpc && strcmp(k, "idle_timeout") == 0))
			log_warn("%s:%d: unknown key `%s.%s` ignored", r->file, toml_line(v), r->section, k);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Applies one document's top-level settings onto cfg (later documents win;
 * lists append, as containerd merges imports). */
static int apply_doc(struct config *cfg, const struct toml_value *doc, const char *file, struct ucd_error **err)
{
	struct reader r = {.file = file, .section = "", .err = err};
	for (size_t i = 0; i < toml_table_len(doc); i++) {
		const char *k = toml_table_key(doc, i);
		const struct toml_value *v = toml_table_value(doc, i);
		int64_t n;
		int rc = 0;
		r.section = "";
		if (strcmp(k, "version") == 0) {
			if ((rc = read_int(&r, v, k, 0, INT_MAX, &n)) == 0 && n != 2)
				rc = error_set(err, UCD_INVALID_ARGUMENT, 0,
					       "%s:%d:%d: config version %lld is not supported: ucontainerd reads version 2 "
					       "(containerd 1.x's current format)", file, toml_line(v), toml_col(v), (long long)n);
		} else if (strcmp(k, "root") == 0)
			rc = read_string(&r, v, k, &cfg->root);
		else if (strcmp(k, "state") == 0)
			rc = read_string(&r, v, k, &cfg->state);
		else if (strcmp(k, "plugin_dir") == 0)
			rc = read_string(&r, v, k, &cfg->plugin_dir);
		else if (strcmp(k, "disabled_plugins") == 0)
			rc = read_strv_append(&r, v, k, &cfg->disabled_plugins);
		else if (strcmp(k, "required_plugins") == 0)
			rc = read_strv_append(&r, v, k, &cfg->required_plugins);
		else if (strcmp(k, "imports") == 0) {
			if (toml_type(v) != TOML_ARRAY)
				rc = type_error(&r, v, k, "an array of strings");
		} else if (strcmp(k, "oom_score") == 0 && (rc = read_int(&r, v, k, -1000, 1000, &n)) == 0)
			cfg->oom_score = (int)n;
		else if (strcmp(k, "grpc") == 0) {
			r.section = "grpc";
			rc = read_listener(&r, v, &cfg->grpc, true);
		} else if (strcmp(k, "ttrpc") == 0) {
			r.section = "ttrpc";
			rc = read_listener(&r, v, &cfg->ttrpc, false);
		} else if (strcmp(k, "debug") == 0) {
			r.section = "debug";
			if (toml_type(v) != TOML_TABLE) {
				rc = type_error(&r, v, k, "a table");
			} else {
				for (size_t j = 0; j < toml_table_len(v) && rc == 0; j++) {
					const char *dk = toml_table_key(v, j);
					const struct toml_value *dv = toml_table_value(v, j);
					if (strcmp(dk, "level") == 0)
						rc = read_string(&r, dv, dk, &cfg->debug_level);
					else if (strcmp(dk, "format") == 0)
						rc = read_string(&r, dv, dk, &cfg->debug_format);
					else if (strcmp(dk, "address") == 0)
						rc = read_string(&r, dv, dk, &cfg->debug.address);
					else if (strcmp(dk, "uid") == 0 && (rc = read_int(&r, dv, dk, 0, INT_MAX, &n)) == 0)
						cfg->debug.uid = (int)n;
					else if (strcmp(dk, "gid") == 0 && (rc = read_int(&r, dv, dk, 0, INT_MAX, &n)) == 0)
						cfg->debug.gid = (int)n;
				}
			}
		} else if (strcmp(k, "metrics") == 0) {
			r.section = "metrics";
			if (toml_type(v) != TOML_TABLE) {
				rc = type_error(&r, v, k, "a table");
			} else {
				const struct toml_value *a = toml_get(v, "address");
				const struct toml_value *h = toml_get(v, "grpc_histogram");
				if (a != NULL)
					rc = read_string(&r, a, "address", &cfg->metrics_address);
				if (rc == 0 && h != NULL) {
					if (toml_type(h) != TOML_BOOL)
						rc = type_error(&r, h, "grpc_histogram", "a boolean");
					else
						cfg->metrics_grpc_histogram = toml_bool(h);
				}
			}
		} else if (strcmp(k, "plugins") == 0) {
			if (toml_type(v) != TOML_TABLE)
				rc = type_error(&r, v, k, "a table");
		} else {
			/* containerd ignores keys it does not know; say so instead of failing */
			log_warn("%s:%d: unknown or unsupported key `%s` ignored", file, toml_line(v), k);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool already_loaded(const struct config *cfg, const char *path)
{
	for (size_t i = 0; i < cfg->n_docs; i++)
		if (strcmp(cfg->doc_paths[i], path) == 0)
			return true;
	return false;
}

static int load_file(struct config *cfg, const char *path, struct ucd_error **err);

/* `imports`: paths or globs, relative ones to the importing file's directory. */
static int load_imports(struct config *cfg, const struct toml_value *doc, const char *file, struct ucd_error **err)
{
	const struct toml_value *imports = toml_get(doc, "imports");
	if (imports == NULL)
		return 0;
	autofree char *dircopy = xstrdup(file);
	const char *dir = dirname(dircopy);
	for (size_t i = 0; i < toml_array_len(imports); i++) {
		const struct toml_value *e = toml_array_at(imports, i);
		if (toml_type(e) != TOML_STRING)
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s:%d:%d: `imports` must be an array of strings",
					 file, toml_line(e), toml_col(e));
		const char *pat = toml_string(e, NULL);
		autofree char *full = pat[0] == '/' ? xstrdup(pat) : xasprintf("%s/%s", dir, pat);
		glob_t g;
		int gr = glob(full, 0, NULL, &g);
		if (gr == GLOB_NOMATCH)
			continue;   /* a drop-in directory may be empty */
		if (gr != 0)
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: imports: cannot expand `%s`", file, full);
		int rc = 0;
		for (size_t j = 0; j < g.gl_pathc && rc == 0; j++) {
			if (already_loaded(cfg, g.gl_pathv[j]))
				continue;
			if (cfg->n_docs >= MAX_IMPORTS)
				rc = error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: more than %d imported files", file, MAX_IMPORTS);
			else
				rc = load_file(cfg, g.gl_pathv[j], err);
		}
		globfree(&g);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int load_file(struct config *cfg, const char *path, struct ucd_error **err)
{
	char *msg = NULL;
	struct toml_value *doc = toml_parse_file(path, &msg);
	if (doc == NULL) {
		error_set(err, UCD_INVALID_ARGUMENT, 0, "%s", msg ? msg : "parse error");
		free(msg);
		return -UCD_INVALID_ARGUMENT;
	}
	cfg->docs = xrealloc(cfg->docs, (cfg->n_docs + 1) * sizeof *cfg->docs);
	cfg->doc_paths = xrealloc(cfg->doc_paths, (cfg->n_docs + 1) * sizeof *cfg->doc_paths);
	cfg->docs[cfg->n_docs] = doc;
	cfg->doc_paths[cfg->n_docs] = xstrdup(path);
	cfg->n_docs++;
	if (cfg->n_docs > 1)
		strv_push(&cfg->imports, path);
	int rc = apply_doc(cfg, doc, path, err);
	if (rc == 0)
		rc = load_imports(cfg, doc, path, err);
	return rc;
}

int config_load(struct config *cfg, const char *path, bool explicit_path, struct ucd_error **err)
{
	defaults(cfg);
	if (path == NULL)
		path = CONFIG_DEFAULT_PATH;
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && !explicit_path)
			return 0;   /* no file at the default path: run on defaults */
		return error_set(err, UCD_INVALID_ARGUMENT, errno, "config file `%s`: %s", path, strerror(errno));
	}
	cfg->path = xstrdup(path);
	return load_file(cfg, path, err);
}

const struct toml_value *config_plugin_table(const struct config *cfg, const char *uri, const char **file)
{
	/* Later documents (imports) replace earlier ones' tables for the same plugin. */
	for (size_t i = cfg->n_docs; i-- > 0;) {
		const struct toml_value *plugins = toml_get(cfg->docs[i], "plugins");
		const struct toml_value *t = plugins ? toml_get(plugins, uri) : NULL;
		if (t != NULL) {
			if (file != NULL)
				*file = cfg->doc_paths[i];
			return t;
		}
	}
	return NULL;
}

void config_fini(struct config *cfg)
{
	free(cfg->root);
	free(cfg->state);
	free(cfg->plugin_dir);
	strv_free(cfg->disabled_plugins);
	strv_free(cfg->required_plugins);
	strv_free(cfg->imports);
	free(cfg->grpc.address);
	free(cfg->ttrpc.address);
	free(cfg->debug.address);
	free(cfg->debug_level);
	free(cfg->debug_format);
	free(cfg->metrics_address);
	for (size_t i = 0; i < cfg->n_docs; i++) {
		toml_free(cfg->docs[i]);
		free(cfg->doc_paths[i]);
	}
	free(cfg->docs);
	free(cfg->doc_paths);
	free(cfg->path);
	*cfg = (struct config){0};
}
