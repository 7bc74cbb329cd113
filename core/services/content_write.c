/* Content.Write: the bidirectional ingest stream, with containerd's
 * contentserver semantics over its metadata content store.
 *
 * The first message names the ingest (ref, total, expected). Each message
 * is then answered with one response: STAT reports, WRITE appends at the
 * current offset (an offset of 0 restarts the ingest, another one must be
 * the current offset), COMMIT verifies and records the blob in the
 * namespace. The call ends after a COMMIT, at the client's end of stream,
 * or at the first error; as in containerd, a call that ends well repeats its
 * last response once.
 *
 * Plugin ops (open, write, commit, close) run on the thread pool, one job
 * at a time per call; while a job runs, the call's input is held, so a
 * client is paced by the disk and the daemon buffers at most one HTTP/2
 * window per stream. Metadata is read and written on the loop, before and
 * after each job. */
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "services/content_int.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/quote.h"

typedef Containerd__Services__Content__V1__WriteContentRequest WriteRequest;
typedef Containerd__Services__Content__V1__WriteContentResponse WriteResponse;

#define A_STAT CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT
#define A_WRITE CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE
#define A_COMMIT CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT
#define COPY_CHUNK (1u << 20)

/* The request being handled, copied out of the decoded message. */
struct wreq {
	int action;
	int64_t total, offset;
	char *expected;
	uint8_t *data;
	size_t len;
	struct md_kv *labels;   /* strings owned */
	size_t n_labels;
};

enum job { J_INFO, J_OPEN, J_STEP, J_CLOSE };

struct wstate {
	uv_work_t work;
	struct rpc_call *call;
	struct csvc *s;
	char *ns, *ref, *bref;
	int64_t total;          /* the session's, as the messages updated it */
	char *expected;         /* the session's; NULL when none */
	struct ucd_content_writer *w;
	bool opened;            /* the first message made or found the ingest */
	bool created;           /* ... and this call created its record */
	/* A shared ingest: the blob is in the store (another namespace holds
	 * it); nothing is written and it reads as complete. */
	bool shared;
	char *shared_digest;
	int64_t shared_size, shared_started;
	bool blob_exists;       /* J_INFO's answer */
	int64_t blob_size;
	bool abort_on_close;    /* the namespace got the blob meanwhile */

	struct wreq req;
	/* the response, kept across messages as containerd keeps its `msg` */
	int r_action;
	int64_t r_offset, r_total, r_started, r_updated;
	bool r_times;
	char r_digest[136];     /* "sha512:" and 128 hex digits fit (a shared ingest of such a blob) */
	char *committed;        /* the plugin committed this digest (metadata pending) */
	bool in_mutation;       /* between gc_mutation_begin and _end */

	/* how the call ends once the writer is closed (containerd closes it
	 * before its handler returns, so the ref is free when the client
	 * sees the end) */
	struct ucd_error *final_err;
	bool final_send;        /* repeat the last response, then OK */

	enum job job;
	bool busy;              /* a job is out */
	bool ended;             /* the call is over for us: only cleanup is left */
	struct ucd_error *err;
};

static void wreq_fini(struct wreq *r)
{
	free(r->expected);
	free(r->data);
	for (size_t i = 0; i < r->n_labels; i++) {
		free((char *)r->labels[i].key);
		free((char *)r->labels[i].value);
	}
	free(r->labels);
	*r = (struct wreq){0};
}

/* Keeps what the worker needs of request `m`; its data buffer is taken
 * over, not copied (a chunk is up to a MiB, 256 of them for a 256 MiB blob). */
static void wreq_copy(struct wreq *r, struct rpc_call *call, const WriteRequest *m)
{
	wreq_fini(r);
	r->action = m->action;
	r->total = m->total;
	r->offset = m->offset;
	r->expected = xstrdup(m->expected ? m->expected : "");
	r->data = rpc_call_take_bytes(call, &m->data, &r->len);
	if (m->n_labels > 0) {
		r->labels = xcalloc(m->n_labels, sizeof *r->labels);
		for (size_t i = 0; i < m->n_labels; i++) {
			const Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry *e = m->labels[i];
			r->labels[i].key = xstrdup(e && e->key ? e->key : "");
			r->labels[i].value = xstrdup(e && e->value ? e->value : "");
		}
		r->n_labels = m->n_labels;
	}
}

