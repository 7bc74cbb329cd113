/* containerd.services.leases.v1.Leases over the metadata store
 * (containerd's services/leases/service.go + metadata/leases.go).
 * Namespaced. containerd publishes no lease events, nor do we.
 *
 * Expiry: a lease whose `containerd.io/gc.expire` label (RFC 3339) lies in
 * the past is deleted by a timer set to the earliest expiry in the store,
 * and List first drops the expired leases of its namespace. (containerd
 * leaves them to its garbage collector, which removes them on its next run.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

#include "containerd/services/leases/v1/leases.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "gc/gc.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pbfield.h"

typedef Containerd__Services__Leases__V1__Lease Lease;
typedef Containerd__Services__Leases__V1__Resource Resource;

/* One daemon, one store: the expiry timer of this process. */
static struct {
	struct svc_ctx *ctx;
	uv_timer_t timer;
	bool running;
} expiry;

#define RETRY_MS 1000

static struct svc_ctx *ctx_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

static void expiry_fire(uv_timer_t *t);

/* Sets the timer to the earliest expiry in the store. */
static void expiry_schedule(void)
{
	if (!expiry.running)
		return;
	struct ucd_error *e = NULL;
	int64_t at = 0;
	int r = md_lease_next_expiry(expiry.ctx->db, &at, &e);
	if (r < 0) {
		log_error("leases: find the next expiry: %s", e->msg);
		error_free(e);
		uv_timer_start(&expiry.timer, expiry_fire, RETRY_MS, 0);
		return;
	}
	if (r == 0) {
		uv_timer_stop(&expiry.timer);
		return;
	}
	/* expired means strictly before now: fire just after the instant.
	 * Compared before subtracting: a date before 1677 is stored as
	 * INT64_MIN (md_parse_rfc3339), and INT64_MIN - now overflows. */
	int64_t now = md_now();
	uint64_t ms = at < now ? 0 : (uint64_t)(at - now) / 1000000 + 1;
	uv_timer_start(&expiry.timer, expiry_fire, ms, 0);
}

static void expiry_fire(uv_timer_t *t)
{
	(void)t;
	struct md_db *db = expiry.ctx->db;
	if (md_tx_depth(db) > 0) {   /* never inside someone's transaction */
		uv_timer_start(&expiry.timer, expiry_fire, RETRY_MS, 0);
		return;
	}
	struct ucd_error *e = NULL;
	size_t n = 0;
	if (md_lease_delete_expired(db, NULL, md_now(), &n, &e) < 0) {
		log_error("leases: delete expired leases: %s", e->msg);
		error_free(e);
		uv_timer_start(&expiry.timer, expiry_fire, RETRY_MS, 0);
		return;
	}
	if (n > 0) {
		log_debug("leases: deleted %zu expired lease%s", n, n == 1 ? "" : "s");
		gc_schedule(expiry.ctx->gc);   /* what they held may be garbage now */
	}
	expiry_schedule();
}

/* containerd's WithRandomID: "<nanoseconds of the second>-<base64url of 3
 * random bytes>" */
static char *random_id(void)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char b[3];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		uint64_t x = (uint64_t)md_now() * 6364136223846793005ULL;
		memcpy(b, &x, sizeof b);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	return xasprintf("%ld-%c%c%c%c", (long)ts.tv_nsec, b64[v >> 18 & 63], b64[v >> 12 & 63], b64[v >> 6 & 63],
			 b64[v & 63]);
}

/* containerd's adaptLease: id, labels.<key> */
static bool lease_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const Lease *l = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "id") == 0) {
		*value = l->id;
		return l->id[0] != '\0';
	}
	if (strcmp(path[0], "labels") == 0)
		return pbfield_get(&l->base, path, n, value);
	return false;
}

static void reply_empty(struct rpc_call *call)
{
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}

