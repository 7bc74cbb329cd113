/* One test case while it runs: its directories, the plugin instance it
 * drives, the mounts it made (always undone) and the failures its checks
 * recorded. Checks may run on several threads at once (the concurrency case),
 * so recording is locked.
 *
 * Every failure names the rule of the contract it checks, e.g.
 *   "snapshotter.h errors: commit of a VIEW is FAILED_PRECONDITION: got ok"
 * so that a vendor reads what to fix, not how the tester works. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subject.h"

struct tcase;

struct conf_case {
	const char *name;       /* "group.what", matched by --run globs */
	const char *checks;     /* one line: the rules it checks (--list) */
	bool needs_mount;       /* mounts snapshots: needs root and mount(2) */
	void (*run)(struct tcase *t);
};

struct tcase {
	const struct conf_case *c;
	const struct subject *subject;
	char *dir;              /* <base>/<NN>-<name> */
	char *root, *state;     /* the daemon's root and state the plugin is given */
	char *work;             /* mount points and scratch */
	struct instance inst;
	bool can_mount;         /* root and mount(2) permitted: optional mount steps run */
	size_t track_at_start;  /* allocator violations before the case */

	pthread_mutex_t lock;
	size_t n_fail;
	char *fail[32];         /* the first ones, "rule: why" */
	char *first_why;        /* the first failure without its rule, for the TAP line */
	char *skip;             /* set by tc_skip */

	char **mounted;         /* mount points made by tc_mount, still mounted */
	size_t n_mounted;
	unsigned mount_seq;
};

/* ---- recording ---- */

/* Records a failure of `rule` and returns false (so checks read as
 * `if (!tc_fail (...)) return;`). */
bool tc_fail(struct tcase *t, const char *rule, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define TC_CHECK(t, cond, rule, ...) ((cond) ? true : tc_fail((t), (rule), __VA_ARGS__))
/* The case does not apply to this plugin (e.g. no cleanup op): reported as
 * `ok N - name # SKIP why`. */
void tc_skip(struct tcase *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether anything failed so far (the case may stop early). */
bool tc_failed(struct tcase *t);

/* ---- the plugin instance ---- */

/* Opens a fresh instance on the case's root and state (a failed or skipped
 * init is a failure of the case); closes the current one first. */
bool tc_open(struct tcase *t);
void tc_close(struct tcase *t);

/* ---- mounts ---- */

/* Mounts m at a new directory under work (named after `label`) and returns it
 * (owned by t), or NULL after recording a failure. */
const char *tc_mount(struct tcase *t, const struct ucd_mounts *m, const char *label);
/* Unmounts a directory tc_mount returned (failures are recorded). */
void tc_unmount(struct tcase *t, const char *path);
void tc_unmount_all(struct tcase *t);

/* ---- files in mounted snapshots ---- */

bool tc_write(struct tcase *t, const char *dir, const char *rel, const char *content);
/* Expects dir/rel to hold exactly `content`, or to be absent when content is
 * NULL; a mismatch is a failure of `rule`. */
bool tc_expect_file(struct tcase *t, const char *dir, const char *rel, const char *content, const char *rule);

/* ---- time ---- */

int64_t tc_now_ns(void);
void tc_sleep_ms(unsigned ms);

/* ---- life cycle, for main.c ---- */

void tc_init(struct tcase *t, const struct conf_case *c, const struct subject *s, const char *dir);
/* Unmounts, closes, checks the allocator, removes the directory unless keep. */
void tc_finish(struct tcase *t, bool keep);
void tc_fini(struct tcase *t);
