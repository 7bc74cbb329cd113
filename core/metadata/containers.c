/* Containers (containerd's metadata/containers.go). The record is the
 * Container message itself; see schema.c. */
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Containers__V1__Container Container;

static const char SQL_GET[] =
	"SELECT record, created_at, updated_at FROM containers WHERE namespace = ?1 AND id = ?2";
static const char SQL_LIST[] =
	"SELECT id, record, created_at, updated_at FROM containers WHERE namespace = ?1 ORDER BY id";
static const char SQL_EXISTS[] = "SELECT 1 FROM containers WHERE namespace = ?1 AND id = ?2";
static const char SQL_INSERT[] =
	"INSERT INTO containers(namespace, id, image, runtime, snapshotter, snapshot_key, created_at, updated_at, "
	"record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)";
static const char SQL_UPDATE[] =
	"UPDATE containers SET image = ?3, runtime = ?4, snapshotter = ?5, snapshot_key = ?6, updated_at = ?7, "
	"record = ?8 WHERE namespace = ?1 AND id = ?2";
static const char SQL_DELETE[] = "DELETE FROM containers WHERE namespace = ?1 AND id = ?2";

static const char *str(const char *s)
{
	return s ? s : "";
}

static const char *runtime_name(const Container *c)
{
	return c->runtime ? str(c->runtime->name) : "";
}

/* containerd's validateContainer */
static int validate(const Container *c, struct ucd_error **err)
{
	int r = identifier_validate(str(c->id), err);
	if (r < 0)
		return error_wrap(err, "container.ID");
	for (size_t i = 0; i < c->n_extensions; i++)
		if (c->extensions[i] == NULL || str(c->extensions[i]->key)[0] == '\0')
			return error_set(err, UCD_INVALID_ARGUMENT, 0,
					 "container.Extension keys must not be zero-length: invalid argument");
	for (size_t i = 0; i < c->n_labels; i++)
		if (c->labels[i] && (r = md_validate_label(str(c->labels[i]->key), str(c->labels[i]->value), err)) < 0)
			return error_wrap(err, "containers.Labels");
	if (runtime_name(c)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "container.Runtime.Name must be set: invalid argument");
	if (c->spec == NULL)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "container.Spec must be set: invalid argument");
	if (str(c->snapshot_key)[0] != '\0' && str(c->snapshotter)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0,
				 "container.Snapshotter must be set if container.SnapshotKey is set: invalid argument");
	return 0;
}

/* Unpacks a stored record and puts the row's key and times on it. */
static Container *decode(const char *id, const void *blob, int len, int64_t created, int64_t updated,
			 struct ucd_error **err)
{
	Container *c = containerd__services__containers__v1__container__unpack(NULL, (size_t)len, blob);
	if (c == NULL) {
		autofree char *q = go_quote(id);
		error_set(err, UCD_DATA_LOSS, 0, "failed to read container %s: corrupt record", q);
		return NULL;
	}
	if (strcmp(str(c->id), id) != 0) {
		if (c->id != (char *)protobuf_c_empty_string)
			free(c->id);
		c->id = xstrdup(id);
	}
	md_free(c->created_at);
	md_free(c->updated_at);
	c->created_at = md_timestamp_new(created);
	c->updated_at = md_timestamp_new(updated);
	return c;
}

static ProtobufCMessage *decode_msg(const char *key, const void *blob, int len, int64_t created, int64_t updated,
				    struct ucd_error **err)
{
	Container *c = decode(key, blob, len, created, updated, err);
	return c ? &c->base : NULL;
}

