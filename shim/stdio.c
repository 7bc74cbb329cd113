/* A process's stdio.
 *
 * The container never gets a file the shim opened on the host: its fds 0, 1
 * and 2 are pipes, and the shim copies between them and the client's FIFOs
 * (or a file:// log) from the loop, as containerd's shim does. A host inode
 * in the container's hands would be the container root's to chmod, chown or
 * write through /proc/self/fd (a root-owned log file made setuid, the
 * host's /dev/null made unusable).
 *
 * - stdout/stderr: the process writes into a pipe; the copy writes into the
 *   target until the pipe's end of file, i.e. until every holder of the
 *   pipe's write end is gone (the process and whatever inherited it), and
 *   then closes the target, so the client sees all output, then EOF. For
 *   the init process that is its exit (the pid namespace dies with it); a
 *   background child of an exec that keeps the pipe holds the client's EOF
 *   back until it exits or the exec is deleted, as with containerd's shim.
 *   With no target the copy goes to /dev/null (in the shim): the process's
 *   writes neither block nor fail.
 * - Targets: a FIFO path must be a FIFO (not a symlink, a regular file, a
 *   device...), looked at through an O_PATH fd before the shim opens it,
 *   so nothing else is opened even for a moment (a device's open has
 *   effects). It is opened O_RDWR: that never blocks and never raises EPIPE
 *   when the client's reader goes away. `file:///PATH` (percent-encoded,
 *   as a URI is) names a regular file by its absolute path (made if
 *   missing), appended to.
 * - stdin goes through a pipe the shim feeds from the FIFO, so that CloseIO
 *   can end it while the container runs. The FIFO is read O_NONBLOCK: a
 *   FIFO without a writer reads as EOF, but epoll reports EPOLLHUP only
 *   after a writer came and went, so the copy does not start (or end)
 *   before the client opened its side. No stdin: a pipe already at EOF.
 * - With a terminal the runtime sends the pty master over a console socket;
 *   the loop copies master -> stdout and stdin -> master. The runtime itself
 *   gets /dev/null as its stdio: the container's processes get the pty's
 *   slave in its place before they run anything of the image. */
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
	const char *what;          /* for the log: "stdout", "stderr", "stdin" */
	bool out_watched;
	bool closing;              /* pass on what is readable now, then end */
	bool close_out_at_end;     /* the reader of the destination sees EOF when the source ends */
	/* stdout/stderr: a destination that fails (a full disk) is replaced
	 * by nothing, so that the process neither blocks for good nor dies of
	 * SIGPIPE; stdin: the process closed its end, the copy ends. */
	bool discard_on_error;
	bool discarding;
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
 * copy ends; the destination is closed if its reader must see EOF. */
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

/* The destination failed: drop what it did not take. Returns false when
 * the copy must end (stdin), true when it goes on into nothing. */
static bool copy_dest_failed(struct copy *c)
{
	c->len = c->off = 0;
	if (c->out_watched)
		loop_remove(&c->out);
	c->out_watched = false;
	if (!c->discard_on_error)
		return false;
	if (!c->discarding)
		log_warn("%s: writing to the target failed (%s): the rest is dropped", c->what, strerror(errno));
	c->discarding = true;
	loop_close(&c->out);
	if (c->in.fd >= 0)
		loop_mod(&c->in, EPOLLIN);   /* reading had stopped while the destination was full */
	return true;
}

/* Writes what is buffered; false when the destination is gone and the copy
 * must end. */
