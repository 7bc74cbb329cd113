/* Garbage collection, the metadata half: which content, snapshots and
 * ingests are still referenced (mark), and deleting the rows of those that
 * are not (sweep). containerd's metadata/gc.go rules:
 *
 * Roots, per namespace:
 *   - every resource of a lease that has not expired (content, ingests,
 *     snapshots/<snapshotter>);
 *   - every image's target, and the gc.ref labels of images and containers;
 *   - every container's snapshot (snapshotter, snapshot key);
 *   - content and snapshots labelled containerd.io/gc.root;
 *   - ingests younger than 24 hours that no lease holds (containerd gives
 *     an unleased ingest a 24 h expiry; a leased one lives as its lease).
 * References:
 *   - content and snapshot labels `containerd.io/gc.ref.content[.|/]<name>`
 *     = digest, and `containerd.io/gc.ref.snapshot.<snapshotter>[/<name>]`
 *     = snapshot key, in the same namespace;
 *   - a snapshot references its parent;
 *   - an ingest references the blob it is expected to become.
 *
 * Roots built in C (labels of images and containers live inside their
 * protobuf records) go into a temporary table; one recursive query then
 * computes everything reachable from them, and the sweep deletes the rest.
 * Loop thread, one transaction. */
#include <stdlib.h>
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/quote.h"
#include "util/strset.h"

#define LABEL_ROOT "containerd.io/gc.root"
#define LABEL_CONTENT_REF "containerd.io/gc.ref.content"
#define LABEL_SNAPSHOT_REF "containerd.io/gc.ref.snapshot."

/* What a gc.ref label points at: 'c' (content), 's' (snapshot) or 0. */
static char ref_kind(const char *key)
{
	size_t lc = strlen(LABEL_CONTENT_REF), ls = strlen(LABEL_SNAPSHOT_REF);
	if (strncmp(key, LABEL_CONTENT_REF, lc) == 0 && (key[lc] == 0 || key[lc] == '.' || key[lc] == '/'))
		return 'c';
	if (strncmp(key, LABEL_SNAPSHOT_REF, ls) == 0 && key[ls] != 0 && key[ls] != '/')
		return 's';
	return 0;
}

/* SQL function gc_ref_kind(label key): 'c', 's' or NULL. */
static void sql_ref_kind(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *key = (const char *)sqlite3_value_text(argv[0]);
	char k = key ? ref_kind(key) : 0;
	if (k == 0)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, k == 'c' ? "c" : "s", 1, SQLITE_STATIC);
}

/* SQL function gc_ref_snapshotter(label key): the snapshotter a
 * gc.ref.snapshot label names ("overlayfs" in ...snapshot.overlayfs/x). */
static void sql_ref_snapshotter(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *key = (const char *)sqlite3_value_text(argv[0]);
	if (key == NULL || ref_kind(key) != 's') {
		sqlite3_result_null(ctx);
		return;
	}
	const char *s = key + strlen(LABEL_SNAPSHOT_REF);
	const char *slash = strchr(s, '/');
	sqlite3_result_text(ctx, s, slash ? (int)(slash - s) : -1, SQLITE_TRANSIENT);
}

static int setup(struct md_db *db, struct ucd_error **err)
{
	static const char sql[] =
		"CREATE TEMP TABLE IF NOT EXISTS gc_roots ("
		"  kind TEXT NOT NULL, ns TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,"
		"  PRIMARY KEY (kind, ns, a, b)) WITHOUT ROWID;"
		"CREATE TEMP TABLE IF NOT EXISTS gc_live ("
		"  kind TEXT NOT NULL, ns TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,"
		"  PRIMARY KEY (kind, ns, a, b)) WITHOUT ROWID;"
		"DELETE FROM temp.gc_roots; DELETE FROM temp.gc_live;";
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	if (sqlite3_create_function(db->sql, "gc_ref_kind", 1, flags, NULL, sql_ref_kind, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db->sql, "gc_ref_snapshotter", 1, flags, NULL, sql_ref_snapshotter, NULL, NULL) !=
		    SQLITE_OK)
		return md_sql_error(db->sql, sqlite3_errcode(db->sql), err, "garbage collection: register functions");
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return md_sql_error(db->sql, rc, err, "garbage collection: temporary tables");
	return 0;
}

static int add_root(struct md_db *db, char kind, const char *ns, const char *a, const char *b, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st =
		md_stmt(db, "INSERT OR IGNORE INTO temp.gc_roots (kind, ns, a, b) VALUES (?, ?, ?, ?)", err);
	if (st == NULL)
		return -UCD_INTERNAL;
	char k[2] = {kind, 0};
	md_bind_text(st, 1, k);
	md_bind_text(st, 2, ns);
	md_bind_text(st, 3, a);
	md_bind_text(st, 4, b);
	return md_step_done(db, st, err);
}

/* The gc.ref labels of an image or container record (a map<string,string>
 * field named "labels"). */
