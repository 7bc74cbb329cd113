#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/mem.h"

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"trace", "debug", "info", "warning", "error", "fatal"};

bool log_parse_level(const char *s, enum log_level *out)
{
	static const struct { const char *name; enum log_level l; } map[] = {
		{"trace", LOG_TRACE}, {"debug", LOG_DEBUG}, {"info", LOG_INFO},
		{"warn", LOG_WARN}, {"warning", LOG_WARN}, {"error", LOG_ERROR},
		{"fatal", LOG_FATAL}, {"panic", LOG_FATAL},
	};
	for (size_t i = 0; i < ARRAY_LEN(map); i++) {
		if (strcmp(s, map[i].name) == 0) {
			*out = map[i].l;
			return true;
		}
	}
	return false;
}

const char *log_level_name(enum log_level l) { return level_names[l]; }
void log_set_level(enum log_level l) { min_level = l; }
enum log_level log_get_level(void) { return min_level; }
bool log_enabled(enum log_level l) { return l >= min_level; }

/* logfmt quoting: backslash and quote escaped, control characters as \n,
 * \t or \xNN, so a hostile string cannot forge log lines or fields. */
static char *quote(const char *s, bool force)
{
	bool bare = !force && *s != '\0';
	for (const char *p = s; *p && bare; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			bare = false;
	}
	if (bare)
		return xstrdup(s);
	char *out = xmalloc(strlen(s) * 4 + 3), *o = out;
	*o++ = '"';
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

char *log_value(const char *s) { return quote(s, false); }

void log_msgv(enum log_level l, const char *fields, const char *fmt, va_list ap)
{
	if (!log_enabled(l))
		return;
	char msg[2048], line[4096 + 512];
	vsnprintf(msg, sizeof msg, fmt, ap);

	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof line, "time=\"%Y-%m-%dT%H:%M:%S", &tm);
	autofree char *qmsg = quote(msg, true);
	n += snprintf(line + n, sizeof line - n, ".%09ldZ\" level=%s msg=%s", ts.tv_nsec, level_names[l], qmsg);
	if (fields != NULL && *fields && n < sizeof line - 2)
		n += snprintf(line + n, sizeof line - 2 - n, " %s", fields);
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write per line so concurrent writers (shims, plugins) never interleave. */
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

void log_msg(enum log_level l, const char *fields, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_msgv(l, fields, fmt, ap);
	va_end(ap);
}
