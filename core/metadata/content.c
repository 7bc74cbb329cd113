/* Which blobs each namespace sees, and the ingests it has open
 * (containerd's metadata/content.go). The content plugin keeps one flat
 * store; these rows are the per-namespace view over it. */
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Content__V1__Info Info;

static const char SQL_GET[] =
	"SELECT c.size, c.created_at, c.updated_at, l.key, l.value FROM content c "
	"LEFT JOIN content_labels l ON l.namespace = c.namespace AND l.digest = c.digest "
	"WHERE c.namespace = ?1 AND c.digest = ?2 ORDER BY l.key";
static const char SQL_LIST[] =
	"SELECT c.digest, c.size, c.created_at, c.updated_at, l.key, l.value FROM content c "
	"LEFT JOIN content_labels l ON l.namespace = c.namespace AND l.digest = c.digest "
	"WHERE c.namespace = ?1 ORDER BY c.digest, l.key";
static const char SQL_EXISTS[] = "SELECT 1 FROM content WHERE namespace = ?1 AND digest = ?2";
static const char SQL_INSERT[] =
	"INSERT INTO content(namespace, digest, size, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) "
	"ON CONFLICT(namespace, digest) DO NOTHING";
static const char SQL_TOUCH[] = "UPDATE content SET updated_at = ?3 WHERE namespace = ?1 AND digest = ?2";
static const char SQL_DELETE[] = "DELETE FROM content WHERE namespace = ?1 AND digest = ?2";
static const char SQL_LABELS_CLEAR[] = "DELETE FROM content_labels WHERE namespace = ?1 AND digest = ?2";
static const char SQL_LABEL_PUT[] =
	"INSERT INTO content_labels(namespace, digest, key, value) VALUES (?1, ?2, ?3, ?4) "
	"ON CONFLICT(namespace, digest, key) DO UPDATE SET value = excluded.value";
static const char SQL_LABEL_DEL[] = "DELETE FROM content_labels WHERE namespace = ?1 AND digest = ?2 AND key = ?3";
static const char SQL_REFERENCED[] =
	"SELECT EXISTS (SELECT 1 FROM content WHERE digest = ?1) OR "
	"EXISTS (SELECT 1 FROM ingests WHERE expected = ?1)";

static const char SQL_INGEST_GET[] =
	"SELECT ref, backend_ref, expected, total, created_at FROM ingests WHERE namespace = ?1 AND ref = ?2";
static const char SQL_INGEST_LIST_NS[] =
	"SELECT ref, backend_ref, expected, total, created_at FROM ingests WHERE namespace = ?1 ORDER BY ref";
static const char SQL_INGEST_LIST_ALL[] =
	"SELECT ref, backend_ref, expected, total, created_at FROM ingests ORDER BY namespace, ref";
static const char SQL_INGEST_INSERT[] =
	"INSERT INTO ingests(namespace, ref, backend_ref, expected, total, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_INGEST_UPDATE[] =
	"UPDATE ingests SET expected = ?3, total = ?4 WHERE namespace = ?1 AND ref = ?2";
static const char SQL_INGEST_DELETE[] = "DELETE FROM ingests WHERE namespace = ?1 AND ref = ?2";
static const char SQL_INGEST_BY_BACKEND[] = "SELECT namespace, ref FROM ingests WHERE backend_ref = ?1";
/* One counter for every namespace: a backend ref is never handed out twice. */
static const char SQL_NEXT_SEQ[] =
	"INSERT INTO sequences(name, value) VALUES ('ingests', 1) "
	"ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value";

static const char *str(const char *s)
{
	return s ? s : "";
}

static int not_found(const char *digest, struct ucd_error **err)
{
	return error_set(err, UCD_NOT_FOUND, 0, "content digest %s: not found", digest);
}

static int check_digest(const char *digest, struct ucd_error **err)
{
	const char *why = md_digest_error(digest);
	if (why == NULL)
		return 0;
	autofree char *q = go_quote(digest);
	return error_set(err, UCD_INVALID_ARGUMENT, 0, "digest %s: %s: invalid argument", q, why);
}

static int validate_labels(const struct md_kv *labels, size_t n, struct ucd_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (md_validate_label(str(labels[i].key), str(labels[i].value), err) < 0)
			return error_wrap(err, "info.Labels");
	return 0;
}

/* --- read ---------------------------------------------------------------------- */

static Info *info_new(const char *digest, int64_t size, int64_t created, int64_t updated)
{
	Info *i = xmalloc(sizeof *i);
	containerd__services__content__v1__info__init(i);
	i->digest = xstrdup(digest);
	i->size = size;
	i->created_at = md_timestamp_new(created);
	i->updated_at = md_timestamp_new(updated);
	return i;
}

