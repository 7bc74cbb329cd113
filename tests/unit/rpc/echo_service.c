/* The echo service: one method of each gRPC kind, plus methods that hang,
 * hold their input or take over input errors, on the real rpc module.
 * Served on a socket by echo_server.c (for test_streaming.py, driven by
 * grpcio) and in-process by test_local.c, so that both transports are
 * proven on the same handlers. Requests and answers reuse containerd's
 * PublishRequest / Envelope: the topic carries the payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_service.h"
#include "util/error.h"
#include "util/mem.h"

typedef Containerd__Services__Events__V1__PublishRequest Req;
typedef Containerd__Services__Events__V1__Envelope Env;

int echo_cancelled, echo_live_calls;
static uv_loop_t *main_loop;

void echo_init(uv_loop_t *loop)
{
	main_loop = loop;
}

static void send_topic(struct rpc_call *call, const char *topic)
{
	Env env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
	env.topic = (char *)topic;
	rpc_call_send(call, &env.base);
}

static void unary(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	if (strcmp(r->topic, "fail") == 0)
		return rpc_call_finish(call, UCD_NOT_FOUND, "asked to fail: \xc3\xa9%%\n");
	send_topic(call, r->topic);
	rpc_call_finish(call, UCD_OK, NULL);
}

/* topic "N": N answers, numbered */
static void server_stream(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	int n = atoi(r->topic);
	for (int i = 0; i < n; i++) {
		char buf[16];
		snprintf(buf, sizeof buf, "%d", i);
		send_topic(call, buf);
	}
	rpc_call_finish(call, UCD_OK, NULL);
}

/* collects every topic, answers once with them joined by ',' */
static void collect(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	char *acc = rpc_call_data(call);
	char *next = acc ? xasprintf("%s,%s", acc, r->topic) : xstrdup(r->topic);
	free(acc);
	rpc_call_set_data(call, next);
	if (acc == NULL)
		echo_live_calls++;
}

static void collect_done(struct rpc_call *call)
{
	char *acc = rpc_call_data(call);
	send_topic(call, acc ? acc : "");
	rpc_call_finish(call, UCD_OK, NULL);
	if (acc != NULL)
		echo_live_calls--;
	free(acc);
	rpc_call_set_data(call, NULL);
}

static void collect_cancel(struct rpc_call *call)
{
	char *acc = rpc_call_data(call);
	if (acc != NULL)
		echo_live_calls--;
	free(acc);
	rpc_call_set_data(call, NULL);
	echo_cancelled++;
}

/* bidi: each message answered at once, upper-cased */
static void bidi(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	autofree char *up = xstrdup(r->topic);
	for (char *p = up; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	send_topic(call, up);
}

static void bidi_done(struct rpc_call *call)
{
	rpc_call_finish(call, UCD_OK, NULL);
}

/* never answers: ends by deadline, reset or disconnect */
static void hang(struct rpc_call *call, const ProtobufCMessage *msg)
{
	rpc_call_ref(call);
	echo_live_calls++;
}

static void hang_cancel(struct rpc_call *call)
{
	echo_cancelled++;
	echo_live_calls--;
	rpc_call_unref(call);
}

/* SlowSink (client streaming): takes 1 ms "work" per message with its
 * input held meanwhile, as the Content service does while a worker writes a
 * chunk; answers "<messages>,<in order>,<most bytes ever buffered>". */
struct sink {
	struct rpc_call *call;
	uv_timer_t timer;
	int count;
	bool in_order;
	size_t max_buffered;
};

static void sink_closed(uv_handle_t *h)
{
	struct sink *s = h->data;
	rpc_call_unref(s->call);
	free(s);
	echo_live_calls--;
}

static void sink_release(uv_timer_t *t)
{
	struct sink *s = t->data;
	rpc_call_hold_input(s->call, false);
}

static void sink_note(struct sink *s)
{
	size_t b = rpc_call_input_bytes(s->call);
	if (b > s->max_buffered)
		s->max_buffered = b;
}

static void sink_message(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	struct sink *s = rpc_call_data(call);
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->call = call;
		s->in_order = true;
		rpc_call_ref(call);
		uv_timer_init(main_loop, &s->timer);
		s->timer.data = s;
		rpc_call_set_data(call, s);
		echo_live_calls++;
	}
	if (atoi(r->topic) != s->count)
		s->in_order = false;
	s->count++;
	sink_note(s);
	rpc_call_hold_input(call, true);
	uv_timer_start(&s->timer, sink_release, 1, 0);
}

