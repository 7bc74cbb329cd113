/* Running the OCI runtime (runc or crun: same command line, as go-runc
 * drives both) and turning its failures into messages.
 *
 * The runtime runs synchronously: the shim forks it and waits for its pid
 * only, so the exits of container processes stay queued for the loop's
 * reaper. Its error is the last "error" line it appended to log.json during
 * this run (runc and crun both log there with --log-format json), else
 * what it printed on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"

#define MAX_CAPTURE (1u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

int runtime_resolve(struct runtime *rt, struct shim_err *e)
{
	free(rt->path);
	rt->path = NULL;
	if (strchr(rt->binary, '/') != NULL) {
		/* relative to what? The shim's working directory is the bundle */
		if (rt->binary[0] != '/')
			return fail(e, CODE_INVALID_ARGUMENT,
				    "runtime binary \"%s\": a path must be absolute (or a name looked up in PATH)",
				    rt->binary);
		if (access(rt->binary, X_OK) == 0) {
			rt->path = xstrdup(rt->binary);
			return 0;
		}
		return fail(e, CODE_NOT_FOUND, "runtime binary \"%s\" not found or not executable: %s", rt->binary,
			    strerror(errno));
	}
	const char *env = getenv("PATH");
	const char *dirs = env && *env ? env : DEFAULT_PATH;
	for (const char *d = dirs; *d;) {
		size_t n = strcspn(d, ":");
		/* an empty or relative entry would be the bundle: skipped (Go's
		 * exec.LookPath refuses such results too) */
		char *p = d[0] == '/' ? xasprintf("%.*s/%s", (int)n, d, rt->binary) : NULL;
		struct stat st;
		if (p != NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
			rt->path = p;
			return 0;
		}
		free(p);
		d += n;
		if (*d == ':')
			d++;
	}
	return fail(e, CODE_NOT_FOUND, "runtime binary \"%s\" not found in PATH (%s)", rt->binary, dirs);
}

pid_t read_pid_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	char s[32];
	ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, s, sizeof s - 1) : -1;
	/* runc writes it 0644, crun 0700: every file of the bundle is 0600 */
	if (n > 0 && (st.st_mode & 07777) != 0600)
		fchmod(fd, 0600);
	close(fd);
	if (n <= 0)
		return -1;
	s[n] = '\0';
	char *end;
	long v = strtol(s, &end, 10);
	return end != s && v > 0 && v < (1L << 30) ? (pid_t)v : -1;
}

int runtime_log_create(const struct runtime *rt)
{
	/* made here 0600; the runtime appends to it and keeps the mode */
	int fd = open(rt->log, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

/* The last error message the runtime logged after offset `from`. */
static char *last_logged_error(const char *log, off_t from)
{
	int fd = open(log, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return NULL;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < from)
		from = 0;   /* truncated meanwhile */
	if (size - from > (off_t)MAX_CAPTURE)
		from = size - (off_t)MAX_CAPTURE;
	size_t n = (size_t)(size - from);
	char *buf = xmalloc(n + 1);
	ssize_t r = pread(fd, buf, n, from);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	char *found = NULL, *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *level = json_string_field(line, "level");
		if (level != NULL && (strcmp(level, "error") == 0 || strcmp(level, "fatal") == 0)) {
			char *msg = json_string_field(line, "msg");
			if (msg != NULL) {
				free(found);
				found = msg;
			}
		}
		free(level);
	}
	free(buf);
	return found;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* Moves fd out of the range 0..2 so the dup2 calls cannot clobber it. */
static int lift(int fd)
{
	return fd >= 0 && fd < 3 ? fcntl(fd, F_DUPFD, 3) : fd;
}

static void __attribute__((noreturn)) exec_child(const char *path, char *const argv[], const int fds[3])
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);   /* the shim blocks SIGCHLD for its signalfd */
	signal(SIGPIPE, SIG_DFL);               /* ignored in the shim; an ignored signal survives exec */
	int lifted[3];
	for (int i = 0; i < 3; i++)
		lifted[i] = lift(fds[i]);
	for (int i = 0; i < 3; i++)
		if (dup2(lifted[i], i) < 0)
			_exit(127);
	close_range(3, ~0u, 0);
	execve(path, argv, environ);
	_exit(127);
}

static void capture(int fds[2], char *bufs[2], size_t lens[2])
{
	struct pollfd p[2];
	for (int i = 0; i < 2; i++)
		p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char chunk[4096];
			ssize_t r = read(p[i].fd, chunk, sizeof chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			if (lens[i] + (size_t)r > MAX_CAPTURE)
				continue;   /* keep the start, drain the rest */
			bufs[i] = xrealloc(bufs[i], lens[i] + (size_t)r + 1);
			memcpy(bufs[i] + lens[i], chunk, (size_t)r);
			lens[i] += (size_t)r;
			bufs[i][lens[i]] = '\0';
		}
	}
}

