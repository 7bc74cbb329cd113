/* The plugin registry: records, dependency order, init and close, lookups.
 * See registry.h for the contract and docs/plugins.md for the operator's
 * view. Loop thread only. */
#include "registry/registry.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "registry/registry_int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

static const char *const no_strings[] = {NULL};

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

static void copy_list(struct ptrvec *dst, const char *const *src)
{
	for (; src != NULL && *src != NULL; src++)
		ptrvec_push(dst, xstrdup(*src));
}

static bool list_has(const struct ptrvec *pv, const char *s)
{
	for (size_t i = 0; i < pv->n; i++)
		if (strcmp(pv->v[i], s) == 0)
			return true;
	return false;
}

struct registry *registry_new(const struct registry_opts *opts, struct ucd_error **err)
{
	if (opts->root == NULL || opts->root[0] == '\0' || opts->state == NULL || opts->state[0] == '\0') {
		error_set(err, UCD_INVALID_ARGUMENT, 0, "plugin registry: root and state directories are required");
		return NULL;
	}
	struct registry *reg = xcalloc(1, sizeof *reg);
	host_fill(&reg->host);
	reg->plugin_dir = opts->plugin_dir ? xstrdup(opts->plugin_dir) : NULL;
	reg->root = xstrdup(opts->root);
	reg->state = xstrdup(opts->state);
	reg->address = dup_or_empty(opts->address);
	reg->ttrpc_address = dup_or_empty(opts->ttrpc_address);
	copy_list(&reg->disabled, opts->disabled);
	copy_list(&reg->required, opts->required);
	reg->plugin_table = opts->plugin_table;
	reg->plugin_table_arg = opts->plugin_table_arg;
	reg->loop_thread = pthread_self();
	reg->loop = opts->loop;
	return reg;
}

static void clear_meta(struct registry_plugin *p)
{
	ptrvec_free_all(&p->exports);
	ptrvec_free_all(&p->caps);
	for (size_t i = 0; i < p->n_platforms; i++) {
		free((char *)p->platforms[i].os);
		free((char *)p->platforms[i].architecture);
		free((char *)p->platforms[i].variant);
	}
	free(p->platforms);
	p->platforms = NULL;
	p->n_platforms = 0;
}

static void free_config(struct registry_plugin *p)
{
	ptrvec_free_all(&p->config_allocs);
	free(p->config);
	p->config = NULL;
	p->ic.config = NULL;
}

void registry_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	/* Dependents first: a plugin may use what it looked up until its close. */
	for (size_t i = reg->inited.n; i-- > 0;) {
		struct registry_plugin *p = reg->inited.v[i];
		calls_cancel_all(p);
		if (p->desc != NULL && p->desc->close != NULL) {
			log_msg(LOG_DEBUG, NULL, "closing plugin \"%s\"", p->uri);
			p->desc->close(p->self);
		}
		p->closed = true;
	}
	/* The close callbacks of the handles plugins closed on the loop run
	 * now, while their code is still mapped. */
	if (reg->loop != NULL)
		uv_run(reg->loop, UV_RUN_NOWAIT);
	for (size_t i = 0; i < reg->all.n; i++)
		free_config(reg->all.v[i]);
	/* Only after every close: ops of one plugin may point into another's .so. */
	for (size_t i = 0; i < reg->all.n; i++) {
		struct registry_plugin *p = reg->all.v[i];
		if (p->handle != NULL)
			dlclose(p->handle);
	}
	for (size_t i = 0; i < reg->all.n; i++) {
		struct registry_plugin *p = reg->all.v[i];
		clear_meta(p);
		services_free(p);
		ptrvec_free_all(&p->requires);
		free(p->uri);
		free(p->type);
		free(p->id);
		free(p->path);
		free(p->file);
		free(p->message);
		free(p->init_err);
		free(p->root);
		free(p->state);
		free(p);
	}
	ptrvec_fini(&reg->all);
	ptrvec_fini(&reg->order);
	ptrvec_fini(&reg->inited);
	ptrvec_free_all(&reg->disabled);
	ptrvec_free_all(&reg->required);
	free(reg->plugin_dir);
	free(reg->root);
	free(reg->state);
	free(reg->address);
	free(reg->ttrpc_address);
	free(reg);
}

/* ---- records ---- */

static struct registry_plugin *find_uri(const struct registry *reg, const char *uri)
{
	for (size_t i = 0; i < reg->all.n; i++) {
		struct registry_plugin *p = reg->all.v[i];
		if (!p->duplicate && strcmp(p->uri, uri) == 0)
			return p;
	}
	return NULL;
}

