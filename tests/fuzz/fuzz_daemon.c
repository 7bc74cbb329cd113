#include "fuzz_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"
#include "events/events.h"
#include "fuzz.h"
#include "metadata/db.h"
#include "registry/registry.h"
#include "rpc/rpc.h"
#include "toml/toml.h"
#include "util/error.h"
#include "util/mem.h"

static struct fuzz_daemon daemon_;
static bool started;

/* The core's own parts, listed as the daemon lists them (introspection
 * reports them; services look some up). */
static const char *const none[] = {NULL};
static const char *const grpc_requires[] = {"io.containerd.metadata.v1", "io.containerd.event.v1", NULL};
#define BUILTIN(t, i, r) {UCD_PLUGIN_DESC_INIT, .type = (t), .id = (i), .requires_types = (r)}
static const struct ucd_plugin_desc builtins[] = {
	BUILTIN("io.containerd.event.v1", "exchange", none),
	BUILTIN("io.containerd.metadata.v1", "sqlite", none),
	BUILTIN("io.containerd.grpc.v1", "version", none),
	BUILTIN("io.containerd.grpc.v1", "introspection", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "namespaces", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "containers", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "images", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "leases", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "events", grpc_requires),
	BUILTIN("io.containerd.grpc.v1", "healthcheck", none),
};
/* With FUZZ_DAEMON_TASKS, as the daemon lists them. */
static const char *const tasks_requires[] = {"io.containerd.runtime.v2", "io.containerd.metadata.v1", NULL};
static const struct ucd_plugin_desc task_builtins[] = {
	BUILTIN("io.containerd.grpc.v1", "diff", grpc_requires),
	{UCD_PLUGIN_DESC_INIT, .type = "io.containerd.grpc.v1", .id = "tasks", .requires_types = tasks_requires,
	 .init = svc_tasks_init},
};

/* The runtime plugin's table: a shim for io.containerd.runc.v2 that is not
 * there, so that a Create of the seeded container fails where it would
 * start one. */
static const char runtime_config[] = "runc_shim = \"/nonexistent/ucontainerd-shim\"\n";

static const struct toml_value *plugin_table(void *arg, const char *uri, const char **file)
{
	struct fuzz_daemon *d = arg;
	(void)file;
	return strcmp(uri, "io.containerd.runtime.v2.task") == 0 ? d->plugin_config : NULL;
}

static void die(const char *what, struct ucd_error *e)
{
	fprintf(stderr, "fuzz: %s: %s\n", what, e ? e->msg : "failed");
	abort();
}

static void stop(void)
{
	struct fuzz_daemon *d = &daemon_;
	if (md_tx_depth(d->svc.db) > 0)
		md_rollback(d->svc.db);
	if (d->parts & FUZZ_DAEMON_TASKS)
		svc_tasks_shutdown(&d->svc);
	svc_leases_shutdown(&d->svc);
	svc_events_ttrpc_stop(&d->svc);
	svc_defer_close(&d->svc);
	rpc_server_close(d->svc.server, NULL, NULL);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	rpc_server_free(d->svc.server);
	registry_free(d->svc.registry);
	md_close(d->svc.db);
	events_free(d->svc.events);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	FUZZ_CHECK(uv_loop_close(&d->loop) == 0, "handles left open at exit");
	config_fini(d->cfg);
	free(d->cfg);
	toml_free(d->plugin_config);
	free(d->grpc_path);
	free(d->ttrpc_path);
}