static bool copy_flush(struct copy *c)
{
	if (c->discarding) {
		c->len = c->off = 0;
		return true;
	}
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
			return copy_dest_failed(c);
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

/* Moves bytes while the source has them and the destination takes them;
 * at most one read unless closing or `all`. */
static void pump(struct copy *c, uint32_t events, bool all)
{
	while (c->in.fd >= 0 && c->len == 0) {
		if (!copy_read(c, events)) {
			copy_end(c);
			return;
		}
		if (c->len == 0)
			return;
		if (!copy_flush(c)) {
			loop_close(&c->in);   /* destination gone: nothing more to do */
			loop_close(&c->out);
			return;
		}
		if (!c->closing && !all)
			return;   /* one read per wakeup keeps the loop fair */
	}
}

static void on_copy_in(struct watch *w, uint32_t events)
{
	pump(COPY_OF(w, in), events, false);
}

static void on_copy_out(struct watch *w, uint32_t events)
{
	struct copy *c = COPY_OF(w, out);
	if (events & (EPOLLERR | EPOLLHUP)) {
		errno = EPIPE;
		if (!copy_dest_failed(c)) {
			loop_close(&c->in);
			loop_close(&c->out);
			return;
		}
	} else if (!copy_flush(c)) {
		loop_close(&c->in);
		loop_close(&c->out);
		return;
	}
	if (c->in.fd < 0)
		copy_end(c);   /* the source had ended: finish */
	else if (c->closing)
		pump(c, 0, false);
}

static struct copy *copy_new(const char *what, int in, int out, bool close_out_at_end, bool discard_on_error)
{
	struct copy *c = xcalloc(1, sizeof *c);
	c->what = what;
	c->in = (struct watch){.fd = in, .fn = on_copy_in};
	c->out = (struct watch){.fd = out, .fn = on_copy_out};
	c->close_out_at_end = close_out_at_end;
	c->discard_on_error = discard_on_error;
	set_nonblock(in);
	set_nonblock(out);
	loop_add(&c->in, EPOLLIN);
	return c;
}

/* What the source holds now goes out (as far as the destination takes it
 * without waiting), then the copy ends. */
static void copy_close_input(struct copy *c)
{
	if (c == NULL || c->in.fd < 0)
		return;
	c->closing = true;
	if (c->len == 0)
		pump(c, 0, false);
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
		.in_fd = -1,
		.out_fd = -1,
		.console_listen = -1,
		.master = -1,
	};
}

static const char *kind_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symlink";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "of an unknown type";
	}
}

/* Opens an existing `path` of file type `type` (S_IFIFO, S_IFREG) with
 * `flags`, never following a final symlink and never opening anything of
 * another type: the path is looked at through an O_PATH fd, and the same
 * inode is then reopened through /proc/self/fd. ENOENT is left in errno
 * for the caller. */
static int open_typed(const char *what, const char *path, mode_t type, int flags, struct shim_err *e)
{
	int p = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		return fail(e, CODE_UNKNOWN, "failed to open %s %s: %s", what, path, strerror(errno));
	struct stat st;
	if (fstat(p, &st) < 0) {
		int saved = errno;
		close(p);
		return fail(e, CODE_UNKNOWN, "failed to open %s %s: %s", what, path, strerror(saved));
	}
	if ((st.st_mode & S_IFMT) != type) {
		close(p);
		return fail(e, CODE_INVALID_ARGUMENT, "failed to open %s %s: it is %s, not %s", what, path,
			    kind_of(st.st_mode), kind_of(type));
	}
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", p);
	int fd = open(proc, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	int saved = errno;
	close(p);
	if (fd < 0)
		return fail(e, CODE_UNKNOWN, "failed to open %s %s: %s", what, path, strerror(saved));
	return fd;
}

static bool absolute(const char *what, const char *path, struct shim_err *e)
{
	if (path[0] == '/')
		return true;
	fail(e, CODE_INVALID_ARGUMENT, "%s %s: not an absolute path", what, path);
	return false;
}

static int open_fifo(const char *what, const char *path, int flags, struct shim_err *e)
{
	char label[32];
	snprintf(label, sizeof label, "%s fifo", what);
	if (!absolute(label, path, e))
		return -1;
	return open_typed(label, path, S_IFIFO, flags, e);
}

/* file://PATH: an absolute path to a regular file, made (with its missing
 * directories, as containerd's shim does) when it does not exist. The
 * client is root-equivalent and picks the path; what is checked is that
 * the shim writes into a regular file only (no FIFO, device or symlink
 * put in its place) and that the container never holds it. */
static int open_log_file(const char *what, const char *path, struct shim_err *e)
{
	char label[32];
	snprintf(label, sizeof label, "%s log file", what);
	if (!absolute(label, path, e))
		return -1;
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
		if (fd >= 0)
			return fd;
		if (errno == ENOENT) {
			char *dir = xstrdup(path), *slash = strrchr(dir, '/');
			if (slash != dir)
				*slash = '\0';
			int r = mkdir_p(dir, 0755);
			int saved = errno;
			free(dir);
			if (r < 0)
				return fail(e, CODE_UNKNOWN, "create the directory of %s %s: %s", label, path,
					    strerror(saved));
			continue;
		}
		if (errno != EEXIST)
			return fail(e, CODE_UNKNOWN, "failed to open %s %s: %s", label, path, strerror(errno));
		fd = open_typed(label, path, S_IFREG, O_WRONLY | O_APPEND, e);
		if (fd >= 0 || errno != ENOENT)
			return fd;   /* else removed meanwhile: make it */
	}
	return fail(e, CODE_UNKNOWN, "failed to open %s %s: it keeps disappearing", label, path);
}

