/* io.containerd.grpc.v1.cri: the CRI's RuntimeService and ImageService on
 * the daemon's socket (plugin ABI 1.3: the plugin's own services, the
 * daemon's loop, in-process calls). This is the skeleton the CRI issues
 * fill: Version and Status answer (status.c); every other method answers
 * UNIMPLEMENTED as grpc-go's generated server does for a method it lacks,
 * after decoding its request as that server would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "containerd/services/version/v1/version.pb-c.h"
#include "cri.h"

const struct ucd_host *cri_host;

/* A method not implemented yet: decode, then UNIMPLEMENTED. */
#define CRI_LATER(name, req)                                                                                        \
	static void later_##name(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len)         \
	{                                                                                                           \
		(void)self;                                                                                         \
		ProtobufCMessage *m = cri_decode(call, &runtime__v1__##req##__descriptor, data, len);               \
		if (m == NULL)                                                                                      \
			return;                                                                                     \
		protobuf_c_message_free_unpacked(m, NULL);                                                          \
		cri_unimplemented(call, #name);                                                                     \
	}

CRI_LATER(RunPodSandbox, run_pod_sandbox_request)
CRI_LATER(StopPodSandbox, stop_pod_sandbox_request)
CRI_LATER(RemovePodSandbox, remove_pod_sandbox_request)
CRI_LATER(PodSandboxStatus, pod_sandbox_status_request)
CRI_LATER(ListPodSandbox, list_pod_sandbox_request)
CRI_LATER(CreateContainer, create_container_request)
CRI_LATER(StartContainer, start_container_request)
CRI_LATER(StopContainer, stop_container_request)
CRI_LATER(RemoveContainer, remove_container_request)
CRI_LATER(ListContainers, list_containers_request)
CRI_LATER(ContainerStatus, container_status_request)
CRI_LATER(UpdateContainerResources, update_container_resources_request)
CRI_LATER(ReopenContainerLog, reopen_container_log_request)
CRI_LATER(ExecSync, exec_sync_request)
CRI_LATER(Exec, exec_request)
CRI_LATER(Attach, attach_request)
CRI_LATER(PortForward, port_forward_request)
CRI_LATER(ContainerStats, container_stats_request)
CRI_LATER(ListContainerStats, list_container_stats_request)
CRI_LATER(PodSandboxStats, pod_sandbox_stats_request)
CRI_LATER(ListPodSandboxStats, list_pod_sandbox_stats_request)
CRI_LATER(UpdateRuntimeConfig, update_runtime_config_request)
CRI_LATER(CheckpointContainer, checkpoint_container_request)
CRI_LATER(GetContainerEvents, get_events_request)
CRI_LATER(ListMetricDescriptors, list_metric_descriptors_request)
CRI_LATER(ListPodSandboxMetrics, list_pod_sandbox_metrics_request)
CRI_LATER(RuntimeConfig, runtime_config_request)
CRI_LATER(ListImages, list_images_request)
CRI_LATER(ImageStatus, image_status_request)
CRI_LATER(PullImage, pull_image_request)
CRI_LATER(RemoveImage, remove_image_request)
CRI_LATER(ImageFsInfo, image_fs_info_request)

#define M(method, fn) {.name = #method, .kind = UCD_METHOD_UNARY, .on_message = fn}
#define LATER(method) M(method, later_##method)

static const struct ucd_method runtime_methods[] = {
	M(Version, cri_version),
	LATER(RunPodSandbox),
	LATER(StopPodSandbox),
	LATER(RemovePodSandbox),
	LATER(PodSandboxStatus),
	LATER(ListPodSandbox),
	LATER(CreateContainer),
	LATER(StartContainer),
	LATER(StopContainer),
	LATER(RemoveContainer),
	LATER(ListContainers),
	LATER(ContainerStatus),
	LATER(UpdateContainerResources),
	LATER(ReopenContainerLog),
	LATER(ExecSync),
	LATER(Exec),
	LATER(Attach),
	LATER(PortForward),
	LATER(ContainerStats),
	LATER(ListContainerStats),
	LATER(PodSandboxStats),
	LATER(ListPodSandboxStats),
	LATER(UpdateRuntimeConfig),
	M(Status, cri_status),
	LATER(CheckpointContainer),
	{.name = "GetContainerEvents", .kind = UCD_METHOD_SERVER_STREAMING, .on_message = later_GetContainerEvents},
	LATER(ListMetricDescriptors),
	LATER(ListPodSandboxMetrics),
	LATER(RuntimeConfig),
};

static const struct ucd_method image_methods[] = {
	LATER(ListImages),
	LATER(ImageStatus),
	LATER(PullImage),
	LATER(RemoveImage),
	LATER(ImageFsInfo),
};

static const struct ucd_service runtime_service = {"runtime.v1.RuntimeService", runtime_methods,
                                                   sizeof runtime_methods / sizeof runtime_methods[0]};
static const struct ucd_service image_service = {"runtime.v1.ImageService", image_methods,
                                                 sizeof image_methods / sizeof image_methods[0]};

/* The daemon's version, for Version's runtime_version: asked of its own
 * Version service in-process once it serves. */
static void version_message(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	Containerd__Services__Version__V1__VersionResponse *v =
		containerd__services__version__v1__version_response__unpack(NULL, len, data);
	if (v == NULL)
		return;
	snprintf(cri_runtime_version, sizeof cri_runtime_version, "%s", v->version);
	containerd__services__version__v1__version_response__free_unpacked(v, NULL);
}

static void version_finish(void *arg, int code, const char *message)
{
	struct cri *c = arg;
	if (code != UCD_OK)
		cri_host->log(c->ic, UCD_LOG_WARN, "cannot learn the daemon's version: %s", message);
}

static const struct ucd_call_ops version_ops = {version_message, version_finish};

static int cri_start(void *self, struct ucd_error **err)
{
	struct cri *c = self;
	struct ucd_call *call = cri_host->call_start(c->ic, "/containerd.services.version.v1.Version/Version", NULL, 0,
	                                             10000, &version_ops, c, err);
	if (call == NULL)
		return -(*err)->code;
	cri_host->call_send(call, NULL, 0, NULL);   /* google.protobuf.Empty */
	cri_host->call_close_send(call, NULL);
	return 0;
}

static int cri_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                    struct ucd_error **err)
{
	cri_host = host;
	if (!UCD_HOST_HAS(host, server_call_data))
		return host->error_new(err, UCD_FAILED_PRECONDITION, 0, "the CRI plugin needs plugin ABI 1.3");
	struct cri *c = calloc(1, sizeof *c);
	if (c == NULL)
		return host->error_new(err, UCD_RESOURCE_EXHAUSTED, 0, "out of memory");
	c->ic = ic;
	int r;
	if ((r = host->service_register(ic, &runtime_service, c, err)) < 0 ||
	    (r = host->service_register(ic, &image_service, c, err)) < 0) {
		free(c);
		return r;
	}
	out->self = c;
	return 0;
}

static void cri_close(void *self)
{
	free(self);
}

/* Initialized after the event exchange, the metadata store and the
 * runtime, whose services it will call. */
static const char *const cri_requires[] = {"io.containerd.event.v1", "io.containerd.metadata.v1",
                                           "io.containerd.runtime.v2", NULL};

static const struct ucd_plugin_desc cri_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.grpc.v1",
	.id = "cri",
	.requires_types = cri_requires,
	.init = cri_init,
	.close = cri_close,
	.libuv_major = UV_VERSION_MAJOR,
	.start = cri_start,
};
UCD_PLUGIN_DEFINE(cri_desc)
