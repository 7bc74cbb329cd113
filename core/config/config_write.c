#include "config/config_write.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "util/duration.h"
#include "util/mem.h"

void config_write_string(FILE *out, const char *s)
{
	config_write_stringn(out, s, strlen(s));
}

void config_write_stringn(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (const char *end = s + len; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* Key i of table t, bare when TOML allows it, quoted otherwise, all its
 * bytes: a key may hold U+0000 ("a\u0000b"), and two keys that differ only
 * after it are two keys. */
static void write_key(FILE *out, const struct toml_value *t, size_t i)
{
	size_t len;
	const char *k = toml_table_keyn(t, i, &len);
	bool bare = len > 0;
	for (size_t j = 0; j < len; j++) {
		char c = k[j];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			bare = false;
	}
	if (bare)
		fputs(k, out);
	else
		config_write_stringn(out, k, len);
}

static void write_datetime(FILE *out, const struct toml_value *v)
{
	const struct toml_datetime *d = toml_datetime(v);
	enum toml_type t = toml_type(v);
	if (t != TOML_TIME_LOCAL)
		fprintf(out, "%04d-%02d-%02d", d->year, d->month, d->day);
	if (t == TOML_DATE_LOCAL)
		return;
	if (t != TOML_TIME_LOCAL)
		fputc('T', out);
	fprintf(out, "%02d:%02d:%02d", d->hour, d->minute, d->second);
	if (d->nanosecond)
		fprintf(out, ".%09d", d->nanosecond);
	if (t == TOML_DATETIME) {
		if (d->offset_minutes == 0)
			fputc('Z', out);
		else {
			int m = d->offset_minutes < 0 ? -d->offset_minutes : d->offset_minutes;
			fprintf(out, "%c%02d:%02d", d->offset_minutes < 0 ? '-' : '+', m / 60, m % 60);
		}
	}
}

void config_write_value(FILE *out, const struct toml_value *v)
{
	switch (toml_type(v)) {
	case TOML_STRING: {
		size_t len;
		const char *s = toml_string(v, &len);
		config_write_stringn(out, s, len);
		break;
	}
	case TOML_INTEGER:
		fprintf(out, "%" PRId64, toml_integer(v));
		break;
	case TOML_FLOAT: {
		double d = toml_float(v);
		if (isnan(d))
			fputs("nan", out);
		else if (isinf(d))
			fputs(d < 0 ? "-inf" : "inf", out);
		else {
			char buf[64];
			snprintf(buf, sizeof buf, "%.17g", d);
			fputs(buf, out);
			if (!strpbrk(buf, ".eE"))
				fputs(".0", out);
		}
		break;
	}
	case TOML_BOOL:
		fputs(toml_bool(v) ? "true" : "false", out);
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		write_datetime(out, v);
		break;
	case TOML_ARRAY:
		fputc('[', out);
		for (size_t i = 0; i < toml_array_len(v); i++) {
			if (i)
				fputs(", ", out);
			config_write_value(out, toml_array_at(v, i));
		}
		fputc(']', out);
		break;
	case TOML_TABLE:
		fputc('{', out);
		for (size_t i = 0; i < toml_table_len(v); i++) {
			fputs(i ? ", " : " ", out);
			write_key(out, v, i);
			fputs(" = ", out);
			config_write_value(out, toml_table_value(v, i));
		}
		fputs(toml_table_len(v) ? " }" : "}", out);
		break;
	}
}

void config_write_table(FILE *out, const char *prefix, const struct toml_value *t)
{
	fprintf(out, "\n[%s]\n", prefix);
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_value *v = toml_table_value(t, i);
		if (toml_type(v) == TOML_TABLE)
			continue;
		fputs("  ", out);
		write_key(out, t, i);
		fputs(" = ", out);
		config_write_value(out, v);
		fputc('\n', out);
	}
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_value *v = toml_table_value(t, i);
		if (toml_type(v) != TOML_TABLE)
			continue;
		char *sub;
		FILE *m = open_memstream(&sub, &(size_t){0});
		fputs(prefix, m);
		fputc('.', m);
		write_key(m, t, i);
		fclose(m);
		config_write_table(out, sub, v);
		free(sub);
	}
}

void config_write_plugin_tables(FILE *out, const struct config *cfg, bool sources)
{
	for (size_t i = 0; i < cfg->n_docs; i++) {
		const struct toml_value *plugins = toml_get(cfg->docs[i], "plugins");
		for (size_t j = 0; plugins && j < toml_table_len(plugins); j++) {
			const char *file = NULL;
			/* each plugin once, from the file whose table wins */
			if (config_plugin_table(cfg, toml_table_key(plugins, j), &file) != toml_table_value(plugins, j))
				continue;
			char *prefix = NULL;
			size_t plen;
			FILE *p = open_memstream(&prefix, &plen);
			fputs("plugins.", p);
			write_key(p, plugins, j);   /* quoted and escaped as a key must be */
			fclose(p);
			if (sources)
				fprintf(out, "\n# from %s", file);
			config_write_table(out, prefix, toml_table_value(plugins, j));
			free(prefix);
		}
	}
}

