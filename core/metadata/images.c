/* Images (containerd's metadata/images.go). The record is the Image message
 * itself; see schema.c. */
#include <string.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Images__V1__Image Image;
typedef Containerd__Types__Descriptor Descriptor;

static const char SQL_GET[] = "SELECT record, created_at, updated_at FROM images WHERE namespace = ?1 AND name = ?2";
static const char SQL_LIST[] =
	"SELECT name, record, created_at, updated_at FROM images WHERE namespace = ?1 ORDER BY name";
static const char SQL_EXISTS[] = "SELECT created_at FROM images WHERE namespace = ?1 AND name = ?2";
static const char SQL_INSERT[] =
	"INSERT INTO images(namespace, name, target_digest, target_media_type, target_size, created_at, updated_at, "
	"record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)";
static const char SQL_UPDATE[] =
	"UPDATE images SET target_digest = ?3, target_media_type = ?4, target_size = ?5, updated_at = ?6, "
	"record = ?7 WHERE namespace = ?1 AND name = ?2";
static const char SQL_DELETE[] = "DELETE FROM images WHERE namespace = ?1 AND name = ?2";

static const char *str(const char *s)
{
	return s ? s : "";
}

static int validate(const Image *img, struct ucd_error **err)
{
	if (str(img->name)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "image name must not be empty: invalid argument");
	int r;
	for (size_t i = 0; i < img->n_labels; i++)
		if (img->labels[i] &&
		    (r = md_validate_label(str(img->labels[i]->key), str(img->labels[i]->value), err)) < 0)
			return error_wrap(err, "image.Labels");
	const Descriptor *t = img->target;
	const char *digest = t ? str(t->digest) : "";
	const char *why = md_digest_error(digest);
	if (why != NULL) {
		autofree char *q = go_quote(digest);
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "Target.Digest %s invalid: %s: invalid argument", q, why);
	}
	if (t->size <= 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "Target.Size must be greater than zero: invalid argument");
	if (str(t->media_type)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "Target.MediaType must be set: invalid argument");
	return 0;
}

static Image *decode(const char *name, const void *blob, int len, int64_t created, int64_t updated,
		     struct ucd_error **err)
{
	Image *img = containerd__services__images__v1__image__unpack(NULL, (size_t)len, blob);
	if (img == NULL) {
		autofree char *q = go_quote(name);
		error_set(err, UCD_DATA_LOSS, 0, "image %s: corrupt record", q);
		return NULL;
	}
	if (strcmp(str(img->name), name) != 0) {
		if (img->name != (char *)protobuf_c_empty_string)
			free(img->name);
		img->name = xstrdup(name);
	}
	if (img->target == NULL) {   /* gogo's non-nullable: always present */
		img->target = xmalloc(sizeof *img->target);
		containerd__types__descriptor__init(img->target);
	}
	md_free(img->created_at);
	md_free(img->updated_at);
	img->created_at = md_timestamp_new(created);
	img->updated_at = md_timestamp_new(updated);
	return img;
}

static ProtobufCMessage *decode_msg(const char *key, const void *blob, int len, int64_t created, int64_t updated,
				    struct ucd_error **err)
{
	Image *img = decode(key, blob, len, created, updated, err);
	return img ? &img->base : NULL;
}

/* Writes `img`; `sql` is SQL_INSERT or SQL_UPDATE; `at` the time of it. */
static int store(struct md_db *db, const char *sql, const char *ns, const Image *img, int64_t at, Image **out,
		 struct ucd_error **err)
{
	Image rec = *img;
	Descriptor target = *img->target;
	size_t n_labels, n_ann;
	ProtobufCMessage **labels =
		md_map_normalize((ProtobufCMessage *const *)img->labels, img->n_labels, true, &n_labels);
	ProtobufCMessage **ann =
		md_map_normalize((ProtobufCMessage *const *)target.annotations, target.n_annotations, true, &n_ann);
	rec.labels = (Containerd__Services__Images__V1__Image__LabelsEntry **)labels;
	rec.n_labels = n_labels;
	target.annotations = (Containerd__Types__Descriptor__AnnotationsEntry **)ann;
	target.n_annotations = n_ann;
	rec.target = &target;
	rec.created_at = rec.updated_at = NULL;
	size_t len;
	autofree uint8_t *blob = md_pack(&rec.base, &len);
	free(labels);
	free(ann);

