/* In-process calls (core/rpc/local.c) on the echo service that
 * test_streaming.py drives over the socket: every call kind, the statuses
 * a gRPC client would get (texts included), deadlines, cancellation from
 * either side, input held by the handler, server streams paced with
 * rpc_call_when_can_send, a caller that sends from its own callback,
 * methods that take and give bytes undecoded (a plugin's service) and
 * their unregistering, and the server closing under calls. The server is never started: in-process
 * calls need no socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../harness/tap.h"
#include "echo_service.h"
#include "util/error.h"
#include "util/mem.h"

#define SVC "/ucd.test.Echo/"
#define MAX_RECV 1024
#define MAX_SEND 2048

static uv_loop_t loop;
static struct rpc_server *server;

/* --- methods of this test only ------------------------------------------- */

/* Big: answers with a topic of the asked size (over max_send: refused) */
static void big(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	size_t n = (size_t)atol(r->topic);
	char *topic = xmalloc(n + 1);
	memset(topic, 'x', n);
	topic[n] = 0;
	Env env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
	env.topic = topic;
	rpc_call_reply(call, &env.base);
	free(topic);
}

/* Paced: topic "N": N answers, each sent only when nothing waits to be
 * taken (rpc_call_when_can_send with ahead 0), as Content.Read paces */
struct paced {
	int left, sent;
};

static void paced_next(struct rpc_call *call, void *arg)
{
	struct paced *p = arg;
	if (rpc_call_done(call) || p->left == 0) {
		if (!rpc_call_done(call))
			rpc_call_finish(call, UCD_OK, NULL);
		free(p);
		return;
	}
	if (!rpc_call_reserve_send(call, 0, 64)) {
		if (!rpc_call_when_can_send(call, 0, 64, paced_next, p))
			free(p);
		return;
	}
	char buf[16];
	snprintf(buf, sizeof buf, "%d", p->sent++);
	Env env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
	env.topic = buf;
	rpc_call_send(call, &env.base);
	p->left--;
	if (!rpc_call_when_can_send(call, 0, 64, paced_next, p))
		free(p);
}

static void paced(struct rpc_call *call, const ProtobufCMessage *msg)
{
	const Req *r = (const void *)msg;
	struct paced *p = xcalloc(1, sizeof *p);
	p->left = atoi(r->topic);
	paced_next(call, p);
}

/* Raw (on its own service): takes its request undecoded, answers with it
 * reversed, already encoded */
static void raw(struct rpc_call *call, const uint8_t *data, size_t len)
{
	uint8_t *rev = xmalloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		rev[i] = data[len - 1 - i];
	rpc_call_send_bytes(call, rev, len);
	rpc_call_finish(call, UCD_OK, NULL);
	free(rev);
}

static const struct rpc_method raw_methods[] = {
	{.path = "/ucd.test.Raw/Reverse", .kind = RPC_UNARY, .input = NULL, .on_bytes = raw},
};

static const struct rpc_method extra[] = {
	{RPC_METHOD(SVC "Big", RPC_UNARY, &containerd__services__events__v1__publish_request__descriptor, false, big)},
	{RPC_METHOD(SVC "Paced", RPC_SERVER_STREAMING, &containerd__services__events__v1__publish_request__descriptor,
		    false, paced)},
};

/* --- the caller's side ----------------------------------------------------- */

struct rec {
	struct rpc_call *call;
	int messages;
	char got[64][64];
	int finished;
	int code;
	char msg[512];
	int cancel_after;        /* cancel from on_message after this many (0: never) */
	int bidi_left;           /* bidi: send another message per answer, then close */
};

static void pack(const char *topic, uint8_t **data, size_t *len)
{
	Req r = CONTAINERD__SERVICES__EVENTS__V1__PUBLISH_REQUEST__INIT;
	r.topic = (char *)topic;
	*len = protobuf_c_message_get_packed_size(&r.base);
	*data = xmalloc(*len ? *len : 1);
	protobuf_c_message_pack(&r.base, *data);
}

