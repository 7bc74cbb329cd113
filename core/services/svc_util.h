/* Helpers shared by the services over the metadata store (namespaces,
 * containers, images, leases): the per-request transaction, filters, map
 * fields and events. Loop thread only. */
#pragma once
#include <uv.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/error.h>

#include "metadata/db.h"
#include "rpc/rpc.h"

#include "filters/filters.h"

/* --- one transaction per request ------------------------------------------ */

/* Opens the request's transaction; on failure fails the call and returns false. */
bool svc_tx_begin(struct rpc_call *call, struct md_db *db);
/* Rolls back and fails the call with `e` (taken). */
void svc_tx_fail(struct rpc_call *call, struct md_db *db, struct ucd_error *e);
/* Commits; on failure fails the call and returns false. */
bool svc_tx_commit(struct rpc_call *call, struct md_db *db);

/* --- filters ---------------------------------------------------------------- */

/* A compiled list of filters (OR-ed) plus the adaptor for the listed type,
 * usable as an md_match_fn argument. */
struct svc_match {
	struct filter *filter;
	filter_get_fn get;
};
/* Parses the request's filters; a syntax error is InvalidArgument with
 * containerd's "<parse error>: invalid argument". n == 0 matches all. */
int svc_match_init(struct svc_match *m, char *const *filters, size_t n, filter_get_fn get, struct ucd_error **err);
void svc_match_fini(struct svc_match *m);
/* md_match_fn over a struct svc_match; NULL when there are no filters. */
bool svc_match_fn(const ProtobufCMessage *obj, void *arg);

/* Answers a List with the items that pass `m`, evaluating the filters on the
 * thread pool: a regular expression over large labels costs what it costs,
 * but never stalls the loop and the other clients. Takes ownership of the
 * match and of the items (protobuf messages and their array). `reply` runs
 * on the loop with the survivors in their original order, only if the call
 * is still live; it must not free them (svc_stream_paced may move them out).
 * Without filters, `reply` runs at once. */
typedef void (*svc_list_reply_fn)(struct rpc_call *call, ProtobufCMessage **items, size_t n);
void svc_filter_then_reply(struct rpc_call *call, uv_loop_t *loop, struct svc_match *m, ProtobufCMessage **items,
			   size_t n, svc_list_reply_fn reply);

/* A server stream of `n` items, `per` to a message, sent as fast as the
 * client takes them: `send` sends one message of items[0..k) (k <= per);
 * between messages the stream waits while the client has not taken what
 * was sent (rpc_call_reserve_send), so a long List to a slow client costs the
 * items, not their encoding too, and never fails the send budget. Ends the
 * call with OK after the last message. Takes the items over from a
 * svc_list_reply_fn's array: the entries are moved out (left NULL), the
 * array stays the caller's. */
typedef void (*svc_batch_fn)(struct rpc_call *call, ProtobufCMessage **items, size_t n);
void svc_stream_paced(struct rpc_call *call, ProtobufCMessage **items, size_t n, size_t per, svc_batch_fn send);

/* Reads every object of the call's namespace (inside the request's transaction). */
typedef int (*svc_read_all_fn)(struct md_db *db, const char *ns, ProtobufCMessage ***out, size_t *n,
			       struct ucd_error **err);
/* The shape of every List: parse the filters (InvalidArgument as
 * containerd), read everything in one transaction, filter on the thread
 * pool (svc_filter_then_reply), answer with `reply`. */
void svc_list(struct rpc_call *call, uv_loop_t *loop, struct md_db *db, char *const *filters, size_t n_filters,
	      filter_get_fn get, svc_read_all_fn read_all, svc_list_reply_fn reply);


/* --- map fields --------------------------------------------------------------- */

/* The entries of a map<string,string> field as borrowed md_kv pairs; free
 * the array only. */
struct md_kv *svc_kv_from_map(void *const *entries, size_t n);
/* Copies a map<string,string> field into entries of another message type
 * (an event's LabelsEntry), borrowing the strings; free with
 * svc_map_borrow_free. */
void **svc_map_borrow(void *const *entries, size_t n, const ProtobufCMessageDescriptor *entry_desc);
void svc_map_borrow_free(void **entries, size_t n);

/* The namespace to publish a non-namespaced service's event in: the request's
 * `containerd-namespace` when it is valid, else `fallback`. */
const char *svc_event_namespace(struct rpc_call *call, const char *fallback);

/* --- garbage collection after deletes -------------------------------------- */

struct gc;

/* Ends a delete that succeeded: with `sync` (containerd's `--sync`), a
 * collection runs and the Empty answer waits for it; otherwise one is
 * scheduled and the answer goes at once. */
void svc_reply_empty_after_gc(struct rpc_call *call, struct gc *gc, bool sync);

/* --- leases on requests ------------------------------------------------------ */

/* The request's `containerd-lease` header (the lease a client such as
 * `ctr images pull` works under), or NULL when it has none. */
const char *svc_call_lease(struct rpc_call *call);
/* What containerd's metadata layer does for every blob, ingest and snapshot
 * created by a request under a lease: adds resource (`type`, `id`) to that
 * lease ("content", "ingests", "snapshots/<snapshotter>"), so the garbage
 * collector keeps it while the lease lives. No lease header: does nothing.
 * An unknown lease is NotFound, as in containerd. Inside the request's
 * transaction. */
int svc_lease_track(struct rpc_call *call, struct md_db *db, const char *type, const char *id,
		    struct ucd_error **err);
