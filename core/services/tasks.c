/* containerd.services.tasks.v1.Tasks over the runtime v2 plugin
 * (io.containerd.runtime.v2.task, whose vtable is plugins/runtime/runtime_ops.h),
 * as containerd 1.6's services/tasks/local.go over runtime/v2. Namespaced.
 *
 * Each method checks the container in the metadata store (NotFound as
 * containerd when it is missing), turns the request into the shim's
 * (tasks_xlate.c) and sends it through the plugin, which answers later on
 * the loop. A call keeps a reference on its rpc_call while the plugin works;
 * a client that goes away (on_cancel) drops it at once, and the plugin's
 * late answer then only frees what the call left. Wait may last as long as
 * the process does: it costs a small record and nothing else meanwhile.
 *
 * docs/tasks.md says what maps to what, and what is not supported. */
#include "services/tasks.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ucontainerd/host.h>
#include <ucontainerd/plugin.h>

#include "config/config.h"
#include "events/events.h"
#include "filters/filters.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/db.h"
#include "registry/registry.h"
#include "rpc/rpc.h"
#include "services/tasks_xlate.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/log.h"
#include "util/mem.h"

/* containerd's io.containerd.timeout.task.state: how long Get and List
 * wait for one shim's State before reporting the process as UNKNOWN. */
#define STATE_TIMEOUT_MS 2000

struct tsvc {
	struct svc_ctx *ctx;
	const struct ucd_runtime_ops *ops;
	void *self;
	void (*release)(void *);   /* frees what ops->list hands out */
	bool attached;
	/* what the plugin was given at attach, kept for as long as it runs */
	char *ttrpc_address;
	char *self_exe;
};

static struct tsvc service;

static struct tsvc *svc_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

/* Answers UNAVAILABLE once the runtime was detached (shutdown). */
static bool ready(struct tsvc *s, struct rpc_call *call)
{
	if (s->attached)
		return true;
	rpc_call_finish(call, UCD_UNAVAILABLE, "the runtime is shutting down");
	return false;
}

static void reply_empty(struct rpc_call *call)
{
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}

/* containerd's getContainer: the container must exist in the namespace;
 * its NotFound is the metadata store's text. *out (optional) gets it. */
static bool container_get(struct rpc_call *call, const char *id, Containerd__Services__Containers__V1__Container **out)
{
	struct ucd_error *e = NULL;
	Containerd__Services__Containers__V1__Container *c = NULL;
	if (md_container_get(svc_of(call)->ctx->db, rpc_call_namespace(call), id, &c, &e) < 0) {
		rpc_call_fail(call, e);
		return false;
	}
	if (out != NULL)
		*out = c;
	else
		md_free(c);
	return true;
}

/* The runtime's Get: does the namespace have a task with this id? */
static bool task_exists(struct tsvc *s, const char *ns, const char *id)
{
	char **ids = s->ops->list(s->self, ns);
	bool found = false;
	for (size_t i = 0; ids != NULL && ids[i] != NULL; i++) {
		found = found || strcmp(ids[i], id) == 0;
		s->release(ids[i]);
	}
	s->release(ids);
	return found;
}

/* containerd's getTask: the container must exist; then the runtime answers
 * NotFound "task <id> not found" for a container without a task, as
 * containerd's getTask does (the plugin's text is containerd's). */
static bool task_get(struct rpc_call *call, const char *id)
{
	return container_get(call, id, NULL);
}

/* --- calls waiting for the plugin ------------------------------------------------- */

/* What rpc_call_data points at while the plugin works for a call. */
struct pending {
	struct rpc_call *call;   /* NULL once the call was answered or cancelled */
	void (*cancel)(struct pending *p);
};

static void pending_bind(struct pending *p, struct rpc_call *call, void (*cancel)(struct pending *))
{
	p->call = call;
	p->cancel = cancel;
	rpc_call_ref(call);
	rpc_call_set_data(call, p);
}

/* Lets go of the call: after this, nothing is sent on it. */
static void pending_unbind(struct pending *p)
{
	struct rpc_call *call = p->call;
	if (call == NULL)
		return;
	p->call = NULL;
	rpc_call_set_data(call, NULL);
	rpc_call_unref(call);
}

