/* containerd.services.snapshots.v1.Snapshots over the snapshotter plugins,
 * with the semantics of containerd 1.6's metadata snapshotter
 * (metadata/snapshot.go) and service (services/snapshots/): per-namespace
 * keys, parents in the namespace, labels and times in the metadata store,
 * leases, events. docs/snapshots.md describes it.
 *
 * A request that changes a snapshot runs in three steps:
 *   1. on the loop: the metadata checks (reads) and a new backend key;
 *   2. on the thread pool: the plugin op (plugins block);
 *   3. on the loop: the metadata write (one transaction).
 * A plugin failure records nothing. A metadata failure in step 3 undoes
 * the plugin op where it can (removes what Prepare/View created). Between
 * 1 and 3, holds (snapshots.h) make concurrent requests see the snapshot as
 * created, committed, or as a parent with a child.
 *
 * Remove is the other way round: the row goes first and the reply is sent,
 * then the plugin removes its snapshot in the background (a queue per
 * snapshotter). A crash in between leaves a backend snapshot nobody
 * references, which the garbage collector removes, never a row without a
 * backend snapshot. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "containerd/events/snapshot.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/types/mount.pb-c.h"
#include "events/events.h"
#include "filters/filters.h"
#include "gc/gc.h"
#include "google/protobuf/empty.pb-c.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/snapshots.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pbfield.h"
#include "util/quote.h"

typedef Containerd__Services__Snapshots__V1__Info Info;
typedef Containerd__Types__Mount Mount;

/* bolt's MaxKeySize: containerd cannot store a longer key either. */
#define KEY_MAX 32768
/* containerd's List sends its infos in blocks of this many. */
#define LIST_BATCH 100
/* Labels the snapshotter itself is given (containerd's
 * FilterInheritedLabels); the others live only in the metadata store. */
#define LABEL_SNAPSHOT_REF "containerd.io/snapshot.ref"
#define INHERITED_PREFIX "containerd.io/snapshot/"

static struct svc_ctx *ctx_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

static const char *str(const char *s)
{
	return s ? s : "";
}

static void reply_empty(struct rpc_call *call)
{
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}

/* Names a client gives for a new snapshot. containerd takes any string
 * bolt can store; an empty one fails there with "bucket name required". */
static int check_new_name(const char *what, const char *s, struct ucd_error **err)
{
	if (s[0] == '\0')
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "snapshot %s must not be empty: invalid argument", what);
	if (strlen(s) > KEY_MAX)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "snapshot %s too large (%zu bytes, at most %d): invalid argument",
				 what, strlen(s), KEY_MAX);
	return 0;
}

/* Names of snapshots that should exist: too long cannot exist. */
static int check_name(const char *s, struct ucd_error **err)
{
	return strlen(s) > KEY_MAX ? check_new_name("key", s, err) : 0;
}

/* --- labels -------------------------------------------------------------------------- */

/* A copy of a map<string,string> field, in wire order (duplicates kept:
 * the metadata store applies the last, as a Go map would). */
struct labels {
	struct ucd_label *v;
	size_t n;
};

static void labels_copy(struct labels *l, void *const *entries, size_t n)
{
	l->v = xcalloc(n ? n : 1, sizeof *l->v);
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		l->v[i].key = xstrdup(e ? md_entry_key(e) : "");
		l->v[i].value = xstrdup(e ? md_entry_str(e) : "");
	}
}

