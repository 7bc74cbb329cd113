/* The schema as an ordered list of migration steps.
 *
 * RULES: never edit a step that has shipped; append a new one. Step N takes a
 * database from user_version N-1 to N inside one transaction, with foreign
 * keys off and checked before the commit (so a step may rebuild a table the
 * SQLite way: create new, copy, drop old, rename). Bump MD_SCHEMA_VERSION in
 * db.h with each new step. docs/metadata.md describes every table.
 *
 * Times are INTEGER nanoseconds since the epoch (UTC). Keys compare as bytes
 * (sqlite's BINARY collation), which is the order containerd's bolt buckets
 * list in. */
#include "metadata/md_internal.h"

static const char schema_v1[] =
	/* Namespaces exist explicitly (Namespaces.Create/Update) or implicitly
	 * (the first container, image or lease in them). */
	"CREATE TABLE namespaces ("
	"  name       TEXT NOT NULL PRIMARY KEY,"
	"  created_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE namespace_labels ("
	"  namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,"
	"  key       TEXT NOT NULL,"
	"  value     TEXT NOT NULL,"
	"  PRIMARY KEY (namespace, key)"
	") WITHOUT ROWID;"

	/* record = the containerd.services.containers.v1.Container message as
	 * given (every field, unknown ones too), labels and extensions
	 * normalized, timestamps left out (the columns hold them). The other
	 * columns copy fields out of it for queries (GC, snapshot references). */
	"CREATE TABLE containers ("
	"  namespace    TEXT NOT NULL REFERENCES namespaces(name),"
	"  id           TEXT NOT NULL,"
	"  image        TEXT NOT NULL,"
	"  runtime      TEXT NOT NULL,"
	"  snapshotter  TEXT NOT NULL,"
	"  snapshot_key TEXT NOT NULL,"
	"  created_at   INTEGER NOT NULL,"
	"  updated_at   INTEGER NOT NULL,"
	"  record       BLOB NOT NULL,"
	"  PRIMARY KEY (namespace, id)"
	") WITHOUT ROWID;"
	"CREATE INDEX containers_by_snapshot ON containers(snapshotter, snapshot_key) WHERE snapshot_key != '';"

	/* record = the containerd.services.images.v1.Image message: name,
	 * labels, target (media type, digest, size, annotations). */
	"CREATE TABLE images ("
	"  namespace         TEXT NOT NULL REFERENCES namespaces(name),"
	"  name              TEXT NOT NULL,"
	"  target_digest     TEXT NOT NULL,"
	"  target_media_type TEXT NOT NULL,"
	"  target_size       INTEGER NOT NULL,"
	"  created_at        INTEGER NOT NULL,"
	"  updated_at        INTEGER NOT NULL,"
	"  record            BLOB NOT NULL,"
	"  PRIMARY KEY (namespace, name)"
	") WITHOUT ROWID;"
	"CREATE INDEX images_by_target ON images(target_digest);"

	/* Leases go with their namespace (as in containerd, where they live in
	 * the namespace's bucket). expires_at comes from the gc.expire label;
	 * NULL when there is none or it does not parse. */
	"CREATE TABLE leases ("
	"  namespace  TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,"
	"  id         TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER,"
	"  PRIMARY KEY (namespace, id)"
	") WITHOUT ROWID;"
	"CREATE INDEX leases_by_expiry ON leases(expires_at) WHERE expires_at IS NOT NULL;"
	"CREATE TABLE lease_labels ("
	"  namespace TEXT NOT NULL,"
	"  lease     TEXT NOT NULL,"
	"  key       TEXT NOT NULL,"
	"  value     TEXT NOT NULL,"
	"  PRIMARY KEY (namespace, lease, key),"
	"  FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE"
	") WITHOUT ROWID;"
	/* kind: content | ingests | snapshots; snapshotter only for snapshots. */
	"CREATE TABLE lease_resources ("
	"  namespace   TEXT NOT NULL,"
	"  lease       TEXT NOT NULL,"
	"  kind        TEXT NOT NULL CHECK (kind IN ('content', 'ingests', 'snapshots')),"
	"  snapshotter TEXT NOT NULL DEFAULT '',"
	"  id          TEXT NOT NULL,"
	"  PRIMARY KEY (namespace, lease, kind, snapshotter, id),"
	"  FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE"
	") WITHOUT ROWID;"
	"CREATE INDEX lease_resources_by_resource ON lease_resources(namespace, kind, snapshotter, id);";