/* Takes ownership of uri, type, id. */
static struct registry_plugin *record_new(struct registry *reg, char *uri, char *type, char *id)
{
	struct registry_plugin *p = xcalloc(1, sizeof *p);
	p->reg = reg;
	p->uri = uri;
	p->type = type;
	p->id = id;
	p->status = REGISTRY_PENDING;
	list_init(&p->calls);
	ptrvec_push(&reg->all, p);
	return p;
}

static void log_outcome(const struct registry_plugin *p)
{
	char *type = log_value(p->type);
	char *id = log_value(p->id);
	char *msg = p->message ? log_value(p->message) : NULL;
	char *fields;
	switch (p->status) {
	case REGISTRY_SKIP:
		fields = xasprintf("error=%s type=%s id=%s", msg, type, id);
		log_msg(LOG_INFO, fields, "skip loading plugin \"%s\"...", p->uri);
		break;
	case REGISTRY_ERROR:
		fields = xasprintf("error=%s type=%s id=%s", msg, type, id);
		log_msg(LOG_WARN, fields, "failed to load plugin %s", p->uri);
		break;
	case REGISTRY_DISABLED:
		fields = xasprintf("type=%s id=%s", type, id);
		log_msg(LOG_INFO, fields, "plugin \"%s\" is disabled by configuration", p->uri);
		break;
	default:
		fields = NULL;
		break;
	}
	free(fields);
	free(msg);
	free(type);
	free(id);
}

/* Sets the status (takes no ownership of message) and logs it. */
static void set_status(struct registry_plugin *p, enum registry_status st, int code, const char *message)
{
	p->status = st;
	p->code = st == REGISTRY_SKIP || st == REGISTRY_ERROR ? (code > 0 ? code : UCD_UNKNOWN) : UCD_OK;
	free(p->message);
	free(p->init_err);
	p->message = message ? xstrdup(message) : NULL;
	p->init_err = NULL;
	if (st == REGISTRY_SKIP)
		p->init_err = xasprintf("%s: skip plugin", message);
	else if (st == REGISTRY_ERROR)
		p->init_err = xstrdup(message);
	if (st != REGISTRY_OK)
		clear_meta(p);
	log_outcome(p);
}

/* Records the final status of init. */
static void decide(struct registry_plugin *p, enum registry_status st, int code, const char *message)
{
	ptrvec_push(&p->reg->order, p);
	set_status(p, st, code, message);
}

/* ---- init ---- */

static const struct ucd_config_field no_fields[] = {UCD_FIELD_END};

static void init_one(struct registry *reg, struct registry_plugin *p)
{
	const struct ucd_plugin_desc *d = p->desc;
	char *type = log_value(p->type), *id = log_value(p->id);
	char *fields = xasprintf("type=%s id=%s", type, id);
	log_msg(LOG_INFO, fields, "loading plugin \"%s\"...", p->uri);
	free(fields);
	free(type);
	free(id);

	/* Config: defaults, then the operator's table. A plugin without fields
	 * still gets its table checked: any key in it is unknown. */
	const char *file = NULL;
	const struct toml_value *table = reg->plugin_table ? reg->plugin_table(reg->plugin_table_arg, p->uri, &file) : NULL;
	if (d->config_size > 0)
		p->config = xcalloc(1, d->config_size);
	char *msg = NULL;
	if (plugin_config_fill(d->config ? d->config : no_fields, p->config, table, file, &p->config_allocs, &msg) < 0) {
		free_config(p);
		decide(p, REGISTRY_ERROR, UCD_INVALID_ARGUMENT, msg);
		free(msg);
		return;
	}

	p->root = xasprintf("%s/%s", reg->root, p->uri);
	p->state = xasprintf("%s/%s", reg->state, p->uri);
	p->ic = (struct ucd_init_ctx){
		.size = sizeof(struct ucd_init_ctx),
		.uri = p->uri,
		.type = p->type,
		.id = p->id,
		.root = p->root,
		.state = p->state,
		.config = p->config,
		.address = reg->address,
		.ttrpc_address = reg->ttrpc_address,
	};
	struct ucd_plugin_out out = {0};
	struct ucd_error *e = NULL;
	p->in_init = true;
	int r = d->init(&reg->host, &p->ic, &out, &e);
	p->in_init = false;

	if (r == 0) {
		if (e != NULL) {
			log_msg(LOG_DEBUG, NULL, "plugin \"%s\" succeeded but left an error behind: %s", p->uri, e->msg);
			error_free(e);
		}
		p->self = out.self;
		p->ops = out.ops;
		ptrvec_push(&reg->inited, p);
		decide(p, REGISTRY_OK, UCD_OK, NULL);
		return;
	}
	/* A plugin that did not init keeps nothing: its config goes now, its
	 * .so stays mapped until registry_free (init may have left thread-local
	 * destructors or atexit handlers behind that point into it). */
	free_config(p);
	if (r == UCD_PLUGIN_SKIP) {
		decide(p, REGISTRY_SKIP, e ? e->code : UCD_UNKNOWN, e && e->msg ? e->msg : "skipped without a reason");
	} else {
		char *m;
		if (e != NULL && e->msg != NULL)
			m = xstrdup(e->msg);
		else if (r < 0)
			m = xasprintf("init failed with code %d (%s) without a message", -r, error_code_name(-r));
		else
			m = xasprintf("init returned %d, which is neither 0, UCD_PLUGIN_SKIP nor a negative code", r);
		decide(p, REGISTRY_ERROR, e ? e->code : (r < 0 ? -r : UCD_UNKNOWN), m);
		free(m);
	}
	error_free(e);
}

