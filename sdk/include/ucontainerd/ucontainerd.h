/* ucontainerd plugin SDK: everything a plugin includes.
 *
 *   error.h   struct ucd_error and the codes (= gRPC status codes)
 *   config.h  declarative config fields (struct ucd_config_field)
 *   plugin.h  the descriptor, init context, UCD_PLUGIN_DEFINE, life cycle
 *   host.h    struct ucd_host: what a plugin may call on the daemon
 *   call.h    in-process calls to the daemon's services (ABI 1.3)
 *   service.h gRPC services a plugin serves (ABI 1.3)
 *   types.h   labels and mounts, and who frees what (ABI 1.1)
 *   content.h      the content store vtable (ABI 1.1)
 *   snapshotter.h  the snapshotter vtable (ABI 1.1)
 *
 * Compile with `pkg-config --cflags ucontainerd-plugin`; install the .so,
 * named by its URI, into `pkg-config --variable=plugindir ucontainerd-plugin`.
 */
#ifndef UCONTAINERD_H
#define UCONTAINERD_H

#include <ucontainerd/error.h>
#include <ucontainerd/config.h>
#include <ucontainerd/plugin.h>
#include <ucontainerd/host.h>
#include <ucontainerd/call.h>
#include <ucontainerd/service.h>
#include <ucontainerd/types.h>
#include <ucontainerd/content.h>
#include <ucontainerd/snapshotter.h>

#endif
