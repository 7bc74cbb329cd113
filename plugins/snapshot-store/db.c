/* Persistence of the snapshot records in sqlite3 (<root>/metadata.db).
 *
 * The index in memory (index.c) answers every read; this file only loads it
 * at start and writes each change through, one transaction per op, under
 * the store's lock. WAL with synchronous=NORMAL: a commit is a write into
 * the WAL file without fsync, so a crash of the daemon loses nothing and a
 * power loss at most the last few changes (the directories they name are
 * then swept as leftovers). locking_mode=EXCLUSIVE keeps a second daemon
 * on the same root out.
 *
 * Schema (user_version 1):
 *   snapshots(id INTEGER PRIMARY KEY AUTOINCREMENT, name UNIQUE, parent id,
 *             kind, created, updated, size, inodes)
 *   labels(id, key, value)  PRIMARY KEY (id, key)
 * A commit keeps the id (the directory stays where it is), so parent links
 * are ids. AUTOINCREMENT never hands out an id twice, not even after the
 * newest snapshot was removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snst_int.h"

#define SCHEMA_VERSION 1

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS snapshots ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" parent INTEGER,"
	" kind INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" size INTEGER NOT NULL DEFAULT 0,"
	" inodes INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS labels ("
	" id INTEGER NOT NULL,"
	" key TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" PRIMARY KEY (id, key)) WITHOUT ROWID;";

static int db_error(struct snst *s, struct ucd_error **err, const char *what)
{
	return s->host->error_new(err, UCD_INTERNAL, 0, "%s: metadata.db: %s: %s", s->drv->name, what,
				  sqlite3_errmsg(s->db.db));
}

/* A database this plugin cannot read: nothing is swept or changed (the
 * init fails before the sweep); the operator restores it or starts over. */
static int db_unreadable(struct snst *s, struct ucd_error **err, const char *why)
{
	return s->host->error_new(err, UCD_DATA_LOSS, 0,
				  "%s: `%s/metadata.db` is not an sqlite database or is corrupt (%s): refusing to use it; nothing "
				  "was changed. Restore metadata.db from a backup, or move `%s` aside to start with an "
				  "empty store (docs/snapshotters.md, \"A lost metadata.db\")",
				  s->drv->name, s->root, why, s->root);
}

