/* The metadata database: open, migrate, statement cache, transactions. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metadata/md_internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define BUSY_TIMEOUT_MS 5000

int md_sql_error(sqlite3 *sql, int rc, struct ucd_error **err, const char *what)
{
	int code;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = UCD_UNAVAILABLE;
		break;
	case SQLITE_FULL:
	case SQLITE_NOMEM:
		code = UCD_RESOURCE_EXHAUSTED;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = UCD_DATA_LOSS;
		break;
	default:
		code = UCD_INTERNAL;
	}
	const char *msg = sql != NULL ? sqlite3_errmsg(sql) : sqlite3_errstr(rc);
	return error_set(err, code, 0, "metadata: %s: %s", what, msg);
}

int md_step_done(struct md_db *db, sqlite3_stmt *st, struct ucd_error **err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return md_sql_error(db->sql, rc, err, sqlite3_sql(st));
}

sqlite3_stmt *md_stmt(struct md_db *db, const char *sql, struct ucd_error **err)
{
	for (size_t i = 0; i < db->n_stmts; i++) {
		struct md_stmt_entry *e = &db->stmts[i];
		if (e->sql == sql || strcmp(e->sql, sql) == 0) {
			if (sqlite3_stmt_busy(e->stmt)) {
				error_set(err, UCD_INTERNAL, 0, "metadata: statement in use twice: %s", sql);
				return NULL;
			}
			sqlite3_reset(e->stmt);
			sqlite3_clear_bindings(e->stmt);
			return e->stmt;
		}
	}
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		error_set(err, UCD_INTERNAL, 0, "metadata: prepare `%s`: %s", sql, sqlite3_errmsg(db->sql));
		return NULL;
	}
	if (db->n_stmts == db->cap_stmts) {
		db->cap_stmts = db->cap_stmts ? db->cap_stmts * 2 : 32;
		db->stmts = xrealloc(db->stmts, db->cap_stmts * sizeof *db->stmts);
	}
	db->stmts[db->n_stmts++] = (struct md_stmt_entry){ .sql = sql, .stmt = st };
	return st;
}

static int exec(sqlite3 *sql, const char *stmts, struct ucd_error **err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(sql, stmts, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	int r = md_sql_error(sql, rc, err, stmts);
	sqlite3_free(msg);
	return r;
}

static int pragma_int(sqlite3 *sql, const char *pragma, int *out, struct ucd_error **err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(sql, pragma, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return md_sql_error(sql, rc, err, pragma);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		*out = 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return md_sql_error(sql, rc, err, pragma);
	return 0;
}

/* --- transactions ---------------------------------------------------------- */

/* Transaction control runs on every request (twice, more when nested): it
 * goes through the prepared-statement cache like every other statement,
 * instead of being parsed again each time (perf showed sqlite's parser in
 * every Namespaces.List). The cache keys on the callers' literals, hence one
 * literal per nesting depth; deeper nesting falls back to sqlite3_exec. */
#define MD_CACHED_DEPTH 8
static const char *const savepoint_sql[MD_CACHED_DEPTH] = {
	"BEGIN IMMEDIATE", "SAVEPOINT md_1", "SAVEPOINT md_2", "SAVEPOINT md_3",
	"SAVEPOINT md_4", "SAVEPOINT md_5", "SAVEPOINT md_6", "SAVEPOINT md_7",
};
static const char *const release_sql[MD_CACHED_DEPTH] = {
	"COMMIT", "RELEASE md_1", "RELEASE md_2", "RELEASE md_3",
	"RELEASE md_4", "RELEASE md_5", "RELEASE md_6", "RELEASE md_7",
};
static const char *const rollback_sql[MD_CACHED_DEPTH] = {
	"ROLLBACK", "ROLLBACK TO md_1", "ROLLBACK TO md_2", "ROLLBACK TO md_3",
	"ROLLBACK TO md_4", "ROLLBACK TO md_5", "ROLLBACK TO md_6", "ROLLBACK TO md_7",
};

/* Runs one statement of transaction control at nesting `depth` (0 = the
 * outermost transaction): cached while the depth allows, else parsed. */
static int tx_stmt(struct md_db *db, const char *const *table, const char *verb, int depth, struct ucd_error **err)
{
	if (depth < MD_CACHED_DEPTH) {
		sqlite3_stmt *st = md_stmt(db, table[depth], err);
		if (st == NULL)
			return -UCD_INTERNAL;
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : md_sql_error(db->sql, rc, err, table[depth]);
	}
	char buf[48];
	snprintf(buf, sizeof buf, "%s md_%d", verb, depth);
	return exec(db->sql, buf, err);
}