/* The file a file:// URI names, as containerd's shim reads it (Go's
 * url.Parse, then its Path): what follows the authority, up to a query or
 * a fragment, percent-decoded (ctr and Go clients encode a space as %20, a
 * '%' as %25). The authority may be empty or "localhost"; a URI with no
 * path after it keeps the old message (it was read as a relative path).
 * Control characters, bad escapes and an encoded NUL are refused, as Go
 * refuses the first two. NULL with *e set, else a string to free. */
static char *file_uri_path(const char *what, const char *uri, struct shim_err *e)
{
	const char *rest = uri + 7;
	for (const char *c = rest; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fail(e, CODE_INVALID_ARGUMENT, "unable to parse %s uri: invalid control character in URL", what);
			return NULL;
		}
	}
	const char *p = strchr(rest, '/');
	if (p == NULL) {
		fail(e, CODE_INVALID_ARGUMENT, "%s log file %s: not an absolute path", what, rest);
		return NULL;
	}
	size_t host = (size_t)(p - rest);
	if (host != 0 && !(host == 9 && strncmp(rest, "localhost", 9) == 0)) {
		fail(e, CODE_INVALID_ARGUMENT, "%s log file %s: host `%.*s` is not this machine", what, uri, (int)host,
		     rest);
		return NULL;
	}
	size_t n = strcspn(p, "?#");
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			*o++ = p[i];
			continue;
		}
		int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = hi >= 0 ? hexval(p[i + 2]) : -1;
		if (lo < 0 || (hi == 0 && lo == 0)) {
			fail(e, CODE_INVALID_ARGUMENT, "unable to parse %s uri %s: invalid URL escape \"%.*s\"", what, uri,
			     (int)(n - i < 3 ? n - i : 3), p + i);
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* The shim's fd for a stdout/stderr target: a FIFO, a file:// log, or
 * /dev/null for none. */
static int open_target(const char *what, const char *path, struct shim_err *e)
{
	if (*path == '\0') {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		return fd >= 0 ? fd : fail(e, CODE_INTERNAL, "open /dev/null: %s", strerror(errno));
	}
	if (strncmp(path, "file://", 7) == 0) {
		char *file = file_uri_path(what, path, e);
		if (file == NULL)
			return -1;
		int fd = open_log_file(what, file, e);
		free(file);
		return fd;
	}
	if (strstr(path, "://") != NULL)
		return fail(e, CODE_UNIMPLEMENTED, "%s %s: only FIFO paths and file:// are supported", what, path);
	return open_fifo(what, path, O_RDWR, e);
}

static int open_null(struct shim_err *e)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail(e, CODE_INTERNAL, "open /dev/null: %s", strerror(errno));
	return fd;
}

static int make_pipe(int p[2], const char *what, struct shim_err *e)
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(e, CODE_INTERNAL, "%s pipe: %s", what, strerror(errno));
	return 0;
}

/* stdout or stderr: the write end of a pipe for the process, its read end
 * copied into the target. Returns the write end. */
static int output_pipe(const char *what, const char *path, struct copy **copy, struct shim_err *e)
{
	int target = open_target(what, path, e);
	if (target < 0)
		return -1;
	int p[2];
	if (make_pipe(p, what, e) < 0) {
		close(target);
		return -1;
	}
	*copy = copy_new(what, p[0], target, true, true);
	return p[1];
}

/* Bound with the mode it keeps (0600: the runtime, root, connects), and
 * in a directory mkdtemp made 0700. The umask is the process's, but the
 * shim has one thread, so changing it around bind() affects nothing
 * else; no chmod by path after the bind. */
static int open_console_socket(struct stdio *s, struct shim_err *e)
{
	char dir[] = "/tmp/ucd-pty-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return fail(e, CODE_INTERNAL, "create console socket directory: %s", strerror(errno));
	s->console_path = xasprintf("%s/pty.sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", s->console_path);
	s->console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->console_listen < 0)
		return fail(e, CODE_INTERNAL, "failed to create OCI runtime console socket: %s", strerror(errno));
	mode_t old = umask(0177);
	int r = bind(s->console_listen, (struct sockaddr *)&sa, sizeof sa);
	int saved = errno;
	umask(old);
	if (r < 0 || listen(s->console_listen, 1) < 0)
		return fail(e, CODE_INTERNAL, "failed to create OCI runtime console socket: %s",
			    strerror(r < 0 ? saved : errno));
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

static void close_child_fds(struct stdio *s)
{
	for (int i = 0; i < 3; i++) {
		if (s->child[i] >= 0)
			close(s->child[i]);
		s->child[i] = -1;
	}
}

/* Everything the shim holds, closed now: what the sources hold at this
 * moment is passed on first, as far as the targets take it at once. */