/* on_cancel of every method: the client is gone (or the deadline passed). */
static void t_cancel(struct rpc_call *call)
{
	struct pending *p = rpc_call_data(call);
	if (p != NULL && p->call == call)
		p->cancel(p);
}

/* --- one shim call per request ---------------------------------------------------- */

struct op;
/* Answers the call from the shim's packed response. */
typedef void (*op_reply_fn)(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len);

struct op {
	struct pending pending;   /* first: t_cancel reads it through rpc_call_data */
	op_reply_fn reply;
	char *id;                 /* container id */
	char *exec_id;
	char *ns;                 /* Create only: to delete a task its client gave up on */
};

static void op_free(struct op *op)
{
	pending_unbind(&op->pending);
	free(op->id);
	free(op->exec_id);
	free(op->ns);
	free(op);
}

static void op_cancel(struct pending *p)
{
	pending_unbind(p);   /* the op itself goes when the plugin answers */
}

static void op_done(void *arg, struct ucd_error *err, const uint8_t *resp, size_t len)
{
	struct op *op = arg;
	struct rpc_call *call = op->pending.call;
	if (call == NULL)
		error_free(err);
	else if (err != NULL)
		rpc_call_fail(call, err);
	else
		op->reply(op, call, resp, len);
	op_free(op);
}

static struct op *op_new(struct rpc_call *call, const char *id, const char *exec_id, op_reply_fn reply)
{
	struct op *op = xcalloc(1, sizeof *op);
	pending_bind(&op->pending, call, op_cancel);
	op->reply = reply;
	op->id = xstrdup(id);
	op->exec_id = xstrdup(exec_id ? exec_id : "");
	return op;
}

/* Sends `method` with the packed request (freed here) to the task's shim. */
static void shim_call(struct rpc_call *call, const char *id, const char *exec_id, const char *method,
		      struct xlate_buf *req, op_reply_fn reply)
{
	struct tsvc *s = svc_of(call);
	struct op *op = op_new(call, id, exec_id, reply);
	s->ops->call(s->self, rpc_call_namespace(call), id, method, req->data, req->len, op_done, op);
	xlate_buf_fini(req);
}

/* Sends the Tasks response `out` filled from the decoded shim message, or
 * the decoding error. */
static void reply_decoded(struct rpc_call *call, int r, struct ucd_error *e, ProtobufCMessage *out,
			  ProtobufCMessage *shim)
{
	if (r < 0)
		rpc_call_fail(call, e);
	else
		rpc_call_reply(call, out);
	if (shim != NULL)
		protobuf_c_message_free_unpacked(shim, NULL);
}

static void reply_shim_empty(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	(void)op, (void)resp, (void)len;
	reply_empty(call);
}

/* --- Create ---------------------------------------------------------------------- */

static void reply_create(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	Containerd__Services__Tasks__V1__CreateTaskResponse out =
		CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_RESPONSE__INIT;
	ProtobufCMessage *shim = NULL;
	struct ucd_error *e = NULL;
	int r = xlate_create_resp(resp, len, op->id, &out, &shim, &e);
	reply_decoded(call, r, e, &out.base, shim);
}

static void abandoned_deleted(void *arg, struct ucd_error *err, const uint8_t *resp, size_t len)
{
	(void)resp, (void)len;
	char *what = arg;
	if (err != NULL)
		log_warn("task %s: created after its client had gone, then deleted: %s", what, err->msg);
	else
		log_info("task %s: created after its client had gone: deleted", what);
	error_free(err);
	free(what);
}

/* The plugin's answer to a Create. When the client has gone (cancelled, or
 * past its deadline) and the task was made anyway, nobody knows of it: it
 * is deleted, as containerd does when a Create fails on a cancelled
 * context. */
static void create_done(void *arg, struct ucd_error *err, const uint8_t *resp, size_t len)
{
	struct op *op = arg;
	if (op->pending.call == NULL && err == NULL) {
		struct tsvc *s = &service;
		char *what = xasprintf("%s/%s", op->ns, op->id);
		if (s->attached)
			s->ops->delete_task(s->self, op->ns, op->id, abandoned_deleted, what);
		else
			free(what);
	}
	op_done(arg, err, resp, len);
}

