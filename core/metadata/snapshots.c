/* Snapshots as each namespace sees them (containerd's metadata/snapshot.go):
 * rows of the tables snapshots and snapshot_labels (schema.c, version 2),
 * and the sequence that names them in the snapshotter plugin. The plugin
 * calls themselves are the Snapshots service's (core/services/snapshots.c). */
#include <inttypes.h>
#include <string.h>

#include <ucontainerd/snapshotter.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/quote.h"

static const char SQL_LOOKUP[] =
	"SELECT backend_key, parent, kind FROM snapshots WHERE snapshotter = ?1 AND namespace = ?2 AND key = ?3";
static const char SQL_STAT[] =
	"SELECT s.key, s.parent, s.kind, s.created_at, s.updated_at, l.label, l.value FROM snapshots s "
	"LEFT JOIN snapshot_labels l ON l.snapshotter = s.snapshotter AND l.namespace = s.namespace AND l.key = s.key "
	"WHERE s.snapshotter = ?1 AND s.namespace = ?2 AND s.key = ?3 ORDER BY l.label";
static const char SQL_LIST[] =
	"SELECT s.key, s.parent, s.kind, s.created_at, s.updated_at, l.label, l.value FROM snapshots s "
	"LEFT JOIN snapshot_labels l ON l.snapshotter = s.snapshotter AND l.namespace = s.namespace AND l.key = s.key "
	"WHERE s.snapshotter = ?1 AND s.namespace = ?2 ORDER BY s.key, l.label";
static const char SQL_INSERT[] =
	"INSERT INTO snapshots(snapshotter, namespace, key, backend_key, parent, kind, created_at, updated_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";
static const char SQL_DELETE[] = "DELETE FROM snapshots WHERE snapshotter = ?1 AND namespace = ?2 AND key = ?3";
static const char SQL_TOUCH[] =
	"UPDATE snapshots SET updated_at = ?4 WHERE snapshotter = ?1 AND namespace = ?2 AND key = ?3";
/* `parent != ''` lets sqlite use the partial index snapshots_by_parent. */
static const char SQL_HAS_CHILD[] =
	"SELECT 1 FROM snapshots WHERE snapshotter = ?1 AND namespace = ?2 AND parent = ?3 AND parent != '' LIMIT 1";
static const char SQL_LABEL_PUT[] =
	"INSERT INTO snapshot_labels(snapshotter, namespace, key, label, value) VALUES (?1, ?2, ?3, ?4, ?5) "
	"ON CONFLICT(snapshotter, namespace, key, label) DO UPDATE SET value = excluded.value";
static const char SQL_LABEL_DEL[] =
	"DELETE FROM snapshot_labels WHERE snapshotter = ?1 AND namespace = ?2 AND key = ?3 AND label = ?4";
static const char SQL_LABEL_CLEAR[] =
	"DELETE FROM snapshot_labels WHERE snapshotter = ?1 AND namespace = ?2 AND key = ?3";
static const char SQL_SEQ_ADVANCE[] =
	"INSERT INTO sequences(name, value) VALUES (?1, ?2) "
	"ON CONFLICT(name) DO UPDATE SET value = value + ?2 RETURNING value";
static const char SQL_WALK[] =
	"SELECT snapshotter, namespace, key, backend_key, parent, kind, created_at, updated_at FROM snapshots "
	"WHERE (?1 IS NULL OR snapshotter = ?1) AND (?2 IS NULL OR namespace = ?2) "
	"ORDER BY snapshotter, namespace, key";
static const char SQL_BACKEND_REF[] = "SELECT 1 FROM snapshots WHERE snapshotter = ?1 AND backend_key = ?2";
static const char SQL_NS_SNAPSHOTTERS[] =
	"SELECT DISTINCT snapshotter FROM snapshots WHERE namespace = ?1 ORDER BY snapshotter";

