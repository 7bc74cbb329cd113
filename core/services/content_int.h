/* Shared between the files of the Content service (content.c, content_read.c,
 * content_write.c); not for other modules.
 *
 * The service is containerd's contentserver over its metadata content store:
 * the metadata store (core/metadata/content.c) says which namespace sees
 * which blob and which ingests it has; the content plugin holds the bytes.
 * Every plugin op runs on the thread pool (uv_queue_work); the metadata is
 * read and written on the loop thread. Blobs and ingests no namespace holds
 * any more are removed by the garbage collector (core/gc), as in
 * containerd; a commit brackets its backend write with gc_mutation_begin /
 * gc_mutation_end so that a collection never sees a blob whose row is not
 * written yet. */
#pragma once
#include <stdbool.h>
#include <ucontainerd/content.h>
#include <ucontainerd/host.h>

#include "containerd/services/content/v1/content.pb-c.h"
#include "metadata/db.h"
#include "rpc/rpc.h"
#include "services/services.h"

typedef Containerd__Services__Content__V1__Info ContentInfo;

/* One per daemon (the service registers once). */
struct csvc {
	struct svc_ctx *ctx;
	const struct ucd_content_ops *ops;   /* NULL: no content plugin is ok */
	void *self;
	const struct ucd_host *host;         /* frees what the plugin hands out */
	char *unavailable;                   /* why there is no plugin */
};

/* The service of a call (method data). */
struct csvc *csvc_of(struct rpc_call *call);
/* Fails the call with UNAVAILABLE when there is no content plugin; true
 * when there is one. */
bool csvc_ready(struct csvc *s, struct rpc_call *call);

/* An error of the plugin as containerd's errdefs would print it: the class
 * ("not found", "already exists", ...) appended to the message. Takes `e`. */
struct ucd_error *csvc_plugin_error(struct ucd_error *e);
/* "<digest>": go-digest's validation of a request's digest; NULL when ok. */
const char *csvc_digest_error(const char *digest);

/* Removes resource (type, id) from the request's lease, as containerd's
 * removeContentLease / removeIngestLease: nothing when there is no lease
 * or the lease does not hold it. Inside the request's transaction. */
int csvc_lease_untrack(struct rpc_call *call, struct md_db *db, const char *type, const char *id,
		       struct ucd_error **err);

void csvc_write_message(struct rpc_call *call, const ProtobufCMessage *msg);
void csvc_write_half_close(struct rpc_call *call);
void csvc_write_cancel(struct rpc_call *call);
void csvc_write_input_error(struct rpc_call *call, struct ucd_error *e);
void csvc_read(struct rpc_call *call, const ProtobufCMessage *msg);
