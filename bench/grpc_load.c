/* grpc_load: a small gRPC-over-HTTP/2 client for benchmarking a daemon on a
 * unix socket (nghttp2, one thread, epoll). Not part of the daemon build:
 * bench/run.sh compiles it with `cc -O2 bench/grpc_load.c -lnghttp2`.
 *
 *   grpc_load load  -s SOCK [-m PATH] [-c CONNS] [-n CALLS] [-w WARMUP] [-p PID]
 *       CONNS connections, each issuing unary calls back to back (one call
 *       outstanding per connection) until CALLS calls have completed in all;
 *       WARMUP calls first that are not counted. Prints one JSON object:
 *       calls, seconds, calls/s, latency p50/p90/p99/max (us), the daemon's
 *       CPU (utime+stime of /proc/PID/stat) over the measured calls, and the
 *       load generator's own CPU. Every call must end with grpc-status 0.
 *
 *   grpc_load spawn -s SOCK [-m PATH] [-t TIMEOUT_S] [-l LOGFILE] -- ARGV...
 *       Takes the time, forks and execs ARGV (stdout/stderr to LOGFILE), then
 *       connects and calls PATH in a loop (100 us pause after a failure) until
 *       a call returns grpc-status 0. Prints {"first_answer_ms":..,"pid":..}
 *       and stays in the foreground as the daemon's parent: it exits with the
 *       daemon (reaping it), and the daemon gets SIGTERM if grpc_load dies.
 *
 *   grpc_load call  -s SOCK [-m PATH]      one call; prints {"ok":true,...}
 *
 * PATH defaults to /containerd.services.version.v1.Version/Version; the
 * request is an empty protobuf message (gRPC frame 00 00000000) unless
 * -d HEX gives its bytes. -N NAMESPACE sends containerd-namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PATH "/containerd.services.version.v1.Version/Version"

static const char *sock_path;
static const char *rpc_path = DEFAULT_PATH;
static uint8_t *req_body; /* gRPC frame: 1 flag byte, 4 length bytes, message */
static size_t req_len;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "grpc_load: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

/* ---- one connection ---------------------------------------------------- */

struct conn {
	int fd;
	nghttp2_session *h2;
	/* the call in flight */
	int32_t stream;
	int64_t t_start;
	size_t sent;       /* bytes of req_body handed to nghttp2 */
	int grpc_status;   /* -1 until seen */
	size_t resp_bytes; /* DATA bytes received */
	int done;          /* stream closed */
	int failed;        /* connection-level failure */
	char err[160];
	/* what nghttp2 produced, written in one go */
	uint8_t *out;
	size_t out_len, out_cap;
};

static ssize_t read_body(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	struct conn *c = ud;
	size_t n = req_len - c->sent;
	if (n > len)
		n = len;
	memcpy(buf, req_body + c->sent, n);
	c->sent += n;
	if (c->sent == req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
		     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct conn *c = ud;
	if (f->hd.stream_id != c->stream)
		return 0;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		char v[16];
		size_t n = valuelen < sizeof v - 1 ? valuelen : sizeof v - 1;
		memcpy(v, value, n);
		v[n] = 0;
		c->grpc_status = atoi(v);
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		snprintf(c->err, sizeof c->err, "grpc-message: %.*s", (int)(valuelen > 120 ? 120 : valuelen),
			 (const char *)value);
	} else if (namelen == 7 && memcmp(name, ":status", 7) == 0 && !(valuelen == 3 && memcmp(value, "200", 3) == 0)) {
		snprintf(c->err, sizeof c->err, "http :status %.*s", (int)(valuelen > 8 ? 8 : valuelen),
			 (const char *)value);
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream, const uint8_t *data, size_t len, void *ud)
{
	struct conn *c = ud;
	if (stream == c->stream)
		c->resp_bytes += len;
	return 0;
}

static int on_close(nghttp2_session *s, int32_t stream, uint32_t error_code, void *ud)
{
	struct conn *c = ud;
	if (stream != c->stream)
		return 0;
	c->done = 1;
	if (error_code != 0 && !c->err[0])
		snprintf(c->err, sizeof c->err, "stream reset, http2 error %u", error_code);
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	static nghttp2_session_callbacks *cbs;
	if (cbs == NULL) {
		nghttp2_session_callbacks_new(&cbs);
		nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
		nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	}
	return cbs;
}

static void conn_close(struct conn *c)
{
	if (c->h2)
		nghttp2_session_del(c->h2);
	c->h2 = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
}

/* Connects and queues the client preface; 0 or -errno. */
static int conn_open(struct conn *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof sa.sun_path)
		die("socket path too long: %s", sock_path);
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->fd = fd;
	nghttp2_session_client_new(&c->h2, callbacks(), c);
	nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
				       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
	return 0;
}

