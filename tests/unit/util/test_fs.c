/* fs_dir_ensure and fs_open_trusted (core/util/fs.c): what the daemon
 * creates, narrows, follows and refuses, on real directories owned by root
 * and by `nobody` (uid 65534). Needs root (chown). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness/tap.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define NOBODY 65534

static char base[64];

static char *at(const char *rel)
{
	return xasprintf("%s/%s", base, rel);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, 0700) != 0 || chmod(path, mode) != 0) {
		printf("# setup: mkdir %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

/* fs_dir_ensure's result; the message (if any) is printed and kept. */
static char last_msg[2048];
static int ensure(const char *path, mode_t mode, enum fs_dir_kind kind, char **created)
{
	struct ucd_error *e = NULL;
	int r = fs_dir_ensure(path, mode, kind, created, &e);
	last_msg[0] = '\0';
	if (e != NULL) {
		printf("# %s\n", e->msg);
		snprintf(last_msg, sizeof last_msg, "%s", e->msg);
	}
	error_free(e);
	return r;
}

static int open_trusted(const char *path)
{
	struct ucd_error *e = NULL;
	int r = fs_open_trusted(path, &e);
	last_msg[0] = '\0';
	if (e != NULL) {
		printf("# %s\n", e->msg);
		snprintf(last_msg, sizeof last_msg, "%s", e->msg);
	}
	error_free(e);
	if (r >= 0)
		close(r);
	return r;
}

static bool msg_has(const char *s)
{
	return strstr(last_msg, s) != NULL;
}

