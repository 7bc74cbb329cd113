/* One writer per ref: an in-process table of the refs that have an open
 * writer (or an abort in progress), as containerd's content/local keeps. */
#include <stdio.h>
#include <string.h>

#include "locks.h"

struct cs_lock {
	char *ref;
	int64_t since;
	struct cs_lock *next;
};

/* Go's time.Duration.String() for the lock message: "1.5s", "12.345ms",
 * "2m3.5s". */
static void go_duration(int64_t ns, char *out, size_t cap)
{
	if (ns < 1000) {
		snprintf(out, cap, "%lldns", (long long)ns);
		return;
	}
	const char *unit;
	double v;
	if (ns < 1000000) {
		unit = "µs";
		v = (double)ns / 1e3;
	} else if (ns < 1000000000) {
		unit = "ms";
		v = (double)ns / 1e6;
	} else if (ns < 60 * 1000000000LL) {
		unit = "s";
		v = (double)ns / 1e9;
	} else {
		long long min = ns / (60 * 1000000000LL);
		char rest[32];
		go_duration(ns - min * 60 * 1000000000LL, rest, sizeof rest);
		snprintf(out, cap, "%lldm%s", min, strcmp(rest, "0ns") == 0 ? "0s" : rest);
		return;
	}
	int n = snprintf(out, cap, "%.9f", v);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	snprintf(out + n, cap - (size_t)n, "%s", unit);
}

int cs_lock_take(struct cs *s, const char *ref, struct ucd_error **err)
{
	pthread_mutex_lock(&s->mu);
	for (struct cs_lock *l = s->locks; l != NULL; l = l->next) {
		if (strcmp(l->ref, ref) == 0) {
			int64_t since = l->since;
			pthread_mutex_unlock(&s->mu);
			char dur[48], at[40];
			go_duration(cs_now() - since, dur, sizeof dur);
			cs_format_time(since, at);
			return s->host->error_new(err, UCD_UNAVAILABLE, 0, "ref %s locked for %s (since %s)", ref, dur, at);
		}
	}
	struct cs_lock *l = s->host->alloc(sizeof *l);
	l->ref = cs_strdup(s, ref);
	l->since = cs_now();
	l->next = s->locks;
	s->locks = l;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void cs_lock_release(struct cs *s, const char *ref)
{
	pthread_mutex_lock(&s->mu);
	for (struct cs_lock **p = &s->locks; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->ref, ref) == 0) {
			struct cs_lock *l = *p;
			*p = l->next;
			s->host->free(l->ref);
			s->host->free(l);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

bool cs_lock_held_for_dir(struct cs *s, const char *name)
{
	bool held = false;
	pthread_mutex_lock(&s->mu);
	for (struct cs_lock *l = s->locks; l != NULL && !held; l = l->next) {
		char hex[65];
		cs_sha256_hex(l->ref, strlen(l->ref), hex);
		held = strcmp(hex, name) == 0;
	}
	pthread_mutex_unlock(&s->mu);
	return held;
}

void cs_locks_free(struct cs *s)
{
	while (s->locks != NULL) {
		struct cs_lock *l = s->locks;
		s->locks = l->next;
		s->host->free(l->ref);
		s->host->free(l);
	}
}
