/* Tasks request -> shim request, shim answer -> Tasks response (see
 * tasks_xlate.h). Builders borrow the request's strings into a message on
 * the stack and pack it; decoders lend the decoded shim message's fields to
 * the Tasks response. */
#include "services/tasks_xlate.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"

typedef Containerd__Types__Mount Mount;

void xlate_buf_fini(struct xlate_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

void xlate_pack(const ProtobufCMessage *m, struct xlate_buf *out)
{
	out->len = protobuf_c_message_get_packed_size(m);
	out->data = xmalloc(out->len ? out->len : 1);
	protobuf_c_message_pack(m, out->data);
}

/* --- requests ------------------------------------------------------------------ */

void xlate_create(const Containerd__Services__Tasks__V1__CreateTaskRequest *r, struct xlate_buf *out)
{
	Containerd__Task__V2__CreateTaskRequest m = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
	autofree Mount *mounts = xcalloc(r->n_rootfs ? r->n_rootfs : 1, sizeof *mounts);
	autofree Mount **rootfs = xcalloc(r->n_rootfs ? r->n_rootfs : 1, sizeof *rootfs);
	for (size_t i = 0; i < r->n_rootfs; i++) {
		containerd__types__mount__init(&mounts[i]);
		mounts[i].type = r->rootfs[i]->type;
		mounts[i].source = r->rootfs[i]->source;
		mounts[i].n_options = r->rootfs[i]->n_options;
		mounts[i].options = r->rootfs[i]->options;
		rootfs[i] = &mounts[i];
	}
	m.id = r->container_id;
	m.rootfs = rootfs;
	m.n_rootfs = r->n_rootfs;
	m.terminal = r->terminal;
	m.stdin = r->stdin;
	m.stdout = r->stdout;
	m.stderr = r->stderr;
	xlate_pack(&m.base, out);
}

void xlate_start(const char *id, const char *exec_id, struct xlate_buf *out)
{
	Containerd__Task__V2__StartRequest m = CONTAINERD__TASK__V2__START_REQUEST__INIT;
	m.id = (char *)id;
	m.exec_id = (char *)exec_id;
	xlate_pack(&m.base, out);
}

void xlate_delete(const char *id, const char *exec_id, struct xlate_buf *out)
{
	Containerd__Task__V2__DeleteRequest m = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
	m.id = (char *)id;
	m.exec_id = (char *)exec_id;
	xlate_pack(&m.base, out);
}

void xlate_state(const char *id, const char *exec_id, struct xlate_buf *out)
{
	Containerd__Task__V2__StateRequest m = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
	m.id = (char *)id;
	m.exec_id = (char *)exec_id;
	xlate_pack(&m.base, out);
}

void xlate_kill(const Containerd__Services__Tasks__V1__KillRequest *r, struct xlate_buf *out)
{
	Containerd__Task__V2__KillRequest m = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
	m.id = r->container_id;
	m.exec_id = r->exec_id;
	m.signal = r->signal;
	m.all = r->exec_id[0] == '\0' ? r->all : 0;
	xlate_pack(&m.base, out);
}

void xlate_exec(const Containerd__Services__Tasks__V1__ExecProcessRequest *r, struct xlate_buf *out)
{
	Containerd__Task__V2__ExecProcessRequest m = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
	m.id = r->container_id;
	m.exec_id = r->exec_id;
	m.terminal = r->terminal;
	m.stdin = r->stdin;
	m.stdout = r->stdout;
	m.stderr = r->stderr;
	m.spec = r->spec;
	xlate_pack(&m.base, out);
}

void xlate_resize_pty(const Containerd__Services__Tasks__V1__ResizePtyRequest *r, struct xlate_buf *out)
{
	Containerd__Task__V2__ResizePtyRequest m = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
	m.id = r->container_id;
	m.exec_id = r->exec_id;
	m.width = r->width;
	m.height = r->height;
	xlate_pack(&m.base, out);
}

void xlate_close_io(const char *id, const char *exec_id, struct xlate_buf *out)
{
	Containerd__Task__V2__CloseIORequest m = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;
	m.id = (char *)id;
	m.exec_id = (char *)exec_id;
	m.stdin = 1;
	xlate_pack(&m.base, out);
}

void xlate_pause(const char *id, struct xlate_buf *out)
{
	Containerd__Task__V2__PauseRequest m = CONTAINERD__TASK__V2__PAUSE_REQUEST__INIT;
	m.id = (char *)id;
	xlate_pack(&m.base, out);
}

void xlate_resume(const char *id, struct xlate_buf *out)
{
	Containerd__Task__V2__ResumeRequest m = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
	m.id = (char *)id;
	xlate_pack(&m.base, out);
}

void xlate_pids(const char *id, struct xlate_buf *out)
{
	Containerd__Task__V2__PidsRequest m = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
	m.id = (char *)id;
	xlate_pack(&m.base, out);
}

void xlate_update(const Containerd__Services__Tasks__V1__UpdateTaskRequest *r, struct xlate_buf *out)
{
	typedef Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry Entry;
	Containerd__Task__V2__UpdateTaskRequest m = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
	size_t n = r->n_annotations;
	autofree Entry *entries = xcalloc(n ? n : 1, sizeof *entries);
	autofree Entry **annotations = xcalloc(n ? n : 1, sizeof *annotations);
	for (size_t i = 0; i < n; i++) {
		containerd__task__v2__update_task_request__annotations_entry__init(&entries[i]);
		entries[i].key = r->annotations[i]->key;
		entries[i].value = r->annotations[i]->value;
		annotations[i] = &entries[i];
	}
	m.id = r->container_id;
	m.resources = r->resources;
	m.annotations = annotations;
	m.n_annotations = n;
	xlate_pack(&m.base, out);
}

void xlate_wait(const char *id, const char *exec_id, struct xlate_buf *out)
{
	Containerd__Task__V2__WaitRequest m = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
	m.id = (char *)id;
	m.exec_id = (char *)exec_id;
	xlate_pack(&m.base, out);
}

void xlate_stats(const char *id, struct xlate_buf *out)
{
	Containerd__Task__V2__StatsRequest m = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
	m.id = (char *)id;
	xlate_pack(&m.base, out);
}

/* --- responses ----------------------------------------------------------------- */

/* The shim's answer decoded, or Internal naming the method. */
static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, const char *method, const uint8_t *p, size_t n,
				struct ucd_error **err)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
	if (m == NULL)
		error_set(err, UCD_INTERNAL, 0, "invalid %s response from the shim (%zu bytes)", method, n);
	return m;
}

