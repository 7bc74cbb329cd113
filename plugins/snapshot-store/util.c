/* Small helpers of the snapshot store: strings, mounts, directories,
 * errors, time, the platform. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "snst.h"

char *snst_strdup(const struct ucd_host *h, const char *str)
{
	size_t n = strlen(str) + 1;
	char *p = h->alloc(n);
	memcpy(p, str, n);
	return p;
}

char *snst_printf(const struct ucd_host *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = h->alloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void snst_mount_add(const struct ucd_host *h, struct ucd_mounts *m, const char *type, const char *source,
		    const char *const *opts, size_t n_opts)
{
	struct ucd_mount *v = h->alloc((m->n + 1) * sizeof *v);
	if (m->n)
		memcpy(v, m->v, m->n * sizeof *v);
	h->free(m->v);
	m->v = v;
	struct ucd_mount *mt = &m->v[m->n++];
	memset(mt, 0, sizeof *mt);
	mt->type = snst_strdup(h, type);
	mt->source = snst_strdup(h, source);
	mt->options = h->alloc((n_opts ? n_opts : 1) * sizeof *mt->options);
	for (size_t i = 0; i < n_opts; i++)
		mt->options[i] = snst_strdup(h, opts[i]);
	mt->n_options = n_opts;
}

static int code_of(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return UCD_NOT_FOUND;
	case EEXIST:
		return UCD_ALREADY_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return UCD_PERMISSION_DENIED;
	case ENOSPC:
	case EDQUOT:
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return UCD_RESOURCE_EXHAUSTED;
	default:
		return UCD_INTERNAL;
	}
}

int snst_errno(const struct ucd_host *h, struct ucd_error **err, int errnum, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return h->error_new(err, code_of(errnum), errnum, "%s: %s", what, strerror(errnum));
}

int snst_mkdir_all(const struct ucd_host *h, const char *path, mode_t mode, char **created,
		   struct ucd_error **err)
{
	return h->dir_ensure(h, path, (uint32_t)mode, created, err);
}

int64_t snst_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void snst_platform_add(const struct ucd_host *h, const struct ucd_init_ctx *ic)
{
	/* GOARCH names, as containerd's platforms.DefaultSpec reports them. */
#if defined(__x86_64__)
	h->platform_add(ic, "linux", "amd64", "", NULL);
#elif defined(__aarch64__)
	h->platform_add(ic, "linux", "arm64", "v8", NULL);
#elif defined(__i386__)
	h->platform_add(ic, "linux", "386", "", NULL);
#elif defined(__arm__)
	h->platform_add(ic, "linux", "arm", "v7", NULL);
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h->platform_add(ic, "linux", "ppc64le", "", NULL);
#elif defined(__s390x__)
	h->platform_add(ic, "linux", "s390x", "", NULL);
#elif defined(__riscv) && __riscv_xlen == 64
	h->platform_add(ic, "linux", "riscv64", "", NULL);
#else
	(void)h;
	(void)ic;
#endif
}
