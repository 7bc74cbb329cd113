/* The host's door to the daemon's loop and services (ABI 1.3): host->loop,
 * and in-process calls (call.h) on the rpc server's own in-process calls
 * (core/rpc/local.c). Each call a plugin makes is tracked on its record,
 * so that none can call back into a plugin that has been closed. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "rpc/rpc.h"
#include "util/error.h"
#include "util/mem.h"

/* What a struct ucd_call * points to. */
struct host_call {
	struct rpc_call *rpc;
	struct registry_plugin *p;
	const struct ucd_call_ops *ops;
	void *arg;
	struct list node;   /* in p->calls */
};

int host_loop(const struct ucd_init_ctx *ic, void **loop, struct ucd_error **err)
{
	if (ic == NULL || loop == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "loop: init context and result pointer are required");
	struct registry_plugin *p = registry_ctx_plugin(ic);
	if (!registry_on_loop(p->reg))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "loop: plugin `%s` called it off the loop thread",
		                 ic->uri);
	if (!UCD_PLUGIN_DESC_HAS(p->desc, libuv_major) || p->desc->libuv_major == 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "loop: plugin `%s` does not declare the libuv it was built with: set "
		                 "`.libuv_major = UV_VERSION_MAJOR` in its descriptor", ic->uri);
	if (p->reg->loop == NULL)
		return error_set(err, UCD_UNAVAILABLE, 0, "loop: this registry runs without an event loop");
	*loop = p->reg->loop;
	return 0;
}

static void call_message(void *arg, const uint8_t *data, size_t len)
{
	struct host_call *hc = arg;
	if (hc->ops->on_message != NULL)
		hc->ops->on_message(hc->arg, data, len);
}

static void call_finish(void *arg, int code, const char *msg)
{
	struct host_call *hc = arg;
	const struct ucd_call_ops *ops = hc->ops;
	void *parg = hc->arg;
	list_del(&hc->node);
	free(hc);
	if (ops->on_finish != NULL)
		ops->on_finish(parg, code, msg);
}

static const struct rpc_local_ops call_ops = {call_message, call_finish};

struct ucd_call *host_call_start(const struct ucd_init_ctx *ic, const char *method, const struct ucd_metadata *md,
                                 size_t n_md, uint64_t timeout_ms, const struct ucd_call_ops *ops, void *arg,
                                 struct ucd_error **err)
{
	if (ic == NULL || method == NULL || ops == NULL || (md == NULL && n_md > 0)) {
		error_set(err, UCD_INVALID_ARGUMENT, 0, "call_start: init context, method and ops are required");
		return NULL;
	}
	struct registry_plugin *p = registry_ctx_plugin(ic);
	struct registry *reg = p->reg;
	if (!registry_on_loop(reg)) {
		error_set(err, UCD_FAILED_PRECONDITION, 0, "call_start(`%s`): plugin `%s` called it off the loop thread",
		          method, ic->uri);
		return NULL;
	}
	if (p->in_init || !reg->started) {
		error_set(err, UCD_FAILED_PRECONDITION, 0,
		          "call_start(`%s`): plugin `%s` called it during init; in-process calls start with the "
		          "start() hook, once every service is registered", method, ic->uri);
		return NULL;
	}
	if (reg->server == NULL || p->closed) {
		error_set(err, UCD_UNAVAILABLE, 0, "call_start(`%s`): the daemon no longer serves", method);
		return NULL;
	}
	struct rpc_metadata *rmd = n_md > 0 ? xcalloc(n_md, sizeof *rmd) : NULL;
	for (size_t i = 0; i < n_md; i++)
		rmd[i] = (struct rpc_metadata){md[i].name, md[i].value};
	struct host_call *hc = xcalloc(1, sizeof *hc);
	hc->p = p;
	hc->ops = ops;
	hc->arg = arg;
	hc->rpc = rpc_local_start(reg->server, method, rmd, n_md, timeout_ms, &call_ops, hc);
	free(rmd);
	if (hc->rpc == NULL) {
		free(hc);
		error_set(err, UCD_UNAVAILABLE, 0, "call_start(`%s`): the daemon is shutting down", method);
		return NULL;
	}
	list_add_tail(&p->calls, &hc->node);
	return (struct ucd_call *)hc;
}

/* The checks every member on a call starts with: 0 and *hc, or -code. */
static int call_of(struct ucd_call *call, const char *what, struct host_call **hc, struct ucd_error **err)
{
	*hc = (struct host_call *)call;
	if (*hc == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: no call given", what);
	if (!registry_on_loop((*hc)->p->reg))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: plugin `%s` called it off the loop thread", what,
		                 (*hc)->p->uri);
	return 0;
}

int host_call_send(struct ucd_call *call, const void *data, size_t len, struct ucd_error **err)
{
	struct host_call *hc;
	int r = call_of(call, "call_send", &hc, err);
	if (r < 0)
		return r;
	if (data == NULL && len > 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "call_send: %zu bytes without data", len);
	rpc_local_send(hc->rpc, data, len);
	return 0;
}

int host_call_close_send(struct ucd_call *call, struct ucd_error **err)
{
	struct host_call *hc;
	int r = call_of(call, "call_close_send", &hc, err);
	if (r < 0)
		return r;
	rpc_local_close_send(hc->rpc);
	return 0;
}

static void cancel(struct host_call *hc)
{
	list_del(&hc->node);
	rpc_local_cancel(hc->rpc);
	free(hc);
}

int host_call_cancel(struct ucd_call *call, struct ucd_error **err)
{
	struct host_call *hc;
	int r = call_of(call, "call_cancel", &hc, err);
	if (r < 0)
		return r;
	cancel(hc);
	return 0;
}

void calls_cancel_all(struct registry_plugin *p)
{
	while (!list_empty(&p->calls))
		cancel(list_first_entry(&p->calls, struct host_call, node));
}
