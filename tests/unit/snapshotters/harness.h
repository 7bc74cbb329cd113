/* What the snapshotter tests share: loading a snapshotter plugin through
 * the real registry, calling its ops, mounting what it returns. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/ucontainerd.h>

/* TAP checks with one counter for all files (tap.h's counters are per
 * file). */
int t_check(int ok, const char *what, const char *file, int line);
int t_check_str(const char *a, const char *b, const char *what, const char *file, int line);
int t_done(void);
#define CHECK(cond) t_check(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(a, b) t_check_str((a), (b), #a, __FILE__, __LINE__)

struct subj {
	struct registry *reg;
	const struct ucd_host *host;
	const struct ucd_snapshotter_ops *ops;
	void *self;
	const char *uri;
	const char *id;      /* "overlayfs" or "native" */
	char root[512];      /* the daemon root given to the registry */
	char plugin_root[640];
};

/* A scratch directory for the whole run (removed at exit). */
extern char tmpdir[256];

/* Loads plugin `id` (a .so of the build) with daemon root `root`, plugin
 * settings `toml` (the table body; NULL: none). *s->ops is NULL when it
 * did not load `ok`; then status/message say why. */
void subj_open(struct subj *s, const char *id, const char *root, const char *toml);
void subj_close(struct subj *s);
/* Status name and message of the plugin in s->reg. */
const char *subj_status(const struct subj *s);
const char *subj_message(const struct subj *s);

/* Op wrappers: return 0 or the error class (positive), freeing the error;
 * the last message is kept in last_msg. */
extern char last_msg[1024];
int sn_prepare(struct subj *s, const char *key, const char *parent, struct ucd_mounts *m);
int sn_prepare_labels(struct subj *s, const char *key, const char *parent, const struct ucd_label *l, size_t n,
		      struct ucd_mounts *m);
int sn_view(struct subj *s, const char *key, const char *parent, struct ucd_mounts *m);
int sn_commit(struct subj *s, const char *name, const char *key);
int sn_commit_labels(struct subj *s, const char *name, const char *key, const struct ucd_label *l, size_t n);
int sn_remove(struct subj *s, const char *key);
int sn_stat(struct subj *s, const char *key, struct ucd_snapshot_info *info);
int sn_mounts(struct subj *s, const char *key, struct ucd_mounts *m);
int sn_usage(struct subj *s, const char *key, struct ucd_snapshot_usage *u);
int sn_cleanup(struct subj *s);
void sn_mounts_free(struct subj *s, struct ucd_mounts *m);
void sn_info_free(struct subj *s, struct ucd_snapshot_info *i);
const char *info_label(const struct ucd_snapshot_info *i, const char *key);

/* Mounts `m` on a fresh directory and returns its path (static storage,
 * valid until the next call), NULL on failure (reason printed). Every
 * mount is undone by unmount_all(), also at exit. */
const char *mount_at(const struct ucd_mounts *m, const char *name);
void unmount_one(const char *target);
void unmount_all(void);
/* The option string mount(2) gets for an overlay (all but ro/rw). */
void mount_data(const struct ucd_mount *m, char *buf, size_t n, bool *ro);

/* Files. */
int write_file(const char *dir, const char *rel, const char *content);
/* Contents of dir/rel (static storage), NULL when unreadable. */
const char *read_file(const char *dir, const char *rel);
bool exists(const char *dir, const char *rel);
int count_entries(const char *dir);
void rm_rf(const char *path);

/* The test sections. */
void test_common(const char *id);
void test_overlay(void);
void test_overlay_skip(void);
void test_native(void);
