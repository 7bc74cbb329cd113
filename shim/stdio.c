/* A process's stdio.
 *
 * Without a terminal the runtime gets the client's FIFOs themselves as fds 1
 * and 2 (runc create hands its stdio to the container), opened O_RDWR: that
 * never blocks on a FIFO and never raises EPIPE when the client's reader
 * goes away. The shim keeps its own copy open until the process exits (a
 * FIFO without any writer would give the client an early EOF) and closes it
 * then, so the client sees EOF once the container's copies are gone too.
 *
 * stdin goes through a pipe the shim feeds from the loop, so that CloseIO
 * can end it while the container runs. The stdin FIFO is read O_NONBLOCK:
 * a FIFO without a writer reads as EOF, but epoll reports EPOLLHUP only
 * after a writer came and went, so the copy does not start (or end) before
 * the client opened its side.
 *
 * With a terminal the runtime sends the pty master over a console socket;
 * the loop copies master -> stdout and stdin -> master. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "shim.h"

#define COPY_BUF 16384

/* Bytes from one fd to another, with at most COPY_BUF in flight: while the
 * destination is full the source is not read (backpressure, not memory). */
struct copy {
	struct watch in, out;
	bool out_watched;
	bool closing;              /* pass on what is readable now, then end */
	bool close_out_at_end;     /* stdin pipe: the process sees EOF */
	size_t len, off;
	char buf[COPY_BUF];
};

#define COPY_OF(w, member) ((struct copy *)((char *)(w) - offsetof(struct copy, member)))

static void copy_free(struct copy *c)
{
	if (c == NULL)
		return;
	loop_close(&c->in);
	loop_close(&c->out);
	loop_free_later(c);
}

/* Source exhausted: the pending bytes are written (or dropped), then the
 * copy ends; a stdin pipe is closed so the reader sees EOF. */
static void copy_end(struct copy *c)
{
	loop_close(&c->in);
	if (c->len == c->off) {
		if (c->close_out_at_end)
			loop_close(&c->out);
		else if (c->out_watched)
			loop_remove(&c->out);
		c->out_watched = false;
	}
}

/* Writes what is buffered; false when the destination is gone. */
static bool copy_flush(struct copy *c)
{
	while (c->off < c->len) {
		ssize_t r = write(c->out.fd, c->buf + c->off, c->len - c->off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			if (!c->out_watched)
				c->out_watched = loop_add(&c->out, EPOLLOUT);
			if (c->in.fd >= 0)
				loop_mod(&c->in, 0);
			return true;
		}
		if (r <= 0)
			return false;
		c->off += (size_t)r;
	}
	c->len = c->off = 0;
	if (c->out_watched) {
		loop_remove(&c->out);
		c->out_watched = false;
	}
	if (c->in.fd >= 0)
		loop_mod(&c->in, EPOLLIN);
	return true;
}

/* Reads once; returns false at the end of the source. */
static bool copy_read(struct copy *c, uint32_t events)
{
	ssize_t r = read(c->in.fd, c->buf, sizeof c->buf);
	if (r > 0) {
		c->len = (size_t)r;
		c->off = 0;
		return true;
	}
	if (r == 0 && !(events & EPOLLHUP) && !c->closing)
		return true;   /* a FIFO nobody writes yet: not an end */
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return !c->closing;
	return false;   /* EOF, or EIO from a pty whose slave is closed */
}

static void pump(struct copy *c, uint32_t events)
{
	while (c->in.fd >= 0 && c->len == 0) {
		if (!copy_read(c, events)) {
			copy_end(c);
			return;
		}
		if (c->len == 0)
			return;
		if (!copy_flush(c)) {
			c->len = c->off = 0;   /* destination gone: nothing more to do */
			loop_close(&c->in);
			loop_close(&c->out);
			return;
		}
		if (!c->closing)
			return;   /* one read per wakeup keeps the loop fair */
	}
}

static void on_copy_in(struct watch *w, uint32_t events)
{
	pump(COPY_OF(w, in), events);
}

static void on_copy_out(struct watch *w, uint32_t events)
{
	struct copy *c = COPY_OF(w, out);
	if ((events & (EPOLLERR | EPOLLHUP)) || !copy_flush(c)) {
		c->len = c->off = 0;
		loop_close(&c->in);
		loop_close(&c->out);
		c->out_watched = false;
		return;
	}
	if (c->in.fd < 0)
		copy_end(c);   /* the source had ended: finish */
	else if (c->closing)
		pump(c, 0);
}