static void sink_end(struct rpc_call *call, bool answer)
{
	struct sink *s = rpc_call_data(call);
	if (s == NULL) {
		if (answer)
			rpc_call_finish(call, UCD_OK, NULL);
		return;
	}
	if (answer) {
		sink_note(s);
		char buf[64];
		snprintf(buf, sizeof buf, "%d,%d,%zu", s->count, s->in_order, s->max_buffered);
		send_topic(call, buf);
		rpc_call_finish(call, UCD_OK, NULL);
	}
	rpc_call_set_data(call, NULL);
	uv_close((uv_handle_t *)&s->timer, sink_closed);
}

static void sink_done(struct rpc_call *call)
{
	sink_end(call, true);
}

static void sink_cancel(struct rpc_call *call)
{
	echo_cancelled++;
	sink_end(call, false);
}

/* Tidy (client streaming): takes input error hand-over (on_input_error) and
 * finishes the call with it only after 200 ms of "cleanup", adding a mark
 * to the message, so the test can see the handler, not the server, ended it. */
struct tidy {
	struct rpc_call *call;
	uv_timer_t timer;
	struct ucd_error *e;
};

static void tidy_closed(uv_handle_t *h)
{
	struct tidy *t = h->data;
	rpc_call_unref(t->call);
	error_free(t->e);
	free(t);
	echo_live_calls--;
}

static void tidy_timer(uv_timer_t *h)
{
	struct tidy *t = h->data;
	rpc_call_finish(t->call, t->e->code, "%s (after cleanup)", t->e->msg);
	uv_close((uv_handle_t *)h, tidy_closed);
}

static void tidy_message(struct rpc_call *call, const ProtobufCMessage *msg)
{
	(void)call;
	(void)msg;
}

static void tidy_done(struct rpc_call *call)
{
	send_topic(call, "tidy");
	rpc_call_finish(call, UCD_OK, NULL);
}

static void tidy_input_error(struct rpc_call *call, struct ucd_error *e)
{
	struct tidy *t = xcalloc(1, sizeof *t);
	t->call = call;
	t->e = e;
	rpc_call_ref(call);
	echo_live_calls++;
	uv_timer_init(main_loop, &t->timer);
	t->timer.data = t;
	uv_timer_start(&t->timer, tidy_timer, 200, 0);
}

#define SVC "/ucd.test.Echo/"
const struct rpc_method echo_methods[] = {
	{RPC_METHOD(SVC "Unary", RPC_UNARY, &containerd__services__events__v1__publish_request__descriptor, false, unary)},
	{RPC_METHOD(SVC "ServerStream", RPC_SERVER_STREAMING, &containerd__services__events__v1__publish_request__descriptor,
		    false, server_stream)},
	{RPC_METHOD(SVC "ClientStream", RPC_CLIENT_STREAMING, &containerd__services__events__v1__publish_request__descriptor,
		    false, collect), .on_half_close = collect_done, .on_cancel = collect_cancel},
	{RPC_METHOD(SVC "Bidi", RPC_BIDI_STREAMING, &containerd__services__events__v1__publish_request__descriptor, false,
		    bidi), .on_half_close = bidi_done},
	{RPC_METHOD(SVC "SlowSink", RPC_CLIENT_STREAMING, &containerd__services__events__v1__publish_request__descriptor,
		    false, sink_message), .on_half_close = sink_done, .on_cancel = sink_cancel},
	{RPC_METHOD(SVC "Tidy", RPC_CLIENT_STREAMING, &containerd__services__events__v1__publish_request__descriptor,
		    false, tidy_message), .on_half_close = tidy_done, .on_input_error = tidy_input_error},
	{RPC_METHOD(SVC "Hang", RPC_UNARY, &containerd__services__events__v1__publish_request__descriptor, false, hang),
	 .on_cancel = hang_cancel},
	{RPC_METHOD(SVC "Namespaced", RPC_UNARY, &containerd__services__events__v1__publish_request__descriptor, true,
		    unary)},
};
const size_t echo_n_methods = ARRAY_LEN(echo_methods);