int md_begin(struct md_db *db, struct ucd_error **err)
{
	if (tx_stmt(db, savepoint_sql, "SAVEPOINT", db->depth, err) < 0)
		return error_wrap(err, "begin transaction");
	db->depth++;
	return 0;
}

int md_commit(struct md_db *db, struct ucd_error **err)
{
	if (db->depth <= 0)
		return error_set(err, UCD_INTERNAL, 0, "metadata: commit without a transaction");
	if (db->depth > 1) {
		int r = tx_stmt(db, release_sql, "RELEASE", db->depth - 1, err);
		if (r < 0) {
			md_rollback(db);
			return r;
		}
		db->depth--;
		return 0;
	}
	int r = tx_stmt(db, release_sql, "RELEASE", 0, err);
	if (r < 0 && !sqlite3_get_autocommit(db->sql))
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	db->depth = 0;
	return r < 0 ? error_wrap(err, "commit") : 0;
}

void md_rollback(struct md_db *db)
{
	if (db->depth <= 0)
		return;
	if (sqlite3_get_autocommit(db->sql)) {
		/* sqlite ended the transaction itself (it does on some I/O errors):
		 * nothing nested survives that. */
		db->depth = 0;
		return;
	}
	struct ucd_error *e = NULL;
	int d = db->depth - 1;
	/* a savepoint is rolled back to, then released: it stays on the stack otherwise */
	int r = tx_stmt(db, rollback_sql, "ROLLBACK TO", d, &e);
	if (r == 0 && d > 0)
		r = tx_stmt(db, release_sql, "RELEASE", d, &e);
	db->depth = d > 0 ? d : 0;
	if (r < 0) {
		log_error("metadata: rollback failed: %s", e ? e->msg : sqlite3_errmsg(db->sql));
		error_free(e);
	}
}

int md_tx_depth(const struct md_db *db)
{
	return db->depth;
}

int md_in_tx(struct md_db *db, int (*fn)(struct md_db *db, void *arg, struct ucd_error **err), void *arg,
	     struct ucd_error **err)
{
	int r = md_begin(db, err);
	if (r < 0)
		return r;
	r = fn(db, arg, err);
	if (r < 0) {
		md_rollback(db);
		return r;
	}
	return md_commit(db, err);
}

/* --- migrations ------------------------------------------------------------ */

static int table_count(sqlite3 *sql, int *n, struct ucd_error **err)
{
	return pragma_int(sql, "SELECT count(*) FROM sqlite_schema", n, err);
}

/* Refuses a database that is not ours or newer than `latest`; sets *version. */
static int schema_check(sqlite3 *sql, const char *path, int latest, int *version, struct ucd_error **err)
{
	int app_id = 0, tables = 0, r;
	if ((r = pragma_int(sql, "PRAGMA user_version", version, err)) < 0 ||
	    (r = pragma_int(sql, "PRAGMA application_id", &app_id, err)) < 0 ||
	    (r = table_count(sql, &tables, err)) < 0)
		return r;
	if (app_id != 0 && app_id != MD_APPLICATION_ID)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "metadata database `%s` is not a ucontainerd database (application_id 0x%08x); "
				 "move it away to start with an empty store",
				 path, (unsigned)app_id);
	if (*version == 0 && tables > 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "metadata database `%s` holds tables but no ucontainerd schema version; "
				 "move it away to start with an empty store",
				 path);
	if (*version > latest)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "metadata database `%s` has schema version %d, newer than the newest this "
				 "ucontainerd knows (%d): it was written by a newer ucontainerd; refusing to open it "
				 "(run that version again, or move the file away to start with an empty store)",
				 path, *version, latest);
	if (*version < 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "metadata database `%s` has an invalid schema version %d", path, *version);
	return 0;
}

