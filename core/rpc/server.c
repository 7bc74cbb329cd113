/* The listening socket, the method table and the server's lifetime. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc/frame.h"
#include "rpc/internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/unixsock.h"

static void set_limits(struct rpc_server *s, const struct rpc_server_opts *o);

struct rpc_server *rpc_server_new(uv_loop_t *loop, const struct rpc_server_opts *opts, struct ucd_error **err)
{
	struct sockaddr_un sa;
	if (opts->address == NULL || opts->address[0] == 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "grpc address must not be empty"), NULL;
	if (strlen(opts->address) >= sizeof sa.sun_path)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "socket path `%s` is longer than %zu bytes",
				 opts->address, sizeof sa.sun_path - 1), NULL;
	struct rpc_server *s = xcalloc(1, sizeof *s);
	s->loop = loop;
	s->address = xstrdup(opts->address);
	s->max_recv = opts->max_recv_message_size ? opts->max_recv_message_size : 16 << 20;
	s->max_send = opts->max_send_message_size ? opts->max_send_message_size : 16 << 20;
	s->uid = opts->uid;
	s->gid = opts->gid;
	s->mode = opts->mode ? opts->mode : 0660;
	set_limits(s, opts);
	list_init(&s->conns);
	list_init(&s->send_waiters);
	list_init(&s->local_calls);
	list_init(&s->local_ready);
	conn_setup_callbacks(s);
	return s;
}

/* The receive budget and the connection cap, made consistent: a message of
 * max_recv_message_size must fit a connection's share and the total, and
 * connections must leave file descriptors for everything else. */
static void set_limits(struct rpc_server *s, const struct rpc_server_opts *o)
{
	size_t one = s->max_recv + GRPC_FRAME_HEADER + RPC_MAX_HEADER_BYTES;   /* one message and its headers */
	s->max_conn_buffered = o->max_conn_recv_buffer ? o->max_conn_recv_buffer : RPC_DEFAULT_MAX_CONN_RECV_BUFFER;
	s->max_buffered = o->max_recv_buffer ? o->max_recv_buffer : RPC_DEFAULT_MAX_RECV_BUFFER;
	if (s->max_conn_buffered < one) {
		if (o->max_conn_recv_buffer)
			log_warn("grpc: max_conn_recv_buffer_size %zu is less than one message of max_recv_message_size "
				 "(%zu) with its headers: raised to %zu", s->max_conn_buffered, s->max_recv, one);
		s->max_conn_buffered = one;
	}
	if (s->max_buffered < s->max_conn_buffered) {
		if (o->max_recv_buffer)
			log_warn("grpc: max_recv_buffer_size %zu is less than max_conn_recv_buffer_size: raised to %zu",
				 s->max_buffered, s->max_conn_buffered);
		s->max_buffered = s->max_conn_buffered;
	}
	size_t one_out = s->max_send + GRPC_FRAME_HEADER;
	s->max_conn_out = o->max_conn_send_buffer ? o->max_conn_send_buffer : RPC_DEFAULT_MAX_CONN_SEND_BUFFER;
	s->max_out = o->max_send_buffer ? o->max_send_buffer : RPC_DEFAULT_MAX_SEND_BUFFER;
	if (s->max_conn_out < one_out) {
		if (o->max_conn_send_buffer)
			log_warn("grpc: max_conn_send_buffer_size %zu is less than one message of max_send_message_size "
				 "(%zu): raised to %zu", s->max_conn_out, s->max_send, one_out);
		s->max_conn_out = one_out;
	}
	if (s->max_out < s->max_conn_out) {
		if (o->max_send_buffer)
			log_warn("grpc: max_send_buffer_size %zu is less than max_conn_send_buffer_size: raised to %zu",
				 s->max_out, s->max_conn_out);
		s->max_out = s->max_conn_out;
	}
	s->max_conns = o->max_connections;
	struct rlimit rl;
	if (s->max_conns > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    s->max_conns > rl.rlim_cur / 2) {
		log_warn("grpc: max_connections %zu lowered to %zu, half the open files limit (RLIMIT_NOFILE %llu): "
			 "shims, content and snapshots need the rest", s->max_conns, (size_t)(rl.rlim_cur / 2),
			 (unsigned long long)rl.rlim_cur);
		s->max_conns = rl.rlim_cur / 2 > 0 ? rl.rlim_cur / 2 : 1;
	}
	s->idle_ms = o->idle_timeout_ms;
}

