/* Unit tests of core/metadata: schema migrations, refusals, CRUD of each
 * entity with containerd's error codes and messages, the namespace-empty
 * check, lease expiry and transaction rollback. Prints "N passed, N failed"
 * last and exits non-zero on any failure. */
#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metadata/db.h"
#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "md_check.h"

/* --- fixtures ---------------------------------------------------------------- */

static char *tmp_dir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *d;
	if (asprintf(&d, "%s/ucd-md-XXXXXX", base) < 0 || mkdtemp(d) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

static void rm_rf(char *d)
{
	nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static char *join(const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s/%s", a, b) < 0)
		exit(2);
	return p;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "raw_exec `%s`: %s\n", sql, sqlite3_errmsg(db));
		exit(2);
	}
	sqlite3_close(db);
}

static int raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* A query through the store's own connection: while it is open, its
 * exclusive lock (and in-memory WAL index) shut out any other connection. */
static int db_int(struct md_db *db, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return v;
}

typedef Containerd__Services__Containers__V1__Container Container;
typedef Containerd__Services__Containers__V1__Container__LabelsEntry CLabel;
typedef Containerd__Services__Containers__V1__Container__ExtensionsEntry CExt;
typedef Containerd__Services__Images__V1__Image Image;
typedef Containerd__Services__Images__V1__Image__LabelsEntry ILabel;
typedef Containerd__Types__Descriptor Descriptor;
typedef Containerd__Services__Namespaces__V1__Namespace Namespace;
typedef Containerd__Services__Leases__V1__Lease Lease;
typedef Containerd__Services__Leases__V1__Resource Resource;

static const char *label(ProtobufCMessage *const *entries, size_t n, const char *key)
{
	ssize_t i = md_map_find(entries, n, key);
	return i < 0 ? NULL : md_entry_str(entries[i]);
}

#define LABEL(m, key) label((ProtobufCMessage *const *)(m)->labels, (m)->n_labels, (key))