static void info_add_label(Info *i, size_t *cap, const char *key, const char *value)
{
	md_array_push((void ***)&i->labels, &i->n_labels, cap,
		      md_entry_new(&containerd__services__content__v1__info__labels_entry__descriptor, key, value));
}

int md_content_get(struct md_db *db, const char *ns, const char *digest, Info **out, struct ucd_error **err)
{
	digest = str(digest);
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_GET, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, digest);
	Info *info = NULL;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (info == NULL)
			info = info_new(digest, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
					sqlite3_column_int64(st, 2));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			info_add_label(info, &cap, md_col_text(st, 3), md_col_text(st, 4));
	}
	if (rc != SQLITE_DONE) {
		md_free(info);
		return md_sql_error(db->sql, rc, err, "get content");
	}
	if (info == NULL)
		return not_found(digest, err);
	*out = info;
	return 0;
}

int md_content_exists(struct md_db *db, const char *ns, const char *digest, bool *exists, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_EXISTS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, digest);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "content lookup");
	*exists = rc == SQLITE_ROW;
	return 0;
}

int md_content_list(struct md_db *db, const char *ns, md_match_fn match, void *arg, Info ***out, size_t *n,
		    struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LIST, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	Info **list = NULL, *cur = NULL;
	size_t n_list = 0, cap = 0, cap_labels = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *digest = md_col_text(st, 0);
		if (cur == NULL || strcmp(cur->digest, digest) != 0) {
			cur = info_new(digest, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				       sqlite3_column_int64(st, 3));
			cap_labels = 0;
			md_array_push((void ***)&list, &n_list, &cap, cur);
		}
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			info_add_label(cur, &cap_labels, md_col_text(st, 4), md_col_text(st, 5));
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, "list content");
	}
	n_list = md_keep_matching((void **)list, n_list, match, arg);
	*out = list;
	*n = n_list;
	return 0;
}

int md_content_referenced(struct md_db *db, const char *digest, bool *yes, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_REFERENCED, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, digest);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "content references");
	*yes = sqlite3_column_int(st, 0) != 0;
	return 0;
}

/* --- write ----------------------------------------------------------------------- */

static int run_keyed(struct md_db *db, const char *sql, const char *ns, const char *digest, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, digest);
	return md_step_done(db, st, err);
}

/* Sets one label; an empty value removes it (bolt never stores those). */
static int put_label(struct md_db *db, const char *ns, const char *digest, const char *key, const char *value,
		     struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, value[0] ? SQL_LABEL_PUT : SQL_LABEL_DEL, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, digest);
	md_bind_text(st, 3, key);
	if (value[0])
		md_bind_text(st, 4, value);
	return md_step_done(db, st, err);
}

static int replace_labels(struct md_db *db, const char *ns, const char *digest, const struct md_kv *labels, size_t n,
			  struct ucd_error **err)
{
	int r = run_keyed(db, SQL_LABELS_CLEAR, ns, digest, err);
	/* in order: the last value of a repeated key wins, as in a Go map */
	for (size_t i = 0; r == 0 && i < n; i++)
		r = put_label(db, ns, digest, str(labels[i].key), str(labels[i].value), err);
	return r;
}

struct put_args {
	const char *ns, *digest;
	int64_t size;
	const struct md_kv *labels;
	size_t n_labels;
	int created;
};

static int do_put(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct put_args *a = arg;
	int r;
	if ((r = check_digest(a->digest, err)) < 0 || (r = validate_labels(a->labels, a->n_labels, err)) < 0 ||
	    (r = md_namespace_ensure(db, a->ns, err)) < 0)
		return r;
	{
		md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INSERT, err);
		if (st == NULL)
			return -UCD_INTERNAL;
		md_bind_text(st, 1, a->ns);
		md_bind_text(st, 2, a->digest);
		sqlite3_bind_int64(st, 3, a->size);
		sqlite3_bind_int64(st, 4, md_now());
		if ((r = md_step_done(db, st, err)) < 0)
			return r;
		a->created = sqlite3_changes(db->sql) > 0;
	}
	if (a->labels == NULL)
		return 0;
	return replace_labels(db, a->ns, a->digest, a->labels, a->n_labels, err);
}

int md_content_put(struct md_db *db, const char *ns, const char *digest, int64_t size, const struct md_kv *labels,
		   size_t n_labels, struct ucd_error **err)
{
	struct put_args a = { str(ns), str(digest), size, labels, labels ? n_labels : 0, 0 };
	int r = md_in_tx(db, do_put, &a, err);
	return r < 0 ? r : a.created;
}

struct update_args {
	const char *ns, *digest;
	const struct md_kv *labels;
	size_t n_labels;
	const char *const *paths;
	size_t n_paths;
};

