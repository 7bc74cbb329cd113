/* Start-up order: directories, metadata, plugins, gRPC server, services,
 * then READY=1 to systemd. Shutdown runs the other way, on SIGTERM/SIGINT:
 * stop accepting, end every call, close plugins, close the database. */
#include "daemon.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/random.h>

#include "build_info.h"
#include "events/events.h"
#include "gc/gc.h"
#include "metadata/db.h"
#include "registry/registry.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/memtrim.h"
#include "util/notify.h"

struct daemon {
	uv_loop_t *loop;
	uv_signal_t sigterm, sigint;
	uv_timer_t after_start;   /* work that waits until the daemon serves */
	uv_timer_t idle;          /* re-armed by every call: memory is trimmed when it fires */
	struct config *cfg;
	struct svc_ctx svc;
	bool stopping;
};

/* The core's services, listed as built-in plugins as containerd lists them,
 * so tools that look a service up by plugin name find it. */
static const char *const metadata_requires[] = {"io.containerd.content.v1", "io.containerd.snapshotter.v1", NULL};
static const char *const grpc_requires[] = {"io.containerd.metadata.v1", "io.containerd.event.v1", NULL};
static const char *const no_requires[] = {NULL};
static const char *const metadata_only_requires[] = {"io.containerd.metadata.v1", NULL};
static const char *const tasks_requires[] = {"io.containerd.runtime.v2", "io.containerd.metadata.v1",
					     "io.containerd.event.v1", NULL};

#define BUILTIN_FIELDS(t, i, r) UCD_PLUGIN_DESC_INIT, .type = (t), .id = (i), .requires_types = (r)
#define BUILTIN(t, i, r) { BUILTIN_FIELDS(t, i, r) }
static const struct builtin {
	struct ucd_plugin_desc desc;
	void (*serve)(struct svc_ctx *ctx);   /* registers its gRPC service; NULL: none */
} builtins[] = {
	{BUILTIN("io.containerd.event.v1", "exchange", no_requires), NULL},
	{BUILTIN("io.containerd.metadata.v1", "sqlite", metadata_requires), NULL},
	/* The collector (core/gc), listed as containerd lists its scheduler. */
	{BUILTIN("io.containerd.gc.v1", "scheduler", no_requires), NULL},
	/* The differ the Diff service uses (core/diff), listed as containerd lists it. */
	{BUILTIN("io.containerd.differ.v1", "walking", metadata_only_requires), NULL},
	{BUILTIN("io.containerd.grpc.v1", "version", no_requires), svc_version_register},
	{BUILTIN("io.containerd.grpc.v1", "introspection", grpc_requires), svc_introspection_register},
	{BUILTIN("io.containerd.grpc.v1", "namespaces", grpc_requires), svc_namespaces_register},
	{BUILTIN("io.containerd.grpc.v1", "containers", grpc_requires), svc_containers_register},
	{BUILTIN("io.containerd.grpc.v1", "images", grpc_requires), svc_images_register},
	{BUILTIN("io.containerd.grpc.v1", "leases", grpc_requires), svc_leases_register},
	{BUILTIN("io.containerd.grpc.v1", "content", grpc_requires), svc_content_register},
	{BUILTIN("io.containerd.grpc.v1", "snapshots", grpc_requires), svc_snapshots_register},
	{BUILTIN("io.containerd.grpc.v1", "diff", grpc_requires), svc_diff_register},
	/* Its init skips, saying why, without a usable runtime plugin. */
	{{BUILTIN_FIELDS("io.containerd.grpc.v1", "tasks", tasks_requires), .init = svc_tasks_init}, svc_tasks_register},
	{BUILTIN("io.containerd.grpc.v1", "events", grpc_requires), svc_events_register},
	{BUILTIN("io.containerd.grpc.v1", "healthcheck", no_requires), svc_health_register},
};

