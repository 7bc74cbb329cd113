/* io.containerd.content.v1.content: the local content store (store.h has
 * the layout on disk). Registration glue and life cycle; the blobs are in
 * blobs.c, the ingests in ingest.c.
 *
 * It declares no config fields: containerd 1.6's content plugin has none
 * either (its root is the plugin's root directory). It exports `root`, as
 * containerd's does. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "locks.h"
#include "store.h"

static const struct ucd_content_ops cs_ops = {
	.size = sizeof(struct ucd_content_ops),
	.info = cs_info,
	.walk = cs_walk,
	.remove = cs_remove,
	.reader_open = cs_reader_open,
	.reader_read_at = cs_reader_read_at,
	.reader_close = cs_reader_close,
	.writer_open = cs_writer_open,
	.writer_status = cs_writer_status,
	.writer_digest = cs_writer_digest,
	.writer_write = cs_writer_write,
	.writer_truncate = cs_writer_truncate,
	.writer_commit = cs_writer_commit,
	.writer_close = cs_writer_close,
	.status = cs_status,
	.walk_statuses = cs_walk_statuses,
	.abort = cs_abort,
};

static void cs_free(struct cs *s)
{
	const struct ucd_host *h = s->host;
	cs_locks_free(s);
	pthread_mutex_destroy(&s->mu);
	h->free(s->root);
	h->free(s->blobs);
	h->free(s->ingest);
	h->free(s);
}

/* The host checks (and narrows) what exists and makes what is missing. */
static int make_dir(const struct ucd_host *h, const char *path, mode_t mode, struct ucd_error **err)
{
	if (h->dir_ensure(h, path, (uint32_t)mode, NULL, err) == 0)
		return 0;
	return h->error_wrap(err, "content store");
}

static int cs_init(const struct ucd_host *host, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
		   struct ucd_error **err)
{
	/* OpenSSL initialises itself (and reads its config) at first use. Do
	 * it here, on the daemon's main thread: done by the first hash on a
	 * thread-pool worker, it leaves that worker's error state behind at
	 * exit, since pool workers are never joined. */
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	struct cs *s = host->alloc(sizeof *s);
	memset(s, 0, sizeof *s);
	s->host = host;
	s->ic = ic;
	pthread_mutex_init(&s->mu, NULL);
	s->root = cs_strdup(s, ic->root);
	s->blobs = cs_printf(s, "%s/blobs", ic->root);
	s->ingest = cs_printf(s, "%s/ingest", ic->root);
	char *sha = cs_printf(s, "%s/sha256", s->blobs);
	/* The plugin's root is the daemon's alone, as containerd's plugin
	 * directories since CVE-2021-41103; blobs are read-only files below
	 * it (0444, world-readable as containerd's, for whoever root lets in),
	 * ingests the daemon's business only. */
	int r;
	if ((r = make_dir(host, s->root, 0700, err)) < 0 || (r = make_dir(host, s->blobs, 0755, err)) < 0 ||
	    (r = make_dir(host, sha, 0755, err)) < 0 || (r = make_dir(host, s->ingest, 0700, err)) < 0) {
		host->free(sha);
		cs_free(s);
		return r;
	}
	host->free(sha);
	host->export_set(ic, "root", ic->root, NULL);
	out->self = s;
	out->ops = &cs_ops;
	return 0;
}

static void cs_close(void *self)
{
	if (self != NULL)
		cs_free(self);
}

/* As containerd 1.6's content plugin: no requirements. */
static const char *const cs_requires[] = {NULL};

static const struct ucd_plugin_desc cs_desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = UCD_CONTENT_TYPE,
	.id = "content",
	.requires_types = cs_requires,
	.init = cs_init,
	.close = cs_close,
};
UCD_PLUGIN_DEFINE(cs_desc)
