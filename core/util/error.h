/* The daemon's side of the error convention of sdk/include/ucontainerd/error.h.
 * Plugins reach the same functions through the host API table. */
#pragma once
#include <stdarg.h>
#include <ucontainerd/error.h>

/* Sets *err (if err is not NULL) to a new error; returns -code so callers can
 * `return error_set (err, UCD_NOT_FOUND, 0, "image `%s` not found", name);` */
int error_set(struct ucd_error **err, int code, int errno_, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int error_setv(struct ucd_error **err, int code, int errno_, const char *fmt, va_list ap);
/* Prepends "context: " to the message of *err; the code stays; returns -code. */
int error_wrap(struct ucd_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_free(struct ucd_error *e);
/* "NotFound", "AlreadyExists"... as containerd's errdefs name the classes. */
const char *error_code_name(int code);