/* containerd labels a snapshot it prepares for an image layer with the
 * layer's chain id here; a snapshot of that name must not exist yet. */
#define LABEL_SNAPSHOT_REF "containerd.io/snapshot.ref"

static const char *str(const char *s)
{
	return s ? s : "";
}

static void bind3(sqlite3_stmt *st, const char *sn, const char *ns, const char *key)
{
	md_bind_text(st, 1, sn);
	md_bind_text(st, 2, ns);
	md_bind_text(st, 3, key);
}

static int not_found(const char *key, struct ucd_error **err)
{
	return error_set(err, UCD_NOT_FOUND, 0, "snapshot %s does not exist: not found", key);
}

static int already_exists(const char *key, struct ucd_error **err)
{
	autofree char *q = go_quote(key);
	return error_set(err, UCD_ALREADY_EXISTS, 0, "snapshot %s: already exists", q);
}

/* containerd's validateSnapshot. */
static int validate_labels(const struct md_kv *labels, size_t n, struct ucd_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (md_validate_label(str(labels[i].key), str(labels[i].value), err) < 0)
			return error_wrap(err, "info.Labels");
	return 0;
}

/* --- rows ---------------------------------------------------------------------- */

void md_snapshot_ref_fini(struct md_snapshot_ref *r)
{
	free(r->backend_key);
	free(r->parent);
	r->backend_key = r->parent = NULL;
}

int md_snapshot_lookup(struct md_db *db, const char *sn, const char *ns, const char *key, struct md_snapshot_ref *out,
		       struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LOOKUP, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, sn, ns, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "snapshot lookup");
	if (out != NULL) {
		out->backend_key = xstrdup(md_col_text(st, 0));
		out->parent = xstrdup(md_col_text(st, 1));
		out->kind = sqlite3_column_int(st, 2);
	}
	return 1;
}

static int exists(struct md_db *db, const char *sn, const char *ns, const char *key, struct ucd_error **err)
{
	return md_snapshot_lookup(db, sn, ns, key, NULL, err);
}

/* --- reading Info ---------------------------------------------------------------- */

static MdSnapshotInfo *info_new(sqlite3_stmt *st)
{
	MdSnapshotInfo *i = xmalloc(sizeof *i);
	containerd__services__snapshots__v1__info__init(i);
	i->name = xstrdup(md_col_text(st, 0));
	i->parent = xstrdup(md_col_text(st, 1));
	i->kind = (Containerd__Services__Snapshots__V1__Kind)sqlite3_column_int(st, 2);
	i->created_at = md_timestamp_new(sqlite3_column_int64(st, 3));
	i->updated_at = md_timestamp_new(sqlite3_column_int64(st, 4));
	return i;
}

static void info_add_label(MdSnapshotInfo *i, size_t *cap, sqlite3_stmt *st)
{
	if (sqlite3_column_type(st, 5) == SQLITE_NULL)
		return;
	md_array_push((void ***)&i->labels, &i->n_labels, cap,
		      md_entry_new(&containerd__services__snapshots__v1__info__labels_entry__descriptor,
				   md_col_text(st, 5), md_col_text(st, 6)));
}

int md_snapshot_stat(struct md_db *db, const char *sn, const char *ns, const char *key, MdSnapshotInfo **out,
		     struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_STAT, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, sn, ns, key);
	MdSnapshotInfo *info = NULL;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (info == NULL)
			info = info_new(st);
		info_add_label(info, &cap, st);
	}
	if (rc != SQLITE_DONE) {
		md_free(info);
		return md_sql_error(db->sql, rc, err, "stat snapshot");
	}
	if (info == NULL)
		return not_found(str(key), err);
	*out = info;
	return 0;
}

