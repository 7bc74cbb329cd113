/* The CRI plugin (io.containerd.grpc.v1.cri): runtime.v1.RuntimeService and
 * runtime.v1.ImageService on the daemon's socket, in namespace k8s.io.
 *
 *   plugin.c     the descriptor, init and close, the two services' tables
 *   status.c     Version and Status
 *   reply.c      decoding requests and answering, as grpc-go's servers do
 *
 * What is not implemented yet answers UNIMPLEMENTED in grpc-go's words
 * (docs/cri.md). */
#pragma once
#include <ucontainerd/ucontainerd.h>

#include "runtime/v1/api.pb-c.h"

struct cri {
	const struct ucd_init_ctx *ic;
};

extern const struct ucd_host *cri_host;
/* The daemon's version (plugin.c asks its Version service at start). */
extern char cri_runtime_version[64];

/* Decodes a request of `desc` (protobuf-c), or ends the call with the
 * status the daemon's own services give an undecodable request and
 * returns NULL. Free with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *cri_decode(struct ucd_server_call *call, const ProtobufCMessageDescriptor *desc,
                             const uint8_t *data, size_t len);
/* Sends `msg` and finishes the call with OK. */
void cri_reply(struct ucd_server_call *call, const ProtobufCMessage *msg);
/* Finishes with UNIMPLEMENTED, "method <name> not implemented". */
void cri_unimplemented(struct ucd_server_call *call, const char *method);

void cri_version(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len);
void cri_status(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len);