/* A google.protobuf.Any packed, or nothing when absent. */
static void pack_any(const Google__Protobuf__Any *any, struct xlate_buf *out)
{
	out->data = NULL;
	out->len = 0;
	if (any != NULL)
		xlate_pack(&any->base, out);
}

static void create_send(struct rpc_call *call, const Containerd__Services__Tasks__V1__CreateTaskRequest *req,
			const Containerd__Services__Containers__V1__Container *c)
{
	struct tsvc *s = svc_of(call);
	struct xlate_buf request, rt_opts, task_opts;
	xlate_create(req, &request);
	pack_any(c->runtime->options, &rt_opts);
	pack_any(req->options, &task_opts);
	struct ucd_runtime_create rc = {
		.ns = rpc_call_namespace(call),
		.id = req->container_id,
		/* containerd: an explicit runtime_path replaces the runtime name */
		.runtime = req->runtime_path[0] != '\0' ? req->runtime_path : c->runtime->name,
		.runtime_options = rt_opts.data,
		.runtime_options_len = rt_opts.len,
		.task_options = task_opts.data,
		.task_options_len = task_opts.len,
		.spec = c->spec->value.data,
		.spec_len = c->spec->value.len,
		.request = request.data,
		.request_len = request.len,
	};
	struct op *op = op_new(call, req->container_id, NULL, reply_create);
	op->ns = xstrdup(rpc_call_namespace(call));
	s->ops->create(s->self, &rc, create_done, op);
	xlate_buf_fini(&request);
	xlate_buf_fini(&rt_opts);
	xlate_buf_fini(&task_opts);
}

static void t_create(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__CreateTaskRequest *req = (const void *)msg;
	Containerd__Services__Containers__V1__Container *c = NULL;
	if (!ready(svc_of(call), call) || !container_get(call, req->container_id, &c))
		return;
	if (req->checkpoint != NULL)
		rpc_call_finish(call, UCD_UNIMPLEMENTED, "task %s: restoring from a checkpoint is not supported",
				req->container_id);
	else if (c->spec == NULL)
		/* the metadata store refuses such containers; one from an older database could still lack it */
		rpc_call_finish(call, UCD_FAILED_PRECONDITION, "container %s has no spec: failed precondition",
				req->container_id);
	else if (c->runtime == NULL || c->runtime->name[0] == '\0')
		rpc_call_finish(call, UCD_FAILED_PRECONDITION, "container %s has no runtime: failed precondition",
				req->container_id);
	else
		create_send(call, req, c);
	md_free(c);
}

/* --- Start, Delete, DeleteProcess ---------------------------------------------------- */

static void reply_start(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	(void)op;
	Containerd__Services__Tasks__V1__StartResponse out = CONTAINERD__SERVICES__TASKS__V1__START_RESPONSE__INIT;
	ProtobufCMessage *shim = NULL;
	struct ucd_error *e = NULL;
	int r = xlate_start_resp(resp, len, &out, &shim, &e);
	reply_decoded(call, r, e, &out.base, shim);
}

static void t_start(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__StartRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_start(req->container_id, req->exec_id, &b);
	shim_call(call, req->container_id, req->exec_id, "Start", &b, reply_start);
}

/* Delete leaves the response's id empty, as containerd; DeleteProcess puts
 * the exec id there. */
static void reply_delete(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	Containerd__Services__Tasks__V1__DeleteResponse out = CONTAINERD__SERVICES__TASKS__V1__DELETE_RESPONSE__INIT;
	ProtobufCMessage *shim = NULL;
	struct ucd_error *e = NULL;
	int r = xlate_delete_resp(resp, len, op->exec_id, &out, &shim, &e);
	reply_decoded(call, r, e, &out.base, shim);
}

