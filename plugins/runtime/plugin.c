/* io.containerd.runtime.v2.task: runtime v2 task manager (shims).
 *
 * Registration glue only. The implementation arrives in a later release;
 * until then init skips with an honest reason, so `ctr plugins ls` shows
 * the plugin as "skip" and nothing relies on what is not there.
 * It declares no config fields (it honors none yet) and claims no
 * capability, export or platform.
 */
#include <ucontainerd/ucontainerd.h>

/* As containerd 1.6's runtime/v2 task manager: the event exchange and metadata. */
static const char *const rt_requires[] = {"io.containerd.event.v1", "io.containerd.metadata.v1", NULL};

static int rt_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                    struct ucd_error **err)
{
	host->error_new(err, UCD_UNIMPLEMENTED, 0, "runtime v2 task manager (shims): not implemented in this release yet");
	return UCD_PLUGIN_SKIP;
}

static const struct ucd_plugin_desc rt_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.runtime.v2",
	.id = "task",
	.requires_types = rt_requires,
	.init = rt_init,
};
UCD_PLUGIN_DEFINE(rt_desc)