/* ---- dependency order ---- */

struct graph {
	struct registry_plugin **n;    /* nodes, sorted by URI */
	size_t count;
	bool *dep;                     /* dep[i * count + j]: i must init after j */
	int next_index, next_scc;
	size_t *stack, sp;
};

static bool requires_star(const struct registry_plugin *p)
{
	return p->requires.n == 1 && strcmp(p->requires.v[0], "*") == 0;
}

static bool *edge(struct graph *g, size_t i, size_t j)
{
	return &g->dep[i * g->count + j];
}

static void tarjan(struct graph *g, size_t v)
{
	struct registry_plugin *pv = g->n[v];
	pv->tj_index = pv->tj_low = g->next_index++;
	g->stack[g->sp++] = v;
	pv->tj_on_stack = true;
	for (size_t w = 0; w < g->count; w++) {
		if (!*edge(g, v, w))
			continue;
		struct registry_plugin *pw = g->n[w];
		if (pw->tj_index < 0) {
			tarjan(g, w);
			if (pw->tj_low < pv->tj_low)
				pv->tj_low = pw->tj_low;
		} else if (pw->tj_on_stack && pw->tj_index < pv->tj_low) {
			pv->tj_low = pw->tj_index;
		}
	}
	if (pv->tj_low == pv->tj_index) {
		size_t w;
		do {
			w = g->stack[--g->sp];
			g->n[w]->tj_on_stack = false;
			g->n[w]->scc = g->next_scc;
		} while (w != v);
		g->next_scc++;
	}
}

/* "dependency loop: `a` -> `b` -> `a`": the shortest way from v back to
 * itself within its strongly connected component. */
static char *loop_message(struct graph *g, size_t v)
{
	size_t *prev = xmalloc(g->count * sizeof *prev);
	size_t *queue = xmalloc(g->count * sizeof *queue);
	bool *seen = xcalloc(g->count, sizeof *seen);
	size_t head = 0, tail = 0;
	bool found = false;
	for (size_t w = 0; w < g->count; w++) {
		if (*edge(g, v, w) && g->n[w]->scc == g->n[v]->scc && !seen[w]) {
			seen[w] = true;
			prev[w] = v;
			queue[tail++] = w;
		}
	}
	while (head < tail && !found) {
		size_t u = queue[head++];
		if (u == v) {
			found = true;
			break;
		}
		for (size_t w = 0; w < g->count; w++) {
			if (*edge(g, u, w) && g->n[w]->scc == g->n[v]->scc && !seen[w]) {
				seen[w] = true;
				prev[w] = u;
				queue[tail++] = w;
			}
		}
	}
	/* Walk back from v (reached again) to v; collect the path reversed. */
	size_t *path = xmalloc((g->count + 1) * sizeof *path), len = 0;
	if (found) {
		size_t u = v;
		do {
			path[len++] = u;
			u = prev[u];
		} while (u != v && len < g->count);
	}
	path[len++] = v;
	size_t cap = 32;
	for (size_t i = 0; i < len; i++)
		cap += strlen(g->n[path[i]]->uri) + 8;
	char *msg = xmalloc(cap), *o = msg;
	o += sprintf(o, "dependency loop: ");
	for (size_t i = len; i-- > 0;)
		o += sprintf(o, "`%s`%s", g->n[path[i]]->uri, i ? " -> " : "");
	free(path);
	free(prev);
	free(queue);
	free(seen);
	return msg;
}

