/* containerd.services.namespaces.v1.Namespaces over the metadata store
 * (containerd's services/namespaces/local.go). Not namespaced itself. */
#include <stdlib.h>

#include "containerd/events/namespace.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "events/events.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/svc_util.h"
#include "util/mem.h"

typedef Containerd__Services__Namespaces__V1__Namespace Namespace;

static struct svc_ctx *ctx_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

static void ns_get(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Namespaces__V1__GetNamespaceRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	Namespace *ns = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_namespace_get(db, req->name, &ns, &e) < 0)
		{ svc_tx_fail(call, db, e); return; }
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Namespaces__V1__GetNamespaceResponse resp =
			CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_RESPONSE__INIT;
		resp.namespace_ = ns;
		rpc_call_reply(call, &resp.base);
	}
	md_free(ns);
}

static void ns_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	Namespace **list = NULL;
	size_t n = 0;
	if (!svc_tx_begin(call, db))
		return;
	if (md_namespace_list(db, &list, &n, &e) < 0)
		{ svc_tx_fail(call, db, e); return; }
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Namespaces__V1__ListNamespacesResponse resp =
			CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_RESPONSE__INIT;
		resp.namespaces = list;
		resp.n_namespaces = n;
		rpc_call_reply(call, &resp.base);
	}
	md_free_array(list, n);
}

static void ns_create(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Namespaces__V1__CreateNamespaceRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	Namespace empty = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
	const Namespace *in = req->namespace_ ? req->namespace_ : &empty;
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	autofree struct md_kv *kv = svc_kv_from_map((void *const *)in->labels, in->n_labels);
	if (md_namespace_create(ctx->db, in->name, kv, in->n_labels, &e) < 0)
		{ svc_tx_fail(call, ctx->db, e); return; }
	if (!svc_tx_commit(call, ctx->db))
		return;

	Containerd__Events__NamespaceCreate ev = CONTAINERD__EVENTS__NAMESPACE_CREATE__INIT;
	ev.name = in->name;
	ev.n_labels = in->n_labels;
	ev.labels = (Containerd__Events__NamespaceCreate__LabelsEntry **)svc_map_borrow(
		(void *const *)in->labels, in->n_labels, &containerd__events__namespace_create__labels_entry__descriptor);
	events_publish(ctx->events, svc_event_namespace(call, in->name), "/namespaces/create", &ev.base);
	svc_map_borrow_free((void **)ev.labels, ev.n_labels);

	/* containerd answers with the namespace as it was asked for */
	Containerd__Services__Namespaces__V1__CreateNamespaceResponse resp =
		CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_RESPONSE__INIT;
	resp.namespace_ = (Namespace *)in;
	rpc_call_reply(call, &resp.base);
}

static void ns_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Namespaces__V1__UpdateNamespaceRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	Namespace empty = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
	const Namespace *in = req->namespace_ ? req->namespace_ : &empty;
	const char *const *paths = req->update_mask ? (const char *const *)req->update_mask->paths : NULL;
	size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
	struct ucd_error *e = NULL;
	Namespace *out = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	autofree struct md_kv *kv = svc_kv_from_map((void *const *)in->labels, in->n_labels);
	if (md_namespace_update(ctx->db, in->name, kv, in->n_labels, paths, n_paths, &out, &e) < 0)
		{ svc_tx_fail(call, ctx->db, e); return; }
	if (!svc_tx_commit(call, ctx->db)) {
		md_free(out);
		return;
	}

	Containerd__Events__NamespaceUpdate ev = CONTAINERD__EVENTS__NAMESPACE_UPDATE__INIT;
	ev.name = in->name;
	ev.n_labels = in->n_labels;
	ev.labels = (Containerd__Events__NamespaceUpdate__LabelsEntry **)svc_map_borrow(
		(void *const *)in->labels, in->n_labels, &containerd__events__namespace_update__labels_entry__descriptor);
	events_publish(ctx->events, svc_event_namespace(call, in->name), "/namespaces/update", &ev.base);
	svc_map_borrow_free((void **)ev.labels, ev.n_labels);

	/* containerd 1.6 leaves the response empty; we return the namespace as
	 * stored (docs/metadata.md). */
	Containerd__Services__Namespaces__V1__UpdateNamespaceResponse resp =
		CONTAINERD__SERVICES__NAMESPACES__V1__UPDATE_NAMESPACE_RESPONSE__INIT;
	resp.namespace_ = out;
	rpc_call_reply(call, &resp.base);
	md_free(out);
}

static void ns_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Namespaces__V1__DeleteNamespaceRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_namespace_delete(ctx->db, req->name, &e) < 0)
		{ svc_tx_fail(call, ctx->db, e); return; }
	if (!svc_tx_commit(call, ctx->db))
		return;
	Containerd__Events__NamespaceDelete ev = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
	ev.name = req->name;
	events_publish(ctx->events, req->name, "/namespaces/delete", &ev.base);
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}

#define NS_SVC "/containerd.services.namespaces.v1.Namespaces/"
static struct rpc_method methods[] = {
	{ .path = NS_SVC "Get", .kind = RPC_UNARY,
	  .input = &containerd__services__namespaces__v1__get_namespace_request__descriptor, .on_message = ns_get },
	{ .path = NS_SVC "List", .kind = RPC_UNARY,
	  .input = &containerd__services__namespaces__v1__list_namespaces_request__descriptor, .on_message = ns_list },
	{ .path = NS_SVC "Create", .kind = RPC_UNARY,
	  .input = &containerd__services__namespaces__v1__create_namespace_request__descriptor,
	  .on_message = ns_create },
	{ .path = NS_SVC "Update", .kind = RPC_UNARY,
	  .input = &containerd__services__namespaces__v1__update_namespace_request__descriptor,
	  .on_message = ns_update },
	{ .path = NS_SVC "Delete", .kind = RPC_UNARY,
	  .input = &containerd__services__namespaces__v1__delete_namespace_request__descriptor,
	  .on_message = ns_delete },
};

void svc_namespaces_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