void server_log_refusal(struct rpc_server *s, struct rpc_refusals *r, const char *fmt, ...)
{
	uint64_t now = uv_now(s->loop);
	r->since++;
	if (r->last_log != 0 && now - r->last_log < RPC_REFUSAL_LOG_MS)
		return;
	va_list ap;
	va_start(ap, fmt);
	autofree char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	if (r->since > 1)
		log_warn("%s (%zu refusals of this kind since the last such line)", msg, r->since);
	else
		log_warn("%s", msg);
	r->last_log = now ? now : 1;
	r->since = 0;
}

size_t rpc_server_buffered(const struct rpc_server *s) { return s->buffered; }

bool server_out_fits(const struct rpc_server *s, const struct rpc_conn *c, size_t n)
{
	return c->out_buffered + n <= RPC_CONN_GUARANTEED ||
	       (c->out_buffered + n <= s->max_conn_out && s->out_buffered + n <= s->max_out);
}

/* The calls waiting to send whose call can now, or has ended. */
static void wake_senders(struct rpc_server *s)
{
	struct list now;
	list_init(&now);
	list_splice_tail_init(&s->send_waiters, &now);
	while (!list_empty(&now)) {
		struct rpc_call *call = list_first_entry(&now, struct rpc_call, waiter_node);
		list_del(&call->waiter_node);
		if (!rpc_call_done(call) && !call_can_reserve(call, call->can_send_ahead, call->can_send_more)) {
			list_add_tail(&s->send_waiters, &call->waiter_node);
			continue;
		}
		void (*fn)(struct rpc_call *, void *) = call->can_send_fn;
		void *arg = call->can_send_arg;
		call->can_send_fn = NULL;
		call->waiting_on = NULL;
		fn(call, arg);
		rpc_call_unref(call);
	}
}

static void on_wake(uv_idle_t *h)
{
	uv_idle_stop(h);
	local_deliver(h->data);
	wake_senders(h->data);
}

void server_wake_soon(struct rpc_server *s)
{
	if (s->wake_open && (!list_empty(&s->send_waiters) || !list_empty(&s->local_ready)))
		uv_idle_start(&s->wake, on_wake);
}

void server_wake_init(struct rpc_server *s)
{
	if (s->wake_open)
		return;
	uv_idle_init(s->loop, &s->wake);
	s->wake.data = s;
	s->wake_open = true;
}

static int cmp_method(const void *a, const void *b)
{
	return strcmp((*(const struct rpc_method *const *)a)->path, (*(const struct rpc_method *const *)b)->path);
}

void rpc_server_register(struct rpc_server *s, const struct rpc_method *methods, size_t n)
{
	s->methods = xrealloc(s->methods, (s->n_methods + n) * sizeof *s->methods);
	for (size_t i = 0; i < n; i++)
		s->methods[s->n_methods++] = &methods[i];
	qsort(s->methods, s->n_methods, sizeof *s->methods, cmp_method);
}

const struct rpc_method *server_find_method(const struct rpc_server *s, const char *path)
{
	if (s->n_methods == 0)
		return NULL;   /* bsearch may not be given a NULL array */
	struct rpc_method key = {.path = path};
	const struct rpc_method *kp = &key;
	const struct rpc_method **m = bsearch(&kp, s->methods, s->n_methods, sizeof *s->methods, cmp_method);
	return m ? *m : NULL;
}

static bool in_service(const char *path, const char *service, size_t n)
{
	return path[0] == '/' && strncmp(path + 1, service, n) == 0 && path[n + 1] == '/';
}

bool rpc_server_has_service(const struct rpc_server *s, const char *service)
{
	size_t n = strlen(service);
	for (size_t i = 0; i < s->n_methods; i++)
		if (in_service(s->methods[i]->path, service, n))
			return true;
	return false;
}