static void labels_free(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Borrowed md_kv view; free the array only. */
static struct md_kv *labels_kv(const struct labels *l)
{
	struct md_kv *kv = xcalloc(l->n ? l->n : 1, sizeof *kv);
	for (size_t i = 0; i < l->n; i++) {
		kv[i].key = l->v[i].key;
		kv[i].value = l->v[i].value;
	}
	return kv;
}

static const char *labels_get(const struct labels *l, const char *key)
{
	for (size_t i = l->n; i-- > 0;)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

static bool inherited(const char *key)
{
	return strcmp(key, LABEL_SNAPSHOT_REF) == 0 || strncmp(key, INHERITED_PREFIX, strlen(INHERITED_PREFIX)) == 0;
}

struct indexed {
	const char *key, *value;
	size_t i;
};

static int cmp_indexed(const void *a, const void *b)
{
	const struct indexed *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* What the plugin is given: the inherited labels of `pairs`, one per key
 * (the last wins), without empty values (bolt stores none). Copies. */
static void labels_inherited(struct labels *out, const char *const *keys, const char *const *values, size_t n)
{
	struct indexed *v = xcalloc(n ? n : 1, sizeof *v);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (inherited(keys[i]))
			v[m++] = (struct indexed){ keys[i], values[i], i };
	qsort(v, m, sizeof *v, cmp_indexed);
	out->v = xcalloc(m ? m : 1, sizeof *out->v);
	out->n = 0;
	for (size_t i = 0; i < m; i++) {
		if (i + 1 < m && strcmp(v[i].key, v[i + 1].key) == 0)
			continue;   /* a later one wins */
		if (v[i].value[0] == '\0')
			continue;
		out->v[out->n].key = xstrdup(v[i].key);
		out->v[out->n].value = xstrdup(v[i].value);
		out->n++;
	}
	free(v);
}

static void labels_inherited_of(struct labels *out, const struct labels *in)
{
	const char **k = xcalloc(in->n ? in->n : 1, sizeof *k), **v = xcalloc(in->n ? in->n : 1, sizeof *v);
	for (size_t i = 0; i < in->n; i++) {
		k[i] = in->v[i].key;
		v[i] = in->v[i].value;
	}
	labels_inherited(out, k, v, in->n);
	free(k);
	free(v);
}

/* --- jobs: one plugin op on the thread pool ------------------------------------------- */

enum op { OP_PREPARE, OP_VIEW, OP_MOUNTS, OP_COMMIT, OP_USAGE, OP_UPDATE, OP_CLEANUP };
static const char *const op_names[] = { "prepare", "view", "mounts", "commit", "usage", "update", "cleanup" };

struct job {
	uv_work_t work;
	enum op op;
	struct svc_ctx *ctx;
	struct rpc_call *call;
	struct snap_backend be;
	char *ns, *lease;
	char *key, *parent, *name;        /* the namespace's names */
	char *bkey, *bparent, *bname;     /* the plugin's */
	struct labels labels;             /* the request's */
	struct labels blabels;            /* what the plugin is given */
	char **paths;
	size_t n_paths;
	struct snap_hold *holds[2];
	bool mutation;                    /* between gc_mutation_begin and _end */
	void (*after)(struct job *j);     /* on the loop, when the op is done */
	/* results */
	struct ucd_error *err;
	struct ucd_mounts mounts;
	struct ucd_snapshot_usage usage;
	struct ucd_snapshot_info info;
};

static struct job *job_new(struct rpc_call *call, enum op op, const struct snap_backend *be)
{
	struct job *j = xcalloc(1, sizeof *j);
	j->work.data = j;
	j->op = op;
	j->ctx = ctx_of(call);
	j->call = call;
	j->be = *be;
	j->ns = xstrdup(str(rpc_call_namespace(call)));
	const char *lease = svc_call_lease(call);
	j->lease = lease ? xstrdup(lease) : NULL;
	rpc_call_ref(call);
	return j;
}

static void job_free(struct job *j)
{
	void (*hfree)(void *) = j->be.host->free;
	snap_hold_release(j->holds[0]);
	snap_hold_release(j->holds[1]);
	ucd_mounts_release(hfree, &j->mounts);
	ucd_snapshot_info_release(hfree, &j->info);
	error_free(j->err);
	labels_free(&j->labels);
	labels_free(&j->blabels);
	for (size_t i = 0; i < j->n_paths; i++)
		free(j->paths[i]);
	free(j->paths);
	free(j->ns);
	free(j->lease);
	free(j->key);
	free(j->parent);
	free(j->name);
	free(j->bkey);
	free(j->bparent);
	free(j->bname);
	rpc_call_unref(j->call);
	free(j);
}

static bool has_op(const struct ucd_snapshotter_ops *ops, enum op op)
{
	switch (op) {
	case OP_PREPARE: return UCD_SNAPSHOTTER_OPS_HAS(ops, prepare);
	case OP_VIEW: return UCD_SNAPSHOTTER_OPS_HAS(ops, view);
	case OP_MOUNTS: return UCD_SNAPSHOTTER_OPS_HAS(ops, mounts);
	case OP_COMMIT: return UCD_SNAPSHOTTER_OPS_HAS(ops, commit);
	case OP_USAGE: return UCD_SNAPSHOTTER_OPS_HAS(ops, usage);
	case OP_UPDATE: return UCD_SNAPSHOTTER_OPS_HAS(ops, update);
	case OP_CLEANUP: return UCD_SNAPSHOTTER_OPS_HAS(ops, cleanup);
	}
	return false;
}

/* Worker thread: only the job and the plugin. */
static void job_work(uv_work_t *w)
{
	struct job *j = w->data;
	const struct ucd_snapshotter_ops *ops = j->be.ops;
	void *self = j->be.self;
	int r = -UCD_UNIMPLEMENTED;
	if (!has_op(ops, j->op)) {
		error_set(&j->err, UCD_UNIMPLEMENTED, 0, "snapshotter %s does not implement %s: not implemented",
			  j->be.name, op_names[j->op]);
		return;
	}
	switch (j->op) {
	case OP_PREPARE:
		r = ops->prepare(self, j->bkey, j->bparent, j->blabels.v, j->blabels.n, &j->mounts, &j->err);
		break;
	case OP_VIEW:
		r = ops->view(self, j->bkey, j->bparent, j->blabels.v, j->blabels.n, &j->mounts, &j->err);
		break;
	case OP_MOUNTS:
		r = ops->mounts(self, j->bkey, &j->mounts, &j->err);
		break;
	case OP_COMMIT:
		r = ops->commit(self, j->bname, j->bkey, j->blabels.v, j->blabels.n, &j->err);
		break;
	case OP_USAGE:
		r = ops->usage(self, j->bkey, &j->usage, &j->err);
		break;
	case OP_UPDATE: {
		struct ucd_snapshot_info in = { .name = j->bkey, .labels = { j->blabels.v, j->blabels.n } };
		r = ops->update(self, &in, (const char *const *)j->paths, j->n_paths, &j->info, &j->err);
		break;
	}
	case OP_CLEANUP:
		r = ops->cleanup(self, &j->err);
		break;
	}
	if (r >= 0) {
		error_free(j->err);   /* a plugin that set one anyway */
		j->err = NULL;
	} else if (j->err == NULL) {
		error_set(&j->err, UCD_UNKNOWN, 0, "snapshotter %s: %s failed without an error (%d)", j->be.name,
			  op_names[j->op], r);
	} else if (j->err->code <= UCD_OK || j->err->code > UCD_UNAUTHENTICATED) {
		j->err->code = UCD_UNKNOWN;
	}
}

static void job_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	(void)status;   /* jobs are never cancelled: a started plugin op must be recorded */
	j->after(j);
	if (j->mutation)
		gc_mutation_end(j->ctx->gc);
	job_free(j);
}

static void job_queue(struct job *j, void (*after)(struct job *j))
{
	j->after = after;
	uv_queue_work(j->ctx->loop, &j->work, job_work, job_done);
}

static void job_go(void *arg)
{
	struct job *j = arg;
	uv_queue_work(j->ctx->loop, &j->work, job_work, job_done);
}

/* For ops that create backend snapshots: the garbage collector must not
 * sweep what the plugin makes before its row is written, so the op waits
 * for a collection in progress and holds the next one off until the row
 * is recorded (core/gc/gc.h). */
static void job_queue_mutation(struct job *j, void (*after)(struct job *j))
{
	j->after = after;
	j->mutation = true;
	gc_mutation_begin(j->ctx->gc, job_go, j);
}

/* s with every `from` replaced by `to`. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	if (fl == 0)
		return xstrdup(s);
	for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
		n++;
	char *out = xmalloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
	for (const char *p; (p = strstr(s, from)) != NULL; s = p + fl) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, tl);
		o += tl;
	}
	strcpy(o, s);
	return out;
}

/* containerd's errdefs class texts, which end every message it sends. */
static const char *class_text(int code)
{
	switch (code) {
	case UCD_INVALID_ARGUMENT: return "invalid argument";
	case UCD_NOT_FOUND: return "not found";
	case UCD_ALREADY_EXISTS: return "already exists";
	case UCD_FAILED_PRECONDITION: return "failed precondition";
	case UCD_UNAVAILABLE: return "unavailable";
	case UCD_UNIMPLEMENTED: return "not implemented";
	case UCD_UNKNOWN: return "unknown";
	}
	return NULL;
}

/* The plugin's error as the client sees it: in the namespace's names (the
 * backend keys are the daemon's business), ending in the class as
 * containerd's errors do. */
static struct ucd_error *plugin_error(struct job *j)
{
	struct ucd_error *e = steal(j->err);
	const char *from[3] = { j->bkey, j->bname, j->bparent }, *to[3] = { j->key, j->name, j->parent };
	for (int i = 0; i < 3; i++) {
		if (from[i] == NULL || from[i][0] == '\0' || to[i] == NULL)
			continue;
		char *m = replace_all(e->msg, from[i], to[i]);
		free(e->msg);
		e->msg = m;
	}
	const char *cls = class_text(e->code);
	size_t ml = strlen(e->msg), cl = cls ? strlen(cls) : 0;
	if (cls != NULL && !(ml >= cl && strcmp(e->msg + ml - cl, cls) == 0)) {
		char *m = xasprintf("%s: %s", e->msg, cls);
		free(e->msg);
		e->msg = m;
	}
	return e;
}

static void fail_with_plugin_error(struct job *j)
{
	struct ucd_error *e = plugin_error(j);
	log_debug("snapshotter %s: %s `%s`: %s", j->be.name, op_names[j->op], str(j->key), e->msg);
	rpc_call_fail(j->call, e);
}

/* The request's lease must exist before the plugin works for it
 * (containerd checks it in the same transaction). */
static int check_lease(struct md_db *db, const struct job *j, struct ucd_error **err)
{
	if (j->lease == NULL)
		return 0;
	Containerd__Services__Leases__V1__Lease *l = NULL;
	int r = md_lease_get(db, j->ns, j->lease, &l, err);
	md_free(l);
	return r;
}

static char *lease_type(const struct job *j)
{
	return xasprintf("snapshots/%s", j->be.name);
}

/* A request's writes are one transaction. Under a lease there are two store
 * calls (the snapshot, the lease's resource) in an outer transaction; a
 * lone store call is its own transaction, as an outer one would only add a
 * savepoint (which sqlite pays for with allocations on every call). */
static int tx_open(struct md_db *db, bool two_calls, struct ucd_error **err)
{
	return two_calls ? md_begin(db, err) : 0;
}

static int tx_close(struct md_db *db, bool two_calls, int r, struct ucd_error **err)
{
	if (!two_calls)
		return r;
	if (r < 0) {
		md_rollback(db);
		return r;
	}
	return md_commit(db, err);
}

/* --- replies ------------------------------------------------------------------------------ */

/* Mount messages borrowing the plugin's strings; free the array and each
 * element only. */
static Mount **mounts_borrow(const struct ucd_mounts *m)
{
	Mount **out = xcalloc(m->n ? m->n : 1, sizeof *out);
	for (size_t i = 0; i < m->n; i++) {
		Mount *x = xmalloc(sizeof *x);
		containerd__types__mount__init(x);
		x->type = (char *)str(m->v[i].type);
		x->source = (char *)str(m->v[i].source);
		x->options = m->v[i].options;
		x->n_options = m->v[i].options ? m->v[i].n_options : 0;
		out[i] = x;
	}
	return out;
}

static void mounts_borrow_free(Mount **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* PrepareSnapshotResponse, ViewSnapshotResponse and MountsResponse are the
 * same message on the wire: field 1, repeated Mount. */
static void reply_mounts(struct rpc_call *call, const struct ucd_mounts *m)
{
	Containerd__Services__Snapshots__V1__MountsResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
	resp.mounts = mounts_borrow(m);
	resp.n_mounts = m->n;
	rpc_call_reply(call, &resp.base);
	mounts_borrow_free(resp.mounts, resp.n_mounts);
}

/* --- Prepare, View --------------------------------------------------------------------- */

static void after_create(struct job *j)
{
	if (j->err != NULL && j->err->code == UCD_ALREADY_EXISTS) {
		/* The backend key is new: a plugin that has it anyway is confused
		 * (or a remote snapshotter adopting a target, which is not
		 * supported). containerd answers Unknown, so that a client does not
		 * take it for "your key exists". */
		struct ucd_error *e = plugin_error(j);
		rpc_call_finish(j->call, UCD_UNKNOWN, "unexpected error from snapshotter: %s: unknown", e->msg);
		return error_free(e);
	}
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	struct md_db *db = j->ctx->db;
	struct ucd_error *e = NULL;
	autofree struct md_kv *kv = labels_kv(&j->labels);
	autofree char *type = lease_type(j);
	int kind = j->op == OP_VIEW ? UCD_SNAPSHOT_VIEW : UCD_SNAPSHOT_ACTIVE;
	bool leased = j->lease != NULL;
	int r = tx_open(db, leased, &e);
	if (r == 0) {
		r = md_snapshot_create(db, j->be.name, j->ns, j->key, j->bkey, j->parent, kind, kv, j->labels.n, &e);
		if (r == 0 && leased)
			r = md_lease_add_resource(db, j->ns, j->lease, type, j->key, &e);
		r = tx_close(db, leased, r, &e);
	}
	if (r < 0) {
		/* Nothing refers to what the plugin made: undo it. */
		log_warn("snapshotter %s: %s `%s` not recorded (%s): removing `%s`", j->be.name, op_names[j->op], j->key,
			 e->msg, j->bkey);
		snap_backend_remove(j->ctx, &j->be, j->bkey, NULL, NULL);
		return rpc_call_fail(j->call, e);
	}
	if (j->op == OP_PREPARE) {
		Containerd__Events__SnapshotPrepare ev = CONTAINERD__EVENTS__SNAPSHOT_PREPARE__INIT;
		ev.key = j->key;
		ev.parent = j->parent;
		events_publish(j->ctx->events, j->ns, "/snapshot/prepare", &ev.base);
	}
	reply_mounts(j->call, &j->mounts);
}

static void start_create(struct rpc_call *call, enum op op, const char *sn, const char *key, const char *parent,
			 void *const *labels, size_t n_labels)
{
	struct svc_ctx *ctx = ctx_of(call);
	struct md_db *db = ctx->db;
	struct snap_backend be;
	struct ucd_error *e = NULL;
	key = str(key);
	parent = str(parent);
	if (snap_backend_find(ctx, sn, &be, &e) < 0 || check_new_name("key", key, &e) < 0 || check_name(parent, &e) < 0)
		return rpc_call_fail(call, e);
	struct job *j = job_new(call, op, &be);
	j->key = xstrdup(key);
	j->parent = xstrdup(parent);
	labels_copy(&j->labels, labels, n_labels);
	autofree struct md_kv *kv = labels_kv(&j->labels);
	const char *target = labels_get(&j->labels, LABEL_SNAPSHOT_REF);

	/* Reads only: no transaction (the loop thread is the store's only user). */
	int r = md_snapshot_check_create(db, be.name, j->ns, key, parent, target, kv, j->labels.n, &j->bparent, &e);
	/* In flight counts as done: another request is creating this key. */
	if (r == 0 && target != NULL && target[0] && snap_held(SNAP_HOLD_CREATE, be.name, j->ns, target)) {
		autofree char *q = go_quote(target);
		r = error_set(&e, UCD_ALREADY_EXISTS, 0, "target snapshot %s: already exists", q);
	}
	if (r == 0 && snap_held(SNAP_HOLD_CREATE, be.name, j->ns, key)) {
		autofree char *q = go_quote(key);
		r = error_set(&e, UCD_ALREADY_EXISTS, 0, "snapshot %s: already exists", q);
	}
	if (r == 0)
		r = check_lease(db, j, &e);
	if (r == 0)
		r = snap_new_backend_key(ctx, be.name, j->ns, key, &j->bkey, &e);
	if (r < 0) {
		rpc_call_fail(call, e);
		return job_free(j);
	}
	labels_inherited_of(&j->blabels, &j->labels);
	j->holds[0] = snap_hold_add(SNAP_HOLD_CREATE, be.name, j->ns, key);
	if (parent[0] != '\0')
		j->holds[1] = snap_hold_add(SNAP_HOLD_PARENT, be.name, j->ns, parent);
	job_queue_mutation(j, after_create);
}

static void s_prepare(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *req = (const void *)msg;
	start_create(call, OP_PREPARE, req->snapshotter, req->key, req->parent, (void *const *)req->labels,
		     req->n_labels);
}

static void s_view(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__ViewSnapshotRequest *req = (const void *)msg;
	start_create(call, OP_VIEW, req->snapshotter, req->key, req->parent, (void *const *)req->labels,
		     req->n_labels);
}

/* --- Commit ---------------------------------------------------------------------------- */

static void after_commit(struct job *j)
{
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	struct md_db *db = j->ctx->db;
	struct ucd_error *e = NULL;
	autofree struct md_kv *kv = labels_kv(&j->labels);
	autofree char *type = lease_type(j);
	bool leased = j->lease != NULL;
	int r = tx_open(db, leased, &e);
	if (r == 0) {
		r = md_snapshot_commit(db, j->be.name, j->ns, j->name, j->key, j->bname, kv, j->labels.n, &e);
		if (r == 0 && leased && (r = md_lease_add_resource(db, j->ns, j->lease, type, j->name, &e)) == 0)
			r = md_lease_delete_resource(db, j->ns, j->lease, type, j->key, &e);
		r = tx_close(db, leased, r, &e);
	}
	if (r < 0) {
		/* A commit cannot be undone: the active snapshot is gone from the
		 * plugin. Its row now names a missing backend snapshot (Remove
		 * still works) and `name` is unreferenced (garbage). containerd
		 * logs the same condition. */
		log_error("snapshotter %s: committed `%s` as `%s` (backend `%s`) but could not record it: %s; remove "
			  "snapshot `%s`",
			  j->be.name, j->key, j->name, j->bname, e->msg, j->key);
		return rpc_call_fail(j->call, e);
	}
	Containerd__Events__SnapshotCommit ev = CONTAINERD__EVENTS__SNAPSHOT_COMMIT__INIT;
	ev.key = j->key;
	ev.name = j->name;
	events_publish(j->ctx->events, j->ns, "/snapshot/commit", &ev.base);
	reply_empty(j->call);
}

static void s_commit(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__CommitSnapshotRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct md_db *db = ctx->db;
	struct snap_backend be;
	struct ucd_error *e = NULL;
	const char *name = str(req->name), *key = str(req->key);
	if (snap_backend_find(ctx, req->snapshotter, &be, &e) < 0 || check_new_name("name", name, &e) < 0 ||
	    check_name(key, &e) < 0)
		return rpc_call_fail(call, e);
	struct job *j = job_new(call, OP_COMMIT, &be);
	j->name = xstrdup(name);
	j->key = xstrdup(key);
	labels_copy(&j->labels, (void *const *)req->labels, req->n_labels);
	autofree struct md_kv *kv = labels_kv(&j->labels);
	struct md_snapshot_ref kref = { 0 };

	/* Reads only: no transaction. */
	int r = 0;
	if (snap_held(SNAP_HOLD_CREATE, be.name, j->ns, name)) {
		autofree char *q = go_quote(name);
		r = error_set(&e, UCD_ALREADY_EXISTS, 0, "snapshot %s: already exists", q);
	}
	if (r == 0)
		r = md_snapshot_check_commit(db, be.name, j->ns, name, key, kv, j->labels.n, &kref, &e);
	if (r == 0 && snap_held(SNAP_HOLD_COMMIT, be.name, j->ns, key))   /* another commit of it is under way */
		r = error_set(&e, UCD_NOT_FOUND, 0, "snapshot %s does not exist: not found", key);
	if (r == 0)
		r = check_lease(db, j, &e);
	if (r == 0)
		r = snap_new_backend_key(ctx, be.name, j->ns, name, &j->bname, &e);
	j->bkey = steal(kref.backend_key);
	md_snapshot_ref_fini(&kref);
	if (r < 0) {
		rpc_call_fail(call, e);
		return job_free(j);
	}
	labels_inherited_of(&j->blabels, &j->labels);
	j->holds[0] = snap_hold_add(SNAP_HOLD_CREATE, be.name, j->ns, name);
	j->holds[1] = snap_hold_add(SNAP_HOLD_COMMIT, be.name, j->ns, key);
	job_queue_mutation(j, after_commit);
}

/* --- Remove ------------------------------------------------------------------------------ */

static void s_remove(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct md_db *db = ctx->db;
	struct snap_backend be;
	struct ucd_error *e = NULL;
	const char *key = str(req->key), *ns = rpc_call_namespace(call);
	if (snap_backend_find(ctx, req->snapshotter, &be, &e) < 0 || check_name(key, &e) < 0)
		return rpc_call_fail(call, e);
	/* Requests in flight count as done: a key being committed is gone, a
	 * parent being built on has a child. */
	if (snap_held(SNAP_HOLD_COMMIT, be.name, ns, key))
		return rpc_call_finish(call, UCD_NOT_FOUND, "snapshot %s does not exist: not found", key);
	if (snap_held(SNAP_HOLD_PARENT, be.name, ns, key))
		return rpc_call_finish(call, UCD_FAILED_PRECONDITION, "cannot remove snapshot with child: failed precondition");

	autofree char *bkey = NULL;
	const char *lease = svc_call_lease(call);
	int r = tx_open(db, lease != NULL, &e);
	if (r == 0) {
		r = md_snapshot_remove(db, be.name, ns, key, &bkey, &e);
		if (r == 0 && lease != NULL) {
			/* containerd drops the key from the request's lease, quietly
			 * when the lease does not exist. */
			autofree char *type = xasprintf("snapshots/%s", be.name);
			if ((r = md_lease_delete_resource(db, ns, lease, type, key, &e)) == -UCD_NOT_FOUND) {
				error_free(e);
				e = NULL;
				r = 0;
			}
		}
		r = tx_close(db, lease != NULL, r, &e);
	}
	if (r < 0)
		return rpc_call_fail(call, e);
	Containerd__Events__SnapshotRemove ev = CONTAINERD__EVENTS__SNAPSHOT_REMOVE__INIT;
	ev.key = (char *)key;
	events_publish(ctx->events, ns, "/snapshot/remove", &ev.base);
	reply_empty(call);
	/* The plugin's snapshot goes now; what the removal left unreferenced
	 * (a chain of parents nothing else holds) goes with the next
	 * collection, as in containerd. */
	snap_backend_remove(ctx, &be, bkey, NULL, NULL);
	gc_schedule(ctx->gc);
}

/* --- Mounts, Usage: the plugin answers for one snapshot ---------------------------------- */

/* The backend key of `key` for an op that reads it; fails the call when
 * there is none. */
static struct job *start_read(struct rpc_call *call, enum op op, const char *sn, const char *key)
{
	struct svc_ctx *ctx = ctx_of(call);
	struct snap_backend be;
	struct ucd_error *e = NULL;
	key = str(key);
	if (snap_backend_find(ctx, sn, &be, &e) < 0 || check_name(key, &e) < 0) {
		rpc_call_fail(call, e);
		return NULL;
	}
	struct md_snapshot_ref ref = { 0 };
	int r = md_snapshot_lookup(ctx->db, be.name, str(rpc_call_namespace(call)), key, &ref, &e);
	if (r <= 0) {
		if (r == 0)
			error_set(&e, UCD_NOT_FOUND, 0, "snapshot %s does not exist: not found", key);
		rpc_call_fail(call, e);
		return NULL;
	}
	if (op == OP_MOUNTS && ref.kind == UCD_SNAPSHOT_COMMITTED) {
		md_snapshot_ref_fini(&ref);
		rpc_call_finish(call, UCD_FAILED_PRECONDITION,
				"requested snapshot %s not active or view: failed precondition", key);
		return NULL;
	}
	struct job *j = job_new(call, op, &be);
	j->key = xstrdup(key);
	j->bkey = steal(ref.backend_key);
	md_snapshot_ref_fini(&ref);
	return j;
}

static void after_mounts(struct job *j)
{
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	reply_mounts(j->call, &j->mounts);
}

static void s_mounts(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__MountsRequest *req = (const void *)msg;
	struct job *j = start_read(call, OP_MOUNTS, req->snapshotter, req->key);
	if (j != NULL)
		job_queue(j, after_mounts);
}

static void after_usage(struct job *j)
{
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	Containerd__Services__Snapshots__V1__UsageResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
	resp.size = j->usage.size;
	resp.inodes = j->usage.inodes;
	rpc_call_reply(j->call, &resp.base);
}

static void s_usage(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__UsageRequest *req = (const void *)msg;
	struct job *j = start_read(call, OP_USAGE, req->snapshotter, req->key);
	if (j != NULL)
		job_queue(j, after_usage);
}

/* --- Stat, Update ------------------------------------------------------------------------- */

static void reply_info(struct rpc_call *call, Info *info)
{
	/* StatSnapshotResponse and UpdateSnapshotResponse: field 1, Info. */
	Containerd__Services__Snapshots__V1__StatSnapshotResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
	resp.info = info;
	rpc_call_reply(call, &resp.base);
}

/* From the metadata store alone: it records kind, parent, labels and
 * times; the plugin has nothing to add (containerd asks it and overlays
 * the metadata on its answer). */
static void s_stat(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__StatSnapshotRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct snap_backend be;
	struct ucd_error *e = NULL;
	Info *info = NULL;
	if (snap_backend_find(ctx, req->snapshotter, &be, &e) < 0 || check_name(str(req->key), &e) < 0 ||
	    md_snapshot_stat(ctx->db, be.name, rpc_call_namespace(call), str(req->key), &info, &e) < 0)
		return rpc_call_fail(call, e);
	reply_info(call, info);
	md_free(info);
}

static void after_update(struct job *j)
{
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	struct md_db *db = j->ctx->db;
	struct ucd_error *e = NULL;
	autofree struct md_kv *kv = labels_kv(&j->labels);
	Info *info = NULL;
	/* Applied again to what is stored now, so that concurrent updates of
	 * different labels both stay. */
	if (md_snapshot_update(db, j->be.name, j->ns, j->key, kv, j->labels.n, (const char *const *)j->paths,
			       j->n_paths, &info, &e) < 0)
		return rpc_call_fail(j->call, e);
	reply_info(j->call, info);
	md_free(info);
}

/* containerd updates the metadata and gives the plugin the inherited labels
 * of the result with the same field paths. Here: a trial run in a
 * transaction that is rolled back (validation, the result), the plugin,
 * then the real write. */
static void s_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct md_db *db = ctx->db;
	struct snap_backend be;
	struct ucd_error *e = NULL;
	const char *key = req->info ? str(req->info->name) : "";
	if (snap_backend_find(ctx, req->snapshotter, &be, &e) < 0 || check_name(key, &e) < 0)
		return rpc_call_fail(call, e);
	struct job *j = job_new(call, OP_UPDATE, &be);
	j->key = xstrdup(key);
	if (req->info != NULL)
		labels_copy(&j->labels, (void *const *)req->info->labels, req->info->n_labels);
	if (req->update_mask != NULL && req->update_mask->n_paths > 0) {
		j->n_paths = req->update_mask->n_paths;
		j->paths = xcalloc(j->n_paths, sizeof *j->paths);
		for (size_t i = 0; i < j->n_paths; i++)
			j->paths[i] = xstrdup(str(req->update_mask->paths[i]));
	}
	autofree struct md_kv *kv = labels_kv(&j->labels);
	Info *result = NULL;
	struct md_snapshot_ref ref = { 0 };
	if (!svc_tx_begin(call, db))
		return job_free(j);
	int r = md_snapshot_update(db, be.name, j->ns, key, kv, j->labels.n, (const char *const *)j->paths, j->n_paths,
				   &result, &e);
	if (r == 0)
		r = md_snapshot_lookup(db, be.name, j->ns, key, &ref, &e);
	md_rollback(db);
	if (r < 0) {
		md_free(result);
		rpc_call_fail(call, e);
		return job_free(j);
	}
	const char **k = xcalloc(result->n_labels + 1, sizeof *k), **v = xcalloc(result->n_labels + 1, sizeof *v);
	for (size_t i = 0; i < result->n_labels; i++) {
		k[i] = md_entry_key(&result->labels[i]->base);
		v[i] = md_entry_str(&result->labels[i]->base);
	}
	labels_inherited(&j->blabels, k, v, result->n_labels);
	free(k);
	free(v);
	md_free(result);
	j->bkey = steal(ref.backend_key);
	md_snapshot_ref_fini(&ref);
	job_queue(j, after_update);
}

/* --- List ------------------------------------------------------------------------------------ */

/* containerd's adaptSnapshot: kind, name, parent, labels.<k>. */
static bool snapshot_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const Info *i = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "kind") == 0) {
		switch (i->kind) {
		case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE: *value = "active"; return true;
		case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__VIEW: *value = "view"; return true;
		case CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED: *value = "committed"; return true;
		default: return false;
		}
	}
	if (strcmp(path[0], "name") == 0) {
		*value = i->name;
		return true;
	}
	if (strcmp(path[0], "parent") == 0) {
		*value = i->parent;
		return true;
	}
	if (strcmp(path[0], "labels") == 0)
		return pbfield_get(&i->base, path, n, value);
	return false;
}

