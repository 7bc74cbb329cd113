/* containerd.services.diff.v1.Diff: Apply unpacks a layer blob of the
 * content store onto a snapshot's mounts, Diff writes the layer between two
 * sets of mounts into the content store (containerd's fs applier and
 * walking differ). The checks and the metadata are on the loop; reading,
 * unpacking, mounting and writing run on the thread pool (core/diff).
 * docs/diff.md says what is applied how and what is refused. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontainerd/content.h>
#include <ucontainerd/host.h>
#include <uv.h>

#include "config/config.h"
#include "containerd/services/diff/v1/diff.pb-c.h"
#include "containerd/types/descriptor.pb-c.h"
#include "diff/diff.h"
#include "diff/tempmount.h"
#include "metadata/db.h"
#include "registry/registry.h"
#include "gc/gc.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "services/svc_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define UNCOMPRESSED_LABEL "containerd.io/uncompressed"

struct dsvc {
	struct svc_ctx *ctx;
	const struct ucd_content_ops *ops;   /* NULL: no content plugin */
	void *self;
	char *unavailable;                   /* why there is none */
	char *tmpmounts;                     /* where temporary mounts go */
};

static struct dsvc service;

/* A request's mounts, copied: the request is freed when the handler returns. */
struct mounts {
	struct tempmount_spec *v;
	size_t n;
};

static struct mounts mounts_copy(Containerd__Types__Mount **m, size_t n)
{
	struct mounts out = {.v = xcalloc(n + 1, sizeof *out.v), .n = n};
	for (size_t i = 0; i < n; i++) {
		char **opts = xcalloc(m[i]->n_options + 1, sizeof *opts);
		for (size_t k = 0; k < m[i]->n_options; k++)
			opts[k] = xstrdup(m[i]->options[k]);
		out.v[i] = (struct tempmount_spec){xstrdup(m[i]->type), xstrdup(m[i]->source), opts, m[i]->n_options};
	}
	return out;
}

static void mounts_free(struct mounts *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free((char *)m->v[i].type);
		free((char *)m->v[i].source);
		for (size_t k = 0; k < m->v[i].n_options; k++)
			free(m->v[i].options[k]);
		free((char **)m->v[i].options);
	}
	free(m->v);
}

struct job {
	uv_work_t work;
	struct rpc_call *call;
	struct dsvc *s;
	atomic_bool cancelled;
	struct ucd_error *err;
	/* Apply */
	char *digest;
	enum diff_compression comp;
	struct mounts mounts;
	struct diff_digest applied;
	/* Diff */
	struct mounts left, right;
	char *media_type;
	char *ref;           /* the content store's name for the ingest */
	bool gzip;
	struct diff_result result;
	struct md_kv *labels;
	size_t n_labels;
};

static void job_free(struct job *j)
{
	error_free(j->err);
	free(j->digest);
	mounts_free(&j->mounts);
	mounts_free(&j->left);
	mounts_free(&j->right);
	free(j->media_type);
	free(j->ref);
	for (size_t i = 0; i < j->n_labels; i++) {
		free((char *)j->labels[i].key);
		free((char *)j->labels[i].value);
	}
	free(j->labels);
	free(j);
}

static bool job_cancelled(void *arg)
{
	struct job *j = arg;
	return atomic_load(&j->cancelled);
}

static void on_cancel(struct rpc_call *call)
{
	struct job *j = rpc_call_data(call);
	if (j != NULL)
		atomic_store(&j->cancelled, true);
}

static bool ready(struct dsvc *s, struct rpc_call *call)
{
	/* The layer module is loaded here, on the loop, at the first Apply or
	 * Diff (a few milliseconds, once): libcrypto and libarchive then
	 * initialise on the main thread, whose exit runs their cleanup, and
	 * never for the first time on a pool worker that is never joined. */
	const struct diff_layers *layers;
	struct ucd_error *e = NULL;
	if (s->ops != NULL && diff_layers_load(&layers, &e) < 0) {
		rpc_call_fail(call, e);
		return false;
	}
	if (s->ops != NULL)
		return true;
	rpc_call_finish(call, UCD_UNAVAILABLE, "%s", s->unavailable);
	return false;
}

