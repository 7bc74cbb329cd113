/* Temporary mounts of snapshot mounts (core/diff/tempmount.c): a plain
 * overlay, a read-only bind, and an overlay on 200 lower directories whose
 * options are far longer than the page mount(2) takes (the deep-image case
 * containerd's mount.All handles by shortening paths). Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "diff/tempmount.h"
#include "harness/tap.h"
#include "util/error.h"
#include "util/mem.h"

static char base[] = "/tmp/ucd-tempmount-XXXXXX";

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("# write %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static bool has(const char *path, const char *text)
{
	char buf[256] = {0};
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return strcmp(buf, text) == 0;
}

/* An overlay on `layers` lower directories with long names; the bottom one
 * holds "bottom", the top one "top". */
static void deep_overlay(int layers, bool readonly)
{
	size_t cap = 64;
	autofree char *lower = xcalloc(1, (size_t)layers * 160 + cap);
	for (int i = layers - 1; i >= 0; i--) {   /* lowerdir lists the top first */
		char dir[160];
		snprintf(dir, sizeof dir, "%s/a-rather-long-directory-name-as-snapshotters-make-them/layer-%03d/fs", base,
			 i);
		char cmd[200];
		snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
		if (system(cmd) != 0)
			exit(2);
		if (i == 0) {
			char f[200];
			snprintf(f, sizeof f, "%s/bottom", dir);
			put(f, "from the bottom layer\n");
		}
		if (i == layers - 1) {
			char f[200];
			snprintf(f, sizeof f, "%s/top", dir);
			put(f, "from the top layer\n");
		}
		if (lower[0])
			strcat(lower, ":");
		strcat(lower, dir);
	}
	autofree char *lowerdir = xasprintf("lowerdir=%s", lower);
	autofree char *upper = xasprintf("%s/upper", base), *work = xasprintf("%s/work", base);
	mkdir(upper, 0755);
	mkdir(work, 0755);
	autofree char *upperdir = xasprintf("upperdir=%s", upper), *workdir = xasprintf("workdir=%s", work);
	char *opts_rw[] = {"index=off", lowerdir, upperdir, workdir};
	char *opts_ro[] = {"ro", lowerdir};
	struct tempmount_spec spec = {"overlay", "overlay", readonly ? opts_ro : opts_rw, readonly ? 2 : 4};
	struct ucd_error *e = NULL;
	char *dir = NULL;
	autofree char *parent = xasprintf("%s/mounts", base);
	printf("# %d layers, lowerdir option of %zu bytes, %s\n", layers, strlen(lowerdir), readonly ? "ro" : "rw");
	if (!CHECK(tempmount_mount(parent, &spec, 1, readonly, &dir, &e) == 0)) {
		printf("# %s\n", e ? e->msg : "?");
		error_free(e);
		return;
	}
	struct statvfs vfs;
	CHECK(statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_NOSUID) && (vfs.f_flag & ST_NODEV));
	autofree char *bottom = xasprintf("%s/bottom", dir), *top = xasprintf("%s/top", dir);
	CHECK(has(bottom, "from the bottom layer\n"));
	CHECK(has(top, "from the top layer\n"));
	autofree char *w = xasprintf("%s/written", dir);
	FILE *f = fopen(w, "w");
	CHECK(readonly ? (f == NULL && errno == EROFS) : f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(tempmount_unmount(dir, 1, &e) == 0);
}

/* A bind mount of a tree holding a device node: the node is there, and
 * cannot be opened; read-only when asked. */
static void bind_mount(bool readonly)
{
	autofree char *src = xasprintf("%s/bind-src", base);
	autofree char *node = xasprintf("%s/zero", src);
	mkdir(src, 0755);
	unlink(node);
	CHECK(mknod(node, S_IFCHR | 0666, makedev(1, 5)) == 0);
	char *opts[] = {"rbind", readonly ? "ro" : "rw"};
	struct tempmount_spec spec = {"bind", src, opts, 2};
	struct ucd_error *e = NULL;
	char *dir = NULL;
	autofree char *parent = xasprintf("%s/mounts", base);
	printf("# bind, %s\n", readonly ? "ro" : "rw");
	if (!CHECK(tempmount_mount(parent, &spec, 1, readonly, &dir, &e) == 0)) {
		printf("# %s\n", e ? e->msg : "?");
		error_free(e);
		return;
	}
	struct statvfs vfs;
	CHECK(statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_NOSUID) && (vfs.f_flag & ST_NODEV) &&
	      !!(vfs.f_flag & ST_RDONLY) == readonly);
	autofree char *there = xasprintf("%s/zero", dir);
	struct stat st;
	CHECK(lstat(there, &st) == 0 && S_ISCHR(st.st_mode));
	int fd = open(there, O_RDONLY);
	CHECK(fd < 0 && errno == EACCES);
	if (fd >= 0)
		close(fd);
	CHECK(tempmount_unmount(dir, 1, &e) == 0);
}

/* A read-only view of an overlay with an upperdir (a running container's
 * snapshot, as a Diff mounts its right side): the upper's files and
 * whiteouts show, and the workdir the container's own overlay uses is
 * left alone (an overlay mounted on it, even read-only, empties it). */
static void readonly_view_of_live_overlay(void)
{
	autofree char *l = xasprintf("%s/live/lower", base), *u = xasprintf("%s/live/upper", base);
	autofree char *w = xasprintf("%s/live/work", base);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p %s %s %s/work/busy && echo keep > %s/keep && echo gone > %s/gone && "
		 "echo new > %s/new && mknod %s/gone c 0 0", l, u, w, l, l, u, u);
	if (!CHECK(system(cmd) == 0))
		return;
	autofree char *lo = xasprintf("lowerdir=%s", l), *uo = xasprintf("upperdir=%s", u), *wo = xasprintf("workdir=%s", w);
	char *opts[] = {"index=off", lo, uo, wo};
	struct tempmount_spec spec = {"overlay", "overlay", opts, 4};
	struct ucd_error *e = NULL;
	char *dir = NULL;
	autofree char *parent = xasprintf("%s/mounts", base);
	printf("# a read-only view of an overlay with an upperdir\n");
	if (!CHECK(tempmount_mount(parent, &spec, 1, true, &dir, &e) == 0)) {
		printf("# %s\n", e ? e->msg : "?");
		error_free(e);
		return;
	}
	autofree char *keep = xasprintf("%s/keep", dir), *gone = xasprintf("%s/gone", dir), *nw = xasprintf("%s/new", dir);
	struct stat st;
	CHECK(has(keep, "keep\n") && has(nw, "new\n") && lstat(gone, &st) < 0 && errno == ENOENT);
	autofree char *busy = xasprintf("%s/work/busy", w);
	CHECK(lstat(busy, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(tempmount_unmount(dir, 1, &e) == 0);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root to mount\n");
		return 77;
	}
	if (mkdtemp(base) == NULL)
		return 2;
	deep_overlay(3, false);
	deep_overlay(200, false);
	deep_overlay(200, true);
	bind_mount(false);
	bind_mount(true);
	readonly_view_of_live_overlay();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", base);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
