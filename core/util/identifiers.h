/* containerd's identifier rule, used for namespaces, containers, leases and
 * snapshotter keys given by clients: 1 to 76 characters, alphanumeric runs
 * joined by single '.', '_' or '-'. */
#pragma once
#include <ucontainerd/error.h>

#define IDENTIFIER_MAX_LEN 76

/* 0, or INVALID_ARGUMENT with containerd's wording:
 *   identifier "a..b" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$ */
int identifier_validate(const char *s, struct ucd_error **err);

/* A namespace name given in a request body (not the header): as
 * identifier_validate, with containerd's "namespace validation: " context. */
int identifier_validate_ns(const char *ns, struct ucd_error **err);
