/* Logging on stderr in containerd's logfmt shape, which journald keeps as is:
 *   time="2026-11-23T18:41:25.123456789Z" level=info msg="serving..." address=/run/x.sock
 * Extra fields are passed as a "key=value ..." string whose values the caller
 * has made safe with log_value(). */
#pragma once
#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

/* Parses "trace|debug|info|warn|warning|error|fatal|panic"; false if unknown. */
bool log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);
void log_set_level(enum log_level l);
enum log_level log_get_level(void);
bool log_enabled(enum log_level l);

/* A field value as logfmt wants it: bare when it can be, quoted and escaped
 * otherwise. Returns a malloc'd string. */
char *log_value(const char *s);

/* fields may be NULL; otherwise appended after msg, e.g. "plugin=io.containerd.x.v1.y" */
void log_msg(enum log_level l, const char *fields, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_msgv(enum log_level l, const char *fields, const char *fmt, va_list ap);

#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
