/* Unit tests of the overlayfs and native snapshotter plugins, loaded
 * through the real registry from the build's plugin directory. Needs root
 * (mounts); prints TAP. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void at_exit(void)
{
	unmount_all();
	if (tmpdir[0] != '\0' && getenv("UCD_TEST_KEEP") == NULL)
		rm_rf(tmpdir);
}

static void on_signal(int sig)
{
	at_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP the snapshotter tests mount filesystems: run as root\n");
		return 77;
	}
	/* /var/tmp: a disk filesystem (overlay upper directories need one
	 * with xattrs and d_type; /tmp may be tmpfs) unless UCD_TEST_TMPDIR says */
	const char *base = getenv("UCD_TEST_TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/ucd-snap-XXXXXX", base ? base : "/var/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	atexit(at_exit);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGABRT, on_signal);
	const char *only = argc > 1 ? argv[1] : NULL;
	if (!only || strcmp(only, "native") == 0) {
		test_common("native");
		test_native();
	}
	if (!only || strcmp(only, "overlayfs") == 0) {
		test_common("overlayfs");
		test_overlay();
	}
	if (!only || strcmp(only, "skip") == 0)
		test_overlay_skip();
	return t_done();
}
