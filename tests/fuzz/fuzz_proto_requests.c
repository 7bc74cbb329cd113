/* Every service's request decoding and validation: the input is one
 * request message for one method, sent over a well-formed gRPC call to the
 * real server, where the real handler decodes it (protobuf-c), validates
 * it and runs it against the metadata store (fuzz_daemon.h), with the real
 * content store and snapshotters loaded for Content and Snapshots.
 *
 * Input: as fuzz_requests.h says, over the methods of every service but
 * Tasks and Diff (fuzz_task_requests.c) and those below.
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
 * committed snapshot (fuzz_request_seed). */
#include <string.h>

#include "fuzz.h"
#include "fuzz_daemon.h"
#include "fuzz_requests.h"
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

static bool is_excluded(const char *path)
{
	for (size_t i = 0; i < ARRAY_LEN(excluded); i++)
		if (strcmp(path, excluded[i]) == 0)
			return true;
	return false;
}

static bool served(const char *path)
{
	return !is_excluded(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	struct fuzz_daemon *d = fuzz_daemon_start(FUZZ_DAEMON_STORAGE);
	n_methods = fuzz_request_methods(d, served, methods, ARRAY_LEN(methods));
	FUZZ_CHECK(n_methods >= 30, "only %zu methods registered", n_methods);
	fuzz_request_seed(d);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_daemon *d = fuzz_daemon_start(FUZZ_DAEMON_STORAGE);
	if (size < 2)
		return 0;
	fuzz_request_call(d, methods[data[0] % n_methods]->path, data[1], data + 2, size - 2);
	fuzz_daemon_reset(d);
	return 0;
}
