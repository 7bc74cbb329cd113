/* The Tasks service (tasks.c) for callers that see the runtime vtable:
 * the unit tests plug a fake runtime in with svc_tasks_serve. The daemon's
 * entry points are in services.h. */
#pragma once
#include <stdbool.h>

#include "runtime_ops.h"
#include "services/services.h"

/* Whether a runtime vtable has every op this service calls. */
bool svc_tasks_ops_usable(const struct ucd_runtime_ops *ops);

/* Attaches `ops` (instance `self`; `release` frees the arrays ops->list
 * hands out) and registers the service. Returns 0, or -1 after logging why
 * when the runtime refused to attach (the service is then not served). */
int svc_tasks_serve(struct svc_ctx *ctx, const struct ucd_runtime_ops *ops, void *self, void (*release)(void *));