size_t rpc_server_unregister(struct rpc_server *s, const char *service)
{
	size_t n = strlen(service), kept = 0, before = s->n_methods;
	for (size_t i = 0; i < s->n_methods; i++)
		if (!in_service(s->methods[i]->path, service, n))
			s->methods[kept++] = s->methods[i];   /* still sorted */
	s->n_methods = kept;
	return before - kept;
}

size_t rpc_server_connections(const struct rpc_server *s) { return s->n_conns; }

void rpc_server_on_call(struct rpc_server *s, void (*fn)(void *arg), void *arg)
{
	s->on_call = fn;
	s->on_call_arg = arg;
}

/* A socket file that exists: is somebody serving on it? A daemon that is
 * already running must not lose its socket to a second one. */
static int check_existing_socket(const char *path, struct ucd_error **err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : error_set(err, UCD_INTERNAL, errno, "stat `%s`: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s` exists and is not a socket: refusing to replace it", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, UCD_INTERNAL, errno, "socket: %s", strerror(errno));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	int e = errno;
	close(fd);
	if (r == 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
				 "another daemon is already serving on `%s`: refusing to start a second one", path);
	if (e != ECONNREFUSED && e != ENOENT)
		return error_set(err, UCD_INTERNAL, e, "probe `%s`: %s", path, strerror(e));
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(err, UCD_INTERNAL, errno, "remove stale socket `%s`: %s", path, strerror(errno));
	return 0;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct rpc_server *s = l->data;
	if (status < 0) {
		log_warn("accept on %s: %s", s->address, uv_strerror(status));
		return;
	}
	if (!s->closing)
		conn_accept(s);
}

int rpc_server_start(struct rpc_server *s, struct ucd_error **err)
{
	if (check_existing_socket(s->address, err) < 0)
		return -(*err)->code;
	/* The socket appears at its path listening, with its mode and owner
	 * (util/unixsock.h says why not umask or chmod after bind). */
	int fd = unixsock_listen(s->address, s->mode, s->uid, s->gid, RPC_LISTEN_BACKLOG, err);
	if (fd < 0)
		return -(*err)->code;
	uv_pipe_init(s->loop, &s->listener, 0);
	s->listener.data = s;
	int r = uv_pipe_open(&s->listener, fd);
	if (r < 0)
		close(fd);   /* not adopted by the handle */
	else
		r = uv_listen((uv_stream_t *)&s->listener, RPC_LISTEN_BACKLOG, on_connection);
	if (r < 0) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		unlink(s->address);
		return error_set(err, UCD_INTERNAL, -r, "listen on `%s`: %s", s->address, uv_strerror(r));
	}
	s->listening = true;
	server_wake_init(s);
	return 0;
}

static void wake_closed(uv_handle_t *h)
{
	server_handle_closed(h->data);
}

void server_handle_closed(struct rpc_server *s)
{
	if (--s->pending_closes > 0 || !s->closing)
		return;
	if (s->wake_open) {
		/* the last handle: every connection is gone, so every call that
		 * waited to send is over; they hear it now, and in-process
		 * callers get what was left for them and their status */
		local_deliver(s);
		wake_senders(s);
		s->wake_open = false;
		s->pending_closes++;
		uv_close((uv_handle_t *)&s->wake, wake_closed);
		return;
	}
	if (s->close_done != NULL) {
		void (*done)(void *) = s->close_done;
		s->close_done = NULL;
		done(s->close_arg);
	}
}

static void listener_closed(uv_handle_t *h)
{
	server_handle_closed(h->data);
}

void rpc_server_close(struct rpc_server *s, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->close_done = done;
	s->close_arg = arg;
	s->pending_closes++;   /* held until every close below has been started */
	if (s->listening) {
		s->listening = false;
		s->pending_closes++;
		uv_close((uv_handle_t *)&s->listener, listener_closed);
		unlink(s->address);
	}
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &s->conns)
		conn_close(list_entry(pos, struct rpc_conn, node));
	local_end_all(s);
	server_handle_closed(s);
}

void rpc_server_free(struct rpc_server *s)
{
	if (s == NULL)
		return;
	nghttp2_session_callbacks_del(s->callbacks);
	nghttp2_option_del(s->h2_options);
	free(s->methods);
	free(s->address);
	free(s);
}
