/* Layer apply (core/diff: diff_apply, the code ucd-layers.so runs for the
 * Diff service and image unpacking) onto a scratch root, then a check that
 * nothing outside the root changed.
 *
 * Input: byte 0 says how the rest reaches diff_apply:
 *   bits 0-1  0: as is, compression detected from the first bytes (gzip,
 *                zstd or plain, as for ...tar+gzip media types)
 *             1: gzip-compressed here first    2: zstd-compressed here first
 *             3: as is, read as a plain tar (the `...tar` media type)
 *   bit 2     overlay mode (whiteouts as 0/0 devices, opaque xattrs), with
 *             one lower directory
 *   bit 3     userxattr (user.overlay.opaque)
 * so that mutations of the tar survive the compression around it.
 *
 * The sandbox, made afresh for every input:
 *   sandbox/root/      the target: etc/passwd, a directory, a symlink to
 *                      ../canary, one to / and a hard link
 *   sandbox/canary/    files, a directory, a symlink: must stay as they were
 *   sandbox/lower/     the overlay lower directory: must stay as it was
 * and nothing new may appear in the sandbox, the target's temporary
 * directory, the current directory or /. The fuzzer runs as root, as the
 * daemon does: device nodes, owners and xattrs are applied for real. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "diff/diff.h"
#include "fuzz.h"
#include "util/error.h"
#include "util/mem.h"

static char *sandbox, *root, *lower, *canary;

/* --- a listing of a tree, to compare before and after ------------------------ */

struct listing {
	char *text;
	size_t len;
	FILE *f;
};

static void list_tree(FILE *out, const char *path, const char *rel, int depth)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		fprintf(out, "%s: gone\n", rel);
		return;
	}
	fprintf(out, "%s %o %u:%u n%lu s%lld m%lld.%09ld", rel, st.st_mode, st.st_uid, st.st_gid,
		(unsigned long)st.st_nlink, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	char xl[1024];
	ssize_t xn = llistxattr(path, xl, sizeof xl);
	fprintf(out, " x%zd", xn);
	if (S_ISREG(st.st_mode)) {
		char buf[256];
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
		if (fd >= 0)
			close(fd);
		fprintf(out, " `%.*s`", n > 0 ? (int)n : 0, buf);
	} else if (S_ISLNK(st.st_mode)) {
		char buf[256];
		ssize_t n = readlink(path, buf, sizeof buf);
		fprintf(out, " -> %.*s", n > 0 ? (int)n : 0, buf);
	}
	fputc('\n', out);
	if (!S_ISDIR(st.st_mode) || depth > 8)
		return;
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0) {
			char *p = xasprintf("%s/%s", path, nm), *r = xasprintf("%s/%s", rel, nm);
			list_tree(out, p, r, depth + 1);
			free(p);
			free(r);
		}
		free(names[i]);
	}
	free(names);
}

/* The names in a directory, one level. */
static void list_names(FILE *out, const char *path)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		fprintf(out, "%s\n", names[i]->d_name);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* Everything outside the root that the apply must not touch. */
static char *outside(void)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	list_tree(f, canary, "canary", 0);
	list_tree(f, lower, "lower", 0);
	fputs("-- sandbox\n", f);
	list_names(f, sandbox);
	fputs("-- tmp\n", f);
	list_names(f, fuzz_tmpdir());
	fclose(f);
	return text;
}

static char *names_of(const char *dir)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	list_names(f, dir);
	fclose(f);
	return text;
}

/* --- the sandbox ------------------------------------------------------------- */

static void put(const char *dir, const char *name, const char *data)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0 && write(fd, data, strlen(data)) == (ssize_t)strlen(data), "write %s", p);
	close(fd);
	free(p);
}