static void t_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__DeleteTaskRequest *req = (const void *)msg;
	struct tsvc *s = svc_of(call);
	if (!ready(s, call) || !task_get(call, req->container_id))
		return;
	struct op *op = op_new(call, req->container_id, NULL, reply_delete);
	s->ops->delete_task(s->self, rpc_call_namespace(call), req->container_id, op_done, op);
}

static void t_delete_process(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__DeleteProcessRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_delete(req->container_id, req->exec_id, &b);
	shim_call(call, req->container_id, req->exec_id, "Delete", &b, reply_delete);
}

/* --- Get, List, Metrics: State or Stats of one or more tasks ------------------------ */

enum multi_kind { MULTI_GET, MULTI_LIST, MULTI_METRICS };

struct multi;

struct slot {
	struct multi *m;
	char *id;                   /* container id */
	bool answered;
	struct ucd_error *err;      /* the shim's or the decoding's */
	ProtobufCMessage *shim;     /* the decoded answer, lent to proc/metric */
	int64_t collected_ns;       /* Metrics: when the Stats call went out */
	TaskProcess proc;
	TaskMetric metric;
	Google__Protobuf__Timestamp ts;
};

struct multi {
	struct pending pending;   /* first: t_cancel reads it through rpc_call_data */
	enum multi_kind kind;
	char *exec_id;            /* Get */
	struct slot *slots;
	size_t n;
	size_t outstanding;       /* plugin answers still to come */
	bool replied;
	bool timer_closed;
	uv_timer_t timer;         /* STATE_TIMEOUT_MS for Get and List */
};

static void multi_free_if_idle(struct multi *m)
{
	if (!m->replied || !m->timer_closed || m->outstanding > 0)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct slot *sl = &m->slots[i];
		error_free(sl->err);
		if (sl->shim != NULL)
			protobuf_c_message_free_unpacked(sl->shim, NULL);
		free(sl->id);
	}
	free(m->slots);
	free(m->exec_id);
	free(m);
}

static void multi_timer_closed(uv_handle_t *h)
{
	struct multi *m = h->data;
	m->timer_closed = true;
	multi_free_if_idle(m);
}

/* containerd's getProcessState: a State that failed for another reason
 * than NotFound (or did not come in time) still lists the process, as
 * UNKNOWN. */
static bool slot_unknown(struct slot *sl, const char *pid_id)
{
	const char *why = !sl->answered ? "timed out" : sl->err->msg;
	log_error("get state for %s: %s", pid_id, why);
	xlate_process_unknown(pid_id, &sl->proc);
	return true;
}

/* Whether the slot gives a process to report; false: skip it (NotFound). */
static bool slot_process(struct slot *sl)
{
	const char *pid_id = sl->m->exec_id[0] != '\0' ? sl->m->exec_id : sl->id;
	if (sl->answered && sl->err == NULL)
		return true;
	if (sl->answered && sl->err->code == UCD_NOT_FOUND)
		return false;
	return slot_unknown(sl, pid_id);
}

static void reply_get(struct rpc_call *call, struct slot *sl)
{
	if (!slot_process(sl)) {
		rpc_call_fail(call, sl->err);
		sl->err = NULL;
		return;
	}
	Containerd__Services__Tasks__V1__GetResponse out = CONTAINERD__SERVICES__TASKS__V1__GET_RESPONSE__INIT;
	out.process = &sl->proc;
	rpc_call_reply(call, &out.base);
}

static void reply_list(struct rpc_call *call, struct multi *m)
{
	autofree TaskProcess **procs = xcalloc(m->n ? m->n : 1, sizeof *procs);
	Containerd__Services__Tasks__V1__ListTasksResponse out = CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_RESPONSE__INIT;
	for (size_t i = 0; i < m->n; i++)
		if (slot_process(&m->slots[i]))
			procs[out.n_tasks++] = &m->slots[i].proc;
	out.tasks = procs;
	rpc_call_reply(call, &out.base);
}

