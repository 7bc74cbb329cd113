/* The Tasks service (core/services/tasks.c) on the real rpc module and
 * metadata store, over a FAKE runtime: an in-process struct
 * ucd_runtime_ops that records every request and answers with canned
 * packed shim responses, for test_tasks_service.py.
 *
 *   fake_tasks_server <dir> <socket>
 *
 * Prints "ready" once serving, then for every request that reaches the
 * runtime one line: `REQ <op> <ns> <id> <hex of the packed shim request>`
 * (Create adds runtime, options and spec). Also serves Containers (to make
 * containers) and Events (to watch /tasks/exit). On SIGTERM it detaches
 * the runtime, closes the server, and prints "clean" when every handle and
 * call was released.
 *
 * The fake's tasks (made by Create) behave by id:
 *   hang    State never answers (until detach)
 *   broken  State and Stats fail with Internal
 *   gone    State and Stats fail with NotFound
 * Wait is answered when the task gets Kill with signal 9; Kill with signal
 * 31 makes the task's shim "die": the task goes and task_gone is called. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "events/events.h"
#include "metadata/db.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/tasks.h"
#include "util/error.h"
#include "util/mem.h"

#include "containerd/runtime/v2/task/shim.pb-c.h"

struct task {
	char ns[64], id[80];
	struct task *next;
};

struct waiter {
	char ns[64], id[80];
	ucd_runtime_done done;
	void *arg;
	bool state;   /* a State of "hang": only detach answers it */
	struct waiter *next;
};

static struct fake {
	uv_loop_t *loop;
	struct ucd_runtime_env env;
	struct task *tasks;
	struct waiter *waiters;
	bool attached;
	int live_answers;
} fake;

static struct svc_ctx ctx;
static uv_signal_t sigterm;

/* --- answering later, as the vtable requires ------------------------------ */

struct answer {
	uv_timer_t timer;
	ucd_runtime_done done;
	void *arg;
	struct ucd_error *err;
	uint8_t *resp;
	size_t len;
};

static void answer_closed(uv_handle_t *h)
{
	struct answer *a = h->data;
	free(a->resp);
	free(a);
	fake.live_answers--;
}

static void answer_fire(uv_timer_t *t)
{
	struct answer *a = t->data;
	a->done(a->arg, a->err, a->resp, a->len);
	uv_close((uv_handle_t *)&a->timer, answer_closed);
}

static void later(ucd_runtime_done done, void *arg, struct ucd_error *err, const ProtobufCMessage *resp)
{
	struct answer *a = xcalloc(1, sizeof *a);
	a->done = done;
	a->arg = arg;
	a->err = err;
	if (resp != NULL) {
		a->len = protobuf_c_message_get_packed_size(resp);
		a->resp = xmalloc(a->len ? a->len : 1);
		protobuf_c_message_pack(resp, a->resp);
	}
	uv_timer_init(fake.loop, &a->timer);
	a->timer.data = a;
	fake.live_answers++;
	uv_timer_start(&a->timer, answer_fire, 0, 0);
}

static void fail_later(ucd_runtime_done done, void *arg, int code, const char *msg)
{
	struct ucd_error *e = NULL;
	error_set(&e, code, 0, "%s", msg);
	later(done, arg, e, NULL);
}

/* --- records ------------------------------------------------------------------ */

static void print_hex(const uint8_t *p, size_t n)
{
	if (n == 0)
		fputs("-", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void record(const char *op, const char *ns, const char *id, const uint8_t *req, size_t len)
{
	printf("REQ %s %s %s ", op, ns, id);
	print_hex(req, len);
	putchar('\n');
	fflush(stdout);
}

static struct task **task_find(const char *ns, const char *id)
{
	for (struct task **t = &fake.tasks; *t != NULL; t = &(*t)->next)
		if (strcmp((*t)->ns, ns) == 0 && strcmp((*t)->id, id) == 0)
			return t;
	return NULL;
}

static void task_drop(const char *ns, const char *id)
{
	struct task **t = task_find(ns, id);
	if (t != NULL) {
		struct task *gone = *t;
		*t = gone->next;
		free(gone);
	}
}

static Google__Protobuf__Timestamp ts_at(int64_t sec, int32_t nsec)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = sec;
	ts.nanos = nsec;
	return ts;
}

/* --- the ops --------------------------------------------------------------------- */

static int f_attach(void *self, const struct ucd_runtime_env *env, struct ucd_error **err)
{
	(void)self, (void)err;
	fake.env = *env;
	fake.attached = true;
	printf("ATTACH address=%s ttrpc=%s exe=%s\n", env->address, env->ttrpc_address,
	       strrchr(env->self_exe, '/') ? strrchr(env->self_exe, '/') + 1 : env->self_exe);
	fflush(stdout);
	return 0;
}

static void f_create(void *self, const struct ucd_runtime_create *c, ucd_runtime_done done, void *arg)
{
	(void)self;
	printf("REQ Create %s %s ", c->ns, c->id);
	print_hex(c->request, c->request_len);
	printf(" runtime=%s rtopts=", c->runtime);
	print_hex(c->runtime_options, c->runtime_options_len);
	printf(" taskopts=");
	print_hex(c->task_options, c->task_options_len);
	printf(" spec=%.*s\n", (int)c->spec_len, (const char *)c->spec);
	fflush(stdout);
	if (task_find(c->ns, c->id) != NULL) {
		char msg[128];
		snprintf(msg, sizeof msg, "task %s: already exists", c->id);
		fail_later(done, arg, UCD_ALREADY_EXISTS, msg);
		return;
	}
	struct task *t = xcalloc(1, sizeof *t);
	snprintf(t->ns, sizeof t->ns, "%s", c->ns);
	snprintf(t->id, sizeof t->id, "%s", c->id);
	t->next = fake.tasks;
	fake.tasks = t;
	Containerd__Task__V2__CreateTaskResponse r = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	r.pid = 4242;
	later(done, arg, NULL, &r.base);
}

static void park(const char *ns, const char *id, bool state, ucd_runtime_done done, void *arg)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	snprintf(w->ns, sizeof w->ns, "%s", ns);
	snprintf(w->id, sizeof w->id, "%s", id);
	w->state = state;
	w->done = done;
	w->arg = arg;
	w->next = fake.waiters;
	fake.waiters = w;
}