static bool corrupt(int rc)
{
	return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

static int prep(struct snst *s, sqlite3_stmt **st, const char *sql, struct ucd_error **err)
{
	if (sqlite3_prepare_v3(s->db.db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_error(s, err, "prepare");
	return 0;
}

int snst_db_open(struct snst *s, const char *path, bool keep_empty, bool *no_schema, struct ucd_error **err)
{
	struct snst_db *d = &s->db;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	/* A new database is set up without syncing (switching to WAL and the
	 * schema cost six fdatasyncs, most of a new daemon's start-up): until
	 * the first snapshot there is nothing in it to lose, and what a power
	 * cut could leave is an empty file sqlite rebuilds or an empty schema. */
	bool fresh = access(path, F_OK) != 0;
	/* The file is made 0600 before sqlite opens it (sqlite would make it
	 * 0644, and gives its WAL the database's mode); an older one is
	 * narrowed. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat fst;
	if (fd < 0 || fstat(fd, &fst) < 0) {
		int r = snst_errno(s->host, err, errno, "%s: cannot open `%s`", s->drv->name, path);
		if (fd >= 0)
			close(fd);
		return r;
	}
	if ((fst.st_mode & 077) != 0) {
		s->host->log(s->ic, UCD_LOG_WARN, "`%s` had mode %04o: narrowed to %04o", path,
			     (unsigned)(fst.st_mode & 07777), (unsigned)(fst.st_mode & 0700));
		fchmod(fd, fst.st_mode & 0700);
	}
	close(fd);
	if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
		int r = s->host->error_new(err, UCD_INTERNAL, 0, "%s: cannot open `%s`: %s", s->drv->name, path,
					   d->db ? sqlite3_errmsg(d->db) : "out of memory");
		sqlite3_close(d->db);
		d->db = NULL;
		return r;
	}
	sqlite3_busy_timeout(d->db, 0);
	char *msg = NULL;
	if (sqlite3_exec(d->db,
			 fresh ? "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;"
				 "BEGIN IMMEDIATE;"
			       : "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
				 "BEGIN IMMEDIATE;",
			 NULL, NULL, &msg) != SQLITE_OK) {
		if (corrupt(sqlite3_errcode(d->db))) {
			int r = db_unreadable(s, err, msg ? msg : sqlite3_errmsg(d->db));
			sqlite3_free(msg);
			return r;
		}
		int r = s->host->error_new(err, UCD_FAILED_PRECONDITION, 0,
					   "%s: cannot lock `%s` (is another daemon using this root?): %s",
					   s->drv->name, path, msg ? msg : sqlite3_errmsg(d->db));
		sqlite3_free(msg);
		return r;
	}
	sqlite3_stmt *st = NULL;
	int version = 0;
	if (sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	*no_schema = false;
	if (version == 0 && keep_empty) {
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		*no_schema = true;
		return 0;
	}
	if (version > SCHEMA_VERSION) {
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
		return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0,
					  "%s: `%s` has schema version %d; this plugin knows up to %d (written by "
					  "a newer version?)",
					  s->drv->name, path, version, SCHEMA_VERSION);
	}
	if (sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(d->db, "PRAGMA user_version=1; COMMIT;", NULL, NULL, &msg) != SQLITE_OK) {
		int r = s->host->error_new(err, UCD_INTERNAL, 0, "%s: cannot create the schema in `%s`: %s",
					   s->drv->name, path, msg ? msg : "");
		sqlite3_free(msg);
		return r;
	}
	if (fresh)
		sqlite3_exec(d->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	int r;
	if ((r = prep(s, &d->begin, "BEGIN IMMEDIATE", err)) < 0 || (r = prep(s, &d->commit, "COMMIT", err)) < 0 ||
	    (r = prep(s, &d->rollback, "ROLLBACK", err)) < 0 ||
	    (r = prep(s, &d->ins_snap,
		      "INSERT INTO snapshots (id, name, parent, kind, created, updated, size, inodes)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		      err)) < 0 ||
	    (r = prep(s, &d->ins_label, "INSERT INTO labels (id, key, value) VALUES (?1, ?2, ?3)", err)) < 0 ||
	    (r = prep(s, &d->del_labels, "DELETE FROM labels WHERE id = ?1", err)) < 0 ||
	    (r = prep(s, &d->del_snap, "DELETE FROM snapshots WHERE id = ?1", err)) < 0 ||
	    (r = prep(s, &d->upd_commit,
		      "UPDATE snapshots SET name = ?2, kind = ?3, created = ?4, updated = ?5, size = ?6,"
		      " inodes = ?7 WHERE id = ?1",
		      err)) < 0 ||
	    (r = prep(s, &d->upd_time, "UPDATE snapshots SET updated = ?2 WHERE id = ?1", err)) < 0)
		return r;
	return 0;
}

void snst_db_close(struct snst_db *d)
{
	sqlite3_stmt *all[] = {d->begin,   d->commit,  d->rollback,   d->ins_snap, d->ins_label,
			       d->del_labels, d->del_snap, d->upd_commit, d->upd_time};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	sqlite3_close(d->db);
	memset(d, 0, sizeof *d);
}

/* Runs a statement that returns no rows and resets it. */
static int run(struct snst *s, sqlite3_stmt *st, struct ucd_error **err, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(s, err, what);
	return 0;
}

static int begin(struct snst *s, struct ucd_error **err)
{
	return run(s, s->db.begin, err, "begin");
}

/* Ends the transaction: commits when r == 0, rolls back otherwise. */
static int end(struct snst *s, int r, struct ucd_error **err)
{
	if (r == 0)
		return run(s, s->db.commit, err, "commit");
	sqlite3_step(s->db.rollback);
	sqlite3_reset(s->db.rollback);
	return r;
}

static int put_labels(struct snst *s, const struct snst_rec *r, struct ucd_error **err)
{
	sqlite3_stmt *st = s->db.ins_label;
	for (size_t i = 0; i < r->n_labels; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
		sqlite3_bind_text(st, 2, r->labels[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->labels[i].value, -1, SQLITE_STATIC);
		int rc = run(s, st, err, "insert label");
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int del_labels(struct snst *s, uint64_t id, struct ucd_error **err)
{
	sqlite3_bind_int64(s->db.del_labels, 1, (sqlite3_int64)id);
	return run(s, s->db.del_labels, err, "delete labels");
}

int snst_db_insert(struct snst *s, const struct snst_rec *r, struct ucd_error **err)
{
	int rc = begin(s, err);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = s->db.ins_snap;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
	if (r->parent != NULL)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)r->parent->id);
	sqlite3_bind_int(st, 4, r->kind);
	sqlite3_bind_int64(st, 5, r->created);
	sqlite3_bind_int64(st, 6, r->updated);
	sqlite3_bind_int64(st, 7, r->size);
	sqlite3_bind_int64(st, 8, r->inodes);
	rc = run(s, st, err, "insert snapshot");
	if (rc == 0)
		rc = put_labels(s, r, err);
	return end(s, rc, err);
}

int snst_db_delete(struct snst *s, uint64_t id, struct ucd_error **err)
{
	int rc = begin(s, err);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(s->db.del_snap, 1, (sqlite3_int64)id);
	rc = run(s, s->db.del_snap, err, "delete snapshot");
	if (rc == 0)
		rc = del_labels(s, id, err);
	return end(s, rc, err);
}

int snst_db_commit(struct snst *s, const struct snst_rec *r, struct ucd_error **err)
{
	int rc = begin(s, err);
	if (rc < 0)
		return rc;
	sqlite3_stmt *st = s->db.upd_commit;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
	sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->kind);
	sqlite3_bind_int64(st, 4, r->created);
	sqlite3_bind_int64(st, 5, r->updated);
	sqlite3_bind_int64(st, 6, r->size);
	sqlite3_bind_int64(st, 7, r->inodes);
	rc = run(s, st, err, "commit snapshot");
	if (rc == 0)
		rc = del_labels(s, r->id, err);
	if (rc == 0)
		rc = put_labels(s, r, err);
	return end(s, rc, err);
}

int snst_db_update_labels(struct snst *s, const struct snst_rec *r, struct ucd_error **err)
{
	int rc = begin(s, err);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(s->db.upd_time, 1, (sqlite3_int64)r->id);
	sqlite3_bind_int64(s->db.upd_time, 2, r->updated);
	rc = run(s, s->db.upd_time, err, "update snapshot");
	if (rc == 0)
		rc = del_labels(s, r->id, err);
	if (rc == 0)
		rc = put_labels(s, r, err);
	return end(s, rc, err);
}

/* ---- loading ---- */

static struct snst_rec *by_id(struct snst_rec **v, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid]->id == id)
			return v[mid];
		if (v[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int snst_db_load(struct snst *s, struct ucd_error **err)
{
	const struct ucd_host *h = s->host;
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 64;
	struct snst_rec **v = h->alloc(cap * sizeof *v);
	uint64_t *parent_of = h->alloc(cap * sizeof *parent_of);
	uint64_t max_id = 0;
	int r = 0;
	if (sqlite3_prepare_v2(s->db.db,
			       "SELECT id, name, parent, kind, created, updated, size, inodes FROM snapshots ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_error(s, err, "load");
		goto out;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap *= 2;
			struct snst_rec **nv = h->alloc(cap * sizeof *nv);
			uint64_t *np = h->alloc(cap * sizeof *np);
			memcpy(nv, v, n * sizeof *nv);
			memcpy(np, parent_of, n * sizeof *np);
			h->free(v);
			h->free(parent_of);
			v = nv;
			parent_of = np;
		}
		const char *name = (const char *)sqlite3_column_text(st, 1);
		struct snst_rec *rec = snst_rec_new(h, name ? name : "");
		rec->id = (uint64_t)sqlite3_column_int64(st, 0);
		parent_of[n] = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : (uint64_t)sqlite3_column_int64(st, 2);
		rec->kind = sqlite3_column_int(st, 3);
		rec->created = sqlite3_column_int64(st, 4);
		rec->updated = sqlite3_column_int64(st, 5);
		rec->size = sqlite3_column_int64(st, 6);
		rec->inodes = sqlite3_column_int64(st, 7);
		rec->live = true;
		if (rec->id > max_id)
			max_id = rec->id;
		v[n++] = rec;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		r = corrupt(rc) ? db_unreadable(s, err, sqlite3_errmsg(s->db.db)) : db_error(s, err, "load");
		goto out;
	}
	/* rows come ordered by id: v is sorted */
	for (size_t i = 0; i < n; i++) {
		if (parent_of[i] == 0)
			continue;
		struct snst_rec *p = by_id(v, n, parent_of[i]);
		if (p == NULL) {
			h->log(s->ic, UCD_LOG_WARN, "snapshot `%s` names a parent (id %llu) that does not exist",
			       v[i]->name, (unsigned long long)parent_of[i]);
			continue;
		}
		v[i]->parent = p;
		p->children++;
	}
	if (sqlite3_prepare_v2(s->db.db, "SELECT id, key, value FROM labels ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_error(s, err, "load labels");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct snst_rec *rec = by_id(v, n, (uint64_t)sqlite3_column_int64(st, 0));
		const char *k = (const char *)sqlite3_column_text(st, 1), *val = (const char *)sqlite3_column_text(st, 2);
		if (rec == NULL || k == NULL || val == NULL)
			continue;
		struct ucd_label *nl = h->alloc((rec->n_labels + 1) * sizeof *nl);
		if (rec->n_labels)
			memcpy(nl, rec->labels, rec->n_labels * sizeof *nl);
		h->free(rec->labels);
		rec->labels = nl;
		rec->labels[rec->n_labels].key = snst_strdup(h, k);
		rec->labels[rec->n_labels].value = snst_strdup(h, val);
		rec->n_labels++;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		r = corrupt(rc) ? db_unreadable(s, err, sqlite3_errmsg(s->db.db))
				: db_error(s, err, "load labels");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db.db, "SELECT seq FROM sqlite_sequence WHERE name = 'snapshots'", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > max_id)
		max_id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	s->next_id = max_id + 1;
	for (size_t i = 0; i < n; i++) {
		snst_index_add(h, &s->index, v[i]);
		v[i] = NULL;
	}
out:
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++)
		snst_rec_free(h, v[i]);
	h->free(v);
	h->free(parent_of);
	return r;
}
