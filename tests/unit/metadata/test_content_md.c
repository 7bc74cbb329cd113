/* Unit tests of core/metadata/content.c: per-namespace content records
 * (get, put, list, update masks, delete, references), ingests (backend refs
 * from the never-reused sequence, get/put/delete/list) and the namespace
 * delete check for blobs, with containerd's codes and messages. Prints
 * "N passed, N failed" last and exits non-zero on any failure. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metadata/db.h"
#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "md_check.h"

typedef Containerd__Services__Content__V1__Info Info;

static const char D1[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
static const char D2[] = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

static const char *label(const Info *i, const char *key)
{
	ssize_t k = md_map_find((ProtobufCMessage *const *)i->labels, i->n_labels, key);
	return k < 0 ? NULL : md_entry_str((ProtobufCMessage *)i->labels[k]);
}

static void test_records(struct md_db *db)
{
	struct ucd_error *e = NULL;
	Info *info = NULL;
	struct md_kv labels[] = { { "a", "1" }, { "b", "2" }, { "empty", "" } };

	CHECK_ERR(md_content_get(db, "ns1", D1, &info, &e), e, UCD_NOT_FOUND,
		  "content digest sha256:1111111111111111111111111111111111111111111111111111111111111111: not found");
	CHECK(md_content_put(db, "ns1", D1, 42, labels, 3, &e) == 1);
	error_free(e), e = NULL;
	CHECK_OK(md_content_get(db, "ns1", D1, &info, &e), e);
	CHECK(info != NULL && info->size == 42 && info->n_labels == 2);
	CHECK_STR(label(info, "a"), "1");
	CHECK(label(info, "empty") == NULL);   /* empty values are not stored */
	CHECK(info->created_at != NULL && info->updated_at != NULL);
	int64_t created = info->created_at->seconds;
	md_free(info), info = NULL;

	/* put again: kept (0), size and times unchanged; labels NULL leaves them */
	CHECK(md_content_put(db, "ns1", D1, 99, NULL, 0, &e) == 0);
	CHECK_OK(md_content_get(db, "ns1", D1, &info, &e), e);
	CHECK(info->size == 42 && info->n_labels == 2 && info->created_at->seconds == created);
	md_free(info), info = NULL;
	/* labels given replace */
	struct md_kv one[] = { { "c", "3" } };
	CHECK(md_content_put(db, "ns1", D1, 42, one, 1, &e) == 0);
	CHECK_OK(md_content_get(db, "ns1", D1, &info, &e), e);
	CHECK(info->n_labels == 1);
	CHECK_STR(label(info, "c"), "3");
	md_free(info), info = NULL;

	/* namespaces see their own records only */
	CHECK_ERR(md_content_get(db, "ns2", D1, &info, &e), e, UCD_NOT_FOUND, "~not found");
	bool exists = true;
	CHECK_OK(md_content_exists(db, "ns2", D1, &exists, &e), e);
	CHECK(!exists);

	/* validation */
	CHECK_ERR(md_content_put(db, "ns1", "sha256:abc", 1, NULL, 0, &e), e, UCD_INVALID_ARGUMENT,
		  "digest \"sha256:abc\": invalid checksum digest length: invalid argument");
	char big[5000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct md_kv huge[] = { { "k", big } };
	CHECK_ERR(md_content_put(db, "ns1", D2, 1, huge, 1, &e), e, UCD_INVALID_ARGUMENT,
		  "~info.Labels: label key and value greater than maximum size (4096 bytes)");
	CHECK_ERR(md_content_get(db, "ns1", D2, &info, &e), e, UCD_NOT_FOUND, NULL);   /* nothing half-written */
	CHECK_ERR(md_content_put(db, "Bad NS", D2, 1, NULL, 0, &e), e, UCD_INVALID_ARGUMENT, NULL);

	/* list: sorted by digest, per namespace */
	CHECK(md_content_put(db, "ns1", D2, 7, NULL, 0, &e) == 1);
	CHECK(md_content_put(db, "ns2", D2, 7, NULL, 0, &e) == 1);
	Info **list = NULL;
	size_t n = 0;
	CHECK_OK(md_content_list(db, "ns1", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 2 && strcmp(list[0]->digest, D1) == 0 && strcmp(list[1]->digest, D2) == 0);
	md_free_array(list, n);
	CHECK_OK(md_content_list(db, "ns3", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 0);
	md_free_array(list, n);
}

static void test_update(struct md_db *db)
{
	struct ucd_error *e = NULL;
	Info *info = NULL;
	struct md_kv base[] = { { "a", "1" }, { "b", "2" } };
	CHECK(md_content_put(db, "upd", D1, 5, base, 2, &e) == 1);

	struct md_kv in[] = { { "a", "new" }, { "z", "26" } };
	const char *p_ab[] = { "labels.a", "labels.b" };
	CHECK_OK(md_content_update(db, "upd", D1, in, 2, p_ab, 2, &info, &e), e);
	CHECK(info->n_labels == 1);   /* a set, b removed (absent from the request), z not asked for */
	CHECK_STR(label(info, "a"), "new");
	md_free(info), info = NULL;

	const char *p_all[] = { "labels" };
	CHECK_OK(md_content_update(db, "upd", D1, in, 2, p_all, 1, &info, &e), e);
	CHECK(info->n_labels == 2);
	CHECK_STR(label(info, "z"), "26");
	md_free(info), info = NULL;

	struct md_kv only[] = { { "x", "y" } };
	CHECK_OK(md_content_update(db, "upd", D1, only, 1, NULL, 0, &info, &e), e);
	CHECK(info->n_labels == 1 && label(info, "x") != NULL);
	CHECK(info->updated_at->seconds * 1000000000LL + info->updated_at->nanos >=
	      info->created_at->seconds * 1000000000LL + info->created_at->nanos);
	md_free(info), info = NULL;

	const char *p_bad[] = { "labels.x", "size" };
	CHECK_ERR(md_content_update(db, "upd", D1, NULL, 0, p_bad, 2, &info, &e), e, UCD_INVALID_ARGUMENT,
		  "cannot update \"size\" field on content info "
		  "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\": invalid argument");
	CHECK_OK(md_content_get(db, "upd", D1, &info, &e), e);
	CHECK(info->n_labels == 1);   /* the failed update changed nothing */
	md_free(info), info = NULL;

	CHECK_ERR(md_content_update(db, "upd", D2, NULL, 0, NULL, 0, &info, &e), e, UCD_NOT_FOUND,
		  "content digest sha256:2222222222222222222222222222222222222222222222222222222222222222: not found");
	CHECK_ERR(md_content_update(db, "upd", "nope", NULL, 0, NULL, 0, &info, &e), e, UCD_INVALID_ARGUMENT, NULL);
}

static void test_delete_and_references(struct md_db *db)
{
	struct ucd_error *e = NULL;
	bool unref = true, yes = false;
	CHECK(md_content_put(db, "del1", D1, 5, NULL, 0, &e) == 1);
	CHECK(md_content_put(db, "del2", D1, 5, NULL, 0, &e) == 1);
	CHECK_OK(md_content_delete(db, "del1", D1, &unref, &e), e);
	CHECK(!unref);   /* ns upd, del2 still hold it */
	CHECK_ERR(md_content_delete(db, "del1", D1, NULL, &e), e, UCD_NOT_FOUND, "~: not found");
	CHECK_OK(md_content_delete(db, "del2", D1, &unref, &e), e);
	CHECK_OK(md_content_delete(db, "upd", D1, &unref, &e), e);
	CHECK_OK(md_content_delete(db, "ns1", D1, &unref, &e), e);
	CHECK(unref);
	CHECK_OK(md_content_referenced(db, D1, &yes, &e), e);
	CHECK(!yes);
	/* an ingest expecting a blob references it */
	CHECK(md_ingest_put(db, "del1", "r", D1, 5, NULL, &e) == 1);
	CHECK_OK(md_content_referenced(db, D1, &yes, &e), e);
	CHECK(yes);
	CHECK_OK(md_ingest_delete(db, "del1", "r", NULL, &e), e);
}

static void test_ingests(struct md_db *db)
{
	struct ucd_error *e = NULL;
	struct md_ingest in = {0}, again = {0};
	CHECK_ERR(md_ingest_get(db, "ing", "ref1", &in, &e), e, UCD_NOT_FOUND, "reference ref1: not found");
	CHECK(md_ingest_put(db, "ing", "ref1", "", 100, &in, &e) == 1);
	CHECK(in.backend_ref != NULL && strncmp(in.backend_ref, "ing/", 4) == 0);
	CHECK(in.backend_ref && strlen(in.backend_ref) > 5 && strcmp(strrchr(in.backend_ref, '/'), "/ref1") == 0);
	CHECK(in.total == 100 && in.expected[0] == '\0' && in.created_at > 0);
	/* resuming keeps the backend ref */
	CHECK(md_ingest_put(db, "ing", "ref1", "", 0, &again, &e) == 0);
	CHECK_STR(again.backend_ref, in.backend_ref);
	md_ingest_fini(&again);
	/* a ref with slashes and spaces is fine; another namespace gets its own */
	CHECK(md_ingest_put(db, "ing2", "ref1", "", 0, &again, &e) == 1);
	CHECK(strcmp(again.backend_ref, in.backend_ref) != 0);
	char *ns = NULL, *ref = NULL;
	CHECK(md_ingest_by_backend(db, again.backend_ref, &ns, &ref, &e) == 1);
	CHECK_STR(ns, "ing2");
	CHECK_STR(ref, "ref1");
	free(ns);
	free(ref);
	CHECK(md_ingest_by_backend(db, "no/such/ref", NULL, NULL, &e) == 0);
	md_ingest_fini(&again);
	/* deleted and recreated: never the same backend ref */
	struct md_ingest gone = {0};
	CHECK_OK(md_ingest_delete(db, "ing", "ref1", &gone, &e), e);
	CHECK_STR(gone.backend_ref, in.backend_ref);
	md_ingest_fini(&gone);
	CHECK_ERR(md_ingest_delete(db, "ing", "ref1", NULL, &e), e, UCD_NOT_FOUND, "reference ref1: not found");
	CHECK(md_ingest_put(db, "ing", "ref1", "", 0, &again, &e) == 1);
	CHECK(strcmp(again.backend_ref, in.backend_ref) != 0);
	md_ingest_fini(&again);
	md_ingest_fini(&in);
	CHECK_ERR(md_ingest_put(db, "ing", "", "", 0, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "ref must not be empty: invalid argument");
	CHECK(md_ingest_put(db, "ing", "a/b c", "", 0, NULL, &e) == 1);
	struct md_ingest *v = NULL;
	size_t n = 0;
	CHECK_OK(md_ingest_list(db, "ing", &v, &n, &e), e);
	CHECK(n == 2 && strcmp(v[0].ref, "a/b c") == 0 && strcmp(v[1].ref, "ref1") == 0);
	md_ingest_free_array(v, n);
	CHECK_OK(md_ingest_list(db, NULL, &v, &n, &e), e);
	CHECK(n == 3);
	md_ingest_free_array(v, n);
}

static void test_namespace_delete(struct md_db *db)
{
	struct ucd_error *e = NULL;
	CHECK(md_content_put(db, "full", D2, 1, NULL, 0, &e) == 1);
	CHECK(md_ingest_put(db, "full", "pending", "", 0, NULL, &e) == 1);
	CHECK_ERR(md_namespace_delete(db, "full", &e), e, UCD_FAILED_PRECONDITION,
		  "namespace \"full\" must be empty, but it still has blobs: failed precondition");
	CHECK_OK(md_content_delete(db, "full", D2, NULL, &e), e);
	/* ingests alone do not block the delete; they go with the namespace */
	CHECK_OK(md_namespace_delete(db, "full", &e), e);
	CHECK_ERR(md_ingest_get(db, "full", "pending", NULL, &e), e, UCD_NOT_FOUND, NULL);
}

static void test_rollback(struct md_db *db)
{
	struct ucd_error *e = NULL;
	CHECK_OK(md_begin(db, &e), e);
	CHECK(md_content_put(db, "rb", D1, 1, NULL, 0, &e) == 1);
	CHECK(md_ingest_put(db, "rb", "r", "", 0, NULL, &e) == 1);
	md_rollback(db);
	bool exists = true;
	CHECK_OK(md_content_exists(db, "rb", D1, &exists, &e), e);
	CHECK(!exists);
	CHECK_ERR(md_ingest_get(db, "rb", "r", NULL, &e), e, UCD_NOT_FOUND, NULL);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256];
	snprintf(dir, sizeof dir, "%s/ucd-content-md-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	struct ucd_error *e = NULL;
	struct md_db *db = md_open(dir, &e);
	if (db == NULL) {
		fprintf(stderr, "md_open: %s\n", e ? e->msg : "?");
		return 2;
	}
	test_records(db);
	test_update(db);
	test_delete_and_references(db);
	test_ingests(db);
	test_namespace_delete(db);
	test_rollback(db);
	md_close(db);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