/* Answers the parked Waits of a task (all == false) or everything parked. */
static void unpark(const char *ns, const char *id, bool detach)
{
	for (struct waiter **w = &fake.waiters; *w != NULL;) {
		struct waiter *x = *w;
		if (!detach && (x->state || strcmp(x->ns, ns) != 0 || strcmp(x->id, id) != 0)) {
			w = &x->next;
			continue;
		}
		*w = x->next;
		if (detach) {
			fail_later(x->done, x->arg, UCD_UNAVAILABLE, "ttrpc: closed");
		} else {
			Containerd__Task__V2__WaitResponse r = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
			Google__Protobuf__Timestamp ts = ts_at(200, 0);
			r.exit_status = 137;
			r.exited_at = &ts;
			later(x->done, x->arg, NULL, &r.base);
		}
		free(x);
	}
}

static void answer_state(const char *id, const uint8_t *req, size_t len, ucd_runtime_done done, void *arg)
{
	Containerd__Task__V2__StateRequest *sr = containerd__task__v2__state_request__unpack(NULL, len, req);
	Containerd__Task__V2__StateResponse r = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = ts_at(100, 5);
	r.id = (char *)id;
	r.bundle = "/bundle";
	r.pid = 4242;
	r.status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
	r.stdin = "/in";
	r.stdout = "/out";
	r.stderr = "/err";
	r.terminal = 1;
	r.exit_status = 0;
	r.exited_at = &ts;
	r.exec_id = sr ? sr->exec_id : "";
	later(done, arg, NULL, &r.base);
	containerd__task__v2__state_request__free_unpacked(sr, NULL);
}

static void answer(const char *ns, const char *id, const char *method, const uint8_t *req, size_t len,
		   ucd_runtime_done done, void *arg)
{
	bool state = strcmp(method, "State") == 0, stats = strcmp(method, "Stats") == 0;
	if ((state || stats) && strcmp(id, "broken") == 0)
		return fail_later(done, arg, UCD_INTERNAL, "shim is broken");
	if ((state || stats) && strcmp(id, "gone") == 0)
		return fail_later(done, arg, UCD_NOT_FOUND, "process gone: not found");
	if (state && strcmp(id, "hang") == 0)
		return park(ns, id, true, done, arg);
	if (state)
		return answer_state(id, req, len, done, arg);
	if (strcmp(method, "Wait") == 0)
		return park(ns, id, false, done, arg);
	if (strcmp(method, "Start") == 0) {
		Containerd__Task__V2__StartResponse r = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
		r.pid = 4243;
		return later(done, arg, NULL, &r.base);
	}
	if (strcmp(method, "Delete") == 0) {
		Containerd__Task__V2__DeleteResponse r = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
		Google__Protobuf__Timestamp ts = ts_at(100, 5);
		r.pid = 4243;
		r.exit_status = 3;
		r.exited_at = &ts;
		return later(done, arg, NULL, &r.base);
	}
	if (strcmp(method, "Pids") == 0) {
		Containerd__V1__Types__ProcessInfo p1 = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
		Containerd__V1__Types__ProcessInfo p2 = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
		Google__Protobuf__Any info = GOOGLE__PROTOBUF__ANY__INIT;
		info.type_url = "containerd.runc.v1.ProcessDetails";
		info.value.data = (uint8_t *)"\x0a\x02" "e1";
		info.value.len = 4;
		p1.pid = 4242;
		p2.pid = 4244;
		p2.info = &info;
		Containerd__V1__Types__ProcessInfo *ps[] = { &p1, &p2 };
		Containerd__Task__V2__PidsResponse r = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
		r.processes = ps;
		r.n_processes = 2;
		return later(done, arg, NULL, &r.base);
	}
	if (stats) {
		Google__Protobuf__Any st = GOOGLE__PROTOBUF__ANY__INIT;
		st.type_url = "io.containerd.cgroups.v2.Metrics";
		st.value.data = (uint8_t *)id;
		st.value.len = strlen(id);
		Containerd__Task__V2__StatsResponse r = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
		r.stats = &st;
		return later(done, arg, NULL, &r.base);
	}
	if (strcmp(method, "Kill") == 0) {
		Containerd__Task__V2__KillRequest *k = containerd__task__v2__kill_request__unpack(NULL, len, req);
		uint32_t sig = k ? k->signal : 0;
		containerd__task__v2__kill_request__free_unpacked(k, NULL);
		if (sig == 9)
			unpark(ns, id, false);
		if (sig == 31) {   /* the shim dies: as the plugin would report it */
			unpark(ns, id, false);
			task_drop(ns, id);
			fake.env.task_gone(fake.env.arg, ns, id, 4242, 255, 300, 7);
		}
	}
	later(done, arg, NULL, NULL);   /* google.protobuf.Empty */
}