static struct copy *copy_new(int in, int out, bool close_out_at_end)
{
	struct copy *c = xcalloc(1, sizeof *c);
	c->in = (struct watch){.fd = in, .fn = on_copy_in};
	c->out = (struct watch){.fd = out, .fn = on_copy_out};
	c->close_out_at_end = close_out_at_end;
	set_nonblock(in);
	set_nonblock(out);
	loop_add(&c->in, EPOLLIN);
	return c;
}

static void copy_close_input(struct copy *c)
{
	if (c == NULL || c->in.fd < 0)
		return;
	c->closing = true;
	if (c->len == 0)
		pump(c, 0);
}

/* Before exit: what the pty still holds goes out, for a second at most. */
static void copy_drain(struct copy *c)
{
	if (c == NULL)
		return;
	for (int rounds = 0; rounds < 1024; rounds++) {
		if (c->len > c->off) {
			struct pollfd p = {.fd = c->out.fd, .events = POLLOUT};
			if (poll(&p, 1, 1000) <= 0)
				return;
			ssize_t r = write(c->out.fd, c->buf + c->off, c->len - c->off);
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				return;
			if (r > 0)
				c->off += (size_t)r;
			continue;
		}
		if (c->in.fd < 0)
			return;
		ssize_t r = read(c->in.fd, c->buf, sizeof c->buf);
		if (r <= 0)
			return;
		c->len = (size_t)r;
		c->off = 0;
	}
}

void stdio_init(struct stdio *s, const char *in, const char *out, const char *err, bool terminal)
{
	*s = (struct stdio){
		.in = xstrdup(in ? in : ""),
		.out = xstrdup(out ? out : ""),
		.err = xstrdup(err ? err : ""),
		.terminal = terminal,
		.child = {-1, -1, -1},
		.out_fd = -1,
		.err_fd = -1,
		.console_listen = -1,
		.master = -1,
	};
}

/* A stdout/stderr target: a FIFO (or any path) read-write, or file://. */
static int open_target(const char *what, const char *path, struct shim_err *e)
{
	int fd;
	if (strncmp(path, "file://", 7) == 0) {
		char *dir = xstrdup(path + 7), *slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			mkdir_p(dir, 0755);
		}
		free(dir);
		fd = open(path + 7, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	} else if (strstr(path, "://") != NULL) {
		return fail(e, CODE_UNIMPLEMENTED, "%s %s: only FIFO paths and file:// are supported", what, path);
	} else {
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return fail(e, CODE_UNKNOWN, "failed to open %s fifo %s: %s", what, path, strerror(errno));
	return fd;
}

static int open_null(struct shim_err *e)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(e, CODE_INTERNAL, "open /dev/null: %s", strerror(errno));
	return fd;
}

/* The runtime's copy of a target: a dup, so closing it never touches ours. */
static int child_fd(int fd, struct shim_err *e)
{
	if (fd < 0)
		return open_null(e);
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return fail(e, CODE_INTERNAL, "dup: %s", strerror(errno));
	return d;
}