static void send_topic(struct rpc_call *call, const char *topic)
{
	uint8_t *data;
	size_t len;
	pack(topic, &data, &len);
	rpc_local_send(call, data, len);
	free(data);
}

static void on_message(void *arg, const uint8_t *data, size_t len)
{
	struct rec *r = arg;
	Env *env = containerd__services__events__v1__envelope__unpack(NULL, len, data);
	if (env != NULL && r->messages < 64)
		snprintf(r->got[r->messages], sizeof r->got[0], "%.60s", env->topic);
	containerd__services__events__v1__envelope__free_unpacked(env, NULL);
	r->messages++;
	if (r->cancel_after > 0 && r->messages == r->cancel_after)
		rpc_local_cancel(r->call);
	if (r->bidi_left > 0) {
		r->bidi_left--;
		send_topic(r->call, "more");
		if (r->bidi_left == 0)
			rpc_local_close_send(r->call);
	}
}

static void on_finish(void *arg, int code, const char *msg)
{
	struct rec *r = arg;
	r->finished++;
	r->code = code;
	snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static const struct rpc_local_ops ops = {on_message, on_finish};

/* Runs the loop until *done or `ms` have passed. */
static void spin_until(const int *done, int ms)
{
	for (int i = 0; i < ms && !(done && *done); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (!(done && *done))
			usleep(1000);
	}
}

static struct rec *unary(const char *path, const char *topic, const struct rpc_metadata *md, size_t n_md,
			 uint64_t timeout_ms)
{
	struct rec *r = xcalloc(1, sizeof *r);
	uint8_t *data;
	size_t len;
	pack(topic, &data, &len);
	r->call = rpc_local_unary(server, path, md, n_md, timeout_ms, data, len, &ops, r);
	free(data);
	return r;
}

static void test_unary(void)
{
	struct rec *r = unary(SVC "Unary", "hello", NULL, 0, 0);
	CHECK(r->call != NULL);
	CHECK(r->finished == 0 && r->messages == 0);   /* never inside the call */
	spin_until(&r->finished, 2000);
	CHECK(r->messages == 1);
	CHECK_STR(r->got[0], "hello");
	CHECK(r->finished == 1 && r->code == UCD_OK);
	CHECK_STR(r->msg, "");
	free(r);

	r = unary(SVC "Unary", "fail", NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->messages == 0 && r->finished == 1 && r->code == UCD_NOT_FOUND);
	CHECK_STR(r->msg, "asked to fail: \xc3\xa9%\n");   /* not percent-encoded: no HTTP here */
	free(r);
}

static void test_routing(void)
{
	struct {
		const char *path;
		int code;
		const char *msg;
	} cases[] = {
		{"/ucd.test.Nope/Unary", UCD_UNIMPLEMENTED, "unknown service ucd.test.Nope"},
		{SVC "Nope", UCD_UNIMPLEMENTED, "unknown method Nope for service ucd.test.Echo"},
		{"nopath", UCD_UNIMPLEMENTED, "malformed method name: \"nopath\""},
		{SVC "Namespaced", UCD_FAILED_PRECONDITION, "namespace is required: failed precondition"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct rec *r = unary(cases[i].path, "x", NULL, 0, 0);
		spin_until(&r->finished, 2000);
		CHECK(r->finished == 1 && r->code == cases[i].code && r->messages == 0);
		CHECK_STR(r->msg, cases[i].msg);
		free(r);
	}
	struct rec *r = unary(NULL, "x", NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_UNIMPLEMENTED);
	CHECK_STR(r->msg, "malformed method name: \"\"");
	free(r);

	struct rpc_metadata good = {"containerd-namespace", "k8s.io"};
	r = unary(SVC "Namespaced", "ns", &good, 1, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_OK && r->messages == 1);
	free(r);

	struct rpc_metadata bad = {"containerd-namespace", "-bad"};
	r = unary(SVC "Namespaced", "ns", &bad, 1, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_INVALID_ARGUMENT && strncmp(r->msg, "namespace validation: ", 22) == 0);
	free(r);

	struct rpc_metadata reserved[] = {{"containerd-namespace", "default"}, {":path", SVC "Nope"}};
	r = unary(SVC "Unary", "x", reserved, 2, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_INVALID_ARGUMENT && r->messages == 0);
	CHECK_STR(r->msg, "metadata name `:path` is reserved");
	free(r);

	struct rpc_metadata noval = {"x-thing", NULL};
	r = unary(SVC "Unary", "x", &noval, 1, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_INVALID_ARGUMENT);
	free(r);
}

static void test_input_errors(void)
{
	/* a unary call without a request, and one with two */
	struct rec *r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "Unary", NULL, 0, 0, &ops, r);
	rpc_local_close_send(r->call);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_INTERNAL);
	CHECK_STR(r->msg, "grpc: request message missing");
	free(r);

	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "ServerStream", NULL, 0, 0, &ops, r);
	send_topic(r->call, "0");
	send_topic(r->call, "0");
	rpc_local_close_send(r->call);
	spin_until(&r->finished, 2000);
	/* the handler answered the first (0 messages, OK) before the second came */
	CHECK(r->finished == 1 && r->code == UCD_OK);
	free(r);

	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "ClientStream", NULL, 0, 0, &ops, r);
	send_topic(r->call, "a");
	rpc_local_send(r->call, "\xff\xff\xff", 3);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_INTERNAL);
	CHECK_STR(r->msg, "grpc: error unmarshalling request: invalid containerd.services.events.v1.PublishRequest "
			  "message");
	free(r);

	/* over max_recv: refused from its size, with the wire's text */
	uint8_t *huge = xcalloc(1, MAX_RECV + 1);
	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "ClientStream", NULL, 0, 0, &ops, r);
	rpc_local_send(r->call, huge, MAX_RECV + 1);
	rpc_local_send(r->call, huge, 1);       /* after the refusal: ignored */
	rpc_local_close_send(r->call);
	spin_until(&r->finished, 2000);
	CHECK(r->finished == 1 && r->code == UCD_RESOURCE_EXHAUSTED);
	CHECK_STR(r->msg, "grpc: received message larger than max (1025 vs. 1024)");
	free(r);
	free(huge);

	/* a response over max_send */
	char n[16];
	snprintf(n, sizeof n, "%d", MAX_SEND + 10);
	r = unary(SVC "Big", n, NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_RESOURCE_EXHAUSTED && r->messages == 0);
	CHECK(strncmp(r->msg, "grpc: trying to send message larger than max (", 46) == 0);
	free(r);
	r = unary(SVC "Big", "100", NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_OK && r->messages == 1 && strlen(r->got[0]) == 60);
	free(r);

	/* Tidy takes the input error over and finishes it itself, later */
	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "Tidy", NULL, 0, 0, &ops, r);
	rpc_local_send(r->call, "\xff", 1);
	spin_until(&r->finished, 3000);
	CHECK(r->finished == 1 && r->code == UCD_INTERNAL);
	CHECK(strstr(r->msg, "(after cleanup)") != NULL);
	free(r);
}

