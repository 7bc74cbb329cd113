/* What md_gc_collect keeps and deletes, on a real database seeded with
 * every kind of root and reference containerd's collector follows (see
 * core/metadata/gc.c for the rules). Rows are seeded with plain SQL so the
 * test depends only on the schema, not on the content/snapshot stores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/tap.h"
#include "metadata/db.h"
#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/strset.h"

static struct md_db *db;
static int64_t now;

/* "sha256:000...0<n>": a valid digest per name. */
static const char *dg(int n)
{
	static char buf[16][80];
	static int next;
	char *b = buf[next++ % 16];
	snprintf(b, 80, "sha256:%064x", n);
	return b;
}

static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	autofree char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *msg = NULL;
	if (sqlite3_exec(db->sql, s, NULL, NULL, &msg) != SQLITE_OK) {
		printf("# sql failed: %s: %s\n", s, msg);
		exit(2);
	}
}

static int count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int count(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	autofree char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->sql, s, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		printf("# count failed: %s: %s\n", s, sqlite3_errmsg(db->sql));
		exit(2);
	}
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void content(const char *ns, int n)
{
	sql("INSERT INTO content VALUES ('%s', '%s', 1, %lld, %lld)", ns, dg(n), (long long)now, (long long)now);
}

static void content_label(const char *ns, int n, const char *key, const char *value)
{
	sql("INSERT INTO content_labels VALUES ('%s', '%s', '%s', '%s')", ns, dg(n), key, value);
}

static void snapshot(const char *ns, const char *snapshotter, const char *key, const char *parent)
{
	sql("INSERT INTO snapshots VALUES ('%s', '%s', '%s', '%s/%s', '%s', 3, %lld, %lld)", snapshotter, ns, key, ns,
	    key, parent, (long long)now, (long long)now);
}

static bool has_content(const char *ns, int n)
{
	return count("SELECT count(*) FROM content WHERE namespace = '%s' AND digest = '%s'", ns, dg(n)) == 1;
}

static bool has_snapshot(const char *ns, const char *snapshotter, const char *key)
{
	return count("SELECT count(*) FROM snapshots WHERE namespace = '%s' AND snapshotter = '%s' AND key = '%s'", ns,
		     snapshotter, key) == 1;
}

static bool has_ingest(const char *ns, const char *ref)
{
	return count("SELECT count(*) FROM ingests WHERE namespace = '%s' AND ref = '%s'", ns, ref) == 1;
}

static void image(const char *ns, const char *name, int target, const char *label_key, const char *label_value)
{
	Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
	Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
	Containerd__Services__Images__V1__Image__LabelsEntry le =
		CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
	Containerd__Services__Images__V1__Image__LabelsEntry *lp = &le;
	img.name = (char *)name;
	d.media_type = "application/vnd.oci.image.manifest.v1+json";
	d.digest = (char *)dg(target);
	d.size = 1;
	img.target = &d;
	if (label_key != NULL) {
		le.key = (char *)label_key;
		le.value = (char *)label_value;
		img.labels = &lp;
		img.n_labels = 1;
	}
	struct ucd_error *e = NULL;
	Containerd__Services__Images__V1__Image *out = NULL;
	if (md_image_create(db, ns, &img, &out, &e) < 0) {
		printf("# image: %s\n", e->msg);
		exit(2);
	}
	md_free(out);
}

/* A container row with a snapshot and one label (record built by hand). */
static void container(const char *ns, const char *id, const char *snapshotter, const char *key,
		      const char *label_key, const char *label_value)
{
	Containerd__Services__Containers__V1__Container c = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
	Containerd__Services__Containers__V1__Container__LabelsEntry le =
		CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
	Containerd__Services__Containers__V1__Container__LabelsEntry *lp = &le;
	c.id = (char *)id;
	le.key = (char *)label_key;
	le.value = (char *)label_value;
	c.labels = &lp;
	c.n_labels = 1;
	size_t len = 0;
	autofree uint8_t *rec = md_pack(&c.base, &len);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db->sql,
			   "INSERT INTO containers VALUES (?, ?, '', 'io.containerd.runc.v2', ?, ?, 0, 0, ?)", -1,
			   &st, NULL);
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, snapshotter, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, rec, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		printf("# container: %s\n", sqlite3_errmsg(db->sql));
		exit(2);
	}
	sqlite3_finalize(st);
}

static void lease(const char *ns, const char *id, const char *expire)
{
	struct md_kv kv = {"containerd.io/gc.expire", expire};
	struct ucd_error *e = NULL;
	Containerd__Services__Leases__V1__Lease *out = NULL;
	if (md_lease_create(db, ns, id, expire ? &kv : NULL, expire ? 1 : 0, &out, &e) < 0) {
		printf("# lease: %s\n", e->msg);
		exit(2);
	}
	md_free(out);
}

