/* Every service's request decoding and validation: the input is one
 * request message for one method, sent over a well-formed gRPC call to the
 * real server, where the real handler decodes it (protobuf-c), validates
 * it and runs it against the metadata store (fuzz_daemon.h), with the real
 * content store and snapshotters loaded for Content and Snapshots.
 *
 * Input: byte 0 picks the method (its index, modulo their number, in the
 * list `FUZZ_LIST_METHODS=1 fuzz_proto_requests` prints); byte 1 the
 * headers: bits 0-1 the namespace (none, "default", "fuzz", "k8s.io"),
 * bit 2 a `containerd-lease`, bit 3 a `grpc-timeout` of 1 ms; the rest is
 * the message.
 *
 * Methods that write into the plugins' directories (Content Write, Delete,
 * Abort; Snapshots Prepare, View, Commit, Remove, Update, Cleanup) are not
 * in the list: the metadata is rolled back after each input but files
 * would stay, and the next input would see them. They are fuzzed through
 * their decoding and the common paths of the other methods; their own
 * validation is covered by the integration tests.
 *
 * Each input starts from the same seeded database: namespaces `default`,
 * `fuzz` and `k8s.io`, a container, an image, a lease, a blob and a
 * committed snapshot (made through the same server at start-up). */
#include <string.h>

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "fuzz.h"
#include "fuzz_daemon.h"
#include "fuzz_h2.h"
#include "metadata/db.h"
#include "rpc/internal.h"
#include "util/mem.h"

static const char *const excluded[] = {
	"/containerd.services.content.v1.Content/Write",
	"/containerd.services.content.v1.Content/Delete",
	"/containerd.services.content.v1.Content/Abort",
	"/containerd.services.snapshots.v1.Snapshots/Prepare",
	"/containerd.services.snapshots.v1.Snapshots/View",
	"/containerd.services.snapshots.v1.Snapshots/Commit",
	"/containerd.services.snapshots.v1.Snapshots/Remove",
	"/containerd.services.snapshots.v1.Snapshots/Update",
	"/containerd.services.snapshots.v1.Snapshots/Cleanup",
};

static const struct rpc_method *methods[128];
static size_t n_methods;

/* The message bytes (at most 60000, the window a fresh HTTP/2 connection
 * may send before it hears the server's settings) on one call. */
static void call(struct fuzz_daemon *d, const char *path, uint8_t flags, const uint8_t *msg, size_t len)
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

static void call_msg(struct fuzz_daemon *d, const char *path, uint8_t flags, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	protobuf_c_message_pack(m, buf);
	call(d, path, flags, buf, len);
	free(buf);
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
	desc.digest = "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c";
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
		call_msg(d, "/containerd.services.containers.v1.Containers/Create", ns, &cc.base);
		call_msg(d, "/containerd.services.images.v1.Images/Create", ns, &ci.base);
		call_msg(d, "/containerd.services.leases.v1.Leases/Create", ns, &cl2.base);
		call_msg(d, "/containerd.services.content.v1.Content/Write", ns, &w.base);
		call_msg(d, "/containerd.services.snapshots.v1.Snapshots/Prepare", ns, &ps.base);
		call_msg(d, "/containerd.services.snapshots.v1.Snapshots/Commit", ns, &cs.base);
	}
}

static bool is_excluded(const char *path)
{
	for (size_t i = 0; i < ARRAY_LEN(excluded); i++)
		if (strcmp(path, excluded[i]) == 0)
			return true;
	return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct fuzz_daemon *d = fuzz_daemon_start(true);
	const struct rpc_server *s = d->svc.server;
	for (size_t i = 0; i < s->n_methods && n_methods < ARRAY_LEN(methods); i++)
		if (!is_excluded(s->methods[i]->path))
			methods[n_methods++] = s->methods[i];   /* sorted by path */
	FUZZ_CHECK(n_methods >= 30, "only %zu methods registered", n_methods);
	if (getenv("FUZZ_LIST_METHODS") != NULL)
		for (size_t i = 0; i < n_methods; i++)
			printf("%zu %s %s\n", i, methods[i]->path, methods[i]->input->name);
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
	FUZZ_CHECK(md_content_get(d->svc.db, "fuzz",
				  "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c", (void *)&got,
				  &err) == 0,
		   "seed blob: %s", err ? err->msg : "");
	md_free(got);
	FUZZ_CHECK(md_snapshot_stat(d->svc.db, "native", "fuzz", "seed-committed", (void *)&got, &err) == 0,
		   "seed snapshot: %s", err ? err->msg : "");
	md_free(got);
	FUZZ_CHECK(md_tx_depth(d->svc.db) == 0, "seeding left a transaction open");
	FUZZ_CHECK(md_begin(d->svc.db, &e) == 0, "begin");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_daemon *d = fuzz_daemon_start(true);
	if (size < 2)
		return 0;
	call(d, methods[data[0] % n_methods]->path, data[1], data + 2, size - 2);
	fuzz_daemon_reset(d);
	return 0;
}