/* containerd's getTasksMetrics: a task whose Stats failed is left out. */
static void reply_metrics(struct rpc_call *call, struct multi *m)
{
	autofree TaskMetric **metrics = xcalloc(m->n ? m->n : 1, sizeof *metrics);
	Containerd__Services__Tasks__V1__MetricsResponse out = CONTAINERD__SERVICES__TASKS__V1__METRICS_RESPONSE__INIT;
	for (size_t i = 0; i < m->n; i++) {
		struct slot *sl = &m->slots[i];
		if (sl->err == NULL) {
			metrics[out.n_metrics++] = &sl->metric;
			continue;
		}
		if (sl->err->code != UCD_NOT_FOUND)
			log_error("collecting metrics for %s: %s", sl->id, sl->err->msg);
	}
	out.metrics = metrics;
	rpc_call_reply(call, &out.base);
}

/* Every answer is in, or the State timeout fired, or the client left. */
static void multi_reply(struct multi *m)
{
	if (m->replied)
		return;
	m->replied = true;
	uv_timer_stop(&m->timer);
	struct rpc_call *call = m->pending.call;
	if (call != NULL) {
		if (m->kind == MULTI_GET)
			reply_get(call, &m->slots[0]);
		else if (m->kind == MULTI_LIST)
			reply_list(call, m);
		else
			reply_metrics(call, m);
		pending_unbind(&m->pending);
	}
	uv_close((uv_handle_t *)&m->timer, multi_timer_closed);
}

static void multi_cancel(struct pending *p)
{
	struct multi *m = (struct multi *)p;
	pending_unbind(p);
	multi_reply(m);   /* sends nothing now; stops the timer */
}

static void multi_timeout(uv_timer_t *t)
{
	multi_reply(t->data);
}

static void slot_decode(struct slot *sl, const uint8_t *resp, size_t len)
{
	struct multi *m = sl->m;
	if (m->kind == MULTI_METRICS) {
		xlate_stats_resp(resp, len, sl->id, sl->collected_ns, &sl->ts, &sl->metric, &sl->shim, &sl->err);
		return;
	}
	const char *pid_id = m->exec_id[0] != '\0' ? m->exec_id : sl->id;
	xlate_state_resp(resp, len, pid_id, &sl->proc, &sl->shim, &sl->err);
}

static void slot_done(void *arg, struct ucd_error *err, const uint8_t *resp, size_t len)
{
	struct slot *sl = arg;
	struct multi *m = sl->m;
	m->outstanding--;
	/* an answer after the reply (timeout, cancel) is not looked at */
	if (!m->replied) {
		sl->answered = true;
		sl->err = err;
		err = NULL;
		if (sl->err == NULL)
			slot_decode(sl, resp, len);
		if (m->outstanding == 0)
			multi_reply(m);
	}
	error_free(err);
	multi_free_if_idle(m);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Takes `ids` (n strings, owned); sends one State or Stats per id. */
static void multi_run(struct rpc_call *call, enum multi_kind kind, const char *exec_id, char **ids, size_t n)
{
	struct tsvc *s = svc_of(call);
	const char *ns = rpc_call_namespace(call);
	struct multi *m = xcalloc(1, sizeof *m);
	pending_bind(&m->pending, call, multi_cancel);
	m->kind = kind;
	m->exec_id = xstrdup(exec_id ? exec_id : "");
	m->n = n;
	m->slots = xcalloc(n ? n : 1, sizeof *m->slots);
	uv_timer_init(s->ctx->loop, &m->timer);
	m->timer.data = m;
	if (n == 0) {
		multi_reply(m);
		return;
	}
	if (kind != MULTI_METRICS)
		uv_timer_start(&m->timer, multi_timeout, STATE_TIMEOUT_MS, 0);
	m->outstanding = n;
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &m->slots[i];
		sl->m = m;
		sl->id = ids[i];
		containerd__v1__types__process__init(&sl->proc);
		containerd__types__metric__init(&sl->metric);
	}
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &m->slots[i];
		struct xlate_buf b;
		if (kind == MULTI_METRICS) {
			sl->collected_ns = now_ns();
			xlate_stats(sl->id, &b);
		} else {
			xlate_state(sl->id, m->exec_id, &b);
		}
		s->ops->call(s->self, ns, sl->id, kind == MULTI_METRICS ? "Stats" : "State", b.data, b.len, slot_done, sl);
		xlate_buf_fini(&b);
	}
}

