/* Helpers shared by the metadata-backed services. */
#include "services/svc_util.h"
#include "gc/gc.h"
#include "google/protobuf/empty.pb-c.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/identifiers.h"
#include "util/log.h"
#include "util/mem.h"

bool svc_tx_begin(struct rpc_call *call, struct md_db *db)
{
	struct ucd_error *e = NULL;
	if (md_begin(db, &e) < 0) {
		rpc_call_fail(call, e);
		return false;
	}
	return true;
}

void svc_tx_fail(struct rpc_call *call, struct md_db *db, struct ucd_error *e)
{
	md_rollback(db);
	rpc_call_fail(call, e);
}

bool svc_tx_commit(struct rpc_call *call, struct md_db *db)
{
	struct ucd_error *e = NULL;
	if (md_commit(db, &e) < 0) {
		rpc_call_fail(call, e);
		return false;
	}
	return true;
}

/* --- filters ---------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int svc_match_init(struct svc_match *m, char *const *filters, size_t n, filter_get_fn get, struct ucd_error **err)
{
	m->filter = NULL;
	m->get = get;
	if (n == 0)
		return 0;
	struct ucd_error *e = NULL;
	m->filter = filter_parse((const char *const *)filters, n, &e);
	if (m->filter != NULL)
		return 0;
	/* containerd: filters.ParseAll says "<parse error>: invalid argument" and
	 * the store wraps that once more with ": invalid argument". */
	const char *msg = e && e->msg ? e->msg : "filters: parse error";
	const char *suffix = ends_with(msg, ": invalid argument") ? "" : ": invalid argument";
	int r = error_set(err, UCD_INVALID_ARGUMENT, 0, "%s%s: invalid argument", msg, suffix);
	error_free(e);
	return r;
}

void svc_match_fini(struct svc_match *m)
{
	if (m->filter != NULL)
		filter_free(m->filter);
	m->filter = NULL;
}

bool svc_match_fn(const ProtobufCMessage *obj, void *arg)
{
	struct svc_match *m = arg;
	if (m == NULL || m->filter == NULL)
		return true;
	return filter_match(m->filter, m->get, (void *)obj);
}

struct filter_job {
	uv_work_t work;
	struct rpc_call *call;
	struct svc_match m;
	ProtobufCMessage **items;
	size_t n;
	svc_list_reply_fn reply;
};

/* Worker thread: touches only the job (the filter is used by this thread
 * alone until the job completes). */
static void filter_work(uv_work_t *w)
{
	struct filter_job *j = w->data;
	size_t k = 0;
	for (size_t i = 0; i < j->n; i++) {
		if (svc_match_fn(j->items[i], &j->m))
			j->items[k++] = j->items[i];
		else
			protobuf_c_message_free_unpacked(j->items[i], NULL);
	}
	j->n = k;
}

static void filter_done(uv_work_t *w, int status)
{
	struct filter_job *j = w->data;
	if (status == 0 && !rpc_call_done(j->call))
		j->reply(j->call, j->items, j->n);
	md_free_array(j->items, j->n);
	svc_match_fini(&j->m);
	rpc_call_unref(j->call);
	free(j);
}

void svc_list(struct rpc_call *call, uv_loop_t *loop, struct md_db *db, char *const *filters, size_t n_filters,
	      filter_get_fn get, svc_read_all_fn read_all, svc_list_reply_fn reply)
{
	struct ucd_error *e = NULL;
	struct svc_match m;
	ProtobufCMessage **items = NULL;
	size_t n = 0;
	if (svc_match_init(&m, filters, n_filters, get, &e) < 0)
		return rpc_call_fail(call, e);
	if (!svc_tx_begin(call, db))
		return svc_match_fini(&m);
	if (read_all(db, rpc_call_namespace(call), &items, &n, &e) < 0) {
		svc_match_fini(&m);
		return svc_tx_fail(call, db, e);
	}
	if (!svc_tx_commit(call, db)) {
		md_free_array(items, n);
		return svc_match_fini(&m);
	}
	svc_filter_then_reply(call, loop, &m, items, n, reply);
}

void svc_filter_then_reply(struct rpc_call *call, uv_loop_t *loop, struct svc_match *m, ProtobufCMessage **items,
			   size_t n, svc_list_reply_fn reply)
{
	if (m->filter == NULL || n == 0) {
		reply(call, items, n);
		md_free_array(items, n);
		svc_match_fini(m);
		return;
	}
	struct filter_job *j = xcalloc(1, sizeof *j);
	j->work.data = j;
	j->call = call;
	j->m = *m;
	m->filter = NULL;
	j->items = items;
	j->n = n;
	j->reply = reply;
	rpc_call_ref(call);
	uv_queue_work(loop, &j->work, filter_work, filter_done);
}