static int cmp_uri(const void *a, const void *b)
{
	const struct registry_plugin *pa = *(struct registry_plugin *const *)a;
	const struct registry_plugin *pb = *(struct registry_plugin *const *)b;
	return strcmp(pa->uri, pb->uri);
}

/* containerd's Graph: a plugin initializes after every plugin of each type it
 * requires; "*" = after everything that does not itself require "*"; ties
 * by URI. Members of a loop fail with the loop spelled out; everything else
 * (including plugins that require a member of a loop) is initialized. */
static void init_pending(struct registry *reg)
{
	struct graph g = {0};
	g.n = xmalloc((reg->all.n + 1) * sizeof *g.n);
	for (size_t i = 0; i < reg->all.n; i++) {
		struct registry_plugin *p = reg->all.v[i];
		if (p->status == REGISTRY_PENDING)
			g.n[g.count++] = p;
	}
	if (g.count == 0) {
		free(g.n);
		return;
	}
	qsort(g.n, g.count, sizeof *g.n, cmp_uri);
	g.dep = xcalloc(g.count * g.count, sizeof *g.dep);
	for (size_t i = 0; i < g.count; i++) {
		struct registry_plugin *pi = g.n[i];
		bool star = requires_star(pi);
		for (size_t j = 0; j < g.count; j++) {
			struct registry_plugin *pj = g.n[j];
			if (i == j)
				continue;
			if (star) {
				*edge(&g, i, j) = !requires_star(pj);
				continue;
			}
			for (size_t k = 0; k < pi->requires.n; k++)
				if (strcmp(pi->requires.v[k], pj->type) == 0)
					*edge(&g, i, j) = true;
		}
		pi->tj_index = -1;
		pi->placed = false;
	}
	g.stack = xmalloc(g.count * sizeof *g.stack);
	for (size_t i = 0; i < g.count; i++)
		if (g.n[i]->tj_index < 0)
			tarjan(&g, i);

	/* Loops: every member fails; the rest treat members as done (failed). */
	size_t *scc_size = xcalloc((size_t)g.next_scc, sizeof *scc_size);
	for (size_t i = 0; i < g.count; i++)
		scc_size[g.n[i]->scc]++;
	char **loop_msgs = xcalloc(g.count, sizeof *loop_msgs);
	for (size_t i = 0; i < g.count; i++)
		if (scc_size[g.n[i]->scc] > 1)
			loop_msgs[i] = loop_message(&g, i);
	for (size_t i = 0; i < g.count; i++) {
		if (loop_msgs[i] != NULL) {
			g.n[i]->placed = true;
			decide(g.n[i], REGISTRY_ERROR, UCD_FAILED_PRECONDITION, loop_msgs[i]);
			free(loop_msgs[i]);
		}
	}
	free(loop_msgs);
	free(scc_size);

	/* Kahn, always taking the smallest ready URI. What remains is acyclic,
	 * so something is ready until everything is placed. */
	for (;;) {
		size_t pick = g.count;
		bool left = false;
		for (size_t i = 0; i < g.count && pick == g.count; i++) {
			if (g.n[i]->placed)
				continue;
			left = true;
			bool ready = true;
			for (size_t j = 0; j < g.count && ready; j++)
				if (*edge(&g, i, j) && !g.n[j]->placed)
					ready = false;
			if (ready)
				pick = i;
		}
		if (!left)
			break;
		if (pick == g.count) {   /* cannot happen; never spin */
			for (size_t i = 0; i < g.count; i++)
				if (!g.n[i]->placed)
					pick = i;
		}
		g.n[pick]->placed = true;
		init_one(reg, g.n[pick]);
	}
	free(g.stack);
	free(g.dep);
	free(g.n);
}

/* ---- loading ---- */

