#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "case_util.h"
#include "util/mem.h"

bool expect_snapshot(struct tcase *t, const char *key, int kind, const char *parent, const char *rule)
{
	struct ucd_snapshot_info i = {0};
	if (!EXPECT_OK(t, sn_stat(t, key, &i), rule, "stat `%s`", key))
		return false;
	bool ok = TC_CHECK(t, i.name && strcmp(i.name, key) == 0, rule, "stat `%s` reports name `%s`", key,
	                   i.name ? i.name : "(null)");
	ok = TC_CHECK(t, i.kind == kind, rule, "stat `%s` reports kind %s, want %s", key, sn_kind_name(i.kind),
	              sn_kind_name(kind)) && ok;
	bool parent_ok = parent == NULL ? i.parent == NULL || i.parent[0] == '\0'
	                                : i.parent != NULL && strcmp(i.parent, parent) == 0;
	ok = TC_CHECK(t, parent_ok, rule, "stat `%s` reports parent `%s`, want `%s`", key,
	              i.parent ? i.parent : "(none)", parent ? parent : "(none)") && ok;
	sn_info_release(t, &i);
	return ok;
}

bool expect_absent(struct tcase *t, const char *key, const char *rule)
{
	return sn_expect(t, sn_stat(t, key, NULL), UCD_NOT_FOUND, rule, "stat `%s`", key);
}

bool make_committed(struct tcase *t, const char *name, const char *parent, const struct ucd_label *labels,
                    size_t n_labels)
{
	autofree char *key = xasprintf("%s-active", name);
	return EXPECT_OK(t, sn_prepare(t, key, parent, NULL, 0, NULL), R_SETUP, "prepare `%s` on `%s`", key,
	                 parent ? parent : "(none)") &&
	       EXPECT_OK(t, sn_commit(t, name, key, labels, n_labels), R_SETUP, "commit `%s` as `%s`", key, name);
}

static const char *mount_result(struct tcase *t, int r, struct ucd_mounts *m, const char *what, const char *label)
{
	if (!EXPECT_OK(t, r, R_SETUP, "%s", what))
		return NULL;
	const char *dir = tc_mount(t, m, label);
	sn_mounts_release(t, m);
	return dir;
}

const char *prepare_mounted(struct tcase *t, const char *key, const char *parent)
{
	struct ucd_mounts m = {0};
	autofree char *what = xasprintf("prepare `%s` on `%s`", key, parent ? parent : "(none)");
	return mount_result(t, sn_prepare(t, key, parent, NULL, 0, &m), &m, what, key);
}

const char *view_mounted(struct tcase *t, const char *key, const char *parent)
{
	struct ucd_mounts m = {0};
	autofree char *what = xasprintf("view `%s` on `%s`", key, parent ? parent : "(none)");
	return mount_result(t, sn_view(t, key, parent, NULL, 0, &m), &m, what, key);
}

const char *mounts_mounted(struct tcase *t, const char *key)
{
	struct ucd_mounts m = {0};
	autofree char *what = xasprintf("mounts `%s`", key);
	return mount_result(t, sn_mounts(t, key, &m), &m, what, key);
}

bool mounts_all_ro(const struct ucd_mounts *m)
{
	for (size_t i = 0; i < m->n; i++) {
		bool ro = false;
		for (size_t j = 0; j < m->v[i].n_options && !ro; j++)
			ro = strcmp(m->v[i].options[j], "ro") == 0;
		if (!ro)
			return false;
	}
	return m->n > 0;
}

size_t walk_count(struct tcase *t)
{
	struct snaplist l;
	int r = sn_walk_all(t, &l);
	size_t n = r == 0 ? l.n : SIZE_MAX;
	snaplist_free(&l);
	return n;
}
