/* The Tasks service's translations (tasks_xlate.c): a
 * containerd.services.tasks.v1 request into the packed
 * containerd.task.v2 (shim) request the runtime plugin forwards, and the
 * shim's packed answer back into the Tasks response, field by field as
 * containerd 1.6 (services/tasks/local.go over runtime/v2/shim.go and
 * process.go) does. Pure functions: no loop, no plugin, no metadata, so the
 * unit tests check every mapping on its own.
 *
 * Requests: each builder packs into a new buffer (xlate_buf_fini frees it).
 * Responses: each decoder unpacks the shim's message into *shim (the caller
 * frees it with protobuf_c_message_free_unpacked once the Tasks response
 * has been sent) and fills `out`, a Tasks message the caller initialized,
 * with pointers into *shim: nothing is copied. An undecodable answer is
 * UCD_INTERNAL naming the method. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontainerd/error.h>

#include "containerd/events/task.pb-c.h"
#include "containerd/runtime/v2/task/shim.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/types/metrics.pb-c.h"
#include "containerd/types/task/task.pb-c.h"

typedef Containerd__V1__Types__Process TaskProcess;
typedef Containerd__Types__Metric TaskMetric;

struct xlate_buf {
	uint8_t *data;   /* malloc'd, never NULL once filled (1 byte for an empty message) */
	size_t len;
};

void xlate_buf_fini(struct xlate_buf *b);
/* Packs any message into a new buffer. */
void xlate_pack(const ProtobufCMessage *m, struct xlate_buf *out);

/* --- requests: Tasks -> shim --------------------------------------------- */

/* CreateTaskRequest without bundle and options (the plugin adds both, the
 * options being the task options or else the runtime options, as
 * containerd's shimTask.Create): id, rootfs (type, source and options of
 * each mount: containerd drops the target), terminal, stdio. A restore
 * from a checkpoint is refused before this is called. */
void xlate_create(const Containerd__Services__Tasks__V1__CreateTaskRequest *r, struct xlate_buf *out);
/* Start of the init process (exec_id "") or of an exec process. */
void xlate_start(const char *id, const char *exec_id, struct xlate_buf *out);
/* Delete of an exec process (DeleteProcess). */
void xlate_delete(const char *id, const char *exec_id, struct xlate_buf *out);
/* State of a process (Get, List). */
void xlate_state(const char *id, const char *exec_id, struct xlate_buf *out);
/* Kill: `all` only for the init process, as containerd's process.Kill
 * ignores it for an exec process. */
void xlate_kill(const Containerd__Services__Tasks__V1__KillRequest *r, struct xlate_buf *out);
/* Exec: the process spec (an Any) passes through untouched. */
void xlate_exec(const Containerd__Services__Tasks__V1__ExecProcessRequest *r, struct xlate_buf *out);
void xlate_resize_pty(const Containerd__Services__Tasks__V1__ResizePtyRequest *r, struct xlate_buf *out);
/* CloseIO always asks for stdin: the caller sends it only when the
 * request asked for stdin (containerd sends nothing otherwise). */
void xlate_close_io(const char *id, const char *exec_id, struct xlate_buf *out);
void xlate_pause(const char *id, struct xlate_buf *out);
void xlate_resume(const char *id, struct xlate_buf *out);
void xlate_pids(const char *id, struct xlate_buf *out);
/* Update: resources (an Any) and annotations pass through. */
void xlate_update(const Containerd__Services__Tasks__V1__UpdateTaskRequest *r, struct xlate_buf *out);
void xlate_wait(const char *id, const char *exec_id, struct xlate_buf *out);
void xlate_stats(const char *id, struct xlate_buf *out);

/* --- responses: shim -> Tasks -------------------------------------------- */

/* CreateTaskResponse{container_id, pid}. */
int xlate_create_resp(const uint8_t *p, size_t n, const char *container_id,
		      Containerd__Services__Tasks__V1__CreateTaskResponse *out, ProtobufCMessage **shim,
		      struct ucd_error **err);
/* StartResponse{pid}. */
int xlate_start_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__StartResponse *out,
		     ProtobufCMessage **shim, struct ucd_error **err);
/* DeleteResponse{id, pid, exit_status, exited_at}: `id` is the exec id for
 * DeleteProcess and "" for Delete, which containerd leaves empty. */
int xlate_delete_resp(const uint8_t *p, size_t n, const char *id, Containerd__Services__Tasks__V1__DeleteResponse *out,
		      ProtobufCMessage **shim, struct ucd_error **err);
/* A Process from StateResponse: `id` is the exec id for an exec process and
 * the container id for a task (containerd's p.ID()); container_id stays
 * empty, as in containerd. A status the Tasks API does not know reads
 * UNKNOWN. */
int xlate_state_resp(const uint8_t *p, size_t n, const char *id, TaskProcess *out, ProtobufCMessage **shim,
		     struct ucd_error **err);
/* The Process containerd reports when State failed for another reason than
 * NotFound (a timeout, a broken shim): only the id, status UNKNOWN. */
void xlate_process_unknown(const char *id, TaskProcess *out);
/* The status enum of the shim as the Tasks API's (the same values; any
 * other value is UNKNOWN). */
Containerd__V1__Types__Status xlate_status(int shim_status);
/* ListPidsResponse: the shim's ProcessInfo list (pid, info Any) as it is. */
int xlate_pids_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__ListPidsResponse *out,
		    ProtobufCMessage **shim, struct ucd_error **err);
/* WaitResponse{exit_status, exited_at}. */
int xlate_wait_resp(const uint8_t *p, size_t n, Containerd__Services__Tasks__V1__WaitResponse *out,
		    ProtobufCMessage **shim, struct ucd_error **err);
/* Metric{timestamp: when the collection started, id, data: the shim's
 * stats Any}; `ts` is the caller's storage for the timestamp. */
int xlate_stats_resp(const uint8_t *p, size_t n, const char *id, int64_t collected_ns, Google__Protobuf__Timestamp *ts,
		     TaskMetric *out, ProtobufCMessage **shim, struct ucd_error **err);

/* --- events ----------------------------------------------------------------- */

/* What containerd publishes after cleaning up a shim that died
 * (cleanupAfterDeadShim): /tasks/exit with container_id and id both the
 * task's id, then /tasks/delete with container_id (id empty). Both borrow
 * `id` and `ts`, the caller's storage for exited_at. */
void xlate_task_exit(const char *id, uint32_t pid, uint32_t exit_status, int64_t sec, int32_t nsec,
		     Google__Protobuf__Timestamp *ts, Containerd__Events__TaskExit *exit_ev,
		     Containerd__Events__TaskDelete *delete_ev);
