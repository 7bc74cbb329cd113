/* What the op files share: waiting for busy records, copying records out,
 * parent chains. All of these are called with snst.mu held. */
#pragma once
#include "snst_int.h"

/* The record named `name` once it is not busy, or NULL; may wait (and so
 * release the lock for a while). */
struct snst_rec *snst_find_settled(struct snst *s, const char *name);
/* Wakes the ops waiting for a busy record. */
void snst_settle(struct snst *s, struct snst_rec *r);
/* Fills *out (host->alloc'ed) from r, then lets the driver decorate it. */
void snst_info_of(struct snst *s, const struct snst_rec *r, struct ucd_snapshot_info *out);
/* The ids of r's ancestors, parent first (host->alloc'ed; *n may be 0). */
uint64_t *snst_chain_of(struct snst *s, const struct snst_rec *r, size_t *n);
/* INVALID_ARGUMENT for a NULL or empty key (no lock needed). */
int snst_check_key(struct snst *s, const char *key, const char *what, struct ucd_error **err);
/* NOT_FOUND, in containerd's words. */
int snst_not_found(struct snst *s, struct ucd_error **err, const char *key);

int snst_op_stat(void *self, const char *key, struct ucd_snapshot_info *out, struct ucd_error **err);
int snst_op_update(void *self, const struct ucd_snapshot_info *info, const char *const *fieldpaths,
		   size_t n_fieldpaths, struct ucd_snapshot_info *out, struct ucd_error **err);
int snst_op_usage(void *self, const char *key, struct ucd_snapshot_usage *out, struct ucd_error **err);
int snst_op_mounts(void *self, const char *key, struct ucd_mounts *out, struct ucd_error **err);
int snst_op_walk(void *self, ucd_snapshot_walk_fn fn, void *arg, struct ucd_error **err);
int snst_op_prepare(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		    size_t n_labels, struct ucd_mounts *out, struct ucd_error **err);
int snst_op_view(void *self, const char *key, const char *parent, const struct ucd_label *labels,
		 size_t n_labels, struct ucd_mounts *out, struct ucd_error **err);
int snst_op_commit(void *self, const char *name, const char *key, const struct ucd_label *labels,
		   size_t n_labels, struct ucd_error **err);
int snst_op_remove(void *self, const char *key, struct ucd_error **err);
int snst_op_cleanup(void *self, struct ucd_error **err);