/* A job holds its call from the handler on, before it waits anywhere (the
 * collector's gate, the pool): a client that leaves meanwhile frees the call
 * only when the job lets go of it, and its on_cancel finds the job. */
static struct job *job_new(struct rpc_call *call, struct dsvc *s)
{
	struct job *j = xcalloc(1, sizeof *j);
	j->work.data = j;
	j->call = call;
	j->s = s;
	rpc_call_ref(call);
	rpc_call_set_data(call, j);
	return j;
}

/* The job is over: the call forgets it and the job its call. */
static void job_end(struct job *j)
{
	rpc_call_set_data(j->call, NULL);
	rpc_call_unref(j->call);
	job_free(j);
}

/* --- Apply ------------------------------------------------------------------------- */

struct blob {
	struct dsvc *s;
	struct ucd_content_reader *r;
	int64_t off;
};

static ssize_t blob_read(void *arg, void *buf, size_t n, struct ucd_error **err)
{
	struct blob *b = arg;
	ssize_t got = b->s->ops->reader_read_at(b->s->self, b->r, buf, n, b->off, err);
	if (got > 0)
		b->off += got;
	return got;
}

static const char *option_value(const struct tempmount_spec *m, const char *prefix)
{
	for (size_t i = 0; i < m->n_options; i++)
		if (strncmp(m->options[i], prefix, strlen(prefix)) == 0)
			return m->options[i] + strlen(prefix);
	return NULL;
}

static bool has_option(const struct tempmount_spec *m, const char *opt)
{
	for (size_t i = 0; i < m->n_options; i++)
		if (strcmp(m->options[i], opt) == 0)
			return true;
	return false;
}

/* containerd's apply_linux: one overlay mount is applied straight onto its
 * upperdir (whiteouts as overlay's own), one writable bind mount onto its
 * source; anything else is mounted on a temporary directory first. */
static int apply_onto(struct job *j, struct blob *b)
{
	const struct diff_layers *layers;
	if (diff_layers_load(&layers, &j->err) < 0)
		return -1;
	struct diff_apply_opts o = {.mode = DIFF_APPLY_PLAIN, .cancelled = job_cancelled, .cancel_arg = j};
	const struct tempmount_spec *m = j->mounts.n == 1 ? &j->mounts.v[0] : NULL;
	if (m != NULL && strcmp(m->type, "overlay") == 0 && option_value(m, "upperdir=") != NULL) {
		autofree char *lower = xstrdup(option_value(m, "lowerdir=") ? option_value(m, "lowerdir=") : "");
		/* every lower directory: a directory the layer creates in the
		 * upper one takes its mode and owner from the first lower one
		 * that has it (a fixed array of 128 used to drop the rest) */
		size_t cap = 1;
		for (const char *c = lower; *c; c++)
			cap += *c == ':';
		autofree const char **parents = xcalloc(cap, sizeof *parents);
		size_t n = 0;
		for (char *save = NULL, *p = strtok_r(lower, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save))
			parents[n++] = p;
		o.mode = DIFF_APPLY_OVERLAY;
		o.userxattr = has_option(m, "userxattr");
		o.parents = parents;
		o.n_parents = n;
		return layers->apply(option_value(m, "upperdir="), j->comp, blob_read, b, &o, &j->applied, &j->err);
	}
	if (m != NULL && (strcmp(m->type, "bind") == 0 || strcmp(m->type, "rbind") == 0) && !has_option(m, "ro"))
		return layers->apply(m->source, j->comp, blob_read, b, &o, &j->applied, &j->err);
	if (j->mounts.n == 0)
		return error_set(&j->err, UCD_INVALID_ARGUMENT, 0, "no mounts to apply the layer onto");
	char *dir;
	if (tempmount_mount(j->s->tmpmounts, j->mounts.v, j->mounts.n, false, &dir, &j->err) < 0)
		return -1;
	int rc = layers->apply(dir, j->comp, blob_read, b, &o, &j->applied, &j->err);
	struct ucd_error *e = NULL;
	if (tempmount_unmount(dir, j->mounts.n, &e) < 0) {
		log_warn("diff: %s", e->msg);
		if (rc == 0) {
			j->err = e;
			return -1;
		}
		error_free(e);
	}
	return rc;
}