/* Writes what nghttp2 has to send, as one write when the socket takes it. */
static int conn_flush(struct conn *c)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(c->h2, &p);
		if (n < 0) {
			snprintf(c->err, sizeof c->err, "nghttp2 send: %s", nghttp2_strerror((int)n));
			return -1;
		}
		if (n == 0)
			break;
		if (c->out_len + (size_t)n > c->out_cap) {
			c->out_cap = (c->out_len + (size_t)n) * 2;
			c->out = realloc(c->out, c->out_cap);
		}
		memcpy(c->out + c->out_len, p, (size_t)n);
		c->out_len += (size_t)n;
	}
	size_t off = 0;
	while (off < c->out_len) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* rare with our small frames: wait for room rather than
				 * track EPOLLOUT, the next read may be far away */
				struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
				if (poll(&pf, 1, 10000) > 0)
					continue;
				snprintf(c->err, sizeof c->err, "write: socket full for 10 s");
				return -1;
			}
			snprintf(c->err, sizeof c->err, "write: %s", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return 0;
}

static const char *namespace_;   /* -N: the containerd-namespace header, or NULL */

static int conn_start_call(struct conn *c)
{
	nghttp2_nv hdrs[] = {
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", rpc_path),
		NV(":authority", "localhost"),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("user-agent", "grpc_load/1"),
		NV("containerd-namespace", namespace_ ? namespace_ : ""),
#undef NV
	};
	size_t nh = sizeof hdrs / sizeof hdrs[0] - (namespace_ ? 0 : 1);
	nghttp2_data_provider prov = {.read_callback = read_body};
	c->sent = 0;
	c->grpc_status = -1;
	c->resp_bytes = 0;
	c->done = 0;
	c->err[0] = 0;
	c->t_start = now_ns();
	int32_t id = nghttp2_submit_request(c->h2, NULL, hdrs, nh, &prov, c);
	if (id < 0) {
		snprintf(c->err, sizeof c->err, "submit: %s", nghttp2_strerror(id));
		return -1;
	}
	c->stream = id;
	return conn_flush(c);
}

/* Reads what is there and feeds nghttp2; -1 on EOF or error. */
static int conn_read(struct conn *c)
{
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			snprintf(c->err, sizeof c->err, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (!c->err[0])
				snprintf(c->err, sizeof c->err, "connection closed by the daemon");
			return -1;
		}
		ssize_t r = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (r < 0) {
			snprintf(c->err, sizeof c->err, "nghttp2 recv: %s", nghttp2_strerror((int)r));
			return -1;
		}
		if ((size_t)n < sizeof buf)
			break;
	}
	return conn_flush(c);
}

/* The outcome of the call that just closed: 0 if grpc-status 0. */
static int call_result(struct conn *c)
{
	if (c->grpc_status == 0)
		return 0;
	if (!c->err[0] || strncmp(c->err, "grpc-message", 12) == 0) {
		char m[160];
		snprintf(m, sizeof m, "%s", c->err);
		if (c->grpc_status < 0)
			snprintf(c->err, sizeof c->err, "no grpc-status in the response %.120s", m);
		else
			snprintf(c->err, sizeof c->err, "grpc-status %d %.120s", c->grpc_status, m);
	}
	return -1;
}

/* ---- the load loop ----------------------------------------------------- */

struct lat {
	int64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, int64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = ns;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const struct lat *l, double p)
{
	if (l->n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)l->n);
	if (i >= l->n)
		i = l->n - 1;
	return (double)l->v[i] / 1000.0;
}

/* Runs `total` calls over the connections, each connection with one call in
 * flight; latencies into `l` (if not NULL). 0, or -1 with a message. */
