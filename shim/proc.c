/* Processes and their exits.
 *
 * The shim is the subreaper of everything the runtime starts: SIGCHLD
 * arrives on a signalfd and every dead child is reaped with
 * waitpid(-1, WNOHANG). A child that is not (yet) a known process is kept
 * in a small table, because its pid may only become known afterwards (a
 * process that exits before the pid file was read); the table is cleared
 * before each operation that makes a new process, so a reused pid never
 * meets a stale exit. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerd/runtime/v2/task/shim.pb-c.h"
#include "shim.h"

#define MAX_EARLY 64

struct early_exit {
	pid_t pid;
	int status;
	struct timespec at;
};

static struct watch sigchld = {.fd = -1};
static struct early_exit early[MAX_EARLY];
static size_t n_early, next_early;

struct proc *(*proc_lookup)(pid_t pid);

static void remember(pid_t pid, int status)
{
	early[next_early] = (struct early_exit){.pid = pid, .status = status, .at = now_realtime()};
	next_early = (next_early + 1) % MAX_EARLY;
	if (n_early < MAX_EARLY)
		n_early++;
}

void proc_expect_exits(void)
{
	n_early = next_early = 0;
}

static uint32_t exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128u + (uint32_t)WTERMSIG(status);
	return (uint32_t)WEXITSTATUS(status);
}

static void answer_wait(struct proc *p, struct call c)
{
	Containerd__Task__V2__WaitResponse r = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = p->exited_at.tv_sec;
	ts.nanos = (int32_t)p->exited_at.tv_nsec;
	r.exit_status = p->exit_status;
	r.exited_at = &ts;
	reply(c, &r.base);
}

static void exited_at(struct proc *p, int status, struct timespec at)
{
	p->exited = true;
	p->status = PROC_STOPPED;
	p->exit_status = exit_code(status);
	p->exited_at = at;
	log_info("%s %d exited with status %u", p->exec_id ? p->exec_id : "init", (int)p->pid, p->exit_status);
	stdio_exited(&p->io);
	task_process_exited(p);
	for (size_t i = 0; i < p->n_waiters; i++)
		answer_wait(p, p->waiters[i]);
	free(p->waiters);
	p->waiters = NULL;
	p->n_waiters = 0;
}

void proc_exited(struct proc *p, int status)
{
	exited_at(p, status, now_realtime());
}

void proc_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct proc *p = proc_lookup ? proc_lookup(pid) : NULL;
		if (p != NULL && !p->exited)
			proc_exited(p, status);
		else
			remember(pid, status);
	}
}

void proc_set_pid(struct proc *p, pid_t pid)
{
	p->pid = pid;
	for (size_t i = 0; i < n_early; i++) {
		if (early[i].pid == pid) {
			early[i].pid = 0;
			exited_at(p, early[i].status, early[i].at);
			return;
		}
	}
}

void proc_park_wait(struct proc *p, struct call c)
{
	if (p->exited) {
		answer_wait(p, c);
		return;
	}
	p->waiters = xrealloc(p->waiters, (p->n_waiters + 1) * sizeof *p->waiters);
	p->waiters[p->n_waiters++] = c;
}

void proc_wait_exit(struct proc *p, int timeout_ms)
{
	for (int waited = 0; !p->exited && waited < timeout_ms; waited += 10) {
		proc_reap();
		if (!p->exited)
			poll(NULL, 0, 10);
	}
}

struct proc *proc_new(const char *exec_id, const char *in, const char *out, const char *err, bool terminal)
{
	struct proc *p = xcalloc(1, sizeof *p);
	p->exec_id = exec_id ? xstrdup(exec_id) : NULL;
	p->status = PROC_CREATED;
	stdio_init(&p->io, in, out, err, terminal);
	return p;
}

void proc_free(struct proc *p)
{
	if (p == NULL)
		return;
	stdio_free(&p->io);
	/* Wait calls still parked get an answer rather than silence */
	for (size_t i = 0; i < p->n_waiters; i++)
		reply_code(p->waiters[i], CODE_NOT_FOUND, "process %s deleted: not found",
			   p->exec_id ? p->exec_id : "init");
	free(p->waiters);
	free(p->exec_id);
	free(p);
}

static void on_sigchld(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si[8];
	while (read(w->fd, si, sizeof si) > 0)
		;
	proc_reap();
}

int proc_init(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	sigchld.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	sigchld.fn = on_sigchld;
	if (sigchld.fd < 0 || !loop_add(&sigchld, EPOLLIN))
		return -1;
	return 0;
}
