/* The metadata store: namespaces, containers, images and leases in sqlite3.
 *
 * One `struct md_db` per daemon, used ON THE LOOP THREAD only (sqlite runs in
 * serialized mode but the transaction state kept here is not locked). The file
 * is `<dir>/meta.db` in WAL mode; see docs/metadata.md for the schema, the
 * migrations and what is stored how.
 *
 * Conventions (STYLE.md B4/B5):
 * - Fallible functions return 0 or -code and take `struct ucd_error **err`
 *   last. Messages are containerd's own error strings, class suffix included
 *   (`container "x" in namespace "default": not found`), so a client sees the
 *   same grpc-message as from containerd.
 * - Every store function runs in a transaction: its own, nested as a
 *   savepoint inside the caller's when the caller opened one with md_begin().
 *   A request handler opens one transaction (md_begin), calls the store and
 *   ends it with md_commit or md_rollback.
 * - Inputs are borrowed. Messages handed out (`**out`) are owned by the caller
 *   and freed with md_free() / md_free_array(); they are ordinary protobuf-c
 *   messages (all members from malloc) that can be packed as they are.
 * - Lists are sorted by key (byte order), as containerd's bolt buckets are.
 */
#pragma once
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontainerd/error.h>
#include <uv.h>

#include "util/identifiers.h"
#include "util/quote.h"

#include "containerd/services/containers/v1/containers.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/services/content/v1/content.pb-c.h"

#define MD_DB_FILE "meta.db"
/* The newest schema version this binary knows (PRAGMA user_version). */
#define MD_SCHEMA_VERSION 2
/* PRAGMA application_id of a ucontainerd metadata database ("UCDM"). */
#define MD_APPLICATION_ID 0x5543444d
/* Lease label holding an RFC 3339 expiry time (containerd's gc.expire). */
#define MD_LABEL_GC_EXPIRE "containerd.io/gc.expire"

struct md_db;

/* --- lifecycle and transactions ---------------------------------------- */

/* Opens (creating if needed, mode 0700 for the directory and 0600 for the
 * file) `<dir>/meta.db`, sets WAL, synchronous=NORMAL, foreign keys and a
 * busy timeout, and migrates the schema to MD_SCHEMA_VERSION, one transaction
 * per step. Refuses (FAILED_PRECONDITION) a database whose version is newer
 * than this binary knows or that is not a ucontainerd database, and
 * (DATA_LOSS) a file that is not an SQLite database at all. */
struct md_db *md_open(const char *dir, struct ucd_error **err);
/* Rolls back an open transaction, finalizes the statement cache and closes. */
void md_close(struct md_db *db);
/* A database md_open had to create is renamed into place without waiting
 * for the disk; this makes it durable (fsync of the file and its directory)
 * on the thread pool. No-op for a database that existed. */
void md_sync_fresh(struct md_db *db, uv_loop_t *loop);
/* Full path of the database file. */
const char *md_path(const struct md_db *db);
/* True when md_open created the database (there was none). */
bool md_created(const struct md_db *db);
/* Closes a database md_open created and removes its files again: a start
 * refused after md_open leaves no database behind (daemon.c, a lost
 * database). No-op (just md_close) for a database that existed. */
void md_close_discard(struct md_db *db);

/* Opens a transaction, or a savepoint when one is already open. */
int md_begin(struct md_db *db, struct ucd_error **err);
/* Commits (or releases the savepoint). On failure everything is rolled back. */
int md_commit(struct md_db *db, struct ucd_error **err);
/* Rolls back the innermost md_begin. */
void md_rollback(struct md_db *db);
/* Transaction nesting depth: 0 when none is open. */
int md_tx_depth(const struct md_db *db);

/* --- common types -------------------------------------------------------- */

/* A borrowed string pair: a label given to the store. */
struct md_kv {
	const char *key;
	const char *value;
};

/* Filter callback for lists: true keeps `obj` (the message type of the list). */
typedef bool (*md_match_fn)(const ProtobufCMessage *obj, void *arg);

