/* LD_PRELOAD recorder for capture.sh: writes what the daemon reads from and
 * writes to its sockets, one file per connection and direction, into
 * $UCD_CAPTURE_DIR:
 *   grpc-<pid>-<n>.in    bytes a gRPC client sent (accepted on the socket)
 *   ttrpc-<pid>-<n>.in   bytes a shim sent to the daemon's ttrpc socket
 *   shim-<pid>-<n>.out   requests the daemon sent to a shim it connected to
 *   shim-<pid>-<n>.in    the shim's answers
 *   config-<pid>-<n>.in  a config file it read (*.toml)
 * Test tooling only: never built into anything that ships. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FD 65536
enum { NONE, GRPC, TTRPC, SHIM, CONFIG };
static const char *const kinds[] = {"", "grpc", "ttrpc", "shim", "config"};
static struct { int kind; FILE *in, *out; int n; } fds[MAX_FD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int counter;

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static FILE *open_stream(int fd, const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s-%d-%d.%s", getenv("UCD_CAPTURE_DIR"), kinds[fds[fd].kind], (int)getpid(),
		 fds[fd].n, dir);
	return fopen(path, "we");
}

static void record(int fd, const void *p, size_t n, int in)
{
	if (fd < 0 || fd >= MAX_FD || n == 0 || !getenv("UCD_CAPTURE_DIR"))
		return;
	pthread_mutex_lock(&mu);
	if (fds[fd].kind != NONE) {
		FILE **f = in ? &fds[fd].in : &fds[fd].out;
		if (*f == NULL)
			*f = open_stream(fd, in ? "in" : "out");
		if (*f != NULL) {
			fwrite(p, 1, n, *f);
			fflush(*f);
		}
	}
	pthread_mutex_unlock(&mu);
}

static void record_iov(int fd, const struct iovec *iov, int cnt, ssize_t total, int in)
{
	for (int i = 0; i < cnt && total > 0; i++) {
		size_t k = iov[i].iov_len < (size_t)total ? iov[i].iov_len : (size_t)total;
		record(fd, iov[i].iov_base, k, in);
		total -= (ssize_t)k;
	}
}

static void track(int fd, int kind)
{
	if (fd < 0 || fd >= MAX_FD)
		return;
	pthread_mutex_lock(&mu);
	fds[fd].kind = kind;
	fds[fd].n = ++counter;
	pthread_mutex_unlock(&mu);
}

static void accepted(int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof sa;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX)
		return;
	size_t l = strlen(sa.sun_path);
	track(fd, l > 6 && strcmp(sa.sun_path + l - 6, ".ttrpc") == 0 ? TTRPC : GRPC);
}

int accept4(int s, struct sockaddr *a, socklen_t *l, int flags)
{
	REAL(accept4);
	int fd = real_accept4(s, a, l, flags);
	accepted(fd);
	return fd;
}

int accept(int s, struct sockaddr *a, socklen_t *l)
{
	REAL(accept);
	int fd = real_accept(s, a, l);
	accepted(fd);
	return fd;
}

int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	REAL(connect);
	int r = real_connect(fd, a, l);
	if ((r == 0 || errno == EINPROGRESS || errno == EAGAIN) && a->sa_family == AF_UNIX)
		track(fd, SHIM);
	return r;
}

int open(const char *path, int flags, ...)
{
	REAL(open);
	va_list ap;
	va_start(ap, flags);
	int mode = va_arg(ap, int);
	va_end(ap);
	int fd = real_open(path, flags, mode);
	size_t l = strlen(path);
	if (fd >= 0 && l > 5 && strcmp(path + l - 5, ".toml") == 0)
		track(fd, CONFIG);
	return fd;
}

int close(int fd)
{
	REAL(close);
	if (fd >= 0 && fd < MAX_FD) {
		pthread_mutex_lock(&mu);
		if (fds[fd].in)
			fclose(fds[fd].in);
		if (fds[fd].out)
			fclose(fds[fd].out);
		fds[fd].in = fds[fd].out = NULL;
		fds[fd].kind = NONE;
		pthread_mutex_unlock(&mu);
	}
	return real_close(fd);
}

ssize_t read(int fd, void *b, size_t n)
{
	REAL(read);
	ssize_t r = real_read(fd, b, n);
	if (r > 0)
		record(fd, b, (size_t)r, 1);
	return r;
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	REAL(readv);
	ssize_t r = real_readv(fd, iov, cnt);
	record_iov(fd, iov, cnt, r, 1);
	return r;
}

ssize_t recv(int fd, void *b, size_t n, int flags)
{
	REAL(recv);
	ssize_t r = real_recv(fd, b, n, flags);
	if (r > 0 && !(flags & MSG_PEEK))
		record(fd, b, (size_t)r, 1);
	return r;
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	REAL(recvmsg);
	ssize_t r = real_recvmsg(fd, m, flags);
	if (!(flags & MSG_PEEK))
		record_iov(fd, m->msg_iov, (int)m->msg_iovlen, r, 1);
	return r;
}

ssize_t write(int fd, const void *b, size_t n)
{
	REAL(write);
	ssize_t r = real_write(fd, b, n);
	if (r > 0)
		record(fd, b, (size_t)r, 0);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(writev);
	ssize_t r = real_writev(fd, iov, cnt);
	record_iov(fd, iov, cnt, r, 0);
	return r;
}

ssize_t send(int fd, const void *b, size_t n, int flags)
{
	REAL(send);
	ssize_t r = real_send(fd, b, n, flags);
	if (r > 0)
		record(fd, b, (size_t)r, 0);
	return r;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(sendmsg);
	ssize_t r = real_sendmsg(fd, m, flags);
	record_iov(fd, m->msg_iov, (int)m->msg_iovlen, r, 0);
	return r;
}