static void t_get(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__GetRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	char **ids = xmalloc(sizeof *ids);
	ids[0] = xstrdup(req->container_id);
	multi_run(call, MULTI_GET, req->exec_id, ids, 1);
	free(ids);
}

/* The namespace's task ids, copied out of the plugin's list. */
static char **task_ids(struct tsvc *s, const char *ns, size_t *n)
{
	char **ids = s->ops->list(s->self, ns);
	size_t count = 0;
	while (ids != NULL && ids[count] != NULL)
		count++;
	char **out = xcalloc(count ? count : 1, sizeof *out);
	for (size_t i = 0; i < count; i++) {
		out[i] = xstrdup(ids[i]);
		s->release(ids[i]);
	}
	s->release(ids);
	*n = count;
	return out;
}

/* containerd ignores the request's filter. */
static void t_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	(void)msg;
	struct tsvc *s = svc_of(call);
	if (!ready(s, call))
		return;
	size_t n = 0;
	char **ids = task_ids(s, rpc_call_namespace(call), &n);
	multi_run(call, MULTI_LIST, NULL, ids, n);
	free(ids);
}

struct metrics_obj {
	const char *id, *ns;
};

/* containerd's adaptor for Metrics filters: id and namespace (runtime is
 * never present). */
static bool metrics_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const struct metrics_obj *o = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "id") == 0) {
		*value = o->id;
		return true;
	}
	if (strcmp(path[0], "namespace") == 0) {
		*value = o->ns;
		return true;
	}
	return false;
}

static void t_metrics(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__MetricsRequest *req = (const void *)msg;
	struct tsvc *s = svc_of(call);
	if (!ready(s, call))
		return;
	struct ucd_error *e = NULL;
	struct filter *f = NULL;
	if (req->n_filters > 0 && (f = filter_parse((const char *const *)req->filters, req->n_filters, &e)) == NULL) {
		rpc_call_fail(call, e);
		return;
	}
	const char *ns = rpc_call_namespace(call);
	size_t n = 0, kept = 0;
	char **ids = task_ids(s, ns, &n);
	for (size_t i = 0; i < n; i++) {
		struct metrics_obj o = { ids[i], ns };
		if (filter_match(f, metrics_field, &o))
			ids[kept++] = ids[i];
		else
			free(ids[i]);
	}
	filter_free(f);
	multi_run(call, MULTI_METRICS, NULL, ids, kept);
	free(ids);
}

/* --- Kill, Exec, ResizePty, CloseIO, Pause, Resume, Update ------------------------- */

static void t_kill(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__KillRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_kill(req, &b);
	shim_call(call, req->container_id, req->exec_id, "Kill", &b, reply_shim_empty);
}

static void t_exec(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__ExecProcessRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call))
		return;
	if (req->exec_id[0] == '\0') {
		rpc_call_finish(call, UCD_INVALID_ARGUMENT, "exec id cannot be empty");
		return;
	}
	if (!task_get(call, req->container_id))
		return;
	struct ucd_error *e = NULL;
	if (identifier_validate(req->exec_id, &e) < 0) {
		error_wrap(&e, "invalid exec id %s", req->exec_id);
		rpc_call_fail(call, e);
		return;
	}
	struct xlate_buf b;
	xlate_exec(req, &b);
	shim_call(call, req->container_id, req->exec_id, "Exec", &b, reply_shim_empty);
}

static void t_resize_pty(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__ResizePtyRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_resize_pty(req, &b);
	shim_call(call, req->container_id, req->exec_id, "ResizePty", &b, reply_shim_empty);
}

/* Only stdin can be closed: without it the answer is empty at once. */
static void t_close_io(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__CloseIORequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	if (!req->stdin) {
		/* nothing for the shim to do, but the task must exist */
		if (task_exists(svc_of(call), rpc_call_namespace(call), req->container_id))
			reply_empty(call);
		else
			rpc_call_finish(call, UCD_NOT_FOUND, "task %s not found", req->container_id);
		return;
	}
	struct xlate_buf b;
	xlate_close_io(req->container_id, req->exec_id, &b);
	shim_call(call, req->container_id, req->exec_id, "CloseIO", &b, reply_shim_empty);
}