int md_migrate(sqlite3 *sql, const char *path, const struct md_migration *steps, size_t n, struct ucd_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (steps[i].version != (int)i + 1)
			return error_set(err, UCD_INTERNAL, 0, "metadata: migration %zu is numbered %d", i + 1,
					 steps[i].version);
	int latest = (int)n, version = 0, r;
	if ((r = schema_check(sql, path, latest, &version, err)) < 0)
		return r;

	/* Steps may rebuild tables (SQLite's ALTER TABLE procedure): foreign keys
	 * are off while they run and checked before each commit. */
	if (version < latest && (r = exec(sql, "PRAGMA foreign_keys = OFF", err)) < 0)
		return r;
	for (int v = version + 1; v <= latest; v++) {
		const struct md_migration *m = &steps[v - 1];
		char tail[96];
		snprintf(tail, sizeof tail, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
			 MD_APPLICATION_ID, v);
		int fk_bad = 0;
		if (exec(sql, "BEGIN IMMEDIATE", err) < 0)
			goto fail;
		if (exec(sql, m->sql, err) < 0)
			goto fail_rollback;
		if (pragma_int(sql, "SELECT count(*) FROM pragma_foreign_key_check", &fk_bad, err) < 0)
			goto fail_rollback;
		if (fk_bad > 0) {
			error_set(err, UCD_INTERNAL, 0, "%d rows violate foreign keys", fk_bad);
			goto fail_rollback;
		}
		if (exec(sql, tail, err) < 0 || exec(sql, "COMMIT", err) < 0)
			goto fail_rollback;
		log_info("metadata: migrated `%s` to schema version %d (%s)", path, v, m->what);
		continue;
	fail_rollback:
		sqlite3_exec(sql, "ROLLBACK", NULL, NULL, NULL);
	fail:
		sqlite3_exec(sql, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
		return error_wrap(err, "metadata database `%s`: migration to schema version %d (%s)", path, v,
				  m->what);
	}
	return exec(sql, "PRAGMA foreign_keys = ON", err);
}

/* --- open / close ---------------------------------------------------------- */

/* A fresh root: the empty schema is built in an in-memory database and its
 * image written to `<path>.new` with one write(2), then renamed into place;
 * md_sync_fresh later syncs the file and the directory on the thread pool,
 * as DESIGN.md wants of every fsync. Bytes 18 and 19 of the image are the
 * file format's write and read versions, 2 meaning WAL (sqlite's file format
 * documentation): the file then opens in WAL mode with no journalled switch.
 * A process crash at any point leaves no database (a leftover .new is
 * rebuilt next time) or a whole one; only a power cut in the few
 * milliseconds before the sync can leave an unreadable one, and then an
 * empty one: md_open says so and the operator moves it away
 * (docs/metadata.md). Building on disk instead cost ~110 system calls and,
 * with sqlite's own switch to WAL, six syncs on the start-up path. */
static int create_fresh(const char *dir, const char *path, struct ucd_error **err)
{
	autofree char *tmp = xasprintf("%s.new", path);
	sqlite3 *mem = NULL;
	unsigned char *image = NULL;
	sqlite3_int64 size = 0;
	int r = 0;
	int rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		r = md_sql_error(mem, rc, err, "create");
	if (r == 0)
		r = md_migrate(mem, path, md_migrations, md_n_migrations, err);
	if (r == 0 && ((image = sqlite3_serialize(mem, "main", &size, 0)) == NULL || size < 100))
		r = error_set(err, UCD_INTERNAL, 0, "serialize the new schema");
	sqlite3_close(mem);
	if (r == 0) {
		image[18] = image[19] = 2;   /* WAL */
		unlink(tmp);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, image, (size_t)size) != (ssize_t)size)
			r = error_set(err, UCD_INTERNAL, errno, "write `%s`: %s", tmp, strerror(errno));
		if (fd >= 0 && close(fd) < 0 && r == 0)
			r = error_set(err, UCD_INTERNAL, errno, "write `%s`: %s", tmp, strerror(errno));
	}
	sqlite3_free(image);
	if (r == 0 && rename(tmp, path) < 0)
		r = error_set(err, UCD_INTERNAL, errno, "rename `%s`: %s", tmp, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		return error_wrap(err, "create metadata database in `%s`", dir);
	}
	return 0;
}

struct md_db *md_open(const char *dir, struct ucd_error **err)
{
	if (fs_mkdir_p(dir, 0700, err) < 0)
		return NULL;
	struct md_db *db = xcalloc(1, sizeof *db);
	db->path = xasprintf("%s/%s", dir, MD_DB_FILE);
	struct stat st_db;
	if (stat(db->path, &st_db) < 0 && errno == ENOENT) {
		if (create_fresh(dir, db->path, err) < 0)
			goto fail;
		db->fresh = true;
		db->created = true;
	}
	/* the database holds every namespace's records: the daemon's alone
	 * (sqlite gives its WAL the database file's mode) */
	fs_file_narrow(db->path, 0600);
	{
		autofree char *wal = xasprintf("%s-wal", db->path);
		fs_file_narrow(wal, 0600);
	}

