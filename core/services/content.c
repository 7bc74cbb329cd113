/* containerd.services.content.v1.Content (containerd's contentserver over
 * its metadata content store, services/content/). Namespaced.
 *
 * This file: registration, the plugin lookup, the methods over metadata
 * (Info, Update, List, Delete) and the ingest methods (Status,
 * ListStatuses, Abort). Read is content_read.c, Write content_write.c. */
#include <stdlib.h>
#include <string.h>

#include "containerd/events/content.pb-c.h"
#include "events/events.h"
#include "google/protobuf/empty.pb-c.h"
#include "registry/registry.h"
#include "services/content_int.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pbfield.h"
#include "util/quote.h"

typedef Containerd__Services__Content__V1__Status Status;

static struct csvc service;

struct csvc *csvc_of(struct rpc_call *call)
{
	return rpc_call_method_data(call);
}

bool csvc_ready(struct csvc *s, struct rpc_call *call)
{
	if (s->ops != NULL)
		return true;
	rpc_call_finish(call, UCD_UNAVAILABLE, "%s", s->unavailable);
	return false;
}

struct ucd_error *csvc_plugin_error(struct ucd_error *e)
{
	const char *cls = NULL;
	switch (e->code) {
	case UCD_NOT_FOUND: cls = "not found"; break;
	case UCD_ALREADY_EXISTS: cls = "already exists"; break;
	case UCD_FAILED_PRECONDITION: cls = "failed precondition"; break;
	case UCD_UNAVAILABLE: cls = "unavailable"; break;
	case UCD_INVALID_ARGUMENT: cls = "invalid argument"; break;
	default: return e;
	}
	size_t n = strlen(e->msg), c = strlen(cls);
	if (n > c + 2 && strcmp(e->msg + n - c, cls) == 0 && e->msg[n - c - 2] == ':')
		return e;
	char *m = xasprintf("%s: %s", e->msg, cls);
	free(e->msg);
	e->msg = m;
	return e;
}

const char *csvc_digest_error(const char *digest)
{
	return md_digest_error(digest ? digest : "");
}

int csvc_lease_untrack(struct rpc_call *call, struct md_db *db, const char *type, const char *id,
		       struct ucd_error **err)
{
	const char *lease = svc_call_lease(call);
	if (lease == NULL)
		return 0;
	struct ucd_error *e = NULL;
	int r = md_lease_delete_resource(db, rpc_call_namespace(call), lease, type, id, &e);
	if (r < 0 && e->code == UCD_NOT_FOUND) {   /* no such lease: nothing to drop */
		error_free(e);
		return 0;
	}
	if (r < 0)
		*err = e;
	return r;
}

/* --- Info, Update, List, Delete ---------------------------------------------------- */

static void fail_digest(struct rpc_call *call, const char *digest)
{
	autofree char *q = go_quote(digest ? digest : "");
	rpc_call_finish(call, UCD_INVALID_ARGUMENT, "%s failed validation", q);
}

static void c_info(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__InfoRequest *req = (const void *)msg;
	struct md_db *db = csvc_of(call)->ctx->db;
	if (csvc_digest_error(req->digest) != NULL)
		return fail_digest(call, req->digest);
	struct ucd_error *e = NULL;
	ContentInfo *info = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_content_get(db, rpc_call_namespace(call), req->digest, &info, &e) < 0)
		return svc_tx_fail(call, db, e);
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Content__V1__InfoResponse resp = CONTAINERD__SERVICES__CONTENT__V1__INFO_RESPONSE__INIT;
		resp.info = info;
		rpc_call_reply(call, &resp.base);
	}
	md_free(info);
}

static void c_update(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__UpdateRequest *req = (const void *)msg;
	struct md_db *db = csvc_of(call)->ctx->db;
	const ContentInfo *in = req->info;
	const char *digest = in ? in->digest : "";
	if (csvc_digest_error(digest) != NULL)
		return fail_digest(call, digest);
	autofree struct md_kv *kv = svc_kv_from_map((void *const *)in->labels, in->n_labels);
	const char *const *paths = req->update_mask ? (const char *const *)req->update_mask->paths : NULL;
	size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
	struct ucd_error *e = NULL;
	ContentInfo *out = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_content_update(db, rpc_call_namespace(call), digest, kv, in->n_labels, paths, n_paths, &out, &e) < 0)
		return svc_tx_fail(call, db, e);
	if (svc_tx_commit(call, db)) {
		Containerd__Services__Content__V1__UpdateResponse resp =
			CONTAINERD__SERVICES__CONTENT__V1__UPDATE_RESPONSE__INIT;
		resp.info = out;
		rpc_call_reply(call, &resp.base);
	}
	md_free(out);
}

