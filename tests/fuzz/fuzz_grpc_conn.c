/* The gRPC connection (core/rpc: conn.c, call.c with nghttp2): the input is
 * what a client writes on the socket, HTTP/2 frames carrying gRPC messages,
 * sent to the real server with the real metadata services behind it
 * (fuzz_daemon.h). An input that does not begin with 'P' gets the HTTP/2
 * client preface in front, so that mutations spend their time past it.
 * Nothing may crash, leak, trip a sanitizer, or leave a transaction open. */
#include <string.h>

#include "fuzz.h"
#include "fuzz_daemon.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_daemon_start(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_daemon *d = fuzz_daemon_start(0);
	if (size > 0 && data[0] == 'P') {
		fuzz_daemon_exchange(d, d->grpc_path, data, size);
	} else {
		uint8_t *buf = malloc(sizeof preface - 1 + size);
		memcpy(buf, preface, sizeof preface - 1);
		if (size > 0)
			memcpy(buf + sizeof preface - 1, data, size);
		fuzz_daemon_exchange(d, d->grpc_path, buf, sizeof preface - 1 + size);
		free(buf);
	}
	fuzz_daemon_reset(d);
	return 0;
}