static void t_pause(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__PauseTaskRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_pause(req->container_id, &b);
	shim_call(call, req->container_id, NULL, "Pause", &b, reply_shim_empty);
}

static void t_resume(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__ResumeTaskRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_resume(req->container_id, &b);
	shim_call(call, req->container_id, NULL, "Resume", &b, reply_shim_empty);
}

static void t_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__UpdateTaskRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_update(req, &b);
	shim_call(call, req->container_id, NULL, "Update", &b, reply_shim_empty);
}

/* --- ListPids, Wait, Checkpoint -------------------------------------------------------- */

static void reply_pids(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	(void)op;
	Containerd__Services__Tasks__V1__ListPidsResponse out = CONTAINERD__SERVICES__TASKS__V1__LIST_PIDS_RESPONSE__INIT;
	ProtobufCMessage *shim = NULL;
	struct ucd_error *e = NULL;
	int r = xlate_pids_resp(resp, len, &out, &shim, &e);
	reply_decoded(call, r, e, &out.base, shim);
}

static void t_list_pids(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__ListPidsRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_pids(req->container_id, &b);
	shim_call(call, req->container_id, NULL, "Pids", &b, reply_pids);
}

static void reply_wait(struct op *op, struct rpc_call *call, const uint8_t *resp, size_t len)
{
	(void)op;
	Containerd__Services__Tasks__V1__WaitResponse out = CONTAINERD__SERVICES__TASKS__V1__WAIT_RESPONSE__INIT;
	ProtobufCMessage *shim = NULL;
	struct ucd_error *e = NULL;
	int r = xlate_wait_resp(resp, len, &out, &shim, &e);
	reply_decoded(call, r, e, &out.base, shim);
}

static void t_wait(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__WaitRequest *req = (const void *)msg;
	if (!ready(svc_of(call), call) || !task_get(call, req->container_id))
		return;
	struct xlate_buf b;
	xlate_wait(req->container_id, req->exec_id, &b);
	shim_call(call, req->container_id, req->exec_id, "Wait", &b, reply_wait);
}

/* Checkpoints need CRIU and a place in the content store for the image:
 * not there yet. Said plainly instead of failing half-way. */
static void t_checkpoint(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Tasks__V1__CheckpointTaskRequest *req = (const void *)msg;
	rpc_call_finish(call, UCD_UNIMPLEMENTED, "task %s: checkpoint is not supported by ucontainerd",
			req->container_id);
}

/* --- registration ------------------------------------------------------------------- */

#define T_SVC "/containerd.services.tasks.v1.Tasks/"
#define T_METHOD(name, type, fn) \
	{ RPC_METHOD(T_SVC name, RPC_UNARY, &containerd__services__tasks__v1__##type##__descriptor, true, fn), \
	  .on_cancel = t_cancel }
static struct rpc_method methods[] = {
	T_METHOD("Create", create_task_request, t_create),
	T_METHOD("Start", start_request, t_start),
	T_METHOD("Delete", delete_task_request, t_delete),
	T_METHOD("DeleteProcess", delete_process_request, t_delete_process),
	T_METHOD("Get", get_request, t_get),
	T_METHOD("List", list_tasks_request, t_list),
	T_METHOD("Kill", kill_request, t_kill),
	T_METHOD("Exec", exec_process_request, t_exec),
	T_METHOD("ResizePty", resize_pty_request, t_resize_pty),
	T_METHOD("CloseIO", close_iorequest, t_close_io),
	T_METHOD("Pause", pause_task_request, t_pause),
	T_METHOD("Resume", resume_task_request, t_resume),
	T_METHOD("ListPids", list_pids_request, t_list_pids),
	T_METHOD("Checkpoint", checkpoint_task_request, t_checkpoint),
	T_METHOD("Update", update_task_request, t_update),
	T_METHOD("Metrics", metrics_request, t_metrics),
	T_METHOD("Wait", wait_request, t_wait),
};

/* A shim died and the plugin cleaned up after it: containerd's
 * cleanupAfterDeadShim publishes the exit and the delete. */
static void task_gone(void *arg, const char *ns, const char *id, uint32_t pid, uint32_t exit_status,
		      int64_t exited_sec, int32_t exited_nsec)
{
	struct tsvc *s = arg;
	Google__Protobuf__Timestamp ts;
	Containerd__Events__TaskExit exit_ev;
	Containerd__Events__TaskDelete delete_ev;
	xlate_task_exit(id, pid, exit_status, exited_sec, exited_nsec, &ts, &exit_ev, &delete_ev);
	events_publish(s->ctx->events, ns, "/tasks/exit", &exit_ev.base);
	events_publish(s->ctx->events, ns, "/tasks/delete", &delete_ev.base);
}

static char *self_exe(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0) {
		log_warn("tasks service: readlink /proc/self/exe: %s", strerror(errno));
		return xstrdup("ucontainerd");
	}
	buf[n] = 0;
	return xstrdup(buf);
}