int xlate_create_resp(const uint8_t *p, size_t n, const char *container_id,
		      Containerd__Services__Tasks__V1__CreateTaskResponse *out, ProtobufCMessage **shim,
		      struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__create_task_response__descriptor, "Create", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__CreateTaskResponse *m = (const void *)*shim;
	out->container_id = (char *)container_id;
	out->pid = m->pid;
	return 0;
}

int xlate_start_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__StartResponse *out,
		     ProtobufCMessage **shim, struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__start_response__descriptor, "Start", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__StartResponse *m = (const void *)*shim;
	out->pid = m->pid;
	return 0;
}

int xlate_delete_resp(const uint8_t *p, size_t n, const char *id, Containerd__Services__Tasks__V1__DeleteResponse *out,
		      ProtobufCMessage **shim, struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__delete_response__descriptor, "Delete", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__DeleteResponse *m = (const void *)*shim;
	out->id = (char *)id;
	out->pid = m->pid;
	out->exit_status = m->exit_status;
	out->exited_at = m->exited_at;
	return 0;
}

Containerd__V1__Types__Status xlate_status(int shim_status)
{
	switch (shim_status) {
	case CONTAINERD__V1__TYPES__STATUS__CREATED:
	case CONTAINERD__V1__TYPES__STATUS__RUNNING:
	case CONTAINERD__V1__TYPES__STATUS__STOPPED:
	case CONTAINERD__V1__TYPES__STATUS__PAUSED:
	case CONTAINERD__V1__TYPES__STATUS__PAUSING:
		return (Containerd__V1__Types__Status)shim_status;
	default:
		return CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
	}
}

int xlate_state_resp(const uint8_t *p, size_t n, const char *id, TaskProcess *out, ProtobufCMessage **shim,
		     struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__state_response__descriptor, "State", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__StateResponse *m = (const void *)*shim;
	out->id = (char *)id;
	out->pid = m->pid;
	out->status = xlate_status((int)m->status);
	out->stdin = m->stdin;
	out->stdout = m->stdout;
	out->stderr = m->stderr;
	out->terminal = m->terminal;
	out->exit_status = m->exit_status;
	out->exited_at = m->exited_at;
	return 0;
}

void xlate_process_unknown(const char *id, TaskProcess *out)
{
	out->id = (char *)id;
	out->status = CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
}

int xlate_pids_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__ListPidsResponse *out,
		    ProtobufCMessage **shim, struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__pids_response__descriptor, "Pids", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__PidsResponse *m = (const void *)*shim;
	out->processes = m->processes;
	out->n_processes = m->n_processes;
	return 0;
}

int xlate_wait_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__WaitResponse *out,
		    ProtobufCMessage **shim, struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__wait_response__descriptor, "Wait", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__WaitResponse *m = (const void *)*shim;
	out->exit_status = m->exit_status;
	out->exited_at = m->exited_at;
	return 0;
}

static void timestamp_set(Google__Protobuf__Timestamp *ts, int64_t sec, int32_t nsec)
{
	google__protobuf__timestamp__init(ts);
	ts->seconds = sec;
	ts->nanos = nsec;
}

int xlate_stats_resp(const uint8_t *p, size_t n, const char *id, int64_t collected_ns, Google__Protobuf__Timestamp *ts,
		     TaskMetric *out, ProtobufCMessage **shim, struct ucd_error **err)
{
	if ((*shim = unpack(&containerd__task__v2__stats_response__descriptor, "Stats", p, n, err)) == NULL)
		return -UCD_INTERNAL;
	const Containerd__Task__V2__StatsResponse *m = (const void *)*shim;
	int64_t sec = collected_ns / 1000000000, nsec = collected_ns % 1000000000;
	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	timestamp_set(ts, sec, (int32_t)nsec);
	out->timestamp = ts;
	out->id = (char *)id;
	out->data = m->stats;
	return 0;
}

/* --- events ------------------------------------------------------------------------ */

void xlate_task_exit(const char *id, uint32_t pid, uint32_t exit_status, int64_t sec, int32_t nsec,
		     Google__Protobuf__Timestamp *ts, Containerd__Events__TaskExit *exit_ev,
		     Containerd__Events__TaskDelete *delete_ev)
{
	timestamp_set(ts, sec, nsec);
	containerd__events__task_exit__init(exit_ev);
	exit_ev->container_id = (char *)id;
	exit_ev->id = (char *)id;
	exit_ev->pid = pid;
	exit_ev->exit_status = exit_status;
	exit_ev->exited_at = ts;
	containerd__events__task_delete__init(delete_ev);
	delete_ev->container_id = (char *)id;
	delete_ev->pid = pid;
	delete_ev->exit_status = exit_status;
	delete_ev->exited_at = ts;
}