/* containerd's content.AdaptInfo: digest, labels.<key>; `size` is never
 * present (containerd's TODO). */
static bool info_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const ContentInfo *i = obj;
	if (n == 0)
		return false;
	if (strcmp(path[0], "digest") == 0) {
		*value = i->digest;
		return true;
	}
	if (strcmp(path[0], "labels") == 0)
		return pbfield_get(&i->base, path, n, value);
	return false;
}

/* containerd sends the infos in blocks of 100, without updated_at. */
#define LIST_BLOCK 100

static void send_block(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	Containerd__Services__Content__V1__ListContentResponse resp =
		CONTAINERD__SERVICES__CONTENT__V1__LIST_CONTENT_RESPONSE__INIT;
	resp.info = (ContentInfo **)items;
	resp.n_info = n;
	for (size_t k = 0; k < n; k++) {
		md_free(resp.info[k]->updated_at);
		resp.info[k]->updated_at = NULL;
	}
	rpc_call_send(call, &resp.base);
}

static void reply_list(struct rpc_call *call, ProtobufCMessage **items, size_t n)
{
	svc_stream_paced(call, items, n, LIST_BLOCK, send_block);
}

static int read_all(struct md_db *db, const char *ns, ProtobufCMessage ***out, size_t *n, struct ucd_error **err)
{
	return md_content_list(db, ns, NULL, NULL, (ContentInfo ***)out, n, err);
}

static void c_list(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__ListContentRequest *req = (const void *)msg;
	struct svc_ctx *ctx = csvc_of(call)->ctx;
	svc_list(call, ctx->loop, ctx->db, req->filters, req->n_filters, info_field, read_all, reply_list);
}

static void reply_empty(struct rpc_call *call)
{
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}

static void c_delete(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__DeleteContentRequest *req = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct md_db *db = s->ctx->db;
	const char *why = csvc_digest_error(req->digest);
	if (why != NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "%s", why);
	struct ucd_error *e = NULL;
	const char *ns = rpc_call_namespace(call);
	if (!svc_tx_begin(call, db))
		return;
	if (md_content_delete(db, ns, req->digest, NULL, &e) < 0 ||
	    csvc_lease_untrack(call, db, "content", req->digest, &e) < 0)
		return svc_tx_fail(call, db, e);
	if (!svc_tx_commit(call, db))
		return;
	Containerd__Events__ContentDelete ev = CONTAINERD__EVENTS__CONTENT_DELETE__INIT;
	ev.digest = req->digest;
	events_publish(s->ctx->events, ns, "/content/delete", &ev.base);
	/* the blob itself goes with the next collection, once no namespace
	 * holds it, as in containerd */
	svc_reply_empty_after_gc(call, s->ctx->gc, false);
}

/* --- Status, ListStatuses, Abort --------------------------------------------------- */

static Google__Protobuf__Timestamp *timestamp_new(int64_t ns)
{
	Google__Protobuf__Timestamp *t = xmalloc(sizeof *t);
	google__protobuf__timestamp__init(t);
	t->seconds = ns / 1000000000;
	t->nanos = (int32_t)(ns % 1000000000);
	if (t->nanos < 0) {
		t->nanos += 1000000000;
		t->seconds--;
	}
	return t;
}

static Status *status_msg(const struct ucd_content_status *st, const char *ref)
{
	Status *m = xmalloc(sizeof *m);
	containerd__services__content__v1__status__init(m);
	m->ref = xstrdup(ref);
	m->offset = st->offset;
	m->total = st->total;
	m->expected = xstrdup(st->expected ? st->expected : "");
	m->started_at = timestamp_new(st->started_at);
	m->updated_at = timestamp_new(st->updated_at);
	return m;
}

/* A shared ingest (the blob is another namespace's) has no data in the
 * content store; it reads as complete. */
static Status *shared_status(const struct md_ingest *in)
{
	struct ucd_content_status st = { NULL, in->total, in->total, in->expected, in->created_at, in->created_at };
	return status_msg(&st, in->ref);
}

struct status_job {
	uv_work_t work;
	struct rpc_call *call;
	struct csvc *s;
	struct md_ingest *ingests;
	size_t n;
	bool list;           /* ListStatuses; else Status of ingests[0] */
	struct svc_match match;
	Status **out;
	size_t n_out;
	struct ucd_error *err;
};

static bool status_field(void *obj, const char *const *path, size_t n, const char **value)
{
	const Status *st = obj;
	if (n == 0 || strcmp(path[0], "ref") != 0)
		return false;
	*value = st->ref;
	return true;
}

