/* A test server on the real rpc module with one method of each gRPC kind,
 * for tests/unit/rpc/test_streaming.py (no daemon service streams from the
 * client yet, so this is where client-streaming and bidi calls are proven):
 * the echo service (echo_service.c) on a socket. Runs until SIGTERM, then
 * checks that every handle and call was released and prints what it
 * counted. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo_service.h"
#include "util/error.h"

static struct rpc_server *server;
static uv_signal_t sigterm;

static void closed(void *arg)
{
	uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_term(uv_signal_t *h, int sig)
{
	uv_signal_stop(h);
	rpc_server_close(server, closed, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: echo_server SOCKET MAX_RECV_BYTES\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_t loop;
	uv_loop_init(&loop);
	echo_init(&loop);
	struct ucd_error *err = NULL;
	struct rpc_server_opts o = {.address = argv[1], .uid = -1, .gid = -1, .mode = 0600,
				    .max_recv_message_size = (size_t)atol(argv[2])};
	server = rpc_server_new(&loop, &o, &err);
	if (server == NULL || rpc_server_start(server, &err) < 0) {
		fprintf(stderr, "echo_server: %s\n", err->msg);
		return 1;
	}
	rpc_server_register(server, echo_methods, echo_n_methods);
	uv_signal_init(&loop, &sigterm);
	uv_signal_start(&sigterm, on_term, SIGTERM);
	printf("ready\n");
	fflush(stdout);
	uv_run(&loop, UV_RUN_DEFAULT);
	int leftover = uv_loop_close(&loop);
	rpc_server_free(server);
	printf("cancelled=%d live_calls=%d loop_close=%d\n", echo_cancelled, echo_live_calls, leftover);
	return leftover == 0 && echo_live_calls == 0 ? 0 : 1;
}
