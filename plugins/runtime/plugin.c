/* io.containerd.runtime.v2.task: the runtime v2 task manager. It starts one
 * shim per task (ours, ucontainerd-shim, by default for
 * io.containerd.runc.v2; any containerd-shim-<name>-<version> for other
 * runtime names), talks to it over ttrpc and reconnects to the shims that
 * outlived a daemon restart. The core's Tasks service drives it through
 * runtime_ops.h. */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#if defined(__x86_64__)
#define UCD_RUNTIME_ARCH "amd64"
#elif defined(__aarch64__)
#define UCD_RUNTIME_ARCH "arm64"
#else
#define UCD_RUNTIME_ARCH "unknown"
#endif

static const char *const rt_requires[] = {"io.containerd.event.v1", "io.containerd.metadata.v1", NULL};

static const struct ucd_config_field rt_fields[] = {
	UCD_FIELD_STRING(struct rt_config, runc_shim, "runc_shim", "\"ucontainerd-shim\"",
			 "the shim binary for runtime io.containerd.runc.v2: ucontainerd's own by default; "
			 "\"containerd-shim-runc-v2\" uses containerd's; a name is looked up next to the "
			 "daemon binary, then in PATH"),
	UCD_FIELD_STRING(struct rt_config, binary_name, "binary_name", "\"\"",
			 "the OCI runtime for io.containerd.runc.v2 tasks whose options name none (empty: runc)"),
	UCD_FIELD_STRING(struct rt_config, root, "root", "\"\"",
			 "the OCI runtime's state root for tasks whose options name none (empty: the shim's default)"),
	UCD_FIELD_BOOL(struct rt_config, systemd_cgroup, "systemd_cgroup", "false",
		       "use the systemd cgroup driver for tasks whose options do not say"),
	UCD_FIELD_END,
};

static char *dir_of_self(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return strdup("");
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	if (slash != NULL)
		*slash = 0;
	return strdup(buf);
}

static int rt_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		   struct ucd_error **err)
{
	struct runtime *rt = calloc(1, sizeof *rt);
	if (rt == NULL)
		return host->error_new(err, UCD_RESOURCE_EXHAUSTED, 0, "runtime: out of memory");
	rt->host = host;
	rt->ic = ic;
	/* As containerd's task manager: its two directories, 0711 (bundles
	 * live under state; root is kept for parity), checked with the way to
	 * them as the daemon checks its own (host->dir_ensure), and the platform it runs. */
	if (host->dir_ensure(host, ic->root, 0711, NULL, err) < 0 ||
	    host->dir_ensure(host, ic->state, 0711, NULL, err) < 0) {
		free(rt);
		return -1;
	}
	host->platform_add(ic, "linux", UCD_RUNTIME_ARCH, "", NULL);
	rt->cfg = *(const struct rt_config *)ic->config;
	rt->state = strdup(ic->state);
	rt->exe_dir = dir_of_self();
	out->self = rt;
	out->ops = &rt_ops;
	return 0;
}

static void rt_close(void *self)
{
	struct runtime *rt = self;
	if (rt == NULL)
		return;
	if (!rt->detached)
		rt_ops.detach(rt);
	free(rt->state);
	free(rt->exe_dir);
	free(rt);
}

static const struct ucd_plugin_desc rt_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.runtime.v2",
	.id = "task",
	.requires_types = rt_requires,
	.config = rt_fields,
	.config_size = sizeof(struct rt_config),
	.init = rt_init,
	.close = rt_close,
};
UCD_PLUGIN_DEFINE(rt_desc)