static void status_work(uv_work_t *w)
{
	struct status_job *j = w->data;
	struct csvc *s = j->s;
	j->out = xcalloc(j->n ? j->n : 1, sizeof *j->out);
	for (size_t i = 0; i < j->n; i++) {
		const struct md_ingest *in = &j->ingests[i];
		Status *m;
		if (in->expected[0] != '\0') {
			m = shared_status(in);
		} else {
			struct ucd_content_status st = {0};
			struct ucd_error *e = NULL;
			if (s->ops->status(s->self, in->backend_ref, &st, &e) < 0) {
				if (j->list && e->code == UCD_NOT_FOUND) {   /* gone meanwhile: as containerd */
					s->host->error_free(e);
					continue;
				}
				j->err = csvc_plugin_error(e);
				return;
			}
			m = status_msg(&st, in->ref);
			ucd_content_status_release(s->host->free, &st);
		}
		if (j->list && !svc_match_fn(&m->base, &j->match)) {
			md_free(m);
			continue;
		}
		j->out[j->n_out++] = m;
	}
}

static void status_done(uv_work_t *w, int status)
{
	struct status_job *j = w->data;
	struct rpc_call *call = j->call;
	if (status != 0) {
		rpc_call_finish(call, UCD_CANCELLED, "cancelled");
	} else if (j->err != NULL) {
		if (!j->list) {
			autofree char *q = go_quote(j->ingests[0].ref);
			error_wrap(&j->err, "could not get status for ref %s", q);
		}
		rpc_call_fail(call, j->err);
		j->err = NULL;
	} else if (j->list) {
		Containerd__Services__Content__V1__ListStatusesResponse resp =
			CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_RESPONSE__INIT;
		resp.statuses = j->out;
		resp.n_statuses = j->n_out;
		rpc_call_reply(call, &resp.base);
	} else {
		Containerd__Services__Content__V1__StatusResponse resp =
			CONTAINERD__SERVICES__CONTENT__V1__STATUS_RESPONSE__INIT;
		resp.status = j->n_out ? j->out[0] : NULL;
		rpc_call_reply(call, &resp.base);
	}
	md_free_array(j->out, j->n_out);
	md_ingest_free_array(j->ingests, j->n);
	svc_match_fini(&j->match);
	free(j);
	rpc_call_unref(call);
}

static void status_queue(struct rpc_call *call, struct status_job *j)
{
	j->work.data = j;
	j->call = call;
	j->s = csvc_of(call);
	rpc_call_ref(call);
	uv_queue_work(j->s->ctx->loop, &j->work, status_work, status_done);
}

static void c_status(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__StatusRequest *req = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct md_db *db = s->ctx->db;
	if (!csvc_ready(s, call))
		return;
	struct md_ingest in = {0};
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_ingest_get(db, rpc_call_namespace(call), req->ref, &in, &e) < 0) {
		autofree char *q = go_quote(req->ref);
		error_wrap(&e, "could not get status for ref %s", q);
		return svc_tx_fail(call, db, e);
	}
	if (!svc_tx_commit(call, db)) {
		md_ingest_fini(&in);
		return;
	}
	struct status_job *j = xcalloc(1, sizeof *j);
	j->ingests = xmalloc(sizeof *j->ingests);
	j->ingests[0] = in;
	j->n = 1;
	status_queue(call, j);
}

static void c_list_statuses(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__ListStatusesRequest *req = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct md_db *db = s->ctx->db;
	if (!csvc_ready(s, call))
		return;
	struct status_job *j = xcalloc(1, sizeof *j);
	j->list = true;
	struct ucd_error *e = NULL;
	if (svc_match_init(&j->match, req->filters, req->n_filters, status_field, &e) < 0) {
		free(j);
		return rpc_call_fail(call, e);
	}
	if (!svc_tx_begin(call, db))
		goto fail;
	if (md_ingest_list(db, rpc_call_namespace(call), &j->ingests, &j->n, &e) < 0) {
		svc_tx_fail(call, db, e);
		goto fail;
	}
	if (!svc_tx_commit(call, db))
		goto fail;
	return status_queue(call, j);
fail:
	md_ingest_free_array(j->ingests, j->n);
	svc_match_fini(&j->match);
	free(j);
}

struct abort_job {
	uv_work_t work;
	struct rpc_call *call;
	struct csvc *s;
	struct md_ingest in;
	struct ucd_error *err;
};

static void abort_work(uv_work_t *w)
{
	struct abort_job *j = w->data;
	struct ucd_error *e = NULL;
	if (j->s->ops->abort(j->s->self, j->in.backend_ref, &e) < 0) {
		if (e->code == UCD_NOT_FOUND)   /* nothing was written: the record goes alone */
			j->s->host->error_free(e);
		else
			j->err = csvc_plugin_error(e);
	}
}