static void ws_free(struct wstate *ws)
{
	wreq_fini(&ws->req);
	free(ws->ns);
	free(ws->ref);
	free(ws->bref);
	free(ws->expected);
	free(ws->shared_digest);
	free(ws->committed);
	error_free(ws->err);
	error_free(ws->final_err);
	free(ws);
}

/* --- the thread pool side --------------------------------------------------------- */

static int plugin_fail(struct wstate *ws, struct ucd_error *e)
{
	ws->err = csvc_plugin_error(e);
	return -ws->err->code;
}

/* Turns a shared ingest into a real one (containerd's createAndCopy): a
 * writer for the backend ref, holding a copy of the blob unless the client
 * starts over. */
static int unshare_ingest(struct wstate *ws, bool copy)
{
	struct csvc *s = ws->s;
	struct ucd_error *e = NULL;
	if (s->ops->writer_open(s->self, ws->bref, 0, NULL, &ws->w, &e) < 0 ||
	    s->ops->writer_truncate(s->self, ws->w, 0, &e) < 0)
		return plugin_fail(ws, e);
	ws->shared = false;
	if (!copy)
		return 0;
	struct ucd_content_reader *rd = NULL;
	int64_t size;
	if (s->ops->reader_open(s->self, ws->shared_digest, &rd, &size, &e) < 0)
		return plugin_fail(ws, e);
	uint8_t *buf = xmalloc(COPY_CHUNK);
	int r = 0;
	for (int64_t off = 0; r == 0 && off < size;) {
		ssize_t n = s->ops->reader_read_at(s->self, rd, buf, COPY_CHUNK, off, &e);
		if (n <= 0) {
			r = n < 0 ? plugin_fail(ws, e)
				  : error_set(&ws->err, UCD_DATA_LOSS, 0, "copy of %s ended early", ws->shared_digest);
			break;
		}
		if (s->ops->writer_write(s->self, ws->w, buf, (size_t)n, &e) < 0)
			r = plugin_fail(ws, e);
		off += n;
	}
	free(buf);
	s->ops->reader_close(s->self, rd);
	return r;
}

/* The writer's status, or the shared ingest's. */
static int stat_writer(struct wstate *ws, struct ucd_content_status *st)
{
	struct csvc *s = ws->s;
	if (ws->w == NULL) {
		*st = (struct ucd_content_status){ NULL, ws->shared_size, ws->shared_size, NULL, ws->shared_started,
						   ws->shared_started };
		return 0;
	}
	struct ucd_error *e = NULL;
	if (s->ops->writer_status(s->self, ws->w, st, &e) < 0)
		return plugin_fail(ws, e);
	return 0;
}

static void writer_digest(struct wstate *ws)
{
	struct ucd_error *e = NULL;
	if (ws->w == NULL) {
		snprintf(ws->r_digest, sizeof ws->r_digest, "%s", ws->shared_digest ? ws->shared_digest : "");
	} else if (ws->s->ops->writer_digest(ws->s->self, ws->w, ws->r_digest, &e) < 0) {
		ws->s->host->error_free(e);
		ws->r_digest[0] = '\0';
	}
}

