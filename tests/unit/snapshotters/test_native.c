/* What only the native snapshotter does: prepare on a parent copies the
 * parent's tree with everything a layer can hold. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "harness.h"

static char *at(const char *dir, const char *rel)
{
	static char bufs[4][1200];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, sizeof bufs[0], "%s/%s", dir, rel);
	return b;
}

static const unsigned char cap_net_raw[20] = {
	/* struct vfs_cap_data, revision 2, effective; permitted = CAP_NET_RAW (13) */
	0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static bool populate(const char *d)
{
	bool ok = true;
	struct timespec old[2] = {{1000000000, 500}, {1000000000, 500}};
	ok &= write_file(d, "f", "hello") == 0;
	ok &= chown(at(d, "f"), 1234, 5678) == 0 && chmod(at(d, "f"), 0640) == 0;
	ok &= setxattr(at(d, "f"), "user.test", "v", 1, 0) == 0;
	ok &= utimensat(AT_FDCWD, at(d, "f"), old, 0) == 0;
	ok &= write_file(d, "suid", "#!/bin/true\n") == 0;
	ok &= chown(at(d, "suid"), 1234, 0) == 0 && chmod(at(d, "suid"), 04755) == 0;
	ok &= setxattr(at(d, "suid"), "security.capability", cap_net_raw, sizeof cap_net_raw, 0) == 0;
	ok &= write_file(d, "h1", "linked") == 0 && link(at(d, "h1"), at(d, "h2")) == 0;
	ok &= symlink("f", at(d, "sl")) == 0 && lchown(at(d, "sl"), 42, 42) == 0;
	ok &= utimensat(AT_FDCWD, at(d, "sl"), old, AT_SYMLINK_NOFOLLOW) == 0;
	ok &= mkfifo(at(d, "fifo"), 0600) == 0;
	ok &= mknod(at(d, "null"), S_IFCHR | 0666, makedev(1, 3)) == 0 && chmod(at(d, "null"), 0666) == 0;
	ok &= mknod(at(d, "sock"), S_IFSOCK | 0644, 0) == 0;
	int fd = open(at(d, "sparse"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok &= fd >= 0 && pwrite(fd, "end", 3, 64 << 20) == 3;
	if (fd >= 0)
		close(fd);
	ok &= mkdir(at(d, "d"), 0755) == 0 && mkdir(at(d, "d/e"), 0755) == 0;
	ok &= write_file(d, "d/e/f2", "deep") == 0;
	ok &= chown(at(d, "d"), 7, 8) == 0 && chmod(at(d, "d"), 0700) == 0;
	ok &= utimensat(AT_FDCWD, at(d, "d"), old, 0) == 0;
	ok &= mkdir(at(d, "empty"), 0755) == 0 && chmod(at(d, "empty"), 01777) == 0;
	ok &= chown(d, 3, 4) == 0 && chmod(d, 0751) == 0;
	if (!ok)
		printf("# populate: %s\n", strerror(errno));
	return ok;
}

static void check_copy(const char *d)
{
	struct stat st, st2;
	CHECK(lstat(d, &st) == 0 && st.st_uid == 3 && st.st_gid == 4 && (st.st_mode & 07777) == 0751);
	CHECK_STR(read_file(d, "f"), "hello");
	CHECK(lstat(at(d, "f"), &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678 && (st.st_mode & 07777) == 0640);
	CHECK(st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 500);
	char v[64] = {0};
	CHECK(getxattr(at(d, "f"), "user.test", v, sizeof v) == 1 && v[0] == 'v');
	CHECK(lstat(at(d, "suid"), &st) == 0 && (st.st_mode & 07777) == 04755 && st.st_uid == 1234);
	unsigned char cap[64];
	ssize_t n = getxattr(at(d, "suid"), "security.capability", cap, sizeof cap);
	CHECK(n == (ssize_t)sizeof cap_net_raw && memcmp(cap, cap_net_raw, sizeof cap_net_raw) == 0);
	CHECK(lstat(at(d, "h1"), &st) == 0 && lstat(at(d, "h2"), &st2) == 0 && st.st_ino == st2.st_ino &&
	      st.st_nlink == 2);
	char t[64] = {0};
	CHECK(readlink(at(d, "sl"), t, sizeof t) == 1 && t[0] == 'f');
	CHECK(lstat(at(d, "sl"), &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid == 42 &&
	      st.st_mtim.tv_sec == 1000000000);
	CHECK(lstat(at(d, "fifo"), &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK(lstat(at(d, "null"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) &&
	      (st.st_mode & 0777) == 0666);
	CHECK(lstat(at(d, "sock"), &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK(lstat(at(d, "sparse"), &st) == 0 && st.st_size == (64 << 20) + 3);
	CHECK(st.st_blocks * 512 < (1 << 20));   /* the hole stayed a hole */
	printf("# sparse copy: %lld bytes allocated for %lld\n", (long long)st.st_blocks * 512,
	       (long long)st.st_size);
	CHECK_STR(read_file(d, "d/e/f2"), "deep");
	CHECK(lstat(at(d, "d"), &st) == 0 && st.st_uid == 7 && (st.st_mode & 07777) == 0700 &&
	      st.st_mtim.tv_sec == 1000000000);
	CHECK(lstat(at(d, "empty"), &st) == 0 && (st.st_mode & 07777) == 01777);
}

void test_native(void)
{
	printf("# ---- native: the copy ----\n");
	char root[400];
	snprintf(root, sizeof root, "%s/root-native-copy", tmpdir);
	struct subj s;
	subj_open(&s, "native", root, NULL);
	if (s.ops == NULL) {
		CHECK(0);
		subj_close(&s);
		return;
	}
	struct ucd_mounts m = {0};
	CHECK(sn_prepare(&s, "p-active", NULL, &m) == 0);
	CHECK(m.n == 1 && strcmp(m.v[0].type, "bind") == 0);
	char parent_dir[600] = "";
	if (m.n == 1)
		snprintf(parent_dir, sizeof parent_dir, "%s", m.v[0].source);
	sn_mounts_free(&s, &m);
	CHECK(populate(parent_dir));
	CHECK(sn_commit(&s, "p", "p-active") == 0);

	CHECK(sn_prepare(&s, "child", "p", &m) == 0);
	if (m.n == 1) {
		CHECK(strcmp(m.v[0].source, parent_dir) != 0);
		CHECK(strcmp(m.v[0].options[0], "rbind") == 0 && strcmp(m.v[0].options[1], "rw") == 0);
		check_copy(m.v[0].source);
		/* the copy is independent of the parent */
		CHECK(write_file(m.v[0].source, "f", "changed") == 0);
		CHECK_STR(read_file(parent_dir, "f"), "hello");
	}
	sn_mounts_free(&s, &m);
	struct ucd_snapshot_usage u = {0};
	CHECK(sn_usage(&s, "child", &u) == 0 && u.inodes >= 13);   /* a copy takes what it holds */

	/* a view on a parent is the parent itself, read-only */
	CHECK(sn_view(&s, "pv", "p", &m) == 0);
	CHECK(m.n == 1 && strcmp(m.v[0].source, parent_dir) == 0 && strcmp(m.v[0].options[1], "ro") == 0);
	sn_mounts_free(&s, &m);
	CHECK(sn_remove(&s, "pv") == 0 && sn_remove(&s, "child") == 0 && sn_remove(&s, "p") == 0);
	CHECK(sn_cleanup(&s) == 0);
	subj_close(&s);
}
