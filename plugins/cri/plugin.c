/* io.containerd.grpc.v1.cri: CRI runtime and image services.
 *
 * Registration glue only. The implementation arrives in a later release;
 * until then init skips with an honest reason, so `ctr plugins ls` shows
 * the plugin as "skip" and nothing depends on a service that is not there.
 * It declares no config fields (it honors none yet) and claims no
 * capability, export or platform.
 */
#include <ucontainerd/ucontainerd.h>

/* As containerd 1.6's CRI plugin: the event exchange and the internal services. */
static const char *const cri_requires[] = {"io.containerd.event.v1", "io.containerd.service.v1", NULL};

static int cri_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                    struct ucd_error **err)
{
	host->error_new(err, UCD_UNIMPLEMENTED, 0, "CRI runtime and image services: not implemented in this release yet");
	return UCD_PLUGIN_SKIP;
}

static const struct ucd_plugin_desc cri_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.grpc.v1",
	.id = "cri",
	.requires_types = cri_requires,
	.init = cri_init,
};
UCD_PLUGIN_DEFINE(cri_desc)
