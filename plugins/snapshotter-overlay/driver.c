/* The overlay driver of the snapshot store: what a snapshot's directory
 * holds and how it is mounted, as containerd's overlay snapshotter does:
 *
 *   no parent                  bind of its fs ("rw"/"ro", "rbind")
 *   VIEW on one parent         read-only bind of the parent's fs
 *   otherwise                  overlay: [index=off] [userxattr]
 *                              ACTIVE: workdir=, upperdir=, lowerdir=
 *                              VIEW:   lowerdir= only, and "ro"
 *
 * lowerdir lists the parents newest first, each as <root>/l/<short>, a
 * symlink to its fs: a name of a few bytes instead of containerd's
 * <root>/snapshots/<id>/fs, so that about 60 layers fit into the one page
 * of options mount(2) copies even for mounters that pass the options
 * unchanged; mounters that shorten long lists as containerd's mount.All
 * does (relative to the common directory <root>/l) go to the kernel's
 * limit of 500 lower layers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"

#define UPPERDIR_LABEL "containerd.io/snapshot/overlay.upperdir"

void ovl_short_name(uint64_t id, char *buf)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char tmp[16];
	size_t n = 0;
	do {
		tmp[n++] = digits[id % 36];
		id /= 36;
	} while (id != 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

static uint64_t parse_short(const char *p)
{
	uint64_t v = 0;
	if (*p == '\0' || strlen(p) > 12)
		return 0;
	for (; *p; p++) {
		int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : -1;
		if (d < 0)
			return 0;
		v = v * 36 + (uint64_t)d;
	}
	return v;
}

static int make_link(struct ovl *o, uint64_t id)
{
	char name[16], target[48];
	ovl_short_name(id, name);
	snprintf(target, sizeof target, "../snapshots/%llu/fs", (unsigned long long)id);
	if (symlinkat(target, o->links_fd, name) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	/* a stale link of a removed snapshot with the same id cannot exist
	 * (ids are never reused), but a hand-made one could: replace it */
	unlinkat(o->links_fd, name, 0);
	return symlinkat(target, o->links_fd, name) == 0 ? 0 : -errno;
}

static int ovl_create(struct snst *s, const char *dir, uint64_t id, int kind, const uint64_t *parents,
		      size_t n_parents, struct ucd_error **err)
{
	struct ovl *o = snst_driver_arg(s);
	const struct ucd_host *h = o->host;
	int r = 0;
	char *fs = snst_printf(h, "%s/fs", dir);
	char *work = snst_printf(h, "%s/work", dir);
	if ((r = snst_mkdir_exact(s, fs, 0755)) < 0) {
		r = snst_errno(h, err, -r, "cannot create `%s`", fs);
		goto out;
	}
	if (kind == UCD_SNAPSHOT_ACTIVE && (r = snst_mkdir_exact(s, work, 0711)) < 0) {
		r = snst_errno(h, err, -r, "cannot create `%s`", work);
		goto out;
	}
	if (n_parents > 0) {
		/* The new upper directory belongs to whoever owns the parent's
		 * root (containerd does the same): the merged root keeps its
		 * owner once the upper directory is copied up. */
		char *pfs = snst_dir(s, parents[0], "/fs");
		struct stat st;
		if (stat(pfs, &st) != 0)
			r = snst_errno(h, err, errno, "failed to stat parent `%s`", pfs);
		else if ((st.st_uid != geteuid() || st.st_gid != getegid()) && lchown(fs, st.st_uid, st.st_gid) != 0)
			r = snst_errno(h, err, errno, "failed to chown `%s`", fs);
		h->free(pfs);
		if (r < 0)
			goto out;
	}
	if (kind == UCD_SNAPSHOT_ACTIVE) {
		int e = make_link(o, id);
		if (e < 0) {
			char name[16];
			ovl_short_name(id, name);
			r = snst_errno(h, err, -e, "cannot create `%s/%s`", o->links, name);
		}
	}
out:
	h->free(fs);
	h->free(work);
	return r;
}

static void ovl_removed(struct snst *s, uint64_t id)
{
	struct ovl *o = snst_driver_arg(s);
	char name[16];
	ovl_short_name(id, name);
	unlinkat(o->links_fd, name, 0);
}