struct fuzz_daemon *fuzz_daemon_start(unsigned parts)
{
	struct fuzz_daemon *d = &daemon_;
	if (started)
		return d;
	started = true;
	fuzz_quiet_logs();
	signal(SIGPIPE, SIG_IGN);
	const char *tmp = fuzz_tmpdir();
	struct ucd_error *e = NULL;
	if (parts & FUZZ_DAEMON_TASKS)
		parts |= FUZZ_DAEMON_STORAGE;
	d->parts = parts;
	bool plugins = parts & FUZZ_DAEMON_STORAGE;
	d->cfg = xcalloc(1, sizeof *d->cfg);
	autofree char *none_path = xasprintf("%s/no-config.toml", tmp);
	if (config_load(d->cfg, none_path, false, &e) < 0)
		die("config defaults", e);
	free(d->cfg->root);
	free(d->cfg->state);
	free(d->cfg->grpc.address);
	d->cfg->root = xasprintf("%s/root", tmp);
	d->cfg->state = xasprintf("%s/state", tmp);
	d->cfg->grpc.address = xasprintf("%s/ucd.sock", tmp);
	d->grpc_path = xstrdup(d->cfg->grpc.address);
	d->ttrpc_path = svc_ttrpc_address(d->cfg);

	uv_loop_init(&d->loop);
	d->svc.loop = &d->loop;
	d->svc.config = d->cfg;
	d->svc.uuid = "00000000-0000-4000-8000-000000000000";
	struct rpc_server_opts so = {.address = d->grpc_path, .uid = -1, .gid = -1, .mode = 0600};
	if ((d->svc.server = rpc_server_new(&d->loop, &so, &e)) == NULL || rpc_server_start(d->svc.server, &e) < 0)
		die("grpc server", e);
	d->svc.events = events_new();
	autofree char *md_dir = xasprintf("%s/io.containerd.metadata.v1.sqlite", d->cfg->root);
	if ((d->svc.db = md_open(md_dir, &e)) == NULL)
		die("metadata", e);

	/* The content store and the snapshotters, for Content and Snapshots;
	 * the runtime only for the Tasks service (its shim configured away);
	 * never CRI. */
	static const char *const disabled_runtime[] = {"io.containerd.runtime.v2.task", "io.containerd.grpc.v1.cri",
						       NULL};
	static const char *const disabled_cri[] = {"io.containerd.grpc.v1.cri", NULL};
	char *toml_err = NULL;
	if ((parts & FUZZ_DAEMON_TASKS) &&
	    (d->plugin_config = toml_parse(runtime_config, strlen(runtime_config), "fuzz", &toml_err)) == NULL)
		die(toml_err, NULL);
	struct registry_opts ro = {
		.plugin_dir = plugins ? FUZZ_PLUGIN_DIR : NULL,
		.root = d->cfg->root,
		.state = d->cfg->state,
		.address = d->grpc_path,
		.ttrpc_address = d->ttrpc_path,
		.disabled = (parts & FUZZ_DAEMON_TASKS) ? disabled_cri : disabled_runtime,
		.plugin_table = plugin_table,
		.plugin_table_arg = d,
	};
	if ((d->svc.registry = registry_new(&ro, &e)) == NULL)
		die("registry", e);
	for (size_t i = 0; i < ARRAY_LEN(builtins); i++)
		if (registry_add_builtin(d->svc.registry, &builtins[i], &e) < 0)
			die("builtin", e);
	for (size_t i = 0; (parts & FUZZ_DAEMON_TASKS) && i < ARRAY_LEN(task_builtins); i++)
		if (registry_add_builtin(d->svc.registry, &task_builtins[i], &e) < 0)
			die("builtin", e);
	if (registry_load(d->svc.registry, &e) < 0)
		die("plugins", e);
	svc_defer_init(&d->svc);
	svc_version_register(&d->svc);
	svc_introspection_register(&d->svc);
	svc_health_register(&d->svc);
	svc_namespaces_register(&d->svc);
	svc_containers_register(&d->svc);
	svc_images_register(&d->svc);
	svc_leases_register(&d->svc);
	svc_events_register(&d->svc);
	if (plugins) {
		svc_content_register(&d->svc);
		svc_snapshots_register(&d->svc);
	}
	if (parts & FUZZ_DAEMON_TASKS) {
		svc_diff_register(&d->svc);
		svc_tasks_register(&d->svc);
	}
	if (svc_events_ttrpc_start(&d->svc, &e) < 0)
		die("ttrpc server", e);
	atexit(stop);
	if (md_begin(d->svc.db, &e) < 0)
		die("begin", e);
	return d;
}