static void stdio_close(struct stdio *s)
{
	struct copy **copies[] = {&s->stdin_copy, &s->out_copy, &s->err_copy};
	for (size_t i = 0; i < ARRAY_LEN(copies); i++) {
		copy_close_input(*copies[i]);
		copy_free(*copies[i]);
		*copies[i] = NULL;
	}
	if (s->master >= 0)
		close(s->master);
	s->master = -1;
	if (s->out_fd >= 0)
		close(s->out_fd);
	if (s->in_fd >= 0)
		close(s->in_fd);
	s->out_fd = s->in_fd = -1;
	close_child_fds(s);
	close_console_socket(s);
}

int stdio_open(struct stdio *s, struct shim_err *e)
{
	stdio_close(s);   /* a Start tried again after a failed one starts afresh */
	if (s->terminal) {
		if ((s->out_fd = open_target("stdout", s->out, e)) < 0)
			return -1;
		if (*s->in && (s->in_fd = open_fifo("stdin", s->in, O_RDONLY, e)) < 0)
			return -1;
		for (int i = 0; i < 3; i++)
			if ((s->child[i] = open_null(e)) < 0)
				return -1;
		return open_console_socket(s, e);
	}
	if ((s->child[1] = output_pipe("stdout", s->out, &s->out_copy, e)) < 0 ||
	    (s->child[2] = output_pipe("stderr", s->err, &s->err_copy, e)) < 0)
		return -1;
	int p[2];
	if (make_pipe(p, "stdin", e) < 0)
		return -1;
	s->child[0] = p[0];
	if (!*s->in) {
		close(p[1]);   /* no stdin: end of file at once */
		return 0;
	}
	int fifo = open_fifo("stdin", s->in, O_RDONLY, e);
	if (fifo < 0) {
		close(p[1]);
		return -1;
	}
	s->stdin_copy = copy_new("stdin", fifo, p[1], true, false);
	return 0;
}

/* Receives the pty master the runtime sends with SCM_RIGHTS: exactly one
 * fd, a terminal; anything else received is closed. */
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
	/* room for more than the one fd expected, so that extra ones arrive
	 * (and are closed) rather than being cut off unseen */
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	struct pollfd q = {.fd = conn, .events = POLLIN};
	ssize_t r = poll(&q, 1, 5000) > 0 ? recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) : -1;
	close(conn);
	int fds[16], n = 0;
	bool odd = r < 0 || (msg.msg_flags & MSG_CTRUNC);
	for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0)) {
			odd = true;
			continue;
		}
		size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
			if (n < (int)ARRAY_LEN(fds))
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	struct stat st;
	if (!odd && n == 1 && fstat(fds[0], &st) == 0 && S_ISCHR(st.st_mode) && isatty(fds[0])) {
		s->master = fds[0];
		return 0;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	if (n == 0)
		return fail(e, CODE_UNKNOWN, "failed to retrieve console master: no fd received");
	if (n > 1 || odd)
		return fail(e, CODE_UNKNOWN, "failed to retrieve console master: the runtime sent %d fds, expected one", n);
	return fail(e, CODE_UNKNOWN, "failed to retrieve console master: the fd received is not a terminal");
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
	int master = fcntl(s->master, F_DUPFD_CLOEXEC, 3);
	if (master < 0)
		return fail(e, CODE_INTERNAL, "dup: %s", strerror(errno));
	/* on the master's end the target stays open until the exit drained it */
	s->out_copy = copy_new("stdout", master, s->out_fd, false, true);
	s->out_fd = -1;
	if (s->in_fd >= 0) {
		/* on stdin EOF the pty stays: closing it would hang up the session */
		s->stdin_copy = copy_new("stdin", s->in_fd, fcntl(s->master, F_DUPFD_CLOEXEC, 3), false, false);
		s->in_fd = -1;
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
	close_child_fds(s);
	close_console_socket(s);
	if (s->terminal) {
		/* the pty has no end of file while the session's other processes
		 * hold the slave: what it holds now is passed on, then it closes */
		copy_drain(s->out_copy);
		stdio_close(s);
		return;
	}
	/* pipes: what they hold now goes out at once (before the exit is
	 * reported, when the targets take it); the copies then run on until
	 * the pipes' end of file */
	struct copy *outs[] = {s->out_copy, s->err_copy};
	for (size_t i = 0; i < ARRAY_LEN(outs); i++)
		if (outs[i] != NULL && outs[i]->len == 0)
			pump(outs[i], 0, true);
}

void stdio_free(struct stdio *s)
{
	stdio_close(s);
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