static int ovl_mounts(struct snst *s, uint64_t id, int kind, const uint64_t *parents, size_t n_parents,
		      struct ucd_mounts *out, struct ucd_error **err)
{
	(void)err;   /* never fails */
	struct ovl *o = snst_driver_arg(s);
	const struct ucd_host *h = o->host;
	bool view = kind == UCD_SNAPSHOT_VIEW;
	if (n_parents == 0 || (view && n_parents == 1)) {
		char *src = snst_dir(s, n_parents ? parents[0] : id, "/fs");
		const char *opts[] = {view ? "ro" : "rw", "rbind"};
		snst_mount_add(h, out, "bind", src, opts, 2);
		h->free(src);
		return 0;
	}
	const char *opts[6];
	char *own[3] = {NULL, NULL, NULL};
	size_t n = 0;
	if (o->f.index_off)
		opts[n++] = "index=off";
	if (o->f.userxattr)
		opts[n++] = "userxattr";
	if (!view) {
		opts[n++] = own[0] = snst_printf(h, "workdir=%s/snapshots/%llu/work", o->root, (unsigned long long)id);
		opts[n++] = own[1] = snst_printf(h, "upperdir=%s/snapshots/%llu/fs", o->root, (unsigned long long)id);
	}
	/* lowerdir=<links>/<a>:<links>/<b>:... */
	size_t links_len = strlen(o->links), cap = 16 + n_parents * (links_len + 16);
	char *lower = h->alloc(cap);
	size_t len = (size_t)snprintf(lower, cap, "lowerdir=");
	for (size_t i = 0; i < n_parents; i++) {
		char name[16];
		ovl_short_name(parents[i], name);
		len += (size_t)snprintf(lower + len, cap - len, "%s%s/%s", i ? ":" : "", o->links, name);
	}
	opts[n++] = own[2] = lower;
	/* No refusal when this is longer than the one page mount(2) copies:
	 * as with containerd, the mounter shortens a long lowerdir list
	 * (containerd's mount.All changes to the common directory, here
	 * <root>/l, and passes the short names relative to it). */
	if (view)
		opts[n++] = "ro";
	snst_mount_add(h, out, "overlay", "overlay", opts, n);
	for (size_t i = 0; i < 3; i++)
		h->free(own[i]);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Drops links of snapshots that are gone, recreates missing ones. */
static void ovl_sweep(struct snst *s, const uint64_t *ids, size_t n_ids)
{
	struct ovl *o = snst_driver_arg(s);
	int fd = openat(o->links_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* not dup: its offset would be shared */
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char (*stale)[16] = NULL;
	size_t n_stale = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		uint64_t id = parse_short(e->d_name);   /* 0: not a name we make */
		if (id == 0 || bsearch(&id, ids, n_ids, sizeof *ids, cmp_u64) != NULL)
			continue;
		char(*v)[16] = o->host->alloc((n_stale + 1) * sizeof *v);
		if (n_stale)
			memcpy(v, stale, n_stale * sizeof *v);
		o->host->free(stale);
		stale = v;
		memcpy(stale[n_stale++], e->d_name, strlen(e->d_name) + 1);   /* <= 12 bytes: parse_short */
	}
	closedir(d);
	for (size_t i = 0; i < n_stale; i++)
		unlinkat(o->links_fd, stale[i], 0);
	o->host->free(stale);
	for (size_t i = 0; i < n_ids; i++) {
		char name[16];
		struct stat st;
		ovl_short_name(ids[i], name);
		if (fstatat(o->links_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			make_link(o, ids[i]);
	}
}

static void ovl_decorate(struct snst *s, uint64_t id, struct ucd_snapshot_info *info)
{
	struct ovl *o = snst_driver_arg(s);
	if (!o->upperdir_label)
		return;
	const struct ucd_host *h = o->host;
	char *upper = snst_dir(s, id, "/fs");
	for (size_t i = 0; i < info->labels.n; i++)
		if (strcmp(info->labels.v[i].key, UPPERDIR_LABEL) == 0) {
			h->free(info->labels.v[i].value);
			info->labels.v[i].value = upper;
			return;
		}
	struct ucd_label *v = h->alloc((info->labels.n + 1) * sizeof *v);
	if (info->labels.n)
		memcpy(v, info->labels.v, info->labels.n * sizeof *v);
	h->free(info->labels.v);
	info->labels.v = v;
	v[info->labels.n].key = snst_strdup(h, UPPERDIR_LABEL);
	v[info->labels.n].value = upper;
	info->labels.n++;
}

const struct snst_driver ovl_driver = {
	.name = "overlayfs",
	.usage_subdir = "fs",
	.create = ovl_create,
	.mounts = ovl_mounts,
	.removed = ovl_removed,
	.sweep = ovl_sweep,
	.decorate = ovl_decorate,
};