struct idle_probe {
	bool busy;
};

static void probe_handle(uv_handle_t *h, void *arg)
{
	struct idle_probe *p = arg;
	/* deferred work (svc_defer) waits in an active idle handle; a handle
	 * being closed still has its callback to run */
	if ((h->type == UV_IDLE && uv_is_active(h)) || uv_is_closing(h))
		p->busy = true;
}

/* Nothing in progress: no work on the pool, nothing deferred or closing. */
static bool daemon_settled(struct fuzz_daemon *d)
{
	if (d->loop.active_reqs.count != 0)
		return false;
	struct idle_probe p = {false};
	uv_walk(&d->loop, probe_handle, &p);
	return !p.busy;
}

/* ... and no connection left. */
static bool daemon_idle(struct fuzz_daemon *d)
{
	return rpc_server_connections(d->svc.server) == 0 && daemon_settled(d);
}

void fuzz_daemon_exchange(struct fuzz_daemon *d, const char *socket_path, const uint8_t *data, size_t n)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_path);
	/* a unix listener with room in its backlog accepts at once */
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", socket_path, strerror(errno));
	FUZZ_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK: %s", strerror(errno));
	size_t off = 0;
	bool shut = false, eof = false;
	int quiet = 0;
	static char sink[65536];
	for (;;) {
		/* drain what the daemon answered: it stops reading a client that
		 * does not read */
		while (!eof) {
			ssize_t r = recv(fd, sink, sizeof sink, 0);
			if (r > 0)
				continue;
			if (r == 0 || (errno != EAGAIN && errno != EINTR))
				eof = true;
			break;
		}
		while (off < n) {
			ssize_t w = send(fd, data + off, n - off, MSG_NOSIGNAL);
			if (w > 0) {
				off += (size_t)w;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				off = n;   /* the daemon hung up early */
			break;
		}
		/* Half-close once the daemon has read everything and finished what
		 * it started (work on the pool, deferred work, timers due within
		 * 10 ms such as a short grpc-timeout): a client that hangs up at
		 * once would cancel every call that answers later. */
		int unread = 0;
		if (off == n && !shut && !eof && ioctl(fd, SIOCOUTQ, &unread) == 0 && unread == 0 && daemon_settled(d) &&
		    (uv_backend_timeout(&d->loop) < 0 || uv_backend_timeout(&d->loop) > 10))
			quiet++;
		else
			quiet = 0;
		if (off == n && !shut && (eof || quiet >= 2)) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (shut && eof && daemon_idle(d))
			break;
		/* sleep until the daemon or the connection has something to do */
		struct pollfd p[2] = {
			{.fd = uv_backend_fd(&d->loop), .events = POLLIN},
			{.fd = fd, .events = (short)(POLLIN | (off < n ? POLLOUT : 0))},
		};
		uv_update_time(&d->loop);
		int timeout = uv_backend_timeout(&d->loop);
		if (quiet > 0)
			timeout = 0;   /* look again at once: quiet twice in a row */
		if (poll(p, eof ? 1 : 2, timeout) < 0 && errno != EINTR)
			FUZZ_CHECK(false, "poll: %s", strerror(errno));
		uv_run(&d->loop, UV_RUN_NOWAIT);
	}
	close(fd);
}

void fuzz_daemon_reset(struct fuzz_daemon *d)
{
	/* every handler ends the transactions it opens: only ours is left */
	FUZZ_CHECK(md_tx_depth(d->svc.db) == 1, "a handler left %d transaction(s) open", md_tx_depth(d->svc.db) - 1);
	md_rollback(d->svc.db);
	struct ucd_error *e = NULL;
	if (md_begin(d->svc.db, &e) < 0)
		die("begin", e);
}