static void send_batch(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Snapshots__V1__ListSnapshotsResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
	resp.info = (Info **)items;
	resp.n_info = n;
	rpc_call_send(call, &resp.base);
}

static void reply_list(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	svc_stream_paced(call, items, n, LIST_BATCH, send_batch);
}

static void s_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__ListSnapshotsRequest *req = (const void *)msg;
	struct svc_ctx *ctx = ctx_of(call);
	struct snap_backend be;
	struct ucd_error *e = NULL;
	if (snap_backend_find(ctx, req->snapshotter, &be, &e) < 0)
		return rpc_call_fail(call, e);
	/* containerd returns the filter package's error as it is (no second
	 * "invalid argument" as the other Lists have). */
	struct svc_match m = { NULL, snapshot_field };
	if (req->n_filters > 0 &&
	    (m.filter = filter_parse((const char *const *)req->filters, req->n_filters, &e)) == NULL)
		return rpc_call_fail(call, e);
	Info **items = NULL;
	size_t n = 0;
	if (md_snapshot_list(ctx->db, be.name, rpc_call_namespace(call), NULL, NULL, &items, &n, &e) < 0) {
		svc_match_fini(&m);
		return rpc_call_fail(call, e);
	}
	svc_filter_then_reply(call, ctx->loop, &m, (ProtobufCMessage **)items, n, reply_list);
}

