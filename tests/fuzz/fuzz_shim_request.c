/* The shim's request decoding (shim/server.c with the ttrpc codec): the
 * input is what the daemon writes on the shim's socket, ttrpc frames
 * carrying containerd.task.v2.Task requests, read by the real server in the
 * real epoll loop (shim/loop.c) and dispatched to the real handlers of
 * shim/task.c, in a shim that holds no task (as right after `start`).
 *
 * Create is the one handler that acts without a task: it mounts what the
 * request names, writes into the bundle it names and runs the OCI runtime
 * it names, as root. Its requests are taken out of the byte stream before
 * the server sees it (the other frames are kept as they are), and only
 * decoded here with the method table's own descriptor, as server.c would.
 * Every other method runs: each answers from the shim's own state, which
 * has no task.
 *
 * An input that begins with '{' is instead the runtime's log.json (what
 * runc or crun write there, container-made messages included): each line
 * goes through the shim's JSON field reader, as runc.c reads the error of
 * a failed runtime command. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "shim.h"
#include "ttrpc/ttrpc_wire.h"

int proc_init(void);
int server_init(int listen_fd);

static char *sock_path;
static int saved_stderr = -1, devnull = -1;

/* From the sanitizer runtime, when there is one. */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = fuzz_tmpdir();
	cfg.ns = "default";
	cfg.id = "fuzz";
	FUZZ_CHECK(loop_init() == 0, "epoll");
	events_init(NULL, cfg.ns);
	task_init();
	sock_path = xasprintf("%s/shim.sock", tmp);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 64) == 0, "listen %s: %s", sock_path,
		   strerror(errno));
	FUZZ_CHECK(server_init(fd) == 0, "server_init");
	/* The shim logs a line per frame it refuses, on fd 2; a sanitizer report
	 * must still reach the real stderr (see LLVMFuzzerTestOneInput). */
	saved_stderr = dup(2);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (__sanitizer_set_report_fd != NULL)
		__sanitizer_set_report_fd((void *)(intptr_t)saved_stderr);
	return 0;
}

/* Copies the input without the Create request frames; each of those is
 * decoded with the descriptor of the shim's method table instead. */
static uint8_t *without_create(const uint8_t *data, size_t size, size_t *out_len)
{
	const struct method *create = NULL;
	for (size_t i = 0; i < task_methods_len; i++)
		if (strcmp(task_methods[i].name, "Create") == 0)
			create = &task_methods[i];
	FUZZ_CHECK(create != NULL, "the shim has no Create method");
	uint8_t *out = malloc(size ? size : 1);
	size_t n = 0, off = 0;
	while (size - off >= TTRPC_HEADER_LEN) {
		struct ttrpc_header h;
		ttrpc_header_decode(data + off, &h);
		size_t total = TTRPC_HEADER_LEN + (size_t)h.length;
		if (h.length > TTRPC_MAX_MESSAGE || total > size - off)
			break;   /* the rest is one frame the server skips or never completes */
		bool drop = false;
		if (h.type == TTRPC_REQUEST) {
			Ttrpc__Request *req = ttrpc__request__unpack(NULL, h.length, data + off + TTRPC_HEADER_LEN);
			if (req != NULL && req->service && req->method && strcmp(req->service, "containerd.task.v2.Task") == 0 &&
			    strcmp(req->method, "Create") == 0) {
				drop = true;
				ProtobufCMessage *in = protobuf_c_message_unpack(create->input, NULL, req->payload.len,
										 req->payload.data);
				if (in != NULL)
					protobuf_c_message_free_unpacked(in, NULL);
			}
			if (req != NULL)
				ttrpc__request__free_unpacked(req, NULL);
		}
		if (!drop) {
			memcpy(out + n, data + off, total);
			n += total;
		}
		off += total;
	}
	memcpy(out + n, data + off, size - off);
	*out_len = n + size - off;
	return out;
}

struct client {
	struct watch w;
	const uint8_t *data;
	size_t n, off;
	bool shut, done;
};

static void on_client(struct watch *w, uint32_t events)
{
	struct client *c = (struct client *)w;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		char sink[16384];
		ssize_t r;
		while ((r = recv(w->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
			;
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			c->done = true;   /* the shim closed our connection */
			loop_stop();
			return;
		}
	}
	while (c->off < c->n) {
		ssize_t r = send(w->fd, c->data + c->off, c->n - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r <= 0) {
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				c->off = c->n;
			break;
		}
		c->off += (size_t)r;
	}
	if (c->off == c->n && !c->shut) {
		shutdown(w->fd, SHUT_WR);
		c->shut = true;
	}
	loop_mod(w, EPOLLIN | (c->off < c->n ? EPOLLOUT : 0));
}

static void log_json(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		static const char *const keys[] = {"level", "msg", "time", ""};
		for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
			char *v = json_string_field(line, keys[i]);
			FUZZ_CHECK(v == NULL || strlen(v) <= strlen(line), "a field longer than its line");
			free(v);
		}
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '{') {
		log_json(data, size);
		return 0;
	}
	size_t n;
	uint8_t *bytes = without_create(data, size, &n);
	struct client c = {.data = bytes, .n = n};
	c.w.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	FUZZ_CHECK(connect(c.w.fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
	c.w.fn = on_client;
	FUZZ_CHECK(loop_add(&c.w, EPOLLIN | EPOLLOUT), "watch the client");
	dup2(devnull, 2);
	while (!c.done)
		loop_run();   /* returns at loop_stop: our EOF, or a Shutdown request */
	dup2(saved_stderr, 2);
	loop_close(&c.w);
	free(bytes);
	return 0;
}
