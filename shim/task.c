/* The containerd.task.v2.Task service: one task (container) per shim, its
 * init process and its exec processes.
 *
 * Statuses come from the shim's own bookkeeping (created by Create, running
 * by Start, paused/resumed by Pause/Resume, stopped by the reaper), as the
 * daemon asks often and running the runtime for each State would cost a
 * fork each time. Error texts follow containerd's runc shim, with the
 * class appended the way its errdefs do (": not found"), because clients
 * match on them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "containerd/runtime/v2/runc/options/oci.pb-c.h"
#include "containerd/runtime/v2/task/shim.pb-c.h"
#include "shim.h"

struct shim_config cfg;

static struct {
	char *id, *bundle, *rootfs;
	struct runtime rt;
	struct proc *init;      /* NULL before Create and after Delete */
	struct proc *execs;
	struct cgroups *cg;
} task;

/* --- lookups --------------------------------------------------------------- */

static struct proc *find_pid(pid_t pid)
{
	if (pid <= 0)
		return NULL;
	if (task.init != NULL && task.init->pid == pid)
		return task.init;
	for (struct proc *p = task.execs; p != NULL; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static struct proc *find_exec(const char *exec_id)
{
	for (struct proc *p = task.execs; p != NULL; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

static bool task_exists(const char *id, struct shim_err *e)
{
	if (task.init == NULL || id == NULL || strcmp(id, task.id) != 0) {
		fail(e, CODE_NOT_FOUND, "container not created: not found");
		return false;
	}
	return true;
}

/* The process a request names: the init for an empty exec id. */
static struct proc *get_proc(const char *id, const char *exec_id, struct shim_err *e)
{
	if (!task_exists(id, e))
		return NULL;
	if (exec_id == NULL || *exec_id == '\0')
		return task.init;
	struct proc *p = find_exec(exec_id);
	if (p == NULL)
		fail(e, CODE_NOT_FOUND, "process %s does not exist: not found", exec_id);
	return p;
}

static void timestamp(Google__Protobuf__Timestamp *ts, struct timespec t)
{
	ts->seconds = t.tv_sec;
	ts->nanos = (int32_t)t.tv_nsec;
}

static char *bundle_file(const char *name, const char *suffix)
{
	return xasprintf("%s/%s%s", task.bundle, name, suffix);
}

/* An exec's process spec and pid file: `exec-<id>.json`, `exec-<id>.pid`,
 * apart from the bundle's own files whatever the id (an exec named
 * `config`, `log` or `init` must not overwrite config.json, log.json or
 * init.pid). */
static char *exec_file(const char *exec_id, const char *suffix)
{
	return xasprintf("%s/exec-%s%s", task.bundle, exec_id, suffix);
}

/* A Create names the shim's own task (-id) and bundle (the directory it
 * was started in, its working directory): that is where it writes, mounts
 * the rootfs and later unmounts. */
static bool own_task(const char *id, const char *bundle, struct shim_err *e)
{
	if (!shim_identifier("task id", id, e))
		return false;
	if (cfg.id != NULL && strcmp(id, cfg.id) != 0) {
		fail(e, CODE_INVALID_ARGUMENT, "task id %s: this shim was started for %s", id, cfg.id);
		return false;
	}
	struct stat want, got;
	if (bundle == NULL || bundle[0] != '/') {
		fail(e, CODE_INVALID_ARGUMENT, "bundle %s: not an absolute path", bundle ? bundle : "");
		return false;
	}
	if (stat(bundle, &got) < 0 || stat(".", &want) < 0) {
		fail(e, CODE_INVALID_ARGUMENT, "bundle %s: %s", bundle, strerror(errno));
		return false;
	}
	if (got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
		fail(e, CODE_INVALID_ARGUMENT, "bundle %s is not the directory this shim was started in", bundle);
		return false;
	}
	return true;
}

/* --- exits ----------------------------------------------------------------- */

void task_process_exited(struct proc *p)
{
	Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	timestamp(&ts, p->exited_at);
	ev.container_id = task.id;
	ev.id = p->exec_id ? p->exec_id : task.id;
	ev.pid = (uint32_t)p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = &ts;
	events_publish("/tasks/exit", &ev.base);
}

/* --- Create ----------------------------------------------------------------- */

static void load_options(const Google__Protobuf__Any *any, struct runtime *rt)
{
	const char *binary = DEFAULT_RUNTIME, *root = DEFAULT_ROOT;
	Containerd__Runc__V1__Options *o = NULL;
	if (any != NULL && any->type_url != NULL && strstr(any->type_url, "containerd.runc.v1.Options") != NULL) {
		o = containerd__runc__v1__options__unpack(NULL, any->value.len, any->value.data);
		if (o == NULL)
			log_warn("options of type %s do not decode: ignored", any->type_url);
	} else if (any != NULL && any->type_url != NULL && *any->type_url != '\0') {
		log_warn("options of type %s: not understood, ignored", any->type_url);
	}
	if (o != NULL) {
		if (o->binary_name && *o->binary_name)
			binary = o->binary_name;
		if (o->root && *o->root)
			root = o->root;
		rt->systemd_cgroup = o->systemd_cgroup;
		rt->no_pivot_root = o->no_pivot_root;
		rt->no_new_keyring = o->no_new_keyring;
	}
	rt->binary = xstrdup(binary);
	rt->root = xasprintf("%s/%s", root, cfg.ns);
	rt->log = xasprintf("%s/%s", task.bundle, LOG_JSON);
	if (o != NULL)
		containerd__runc__v1__options__free_unpacked(o, NULL);
}

static int mount_request(const Containerd__Task__V2__CreateTaskRequest *r, struct shim_err *e)
{
	struct mount_spec *m = xcalloc(r->n_rootfs, sizeof *m);
	for (size_t i = 0; i < r->n_rootfs; i++)
		m[i] = (struct mount_spec){r->rootfs[i]->type, r->rootfs[i]->source, r->rootfs[i]->options,
					   r->rootfs[i]->n_options};
	int rc = mount_rootfs(task.rootfs, m, r->n_rootfs, e);
	free(m);
	return rc;
}

static void publish_create(const Containerd__Task__V2__CreateTaskRequest *r, pid_t pid)
{
	Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
	Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
	io.stdin = r->stdin;
	io.stdout = r->stdout;
	io.stderr = r->stderr;
	io.terminal = r->terminal;
	ev.container_id = r->id;
	ev.bundle = r->bundle;
	ev.n_rootfs = r->n_rootfs;
	ev.rootfs = r->rootfs;
	ev.io = &io;
	ev.checkpoint = r->checkpoint;
	ev.pid = (uint32_t)pid;
	events_publish("/tasks/create", &ev.base);
}

static void forget_task(void)
{
	for (struct proc *p = task.execs, *next; p != NULL; p = next) {
		next = p->next;
		proc_free(p);
	}
	task.execs = NULL;
	proc_free(task.init);
	task.init = NULL;
	cgroup_free(task.cg);
	task.cg = NULL;
}

/* runc create, then the pid; on failure everything made so far is undone. */
static int create_container(struct proc *p, struct shim_err *e)
{
	char *pid_file = bundle_file(INIT_PID_FILE, "");
	const char *args[16];
	size_t n = 0;
	args[n++] = "create";
	args[n++] = "--bundle";
	args[n++] = task.bundle;
	args[n++] = "--pid-file";
	args[n++] = pid_file;
	if (p->io.console_path != NULL) {
		args[n++] = "--console-socket";
		args[n++] = p->io.console_path;
	}
	if (task.rt.no_pivot_root)
		args[n++] = "--no-pivot";
	if (task.rt.no_new_keyring)
		args[n++] = "--no-new-keyring";
	args[n++] = task.id;
	args[n] = NULL;
	unlink(pid_file);
	proc_expect_exits();
	int rc = runtime_run(&task.rt, args, p->io.child, NULL, "OCI runtime create failed", e);
	pid_t pid = rc == 0 ? read_pid_file(pid_file) : -1;
	free(pid_file);
	if (rc == 0 && pid < 0)
		rc = fail(e, CODE_UNKNOWN, "failed to retrieve OCI runtime container pid");
	if (rc == 0)
		rc = stdio_started(&p->io, e);
	if (rc < 0) {
		struct shim_err ignored;
		const char *del[] = {"delete", "--force", task.id, NULL};
		runtime_run(&task.rt, del, (int[3]){-1, -1, -1}, NULL, "delete", &ignored);
		return -1;
	}
	proc_reap();
	proc_set_pid(p, pid);
	return 0;
}

static void task_create(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__CreateTaskRequest *r = (const void *)msg;
	struct shim_err e = {0};
	if (task.init != NULL)
		return reply_code(c, CODE_ALREADY_EXISTS, "task %s: already exists", task.id);
	if (!own_task(r->id, r->bundle, &e))
		return reply_err(c, &e);
	if (r->checkpoint != NULL && *r->checkpoint != '\0')
		return reply_code(c, CODE_UNIMPLEMENTED, "restore from a checkpoint is not supported");
	free(task.id);
	free(task.bundle);
	free(task.rootfs);
	runtime_fini(&task.rt);
	task.id = xstrdup(r->id);
	task.bundle = xstrdup(r->bundle);
	task.rootfs = xasprintf("%s/rootfs", r->bundle);
	load_options(r->options, &task.rt);
	if (runtime_resolve(&task.rt, &e) < 0)
		return reply_err(c, &e);
	if (runtime_save(&task.rt, task.bundle) < 0)
		log_warn("save %s/%s: %s", task.bundle, RUNTIME_FILE, strerror(errno));
	if (runtime_log_create(&task.rt) < 0)
		log_warn("create %s: %s", task.rt.log, strerror(errno));
	if (mount_request(r, &e) < 0)
		return reply_err(c, &e);
	struct proc *p = proc_new(NULL, r->stdin, r->stdout, r->stderr, r->terminal);
	if (stdio_open(&p->io, &e) < 0 || create_container(p, &e) < 0) {
		proc_free(p);
		unmount_all(task.rootfs);
		return reply_err(c, &e);
	}
	task.init = p;
	if (!p->exited)
		task.cg = cgroup_load(p->pid, task.id);
	log_info("created task %s, pid %d", task.id, (int)p->pid);
	publish_create(r, p->pid);
	Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
	resp.pid = (uint32_t)p->pid;
	reply(c, &resp.base);
}

/* --- Start ------------------------------------------------------------------ */

static const char *state_error(const struct proc *p, const char *verb)
{
	static char buf[128];
	const char *state = p->exited ? "stopped" : p->status == PROC_PAUSED ? "paused" : "running";
	if (p->exited || p->status == PROC_STOPPED)
		state = "stopped";
	snprintf(buf, sizeof buf, "cannot %s a %s process", verb, state);
	return buf;
}

static int start_exec(struct proc *p, struct shim_err *e)
{
	char *pid_file = exec_file(p->exec_id, ".pid");
	char *spec = exec_file(p->exec_id, ".json");
	const char *args[16];
	size_t n = 0;
	args[n++] = "exec";
	args[n++] = "--detach";
	args[n++] = "--pid-file";
	args[n++] = pid_file;
	args[n++] = "--process";
	args[n++] = spec;
	if (p->io.console_path != NULL) {
		args[n++] = "--console-socket";
		args[n++] = p->io.console_path;
	}
	args[n++] = task.id;
	args[n] = NULL;
	unlink(pid_file);
	proc_expect_exits();
	int rc = runtime_run(&task.rt, args, p->io.child, NULL, "OCI runtime exec failed", e);
	pid_t pid = rc == 0 ? read_pid_file(pid_file) : -1;
	free(pid_file);
	free(spec);
	if (rc == 0 && pid < 0)
		rc = fail(e, CODE_UNKNOWN, "failed to retrieve OCI runtime exec pid");
	if (rc == 0)
		rc = stdio_started(&p->io, e);
	if (rc < 0) {
		stdio_exited(&p->io);
		return -1;
	}
	p->status = PROC_RUNNING;
	proc_reap();
	proc_set_pid(p, pid);
	return 0;
}

static void task_start(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__StartRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	if (p->status != PROC_CREATED || p->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "%s", state_error(p, "start"));
	Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
	if (p == task.init) {
		const char *args[] = {"start", task.id, NULL};
		if (runtime_run(&task.rt, args, (int[3]){-1, -1, -1}, NULL, "OCI runtime start failed", &e) < 0)
			return reply_err(c, &e);
		if (!p->exited)
			p->status = PROC_RUNNING;
		cgroup_watch_oom(task.cg);
		Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
		ev.container_id = task.id;
		ev.pid = (uint32_t)p->pid;
		events_publish("/tasks/start", &ev.base);
	} else {
		if (task.init->exited)
			return reply_code(c, CODE_FAILED_PRECONDITION, "cannot exec in a stopped state");
		if (stdio_open(&p->io, &e) < 0 || start_exec(p, &e) < 0) {
			stdio_exited(&p->io);
			return reply_err(c, &e);
		}
		Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
		ev.container_id = task.id;
		ev.exec_id = p->exec_id;
		ev.pid = (uint32_t)p->pid;
		events_publish("/tasks/exec-started", &ev.base);
	}
	resp.pid = (uint32_t)p->pid;
	reply(c, &resp.base);
}

/* --- Delete ----------------------------------------------------------------- */

static void reply_delete(struct call c, const struct proc *p)
{
	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	timestamp(&ts, p->exited_at);
	resp.pid = (uint32_t)p->pid;
	resp.exit_status = p->exit_status;
	resp.exited_at = p->exited ? &ts : NULL;
	reply(c, &resp.base);
}

static void delete_exec(struct call c, struct proc *p)
{
	if (p->pid != 0 && !p->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot delete a running process");
	for (struct proc **pp = &task.execs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	char *spec = exec_file(p->exec_id, ".json"), *pid = exec_file(p->exec_id, ".pid");
	unlink(spec);
	unlink(pid);
	free(spec);
	free(pid);
	reply_delete(c, p);
	proc_free(p);
}

static void delete_init(struct call c, struct proc *p)
{
	struct shim_err e = {0};
	bool never_started = p->status == PROC_CREATED && !p->exited;
	if (!never_started && !p->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "%s", state_error(p, "delete"));
	const char *force[] = {"delete", "--force", task.id, NULL};
	const char *plain[] = {"delete", task.id, NULL};
	if (runtime_run(&task.rt, never_started ? force : plain, (int[3]){-1, -1, -1}, NULL, "failed to delete task",
			&e) < 0 && strstr(e.msg, "does not exist") == NULL && strstr(e.msg, "not found") == NULL) {
		unmount_all(task.rootfs);
		return reply_err(c, &e);
	}
	if (never_started)
		proc_wait_exit(p, 2000);   /* the runtime killed it: its exit status is the answer */
	unmount_all(task.rootfs);

	Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	timestamp(&ts, p->exited_at);
	ev.container_id = task.id;
	ev.pid = (uint32_t)p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = &ts;
	events_publish("/tasks/delete", &ev.base);
	log_info("deleted task %s", task.id);
	reply_delete(c, p);
	forget_task();
}

static void task_delete(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__DeleteRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	if (p == task.init)
		delete_init(c, p);
	else
		delete_exec(c, p);
}

/* --- State, Wait, Kill, Pids ----------------------------------------------- */

static void task_state(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__StateRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	resp.id = p->exec_id ? p->exec_id : task.id;
	resp.bundle = task.bundle;
	resp.pid = (uint32_t)p->pid;
	resp.status = (Containerd__V1__Types__Status)(p->exited ? PROC_STOPPED : p->status);
	resp.stdin = p->io.in;
	resp.stdout = p->io.out;
	resp.stderr = p->io.err;
	resp.terminal = p->io.terminal;
	resp.exit_status = p->exit_status;
	if (p->exited) {
		timestamp(&ts, p->exited_at);
		resp.exited_at = &ts;
	}
	resp.exec_id = p->exec_id ? p->exec_id : (char *)"";
	reply(c, &resp.base);
}

static void task_wait(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__WaitRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	proc_park_wait(p, c);
}

/* containerd's reading of a failed kill: the process being gone is NotFound. */
static void kill_error(struct shim_err *e)
{
	char lower[sizeof e->msg];
	size_t i;
	for (i = 0; e->msg[i] && i < sizeof lower - 1; i++)
		lower[i] = (char)((e->msg[i] >= 'A' && e->msg[i] <= 'Z') ? e->msg[i] + 32 : e->msg[i]);
	lower[i] = '\0';
	if (strstr(lower, "os: process already finished") || strstr(lower, "container not running") ||
	    strstr(lower, "no such process") || strstr(lower, "process already finished"))
		fail(e, CODE_NOT_FOUND, "process already finished: not found");
	else if (strstr(lower, "does not exist"))
		fail(e, CODE_NOT_FOUND, "no such container: not found");
	else
		fail_wrap(e, "unknown error after kill");
}

static void task_kill(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__KillRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	if (r->signal == 0 || r->signal > 64)
		return reply_code(c, CODE_INVALID_ARGUMENT, "invalid signal %u", r->signal);
	if (p->exited && !(p == task.init && r->all))
		return reply_code(c, CODE_NOT_FOUND, "process already finished: not found");
	if (p != task.init) {
		if (p->pid == 0)
			return reply_code(c, CODE_FAILED_PRECONDITION, "process not created: failed precondition");
		if (kill(p->pid, (int)r->signal) < 0)
			return reply_code(c, errno == ESRCH ? CODE_NOT_FOUND : CODE_UNKNOWN, "%s",
					  errno == ESRCH ? "process already finished: not found" : strerror(errno));
		return reply(c, NULL);
	}
	char sig[16];
	snprintf(sig, sizeof sig, "%u", r->signal);
	const char *with_all[] = {"kill", "--all", task.id, sig, NULL};
	const char *one[] = {"kill", task.id, sig, NULL};
	if (runtime_run(&task.rt, r->all ? with_all : one, (int[3]){-1, -1, -1}, NULL, "kill", &e) < 0) {
		kill_error(&e);
		return reply_err(c, &e);
	}
	reply(c, NULL);
}

/* runc ps --format json prints [pid, pid, ...] (null when empty). */
static size_t parse_pids(const char *s, uint32_t **out)
{
	size_t n = 0, cap = 0;
	*out = NULL;
	while (*s) {
		if (*s < '0' || *s > '9') {
			s++;
			continue;
		}
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		s = end;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[n++] = (uint32_t)v;
	}
	return n;
}

static void task_pids(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__PidsRequest *r = (const void *)msg;
	struct shim_err e = {0};
	if (!task_exists(r->id, &e))
		return reply_err(c, &e);
	const char *args[] = {"ps", "--format", "json", task.id, NULL};
	char *out = NULL;
	if (runtime_run(&task.rt, args, (int[3]){-1, -1, -1}, &out, "ps", &e) < 0)
		return reply_err(c, &e);
	uint32_t *pids;
	size_t n = parse_pids(out, &pids);
	free(out);

	Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
	Containerd__V1__Types__ProcessInfo *infos = xcalloc(n, sizeof *infos);
	Containerd__V1__Types__ProcessInfo **ptrs = xcalloc(n, sizeof *ptrs);
	Google__Protobuf__Any *anys = xcalloc(n, sizeof *anys);
	for (size_t i = 0; i < n; i++) {
		containerd__v1__types__process_info__init(&infos[i]);
		infos[i].pid = pids[i];
		ptrs[i] = &infos[i];
		struct proc *p = find_pid((pid_t)pids[i]);
		if (p == NULL || p->exec_id == NULL)
			continue;
		/* which exec a pid is, as containerd's runc shim tells it */
		Containerd__Runc__V1__ProcessDetails d = CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
		d.exec_id = p->exec_id;
		google__protobuf__any__init(&anys[i]);
		anys[i].type_url = "containerd.runc.v1.ProcessDetails";
		anys[i].value.len = protobuf_c_message_get_packed_size(&d.base);
		anys[i].value.data = xmalloc(anys[i].value.len);
		protobuf_c_message_pack(&d.base, anys[i].value.data);
		infos[i].info = &anys[i];
	}
	resp.n_processes = n;
	resp.processes = ptrs;
	reply(c, &resp.base);
	for (size_t i = 0; i < n; i++)
		free(anys[i].value.data);
	free(anys);
	free(ptrs);
	free(infos);
	free(pids);
}

/* --- Exec, CloseIO, ResizePty ---------------------------------------------- */

static void task_exec(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__ExecProcessRequest *r = (const void *)msg;
	struct shim_err e = {0};
	if (!task_exists(r->id, &e))
		return reply_err(c, &e);
	if (!shim_identifier("exec id", r->exec_id, &e))
		return reply_err(c, &e);
	if (find_exec(r->exec_id) != NULL)
		return reply_code(c, CODE_ALREADY_EXISTS, "id %s: already exists", r->exec_id);
	if (task.init->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot exec in a stopped state");
	if (task.init->status == PROC_CREATED)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot exec in a created state");
	if (task.init->status == PROC_PAUSED)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot exec in a paused state");
	if (r->spec == NULL || r->spec->value.len == 0)
		return reply_code(c, CODE_INVALID_ARGUMENT, "exec %s: no process spec", r->exec_id);
	char *spec = exec_file(r->exec_id, ".json");
	int rc = write_file(spec, r->spec->value.data, r->spec->value.len, 0600);
	free(spec);
	if (rc < 0)
		return reply_code(c, CODE_INTERNAL, "write process spec of %s: %s", r->exec_id, strerror(errno));
	struct proc *p = proc_new(r->exec_id, r->stdin, r->stdout, r->stderr, r->terminal);
	p->next = task.execs;
	task.execs = p;
	Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
	ev.container_id = task.id;
	ev.exec_id = p->exec_id;
	events_publish("/tasks/exec-added", &ev.base);
	reply(c, NULL);
}

static void task_close_io(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__CloseIORequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL)
		return reply_err(c, &e);
	if (r->stdin)
		stdio_close_stdin(&p->io);
	reply(c, NULL);
}

static void task_resize_pty(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__ResizePtyRequest *r = (const void *)msg;
	struct shim_err e = {0};
	struct proc *p = get_proc(r->id, r->exec_id, &e);
	if (p == NULL || stdio_resize(&p->io, r->width, r->height, &e) < 0)
		return reply_err(c, &e);
	reply(c, NULL);
}

/* --- Pause, Resume, Update ---------------------------------------------- */

static void pause_resume(struct call c, const char *id, bool pause)
{
	struct shim_err e = {0};
	if (!task_exists(id, &e))
		return reply_err(c, &e);
	struct proc *p = task.init;
	if (p->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot %s a stopped container", pause ? "pause" : "resume");
	if (p->status == PROC_CREATED)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot %s task in created state", pause ? "pause" : "resume");
	const char *args[] = {pause ? "pause" : "resume", task.id, NULL};
	if (runtime_run(&task.rt, args, (int[3]){-1, -1, -1}, NULL, pause ? "pause" : "resume", &e) < 0)
		return reply_err(c, &e);
	p->status = pause ? PROC_PAUSED : PROC_RUNNING;
	if (pause) {
		Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
		ev.container_id = task.id;
		events_publish("/tasks/paused", &ev.base);
	} else {
		Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
		ev.container_id = task.id;
		events_publish("/tasks/resumed", &ev.base);
	}
	reply(c, NULL);
}

static void task_pause(struct call c, const ProtobufCMessage *msg)
{
	pause_resume(c, ((const Containerd__Task__V2__PauseRequest *)msg)->id, true);
}

static void task_resume(struct call c, const ProtobufCMessage *msg)
{
	pause_resume(c, ((const Containerd__Task__V2__ResumeRequest *)msg)->id, false);
}

static void task_update(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__UpdateTaskRequest *r = (const void *)msg;
	struct shim_err e = {0};
	if (!task_exists(r->id, &e))
		return reply_err(c, &e);
	if (task.init->exited)
		return reply_code(c, CODE_FAILED_PRECONDITION, "cannot update a stopped container");
	if (r->resources == NULL || r->resources->value.len == 0)
		return reply_code(c, CODE_INVALID_ARGUMENT, "update: no resources");
	/* the Any holds OCI LinuxResources as JSON, which is what runc update reads */
	char *path = bundle_file("resources", ".json");
	if (write_file(path, r->resources->value.data, r->resources->value.len, 0600) < 0) {
		reply_code(c, CODE_INTERNAL, "write %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	const char *args[] = {"update", "--resources", path, task.id, NULL};
	int rc = runtime_run(&task.rt, args, (int[3]){-1, -1, -1}, NULL, "update", &e);
	unlink(path);
	free(path);
	if (rc < 0)
		return reply_err(c, &e);
	reply(c, NULL);
}

/* --- Connect, Shutdown, the rest ------------------------------------------- */

static void task_connect(struct call c, const ProtobufCMessage *msg)
{
	Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
	resp.shim_pid = (uint32_t)getpid();
	resp.task_pid = task.init ? (uint32_t)task.init->pid : 0;
	reply(c, &resp.base);
}

static void task_shutdown(struct call c, const ProtobufCMessage *msg)
{
	reply(c, NULL);
	/* as containerd's runc shim: a shim with a task keeps serving it */
	if (task.init == NULL) {
		log_info("shutdown");
		loop_stop();
	}
}

static void task_stats(struct call c, const ProtobufCMessage *msg)
{
	const Containerd__Task__V2__StatsRequest *r = (const void *)msg;
	struct shim_err e = {0};
	if (!task_exists(r->id, &e))
		return reply_err(c, &e);
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	if (cgroup_stats(task.cg, &any, &e) < 0)
		return reply_err(c, &e);
	Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
	resp.stats = &any;
	reply(c, &resp.base);
	free(any.value.data);
}

static void task_checkpoint(struct call c, const ProtobufCMessage *msg)
{
	reply_code(c, CODE_UNIMPLEMENTED, "checkpoint: not implemented by ucontainerd-shim");
}

#define M(name, type, fn) {name, &containerd__task__v2__##type##__descriptor, fn}
const struct method task_methods[] = {
	M("State", state_request, task_state),
	M("Create", create_task_request, task_create),
	M("Start", start_request, task_start),
	M("Delete", delete_request, task_delete),
	M("Pids", pids_request, task_pids),
	M("Pause", pause_request, task_pause),
	M("Resume", resume_request, task_resume),
	M("Checkpoint", checkpoint_task_request, task_checkpoint),
	M("Kill", kill_request, task_kill),
	M("Exec", exec_process_request, task_exec),
	M("ResizePty", resize_pty_request, task_resize_pty),
	M("CloseIO", close_iorequest, task_close_io),
	M("Update", update_task_request, task_update),
	M("Wait", wait_request, task_wait),
	M("Stats", stats_request, task_stats),
	M("Connect", connect_request, task_connect),
	M("Shutdown", shutdown_request, task_shutdown),
};
const size_t task_methods_len = ARRAY_LEN(task_methods);

void task_init(void)
{
	proc_lookup = find_pid;
}
