/* The event loop: epoll over watches, level-triggered.
 *
 * A callback may close any watch, including ones whose events are still in
 * the current batch: loop_close() sets fd to -1 (those events are then
 * skipped) and objects are freed with loop_free_later(), after the batch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "shim.h"

static int epfd = -1;
static bool running;
static void **garbage;
static size_t n_garbage, cap_garbage;

int loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -1 : 0;
}

bool loop_add(struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0)
		return true;
	log_warn("epoll add fd %d: %s", w->fd, strerror(errno));
	return false;
}

bool loop_mod(struct watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0;
}

void loop_close(struct watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);   /* fails harmlessly when it was never added */
	close(w->fd);
	w->fd = -1;
}

void loop_remove(struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void loop_free_later(void *p)
{
	if (n_garbage == cap_garbage) {
		cap_garbage = cap_garbage ? cap_garbage * 2 : 8;
		garbage = xrealloc(garbage, cap_garbage * sizeof *garbage);
	}
	garbage[n_garbage++] = p;
}

static void collect(void)
{
	for (size_t i = 0; i < n_garbage; i++)
		free(garbage[i]);
	n_garbage = 0;
}

void loop_run(void)
{
	struct epoll_event evs[16];
	running = true;
	while (running) {
		int n = epoll_wait(epfd, evs, (int)ARRAY_LEN(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			if (w->fd >= 0)
				w->fn(w, evs[i].events);
		}
		collect();
	}
}

void loop_stop(void)
{
	running = false;
}