/* A map field as protobuf-c lays it out is an array of entry messages whose
 * field 1 is the key and field 2 the value: these read them, for any map
 * type. md_entry_str gives "" for a non-string value. */
const char *md_entry_key(const ProtobufCMessage *entry);
const char *md_entry_str(const ProtobufCMessage *entry);

/* Frees one message from this module; NULL is fine. */
void md_free(void *msg);
/* Frees `n` messages and the array holding them; NULL is fine. */
void md_free_array(void *msgs, size_t n);
/* Wall clock in nanoseconds since the epoch (what created_at records). */
int64_t md_now(void);

/* --- namespaces (not namespaced themselves) ------------------------------ */

/* AlreadyExists when the name is taken (also by implicit creation). The name
 * is validated like containerd's identifiers; empty label values are not
 * stored. */
int md_namespace_create(struct md_db *db, const char *name, const struct md_kv *labels, size_t n_labels,
			struct ucd_error **err);
/* containerd semantics: a namespace that does not exist reads as one without
 * labels (*out is still set). */
int md_namespace_get(struct md_db *db, const char *name, Containerd__Services__Namespaces__V1__Namespace **out,
		     struct ucd_error **err);
int md_namespace_exists(struct md_db *db, const char *name, bool *exists, struct ucd_error **err);
int md_namespace_list(struct md_db *db, Containerd__Services__Namespaces__V1__Namespace ***out, size_t *n,
		      struct ucd_error **err);
/* Applies `labels` by field mask: no paths = replace all labels, `labels` =
 * the same, `labels.<key>` = set that key from `labels` (absent or empty =
 * remove it); any other path is InvalidArgument. Creates the namespace when
 * it does not exist (as containerd does). *out (optional) = the result. */
int md_namespace_update(struct md_db *db, const char *name, const struct md_kv *labels, size_t n_labels,
			const char *const *paths, size_t n_paths,
			Containerd__Services__Namespaces__V1__Namespace **out, struct ucd_error **err);
/* FailedPrecondition while the namespace holds images, blobs or containers
 * (message lists them, as containerd); its leases and ingests are deleted
 * with it. */
int md_namespace_delete(struct md_db *db, const char *name, struct ucd_error **err);

/* --- containers ------------------------------------------------------------ */

int md_container_get(struct md_db *db, const char *ns, const char *id,
		     Containerd__Services__Containers__V1__Container **out, struct ucd_error **err);
/* match may be NULL (all). */
int md_container_list(struct md_db *db, const char *ns, md_match_fn match, void *arg,
		      Containerd__Services__Containers__V1__Container ***out, size_t *n, struct ucd_error **err);
/* Validates as containerd (id, runtime.name, spec, labels, extensions,
 * snapshotter), creates the namespace if needed, sets created_at/updated_at.
 * The stored record keeps every field of `c`, unknown ones too. */
int md_container_create(struct md_db *db, const char *ns, const Containerd__Services__Containers__V1__Container *c,
			Containerd__Services__Containers__V1__Container **out, struct ucd_error **err);
/* containerd's field mask: labels, labels.<k>, spec, extensions,
 * extensions.<k>, image, snapshotkey; no paths = all of those, and then a
 * different snapshotter or runtime.name is an error (immutable). */
int md_container_update(struct md_db *db, const char *ns, const Containerd__Services__Containers__V1__Container *c,
			const char *const *paths, size_t n_paths,
			Containerd__Services__Containers__V1__Container **out, struct ucd_error **err);
int md_container_delete(struct md_db *db, const char *ns, const char *id, struct ucd_error **err);

/* --- images ------------------------------------------------------------------ */

int md_image_get(struct md_db *db, const char *ns, const char *name, Containerd__Services__Images__V1__Image **out,
		 struct ucd_error **err);
int md_image_list(struct md_db *db, const char *ns, md_match_fn match, void *arg,
		  Containerd__Services__Images__V1__Image ***out, size_t *n, struct ucd_error **err);
