/* Leases and their resources (containerd's metadata/leases.go). */
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Leases__V1__Lease Lease;
typedef Containerd__Services__Leases__V1__Resource Resource;

static const char SQL_EXISTS[] = "SELECT created_at FROM leases WHERE namespace = ?1 AND id = ?2";
static const char SQL_INSERT[] =
	"INSERT INTO leases(namespace, id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_LABEL_PUT[] =
	"INSERT INTO lease_labels(namespace, lease, key, value) VALUES (?1, ?2, ?3, ?4) "
	"ON CONFLICT(namespace, lease, key) DO UPDATE SET value = excluded.value";
static const char SQL_LABEL_DEL[] = "DELETE FROM lease_labels WHERE namespace = ?1 AND lease = ?2 AND key = ?3";
static const char SQL_LIST[] =
	"SELECT l.id, l.created_at, b.key, b.value FROM leases l "
	"LEFT JOIN lease_labels b ON b.namespace = l.namespace AND b.lease = l.id "
	"WHERE l.namespace = ?1 AND (?2 IS NULL OR l.id = ?2) ORDER BY l.id, b.key";
static const char SQL_DELETE[] = "DELETE FROM leases WHERE namespace = ?1 AND id = ?2";
static const char SQL_RES_ADD[] =
	"INSERT INTO lease_resources(namespace, lease, kind, snapshotter, id) VALUES (?1, ?2, ?3, ?4, ?5) "
	"ON CONFLICT DO NOTHING";
static const char SQL_RES_DEL[] =
	"DELETE FROM lease_resources WHERE namespace = ?1 AND lease = ?2 AND kind = ?3 AND snapshotter = ?4 "
	"AND id = ?5";
static const char SQL_RES_LIST[] =
	"SELECT kind, snapshotter, id FROM lease_resources WHERE namespace = ?1 AND lease = ?2 "
	"ORDER BY kind, snapshotter, id";
static const char SQL_EXPIRE_NS[] =
	"DELETE FROM leases WHERE expires_at IS NOT NULL AND expires_at < ?1 AND namespace = ?2";
static const char SQL_EXPIRE_ALL[] = "DELETE FROM leases WHERE expires_at IS NOT NULL AND expires_at < ?1";
static const char SQL_NEXT_EXPIRY[] = "SELECT min(expires_at) FROM leases WHERE expires_at IS NOT NULL";

static const char *str(const char *s)
{
	return s ? s : "";
}

static int not_found(const char *id, struct ucd_error **err)
{
	autofree char *q = go_quote(id);
	return error_set(err, UCD_NOT_FOUND, 0, "lease %s: not found", q);
}

/* 1 if the lease exists, 0 if not, or -code. */
static int lease_exists(struct md_db *db, const char *ns, const char *id, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_EXISTS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return md_sql_error(db->sql, rc, err, "lease lookup");
}

/* --- create ------------------------------------------------------------------ */

struct create_args {
	const char *ns, *id;
	const struct md_kv *labels;
	size_t n_labels;
	Lease **out;
};

static int do_create(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct create_args *a = arg;
	int r = md_namespace_ensure(db, a->ns, err);
	if (r < 0)
		return r;
	if ((r = lease_exists(db, a->ns, a->id, err)) != 0) {
		if (r < 0)
			return r;
		autofree char *q = go_quote(a->id);
		return error_set(err, UCD_ALREADY_EXISTS, 0, "lease %s: already exists", q);
	}
	/* The last value of a key wins, as in the Go map containerd builds. */
	const char *expire = NULL;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(str(a->labels[i].key), MD_LABEL_GC_EXPIRE) == 0)
			expire = str(a->labels[i].value);
	int64_t expires_at;
	bool expires = expire != NULL && md_parse_rfc3339(expire, &expires_at);

	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INSERT, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->ns);
	md_bind_text(st, 2, a->id);
	sqlite3_bind_int64(st, 3, md_now());
	if (expires)
		sqlite3_bind_int64(st, 4, expires_at);
	else
		sqlite3_bind_null(st, 4);
	if ((r = md_step_done(db, st, err)) < 0)
		return r;
	for (size_t i = 0; i < a->n_labels; i++) {
		const char *v = str(a->labels[i].value);
		md_autoreset sqlite3_stmt *ls = md_stmt(db, v[0] ? SQL_LABEL_PUT : SQL_LABEL_DEL, err);
		if (ls == NULL)
			return -UCD_INTERNAL;
		md_bind_text(ls, 1, a->ns);
		md_bind_text(ls, 2, a->id);
		md_bind_text(ls, 3, a->labels[i].key);
		if (v[0])
			md_bind_text(ls, 4, v);
		if ((r = md_step_done(db, ls, err)) < 0)
			return r;
	}
	if (a->out == NULL)
		return 0;
	return md_lease_get(db, a->ns, a->id, a->out, err);
}