	md_autoreset sqlite3_stmt *st = md_stmt(db, sql, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, ns);
	md_bind_text(st, 2, rec.name);
	md_bind_text(st, 3, target.digest);
	md_bind_text(st, 4, target.media_type);
	sqlite3_bind_int64(st, 5, target.size);
	sqlite3_bind_int64(st, 6, at);
	sqlite3_bind_blob(st, 7, blob, (int)len, SQLITE_STATIC);
	int r = md_step_done(db, st, err);
	if (r < 0 || out == NULL)
		return r;
	sqlite3_reset(st);
	return md_image_get(db, ns, rec.name, out, err);
}

/* --- get / list -------------------------------------------------------------- */

int md_image_get(struct md_db *db, const char *ns, const char *name, Image **out, struct ucd_error **err)
{
	name = str(name);
	int r = md_get_decoded(db, SQL_GET, ns, name, decode_msg, (ProtobufCMessage **)out, "get image", err);
	if (r != 0)
		return r < 0 ? r : 0;
	autofree char *q = go_quote(name);
	return error_set(err, UCD_NOT_FOUND, 0, "image %s: not found", q);
}

int md_image_list(struct md_db *db, const char *ns, md_match_fn match, void *arg, Image ***out, size_t *n,
		  struct ucd_error **err)
{
	return md_list_decoded(db, SQL_LIST, ns, decode_msg, match, arg, (ProtobufCMessage ***)out, n, "list images", err);
}

/* --- create ------------------------------------------------------------------ */

struct write_args {
	const char *ns;
	const Image *img;
	const char *const *paths;
	size_t n_paths;
	Image **out;
};

/* The image with a target even when the request had none (an empty one,
 * which validation then refuses as containerd does). */
static Image with_target(const Image *img, Descriptor *empty)
{
	Image v = *img;
	if (v.target == NULL) {
		containerd__types__descriptor__init(empty);
		v.target = empty;
	}
	return v;
}

static int do_create(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct write_args *a = arg;
	Descriptor empty;
	Image img = with_target(a->img, &empty);
	int r = validate(&img, err);
	if (r < 0)
		return r;
	if ((r = md_namespace_ensure(db, a->ns, err)) < 0)
		return r;
	md_autoreset sqlite3_stmt *st = md_stmt(db, SQL_EXISTS, err);
	if (st == NULL)
		return -UCD_INTERNAL;
	md_bind_text(st, 1, a->ns);
	md_bind_text(st, 2, img.name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		autofree char *q = go_quote(img.name);
		return error_set(err, UCD_ALREADY_EXISTS, 0, "image %s: already exists", q);
	}
	if (rc != SQLITE_DONE)
		return md_sql_error(db->sql, rc, err, "create image");
	sqlite3_reset(st);
	return store(db, SQL_INSERT, a->ns, &img, md_now(), a->out, err);
}

int md_image_create(struct md_db *db, const char *ns, const Image *img, Image **out, struct ucd_error **err)
{
	struct write_args a = { .ns = str(ns), .img = img, .out = out };
	return md_in_tx(db, do_create, &a, err);
}

/* --- update ------------------------------------------------------------------ */

static ProtobufCMessage *find_entry(ProtobufCMessage *const *entries, size_t n, const char *key)
{
	ssize_t i = md_map_find(entries, n, key);
	return i < 0 ? NULL : entries[i];
}