static void load_file(struct registry *reg, const char *name)
{
	char *uri, *type, *id;
	if (!registry_parse_filename(name, &uri, &type, &id)) {
		char *v = log_value(name);
		char *fields = xasprintf("file=%s dir=%s", v, reg->plugin_dir);
		log_msg(LOG_WARN, fields,
		        "ignoring file in plugin directory: not named io.containerd.<kind>.<version>.<id>.so");
		free(fields);
		free(v);
		return;
	}
	char *path = xasprintf("%s/%s", reg->plugin_dir, name);
	struct registry_plugin *existing = find_uri(reg, uri);
	struct registry_plugin *p = record_new(reg, uri, type, id);
	p->path = path;
	p->file = xstrdup(name);
	if (existing != NULL) {
		p->duplicate = true;
		char *m = xasprintf("`%s` is ignored: plugin `%s` is already registered%s", name, uri,
		                    existing->builtin ? " (built into the daemon)" : "");
		decide(p, REGISTRY_ERROR, UCD_ALREADY_EXISTS, m);
		free(m);
		return;
	}
	if (registry_is_disabled(reg, uri)) {
		decide(p, REGISTRY_DISABLED, UCD_OK, NULL);
		return;
	}
	struct stat st = {0};
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		char *m = S_ISREG(st.st_mode) ? xasprintf("`%s` cannot be read: %s", name, strerror(errno))
		                              : xasprintf("`%s` is not a regular file", name);
		decide(p, REGISTRY_ERROR, UCD_FAILED_PRECONDITION, m);
		free(m);
		return;
	}
	struct ucd_error *e = NULL;
	if (loader_open(path, name, type, id, &p->handle, &p->desc, &e) < 0) {
		decide(p, REGISTRY_ERROR, e->code, e->msg);
		error_free(e);
		return;
	}
	copy_list(&p->requires, p->desc->requires_types);
}

int registry_load(struct registry *reg, struct ucd_error **err)
{
	if (reg->loaded)
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "plugins are already loaded");
	reg->loaded = true;
	if (reg->plugin_dir != NULL) {
		struct ptrvec names = {0};
		if (loader_list_dir(reg->plugin_dir, &names) < 0) {
			if (errno != ENOENT)
				return error_set(err, UCD_INTERNAL, errno, "read plugin directory `%s`: %s", reg->plugin_dir,
				                 strerror(errno));
			char *v = log_value(reg->plugin_dir);
			char *fields = xasprintf("dir=%s", v);
			log_msg(LOG_INFO, fields, "plugin directory does not exist: no plugins to load");
			free(fields);
			free(v);
		}
		for (size_t i = 0; i < names.n; i++)
			load_file(reg, names.v[i]);
		ptrvec_free_all(&names);
	}
	init_pending(reg);
	return registry_check_required(reg, err);
}

int registry_add_builtin(struct registry *reg, const struct ucd_plugin_desc *desc, struct ucd_error **err)
{
	if (desc == NULL || !loader_valid_type(desc->type) || !loader_valid_id(desc->id))
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "built-in plugin `%s.%s`: invalid type or id",
		                 desc && desc->type ? desc->type : "?", desc && desc->id ? desc->id : "?");
	char *uri = xasprintf("%s.%s", desc->type, desc->id);
	char *what = xasprintf("built-in plugin `%s`", uri);
	int r = loader_validate(desc, what, false, err);
	free(what);
	if (r < 0) {
		free(uri);
		return r;
	}
	if (find_uri(reg, uri) != NULL) {
		r = error_set(err, UCD_ALREADY_EXISTS, 0, "plugin `%s` is already registered", uri);
		free(uri);
		return r;
	}
	struct registry_plugin *p = record_new(reg, uri, xstrdup(desc->type), xstrdup(desc->id));
	p->builtin = true;
	p->file = xasprintf("built-in `%s`", uri);
	copy_list(&p->requires, desc->requires_types);
	if (registry_is_disabled(reg, uri)) {
		decide(p, REGISTRY_DISABLED, UCD_OK, NULL);
		return 1;
	}
	p->desc = desc;
	if (desc->init == NULL) {
		decide(p, REGISTRY_OK, UCD_OK, NULL);
		return 0;
	}
	if (reg->loaded)
		init_one(reg, p);
	return 0;
}

/* ---- required plugins ---- */

static const char *unavailable_reason(const struct registry_plugin *p, char *buf, size_t n)
{
	switch (p->status) {
	case REGISTRY_DISABLED: return "it is disabled";
	case REGISTRY_PENDING: return "it is not initialized yet";
	case REGISTRY_SKIP: snprintf(buf, n, "it was skipped: %s", p->message); return buf;
	case REGISTRY_ERROR: snprintf(buf, n, "it failed: %s", p->message); return buf;
	case REGISTRY_OK: break;
	}
	return "it is available";
}

