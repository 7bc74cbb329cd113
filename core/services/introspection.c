/* containerd.services.introspection.v1.Introspection: what the registry
 * knows about every plugin (`ctr plugins ls`), and the server's UUID. */
#include <string.h>

#include "containerd/services/introspection/v1/introspection.pb-c.h"
#include "containerd/types/platform.pb-c.h"
#include "filters/filters.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "registry/registry.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "util/error.h"
#include "util/mem.h"

typedef Containerd__Services__Introspection__V1__Plugin pb_plugin;
typedef Containerd__Services__Introspection__V1__Plugin__ExportsEntry pb_export;

/* containerd's plugin adaptor: type, id, capabilities (any of them). */
static bool plugin_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const pb_plugin *p = obj;
	if (n != 1)
		return false;
	if (strcmp(path[0], "type") == 0) {
		*value = p->type;
		return p->type[0] != 0;
	}
	if (strcmp(path[0], "id") == 0) {
		*value = p->id;
		return p->id[0] != 0;
	}
	return false;
}

/* Strings are borrowed from the registry; only the containers are ours. */
static void plugin_free(pb_plugin *p)
{
	for (size_t j = 0; j < p->n_platforms; j++)
		free(p->platforms[j]);
	free(p->platforms);
	for (size_t j = 0; j < p->n_exports; j++)
		free(p->exports[j]);
	free(p->exports);
	free(p->init_err);
	free(p);
}

static pb_plugin *to_pb(const struct registry_plugin *rp)
{
	pb_plugin *p = xmalloc(sizeof *p);
	containerd__services__introspection__v1__plugin__init(p);
	p->type = (char *)registry_plugin_type(rp);
	p->id = (char *)registry_plugin_id(rp);
	const char *const *req = registry_plugin_requires(rp);
	while (req[p->n_requires])
		p->n_requires++;
	p->requires = (char **)req;
	const char *const *caps = registry_plugin_capabilities(rp);
	while (caps[p->n_capabilities])
		p->n_capabilities++;
	p->capabilities = (char **)caps;

	size_t np = 0;
	const struct registry_platform *plats = registry_plugin_platforms(rp, &np);
	p->platforms = xcalloc(np, sizeof *p->platforms);
	for (size_t i = 0; i < np; i++) {
		Containerd__Types__Platform *pl = xmalloc(sizeof *pl);
		containerd__types__platform__init(pl);
		pl->os = (char *)plats[i].os;
		pl->architecture = (char *)plats[i].architecture;
		pl->variant = (char *)(plats[i].variant ? plats[i].variant : "");
		p->platforms[p->n_platforms++] = pl;
	}
	const char *const *ex = registry_plugin_exports(rp);
	size_t ne = 0;
	while (ex[ne * 2])
		ne++;
	p->exports = xcalloc(ne, sizeof *p->exports);
	for (size_t i = 0; i < ne; i++) {
		pb_export *e = xmalloc(sizeof *e);
		containerd__services__introspection__v1__plugin__exports_entry__init(e);
		e->key = (char *)ex[2 * i];
		e->value = (char *)ex[2 * i + 1];
		p->exports[p->n_exports++] = e;
	}
	const char *init_err = registry_plugin_init_err(rp);
	if (init_err != NULL) {
		Google__Rpc__Status *st = xmalloc(sizeof *st);
		google__rpc__status__init(st);
		st->code = registry_plugin_code(rp) ? registry_plugin_code(rp) : UCD_UNKNOWN;
		st->message = (char *)init_err;
		p->init_err = st;
	}
	return p;
}

static void plugins(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct svc_ctx *ctx = rpc_call_method_data(call);
	const Containerd__Services__Introspection__V1__PluginsRequest *req = (const void *)msg;
	struct ucd_error *e = NULL;
	struct filter *f = filter_parse((const char *const *)req->filters, req->n_filters, &e);
	if (f == NULL && e != NULL)
		return rpc_call_fail(call, e);
	Containerd__Services__Introspection__V1__PluginsResponse resp =
		CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_RESPONSE__INIT;
	size_t total = registry_count(ctx->registry);
	resp.plugins = xcalloc(total, sizeof *resp.plugins);
	for (size_t i = 0; i < total; i++) {
		const struct registry_plugin *rp = registry_at(ctx->registry, i);
		enum registry_status st = registry_plugin_status(rp);
		if (st == REGISTRY_DISABLED || st == REGISTRY_PENDING)
			continue;   /* containerd leaves disabled plugins out */
		pb_plugin *p = to_pb(rp);
		if (f != NULL && !filter_match(f, plugin_field, p))
			plugin_free(p);
		else
			resp.plugins[resp.n_plugins++] = p;
	}
	filter_free(f);
	rpc_call_reply(call, &resp.base);
	for (size_t i = 0; i < resp.n_plugins; i++)
		plugin_free(resp.plugins[i]);
	free(resp.plugins);
}

static void server(struct rpc_call *call, const ProtobufCMessage *msg)
{
	struct svc_ctx *ctx = rpc_call_method_data(call);
	Containerd__Services__Introspection__V1__ServerResponse resp =
		CONTAINERD__SERVICES__INTROSPECTION__V1__SERVER_RESPONSE__INIT;
	resp.uuid = (char *)ctx->uuid;
	rpc_call_reply(call, &resp.base);
}

#define SVC "/containerd.services.introspection.v1.Introspection/"
static struct rpc_method methods[] = {
	{RPC_METHOD(SVC "Plugins", RPC_UNARY, &containerd__services__introspection__v1__plugins_request__descriptor, false, plugins)},
	{RPC_METHOD(SVC "Server", RPC_UNARY, &google__protobuf__empty__descriptor, false, server)},
};

void svc_introspection_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