static void apply_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct blob b = {.s = j->s};
	int64_t size;
	if (j->s->ops->reader_open(j->s->self, j->digest, &b.r, &size, &j->err) < 0) {
		error_wrap(&j->err, "failed to get reader from content store");
		return;
	}
	apply_onto(j, &b);
	j->s->ops->reader_close(j->s->self, b.r);
}

static void apply_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	if (j->err != NULL) {
		rpc_call_fail(j->call, steal(j->err));
	} else {
		Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
		d.media_type = DIFF_MT_LAYER;
		d.digest = j->applied.digest;
		d.size = j->applied.size;
		Containerd__Services__Diff__V1__ApplyResponse resp = CONTAINERD__SERVICES__DIFF__V1__APPLY_RESPONSE__INIT;
		resp.applied = &d;
		rpc_call_reply(j->call, &resp.base);
	}
	job_end(j);
}

static void d_apply(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Diff__V1__ApplyRequest *req = (const void *)msg;
	struct dsvc *s = rpc_call_method_data(call);
	struct md_db *db = s->ctx->db;
	struct ucd_error *e = NULL;
	if (!ready(s, call))
		return;
	if (req->diff == NULL)
		return rpc_call_finish(call, UCD_INVALID_ARGUMENT, "diff descriptor is required: invalid argument");

	/* The blob must be one this namespace holds. */
	Containerd__Services__Content__V1__Info *info = NULL;
	if (!svc_tx_begin(call, db))
		return;
	if (md_content_get(db, rpc_call_namespace(call), req->diff->digest, &info, &e) < 0) {
		error_wrap(&e, "failed to get reader from content store");
		return svc_tx_fail(call, db, e);
	}
	protobuf_c_message_free_unpacked(&info->base, NULL);
	if (!svc_tx_commit(call, db))
		return;

	enum diff_compression comp;
	if (diff_media_type_compression(req->diff->media_type, &comp, &e) < 0)
		return rpc_call_fail(call, e);

	struct job *j = job_new(call, s);
	j->digest = xstrdup(req->diff->digest);
	j->comp = comp;
	j->mounts = mounts_copy(req->mounts, req->n_mounts);
	uv_queue_work(s->ctx->loop, &j->work, apply_work, apply_done);
}

/* --- Diff ---------------------------------------------------------------------------- */

struct ingest {
	struct dsvc *s;
	struct ucd_content_writer *w;
};

static int ingest_write(void *arg, const void *buf, size_t n, struct ucd_error **err)
{
	struct ingest *in = arg;
	return in->s->ops->writer_write(in->s->self, in->w, buf, n, err);
}

/* Writes the diff of the two mounted trees into the content store. */
static int write_diff(struct job *j, const char *lower, const char *upper)
{
	const struct ucd_content_ops *ops = j->s->ops;
	const struct diff_layers *layers;
	if (diff_layers_load(&layers, &j->err) < 0)
		return -1;
	struct ingest in = {.s = j->s};
	if (ops->writer_open(j->s->self, j->ref, 0, NULL, &in.w, &j->err) < 0)
		return error_wrap(&j->err, "failed to open writer");
	int rc = ops->writer_truncate(j->s->self, in.w, 0, &j->err);
	if (rc == 0)
		rc = layers->trees(lower, upper, j->gzip, ingest_write, &in, job_cancelled, j, &j->result, &j->err);
	if (rc < 0)
		error_wrap(&j->err, j->gzip ? "failed to write compressed diff" : "failed to write diff");
	if (rc == 0) {
		struct ucd_error *e = NULL;
		rc = ops->writer_commit(j->s->self, in.w, j->result.blob.size, j->result.blob.digest, NULL, &e);
		if (rc < 0 && e->code == UCD_ALREADY_EXISTS) {   /* the same layer is there already */
			error_free(e);
			rc = 0;
		} else if (rc < 0) {
			j->err = e;
			error_wrap(&j->err, "failed to commit");
		}
	}
	ops->writer_close(j->s->self, in.w);
	if (rc < 0) {
		struct ucd_error *e = NULL;
		if (ops->abort(j->s->self, j->ref, &e) < 0 && e->code != UCD_NOT_FOUND)
			log_warn("diff: abort ingest %s: %s", j->ref, e->msg);
		error_free(e);
	}
	return rc;
}

