/* In-process calls: a caller inside the daemon (a service, a plugin) calls
 * a method the server serves, without a socket. The call object is the one
 * a stream gets, routed and dispatched by the same code (call.c); in place
 * of HTTP/2, requests are framed into its input as they would arrive, and
 * its responses wait in call->out until the server's wake handle hands
 * them, then the status, to the caller's callbacks on the next turn. */
#include <string.h>

#include "rpc/frame.h"
#include "rpc/internal.h"
#include "util/error.h"
#include "util/mem.h"

static void add_header(struct rpc_call *call, const char *name, const char *value)
{
	if (call->n_headers % 16 == 0)
		call->headers = xrealloc(call->headers, (call->n_headers + 16) * sizeof *call->headers);
	struct rpc_header *h = &call->headers[call->n_headers++];
	h->name = xstrdup(name);
	h->value = xstrdup(value);
}

struct rpc_call *rpc_local_start(struct rpc_server *s, const char *path, const struct rpc_metadata *md,
				 size_t n_md, uint64_t timeout_ms, const struct rpc_local_ops *ops, void *arg)
{
	if (s->closing)
		return NULL;
	server_wake_init(s);
	struct rpc_call *call = xcalloc(1, sizeof *call);
	call->refs = 1;   /* the caller's, as a stream's reference */
	call->srv = s;
	call->local = call->local_open = true;
	call->local_ops = ops;
	call->local_arg = arg;
	list_init(&call->ready_node);
	list_init(&call->waiter_node);
	list_add_tail(&s->local_calls, &call->node);
	if (path != NULL)
		add_header(call, ":path", path);
	call->path = rpc_call_header(call, ":path");
	if (s->on_call != NULL)
		s->on_call(s->on_call_arg);
	for (size_t i = 0; i < n_md; i++) {
		if (md[i].name == NULL || md[i].value == NULL || md[i].name[0] == 0) {
			rpc_call_finish(call, UCD_INVALID_ARGUMENT, "metadata %zu has no name or no value", i);
			return call;
		}
		if (md[i].name[0] == ':') {
			rpc_call_finish(call, UCD_INVALID_ARGUMENT, "metadata name `%s` is reserved", md[i].name);
			return call;
		}
		add_header(call, md[i].name, md[i].value);
	}
	call_route(call, timeout_ms > 0 ? timeout_ms : UINT64_MAX);
	return call;
}

void rpc_local_send(struct rpc_call *call, const void *data, size_t len)
{
	if (!call->local_open || call->local_sent_all)
		return;
	call_local_input(call, data, len);
}

void rpc_local_close_send(struct rpc_call *call)
{
	if (!call->local_open || call->local_sent_all)
		return;
	call->local_sent_all = true;
	call_on_half_close(call);
}

struct rpc_call *rpc_local_unary(struct rpc_server *s, const char *path, const struct rpc_metadata *md,
				 size_t n_md, uint64_t timeout_ms, const void *data, size_t len,
				 const struct rpc_local_ops *ops, void *arg)
{
	struct rpc_call *call = rpc_local_start(s, path, md, n_md, timeout_ms, ops, arg);
	if (call == NULL)
		return NULL;
	/* the caller's reference keeps the call while the handler runs */
	rpc_local_send(call, data, len);
	rpc_local_close_send(call);
	return call;
}

/* The caller lets go of the call: off the server's lists, the handler told
 * (when it was still working), the caller's reference dropped. */
static void release(struct rpc_call *call)
{
	if (call->ready) {
		list_del(&call->ready_node);
		call->ready = false;
	}
	list_del(&call->node);
	call_local_detach(call);
	rpc_call_unref(call);
}

void rpc_local_cancel(struct rpc_call *call)
{
	if (call->local_open)
		release(call);
}

void local_ready(struct rpc_call *call)
{
	if (!call->local_open || call->ready)
		return;
	call->ready = true;
	list_add_tail(&call->srv->local_ready, &call->ready_node);
	server_wake_soon(call->srv);
}

/* Hands the caller what the call has for it. The messages are taken out of
 * call->out first, so that a caller which sends more from its callback
 * (the handler then answers into call->out) never moves them under it. */
static void deliver(struct rpc_call *call)
{
	bool took = false;
	while (call->local_open && buf_avail(&call->out) > 0) {
		struct buf out = call->out;
		call->out = (struct buf){0};
		const uint8_t *msg;
		size_t n;
		while (call->local_open && frame_next(&out, SIZE_MAX, &msg, &n) == FRAME_OK) {
			call->local_ops->on_message(call->local_arg, msg, n);
			frame_consume(&out, n);
		}
		buf_free(&out);
		took = true;
	}
	if (took)
		server_wake_soon(call->srv);   /* server streams waiting to send */
	if (!call->local_open || !call->finished)
		return;
	const struct rpc_local_ops *ops = call->local_ops;
	void *arg = call->local_arg;
	release(call);   /* the caller's reference; ours keeps the message */
	ops->on_finish(arg, call->status, call->status_msg ? call->status_msg : "");
}

void local_deliver(struct rpc_server *s)
{
	struct list now;
	list_init(&now);
	list_splice_tail_init(&s->local_ready, &now);
	while (!list_empty(&now)) {
		struct rpc_call *call = list_first_entry(&now, struct rpc_call, ready_node);
		list_del(&call->ready_node);
		call->ready = false;
		rpc_call_ref(call);
		deliver(call);
		rpc_call_unref(call);
	}
}

void local_end_all(struct rpc_server *s)
{
	/* A handler told of the end may cancel other in-process calls of its
	 * own (taking them off whatever list they are on): one at a time from
	 * a list of their own, each back on the server's before it is ended. */
	struct list todo;
	list_init(&todo);
	list_splice_tail_init(&s->local_calls, &todo);
	while (!list_empty(&todo)) {
		struct rpc_call *call = list_first_entry(&todo, struct rpc_call, node);
		list_del(&call->node);
		list_add_tail(&s->local_calls, &call->node);
		rpc_call_ref(call);
		call_end_by_server(call, UCD_UNAVAILABLE, "server is shutting down");
		rpc_call_unref(call);
	}
}

size_t rpc_server_local_calls(const struct rpc_server *s)
{
	size_t n = 0;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &s->local_calls)
		n++;
	return n;
}
