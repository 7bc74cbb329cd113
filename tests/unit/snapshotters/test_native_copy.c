/* The native snapshotter's tree copy (plugins/snapshotter-native/copy.c),
 * linked in directly with a real host table from the registry, so that
 * its test hook can act at the copy's critical moments: a name that
 * becomes a symlink between mknod and chmod, a source file that becomes a
 * fifo between its stat and its open; and count the slots its hard-link
 * table visits. Trees too deep to copy are refused clearly. Needs root
 * (owners, device nodes). Works where deep trees are quick (fstree.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../harness/fstree.h"
#include "../../harness/tap.h"
#include "copy.h"
#include "registry/registry.h"
#include "util/error.h"

static char base[128];
static const struct ucd_host *host;
static struct ucd_error *last;

static char *at(const char *rel)
{
	static char bufs[4][512];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
	return b;
}

static void sh(const char *cmd)
{
	char full[1024];
	snprintf(full, sizeof full, "cd '%s' && %s", base, cmd);
	if (system(full) != 0)
		printf("# command failed: %s\n", cmd);
}

/* What the hook does: count probes; at a chosen (event, name) call act. */
static size_t probes;
static const char *act_on_event, *act_on_name;
static void (*act)(int dirfd, const char *name);

void native_copy_test_hook(const char *what, int dirfd, const char *name)
{
	if (strcmp(what, "probe") == 0) {
		probes++;
		return;
	}
	if (act != NULL && strcmp(what, act_on_event) == 0 && strcmp(name, act_on_name) == 0) {
		void (*a)(int, const char *) = act;
		act = NULL;
		a(dirfd, name);
	}
}

static int copy(const char *src, const char *dst)
{
	error_free(last);
	last = NULL;
	sh("rm -rf dst && mkdir dst");
	int r = native_copy_tree(host, NULL, at(src), at(dst), &last);
	if (r < 0)
		printf("# %s\n", last->msg);
	return r;
}

static bool err_has(const char *s)
{
	bool ok = last != NULL && strstr(last->msg, s) != NULL;
	if (!ok)
		printf("# wanted an error with \"%s\", got \"%s\"\n", s, last ? last->msg : "(none)");
	return ok;
}

static void test_hard_links(void)
{
	/* 5,000 inodes with two names each: a linear search over the names
	 * remembered so far visits ~12.5 million entries; the table a few per
	 * lookup */
	enum { N = 5000 };
	sh("rm -rf src && mkdir src");
	char a[64], b[64];
	bool made = true;
	for (int i = 0; i < N; i++) {
		snprintf(a, sizeof a, "src/f%d", i);
		snprintf(b, sizeof b, "src/g%d", i);
		int fd = open(at(a), O_WRONLY | O_CREAT | O_EXCL, 0644);
		made &= fd >= 0 && link(at(a), at(b)) == 0;
		if (fd >= 0)
			close(fd);
	}
	CHECK(made);
	probes = 0;
	CHECK(copy("src", "dst") == 0);
	printf("# %d names of %d hard-linked inodes: %zu slots visited\n", 2 * N, N, probes);
	CHECK(probes < 16 * 2 * N);
	struct stat s1, s2;
	CHECK(lstat(at("dst/f4999"), &s1) == 0 && lstat(at("dst/g4999"), &s2) == 0 && s1.st_ino == s2.st_ino &&
	      s1.st_nlink == 2);
	CHECK(lstat(at("dst/f0"), &s1) == 0 && lstat(at("dst/g1"), &s2) == 0 && s1.st_ino != s2.st_ino);
	sh("rm -rf src dst");
}

static void to_symlink(int dirfd, const char *name)
{
	/* the destination name is now a symlink to a file outside */
	CHECK(unlinkat(dirfd, name, 0) == 0 && symlinkat(at("canary"), dirfd, name) == 0);
}

static void test_chmod_never_follows(void)
{
	sh("rm -rf src canary && mkdir src && mkfifo -m 0606 src/p && echo canary > canary && chmod 0640 canary");
	act_on_event = "chmod";
	act_on_name = "p";
	act = to_symlink;
	CHECK(copy("src", "dst") < 0);
	CHECK(act == NULL);
	CHECK(err_has("chmod"));
	struct stat st;
	CHECK(stat(at("canary"), &st) == 0 && (st.st_mode & 07777) == 0640);
	sh("rm -rf src dst canary");
}

static void to_fifo(int dirfd, const char *name)
{
	CHECK(unlinkat(dirfd, name, 0) == 0 && mkfifoat(dirfd, name, 0644) == 0);
}

static void test_source_changes(void)
{
	sh("rm -rf src && mkdir src && echo data > src/f");
	act_on_event = "open";
	act_on_name = "f";
	act = to_fifo;
	fstree_hang_guard(30, "the copy hung opening a fifo");
	CHECK(copy("src", "dst") < 0);
	fstree_hang_guard(0, NULL);
	CHECK(act == NULL);
	CHECK(err_has("changed during the copy"));
	sh("rm -rf src dst");
}

static void test_deep(void)
{
	sh("rm -rf src && mkdir src");
	CHECK(fstree_make_deep(at("src"), 100000));
	CHECK(copy("src", "dst") == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("is deeper than 512 directories"));
	sh("rm -rf src dst");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP the copy keeps owners and device nodes: run as root\n");
		return 77;
	}
	snprintf(base, sizeof base, "%s/ucd-test-copy-XXXXXX", fstree_fast_dir("/var/tmp"));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	char root[256], state[256];
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(state, sizeof state, "%s/state", base);
	struct registry_opts o = {.root = root, .state = state};
	struct ucd_error *e = NULL;
	struct registry *reg = registry_new(&o, &e);
	if (reg == NULL) {
		printf("# registry_new: %s\n", e->msg);
		return 2;
	}
	host = registry_host(reg);

	test_hard_links();
	test_chmod_never_follows();
	test_source_changes();
	test_deep();

	error_free(last);
	registry_free(reg);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", base);
	return tap_done();
}