static int do_update(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct update_args *a = arg;
	bool exists;
	int r = md_content_exists(db, a->ns, a->digest, &exists, err);
	if (r < 0)
		return r;
	if (!exists)
		return not_found(a->digest, err);
	bool replace = a->n_paths == 0;
	for (size_t i = 0; i < a->n_paths; i++) {
		const char *path = str(a->paths[i]);
		if (strcmp(path, "labels") == 0) {
			replace = true;
		} else if (strncmp(path, "labels.", 7) != 0) {
			autofree char *qp = go_quote(path);
			autofree char *qd = go_quote(a->digest);
			return error_set(err, UCD_INVALID_ARGUMENT, 0,
					 "cannot update %s field on content info %s: invalid argument", qp, qd);
		}
	}
	/* containerd applies the paths in order onto the stored labels, a full
	 * replacement included, and validates the result. */
	for (size_t i = 0; replace && i < a->n_labels; i++)
		if (md_validate_label(str(a->labels[i].key), str(a->labels[i].value), err) < 0)
			return error_wrap(err, "info.Labels");
	if (a->n_paths == 0)
		r = replace_labels(db, a->ns, a->digest, a->labels, a->n_labels, err);
	for (size_t i = 0; r == 0 && i < a->n_paths; i++) {
		const char *path = str(a->paths[i]);
		if (strcmp(path, "labels") == 0) {
			r = replace_labels(db, a->ns, a->digest, a->labels, a->n_labels, err);
		} else {
			const char *key = path + 7, *value = md_kv_lookup(a->labels, a->n_labels, key);
			if ((r = md_validate_label(key, value, err)) < 0)
				return error_wrap(err, "info.Labels");
			r = put_label(db, a->ns, a->digest, key, value, err);
		}
	}
	if (r < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_TOUCH, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->ns);
	md_bind_text(st, 2, a->digest);
	sqlite3_bind_int64(st, 3, md_now());
	return md_step_done(db, st, err);
}

int md_content_update(struct md_db *db, const char *ns, const char *digest, const struct md_kv *labels,
		      size_t n_labels, const char *const *paths, size_t n_paths, Info **out, struct ucd_error **err)
{
	struct update_args a = { str(ns), str(digest), labels, labels ? n_labels : 0, paths, n_paths };
	int r = md_begin(db, err);
	if (r < 0)
		return r;
	if ((r = check_digest(a.digest, err)) < 0 || (r = do_update(db, &a, err)) < 0 ||
	    (out && (r = md_content_get(db, a.ns, a.digest, out, err)) < 0)) {
		md_rollback(db);
		return r;
	}
	if ((r = md_commit(db, err)) < 0 && out) {
		md_free(*out);
		*out = NULL;
	}
	return r;
}

struct delete_args {
	const char *ns, *digest;
	bool *unreferenced;
};

static int do_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct delete_args *a = arg;
	int r = check_digest(a->digest, err);
	if (r < 0 || (r = md_delete_keyed(db, SQL_DELETE, a->ns, a->digest, err)) < 0)
		return r;
	if (r == 0)
		return not_found(a->digest, err);
	if (a->unreferenced == NULL)
		return 0;
	bool yes;
	if ((r = md_content_referenced(db, a->digest, &yes, err)) < 0)
		return r;
	*a->unreferenced = !yes;
	return 0;
}

int md_content_delete(struct md_db *db, const char *ns, const char *digest, bool *unreferenced, struct ucd_error **err)
{
	struct delete_args a = { str(ns), str(digest), unreferenced };
	return md_in_tx(db, do_delete, &a, err);
}

/* --- ingests ------------------------------------------------------------------------ */

void md_ingest_fini(struct md_ingest *in)
{
	free(in->ref);
	free(in->backend_ref);
	free(in->expected);
	*in = (struct md_ingest){0};
}

void md_ingest_free_array(struct md_ingest *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		md_ingest_fini(&v[i]);
	free(v);
}

static void ingest_from_row(sqlite3_stmt *st, struct md_ingest *out)
{
	out->ref = xstrdup(md_col_text(st, 0));
	out->backend_ref = xstrdup(md_col_text(st, 1));
	out->expected = xstrdup(md_col_text(st, 2));
	out->total = sqlite3_column_int64(st, 3);
	out->created_at = sqlite3_column_int64(st, 4);
}

static int ingest_not_found(const char *ref, struct ucd_error **err)
{
	return error_set(err, UCD_NOT_FOUND, 0, "reference %s: not found", ref);
}

/* 1 with *out filled, 0 when there is no such ingest, or -code. */
static int ingest_lookup(struct md_db *db, const char *ns, const char *ref, struct md_ingest *out,
			 struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INGEST_GET, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, ref);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "get ingest");
	if (out != NULL)
		ingest_from_row(st, out);
	return 1;
}

