/* Write-behind for one ingest: the bytes of a chunk go to the file on a
 * thread of the writer's own while the caller hashes them and the daemon
 * answers the client, so the disk write of chunk k overlaps the transfer of
 * chunk k+1 (a Write stream is strictly request/response). At most one
 * chunk is in flight: the next submit, and every wait, waits for it. A
 * failed write is sticky: every later submit and wait reports it, and the
 * ingest is then resumed from what the file really holds (a resume rehashes
 * the file).
 *
 * The data goes to disk with O_DIRECT where the file system allows it: the
 * copy into the page cache is what a large ingest spends most of its time
 * on otherwise, a blob being written does not push other files out of the
 * cache, and the commit's fdatasync finds nothing left to write. Direct
 * writes need aligned offsets and lengths, so up to ALIGN - 1 bytes wait in
 * the buffer for the next chunk, and the last ones (and a head that brings
 * a resumed file to alignment) are written through the page cache. Without
 * O_DIRECT (tmpfs, ...) everything goes through the page cache, with
 * writeback started every WRITEBACK_STEP bytes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writebehind.h"

#define ALIGN 4096
#define WRITEBACK_STEP (8 << 20)

struct cs_wb {
	int fd;             /* the data file, through the page cache */
	int direct;         /* the same file with O_DIRECT, or -1 */
	int64_t pos;        /* file offset of buf[0] */
	int64_t flushed;    /* bytes already handed to writeback (page cache path) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf;          /* ALIGN-aligned */
	size_t len, cap;
	bool pending;       /* the thread has work in buf */
	bool quit;
	int err;            /* errno of the first failed write; sticky */
};

static int pwrite_all(int fd, const char *p, size_t n, int64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(fd, p + done, n - done, (off_t)(off + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? errno : EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Writes buf[0, n) at pos through the page cache and drops it from buf. */
static void write_buffered(struct cs_wb *wb, size_t n)
{
	if (n == 0 || wb->err != 0)
		return;
	if ((wb->err = pwrite_all(wb->fd, wb->buf, n, wb->pos)) != 0)
		return;
	wb->pos += (int64_t)n;
	memmove(wb->buf, wb->buf + n, wb->len - n);
	wb->len -= n;
	if (wb->direct < 0 && wb->pos - wb->flushed >= WRITEBACK_STEP) {
		sync_file_range(wb->fd, wb->flushed, wb->pos - wb->flushed, SYNC_FILE_RANGE_WRITE);
		wb->flushed = wb->pos;
	}
}

/* The thread's part: everything that can go out now. */
static void write_out(struct cs_wb *wb)
{
	if (wb->direct < 0) {
		write_buffered(wb, wb->len);
		return;
	}
	if (wb->pos % ALIGN != 0) {   /* a resumed file: reach alignment first */
		size_t head = (size_t)(ALIGN - wb->pos % ALIGN);
		write_buffered(wb, head < wb->len ? head : wb->len);
	}
	size_t n = wb->len & ~(size_t)(ALIGN - 1);
	if (n == 0 || wb->err != 0 || wb->pos % ALIGN != 0)
		return;
	int e = pwrite_all(wb->direct, wb->buf, n, wb->pos);
	if (e == EINVAL) {   /* this file system wants something else: no O_DIRECT then */
		close(wb->direct);
		wb->direct = -1;
		write_buffered(wb, wb->len);
		return;
	}
	if ((wb->err = e) != 0)
		return;
	wb->pos += (int64_t)n;
	memmove(wb->buf, wb->buf + n, wb->len - n);
	wb->len -= n;
}

static void *run(void *arg)
{
	struct cs_wb *wb = arg;
	pthread_mutex_lock(&wb->mu);
	for (;;) {
		while (!wb->pending && !wb->quit)
			pthread_cond_wait(&wb->cv, &wb->mu);
		if (!wb->pending)
			break;
		/* the buffer is ours until pending drops: write it unlocked */
		pthread_mutex_unlock(&wb->mu);
		write_out(wb);
		pthread_mutex_lock(&wb->mu);
		wb->pending = false;
		pthread_cond_broadcast(&wb->cv);
	}
	pthread_mutex_unlock(&wb->mu);
	return NULL;
}

struct cs_wb *cs_wb_new(int fd, int64_t pos)
{
	struct cs_wb *wb = calloc(1, sizeof *wb);
	if (wb == NULL)
		return NULL;
	wb->fd = fd;
	/* the same inode as `fd` (not whatever the name holds by now), opened
	 * again because O_DIRECT is a property of the open file */
	char self[40];
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	wb->direct = open(self, O_WRONLY | O_DIRECT | O_CLOEXEC);
	wb->pos = wb->flushed = pos;
	pthread_mutex_init(&wb->mu, NULL);
	pthread_cond_init(&wb->cv, NULL);
	if (pthread_create(&wb->thread, NULL, run, wb) != 0) {
		if (wb->direct >= 0)
			close(wb->direct);
		pthread_cond_destroy(&wb->cv);
		pthread_mutex_destroy(&wb->mu);
		free(wb);
		return NULL;
	}
	return wb;
}

/* Waits for the thread; mu held on return. */
static void wait_idle(struct cs_wb *wb)
{
	pthread_mutex_lock(&wb->mu);
	while (wb->pending)
		pthread_cond_wait(&wb->cv, &wb->mu);
}

int cs_wb_wait(struct cs_wb *wb)
{
	wait_idle(wb);
	write_buffered(wb, wb->len);   /* the unaligned rest */
	int e = wb->err;
	pthread_mutex_unlock(&wb->mu);
	return -e;
}

int cs_wb_submit(struct cs_wb *wb, const void *data, size_t n)
{
	wait_idle(wb);
	if (wb->err != 0) {
		int e = wb->err;
		pthread_mutex_unlock(&wb->mu);
		return -e;
	}
	if (wb->cap - wb->len < n) {
		size_t cap = (wb->len + n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
		char *p = NULL;
		if (posix_memalign((void **)&p, ALIGN, cap) != 0) {
			pthread_mutex_unlock(&wb->mu);
			return -ENOMEM;
		}
		if (wb->len > 0)
			memcpy(p, wb->buf, wb->len);
		free(wb->buf);
		wb->buf = p;
		wb->cap = cap;
	}
	memcpy(wb->buf + wb->len, data, n);
	wb->len += n;
	wb->pending = true;
	pthread_cond_signal(&wb->cv);
	pthread_mutex_unlock(&wb->mu);
	return 0;
}

void cs_wb_reset(struct cs_wb *wb, int64_t pos)
{
	wait_idle(wb);
	wb->len = 0;
	wb->pos = wb->flushed = pos;
	wb->err = 0;
	pthread_mutex_unlock(&wb->mu);
}

void cs_wb_free(struct cs_wb *wb)
{
	if (wb == NULL)
		return;
	pthread_mutex_lock(&wb->mu);
	wb->quit = true;
	pthread_cond_signal(&wb->cv);
	pthread_mutex_unlock(&wb->mu);
	pthread_join(wb->thread, NULL);
	if (wb->direct >= 0)
		close(wb->direct);
	pthread_cond_destroy(&wb->cv);
	pthread_mutex_destroy(&wb->mu);
	free(wb->buf);
	free(wb);
}