static void l_create(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__CreateRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	autofree char *id = req->id[0] ? xstrdup(req->id) : random_id();
	autofree struct md_kv *kv = svc_kv_from_map((void *const *)req->labels, req->n_labels);
	struct ucd_error *e = NULL;
	Lease *l = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_lease_create(db, rpc_call_namespace(call), id, kv, req->n_labels, &l, &e) < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db)) {
		expiry_schedule();
		Containerd__Services__Leases__V1__CreateResponse resp =
			CONTAINERD__SERVICES__LEASES__V1__CREATE_RESPONSE__INIT;
		resp.lease = l;
		rpc_call_reply(call, &resp.base);
	}
	md_free(l);
}

static void l_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__DeleteRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_lease_delete(db, rpc_call_namespace(call), req->id, &e) < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db))
		svc_reply_empty_after_gc(call, ctx_of(call)->gc, req->sync);
}

static void reply_list(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Leases__V1__ListResponse resp = CONTAINERD__SERVICES__LEASES__V1__LIST_RESPONSE__INIT;
	resp.leases = (Lease **)items;
	resp.n_leases = n;
	rpc_call_reply(call, &resp.base);
}

/* Expired leases go first, so a List never shows one (containerd's GC
 * would have removed it). */
static int read_all(struct md_db *db, const char *ns, ProtobufCMessage ***out, size_t *n, struct ucd_error **err)
{
	int r = md_lease_delete_expired(db, ns, md_now(), NULL, err);
	return r < 0 ? r : md_lease_list(db, ns, NULL, NULL, (Lease ***)out, n, err);
}

static void l_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__ListRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	svc_list(call, ctx->loop, ctx->db, req->filters, req->n_filters, lease_field, read_all, reply_list);
}

static void resource_op(struct rpc_call *call, const char *id, const Resource *res, bool add)
{
	struct md_db *db = ctx_of(call)->db;
	const char *ns = rpc_call_namespace(call);
	const char *type = res ? res->type : "", *rid = res ? res->id : "";
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, db))
		return;
	int r = add ? md_lease_add_resource(db, ns, id, type, rid, &e) : md_lease_delete_resource(db, ns, id, type, rid, &e);
	if (r < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db))
		reply_empty(call);
}

static void l_add_resource(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__AddResourceRequest *req = (const void *)msg;
	resource_op(call, req->id, req->resource, true);
}

static void l_delete_resource(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__DeleteResourceRequest *req = (const void *)msg;
	resource_op(call, req->id, req->resource, false);
}

static void l_list_resources(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Leases__V1__ListResourcesRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	Resource **list = NULL;
	size_t n = 0;
	if (!svc_tx_begin(call, db))
		return;
	if (md_lease_list_resources(db, rpc_call_namespace(call), req->id, &list, &n, &e) < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Leases__V1__ListResourcesResponse resp =
			CONTAINERD__SERVICES__LEASES__V1__LIST_RESOURCES_RESPONSE__INIT;
		resp.resources = list;
		resp.n_resources = n;
		rpc_call_reply(call, &resp.base);
	}
	md_free_array(list, n);
}

#define L_SVC "/containerd.services.leases.v1.Leases/"
static struct rpc_method methods[] = {
	{ .path = L_SVC "Create", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__create_request__descriptor, .on_message = l_create },
	{ .path = L_SVC "Delete", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__delete_request__descriptor, .on_message = l_delete },
	{ .path = L_SVC "List", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__list_request__descriptor, .on_message = l_list },
	{ .path = L_SVC "AddResource", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__add_resource_request__descriptor,
	  .on_message = l_add_resource },
	{ .path = L_SVC "DeleteResource", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__delete_resource_request__descriptor,
	  .on_message = l_delete_resource },
	{ .path = L_SVC "ListResources", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__leases__v1__list_resources_request__descriptor,
	  .on_message = l_list_resources },
};

void svc_leases_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
	if (!expiry.running && uv_timer_init(ctx->loop, &expiry.timer) == 0) {
		uv_unref((uv_handle_t *)&expiry.timer);   /* never keeps the loop alive */
		expiry.ctx = ctx;
		expiry.running = true;
		expiry_schedule();   /* leases a previous run left */
	}
}

void svc_leases_shutdown(struct svc_ctx *ctx)
{
	(void)ctx;
	if (!expiry.running)
		return;
	expiry.running = false;
	uv_timer_stop(&expiry.timer);
	uv_close((uv_handle_t *)&expiry.timer, NULL);
}
