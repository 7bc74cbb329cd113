/* ucontainerd-shim: the containerd runtime v2 shim for runc and crun.
 *
 * One process per container, single-threaded: an epoll loop (loop.c) owns
 * the ttrpc server socket and its connections (server.c), the SIGCHLD
 * signalfd (proc.c), the stdio copies (stdio.c) and the connection that
 * publishes events to the daemon (events.c). The Task service methods are
 * in task.c; they run the OCI runtime synchronously (runc.c), which is short
 * and keeps the shim free of threads. See docs/shim.md. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/any.pb-c.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* gRPC status codes, as the daemon maps them back to errors. */
enum {
	CODE_OK = 0,
	CODE_UNKNOWN = 2,
	CODE_INVALID_ARGUMENT = 3,
	CODE_NOT_FOUND = 5,
	CODE_ALREADY_EXISTS = 6,
	CODE_RESOURCE_EXHAUSTED = 8,
	CODE_FAILED_PRECONDITION = 9,
	CODE_UNIMPLEMENTED = 12,
	CODE_INTERNAL = 13,
};

/* An error on its way to a ttrpc reply. Fixed size: the shim never
 * allocates to report a failure. */
struct shim_err {
	int code;
	char msg[1024];
};

/* Sets *e and returns -1, so callers can `return fail(e, ...)`. */
int fail(struct shim_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "what: " to e->msg. Returns -1. */
int fail_wrap(struct shim_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- util.c ------------------------------------------------------------ */

enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
extern bool log_debug_enabled;
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) do { if (log_debug_enabled) shim_log(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) shim_log(LOG_INFO, __VA_ARGS__)
#define log_warn(...) shim_log(LOG_WARN, __VA_ARGS__)
#define log_error(...) shim_log(LOG_ERROR, __VA_ARGS__)

/* xmalloc & co. and mount option parsing come from the daemon's util
 * library (libc only; the shim links just those objects). */
#include "util/mem.h"
#include "util/mountopts.h"

/* Reads a whole small file (at most max bytes) into a NUL-terminated
 * buffer; a final symlink is not followed, nor is a FIFO waited on. */
char *read_file(const char *path, size_t max, size_t *len);
/* Writes data to path through a temporary file (mode, a final symlink not
 * followed) and rename. */
int write_file(const char *path, const void *data, size_t len, mode_t mode);
int mkdir_p(const char *path, mode_t mode);
/* The value of a hexadecimal digit, or -1. */
int hexval(char c);
void set_cloexec(int fd);
void set_nonblock(int fd);
/* write(2) of everything, retrying on EINTR (blocking fds only). */
bool write_all(int fd, const void *p, size_t n);
/* containerd's identifier rule (task, exec and namespace names): 1 to 76
 * characters, alphanumeric runs joined by single '.', '_' or '-'. False
 * and *e (InvalidArgument "invalid <what> <s>: identifier ...") if not. */
bool shim_identifier(const char *what, const char *s, struct shim_err *e);
/* The string value of "key" in a one-line JSON object (runc's log lines),
 * unescaped, or NULL. */
char *json_string_field(const char *line, const char *key);

struct timespec now_realtime(void);

/* --- loop.c ------------------------------------------------------------ */

/* Something the loop watches: an fd and what to call when it is ready. */
struct watch {
	int fd;
	void (*fn)(struct watch *w, uint32_t events);
};

int loop_init(void);
bool loop_add(struct watch *w, uint32_t events);
bool loop_mod(struct watch *w, uint32_t events);
/* Stops watching w->fd (which stays open). */
void loop_remove(struct watch *w);
/* Stops watching w->fd and closes it; w->fd becomes -1 so an event of the
 * current batch that still names w is skipped. */
void loop_close(struct watch *w);
/* Frees p after the current batch of events (an object holding a watch). */
void loop_free_later(void *p);
/* Runs until loop_stop(). */
void loop_run(void);
void loop_stop(void);

/* --- server.c: the ttrpc server --------------------------------------- */

/* Where a reply goes. Connections are named by a number, not a pointer, so
 * a parked call (Wait) whose connection went away is answered into
 * nothing instead of into freed memory. */
struct call {
	uint64_t conn;
	uint32_t stream;
};

int server_init(int listen_fd);
void reply(struct call c, const ProtobufCMessage *result);
void reply_err(struct call c, const struct shim_err *e);
void reply_code(struct call c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Tries for up to timeout_ms to write out what replies are still queued. */
void server_flush(int timeout_ms);

/* A service the server dispatches to. */
struct method {
	const char *name;
	const ProtobufCMessageDescriptor *input;
	void (*fn)(struct call c, const ProtobufCMessage *req);
};
extern const struct method task_methods[];
extern const size_t task_methods_len;

/* --- events.c: publishing to the daemon -------------------------------- */

void events_init(const char *ttrpc_address, const char *ns);
/* Queues `event` under topic (e.g. "/tasks/exit"); sent as soon as the
 * daemon's ttrpc socket accepts it. Never blocks. */
void events_publish(const char *topic, const ProtobufCMessage *event);
/* At exit: tries for up to timeout_ms to deliver what is queued. */
void events_flush(int timeout_ms);

/* --- stdio.c ------------------------------------------------------------ */

struct copy;

/* A process's stdio as the client asked for it and as the shim holds it.
 * The container only ever gets pipes (or a pty's slave), never a file the
 * shim opened (stdio.c). */
struct stdio {
	char *in, *out, *err;     /* paths (or file:// URIs) from the request */
	bool terminal;
	int child[3];             /* what the runtime gets as fds 0, 1, 2 (until it ran) */
	struct copy *stdin_copy;  /* stdin FIFO -> stdin pipe or pty master */
	struct copy *out_copy;    /* stdout pipe or pty master -> stdout target */
	struct copy *err_copy;    /* stderr pipe -> stderr target */
	int in_fd, out_fd;        /* terminal: the stdin FIFO and stdout target until the master arrives */
	int console_listen;       /* --console-socket listener, or -1 */
	char *console_path;
	int master;               /* pty master once received, or -1 */
};

void stdio_init(struct stdio *s, const char *in, const char *out, const char *err, bool terminal);
/* Opens the targets and makes what the runtime will get; for a terminal,
 * the console socket. Starts afresh when called again. */
int stdio_open(struct stdio *s, struct shim_err *e);
/* The runtime returned: drop the child's fds; for a terminal, receive the
 * pty master and start copying. */
int stdio_started(struct stdio *s, struct shim_err *e);
/* Closes stdin as CloseIO does: what the FIFO already holds is passed on,
 * then the process sees EOF. */
void stdio_close_stdin(struct stdio *s);
/* The process exited: stdin ends; a pty is drained and closed; output
 * pipes are copied on until their end of file (then the client's readers
 * see EOF). */
void stdio_exited(struct stdio *s);
/* Everything closed (what is readable now passed on first), paths freed. */
void stdio_free(struct stdio *s);
int stdio_resize(struct stdio *s, uint32_t width, uint32_t height, struct shim_err *e);

/* --- runc.c: the OCI runtime ------------------------------------------- */

struct runtime {
	char *binary;         /* as configured ("runc", "/usr/bin/crun") */
	char *path;           /* resolved */
	char *root;           /* --root, namespace included */
	char *log;            /* <bundle>/log.json */
	bool systemd_cgroup;
	bool no_pivot_root;
	bool no_new_keyring;
};

/* Resolves rt->binary in PATH into rt->path. */
int runtime_resolve(struct runtime *rt, struct shim_err *e);
/* Runs `<runtime> <global options> args...`. stdio[i] >= 0 is given to the
 * runtime as fd i; -1 is /dev/null for fd 0 and captured otherwise. *out
 * (if out != NULL) receives the captured stdout. On failure the error text
 * is the runtime's own last error (log.json or stderr), prefixed by `what`. */
int runtime_run(const struct runtime *rt, const char *const *args, const int stdio[3], char **out,
		const char *what, struct shim_err *e);
/* The runtime the task was created with, kept in <bundle>/runtime for the
 * `delete` command, which runs after the shim is gone. */
int runtime_save(const struct runtime *rt, const char *bundle);
int runtime_load(struct runtime *rt, const char *bundle);
void runtime_fini(struct runtime *rt);
/* Reads a pid file the runtime wrote (and makes it 0600). */
pid_t read_pid_file(const char *path);
/* Makes the runtime's log.json 0600 before the runtime writes it. */
int runtime_log_create(const struct runtime *rt);

/* --- mount.c ------------------------------------------------------------ */

struct mount_spec {
	const char *type, *source;
	char *const *options;
	size_t n_options;
};
int mount_rootfs(const char *target, const struct mount_spec *m, size_t n, struct shim_err *e);
void unmount_all(const char *target);

/* --- cgroup.c: the container's cgroup (v1) ------------------------------ */

struct cgroups;
/* The cgroups of process pid, or NULL. */
struct cgroups *cgroup_load(pid_t pid, const char *container_id);
void cgroup_free(struct cgroups *cg);
/* io.containerd.cgroups.v1.Metrics packed into *any (value malloc'ed). */
int cgroup_stats(const struct cgroups *cg, Google__Protobuf__Any *any, struct shim_err *e);
/* Publishes /tasks/oom when the memory cgroup runs out of memory. */
void cgroup_watch_oom(struct cgroups *cg);

/* --- proc.c: processes and their exits --------------------------------- */

enum proc_status { PROC_CREATED = 1, PROC_RUNNING = 2, PROC_STOPPED = 3, PROC_PAUSED = 4 };

struct proc {
	struct proc *next;
	char *exec_id;           /* NULL for the init process */
	pid_t pid;               /* 0 until created (exec: until started) */
	enum proc_status status;
	bool exited;
	uint32_t exit_status;
	struct timespec exited_at;
	struct stdio io;
	struct call *waiters;    /* parked Wait calls */
	size_t n_waiters;
};

int proc_init(void);
struct proc *proc_new(const char *exec_id, const char *in, const char *out, const char *err, bool terminal);
/* Forgets exits of unknown children: called before making a process. */
void proc_expect_exits(void);
void proc_free(struct proc *p);
/* The pid is known (read from a pid file): an exit that arrived before is
 * applied now. */
void proc_set_pid(struct proc *p, pid_t pid);
void proc_park_wait(struct proc *p, struct call c);
/* A process died: bookkeeping, stdio, event, Wait replies. */
void proc_exited(struct proc *p, int wait_status);
/* Reaps what is dead right now (also called after running the runtime). */
void proc_reap(void);
/* Waits up to timeout_ms for p to exit (after a kill that must land). */
void proc_wait_exit(struct proc *p, int timeout_ms);
/* Which process a pid is: set by task.c. */
extern struct proc *(*proc_lookup)(pid_t pid);

/* --- task.c -------------------------------------------------------------- */

struct shim_config {
	const char *ns, *id, *bundle, *address, *ttrpc_address;
	char *socket_path;       /* to remove at exit */
};
extern struct shim_config cfg;

/* File names in the bundle. */
#define RUNTIME_FILE "runtime"
#define INIT_PID_FILE "init.pid"
#define LOG_JSON "log.json"
#define DEFAULT_RUNTIME "runc"
#define DEFAULT_ROOT "/run/ucontainerd/runc"

/* Hooks the task's process table into the reaper. */
void task_init(void);
/* The process exited: the task's part (TaskExit is sent by proc.c). */
void task_process_exited(struct proc *p);
