/* mount(2) for struct ucd_mounts. Written from the kernel's and mount(8)'s
 * documented option names, following containerd's rules for what is a flag
 * and what is data. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mnt.h"
#include "util/buf.h"
#include "util/mem.h"

struct flag_opt {
	const char *name;
	bool clear;          /* the option turns the flag off */
	unsigned long flag;
};

static const struct flag_opt flag_opts[] = {
	{"async", true, MS_SYNCHRONOUS},   {"atime", true, MS_NOATIME},
	{"bind", false, MS_BIND},          {"defaults", false, 0},
	{"dev", true, MS_NODEV},           {"diratime", true, MS_NODIRATIME},
	{"dirsync", false, MS_DIRSYNC},    {"exec", true, MS_NOEXEC},
	{"mand", false, MS_MANDLOCK},      {"noatime", false, MS_NOATIME},
	{"nodev", false, MS_NODEV},        {"nodiratime", false, MS_NODIRATIME},
	{"noexec", false, MS_NOEXEC},      {"nomand", true, MS_MANDLOCK},
	{"norelatime", true, MS_RELATIME}, {"nostrictatime", true, MS_STRICTATIME},
	{"nosuid", false, MS_NOSUID},      {"rbind", false, MS_BIND | MS_REC},
	{"relatime", false, MS_RELATIME},  {"remount", false, MS_REMOUNT},
	{"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
	{"strictatime", false, MS_STRICTATIME}, {"suid", true, MS_NOSUID},
	{"sync", false, MS_SYNCHRONOUS},
};

static const struct flag_opt propagation_opts[] = {
	{"private", false, MS_PRIVATE},   {"rprivate", false, MS_PRIVATE | MS_REC},
	{"shared", false, MS_SHARED},     {"rshared", false, MS_SHARED | MS_REC},
	{"slave", false, MS_SLAVE},       {"rslave", false, MS_SLAVE | MS_REC},
	{"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
};

static const struct flag_opt *find_opt(const struct flag_opt *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

struct parsed {
	unsigned long flags, propagation;
	char *data;          /* comma-joined non-flag options; "" when none */
};

static void parse_options(const struct ucd_mount *m, struct parsed *p)
{
	struct buf data = {0};
	p->flags = p->propagation = 0;
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		const struct flag_opt *f;
		if ((f = find_opt(flag_opts, ARRAY_LEN(flag_opts), o)) != NULL) {
			if (f->clear)
				p->flags &= ~f->flag;
			else
				p->flags |= f->flag;
		} else if ((f = find_opt(propagation_opts, ARRAY_LEN(propagation_opts), o)) != NULL) {
			p->propagation |= f->flag;
		} else {
			if (data.len > 0)
				buf_append(&data, ",", 1);
			buf_append(&data, o, strlen(o));
		}
	}
	buf_append(&data, "", 1);
	p->data = (char *)data.data;
}

char *mnt_describe(const struct ucd_mount *m)
{
	struct buf b = {0};
	char *head = xasprintf("type `%s` source `%s` options [", m->type ? m->type : "(null)",
	                       m->source ? m->source : "(null)");
	buf_append(&b, head, strlen(head));
	free(head);
	for (size_t i = 0; i < m->n_options; i++) {
		if (i > 0)
			buf_append(&b, " ", 1);
		const char *o = m->options[i] ? m->options[i] : "(null)";
		buf_append(&b, o, strlen(o));
	}
	buf_append(&b, "]", 2);
	return (char *)b.data;
}

/* The longest directory (ending before a '/') that every lowerdir entry of
 * the colon-separated list starts with; NULL when it is only "/". */
static char *common_dir(const char *lower)
{
	char *list = xstrdup(lower), *save = NULL, *prefix = NULL;
	for (char *d = strtok_r(list, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		if (prefix == NULL) {
			prefix = xstrdup(d);
			continue;
		}
		size_t i = 0;
		while (prefix[i] != '\0' && prefix[i] == d[i])
			i++;
		prefix[i] = '\0';
	}
	free(list);
	if (prefix == NULL)
		return NULL;
	char *slash = strrchr(prefix, '/');
	if (slash == NULL || slash == prefix) {
		free(prefix);
		return NULL;
	}
	*slash = '\0';
	return prefix;
}

/* Rewrites data's lowerdir=... relative to *dir (set, malloc'd); NULL when
 * nothing can be shortened. */
static char *compact_lowerdir(const char *data, char **dir)
{
	const char *lo = strstr(data, "lowerdir=");
	if (lo == NULL || (lo != data && lo[-1] != ','))
		return NULL;
	const char *val = lo + strlen("lowerdir=");
	size_t vlen = strcspn(val, ",");
	char *lower = xstrndup(val, vlen);
	char *common = common_dir(lower);
	if (common == NULL) {
		free(lower);
		return NULL;
	}
	size_t clen = strlen(common);
	struct buf b = {0};
	buf_append(&b, data, (size_t)(val - data));
	char *save = NULL;
	bool first = true;
	for (char *d = strtok_r(lower, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		if (!first)
			buf_append(&b, ":", 1);
		first = false;
		const char *rel = d + clen + 1;   /* every entry starts with common + "/" */
		buf_append(&b, rel, strlen(rel));
	}
	buf_append(&b, val + vlen, strlen(val + vlen) + 1);
	free(lower);
	*dir = common;
	return (char *)b.data;
}

/* mount(2) from inside `dir`: a child process chdirs there so that the
 * parent's working directory never changes (other threads may rely on it). */
static int mount_in_dir(const char *dir, const char *source, const char *target, const char *type,
                        unsigned long flags, const char *data)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(errno & 0xff);
		_exit(mount(source, target, type, flags, data) < 0 ? (errno & 0xff) : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	errno = WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
	return -1;
}

static int mount_one(const struct ucd_mount *m, const char *target, char *why, size_t cap)
{
	struct parsed p;
	parse_options(m, &p);
	unsigned long first = p.flags;
	int r;
	long page = sysconf(_SC_PAGESIZE);
	char *dir = NULL, *shorter = NULL;
	if ((long)strlen(p.data) >= page && (shorter = compact_lowerdir(p.data, &dir)) != NULL)
		r = mount_in_dir(dir, m->source, target, m->type, first, shorter);
	else
		r = mount(m->source, target, m->type, first, p.data[0] ? p.data : NULL);
	free(dir);
	free(shorter);
	const char *step = "mount";
	/* A bind ignores every flag but MS_REC the first time: apply ro (and
	 * the others) with a remount of the bind. */
	if (r == 0 && (p.flags & MS_BIND) && (p.flags & MS_RDONLY)) {
		step = "remount read-only";
		r = mount("", target, NULL, (p.flags & ~MS_REC) | MS_REMOUNT, NULL);
	}
	if (r == 0 && p.propagation != 0) {
		step = "set propagation of";
		r = mount("", target, NULL, p.propagation, NULL);
	}
	if (r < 0) {
		int e = errno;
		char *d = mnt_describe(m);
		snprintf(why, cap, "%s %s at `%s`: %s", step, d, target, strerror(e));
		free(d);
	}
	free(p.data);
	return r;
}

int mnt_all(const struct ucd_mounts *m, const char *target, char *why, size_t cap)
{
	for (size_t i = 0; i < m->n; i++) {
		if (mount_one(&m->v[i], target, why, cap) < 0) {
			mnt_unmount(target);
			return -1;
		}
	}
	return 0;
}

int mnt_unmount(const char *target)
{
	for (int i = 0; i < 64; i++) {
		if (umount2(target, 0) == 0)
			continue;
		if (errno == EBUSY && umount2(target, MNT_DETACH) == 0)
			continue;
		return errno == EINVAL || errno == ENOENT ? 0 : -1;
	}
	return -1;
}

bool mnt_possible(const char *dir)
{
	if (mount(dir, dir, NULL, MS_BIND, NULL) < 0)
		return false;
	umount2(dir, MNT_DETACH);
	return true;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
	return la < lb ? 1 : la > lb ? -1 : 0;
}

int mnt_unmount_under(const char *dir)
{
	size_t dlen = strlen(dir);
	int total = 0;
	/* Stacked and nested mounts: repeat until mountinfo has none left. */
	for (int round = 0; round < 16; round++) {
		FILE *f = fopen("/proc/self/mountinfo", "re");
		if (f == NULL)
			return -1;
		char **points = NULL;
		size_t n = 0;
		char *line = NULL;
		size_t lcap = 0;
		while (getline(&line, &lcap, f) > 0) {
			char *save = NULL, *field = strtok_r(line, " ", &save);
			for (int i = 0; field != NULL && i < 4; i++)
				field = strtok_r(NULL, " ", &save);
			if (field == NULL)
				continue;
			unescape(field);
			if (strncmp(field, dir, dlen) == 0 && (field[dlen] == '\0' || field[dlen] == '/')) {
				points = xrealloc(points, (n + 1) * sizeof *points);
				points[n++] = xstrdup(field);
			}
		}
		free(line);
		fclose(f);
		if (n > 0)
			qsort(points, n, sizeof *points, by_length_desc);
		int done = 0;
		for (size_t i = 0; i < n; i++) {
			if (umount2(points[i], MNT_DETACH) == 0)
				done++;
			free(points[i]);
		}
		free(points);
		total += done;
		if (n == 0 || done == 0)
			break;
	}
	return total;
}