static void test_streams(void)
{
	struct rec *r = unary(SVC "ServerStream", "5", NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->messages == 5 && r->code == UCD_OK);
	CHECK_STR(r->got[0], "0");
	CHECK_STR(r->got[4], "4");
	free(r);

	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "ClientStream", NULL, 0, 0, &ops, r);
	send_topic(r->call, "a");
	send_topic(r->call, "b");
	send_topic(r->call, "c");
	rpc_local_close_send(r->call);
	send_topic(r->call, "late");   /* after close_send: ignored */
	spin_until(&r->finished, 2000);
	CHECK(r->messages == 1 && r->code == UCD_OK);
	CHECK_STR(r->got[0], "a,b,c");
	free(r);

	/* bidi, the caller sending from its own on_message */
	r = xcalloc(1, sizeof *r);
	r->bidi_left = 3;
	r->call = rpc_local_start(server, SVC "Bidi", NULL, 0, 0, &ops, r);
	send_topic(r->call, "first");
	spin_until(&r->finished, 2000);
	CHECK(r->messages == 4 && r->code == UCD_OK);
	CHECK_STR(r->got[0], "FIRST");
	CHECK_STR(r->got[3], "MORE");
	free(r);

	/* SlowSink holds its input for 1 ms per message: all 20 arrive, in order */
	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "SlowSink", NULL, 0, 0, &ops, r);
	for (int i = 0; i < 20; i++) {
		char buf[8];
		snprintf(buf, sizeof buf, "%d", i);
		send_topic(r->call, buf);
	}
	rpc_local_close_send(r->call);
	spin_until(&r->finished, 5000);
	CHECK(r->code == UCD_OK && r->messages == 1);
	CHECK(strncmp(r->got[0], "20,1,", 5) == 0);
	free(r);

	/* a server stream paced by rpc_call_when_can_send */
	r = unary(SVC "Paced", "30", NULL, 0, 0);
	spin_until(&r->finished, 5000);
	CHECK(r->messages == 30 && r->code == UCD_OK);
	CHECK_STR(r->got[29], "29");
	free(r);
}

