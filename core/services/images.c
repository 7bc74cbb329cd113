/* containerd.services.images.v1.Images over the metadata store
 * (containerd's services/images/local.go). Namespaced. */
#include <string.h>

#include "containerd/events/image.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "events/events.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/svc_util.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pbfield.h"

typedef Containerd__Services__Images__V1__Image Image;

static struct svc_ctx *ctx_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

/* containerd's adaptImage: name, target.digest, target.mediatype,
 * labels.<key>, annotations.<key> */
static bool image_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const Image *img = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "name") == 0) {
		*value = img->name;
		return img->name[0] != '\0';
	}
	if (strcmp(path[0], "target") == 0) {
		if (n < 2 || img->target == NULL)
			return false;
		if (strcmp(path[1], "digest") == 0) {
			*value = img->target->digest;
			return img->target->digest[0] != '\0';
		}
		if (strcmp(path[1], "mediatype") == 0) {
			*value = img->target->media_type;
			return img->target->media_type[0] != '\0';
		}
		return false;
	}
	if (strcmp(path[0], "labels") == 0)
		return pbfield_get(&img->base, path, n, value);
	if (strcmp(path[0], "annotations") == 0)   /* the target's annotations, as in containerd */
		return img->target != NULL && pbfield_get(&img->target->base, path, n, value);
	return false;
}

/* ImageCreate / ImageUpdate: name and labels. */
static void publish(struct svc_ctx *ctx, const char *ns, const char *topic, const Image *img)
{
	if (strcmp(topic, "/images/create") == 0) {
		Containerd__Services__Images__V1__ImageCreate ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_CREATE__INIT;
		ev.name = img->name;
		ev.n_labels = img->n_labels;
		ev.labels = (Containerd__Services__Images__V1__ImageCreate__LabelsEntry **)svc_map_borrow(
			(void *const *)img->labels, img->n_labels,
			&containerd__services__images__v1__image_create__labels_entry__descriptor);
		events_publish(ctx->events, ns, topic, &ev.base);
		svc_map_borrow_free((void **)ev.labels, ev.n_labels);
	} else {
		Containerd__Services__Images__V1__ImageUpdate ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_UPDATE__INIT;
		ev.name = img->name;
		ev.n_labels = img->n_labels;
		ev.labels = (Containerd__Services__Images__V1__ImageUpdate__LabelsEntry **)svc_map_borrow(
			(void *const *)img->labels, img->n_labels,
			&containerd__services__images__v1__image_update__labels_entry__descriptor);
		events_publish(ctx->events, ns, topic, &ev.base);
		svc_map_borrow_free((void **)ev.labels, ev.n_labels);
	}
}

static void i_get(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Images__V1__GetImageRequest *req = (const void *)msg;
	struct md_db *db = ctx_of(call)->db;
	struct ucd_error *e = NULL;
	Image *img = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_image_get(db, rpc_call_namespace(call), req->name, &img, &e) < 0) {
		svc_tx_fail(call, db, e);
		return;
	}
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Images__V1__GetImageResponse resp =
			CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_RESPONSE__INIT;
		resp.image = img;
		rpc_call_reply(call, &resp.base);
	}
	md_free(img);
}

static void reply_list(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Images__V1__ListImagesResponse resp = CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_RESPONSE__INIT;
	resp.images = (Image **)items;
	resp.n_images = n;
	rpc_call_reply(call, &resp.base);
}

static int read_all(struct md_db *db, const char *ns, ProtobufCMessage ***out, size_t *n, struct ucd_error **err)
{
	return md_image_list(db, ns, NULL, NULL, (Image ***)out, n, err);
}

static void i_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Images__V1__ListImagesRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	svc_list(call, ctx->loop, ctx->db, req->filters, req->n_filters, image_field, read_all, reply_list);
}

static void i_create(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Images__V1__CreateImageRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	if (req->image == NULL || req->image->name[0] == '\0') {
		rpc_call_finish(call, UCD_INVALID_ARGUMENT, "Image.Name required");
		return;
	}
	log_debug("create image name=%s target=%s", req->image->name,
		  req->image->target ? req->image->target->digest : "");
	struct ucd_error *e = NULL;
	Image *img = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_image_create(ctx->db, ns, req->image, &img, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db)) {
		md_free(img);
		return;
	}
	publish(ctx, ns, "/images/create", img);
	Containerd__Services__Images__V1__CreateImageResponse resp =
		CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_RESPONSE__INIT;
	resp.image = img;
	rpc_call_reply(call, &resp.base);
	md_free(img);
}

static void i_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Images__V1__UpdateImageRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	if (req->image == NULL || req->image->name[0] == '\0') {
		rpc_call_finish(call, UCD_INVALID_ARGUMENT, "Image.Name required");
		return;
	}
	const char *const *paths = req->update_mask ? (const char *const *)req->update_mask->paths : NULL;
	size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
	struct ucd_error *e = NULL;
	Image *img = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_image_update(ctx->db, ns, req->image, paths, n_paths, &img, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db)) {
		md_free(img);
		return;
	}
	publish(ctx, ns, "/images/update", img);
	Containerd__Services__Images__V1__UpdateImageResponse resp =
		CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_RESPONSE__INIT;
	resp.image = img;
	rpc_call_reply(call, &resp.base);
	md_free(img);
}

static void i_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Images__V1__DeleteImageRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	const char *ns = rpc_call_namespace(call);
	log_debug("delete image name=%s", req->name);
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, ctx->db))
		return;
	if (md_image_delete(ctx->db, ns, req->name, &e) < 0) {
		svc_tx_fail(call, ctx->db, e);
		return;
	}
	if (!svc_tx_commit(call, ctx->db))
		return;
	Containerd__Services__Images__V1__ImageDelete ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_DELETE__INIT;
	ev.name = req->name;
	events_publish(ctx->events, ns, "/images/delete", &ev.base);
	svc_reply_empty_after_gc(call, ctx->gc, req->sync);
}

#define I_SVC "/containerd.services.images.v1.Images/"
static struct rpc_method methods[] = {
	{ .path = I_SVC "Get", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__images__v1__get_image_request__descriptor, .on_message = i_get },
	{ .path = I_SVC "List", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__images__v1__list_images_request__descriptor, .on_message = i_list },
	{ .path = I_SVC "Create", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__images__v1__create_image_request__descriptor, .on_message = i_create },
	{ .path = I_SVC "Update", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__images__v1__update_image_request__descriptor, .on_message = i_update },
	{ .path = I_SVC "Delete", .kind = RPC_UNARY, .namespaced = true,
	  .input = &containerd__services__images__v1__delete_image_request__descriptor, .on_message = i_delete },
};

void svc_images_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