	int rc = sqlite3_open_v2(db->path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		md_sql_error(db->sql, rc, err, "open");
		error_wrap(err, "open metadata database `%s`", db->path);
		goto fail;
	}
	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
	/* Exclusive locking, before the first read: the daemon's root lock
	 * already makes it this file's only user, so sqlite takes no file locks
	 * around each transaction (4 fcntl calls apiece) and keeps its WAL index
	 * in memory instead of a -shm mapping. */
	sqlite3_exec(db->sql, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, NULL);

	/* The first read of the header tells a garbage file apart. */
	int version;
	rc = sqlite3_exec(db->sql, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
		error_set(err, UCD_DATA_LOSS, 0,
			  "metadata database `%s` is not an SQLite database or is corrupt (%s); move it away to "
			  "start with an empty store, or restore a backup",
			  db->path, sqlite3_errstr(rc));
		goto fail;
	} else if (rc != SQLITE_OK) {
		md_sql_error(db->sql, rc, err, "read schema");
		error_wrap(err, "open metadata database `%s`", db->path);
		goto fail;
	}

	/* Refuse what is not ours before changing anything (WAL rewrites the
	 * header), then WAL: it is not transactional and migrations run in it.
	 * NORMAL: WAL commits are durable at the next checkpoint. */
	if (schema_check(db->sql, db->path, (int)md_n_migrations, &version, err) < 0)
		goto fail;
	if (exec(db->sql, "PRAGMA synchronous = NORMAL", err) < 0) {
		error_wrap(err, "open metadata database `%s`", db->path);
		goto fail;
	}
	sqlite3_stmt *st;
	rc = sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
			log_warn("metadata: `%s`: WAL journal mode unavailable (got %s): running with it off",
				 db->path, mode ? (const char *)mode : sqlite3_errmsg(db->sql));
		sqlite3_finalize(st);
	}
	if (exec(db->sql, "PRAGMA foreign_keys = ON", err) < 0) {
		error_wrap(err, "open metadata database `%s`", db->path);
		goto fail;
	}
	if (md_migrate(db->sql, db->path, md_migrations, md_n_migrations, err) < 0)
		goto fail;
	if (pragma_int(db->sql, "PRAGMA user_version", &version, err) < 0)
		goto fail;
	log_debug("metadata: opened `%s` (schema version %d)", db->path, version);
	return db;
fail:
	md_close(db);
	return NULL;
}

struct sync_job {
	uv_work_t work;
	char *path;
	int error;
};

static void sync_run(uv_work_t *w)
{
	struct sync_job *j = w->data;
	int fd = open(j->path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		j->error = errno;
	if (fd >= 0)
		close(fd);
	char *slash = strrchr(j->path, '/');
	if (slash != NULL) {
		*slash = 0;
		fd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			j->error = j->error ? j->error : errno;
		if (fd >= 0)
			close(fd);
		*slash = '/';
	}
}

static void sync_done(uv_work_t *w, int status)
{
	struct sync_job *j = w->data;
	if (status == 0 && j->error != 0)
		log_warn("metadata: sync new database `%s`: %s", j->path, strerror(j->error));
	free(j->path);
	free(j);
}

void md_sync_fresh(struct md_db *db, uv_loop_t *loop)
{
	if (db == NULL || !db->fresh)
		return;
	db->fresh = false;
	struct sync_job *j = xcalloc(1, sizeof *j);
	j->work.data = j;
	j->path = xstrdup(db->path);
	uv_queue_work(loop, &j->work, sync_run, sync_done);
}

void md_close(struct md_db *db)
{
	if (db == NULL)
		return;
	if (db->sql != NULL && !sqlite3_get_autocommit(db->sql))
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < db->n_stmts; i++)
		sqlite3_finalize(db->stmts[i].stmt);
	free(db->stmts);
	if (db->sql != NULL && sqlite3_close(db->sql) != SQLITE_OK)
		log_error("metadata: close `%s`: %s", db->path, sqlite3_errmsg(db->sql));
	free(db->path);
	free(db);
}

const char *md_path(const struct md_db *db)
{
	return db->path;
}

bool md_created(const struct md_db *db)
{
	return db != NULL && db->created;
}

void md_close_discard(struct md_db *db)
{
	if (db == NULL)
		return;
	autofree char *path = db->created ? xstrdup(db->path) : NULL;
	md_close(db);
	if (path == NULL)
		return;
	unlink(path);
	autofree char *wal = xasprintf("%s-wal", path);
	unlink(wal);
}

int64_t md_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void md_free(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void md_free_array(void *msgs, size_t n)
{
	void **a = msgs;
	if (a == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		md_free(a[i]);
	free(a);
}
