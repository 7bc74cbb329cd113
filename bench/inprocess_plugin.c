/* io.containerd.bench.v1.inprocess: the in-process side of
 * bench/inprocess.py. Serves ucd.bench.InProcess/Run, whose request is the
 * text "<count> <method path> [<namespace>]" and whose answer is
 * "<process CPU ns> <wall ns> <failed>": it makes <count> in-process calls
 * of the method (an empty request each, one after the other: the next
 * starts when the previous one's status arrives), as a plugin would, and
 * measures the daemon process's CPU time over them.
 *
 * Built by bench/inprocess.py with
 *   cc -O2 -shared -fPIC -fvisibility=hidden -I sdk/include bench/inprocess_plugin.c
 * Not part of the daemon build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontainerd/ucontainerd.h>

static const struct ucd_host *host;
static const struct ucd_init_ctx *ctx;

struct run {
	struct ucd_server_call *call;
	char path[256], ns[64];
	long left, failed;
	struct timespec cpu0, wall0;
};

static int64_t ns_of(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
}

static void next(struct run *r);

static void on_message(void *arg, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)data;
	(void)len;
}

static void on_finish(void *arg, int code, const char *message)
{
	struct run *r = arg;
	(void)message;
	if (code != UCD_OK)
		r->failed++;
	next(r);
}

static const struct ucd_call_ops ops = {on_message, on_finish};

static void done(struct run *r)
{
	struct timespec cpu1, wall1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	clock_gettime(CLOCK_MONOTONIC, &wall1);
	char out[96];
	int n = snprintf(out, sizeof out, "%lld %lld %ld", (long long)ns_of(&r->cpu0, &cpu1),
	                 (long long)ns_of(&r->wall0, &wall1), r->failed);
	host->server_call_send(r->call, out, (size_t)n, NULL);
	host->server_call_finish(r->call, UCD_OK, NULL, NULL);
	host->server_call_unref(r->call, NULL);
	free(r);
}

static void next(struct run *r)
{
	if (r->left == 0 || host->server_call_done(r->call)) {
		done(r);
		return;
	}
	r->left--;
	struct ucd_metadata md = {"containerd-namespace", r->ns};
	struct ucd_error *e = NULL;
	struct ucd_call *c = host->call_start(ctx, r->path, r->ns[0] ? &md : NULL, r->ns[0] ? 1 : 0, 0, &ops, r, &e);
	if (c == NULL) {
		host->error_free(e);
		r->failed += r->left + 1;
		r->left = 0;
		done(r);
		return;
	}
	host->call_send(c, NULL, 0, NULL);
	host->call_close_send(c, NULL);
}

static void run(void *self, struct ucd_server_call *call, const uint8_t *data, size_t len)
{
	(void)self;
	char req[512];
	snprintf(req, sizeof req, "%.*s", (int)(len < sizeof req - 1 ? len : sizeof req - 1), (const char *)data);
	struct run *r = calloc(1, sizeof *r);
	if (sscanf(req, "%ld %255s %63s", &r->left, r->path, r->ns) < 2 || r->left < 0) {
		free(r);
		host->server_call_finish(call, UCD_INVALID_ARGUMENT, "want \"<count> <path> [<namespace>]\"", NULL);
		return;
	}
	r->call = call;
	host->server_call_ref(call, NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &r->cpu0);
	clock_gettime(CLOCK_MONOTONIC, &r->wall0);
	next(r);
}

static const struct ucd_method methods[] = {
	{.name = "Run", .kind = UCD_METHOD_UNARY, .on_message = run},
};
static const struct ucd_service service = {"ucd.bench.InProcess", methods, 1};

static int init(const struct ucd_host *h, const struct ucd_init_ctx *ic, struct ucd_plugin_out *out,
                struct ucd_error **err)
{
	host = h;
	ctx = ic;
	(void)out;
	return h->service_register(ic, &service, NULL, err);
}

static const struct ucd_plugin_desc desc = {
	UCD_PLUGIN_DESC_INIT,
	.type = "io.containerd.bench.v1",
	.id = "inprocess",
	.init = init,
};
UCD_PLUGIN_DEFINE(desc)