int md_ingest_get(struct md_db *db, const char *ns, const char *ref, struct md_ingest *out, struct ucd_error **err)
{
	int r = ingest_lookup(db, str(ns), str(ref), out, err);
	if (r == 0)
		return ingest_not_found(str(ref), err);
	return r < 0 ? r : 0;
}

struct ingest_put_args {
	const char *ns, *ref, *expected;
	int64_t total;
	struct md_ingest *out;
	int created;
};

static int next_sequence(struct md_db *db, int64_t *value, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NEXT_SEQ, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "next ingest sequence");
	*value = sqlite3_column_int64(st, 0);
	/* RETURNING: the statement must run to its end to take effect */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	return rc == SQLITE_DONE ? 0 : md_sql_error(db->sql, rc, err, "next ingest sequence");
}

static int do_ingest_put(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct ingest_put_args *a = arg;
	if (a->ref[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "ref must not be empty: invalid argument");
	int r = md_namespace_ensure(db, a->ns, err);
	if (r < 0 || (r = ingest_lookup(db, a->ns, a->ref, NULL, err)) < 0)
		return r;
	a->created = r == 0;
	if (a->created) {
		int64_t seq = 0;
		if ((r = next_sequence(db, &seq, err)) < 0)
			return r;
		autofree char *bref = xasprintf("%s/%lld/%s", a->ns, (long long)seq, a->ref);
		md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INGEST_INSERT, err);
		if (st == NULL)
			return -UCD_INTERNAL;
		md_bind_text(st, 1, a->ns);
		md_bind_text(st, 2, a->ref);
		md_bind_text(st, 3, bref);
		md_bind_text(st, 4, a->expected);
		sqlite3_bind_int64(st, 5, a->total);
		sqlite3_bind_int64(st, 6, md_now());
		if ((r = md_step_done(db, st, err)) < 0)
			return r;
	} else {
		md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INGEST_UPDATE, err);
		if (st == NULL)
			return -UCD_INTERNAL;
		md_bind_text(st, 1, a->ns);
		md_bind_text(st, 2, a->ref);
		md_bind_text(st, 3, a->expected);
		sqlite3_bind_int64(st, 4, a->total);
		if ((r = md_step_done(db, st, err)) < 0)
			return r;
	}
	return a->out ? md_ingest_get(db, a->ns, a->ref, a->out, err) : 0;
}

int md_ingest_put(struct md_db *db, const char *ns, const char *ref, const char *expected, int64_t total,
		  struct md_ingest *out, struct ucd_error **err)
{
	struct ingest_put_args a = { str(ns), str(ref), str(expected), total, out, 0 };
	int r = md_in_tx(db, do_ingest_put, &a, err);
	return r < 0 ? r : a.created;
}

struct ingest_delete_args {
	const char *ns, *ref;
	struct md_ingest *out;
};

static int do_ingest_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct ingest_delete_args *a = arg;
	int r = ingest_lookup(db, a->ns, a->ref, a->out, err);
	if (r <= 0)
		return r < 0 ? r : ingest_not_found(a->ref, err);
	r = md_delete_keyed(db, SQL_INGEST_DELETE, a->ns, a->ref, err);
	if (r < 0 && a->out != NULL)
		md_ingest_fini(a->out);
	return r < 0 ? r : 0;
}

int md_ingest_delete(struct md_db *db, const char *ns, const char *ref, struct md_ingest *out, struct ucd_error **err)
{
	struct ingest_delete_args a = { str(ns), str(ref), out };
	return md_in_tx(db, do_ingest_delete, &a, err);
}

int md_ingest_list(struct md_db *db, const char *ns, struct md_ingest **out, size_t *n, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, ns ? SQL_INGEST_LIST_NS : SQL_INGEST_LIST_ALL, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	if (ns != NULL)
		md_bind_text(st, 1, ns);
	struct md_ingest *v = NULL;
	size_t n_v = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n_v == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof *v);
		}
		ingest_from_row(st, &v[n_v++]);
	}
	if (rc != SQLITE_DONE) {
		md_ingest_free_array(v, n_v);
		return md_sql_error(db->sql, rc, err, "list ingests");
	}
	*out = v;
	*n = n_v;
	return 0;
}

int md_ingest_by_backend(struct md_db *db, const char *backend_ref, char **ns_out, char **ref_out,
			 struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INGEST_BY_BACKEND, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, backend_ref);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "ingest by backend ref");
	if (ns_out != NULL)
		*ns_out = xstrdup(md_col_text(st, 0));
	if (ref_out != NULL)
		*ref_out = xstrdup(md_col_text(st, 1));
	return 1;
}
