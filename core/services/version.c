/* containerd.services.version.v1.Version */
#include "build_info.h"
#include "containerd/services/version/v1/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "util/mem.h"

static void version(struct rpc_call *call, const ProtobufCMessage *msg)
{
	Containerd__Services__Version__V1__VersionResponse resp =
		CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
	resp.version = UCD_VERSION;
	resp.revision = UCD_REVISION;
	rpc_call_reply(call, &resp.base);
}

static struct rpc_method methods[] = {
	{RPC_METHOD("/containerd.services.version.v1.Version/Version", RPC_UNARY, &google__protobuf__empty__descriptor, false,
	 version)},
};

void svc_version_register(struct svc_ctx *ctx)
{
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
