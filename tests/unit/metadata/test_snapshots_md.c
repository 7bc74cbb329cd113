/* Unit tests of core/metadata/snapshots.c: the per-namespace snapshot rows
 * (containerd's metadata snapshotter) with containerd's codes and messages,
 * backend keys from a sequence that is never reused, parent links, commit,
 * remove with children, label updates by field path, the walks the garbage
 * collector uses and the namespace-empty check. Prints "N passed, N failed"
 * last and exits non-zero on any failure. */
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ucontainerd/snapshotter.h>

#include "metadata/db.h"
#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "md_check.h"

/* A query through the store's own connection (the only one its lock allows). */
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

static const char *label(const MdSnapshotInfo *i, const char *key)
{
	for (size_t k = 0; k < i->n_labels; k++)
		if (strcmp(i->labels[k]->key, key) == 0)
			return i->labels[k]->value;
	return NULL;
}

static int64_t ts(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000000 + t->nanos : -1;
}

static const char SN[] = "overlayfs";

/* Prepare as the service does it: checks, backend key, row. */
static int create(struct md_db *db, const char *ns, const char *key, const char *parent, int kind,
		  const struct md_kv *labels, size_t n, char **bkey_out, struct ucd_error **e)
{
	char *bkey = NULL;
	int r = md_snapshot_check_create(db, SN, ns, key, parent, NULL, labels, n, NULL, e);
	if (r == 0)
		r = md_snapshot_new_backend_key(db, SN, ns, key, &bkey, e);
	if (r == 0)
		r = md_snapshot_create(db, SN, ns, key, bkey, parent, kind, labels, n, e);
	if (bkey_out != NULL && r == 0)
		*bkey_out = bkey;
	else
		free(bkey);
	return r;
}