/* What an operator can do about a runtime error we recognize, appended to
 * it. crun refuses a hybrid cgroup layout while the unified hierarchy still
 * holds a controller (hugetlb on Debian 12 hosts with systemd's hybrid
 * mode); binding the controller to a v1 hierarchy moves it out. */
static const char *hint_for(const char *msg)
{
	if (strstr(msg, "hybrid mode not supported") != NULL)
		return " (the cgroup v2 hierarchy still holds controllers, see "
		       "/sys/fs/cgroup/unified/cgroup.controllers; bind each to cgroup v1 first, e.g. "
		       "`mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb`, "
		       "or use runc)";
	return "";
}

int runtime_run(const struct runtime *rt, const char *const *args, const int stdio[3], char **out,
		const char *what, struct shim_err *e)
{
	const char *argv[64];
	size_t n = 0;
	argv[n++] = rt->binary;
	argv[n++] = "--root";
	argv[n++] = rt->root;
	argv[n++] = "--log";
	argv[n++] = rt->log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	if (rt->systemd_cgroup)
		argv[n++] = "--systemd-cgroup";
	for (size_t i = 0; args[i] != NULL && n < ARRAY_LEN(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	if (rt->path == NULL)
		return fail(e, CODE_NOT_FOUND, "%s: runtime binary \"%s\" not resolved", what, rt->binary);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int pipes[2][2] = {{-1, -1}, {-1, -1}};
	int fds[3] = {stdio[0] >= 0 ? stdio[0] : devnull, stdio[1], stdio[2]};
	for (int i = 1; i < 3; i++) {
		if (fds[i] >= 0)
			continue;
		if (pipe2(pipes[i - 1], O_CLOEXEC) < 0) {
			fds[i] = devnull;
			continue;
		}
		fds[i] = pipes[i - 1][1];
	}
	off_t log_from = file_size(rt->log);
	log_debug("run %s %s", rt->path, args[0]);

	pid_t pid = fork();
	if (pid == 0)
		exec_child(rt->path, (char *const *)argv, fds);
	int saved = errno;
	for (int i = 0; i < 2; i++)
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
	if (devnull >= 0)
		close(devnull);
	char *bufs[2] = {NULL, NULL};
	size_t lens[2] = {0, 0};
	if (pid > 0) {
		int rd[2] = {pipes[0][0], pipes[1][0]};
		capture(rd, bufs, lens);
	} else {
		for (int i = 0; i < 2; i++)
			if (pipes[i][0] >= 0)
				close(pipes[i][0]);
		return fail(e, CODE_INTERNAL, "%s: fork: %s", what, strerror(saved));
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (out != NULL)
			*out = bufs[0] ? bufs[0] : xstrdup("");
		else
			free(bufs[0]);
		free(bufs[1]);
		return 0;
	}
	char *msg = last_logged_error(rt->log, log_from);
	if (msg == NULL && bufs[1] != NULL && *bufs[1] != '\0')
		msg = xstrdup(bufs[1]);
	if (msg == NULL && bufs[0] != NULL && *bufs[0] != '\0')
		msg = xstrdup(bufs[0]);
	if (msg != NULL)
		trim(msg);
	if (msg == NULL || *msg == '\0') {
		free(msg);
		if (WIFSIGNALED(status))
			msg = xasprintf("%s was killed by signal %d", rt->binary, WTERMSIG(status));
		else
			msg = xasprintf("%s did not terminate successfully: exit status %d", rt->binary,
					WEXITSTATUS(status));
	}
	fail(e, CODE_UNKNOWN, "%s: %s%s", what, msg, hint_for(msg));
	free(msg);
	free(bufs[0]);
	free(bufs[1]);
	return -1;
}

int runtime_save(const struct runtime *rt, const char *bundle)
{
	char *path = xasprintf("%s/%s", bundle, RUNTIME_FILE);
	char *data = xasprintf("binary=%s\nroot=%s\nsystemd_cgroup=%d\n", rt->path ? rt->path : rt->binary, rt->root,
			       rt->systemd_cgroup);
	int r = write_file(path, data, strlen(data), 0600);
	free(data);
	free(path);
	return r;
}

int runtime_load(struct runtime *rt, const char *bundle)
{
	char *path = xasprintf("%s/%s", bundle, RUNTIME_FILE);
	char *data = read_file(path, 8192, NULL);
	free(path);
	if (data == NULL)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "binary") == 0) {
			free(rt->binary);
			rt->binary = xstrdup(eq);
		} else if (strcmp(line, "root") == 0) {
			free(rt->root);
			rt->root = xstrdup(eq);
		} else if (strcmp(line, "systemd_cgroup") == 0) {
			rt->systemd_cgroup = strcmp(eq, "1") == 0;
		}
	}
	free(data);
	return 0;
}

void runtime_fini(struct runtime *rt)
{
	free(rt->binary);
	free(rt->path);
	free(rt->root);
	free(rt->log);
	*rt = (struct runtime){0};
}
