/* What the request targets (fuzz_proto_requests.c, fuzz_task_requests.c)
 * share: an input is one request message for one method, sent over a
 * well-formed gRPC call to the daemon of fuzz_daemon.h, and every input
 * starts from the same seeded store.
 *
 * Input: byte 0 picks the method (its index, modulo their number, in the
 * target's list, which `FUZZ_LIST_METHODS=1 fuzz_<target>` prints); byte 1
 * the headers: bits 0-1 the namespace (none, "default", "fuzz", "k8s.io"),
 * bit 2 a `containerd-lease`, bit 3 a `grpc-timeout` of 1 ms; the rest is
 * the message. */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_daemon.h"

struct rpc_method;

/* The message bytes (at most 60000) on one call to `path`, with the
 * headers `flags` names (above). */
void fuzz_request_call(struct fuzz_daemon *d, const char *path, uint8_t flags, const uint8_t *msg, size_t len);
void fuzz_request_call_msg(struct fuzz_daemon *d, const char *path, uint8_t flags, const ProtobufCMessage *m);

/* The methods the server serves whose path `keep` accepts, sorted by path,
 * into out[max]; returns their number. Printed with their input types when
 * FUZZ_LIST_METHODS is set. */
size_t fuzz_request_methods(struct fuzz_daemon *d, bool (*keep)(const char *path), const struct rpc_method **out,
			    size_t max);

/* Seeds the store through the server itself, in namespaces `default`,
 * `fuzz` and `k8s.io`: a container `seed-container` (runtime
 * io.containerd.runc.v2, snapshotter native), an image
 * docker.io/library/busybox:latest whose target is the blob "foo\n"
 * (FUZZ_SEED_BLOB), that blob, a lease `seed-lease` and a committed native
 * snapshot `seed-committed`; checks them, commits, and opens the savepoint
 * the inputs run in (fuzz_daemon_reset). Needs FUZZ_DAEMON_STORAGE. */
void fuzz_request_seed(struct fuzz_daemon *d);
#define FUZZ_SEED_BLOB "sha256:b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