int md_lease_create(struct md_db *db, const char *ns, const char *id, const struct md_kv *labels, size_t n_labels,
		    Lease **out, struct ucd_error **err)
{
	if (str(id)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "lease id must be provided");
	struct create_args a = { str(ns), id, labels, n_labels, out };
	return md_in_tx(db, do_create, &a, err);
}

/* --- get / list -------------------------------------------------------------- */

static Lease *lease_new(const char *id, int64_t created)
{
	Lease *l = xmalloc(sizeof *l);
	containerd__services__leases__v1__lease__init(l);
	l->id = xstrdup(id);
	l->created_at = md_timestamp_new(created);
	return l;
}

/* Leases of `ns` (only `id` when not NULL). */
static int query(struct md_db *db, const char *ns, const char *id, md_match_fn match, void *arg, Lease ***out,
		 size_t *n, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LIST, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	if (id != NULL)
		md_bind_text(st, 2, id);
	Lease **list = NULL, *cur = NULL;
	size_t n_list = 0, cap = 0, cap_labels = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *lid = md_col_text(st, 0);
		if (cur == NULL || strcmp(cur->id, lid) != 0) {
			cur = lease_new(lid, sqlite3_column_int64(st, 1));
			cap_labels = 0;
			md_array_push((void ***)&list, &n_list, &cap, cur);
		}
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			md_array_push((void ***)&cur->labels, &cur->n_labels, &cap_labels,
				      md_entry_new(&containerd__services__leases__v1__lease__labels_entry__descriptor,
						   md_col_text(st, 2), md_col_text(st, 3)));
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, "list leases");
	}
	n_list = md_keep_matching((void **)list, n_list, match, arg);
	*out = list;
	*n = n_list;
	return 0;
}

int md_lease_get(struct md_db *db, const char *ns, const char *id, Lease **out, struct ucd_error **err)
{
	Lease **list = NULL;
	size_t n = 0;
	int r = query(db, str(ns), str(id), NULL, NULL, &list, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		free(list);
		return not_found(str(id), err);
	}
	*out = list[0];
	free(list);
	return 0;
}

int md_lease_list(struct md_db *db, const char *ns, md_match_fn match, void *arg, Lease ***out, size_t *n,
		  struct ucd_error **err)
{
	return query(db, str(ns), NULL, match, arg, out, n, err);
}

/* --- delete ------------------------------------------------------------------ */

struct key_args {
	const char *ns, *id;
};

static int do_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct key_args *a = arg;
	int r = md_delete_keyed(db, SQL_DELETE, a->ns, a->id, err);
	if (r == 0)
		return not_found(a->id, err);
	return r < 0 ? r : 0;
}

int md_lease_delete(struct md_db *db, const char *ns, const char *id, struct ucd_error **err)
{
	struct key_args a = { str(ns), str(id) };
	return md_in_tx(db, do_delete, &a, err);
}

/* --- resources ----------------------------------------------------------------- */

struct resource {
	const char *kind;
	char *snapshotter;   /* owned; "" unless kind is snapshots */
};

