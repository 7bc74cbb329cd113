/* Content.Read: a blob streamed in chunks of 1 MiB (containerd's buffer
 * size), read from the plugin on the thread pool a few chunks ahead, and
 * paced by the client: while more than READ_AHEAD bytes wait to be sent, or
 * the server's send budget has no room for another batch, reading pauses
 * until the rpc layer says it can go on (rpc_call_when_can_send), so a
 * client that reads slowly, or not at all, costs at most one batch and
 * READ_AHEAD, and no polling. */
#include <stdlib.h>
#include <string.h>

#include "services/content_int.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/mem.h"

#define CHUNK (1u << 20)
#define BATCH 4                       /* chunks per trip to the thread pool */
#define READ_AHEAD (4u * CHUNK)       /* unsent bytes before reading pauses */
#define BATCH_BYTES (BATCH * (CHUNK + 64))   /* a batch's responses, framing included */

struct reader {
	uv_work_t work;
	struct rpc_call *call;
	struct csvc *s;
	char *digest;
	struct ucd_content_reader *r;   /* NULL until opened */
	int64_t pos, end;               /* what is left to read */
	int64_t sent;                   /* the response offset: counts from 0, as containerd's */
	uint8_t *buf;
	size_t got;
	bool closing;                   /* last trip: close the reader */
	struct ucd_error *err;
};

static void reader_free(struct reader *rd)
{
	rpc_call_set_data(rd->call, NULL);
	rpc_call_unref(rd->call);
	free(rd->digest);
	free(rd->buf);
	free(rd);
}

static void read_work(uv_work_t *w)
{
	struct reader *rd = w->data;
	struct csvc *s = rd->s;
	struct ucd_error *e = NULL;
	if (rd->closing) {
		if (rd->r != NULL)
			s->ops->reader_close(s->self, rd->r);
		rd->r = NULL;
		return;
	}
	if (rd->r == NULL) {
		int64_t size;
		if (s->ops->reader_open(s->self, rd->digest, &rd->r, &size, &e) < 0) {
			rd->err = csvc_plugin_error(e);
			return;
		}
	}
	int64_t want = rd->end - rd->pos;
	if (want > (int64_t)(BATCH * CHUNK))
		want = BATCH * CHUNK;
	rd->buf = xmalloc((size_t)want);   /* per trip: a paused reader holds none */
	rd->got = 0;
	while ((int64_t)rd->got < want) {
		ssize_t n = s->ops->reader_read_at(s->self, rd->r, rd->buf + rd->got, (size_t)want - rd->got,
						   rd->pos + (int64_t)rd->got, &e);
		if (n < 0) {
			rd->err = csvc_plugin_error(e);
			return;
		}
		if (n == 0)
			break;
		rd->got += (size_t)n;
	}
}

static void read_next(struct reader *rd);

static void close_done(uv_work_t *w, int status)
{
	(void)status;
	reader_free(w->data);
}

/* Ends the call (if it is not over) and closes the reader on the pool. */
static void read_end(struct reader *rd, struct ucd_error *e)
{
	if (e != NULL)
		rpc_call_fail(rd->call, e);
	else
		rpc_call_finish(rd->call, UCD_OK, NULL);
	rd->closing = true;
	uv_queue_work(rd->s->ctx->loop, &rd->work, read_work, close_done);
}

static void on_can_send(struct rpc_call *call, void *arg)
{
	read_next(arg);
}

static void read_done(uv_work_t *w, int status)
{
	struct reader *rd = w->data;
	if (rpc_call_done(rd->call))
		return read_end(rd, NULL);
	if (status != 0 || rd->err != NULL) {
		struct ucd_error *e = rd->err;
		rd->err = NULL;
		if (e == NULL)
			error_set(&e, UCD_CANCELLED, 0, "read cancelled");
		return read_end(rd, e);
	}
	if (rd->got == 0) {   /* the blob is shorter than its record says */
		struct ucd_error *e = NULL;
		error_set(&e, UCD_DATA_LOSS, 0, "content %s: unexpected EOF at offset %lld", rd->digest,
			  (long long)rd->pos);
		return read_end(rd, e);
	}
	for (size_t off = 0; off < rd->got && !rpc_call_done(rd->call); off += CHUNK) {
		Containerd__Services__Content__V1__ReadContentResponse resp =
			CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_RESPONSE__INIT;
		resp.offset = rd->sent;
		resp.data.data = rd->buf + off;
		resp.data.len = rd->got - off < CHUNK ? rd->got - off : CHUNK;
		rpc_call_send(rd->call, &resp.base);
		rd->sent += (int64_t)resp.data.len;
	}
	free(rd->buf);
	rd->buf = NULL;
	rd->pos += (int64_t)rd->got;
	read_next(rd);
}

static void read_next(struct reader *rd)
{
	if (rpc_call_done(rd->call) || rd->pos >= rd->end)
		return read_end(rd, NULL);
	if (!rpc_call_reserve_send(rd->call, READ_AHEAD, BATCH_BYTES)) {
		if (!rpc_call_when_can_send(rd->call, READ_AHEAD, BATCH_BYTES, on_can_send, rd))
			read_end(rd, NULL);   /* the call is over */
		return;
	}
	uv_queue_work(rd->s->ctx->loop, &rd->work, read_work, read_done);
}

void csvc_read(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Content__V1__ReadContentRequest *req = (const void *)msg;
	struct csvc *s = csvc_of(call);
	struct md_db *db = s->ctx->db;
	const char *why = csvc_digest_error(req->digest);
	if (why != NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "%s: %s", req->digest, why);
	ContentInfo *info = NULL;
	struct ucd_error *e = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_content_get(db, rpc_call_namespace(call), req->digest, &info, &e) < 0)
		return svc_tx_fail(call, db, e);
	if (!svc_tx_commit(call, db)) {
		md_free(info);
		return;
	}
	int64_t size = info->size;
	md_free(info);
	if (!csvc_ready(s, call))
		return;
	/* containerd's rules: a negative offset reads from 0; past the end is
	 * OutOfRange; no size (or too much) reads to the end */
	int64_t offset = req->offset < 0 ? 0 : req->offset;
	if (offset > size)
		return rpc_call_finish(call, UCD_OUT_OF_RANGE, "read past object length %lld bytes", (long long)size);
	int64_t n = req->size;
	if (n <= 0 || n > size - offset)
		n = size - offset;
	if (n == 0)
		return rpc_call_finish(call, UCD_OK, NULL);
	struct reader *rd = xcalloc(1, sizeof *rd);
	rd->work.data = rd;
	rd->call = call;
	rd->s = s;
	rd->digest = xstrdup(req->digest);
	rd->pos = offset;
	rd->end = offset + n;
	rpc_call_ref(call);
	rpc_call_set_data(call, rd);
	read_next(rd);
}