static void lease_res(const char *ns, const char *id, const char *type, const char *rid)
{
	struct ucd_error *e = NULL;
	if (md_lease_add_resource(db, ns, id, type, rid, &e) < 0) {
		printf("# lease resource: %s\n", e->msg);
		exit(2);
	}
}

int main(void)
{
	char dir[] = "/tmp/ucd-gc-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 2;
	struct ucd_error *e = NULL;
	db = md_open(dir, &e);
	if (db == NULL) {
		printf("# open: %s\n", e->msg);
		return 2;
	}
	now = md_now();
	sql("INSERT INTO namespaces VALUES ('a', 0), ('b', 0)");

	/* ns a: image -> manifest 1 -> config 2 (-> snapshot chain2 -> chain1) and layer 3 */
	image("a", "img", 1, NULL, NULL);
	content("a", 1);
	content_label("a", 1, "containerd.io/gc.ref.content.config", dg(2));
	content_label("a", 1, "containerd.io/gc.ref.content.l.0", dg(3));
	content_label("a", 1, "containerd.io/gc.ref.contentx", dg(30)); /* not a ref: no separator */
	content("a", 2);
	content_label("a", 2, "containerd.io/gc.ref.snapshot.overlayfs", "chain2");
	content("a", 3);
	content("a", 30);
	snapshot("a", "overlayfs", "chain1", "");
	snapshot("a", "overlayfs", "chain2", "chain1");
	snapshot("a", "overlayfs", "other", "chain1"); /* unreferenced child of a live one */
	/* an image label reference */
	image("a", "img2", 1, "containerd.io/gc.ref.content.extra", dg(4));
	content("a", 4);
	/* orphans and a gc.root */
	content("a", 5);
	content("a", 6);
	content_label("a", 6, "containerd.io/gc.root", "x");
	/* a snapshot label reference to content, and a gc.root snapshot */
	snapshot("a", "native", "rooted", "");
	sql("INSERT INTO snapshot_labels VALUES ('native', 'a', 'rooted', 'containerd.io/gc.root', '1')");
	sql("INSERT INTO snapshot_labels VALUES ('native', 'a', 'rooted', 'containerd.io/gc.ref.content.x', '%s')",
	    dg(7));
	content("a", 7);
	/* leases: live one holding content 8, a native snapshot and ingest i3; expired one holding 9 */
	lease("a", "live", NULL);
	lease("a", "dead", "2000-01-01T00:00:00Z");
	content("a", 8);
	content("a", 9);
	snapshot("a", "native", "leased", "");
	lease_res("a", "live", "content", dg(8));
	lease_res("a", "live", "snapshots/native", "leased");
	lease_res("a", "live", "ingests", "i3");
	lease_res("a", "dead", "content", dg(9));
	/* ingests: young unleased, two days old, leased, expecting blob 10 */
	sql("INSERT INTO ingests VALUES ('a', 'i1', 'a/1/i1', '', 0, %lld)", (long long)now);
	sql("INSERT INTO ingests VALUES ('a', 'i2', 'a/2/i2', '', 0, %lld)", (long long)(now - 2LL * 86400 * 1000000000));
	sql("INSERT INTO ingests VALUES ('a', 'i3', 'a/3/i3', '', 0, %lld)", (long long)(now - 2LL * 86400 * 1000000000));
	sql("INSERT INTO ingests VALUES ('a', 'i4', 'a/4/i4', '%s', 0, %lld)", dg(10), (long long)now);
	content("a", 10);
	/* a container: its snapshot and its label reference */
	container("a", "c1", "native", "ck", "containerd.io/gc.ref.content.spec", dg(11));
	snapshot("a", "native", "ck", "");
	content("a", 11);
	/* a snapshot-ref label naming a snapshotter with a suffix */
	content_label("a", 11, "containerd.io/gc.ref.snapshot.native/extra", "viaslash");
	snapshot("a", "native", "viaslash", "");

	/* ns b holds blob 1 and 3 too, referenced by nothing there */
	content("b", 1);
	content("b", 3);
	snapshot("b", "overlayfs", "chain1", "");

	struct md_gc_stats st = {.now = now};
	CHECK(md_gc_collect(db, &st, &e) == 0);
	if (e)
		printf("# %s\n", e->msg);

	CHECK(has_content("a", 1));   /* image target */
	CHECK(has_content("a", 2));   /* gc.ref.content.config */
	CHECK(has_content("a", 3));   /* gc.ref.content.l.0 */
	CHECK(!has_content("a", 30)); /* "gc.ref.contentx" is no reference */
	CHECK(has_content("a", 4));   /* image label */
	CHECK(!has_content("a", 5));  /* orphan */
	CHECK(has_content("a", 6));   /* gc.root */
	CHECK(has_content("a", 7));   /* snapshot label of a gc.root snapshot */
	CHECK(has_content("a", 8));   /* live lease */
	CHECK(!has_content("a", 9));  /* expired lease holds nothing */
	CHECK(has_content("a", 10));  /* expected by a live ingest */
	CHECK(has_content("a", 11));  /* container label */
	CHECK(has_snapshot("a", "overlayfs", "chain2"));
	CHECK(has_snapshot("a", "overlayfs", "chain1")); /* parent of a live one */
	CHECK(!has_snapshot("a", "overlayfs", "other"));
	CHECK(has_snapshot("a", "native", "rooted"));
	CHECK(has_snapshot("a", "native", "leased"));
	CHECK(has_snapshot("a", "native", "ck"));
	CHECK(has_snapshot("a", "native", "viaslash"));
	CHECK(has_ingest("a", "i1"));
	CHECK(!has_ingest("a", "i2"));
	CHECK(has_ingest("a", "i3"));
	CHECK(has_ingest("a", "i4"));
	CHECK(!has_content("b", 1)); /* namespaces are separate */
	CHECK(!has_content("b", 3));
	CHECK(!has_snapshot("b", "overlayfs", "chain1"));
	CHECK(st.content == 5 && st.snapshots == 2 && st.ingests == 1);
	printf("# deleted: %zu content, %zu snapshots, %zu ingests\n", st.content, st.snapshots, st.ingests);
	CHECK(count("SELECT count(*) FROM content_labels WHERE digest = '%s'", dg(30)) == 0); /* labels cascade */

	struct strset digests = STRSET_INIT, refs = STRSET_INIT, snaps = STRSET_INIT;
	CHECK(md_gc_referenced(db, &digests, &refs, &snaps, &e) == 0);
	CHECK(strset_has(&digests, dg(1)) && !strset_has(&digests, dg(5)) && digests.n == 9);
	CHECK(strset_has(&refs, "a/1/i1") && !strset_has(&refs, "a/2/i2") && refs.n == 3);
	CHECK(strset_has2(&snaps, "overlayfs", "a/chain2") && !strset_has2(&snaps, "overlayfs", "b/chain1"));
	strset_free(&digests);
	strset_free(&refs);
	strset_free(&snaps);

	/* A second collection finds nothing more, and the next one after a
	 * delete follows it: the image goes, so does what only it held. */
	CHECK(md_gc_collect(db, &st, &e) == 0 && st.content == 0 && st.snapshots == 0 && st.ingests == 0);
	CHECK(md_image_delete(db, "a", "img2", &e) == 0);
	CHECK(md_gc_collect(db, &st, &e) == 0 && st.content == 1 && !has_content("a", 4) && has_content("a", 1));

	/* A record that does not decode may hold gc.ref labels: the collection
	 * is refused as a whole (nothing deleted in any namespace) with a
	 * message that names it, until it is removed. */
	image("a", "img3", 1, "containerd.io/gc.ref.content.extra", dg(12));
	content("a", 12);
	content("b", 13);   /* unreferenced, in another namespace */
	sql("UPDATE images SET record = x'ffffffffffff' WHERE namespace = 'a' AND name = 'img3'");
	e = NULL;
	CHECK(md_gc_collect(db, &st, &e) == -UCD_DATA_LOSS);
	CHECK(e != NULL && strstr(e->msg, "garbage collection refused: image \"img3\" in namespace \"a\" has a record "
					 "this daemon cannot decode") != NULL);
	if (e)
		printf("# %s\n", e->msg);
	error_free(e);
	e = NULL;
	CHECK(has_content("a", 12) && has_content("b", 13) && st.content == 0);
	container("b", "c2", "", "", "containerd.io/gc.ref.content.x", dg(13));
	sql("UPDATE containers SET record = x'ff' WHERE namespace = 'b' AND id = 'c2'");
	CHECK(md_image_delete(db, "a", "img3", &e) == 0);
	CHECK(md_gc_collect(db, &st, &e) == -UCD_DATA_LOSS);
	CHECK(e != NULL && strstr(e->msg, "container \"c2\" in namespace \"b\"") != NULL &&
	      strstr(e->msg, "ctr -n b containers rm c2") != NULL);
	error_free(e);
	e = NULL;
	CHECK(has_content("a", 12) && has_content("b", 13));
	sql("DELETE FROM containers WHERE namespace = 'b' AND id = 'c2'");
	CHECK(md_gc_collect(db, &st, &e) == 0 && !has_content("a", 12) && !has_content("b", 13));

	md_close(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