/* containerd's parseLeaseResource */
static int parse_resource(const char *type, const char *rid, struct resource *res, struct ucd_error **err)
{
	const char *slash = strchr(type, '/');
	size_t head = slash ? (size_t)(slash - type) : strlen(type);
	res->snapshotter = NULL;
	if ((head == 7 && strncmp(type, "content", 7) == 0) || (head == 7 && strncmp(type, "ingests", 7) == 0)) {
		if (slash != NULL)
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "invalid resource type %s: invalid argument", type);
		res->kind = type[0] == 'c' ? "content" : "ingests";
		if (type[0] == 'c') {
			const char *why = md_digest_error(rid);
			if (why != NULL)
				return error_set(err, UCD_INVALID_ARGUMENT, 0,
						 "invalid content resource id %s: %s: invalid argument", rid, why);
		}
	} else if (head == 9 && strncmp(type, "snapshots", 9) == 0) {
		/* exactly two parts; an empty snapshotter name is refused too */
		if (slash == NULL || strchr(slash + 1, '/') != NULL || slash[1] == '\0')
			return error_set(err, UCD_INVALID_ARGUMENT, 0, "invalid snapshot resource type %s: invalid argument",
					 type);
		res->kind = "snapshots";
		res->snapshotter = xstrdup(slash + 1);
	} else {
		return error_set(err, UCD_UNIMPLEMENTED, 0, "resource type %s not supported yet: not implemented", type);
	}
	if (rid[0] == '\0')   /* bolt's ErrKeyRequired */
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "key required");
	return 0;
}

struct resource_args {
	const char *ns, *id, *type, *rid;
	const char *sql;
};

static int do_resource(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct resource_args *a = arg;
	int r = lease_exists(db, a->ns, a->id, err);
	if (r <= 0)
		return r < 0 ? r : not_found(a->id, err);
	struct resource res = {0};
	r = parse_resource(a->type, a->rid, &res, err);
	autofree char *snapshotter = res.snapshotter;
	if (r < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, a->sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->ns);
	md_bind_text(st, 2, a->id);
	md_bind_text(st, 3, res.kind);
	md_bind_text(st, 4, snapshotter ? snapshotter : "");
	md_bind_text(st, 5, a->rid);
	return md_step_done(db, st, err);
}

int md_lease_add_resource(struct md_db *db, const char *ns, const char *id, const char *type, const char *rid,
			  struct ucd_error **err)
{
	struct resource_args a = { str(ns), str(id), str(type), str(rid), SQL_RES_ADD };
	return md_in_tx(db, do_resource, &a, err);
}

int md_lease_delete_resource(struct md_db *db, const char *ns, const char *id, const char *type, const char *rid,
			     struct ucd_error **err)
{
	struct resource_args a = { str(ns), str(id), str(type), str(rid), SQL_RES_DEL };
	return md_in_tx(db, do_resource, &a, err);
}

int md_lease_list_resources(struct md_db *db, const char *ns, const char *id, Resource ***out, size_t *n,
			    struct ucd_error **err)
{
	ns = str(ns);
	id = str(id);
	int r = lease_exists(db, ns, id, err);
	if (r <= 0)
		return r < 0 ? r : not_found(id, err);
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_RES_LIST, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, id);
	Resource **list = NULL;
	size_t n_list = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Resource *res = xmalloc(sizeof *res);
		containerd__services__leases__v1__resource__init(res);
		const char *kind = md_col_text(st, 0);
		res->type = strcmp(kind, "snapshots") == 0 ? xasprintf("snapshots/%s", md_col_text(st, 1))
							   : xstrdup(kind);
		res->id = xstrdup(md_col_text(st, 2));
		md_array_push((void ***)&list, &n_list, &cap, res);
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, "list lease resources");
	}
	*out = list;
	*n = n_list;
	return 0;
}

/* --- expiry ---------------------------------------------------------------------- */

int md_lease_delete_expired(struct md_db *db, const char *ns, int64_t now, size_t *n_deleted, struct ucd_error **err)
{
	int r = md_begin(db, err);
	if (r < 0)
		return r;
	{
		md_autoreset sqlite3_stmt *st = md_stmt(db, ns ? SQL_EXPIRE_NS : SQL_EXPIRE_ALL, err);
		if (st == NULL) {
			md_rollback(db);
			return -UCD_INTERNAL;
		}
		sqlite3_bind_int64(st, 1, now);
		if (ns != NULL)
			md_bind_text(st, 2, ns);
		if ((r = md_step_done(db, st, err)) < 0) {
			md_rollback(db);
			return r;
		}
		if (n_deleted != NULL)
			*n_deleted = (size_t)sqlite3_changes(db->sql);
	}
	return md_commit(db, err);
}

int md_lease_next_expiry(struct md_db *db, int64_t *at, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NEXT_EXPIRY, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "next lease expiry");
	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		return 0;
	*at = sqlite3_column_int64(st, 0);
	return 1;
}
