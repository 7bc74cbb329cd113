#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "files.h"
#include "mnt.h"
#include "tcase.h"
#include "track.h"
#include "util/mem.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

bool tc_fail(struct tcase *t, const char *rule, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *why = vformat(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&t->lock);
	if (t->n_fail < ARRAY_LEN(t->fail))
		t->fail[t->n_fail] = xasprintf("%s: %s", rule, why);
	if (t->n_fail == 0)
		t->first_why = xstrdup(why);
	t->n_fail++;
	pthread_mutex_unlock(&t->lock);
	free(why);
	return false;
}

void tc_skip(struct tcase *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(t->skip);
	t->skip = vformat(fmt, ap);
	va_end(ap);
}

bool tc_failed(struct tcase *t)
{
	pthread_mutex_lock(&t->lock);
	bool f = t->n_fail > 0;
	pthread_mutex_unlock(&t->lock);
	return f;
}

bool tc_open(struct tcase *t)
{
	tc_close(t);
	char *msg = NULL;
	enum instance_outcome o = instance_open(t->subject, t->root, t->state, &t->inst, &msg);
	if (o != INSTANCE_OK)
		tc_fail(t, "plugin.h: init returns 0 for a usable instance",
		        "init on root `%s` %s: %s", t->root, o == INSTANCE_SKIP ? "skipped" : "failed", msg);
	free(msg);
	return o == INSTANCE_OK;
}

void tc_close(struct tcase *t)
{
	instance_close(&t->inst);
}

const char *tc_mount(struct tcase *t, const struct ucd_mounts *m, const char *label)
{
	/* Labels may be odd keys: keep a short, safe file name. */
	char safe[41];
	size_t n = 0;
	for (const char *c = label; *c && n < sizeof safe - 1; c++)
		safe[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		                    *c == '-' || *c == '_' ? *c : '_';
	safe[n] = '\0';
	char *dir = xasprintf("%s/m%u-%s", t->work, ++t->mount_seq, safe);
	if (mkdir(dir, 0755) < 0) {
		tc_fail(t, "tester", "mkdir `%s`: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	char why[1024];
	if (mnt_all(m, dir, why, sizeof why) < 0) {
		tc_fail(t, "types.h: the mounts a snapshotter returns can be given to mount(2) as containerd's mount.All does",
		        "%s: %s", label, why);
		free(dir);
		return NULL;
	}
	t->mounted = xrealloc(t->mounted, (t->n_mounted + 1) * sizeof *t->mounted);
	t->mounted[t->n_mounted++] = dir;
	return dir;
}

void tc_unmount(struct tcase *t, const char *path)
{
	for (size_t i = 0; i < t->n_mounted; i++) {
		if (t->mounted[i] != path && strcmp(t->mounted[i], path) != 0)
			continue;
		char *dir = t->mounted[i];
		t->mounted[i] = t->mounted[--t->n_mounted];
		if (mnt_unmount(dir) < 0)
			tc_fail(t, "tester", "unmount `%s`: %s", dir, strerror(errno));
		free(dir);
		return;
	}
}

void tc_unmount_all(struct tcase *t)
{
	while (t->n_mounted > 0)
		tc_unmount(t, t->mounted[t->n_mounted - 1]);
}

bool tc_write(struct tcase *t, const char *dir, const char *rel, const char *content)
{
	if (files_write(dir, rel, content, strlen(content)) == 0)
		return true;
	return tc_fail(t, "snapshotter.h: an ACTIVE snapshot is a writable filesystem", "write `%s` in the mount of %s: %s",
	               rel, dir, strerror(errno));
}

bool tc_expect_file(struct tcase *t, const char *dir, const char *rel, const char *content, const char *rule)
{
	char *got = NULL;
	if (files_read(dir, rel, &got) < 0) {
		if (content == NULL && errno == ENOENT)
			return true;
		return tc_fail(t, rule, "`%s` in `%s`: %s, want \"%s\"", rel, dir, strerror(errno),
		               content ? content : "(absent)");
	}
	bool ok = content != NULL && strcmp(got, content) == 0;
	if (!ok)
		tc_fail(t, rule, "`%s` in `%s` holds \"%.64s\", want %s%s%s", rel, dir, got, content ? "\"" : "",
		        content ? content : "it absent", content ? "\"" : "");
	free(got);
	return ok;
}

int64_t tc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tc_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void tc_init(struct tcase *t, const struct conf_case *c, const struct subject *s, const char *dir)
{
	memset(t, 0, sizeof *t);
	t->c = c;
	t->subject = s;
	t->dir = xstrdup(dir);
	t->root = xasprintf("%s/root", dir);
	t->state = xasprintf("%s/state", dir);
	t->work = xasprintf("%s/work", dir);
	pthread_mutex_init(&t->lock, NULL);
	t->track_at_start = track_violations();
	if (mkdir(t->dir, 0755) < 0 || mkdir(t->root, 0755) < 0 || mkdir(t->state, 0755) < 0 ||
	    mkdir(t->work, 0755) < 0)
		tc_fail(t, "tester", "cannot create `%s`: %s", dir, strerror(errno));
}

void tc_finish(struct tcase *t, bool keep)
{
	tc_unmount_all(t);
	tc_close(t);
	size_t v = track_violations();
	if (v > t->track_at_start) {
		char buf[512];
		track_violation_text(t->track_at_start, buf, sizeof buf);
		tc_fail(t, "types.h: every pointer an op hands out comes from host->alloc, once",
		        "%zu release(s) of memory host->alloc did not hand out, the first: %s", v - t->track_at_start,
		        buf);
	}
	/* Whatever is still mounted below the case (the plugin's own mounts
	 * included) goes before the directory does. */
	mnt_unmount_under(t->dir);
	if (!keep && files_remove_tree(t->dir) < 0)
		fprintf(stderr, "# could not remove `%s`\n", t->dir);
}

void tc_fini(struct tcase *t)
{
	for (size_t i = 0; i < t->n_fail && i < ARRAY_LEN(t->fail); i++)
		free(t->fail[i]);
	for (size_t i = 0; i < t->n_mounted; i++)
		free(t->mounted[i]);
	free(t->mounted);
	free(t->skip);
	free(t->first_why);
	free(t->dir);
	free(t->root);
	free(t->state);
	free(t->work);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof *t);
}
