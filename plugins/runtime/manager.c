/* The task manager: one entry per task (namespace, id), each with the ttrpc
 * connection to its shim. It creates tasks (bundle, shim `start`, Create),
 * forwards calls, deletes tasks (Delete, Shutdown, bundle removed), finds
 * the shims that outlived a restart, and cleans up after a shim that died
 * (shim `delete`, then the core reports the task's exit). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "containerd/runtime/v2/task/shim.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "runtime.h"
#include "ttrpc/ttrpc_conn.h"

#define TASK_SERVICE "containerd.task.v2.Task"

/* --- tasks ------------------------------------------------------------------- */

static struct rt_task *task_find(struct runtime *rt, const char *ns, const char *id)
{
	for (struct rt_task *t = rt->tasks; t != NULL; t = t->next)
		if (strcmp(t->ns, ns) == 0 && strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

static struct rt_task *task_add(struct runtime *rt, const char *ns, const char *id)
{
	struct rt_task *t = calloc(1, sizeof *t);
	t->rt = rt;
	t->ns = strdup(ns);
	t->id = strdup(id);
	if (asprintf(&t->bundle, "%s/%s/%s", rt->state, ns, id) < 0)
		abort();
	t->refs = 1;   /* the manager's list */
	t->next = rt->tasks;
	rt->tasks = t;
	return t;
}

static void task_ref(struct rt_task *t)
{
	t->refs++;
}

static void task_unref(struct rt_task *t)
{
	if (--t->refs > 0)
		return;
	free(t->ns);
	free(t->id);
	free(t->bundle);
	free(t->shim);
	free(t);
}

/* Takes the task out of the manager's list (its name is free again). */
static void task_remove(struct runtime *rt, struct rt_task *t)
{
	shim_log_close(t);
	for (struct rt_task **p = &rt->tasks; *p != NULL; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			t->next = NULL;
			task_unref(t);
			return;
		}
	}
}

/* --- answers that must come later than the call -------------------------------- */

struct later {
	uv_timer_t timer;
	ucd_runtime_done done;
	void *arg;
	struct ucd_error *err;
};

static void later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void later_fire(uv_timer_t *tm)
{
	struct later *l = tm->data;
	l->done(l->arg, l->err, NULL, 0);
	uv_close((uv_handle_t *)&l->timer, later_closed);
}

static void fail_later(struct runtime *rt, ucd_runtime_done done, void *arg, struct ucd_error *err)
{
	struct later *l = calloc(1, sizeof *l);
	l->done = done;
	l->arg = arg;
	l->err = err;
	uv_timer_init(rt->env.loop, &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, later_fire, 0, 0);
}

/* A ttrpc status as an error the core can hand to its client. */
static struct ucd_error *status_error(struct runtime *rt, int code, const char *msg, const char *prefix)
{
	struct ucd_error *e = NULL;
	if (prefix != NULL)
		rt->host->error_new(&e, code, 0, "%s: %s", prefix, msg ? msg : "");
	else
		rt->host->error_new(&e, code, 0, "%s", msg ? msg : "");
	return e;
}

/* --- a shim that died ---------------------------------------------------------- */

static void dead_deleted(void *arg, const uint8_t *resp, size_t len, struct ucd_error *err)
{
	struct rt_task *t = arg;
	struct runtime *rt = t->rt;
	uint32_t pid = 0, status = 137;
	int64_t sec = time(NULL);
	int32_t nsec = 0;
	if (err != NULL) {
		rt->host->log(rt->ic, UCD_LOG_WARN, "cleanup of dead shim of task %s/%s: %s", t->ns, t->id, err->msg);
		rt->host->error_free(err);
	} else {
		Containerd__Task__V2__DeleteResponse *d = containerd__task__v2__delete_response__unpack(NULL, len, resp);
		if (d != NULL) {
			pid = d->pid;
			status = d->exit_status;
			if (d->exited_at != NULL) {
				sec = d->exited_at->seconds;
				nsec = d->exited_at->nanos;
			}
			containerd__task__v2__delete_response__free_unpacked(d, NULL);
		}
	}
	if (!rt->detached) {
		bundle_remove(rt, t->bundle);
		task_remove(rt, t);
		if (rt->env.task_gone != NULL)
			rt->env.task_gone(rt->env.arg, t->ns, t->id, pid, status, sec, nsec);
	}
	task_unref(t);
}

/* containerd's cleanupAfterDeadShim: the shim's `delete` command undoes
 * what the shim left (runc state, rootfs mount) and tells the exit status. */
static void cleanup_dead(struct runtime *rt, struct rt_task *t)
{
	if (t->gone)
		return;
	t->gone = true;
	t->conn = NULL;
	rt->host->log(rt->ic, UCD_LOG_WARN, "shim of task %s/%s is gone: cleaning up", t->ns, t->id);
	task_ref(t);
	if (t->shim == NULL) {
		dead_deleted(t, NULL, 0, NULL);
		return;
	}
	shim_delete(rt, t, dead_deleted, t);
}

static void on_shim_close(void *arg, struct ttrpc_conn *c)
{
	struct rt_task *t = arg;
	struct runtime *rt = t->rt;
	if (t->conn == c)
		t->conn = NULL;
	if (rt->detached || t->deleting)
		return;
	cleanup_dead(rt, t);
}

/* Closes the task's connection on purpose: its close callback must not run
 * (it would treat the shim as dead, and may outlive the task). */
static void drop_conn(struct rt_task *t)
{
	struct ttrpc_conn *c = t->conn;
	if (c == NULL)
		return;
	t->conn = NULL;
	ttrpc_on_close(c, NULL, NULL);
	ttrpc_close(c);
}

static void adopt(struct rt_task *t, struct ttrpc_conn *c)
{
	t->conn = c;
	ttrpc_on_close(c, on_shim_close, t);
}

/* Sends one containerd.task.v2.Task method to the task's shim (the message
 * is packed here; ttrpc copies it into its frame). */
static void send_task(struct rt_task *t, const char *method, const ProtobufCMessage *msg, ttrpc_reply_fn reply,
		      void *arg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	protobuf_c_message_pack(msg, buf);
	ttrpc_call(t->conn, TASK_SERVICE, method, t->ns, buf, n, 0, reply, arg);
	free(buf);
}

/* --- create -------------------------------------------------------------------- */

struct create {
	struct runtime *rt;
	struct rt_task *t;
	uint8_t *request;
	size_t request_len;
	uint8_t *opts;
	size_t opts_len;
	ucd_runtime_done done;
	void *arg;
	struct ucd_error *err;   /* the failure being cleaned up after */
};

static void create_free(struct create *c)
{
	free(c->request);
	free(c->opts);
	task_unref(c->t);
	free(c);
}

static void create_fail_done(struct create *c)
{
	struct runtime *rt = c->rt;
	struct rt_task *t = c->t;
	t->deleting = true;
	drop_conn(t);
	if (!rt->detached) {
		bundle_remove(rt, t->bundle);
		task_remove(rt, t);
	}
	c->done(c->arg, c->err, NULL, 0);
	create_free(c);
}

static void create_shutdown_reply(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	create_fail_done(arg);
}

/* A shim that started but could not create the task is told to go. */
static void create_fail(struct create *c, struct ucd_error *err)
{
	c->err = err;
	if (c->t->conn == NULL || c->rt->detached) {
		create_fail_done(c);
		return;
	}
	c->t->deleting = true;
	Containerd__Task__V2__ShutdownRequest sr = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	sr.id = c->t->id;
	sr.now = true;
	send_task(c->t, "Shutdown", &sr.base, create_shutdown_reply, c);
}

static void created(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	struct create *c = arg;
	if (code != 0) {
		create_fail(c, status_error(c->rt, code, msg, "failed to create shim task"));
		return;
	}
	c->t->creating = false;
	c->done(c->arg, NULL, p, len);
	create_free(c);
}

static void send_create(struct create *c)
{
	Containerd__Task__V2__CreateTaskRequest *req =
		containerd__task__v2__create_task_request__unpack(NULL, c->request_len, c->request);
	if (req == NULL) {
		struct ucd_error *e = NULL;
		RT_ERR(c->rt, &e, UCD_INTERNAL, "runtime: undecodable CreateTaskRequest from the core");
		create_fail(c, e);
		return;
	}
	char *old_bundle = req->bundle;
	Google__Protobuf__Any *old_opts = req->options, *any = NULL;
	req->bundle = c->t->bundle;
	if (c->opts_len > 0)
		any = google__protobuf__any__unpack(NULL, c->opts_len, c->opts);
	req->options = any;
	send_task(c->t, "Create", &req->base, created, c);
	req->bundle = old_bundle;   /* not the unpacked message's own: give back what it owns */
	req->options = old_opts;
	containerd__task__v2__create_task_request__free_unpacked(req, NULL);
	if (any != NULL)
		google__protobuf__any__free_unpacked(any, NULL);
}

static void create_connected(void *arg, struct ttrpc_conn *conn, struct ucd_error *err)
{
	struct create *c = arg;
	if (err != NULL) {
		struct ucd_error *e = status_error(c->rt, UCD_UNAVAILABLE, err->msg, "failed to connect to shim");
		free(err->msg);   /* made by the ttrpc code with the C allocator */
		free(err);
		create_fail(c, e);
		return;
	}
	if (c->rt->detached) {
		ttrpc_close(conn);
		struct ucd_error *e = NULL;
		RT_ERR(c->rt, &e, UCD_UNAVAILABLE, "daemon shutting down");
		create_fail(c, e);
		return;
	}
	adopt(c->t, conn);
	send_create(c);
}

static void on_started(void *arg, char *address, struct ucd_error *err)
{
	struct create *c = arg;
	if (err != NULL) {
		create_fail(c, err);
		return;
	}
	ttrpc_connect(c->rt->env.loop, address, create_connected, c);
	free(address);
}

static void rt_create(void *self, const struct ucd_runtime_create *in, ucd_runtime_done done, void *arg)
{
	struct runtime *rt = self;
	struct ucd_error *err = NULL;
	if (task_find(rt, in->ns, in->id) != NULL) {
		RT_ERR(rt, &err, UCD_ALREADY_EXISTS, "task %s: already exists", in->id);
		fail_later(rt, done, arg, err);
		return;
	}
	char *shim = shim_resolve(rt, in->runtime, &err);
	if (shim == NULL) {
		fail_later(rt, done, arg, err);
		return;
	}
	struct rt_task *t = task_add(rt, in->ns, in->id);
	t->shim = shim;
	/* Until its Create is answered the task is not there for other calls,
	 * as in containerd (which lists a shim's task once it is created): a
	 * Kill or Delete then answers NotFound at once instead of waiting
	 * behind a Create that an OCI runtime may take forever over (our shim
	 * serves one call at a time). */
	t->creating = true;
	if (bundle_create(rt, t, in->spec, in->spec_len, &err) < 0 || shim_log_open(rt, t, &err) < 0) {
		bundle_remove(rt, t->bundle);
		task_remove(rt, t);
		fail_later(rt, done, arg, err);
		return;
	}
	struct create *c = calloc(1, sizeof *c);
	c->rt = rt;
	c->t = t;
	task_ref(t);
	c->done = done;
	c->arg = arg;
	c->request = malloc(in->request_len ? in->request_len : 1);
	memcpy(c->request, in->request, in->request_len);
	c->request_len = in->request_len;
	c->opts = options_merge(rt, in->runtime, in->task_options, in->task_options_len, in->runtime_options,
				in->runtime_options_len, &c->opts_len);
	shim_start(rt, t, c->opts, c->opts_len, on_started, c);
}

/* --- calls --------------------------------------------------------------------- */

struct call {
	struct runtime *rt;
	struct rt_task *t;
	ucd_runtime_done done;
	void *arg;
};

static void call_reply(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	struct call *c = arg;
	if (code != 0)
		c->done(c->arg, status_error(c->rt, code, msg, NULL), NULL, 0);
	else
		c->done(c->arg, NULL, p, len);
	task_unref(c->t);
	free(c);
}

/* The task's live connection, or an error answered later. */
static struct rt_task *usable(struct runtime *rt, const char *ns, const char *id, ucd_runtime_done done, void *arg)
{
	struct ucd_error *err = NULL;
	struct rt_task *t = task_find(rt, ns, id);
	if (t == NULL || t->gone || t->creating)
		RT_ERR(rt, &err, UCD_NOT_FOUND, "task %s not found", id);
	else if (t->conn == NULL)
		RT_ERR(rt, &err, UCD_UNAVAILABLE, "task %s: shim not connected", id);
	if (err != NULL) {
		fail_later(rt, done, arg, err);
		return NULL;
	}
	return t;
}

static void rt_call(void *self, const char *ns, const char *id, const char *method, const uint8_t *req, size_t len,
		    ucd_runtime_done done, void *arg)
{
	struct runtime *rt = self;
	struct rt_task *t = usable(rt, ns, id, done, arg);
	if (t == NULL)
		return;
	struct call *c = calloc(1, sizeof *c);
	c->rt = rt;
	c->t = t;
	task_ref(t);
	c->done = done;
	c->arg = arg;
	ttrpc_call(t->conn, TASK_SERVICE, method, ns, req, len, 0, call_reply, c);
}

/* --- delete -------------------------------------------------------------------- */

struct del {
	struct runtime *rt;
	struct rt_task *t;
	ucd_runtime_done done;
	void *arg;
	uint8_t *resp;
	size_t resp_len;
};

static void del_finish(struct del *d)
{
	struct runtime *rt = d->rt;
	drop_conn(d->t);
	if (!rt->detached) {
		bundle_remove(rt, d->t->bundle);
		task_remove(rt, d->t);
	}
	d->done(d->arg, NULL, d->resp, d->resp_len);
	free(d->resp);
	task_unref(d->t);
	free(d);
}

static void del_shutdown_reply(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	del_finish(arg);   /* the shim exits: its answer, or the closed connection, ends it */
}

static void del_deleted(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	struct del *d = arg;
	if (code != 0) {
		d->t->deleting = false;
		d->done(d->arg, status_error(d->rt, code, msg, NULL), NULL, 0);
		/* A connection that closed while `deleting` was set was taken for
		 * our own closing and not cleaned up after (on_shim_close): if it
		 * is gone now, the shim is dead, so clean up as after any dead
		 * shim. (When the close itself answered this Delete, on_shim_close
		 * runs next and does it.) */
		if (d->t->conn == NULL && !d->rt->detached)
			cleanup_dead(d->rt, d->t);
		task_unref(d->t);
		free(d);
		return;
	}
	d->resp = malloc(len ? len : 1);
	memcpy(d->resp, p, len);
	d->resp_len = len;
	if (d->t->conn == NULL) {
		del_finish(d);
		return;
	}
	Containerd__Task__V2__ShutdownRequest sr = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
	sr.id = d->t->id;
	send_task(d->t, "Shutdown", &sr.base, del_shutdown_reply, d);
}

static void rt_delete(void *self, const char *ns, const char *id, ucd_runtime_done done, void *arg)
{
	struct runtime *rt = self;
	struct rt_task *t = usable(rt, ns, id, done, arg);
	if (t == NULL)
		return;
	if (t->deleting) {
		struct ucd_error *err = NULL;
		RT_ERR(rt, &err, UCD_FAILED_PRECONDITION, "task %s: being deleted", id);
		fail_later(rt, done, arg, err);
		return;
	}
	struct del *d = calloc(1, sizeof *d);
	d->rt = rt;
	d->t = t;
	task_ref(t);
	d->done = done;
	d->arg = arg;
	t->deleting = true;   /* the shim will go: its closing connection is expected */
	Containerd__Task__V2__DeleteRequest dr = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	dr.id = t->id;
	send_task(t, "Delete", &dr.base, del_deleted, d);
}

/* --- list ---------------------------------------------------------------------- */

static char **rt_list(void *self, const char *ns)
{
	struct runtime *rt = self;
	size_t n = 0, i = 0;
	for (struct rt_task *t = rt->tasks; t != NULL; t = t->next)
		n++;
	char **out = rt->host->alloc((n + 1) * sizeof *out);
	for (struct rt_task *t = rt->tasks; t != NULL; t = t->next) {
		if (t->gone || t->creating || t->conn == NULL || (ns != NULL && strcmp(t->ns, ns) != 0))
			continue;
		const char *name = t->id;
		char *full = NULL;
		if (ns == NULL) {
			if (asprintf(&full, "%s/%s", t->ns, t->id) < 0)
				abort();
			name = full;
		}
		size_t len = strlen(name);
		out[i] = rt->host->alloc(len + 1);
		memcpy(out[i], name, len + 1);
		i++;
		free(full);
	}
	out[i] = NULL;
	return out;
}

/* --- attach: the shims that outlived the daemon ---------------------------------- */

static void shutdown_sent(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	/* nothing to do: the shim's exit closes the connection, whose close
	 * callback cleans up as after any dead shim */
	task_unref(arg);
}

/* The answer to the Connect sent on reconnecting (containerd's loadShim
 * checks a shim the same way). A shim that answers with no task pid holds
 * no task: the daemon stopped between starting it and its Create (or
 * between its Delete and its Shutdown). Nobody can ever use it, so it is
 * told to shut down, and its exit cleans up its bundle like any dead
 * shim's; containerd keeps such a shim, and with it the bundle, for good. */
static void reconnect_checked(void *arg, int code, const char *msg, const uint8_t *p, size_t len)
{
	struct rt_task *t = arg;
	struct runtime *rt = t->rt;
	uint32_t task_pid = 0;
	if (code == 0) {
		Containerd__Task__V2__ConnectResponse *r = containerd__task__v2__connect_response__unpack(NULL, len, p);
		if (r != NULL) {
			task_pid = r->task_pid;
			containerd__task__v2__connect_response__free_unpacked(r, NULL);
		}
	}
	if (rt->detached || t->gone || t->conn == NULL) {
		task_unref(t);
		return;
	}
	if (code != 0) {
		rt->host->log(rt->ic, UCD_LOG_WARN, "shim of task %s/%s does not answer Connect (%s): dropping it", t->ns,
			      t->id, msg ? msg : "");
		drop_conn(t);
		cleanup_dead(rt, t);
	} else if (task_pid == 0) {
		rt->host->log(rt->ic, UCD_LOG_WARN,
			      "shim of task %s/%s holds no task (the daemon stopped while creating or deleting it): "
			      "shutting it down",
			      t->ns, t->id);
		Containerd__Task__V2__ShutdownRequest sr = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
		sr.id = t->id;
		task_ref(t);
		send_task(t, "Shutdown", &sr.base, shutdown_sent, t);
	} else {
		rt->host->log(rt->ic, UCD_LOG_DEBUG, "reconnected to the shim of task %s/%s", t->ns, t->id);
	}
	task_unref(t);
}

static void reconnected(void *arg, struct ttrpc_conn *conn, struct ucd_error *err)
{
	struct rt_task *t = arg;
	struct runtime *rt = t->rt;
	if (err != NULL) {
		free(err->msg);
		free(err);
		if (!rt->detached)
			cleanup_dead(rt, t);
	} else if (rt->detached) {
		ttrpc_close(conn);
	} else {
		adopt(t, conn);
		Containerd__Task__V2__ConnectRequest cr = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
		cr.id = t->id;
		task_ref(t);
		send_task(t, "Connect", &cr.base, reconnect_checked, t);
	}
	task_unref(t);
}

static void load_task(struct runtime *rt, const char *ns, const char *id)
{
	struct rt_task *t = task_add(rt, ns, id);
	t->shim = bundle_read(t->bundle, "shim-binary-path");
	char *address = bundle_read(t->bundle, "address");
	if (address == NULL) {
		cleanup_dead(rt, t);   /* created half-way, or a shim that never said where it listens */
		return;
	}
	struct ucd_error *err = NULL;
	if (shim_log_open(rt, t, &err) < 0) {
		rt->host->log(rt->ic, UCD_LOG_WARN, "task %s/%s: %s", ns, id, err->msg);
		rt->host->error_free(err);
	}
	task_ref(t);
	ttrpc_connect(rt->env.loop, address, reconnected, t);
	free(address);
}

/* A directory the walk below found but does not trust: logged, its tasks
 * left alone (their shims keep running; nothing of theirs is run). */
static void distrusted(struct runtime *rt, struct ucd_error *err, const char *what)
{
	rt->host->log(rt->ic, UCD_LOG_ERROR, "%s: %s", err->msg, what);
	rt->host->error_free(err);
}

static int rt_attach(void *self, const struct ucd_runtime_env *env, struct ucd_error **err)
{
	struct runtime *rt = self;
	rt->env = *env;
	rt->env.address = strdup(env->address);
	rt->env.ttrpc_address = strdup(env->ttrpc_address);
	rt->env.self_exe = strdup(env->self_exe);
	DIR *d = opendir(rt->state);
	if (d == NULL)
		return 0;   /* first start: nothing to find */
	struct dirent *ns;
	while ((ns = readdir(d)) != NULL) {
		if (ns->d_name[0] == '.' || ns->d_type != DT_DIR)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", rt->state, ns->d_name);
		struct ucd_error *e = NULL;
		if (rt->host->dir_ensure(rt->host, path, 0711, NULL, &e) < 0) {
			distrusted(rt, e, "its tasks are not loaded");
			continue;
		}
		DIR *dn = opendir(path);
		if (dn == NULL)
			continue;
		struct dirent *id;
		while ((id = readdir(dn)) != NULL) {
			if (id->d_name[0] == '.' || id->d_type != DT_DIR)
				continue;
			/* bundles of older versions were 0711, their files 0644;
			 * their containers may still run: tightened before their
			 * files are read or their shim binary run */
			char *bundle = NULL;
			if (asprintf(&bundle, "%s/%s", path, id->d_name) < 0)
				abort();
			if (bundle_secure(rt, bundle, &e) < 0)
				distrusted(rt, e, "the task is not loaded");
			else
				load_task(rt, ns->d_name, id->d_name);
			free(bundle);
		}
		closedir(dn);
	}
	closedir(d);
	return 0;
}

static void rt_detach(void *self)
{
	struct runtime *rt = self;
	if (rt->detached)
		return;
	rt->detached = true;
	while (rt->tasks != NULL) {
		struct rt_task *t = rt->tasks;
		drop_conn(t);
		task_remove(rt, t);
	}
	free((char *)rt->env.address);
	free((char *)rt->env.ttrpc_address);
	free((char *)rt->env.self_exe);
	rt->env.address = rt->env.ttrpc_address = rt->env.self_exe = NULL;
}

const struct ucd_runtime_ops rt_ops = {
	.size = sizeof(struct ucd_runtime_ops),
	.attach = rt_attach,
	.create = rt_create,
	.call = rt_call,
	.delete_task = rt_delete,
	.list = rt_list,
	.detach = rt_detach,
};