static void write_strv(FILE *out, char *const *v)
{
	fputc('[', out);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			fputs(", ", out);
		config_write_string(out, v[i]);
	}
	fputc(']', out);
}

#define COMMENT(...) do { if (comments) fprintf(out, __VA_ARGS__); } while (0)

static void write_listener(FILE *out, const char *name, const struct config_listener *l, bool grpc, bool comments)
{
	fprintf(out, "\n[%s]\n", name);
	COMMENT("  # Unix socket the daemon serves on (mode 0660).\n");
	fputs("  address = ", out);
	config_write_string(out, l->address);
	fputc('\n', out);
	COMMENT("  # Owner of the socket; 0 is root.\n");
	fprintf(out, "  uid = %d\n  gid = %d\n", l->uid < 0 ? 0 : l->uid, l->gid < 0 ? 0 : l->gid);
	if (grpc) {
		COMMENT("  # Largest request / response message in bytes (RESOURCE_EXHAUSTED beyond).\n");
		fprintf(out, "  max_recv_message_size = %" PRId64 "\n", l->max_recv_message_size);
		fprintf(out, "  max_send_message_size = %" PRId64 "\n", l->max_send_message_size);
		COMMENT("  # Request bytes buffered for all connections / one connection: a message that does not\n"
			"  # fit is RESOURCE_EXHAUSTED (docs/grpc.md).\n");
		fprintf(out, "  max_recv_buffer_size = %" PRId64 "\n", l->max_recv_buffer_size);
		fprintf(out, "  max_conn_recv_buffer_size = %" PRId64 "\n", l->max_conn_recv_buffer_size);
		COMMENT("  # Response bytes queued for clients that have not taken them, likewise.\n");
		fprintf(out, "  max_send_buffer_size = %" PRId64 "\n", l->max_send_buffer_size);
		fprintf(out, "  max_conn_send_buffer_size = %" PRId64 "\n", l->max_conn_send_buffer_size);
		COMMENT("  # Connections at once (0: no cap); one more gets GOAWAY and is closed.\n");
		fprintf(out, "  max_connections = %" PRId64 "\n", l->max_connections);
		COMMENT("  # A connection with no call open that sends nothing this long gets GOAWAY (\"0\": never).\n");
		char d[64];
		duration_format(l->idle_timeout_ns, d, sizeof d);
		fprintf(out, "  idle_timeout = \"%s\"\n", d);
	}
}

void config_write_core(FILE *out, const struct config *cfg, bool comments)
{
	COMMENT("# ucontainerd configuration, containerd's config.toml version 2.\n");
	fputs("version = 2\n", out);
	COMMENT("# Persistent data: metadata, content, snapshots.\n");
	fputs("root = ", out);
	config_write_string(out, cfg->root);
	COMMENT("\n# Runtime data that does not survive a reboot: sockets, shim state.");
	fputs("\nstate = ", out);
	config_write_string(out, cfg->state);
	fputc('\n', out);
	COMMENT("# Where plugin .so files are loaded from; empty = next to the binary (%s).\n",
		"<bin>/../lib/ucontainerd/plugins");
	fputs("plugin_dir = ", out);
	config_write_string(out, cfg->plugin_dir ? cfg->plugin_dir : "");
	COMMENT("\n# Plugins (\"<type>.<id>\") never loaded.");
	fputs("\ndisabled_plugins = ", out);
	write_strv(out, cfg->disabled_plugins);
	COMMENT("\n# Plugins that must load, or the daemon exits.");
	fputs("\nrequired_plugins = ", out);
	write_strv(out, cfg->required_plugins);
	COMMENT("\n# Drop-in files merged over this one (globs allowed; relative to this file).");
	fputs("\nimports = ", out);
	write_strv(out, cfg->imports);
	fprintf(out, "\noom_score = %d\n", cfg->oom_score);
	write_listener(out, "grpc", &cfg->grpc, true, comments);
	write_listener(out, "ttrpc", &cfg->ttrpc, false, comments);
	fputs("\n[debug]\n", out);
	COMMENT("  # Log level: trace, debug, info, warn, error, fatal (\"\" = info, or --log-level).\n");
	fputs("  level = ", out);
	config_write_string(out, cfg->debug_level);
	fputs("\n  format = ", out);
	config_write_string(out, cfg->debug_format);
	fputs("\n  address = ", out);
	config_write_string(out, cfg->debug.address);
	fprintf(out, "\n  uid = %d\n  gid = %d\n", cfg->debug.uid < 0 ? 0 : cfg->debug.uid,
		cfg->debug.gid < 0 ? 0 : cfg->debug.gid);
	fputs("\n[metrics]\n", out);
	COMMENT("  # Accepted for compatibility; no metrics listener is served yet.\n");
	fputs("  address = ", out);
	config_write_string(out, cfg->metrics_address);
	fprintf(out, "\n  grpc_histogram = %s\n", cfg->metrics_grpc_histogram ? "true" : "false");
}