static int run_calls(int ep, struct conn *cs, int nc, long total, struct lat *l)
{
	long issued = 0, completed = 0;
	for (int i = 0; i < nc && issued < total; i++, issued++)
		if (conn_start_call(&cs[i]) < 0) {
			fprintf(stderr, "grpc_load: connection %d: %s\n", i, cs[i].err);
			return -1;
		}
	struct epoll_event evs[64];
	while (completed < total) {
		int n = epoll_wait(ep, evs, 64, 10000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("grpc_load: epoll_wait");
			return -1;
		}
		if (n == 0) {
			fprintf(stderr, "grpc_load: no answer for 10 s (%ld of %ld calls done)\n", completed, total);
			return -1;
		}
		for (int k = 0; k < n; k++) {
			struct conn *c = &cs[evs[k].data.u32];
			if (conn_read(c) < 0) {
				fprintf(stderr, "grpc_load: connection %u: %s\n", evs[k].data.u32, c->err);
				return -1;
			}
			if (!c->done)
				continue;
			int64_t t = now_ns();
			if (call_result(c) < 0) {
				fprintf(stderr, "grpc_load: %s on connection %u: %s\n", rpc_path, evs[k].data.u32, c->err);
				return -1;
			}
			if (l)
				lat_add(l, t - c->t_start);
			completed++;
			c->done = 0;
			c->stream = 0;
			if (issued < total) {
				issued++;
				if (conn_start_call(c) < 0) {
					fprintf(stderr, "grpc_load: connection %u: %s\n", evs[k].data.u32, c->err);
					return -1;
				}
			}
		}
	}
	return 0;
}

