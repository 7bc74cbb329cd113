/* Version and Status: what the kubelet asks first, and what `crictl version`
 * and `crictl info` show. */
#include <stdlib.h>
#include <string.h>

#include "cri.h"

/* The daemon's version, asked of its Version service once it serves
 * (plugin.c); "unknown" until the answer is in. */
char cri_runtime_version[64] = "unknown";

void cri_version(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len)
{
	(void)self;
	ProtobufCMessage *req = cri_decode(call, &runtime__v1__version_request__descriptor, data, len);
	if (req == NULL)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	Runtime__V1__VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;
	/* as containerd's CRI: the kubelet API version it was written for, the
	 * runtime's name and version, and the CRI version served */
	r.version = "0.1.0";
	r.runtime_name = "ucontainerd";
	r.runtime_version = cri_runtime_version;
	r.runtime_api_version = "v1";
	cri_reply(call, &r.base);
}

void cri_status(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len)
{
	(void)self;
	ProtobufCMessage *req = cri_decode(call, &runtime__v1__status_request__descriptor, data, len);
	if (req == NULL)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	Runtime__V1__RuntimeCondition runtime_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
	runtime_ready.type = "RuntimeReady";
	runtime_ready.status = true;
	/* No CNI yet (docs/cri.md): the network is not ready, in the words
	 * containerd uses while its CNI plugin is not initialized. */
	Runtime__V1__RuntimeCondition network_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
	network_ready.type = "NetworkReady";
	network_ready.status = false;
	network_ready.reason = "NetworkPluginNotReady";
	network_ready.message = "Network plugin returns error: cni plugin not initialized";
	Runtime__V1__RuntimeCondition *conds[] = {&runtime_ready, &network_ready};
	Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
	status.n_conditions = 2;
	status.conditions = conds;
	Runtime__V1__StatusResponse r = RUNTIME__V1__STATUS_RESPONSE__INIT;
	r.status = &status;
	cri_reply(call, &r.base);
}