static void test_create_and_stat(struct md_db *db)
{
	struct ucd_error *e = NULL;
	struct md_kv labels[] = { { "b", "2" }, { "a", "1" }, { "a", "one" }, { "empty", "" } };
	char *bkey = NULL;
	CHECK_OK(create(db, "ns1", "a1", "", UCD_SNAPSHOT_ACTIVE, labels, 4, &bkey, &e), e);
	CHECK(bkey && strncmp(bkey, "ns1/", 4) == 0 && strcmp(bkey + strlen(bkey) - 3, "/a1") == 0);

	MdSnapshotInfo *i = NULL;
	CHECK_OK(md_snapshot_stat(db, SN, "ns1", "a1", &i, &e), e);
	CHECK(i && strcmp(i->name, "a1") == 0 && strcmp(i->parent, "") == 0);
	CHECK(i && i->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE);
	/* last value wins, empty values are not stored, sorted by key */
	CHECK(i && i->n_labels == 2 && strcmp(i->labels[0]->key, "a") == 0);
	CHECK(i && label(i, "a") && strcmp(label(i, "a"), "one") == 0 && label(i, "empty") == NULL);
	CHECK(i && ts(i->created_at) > 0 && ts(i->created_at) == ts(i->updated_at));
	md_free(i);

	struct md_snapshot_ref ref = { 0 };
	CHECK(md_snapshot_lookup(db, SN, "ns1", "a1", &ref, &e) == 1);
	CHECK(ref.backend_key && bkey && strcmp(ref.backend_key, bkey) == 0 && ref.kind == UCD_SNAPSHOT_ACTIVE);
	md_snapshot_ref_fini(&ref);
	CHECK(md_snapshot_lookup(db, SN, "ns1", "nope", &ref, &e) == 0);
	CHECK(md_snapshot_lookup(db, "native", "ns1", "a1", &ref, &e) == 0);   /* per snapshotter */
	free(bkey);

	CHECK_ERR(md_snapshot_stat(db, SN, "ns1", "nope", &i, &e), e, UCD_NOT_FOUND,
		  "snapshot nope does not exist: not found");
	CHECK_ERR(md_snapshot_stat(db, SN, "ns2", "a1", &i, &e), e, UCD_NOT_FOUND,
		  "snapshot a1 does not exist: not found");
	CHECK_ERR(create(db, "ns1", "a1", "", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e, UCD_ALREADY_EXISTS,
		  "snapshot \"a1\": already exists");
	/* the same key in another namespace is another snapshot */
	CHECK_OK(create(db, "ns2", "a1", "", UCD_SNAPSHOT_VIEW, NULL, 0, NULL, &e), e);
	CHECK_OK(md_snapshot_stat(db, SN, "ns2", "a1", &i, &e), e);
	CHECK(i && i->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__VIEW && i->n_labels == 0);
	md_free(i);

	CHECK_ERR(create(db, "ns1", "c", "missing", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e, UCD_NOT_FOUND,
		  "parent snapshot missing does not exist: not found");
	CHECK_ERR(create(db, "ns1", "c", "a1", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "parent \"a1\" is not committed snapshot: invalid argument");
	/* the parent lives in the namespace: ns2's view is not ns1's parent */
	CHECK_ERR(md_snapshot_check_create(db, SN, "ns1", "c", "", "a1", NULL, 0, NULL, &e), e, UCD_ALREADY_EXISTS,
		  "target snapshot \"a1\": already exists");
	char big[4100];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct md_kv bad[] = { { "k", big } };
	CHECK_ERR(create(db, "ns1", "c", "", UCD_SNAPSHOT_ACTIVE, bad, 1, NULL, &e), e, UCD_INVALID_ARGUMENT,
		  "info.Labels: label key and value greater than maximum size (4096 bytes), key: k: invalid argument");
	CHECK_ERR(md_snapshot_create(db, SN, "ns1", "c", "x", "", UCD_SNAPSHOT_COMMITTED, NULL, 0, &e), e,
		  UCD_INVALID_ARGUMENT, NULL);
	/* a failed create leaves nothing */
	CHECK(md_snapshot_lookup(db, SN, "ns1", "c", NULL, &e) == 0);
}

static void test_backend_keys(struct md_db *db)
{
	struct ucd_error *e = NULL;
	char *k1 = NULL, *k2 = NULL, *k3 = NULL;
	CHECK_OK(md_snapshot_new_backend_key(db, SN, "ns1", "x", &k1, &e), e);
	CHECK_OK(md_snapshot_new_backend_key(db, SN, "ns9", "x", &k2, &e), e);
	CHECK_OK(md_snapshot_new_backend_key(db, "native", "ns1", "x", &k3, &e), e);
	long s1 = k1 ? strtol(k1 + 4, NULL, 10) : 0, s2 = k2 ? strtol(k2 + 4, NULL, 10) : 0;
	CHECK(k1 && k2 && s2 == s1 + 1 && strcmp(k2 + strlen(k2) - 2, "/x") == 0);
	CHECK(k3 && strcmp(k3, "ns1/1/x") == 0);   /* one sequence per snapshotter */
	/* a rolled back transaction may reuse a number nobody saw; a committed
	 * one is never handed out again */
	CHECK_OK(md_begin(db, &e), e);
	char *k4 = NULL;
	CHECK_OK(md_snapshot_new_backend_key(db, SN, "ns1", "y", &k4, &e), e);
	CHECK_OK(md_commit(db, &e), e);
	CHECK(k4 && strtol(k4 + 4, NULL, 10) == s2 + 1);
	/* a block: the numbers after it are the next caller's */
	int64_t first = 0;
	CHECK_OK(md_snapshot_reserve_sequence(db, SN, 64, &first, &e), e);
	CHECK(first == s2 + 2);
	char *k5 = NULL;
	CHECK_OK(md_snapshot_new_backend_key(db, SN, "ns1", "z", &k5, &e), e);
	CHECK(k5 && strtol(k5 + 4, NULL, 10) == s2 + 66);
	free(k5);
	CHECK_ERR(md_snapshot_reserve_sequence(db, SN, 0, &first, &e), e, UCD_INVALID_ARGUMENT, NULL);
	char *bk = md_snapshot_backend_key("n", 7, "a/b");
	CHECK(strcmp(bk, "n/7/a/b") == 0);
	free(bk);
	free(k1);
	free(k2);
	free(k3);
	free(k4);
}

static void test_commit(struct md_db *db)
{
	struct ucd_error *e = NULL;
	struct md_kv al[] = { { "active-only", "1" } }, cl[] = { { "committed", "yes" } };
	CHECK_OK(create(db, "ns1", "work", "", UCD_SNAPSHOT_ACTIVE, al, 1, NULL, &e), e);
	CHECK_OK(create(db, "ns1", "view", "", UCD_SNAPSHOT_VIEW, NULL, 0, NULL, &e), e);

	CHECK_ERR(md_snapshot_check_commit(db, SN, "ns1", "a1", "work", NULL, 0, NULL, &e), e, UCD_ALREADY_EXISTS,
		  "snapshot \"a1\": already exists");
	CHECK_ERR(md_snapshot_check_commit(db, SN, "ns1", "base", "nope", NULL, 0, NULL, &e), e, UCD_NOT_FOUND,
		  "snapshot nope does not exist: not found");
	CHECK_ERR(md_snapshot_check_commit(db, SN, "ns1", "base", "view", NULL, 0, NULL, &e), e,
		  UCD_FAILED_PRECONDITION, "snapshot \"view\" is not active: failed precondition");
	CHECK_ERR(md_snapshot_check_commit(db, SN, "ns2", "base", "work", NULL, 0, NULL, &e), e, UCD_NOT_FOUND,
		  "snapshot work does not exist: not found");

	struct md_snapshot_ref ref = { 0 };
	CHECK_OK(md_snapshot_check_commit(db, SN, "ns1", "base", "work", cl, 1, &ref, &e), e);
	CHECK(ref.backend_key && ref.kind == UCD_SNAPSHOT_ACTIVE);
	md_snapshot_ref_fini(&ref);
	CHECK_OK(md_snapshot_commit(db, SN, "ns1", "base", "work", "ns1/100/base", cl, 1, &e), e);
	CHECK(md_snapshot_lookup(db, SN, "ns1", "work", NULL, &e) == 0);
	CHECK(md_snapshot_lookup(db, SN, "ns1", "base", &ref, &e) == 1);
	CHECK(ref.backend_key && strcmp(ref.backend_key, "ns1/100/base") == 0 && ref.kind == UCD_SNAPSHOT_COMMITTED);
	md_snapshot_ref_fini(&ref);
	MdSnapshotInfo *i = NULL;
	CHECK_OK(md_snapshot_stat(db, SN, "ns1", "base", &i, &e), e);
	/* the commit's labels, not the active snapshot's (containerd) */
	CHECK(i && i->n_labels == 1 && label(i, "committed") && label(i, "active-only") == NULL);
	md_free(i);

	/* a chain: child on base, committed as layer2 keeps base as parent */
	CHECK_OK(create(db, "ns1", "work2", "base", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e);
	CHECK_OK(md_snapshot_commit(db, SN, "ns1", "layer2", "work2", "ns1/101/layer2", NULL, 0, &e), e);
	CHECK_OK(md_snapshot_stat(db, SN, "ns1", "layer2", &i, &e), e);
	CHECK(i && strcmp(i->parent, "base") == 0 && i->kind == CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED);
	md_free(i);
	CHECK_OK(create(db, "ns1", "top", "layer2", UCD_SNAPSHOT_VIEW, NULL, 0, NULL, &e), e);
	/* committing onto a name that is now taken fails and changes nothing */
	CHECK_OK(create(db, "ns1", "work3", "base", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e);
	CHECK_ERR(md_snapshot_commit(db, SN, "ns1", "layer2", "work3", "ns1/102/x", NULL, 0, &e), e,
		  UCD_ALREADY_EXISTS, "snapshot \"layer2\": already exists");
	CHECK(md_snapshot_lookup(db, SN, "ns1", "work3", NULL, &e) == 1);
}

static void test_remove(struct md_db *db)
{
	struct ucd_error *e = NULL;
	bool yes = false;
	CHECK_OK(md_snapshot_has_children(db, SN, "ns1", "base", &yes, &e), e);
	CHECK(yes);
	CHECK_OK(md_snapshot_has_children(db, SN, "ns1", "top", &yes, &e), e);
	CHECK(!yes);
	CHECK_ERR(md_snapshot_remove(db, SN, "ns1", "base", NULL, &e), e, UCD_FAILED_PRECONDITION,
		  "cannot remove snapshot with child: failed precondition");
	CHECK_ERR(md_snapshot_remove(db, SN, "ns1", "nope", NULL, &e), e, UCD_NOT_FOUND,
		  "snapshot nope does not exist: not found");
	CHECK_ERR(md_snapshot_remove(db, SN, "ns2", "base", NULL, &e), e, UCD_NOT_FOUND, NULL);
	CHECK_ERR(md_snapshot_remove(db, SN, "ns1", "layer2", NULL, &e), e, UCD_FAILED_PRECONDITION, NULL);
	char *bkey = NULL;
	CHECK_OK(md_snapshot_remove(db, SN, "ns1", "top", &bkey, &e), e);
	CHECK(bkey && strncmp(bkey, "ns1/", 4) == 0);
	free(bkey);
	CHECK_ERR(md_snapshot_remove(db, SN, "ns1", "base", NULL, &e), e, UCD_FAILED_PRECONDITION, NULL);
	CHECK_OK(md_snapshot_remove(db, SN, "ns1", "work3", NULL, &e), e);
	CHECK_OK(md_snapshot_remove(db, SN, "ns1", "layer2", NULL, &e), e);
	bool ref = false;
	CHECK_OK(md_snapshot_backend_referenced(db, SN, "ns1/100/base", &ref, &e), e);
	CHECK(ref);
	CHECK_OK(md_snapshot_remove(db, SN, "ns1", "base", NULL, &e), e);
	CHECK_OK(md_snapshot_backend_referenced(db, SN, "ns1/100/base", &ref, &e), e);
	CHECK(!ref);
	/* labels went with their rows */
	CHECK(db_int(db, "SELECT count(*) FROM snapshot_labels WHERE namespace = 'ns1' AND key = 'base'") == 0);
}

static void test_update(struct md_db *db)
{
	struct ucd_error *e = NULL;
	struct md_kv l0[] = { { "keep", "k" }, { "drop", "d" } };
	CHECK_OK(create(db, "ns3", "u", "", UCD_SNAPSHOT_ACTIVE, l0, 2, NULL, &e), e);
	MdSnapshotInfo *i = NULL;
	CHECK_OK(md_snapshot_stat(db, SN, "ns3", "u", &i, &e), e);
	int64_t created = i ? ts(i->created_at) : 0;
	md_free(i);

	struct md_kv l1[] = { { "new", "n" }, { "other", "ignored" } };
	const char *p1[] = { "labels.new", "labels.drop" };
	CHECK_OK(md_snapshot_update(db, SN, "ns3", "u", l1, 2, p1, 2, &i, &e), e);
	CHECK(i && i->n_labels == 2 && label(i, "keep") && label(i, "new") && !label(i, "drop") && !label(i, "other"));
	CHECK(i && ts(i->created_at) == created && ts(i->updated_at) >= created);
	md_free(i);

	const char *p2[] = { "labels" };
	CHECK_OK(md_snapshot_update(db, SN, "ns3", "u", l1, 2, p2, 1, &i, &e), e);
	CHECK(i && i->n_labels == 2 && label(i, "other") && !label(i, "keep"));
	md_free(i);
	CHECK_OK(md_snapshot_update(db, SN, "ns3", "u", l0, 1, NULL, 0, &i, &e), e);
	CHECK(i && i->n_labels == 1 && label(i, "keep"));
	md_free(i);

	const char *p3[] = { "labels.x", "parent" };
	CHECK_ERR(md_snapshot_update(db, SN, "ns3", "u", l1, 2, p3, 2, &i, &e), e, UCD_INVALID_ARGUMENT,
		  "cannot update \"parent\" field on snapshot \"u\": invalid argument");
	CHECK_OK(md_snapshot_stat(db, SN, "ns3", "u", &i, &e), e);
	CHECK(i && i->n_labels == 1 && !label(i, "x"));   /* nothing of the failed update stays */
	md_free(i);
	CHECK_ERR(md_snapshot_update(db, SN, "ns3", "missing", l1, 2, NULL, 0, &i, &e), e, UCD_NOT_FOUND,
		  "snapshot missing does not exist: not found");
	CHECK_ERR(md_snapshot_update(db, SN, "ns3", "", l1, 2, NULL, 0, &i, &e), e, UCD_INVALID_ARGUMENT,
		  "invalid argument");
	char big[4100];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct md_kv bad[] = { { "k", big } };
	const char *p4[] = { "labels.k" };
	CHECK_ERR(md_snapshot_update(db, SN, "ns3", "u", bad, 1, p4, 1, NULL, &e), e, UCD_INVALID_ARGUMENT, NULL);
}

static int count_rows(void *arg, const struct md_snapshot_row *row)
{
	int *n = arg;
	(*n)++;
	return row->backend_key[0] == '\0' ? -1 : 0;   /* every row has one */
}

static int stop_at_first(void *arg, const struct md_snapshot_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 7;
}

static void test_list_and_walk(struct md_db *db)
{
	struct ucd_error *e = NULL;
	CHECK_OK(create(db, "ns4", "b", "", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e);
	struct md_kv l[] = { { "z", "1" }, { "y", "2" } };
	CHECK_OK(create(db, "ns4", "a", "", UCD_SNAPSHOT_ACTIVE, l, 2, NULL, &e), e);
	CHECK_OK(create(db, "ns4", "c", "", UCD_SNAPSHOT_VIEW, NULL, 0, NULL, &e), e);
	MdSnapshotInfo **list = NULL;
	size_t n = 0;
	CHECK_OK(md_snapshot_list(db, SN, "ns4", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 3 && strcmp(list[0]->name, "a") == 0 && strcmp(list[2]->name, "c") == 0);
	CHECK(n == 3 && list[0]->n_labels == 2 && strcmp(list[0]->labels[0]->key, "y") == 0 && list[1]->n_labels == 0);
	md_free_array(list, n);
	CHECK_OK(md_snapshot_list(db, "native", "ns4", NULL, NULL, &list, &n, &e), e);
	CHECK(n == 0);
	md_free_array(list, n);

	int rows = 0;
	CHECK_OK(md_snapshot_walk(db, SN, "ns4", count_rows, &rows, &e), e);
	CHECK(rows == 3);
	rows = 0;
	CHECK_OK(md_snapshot_walk(db, NULL, NULL, count_rows, &rows, &e), e);
	CHECK(rows > 3);
	rows = 0;
	CHECK(md_snapshot_walk(db, NULL, NULL, stop_at_first, &rows, &e) == 7 && rows == 1);
}

static void test_namespace_delete(struct md_db *db)
{
	struct ucd_error *e = NULL;
	char *what = NULL;
	CHECK_OK(md_snapshot_ns_in_use(db, "empty-ns", &what, &e), e);
	CHECK(what == NULL);
	CHECK_OK(md_namespace_create(db, "ns5", NULL, 0, &e), e);
	CHECK_OK(md_snapshot_check_create(db, "native", "ns5", "k", "", NULL, NULL, 0, NULL, &e), e);
	CHECK_OK(md_snapshot_create(db, "native", "ns5", "k", "ns5/1/k", "", UCD_SNAPSHOT_ACTIVE, NULL, 0, &e), e);
	CHECK_OK(create(db, "ns5", "k", "", UCD_SNAPSHOT_ACTIVE, NULL, 0, NULL, &e), e);
	CHECK_ERR(md_namespace_delete(db, "ns5", &e), e, UCD_FAILED_PRECONDITION,
		  "namespace \"ns5\" must be empty, but it still has snapshots on \"native\" snapshotter, snapshots on "
		  "\"overlayfs\" snapshotter: failed precondition");
	CHECK_OK(md_snapshot_remove(db, "native", "ns5", "k", NULL, &e), e);
	CHECK_ERR(md_namespace_delete(db, "ns5", &e), e, UCD_FAILED_PRECONDITION,
		  "namespace \"ns5\" must be empty, but it still has snapshots on \"overlayfs\" snapshotter: failed "
		  "precondition");
	CHECK_OK(md_snapshot_remove(db, SN, "ns5", "k", NULL, &e), e);
	CHECK_OK(md_namespace_delete(db, "ns5", &e), e);
}

static void test_transactions(struct md_db *db)
{
	struct ucd_error *e = NULL;
	/* a request's transaction rolled back leaves no row and no label */
	CHECK_OK(md_begin(db, &e), e);
	struct md_kv l[] = { { "a", "1" } };
	CHECK_OK(create(db, "ns6", "t", "", UCD_SNAPSHOT_ACTIVE, l, 1, NULL, &e), e);
	md_rollback(db);
	CHECK(md_snapshot_lookup(db, SN, "ns6", "t", NULL, &e) == 0);
	CHECK(db_int(db, "SELECT count(*) FROM snapshot_labels WHERE namespace = 'ns6'") == 0);
}

int main(void)
{
	log_set_level(LOG_WARN);
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir;
	if (asprintf(&dir, "%s/ucd-snmd-XXXXXX", base) < 0 || mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	struct ucd_error *e = NULL;
	struct md_db *db = md_open(dir, &e);
	CHECK(db != NULL);
	if (db != NULL) {
		test_create_and_stat(db);
		test_backend_keys(db);
		test_commit(db);
		test_remove(db);
		test_update(db);
		test_list_and_walk(db);
		test_namespace_delete(db);
		test_transactions(db);
		md_close(db);
		/* the rows survive a reopen */
		db = md_open(dir, &e);
		CHECK(db != NULL && md_snapshot_lookup(db, SN, "ns4", "a", NULL, &e) == 1);
		md_close(db);
	} else {
		fprintf(stderr, "md_open: %s\n", e ? e->msg : "");
	}
	error_free(e);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