/* Version 2: what each namespace sees of the content store and of each
 * snapshotter (containerd's metadata content store and metadata
 * snapshotter). The plugins keep one flat, shared store; these tables
 * say which namespace holds which blob or snapshot, with labels, and
 * are what garbage collection walks. */
static const char schema_v2[] =
	/* A blob visible in a namespace. size is the blob's; labels are rows
	 * (GC reads the containerd.io/gc.* ones). */
	"CREATE TABLE content ("
	"  namespace  TEXT NOT NULL REFERENCES namespaces(name),"
	"  digest     TEXT NOT NULL,"
	"  size       INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (namespace, digest)"
	") WITHOUT ROWID;"
	"CREATE INDEX content_by_digest ON content(digest);"
	"CREATE TABLE content_labels ("
	"  namespace TEXT NOT NULL,"
	"  digest    TEXT NOT NULL,"
	"  key       TEXT NOT NULL,"
	"  value     TEXT NOT NULL,"
	"  PRIMARY KEY (namespace, digest, key),"
	"  FOREIGN KEY (namespace, digest) REFERENCES content(namespace, digest) ON DELETE CASCADE"
	") WITHOUT ROWID;"

	/* An ingest a namespace has open in the content store: the client's
	 * ref, the store's own ref for it (unique across namespaces), and the
	 * expected digest/size the client announced. */
	"CREATE TABLE ingests ("
	"  namespace   TEXT NOT NULL REFERENCES namespaces(name),"
	"  ref         TEXT NOT NULL,"
	"  backend_ref TEXT NOT NULL UNIQUE,"
	"  expected    TEXT NOT NULL DEFAULT '',"
	"  total       INTEGER NOT NULL DEFAULT 0,"
	"  created_at  INTEGER NOT NULL,"
	"  PRIMARY KEY (namespace, ref)"
	") WITHOUT ROWID;"

	/* A snapshot a namespace holds in snapshotter `snapshotter`: its key
	 * in the namespace, the snapshotter's own key for it (unique per
	 * snapshotter), the parent's key in the same namespace ('' = none),
	 * kind (enum ucd_snapshot_kind) and times. */
	"CREATE TABLE snapshots ("
	"  snapshotter TEXT NOT NULL,"
	"  namespace   TEXT NOT NULL REFERENCES namespaces(name),"
	"  key         TEXT NOT NULL,"
	"  backend_key TEXT NOT NULL,"
	"  parent      TEXT NOT NULL DEFAULT '',"
	"  kind        INTEGER NOT NULL,"
	"  created_at  INTEGER NOT NULL,"
	"  updated_at  INTEGER NOT NULL,"
	"  PRIMARY KEY (snapshotter, namespace, key)"
	") WITHOUT ROWID;"
	"CREATE UNIQUE INDEX snapshots_by_backend ON snapshots(snapshotter, backend_key);"
	"CREATE INDEX snapshots_by_parent ON snapshots(snapshotter, namespace, parent) WHERE parent != '';"
	"CREATE TABLE snapshot_labels ("
	"  snapshotter TEXT NOT NULL,"
	"  namespace   TEXT NOT NULL,"
	"  key         TEXT NOT NULL,"
	"  label       TEXT NOT NULL,"
	"  value       TEXT NOT NULL,"
	"  PRIMARY KEY (snapshotter, namespace, key, label),"
	"  FOREIGN KEY (snapshotter, namespace, key) REFERENCES snapshots(snapshotter, namespace, key) ON DELETE CASCADE"
	") WITHOUT ROWID;"

	/* Sequence numbers for backend names (ingest refs, snapshot keys):
	 * one row per use, never reused, so a name the daemon once handed to a
	 * plugin is never handed out again even after a delete. */
	"CREATE TABLE sequences ("
	"  name  TEXT NOT NULL PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;";

const struct md_migration md_migrations[] = {
	{ 1, "namespaces, containers, images, leases", schema_v1 },
	{ 2, "content, ingests, snapshots", schema_v2 },
};
const size_t md_n_migrations = sizeof md_migrations / sizeof md_migrations[0];

_Static_assert(sizeof md_migrations / sizeof md_migrations[0] == MD_SCHEMA_VERSION,
	       "MD_SCHEMA_VERSION must equal the number of migration steps");
