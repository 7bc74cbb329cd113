/* ucontainerd-shim: command line, and the `start` and `delete` commands of
 * containerd 1.6's shim convention (runtime/v2/shim):
 *
 *   ucontainerd-shim -namespace NS -address SOCK -publish-binary BIN -id ID
 *                    [-debug] [-bundle DIR] start|delete
 *
 * `start` (cwd = bundle) binds the shim's socket, forks the server and
 * prints the socket's address once the server is ready. `delete` cleans up
 * after a shim that died: it removes the container from the runtime,
 * unmounts the rootfs and prints a DeleteResponse. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "containerd/runtime/v2/task/shim.pb-c.h"
#include "shim.h"

#define SHIM_VERSION "0.1.0"

struct args {
	const char *ns, *address, *publish_binary, *id, *bundle, *command;
	bool debug;
};

static void usage(void)
{
	fprintf(stderr, "usage: ucontainerd-shim -namespace NS -address ADDRESS -publish-binary BIN -id ID\n"
			"                        [-debug] [-bundle DIR] start|delete\n");
}

/* Go's flag syntax: -name value, -name=value, --name value; bools alone. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const char *const names[] = {"namespace", "address", "publish-binary", "id", "bundle"};
	const char **slots[] = {&a->ns, &a->address, &a->publish_binary, &a->id, &a->bundle};
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		if (arg[0] != '-') {
			if (a->command != NULL)
				return fprintf(stderr, "ucontainerd-shim: unexpected argument %s\n", arg), -1;
			a->command = arg;
			continue;
		}
		arg += arg[1] == '-' ? 2 : 1;
		char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len == 5 && strncmp(arg, "debug", 5) == 0) {
			a->debug = eq == NULL || strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "1") == 0;
			continue;
		}
		if ((len == 1 && arg[0] == 'v') || (len == 7 && strncmp(arg, "version", 7) == 0)) {
			printf("ucontainerd-shim %s\n", SHIM_VERSION);
			exit(0);
		}
		size_t k;
		for (k = 0; k < ARRAY_LEN(names); k++)
			if (strlen(names[k]) == len && strncmp(arg, names[k], len) == 0)
				break;
		if (k == ARRAY_LEN(names))
			return fprintf(stderr, "ucontainerd-shim: flag provided but not defined: -%.*s\n", (int)len, arg), -1;
		if (eq != NULL)
			*slots[k] = eq + 1;
		else if (i + 1 < argc)
			*slots[k] = argv[++i];
		else
			return fprintf(stderr, "ucontainerd-shim: flag needs an argument: -%s\n", names[k]), -1;
	}
	if (a->ns == NULL || *a->ns == '\0' || a->id == NULL || *a->id == '\0')
		return fprintf(stderr, "ucontainerd-shim: -namespace and -id are required\n"), -1;
	return 0;
}

static char *current_dir(void)
{
	char *d = getcwd(NULL, 0);
	return d ? d : xstrdup(".");
}

static const char *strip_unix(const char *a)
{
	return strncmp(a, "unix://", 7) == 0 ? a + 7 : a;
}

/* <dir of the daemon's socket>/s/<FNV-1a 64 of "ns/id/address">: short,
 * stable for a task, and under the daemon's state where operators look. */
static char *socket_path(const struct args *a)
{
	char *key = xasprintf("%s/%s/%s", a->ns, a->id, a->address);
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	free(key);
	char *addr = xstrdup(strip_unix(a->address));
	char *slash = strrchr(addr, '/');
	const char *dir = slash == NULL ? "." : slash == addr ? "/" : (*slash = '\0', addr);
	char *path = xasprintf("%s/s/%016llx", strcmp(dir, "/") == 0 ? "" : dir, (unsigned long long)h);
	free(addr);
	return path;
}

/* The directory of the shims' sockets: made 0700, or, when it exists, a
 * directory of ours (never another user's: it could swap sockets) whose
 * mode is brought down to 0700 (0711 before). */
static int socket_dir(const char *dir)
{
	if (mkdir_p(dir, 0700) < 0) {
		fprintf(stderr, "ucontainerd-shim: create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "ucontainerd-shim: open %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int r = 0;
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "ucontainerd-shim: socket directory %s belongs to uid %u, not to us (uid %u): refused\n",
			dir, (unsigned)st.st_uid, (unsigned)geteuid());
		r = -1;
	} else if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0) {
		fprintf(stderr, "ucontainerd-shim: chmod 0700 %s: %s\n", dir, strerror(errno));
		r = -1;
	}
	close(fd);
	return r;
}

/* The socket is bound with its final mode (0600: whoever can connect can
 * exec in the container, so the daemon only) through the umask: no chmod
 * by path after the bind, which a swap of the name could redirect. The
 * shim has a single thread, so the umask change concerns nothing else. */
static int bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int r = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
	int saved = errno;
	umask(old);
	errno = saved;
	return r;
}