int md_snapshot_list(struct md_db *db, const char *sn, const char *ns, md_match_fn match, void *arg,
		     MdSnapshotInfo ***out, size_t *n, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_LIST, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, sn);
	md_bind_text(st, 2, ns);
	MdSnapshotInfo **list = NULL, *cur = NULL;
	size_t n_list = 0, cap = 0, cap_labels = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cur == NULL || strcmp(cur->name, md_col_text(st, 0)) != 0) {
			cur = info_new(st);
			cap_labels = 0;
			md_array_push((void ***)&list, &n_list, &cap, cur);
		}
		info_add_label(cur, &cap_labels, st);
	}
	if (rc != SQLITE_DONE) {
		md_free_array(list, n_list);
		return md_sql_error(db->sql, rc, err, "list snapshots");
	}
	n_list = md_keep_matching((void **)list, n_list, match, arg);   /* labels are complete only now */
	*out = list;
	*n = n_list;
	return 0;
}

/* --- labels ------------------------------------------------------------------------ */

/* Sets one label; an empty value removes it (bolt never stores those). */
static int put_label(struct md_db *db, const char *sn, const char *ns, const char *key, const char *label,
		     const char *value, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, value[0] ? SQL_LABEL_PUT : SQL_LABEL_DEL, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, sn, ns, key);
	md_bind_text(st, 4, label);
	if (value[0])
		md_bind_text(st, 5, value);
	return md_step_done(db, st, err);
}

static int put_labels(struct md_db *db, const char *sn, const char *ns, const char *key, const struct md_kv *labels,
		      size_t n, struct ucd_error **err)
{
	for (size_t i = 0; i < n; i++) {
		int r = put_label(db, sn, ns, key, str(labels[i].key), str(labels[i].value), err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int run3(struct md_db *db, const char *sql, const char *sn, const char *ns, const char *key,
		struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, sn, ns, key);
	return md_step_done(db, st, err);
}

/* --- create ---------------------------------------------------------------------------- */

int md_snapshot_check_create(struct md_db *db, const char *sn, const char *ns, const char *key, const char *parent,
			     const char *target, const struct md_kv *labels, size_t n_labels,
			     char **parent_backend_key, struct ucd_error **err)
{
	int r = validate_labels(labels, n_labels, err);
	if (r < 0)
		return r;
	/* containerd's order: target, key, parent. */
	if (target != NULL && target[0] != '\0') {
		if ((r = exists(db, sn, ns, target, err)) < 0)
			return r;
		if (r > 0) {
			autofree char *q = go_quote(target);
			return error_set(err, UCD_ALREADY_EXISTS, 0, "target snapshot %s: already exists", q);
		}
	}
	if ((r = exists(db, sn, ns, key, err)) < 0)
		return r;
	if (r > 0)
		return already_exists(key, err);
	if (str(parent)[0] == '\0') {
		if (parent_backend_key != NULL)
			*parent_backend_key = xstrdup("");
		return 0;
	}
	struct md_snapshot_ref p = { 0 };
	if ((r = md_snapshot_lookup(db, sn, ns, parent, &p, err)) < 0)
		return r;
	if (r == 0)
		return error_set(err, UCD_NOT_FOUND, 0, "parent snapshot %s does not exist: not found", parent);
	if (p.kind != UCD_SNAPSHOT_COMMITTED) {
		/* containerd leaves this to the snapshotter, whose storage says so
		 * with the backend key; here the client's name. */
		md_snapshot_ref_fini(&p);
		autofree char *q = go_quote(parent);
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "parent %s is not committed snapshot: invalid argument",
				 q);
	}
	if (parent_backend_key != NULL)
		*parent_backend_key = steal(p.backend_key);
	md_snapshot_ref_fini(&p);
	return 0;
}

struct seq_args {
	const char *sn;
	int64_t n, *first;
};

static int do_reserve(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct seq_args *a = arg;
	autofree char *name = xasprintf("snapshots/%s", a->sn);
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_SEQ_ADVANCE, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, a->n);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return md_sql_error(db->sql, rc, err, "snapshot sequence");
	*a->first = sqlite3_column_int64(st, 0) - a->n + 1;
	/* RETURNING writes when the statement runs to its end. */
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "snapshot sequence");
	return 0;
}

