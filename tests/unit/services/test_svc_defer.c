/* svc_defer (core/services/defer.c): deferred work runs once the callback
 * that deferred it has returned (libuv's idle phase: after the timers of the
 * same turn, or on the turn after an I/O callback), in the order it was
 * deferred, before the loop blocks; work deferred by deferred work waits for
 * the next turn; without the handle (before init, after close) it runs at
 * once; close runs what is pending. */
#include <string.h>
#include <uv.h>

#include "harness/tap.h"
#include "services/services.h"

static char order[64];
static struct svc_ctx ctx;

static void mark(void *arg)
{
	strncat(order, arg, sizeof order - strlen(order) - 1);
}

static void mark_and_defer(void *arg)
{
	mark(arg);
	svc_defer(&ctx, mark, "c");
}

/* What a callback defers must not run inside it. */
static void on_timer(uv_timer_t *t)
{
	svc_defer(&ctx, mark, "1");
	svc_defer(&ctx, mark_and_defer, "2");
	mark("T");
	uv_close((uv_handle_t *)t, NULL);
}

int main(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	ctx.loop = &loop;

	svc_defer(&ctx, mark, "a");   /* no handle yet: at once */
	CHECK_STR(order, "a");

	order[0] = '\0';
	svc_defer_init(&ctx);
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, on_timer, 0, 0);
	uv_run(&loop, UV_RUN_ONCE);
	CHECK_STR(order, "T12");      /* after the timer returned, in order; "c" waits */
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_STR(order, "T12c");     /* the next turn, which does not block */

	order[0] = '\0';
	svc_defer(&ctx, mark, "p");
	svc_defer_close(&ctx);        /* pending work runs at close */
	CHECK_STR(order, "p");
	CHECK(ctx.defer == NULL);
	svc_defer(&ctx, mark, "q");   /* closed: at once */
	CHECK_STR(order, "pq");

	uv_run(&loop, UV_RUN_DEFAULT);   /* the close callbacks */
	CHECK(uv_loop_close(&loop) == 0);
	return tap_done();
}
