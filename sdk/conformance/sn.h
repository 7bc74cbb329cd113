/* Calls into the snapshotter's ops, each wrapped in the checks that every op
 * shares, so that no case can forget them:
 *   - error.h: a failure returns -code with *err set to an error of that
 *     code; a success returns 0 and leaves *err alone;
 *   - types.h: on failure *out is untouched (or released and zeroed); on
 *     success every pointer member is set as documented (mounts have a type
 *     and a source, infos a name and a known kind, labels unique keys, no
 *     parent is NULL not "") and comes from host->alloc (checked when it is
 *     released, see track.h).
 * Each returns 0 on success or the (positive) enum ucd_code of the failure:
 * UCD_UNIMPLEMENTED when the op is NULL, as the daemon would answer. The
 * failure's message is kept for the calling thread (sn_expect shows it).
 * Outputs belong to the caller, who releases them with sn_*_release (which
 * use host->free, as the daemon does); passing NULL for `out` releases them
 * at once. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontainerd/snapshotter.h>

struct tcase;

int sn_stat(struct tcase *t, const char *key, struct ucd_snapshot_info *out);
int sn_prepare(struct tcase *t, const char *key, const char *parent, const struct ucd_label *labels,
               size_t n_labels, struct ucd_mounts *out);
int sn_view(struct tcase *t, const char *key, const char *parent, const struct ucd_label *labels, size_t n_labels,
            struct ucd_mounts *out);
int sn_commit(struct tcase *t, const char *name, const char *key, const struct ucd_label *labels,
              size_t n_labels);
int sn_remove(struct tcase *t, const char *key);
int sn_mounts(struct tcase *t, const char *key, struct ucd_mounts *out);
int sn_usage(struct tcase *t, const char *key, struct ucd_snapshot_usage *out);
int sn_update(struct tcase *t, const struct ucd_snapshot_info *info, const char *const *paths, size_t n_paths,
              struct ucd_snapshot_info *out);
/* Calls fn for each snapshot; fn's non-zero return must stop the walk and be
 * walk's result (returned here as is). */
int sn_walk(struct tcase *t, ucd_snapshot_walk_fn fn, void *arg);
int sn_cleanup(struct tcase *t);

void sn_info_release(struct tcase *t, struct ucd_snapshot_info *i);
void sn_mounts_release(struct tcase *t, struct ucd_mounts *m);

/* The message of the last failed sn_* call on this thread ("" if none). */
const char *sn_last_message(void);
/* "ok", "NotFound", "AlreadyExists", ... */
const char *sn_code_name(int code);

/* Expects `got` (an sn_* result) to equal `want` (0: success). Otherwise
 * records a failure of `rule`: "<what>: got NotFound (`msg`), want ok". */
bool sn_expect(struct tcase *t, int got, int want, const char *rule, const char *what_fmt, ...)
	__attribute__((format(printf, 5, 6)));
#define EXPECT_OK(t, got, rule, ...) sn_expect((t), (got), 0, (rule), __VA_ARGS__)

/* ---- snapshots as the tester keeps them (its own malloc'd copies) ---- */

struct snap {
	char *name, *parent;    /* parent NULL: none */
	int32_t kind;
	size_t n_labels;
	char **keys, **vals;    /* sorted by key */
	int64_t created_at, updated_at;
};

struct snaplist {
	struct snap *v;
	size_t n;
};

void snap_from_info(struct snap *s, const struct ucd_snapshot_info *i);
void snap_fini(struct snap *s);
/* Value of label key, NULL if absent. */
const char *snap_label(const struct snap *s, const char *key);
/* Walks everything into *out (released with snaplist_free). */
int sn_walk_all(struct tcase *t, struct snaplist *out);
void snaplist_free(struct snaplist *l);
/* The first snapshot named name, and how many there are. */
const struct snap *snaplist_find(const struct snaplist *l, const char *name, size_t *count);

/* Compares labels with an expected array (any order); on a mismatch writes
 * what differs into diff. */
bool labels_match(const struct ucd_labels *got, const struct ucd_label *want, size_t n, char *diff, size_t cap);
bool snap_labels_match(const struct snap *got, const struct ucd_label *want, size_t n, char *diff, size_t cap);
const char *sn_kind_name(int32_t kind);
