/* What only the overlayfs snapshotter does: the shapes of its mounts, deep
 * chains through the one-page limit of mount(2), its labels, and the
 * reasons it skips. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const char *opt(const struct ucd_mount *m, const char *prefix)
{
	for (size_t i = 0; i < m->n_options; i++)
		if (strncmp(m->options[i], prefix, strlen(prefix)) == 0)
			return m->options[i];
	return NULL;
}

static int count_char(const char *s, char c)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == c;
	return n;
}

static void shapes(struct subj *s)
{
	struct ucd_mounts m = {0};
	struct stat st;
	bool index = stat("/sys/module/overlay/parameters/index", &st) == 0;

	CHECK(sn_prepare(s, "o0", NULL, &m) == 0);
	CHECK(m.n == 1 && strcmp(m.v[0].type, "bind") == 0 && opt(&m.v[0], "rw") && opt(&m.v[0], "rbind"));
	CHECK(m.n == 1 && strstr(m.v[0].source, "/snapshots/") && strcmp(strrchr(m.v[0].source, '/'), "/fs") == 0);
	sn_mounts_free(s, &m);
	CHECK(sn_commit(s, "L1", "o0") == 0);

	CHECK(sn_prepare(s, "o1", "L1", &m) == 0);
	CHECK(m.n == 1 && strcmp(m.v[0].type, "overlay") == 0 && strcmp(m.v[0].source, "overlay") == 0);
	if (m.n == 1) {
		CHECK(!index || opt(&m.v[0], "index=off"));
		CHECK(opt(&m.v[0], "workdir=") && opt(&m.v[0], "upperdir="));
		CHECK(opt(&m.v[0], "userxattr") == NULL);   /* not in a user namespace here */
		const char *lower = opt(&m.v[0], "lowerdir=");
		CHECK(lower && count_char(lower, ':') == 0 && strstr(lower, "/l/"));
		printf("# active on one parent: %s\n", lower ? lower : "-");
	}
	sn_mounts_free(s, &m);

	CHECK(sn_view(s, "ov1", "L1", &m) == 0);   /* one parent: a read-only bind of it */
	CHECK(m.n == 1 && strcmp(m.v[0].type, "bind") == 0 && opt(&m.v[0], "ro") && opt(&m.v[0], "rbind"));
	sn_mounts_free(s, &m);

	CHECK(sn_commit(s, "L2", "o1") == 0);
	CHECK(sn_view(s, "ov2", "L2", &m) == 0);   /* two parents: a lower-only overlay */
	CHECK(m.n == 1 && strcmp(m.v[0].type, "overlay") == 0);
	if (m.n == 1) {
		CHECK(opt(&m.v[0], "ro") && !opt(&m.v[0], "upperdir=") && !opt(&m.v[0], "workdir="));
		CHECK(count_char(opt(&m.v[0], "lowerdir="), ':') == 1);
		const char *dir = mount_at(&m, "ov2");
		CHECK(dir != NULL);
		if (dir)
			unmount_one(dir);
	}
	sn_mounts_free(s, &m);
	CHECK(sn_remove(s, "ov2") == 0 && sn_remove(s, "ov1") == 0 && sn_remove(s, "L2") == 0 &&
	      sn_remove(s, "L1") == 0);
}

/* 200 layers, each mounted (beyond about 50 layers through the mounter's
 * shortening of lowerdir, as containerd's mount.All) and showing every file
 * below it; then a view on the whole chain. */
static void deep_chain(struct subj *s)
{
	enum { WANT = 200 };
	char key[32], name[32], parent[32] = "", val[32];
	int depth = 0;   /* committed layers in the chain */
	for (int i = 1; i <= WANT; i++) {
		snprintf(key, sizeof key, "deep-%d", i);
		snprintf(name, sizeof name, "layer-%d", i);
		struct ucd_mounts m = {0};
		if (sn_prepare(s, key, i > 1 ? parent : NULL, &m) != 0) {
			printf("# prepare on %d layers: %s\n", i - 1, last_msg);
			break;
		}
		const char *dir = mount_at(&m, "deep");
		sn_mounts_free(s, &m);
		if (dir == NULL) {
			sn_remove(s, key);
			break;
		}
		snprintf(val, sizeof val, "%d", i);
		bool ok = write_file(dir, name, val) == 0 && write_file(dir, "top", val) == 0;
		if (i > 1) {
			char below[32];
			snprintf(below, sizeof below, "layer-%d", i - 1);
			ok = ok && exists(dir, below) && exists(dir, "layer-1");
		}
		unmount_one(dir);
		if (!ok || sn_commit(s, name, key) != 0)
			break;
		snprintf(parent, sizeof parent, "%s", name);
		depth = i;
	}
	printf("# chain of %d layers with root `%s` (%zu bytes)\n", depth, s->plugin_root, strlen(s->plugin_root));
	CHECK(depth == WANT);
	if (depth >= 2) {
		struct ucd_mounts m = {0};
		CHECK(sn_view(s, "deep-view", parent, &m) == 0);
		const char *dir = m.n ? mount_at(&m, "deep-view") : NULL;
		sn_mounts_free(s, &m);
		CHECK(dir != NULL);
		if (dir != NULL) {
			snprintf(val, sizeof val, "%d", depth);
			CHECK_STR(read_file(dir, "top"), val);
			bool all = true;
			for (int i = 1; i <= depth; i++) {
				snprintf(name, sizeof name, "layer-%d", i);
				snprintf(val, sizeof val, "%d", i);
				const char *c = read_file(dir, name);
				all &= c != NULL && strcmp(c, val) == 0;
			}
			CHECK(all);
			unmount_one(dir);
		}
		CHECK(sn_remove(s, "deep-view") == 0);
	}
	for (int i = depth; i >= 1; i--) {
		snprintf(name, sizeof name, "layer-%d", i);
		CHECK(sn_remove(s, name) == 0);
	}
	CHECK(sn_cleanup(s) == 0);
}