static void diff_work(uv_work_t *w)
{
	struct job *j = w->data;
	char *lower = NULL, *upper = NULL;
	if (tempmount_mount(j->s->tmpmounts, j->left.v, j->left.n, true, &lower, &j->err) < 0)
		return;
	if (tempmount_mount(j->s->tmpmounts, j->right.v, j->right.n, true, &upper, &j->err) == 0) {
		write_diff(j, lower, upper);
		struct ucd_error *e = NULL;
		if (tempmount_unmount(upper, j->right.n, &e) < 0) {
			log_warn("diff: %s", e->msg);
			error_free(e);
		}
	}
	struct ucd_error *e = NULL;
	if (tempmount_unmount(lower, j->left.n, &e) < 0) {
		log_warn("diff: %s", e->msg);
		error_free(e);
	}
}

/* Records the new blob for the namespace, as containerd's metadata commit:
 * a blob the namespace already holds keeps its labels and only gains the
 * uncompressed label when it lacks one. */
static int record_blob(struct job *j, struct md_db *db, const char *ns, struct ucd_error **err)
{
	const char *digest = j->result.blob.digest;
	bool exists = false;
	if (md_content_exists(db, ns, digest, &exists, err) < 0)
		return -1;
	/* The uncompressed digest is only known now that the work is done. */
	j->labels[j->n_labels++] = (struct md_kv){xstrdup(UNCOMPRESSED_LABEL), xstrdup(j->result.uncompressed.digest)};
	if (!exists)
		return md_content_put(db, ns, digest, j->result.blob.size, j->labels, j->n_labels, err) < 0 ? -1 : 0;
	Containerd__Services__Content__V1__Info *info = NULL;
	if (md_content_get(db, ns, digest, &info, err) < 0)
		return -1;
	bool has = false;
	for (size_t i = 0; i < info->n_labels; i++)
		has = has || strcmp(info->labels[i]->key, UNCOMPRESSED_LABEL) == 0;
	protobuf_c_message_free_unpacked(&info->base, NULL);
	if (has)
		return 0;
	struct md_kv kv = {UNCOMPRESSED_LABEL, j->result.uncompressed.digest};
	const char *path = "labels." UNCOMPRESSED_LABEL;
	return md_content_update(db, ns, digest, &kv, 1, &path, 1, NULL, err) < 0 ? -1 : 0;
}

static void diff_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct md_db *db = j->s->ctx->db;
	struct ucd_error *e = NULL;
	if (j->err != NULL) {
		rpc_call_fail(j->call, steal(j->err));
	} else if (svc_tx_begin(j->call, db)) {
		const char *ns = rpc_call_namespace(j->call);
		if (record_blob(j, db, ns, &e) < 0 ||
		    svc_lease_track(j->call, db, "content", j->result.blob.digest, &e) < 0) {
			svc_tx_fail(j->call, db, e);
		} else if (svc_tx_commit(j->call, db)) {
			Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
			d.media_type = j->media_type;
			d.digest = j->result.blob.digest;
			d.size = j->result.blob.size;
			Containerd__Services__Diff__V1__DiffResponse resp = CONTAINERD__SERVICES__DIFF__V1__DIFF_RESPONSE__INIT;
			resp.diff = &d;
			rpc_call_reply(j->call, &resp.base);
		}
	}
	gc_mutation_end(j->s->ctx->gc);
	job_end(j);
}