/* Validates name, labels and target (digest, size > 0, media type). */
int md_image_create(struct md_db *db, const char *ns, const Containerd__Services__Images__V1__Image *img,
		    Containerd__Services__Images__V1__Image **out, struct ucd_error **err);
/* Field mask: labels, labels.<k>, target, annotations, annotations.<k>; no
 * paths = replace the image (created_at kept). */
int md_image_update(struct md_db *db, const char *ns, const Containerd__Services__Images__V1__Image *img,
		    const char *const *paths, size_t n_paths, Containerd__Services__Images__V1__Image **out,
		    struct ucd_error **err);
int md_image_delete(struct md_db *db, const char *ns, const char *name, struct ucd_error **err);

/* --- leases ---------------------------------------------------------------------- */

/* `id` must be set (the service generates one when the client gave none).
 * A valid `containerd.io/gc.expire` label (RFC 3339) sets the expiry. */
int md_lease_create(struct md_db *db, const char *ns, const char *id, const struct md_kv *labels, size_t n_labels,
		    Containerd__Services__Leases__V1__Lease **out, struct ucd_error **err);
int md_lease_get(struct md_db *db, const char *ns, const char *id, Containerd__Services__Leases__V1__Lease **out,
		 struct ucd_error **err);
int md_lease_list(struct md_db *db, const char *ns, md_match_fn match, void *arg,
		  Containerd__Services__Leases__V1__Lease ***out, size_t *n, struct ucd_error **err);
/* Deletes the lease and its resource references. */
int md_lease_delete(struct md_db *db, const char *ns, const char *id, struct ucd_error **err);
/* Resource types as containerd: "content" (id = a valid digest), "ingests",
 * "snapshots/<snapshotter>"; anything else is Unimplemented. Adding twice is
 * fine; deleting an absent reference too. The lease must exist. */
int md_lease_add_resource(struct md_db *db, const char *ns, const char *id, const char *type, const char *rid,
			  struct ucd_error **err);
int md_lease_delete_resource(struct md_db *db, const char *ns, const char *id, const char *type, const char *rid,
			     struct ucd_error **err);
/* Ordered content, ingests, snapshots/<snapshotter> (then by id). */
int md_lease_list_resources(struct md_db *db, const char *ns, const char *id,
			    Containerd__Services__Leases__V1__Resource ***out, size_t *n, struct ucd_error **err);
/* Deletes the leases whose expiry is before `now` (ns since the epoch), in
 * `ns` or in every namespace when ns is NULL. *n_deleted is optional. */
int md_lease_delete_expired(struct md_db *db, const char *ns, int64_t now, size_t *n_deleted, struct ucd_error **err);
/* Earliest lease expiry over all namespaces: 1 and *at set, 0 when no lease
 * expires, or -code. */
int md_lease_next_expiry(struct md_db *db, int64_t *at, struct ucd_error **err);

/* --- content: which blobs each namespace sees (core/metadata/content.c) --------
 *
 * containerd's metadata content store. The content plugin keeps one flat
 * store of blobs; a row here says namespace `ns` holds blob `digest` with
 * labels. Digests are validated (InvalidArgument with go-digest's text). */

/* NotFound "content digest <d>: not found" when `ns` does not hold it. */
int md_content_get(struct md_db *db, const char *ns, const char *digest, Containerd__Services__Content__V1__Info **out,
		   struct ucd_error **err);
int md_content_exists(struct md_db *db, const char *ns, const char *digest, bool *exists, struct ucd_error **err);
/* Every blob `ns` holds, sorted by digest. match may be NULL (all). */
int md_content_list(struct md_db *db, const char *ns, md_match_fn match, void *arg,
		    Containerd__Services__Content__V1__Info ***out, size_t *n, struct ucd_error **err);