/* utime+stime of a process in seconds, -1 if unreadable. */
static double proc_cpu(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* after ")": field 3 (state) ... field 14 utime, 15 stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmd_load(int nc, long total, long warmup, int pid)
{
	struct conn *cs = calloc((size_t)nc, sizeof *cs);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < nc; i++) {
		int e = conn_open(&cs[i]);
		if (e < 0) {
			fprintf(stderr, "grpc_load: connect %s: %s\n", sock_path, strerror(-e));
			return 1;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
		if (conn_flush(&cs[i]) < 0) {
			fprintf(stderr, "grpc_load: %s\n", cs[i].err);
			return 1;
		}
	}
	if (warmup > 0 && run_calls(ep, cs, nc, warmup, NULL) < 0)
		return 1;
	struct lat l = {0};
	l.cap = (size_t)total;
	l.v = malloc(l.cap * sizeof *l.v);
	double d0 = pid > 0 ? proc_cpu(pid) : -1, s0 = self_cpu();
	int64_t t0 = now_ns();
	if (run_calls(ep, cs, nc, total, &l) < 0)
		return 1;
	int64_t t1 = now_ns();
	double d1 = pid > 0 ? proc_cpu(pid) : -1, s1 = self_cpu();
	double secs = (double)(t1 - t0) / 1e9;
	qsort(l.v, l.n, sizeof *l.v, cmp64);
	printf("{\"path\":\"%s\",\"conns\":%d,\"calls\":%zu,\"seconds\":%.6f,\"calls_per_s\":%.1f,"
	       "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
	       "\"daemon_cpu_s\":%.3f,\"client_cpu_s\":%.3f,\"clk_tck\":%ld}\n",
	       rpc_path, nc, l.n, secs, (double)l.n / secs, pct(&l, 50), pct(&l, 90), pct(&l, 99),
	       (double)l.v[l.n - 1] / 1000.0, (d0 >= 0 && d1 >= 0) ? d1 - d0 : -1.0, s1 - s0,
	       sysconf(_SC_CLK_TCK));
	for (int i = 0; i < nc; i++)
		conn_close(&cs[i]);
	return 0;
}

/* One connection, one call; 0 on grpc-status 0. */
static int try_call(char *err, size_t errlen, int timeout_ms)
{
	struct conn c;
	int e = conn_open(&c);
	if (e < 0) {
		snprintf(err, errlen, "connect: %s", strerror(-e));
		conn_close(&c);
		return -1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
	epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
	int rc = -1;
	if (conn_start_call(&c) < 0)
		goto out;
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	while (!c.done) {
		int left = (int)((deadline - now_ns()) / 1000000);
		if (left <= 0) {
			snprintf(c.err, sizeof c.err, "no answer within %d ms", timeout_ms);
			goto out;
		}
		int n = epoll_wait(ep, &ev, 1, left);
		if (n < 0 && errno != EINTR)
			goto out;
		if (n > 0 && conn_read(&c) < 0)
			goto out;
	}
	rc = call_result(&c);
out:
	if (rc < 0)
		snprintf(err, errlen, "%s", c.err);
	close(ep);
	conn_close(&c);
	return rc;
}

static pid_t child;
static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int cmd_spawn(char **argv, double timeout_s, const char *logfile)
{
	/* Until the socket exists, wait for its directory to change (inotify)
	 * instead of spinning, so that the poller takes no CPU from the daemon
	 * starting up; from then on retry every 50 us. Without inotify (e.g. the
	 * directory does not exist yet), poll every 100 us. */
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof dir, "%s", sock_path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino >= 0 && inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO) < 0) {
		close(ino);
		ino = -1;
	}
	int64_t t0 = now_ns();
	child = fork();
	if (child < 0) {
		perror("grpc_load: fork");
		return 1;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (logfile) {
			int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		execv(argv[0], argv);
		fprintf(stderr, "grpc_load: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	signal(SIGTERM, forward);
	signal(SIGINT, forward);
	signal(SIGHUP, forward);
	char err[200] = "";
	long attempts = 0;
	int64_t deadline = t0 + (int64_t)(timeout_s * 1e9);
	for (;;) {
		if (ino >= 0 && access(sock_path, F_OK) != 0) {
			struct pollfd pf = {.fd = ino, .events = POLLIN};
			if (poll(&pf, 1, 20) > 0) {
				char evbuf[4096];
				while (read(ino, evbuf, sizeof evbuf) > 0)
					;
			}
			snprintf(err, sizeof err, "%s does not exist", sock_path);
		} else if (attempts++, try_call(err, sizeof err, 2000) == 0) {
			printf("{\"first_answer_ms\":%.3f,\"pid\":%d,\"attempts\":%ld}\n",
			       (double)(now_ns() - t0) / 1e6, (int)child, attempts);
			break;
		}
		int st;
		if (waitpid(child, &st, WNOHANG) == child) {
			fprintf(stderr, "grpc_load: the daemon exited (status %d) before answering; last error: %s\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), err);
			printf("{\"error\":\"daemon exited before answering\",\"pid\":%d}\n", (int)child);
			return 1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "grpc_load: no answer within %.0f s; last error: %s\n", timeout_s, err);
			printf("{\"error\":\"no answer within %.0f s\",\"pid\":%d}\n", timeout_s, (int)child);
			break; /* stay the parent; the caller stops the daemon */
		}
		if (ino < 0 || access(sock_path, F_OK) == 0) {
			struct timespec ts = {0, ino >= 0 ? 50000 : 100000};
			nanosleep(&ts, NULL);
		}
	}
	if (ino >= 0)
		close(ino);
	fflush(stdout);
	/* Stay the daemon's parent until it exits, so it is reaped here. */
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: grpc_load load  -s SOCK [-m PATH] [-d HEX] [-N NAMESPACE] [-c CONNS] [-n CALLS] [-w WARMUP] [-p PID]\n"
		"       grpc_load spawn -s SOCK [-m PATH] [-t TIMEOUT_S] [-l LOGFILE] -- ARGV...\n"
		"       grpc_load call  -s SOCK [-m PATH] [-d HEX]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	int nc = 1, pid = 0;
	long total = 20000, warmup = 0;
	double timeout_s = 10;
	const char *logfile = NULL, *hex = "";
	int o;
	optind = 2;
	while ((o = getopt(argc, argv, "+s:m:d:N:c:n:w:p:t:l:")) != -1) {
		switch (o) {
		case 's': sock_path = optarg; break;
		case 'm': rpc_path = optarg; break;
		case 'd': hex = optarg; break;
		case 'N': namespace_ = optarg; break;
		case 'c': nc = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 'w': warmup = atol(optarg); break;
		case 'p': pid = atoi(optarg); break;
		case 't': timeout_s = atof(optarg); break;
		case 'l': logfile = optarg; break;
		default: usage();
		}
	}
	if (sock_path == NULL || nc < 1 || total < 1)
		usage();
	size_t mlen = strlen(hex) / 2;
	req_len = 5 + mlen;
	req_body = calloc(1, req_len);
	req_body[1] = (uint8_t)(mlen >> 24);
	req_body[2] = (uint8_t)(mlen >> 16);
	req_body[3] = (uint8_t)(mlen >> 8);
	req_body[4] = (uint8_t)mlen;
	for (size_t i = 0; i < mlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			die("bad hex in -d: %s", hex);
		req_body[5 + i] = (uint8_t)(hi << 4 | lo);
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(cmd, "load") == 0)
		return cmd_load(nc, total, warmup, pid);
	if (strcmp(cmd, "spawn") == 0) {
		if (optind >= argc)
			usage();
		return cmd_spawn(argv + optind, timeout_s, logfile);
	}
	if (strcmp(cmd, "call") == 0) {
		char err[200];
		int64_t t0 = now_ns();
		if (try_call(err, sizeof err, 5000) < 0) {
			fprintf(stderr, "grpc_load: %s: %s\n", rpc_path, err);
			return 1;
		}
		printf("{\"ok\":true,\"ms\":%.3f}\n", (double)(now_ns() - t0) / 1e6);
		return 0;
	}
	usage();
	return 2;
}
