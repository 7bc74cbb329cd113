/* Small helpers: errors, logging, memory, files, the bit of JSON the shim
 * reads (runc's log lines). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"
#include "util/error.h"
#include "util/identifiers.h"

bool log_debug_enabled;

int fail(struct shim_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int fail_wrap(struct shim_err *e, const char *fmt, ...)
{
	char prefix[512], old[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	/* the message is cut at the buffer's end: keep the prefix whole */
	size_t n = strlen(prefix);
	if (n > sizeof e->msg - 3)
		n = sizeof e->msg - 3;
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, ": ", 2);
	size_t room = sizeof e->msg - n - 3;
	size_t m = strnlen(old, room);
	memcpy(e->msg + n + 2, old, m);
	e->msg[n + 2 + m] = '\0';
	return -1;
}

/* The UTC date of a day count since 1970-01-01 (Howard Hinnant's
 * algorithm). By hand because gmtime_r initializes the time zone code
 * (reads /etc/localtime) and strftime drags in the locale code: pages
 * every shim would carry for a log timestamp. */
static void civil_from_days(long z, int *y, int *m, int *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* logfmt, as the daemon writes it, so the two logs read alike. Values are
 * quoted with control characters escaped: a hostile id cannot forge lines. */
void shim_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warning", "error"};
	char msg[1536], line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timespec ts = now_realtime();
	int y, mon, d;
	civil_from_days(ts.tv_sec / 86400, &y, &mon, &d);
	long sec = ts.tv_sec % 86400;
	size_t n = (size_t)snprintf(line, sizeof line, "time=\"%04d-%02d-%02dT%02ld:%02ld:%02ld.%06ldZ\" level=%s msg=\"",
				    y, mon, d, sec / 3600, sec / 60 % 60, sec % 60, ts.tv_nsec / 1000, names[level]);
	for (const char *p = msg; *p && n < sizeof line - 8; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			line[n++] = '\\';
			line[n++] = (char)c;
		} else if (c == '\n') {
			line[n++] = '\\';
			line[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", c);
		} else {
			line[n++] = (char)c;
		}
	}
	line[n++] = '"';
	line[n++] = '\n';
	/* stderr is a file or the daemon's FIFO: a failed log write is dropped */
	ssize_t r = write(2, line, n);
	(void)r;
}

char *read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 256, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max)
		n = max;
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	bool ok = write_all(fd, data, len);
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		free(tmp);
		errno = saved;
		return -1;
	}
	free(tmp);
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int r = mkdir(p, mode);
	free(p);
	return r < 0 && errno != EEXIST ? -1 : 0;
}

void set_cloexec(int fd)
{
	fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

bool write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t r = write(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		c += r;
		n -= (size_t)r;
	}
	return true;
}

bool shim_identifier(const char *what, const char *s, struct shim_err *e)
{
	struct ucd_error *err = NULL;
	if (identifier_validate(s, &err) == 0)
		return true;
	fail(e, CODE_INVALID_ARGUMENT, "invalid %s %s: %s", what, s ? s : "", err->msg);
	error_free(err);
	return false;
}

int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends the UTF-8 form of code point cp. */
static char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* Decodes the JSON string starting after its opening quote; NULL if it does
 * not end on this line. */
static char *json_unquote(const char *p)
{
	char *out = xmalloc(strlen(p) + 1), *o = out;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++) {
				int v = hexval(p[i]);
				if (v < 0) {
					free(out);
					return NULL;
				}
				cp = cp << 4 | (unsigned)v;
			}
			p += 4;
			o = put_utf8(o, cp);   /* surrogate pairs come out as two 3-byte forms: good enough for a message */
			break;
		}
		case '\0':
			free(out);
			return NULL;
		default: *o++ = *p; break;
		}
	}
	if (*p != '"') {
		free(out);
		return NULL;
	}
	*o = '\0';
	return out;
}

/* Skips a JSON string starting after its opening quote; returns the char
 * after the closing quote. */
static const char *skip_string(const char *p)
{
	for (; *p && *p != '"'; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return *p ? p + 1 : p;
}

char *json_string_field(const char *line, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;
	for (const char *p = line; *p; p++) {
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			const char *start = p + 1;
			const char *end = skip_string(start);
			bool match = depth == 1 && (size_t)(end - start) == klen + 1 && memcmp(start, key, klen) == 0;
			p = end - 1;
			if (!match)
				continue;
			const char *v = end;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v != ':')
				continue;
			v++;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v != '"')
				return NULL;
			return json_unquote(v + 1);
		}
	}
	return NULL;
}

struct timespec now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}
