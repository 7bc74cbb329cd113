/* struct ucd_host: the only door from a plugin into the core. Each member is
 * a thin adapter over core/util (errors, allocation, logging) or over the
 * registry (lookups, exports). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

static void *host_alloc(size_t n)
{
	return xmalloc(n);
}

static void host_free(void *p)
{
	free(p);
}

__attribute__((format(printf, 4, 5)))
static int host_error_new(struct ucd_error **err, int code, int errno_, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_setv(err, code, errno_, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 2, 3)))
static int host_error_wrap(struct ucd_error **err, const char *fmt, ...)
{
	if (err == NULL || *err == NULL)
		return -UCD_UNKNOWN;
	va_list ap;
	va_start(ap, fmt);
	char *ctx;
	if (vasprintf(&ctx, fmt, ap) < 0)
		oom();
	va_end(ap);
	int r = error_wrap(err, "%s", ctx);
	free(ctx);
	return r;
}

static void host_error_free(struct ucd_error *e)
{
	error_free(e);
}

__attribute__((format(printf, 3, 4)))
static void host_log(const struct ucd_init_ctx *ic, int level, const char *fmt, ...)
{
	enum log_level l;
	switch (level) {
	case UCD_LOG_TRACE: l = LOG_TRACE; break;
	case UCD_LOG_DEBUG: l = LOG_DEBUG; break;
	case UCD_LOG_WARN: l = LOG_WARN; break;
	case UCD_LOG_ERROR: l = LOG_ERROR; break;
	default: l = LOG_INFO; break;
	}
	if (!log_enabled(l))
		return;
	char *fields = NULL;
	if (ic != NULL && ic->uri != NULL) {
		char *v = log_value(ic->uri);
		fields = xasprintf("plugin=%s", v);
		free(v);
	}
	va_list ap;
	va_start(ap, fmt);
	log_msgv(l, fields, fmt, ap);
	va_end(ap);
	free(fields);
}

static int host_dir_ensure(const struct ucd_host *host, const char *path, uint32_t mode, char **created,
			   struct ucd_error **err)
{
	char *made = NULL;
	int r = fs_dir_ensure(path, (mode_t)mode, FS_DIR_OWN, created != NULL ? &made : NULL, err);
	if (created != NULL) {
		/* through the table's own allocator: a caller may have wrapped
		 * it (the conformance tester tracks every block) */
		*created = NULL;
		if (made != NULL) {
			size_t n = strlen(made) + 1;
			*created = memcpy(host->alloc(n), made, n);
		}
	}
	free(made);
	return r;
}

void host_fill(struct ucd_host *h)
{
	memset(h, 0, sizeof *h);
	h->size = sizeof *h;
	h->abi_major = UCD_ABI_MAJOR;
	h->abi_minor = UCD_ABI_MINOR;
	h->alloc = host_alloc;
	h->free = host_free;
	h->error_new = host_error_new;
	h->error_wrap = host_error_wrap;
	h->error_free = host_error_free;
	h->log = host_log;
	h->get_plugin = registry_host_get_plugin;
	h->export_set = registry_host_export_set;
	h->capability_add = registry_host_capability_add;
	h->platform_add = registry_host_platform_add;
	h->dir_ensure = host_dir_ensure;
	h->loop = host_loop;
	h->call_start = host_call_start;
	h->call_send = host_call_send;
	h->call_close_send = host_call_close_send;
	h->call_cancel = host_call_cancel;
	h->service_register = host_service_register;
	h->server_call_send = host_server_call_send;
	h->server_call_finish = host_server_call_finish;
	h->server_call_metadata = host_server_call_metadata;
	h->server_call_ref = host_server_call_ref;
	h->server_call_unref = host_server_call_unref;
	h->server_call_done = host_server_call_done;
	h->server_call_set_data = host_server_call_set_data;
	h->server_call_data = host_server_call_data;
}