static int commit(struct wstate *ws)
{
	struct csvc *s = ws->s;
	const struct wreq *q = &ws->req;
	for (size_t i = 0; i < q->n_labels; i++)
		if (md_validate_label(q->labels[i].key, q->labels[i].value, &ws->err) < 0)
			return error_wrap(&ws->err, "info.Labels");
	autofree char *qref = go_quote(ws->ref);
	const char *expected = ws->expected ? ws->expected : "";
	if (ws->shared) {
		if (ws->total != 0 && ws->total != ws->shared_size)
			return error_set(&ws->err, UCD_FAILED_PRECONDITION, 0,
					 "%s failed size validation: %lld != %lld: failed precondition", qref,
					 (long long)ws->shared_size, (long long)ws->total);
		if (expected[0] && strcmp(expected, ws->shared_digest) != 0)
			return error_set(&ws->err, UCD_FAILED_PRECONDITION, 0, "%s unexpected digest: failed precondition",
					 qref);
		ws->committed = xstrdup(ws->shared_digest);
		ws->r_offset = ws->shared_size;
		return 0;
	}
	struct ucd_content_status st = {0};
	if (stat_writer(ws, &st) < 0)
		return -ws->err->code;
	int64_t offset = st.offset;
	ucd_content_status_release(s->host->free, &st);
	if (ws->total != 0 && ws->total != offset)
		return error_set(&ws->err, UCD_FAILED_PRECONDITION, 0,
				 "%s failed size validation: %lld != %lld: failed precondition", qref, (long long)offset,
				 (long long)ws->total);
	char *digest = NULL;
	struct ucd_error *e = NULL;
	/* already in the store (another namespace's, or a leftover): fine */
	int r = s->ops->writer_commit(s->self, ws->w, offset, expected, &digest, &e);
	if (r == 0 || (e != NULL && e->code == UCD_ALREADY_EXISTS && digest != NULL)) {
		ws->committed = xstrdup(digest);
		r = 0;
	}
	s->host->free(digest);
	if (r < 0)
		return plugin_fail(ws, e);
	s->host->error_free(e);
	return 0;
}

/* One message: containerd's loop body after its metadata checks. */
static void step(struct wstate *ws)
{
	struct csvc *s = ws->s;
	const struct wreq *q = &ws->req;
	struct ucd_content_status st = {0};
	struct ucd_error *e = NULL;
	if (stat_writer(ws, &st) < 0)
		return;
	ws->r_action = q->action;
	ws->r_offset = st.offset;
	if (q->action == A_STAT) {
		writer_digest(ws);
		ws->r_started = st.started_at;
		ws->r_updated = st.updated_at;
		ws->r_times = true;
		ws->r_total = ws->total;
		ucd_content_status_release(s->host->free, &st);
		return;
	}
	ucd_content_status_release(s->host->free, &st);
	if (q->action != A_WRITE && q->action != A_COMMIT) {   /* unknown actions only report, as in containerd */
		writer_digest(ws);
		return;
	}
	if (q->offset > 0 && q->offset != ws->r_offset) {
		error_set(&ws->err, UCD_OUT_OF_RANGE, 0, "write @%lld must occur at current offset %lld",
			  (long long)q->offset, (long long)ws->r_offset);
		return;
	}
	if (q->offset == 0 && ws->r_offset > 0) {
		if (ws->shared) {
			if (unshare_ingest(ws, false) < 0)
				return;
		} else if (s->ops->writer_truncate(s->self, ws->w, 0, &e) < 0) {
			ws->err = e;
			error_wrap(&ws->err, "truncate failed");
			ws->err->code = UCD_UNKNOWN;   /* a plain Go error in containerd */
			return;
		}
		ws->r_offset = 0;
	}
	if (q->len > 0) {
		if (ws->shared && unshare_ingest(ws, true) < 0)
			return;
		if (s->ops->writer_write(s->self, ws->w, q->data, q->len, &e) < 0) {
			plugin_fail(ws, e);
			return;
		}
		ws->r_offset += (int64_t)q->len;
	}
	if (q->action == A_COMMIT && commit(ws) < 0)
		return;
	writer_digest(ws);
}

static void run_job(uv_work_t *w)
{
	struct wstate *ws = w->data;
	struct csvc *s = ws->s;
	struct ucd_error *e = NULL;
	switch (ws->job) {
	case J_INFO: {
		struct ucd_content_info info = {0};
		if (s->ops->info(s->self, ws->expected, &info, &e) == 0) {
			ws->blob_exists = true;
			ws->blob_size = info.size;
			ucd_content_info_release(s->host->free, &info);
		}
		s->host->error_free(e);
		break;
	}
	case J_OPEN:
		if (s->ops->writer_open(s->self, ws->bref, ws->total, NULL, &ws->w, &e) < 0)
			plugin_fail(ws, e);
		break;
	case J_STEP:
		step(ws);
		break;
	case J_CLOSE:
		if (ws->w != NULL)
			s->ops->writer_close(s->self, ws->w);
		ws->w = NULL;
		if (ws->abort_on_close && ws->bref != NULL && s->ops->abort(s->self, ws->bref, &e) < 0) {
			if (e->code != UCD_NOT_FOUND)
				log_warn("content: abort ingest %s: %s", ws->bref, e->msg);
			s->host->error_free(e);
		}
		break;
	}
}

