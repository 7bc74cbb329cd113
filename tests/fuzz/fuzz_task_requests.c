/* The Tasks and Diff services' request decoding and validation: as
 * fuzz_proto_requests.c (the input format is fuzz_requests.h's), over the
 * methods of containerd.services.tasks.v1.Tasks and
 * containerd.services.diff.v1.Diff, served by the real handlers with the
 * real runtime plugin, the real content store and snapshotters and the
 * real ucd-layers.so, from the same seeded store.
 *
 * Whoever can call these is root by design: a Create may name any binary
 * as its shim (runtime_path) and a Diff request any mounts. The target
 * keeps that from happening to the machine it runs on, and from one input
 * to the next:
 *  - before the first input, a seccomp filter makes execve, execveat and
 *    every mount call fail with EPERM (the handlers meet the error a
 *    failed spawn or mount gives; checked, not assumed); the runc shim is
 *    configured as a path that does not exist (fuzz_daemon.c);
 *  - the one blob in the store ("foo\n") is no layer in any wrapping
 *    (checked at start with diff_apply itself), so an Apply straight onto
 *    a writable bind mount's source, which needs no mount, writes nothing;
 *  - after each input the runtime's state holds no bundle: a Create that
 *    fails leaves nothing behind (a finding otherwise).
 * The filter is installed at the first input, not at start: libFuzzer's
 * -fork parent, which only starts workers, never runs one. The symbolizer
 * sanitizer reports need is started before it (it is a program).
 *
 * Diff.Diff of two empty mount lists succeeds and writes an empty layer
 * into the content store; the metadata is rolled back but the blob file
 * stays (the same few bytes each time), which changes nothing another
 * input can see: the store answers from the metadata. */
#include <dirent.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/config.h"
#include "diff/diff.h"
#include "fuzz.h"
#include "fuzz_daemon.h"
#include "fuzz_requests.h"
#include "rpc/internal.h"
#include "util/error.h"
#include "util/mem.h"

#if defined(__x86_64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FUZZ_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "fuzz_task_requests: no seccomp architecture for this machine"
#endif

static const struct rpc_method *methods[64];
static size_t n_methods;

static bool served(const char *path)
{
	return strncmp(path, "/containerd.services.tasks.v1.Tasks/", 36) == 0 ||
	       strncmp(path, "/containerd.services.diff.v1.Diff/", 34) == 0;
}

/* sanitizer_common's, present when a sanitizer is linked in */
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t out_size) __attribute__((weak));

static void deny_exec_and_mounts(void)
{
	static const long denied[] = {
		SYS_execve,   SYS_execveat, SYS_mount,      SYS_umount2,   SYS_pivot_root,    SYS_fsopen,
		SYS_fsconfig, SYS_fsmount,  SYS_move_mount, SYS_open_tree, SYS_mount_setattr,
	};
	struct sock_filter f[4 + 2 * ARRAY_LEN(denied) + 3];   /* arch, nr, each call, x32, allow */
	size_t n = 0;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUZZ_AUDIT_ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t i = 0; i < ARRAY_LEN(denied); i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
#ifdef __x86_64__
	/* the same calls by their x32 numbers */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* __X32_SYSCALL_BIT */, 0, 1);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#endif
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	FUZZ_CHECK(n <= ARRAY_LEN(f), "seccomp program of %zu instructions", n);
	struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
	FUZZ_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %s", strerror(errno));
	/* TSYNC: every thread, the pool's included (they exist already) */
	FUZZ_CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0, "seccomp: %s",
		   strerror(errno));
	/* without the filter both fail with ENOENT (no such path) */
	errno = 0;
	FUZZ_CHECK(syscall(SYS_execve, "", NULL, NULL) < 0 && errno == EPERM, "execve not denied: %s", strerror(errno));
	errno = 0;
	FUZZ_CHECK(syscall(SYS_mount, NULL, "", NULL, 0, NULL) < 0 && errno == EPERM, "mount not denied: %s",
		   strerror(errno));
}

static void sandbox_once(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	if (__sanitizer_symbolize_pc != NULL) {
		char buf[256];
		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", buf, sizeof buf);
	}
	deny_exec_and_mounts();
}

struct bytes {
	const char *p;
	size_t n;
};

static ssize_t bytes_read(void *arg, void *buf, size_t n, struct ucd_error **err)
{
	(void)err;
	struct bytes *b = arg;
	if (n > b->n)
		n = b->n;
	memcpy(buf, b->p, n);
	b->p += n;
	b->n -= n;
	return (ssize_t)n;
}

/* The seeded blob is no layer: applied plain or detected (gzip, zstd,
 * tar), it fails before it writes anything. */
static void check_seed_blob_applies_nothing(void)
{
	autofree char *root = xasprintf("%s/seed-blob-root", fuzz_tmpdir());
	FUZZ_CHECK(mkdir(root, 0700) == 0, "mkdir %s: %s", root, strerror(errno));
	const enum diff_compression comps[] = {DIFF_PLAIN_TAR, DIFF_DETECT};
	for (size_t i = 0; i < ARRAY_LEN(comps); i++) {
		struct bytes b = {"foo\n", 4};
		struct diff_apply_opts o = {.mode = DIFF_APPLY_PLAIN};
		struct diff_digest out;
		struct ucd_error *e = NULL;
		FUZZ_CHECK(diff_apply(root, comps[i], bytes_read, &b, &o, &out, &e) < 0,
			   "the seeded blob applies as a layer (compression %d)", (int)comps[i]);
		error_free(e);
	}
	fuzz_rmtree(root);
}

/* What the runtime keeps for a namespace: no bundle once an input is done. */
static void check_no_bundles(struct fuzz_daemon *d)
{
	static const char *const namespaces[] = {"default", "fuzz", "k8s.io"};
	for (size_t i = 0; i < ARRAY_LEN(namespaces); i++) {
		autofree char *dir =
			xasprintf("%s/io.containerd.runtime.v2.task/%s", d->cfg->state, namespaces[i]);
		DIR *dp = opendir(dir);
		if (dp == NULL)
			continue;
		struct dirent *de;
		while ((de = readdir(dp)) != NULL)
			FUZZ_CHECK(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0,
				   "a bundle was left behind: %s/%s", dir, de->d_name);
		closedir(dp);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* where the daemon finds ucd-layers.so beside its own binary, the
	 * target finds it in the build */
	setenv("UCD_LAYERS_LIB", FUZZ_LAYERS_LIB, 1);
	check_seed_blob_applies_nothing();
	struct fuzz_daemon *d = fuzz_daemon_start(FUZZ_DAEMON_TASKS);
	n_methods = fuzz_request_methods(d, served, methods, ARRAY_LEN(methods));
	FUZZ_CHECK(n_methods == 19, "%zu Tasks and Diff methods registered, not 17 + 2", n_methods);
	fuzz_request_seed(d);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_daemon *d = fuzz_daemon_start(FUZZ_DAEMON_TASKS);
	sandbox_once();
	if (size < 2)
		return 0;
	fuzz_request_call(d, methods[data[0] % n_methods]->path, data[1], data + 2, size - 2);
	check_no_bundles(d);
	fuzz_daemon_reset(d);
	return 0;
}