static int open_console_socket(struct stdio *s, struct shim_err *e)
{
	char dir[] = "/tmp/ucd-pty-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return fail(e, CODE_INTERNAL, "create console socket directory: %s", strerror(errno));
	s->console_path = xasprintf("%s/pty.sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->console_path);
	s->console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->console_listen < 0 || bind(s->console_listen, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(s->console_listen, 1) < 0)
		return fail(e, CODE_INTERNAL, "failed to create OCI runtime console socket: %s", strerror(errno));
	return 0;
}

static void close_console_socket(struct stdio *s)
{
	if (s->console_listen >= 0)
		close(s->console_listen);
	s->console_listen = -1;
	if (s->console_path == NULL)
		return;
	unlink(s->console_path);
	char *slash = strrchr(s->console_path, '/');
	*slash = '\0';
	rmdir(s->console_path);
	free(s->console_path);
	s->console_path = NULL;
}

static int open_stdin_fifo(struct stdio *s, struct shim_err *e)
{
	int fd = open(s->in, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(e, CODE_UNKNOWN, "failed to open stdin fifo %s: %s", s->in, strerror(errno));
	return fd;
}

int stdio_open(struct stdio *s, struct shim_err *e)
{
	if (*s->out && (s->out_fd = open_target("stdout", s->out, e)) < 0)
		return -1;
	if (s->terminal) {
		for (int i = 0; i < 3; i++)
			if ((s->child[i] = open_null(e)) < 0)
				return -1;
		return open_console_socket(s, e);
	}
	if (*s->err && (s->err_fd = open_target("stderr", s->err, e)) < 0)
		return -1;
	if ((s->child[1] = child_fd(s->out_fd, e)) < 0 || (s->child[2] = child_fd(s->err_fd, e)) < 0)
		return -1;
	if (!*s->in)
		return (s->child[0] = open_null(e)) < 0 ? -1 : 0;
	int fifo = open_stdin_fifo(s, e);
	if (fifo < 0)
		return -1;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(fifo);
		return fail(e, CODE_INTERNAL, "stdin pipe: %s", strerror(errno));
	}
	s->child[0] = p[0];
	s->stdin_copy = copy_new(fifo, p[1], true);
	return 0;
}

static void close_child_fds(struct stdio *s)
{
	for (int i = 0; i < 3; i++) {
		if (s->child[i] >= 0)
			close(s->child[i]);
		s->child[i] = -1;
	}
}

/* Receives the pty master the runtime sends with SCM_RIGHTS. */
static int receive_master(struct stdio *s, struct shim_err *e)
{
	struct pollfd p = {.fd = s->console_listen, .events = POLLIN};
	if (poll(&p, 1, 5000) <= 0)
		return fail(e, CODE_UNKNOWN, "failed to retrieve console master: the runtime did not connect");
	int conn = accept4(s->console_listen, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return fail(e, CODE_UNKNOWN, "failed to retrieve console master: %s", strerror(errno));
	char name[256];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct pollfd q = {.fd = conn, .events = POLLIN};
	ssize_t r = poll(&q, 1, 5000) > 0 ? recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) : -1;
	close(conn);
	struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return fail(e, CODE_UNKNOWN, "failed to retrieve console master: no fd received");
	memcpy(&s->master, CMSG_DATA(cm), sizeof(int));
	return 0;
}

int stdio_started(struct stdio *s, struct shim_err *e)
{
	close_child_fds(s);
	if (!s->terminal)
		return 0;
	int r = receive_master(s, e);
	close_console_socket(s);
	if (r < 0)
		return -1;
	set_nonblock(s->master);
	int out = s->out_fd >= 0 ? fcntl(s->out_fd, F_DUPFD_CLOEXEC, 3) : open_null(e);
	if (out < 0)
		return -1;
	s->pty_copy = copy_new(fcntl(s->master, F_DUPFD_CLOEXEC, 3), out, false);
	if (*s->in) {
		int fifo = open_stdin_fifo(s, e);
		if (fifo < 0)
			return -1;
		/* on stdin EOF the pty stays: closing it would hang up the session */
		s->stdin_copy = copy_new(fifo, fcntl(s->master, F_DUPFD_CLOEXEC, 3), false);
	}
	return 0;
}

void stdio_close_stdin(struct stdio *s)
{
	copy_close_input(s->stdin_copy);
}

void stdio_exited(struct stdio *s)
{
	copy_free(s->stdin_copy);
	s->stdin_copy = NULL;
	copy_drain(s->pty_copy);
	copy_free(s->pty_copy);
	s->pty_copy = NULL;
	if (s->master >= 0)
		close(s->master);
	s->master = -1;
	if (s->out_fd >= 0)
		close(s->out_fd);
	if (s->err_fd >= 0)
		close(s->err_fd);
	s->out_fd = s->err_fd = -1;
	close_child_fds(s);
	close_console_socket(s);
}

void stdio_free(struct stdio *s)
{
	stdio_exited(s);
	free(s->in);
	free(s->out);
	free(s->err);
	s->in = s->out = s->err = NULL;
}

int stdio_resize(struct stdio *s, uint32_t width, uint32_t height, struct shim_err *e)
{
	if (s->master < 0)
		return fail(e, CODE_FAILED_PRECONDITION, "process has no console");
	struct winsize ws = {.ws_col = (unsigned short)width, .ws_row = (unsigned short)height};
	if (ioctl(s->master, TIOCSWINSZ, &ws) < 0)
		return fail(e, CODE_UNKNOWN, "resize pty: %s", strerror(errno));
	return 0;
}
