/* containerd.services.events.v1.Events: Publish, Forward, Subscribe. */
#include <string.h>

#include "containerd/services/events/v1/events.pb-c.h"
#include "events/events.h"
#include "filters/filters.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/log.h"
#include "util/mem.h"

/* A subscriber whose client reads slower than events arrive is cut off past
 * this many queued bytes instead of growing the daemon without bound. */
#define SUBSCRIBER_MAX_PENDING (8u << 20)

static const Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;

static void publish(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct svc_ctx *ctx = rpc_call_method_data(call);
	const Containerd__Services__Events__V1__PublishRequest *req = (const void *)msg;
	struct ucd_error *e = NULL;
	if (events_validate_topic(req->topic, &e) < 0) {
		error_wrap(&e, "envelope topic \"%s\"", req->topic);
		return rpc_call_fail(call, e);
	}
	if (req->event == NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "event must not be empty: invalid argument");
	events_forward(ctx->events, rpc_call_namespace(call), req->topic, -1, 0, req->event->type_url,
		       req->event->value.data, req->event->value.len);
	rpc_call_reply(call, &empty.base);
}

static void forward(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct svc_ctx *ctx = rpc_call_method_data(call);
	const Containerd__Services__Events__V1__ForwardRequest *req = (const void *)msg;
	const events_envelope *env = req->envelope;
	struct ucd_error *e = NULL;
	if (env == NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "envelope must not be empty: invalid argument");
	if (identifier_validate_ns(env->namespace_, &e) < 0 || events_validate_topic(env->topic, &e) < 0)
		return rpc_call_fail(call, e);
	if (env->event == NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "event must not be empty: invalid argument");
	int64_t sec = env->timestamp ? env->timestamp->seconds : -1;
	int32_t nsec = env->timestamp ? env->timestamp->nanos : 0;
	events_forward(ctx->events, env->namespace_, env->topic, sec, nsec, env->event->type_url,
		       env->event->value.data, env->event->value.len);
	rpc_call_reply(call, &empty.base);
}

struct subscriber {
	struct svc_ctx *ctx;
	struct rpc_call *call;
	struct events_sub *sub;
};

static void subscriber_end(struct subscriber *s)
{
	events_unsubscribe(s->ctx->events, s->sub);
	rpc_call_set_data(s->call, NULL);
	rpc_call_unref(s->call);
	free(s);
}

static void deliver(void *arg, const events_envelope *env)
{
	struct subscriber *s = arg;
	rpc_call_send(s->call, &env->base);
	if (rpc_call_done(s->call)) {   /* the event was over the send limit: the call ended */
		subscriber_end(s);
		return;
	}
	if (rpc_call_pending_bytes(s->call) > SUBSCRIBER_MAX_PENDING) {
		log_warn("events: dropping a subscriber that does not read (%zu bytes queued)",
			 rpc_call_pending_bytes(s->call));
		rpc_call_finish(s->call, UCD_RESOURCE_EXHAUSTED, "subscriber too slow: %u bytes of events queued",
				SUBSCRIBER_MAX_PENDING);
		subscriber_end(s);
	}
}

static void subscribe(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct svc_ctx *ctx = rpc_call_method_data(call);
	const Containerd__Services__Events__V1__SubscribeRequest *req = (const void *)msg;
	struct ucd_error *e = NULL;
	struct filter *f = filter_parse((const char *const *)req->filters, req->n_filters, &e);
	if (f == NULL && e != NULL)
		return rpc_call_fail(call, e);
	struct subscriber *s = xcalloc(1, sizeof *s);
	s->ctx = ctx;
	s->call = call;
	rpc_call_ref(call);
	rpc_call_set_data(call, s);
	s->sub = events_subscribe(ctx->events, f, deliver, s);
}

static void subscribe_cancel(struct rpc_call *call)
{
	struct subscriber *s = rpc_call_data(call);
	if (s != NULL)
		subscriber_end(s);
}

#define SVC "/containerd.services.events.v1.Events/"
static struct rpc_method methods[] = {
	{RPC_METHOD(SVC "Publish", RPC_UNARY, &containerd__services__events__v1__publish_request__descriptor, true, publish)},
	{RPC_METHOD(SVC "Forward", RPC_UNARY, &containerd__services__events__v1__forward_request__descriptor, false, forward)},
	{RPC_METHOD(SVC "Subscribe", RPC_SERVER_STREAMING, &containerd__services__events__v1__subscribe_request__descriptor, false,
	 subscribe), .on_cancel = subscribe_cancel},
};

void svc_events_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