static void f_call(void *self, const char *ns, const char *id, const char *method, const uint8_t *req, size_t len,
		   ucd_runtime_done done, void *arg)
{
	(void)self;
	record(method, ns, id, req, len);
	if (task_find(ns, id) == NULL) {
		char msg[128];
		snprintf(msg, sizeof msg, "task %s not found", id);
		fail_later(done, arg, UCD_NOT_FOUND, msg);
		return;
	}
	answer(ns, id, method, req, len, done, arg);
}

static void f_delete(void *self, const char *ns, const char *id, ucd_runtime_done done, void *arg)
{
	(void)self;
	record("DeleteTask", ns, id, NULL, 0);
	if (task_find(ns, id) == NULL) {
		char msg[128];
		snprintf(msg, sizeof msg, "task %s not found", id);
		fail_later(done, arg, UCD_NOT_FOUND, msg);
		return;
	}
	task_drop(ns, id);
	Containerd__Task__V2__DeleteResponse r = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = ts_at(1, 2);
	r.pid = 4242;
	r.exit_status = 0;
	r.exited_at = &ts;
	later(done, arg, NULL, &r.base);
}

static char **f_list(void *self, const char *ns)
{
	(void)self;
	size_t n = 0, i = 0;
	for (struct task *t = fake.tasks; t != NULL; t = t->next)
		n++;
	char **out = xcalloc(n + 1, sizeof *out);
	for (struct task *t = fake.tasks; t != NULL; t = t->next)
		if (strcmp(t->ns, ns) == 0)
			out[i++] = xstrdup(t->id);
	return out;
}

static void f_detach(void *self)
{
	(void)self;
	fake.attached = false;
	unpark(NULL, NULL, true);
	while (fake.tasks != NULL)
		task_drop(fake.tasks->ns, fake.tasks->id);
}

static const struct ucd_runtime_ops fake_ops = {
	.size = sizeof(struct ucd_runtime_ops),
	.attach = f_attach,
	.create = f_create,
	.call = f_call,
	.delete_task = f_delete,
	.list = f_list,
	.detach = f_detach,
};

/* --- the server --------------------------------------------------------------------- */

static void closed(void *arg)
{
	(void)arg;
	uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_term(uv_signal_t *h, int sig)
{
	(void)h, (void)sig;
	uv_signal_stop(&sigterm);
	svc_tasks_shutdown(&ctx);
	rpc_server_close(ctx.server, closed, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <dir> <socket>\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct ucd_error *err = NULL;
	uv_loop_t loop;
	uv_loop_init(&loop);
	fake.loop = &loop;
	struct config cfg = {0};
	cfg.grpc.address = argv[2];
	cfg.ttrpc.address = "";
	struct rpc_server_opts so = { .address = argv[2], .uid = -1, .gid = -1, .mode = 0600,
				      .max_recv_message_size = 16 << 20, .max_send_message_size = 16 << 20 };
	ctx.loop = &loop;
	ctx.config = &cfg;
	ctx.events = events_new();
	if ((ctx.db = md_open(argv[1], &err)) == NULL || (ctx.server = rpc_server_new(&loop, &so, &err)) == NULL ||
	    rpc_server_start(ctx.server, &err) < 0) {
		fprintf(stderr, "fake_tasks_server: %s\n", err->msg);
		return 1;
	}
	svc_containers_register(&ctx);
	svc_events_register(&ctx);
	if (svc_tasks_serve(&ctx, &fake_ops, NULL, free) < 0)
		return 1;
	uv_signal_init(&loop, &sigterm);
	uv_signal_start(&sigterm, on_term, SIGTERM);
	printf("ready\n");
	fflush(stdout);
	uv_run(&loop, UV_RUN_DEFAULT);
	rpc_server_free(ctx.server);
	md_close(ctx.db);
	events_free(ctx.events);
	uv_run(&loop, UV_RUN_DEFAULT);
	int r = uv_loop_close(&loop);
	printf("%s answers=%d\n", r == 0 && fake.live_answers == 0 && fake.waiters == NULL ? "clean" : "unclean",
	       fake.live_answers);
	fflush(stdout);
	return r == 0 ? 0 : 1;
}
