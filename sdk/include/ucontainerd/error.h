/* ucontainerd plugin SDK: errors.
 *
 * One error convention across the daemon and its plugins. A function that can
 * fail takes `struct ucd_error **err` as its LAST argument and returns an int
 * (0 on success, the negated code on failure) or a pointer (NULL on failure).
 * On success *err is left untouched; on failure *err points to an error the
 * caller now owns. Errors a plugin creates are allocated through the host API
 * (host->error_new), so the daemon can free them.
 *
 * Codes are numerically equal to gRPC status codes: an error reaches a client
 * as exactly this code, with `msg` as the grpc-message.
 */
#ifndef UCONTAINERD_ERROR_H
#define UCONTAINERD_ERROR_H

enum ucd_code {
	UCD_OK = 0,
	UCD_CANCELLED = 1,
	UCD_UNKNOWN = 2,
	UCD_INVALID_ARGUMENT = 3,
	UCD_DEADLINE_EXCEEDED = 4,
	UCD_NOT_FOUND = 5,
	UCD_ALREADY_EXISTS = 6,
	UCD_PERMISSION_DENIED = 7,
	UCD_RESOURCE_EXHAUSTED = 8,
	UCD_FAILED_PRECONDITION = 9,
	UCD_ABORTED = 10,
	UCD_OUT_OF_RANGE = 11,
	UCD_UNIMPLEMENTED = 12,
	UCD_INTERNAL = 13,
	UCD_UNAVAILABLE = 14,
	UCD_DATA_LOSS = 15,
	UCD_UNAUTHENTICATED = 16,
};

struct ucd_error {
	int code;    /* enum ucd_code; never UCD_OK */
	int errno_;  /* the errno behind it, 0 when none: detail for logs only */
	char *msg;   /* lowercase, no trailing period, context first: "commit `x`: parent `p` not found" */
};

#endif
