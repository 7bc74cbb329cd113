/* Shared between the files of core/metadata; not for other modules. */
#pragma once
#include <sqlite3.h>
#include <sys/types.h>

#include "metadata/db.h"

struct md_stmt_entry {
	const char *sql;       /* borrowed: the callers' string literals */
	sqlite3_stmt *stmt;
};

struct md_db {
	sqlite3 *sql;
	char *path;
	int depth;             /* md_begin nesting */
	struct md_stmt_entry *stmts;
	size_t n_stmts, cap_stmts;
	bool fresh;            /* built by this open: not yet fsync'ed (md_sync_fresh) */
	bool created;          /* built by this open (stays set) */
};

/* One schema step: `sql` (any number of statements) takes the database from
 * version - 1 to `version`. */
struct md_migration {
	int version;
	const char *what;
	const char *sql;
};

extern const struct md_migration md_migrations[];
extern const size_t md_n_migrations;

/* Brings `sql` to the last version of `steps` (numbered 1..n in order), one
 * transaction per step; refuses a database newer than that. Exposed so the
 * unit tests can run their own step lists. */
int md_migrate(sqlite3 *sql, const char *path, const struct md_migration *steps, size_t n, struct ucd_error **err);

/* The cached prepared statement for `sql`, reset and with cleared bindings.
 * Reset it after use (md_autoreset does it at scope exit). */
sqlite3_stmt *md_stmt(struct md_db *db, const char *sql, struct ucd_error **err);
static inline void md_stmt_resetp(sqlite3_stmt **st)
{
	if (*st != NULL)
		sqlite3_reset(*st);
}
#define md_autoreset __attribute__((cleanup(md_stmt_resetp)))

/* Maps an sqlite result code (and the connection's message) to an error:
 * BUSY/LOCKED -> UNAVAILABLE, FULL -> RESOURCE_EXHAUSTED, CORRUPT/NOTADB ->
 * DATA_LOSS, others INTERNAL. Returns -code. */
int md_sql_error(sqlite3 *sql, int rc, struct ucd_error **err, const char *what);
/* Steps a statement expected to finish (no rows): 0 or -code. */
int md_step_done(struct md_db *db, sqlite3_stmt *st, struct ucd_error **err);

static inline void md_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}
static inline const char *md_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? (const char *)s : "";
}

/* Runs `fn(db, arg, err)` inside its own (nested) transaction. */
int md_in_tx(struct md_db *db, int (*fn)(struct md_db *db, void *arg, struct ucd_error **err), void *arg,
	     struct ucd_error **err);

/* Inserts the namespace row if missing (containers, images and leases create
 * their namespace implicitly, as in containerd). */
int md_namespace_ensure(struct md_db *db, const char *name, struct ucd_error **err);

/* --- protobuf helpers (pbutil.c) --------------------------------------------- */


/* Normalizes a map field for storage, as containerd's maps behave: one entry
 * per key (the last wins, as in a Go map built from the wire), sorted by key;
 * with drop_empty, entries whose string value is empty are left out (bolt
 * never stores them). The result borrows the entries: free the array only. */
ProtobufCMessage **md_map_normalize(ProtobufCMessage *const *entries, size_t n, bool drop_empty, size_t *n_out);
/* Index of `key` in a map field, or -1 (the last occurrence wins). */
ssize_t md_map_find(ProtobufCMessage *const *entries, size_t n, const char *key);
/* New map<string,string> entry of type `desc`, strings copied. */
ProtobufCMessage *md_entry_new(const ProtobufCMessageDescriptor *desc, const char *key, const char *value);

Google__Protobuf__Timestamp *md_timestamp_new(int64_t ns);
/* Packs into a new buffer. */
uint8_t *md_pack(const ProtobufCMessage *m, size_t *len);
/* Deep copy through pack/unpack. */
void *md_copy(const ProtobufCMessage *m);

/* A map field under edit: borrowed entry pointers. */
struct md_elist {
	ProtobufCMessage **v;
	size_t n, cap;
};
void md_elist_init(struct md_elist *l, ProtobufCMessage *const *entries, size_t n);
/* Removes every entry with `key`, then appends `entry` unless NULL. */
void md_elist_set(struct md_elist *l, const char *key, ProtobufCMessage *entry);
void md_elist_fini(struct md_elist *l);

/* The value of `key` among borrowed labels (the last one wins, as in the Go
 * map containerd builds from the wire), "" when absent or NULL. */
const char *md_kv_lookup(const struct md_kv *kv, size_t n, const char *key);
/* Keeps, in order, the messages `match` accepts (all when match is NULL),
 * frees the others, and returns how many are left. */
size_t md_keep_matching(void **msgs, size_t n, md_match_fn match, void *arg);
/* Grows a message array by one slot. */
void md_array_push(void ***arr, size_t *n, size_t *cap, void *item);

/* Rebuilds one stored object from its row: key, encoded message, times. */
typedef ProtobufCMessage *(*md_decode_fn)(const char *key, const void *blob, int len, int64_t created,
					  int64_t updated, struct ucd_error **err);
/* Runs `sql` (bound to the namespace) whose rows are (key, blob, created,
 * updated), decodes each row and keeps those `match` accepts (NULL: all).
 * `what` names the listing in errors ("list containers"). */
/* Runs `sql` (bound to namespace and key) whose one row is (blob, created,
 * updated) and decodes it: 1 with *out set, 0 when there is no such row
 * (the caller words its NotFound as containerd does), or -code. */
int md_get_decoded(struct md_db *db, const char *sql, const char *ns, const char *key, md_decode_fn decode,
		   ProtobufCMessage **out, const char *what, struct ucd_error **err);
/* Runs the DELETE `sql` (bound to namespace and key): 1 when a row went, 0
 * when none matched, or -code. */
int md_delete_keyed(struct md_db *db, const char *sql, const char *ns, const char *key, struct ucd_error **err);
int md_list_decoded(struct md_db *db, const char *sql, const char *ns, md_decode_fn decode, md_match_fn match,
		    void *arg, ProtobufCMessage ***out, size_t *n, const char *what, struct ucd_error **err);