static int add_label_roots(struct md_db *db, const char *ns, const ProtobufCMessage *m, struct ucd_error **err)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "labels");
	if (f == NULL)
		return 0;
	size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
	ProtobufCMessage *const *entries = *(ProtobufCMessage *const **)((const char *)m + f->offset);
	for (size_t i = 0; i < n; i++) {
		const char *key = md_entry_key(entries[i]), *value = md_entry_str(entries[i]);
		char kind = ref_kind(key);
		int r = 0;
		if (kind == 'c') {
			r = add_root(db, 'c', ns, value, "", err);
		} else if (kind == 's') {
			const char *s = key + strlen(LABEL_SNAPSHOT_REF);
			const char *slash = strchr(s, '/');
			autofree char *snapshotter = slash ? xstrndup(s, (size_t)(slash - s)) : xstrdup(s);
			r = add_root(db, 's', ns, snapshotter, value, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Roots held inside protobuf records: image and container labels. `sql`
 * selects namespace, record, name; `what` is the kind ("image"), and
 * `what`s its ctr command ("images"). */
static int record_roots(struct md_db *db, const char *sql, const ProtobufCMessageDescriptor *desc,
			const char *what, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ns = md_col_text(st, 0);
		ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, (size_t)sqlite3_column_bytes(st, 1),
								sqlite3_column_blob(st, 1));
		if (m == NULL) {
			/* Its labels (gc.ref.*) are unknown: collecting now could
			 * delete content and snapshots it references. Fail
			 * closed, as containerd's collector does when a record
			 * does not decode: nothing is collected, anywhere. */
			autofree char *name = go_quote(md_col_text(st, 2));
			autofree char *qns = go_quote(ns);
			return error_set(err, UCD_DATA_LOSS, 0,
					 "garbage collection refused: %s %s in namespace %s has a record this daemon "
					 "cannot decode (corrupt, or written by another version), so what it references "
					 "is unknown; nothing was collected. Remove it (`ctr -n %s %ss rm %s`) or restore "
					 "the metadata database from a backup (docs/gc.md)",
					 what, name, qns, ns, what, md_col_text(st, 2));
		}
		int r = add_label_roots(db, ns, m, err);
		protobuf_c_message_free_unpacked(m, NULL);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : md_sql_error(db->sql, rc, err, "garbage collection: read records");
}

static int exec_bound(struct md_db *db, const char *sql, int64_t a, int64_t b, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	int n = sqlite3_bind_parameter_count(st);
	if (n >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (n >= 2)
		sqlite3_bind_int64(st, 2, b);
	return md_step_done(db, st, err);
}

/* Roots that are plain columns and labels. ?1 = now. */
static const char SQL_ROOTS[] =
	"INSERT OR IGNORE INTO temp.gc_roots (kind, ns, a, b)"
	" SELECT CASE r.kind WHEN 'content' THEN 'c' WHEN 'ingests' THEN 'i' ELSE 's' END, r.namespace,"
	"        CASE r.kind WHEN 'snapshots' THEN r.snapshotter ELSE r.id END,"
	"        CASE r.kind WHEN 'snapshots' THEN r.id ELSE '' END"
	"   FROM lease_resources r JOIN leases l ON l.namespace = r.namespace AND l.id = r.lease"
	"  WHERE l.expires_at IS NULL OR l.expires_at > ?1"
	" UNION SELECT 'c', namespace, target_digest, '' FROM images"
	" UNION SELECT 's', namespace, snapshotter, snapshot_key FROM containers"
	"        WHERE snapshotter != '' AND snapshot_key != ''"
	" UNION SELECT 'c', namespace, digest, '' FROM content_labels WHERE key = '" LABEL_ROOT "'"
	" UNION SELECT 's', namespace, snapshotter, key FROM snapshot_labels WHERE label = '" LABEL_ROOT "'"
	" UNION SELECT 'i', i.namespace, i.ref, '' FROM ingests i"
	"        WHERE i.created_at > ?1 - 86400000000000"   /* 24 h in ns */
	"          AND NOT EXISTS (SELECT 1 FROM lease_resources r WHERE r.namespace = i.namespace"
	"                          AND r.kind = 'ingests' AND r.snapshotter = '' AND r.id = i.ref)";

/* Everything reachable from the roots. */
static const char SQL_LIVE[] =
	"INSERT INTO temp.gc_live (kind, ns, a, b)"
	" WITH RECURSIVE live(kind, ns, a, b) AS ("
	"   SELECT kind, ns, a, b FROM temp.gc_roots"
	"   UNION"
	"   SELECT 'c', i.namespace, i.expected, '' FROM live JOIN ingests i"
	"       ON live.kind = 'i' AND i.namespace = live.ns AND i.ref = live.a WHERE i.expected != ''"
	"   UNION"
	"   SELECT gc_ref_kind(l.key), l.namespace,"
	"          iif(gc_ref_kind(l.key) = 'c', l.value, gc_ref_snapshotter(l.key)),"
	"          iif(gc_ref_kind(l.key) = 'c', '', l.value)"
	"     FROM live JOIN content_labels l ON live.kind = 'c' AND l.namespace = live.ns AND l.digest = live.a"
	"    WHERE l.key >= 'containerd.io/gc.ref.' AND l.key < 'containerd.io/gc.ref/'"
	"      AND gc_ref_kind(l.key) IS NOT NULL"
	"   UNION"
	"   SELECT 's', s.namespace, s.snapshotter, s.parent FROM live JOIN snapshots s"
	"       ON live.kind = 's' AND s.snapshotter = live.a AND s.namespace = live.ns AND s.key = live.b"
	"    WHERE s.parent != ''"
	"   UNION"
	"   SELECT gc_ref_kind(l.label), l.namespace,"
	"          iif(gc_ref_kind(l.label) = 'c', l.value, gc_ref_snapshotter(l.label)),"
	"          iif(gc_ref_kind(l.label) = 'c', '', l.value)"
	"     FROM live JOIN snapshot_labels l"
	"       ON live.kind = 's' AND l.snapshotter = live.a AND l.namespace = live.ns AND l.key = live.b"
	"    WHERE l.label >= 'containerd.io/gc.ref.' AND l.label < 'containerd.io/gc.ref/'"
	"      AND gc_ref_kind(l.label) IS NOT NULL"
	" ) SELECT kind, ns, a, b FROM live";

static const char SQL_DEL_CONTENT[] =
	"DELETE FROM content WHERE NOT EXISTS (SELECT 1 FROM temp.gc_live l"
	" WHERE l.kind = 'c' AND l.ns = content.namespace AND l.a = content.digest AND l.b = '')";
static const char SQL_DEL_SNAPSHOTS[] =
	"DELETE FROM snapshots WHERE NOT EXISTS (SELECT 1 FROM temp.gc_live l"
	" WHERE l.kind = 's' AND l.ns = snapshots.namespace AND l.a = snapshots.snapshotter AND l.b = snapshots.key)";
static const char SQL_DEL_INGESTS[] =
	"DELETE FROM ingests WHERE NOT EXISTS (SELECT 1 FROM temp.gc_live l"
	" WHERE l.kind = 'i' AND l.ns = ingests.namespace AND l.a = ingests.ref AND l.b = '')";

static int do_collect(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct md_gc_stats *st = arg;
	int64_t now = st->now;
	int r;
	if ((r = setup(db, err)) < 0 || (r = exec_bound(db, SQL_ROOTS, now, 0, err)) < 0 ||
	    (r = record_roots(db, "SELECT namespace, record, name FROM images",
			      &containerd__services__images__v1__image__descriptor, "image", err)) < 0 ||
	    (r = record_roots(db, "SELECT namespace, record, id FROM containers",
			      &containerd__services__containers__v1__container__descriptor, "container", err)) < 0 ||
	    (r = exec_bound(db, SQL_LIVE, 0, 0, err)) < 0)
		return r;
	if ((r = exec_bound(db, SQL_DEL_CONTENT, 0, 0, err)) < 0)
		return r;
	st->content = (size_t)sqlite3_changes(db->sql);
	if ((r = exec_bound(db, SQL_DEL_SNAPSHOTS, 0, 0, err)) < 0)
		return r;
	st->snapshots = (size_t)sqlite3_changes(db->sql);
	if ((r = exec_bound(db, SQL_DEL_INGESTS, 0, 0, err)) < 0)
		return r;
	st->ingests = (size_t)sqlite3_changes(db->sql);
	return exec_bound(db, "DELETE FROM temp.gc_roots", 0, 0, err) < 0 ? -UCD_INTERNAL
	       : exec_bound(db, "DELETE FROM temp.gc_live", 0, 0, err);
}

int md_gc_collect(struct md_db *db, struct md_gc_stats *st, struct ucd_error **err)
{
	st->content = st->snapshots = st->ingests = 0;
	return md_in_tx(db, do_collect, st, err);
}

static int fill(struct md_db *db, const char *sql, struct strset *set, bool pair, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pair)
			strset_add2(set, md_col_text(st, 0), md_col_text(st, 1));
		else
			strset_add(set, md_col_text(st, 0));
	}
	return rc == SQLITE_DONE ? 0 : md_sql_error(db->sql, rc, err, "garbage collection: referenced objects");
}

int md_gc_referenced(struct md_db *db, struct strset *digests, struct strset *ingest_refs, struct strset *snapshots,
		     struct ucd_error **err)
{
	int r;
	if ((r = fill(db, "SELECT DISTINCT digest FROM content", digests, false, err)) < 0 ||
	    (r = fill(db, "SELECT backend_ref FROM ingests", ingest_refs, false, err)) < 0 ||
	    (r = fill(db, "SELECT snapshotter, backend_key FROM snapshots", snapshots, true, err)) < 0)
		return r;
	return 0;
}
