/* Requests in, answers out: the plugin's side of the daemon's service door
 * (service.h), with the statuses grpc-go's generated servers give. */
#include <stdio.h>
#include <stdlib.h>

#include "cri.h"

ProtobufCMessage *cri_decode(struct ucd_server_call *call, const ProtobufCMessageDescriptor *desc,
                             const uint8_t *data, size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
	if (m == NULL) {
		char msg[256];
		snprintf(msg, sizeof msg, "grpc: error unmarshalling request: invalid %s message", desc->name);
		cri_host->server_call_finish(call, UCD_INTERNAL, msg, NULL);
	}
	return m;
}

void cri_reply(struct ucd_server_call *call, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL) {
		cri_host->server_call_finish(call, UCD_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return;
	}
	protobuf_c_message_pack(msg, buf);
	cri_host->server_call_send(call, buf, n, NULL);
	cri_host->server_call_finish(call, UCD_OK, NULL, NULL);
	free(buf);
}

void cri_unimplemented(struct ucd_server_call *call, const char *method)
{
	char msg[128];
	snprintf(msg, sizeof msg, "method %s not implemented", method);
	cri_host->server_call_finish(call, UCD_UNIMPLEMENTED, msg, NULL);
}