int md_snapshot_reserve_sequence(struct md_db *db, const char *sn, int64_t n, int64_t *first, struct ucd_error **err)
{
	if (n < 1)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "reserve %lld sequence numbers", (long long)n);
	struct seq_args a = { str(sn), n, first };
	return md_in_tx(db, do_reserve, &a, err);
}

char *md_snapshot_backend_key(const char *ns, int64_t seq, const char *key)
{
	return xasprintf("%s/%" PRId64 "/%s", str(ns), seq, str(key));
}

int md_snapshot_new_backend_key(struct md_db *db, const char *sn, const char *ns, const char *key, char **out,
				struct ucd_error **err)
{
	int64_t seq = 0;
	int r = md_snapshot_reserve_sequence(db, sn, 1, &seq, err);
	if (r == 0)
		*out = md_snapshot_backend_key(ns, seq, key);
	return r;
}

struct create_args {
	const char *sn, *ns, *key, *backend_key, *parent;
	int kind;
	const struct md_kv *labels;
	size_t n_labels;
};

static int insert_row(struct md_db *db, const struct create_args *a, struct ucd_error **err)
{
	int r = md_namespace_ensure(db, a->ns, err);
	if (r < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_INSERT, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, a->sn, a->ns, a->key);
	md_bind_text(st, 4, a->backend_key);
	md_bind_text(st, 5, a->parent);
	sqlite3_bind_int(st, 6, a->kind);
	sqlite3_bind_int64(st, 7, md_now());
	if ((r = md_step_done(db, st, err)) < 0)
		return r;
	return put_labels(db, a->sn, a->ns, a->key, a->labels, a->n_labels, err);
}

static int do_create(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct create_args *a = arg;
	if (a->kind != UCD_SNAPSHOT_ACTIVE && a->kind != UCD_SNAPSHOT_VIEW)
		return error_set(err, UCD_INVALID_ARGUMENT, 0,
				 "snapshot type %d invalid; only snapshots of type Active or View can be created: "
				 "invalid argument",
				 a->kind);
	int r = md_snapshot_check_create(db, a->sn, a->ns, a->key, a->parent, NULL, a->labels, a->n_labels, NULL, err);
	return r < 0 ? r : insert_row(db, a, err);
}

int md_snapshot_create(struct md_db *db, const char *sn, const char *ns, const char *key, const char *backend_key,
		       const char *parent, int kind, const struct md_kv *labels, size_t n_labels,
		       struct ucd_error **err)
{
	struct create_args a = { str(sn), str(ns), str(key), str(backend_key), str(parent), kind, labels, n_labels };
	return md_in_tx(db, do_create, &a, err);
}

/* --- commit ------------------------------------------------------------------------------ */

int md_snapshot_check_commit(struct md_db *db, const char *sn, const char *ns, const char *name, const char *key,
			     const struct md_kv *labels, size_t n_labels, struct md_snapshot_ref *key_ref,
			     struct ucd_error **err)
{
	int r = validate_labels(labels, n_labels, err);
	if (r < 0)
		return r;
	/* containerd's order: the new name, then the active key. */
	if ((r = exists(db, sn, ns, name, err)) < 0)
		return r;
	if (r > 0)
		return already_exists(name, err);
	struct md_snapshot_ref k = { 0 };
	if ((r = md_snapshot_lookup(db, sn, ns, key, &k, err)) < 0)
		return r;
	if (r == 0)
		return not_found(key, err);
	if (k.kind != UCD_SNAPSHOT_ACTIVE) {
		md_snapshot_ref_fini(&k);
		autofree char *q = go_quote(key);
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "snapshot %s is not active: failed precondition", q);
	}
	if (key_ref != NULL)
		*key_ref = k;
	else
		md_snapshot_ref_fini(&k);
	return 0;
}