/* Writes `c` (labels and extensions as given: they get normalized here). */
static int store(struct md_db *db, const char *sql, const char *ns, const Container *c, int64_t at,
		 Container **out, struct ucd_error **err)
{
	Container rec = *c;
	size_t n_labels, n_ext;
	ProtobufCMessage **labels = md_map_normalize((ProtobufCMessage *const *)c->labels, c->n_labels, true, &n_labels);
	ProtobufCMessage **ext = md_map_normalize((ProtobufCMessage *const *)c->extensions, c->n_extensions, false, &n_ext);
	rec.labels = (Containerd__Services__Containers__V1__Container__LabelsEntry **)labels;
	rec.n_labels = n_labels;
	rec.extensions = (Containerd__Services__Containers__V1__Container__ExtensionsEntry **)ext;
	rec.n_extensions = n_ext;
	rec.created_at = rec.updated_at = NULL;
	size_t len;
	autofree uint8_t *blob = md_pack(&rec.base, &len);
	free(labels);
	free(ext);

	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, rec.id);
	md_bind_text(st, 3, rec.image);
	md_bind_text(st, 4, runtime_name(&rec));
	md_bind_text(st, 5, rec.snapshotter);
	md_bind_text(st, 6, rec.snapshot_key);
	sqlite3_bind_int64(st, 7, at);
	sqlite3_bind_blob(st, 8, blob, (int)len, SQLITE_STATIC);
	int r = md_step_done(db, st, err);
	if (r < 0 || out == NULL)
		return r;
	/* created_at is only known to the caller on create; re-read both. */
	sqlite3_reset(st);
	return md_container_get(db, ns, rec.id, out, err);
}

/* --- get / list -------------------------------------------------------------- */

int md_container_get(struct md_db *db, const char *ns, const char *id, Container **out, struct ucd_error **err)
{
	id = str(id);
	int r = md_get_decoded(db, SQL_GET, ns, id, decode_msg, (ProtobufCMessage **)out, "get container", err);
	if (r != 0)
		return r < 0 ? r : 0;
	autofree char *qi = go_quote(id);
	autofree char *qn = go_quote(str(ns));
	return error_set(err, UCD_NOT_FOUND, 0, "container %s in namespace %s: not found", qi, qn);
}

int md_container_list(struct md_db *db, const char *ns, md_match_fn match, void *arg, Container ***out, size_t *n,
		      struct ucd_error **err)
{
	return md_list_decoded(db, SQL_LIST, ns, decode_msg, match, arg, (ProtobufCMessage ***)out, n, "list containers", err);
}

/* --- create ------------------------------------------------------------------ */

struct create_args {
	const char *ns;
	const Container *c;
	Container **out;
};

static int do_create(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct create_args *a = arg;
	int r = validate(a->c, err);
	if (r < 0)
		return error_wrap(err, "create container failed validation");
	if ((r = md_namespace_ensure(db, a->ns, err)) < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_EXISTS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->ns);
	md_bind_text(st, 2, a->c->id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		autofree char *q = go_quote(a->c->id);
		return error_set(err, UCD_ALREADY_EXISTS, 0, "container %s: already exists", q);
	}
	if (rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "create container");
	sqlite3_reset(st);
	return store(db, SQL_INSERT, a->ns, a->c, md_now(), a->out, err);
}

int md_container_create(struct md_db *db, const char *ns, const Container *c, Container **out,
			struct ucd_error **err)
{
	struct create_args a = { str(ns), c, out };
	return md_in_tx(db, do_create, &a, err);
}

/* --- update ------------------------------------------------------------------ */

struct update_args {
	const char *ns;
	const Container *c;
	const char *const *paths;
	size_t n_paths;
	Container **out;
};

static ProtobufCMessage *find_entry(ProtobufCMessage *const *entries, size_t n, const char *key)
{
	ssize_t i = md_map_find(entries, n, key);
	return i < 0 ? NULL : entries[i];
}

static int apply(const struct update_args *a, Container *upd, struct md_elist *labels, struct md_elist *ext,
		 const char *path, struct ucd_error **err)
{
	const Container *c = a->c;
	if (strncmp(path, "labels.", 7) == 0) {
		md_elist_set(labels, path + 7, find_entry((ProtobufCMessage *const *)c->labels, c->n_labels, path + 7));
	} else if (strncmp(path, "extensions.", 11) == 0) {
		/* containerd stores an empty Any for a key the request lacks;
		 * we remove the extension instead (docs/metadata.md). */
		md_elist_set(ext, path + 11,
			     find_entry((ProtobufCMessage *const *)c->extensions, c->n_extensions, path + 11));
	} else if (strcmp(path, "labels") == 0) {
		md_elist_fini(labels);
		md_elist_init(labels, (ProtobufCMessage *const *)c->labels, c->n_labels);
	} else if (strcmp(path, "extensions") == 0) {
		md_elist_fini(ext);
		md_elist_init(ext, (ProtobufCMessage *const *)c->extensions, c->n_extensions);
	} else if (strcmp(path, "spec") == 0) {
		upd->spec = c->spec;
	} else if (strcmp(path, "image") == 0) {
		upd->image = c->image;
	} else if (strcmp(path, "snapshotkey") == 0) {
		upd->snapshot_key = c->snapshot_key;
	} else {
		autofree char *qp = go_quote(path);
		autofree char *qi = go_quote(str(c->id));
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "cannot update %s field on %s: invalid argument", qp, qi);
	}
	return 0;
}

