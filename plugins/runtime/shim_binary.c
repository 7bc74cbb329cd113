/* Shim binaries: which one runs a runtime, and its `start` and `delete`
 * commands, run with libuv so the loop never waits for them. The command
 * line is containerd 1.6's (runtime/v2/binary.go): -namespace, -address,
 * -publish-binary, -id [, -bundle] and the command; the working directory
 * is the bundle and TTRPC_ADDRESS names the daemon's ttrpc socket. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

extern char **environ;

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
}

#define INVALID_RUNTIME_NAME                                                                                      \
	"invalid runtime name %s, correct runtime name should be either format like `io.containerd.runc.v2` or a " \
	"full path to the binary"

/* containerd's convention: io.containerd.runc.v2 -> containerd-shim-runc-v2. */
static char *conventional_name(const char *runtime)
{
	const char *last = strrchr(runtime, '.');
	if (runtime[0] == '.' || last == NULL || last[1] == '\0')
		return NULL;
	const char *prev = last - 1;
	while (prev > runtime && *prev != '.')
		prev--;
	if (*prev == '.')
		prev++;
	if (prev == last)
		return NULL;
	char *out = NULL;
	if (asprintf(&out, "containerd-shim-%.*s-%s", (int)(last - prev), prev, last + 1) < 0)
		return NULL;
	return out;
}

/* Which binary runs a runtime, as containerd 1.7+ resolves it: an
 * absolute path is that binary; a name with a '/' anywhere else is
 * refused (it would be relative to the daemon's working directory); the
 * configured runc_shim for io.containerd.runc.v2; else the conventional
 * name, looked up next to the daemon, then in the absolute entries of
 * PATH. containerd also looks in its working directory first: not here. */
char *shim_resolve(struct runtime *rt, const char *runtime, struct ucd_error **err)
{
	char *name;
	if (runtime[0] == '/') {
		name = strdup(runtime);
	} else if (strchr(runtime, '/') != NULL) {
		RT_ERR(rt, err, UCD_INVALID_ARGUMENT, INVALID_RUNTIME_NAME, runtime);
		return NULL;
	} else if (strcmp(runtime, "io.containerd.runc.v2") == 0 && rt->cfg.runc_shim[0] != '\0') {
		name = strdup(rt->cfg.runc_shim);
		if (name[0] != '/' && strchr(name, '/') != NULL) {
			RT_ERR(rt, err, UCD_FAILED_PRECONDITION,
			       "runtime \"%s\": runc_shim `%s` is a relative path: give an absolute path or a name "
			       "looked up in PATH", runtime, name);
			free(name);
			return NULL;
		}
	} else if ((name = conventional_name(runtime)) == NULL || strchr(name, '/') != NULL) {
		free(name);
		RT_ERR(rt, err, UCD_INVALID_ARGUMENT, INVALID_RUNTIME_NAME, runtime);
		return NULL;
	}
	if (name[0] == '/') {
		if (executable(name))
			return name;
		RT_ERR(rt, err, UCD_NOT_FOUND, "runtime \"%s\": shim binary `%s` not found or not executable", runtime,
		       name);
		free(name);
		return NULL;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", rt->exe_dir, name);
	if (rt->exe_dir[0] == '/' && executable(path)) {
		free(name);
		return strdup(path);
	}
	const char *env = getenv("PATH");
	char *dirs = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;   /* relative to the working directory: skipped, as Go's LookPath refuses it */
		snprintf(path, sizeof path, "%s/%s", d, name);
		if (executable(path)) {
			free(dirs);
			free(name);
			return strdup(path);
		}
	}
	free(dirs);
	RT_ERR(rt, err, UCD_NOT_FOUND, "runtime \"%s\": shim binary \"%s\" not found next to the daemon (%s) nor in PATH (%s)",
	       runtime, name, rt->exe_dir, env ? env : "");
	free(name);
	return NULL;
}

/* One run of a shim command. */
struct shim_cmd {
	struct runtime *rt;
	struct rt_task *t;
	uv_process_t proc;
	uv_pipe_t in, out, errp;
	uv_write_t wreq;
	uint8_t *input;
	char *outbuf, *errbuf;
	size_t outlen, errlen;
	int open_handles;
	int64_t status;
	int term_signal;
	bool spawned, timed_out, exited;
	uv_timer_t timer;          /* kills a shim command that does not finish */
	void (*finish)(struct shim_cmd *c);
	union {
		void (*started)(void *arg, char *address, struct ucd_error *err);
		void (*deleted)(void *arg, const uint8_t *resp, size_t len, struct ucd_error *err);
	} done;
	void *arg;
};