/* --- the loop side ------------------------------------------------------------------ */

static void job_done(uv_work_t *w, int status);

static void queue(struct wstate *ws, enum job job)
{
	ws->job = job;
	ws->busy = true;
	uv_queue_work(ws->s->ctx->loop, &ws->work, run_job, job_done);
}

/* The call is over (ending well or not, or cancelled): close the writer on
 * the pool, then finish the call as final_err/final_send say, and free
 * everything. */
static void end(struct wstate *ws)
{
	if (ws->ended)
		return;
	ws->ended = true;
	if (ws->busy)
		return;   /* job_done (or commit_go) comes back here */
	if (ws->in_mutation) {
		ws->in_mutation = false;
		gc_mutation_end(ws->s->ctx->gc);
	}
	queue(ws, J_CLOSE);
}

static void fail(struct wstate *ws, struct ucd_error *e)
{
	if (e == NULL)
		error_set(&e, UCD_INTERNAL, 0, "write failed without a message");
	if (e->code != UCD_ALREADY_EXISTS)
		log_msg(LOG_ERROR, NULL, "(*service).Write failed: %s (ref %s)", e->msg, ws->ref ? ws->ref : "");
	error_free(ws->final_err);
	ws->final_err = e;
	end(ws);
}

static void send_response(struct wstate *ws)
{
	WriteResponse resp = CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_RESPONSE__INIT;
	Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT, updated = started;
	resp.action = ws->r_action;
	resp.offset = ws->r_offset;
	resp.total = ws->r_total;
	resp.digest = ws->r_digest;
	if (ws->r_times) {
		started.seconds = ws->r_started / 1000000000;
		started.nanos = (int32_t)(ws->r_started % 1000000000);
		updated.seconds = ws->r_updated / 1000000000;
		updated.nanos = (int32_t)(ws->r_updated % 1000000000);
		resp.started_at = &started;
		resp.updated_at = &updated;
	}
	rpc_call_send(ws->call, &resp.base);
}

/* The good end: containerd's deferred send repeats the last response. */
static void finish_ok(struct wstate *ws)
{
	ws->final_send = true;
	end(ws);
}

/* The COMMIT's metadata: the namespace holds the blob (with the commit's
 * labels), the ingest goes, and the request's lease trades the ingest for
 * the blob, all in one transaction. */
static void record_commit(struct wstate *ws)
{
	struct md_db *db = ws->s->ctx->db;
	struct rpc_call *call = ws->call;
	struct ucd_error *e = NULL;
	bool existed = false;
	if (!svc_tx_begin(call, db))
		return end(ws);
	int r = md_content_exists(db, ws->ns, ws->committed, &existed, &e);
	if (r == 0 && !existed)
		r = md_content_put(db, ws->ns, ws->committed, ws->r_offset, ws->req.n_labels ? ws->req.labels : NULL,
				   ws->req.n_labels, &e);
	if (r >= 0 && (r = md_ingest_delete(db, ws->ns, ws->ref, NULL, &e)) < 0 && e->code == UCD_NOT_FOUND) {
		error_free(e);
		e = NULL;
		r = 0;
	}
	if (r >= 0)
		r = csvc_lease_untrack(call, db, "ingests", ws->ref, &e);
	if (r >= 0)
		r = svc_lease_track(call, db, "content", ws->committed, &e);
	if (r < 0) {
		md_rollback(db);
		return fail(ws, e);
	}
	if (!svc_tx_commit(call, db))
		return end(ws);
	if (existed) {
		error_set(&e, UCD_ALREADY_EXISTS, 0, "content %s: already exists", ws->committed);
		return fail(ws, e);
	}
	send_response(ws);
	finish_ok(ws);
}