static void on_raw(void *arg, const uint8_t *data, size_t len)
{
	struct rec *r = arg;
	snprintf(r->got[r->messages++], sizeof r->got[0], "%.*s", (int)len, (const char *)data);
}

static void test_raw(void)
{
	static const struct rpc_local_ops raw_ops = {on_raw, on_finish};
	struct rec *r = xcalloc(1, sizeof *r);
	r->call = rpc_local_unary(server, "/ucd.test.Raw/Reverse", NULL, 0, 0, "abc\xff", 4, &raw_ops, r);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_OK && r->messages == 1);
	CHECK_STR(r->got[0], "\xff" "cba");   /* bytes as they are: not decoded */
	free(r);

	r = xcalloc(1, sizeof *r);
	uint8_t *huge = xcalloc(1, MAX_RECV + 1);
	r->call = rpc_local_unary(server, "/ucd.test.Raw/Reverse", NULL, 0, 0, huge, MAX_RECV + 1, &raw_ops, r);
	free(huge);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_RESOURCE_EXHAUSTED && r->messages == 0);
	free(r);

	CHECK(rpc_server_unregister(server, "ucd.test.Raw") == 1);
	CHECK(!rpc_server_has_service(server, "ucd.test.Raw"));
	CHECK(rpc_server_has_service(server, "ucd.test.Echo"));
	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_unary(server, "/ucd.test.Raw/Reverse", NULL, 0, 0, "abc", 3, &raw_ops, r);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_UNIMPLEMENTED);
	CHECK_STR(r->msg, "unknown service ucd.test.Raw");
	free(r);
	/* the rest of the table is still found */
	r = unary(SVC "Unary", "still", NULL, 0, 0);
	spin_until(&r->finished, 2000);
	CHECK(r->code == UCD_OK);
	free(r);
}

static void test_cancel(void)
{
	int before = echo_cancelled;
	/* the deadline ends a call that hangs; the handler hears of it */
	struct rec *r = unary(SVC "Hang", "x", NULL, 0, 50);
	spin_until(&r->finished, 3000);
	CHECK(r->finished == 1 && r->code == UCD_DEADLINE_EXCEEDED);
	CHECK_STR(r->msg, "context deadline exceeded");
	CHECK(echo_cancelled == before + 1);
	free(r);

	/* the caller cancels: the handler hears, the caller hears nothing more */
	r = unary(SVC "Hang", "x", NULL, 0, 0);
	CHECK(echo_live_calls == 1);
	rpc_local_cancel(r->call);
	CHECK(echo_cancelled == before + 2 && echo_live_calls == 0);
	spin_until(NULL, 20);
	CHECK(r->finished == 0);
	free(r);

	/* cancelled after the handler finished, before delivery: nothing comes */
	r = unary(SVC "Unary", "x", NULL, 0, 0);
	rpc_local_cancel(r->call);
	spin_until(NULL, 20);
	CHECK(r->finished == 0 && r->messages == 0);
	free(r);

	/* cancelled from on_message in the middle of a stream */
	r = xcalloc(1, sizeof *r);
	r->cancel_after = 2;
	uint8_t *data;
	size_t len;
	pack("10", &data, &len);
	r->call = rpc_local_unary(server, SVC "ServerStream", NULL, 0, 0, data, len, &ops, r);
	free(data);
	spin_until(NULL, 50);
	CHECK(r->messages == 2 && r->finished == 0);
	free(r);

	/* cancelling a client stream while its handler holds input */
	before = echo_cancelled;
	r = xcalloc(1, sizeof *r);
	r->call = rpc_local_start(server, SVC "SlowSink", NULL, 0, 0, &ops, r);
	send_topic(r->call, "0");
	send_topic(r->call, "1");
	rpc_local_cancel(r->call);
	CHECK(echo_cancelled == before + 1);
	spin_until(NULL, 20);
	CHECK(r->finished == 0);
	free(r);
}