static int do_update(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct write_args *a = arg;
	Descriptor empty;
	Image in = with_target(a->img, &empty);
	autofree char *q = go_quote(in.name);
	Image *cur = NULL;
	int r = md_image_get(db, a->ns, in.name, &cur, err);
	if (r < 0)
		return r;

	Image upd;
	Descriptor target;
	struct md_elist labels, ann;
	if (a->n_paths == 0) {
		upd = in;   /* replace; created_at is kept by the row */
		target = *in.target;
	} else {
		upd = *cur;
		target = *cur->target;
	}
	md_elist_init(&labels, (ProtobufCMessage *const *)upd.labels, upd.n_labels);
	md_elist_init(&ann, (ProtobufCMessage *const *)target.annotations, target.n_annotations);
	for (size_t i = 0; r == 0 && i < a->n_paths; i++) {
		const char *path = a->paths[i] ? a->paths[i] : "";
		if (strncmp(path, "labels.", 7) == 0) {
			md_elist_set(&labels, path + 7,
				     find_entry((ProtobufCMessage *const *)in.labels, in.n_labels, path + 7));
		} else if (strncmp(path, "annotations.", 12) == 0) {
			md_elist_set(&ann, path + 12,
				     find_entry((ProtobufCMessage *const *)in.target->annotations,
						in.target->n_annotations, path + 12));
		} else if (strcmp(path, "labels") == 0) {
			md_elist_fini(&labels);
			md_elist_init(&labels, (ProtobufCMessage *const *)in.labels, in.n_labels);
		} else if (strcmp(path, "target") == 0) {
			/* The target is replaced as a unit, annotations included. */
			target = *in.target;
			md_elist_fini(&ann);
			md_elist_init(&ann, (ProtobufCMessage *const *)target.annotations, target.n_annotations);
		} else if (strcmp(path, "annotations") == 0) {
			md_elist_fini(&ann);
			md_elist_init(&ann, (ProtobufCMessage *const *)in.target->annotations, in.target->n_annotations);
		} else {
			autofree char *qp = go_quote(path);
			r = error_set(err, UCD_INVALID_ARGUMENT, 0, "cannot update %s field on image %s: invalid argument",
				      qp, q);
		}
	}
	if (r == 0) {
		upd.name = in.name;
		upd.labels = (Containerd__Services__Images__V1__Image__LabelsEntry **)labels.v;
		upd.n_labels = labels.n;
		target.annotations = (Containerd__Types__Descriptor__AnnotationsEntry **)ann.v;
		target.n_annotations = ann.n;
		upd.target = &target;
		if ((r = validate(&upd, err)) == 0)
			r = store(db, SQL_UPDATE, a->ns, &upd, md_now(), a->out, err);
	}
	md_elist_fini(&labels);
	md_elist_fini(&ann);
	md_free(cur);
	return r;
}

int md_image_update(struct md_db *db, const char *ns, const Image *img, const char *const *paths, size_t n_paths,
		    Image **out, struct ucd_error **err)
{
	if (img == NULL || str(img->name)[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "image name is required for update: invalid argument");
	struct write_args a = { str(ns), img, paths, n_paths, out };
	return md_in_tx(db, do_update, &a, err);
}

/* --- delete ------------------------------------------------------------------ */

struct delete_args {
	const char *ns, *name;
};

static int do_delete(struct md_db *db, void *arg, struct ucd_error **err)
{
	struct delete_args *a = arg;
	int r = md_delete_keyed(db, SQL_DELETE, a->ns, a->name, err);
	if (r == 0) {
		autofree char *q = go_quote(a->name);
		return error_set(err, UCD_NOT_FOUND, 0, "image %s: not found", q);
	}
	return r < 0 ? r : 0;
}

int md_image_delete(struct md_db *db, const char *ns, const char *name, struct ucd_error **err)
{
	struct delete_args a = { str(ns), str(name) };
	return md_in_tx(db, do_delete, &a, err);
}