/* A random (version 4) UUID in its canonical lower-case form. */
static void uuid_v4(char out[37])
{
	uint8_t b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		oom();   /* getrandom on a running kernel does not fail for 16 bytes */
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static bool uuid_valid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* The server UUID survives restarts: containerd keeps it under the
 * introspection plugin's root, and so do we. It is written without fsync:
 * a power cut right after the first start can at worst cost the UUID, and a
 * new one is then made, which is all a client can tell either way. */
static char *load_uuid(const char *root, struct ucd_error **err)
{
	autofree char *dir = xasprintf("%s/io.containerd.grpc.v1.introspection", root);
	autofree char *path = xasprintf("%s/uuid", dir);
	char buf[64] = {0};
	if (fs_read_small(path, buf, sizeof buf - 1) > 0) {
		buf[strcspn(buf, "\r\n")] = 0;
		if (uuid_valid(buf))
			return xstrdup(buf);
		log_warn("%s holds no valid uuid: writing a new one", path);
	}
	uuid_v4(buf);
	if (fs_mkdir_p(dir, 0700, err) < 0 || fs_write_atomic(path, buf, strlen(buf), 0600, false, err) < 0)
		return NULL;
	return xstrdup(buf);
}

/* Shortly after start-up: flush a newly built metadata database to disk.
 * Not on the start-up path itself, where it would start libuv's thread pool
 * (which waits for each worker thread to run) before the first call is
 * served. */
static void on_after_start(uv_timer_t *t)
{
	struct daemon *d = t->data;
	md_sync_fresh(d->svc.db, d->loop);
	log_debug("memory: start-up code unmapped (%zu kB mapped)", mem_trim());
}

/* IDLE_TRIM_MS after the last call, the code the burst of work mapped and
 * the heap it freed are given back (util/memtrim.c). */
#define IDLE_TRIM_MS 2000

static void on_idle(uv_timer_t *t)
{
	log_debug("memory: idle, code unmapped (%zu kB mapped)", mem_trim());
}

static void on_call(void *arg)
{
	struct daemon *d = arg;
	uv_timer_start(&d->idle, on_idle, IDLE_TRIM_MS, 0);
}

static void after_close(void *arg)
{
	struct daemon *d = arg;
	registry_unserve(d->svc.registry);
	uv_close((uv_handle_t *)&d->idle, NULL);
	uv_close((uv_handle_t *)&d->after_start, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (d->stopping) {
		log_warn("second %s: still shutting down", strsignal(signum));
		return;
	}
	d->stopping = true;
	log_info("received %s, shutting down", strsignal(signum));
	notify_systemd("STOPPING=1");
	/* Plugins stop first, while every service still answers them. */
	registry_stop(d->svc.registry);
	svc_leases_shutdown(&d->svc);
	svc_tasks_shutdown(&d->svc);
	svc_events_ttrpc_stop(&d->svc);
	gc_shutdown(d->svc.gc);
	svc_defer_close(&d->svc);
	rpc_server_close(d->svc.server, after_close, d);
}

static struct registry *load_plugins(struct config *cfg, const char *plugin_dir, uv_loop_t *loop,
				     struct ucd_error **err)
{
	struct registry_opts o = {0};
	registry_opts_from_config(&o, cfg);
	o.plugin_dir = plugin_dir;   /* main resolved it: the config's, or next to the binary */
	o.loop = loop;
	struct registry *reg = registry_new(&o, err);
	if (reg == NULL)
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(builtins); i++) {
		if (registry_add_builtin(reg, &builtins[i].desc, err) < 0) {
			registry_free(reg);
			return NULL;
		}
	}
	if (registry_load(reg, err) < 0) {
		registry_free(reg);
		return NULL;
	}
	return reg;
}

/* `oom_score`: the daemon's own oom_score_adj, as containerd sets it. A
 * failure (no permission to lower it) is logged, not fatal, as there. */
static void set_oom_score(int score)
{
	if (score == 0)
		return;
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d", score);
	autoclose int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		log_error("failed to adjust OOM score for ucontainerd to %d: %s", score, strerror(errno));
}

/* One daemon per root: a second one would share the database and the
 * plugins' directories. The lock lives as long as the process. */
static int lock_root(const char *root, int *fd, struct ucd_error **err)
{
	autofree char *path = xasprintf("%s/ucontainerd.lock", root);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return error_set(err, UCD_INTERNAL, errno, "open `%s`: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "?";
		ssize_t n = pread(*fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 1] = 0;
		pid[strcspn(pid, "\n")] = 0;
		return error_set(err, UCD_FAILED_PRECONDITION, errno,
				 "root `%s` is in use by another ucontainerd (pid %s): refusing to share it", root, pid);
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
	if (ftruncate(*fd, 0) < 0 || pwrite(*fd, buf, (size_t)n, 0) != n)
		log_warn("cannot record pid in `%s`: %s", path, strerror(errno));
	return 0;
}

int daemon_run(struct config *cfg, const char *plugin_dir)
{
	struct ucd_error *err = NULL;
	struct daemon d = {.cfg = cfg};
	int status = 1;
	autoclose int lock_fd = -1;
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	d.svc.loop = &loop;
	d.svc.config = cfg;

	signal(SIGPIPE, SIG_IGN);
	log_info("starting ucontainerd version=%s revision=%s", UCD_VERSION, UCD_REVISION);
	autofree char *md_dir = xasprintf("%s/io.containerd.metadata.v1.sqlite", cfg->root);
	autofree char *uuid = NULL;
	/* Modes as containerd's since CVE-2021-41103 and CVE-2024-25621: the
	 * root (layers, metadata) is the daemon's alone; the state may be
	 * traversed (0711: a socket in it must be reachable by the `[grpc]
	 * gid`), its bundles are not. Existing ones are narrowed and checked
	 * (util/fs.h, docs/config.md). */
	if (fs_mkdir_p(cfg->root, 0700, &err) < 0 || fs_mkdir_p(cfg->state, 0711, &err) < 0 ||
	    fs_mkdir_parent(cfg->grpc.address, 0711, &err) < 0)
		goto out;
	if (lock_root(cfg->root, &lock_fd, &err) < 0)
		goto out;
	set_oom_score(cfg->oom_score);

	/* Bind first: a daemon already serving this socket stops us before we
	 * touch anything. Clients that connect now wait in the backlog until
	 * the loop runs, when every service is registered. */
	struct rpc_server_opts so = {
		.address = cfg->grpc.address,
		.uid = cfg->grpc.uid,
		.gid = cfg->grpc.gid,
		.mode = 0660,
		.max_recv_message_size = (size_t)cfg->grpc.max_recv_message_size,
		.max_send_message_size = (size_t)cfg->grpc.max_send_message_size,
		.max_recv_buffer = (size_t)cfg->grpc.max_recv_buffer_size,
		.max_conn_recv_buffer = (size_t)cfg->grpc.max_conn_recv_buffer_size,
		.max_send_buffer = (size_t)cfg->grpc.max_send_buffer_size,
		.max_conn_send_buffer = (size_t)cfg->grpc.max_conn_send_buffer_size,
		.max_connections = (size_t)cfg->grpc.max_connections,
		.idle_timeout_ms = ((uint64_t)cfg->grpc.idle_timeout_ns + 999999) / 1000000,
	};
	if ((d.svc.server = rpc_server_new(&loop, &so, &err)) == NULL)
		goto out;
	if (rpc_server_start(d.svc.server, &err) < 0)
		goto out;

	if ((uuid = load_uuid(cfg->root, &err)) == NULL)
		goto out;
	d.svc.uuid = uuid;
	d.svc.events = events_new();
	if ((d.svc.db = md_open(md_dir, &err)) == NULL)
		goto out;
	if ((d.svc.registry = load_plugins(cfg, plugin_dir, &loop, &err)) == NULL)
		goto out;
	d.svc.gc = gc_new(&loop, d.svc.db, d.svc.registry);
	if (md_created(d.svc.db) && gc_check_new_metadata(d.svc.gc, &err) < 0) {
		/* leave no database behind: the next start must refuse too */
		md_close_discard(steal(d.svc.db));
		goto out;
	}
	svc_defer_init(&d.svc);
	/* What a crash left between a backend write and its metadata row, and
	 * what was deleted just before a shutdown, goes at start-up. */
	gc_schedule(d.svc.gc);

	/* A built-in service listed in disabled_plugins is not served, as in containerd. */
	for (size_t i = 0; i < ARRAY_LEN(builtins); i++) {
		const struct ucd_plugin_desc *b = &builtins[i].desc;
		const struct registry_plugin *p = registry_get(d.svc.registry, b->type, b->id);
		if (builtins[i].serve != NULL && p != NULL && registry_plugin_status(p) == REGISTRY_OK)
			builtins[i].serve(&d.svc);
	}

	/* Shims publish their events here; the socket exists before any
	 * runtime starts a shim. */
	if (svc_events_ttrpc_start(&d.svc, &err) < 0)
		goto out;

	uv_signal_init(&loop, &d.sigterm);
	uv_signal_init(&loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	uv_timer_init(&loop, &d.after_start);
	d.after_start.data = &d;
	uv_timer_start(&d.after_start, on_after_start, 100, 0);
	uv_timer_init(&loop, &d.idle);
	d.idle.data = &d;
	uv_unref((uv_handle_t *)&d.idle);
	rpc_server_on_call(d.svc.server, on_call, &d);
	/* Every service is registered: plugins' start() hooks may call them. */
	registry_start(d.svc.registry, d.svc.server);

	{
		autofree char *v = log_value(cfg->grpc.address);
		autofree char *field = xasprintf("address=%s", v);
		log_msg(LOG_INFO, field, "serving...");
	}
	notify_systemd("READY=1");
	uv_run(&loop, UV_RUN_DEFAULT);
	status = 0;
	log_info("ucontainerd successfully shut down");

out:
	if (err != NULL) {
		log_msg(LOG_FATAL, NULL, "%s", err->msg);
		error_free(err);
		svc_leases_shutdown(&d.svc);
		svc_tasks_shutdown(&d.svc);
		svc_events_ttrpc_stop(&d.svc);
		gc_shutdown(d.svc.gc);
		svc_defer_close(&d.svc);
		if (d.svc.server != NULL) {
			/* Close what was started (and remove the socket we bound). */
			rpc_server_close(d.svc.server, NULL, NULL);
			uv_run(&loop, UV_RUN_DEFAULT);
		}
	}
	if (d.svc.registry != NULL)
		registry_unserve(d.svc.registry);   /* no plugin calls a freed server */
	rpc_server_free(d.svc.server);
	gc_free(d.svc.gc);
	registry_free(d.svc.registry);
	md_close(d.svc.db);
	events_free(d.svc.events);
	uv_run(&loop, UV_RUN_DEFAULT);   /* close callbacks of anything left */
	if (uv_loop_close(&loop) != 0)
		log_warn("event loop closed with handles still open");
	return status;
}
