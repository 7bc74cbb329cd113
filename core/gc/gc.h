/* The garbage collector: removes content, snapshots and ingests that no
 * image, container, lease or gc.root label still reaches (containerd's
 * gc + metadata/gc.go; the rules are in core/metadata/gc.c).
 *
 * A collection has two halves:
 *  1. metadata (loop thread, one transaction): mark from the roots, delete
 *     the rows of every namespace's unreferenced content, snapshots and
 *     ingests;
 *  2. backends (thread pool): walk the content store and every snapshotter
 *     and remove what no namespace's row references any more - which also
 *     cleans up what a crash left between a backend write and its metadata
 *     row - then call each snapshotter's cleanup.
 *
 * Half 2 must not see a backend object whose row is about to be written
 * (a blob committed on a worker whose metadata row the loop has not
 * recorded yet). So every request that creates backend objects brackets
 * that work with gc_mutation_begin/end: a collection waits for the
 * mutations in flight to end, and mutations that begin during a collection
 * wait for it to finish (a few milliseconds).
 *
 * When: gc_schedule() after deletions (coalesced: one collection 100 ms
 * after the first request for one, whatever follows in between), and
 * gc_collect_now() for deletes with `sync` (`ctr images rm --sync`).
 * Loop thread only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontainerd/error.h>
#include <uv.h>

struct gc;
struct md_db;
struct registry;

struct gc_stats {
	size_t content_rows, snapshot_rows, ingest_rows;   /* metadata rows deleted */
	size_t blobs, snapshots, ingests;                  /* backend objects removed */
	size_t errors;                                     /* backend removals that failed (logged) */
	int64_t duration_ns;
};

struct gc *gc_new(uv_loop_t *loop, struct md_db *db, struct registry *reg);
/* Stops the debounce timer; a collection on the pool finishes on its own
 * before the loop closes. Then free with gc_free. */
void gc_shutdown(struct gc *gc);
void gc_free(struct gc *gc);

/* A collection soon (debounced). */
void gc_schedule(struct gc *gc);
/* A collection now (or the one already waiting to start); `done` runs when
 * a collection that started after this call has finished, with the error
 * of its metadata half if it failed (NULL otherwise; borrowed). */
typedef void (*gc_done_fn)(void *arg, const struct gc_stats *st, const struct ucd_error *e);
void gc_collect_now(struct gc *gc, gc_done_fn done, void *arg);

/* Brackets a request's backend writes (see the top of this file). `go`
 * runs at once, or when the collection in progress has finished; every
 * gc_mutation_begin is matched by one gc_mutation_end after the metadata
 * row is written (or the request failed). NULL gc: `go` runs at once. */
void gc_mutation_begin(struct gc *gc, void (*go)(void *arg), void *arg);
void gc_mutation_end(struct gc *gc);

/* The stats of the last finished collection (zeroes before the first). */
const struct gc_stats *gc_last(const struct gc *gc);

/* Whether the backends hold anything while the metadata database is new
 * (md_created): then the database was lost, not just made, and the first
 * collection would find nothing referencing their blobs and snapshots and
 * remove them all. Fails (FAILED_PRECONDITION, naming what they hold and
 * what to do) in that case; the daemon then refuses to start. Walks every
 * backend: call once at start, on the loop, before serving. */
int gc_check_new_metadata(struct gc *gc, struct ucd_error **err);