static void mk(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	FUZZ_CHECK(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

static void ln(const char *target, const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	FUZZ_CHECK(symlink(target, p) == 0, "symlink %s: %s", p, strerror(errno));
	free(p);
}

static void fresh_sandbox(void)
{
	fuzz_rmtree(sandbox);
	FUZZ_CHECK(mkdir(sandbox, 0700) == 0, "mkdir %s: %s", sandbox, strerror(errno));
	FUZZ_CHECK(mkdir(canary, 0755) == 0 && mkdir(root, 0755) == 0 && mkdir(lower, 0755) == 0, "sandbox dirs");
	put(canary, "secret", "canary\n");
	mk(canary, "dir");
	put(canary, "dir/file", "canary file\n");
	ln("secret", canary, "link");
	mk(root, "etc");
	put(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	mk(root, "opq");
	put(root, "opq/old", "old\n");
	ln("../canary", root, "up");
	ln("/", root, "top");
	char *a = xasprintf("%s/etc/passwd", root), *b = xasprintf("%s/hard", root);
	FUZZ_CHECK(link(a, b) == 0, "link");
	free(a);
	free(b);
	mk(lower, "opq");
	put(lower, "opq/lower", "lower\n");
	put(lower, "keep", "lower file\n");
}

static void unmount_tmp(void)
{
	umount2(fuzz_tmpdir(), MNT_DETACH);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	const char *tmp = fuzz_tmpdir();
	/* A tmpfs of our own, in a mount namespace of our own (it goes away with
	 * the process): creating and removing the sandbox on a disk file system
	 * costs milliseconds per input. Without the privilege, a plain dir. */
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("fuzz", tmp, "tmpfs", 0, "size=1g,mode=0700") == 0)
		atexit(unmount_tmp);   /* runs before fuzz_tmpdir's removal */
	sandbox = xasprintf("%s/sandbox", tmp);
	root = xasprintf("%s/root", sandbox);
	lower = xasprintf("%s/lower", sandbox);
	canary = xasprintf("%s/canary", sandbox);
	return 0;
}

/* --- the input, compressed if asked ---------------------------------------- */

struct blob {
	uint8_t *p;
	size_t n, off;
};

static ssize_t blob_read(void *arg, void *buf, size_t n, struct ucd_error **err)
{
	struct blob *b = arg;
	/* odd pieces, so that records straddle reads */
	size_t k = n < 3001 ? n : 3001;
	if (k > b->n - b->off)
		k = b->n - b->off;
	memcpy(buf, b->p + b->off, k);
	b->off += k;
	return (ssize_t)k;
}

/* The bytes through libarchive's gzip or zstd writer (raw format: the data
 * as it is, only the filter around it). */
static struct blob compress(const uint8_t *data, size_t size, int zstd)
{
	struct blob b = {0};
	size_t cap = size + size / 8 + 4096;   /* gzip and zstd add a few bytes per block at worst */
	b.p = xmalloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_raw(a);
	FUZZ_CHECK((zstd ? archive_write_add_filter_zstd(a) : archive_write_add_filter_gzip(a)) == ARCHIVE_OK,
		   "filter: %s", archive_error_string(a));
	archive_write_set_bytes_in_last_block(a, 1);
	FUZZ_CHECK(archive_write_open_memory(a, b.p, cap, &b.n) == ARCHIVE_OK, "open: %s", archive_error_string(a));
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "layer");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)size);
	FUZZ_CHECK(archive_write_header(a, e) == ARCHIVE_OK, "header: %s", archive_error_string(a));
	if (size > 0)
		FUZZ_CHECK(archive_write_data(a, data, size) == (la_ssize_t)size, "data: %s", archive_error_string(a));
	archive_entry_free(e);
	FUZZ_CHECK(archive_write_close(a) == ARCHIVE_OK, "close: %s", archive_error_string(a));
	archive_write_free(a);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t how = data[0];
	data++;
	size--;
	fresh_sandbox();
	char *cwd = get_current_dir_name();
	char *before = outside(), *cwd_before = names_of(cwd), *slash_before = names_of("/");

	struct blob b;
	switch (how & 3) {
	case 1:
		b = compress(data, size, 0);
		break;
	case 2:
		b = compress(data, size, 1);
		break;
	default:
		b = (struct blob){xmalloc(size ? size : 1), size, 0};
		memcpy(b.p, data, size);
	}
	const char *parents[] = {lower};
	struct diff_apply_opts o = {.mode = (how & 4) ? DIFF_APPLY_OVERLAY : DIFF_APPLY_PLAIN,
				    .userxattr = (how & 8) != 0};
	if (how & 4) {
		o.parents = parents;
		o.n_parents = 1;
	}
	struct diff_digest out;
	struct ucd_error *e = NULL;
	int r = diff_apply(root, (how & 3) == 3 ? DIFF_PLAIN_TAR : DIFF_DETECT, blob_read, &b, &o, &out, &e);
	if (r < 0) {
		FUZZ_CHECK(e != NULL && e->msg != NULL && r == -e->code, "failed apply: r=%d, error %s", r,
			   e ? e->msg : "(none)");
		error_free(e);
	} else {
		FUZZ_CHECK(e == NULL && strncmp(out.digest, "sha256:", 7) == 0 && strlen(out.digest) == 71 &&
				   out.size >= 0,
			   "applied, digest `%s` size %lld", out.digest, (long long)out.size);
	}
	free(b.p);

	char *after = outside(), *cwd_after = names_of(cwd), *slash_after = names_of("/");
	FUZZ_CHECK(strcmp(before, after) == 0, "the layer changed something outside the root\n--- before:\n%s--- after:\n%s",
		   before, after);
	FUZZ_CHECK(strcmp(cwd_before, cwd_after) == 0, "the layer changed the current directory %s", cwd);
	FUZZ_CHECK(strcmp(slash_before, slash_after) == 0, "the layer changed /\n--- before:\n%s--- after:\n%s",
		   slash_before, slash_after);
	free(before);
	free(after);
	free(cwd_before);
	free(cwd_after);
	free(slash_before);
	free(slash_after);
	free(cwd);
	return 0;
}
