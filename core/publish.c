/* `ucontainerd publish --namespace NS --topic TOPIC`: containerd's command
 * for shims that publish an event by running the daemon binary (the shim's
 * -publish-binary) with the event, a packed google.protobuf.Any, on stdin.
 * containerd's version calls Events.Publish over gRPC; ours forwards the
 * event over the daemon's ttrpc socket (Events/Forward), which is the same
 * exchange, so a plain blocking client suffices here. */
#include "publish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "events/events.h"
#include "google/protobuf/any.pb-c.h"
#include "ttrpc/ttrpc_wire.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/mem.h"

/* "--topic X", "-topic X", "--topic=X", "-topic=X" */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	if (a[0] != '-')
		return NULL;
	a += a[1] == '-' ? 2 : 1;
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static uint8_t *read_all(FILE *f, size_t max, size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *b = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(b);
				return NULL;
			}
			cap *= 2;
			b = xrealloc(b, cap);
		}
		size_t r = fread(b + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	*len = n;
	return b;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Sends one Forward and waits for its answer; 0 or an error message. */
static int forward(const char *path, const uint8_t *req, size_t len, char *msg, size_t msglen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(msg, msglen, "ttrpc address `%s` too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(msg, msglen, "failed to dial \"%s\": %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int rc = -1;
	if (!write_all(fd, req, len)) {
		snprintf(msg, msglen, "write to \"%s\": %s", path, strerror(errno));
		goto out;
	}
	struct ttrpc_reader rd = {0};
	for (;;) {
		uint8_t buf[4096];
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0) {
			snprintf(msg, msglen, "no answer from \"%s\"", path);
			break;
		}
		ttrpc_reader_feed(&rd, buf, (size_t)n);
		struct ttrpc_header h;
		const uint8_t *body;
		enum ttrpc_read r = ttrpc_reader_next(&rd, &h, &body);
		if (r == TTRPC_READ_MORE)
			continue;
		Ttrpc__Response *resp = r == TTRPC_READ_FRAME ? ttrpc__response__unpack(NULL, h.length, body) : NULL;
		if (resp == NULL) {
			snprintf(msg, msglen, "undecodable answer from \"%s\"", path);
		} else if (resp->status != NULL && resp->status->code != 0) {
			snprintf(msg, msglen, "%s", resp->status->message);
		} else {
			rc = 0;
		}
		if (resp != NULL)
			ttrpc__response__free_unpacked(resp, NULL);
		break;
	}
	ttrpc_reader_free(&rd);
out:
	close(fd);
	return rc;
}

int publish_run(const char *ttrpc_address, int argc, char **argv)
{
	const char *ns = "", *topic = "";
	for (int i = 0; i < argc; i++) {
		const char *v;
		if ((v = flag_value(argc, argv, &i, "namespace")) != NULL)
			ns = v;
		else if ((v = flag_value(argc, argv, &i, "topic")) != NULL)
			topic = v;
		else {
			fprintf(stderr, "ucontainerd publish: unknown argument `%s`\n", argv[i]);
			return 2;
		}
	}
	struct ucd_error *err = NULL;
	if (topic[0] == '\0') {
		fprintf(stderr, "ucontainerd: topic required to publish event: invalid argument\n");
		return 1;
	}
	if (events_validate_topic(topic, &err) < 0 || identifier_validate_ns(ns, &err) < 0) {
		fprintf(stderr, "ucontainerd: %s\n", err->msg);
		error_free(err);
		return 1;
	}
	size_t len = 0;
	autofree uint8_t *data = read_all(stdin, TTRPC_MAX_MESSAGE, &len);
	Google__Protobuf__Any *any = data ? google__protobuf__any__unpack(NULL, len, data) : NULL;
	if (any == NULL) {
		fprintf(stderr, "ucontainerd: the event on stdin is not a google.protobuf.Any (or over 4 MiB)\n");
		return 1;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	env.timestamp = &ts;
	env.namespace_ = (char *)ns;
	env.topic = (char *)topic;
	env.event = any;
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest fr =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	fr.envelope = &env;
	size_t flen;
	autofree uint8_t *frame = ttrpc_request_frame(1, "containerd.services.events.ttrpc.v1.Events", "Forward",
						      &fr.base, ns, 0, &flen);
	google__protobuf__any__free_unpacked(any, NULL);
	char msg[512];
	if (frame == NULL || forward(ttrpc_address, frame, flen, msg, sizeof msg) < 0) {
		fprintf(stderr, "ucontainerd: %s\n", frame ? msg : "event too large");
		return 1;
	}
	return 0;
}