static const char DIGEST[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* --- tests ------------------------------------------------------------------- */

static void test_open_and_reopen(void)
{
	char *dir = tmp_dir();
	char *sub = join(dir, "io.containerd.metadata.v1.sqlite");
	struct ucd_error *e = NULL;
	struct md_db *db = md_open(sub, &e);
	CHECK(db != NULL);
	if (db == NULL) {
		fprintf(stderr, "  %s\n", e ? e->msg : "");
		error_free(e);
		free(sub);
		rm_rf(dir);
		return;
	}
	char *file = join(sub, MD_DB_FILE);
	struct stat sb;
	CHECK(stat(sub, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat(file, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(strcmp(md_path(db), file) == 0);
	CHECK_OK(md_namespace_create(db, "keep", NULL, 0, &e), e);
	md_close(db);
	CHECK(raw_int(file, "PRAGMA user_version") == MD_SCHEMA_VERSION);
	CHECK(raw_int(file, "PRAGMA application_id") == MD_APPLICATION_ID);

	/* re-open: no migration runs again, the data is there, WAL is on */
	db = md_open(sub, &e);
	CHECK(db != NULL);
	if (db != NULL) {
		bool exists = false;
		CHECK_OK(md_namespace_exists(db, "keep", &exists, &e), e);
		CHECK(exists);
		md_close(db);
	}
	CHECK(raw_int(file, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
	free(file);
	free(sub);
	rm_rf(dir);
}

static void test_refusals(void)
{
	struct ucd_error *e = NULL;
	/* a newer schema than we know */
	char *dir = tmp_dir();
	struct md_db *db = md_open(dir, &e);
	CHECK(db != NULL);
	md_close(db);
	char *file = join(dir, MD_DB_FILE);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", MD_SCHEMA_VERSION + 1);
	raw_exec(file, sql);
	db = md_open(dir, &e);
	CHECK(db == NULL);
	CHECK_ERR(-UCD_FAILED_PRECONDITION, e, UCD_FAILED_PRECONDITION, "~newer than the newest this ucontainerd knows");
	free(file);
	rm_rf(dir);

	/* garbage */
	dir = tmp_dir();
	file = join(dir, MD_DB_FILE);
	FILE *f = fopen(file, "w");
	for (int i = 0; i < 4096; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	db = md_open(dir, &e);
	CHECK(db == NULL);
	CHECK_ERR(-UCD_DATA_LOSS, e, UCD_DATA_LOSS, "~is not an SQLite database or is corrupt");
	free(file);
	rm_rf(dir);

	/* somebody else's sqlite database */
	dir = tmp_dir();
	file = join(dir, MD_DB_FILE);
	raw_exec(file, "CREATE TABLE t(x)");
	db = md_open(dir, &e);
	CHECK(db == NULL);
	CHECK_ERR(-UCD_FAILED_PRECONDITION, e, UCD_FAILED_PRECONDITION, "~holds tables but no ucontainerd schema");
	/* refused before anything was changed: still in rollback-journal mode */
	CHECK(raw_int(file, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'delete'") == 1);
	raw_exec(file, "PRAGMA application_id = 42; PRAGMA user_version = 1");
	db = md_open(dir, &e);
	CHECK(db == NULL);
	CHECK_ERR(-UCD_FAILED_PRECONDITION, e, UCD_FAILED_PRECONDITION, "~is not a ucontainerd database");
	free(file);
	rm_rf(dir);

	/* a directory path that is a file */
	dir = tmp_dir();
	file = join(dir, "plain");
	fclose(fopen(file, "w"));
	db = md_open(file, &e);
	CHECK(db == NULL);
	CHECK(e != NULL);
	error_free(e);
	e = NULL;
	free(file);
	rm_rf(dir);
}

static void test_migrations(void)
{
	static const struct md_migration steps[] = {
		{ 1, "one", "CREATE TABLE a(x); INSERT INTO a VALUES (1);" },
		{ 2, "two", "CREATE TABLE b(y);" },
		{ 3, "three", "ALTER TABLE a ADD COLUMN z DEFAULT 7;" },
		{ 4, "broken", "CREATE TABLE c(z); THIS IS NOT SQL;" },
	};
	char *dir = tmp_dir();
	char *file = join(dir, "m.db");
	sqlite3 *sql;
	CHECK(sqlite3_open(file, &sql) == SQLITE_OK);
	struct ucd_error *e = NULL;
	CHECK_OK(md_migrate(sql, file, steps, 2, &e), e);
	sqlite3_close(sql);
	CHECK(raw_int(file, "PRAGMA user_version") == 2);
	CHECK(raw_int(file, "SELECT count(*) FROM b") == 0);

	/* re-run with one more step: only step 3 runs (a keeps one row) */
	CHECK(sqlite3_open(file, &sql) == SQLITE_OK);
	CHECK_OK(md_migrate(sql, file, steps, 3, &e), e);
	CHECK(raw_int(file, "SELECT count(*) FROM a") == 1);
	CHECK(raw_int(file, "SELECT z FROM a") == 7);
	CHECK(raw_int(file, "PRAGMA user_version") == 3);
	/* a failing step rolls back entirely and leaves the version */
	int r = md_migrate(sql, file, steps, 4, &e);
	CHECK_ERR(r, e, UCD_INTERNAL, "~migration to schema version 4 (broken)");
	CHECK(raw_int(file, "PRAGMA user_version") == 3);
	CHECK(raw_int(file, "SELECT count(*) FROM sqlite_schema WHERE name = 'c'") == 0);
	/* and a binary that knows fewer steps refuses */
	r = md_migrate(sql, file, steps, 2, &e);
	CHECK_ERR(r, e, UCD_FAILED_PRECONDITION, "~has schema version 3, newer than the newest this ucontainerd knows (2)");
	/* misnumbered steps are a programming error */
	static const struct md_migration bad[] = { { 2, "skip", "" } };
	r = md_migrate(sql, file, bad, 1, &e);
	CHECK_ERR(r, e, UCD_INTERNAL, NULL);
	sqlite3_close(sql);
	free(file);
	rm_rf(dir);
}

static void test_validation(void)
{
	struct ucd_error *e = NULL;
	CHECK(identifier_validate("default", NULL) == 0);
	CHECK(identifier_validate("k8s.io", NULL) == 0);
	CHECK(identifier_validate("a-b_c.d9", NULL) == 0);
	CHECK_ERR(identifier_validate("", &e), e, UCD_INVALID_ARGUMENT, "identifier must not be empty: invalid argument");
	CHECK_ERR(identifier_validate("-x", &e), e, UCD_INVALID_ARGUMENT,
		  "identifier \"-x\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument");
	CHECK(identifier_validate("a..b", NULL) < 0);
	CHECK(identifier_validate("a.", NULL) < 0);
	CHECK(identifier_validate("a/b", NULL) < 0);
	char longid[80];
	memset(longid, 'a', 77);
	longid[77] = 0;
	CHECK_ERR(identifier_validate(longid, &e), e, UCD_INVALID_ARGUMENT,
		  "~greater than maximum length (76 characters): invalid argument");
	longid[76] = 0;
	CHECK(identifier_validate(longid, NULL) == 0);

	CHECK(md_digest_error(DIGEST) == NULL);
	CHECK(md_digest_error("sha256:abc") && strcmp(md_digest_error("sha256:abc"), "invalid checksum digest length") == 0);
	CHECK(strcmp(md_digest_error("nocolon"), "invalid checksum digest format") == 0);
	CHECK(strcmp(md_digest_error("md5:abcd"), "unsupported digest algorithm") == 0);
	CHECK(strcmp(md_digest_error("MD5:abcd"), "invalid checksum digest format") == 0);
	CHECK(strcmp(md_digest_error("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
		     "invalid checksum digest format") == 0);

	int64_t ns;
	CHECK(md_parse_rfc3339("1970-01-01T00:00:01Z", &ns) && ns == 1000000000);
	CHECK(md_parse_rfc3339("2024-02-29T12:00:00.5+01:00", &ns) && ns == 1709204400500000000);
	CHECK(!md_parse_rfc3339("2023-02-29T12:00:00Z", &ns));
	CHECK(!md_parse_rfc3339("2024-01-01 12:00:00Z", &ns));
	CHECK(!md_parse_rfc3339("yesterday", &ns));

	char *q = go_quote("a\"b\\c\n\x01é");
	CHECK(strcmp(q, "\"a\\\"b\\\\c\\n\\x01é\"") == 0);
	free(q);

	char big[4100];
	memset(big, 'v', 4090);
	big[4090] = 0;
	CHECK_ERR(md_validate_label("0123456789abc", big, &e), e, UCD_INVALID_ARGUMENT,
		  "label key and value greater than maximum size (4096 bytes), key: 0123456789: invalid argument");
}

static void test_namespaces(struct md_db *db)
{
	struct ucd_error *e = NULL;
	struct md_kv labels[] = { { "b", "2" }, { "a", "1" }, { "empty", "" } };
	CHECK_OK(md_namespace_create(db, "ns1", labels, 3, &e), e);
	CHECK_ERR(md_namespace_create(db, "ns1", NULL, 0, &e), e, UCD_ALREADY_EXISTS, "namespace \"ns1\": already exists");
	CHECK_ERR(md_namespace_create(db, "bad name", NULL, 0, &e), e, UCD_INVALID_ARGUMENT, "~identifier \"bad name\" must match");

	Namespace *ns = NULL;
	CHECK_OK(md_namespace_get(db, "ns1", &ns, &e), e);
	CHECK(ns && ns->n_labels == 2 && strcmp(ns->labels[0]->key, "a") == 0 && strcmp(LABEL(ns, "b"), "2") == 0);
	md_free(ns);
	/* containerd: a missing namespace reads as one without labels */
	CHECK_OK(md_namespace_get(db, "nope", &ns, &e), e);
	CHECK(ns && strcmp(ns->name, "nope") == 0 && ns->n_labels == 0);
	md_free(ns);

	/* field masks */
	struct md_kv upd[] = { { "a", "10" }, { "c", "3" } };
	const char *p1[] = { "labels.a", "labels.b" };
	CHECK_OK(md_namespace_update(db, "ns1", upd, 2, p1, 2, &ns, &e), e);
	CHECK(ns && ns->n_labels == 1 && strcmp(LABEL(ns, "a"), "10") == 0 && LABEL(ns, "b") == NULL);
	md_free(ns);
	const char *p2[] = { "name" };
	CHECK_ERR(md_namespace_update(db, "ns1", upd, 2, p2, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "cannot update \"name\" field");
	CHECK_OK(md_namespace_update(db, "ns1", upd, 2, NULL, 0, &ns, &e), e);   /* replace */
	CHECK(ns && ns->n_labels == 2 && strcmp(LABEL(ns, "c"), "3") == 0);
	md_free(ns);
	const char *p3[] = { "labels" };
	CHECK_OK(md_namespace_update(db, "ns1", labels, 1, p3, 1, &ns, &e), e);
	CHECK(ns && ns->n_labels == 1 && strcmp(LABEL(ns, "b"), "2") == 0);
	md_free(ns);
	/* update of a missing namespace creates it (containerd) */
	CHECK_OK(md_namespace_update(db, "made", upd, 1, NULL, 0, NULL, &e), e);

	Namespace **list = NULL;
	size_t n = 0;
	CHECK_OK(md_namespace_list(db, &list, &n, &e), e);
	CHECK(n == 2 && strcmp(list[0]->name, "made") == 0 && strcmp(list[1]->name, "ns1") == 0);
	CHECK(n == 2 && list[0]->n_labels == 1 && list[1]->n_labels == 1);
	md_free_array(list, n);

	CHECK_OK(md_namespace_delete(db, "made", &e), e);
	CHECK_ERR(md_namespace_delete(db, "made", &e), e, UCD_NOT_FOUND, "namespace \"made\": not found");
}

static void fill_container(Container *c, Containerd__Services__Containers__V1__Container__Runtime *rt,
			   Google__Protobuf__Any *spec, const char *id)
{
	containerd__services__containers__v1__container__init(c);
	containerd__services__containers__v1__container__runtime__init(rt);
	google__protobuf__any__init(spec);
	rt->name = "io.containerd.runc.v2";
	spec->type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
	spec->value.data = (uint8_t *)"{\"ociVersion\":\"1.0.2\"}";
	spec->value.len = strlen((char *)spec->value.data);
	c->id = (char *)id;
	c->runtime = rt;
	c->spec = spec;
	c->image = "docker.io/library/busybox:latest";
	c->snapshotter = "overlayfs";
	c->snapshot_key = (char *)id;
}

static void test_containers(struct md_db *db)
{
	struct ucd_error *e = NULL;
	Container c, *out = NULL;
	Containerd__Services__Containers__V1__Container__Runtime rt;
	Google__Protobuf__Any spec;
	fill_container(&c, &rt, &spec, "c1");

	CLabel l1 = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	CLabel l2 = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	CLabel l3 = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	CLabel l4 = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	l1.key = "zeta", l1.value = "1";
	l2.key = "alpha", l2.value = "old";
	l3.key = "alpha", l3.value = "new";   /* the last of a key wins */
	l4.key = "gone", l4.value = "";       /* empty values are not stored */
	CLabel *labels[] = { &l1, &l2, &l3, &l4 };
	c.labels = labels;
	c.n_labels = 4;
	Google__Protobuf__Any extv = GOOGLE__PROTOBUF__ANY__INIT;
	extv.type_url = "example.com/ext";
	CExt x1 = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__EXTENSIONS_ENTRY__INIT;
	x1.key = "ext1";
	x1.value = &extv;
	CExt *exts[] = { &x1 };
	c.extensions = exts;
	c.n_extensions = 1;

	/* validation, in containerd's words */
	Container bad = c;
	bad.id = "";
	CHECK_ERR(md_container_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "create container failed validation: container.ID: identifier must not be empty: invalid argument");
	bad = c;
	bad.runtime = NULL;
	CHECK_ERR(md_container_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "create container failed validation: container.Runtime.Name must be set: invalid argument");
	bad = c;
	bad.spec = NULL;
	CHECK_ERR(md_container_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "create container failed validation: container.Spec must be set: invalid argument");
	bad = c;
	bad.snapshotter = "";
	CHECK_ERR(md_container_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "create container failed validation: container.Snapshotter must be set if container.SnapshotKey is "
		  "set: invalid argument");
	bool exists = true;
	CHECK_OK(md_namespace_exists(db, "default", &exists, &e), e);
	CHECK(!exists);   /* the failed creates left nothing behind */

	/* create: the namespace appears, labels are normalized, times set */
	int64_t before = md_now();
	CHECK_OK(md_container_create(db, "default", &c, &out, &e), e);
	CHECK_OK(md_namespace_exists(db, "default", &exists, &e), e);
	CHECK(exists);
	CHECK(out && strcmp(out->id, "c1") == 0 && out->n_labels == 2);
	CHECK(out && strcmp(out->labels[0]->key, "alpha") == 0 && strcmp(out->labels[0]->value, "new") == 0);
	CHECK(out && out->created_at && out->updated_at && out->created_at->seconds >= before / 1000000000);
	CHECK(out && out->spec && out->spec->value.len == spec.value.len &&
	      memcmp(out->spec->value.data, spec.value.data, spec.value.len) == 0);
	CHECK(out && out->n_extensions == 1 && strcmp(out->extensions[0]->value->type_url, "example.com/ext") == 0);
	CHECK(out && strcmp(out->runtime->name, "io.containerd.runc.v2") == 0);
	md_free(out);
	CHECK_ERR(md_container_create(db, "default", &c, NULL, &e), e, UCD_ALREADY_EXISTS, "container \"c1\": already exists");
	/* the same id in another namespace is another container */
	CHECK_OK(md_container_create(db, "other", &c, NULL, &e), e);

	CHECK_ERR(md_container_get(db, "default", "nope", &out, &e), e, UCD_NOT_FOUND,
		  "container \"nope\" in namespace \"default\": not found");

	/* unknown fields survive the round trip (a newer client's fields) */
	{
		Container u;
		Containerd__Services__Containers__V1__Container__Runtime urt;
		Google__Protobuf__Any uspec;
		fill_container(&u, &urt, &uspec, "c-unknown");
		size_t len = protobuf_c_message_get_packed_size(&u.base);
		uint8_t *buf = malloc(len + 3);
		protobuf_c_message_pack(&u.base, buf);
		buf[len] = 0x98, buf[len + 1] = 0x06, buf[len + 2] = 0x2a;   /* field 99, varint 42 */
		Container *parsed = containerd__services__containers__v1__container__unpack(NULL, len + 3, buf);
		CHECK(parsed && parsed->base.n_unknown_fields == 1);
		if (parsed) {
			CHECK_OK(md_container_create(db, "default", parsed, &out, &e), e);
			CHECK(out && out->base.n_unknown_fields == 1 && out->base.unknown_fields[0].tag == 99);
			md_free(out);
			md_free(parsed);
		}
		free(buf);
	}

	/* list with a match function */
	Container **list = NULL;
	size_t n = 0;
	CHECK_OK(md_container_list(db, "default", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 2 && strcmp(list[0]->id, "c-unknown") == 0 && strcmp(list[1]->id, "c1") == 0);
	md_free_array(list, n);

	/* update by field mask */
	Container in = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	CLabel nl = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	nl.key = "new", nl.value = "v";
	CLabel *inl[] = { &nl };
	in.id = "c1";
	in.labels = inl;
	in.n_labels = 1;
	in.image = "changed";
	const char *pl[] = { "labels.new", "labels.zeta", "image", "extensions.ext1" };
	CHECK_OK(md_container_update(db, "default", &in, pl, 4, &out, &e), e);
	CHECK(out && out->n_labels == 2 && strcmp(LABEL(out, "new"), "v") == 0 && LABEL(out, "zeta") == NULL &&
	      strcmp(LABEL(out, "alpha"), "new") == 0);
	CHECK(out && strcmp(out->image, "changed") == 0 && out->n_extensions == 0);
	CHECK(out && out->spec != NULL && strcmp(out->snapshotter, "overlayfs") == 0);
	CHECK(out && (out->updated_at->seconds > out->created_at->seconds ||
		      (out->updated_at->seconds == out->created_at->seconds &&
		       out->updated_at->nanos >= out->created_at->nanos)));
	md_free(out);
	const char *pbad[] = { "snapshotter" };
	CHECK_ERR(md_container_update(db, "default", &in, pbad, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "cannot update \"snapshotter\" field on \"c1\": invalid argument");
	const char *pspec[] = { "spec" };
	CHECK_ERR(md_container_update(db, "default", &in, pspec, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "update failed validation: container.Spec must be set: invalid argument");
	/* full update: immutable fields must match */
	CHECK_ERR(md_container_update(db, "default", &in, NULL, 0, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "container.Snapshotter field is immutable: invalid argument");
	in.snapshotter = "overlayfs";
	CHECK_ERR(md_container_update(db, "default", &in, NULL, 0, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "container.Runtime.Name field is immutable: invalid argument");
	in.runtime = &rt;
	in.spec = &spec;
	CHECK_OK(md_container_update(db, "default", &in, NULL, 0, &out, &e), e);
	CHECK(out && out->n_labels == 1 && strcmp(out->snapshot_key, "") == 0);
	md_free(out);
	in.id = "nope";
	CHECK_ERR(md_container_update(db, "default", &in, pl, 1, NULL, &e), e, UCD_NOT_FOUND, "container \"nope\": not found");
	in.id = "";
	CHECK_ERR(md_container_update(db, "default", &in, pl, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "must specify a container id: invalid argument");

	CHECK_OK(md_container_delete(db, "other", "c1", &e), e);
	CHECK_ERR(md_container_delete(db, "other", "c1", &e), e, UCD_NOT_FOUND, "container c1: not found");
}

static void fill_image(Image *img, Descriptor *t, const char *name)
{
	containerd__services__images__v1__image__init(img);
	containerd__types__descriptor__init(t);
	t->media_type = "application/vnd.oci.image.index.v1+json";
	t->digest = (char *)DIGEST;
	t->size = 1234;
	img->name = (char *)name;
	img->target = t;
}

static void test_images(struct md_db *db)
{
	struct ucd_error *e = NULL;
	Image img, *out = NULL;
	Descriptor t;
	fill_image(&img, &t, "docker.io/library/busybox:latest");
	ILabel l = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
	l.key = "k", l.value = "v";
	ILabel *labels[] = { &l };
	img.labels = labels;
	img.n_labels = 1;

	Image bad = img;
	Descriptor bt = t;
	bad.target = &bt;
	bt.digest = "sha256:nothex";
	CHECK_ERR(md_image_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "Target.Digest \"sha256:nothex\" invalid: invalid checksum digest length: invalid argument");
	bt.digest = (char *)DIGEST;
	bt.size = 0;
	CHECK_ERR(md_image_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "Target.Size must be greater than zero: invalid argument");
	bt.size = 1;
	bt.media_type = "";
	CHECK_ERR(md_image_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "Target.MediaType must be set: invalid argument");
	bad.target = NULL;
	CHECK_ERR(md_image_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "Target.Digest \"\" invalid: invalid checksum digest format: invalid argument");
	bad = img;
	bad.name = "";
	CHECK_ERR(md_image_create(db, "default", &bad, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "image name must not be empty: invalid argument");

	CHECK_OK(md_image_create(db, "default", &img, &out, &e), e);
	CHECK(out && strcmp(out->target->digest, DIGEST) == 0 && out->target->size == 1234 && out->n_labels == 1);
	CHECK(out && out->created_at && out->updated_at);
	int64_t created = out ? out->created_at->seconds * 1000000000LL + out->created_at->nanos : 0;
	md_free(out);
	CHECK_ERR(md_image_create(db, "default", &img, NULL, &e), e, UCD_ALREADY_EXISTS,
		  "image \"docker.io/library/busybox:latest\": already exists");
	Image img2;
	Descriptor t2;
	fill_image(&img2, &t2, "a.example/x:1");
	CHECK_OK(md_image_create(db, "default", &img2, NULL, &e), e);

	Image **list = NULL;
	size_t n = 0;
	CHECK_OK(md_image_list(db, "default", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 2 && strcmp(list[0]->name, "a.example/x:1") == 0);
	md_free_array(list, n);
	CHECK_OK(md_image_list(db, "empty-ns", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 0);
	md_free_array(list, n);

	/* masks: annotations.<k>, labels, target as a unit */
	Image in = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
	Descriptor it = CONTAINERD__TYPES__DESCRIPTOR__INIT;
	Containerd__Types__Descriptor__AnnotationsEntry an = CONTAINERD__TYPES__DESCRIPTOR__ANNOTATIONS_ENTRY__INIT;
	an.key = "org.opencontainers.image.ref.name", an.value = "latest";
	Containerd__Types__Descriptor__AnnotationsEntry *ans[] = { &an };
	it.annotations = ans;
	it.n_annotations = 1;
	in.name = img.name;
	in.target = &it;
	const char *p1[] = { "annotations.org.opencontainers.image.ref.name", "labels" };
	CHECK_OK(md_image_update(db, "default", &in, p1, 2, &out, &e), e);
	CHECK(out && out->n_labels == 0 && out->target->n_annotations == 1 && out->target->size == 1234);
	CHECK(out && out->created_at->seconds * 1000000000LL + out->created_at->nanos == created);
	md_free(out);
	const char *p2[] = { "target" };
	CHECK_ERR(md_image_update(db, "default", &in, p2, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "Target.Digest \"\" invalid: invalid checksum digest format: invalid argument");
	const char *p3[] = { "name" };
	CHECK_ERR(md_image_update(db, "default", &in, p3, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "cannot update \"name\" field on image \"docker.io/library/busybox:latest\": invalid argument");
	/* full replace */
	CHECK_OK(md_image_update(db, "default", &img2, NULL, 0, &out, &e), e);
	CHECK(out && strcmp(out->name, "a.example/x:1") == 0 && out->target->n_annotations == 0);
	md_free(out);
	in.name = "missing";
	CHECK_ERR(md_image_update(db, "default", &in, p1, 1, NULL, &e), e, UCD_NOT_FOUND, "image \"missing\": not found");

	CHECK_OK(md_image_delete(db, "default", "a.example/x:1", &e), e);
	CHECK_ERR(md_image_delete(db, "default", "a.example/x:1", &e), e, UCD_NOT_FOUND, "image \"a.example/x:1\": not found");
	CHECK_ERR(md_image_get(db, "default", "a.example/x:1", &out, &e), e, UCD_NOT_FOUND, "image \"a.example/x:1\": not found");
}

static bool match_id(const ProtobufCMessage *obj, void *arg)
{
	return strcmp(((const Lease *)obj)->id, arg) == 0;
}

static void test_leases(struct md_db *db)
{
	struct ucd_error *e = NULL;
	Lease *l = NULL;
	struct md_kv labels[] = { { "x", "1" }, { MD_LABEL_GC_EXPIRE, "2000-01-01T00:00:00Z" } };
	CHECK_OK(md_lease_create(db, "leasens", "old", labels, 2, &l, &e), e);
	CHECK(l && strcmp(l->id, "old") == 0 && l->n_labels == 2 && l->created_at != NULL);
	md_free(l);
	CHECK_ERR(md_lease_create(db, "leasens", "old", NULL, 0, NULL, &e), e, UCD_ALREADY_EXISTS, "lease \"old\": already exists");
	struct md_kv later[] = { { MD_LABEL_GC_EXPIRE, "2100-01-01T00:00:00Z" } };
	CHECK_OK(md_lease_create(db, "leasens", "new", later, 1, NULL, &e), e);
	struct md_kv junk[] = { { MD_LABEL_GC_EXPIRE, "not a time" } };
	CHECK_OK(md_lease_create(db, "leasens", "forever", junk, 1, NULL, &e), e);
	CHECK_OK(md_lease_create(db, "other", "plain", NULL, 0, NULL, &e), e);

	int64_t at = 0;
	CHECK(md_lease_next_expiry(db, &at, &e) == 1 && at == 946684800LL * 1000000000);

	Lease **list = NULL;
	size_t n = 0;
	CHECK_OK(md_lease_list(db, "leasens", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 3 && strcmp(list[0]->id, "forever") == 0 && strcmp(list[2]->id, "old") == 0);
	md_free_array(list, n);
	CHECK_OK(md_lease_list(db, "leasens", match_id, "new", &list, &n, &e), e);
	CHECK(n == 1 && strcmp(list[0]->id, "new") == 0);
	md_free_array(list, n);

	/* resources */
	CHECK_OK(md_lease_add_resource(db, "leasens", "new", "snapshots/overlayfs", "key1", &e), e);
	CHECK_OK(md_lease_add_resource(db, "leasens", "new", "content", DIGEST, &e), e);
	CHECK_OK(md_lease_add_resource(db, "leasens", "new", "content", DIGEST, &e), e);   /* twice is fine */
	CHECK_OK(md_lease_add_resource(db, "leasens", "new", "ingests", "ref-1", &e), e);
	CHECK_OK(md_lease_add_resource(db, "leasens", "old", "ingests", "ref-2", &e), e);
	CHECK_ERR(md_lease_add_resource(db, "leasens", "new", "content", "sha256:zz", &e), e, UCD_INVALID_ARGUMENT,
		  "invalid content resource id sha256:zz: invalid checksum digest length: invalid argument");
	CHECK_ERR(md_lease_add_resource(db, "leasens", "new", "snapshots", "k", &e), e, UCD_INVALID_ARGUMENT,
		  "invalid snapshot resource type snapshots: invalid argument");
	CHECK_ERR(md_lease_add_resource(db, "leasens", "new", "content/x", DIGEST, &e), e, UCD_INVALID_ARGUMENT,
		  "invalid resource type content/x: invalid argument");
	CHECK_ERR(md_lease_add_resource(db, "leasens", "new", "blobs", "x", &e), e, UCD_UNIMPLEMENTED,
		  "resource type blobs not supported yet: not implemented");
	CHECK_ERR(md_lease_add_resource(db, "leasens", "nope", "ingests", "x", &e), e, UCD_NOT_FOUND, "lease \"nope\": not found");
	Resource **rs = NULL;
	CHECK_OK(md_lease_list_resources(db, "leasens", "new", &rs, &n, &e), e);
	CHECK(n == 3 && strcmp(rs[0]->type, "content") == 0 && strcmp(rs[1]->type, "ingests") == 0 &&
	      strcmp(rs[2]->type, "snapshots/overlayfs") == 0 && strcmp(rs[2]->id, "key1") == 0);
	md_free_array(rs, n);
	CHECK_OK(md_lease_delete_resource(db, "leasens", "new", "ingests", "ref-1", &e), e);
	CHECK_OK(md_lease_delete_resource(db, "leasens", "new", "ingests", "absent", &e), e);
	CHECK_OK(md_lease_list_resources(db, "leasens", "new", &rs, &n, &e), e);
	CHECK(n == 2);
	md_free_array(rs, n);
	CHECK_ERR(md_lease_list_resources(db, "leasens", "nope", &rs, &n, &e), e, UCD_NOT_FOUND, "lease \"nope\": not found");

	/* while the store is open no other connection may read or write it:
	 * the daemon is its only user (locking_mode = EXCLUSIVE) */
	CHECK(raw_int(md_path(db), "SELECT count(*) FROM leases") == -1);

	/* expiry: only "old" has passed; its resources go with it */
	size_t deleted = 99;
	CHECK_OK(md_lease_delete_expired(db, "other", md_now(), &deleted, &e), e);
	CHECK(deleted == 0);
	CHECK_OK(md_lease_delete_expired(db, NULL, md_now(), &deleted, &e), e);
	CHECK(deleted == 1);
	CHECK_ERR(md_lease_get(db, "leasens", "old", &l, &e), e, UCD_NOT_FOUND, "lease \"old\": not found");
	CHECK(md_lease_next_expiry(db, &at, &e) == 1 && at == 4102444800LL * 1000000000);
	/* at the instant itself it is not yet expired (containerd: now.After(exp)) */
	CHECK_OK(md_lease_delete_expired(db, NULL, at, &deleted, &e), e);
	CHECK(deleted == 0);
	CHECK_OK(md_lease_delete_expired(db, NULL, at + 1, &deleted, &e), e);
	CHECK(deleted == 1);
	CHECK(md_lease_next_expiry(db, &at, &e) == 0);
	CHECK(db_int(db, "SELECT count(*) FROM lease_resources") == 0);

	CHECK_OK(md_lease_delete(db, "leasens", "forever", &e), e);
	CHECK_ERR(md_lease_delete(db, "leasens", "forever", &e), e, UCD_NOT_FOUND, "lease \"forever\": not found");
	CHECK_ERR(md_lease_create(db, "leasens", "", NULL, 0, NULL, &e), e, UCD_INVALID_ARGUMENT, NULL);
}

static void test_namespace_not_empty(struct md_db *db)
{
	struct ucd_error *e = NULL;
	/* "default" holds containers (test_containers) and images (test_images) */
	CHECK_ERR(md_namespace_delete(db, "default", &e), e, UCD_FAILED_PRECONDITION,
		  "namespace \"default\" must be empty, but it still has images, containers: failed precondition");
	CHECK_OK(md_namespace_delete(db, "other", &e), e);   /* only a lease was left there */
	CHECK_OK(md_namespace_delete(db, "leasens", &e), e);   /* leases go with it */
	CHECK(db_int(db, "SELECT count(*) FROM leases WHERE namespace = 'leasens'") == 0);

	Image **imgs = NULL;
	size_t n = 0;
	CHECK_OK(md_image_list(db, "default", NULL, NULL, &imgs, &n, &e), e);
	for (size_t i = 0; i < n; i++)
		CHECK_OK(md_image_delete(db, "default", imgs[i]->name, &e), e);
	md_free_array(imgs, n);
	CHECK_ERR(md_namespace_delete(db, "default", &e), e, UCD_FAILED_PRECONDITION,
		  "namespace \"default\" must be empty, but it still has containers: failed precondition");
	Container **cs = NULL;
	CHECK_OK(md_container_list(db, "default", NULL, NULL, &cs, &n, &e), e);
	for (size_t i = 0; i < n; i++)
		CHECK_OK(md_container_delete(db, "default", cs[i]->id, &e), e);
	md_free_array(cs, n);
	CHECK_OK(md_namespace_delete(db, "default", &e), e);
}

static void test_transactions(struct md_db *db)
{
	struct ucd_error *e = NULL;
	bool exists;
	/* a request's transaction rolled back leaves nothing */
	CHECK_OK(md_begin(db, &e), e);
	CHECK_OK(md_namespace_create(db, "tx-a", NULL, 0, &e), e);
	CHECK(md_tx_depth(db) == 1);
	md_rollback(db);
	CHECK(md_tx_depth(db) == 0);
	CHECK_OK(md_namespace_exists(db, "tx-a", &exists, &e), e);
	CHECK(!exists);

	/* a failing store call inside a request undoes only itself */
	Image img;
	Descriptor t;
	fill_image(&img, &t, "tx/image:1");
	CHECK_OK(md_begin(db, &e), e);
	CHECK_OK(md_image_create(db, "txns", &img, NULL, &e), e);
	CHECK_ERR(md_image_create(db, "txns", &img, NULL, &e), e, UCD_ALREADY_EXISTS, NULL);
	CHECK_OK(md_begin(db, &e), e);
	CHECK_OK(md_namespace_create(db, "tx-inner", NULL, 0, &e), e);
	md_rollback(db);   /* inner savepoint only */
	CHECK(md_tx_depth(db) == 1);
	CHECK_OK(md_commit(db, &e), e);
	Image *out = NULL;
	CHECK_OK(md_image_get(db, "txns", "tx/image:1", &out, &e), e);
	md_free(out);
	CHECK_OK(md_namespace_exists(db, "tx-inner", &exists, &e), e);
	CHECK(!exists);

	/* data written before a rollback is intact afterwards */
	CHECK_OK(md_begin(db, &e), e);
	CHECK_OK(md_image_delete(db, "txns", "tx/image:1", &e), e);
	md_rollback(db);
	CHECK_OK(md_image_get(db, "txns", "tx/image:1", &out, &e), e);
	CHECK(out && out->target && out->target->size == 1234);
	md_free(out);
	CHECK_ERR(md_commit(db, &e), e, UCD_INTERNAL, NULL);   /* nothing open */
}

int main(void)
{
	log_set_level(LOG_WARN);
	test_validation();
	test_open_and_reopen();
	test_refusals();
	test_migrations();

	char *dir = tmp_dir();
	struct ucd_error *e = NULL;
	struct md_db *db = md_open(dir, &e);
	CHECK(db != NULL);
	if (db != NULL) {
		test_namespaces(db);
		test_containers(db);
		test_images(db);
		test_leases(db);
		test_namespace_not_empty(db);
		test_transactions(db);
		md_close(db);
	} else {
		fprintf(stderr, "md_open: %s\n", e ? e->msg : "");
		error_free(e);
	}
	rm_rf(dir);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
