/* A task's runtime options: the request's task options, else the
 * container's runtime options (as containerd's shim task does), with the
 * plugin's configured defaults filled in where a runc-style runtime's
 * options leave binary_name, root or systemd_cgroup unset. Other runtimes'
 * options pass through untouched. */
#include <stdlib.h>
#include <string.h>

#include "containerd/runtime/v2/runc/options/oci.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "runtime.h"

#define RUNC_OPTIONS_URL "containerd.runc.v1.Options"

static uint8_t *copy(const uint8_t *p, size_t n, size_t *out_len)
{
	uint8_t *o = malloc(n ? n : 1);
	memcpy(o, p, n);
	*out_len = n;
	return o;
}

static bool url_is(const char *url, const char *name)
{
	const char *slash = strrchr(url, '/');
	return strcmp(slash ? slash + 1 : url, name) == 0;
}

uint8_t *options_merge(struct runtime *rt, const char *runtime, const uint8_t *task_opts, size_t task_len,
		       const uint8_t *rt_opts, size_t rt_len, size_t *out_len)
{
	const uint8_t *in = task_len > 0 ? task_opts : rt_opts;
	size_t in_len = task_len > 0 ? task_len : rt_len;
	const struct rt_config *cfg = &rt->cfg;
	bool defaults = cfg->binary_name[0] || cfg->root[0] || cfg->systemd_cgroup;

	*out_len = 0;
	if (strcmp(runtime, "io.containerd.runc.v2") != 0 || !defaults)
		return in_len > 0 ? copy(in, in_len, out_len) : NULL;

	Google__Protobuf__Any *any = in_len > 0 ? google__protobuf__any__unpack(NULL, in_len, in) : NULL;
	if (in_len > 0 && (any == NULL || !url_is(any->type_url, RUNC_OPTIONS_URL))) {
		if (any != NULL)
			google__protobuf__any__free_unpacked(any, NULL);
		return copy(in, in_len, out_len);   /* not ours to change; the shim judges it */
	}
	Containerd__Runc__V1__Options *o = NULL, blank = CONTAINERD__RUNC__V1__OPTIONS__INIT;
	if (any != NULL)
		o = containerd__runc__v1__options__unpack(NULL, any->value.len, any->value.data);
	Containerd__Runc__V1__Options *use = o ? o : &blank;
	char *bn = use->binary_name, *root = use->root;
	if ((bn == NULL || bn[0] == '\0') && cfg->binary_name[0])
		use->binary_name = (char *)cfg->binary_name;
	if ((root == NULL || root[0] == '\0') && cfg->root[0])
		use->root = (char *)cfg->root;
	if (cfg->systemd_cgroup)
		use->systemd_cgroup = true;

	Google__Protobuf__Any out = GOOGLE__PROTOBUF__ANY__INIT;
	out.type_url = RUNC_OPTIONS_URL;
	out.value.len = containerd__runc__v1__options__get_packed_size(use);
	out.value.data = malloc(out.value.len ? out.value.len : 1);
	containerd__runc__v1__options__pack(use, out.value.data);
	use->binary_name = bn;
	use->root = root;
	*out_len = google__protobuf__any__get_packed_size(&out);
	uint8_t *buf = malloc(*out_len ? *out_len : 1);
	google__protobuf__any__pack(&out, buf);
	free(out.value.data);
	if (o != NULL)
		containerd__runc__v1__options__free_unpacked(o, NULL);
	if (any != NULL)
		google__protobuf__any__free_unpacked(any, NULL);
	return buf;
}
