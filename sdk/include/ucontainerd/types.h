/* ucontainerd plugin SDK: the small value types the plugin kinds share
 * (labels, mounts) and the rules for who frees what. ABI 1.1.
 *
 * Ownership across the plugin boundary:
 *  - What the daemon passes IN to an op (strings, label arrays) is borrowed
 *    for the duration of the call; copy what you keep.
 *  - What an op hands OUT (every `*out` struct member that is a pointer) is
 *    allocated with host->alloc, member by member, and the daemon releases it
 *    with the ucd_*_release() helpers below (which call host->free). Unset
 *    members are NULL / 0. On failure an op leaves *out untouched, or fully
 *    released and zeroed.
 */
#ifndef UCONTAINERD_TYPES_H
#define UCONTAINERD_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One label. In a borrowed array (an op's input) the strings are const
 * borrowed; in an array an op hands out, both strings and the array come
 * from host->alloc. Keys are unique within one array. */
struct ucd_label {
	char *key;
	char *value;
};

struct ucd_labels {
	struct ucd_label *v;
	size_t n;
};

/* A mount as containerd's `containerd.types.Mount`: what mount(8) would be
 * given, e.g.
 *   { "overlay", "overlay", { "index=off", "lowerdir=/a:/b", "upperdir=/u", "workdir=/w" } }
 *   { "bind", "/var/lib/.../snapshots/3/fs", { "rbind", "rw" } }
 * `target` is unused by snapshotters (NULL). */
struct ucd_mount {
	char *type;
	char *source;
	char *target;
	char **options;
	size_t n_options;
};

struct ucd_mounts {
	struct ucd_mount *v;
	size_t n;
};

/* Release helpers: free every member with `free_fn` (pass host->free) and
 * zero the struct. NULL members are fine. */
static inline void ucd_labels_release(void (*free_fn)(void *), struct ucd_labels *l)
{
	for (size_t i = 0; l->v != NULL && i < l->n; i++) {
		free_fn(l->v[i].key);
		free_fn(l->v[i].value);
	}
	free_fn(l->v);
	l->v = NULL;
	l->n = 0;
}

static inline void ucd_mounts_release(void (*free_fn)(void *), struct ucd_mounts *m)
{
	for (size_t i = 0; m->v != NULL && i < m->n; i++) {
		free_fn(m->v[i].type);
		free_fn(m->v[i].source);
		free_fn(m->v[i].target);
		for (size_t j = 0; m->v[i].options != NULL && j < m->v[i].n_options; j++)
			free_fn(m->v[i].options[j]);
		free_fn(m->v[i].options);
	}
	free_fn(m->v);
	m->v = NULL;
	m->n = 0;
}

#ifdef __cplusplus
}
#endif

#endif