/* --- paced server streams ----------------------------------------------------- */

/* What a paced stream lets wait for its client before it pauses, and the
 * room it wants in the send budget for its next message. */
#define PACE_AHEAD (1u << 20)
#define PACE_MORE (1u << 20)

struct paced {
	struct rpc_call *call;
	ProtobufCMessage **items;
	size_t n, next, per;
	svc_batch_fn send;
};

static void paced_go(struct rpc_call *call, void *arg)
{
	struct paced *p = arg;
	while (!rpc_call_done(call) && p->next < p->n) {
		if (!rpc_call_reserve_send(call, PACE_AHEAD, PACE_MORE) &&
		    rpc_call_when_can_send(call, PACE_AHEAD, PACE_MORE, paced_go, p))
			return;   /* back when the client has taken some */
		size_t k = p->n - p->next < p->per ? p->n - p->next : p->per;
		p->send(call, p->items + p->next, k);
		p->next += k;
	}
	rpc_call_finish(call, UCD_OK, NULL);
	md_free_array(p->items, p->n);
	rpc_call_unref(p->call);
	free(p);
}

void svc_stream_paced(struct rpc_call *call, ProtobufCMessage **items, size_t n, size_t per, svc_batch_fn send)
{
	struct paced *p = xcalloc(1, sizeof *p);
	p->call = call;
	p->items = xcalloc(n ? n : 1, sizeof *p->items);
	for (size_t i = 0; i < n; i++) {
		p->items[i] = items[i];
		items[i] = NULL;
	}
	p->n = n;
	p->per = per ? per : 1;
	p->send = send;
	rpc_call_ref(call);
	paced_go(call, p);
}

/* --- map fields --------------------------------------------------------------- */

struct md_kv *svc_kv_from_map(void *const *entries, size_t n)
{
	struct md_kv *kv = xcalloc(n ? n : 1, sizeof *kv);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		kv[i].key = e ? md_entry_key(e) : "";
		kv[i].value = e ? md_entry_str(e) : "";
	}
	return kv;
}

void **svc_map_borrow(void *const *entries, size_t n, const ProtobufCMessageDescriptor *desc)
{
	void **out = xcalloc(n ? n : 1, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];
		ProtobufCMessage *c = xcalloc(1, desc->sizeof_message);
		protobuf_c_message_init(desc, c);
		*(const char **)((char *)c + desc->fields[0].offset) = e ? md_entry_key(e) : "";
		*(const char **)((char *)c + desc->fields[1].offset) = e ? md_entry_str(e) : "";
		out[i] = c;
	}
	return out;
}

void svc_map_borrow_free(void **entries, size_t n)
{
	if (entries == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(entries[i]);
	free(entries);
}

const char *svc_event_namespace(struct rpc_call *call, const char *fallback)
{
	const char *ns = rpc_call_namespace(call);
	if (ns != NULL && identifier_validate(ns, NULL) == 0)
		return ns;
	return fallback;
}

const char *svc_call_lease(struct rpc_call *call)
{
	const char *l = rpc_call_header(call, "containerd-lease");
	return l != NULL && l[0] != '\0' ? l : NULL;
}

int svc_lease_track(struct rpc_call *call, struct md_db *db, const char *type, const char *id,
		    struct ucd_error **err)
{
	const char *lease = svc_call_lease(call);
	if (lease == NULL)
		return 0;
	return md_lease_add_resource(db, rpc_call_namespace(call), lease, type, id, err);
}

static void gc_then_reply(void *arg, const struct gc_stats *st, const struct ucd_error *e)
{
	struct rpc_call *call = arg;
	/* The delete itself is done either way; a `sync` caller asked for the
	 * collection too, and gets its error, as containerd's ScheduleAndWait
	 * returns it (e.g. a collection refused over an unreadable record). */
	if (e != NULL) {
		struct ucd_error *copy = NULL;
		error_set(&copy, e->code, e->errno_, "%s", e->msg);
		rpc_call_fail(call, copy);
	} else {
		Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
		rpc_call_reply(call, &resp.base);
	}
	rpc_call_unref(call);
}

void svc_reply_empty_after_gc(struct rpc_call *call, struct gc *gc, bool sync)
{
	if (gc != NULL && sync) {
		rpc_call_ref(call);
		gc_collect_now(gc, gc_then_reply, call);
		return;
	}
	gc_schedule(gc);
	Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
	rpc_call_reply(call, &resp.base);
}