/* A call started from inside another call's callback */
static struct rec *nested;

static void outer_finish(void *arg, int code, const char *msg)
{
	on_finish(arg, code, msg);
	nested = unary(SVC "Unary", "inner", NULL, 0, 0);
}

static void test_nested(void)
{
	static const struct rpc_local_ops outer_ops = {on_message, outer_finish};
	struct rec *r = xcalloc(1, sizeof *r);
	uint8_t *data;
	size_t len;
	pack("outer", &data, &len);
	r->call = rpc_local_unary(server, SVC "Unary", NULL, 0, 0, data, len, &outer_ops, r);
	free(data);
	spin_until(&r->finished, 2000);
	CHECK(nested != NULL);
	if (nested != NULL) {
		spin_until(&nested->finished, 2000);
		CHECK(nested->code == UCD_OK);
		CHECK_STR(nested->got[0], "inner");
		free(nested);
	}
	free(r);
}

static int closed_done;

static void on_closed(void *arg)
{
	(void)arg;
	closed_done = 1;
}

static void test_close(void)
{
	int before = echo_cancelled;
	struct rec *hang = unary(SVC "Hang", "x", NULL, 0, 0);
	struct rec *done = unary(SVC "ServerStream", "3", NULL, 0, 0);   /* finished, not delivered yet */
	CHECK(rpc_server_local_calls(server) == 2);
	rpc_server_close(server, on_closed, NULL);
	CHECK(echo_cancelled == before + 1);
	CHECK(rpc_local_start(server, SVC "Unary", NULL, 0, 0, &ops, NULL) == NULL);
	spin_until(&closed_done, 3000);
	CHECK(closed_done);
	CHECK(hang->finished == 1 && hang->code == UCD_UNAVAILABLE);
	CHECK_STR(hang->msg, "server is shutting down");
	CHECK(done->finished == 1 && done->code == UCD_OK && done->messages == 3);
	CHECK(rpc_server_local_calls(server) == 0);
	free(hang);
	free(done);
}

int main(void)
{
	uv_loop_init(&loop);
	echo_init(&loop);
	struct ucd_error *err = NULL;
	char path[] = "/tmp/ucd-test-local-XXXXXX";
	CHECK(mkdtemp(path) != NULL);
	autofree char *sock = xasprintf("%s/never-listened.sock", path);
	struct rpc_server_opts o = {.address = sock, .uid = -1, .gid = -1, .mode = 0600,
				    .max_recv_message_size = MAX_RECV, .max_send_message_size = MAX_SEND};
	server = rpc_server_new(&loop, &o, &err);
	CHECK(server != NULL);
	rpc_server_register(server, echo_methods, echo_n_methods);
	rpc_server_register(server, extra, ARRAY_LEN(extra));
	rpc_server_register(server, raw_methods, ARRAY_LEN(raw_methods));

	test_unary();
	test_routing();
	test_input_errors();
	test_streams();
	test_raw();
	test_cancel();
	test_nested();
	CHECK(rpc_server_local_calls(server) == 0);
	test_close();

	CHECK(access(sock, F_OK) != 0);   /* no socket was ever made */
	CHECK(echo_live_calls == 0);
	spin_until(NULL, 10);
	CHECK(uv_loop_close(&loop) == 0);
	rpc_server_free(server);
	rmdir(path);
	return tap_done();
}