static void abort_done(uv_work_t *w, int status)
{
	struct abort_job *j = w->data;
	struct rpc_call *call = j->call;
	struct md_db *db = j->s->ctx->db;
	struct ucd_error *e = NULL;
	if (status != 0 || j->err != NULL) {
		rpc_call_fail(call, j->err ? j->err : (error_set(&e, UCD_CANCELLED, 0, "cancelled"), e));
	} else if (svc_tx_begin(call, db)) {
		const char *ns = rpc_call_namespace(call);
		int r = md_ingest_delete(db, ns, j->in.ref, NULL, &e);
		if (r < 0 && e->code == UCD_NOT_FOUND) {   /* another Abort was quicker: fine */
			error_free(e);
			e = NULL;
			r = 0;
		}
		if (r < 0 || csvc_lease_untrack(call, db, "ingests", j->in.ref, &e) < 0)
			svc_tx_fail(call, db, e);
		else if (svc_tx_commit(call, db))
			reply_empty(call);
	}
	md_ingest_fini(&j->in);
	free(j);
	rpc_call_unref(call);
}

static void c_abort(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__AbortRequest *req = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct md_db *db = s->ctx->db;
	if (!csvc_ready(s, call))
		return;
	struct abort_job *j = xcalloc(1, sizeof *j);
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, db)) {
		free(j);
		return;
	}
	if (md_ingest_get(db, rpc_call_namespace(call), req->ref, &j->in, &e) < 0) {
		free(j);
		return svc_tx_fail(call, db, e);
	}
	if (!svc_tx_commit(call, db)) {
		md_ingest_fini(&j->in);
		free(j);
		return;
	}
	j->work.data = j;
	j->call = call;
	j->s = s;
	rpc_call_ref(call);
	uv_queue_work(s->ctx->loop, &j->work, abort_work, abort_done);
}

/* --- registration --------------------------------------------------------------------- */

#define C_SVC "/containerd.services.content.v1.Content/"
static struct rpc_method methods[] = {
	{ RPC_METHOD(C_SVC "Info", RPC_UNARY, &containerd__services__content__v1__info_request__descriptor, true,
		     c_info) },
	{ RPC_METHOD(C_SVC "Update", RPC_UNARY, &containerd__services__content__v1__update_request__descriptor, true,
		     c_update) },
	{ RPC_METHOD(C_SVC "List", RPC_SERVER_STREAMING,
		     &containerd__services__content__v1__list_content_request__descriptor, true, c_list) },
	{ RPC_METHOD(C_SVC "Delete", RPC_UNARY,
		     &containerd__services__content__v1__delete_content_request__descriptor, true, c_delete) },
	{ RPC_METHOD(C_SVC "Read", RPC_SERVER_STREAMING,
		     &containerd__services__content__v1__read_content_request__descriptor, true, csvc_read) },
	{ RPC_METHOD(C_SVC "Status", RPC_UNARY, &containerd__services__content__v1__status_request__descriptor, true,
		     c_status) },
	{ RPC_METHOD(C_SVC "ListStatuses", RPC_UNARY,
		     &containerd__services__content__v1__list_statuses_request__descriptor, true, c_list_statuses) },
	{ RPC_METHOD(C_SVC "Write", RPC_BIDI_STREAMING,
		     &containerd__services__content__v1__write_content_request__descriptor, true, csvc_write_message),
	  .on_half_close = csvc_write_half_close, .on_cancel = csvc_write_cancel,
	  .on_input_error = csvc_write_input_error },
	{ RPC_METHOD(C_SVC "Abort", RPC_UNARY, &containerd__services__content__v1__abort_request__descriptor, true,
		     c_abort) },
};

void svc_content_register(struct svc_ctx *ctx)
{
	struct csvc *s = &service;
	s->ctx = ctx;
	const struct registry_plugin *p = registry_get(ctx->registry, UCD_CONTENT_TYPE, NULL);
	const struct ucd_content_ops *ops = p ? registry_plugin_ops(p) : NULL;
	if (p != NULL && registry_plugin_status(p) == REGISTRY_OK && ops != NULL &&
	    ops->size >= offsetof(struct ucd_content_ops, abort) + sizeof ops->abort) {
		s->ops = ops;
		s->self = registry_plugin_self(p);
		s->host = registry_host(ctx->registry);
	} else {
		/* say why, naming the plugin when there is one */
		const struct registry_plugin *any = registry_find(ctx->registry, "io.containerd.content.v1.content");
		const char *why = any ? registry_plugin_message(any) : NULL;
		free(s->unavailable);
		s->unavailable = any ? xasprintf("content store io.containerd.content.v1.content is not available: %s: %s",
						 registry_status_name(registry_plugin_status(any)), why ? why : "no ops")
				     : xstrdup("no content store plugin (io.containerd.content.v1) is installed");
		log_warn("content service: %s", s->unavailable);
	}
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = s;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