static void upperdir_label(void)
{
	char root[400];
	snprintf(root, sizeof root, "%s/root-label", tmpdir);
	struct subj s;
	subj_open(&s, "overlayfs", root, "upperdir_label = true");
	CHECK_STR(subj_status(&s), "ok");
	if (s.ops != NULL) {
		CHECK(sn_prepare(&s, "a", NULL, NULL) == 0);
		struct ucd_snapshot_info i = {0};
		CHECK(sn_stat(&s, "a", &i) == 0);
		const char *u = info_label(&i, "containerd.io/snapshot/overlay.upperdir");
		CHECK(u != NULL && strncmp(u, s.plugin_root, strlen(s.plugin_root)) == 0);
		sn_info_free(&s, &i);
		CHECK(sn_remove(&s, "a") == 0);
	}
	subj_close(&s);
}

void test_overlay(void)
{
	printf("# ---- overlayfs: mounts, deep chains, labels ----\n");
	char root[400];
	snprintf(root, sizeof root, "%s/root-ovl", tmpdir);
	struct subj s;
	subj_open(&s, "overlayfs", root, NULL);
	if (s.ops != NULL) {
		shapes(&s);
		deep_chain(&s);
	}
	unmount_all();
	subj_close(&s);
	upperdir_label();
}

/* ---- skips ---- */

static void expect_skip(const char *root, const char *why, const char *what)
{
	struct subj s;
	subj_open(&s, "overlayfs", root, NULL);
	CHECK_STR(subj_status(&s), "skip");
	const char *msg = subj_message(&s);
	printf("# %s: %s\n", what, msg ? msg : "(none)");
	CHECK(msg != NULL && strstr(msg, why) != NULL);
	CHECK(!exists(s.plugin_root, "."));   /* a skip leaves no directory behind */
	subj_close(&s);
}


static int run(const char *cmd)
{
	int r = system(cmd);
	if (r != 0)
		printf("# `%s` failed (%d)\n", cmd, r);
	return r;
}

/* Makes a filesystem image of `size` with `mkfs`, loop-mounts it and expects the overlay plugin to skip there with
 * `why`, and the native plugin to work. */
static void no_d_type(const char *fs, const char *size, const char *mkfs, const char *why)
{
	char img[400], mnt[400], cmd[1400], root[500];
	snprintf(img, sizeof img, "%s/%s-no-d_type.img", tmpdir, fs);
	snprintf(mnt, sizeof mnt, "%s/mnt-%s", tmpdir, fs);
	mkdir(mnt, 0755);
	snprintf(cmd, sizeof cmd, "truncate -s %s %s && %s %s", size, img, mkfs, img);
	if (run(cmd) != 0) {
		printf("# SKIP cannot make a %s image without d_type here\n", fs);
		return;
	}
	snprintf(cmd, sizeof cmd, "mount -o loop %s %s", img, mnt);
	if (run(cmd) != 0) {
		printf("# SKIP cannot loop-mount that %s image here (for xfs ftype=0: a kernel without "
		       "CONFIG_XFS_SUPPORT_V4)\n", fs);
		unlink(img);
		return;
	}
	snprintf(root, sizeof root, "%s/root", mnt);
	char what[64];
	snprintf(what, sizeof what, "root on %s without d_type", fs);
	expect_skip(root, why, what);
	struct subj s;
	subj_open(&s, "native", root, NULL);
	CHECK_STR(subj_status(&s), "ok");
	subj_close(&s);
	umount2(mnt, 0);
	unlink(img);
}

void test_overlay_skip(void)
{
	printf("# ---- overlayfs: skip reasons ----\n");
	/* a root on overlayfs cannot hold upper directories */
	char lower[400], upper[400], work[400], merged[400], data[1700], root[500];
	snprintf(lower, sizeof lower, "%s/ovl-lower", tmpdir);
	snprintf(upper, sizeof upper, "%s/ovl-upper", tmpdir);
	snprintf(work, sizeof work, "%s/ovl-work", tmpdir);
	snprintf(merged, sizeof merged, "%s/mnt-ovl-root", tmpdir);
	mkdir(lower, 0755), mkdir(upper, 0755), mkdir(work, 0755), mkdir(merged, 0755);
	snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (mount("overlay", merged, "overlay", 0, data) == 0) {
		snprintf(root, sizeof root, "%s/root", merged);
		expect_skip(root, "is itself on overlayfs", "root on overlayfs");
		umount2(merged, MNT_DETACH);
	} else {
		printf("# cannot make an overlay to test with: %s\n", strerror(errno));
		CHECK(0);
	}

	/* Filesystems without d_type: xfs made with ftype=0 (the operator's
	 * usual case; needs a kernel that still mounts the old v4 format), and
	 * ext4 made without its `filetype` feature (works everywhere). */
	no_d_type("xfs", "512M", "mkfs.xfs -q -f -m crc=0 -n ftype=0",
		  "is on xfs without d_type (ftype=0)");
	no_d_type("ext4", "64M", "mkfs.ext4 -q -F -O ^filetype",
		  "does not report file types in directory entries (d_type)");
}
