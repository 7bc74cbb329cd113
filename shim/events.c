/* Publishing task events to the daemon: a ttrpc client to TTRPC_ADDRESS
 * calling containerd.services.events.ttrpc.v1.Events/Forward, the
 * namespace both in the request metadata and in the envelope.
 *
 * The daemon may be down or restarting, and the loop must never wait for
 * it: events are queued (bounded), sent in order as soon as a connection
 * is up, and kept until the daemon answered them, so a connection that
 * breaks mid-way resends rather than loses (a duplicate is harmless, a lost
 * /tasks/exit is not). Reconnection is tried every second. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "shim.h"
#include "ttrpc/ttrpc_wire.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define MAX_QUEUED 128

struct event {
	struct event *next;
	char *topic;
	uint8_t *payload;     /* packed ForwardRequest */
	size_t len;
	uint32_t stream;      /* 0 while not sent on the current connection */
};

static struct {
	char *address, *ns;
	struct watch conn;
	struct watch timer;
	struct ttrpc_reader rd;
	uint8_t *out;
	size_t out_len, out_off;
	struct event *head, **tail;
	size_t queued;
	uint32_t next_stream;
	bool timer_armed;
} ev = {.conn = {.fd = -1}, .timer = {.fd = -1}};

static void arm_timer(bool on)
{
	if (ev.timer.fd < 0 || ev.timer_armed == on)
		return;
	struct itimerspec its = {0};
	if (on)
		its.it_value.tv_sec = its.it_interval.tv_sec = 1;
	timerfd_settime(ev.timer.fd, 0, &its, NULL);
	ev.timer_armed = on;
}

static void disconnect(const char *why)
{
	if (ev.conn.fd < 0)
		return;
	log_warn("events: connection to %s lost: %s", ev.address, why);
	loop_close(&ev.conn);
	ttrpc_reader_free(&ev.rd);
	free(ev.out);
	ev.out = NULL;
	ev.out_len = ev.out_off = 0;
	for (struct event *e = ev.head; e != NULL; e = e->next)
		e->stream = 0;
	if (ev.head != NULL)
		arm_timer(true);
}

static bool flush_out(void)
{
	while (ev.out_off < ev.out_len) {
		ssize_t r = send(ev.conn.fd, ev.out + ev.out_off, ev.out_len - ev.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			disconnect(strerror(errno));
			return false;
		}
		ev.out_off += (size_t)r;
	}
	if (ev.out_off == ev.out_len) {
		free(ev.out);
		ev.out = NULL;
		ev.out_len = ev.out_off = 0;
	}
	loop_mod(&ev.conn, EPOLLIN | (ev.out != NULL ? EPOLLOUT : 0));
	return true;
}

/* Frames every event not yet sent on this connection. */
static void send_pending(void)
{
	if (ev.conn.fd < 0)
		return;
	for (struct event *e = ev.head; e != NULL; e = e->next) {
		if (e->stream != 0)
			continue;
		e->stream = ev.next_stream;
		ev.next_stream += 2;
		size_t len;
		uint8_t *f = ttrpc_request_frame_raw(e->stream, EVENTS_SERVICE, "Forward", e->payload, e->len, ev.ns, 0,
						     &len);
		if (f == NULL)
			continue;
		ev.out = xrealloc(ev.out, ev.out_len + len);
		memcpy(ev.out + ev.out_len, f, len);
		ev.out_len += len;
		free(f);
	}
	flush_out();
}

static void event_free(struct event *e)
{
	free(e->topic);
	free(e->payload);
	free(e);
}

static void acked(uint32_t stream, const uint8_t *body, size_t len)
{
	struct event **pp = &ev.head;
	while (*pp != NULL && (*pp)->stream != stream)
		pp = &(*pp)->next;
	struct event *e = *pp;
	if (e == NULL)
		return;
	Ttrpc__Response *r = ttrpc__response__unpack(NULL, len, body);
	if (r != NULL && r->status != NULL && r->status->code != 0)
		log_warn("events: %s refused: %s", e->topic, r->status->message ? r->status->message : "");
	if (r != NULL)
		ttrpc__response__free_unpacked(r, NULL);
	*pp = e->next;
	if (ev.tail == &e->next)
		ev.tail = pp;
	ev.queued--;
	event_free(e);
}

