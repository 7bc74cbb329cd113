/* The conformance cases, one function each, grouped in files by what they
 * exercise; the table (cases.c) gives each its name and the rules it checks. */
#pragma once
#include <stddef.h>

#include "tcase.h"

extern const struct conf_case conf_cases[];
extern const size_t conf_n_cases;

/* cases_abi.c */
void case_abi_ops(struct tcase *t);
/* cases_lifecycle.c */
void case_basic_prepare_commit(struct tcase *t);
void case_basic_kinds(struct tcase *t);
void case_prepare_exists(struct tcase *t);
void case_prepare_parent_missing(struct tcase *t);
void case_prepare_parent_not_committed(struct tcase *t);
void case_prepare_empty_key(struct tcase *t);
void case_commit_view(struct tcase *t);
void case_commit_exists(struct tcase *t);
void case_commit_missing(struct tcase *t);
void case_mounts_kinds(struct tcase *t);
void case_remove_parent(struct tcase *t);
void case_unknown_keys(struct tcase *t);
/* cases_content.c */
void case_content_chain(struct tcase *t);
void case_view_readonly(struct tcase *t);
void case_committed_immutable(struct tcase *t);
void case_chain_50(struct tcase *t);
/* cases_labels.c */
void case_labels_create(struct tcase *t);
void case_labels_update(struct tcase *t);
void case_times(struct tcase *t);
/* cases_usage.c */
void case_usage_active(struct tcase *t);
void case_usage_committed(struct tcase *t);
/* cases_walk.c */
void case_walk_exact(struct tcase *t);
void case_walk_filters(struct tcase *t);
void case_walk_stop(struct tcase *t);
/* cases_scale.c */
void case_concurrent(struct tcase *t);
void case_remove_1000(struct tcase *t);
void case_keys_odd(struct tcase *t);
/* cases_persist.c */
void case_cleanup(struct tcase *t);
void case_persist_restart(struct tcase *t);
void case_persist_reboot(struct tcase *t);