/* Records that `ns` holds the blob (creating the namespace if needed):
 * created_at = updated_at = now for a new record; an existing one keeps its
 * times and size. `labels` non-NULL replaces the labels (empty values are
 * not stored; each is validated as containerd's "info.Labels: ..."); NULL
 * leaves them. Returns 1 when the record was created, 0 when it existed. */
int md_content_put(struct md_db *db, const char *ns, const char *digest, int64_t size, const struct md_kv *labels,
		   size_t n_labels, struct ucd_error **err);
/* containerd's field mask: `labels.<k>` sets k from `labels` (absent or
 * empty = removes it), `labels` and no paths replace all labels; any other
 * path is InvalidArgument "cannot update \"x\" field on content info ...".
 * updated_at = now. *out (optional) = the result. */
int md_content_update(struct md_db *db, const char *ns, const char *digest, const struct md_kv *labels,
		      size_t n_labels, const char *const *paths, size_t n_paths,
		      Containerd__Services__Content__V1__Info **out, struct ucd_error **err);
/* Removes `ns`'s record (NotFound as md_content_get). *unreferenced
 * (optional) = no namespace holds the blob any more and no ingest expects
 * it: the caller may remove it from the content store. */
int md_content_delete(struct md_db *db, const char *ns, const char *digest, bool *unreferenced,
		      struct ucd_error **err);
/* Whether any namespace holds `digest` or any ingest expects it. */
int md_content_referenced(struct md_db *db, const char *digest, bool *yes, struct ucd_error **err);

/* An ingest of namespace `ns`: the client's `ref`, the content store's own
 * name for it ("<ns>/<seq>/<ref>", never reused: the sequence lives in the
 * table `sequences`), and, for an ingest satisfied by a blob another
 * namespace holds (containerd's shared ingest), the expected digest and
 * size. Strings are malloc'd; md_ingest_fini frees them. */
struct md_ingest {
	char *ref;
	char *backend_ref;
	char *expected;   /* "" unless shared */
	int64_t total;
	int64_t created_at;
};
void md_ingest_fini(struct md_ingest *in);
void md_ingest_free_array(struct md_ingest *v, size_t n);
/* NotFound "reference <ref>: not found". */
int md_ingest_get(struct md_db *db, const char *ns, const char *ref, struct md_ingest *out, struct ucd_error **err);
/* Creates the ingest (new backend ref, namespace created if needed) or
 * keeps the existing one's backend ref; sets expected and total. *out
 * (optional) = the row. Returns 1 when created, 0 when it existed. */
int md_ingest_put(struct md_db *db, const char *ns, const char *ref, const char *expected, int64_t total,
		  struct md_ingest *out, struct ucd_error **err);
/* NotFound as md_ingest_get. *out (optional) = the row removed. */
int md_ingest_delete(struct md_db *db, const char *ns, const char *ref, struct md_ingest *out, struct ucd_error **err);
/* The ingests of `ns` (every namespace when ns is NULL), sorted by ref. */
int md_ingest_list(struct md_db *db, const char *ns, struct md_ingest **out, size_t *n, struct ucd_error **err);
/* 1 and *ns_out, *ref_out (malloc'd) when some namespace has an ingest
 * whose backend ref is `backend_ref`, 0 when none, or -code. */
int md_ingest_by_backend(struct md_db *db, const char *backend_ref, char **ns_out, char **ref_out,
			 struct ucd_error **err);

/* --- snapshots: what each namespace holds in each snapshotter (snapshots.c) ----
 *
 * containerd's metadata snapshotter (metadata/snapshot.go). A snapshotter
 * plugin has one flat key space; a row here says namespace `ns` has snapshot
 * `key` in snapshotter `sn`, stored in the plugin under `backend_key`
 * ("<ns>/<seq>/<key>", seq from the table `sequences`, never reused).
 * Parents are keys of the same namespace and snapshotter; a parent is always
 * committed, so parent links cannot form a loop. Labels are rows (empty
 * values are not stored). Messages are containerd's. */

typedef Containerd__Services__Snapshots__V1__Info MdSnapshotInfo;

