/* A shim's log: the FIFO `log` in its bundle, as containerd makes it. The
 * shim (containerd's at least) refuses to start without it; the daemon keeps
 * the FIFO open read-write (so the shim never gets EPIPE while the daemon
 * restarts) and copies each line into its own log, naming the task. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

struct shim_log {
	uv_pipe_t pipe;
	struct rt_task *t;
	char line[1024];
	size_t len;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char buf[4096];
	b->base = buf;
	b->len = sizeof buf;
}

static void emit(struct shim_log *l)
{
	if (l->len == 0)
		return;
	struct runtime *rt = l->t->rt;
	rt->host->log(rt->ic, UCD_LOG_DEBUG, "shim %s/%s: %.*s", l->t->ns, l->t->id, (int)l->len, l->line);
	l->len = 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct shim_log *l = s->data;
	for (ssize_t i = 0; i < n; i++) {
		char c = b->base[i];
		if (c == '\n' || l->len == sizeof l->line) {
			emit(l);
			if (c == '\n')
				continue;
		}
		l->line[l->len++] = c;
	}
	/* n < 0 cannot end a FIFO we hold open for writing too; errors just stop the copy */
	if (n < 0)
		uv_read_stop(s);
}

static void closed(uv_handle_t *h)
{
	free(h->data);
}

int shim_log_open(struct runtime *rt, struct rt_task *t, struct ucd_error **err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/log", t->bundle);
	if (mkfifo(path, 0600) < 0 && errno != EEXIST)
		return rt->host->error_new(err, UCD_INTERNAL, errno, "mkfifo `%s`: %s", path, strerror(errno));
	int fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return rt->host->error_new(err, UCD_INTERNAL, errno, "open `%s`: not a FIFO", path);
	}
	if (fd < 0)
		return rt->host->error_new(err, UCD_INTERNAL, errno, "open `%s`: %s", path, strerror(errno));
	struct shim_log *l = calloc(1, sizeof *l);
	l->t = t;
	uv_pipe_init(rt->env.loop, &l->pipe, 0);
	l->pipe.data = l;
	int r = uv_pipe_open(&l->pipe, fd);
	if (r < 0) {
		close(fd);
		uv_close((uv_handle_t *)&l->pipe, closed);
		return rt->host->error_new(err, UCD_INTERNAL, -r, "watch `%s`: %s", path, uv_strerror(r));
	}
	uv_read_start((uv_stream_t *)&l->pipe, on_alloc, on_read);
	t->log = l;
	return 0;
}

void shim_log_close(struct rt_task *t)
{
	struct shim_log *l = t->log;
	if (l == NULL)
		return;
	emit(l);
	t->log = NULL;
	uv_close((uv_handle_t *)&l->pipe, closed);
}