/* --- Cleanup ------------------------------------------------------------------------------ */

static void after_cleanup(struct job *j)
{
	if (j->err != NULL)
		return fail_with_plugin_error(j);
	reply_empty(j->call);
}

/* containerd 1.6 always answers Unimplemented here (its service wrapper
 * hides the plugins' Cleaner); a plugin with a cleanup op runs it. */
static void s_cleanup(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Snapshots__V1__CleanupRequest *req = (const void *)msg;
	struct snap_backend be;
	struct ucd_error *e = NULL;
	if (snap_backend_find(ctx_of(call), req->snapshotter, &be, &e) < 0)
		return rpc_call_fail(call, e);
	if (!has_op(be.ops, OP_CLEANUP))
		return rpc_call_finish(call, UCD_UNIMPLEMENTED,
				       "snapshotter does not implement Cleanup method: not implemented");
	job_queue(job_new(call, OP_CLEANUP, &be), after_cleanup);
}

#define S_SVC "/containerd.services.snapshots.v1.Snapshots/"
#define S_REQ(n) &containerd__services__snapshots__v1__##n##__descriptor
static struct rpc_method methods[] = {
	{ RPC_METHOD(S_SVC "Prepare", RPC_UNARY, S_REQ(prepare_snapshot_request), true, s_prepare) },
	{ RPC_METHOD(S_SVC "View", RPC_UNARY, S_REQ(view_snapshot_request), true, s_view) },
	{ RPC_METHOD(S_SVC "Mounts", RPC_UNARY, S_REQ(mounts_request), true, s_mounts) },
	{ RPC_METHOD(S_SVC "Commit", RPC_UNARY, S_REQ(commit_snapshot_request), true, s_commit) },
	{ RPC_METHOD(S_SVC "Remove", RPC_UNARY, S_REQ(remove_snapshot_request), true, s_remove) },
	{ RPC_METHOD(S_SVC "Stat", RPC_UNARY, S_REQ(stat_snapshot_request), true, s_stat) },
	{ RPC_METHOD(S_SVC "Update", RPC_UNARY, S_REQ(update_snapshot_request), true, s_update) },
	{ RPC_METHOD(S_SVC "List", RPC_SERVER_STREAMING, S_REQ(list_snapshots_request), true, s_list) },
	{ RPC_METHOD(S_SVC "Usage", RPC_UNARY, S_REQ(usage_request), true, s_usage) },
	{ RPC_METHOD(S_SVC "Cleanup", RPC_UNARY, S_REQ(cleanup_request), false, s_cleanup) },
};

void svc_snapshots_register(struct svc_ctx *ctx)
{
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = ctx;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
