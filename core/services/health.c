/* grpc.health.v1.Health: the standard gRPC health protocol. The daemon is
 * SERVING once it accepts calls; a named service is SERVING if registered. */
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "util/mem.h"

static int status_of(struct svc_ctx *ctx, const char *service)
{
	if (service == NULL || service[0] == 0 || rpc_server_has_service(ctx->server, service))
		return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
}

static void check(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
	int st = status_of(rpc_call_method_data(call), req->service);
	if (st == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN)
		return rpc_call_finish(call, UCD_NOT_FOUND, "unknown service");
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = st;
	rpc_call_reply(call, &resp.base);
}

/* Watch sends the status once and keeps the stream open: the status of a
 * running daemon does not change until it stops, which ends the stream. */
static void watch(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = status_of(rpc_call_method_data(call), req->service);
	rpc_call_send(call, &resp.base);
}

static struct rpc_method methods[] = {
	{RPC_METHOD("/grpc.health.v1.Health/Check", RPC_UNARY, &grpc__health__v1__health_check_request__descriptor, false, check)},
	{RPC_METHOD("/grpc.health.v1.Health/Watch", RPC_SERVER_STREAMING, &grpc__health__v1__health_check_request__descriptor,
	 false, watch)},
};

void svc_health_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
