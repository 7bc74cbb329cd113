/* Steps several cases share, each recording its own failure. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "sn.h"
#include "tcase.h"

/* Rule named when a step that only builds the scene fails: the plugin could
 * not do something basic the case needs. */
#define R_SETUP "snapshotter.h: prepare, view, commit and remove work on valid input"

/* stat `key` must succeed and report that name, kind and parent (NULL: none). */
bool expect_snapshot(struct tcase *t, const char *key, int kind, const char *parent, const char *rule);
/* stat `key` must answer NOT_FOUND. */
bool expect_absent(struct tcase *t, const char *key, const char *rule);
/* prepare "<name>-active" on parent, commit it as name with labels. */
bool make_committed(struct tcase *t, const char *name, const char *parent, const struct ucd_label *labels,
                    size_t n_labels);
/* prepare key on parent and mount it: the mount point, or NULL. */
const char *prepare_mounted(struct tcase *t, const char *key, const char *parent);
/* view key on parent and mount it: the mount point, or NULL. */
const char *view_mounted(struct tcase *t, const char *key, const char *parent);
/* mounts(key) and mount them: the mount point, or NULL. */
const char *mounts_mounted(struct tcase *t, const char *key);
/* Whether every mount carries the option "ro". */
bool mounts_all_ro(const struct ucd_mounts *m);
/* How many snapshots walk reports (SIZE_MAX on error). */
size_t walk_count(struct tcase *t);