static void diff_go(void *arg)
{
	struct job *j = arg;
	if (atomic_load(&j->cancelled)) {   /* the client left while a collection held the job back */
		gc_mutation_end(j->s->ctx->gc);
		job_end(j);
		return;
	}
	uv_queue_work(j->s->ctx->loop, &j->work, diff_work, diff_done);
}

/* containerd's uniqueRef: time and a little randomness. */
static char *unique_ref(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%lld-%06x", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (unsigned)rand() & 0xffffff);
}

static void d_diff(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Containerd__Services__Diff__V1__DiffRequest *req = (const void *)msg;
	struct dsvc *s = rpc_call_method_data(call);
	if (!ready(s, call))
		return;
	const char *mt = req->media_type[0] ? req->media_type : DIFF_MT_LAYER_GZIP;
	if (strcmp(mt, DIFF_MT_LAYER) != 0 && strcmp(mt, DIFF_MT_LAYER_GZIP) != 0)
		return rpc_call_finish(call, UCD_UNIMPLEMENTED, "unsupported diff media type: %s: not implemented", mt);

	struct job *j = job_new(call, s);
	j->gzip = strcmp(mt, DIFF_MT_LAYER_GZIP) == 0;
	j->media_type = xstrdup(mt);
	autofree char *ref = req->ref[0] ? xstrdup(req->ref) : unique_ref();
	/* Ingest names are global; Content.Write's are <ns>/<number>/<ref>: no <ns>/diff/<ref> is one of them. */
	j->ref = xasprintf("%s/diff/%s", rpc_call_namespace(call), ref);
	j->left = mounts_copy(req->left, req->n_left);
	j->right = mounts_copy(req->right, req->n_right);
	j->labels = xcalloc(req->n_labels + 1, sizeof *j->labels);
	for (size_t i = 0; i < req->n_labels; i++) {
		if (strcmp(req->labels[i]->key, UNCOMPRESSED_LABEL) == 0)
			continue;   /* ours wins, as in containerd */
		j->labels[j->n_labels++] = (struct md_kv){xstrdup(req->labels[i]->key), xstrdup(req->labels[i]->value)};
	}
	/* The new blob exists in the content store before its row does: keep
	 * the collector's backend sweep off until diff_done has recorded it. */
	gc_mutation_begin(s->ctx->gc, diff_go, j);
}

/* --- registration ------------------------------------------------------------------------ */

#define D_SVC "/containerd.services.diff.v1.Diff/"
static struct rpc_method methods[] = {
	{ RPC_METHOD(D_SVC "Apply", RPC_UNARY, &containerd__services__diff__v1__apply_request__descriptor, true, d_apply),
	  .on_cancel = on_cancel },
	{ RPC_METHOD(D_SVC "Diff", RPC_UNARY, &containerd__services__diff__v1__diff_request__descriptor, true, d_diff),
	  .on_cancel = on_cancel },
};

void svc_diff_register(struct svc_ctx *ctx)
{
	struct dsvc *s = &service;
	s->ctx = ctx;
	free(s->tmpmounts);
	s->tmpmounts = xasprintf("%s/tmpmounts", ctx->config->state);
	const struct registry_plugin *p = registry_get(ctx->registry, UCD_CONTENT_TYPE, NULL);
	const struct ucd_content_ops *ops = p ? registry_plugin_ops(p) : NULL;
	if (p != NULL && registry_plugin_status(p) == REGISTRY_OK && ops != NULL &&
	    ops->size >= offsetof(struct ucd_content_ops, abort) + sizeof ops->abort) {
		s->ops = ops;
		s->self = registry_plugin_self(p);
	} else {
		free(s->unavailable);
		s->unavailable = xstrdup("diff service: no content store plugin (io.containerd.content.v1) is available");
		log_warn("%s", s->unavailable);
	}
	for (size_t i = 0; i < ARRAY_LEN(methods); i++)
		methods[i].data = s;
	rpc_server_register(ctx->server, methods, ARRAY_LEN(methods));
}