/* Drops the record this call created for an ingest the plugin refused. */
static void forget_ingest(struct wstate *ws)
{
	struct md_db *db = ws->s->ctx->db;
	struct ucd_error *e = NULL;
	if (!ws->created || md_begin(db, &e) < 0) {
		error_free(e);
		return;
	}
	if (md_ingest_delete(db, ws->ns, ws->ref, NULL, &e) < 0 ||
	    csvc_lease_untrack(ws->call, db, "ingests", ws->ref, &e) < 0) {
		md_rollback(db);
		error_free(e);
		return;
	}
	if (md_commit(db, &e) < 0)
		error_free(e);
}

static void begin_step(struct wstate *ws);

static void commit_go(void *arg)
{
	struct wstate *ws = arg;
	ws->busy = false;
	ws->in_mutation = true;
	if (ws->ended || rpc_call_done(ws->call)) {   /* cancelled while waiting */
		ws->ended = false;
		return end(ws);
	}
	queue(ws, J_STEP);
}

/* containerd's metadata Writer: the ingest's record (created, or found for
 * a resume) with the request's lease on it, then the plugin's writer. */
static void open_ingest(struct wstate *ws)
{
	struct md_db *db = ws->s->ctx->db;
	struct rpc_call *call = ws->call;
	struct ucd_error *e = NULL;
	ws->shared = ws->blob_exists && (ws->total == 0 || ws->total == ws->blob_size);
	if (ws->shared)
		ws->total = ws->blob_size;
	struct md_ingest in = {0};
	if (!svc_tx_begin(call, db))
		return end(ws);
	int r = md_ingest_put(db, ws->ns, ws->ref, ws->shared ? ws->expected : "", ws->total, &in, &e);
	if (r < 0 || svc_lease_track(call, db, "ingests", ws->ref, &e) < 0) {
		md_ingest_fini(&in);
		md_rollback(db);
		return fail(ws, e);
	}
	ws->created = r == 1;
	if (!svc_tx_commit(call, db)) {
		md_ingest_fini(&in);
		return end(ws);
	}
	ws->bref = in.backend_ref;
	in.backend_ref = NULL;
	md_ingest_fini(&in);
	ws->opened = true;
	if (ws->shared) {
		ws->shared_digest = xstrdup(ws->expected);
		ws->shared_size = ws->blob_size;
		ws->shared_started = md_now();
		return begin_step(ws);
	}
	queue(ws, J_OPEN);
}

/* Before the plugin sees a message: containerd's checks against the
 * namespace's metadata. */
static void begin_step(struct wstate *ws)
{
	struct wreq *q = &ws->req;
	struct md_db *db = ws->s->ctx->db;
	if (q->expected[0] != '\0') {
		free(ws->expected);
		ws->expected = xstrdup(q->expected);
		bool has = false;
		struct ucd_error *e = NULL;
		if (md_content_exists(db, ws->ns, q->expected, &has, &e) < 0)
			return fail(ws, e);
		if (has) {
			/* the namespace got the blob meanwhile: the ingest is abandoned */
			ws->abort_on_close = true;
			if (md_begin(db, &e) == 0) {
				if (md_ingest_delete(db, ws->ns, ws->ref, NULL, &e) < 0 ||
				    csvc_lease_untrack(ws->call, db, "ingests", ws->ref, &e) < 0) {
					md_rollback(db);
					log_warn("content: abort ingest %s: %s", ws->ref, e->msg);
					error_free(e);
					e = NULL;
				} else if (md_commit(db, &e) < 0) {
					error_free(e);
					e = NULL;
				}
			} else {
				error_free(e);
				e = NULL;
			}
			error_set(&e, UCD_ALREADY_EXISTS, 0, "blob with expected digest %s exists", q->expected);
			return fail(ws, e);
		}
	}
	if (q->total > 0)
		ws->total = q->total;
	if (q->action == A_COMMIT && !ws->in_mutation) {
		/* the blob appears before its row: keep collections out */
		ws->busy = true;
		return gc_mutation_begin(ws->s->ctx->gc, commit_go, ws);
	}
	queue(ws, J_STEP);
}