static void on_conn(struct watch *w, uint32_t events)
{
	if ((events & EPOLLOUT) && !flush_out())
		return;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	uint8_t buf[4096];
	ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		disconnect(n == 0 ? "closed by the daemon" : strerror(errno));
		return;
	}
	ttrpc_reader_feed(&ev.rd, buf, (size_t)n);
	struct ttrpc_header h;
	const uint8_t *body;
	enum ttrpc_read r;
	while ((r = ttrpc_reader_next(&ev.rd, &h, &body)) != TTRPC_READ_MORE)
		if (r == TTRPC_READ_FRAME && h.type == TTRPC_RESPONSE)
			acked(h.stream, body, h.length);
}

static bool try_connect(void)
{
	if (ev.conn.fd >= 0)
		return true;
	if (ev.address == NULL)
		return false;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = ev.address;
	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	if (strlen(path) >= sizeof sa.sun_path)
		return false;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	/* a unix socket connects at once or fails (EAGAIN: backlog full, try later) */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		log_debug("events: connect %s: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	ev.conn.fd = fd;
	ev.conn.fn = on_conn;
	ev.next_stream = 1;
	if (!loop_add(&ev.conn, EPOLLIN)) {
		close(fd);
		ev.conn.fd = -1;
		return false;
	}
	log_debug("events: connected to %s", path);
	return true;
}

static void on_timer(struct watch *w, uint32_t events)
{
	uint64_t ticks;
	ssize_t r = read(w->fd, &ticks, sizeof ticks);
	(void)r;
	if (ev.head == NULL) {
		arm_timer(false);
		return;
	}
	if (try_connect()) {
		arm_timer(false);
		send_pending();
	}
}

void events_init(const char *ttrpc_address, const char *ns)
{
	ev.address = ttrpc_address && *ttrpc_address ? xstrdup(ttrpc_address) : NULL;
	ev.ns = xstrdup(ns);
	ev.tail = &ev.head;
	ev.timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.timer.fn = on_timer;
	if (ev.timer.fd >= 0)
		loop_add(&ev.timer, EPOLLIN);
	if (ev.address == NULL)
		log_warn("events: TTRPC_ADDRESS not set: task events are not published");
}

static uint8_t *pack_envelope(const char *topic, const ProtobufCMessage *event, size_t *len)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
		CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
	Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	struct timespec now = now_realtime();

	ts.seconds = now.tv_sec;
	ts.nanos = (int32_t)now.tv_nsec;
	any.type_url = (char *)event->descriptor->name;   /* e.g. containerd.events.TaskExit, as typeurl names it */
	any.value.len = protobuf_c_message_get_packed_size(event);
	any.value.data = xmalloc(any.value.len);
	protobuf_c_message_pack(event, any.value.data);
	env.timestamp = &ts;
	env.namespace_ = ev.ns;
	env.topic = (char *)topic;
	env.event = &any;
	req.envelope = &env;
	*len = protobuf_c_message_get_packed_size(&req.base);
	uint8_t *out = xmalloc(*len);
	protobuf_c_message_pack(&req.base, out);
	free(any.value.data);
	return out;
}

void events_publish(const char *topic, const ProtobufCMessage *event)
{
	log_debug("event %s", topic);
	if (ev.address == NULL)
		return;
	if (ev.queued >= MAX_QUEUED) {
		struct event *old = ev.head;
		log_warn("events: queue full, dropping %s", old->topic);
		ev.head = old->next;
		if (ev.head == NULL)
			ev.tail = &ev.head;
		ev.queued--;
		event_free(old);
	}
	struct event *e = xcalloc(1, sizeof *e);
	e->topic = xstrdup(topic);
	e->payload = pack_envelope(topic, event, &e->len);
	*ev.tail = e;
	ev.tail = &e->next;
	ev.queued++;
	if (try_connect())
		send_pending();
	else
		arm_timer(true);
}

void events_flush(int timeout_ms)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (ev.head != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			break;
		if (!try_connect()) {
			poll(NULL, 0, 100);
			continue;
		}
		send_pending();
		if (ev.conn.fd < 0)
			continue;
		struct pollfd p = {.fd = ev.conn.fd, .events = POLLIN | (ev.out != NULL ? POLLOUT : 0)};
		if (poll(&p, 1, (int)(timeout_ms - spent)) <= 0)
			break;
		uint32_t re = 0;
		if (p.revents & POLLIN)
			re |= EPOLLIN;
		if (p.revents & POLLOUT)
			re |= EPOLLOUT;
		if (p.revents & (POLLHUP | POLLERR))
			re |= EPOLLHUP;
		on_conn(&ev.conn, re);
	}
	if (ev.head != NULL)
		log_warn("events: %zu event(s) not delivered at exit", ev.queued);
}
