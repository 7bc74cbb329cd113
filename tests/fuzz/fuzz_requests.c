#include "fuzz_requests.h"

#include <string.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "fuzz.h"
#include "fuzz_h2.h"
#include "metadata/db.h"
#include "rpc/internal.h"
#include "util/mem.h"

/* The message bytes (at most 60000, the window a fresh HTTP/2 connection
 * may send before it hears the server's settings) on one call. */
void fuzz_request_call(struct fuzz_daemon *d, const char *path, uint8_t flags, const uint8_t *msg, size_t len)
{
	static const char *const namespaces[] = {NULL, "default", "fuzz", "k8s.io"};
	struct fuzz_h2_header hdr[3];
	size_t n = 0;
	if (namespaces[flags & 3] != NULL)
		hdr[n++] = (struct fuzz_h2_header){"containerd-namespace", namespaces[flags & 3]};
	if (flags & 4)
		hdr[n++] = (struct fuzz_h2_header){"containerd-lease", "seed-lease"};
	if (flags & 8)
		hdr[n++] = (struct fuzz_h2_header){"grpc-timeout", "1m"};
	struct fuzz_h2 *h = fuzz_h2_new();
	fuzz_h2_request(h, path, hdr, n, msg, len > 60000 ? 60000 : len);
	size_t blen;
	const uint8_t *bytes = fuzz_h2_bytes(h, &blen);
	fuzz_daemon_exchange(d, d->grpc_path, bytes, blen);
	fuzz_h2_free(h);
}

void fuzz_request_call_msg(struct fuzz_daemon *d, const char *path, uint8_t flags, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	protobuf_c_message_pack(m, buf);
	fuzz_request_call(d, path, flags, buf, len);
	free(buf);
}

size_t fuzz_request_methods(struct fuzz_daemon *d, bool (*keep)(const char *path), const struct rpc_method **out,
			    size_t max)
{
	const struct rpc_server *s = d->svc.server;
	size_t n = 0;
	for (size_t i = 0; i < s->n_methods && n < max; i++)
		if (keep(s->methods[i]->path))
			out[n++] = s->methods[i];   /* sorted by path */
	if (getenv("FUZZ_LIST_METHODS") != NULL)
		for (size_t i = 0; i < n; i++)
			printf("%zu %s %s\n", i, out[i]->path, out[i]->input->name);
	return n;
}

typedef Containerd__Services__Containers__V1__Container Container;
typedef Containerd__Services__Images__V1__Image Image;

/* What every input finds in the store, made through the server itself. */
static void seed(struct fuzz_daemon *d)
{
	Containerd__Services__Containers__V1__Container__LabelsEntry cl =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	cl.key = "app";
	cl.value = "web";
	Containerd__Services__Containers__V1__Container__LabelsEntry *cls[] = {&cl};
	Containerd__Services__Containers__V1__Container__Runtime rt =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
	rt.name = "io.containerd.runc.v2";
	Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
	spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
	spec.value.data = (uint8_t *)"{\"ociVersion\":\"1.0.2\"}";
	spec.value.len = strlen((char *)spec.value.data);
	Container c = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	c.id = "seed-container";
	c.runtime = &rt;
	c.spec = &spec;
	c.image = "docker.io/library/busybox:latest";
	c.snapshotter = "native";
	c.snapshot_key = "seed-container";
	c.n_labels = 1;
	c.labels = cls;
	Containerd__Services__Containers__V1__CreateContainerRequest cc =
		CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
	cc.container = &c;

	Containerd__Types__Descriptor desc = CONTAINERD__TYPES__DESCRIPTOR__INIT;
	desc.media_type = "application/vnd.oci.image.manifest.v1+json";
	desc.digest = FUZZ_SEED_BLOB;
	desc.size = 4;
	Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
	img.name = "docker.io/library/busybox:latest";
	img.target = &desc;
	Containerd__Services__Images__V1__CreateImageRequest ci =
		CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
	ci.image = &img;

	Containerd__Services__Leases__V1__CreateRequest cl2 = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
	cl2.id = "seed-lease";

	/* the blob the image names ("foo\n") */
	Containerd__Services__Content__V1__WriteContentRequest w =
		CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
	w.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
	w.ref = "seed-ref";
	w.total = 4;
	w.expected = desc.digest;
	w.data.data = (uint8_t *)"foo\n";
	w.data.len = 4;

	Containerd__Services__Snapshots__V1__PrepareSnapshotRequest ps =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	ps.snapshotter = "native";
	ps.key = "seed-active";
	Containerd__Services__Snapshots__V1__CommitSnapshotRequest cs =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
	cs.snapshotter = "native";
	cs.name = "seed-committed";
	cs.key = "seed-active";

	for (uint8_t ns = 1; ns <= 3; ns++) {
		fuzz_request_call_msg(d, "/containerd.services.containers.v1.Containers/Create", ns, &cc.base);
		fuzz_request_call_msg(d, "/containerd.services.images.v1.Images/Create", ns, &ci.base);
		fuzz_request_call_msg(d, "/containerd.services.leases.v1.Leases/Create", ns, &cl2.base);
		fuzz_request_call_msg(d, "/containerd.services.content.v1.Content/Write", ns, &w.base);
		fuzz_request_call_msg(d, "/containerd.services.snapshots.v1.Snapshots/Prepare", ns, &ps.base);
		fuzz_request_call_msg(d, "/containerd.services.snapshots.v1.Snapshots/Commit", ns, &cs.base);
	}
}

void fuzz_request_seed(struct fuzz_daemon *d)
{
	/* the seed is committed: it is the state every input starts from;
	 * outside the inputs' savepoint (a Prepare refuses to reserve its
	 * snapshot's sequence number inside a transaction) */
	struct ucd_error *e = NULL;
	FUZZ_CHECK(md_commit(d->svc.db, &e) == 0, "commit");
	seed(d);
	struct ucd_error *err = NULL;
	void *got = NULL;
	FUZZ_CHECK(md_container_get(d->svc.db, "fuzz", "seed-container", (void *)&got, &err) == 0, "seed container");
	md_free(got);
	FUZZ_CHECK(md_image_get(d->svc.db, "fuzz", "docker.io/library/busybox:latest", (void *)&got, &err) == 0,
		   "seed image");
	md_free(got);
	FUZZ_CHECK(md_lease_get(d->svc.db, "fuzz", "seed-lease", (void *)&got, &err) == 0, "seed lease");
	md_free(got);
	FUZZ_CHECK(md_content_get(d->svc.db, "fuzz", FUZZ_SEED_BLOB, (void *)&got, &err) == 0,
		   "seed blob: %s", err ? err->msg : "");
	md_free(got);
	FUZZ_CHECK(md_snapshot_stat(d->svc.db, "native", "fuzz", "seed-committed", (void *)&got, &err) == 0,
		   "seed snapshot: %s", err ? err->msg : "");
	md_free(got);
	FUZZ_CHECK(md_tx_depth(d->svc.db) == 0, "seeding left a transaction open");
	FUZZ_CHECK(md_begin(d->svc.db, &e) == 0, "begin");
}
