/* Plugins' own gRPC services (ABI 1.3, service.h): registered during init,
 * put on the daemon's server when it starts serving (services_serve), taken
 * off when their plugin fails to start; and the host members a handler
 * answers its calls with. A plugin's method becomes an rpc_method that takes
 * its messages undecoded (core/rpc: input NULL, on_bytes) and hands them to
 * the plugin's handler with the plugin's `self`. */
#include <stdlib.h>
#include <string.h>

#include "registry/registry_int.h"
#include "rpc/rpc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

/* What an rpc_method of a plugin's service carries (its `data`). */
struct served_method {
	const struct ucd_method *m;
	void *self;
	struct registry_plugin *p;
};

struct plugin_service {
	char *name;
	void *self;
	struct rpc_method *methods;   /* paths "/<name>/<method>", owned */
	struct served_method *sm;
	size_t n;
	bool served;
};

static bool valid_name(const char *s, bool dots)
{
	if (s == NULL || *s == 0 || strlen(s) > 200)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      (dots && c == '.')))
			return false;
	}
	return true;
}

static struct served_method *served(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

static void tramp_bytes(struct rpc_call *call, const uint8_t *data, size_t len)
{
	struct served_method *sm = served(call);
	sm->m->on_message(sm->self, (struct ucd_server_call *)call, data, len);
}

static void tramp_half_close(struct rpc_call *call)
{
	struct served_method *sm = served(call);
	sm->m->on_half_close(sm->self, (struct ucd_server_call *)call);
}

static void tramp_cancel(struct rpc_call *call)
{
	struct served_method *sm = served(call);
	sm->m->on_cancel(sm->self, (struct ucd_server_call *)call);
}

static const enum rpc_kind kinds[] = {
	[UCD_METHOD_UNARY] = RPC_UNARY,
	[UCD_METHOD_SERVER_STREAMING] = RPC_SERVER_STREAMING,
	[UCD_METHOD_CLIENT_STREAMING] = RPC_CLIENT_STREAMING,
	[UCD_METHOD_BIDI_STREAMING] = RPC_BIDI_STREAMING,
};

static int check_service(const struct ucd_service *svc, struct ucd_error **err)
{
	if (svc == NULL || !valid_name(svc->name, true))
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register: the service name `%s` is not a gRPC "
		                 "service name (letters, digits, `_` and `.`)", svc && svc->name ? svc->name : "");
	if (svc->methods == NULL || svc->n_methods == 0 || svc->n_methods > 1000)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register(`%s`): %zu methods (1 to 1000)",
		                 svc->name, svc->methods ? svc->n_methods : 0);
	for (size_t i = 0; i < svc->n_methods; i++) {
		const struct ucd_method *m = &svc->methods[i];
		if (!valid_name(m->name, false))
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register(`%s`): method %zu: the name `%s` "
			                 "is not a gRPC method name (letters, digits and `_`)", svc->name, i,
			                 m->name ? m->name : "");
		if (m->kind < UCD_METHOD_UNARY || m->kind > UCD_METHOD_BIDI_STREAMING)
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register(`%s`): method `%s`: unknown "
			                 "kind %d", svc->name, m->name, m->kind);
		if (m->on_message == NULL)
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register(`%s`): method `%s` has no "
			                 "on_message", svc->name, m->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(svc->methods[j].name, m->name) == 0)
				return error_set(err, UCD_INVALID_ARGUMENT, 0, "service_register(`%s`): method `%s` is "
				                 "listed twice", svc->name, m->name);
	}
	return 0;
}

int host_service_register(const struct ucd_init_ctx *ic, const struct ucd_service *svc, void *self,
                          struct ucd_error **err)
{
	int r = registry_during_init(ic, "service_register", err);
	if (r < 0)
		return r;
	if ((r = check_service(svc, err)) < 0)
		return r;
	struct registry_plugin *p = registry_ctx_plugin(ic);
	for (size_t i = 0; i < p->services.n; i++)
		if (strcmp(((struct plugin_service *)p->services.v[i])->name, svc->name) == 0)
			return error_set(err, UCD_ALREADY_EXISTS, 0, "service_register: plugin `%s` registered `%s` "
			                 "already", p->uri, svc->name);
	struct plugin_service *ps = xcalloc(1, sizeof *ps);
	ps->name = xstrdup(svc->name);
	ps->self = self;
	ps->n = svc->n_methods;
	ps->methods = xcalloc(ps->n, sizeof *ps->methods);
	ps->sm = xcalloc(ps->n, sizeof *ps->sm);
	for (size_t i = 0; i < ps->n; i++) {
		const struct ucd_method *m = &svc->methods[i];
		ps->sm[i] = (struct served_method){m, self, p};
		ps->methods[i] = (struct rpc_method){
			.path = xasprintf("/%s/%s", svc->name, m->name),
			.kind = kinds[m->kind],
			.input = NULL,
			.namespaced = m->namespaced != 0,
			.on_bytes = tramp_bytes,
			.on_half_close = m->on_half_close ? tramp_half_close : NULL,
			.on_cancel = m->on_cancel ? tramp_cancel : NULL,
			.data = &ps->sm[i],
		};
	}
	ptrvec_push(&p->services, ps);
	return 0;
}

