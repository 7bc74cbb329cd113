/* Errors: make at the origin, wrap with context on the way up (crun's style). */
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

int error_setv(struct ucd_error **err, int code, int errno_, const char *fmt, va_list ap)
{
	if (code == UCD_OK)
		code = UCD_UNKNOWN;
	if (err == NULL)
		return -code;
	struct ucd_error *e = xmalloc(sizeof *e);
	e->code = code;
	e->errno_ = errno_;
	if (vasprintf(&e->msg, fmt, ap) < 0)
		oom();
	if (*err != NULL)   /* overwriting an unconsumed error would leak it */
		error_free(*err);
	*err = e;
	return -code;
}

int error_set(struct ucd_error **err, int code, int errno_, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = error_setv(err, code, errno_, fmt, ap);
	va_end(ap);
	return r;
}

int error_wrap(struct ucd_error **err, const char *fmt, ...)
{
	if (err == NULL || *err == NULL)
		return -UCD_UNKNOWN;
	char *ctx, *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		oom();
	va_end(ap);
	if (asprintf(&msg, "%s: %s", ctx, (*err)->msg) < 0)
		oom();
	free(ctx);
	free((*err)->msg);
	(*err)->msg = msg;
	return -(*err)->code;
}

void error_free(struct ucd_error *e)
{
	if (e == NULL)
		return;
	free(e->msg);
	free(e);
}

const char *error_code_name(int code)
{
	static const char *const names[] = {
		"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
		"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
		"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
		"Internal", "Unavailable", "DataLoss", "Unauthenticated",
	};
	if (code < 0 || code >= (int)(sizeof names / sizeof names[0]))
		return "Unknown";
	return names[code];
}
