/* Namespaces: names and labels (containerd's metadata/namespaces.go). */
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Namespaces__V1__Namespace Namespace;

static const char SQL_NS_ENSURE[] =
	"INSERT INTO namespaces(name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING";
static const char SQL_NS_EXISTS[] = "SELECT 1 FROM namespaces WHERE name = ?1";
static const char SQL_NS_INSERT[] = "INSERT INTO namespaces(name, created_at) VALUES (?1, ?2)";
static const char SQL_NS_DELETE[] = "DELETE FROM namespaces WHERE name = ?1";
static const char SQL_LABEL_PUT[] =
	"INSERT INTO namespace_labels(namespace, key, value) VALUES (?1, ?2, ?3) "
	"ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value";
static const char SQL_LABEL_DEL[] = "DELETE FROM namespace_labels WHERE namespace = ?1 AND key = ?2";
static const char SQL_LABEL_CLEAR[] = "DELETE FROM namespace_labels WHERE namespace = ?1";
static const char SQL_LABELS[] = "SELECT key, value FROM namespace_labels WHERE namespace = ?1 ORDER BY key";
static const char SQL_LIST[] =
	"SELECT n.name, l.key, l.value FROM namespaces n "
	"LEFT JOIN namespace_labels l ON l.namespace = n.name ORDER BY n.name, l.key";
static const char SQL_HAS_IMAGES[] = "SELECT 1 FROM images WHERE namespace = ?1 LIMIT 1";
static const char SQL_HAS_CONTAINERS[] = "SELECT 1 FROM containers WHERE namespace = ?1 LIMIT 1";
static const char SQL_HAS_BLOBS[] = "SELECT 1 FROM content WHERE namespace = ?1 LIMIT 1";
/* Ingests go with the namespace, as in containerd, where they live in its
 * bucket (the content store keeps their data until it is aborted). */
static const char SQL_NS_INGESTS_DELETE[] = "DELETE FROM ingests WHERE namespace = ?1";

int md_namespace_exists(struct md_db *db, const char *name, bool *exists, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NS_EXISTS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "namespace lookup");
	*exists = rc == SQLITE_ROW;
	return 0;
}

int md_namespace_ensure(struct md_db *db, const char *name, struct ucd_error **err)
{
	int r = identifier_validate(name, err);
	if (r < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NS_ENSURE, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, md_now());
	return md_step_done(db, st, err);
}

static int put_label(struct md_db *db, const char *ns, const char *key, const char *value, struct ucd_error **err)
{
	int r = md_validate_label(key, value, err);
	if (r < 0)
		return error_wrap(err, "namespace.Labels");
	md_autoreset sqlite3_stmt *st = md_stmt(db, value[0] ? SQL_LABEL_PUT : SQL_LABEL_DEL, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, key);
	if (value[0])
		md_bind_text(st, 3, value);
	return md_step_done(db, st, err);
}

static int put_labels(struct md_db *db, const char *ns, const struct md_kv *labels, size_t n, struct ucd_error **err)
{
	for (size_t i = 0; i < n; i++) {
		int r = put_label(db, ns, labels[i].key ? labels[i].key : "", labels[i].value ? labels[i].value : "",
				  err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int clear_labels(struct md_db *db, const char *ns, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LABEL_CLEAR, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	return md_step_done(db, st, err);
}

/* --- create -------------------------------------------------------------- */

struct create_args {
	const char *name;
	const struct md_kv *labels;
	size_t n_labels;
};

static int do_create(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct create_args *a = arg;
	int r = identifier_validate(a->name, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < a->n_labels; i++)
		if ((r = md_validate_label(a->labels[i].key ? a->labels[i].key : "",
					   a->labels[i].value ? a->labels[i].value : "", err)) < 0)
			return error_wrap(err, "namespace.Labels");
	bool exists;
	if ((r = md_namespace_exists(db, a->name, &exists, err)) < 0)
		return r;
	if (exists) {
		autofree char *q = go_quote(a->name);
		return error_set(err, UCD_ALREADY_EXISTS, 0, "namespace %s: already exists", q);
	}
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NS_INSERT, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->name);
	sqlite3_bind_int64(st, 2, md_now());
	if ((r = md_step_done(db, st, err)) < 0)
		return r;
	return put_labels(db, a->name, a->labels, a->n_labels, err);
}

int md_namespace_create(struct md_db *db, const char *name, const struct md_kv *labels, size_t n_labels,
			struct ucd_error **err)
{
	struct create_args a = { name ? name : "", labels, n_labels };
	return md_in_tx(db, do_create, &a, err);
}

/* --- read ------------------------------------------------------------------ */

static Namespace *ns_new(const char *name)
{
	Namespace *ns = xmalloc(sizeof *ns);
	containerd__services__namespaces__v1__namespace__init(ns);
	ns->name = xstrdup(name);
	return ns;
}

static void ns_add_label(Namespace *ns, size_t *cap, const char *key, const char *value)
{
	md_array_push((void ***)&ns->labels, &ns->n_labels, cap,
		      md_entry_new(&containerd__services__namespaces__v1__namespace__labels_entry__descriptor, key,
				   value));
}

int md_namespace_get(struct md_db *db, const char *name, Namespace **out, struct ucd_error **err)
{
	name = name ? name : "";
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LABELS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, name);
	Namespace *ns = ns_new(name);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		ns_add_label(ns, &cap, md_col_text(st, 0), md_col_text(st, 1));
	if (rc != SQLITE_DONE) {
		md_free(ns);
		return md_sql_error(db->sql, rc, err, "namespace labels");
	}
	*out = ns;
	return 0;
}

int md_namespace_list(struct md_db *db, Namespace ***out, size_t *n, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LIST, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	Namespace **list = NULL, *cur = NULL;
	size_t n_list = 0, cap = 0, cap_labels = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = md_col_text(st, 0);
		if (cur == NULL || strcmp(cur->name, name) != 0) {
			cur = ns_new(name);
			cap_labels = 0;
			md_array_push((void ***)&list, &n_list, &cap, cur);
		}
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			ns_add_label(cur, &cap_labels, md_col_text(st, 1), md_col_text(st, 2));
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, "list namespaces");
	}
	*out = list;
	*n = n_list;
	return 0;
}