int registry_check_required(const struct registry *reg, struct ucd_error **err)
{
	char *msg = NULL;
	for (size_t i = 0; i < reg->required.n; i++) {
		const char *uri = reg->required.v[i];
		const struct registry_plugin *p = find_uri(reg, uri);
		if (p != NULL && p->status == REGISTRY_OK)
			continue;
		char buf[2048];
		const char *why = p ? unavailable_reason(p, buf, sizeof buf) : "it is not installed";
		char *one = xasprintf("required plugin `%s` is not available: %s", uri, why);
		if (msg == NULL) {
			msg = one;
		} else {
			char *both = xasprintf("%s; %s", msg, one);
			free(msg);
			free(one);
			msg = both;
		}
	}
	if (msg == NULL)
		return 0;
	int r = error_set(err, UCD_FAILED_PRECONDITION, 0, "%s", msg);
	free(msg);
	return r;
}

/* ---- after init: serving, stopping ---- */

/* Serves the plugin's own services, or turns it to `error` on a clash. */
static void serve(struct registry_plugin *p, struct rpc_server *server)
{
	char *msg = NULL;
	if (services_serve(p, server, &msg) < 0) {
		set_status(p, REGISTRY_ERROR, UCD_ALREADY_EXISTS, msg);
		free(msg);
		return;
	}
	char names[1024];
	if (*services_names(p, names, sizeof names)) {
		/* introspection (`ctr plugins ls -d`) shows what it serves */
		ptrvec_push(&p->exports, xstrdup("services"));
		ptrvec_push(&p->exports, xstrdup(names));
	}
}

void registry_start(struct registry *reg, struct rpc_server *server)
{
	reg->server = server;
	reg->started = true;
	/* Every service first, then the hooks: a hook may call any of them. */
	for (size_t i = 0; i < reg->inited.n; i++) {
		struct registry_plugin *p = reg->inited.v[i];
		if (p->status == REGISTRY_OK)
			serve(p, server);
	}
	for (size_t i = 0; i < reg->inited.n; i++) {
		struct registry_plugin *p = reg->inited.v[i];
		if (p->status != REGISTRY_OK || !UCD_PLUGIN_DESC_HAS(p->desc, start) || p->desc->start == NULL)
			continue;
		struct ucd_error *e = NULL;
		int r = p->desc->start(p->self, &e);
		if (r >= 0) {
			error_free(e);
			continue;
		}
		char *m = e != NULL && e->msg != NULL ? xasprintf("start: %s", e->msg)
		                                      : xasprintf("start failed with code %d (%s) without a message",
		                                                  -r, error_code_name(-r));
		set_status(p, REGISTRY_ERROR, e != NULL ? e->code : -r, m);
		services_withdraw(p, server);
		free(m);
		error_free(e);
	}
}

void registry_stop(struct registry *reg)
{
	if (reg->stopping)
		return;
	reg->stopping = true;
	for (size_t i = reg->inited.n; i-- > 0;) {
		struct registry_plugin *p = reg->inited.v[i];
		if (UCD_PLUGIN_DESC_HAS(p->desc, stop) && p->desc->stop != NULL) {
			log_msg(LOG_DEBUG, NULL, "stopping plugin \"%s\"", p->uri);
			p->desc->stop(p->self);
		}
	}
}

void registry_unserve(struct registry *reg)
{
	for (size_t i = 0; i < reg->inited.n; i++) {
		calls_cancel_all(reg->inited.v[i]);
		services_withdraw(reg->inited.v[i], reg->server);
	}
	reg->server = NULL;
}

/* ---- host functions ---- */

static struct registry *host_registry(const struct ucd_host *host)
{
	return (struct registry *)((char *)host - offsetof(struct registry, host));
}

int registry_host_get_plugin(const struct ucd_host *host, const char *type, const char *id, void **self,
                             const void **ops, struct ucd_error **err)
{
	if (host == NULL || type == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "get_plugin: host and type are required");
	struct registry *reg = host_registry(host);
	if (!pthread_equal(pthread_self(), reg->loop_thread))
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "get_plugin(`%s`) called off the loop thread; it is loop-thread only", type);
	const struct registry_plugin *p = registry_get(reg, type, id);
	char buf[2048];
	if (id != NULL) {
		if (p == NULL)
			return error_set(err, UCD_NOT_FOUND, 0, "plugin `%s.%s` is not installed", type, id);
		if (p->status != REGISTRY_OK)
			return error_set(err, UCD_NOT_FOUND, 0, "plugin `%s` is not available: %s", p->uri,
			                 unavailable_reason(p, buf, sizeof buf));
	} else if (p == NULL) {
		/* Say why each plugin of that type is not there. */
		size_t cap = 256, len;
		char *m = xmalloc(cap);
		len = (size_t)snprintf(m, cap, "no plugin of type `%s` is available", type);
		bool any = false;
		for (size_t i = 0; i < reg->all.n; i++) {
			const struct registry_plugin *q = reg->all.v[i];
			if (q->duplicate || strcmp(q->type, type) != 0)
				continue;
			const char *why = unavailable_reason(q, buf, sizeof buf);
			size_t need = len + strlen(q->uri) + strlen(why) + 16;
			if (need > cap) {
				cap = need * 2;
				m = xrealloc(m, cap);
			}
			len += (size_t)snprintf(m + len, cap - len, "%s`%s`: %s", any ? "; " : " (", q->uri, why);
			any = true;
		}
		if (any) {
			m = xrealloc(m, len + 2);
			strcpy(m + len, ")");
		}
		int r = error_set(err, UCD_NOT_FOUND, 0, "%s", m);
		free(m);
		return r;
	}
	if (self != NULL)
		*self = p->self;
	if (ops != NULL)
		*ops = p->ops;
	return 0;
}