struct commit_args {
	const char *sn, *ns, *name, *key, *backend_name;
	const struct md_kv *labels;
	size_t n_labels;
};

static int do_commit(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct commit_args *a = arg;
	struct md_snapshot_ref k = { 0 };
	int r = md_snapshot_check_commit(db, a->sn, a->ns, a->name, a->key, a->labels, a->n_labels, &k, err);
	if (r < 0)
		return r;
	struct create_args c = { a->sn, a->ns, a->name, a->backend_name, k.parent, UCD_SNAPSHOT_COMMITTED,
				 a->labels, a->n_labels };
	r = insert_row(db, &c, err);
	md_snapshot_ref_fini(&k);
	if (r < 0)
		return r;
	/* The active row goes, its labels with it (foreign key cascade). */
	return run3(db, SQL_DELETE, a->sn, a->ns, a->key, err);
}

int md_snapshot_commit(struct md_db *db, const char *sn, const char *ns, const char *name, const char *key,
		       const char *backend_name, const struct md_kv *labels, size_t n_labels, struct ucd_error **err)
{
	struct commit_args a = { str(sn), str(ns), str(name), str(key), str(backend_name), labels, n_labels };
	return md_in_tx(db, do_commit, &a, err);
}

/* --- remove --------------------------------------------------------------------------------- */

int md_snapshot_has_children(struct md_db *db, const char *sn, const char *ns, const char *key, bool *yes,
			     struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_HAS_CHILD, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, sn, ns, key);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "snapshot children");
	*yes = rc == SQLITE_ROW;
	return 0;
}

struct remove_args {
	const char *sn, *ns, *key;
	char **backend_key;
};

static int do_remove(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct remove_args *a = arg;
	struct md_snapshot_ref k = { 0 };
	int r = md_snapshot_lookup(db, a->sn, a->ns, a->key, &k, err);
	if (r <= 0)
		return r < 0 ? r : not_found(a->key, err);
	bool children = false;
	if ((r = md_snapshot_has_children(db, a->sn, a->ns, a->key, &children, err)) == 0 && children)
		r = error_set(err, UCD_FAILED_PRECONDITION, 0, "cannot remove snapshot with child: failed precondition");
	if (r == 0)
		r = run3(db, SQL_DELETE, a->sn, a->ns, a->key, err);
	if (r == 0 && a->backend_key != NULL)
		*a->backend_key = steal(k.backend_key);
	md_snapshot_ref_fini(&k);
	return r;
}

int md_snapshot_remove(struct md_db *db, const char *sn, const char *ns, const char *key, char **backend_key,
		       struct ucd_error **err)
{
	struct remove_args a = { str(sn), str(ns), str(key), backend_key };
	return md_in_tx(db, do_remove, &a, err);
}

/* --- update ------------------------------------------------------------------------------------ */

struct update_args {
	const char *sn, *ns, *key;
	const struct md_kv *labels;
	size_t n_labels;
	const char *const *paths;
	size_t n_paths;
};

static int replace_labels(struct md_db *db, const struct update_args *a, struct ucd_error **err)
{
	int r = run3(db, SQL_LABEL_CLEAR, a->sn, a->ns, a->key, err);
	return r < 0 ? r : put_labels(db, a->sn, a->ns, a->key, a->labels, a->n_labels, err);
}