static void cmd_free(struct shim_cmd *c)
{
	free(c->input);
	free(c->outbuf);
	free(c->errbuf);
	free(c);
}

static void handle_closed(uv_handle_t *h)
{
	struct shim_cmd *c = h->data;
	if (--c->open_handles == 0) {
		c->finish(c);
		cmd_free(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char buf[16384];
	b->base = buf;
	b->len = sizeof buf;
}

static void append(char **buf, size_t *len, const char *p, size_t n)
{
	if (*len > 1 << 20)   /* a shim that prints megabytes: keep the start */
		return;
	char *nb = realloc(*buf, *len + n + 1);
	if (nb == NULL)
		return;
	memcpy(nb + *len, p, n);
	*len += n;
	nb[*len] = 0;
	*buf = nb;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct shim_cmd *c = s->data;
	if (n > 0) {
		if (s == (uv_stream_t *)&c->out)
			append(&c->outbuf, &c->outlen, b->base, (size_t)n);
		else
			append(&c->errbuf, &c->errlen, b->base, (size_t)n);
	} else if (n < 0) {
		uv_close((uv_handle_t *)s, handle_closed);
		/* the last pipe after the exit: the grace timer has nothing left to wait for */
		if (c->exited && uv_is_closing((uv_handle_t *)&c->out) && uv_is_closing((uv_handle_t *)&c->errp) &&
		    !uv_is_closing((uv_handle_t *)&c->timer)) {
			uv_timer_stop(&c->timer);
			uv_close((uv_handle_t *)&c->timer, handle_closed);
		}
	}
}

/* containerd bounds a shim's start and delete by its context; ours by
 * SHIM_CMD_TIMEOUT_MS: a shim binary that hangs is killed and the request
 * fails instead of hanging with it. */
#define SHIM_CMD_TIMEOUT_MS 30000
#define PIPE_GRACE_MS 2000

static void on_timeout(uv_timer_t *t)
{
	struct shim_cmd *c = t->data;
	if (!c->exited) {
		c->timed_out = true;
		uv_process_kill(&c->proc, SIGKILL);
		return;
	}
	uv_handle_t *pipes[] = {(uv_handle_t *)&c->out, (uv_handle_t *)&c->errp};
	for (int i = 0; i < 2; i++)
		if (!uv_is_closing(pipes[i]))
			uv_close(pipes[i], handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct shim_cmd *c = p->data;
	c->status = status;
	c->term_signal = term_signal;
	c->exited = true;
	uv_close((uv_handle_t *)p, handle_closed);
	/* Its output ends when every holder of the pipes closes them: a shim
	 * whose server kept them gets PIPE_GRACE_MS, then they are closed. */
	if (uv_is_closing((uv_handle_t *)&c->out) && uv_is_closing((uv_handle_t *)&c->errp))
		uv_close((uv_handle_t *)&c->timer, handle_closed);
	else
		uv_timer_start(&c->timer, on_timeout, PIPE_GRACE_MS, 0);
}

static void on_written(uv_write_t *w, int status)
{
	struct shim_cmd *c = w->data;
	uv_close((uv_handle_t *)&c->in, handle_closed);
}

/* What went wrong, in containerd's words where it has them. */
static void cmd_error(struct shim_cmd *c, const char *what, struct ucd_error **err)
{
	char *msg = c->errbuf ? c->errbuf : c->outbuf ? c->outbuf : "";
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
	if (c->timed_out)
		RT_ERR(c->rt, err, UCD_DEADLINE_EXCEEDED, "%s: `%s` did not finish within %d s (killed)%s%s", what,
		       c->t->shim, SHIM_CMD_TIMEOUT_MS / 1000, n ? ": " : "", msg);
	else if (c->term_signal != 0)
		RT_ERR(c->rt, err, UCD_UNKNOWN, "%s: %s: signal: %s", what, msg, strsignal(c->term_signal));
	else
		RT_ERR(c->rt, err, UCD_UNKNOWN, "%s: %s: exit status %d", what, msg, (int)c->status);
}

static void run(struct runtime *rt, struct rt_task *t, const char *command, const uint8_t *input, size_t input_len,
		struct shim_cmd *c)
{
	struct ucd_error *err = NULL;
	char *args[16];
	int n = 0;
	args[n++] = t->shim;
	args[n++] = "-namespace";
	args[n++] = t->ns;
	args[n++] = "-address";
	args[n++] = (char *)rt->env.address;
	args[n++] = "-publish-binary";
	args[n++] = (char *)rt->env.self_exe;
	args[n++] = "-id";
	args[n++] = t->id;
	if (strcmp(command, "delete") == 0) {
		args[n++] = "-bundle";
		args[n++] = t->bundle;
	}
	args[n++] = (char *)command;
	args[n] = NULL;

	size_t nenv = 0;
	while (environ[nenv] != NULL)
		nenv++;
	char **env = calloc(nenv + 2, sizeof *env);
	char *ttrpc = NULL;
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "TTRPC_ADDRESS=", 14) != 0)
			env[k++] = environ[i];
	if (asprintf(&ttrpc, "TTRPC_ADDRESS=%s", rt->env.ttrpc_address) >= 0)
		env[k++] = ttrpc;

	c->rt = rt;
	c->t = t;
	uv_pipe_init(rt->env.loop, &c->in, 0);
	uv_pipe_init(rt->env.loop, &c->out, 0);
	uv_pipe_init(rt->env.loop, &c->errp, 0);
	c->in.data = c->out.data = c->errp.data = c->proc.data = c;
	c->open_handles = 3;
	uv_stdio_container_t stdio[3] = {
		{.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&c->in},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
		{.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->errp},
	};
	uv_process_options_t o = {
		.exit_cb = on_exit_cb,
		.file = t->shim,
		.args = args,
		.env = env,
		.cwd = t->bundle,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int r = uv_spawn(rt->env.loop, &c->proc, &o);
	free(env);
	free(ttrpc);
	if (r < 0) {
		RT_ERR(rt, &err, UCD_INTERNAL, "run shim `%s %s`: %s", t->shim, command, uv_strerror(r));
		c->status = -1;
		c->errbuf = strdup(err->msg);
		rt->host->error_free(err);
		c->open_handles = 4;   /* libuv initializes the process handle even when spawn fails */
		uv_close((uv_handle_t *)&c->proc, handle_closed);
		uv_close((uv_handle_t *)&c->in, handle_closed);
		uv_close((uv_handle_t *)&c->out, handle_closed);
		uv_close((uv_handle_t *)&c->errp, handle_closed);
		return;
	}
	c->spawned = true;
	c->open_handles = 5;
	uv_timer_init(rt->env.loop, &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, on_timeout, SHIM_CMD_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
	uv_read_start((uv_stream_t *)&c->errp, on_alloc, on_read);
	if (input_len > 0) {
		c->input = malloc(input_len);
		memcpy(c->input, input, input_len);
		uv_buf_t b = uv_buf_init((char *)c->input, (unsigned)input_len);
		c->wreq.data = c;
		if (uv_write(&c->wreq, (uv_stream_t *)&c->in, &b, 1, on_written) == 0)
			return;
	}
	uv_close((uv_handle_t *)&c->in, handle_closed);
}

static void start_finished(struct shim_cmd *c)
{
	struct ucd_error *err = NULL;
	if (!c->spawned || c->status != 0 || c->term_signal != 0 || c->timed_out) {
		cmd_error(c, "failed to start shim: start failed", &err);
		c->done.started(c->arg, NULL, err);
		return;
	}
	char none[1] = "";
	char *addr = c->outbuf ? c->outbuf : none;
	addr[strcspn(addr, "\r\n")] = 0;
	while (*addr == ' ')
		addr++;
	if (*addr == '\0') {
		RT_ERR(c->rt, &err, UCD_UNKNOWN, "failed to start shim: `%s start` exited 0 but no address printed%s%s",
		       c->t->shim, c->errbuf ? ": " : "", c->errbuf ? c->errbuf : "");
		c->done.started(c->arg, NULL, err);
		return;
	}
	c->done.started(c->arg, strdup(addr), NULL);
}

void shim_start(struct runtime *rt, struct rt_task *t, const uint8_t *opts, size_t opts_len,
		void (*done)(void *arg, char *address, struct ucd_error *err), void *arg)
{
	struct shim_cmd *c = calloc(1, sizeof *c);
	c->arg = arg;
	c->finish = start_finished;
	c->done.started = done;
	run(rt, t, "start", opts, opts_len, c);
}

static void delete_finished(struct shim_cmd *c)
{
	struct ucd_error *err = NULL;
	if (!c->spawned || c->status != 0 || c->term_signal != 0) {
		cmd_error(c, "failed to delete shim", &err);
		c->done.deleted(c->arg, NULL, 0, err);
		return;
	}
	c->done.deleted(c->arg, (const uint8_t *)c->outbuf, c->outlen, NULL);
}

void shim_delete(struct runtime *rt, struct rt_task *t,
		 void (*done)(void *arg, const uint8_t *resp, size_t len, struct ucd_error *err), void *arg)
{
	struct shim_cmd *c = calloc(1, sizeof *c);
	c->arg = arg;
	c->finish = delete_finished;
	c->done.deleted = done;
	run(rt, t, "delete", NULL, 0, c);
}