/* Who serves `name` already: a plugin's URI, or the daemon. */
static const char *server_of(const struct registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->inited.n; i++) {
		const struct registry_plugin *q = reg->inited.v[i];
		for (size_t j = 0; j < q->services.n; j++) {
			const struct plugin_service *ps = q->services.v[j];
			if (ps->served && strcmp(ps->name, name) == 0)
				return q->uri;
		}
	}
	return NULL;
}

int services_serve(struct registry_plugin *p, struct rpc_server *server, char **msg)
{
	for (size_t i = 0; i < p->services.n; i++) {
		const struct plugin_service *ps = p->services.v[i];
		if (rpc_server_has_service(server, ps->name)) {
			const char *by = server_of(p->reg, ps->name);
			*msg = by != NULL ? xasprintf("service `%s` is already served by plugin `%s`", ps->name, by)
			                  : xasprintf("service `%s` is already served by the daemon", ps->name);
			return -1;
		}
	}
	for (size_t i = 0; i < p->services.n; i++) {
		struct plugin_service *ps = p->services.v[i];
		rpc_server_register(server, ps->methods, ps->n);
		ps->served = true;
		log_msg(LOG_DEBUG, NULL, "plugin \"%s\" serves %s (%zu methods)", p->uri, ps->name, ps->n);
	}
	return 0;
}

void services_withdraw(struct registry_plugin *p, struct rpc_server *server)
{
	for (size_t i = 0; i < p->services.n; i++) {
		struct plugin_service *ps = p->services.v[i];
		if (ps->served && server != NULL)
			rpc_server_unregister(server, ps->name);
		ps->served = false;
	}
}

const char *services_names(const struct registry_plugin *p, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < p->services.n; i++) {
		const struct plugin_service *ps = p->services.v[i];
		if (ps->served && len < n)   /* what does not fit is left out */
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "", ps->name);
	}
	return buf;
}

void services_free(struct registry_plugin *p)
{
	for (size_t i = 0; i < p->services.n; i++) {
		struct plugin_service *ps = p->services.v[i];
		for (size_t j = 0; j < ps->n; j++)
			free((char *)ps->methods[j].path);
		free(ps->methods);
		free(ps->sm);
		free(ps->name);
		free(ps);
	}
	ptrvec_fini(&p->services);
}

/* ---- answering: the server-call members ---- */

static int server_call_of(struct ucd_server_call *call, const char *what, struct rpc_call **rc, struct ucd_error **err)
{
	*rc = (struct rpc_call *)call;
	if (*rc == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: no call given", what);
	struct served_method *sm = served(*rc);
	if (!registry_on_loop(sm->p->reg))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: plugin `%s` called it off the loop thread", what,
		                 sm->p->uri);
	return 0;
}

int host_server_call_send(struct ucd_server_call *call, const void *data, size_t len, struct ucd_error **err)
{
	struct rpc_call *rc;
	int r = server_call_of(call, "server_call_send", &rc, err);
	if (r < 0)
		return r;
	if (data == NULL && len > 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "server_call_send: %zu bytes without data", len);
	rpc_call_send_bytes(rc, data, len);
	return 0;
}

int host_server_call_finish(struct ucd_server_call *call, int code, const char *message, struct ucd_error **err)
{
	struct rpc_call *rc;
	int r = server_call_of(call, "server_call_finish", &rc, err);
	if (r < 0)
		return r;
	if (code < UCD_OK || code > UCD_UNAUTHENTICATED) {
		rpc_call_finish(rc, UCD_UNKNOWN, "plugin `%s` answered with status %d, which is no gRPC code",
		                served(rc)->p->uri, code);
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "server_call_finish: %d is no status code", code);
	}
	if (message != NULL && *message)
		rpc_call_finish(rc, code, "%s", message);
	else
		rpc_call_finish(rc, code, NULL);
	return 0;
}

const char *host_server_call_metadata(struct ucd_server_call *call, const char *name)
{
	struct rpc_call *rc;
	if (name == NULL || server_call_of(call, "server_call_metadata", &rc, NULL) < 0)
		return NULL;
	return rpc_call_header(rc, name);
}

int host_server_call_ref(struct ucd_server_call *call, struct ucd_error **err)
{
	struct rpc_call *rc;
	int r = server_call_of(call, "server_call_ref", &rc, err);
	if (r == 0)
		rpc_call_ref(rc);
	return r;
}

int host_server_call_unref(struct ucd_server_call *call, struct ucd_error **err)
{
	struct rpc_call *rc;
	int r = server_call_of(call, "server_call_unref", &rc, err);
	if (r == 0)
		rpc_call_unref(rc);
	return r;
}

int host_server_call_done(struct ucd_server_call *call)
{
	struct rpc_call *rc;
	if (server_call_of(call, "server_call_done", &rc, NULL) < 0)
		return 1;
	return rpc_call_done(rc);
}

void host_server_call_set_data(struct ucd_server_call *call, void *data)
{
	struct rpc_call *rc;
	if (server_call_of(call, "server_call_set_data", &rc, NULL) == 0)
		rpc_call_set_data(rc, data);
}

void *host_server_call_data(struct ucd_server_call *call)
{
	struct rpc_call *rc;
	if (server_call_of(call, "server_call_data", &rc, NULL) < 0)
		return NULL;
	return rpc_call_data(rc);
}
