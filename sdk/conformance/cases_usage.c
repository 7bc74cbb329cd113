/* Disk use (snapshotter.h usage, containerd's snapshots.Usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_util.h"
#include "cases.h"
#include "files.h"
#include "util/mem.h"

#define R_GROWS "snapshotter.h usage: an ACTIVE snapshot's usage is measured now: it grows by what is written"
#define R_STABLE "snapshotter.h usage: a COMMITTED snapshot's usage does not change (its content never does)"
#define R_OWN "snapshotter.h usage: disk use of a snapshot of any kind"

#define MIB (1024 * 1024)

/* Incompressible bytes, so no filesystem stores them in fewer blocks. */
static char *noise(size_t n, unsigned seed)
{
	char *b = xmalloc(n);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char)(seed >> 16);
	}
	return b;
}

static bool write_noise(struct tcase *t, const char *dir, const char *rel, size_t n)
{
	autofree char *b = noise(n, (unsigned)n);
	return TC_CHECK(t, files_write(dir, rel, b, n) == 0, "snapshotter.h: an ACTIVE snapshot is writable",
	                "write %zu bytes to `%s`", n, rel);
}

void case_usage_active(struct tcase *t)
{
	struct ucd_snapshot_usage u0 = {0}, u1 = {0};
	const char *dir = prepare_mounted(t, "a", NULL);
	if (dir == NULL || !EXPECT_OK(t, sn_usage(t, "a", &u0), R_GROWS, "usage of fresh `a`"))
		return;
	bool ok = write_noise(t, dir, "one-mib", MIB);
	ok = ok && tc_write(t, dir, "small-1", "1") && tc_write(t, dir, "small-2", "2") && files_mkdir(dir, "d") == 0;
	if (!ok)
		return;
	if (EXPECT_OK(t, sn_usage(t, "a", &u1), R_GROWS, "usage of `a` while mounted")) {
		TC_CHECK(t, u1.size - u0.size >= MIB, R_GROWS,
		         "`a` grew by %lld bytes after 1 MiB was written (from %lld to %lld)",
		         (long long)(u1.size - u0.size), (long long)u0.size, (long long)u1.size);
		TC_CHECK(t, u1.inodes - u0.inodes >= 4, R_GROWS,
		         "`a` grew by %lld inodes after 3 files and a directory were created",
		         (long long)(u1.inodes - u0.inodes));
	}
	tc_unmount(t, dir);
	struct ucd_snapshot_usage u2 = {0};
	if (EXPECT_OK(t, sn_usage(t, "a", &u2), R_GROWS, "usage of `a` after unmount"))
		TC_CHECK(t, u2.size - u0.size >= MIB, R_GROWS, "`a` reports %lld bytes after unmount, %lld before writing",
		         (long long)u2.size, (long long)u0.size);
}

void case_usage_committed(struct tcase *t)
{
	const char *dir = prepare_mounted(t, "a", NULL);
	if (dir == NULL || !write_noise(t, dir, "quarter", MIB / 4))
		return;
	tc_unmount(t, dir);
	if (!EXPECT_OK(t, sn_commit(t, "c", "a", NULL, 0), R_SETUP, "commit `a` as `c`"))
		return;
	struct ucd_snapshot_usage c1 = {0}, c2 = {0}, c3 = {0}, child = {0};
	if (!EXPECT_OK(t, sn_usage(t, "c", &c1), R_STABLE, "usage of `c`"))
		return;
	TC_CHECK(t, c1.size >= MIB / 4, R_STABLE, "`c` reports %lld bytes; 256 KiB were written to it",
	         (long long)c1.size);
	tc_sleep_ms(10);
	if (EXPECT_OK(t, sn_usage(t, "c", &c2), R_STABLE, "usage of `c` again"))
		TC_CHECK(t, c1.size == c2.size && c1.inodes == c2.inodes, R_STABLE,
		         "`c` reported %lld bytes / %lld inodes, then %lld / %lld", (long long)c1.size,
		         (long long)c1.inodes, (long long)c2.size, (long long)c2.inodes);
	/* A child writes on top: its parent's usage does not change, and the
	 * child's grows by what it wrote (a copying snapshotter may count the
	 * parent's copy in the child too, as containerd's native does, so only
	 * the growth is checked). */
	if ((dir = prepare_mounted(t, "child", "c")) == NULL)
		return;
	struct ucd_snapshot_usage fresh = {0};
	if (!EXPECT_OK(t, sn_usage(t, "child", &fresh), R_OWN, "usage of fresh `child`"))
		return;
	write_noise(t, dir, "half", MIB / 2);
	tc_unmount(t, dir);
	if (EXPECT_OK(t, sn_usage(t, "c", &c3), R_STABLE, "usage of `c` after its child wrote"))
		TC_CHECK(t, c1.size == c3.size && c1.inodes == c3.inodes, R_STABLE,
		         "`c` reported %lld bytes / %lld inodes, after its child wrote %lld / %lld", (long long)c1.size,
		         (long long)c1.inodes, (long long)c3.size, (long long)c3.inodes);
	if (EXPECT_OK(t, sn_usage(t, "child", &child), R_GROWS, "usage of `child`"))
		TC_CHECK(t, child.size - fresh.size >= MIB / 2, R_GROWS,
		         "`child` reports %lld bytes after 512 KiB were written, %lld before",
		         (long long)child.size, (long long)fresh.size);
	/* Usage of a view answers too. */
	EXPECT_OK(t, sn_view(t, "v", "c", NULL, 0, NULL), R_SETUP, "view `v` on `c`");
	EXPECT_OK(t, sn_usage(t, "v", NULL), "snapshotter.h usage: disk use of a snapshot of any kind", "usage of view `v`");
}