/* What the service needs of one row before it calls the plugin. Strings
 * malloc'd; md_snapshot_ref_fini frees them. */
struct md_snapshot_ref {
	char *backend_key;
	char *parent;        /* "" when none */
	int kind;            /* enum ucd_snapshot_kind */
};
void md_snapshot_ref_fini(struct md_snapshot_ref *r);
/* 1 with *out filled, 0 when there is no such snapshot, or -code. */
int md_snapshot_lookup(struct md_db *db, const char *sn, const char *ns, const char *key,
		       struct md_snapshot_ref *out, struct ucd_error **err);
/* Info as the Snapshots API reports it (name = the namespace's key, parent,
 * kind, times, labels). NotFound "snapshot <key> does not exist". */
int md_snapshot_stat(struct md_db *db, const char *sn, const char *ns, const char *key, MdSnapshotInfo **out,
		     struct ucd_error **err);
/* Every snapshot of `ns` in `sn`, sorted by key; match may be NULL (all). */
int md_snapshot_list(struct md_db *db, const char *sn, const char *ns, md_match_fn match, void *arg,
		     MdSnapshotInfo ***out, size_t *n, struct ucd_error **err);
/* The checks containerd makes before it asks the snapshotter to create
 * `key` on `parent` ("" none): `target` (the containerd.io/snapshot.ref
 * label, NULL or "" none) must not exist ("target snapshot ...: already
 * exists"), nor `key` ("snapshot ...: already exists"); the parent must
 * exist ("parent snapshot ... does not exist: not found") and be committed
 * (InvalidArgument). *parent_backend_key (optional) = the parent's backend
 * key, "" without a parent. Labels are validated too. */
int md_snapshot_check_create(struct md_db *db, const char *sn, const char *ns, const char *key, const char *parent,
			     const char *target, const struct md_kv *labels, size_t n_labels,
			     char **parent_backend_key, struct ucd_error **err);
/* A new backend key for `key` ("<ns>/<seq>/<key>"), the sequence of
 * snapshotter `sn` advanced and stored. */
int md_snapshot_new_backend_key(struct md_db *db, const char *sn, const char *ns, const char *key, char **out,
				struct ucd_error **err);
/* Reserves `n` sequence numbers of snapshotter `sn` at once, stored before
 * it returns: *first .. *first + n - 1 are the caller's to hand out (numbers
 * a crash leaves unused are skipped, never reused). Call it outside any
 * transaction: a rollback would give the numbers out again. */
int md_snapshot_reserve_sequence(struct md_db *db, const char *sn, int64_t n, int64_t *first, struct ucd_error **err);
/* "<ns>/<seq>/<key>" (malloc'd). */
char *md_snapshot_backend_key(const char *ns, int64_t seq, const char *key);
/* Records ACTIVE or VIEW snapshot `key` (md_snapshot_check_create's checks
 * again, the namespace created if needed, created_at = updated_at = now). */
int md_snapshot_create(struct md_db *db, const char *sn, const char *ns, const char *key, const char *backend_key,
		       const char *parent, int kind, const struct md_kv *labels, size_t n_labels,
		       struct ucd_error **err);
/* The checks before a commit: `name` must not exist, `key` must exist and be
 * ACTIVE; labels valid. *key_ref (optional) = the active row. */
int md_snapshot_check_commit(struct md_db *db, const char *sn, const char *ns, const char *name, const char *key,
			     const struct md_kv *labels, size_t n_labels, struct md_snapshot_ref *key_ref,
			     struct ucd_error **err);
/* Replaces ACTIVE `key` by COMMITTED `name` (stored as `backend_name`) with
 * the key's parent, `labels` (the active snapshot's labels are not carried
 * over, as in containerd) and created_at = updated_at = now. */
int md_snapshot_commit(struct md_db *db, const char *sn, const char *ns, const char *name, const char *key,
		       const char *backend_name, const struct md_kv *labels, size_t n_labels,
		       struct ucd_error **err);
