/* io.containerd.content.v1.content: local content store.
 *
 * Registration glue only. The implementation arrives in a later release;
 * until then init skips with an honest reason, so `ctr plugins ls` shows
 * the plugin as "skip" and nothing relies on what is not there.
 * It declares no config fields (it honors none yet) and claims no
 * capability, export or platform.
 */
#include <ucontainerd/ucontainerd.h>

/* As containerd 1.6's content plugin: no requirements. */
static const char *const cs_requires[] = {NULL};

static int cs_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                    struct ucd_error **err)
{
	host->error_new(err, UCD_UNIMPLEMENTED, 0, "local content store: not implemented in this release yet");
	return UCD_PLUGIN_SKIP;
}

static const struct ucd_plugin_desc cs_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.content.v1",
	.id = "content",
	.requires_types = cs_requires,
	.init = cs_init,
};
UCD_PLUGIN_DEFINE(cs_desc)