static int do_update(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct update_args *a = arg;
	const Container *c = a->c;
	autofree char *q = go_quote(c->id);
	Container *cur = NULL;
	int r = md_container_get(db, a->ns, c->id, &cur, err);
	if (r == -UCD_NOT_FOUND) {
		return error_set(err, UCD_NOT_FOUND, 0, "container %s: not found", q);
	} else if (r < 0) {
		return r;
	}

	static const char *const all[] = { "labels", "spec", "extensions", "image", "snapshotkey" };
	const char *const *paths = a->paths;
	size_t n_paths = a->n_paths;
	if (n_paths == 0) {
		/* Immutable fields must not differ on a full update, so they can
		 * become mutable later (containerd's rule). */
		if (strcmp(str(cur->snapshotter), str(c->snapshotter)) != 0)
			r = error_set(err, UCD_INVALID_ARGUMENT, 0,
				      "container.Snapshotter field is immutable: invalid argument");
		else if (strcmp(runtime_name(cur), runtime_name(c)) != 0)
			r = error_set(err, UCD_INVALID_ARGUMENT, 0,
				      "container.Runtime.Name field is immutable: invalid argument");
		paths = all;
		n_paths = ARRAY_LEN(all);
	}

	Container upd = *cur;
	struct md_elist labels, ext;
	md_elist_init(&labels, (ProtobufCMessage *const *)cur->labels, cur->n_labels);
	md_elist_init(&ext, (ProtobufCMessage *const *)cur->extensions, cur->n_extensions);
	for (size_t i = 0; r == 0 && i < n_paths; i++)
		r = apply(a, &upd, &labels, &ext, paths[i] ? paths[i] : "", err);
	if (r == 0) {
		upd.id = c->id;
		upd.labels = (Containerd__Services__Containers__V1__Container__LabelsEntry **)labels.v;
		upd.n_labels = labels.n;
		upd.extensions = (Containerd__Services__Containers__V1__Container__ExtensionsEntry **)ext.v;
		upd.n_extensions = ext.n;
		if ((r = validate(&upd, err)) < 0)
			error_wrap(err, "update failed validation");
		else
			r = store(db, SQL_UPDATE, a->ns, &upd, md_now(), a->out, err);
	}
	md_elist_fini(&labels);
	md_elist_fini(&ext);
	md_free(cur);
	return r;
}

int md_container_update(struct md_db *db, const char *ns, const Container *c, const char *const *paths,
			size_t n_paths, Container **out, struct ucd_error **err)
{
	if (c == NULL || str(c->id)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "must specify a container id: invalid argument");
	struct update_args a = { str(ns), c, paths, n_paths, out };
	return md_in_tx(db, do_update, &a, err);
}

/* --- delete ------------------------------------------------------------------ */

struct delete_args {
	const char *ns, *id;
};

static int do_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct delete_args *a = arg;
	int r = md_delete_keyed(db, SQL_DELETE, a->ns, a->id, err);
	if (r == 0)   /* containerd prints this id with %v */
		return error_set(err, UCD_NOT_FOUND, 0, "container %s: not found", a->id);
	return r < 0 ? r : 0;
}

int md_container_delete(struct md_db *db, const char *ns, const char *id, struct ucd_error **err)
{
	struct delete_args a = { str(ns), str(id) };
	return md_in_tx(db, do_delete, &a, err);
}