/* Whether any snapshot of `ns` in `sn` has `key` as parent. */
int md_snapshot_has_children(struct md_db *db, const char *sn, const char *ns, const char *key, bool *yes,
			     struct ucd_error **err);
/* Deletes `key` (NotFound; FailedPrecondition "cannot remove snapshot with
 * child"). *backend_key (optional, malloc'd) = what the plugin must remove. */
int md_snapshot_remove(struct md_db *db, const char *sn, const char *ns, const char *key, char **backend_key,
		       struct ucd_error **err);
/* containerd's Update: no paths or `labels` replace all labels with `labels`;
 * `labels.<k>` sets k from `labels` (absent or empty: removes it); other
 * paths InvalidArgument "cannot update \"p\" field on snapshot \"k\"".
 * updated_at = now. *out (optional) = the result. */
int md_snapshot_update(struct md_db *db, const char *sn, const char *ns, const char *key, const struct md_kv *labels,
		       size_t n_labels, const char *const *paths, size_t n_paths, MdSnapshotInfo **out,
		       struct ucd_error **err);

/* One row, for the garbage collector: strings borrowed for the callback. */
struct md_snapshot_row {
	const char *snapshotter, *ns, *key, *backend_key, *parent;
	int kind;
	int64_t created_at, updated_at;
};
/* Calls fn for every row of snapshotter `sn` (NULL: all) in namespace `ns`
 * (NULL: all), ordered by snapshotter, namespace, key. A non-zero return
 * stops the walk and is returned. Labels: md_snapshot_stat. */
int md_snapshot_walk(struct md_db *db, const char *sn, const char *ns,
		     int (*fn)(void *arg, const struct md_snapshot_row *row), void *arg, struct ucd_error **err);
/* Whether some namespace's snapshot is stored in `sn` under `backend_key`. */
int md_snapshot_backend_referenced(struct md_db *db, const char *sn, const char *backend_key, bool *yes,
				   struct ucd_error **err);
/* For the namespace-empty check: NULL when `ns` holds no snapshot, else
 * (malloc'd) "snapshots on \"a\" snapshotter, snapshots on \"b\"
 * snapshotter" in snapshotter order, as containerd lists them. */
int md_snapshot_ns_in_use(struct md_db *db, const char *ns, char **what, struct ucd_error **err);

/* --- garbage collection (gc.c) ------------------------------------------------ */

struct strset;
/* One collection's metadata half. `now` (ns since the epoch) is an input:
 * leases and ingests are judged against it. The counts are the rows deleted. */
struct md_gc_stats {
	int64_t now;
	size_t content, snapshots, ingests;
};
/* Marks what containerd's GC keeps (roots: leases, images, containers,
 * gc.root labels, young unleased ingests; references: gc.ref labels,
 * snapshot parents, ingests' expected blobs; see gc.c) and deletes the
 * content, snapshot and ingest rows nothing reaches. One transaction. */
int md_gc_collect(struct md_db *db, struct md_gc_stats *st, struct ucd_error **err);
/* Fills the sets with what the backends must keep: every digest some
 * namespace holds, every ingest's backend ref, and every snapshot as
 * (snapshotter, backend key) (strset_add2). */
int md_gc_referenced(struct md_db *db, struct strset *digests, struct strset *ingest_refs, struct strset *snapshots,
		     struct ucd_error **err);

/* --- validation shared with the services ------------------------------------ */

/* Identifiers: util/identifiers.h; Go's %q: util/quote.h. */
/* containerd's labels.Validate: key + value at most 4096 bytes. */
int md_validate_label(const char *key, const char *value, struct ucd_error **err);
/* go-digest's Digest.Validate: NULL when valid, else its error text
 * ("invalid checksum digest format", ...). */
const char *md_digest_error(const char *digest);
/* Go's time.Parse(time.RFC3339, s) into ns since the epoch. */
bool md_parse_rfc3339(const char *s, int64_t *ns);