/* --- update ------------------------------------------------------------------ */

struct update_args {
	const char *name;
	const struct md_kv *labels;
	size_t n_labels;
	const char *const *paths;
	size_t n_paths;
};

static int do_update(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct update_args *a = arg;
	int r = md_namespace_ensure(db, a->name, err);
	if (r < 0)
		return r;
	if (a->n_paths == 0) {
		if ((r = clear_labels(db, a->name, err)) < 0)
			return r;
		return put_labels(db, a->name, a->labels, a->n_labels, err);
	}
	for (size_t i = 0; i < a->n_paths; i++) {
		const char *path = a->paths[i] ? a->paths[i] : "";
		if (strncmp(path, "labels.", 7) == 0) {
			const char *key = path + 7;
			r = put_label(db, a->name, key, md_kv_lookup(a->labels, a->n_labels, key), err);
		} else if (strcmp(path, "labels") == 0) {
			/* Not in containerd 1.6 (which rejects it): replaces all labels. */
			if ((r = clear_labels(db, a->name, err)) == 0)
				r = put_labels(db, a->name, a->labels, a->n_labels, err);
		} else {
			autofree char *q = go_quote(path);
			r = error_set(err, UCD_INVALID_ARGUMENT, 0, "cannot update %s field", q);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int md_namespace_update(struct md_db *db, const char *name, const struct md_kv *labels, size_t n_labels,
			const char *const *paths, size_t n_paths, Namespace **out, struct ucd_error **err)
{
	struct update_args a = { name ? name : "", labels, n_labels, paths, n_paths };
	int r = md_begin(db, err);
	if (r < 0)
		return r;
	if ((r = do_update(db, &a, err)) < 0 || (out && (r = md_namespace_get(db, a.name, out, err)) < 0)) {
		md_rollback(db);
		return r;
	}
	if ((r = md_commit(db, err)) < 0 && out) {
		md_free(*out);
		*out = NULL;
	}
	return r;
}

/* --- delete ------------------------------------------------------------------ */

static int has_rows(struct md_db *db, const char *sql, const char *ns, bool *yes, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "namespace contents");
	*yes = rc == SQLITE_ROW;
	return 0;
}

static int do_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	const char *name = arg;
	autofree char *q = go_quote(name);
	/* containerd's order: images, blobs, containers, snapshots on "x"
	 * snapshotter (one entry per snapshotter). */
	bool images, blobs, containers;
	int r;
	if ((r = has_rows(db, SQL_HAS_IMAGES, name, &images, err)) < 0 ||
	    (r = has_rows(db, SQL_HAS_BLOBS, name, &blobs, err)) < 0 ||
	    (r = has_rows(db, SQL_HAS_CONTAINERS, name, &containers, err)) < 0)
		return r;
	const char *kinds[4];
	size_t n_kinds = 0;
	if (images)
		kinds[n_kinds++] = "images";
	if (blobs)
		kinds[n_kinds++] = "blobs";
	if (containers)
		kinds[n_kinds++] = "containers";
	autofree char *snapshots = NULL;   /* "snapshots on \"x\" snapshotter, ..." */
	if ((r = md_snapshot_ns_in_use(db, name, &snapshots, err)) < 0)
		return r;
	if (snapshots != NULL)
		kinds[n_kinds++] = snapshots;
	if (n_kinds > 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "namespace %s must be empty, but it still has %s%s%s%s%s%s%s: failed precondition", q,
				 kinds[0], n_kinds > 1 ? ", " : "", n_kinds > 1 ? kinds[1] : "",
				 n_kinds > 2 ? ", " : "", n_kinds > 2 ? kinds[2] : "",
				 n_kinds > 3 ? ", " : "", n_kinds > 3 ? kinds[3] : "");
	{
		md_autoreset sqlite3_stmt *in = md_stmt(db, SQL_NS_INGESTS_DELETE, err);
		if (in == NULL)
			return -UCD_INTERNAL;
		md_bind_text(in, 1, name);
		if ((r = md_step_done(db, in, err)) < 0)
			return r;
	}
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NS_DELETE, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, name);
	if ((r = md_step_done(db, st, err)) < 0)
		return r;
	if (sqlite3_changes(db->sql) == 0)
		return error_set(err, UCD_NOT_FOUND, 0, "namespace %s: not found", q);
	return 0;
}

int md_namespace_delete(struct md_db *db, const char *name, struct ucd_error **err)
{
	return md_in_tx(db, do_delete, (void *)(name ? name : ""), err);
}