static void write_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1 || fchmod(fd, mode) != 0) {
		printf("# setup: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (chown)\n");
		return 77;
	}
	snprintf(base, sizeof base, "/tmp/ucd-fs-XXXXXX");
	if (mkdtemp(base) == NULL)
		return 2;
	umask(077);   /* single-threaded test: created modes must not depend on it */

	/* created: every missing level gets exactly the mode, the topmost is reported */
	autofree char *deep = at("a/b/c"), *a = at("a"), *ab = at("a/b");
	char *created = NULL;
	CHECK(ensure(deep, 0711, FS_DIR_OWN, &created) == 0);
	CHECK_STR(created, a);
	free(created);
	CHECK(mode_of(a) == 0711 && mode_of(ab) == 0711 && mode_of(deep) == 0711);
	CHECK(ensure(deep, 0711, FS_DIR_OWN, &created) == 0 && created == NULL);

	/* an existing own directory is narrowed, never widened */
	autofree char *loose = at("loose"), *tight = at("tight");
	mkdir_mode(loose, 02775);
	CHECK(ensure(loose, 0700, FS_DIR_OWN, NULL) == 0 && mode_of(loose) == 0700);
	mkdir_mode(tight, 0700);
	CHECK(ensure(tight, 0711, FS_DIR_OWN, NULL) == 0 && mode_of(tight) == 0700);

	/* a shared directory is left as it is, unless others may write it */
	autofree char *shared = at("shared"), *open_dir = at("open"), *sticky = at("sticky");
	mkdir_mode(shared, 0755);
	CHECK(ensure(shared, 0711, FS_DIR_SHARED, NULL) == 0 && mode_of(shared) == 0755);
	mkdir_mode(open_dir, 0777);
	CHECK(ensure(open_dir, 0711, FS_DIR_SHARED, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(msg_has("is writable by others (mode 0777): refusing to trust it") && mode_of(open_dir) == 0777);
	mkdir_mode(sticky, 01777);
	CHECK(ensure(sticky, 0711, FS_DIR_SHARED, NULL) == 0);

	/* owned by another user: refused, not taken over */
	autofree char *theirs = at("theirs");
	mkdir_mode(theirs, 0700);
	CHECK(chown(theirs, NOBODY, NOBODY) == 0);
	CHECK(ensure(theirs, 0700, FS_DIR_OWN, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(msg_has("is owned by uid 65534, not by root: refusing to trust it"));
	autofree char *below_theirs = at("theirs/x");
	CHECK(ensure(below_theirs, 0700, FS_DIR_OWN, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(access(below_theirs, F_OK) != 0);   /* nothing made in it */

	/* on the way: group-writable refused, sticky world-writable allowed */
	autofree char *gw = at("gw"), *gw_child = at("gw/root");
	mkdir_mode(gw, 0775);
	CHECK(ensure(gw_child, 0700, FS_DIR_OWN, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(msg_has("is writable by its group (mode 0775)") && access(gw_child, F_OK) != 0);
	autofree char *st_child = at("sticky/root");
	CHECK(ensure(st_child, 0700, FS_DIR_OWN, NULL) == 0 && mode_of(st_child) == 0700);

	/* symlinks: root's are followed (the target is checked too), another
	 * user's are refused, in a sticky directory especially */
	autofree char *target = at("target"), *link = at("link"), *via = at("link/sub"), *real = at("target/sub");
	mkdir_mode(target, 0755);
	CHECK(symlink(target, link) == 0);
	CHECK(ensure(via, 0700, FS_DIR_OWN, NULL) == 0 && mode_of(real) == 0700);
	autofree char *rel = at("rel"), *rel_via = at("rel/sub2"), *rel_real = at("target/sub2");
	CHECK(symlink("./a/../target", rel) == 0);
	CHECK(ensure(rel_via, 0700, FS_DIR_OWN, NULL) == 0 && mode_of(rel_real) == 0700);
	autofree char *trap = at("sticky/trap"), *trap_via = at("sticky/trap/x");
	CHECK(symlink(target, trap) == 0 && lchown(trap, NOBODY, NOBODY) == 0);
	CHECK(ensure(trap_via, 0700, FS_DIR_OWN, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(msg_has("trap` (on the way to `") && msg_has("is owned by uid 65534"));
	autofree char *to_theirs = at("to-theirs");
	CHECK(symlink(theirs, to_theirs) == 0);
	CHECK(ensure(to_theirs, 0700, FS_DIR_OWN, NULL) == -UCD_FAILED_PRECONDITION);
	CHECK(msg_has("/theirs` (on the way to `") && msg_has("to-theirs`) is owned by uid 65534"));
	autofree char *loop = at("loop");
	CHECK(symlink("loop", loop) == 0);
	CHECK(ensure(loop, 0700, FS_DIR_OWN, NULL) < 0 && msg_has("Too many levels of symbolic links"));
	autofree char *file = at("file"), *under_file = at("file/x");
	write_file(file, 0600);
	CHECK(ensure(file, 0700, FS_DIR_OWN, NULL) < 0 && msg_has("Not a directory"));
	CHECK(ensure(under_file, 0700, FS_DIR_OWN, NULL) < 0 && msg_has("Not a directory"));

	/* fs_open_trusted: code the daemon runs */
	autofree char *plugins = at("plugins"), *good = at("plugins/good.so"), *ww = at("plugins/ww.so"),
		      *gws = at("plugins/gw.so"), *nob = at("plugins/nobody.so"), *lnk = at("plugins/link.so");
	mkdir_mode(plugins, 0755);
	write_file(good, 0755);
	write_file(ww, 0666);
	write_file(gws, 0664);
	write_file(nob, 0755);
	CHECK(chown(nob, NOBODY, NOBODY) == 0);
	CHECK(symlink(good, lnk) == 0);
	CHECK(open_trusted(good) >= 0);
	CHECK(open_trusted(lnk) >= 0);
	CHECK(open_trusted(ww) == -UCD_FAILED_PRECONDITION && msg_has("is writable by others (mode 0666)"));
	CHECK(open_trusted(gws) == -UCD_FAILED_PRECONDITION && msg_has("is writable by its group (mode 0664)"));
	CHECK(open_trusted(nob) == -UCD_FAILED_PRECONDITION && msg_has("is owned by uid 65534"));
	CHECK(open_trusted(plugins) == -UCD_FAILED_PRECONDITION && msg_has("is not a regular file"));
	CHECK(chmod(plugins, 0775) == 0);
	CHECK(open_trusted(good) == -UCD_FAILED_PRECONDITION && msg_has("plugins` (on the way to `") && msg_has("is writable by its group (mode 0775)"));
	CHECK(chmod(plugins, 01777) == 0);   /* sticky does not make a plugin directory safe */
	CHECK(open_trusted(good) == -UCD_FAILED_PRECONDITION && msg_has("is writable by others (mode 1777)"));
	autofree char *missing = at("plugins/none.so");
	CHECK(open_trusted(missing) < 0 && msg_has("No such file or directory"));

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
