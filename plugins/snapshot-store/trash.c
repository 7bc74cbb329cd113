/* The trash: remove() renames a snapshot's directory into <root>/trash (one
 * rename, cheap and atomic) and a background thread deletes the trees
 * there. cleanup() waits until the thread has caught up. A tree the thread
 * has not finished when the plugin closes stays in the trash and is deleted
 * after the next start, so nothing leaks across restarts or crashes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snst_int.h"

int snst_trash_open(struct snst_trash *t, const struct ucd_host *h, const struct ucd_init_ctx *ic,
		    const char *dir, struct ucd_error **err)
{
	memset(t, 0, sizeof *t);
	t->host = h;
	t->ic = ic;
	t->dirfd = -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->wake, NULL);
	pthread_cond_init(&t->idle_cv, NULL);
	t->work = true;   /* whatever a previous run left */
	int r = snst_mkdir_all(h, dir, 0700, NULL, err);
	if (r < 0)
		return r;
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return snst_errno(h, err, errno, "cannot open `%s`", dir);
	return 0;
}

/* Deletes everything in the trash once; false when stopped or a tree
 * could not be deleted. */
static bool empty_once(struct snst_trash *t)
{
	int fd = openat(t->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* not dup: its offset would be shared */
	if (fd < 0)
		return false;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return false;
	}
	bool ok = true;
	struct dirent *e;
	while (!t->stop && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int r = snst_remove_tree(t->dirfd, e->d_name, &t->stop);
		if (r < 0 && r != -ECANCELED) {
			ok = false;
			t->host->log(t->ic, UCD_LOG_WARN, "cannot delete removed snapshot `trash/%s`: %s", e->d_name,
				     strerror(-r));
		}
	}
	closedir(d);
	return ok && !t->stop;
}

/* Deleting trees is never urgent by itself: at SCHED_IDLE every request's
 * own work (and its client) runs first, which on a small machine is most of
 * a Remove's latency. But SCHED_IDLE gets almost nothing on a CPU kept busy
 * by anything else, so whoever waits for the thread (cleanup(), close())
 * raises it to SCHED_OTHER first; it drops back once nobody waits.
 * Caller holds t->mu. */
static void set_policy(struct snst_trash *t, bool idle)
{
	if (!t->started || t->idle_policy == idle)
		return;
	struct sched_param sp = {0};
	if (pthread_setschedparam(t->thread, idle ? SCHED_IDLE : SCHED_OTHER, &sp) == 0)
		t->idle_policy = idle;
}

static void *reaper(void *arg)
{
	struct snst_trash *t = arg;
	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (!t->stop && !t->work) {
			t->idle = true;
			pthread_cond_broadcast(&t->idle_cv);
			pthread_cond_wait(&t->wake, &t->mu);
		}
		t->idle = false;
		if (t->stop)
			break;
		t->work = false;
		set_policy(t, t->waiters == 0);
		pthread_mutex_unlock(&t->mu);
		empty_once(t);
		pthread_mutex_lock(&t->mu);
	}
	t->idle = true;
	pthread_cond_broadcast(&t->idle_cv);
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

void snst_trash_start(struct snst_trash *t)
{
	pthread_mutex_lock(&t->mu);   /* the thread sets its policy under it, once started is known */
	if (pthread_create(&t->thread, NULL, reaper, t) == 0)
		t->started = true;
	pthread_mutex_unlock(&t->mu);
	if (!t->started)
		t->host->log(t->ic, UCD_LOG_WARN, "cannot start the thread that deletes removed snapshots: "
						  "they are deleted by cleanup only");
}

void snst_trash_close(struct snst_trash *t)
{
	if (t->started) {
		pthread_mutex_lock(&t->mu);
		t->stop = true;
		t->waiters++;
		set_policy(t, false);   /* it must see `stop` soon, busy CPU or not */
		pthread_cond_signal(&t->wake);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->thread, NULL);
	}
	if (t->dirfd >= 0)
		close(t->dirfd);
	pthread_cond_destroy(&t->wake);
	pthread_cond_destroy(&t->idle_cv);
	pthread_mutex_destroy(&t->mu);
}

int snst_trash_move(struct snst_trash *t, int dirfd, const char *name)
{
	char tmp[64];
	pthread_mutex_lock(&t->mu);
	unsigned long long seq = ++t->seq;
	pthread_mutex_unlock(&t->mu);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* unique even across restarts: time of day plus a counter */
	snprintf(tmp, sizeof tmp, "%s-%lld%09ld-%llu", name, (long long)ts.tv_sec, ts.tv_nsec, seq);
	if (renameat(dirfd, name, t->dirfd, tmp) != 0)
		return errno == ENOENT ? 0 : -errno;
	pthread_mutex_lock(&t->mu);
	t->work = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void snst_trash_flush(struct snst_trash *t)
{
	if (!t->started) {
		empty_once(t);
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->work = true;
	t->idle = false;
	t->waiters++;
	set_policy(t, false);
	pthread_cond_signal(&t->wake);
	while (!t->idle)
		pthread_cond_wait(&t->idle_cv, &t->mu);
	t->waiters--;
	pthread_mutex_unlock(&t->mu);
}
