/* containerd.services.containers.v1.Containers over the metadata store
 * (containerd's services/containers/local.go). Namespaced. */
#include <string.h>

#include "containerd/events/container.pb-c.h"
#include "containerd/services/containers/v1/containers.pb-c.h"
#include "events/events.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/pbfield.h"

typedef Containerd__Services__Containers__V1__Container Container;

static struct svc_ctx *ctx_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

/* containerd's adaptContainer: id, image, runtime.name, labels.<key> */
static bool container_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const Container *c = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "id") == 0) {
		*value = c->id;
		return c->id[0] != '\0';
	}
	if (strcmp(path[0], "image") == 0) {
		*value = c->image;
		return c->image[0] != '\0';
	}
	if (strcmp(path[0], "runtime") == 0) {
		if (n <= 1 || strcmp(path[1], "name") != 0 || c->runtime == NULL)
			return false;
		*value = c->runtime->name;
		return c->runtime->name[0] != '\0';
	}
	if (strcmp(path[0], "labels") == 0)
		return pbfield_get(&c->base, path, n, value);
	return false;
}

static int read_all(struct md_db *db, const char *ns, ProtobufCMessage ***out, size_t *n, struct ucd_error **err)
{
	return md_container_list(db, ns, NULL, NULL, (Container ***)out, n, err);
}

/* Reads every container of the namespace in one transaction (as containerd
 * does), then filters them off the loop and hands the survivors to reply. */
static void list(struct rpc_call *call, const Containerd__Services__Containers__V1__ListContainersRequest *req,
		 svc_list_reply_fn reply)
{
	struct svc_ctx *ctx = ctx_of(call);
	svc_list(call, ctx->loop, ctx->db, req->filters, req->n_filters, container_field, read_all, reply);
}

static void c_get(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Containers__V1__GetContainerRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	Container *c = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_container_get(db, rpc_call_namespace(call), req->id, &c, &e) < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Containers__V1__GetContainerResponse resp =
			CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_RESPONSE__INIT;
		resp.container = c;
		rpc_call_reply(call, &resp.base);
	}
	md_free(c);
}

static void reply_list(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Containers__V1__ListContainersResponse resp =
		CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_RESPONSE__INIT;
	resp.containers = (Container **)items;
	resp.n_containers = n;
	rpc_call_reply(call, &resp.base);
}

static void send_one(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Containers__V1__ListContainerMessage m =
		CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINER_MESSAGE__INIT;
	m.container = (Container *)items[0];
	rpc_call_send(call, &m.base);
}

/* One ListContainerMessage per container, as fast as the client reads. */
static void reply_stream(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	svc_stream_paced(call, items, n, 1, send_one);
}

static void c_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	list(call, (const void *)msg, reply_list);
}

static void c_list_stream(struct rpc_call *call, const ProtobufCMessage *msg)
{
	list(call, (const void *)msg, reply_stream);
}

static void c_create(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Containers__V1__CreateContainerRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	Container empty = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	struct ucd_error *e = NULL;
	Container *c = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_container_create(ctx->db, ns, req->container ? req->container : &empty, &c, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db)) {
		md_free(c);
		return;
	}
	Containerd__Events__ContainerCreate ev = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
	Containerd__Events__ContainerCreate__Runtime rt = CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;
	ev.id = c->id;
	ev.image = c->image;
	if (c->runtime != NULL) {
		rt.name = c->runtime->name;
		rt.options = c->runtime->options;
	}
	ev.runtime = &rt;
	events_publish(ctx->events, ns, "/containers/create", &ev.base);

	Containerd__Services__Containers__V1__CreateContainerResponse resp =
		CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_RESPONSE__INIT;
	resp.container = c;
	rpc_call_reply(call, &resp.base);
	md_free(c);
}

static void c_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Containers__V1__UpdateContainerRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	if (req->container == NULL || req->container->id[0] == '\0') {
		rpc_call_finish(call, UCD_INVALID_ARGUMENT, "Container.ID required");
		return;
	}
	const char *const *paths = req->update_mask ? (const char *const *)req->update_mask->paths : NULL;
	size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
	struct ucd_error *e = NULL;
	Container *c = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_container_update(ctx->db, ns, req->container, paths, n_paths, &c, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db)) {
		md_free(c);
		return;
	}
	Containerd__Events__ContainerUpdate ev = CONTAINERD__EVENTS__CONTAINER_UPDATE__INIT;
	ev.id = c->id;
	ev.image = c->image;
	ev.snapshot_key = c->snapshot_key;
	ev.n_labels = c->n_labels;
	ev.labels = (Containerd__Events__ContainerUpdate__LabelsEntry **)svc_map_borrow(
		(void *const *)c->labels, c->n_labels, &containerd__events__container_update__labels_entry__descriptor);
	events_publish(ctx->events, ns, "/containers/update", &ev.base);
	svc_map_borrow_free((void **)ev.labels, ev.n_labels);

	Containerd__Services__Containers__V1__UpdateContainerResponse resp =
		CONTAINERD__SERVICES__CONTAINERS__V1__UPDATE_CONTAINER_RESPONSE__INIT;
	resp.container = c;
	rpc_call_reply(call, &resp.base);
	md_free(c);
}

static void c_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Containers__V1__DeleteContainerRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_container_delete(ctx->db, ns, req->id, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db))
		return;
	Containerd__Events__ContainerDelete ev = CONTAINERD__EVENTS__CONTAINER_DELETE__INIT;
	ev.id = req->id;
	events_publish(ctx->events, ns, "/containers/delete", &ev.base);
	svc_reply_empty_after_gc(call, ctx->gc, false);
}

#define C_SVC "/containerd.services.containers.v1.Containers/"
static struct rpc_method methods[] = {
	{ .path = C_SVC "Get", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__containers__v1__get_container_request__descriptor, .on_message = c_get },
	{ .path = C_SVC "List", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__containers__v1__list_containers_request__descriptor, .on_message = c_list },
	{ .path = C_SVC "ListStream", .kind = RPC_SERVER_STREAMING, .namespaced = true,
	  .input = &containerd__services__containers__v1__list_containers_request__descriptor,
	  .on_message = c_list_stream },
	{ .path = C_SVC "Create", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__containers__v1__create_container_request__descriptor,
	  .on_message = c_create },
	{ .path = C_SVC "Update", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__containers__v1__update_container_request__descriptor,
	  .on_message = c_update },
	{ .path = C_SVC "Delete", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__containers__v1__delete_container_request__descriptor,
	  .on_message = c_delete },
};

void svc_containers_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
