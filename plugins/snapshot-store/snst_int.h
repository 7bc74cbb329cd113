/* snapshot-store internals: the record index (index.c), its sqlite
 * persistence (db.c), the trash (trash.c) and the store itself. */
#pragma once
#include <pthread.h>
#include <sqlite3.h>

#include "snst.h"

/* One snapshot. Owned by the index; guarded by snst.mu. */
struct snst_rec {
	struct snst_rec *hnext;      /* hash chain */
	char *name;
	uint64_t id;
	struct snst_rec *parent;     /* NULL: none */
	int kind;                    /* enum ucd_snapshot_kind */
	struct ucd_label *labels;    /* host->alloc'ed */
	size_t n_labels;
	int64_t created, updated;
	int64_t size, inodes;        /* measured at commit */
	/* Children, including ones still being created: a record with
	 * children cannot be removed. */
	uint32_t children;
	/* Being created (not yet `live`) or committed: other ops on this name
	 * wait until it settles (snst.settled). */
	bool busy;
	/* Exists for clients: stat/walk/... see it. False while created, and
	 * for the placeholder that reserves a commit's target name. */
	bool live;
};

struct snst_index {
	struct snst_rec **buckets;
	size_t n_buckets;   /* power of two */
	size_t n;
};

struct snst_db {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *ins_snap, *ins_label, *del_labels, *del_snap, *upd_commit, *upd_time;
};

struct snst_trash {
	int dirfd;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t wake, idle_cv;
	bool work;              /* something was moved in since the last pass */
	bool idle;              /* the thread is waiting with nothing to do */
	volatile bool stop;
	unsigned waiters;       /* cleanup() or close() waiting: the thread runs at normal priority */
	bool idle_policy;       /* the thread is at SCHED_IDLE now */
	uint64_t seq;           /* unique trash names */
	const struct ucd_host *host;
	const struct ucd_init_ctx *ic;
};

struct snst {
	const struct ucd_host *host;
	const struct ucd_init_ctx *ic;
	const struct snst_driver *drv;
	void *drv_arg;
	char *root;
	char *snapshots;        /* <root>/snapshots */
	int snapshots_fd;
	pthread_mutex_t mu;
	pthread_cond_t settled; /* a busy record settled */
	struct snst_index index;
	struct snst_db db;
	uint64_t next_id;
	struct snst_trash trash;
	bool trash_opened;
	mode_t umask;           /* the process's, read once at open */
};

/* index.c (caller holds snst.mu) */
void snst_index_init(struct snst_index *ix);
void snst_index_fini(const struct ucd_host *h, struct snst_index *ix);
struct snst_rec *snst_index_find(const struct snst_index *ix, const char *name);
void snst_index_add(const struct ucd_host *h, struct snst_index *ix, struct snst_rec *r);
void snst_index_del(struct snst_index *ix, struct snst_rec *r);
struct snst_rec *snst_rec_new(const struct ucd_host *h, const char *name);
void snst_rec_free(const struct ucd_host *h, struct snst_rec *r);
/* Replaces r's labels with a copy of `in` (a key given twice: the last
 * value). Empty values are kept: the contract reports labels exactly as
 * given (containerd's bolt store drops them; the daemon's metadata layer,
 * which holds what clients see, may do the same). */
void snst_rec_set_labels(const struct ucd_host *h, struct snst_rec *r, const struct ucd_label *in, size_t n);
/* Calls fn for every record (no change to the index during the call). */
void snst_index_each(const struct snst_index *ix, void (*fn)(void *arg, struct snst_rec *r), void *arg);

/* db.c (caller holds snst.mu) */
/* Opens (creating when new) and sets up the schema. With `keep_empty`, a
 * database that has no schema yet is left as it is and *no_schema set
 * instead (the caller refuses it: see store.c). */
int snst_db_open(struct snst *s, const char *path, bool keep_empty, bool *no_schema, struct ucd_error **err);
void snst_db_close(struct snst_db *d);
/* Fills the index with every stored record and sets s->next_id. */
int snst_db_load(struct snst *s, struct ucd_error **err);
int snst_db_insert(struct snst *s, const struct snst_rec *r, struct ucd_error **err);
int snst_db_delete(struct snst *s, uint64_t id, struct ucd_error **err);
/* Stores name, kind, times, usage and labels of an existing record. */
int snst_db_commit(struct snst *s, const struct snst_rec *r, struct ucd_error **err);
int snst_db_update_labels(struct snst *s, const struct snst_rec *r, struct ucd_error **err);

/* trash.c */
int snst_trash_open(struct snst_trash *t, const struct ucd_host *h, const struct ucd_init_ctx *ic,
		    const char *dir, struct ucd_error **err);
/* Starts the thread that empties the trash (it starts with what is there). */
void snst_trash_start(struct snst_trash *t);
void snst_trash_close(struct snst_trash *t);
/* Renames `name` under dirfd into the trash; ENOENT is success. */
int snst_trash_move(struct snst_trash *t, int dirfd, const char *name);
/* Returns once everything moved in so far is deleted (or could not be). */
void snst_trash_flush(struct snst_trash *t);
