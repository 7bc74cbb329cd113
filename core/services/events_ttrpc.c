/* containerd.services.events.ttrpc.v1.Events on the daemon's ttrpc socket
 * (`<address>.ttrpc` unless `[ttrpc] address` says otherwise): where shims,
 * ours and containerd's, forward their task events (/tasks/exit ...). The same checks as
 * the gRPC Forward (events.c). */
#include <string.h>

#include "config/config.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "events/events.h"
#include "services/services.h"
#include "ttrpc/ttrpc_conn.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/identifiers.h"
#include "util/log.h"
#include "util/mem.h"

#define TTRPC_EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

static void forward(struct svc_ctx *ctx, struct ttrpc_conn *c, uint32_t stream, const Ttrpc__Request *req)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fr =
		containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, req->payload.len,
										   req->payload.data);
	struct ucd_error *e = NULL;
	if (fr == NULL) {
		ttrpc_respond(c, stream, UCD_INVALID_ARGUMENT, "invalid ForwardRequest", NULL);
		return;
	}
	const Containerd__Services__Events__Ttrpc__V1__Envelope *env = fr->envelope;
	if (env == NULL || env->event == NULL) {
		ttrpc_respond(c, stream, UCD_INVALID_ARGUMENT, "envelope and event must not be empty: invalid argument",
			      NULL);
	} else if (identifier_validate_ns(env->namespace_, &e) < 0 || events_validate_topic(env->topic, &e) < 0) {
		ttrpc_respond(c, stream, e->code, e->msg, NULL);
		error_free(e);
	} else {
		int64_t sec = env->timestamp ? env->timestamp->seconds : -1;
		int32_t nsec = env->timestamp ? env->timestamp->nanos : 0;
		events_forward(ctx->events, env->namespace_, env->topic, sec, nsec, env->event->type_url,
			       env->event->value.data, env->event->value.len);
		ttrpc_respond(c, stream, 0, NULL, NULL);
	}
	containerd__services__events__ttrpc__v1__forward_request__free_unpacked(fr, NULL);
}

static void handle(void *arg, struct ttrpc_conn *c, uint32_t stream, const Ttrpc__Request *req)
{
	if (strcmp(req->service, TTRPC_EVENTS_SERVICE) == 0 && strcmp(req->method, "Forward") == 0) {
		forward(arg, c, stream, req);
		return;
	}
	autofree char *msg = xasprintf("service %s: method %s: unimplemented", req->service, req->method);
	ttrpc_respond(c, stream, UCD_UNIMPLEMENTED, msg, NULL);
}

char *svc_ttrpc_address(const struct config *cfg)
{
	if (cfg->ttrpc.address[0] != '\0')
		return xstrdup(cfg->ttrpc.address);
	return xasprintf("%s.ttrpc", cfg->grpc.address);
}

int svc_events_ttrpc_start(struct svc_ctx *ctx, struct ucd_error **err)
{
	autofree char *path = svc_ttrpc_address(ctx->config);
	const struct config_listener *l = &ctx->config->ttrpc;
	/* [ttrpc] address may name a directory of its own, made as the gRPC
	 * socket's is */
	if (fs_mkdir_parent(path, 0711, err) < 0)
		return -1;
	ctx->ttrpc = ttrpc_server_new(ctx->loop, path, l->uid, l->gid, handle, ctx, err);
	return ctx->ttrpc ? 0 : -1;
}

void svc_events_ttrpc_stop(struct svc_ctx *ctx)
{
	ttrpc_server_close(ctx->ttrpc);
	ctx->ttrpc = NULL;
}