static int shim_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "ucontainerd-shim: socket path %s is longer than %zu bytes\n", path, sizeof sa.sun_path - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int r = socket_dir(dir);
	free(dir);
	if (r < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = bind_private(fd, &sa);
	if (r < 0 && errno == EADDRINUSE) {
		/* a live shim answers; a dead one left only the file */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			fprintf(stderr, "ucontainerd-shim: a shim is already running on %s\n", path);
			close(fd);
			return -1;
		}
		unlink(path);
		r = bind_private(fd, &sa);
	}
	if (r < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "ucontainerd-shim: listen on %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The server's stderr: the bundle's `log` FIFO the daemon reads (as
 * containerd's shims do), else shim.log in the bundle. */
static void redirect_stdio(void)
{
	int null = open("/dev/null", O_RDWR);
	struct stat st;
	int log = open("log", O_WRONLY | O_NONBLOCK | O_NOFOLLOW);
	if (log >= 0 && (fstat(log, &st) < 0 || !S_ISFIFO(st.st_mode))) {
		close(log);
		log = -1;
	}
	if (log < 0)
		log = open("shim.log", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0600);
	dup2(null, 0);
	dup2(null, 1);
	dup2(log >= 0 ? log : null, 2);
	if (null > 2)
		close(null);
	if (log > 2)
		close(log);
}

static int serve(int listen_fd, int ready_fd)
{
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (loop_init() < 0 || proc_init() < 0 || server_init(listen_fd) < 0) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	events_init(cfg.ttrpc_address, cfg.ns);
	task_init();
	log_info("serving %s/%s on %s", cfg.ns, cfg.id, cfg.socket_path);
	if (ready_fd >= 0) {
		ssize_t r = write(ready_fd, "1", 1);
		(void)r;
		close(ready_fd);
	}
	loop_run();
	server_flush(1000);
	events_flush(2000);
	unlink(cfg.socket_path);
	log_info("exiting");
	return 0;
}

static void drain_stdin(void)
{
	char buf[4096];
	while (read(0, buf, sizeof buf) > 0)
		;
}

static int cmd_start(const struct args *a)
{
	drain_stdin();   /* the task's options as an Any: the server gets them with Create */
	char *bundle = a->bundle ? xstrdup(a->bundle) : current_dir();
	if (a->address == NULL || *a->address == '\0') {
		fprintf(stderr, "ucontainerd-shim: -address is required for start\n");
		free(bundle);
		return 1;
	}
	cfg.socket_path = socket_path(a);
	int fd = shim_listen(cfg.socket_path);
	int ready[2] = {-1, -1};
	if (fd < 0 || pipe2(ready, O_CLOEXEC) < 0) {
		free(bundle);
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ucontainerd-shim: fork: %s\n", strerror(errno));
		unlink(cfg.socket_path);
		free(bundle);
		return 1;
	}
	if (pid == 0) {
		close(ready[0]);
		setsid();
		if (chdir(bundle) < 0)
			_exit(1);
		free(bundle);
		redirect_stdio();
		exit(serve(fd, ready[1]));
	}
	close(ready[1]);
	close(fd);
	char c;
	ssize_t r;
	while ((r = read(ready[0], &c, 1)) < 0 && errno == EINTR)
		;
	if (r != 1) {
		fprintf(stderr, "ucontainerd-shim: the shim server exited before serving (see %s/shim.log)\n", bundle);
		unlink(cfg.socket_path);
		free(bundle);
		return 1;
	}
	char *address = xasprintf("unix://%s", cfg.socket_path);
	char *file = xasprintf("%s/address", bundle);
	if (write_file(file, address, strlen(address), 0600) < 0)
		fprintf(stderr, "ucontainerd-shim: write %s: %s\n", file, strerror(errno));
	printf("%s", address);
	fflush(stdout);
	free(file);
	free(address);
	free(bundle);
	return 0;
}

static int cmd_delete(const struct args *a)
{
	char *bundle = a->bundle ? xstrdup(a->bundle) : current_dir();
	struct runtime rt = {0};
	if (runtime_load(&rt, bundle) < 0) {
		rt.binary = xstrdup(DEFAULT_RUNTIME);
		rt.root = xasprintf("%s/%s", DEFAULT_ROOT, a->ns);
	}
	rt.log = xasprintf("%s/%s", bundle, LOG_JSON);
	struct shim_err e = {0};
	if (runtime_resolve(&rt, &e) == 0) {
		const char *args[] = {"delete", "--force", a->id, NULL};
		if (runtime_run(&rt, args, (int[3]){-1, -1, -1}, NULL, "delete", &e) < 0 &&
		    strstr(e.msg, "does not exist") == NULL)
			log_warn("%s", e.msg);
	} else {
		log_warn("%s", e.msg);
	}
	char *rootfs = xasprintf("%s/rootfs", bundle);
	unmount_all(rootfs);
	free(rootfs);

	Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct timespec now = now_realtime();
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	resp.exit_status = 128 + SIGKILL;
	resp.exited_at = &ts;
	size_t len = protobuf_c_message_get_packed_size(&resp.base);
	uint8_t *buf = xmalloc(len);
	protobuf_c_message_pack(&resp.base, buf);
	bool ok = write_all(1, buf, len);
	free(buf);
	runtime_fini(&rt);
	free(bundle);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	if (parse_args(argc, argv, &a) < 0 || a.command == NULL) {
		usage();
		return 1;
	}
	/* Nothing the caller left open is kept: the server lives as long as
	 * the container, and the runtime it runs gets fds 0-2 only anyway. */
	close_range(3, ~0u, 0);
	struct shim_err e = {0};
	if (!shim_identifier("namespace", a.ns, &e) || !shim_identifier("id", a.id, &e)) {
		fprintf(stderr, "ucontainerd-shim: %s\n", e.msg);
		return 1;
	}
	log_debug_enabled = a.debug;
	cfg.ns = a.ns;
	cfg.id = a.id;
	cfg.address = a.address;
	cfg.ttrpc_address = getenv("TTRPC_ADDRESS");
	if (strcmp(a.command, "start") == 0)
		return cmd_start(&a);
	if (strcmp(a.command, "delete") == 0)
		return cmd_delete(&a);
	fprintf(stderr, "ucontainerd-shim: unknown command %s\n", a.command);
	usage();
	return 1;
}