static int do_update(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct update_args *a = arg;
	if (a->key[0] == '\0')   /* containerd: a bare ErrInvalidArgument */
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "invalid argument");
	int r = exists(db, a->sn, a->ns, a->key, err);
	if (r <= 0)
		return r < 0 ? r : not_found(a->key, err);
	/* containerd validates every label of the result; the stored ones
	 * were valid already. */
	if (a->n_paths == 0) {
		if ((r = validate_labels(a->labels, a->n_labels, err)) < 0 || (r = replace_labels(db, a, err)) < 0)
			return r;
	}
	for (size_t i = 0; i < a->n_paths; i++) {
		const char *path = str(a->paths[i]);
		if (strncmp(path, "labels.", 7) == 0) {
			const char *label = path + 7;
			const char *value = md_kv_lookup(a->labels, a->n_labels, label);
			struct md_kv kv = { label, str(value) };
			if ((r = validate_labels(&kv, 1, err)) < 0 ||
			    (r = put_label(db, a->sn, a->ns, a->key, label, kv.value, err)) < 0)
				return r;
		} else if (strcmp(path, "labels") == 0) {
			if ((r = validate_labels(a->labels, a->n_labels, err)) < 0 ||
			    (r = replace_labels(db, a, err)) < 0)
				return r;
		} else {
			autofree char *qp = go_quote(path);
			autofree char *qk = go_quote(a->key);
			return error_set(err, UCD_INVALID_ARGUMENT, 0,
					 "cannot update %s field on snapshot %s: invalid argument", qp, qk);
		}
	}
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_TOUCH, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind3(st, a->sn, a->ns, a->key);
	sqlite3_bind_int64(st, 4, md_now());
	return md_step_done(db, st, err);
}

int md_snapshot_update(struct md_db *db, const char *sn, const char *ns, const char *key, const struct md_kv *labels,
		       size_t n_labels, const char *const *paths, size_t n_paths, MdSnapshotInfo **out,
		       struct ucd_error **err)
{
	struct update_args a = { str(sn), str(ns), str(key), labels, n_labels, paths, n_paths };
	int r = md_begin(db, err);
	if (r < 0)
		return r;
	if ((r = do_update(db, &a, err)) < 0 || (out && (r = md_snapshot_stat(db, a.sn, a.ns, a.key, out, err)) < 0)) {
		md_rollback(db);
		return r;
	}
	if ((r = md_commit(db, err)) < 0 && out) {
		md_free(*out);
		*out = NULL;
	}
	return r;
}

/* --- for the garbage collector and the namespace store ----------------------------------------- */

static void bind_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		md_bind_text(st, i, s);
}

int md_snapshot_walk(struct md_db *db, const char *sn, const char *ns,
		     int (*fn)(void *arg, const struct md_snapshot_row *row), void *arg, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_WALK, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	bind_or_null(st, 1, sn);
	bind_or_null(st, 2, ns);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct md_snapshot_row row = {
			.snapshotter = md_col_text(st, 0),
			.ns = md_col_text(st, 1),
			.key = md_col_text(st, 2),
			.backend_key = md_col_text(st, 3),
			.parent = md_col_text(st, 4),
			.kind = sqlite3_column_int(st, 5),
			.created_at = sqlite3_column_int64(st, 6),
			.updated_at = sqlite3_column_int64(st, 7),
		};
		int r = fn(arg, &row);
		if (r != 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "walk snapshots");
	return 0;
}

int md_snapshot_backend_referenced(struct md_db *db, const char *sn, const char *backend_key, bool *yes,
				   struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_BACKEND_REF, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, sn);
	md_bind_text(st, 2, backend_key);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "snapshot backend lookup");
	*yes = rc == SQLITE_ROW;
	return 0;
}

int md_snapshot_ns_in_use(struct md_db *db, const char *ns, char **what, struct ucd_error **err)
{
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_NS_SNAPSHOTTERS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	char *acc = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		autofree char *q = go_quote(md_col_text(st, 0));
		char *next = xasprintf("%s%ssnapshots on %s snapshotter", acc ? acc : "", acc ? ", " : "", q);
		free(acc);
		acc = next;
	}
	if (rc != SQLITE_DONE) {
		free(acc);
		return md_sql_error(db->sql, rc, err, "namespace snapshots");
	}
	*what = acc;
	return 0;
}