int registry_during_init(const struct ucd_init_ctx *ic, const char *what, struct ucd_error **err)
{
	if (ic == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "%s: no init context given", what);
	struct registry_plugin *p = registry_ctx_plugin(ic);
	if (!p->in_init || !pthread_equal(pthread_self(), p->reg->loop_thread))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: plugin `%s` may call it only during its init",
		                 what, ic->uri);
	return 0;
}

int registry_host_export_set(const struct ucd_init_ctx *ic, const char *key, const char *value,
                             struct ucd_error **err)
{
	int r = registry_during_init(ic, "export_set", err);
	if (r < 0)
		return r;
	if (key == NULL || value == NULL || key[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "export_set: key and value are required");
	struct registry_plugin *p = registry_ctx_plugin(ic);
	for (size_t i = 0; i + 1 < p->exports.n; i += 2) {
		if (strcmp(p->exports.v[i], key) == 0) {
			free(p->exports.v[i + 1]);
			p->exports.v[i + 1] = xstrdup(value);
			return 0;
		}
	}
	ptrvec_push(&p->exports, xstrdup(key));
	ptrvec_push(&p->exports, xstrdup(value));
	return 0;
}

int registry_host_capability_add(const struct ucd_init_ctx *ic, const char *capability, struct ucd_error **err)
{
	int r = registry_during_init(ic, "capability_add", err);
	if (r < 0)
		return r;
	if (capability == NULL || capability[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "capability_add: capability is required");
	struct registry_plugin *p = registry_ctx_plugin(ic);
	if (!list_has(&p->caps, capability))
		ptrvec_push(&p->caps, xstrdup(capability));
	return 0;
}

int registry_host_platform_add(const struct ucd_init_ctx *ic, const char *os, const char *architecture,
                               const char *variant, struct ucd_error **err)
{
	int r = registry_during_init(ic, "platform_add", err);
	if (r < 0)
		return r;
	if (os == NULL || architecture == NULL || os[0] == '\0' || architecture[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "platform_add: os and architecture are required");
	struct registry_plugin *p = registry_ctx_plugin(ic);
	if (variant == NULL)
		variant = "";
	for (size_t i = 0; i < p->n_platforms; i++) {
		const struct registry_platform *q = &p->platforms[i];
		if (strcmp(q->os, os) == 0 && strcmp(q->architecture, architecture) == 0 &&
		    strcmp(q->variant, variant) == 0)
			return 0;
	}
	p->platforms = xrealloc(p->platforms, (p->n_platforms + 1) * sizeof *p->platforms);
	p->platforms[p->n_platforms++] = (struct registry_platform){
		.os = xstrdup(os),
		.architecture = xstrdup(architecture),
		.variant = xstrdup(variant),
	};
	return 0;
}

/* ---- lookups and accessors ---- */

bool registry_is_disabled(const struct registry *reg, const char *uri)
{
	return list_has(&reg->disabled, uri);
}

size_t registry_count(const struct registry *reg)
{
	return reg->order.n;
}

const struct registry_plugin *registry_at(const struct registry *reg, size_t i)
{
	return i < reg->order.n ? reg->order.v[i] : NULL;
}

const struct registry_plugin *registry_find(const struct registry *reg, const char *uri)
{
	return find_uri(reg, uri);
}

const struct registry_plugin *registry_get(const struct registry *reg, const char *type, const char *id)
{
	if (id != NULL) {
		for (size_t i = 0; i < reg->all.n; i++) {
			const struct registry_plugin *p = reg->all.v[i];
			if (!p->duplicate && strcmp(p->type, type) == 0 && strcmp(p->id, id) == 0)
				return p;
		}
		return NULL;
	}
	for (size_t i = 0; i < reg->order.n; i++) {
		const struct registry_plugin *p = reg->order.v[i];
		if (!p->duplicate && p->status == REGISTRY_OK && strcmp(p->type, type) == 0)
			return p;
	}
	return NULL;
}

const struct ucd_host *registry_host(const struct registry *reg)
{
	return &reg->host;
}

const char *registry_plugin_uri(const struct registry_plugin *p) { return p->uri; }
const char *registry_plugin_type(const struct registry_plugin *p) { return p->type; }
const char *registry_plugin_id(const struct registry_plugin *p) { return p->id; }
const char *registry_plugin_path(const struct registry_plugin *p) { return p->path; }
bool registry_plugin_builtin(const struct registry_plugin *p) { return p->builtin; }
enum registry_status registry_plugin_status(const struct registry_plugin *p) { return p->status; }
const char *registry_plugin_message(const struct registry_plugin *p) { return p->message; }
int registry_plugin_code(const struct registry_plugin *p) { return p->code; }
const char *registry_plugin_init_err(const struct registry_plugin *p) { return p->init_err; }
void *registry_plugin_self(const struct registry_plugin *p) { return p->status == REGISTRY_OK ? p->self : NULL; }
const void *registry_plugin_ops(const struct registry_plugin *p) { return p->status == REGISTRY_OK ? p->ops : NULL; }

const char *const *registry_plugin_requires(const struct registry_plugin *p)
{
	return p->requires.v ? (const char *const *)p->requires.v : no_strings;
}

const char *const *registry_plugin_exports(const struct registry_plugin *p)
{
	return p->exports.v ? (const char *const *)p->exports.v : no_strings;
}

const char *registry_plugin_export(const struct registry_plugin *p, const char *key)
{
	for (size_t i = 0; i + 1 < p->exports.n; i += 2)
		if (strcmp(p->exports.v[i], key) == 0)
			return p->exports.v[i + 1];
	return NULL;
}

const char *const *registry_plugin_capabilities(const struct registry_plugin *p)
{
	return p->caps.v ? (const char *const *)p->caps.v : no_strings;
}

const struct registry_platform *registry_plugin_platforms(const struct registry_plugin *p, size_t *n)
{
	*n = p->n_platforms;
	return p->platforms;
}

const char *registry_status_name(enum registry_status s)
{
	switch (s) {
	case REGISTRY_PENDING: return "pending";
	case REGISTRY_OK: return "ok";
	case REGISTRY_SKIP: return "skip";
	case REGISTRY_ERROR: return "error";
	case REGISTRY_DISABLED: return "disabled";
	}
	return "unknown";
}

/* ---- `ucontainerd config default` ---- */

int registry_config_default(const char *plugin_dir, FILE *out, struct ucd_error **err)
{
	return registry_config_default_except(plugin_dir, out, NULL, NULL, err);
}

int registry_config_default_except(const char *plugin_dir, FILE *out, bool (*skip)(void *arg, const char *uri),
				   void *arg, struct ucd_error **err)
{
	struct ptrvec names = {0};
	if (loader_list_dir(plugin_dir, &names) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_set(err, UCD_INTERNAL, errno, "read plugin directory `%s`: %s", plugin_dir, strerror(errno));
	}
	bool first = true;
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		char *uri, *type, *id;
		if (!registry_parse_filename(name, &uri, &type, &id))
			continue;
		if (skip != NULL && skip(arg, uri)) {
			free(uri);
			free(type);
			free(id);
			continue;
		}
		char *path = xasprintf("%s/%s", plugin_dir, name);
		void *handle = NULL;
		const struct ucd_plugin_desc *d = NULL;
		struct ucd_error *e = NULL;
		if (!first)
			fputc('\n', out);
		first = false;
		if (loader_open(path, name, type, id, &handle, &d, &e) < 0) {
			/* A comment keeps the output valid TOML; one line. */
			for (char *c = e->msg; *c; c++)
				if (*c == '\n' || *c == '\r')
					*c = ' ';
			fprintf(out, "# %s: not loadable: %s\n", uri, e->msg);
			error_free(e);
		} else {
			char *section = xasprintf("plugins.\"%s\"", uri);
			fprintf(out, "[%s]\n", section);
			if (d->config == NULL || d->config[0].name == NULL)
				fprintf(out, "  # this plugin has no settings\n");
			plugin_config_print(out, d->config, section, 2);
			free(section);
			dlclose(handle);
		}
		free(path);
		free(uri);
		free(type);
		free(id);
	}
	ptrvec_free_all(&names);
	return 0;
}