static void job_done(uv_work_t *w, int status)
{
	struct wstate *ws = w->data;
	struct rpc_call *call = ws->call;
	ws->busy = false;
	if (ws->job == J_CLOSE) {
		if (ws->final_err != NULL) {
			rpc_call_fail(call, ws->final_err);
			ws->final_err = NULL;
		} else if (ws->final_send && !rpc_call_done(call)) {
			send_response(ws);
			rpc_call_finish(call, UCD_OK, NULL);
		}
		rpc_call_set_data(call, NULL);
		ws_free(ws);
		rpc_call_unref(call);
		return;
	}
	if (ws->ended || rpc_call_done(call)) {   /* cancelled meanwhile */
		ws->ended = false;
		return end(ws);
	}
	if (status != 0 && ws->err == NULL)
		error_set(&ws->err, UCD_CANCELLED, 0, "write cancelled");
	if (ws->err != NULL) {
		struct ucd_error *e = ws->err;
		ws->err = NULL;
		if (ws->job == J_OPEN)
			forget_ingest(ws);
		return fail(ws, e);
	}
	switch (ws->job) {
	case J_INFO:
		return open_ingest(ws);
	case J_OPEN:
		return begin_step(ws);
	case J_STEP:
		if (ws->req.action == A_COMMIT)
			return record_commit(ws);
		send_response(ws);
		if (rpc_call_done(call))   /* e.g. over max_send_message_size */
			return end(ws);
		/* last: releasing may deliver the next message right here */
		rpc_call_hold_input(call, false);
		return;
	case J_CLOSE:
		return;
	}
}

void csvc_write_message(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const WriteRequest *m = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct wstate *ws = rpc_call_data(call);
	if (ws == NULL) {
		if (!csvc_ready(s, call))
			return;
		if (m->ref == NULL || m->ref[0] == '\0')
			return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "first message must have a reference");
		ws = xcalloc(1, sizeof *ws);
		ws->work.data = ws;
		ws->call = call;
		ws->s = s;
		ws->ns = xstrdup(rpc_call_namespace(call));
		ws->ref = xstrdup(m->ref);
		ws->total = m->total;
		if (m->expected != NULL && m->expected[0] != '\0')
			ws->expected = xstrdup(m->expected);
		rpc_call_ref(call);   /* dropped when the state is freed */
		rpc_call_set_data(call, ws);
	}
	if (ws->ended)
		return;
	rpc_call_hold_input(call, true);
	wreq_copy(&ws->req, call, m);
	if (ws->opened)
		return begin_step(ws);
	/* The first message: containerd's metadata Writer. */
	if (ws->expected != NULL) {
		bool has = false;
		struct ucd_error *e = NULL;
		struct md_db *db = s->ctx->db;
		if (!svc_tx_begin(call, db))
			return end(ws);
		if (md_content_exists(db, ws->ns, ws->expected, &has, &e) < 0 ||
		    (has && svc_lease_track(call, db, "content", ws->expected, &e) < 0)) {
			md_rollback(db);
			return fail(ws, e);
		}
		if (!svc_tx_commit(call, db))
			return end(ws);
		if (has) {
			error_set(&e, UCD_ALREADY_EXISTS, 0, "content %s: already exists", ws->expected);
			return fail(ws, e);
		}
		return queue(ws, J_INFO);   /* in the store for another namespace? */
	}
	open_ingest(ws);
}

void csvc_write_half_close(struct rpc_call *call)
{
	struct wstate *ws = rpc_call_data(call);
	if (ws == NULL) {   /* no message at all: containerd's Recv error */
		rpc_call_finish(call, UCD_UNKNOWN, "EOF");
		return;
	}
	if (ws->ended || ws->busy)
		return;
	finish_ok(ws);
}

/* An oversized or broken message: the writer is closed (and its ref
 * unlocked) before the client hears the error, as in containerd, whose
 * handler's deferred Close runs before grpc-go sends the status. */
void csvc_write_input_error(struct rpc_call *call, struct ucd_error *e)
{
	struct wstate *ws = rpc_call_data(call);
	if (ws == NULL) {
		rpc_call_fail(call, e);
		return;
	}
	if (ws->ended) {   /* already ending: its own answer goes out */
		error_free(e);
		return;
	}
	error_free(ws->final_err);
	ws->final_err = e;
	end(ws);
}

void csvc_write_cancel(struct rpc_call *call)
{
	struct wstate *ws = rpc_call_data(call);
	if (ws != NULL)
		end(ws);
}