bool svc_tasks_ops_usable(const struct ucd_runtime_ops *ops)
{
	return ops != NULL && ops->size >= offsetof(struct ucd_runtime_ops, detach) + sizeof ops->detach &&
	       ops->attach != NULL && ops->create != NULL && ops->call != NULL && ops->delete_task != NULL &&
	       ops->list != NULL && ops->detach != NULL;
}

int svc_tasks_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		   struct ucd_error **err)
{
	(void)ic, (void)out;
	const void *ops = NULL;
	if (host->get_plugin(host, UCD_RUNTIME_TYPE, "task", NULL, &ops, err) < 0)
		return UCD_PLUGIN_SKIP;
	if (!svc_tasks_ops_usable(ops)) {
		host->error_new(err, UCD_FAILED_PRECONDITION, 0,
				"runtime plugin `%s.task` has a runtime vtable this daemon cannot use", UCD_RUNTIME_TYPE);
		return UCD_PLUGIN_SKIP;
	}
	return 0;
}

int svc_tasks_serve(struct svc_ctx *ctx, const struct ucd_runtime_ops *ops, void *self, void (*release)(void *))
{
	struct tsvc *s = &service;
	s->ctx = ctx;
	s->ops = ops;
	s->self = self;
	s->release = release;
	free(s->ttrpc_address);
	free(s->self_exe);
	s->ttrpc_address = svc_ttrpc_address(ctx->config);
	s->self_exe = self_exe();
	struct ucd_runtime_env env = {
		.loop = ctx->loop,
		.address = ctx->config->grpc.address,
		.ttrpc_address = s->ttrpc_address,
		.self_exe = s->self_exe,
		.task_gone = task_gone,
		.arg = s,
	};
	struct ucd_error *e = NULL;
	if (ops->attach(self, &env, &e) < 0) {
		log_error("tasks service not served: runtime %s.task did not attach: %s", UCD_RUNTIME_TYPE,
			  e ? e->msg : "no reason given");
		error_free(e);
		return -1;
	}
	s->attached = true;
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = s;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
	return 0;
}

void svc_tasks_register(struct svc_ctx *ctx)
{
	const struct registry_plugin *p = registry_get(ctx->registry, UCD_RUNTIME_TYPE, "task");
	const struct ucd_runtime_ops *ops =
		p != NULL && registry_plugin_status(p) == REGISTRY_OK ? registry_plugin_ops(p) : NULL;
	if (!svc_tasks_ops_usable(ops)) {
		/* the built-in's init skips in this case: reached only if that changes */
		log_error("tasks service not served: no usable runtime plugin %s.task", UCD_RUNTIME_TYPE);
		return;
	}
	svc_tasks_serve(ctx, ops, registry_plugin_self(p), registry_host(ctx->registry)->free);
}

void svc_tasks_shutdown(struct svc_ctx *ctx)
{
	(void)ctx;
	struct tsvc *s = &service;
	if (s->attached) {
		s->attached = false;
		s->ops->detach(s->self);
	}
	free(s->ttrpc_address);
	free(s->self_exe);
	s->ttrpc_address = s->self_exe = NULL;
}
