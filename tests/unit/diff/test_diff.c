/* Unit tests of core/diff: layers are built here with libarchive's writer
 * (or byte by byte, for what no writer produces), applied onto real
 * directories under a temporary base, and checked on disk. Every hostile
 * archive also checks that nothing changed outside the target: a canary
 * directory next to it, the base directory's listing, and /etc/passwd. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../harness/fstree.h"
#include "../../harness/tap.h"
#include "diff/diff.h"
#include "diff/rootfs.h"
#include "util/error.h"
#include "util/mem.h"

static char base[64];
static char root[128];
static char canary[128];

/* --- building layers ------------------------------------------------------ */

struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 1024;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static la_ssize_t bytes_write_cb(struct archive *a, void *arg, const void *p, size_t n)
{
	bytes_add(arg, p, n);
	return (la_ssize_t)n;
}

struct ent {
	const char *name;
	mode_t type;            /* AE_IF*; 0 = regular */
	mode_t perm;
	const char *data;
	const char *link;       /* symlink target */
	const char *hardlink;
	int64_t uid, gid;
	time_t mtime;
	long mtime_nsec;
	unsigned rmaj, rmin;
	const char *xkey;
	const void *xval;
	size_t xlen;
};

struct tb {
	struct archive *a;
	struct bytes out;
};

static void tb_open(struct tb *t, const char *filter)
{
	memset(t, 0, sizeof *t);
	t->a = archive_write_new();
	archive_write_set_format_pax(t->a);   /* full PAX: subsecond times too */
	if (strcmp(filter, "gzip") == 0)
		archive_write_add_filter_gzip(t->a);
	else if (strcmp(filter, "zstd") == 0)
		archive_write_add_filter_zstd(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	archive_write_open(t->a, &t->out, NULL, bytes_write_cb, NULL);
}

static void tb_add(struct tb *t, const struct ent *x)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, x->name);
	archive_entry_set_filetype(e, x->type ? x->type : AE_IFREG);
	archive_entry_set_perm(e, x->perm ? x->perm : 0644);
	archive_entry_set_uid(e, x->uid);
	archive_entry_set_gid(e, x->gid);
	archive_entry_set_mtime(e, x->mtime ? x->mtime : 1600000000, x->mtime_nsec);
	if (x->link)
		archive_entry_set_symlink(e, x->link);
	if (x->hardlink)
		archive_entry_set_hardlink(e, x->hardlink);
	if (x->type == AE_IFCHR || x->type == AE_IFBLK)
		archive_entry_set_rdev(e, makedev(x->rmaj, x->rmin));
	size_t len = x->data ? strlen(x->data) : 0;
	archive_entry_set_size(e, (x->type == 0 || x->type == AE_IFREG) && !x->hardlink ? (la_int64_t)len : 0);
	if (x->xkey)
		archive_entry_xattr_add_entry(e, x->xkey, x->xval, x->xlen);
	archive_write_header(t->a, e);
	if (len && !x->hardlink)
		archive_write_data(t->a, x->data, len);
	archive_entry_free(e);
}

static struct bytes tb_close(struct tb *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
	return t->out;
}

/* A layer from a list of entries. */
static struct bytes layer(const char *filter, const struct ent *ents, size_t n)
{
	struct tb t;
	tb_open(&t, filter);
	for (size_t i = 0; i < n; i++)
		tb_add(&t, &ents[i]);
	return tb_close(&t);
}
#define LAYER(filter, ...) \
	layer(filter, (const struct ent[]){__VA_ARGS__}, sizeof((const struct ent[]){__VA_ARGS__}) / sizeof(struct ent))

/* A raw ustar header, for what libarchive's writer will not produce. */
static void raw_header(struct bytes *b, const char *name, char type, uint64_t size, const char *linkname)
{
	unsigned char h[512] = {0};
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 1600000000);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	if (linkname)
		snprintf((char *)h + 157, 100, "%s", linkname);
	memcpy(h + 257, "ustar\0" "00", 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	bytes_add(b, h, 512);
}

static void raw_pax(struct bytes *b, const char *key, const char *value)
{
	char rec[1024];
	size_t body = strlen(key) + strlen(value) + 3;   /* " k=v\n" without the length */
	size_t len = body + 1;
	while (snprintf(NULL, 0, "%zu", len) + body != len)
		len++;
	snprintf(rec, sizeof rec, "%zu %s=%s\n", len, key, value);
	raw_header(b, "PaxHeader", 'x', strlen(rec), NULL);
	unsigned char pad[512] = {0};
	bytes_add(b, rec, strlen(rec));
	bytes_add(b, pad, 512 - strlen(rec) % 512);
}

static void raw_end(struct bytes *b)
{
	unsigned char z[1024] = {0};
	bytes_add(b, z, sizeof z);
}

/* --- applying -------------------------------------------------------------- */

struct reader {
	const struct bytes *b;
	size_t off;
};

/* Odd chunk sizes, so records straddle every boundary. */
static ssize_t mem_read(void *arg, void *buf, size_t n, struct ucd_error **err)
{
	struct reader *r = arg;
	size_t left = r->b->n - r->off;
	size_t k = n < 7777 ? n : 7777;
	if (k > left)
		k = left;
	if (k > 0)
		memcpy(buf, r->b->p + r->off, k);
	r->off += k;
	return (ssize_t)k;
}

static struct ucd_error *last_err;

static int apply_mt(const char *dir, const char *mt, const struct bytes *b, const struct diff_apply_opts *o,
		    struct diff_digest *out)
{
	error_free(last_err);
	last_err = NULL;
	enum diff_compression c;
	if (diff_media_type_compression(mt, &c, &last_err) < 0)
		return -last_err->code;
	struct reader r = {b, 0};
	struct diff_apply_opts plain = {.mode = DIFF_APPLY_PLAIN};
	struct diff_digest d;
	int rc = diff_apply(dir, c, mem_read, &r, o ? o : &plain, out ? out : &d, &last_err);
	if (rc < 0)
		printf("# error: %s\n", last_err->msg);
	return rc;
}

static bool err_has(const char *s)
{
	bool ok = last_err != NULL && strstr(last_err->msg, s) != NULL;
	if (!ok)
		printf("# wanted an error with \"%s\", got \"%s\"\n", s, last_err ? last_err->msg : "(none)");
	return ok;
}

/* --- the file system ---------------------------------------------------------- */

static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		printf("# command failed: %s\n", cmd);
}

static void fresh_root(void)
{
	sh("rm -rf '%s' && mkdir '%s'", root, root);
}

static char *at(const char *dir, const char *rel)
{
	static char bufs[4][4096];
	static int k;
	char *p = bufs[k++ % 4];
	snprintf(p, 4096, "%s/%s", dir, rel);
	return p;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static bool lst(const char *path, struct stat *st)
{
	return lstat(path, st) == 0;
}

static bool missing(const char *path)
{
	struct stat st;
	return lstat(path, &st) < 0 && errno == ENOENT;
}

/* A fingerprint of everything outside the target: the base directory must
 * hold only root/ and canary/, the canary its one file, /etc/passwd its
 * inode and link count. */
static struct stat passwd_before;

static bool outside_untouched(void)
{
	bool ok = true;
	DIR *d = opendir(base);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "root") &&
		    strcmp(de->d_name, "canary")) {
			printf("# unexpected %s/%s\n", base, de->d_name);
			ok = false;
		}
	}
	if (d)
		closedir(d);
	d = opendir(canary);
	int n = 0;
	while (d && (de = readdir(d)) != NULL)
		n++;
	if (d)
		closedir(d);
	const char *s = slurp(at(canary, "secret"));
	struct stat st;
	if (n != 3 || s == NULL || strcmp(s, "canary") != 0 || stat("/etc/passwd", &st) < 0 ||
	    st.st_ino != passwd_before.st_ino || st.st_nlink != passwd_before.st_nlink ||
	    st.st_mtime != passwd_before.st_mtime) {
		printf("# canary or /etc/passwd changed\n");
		ok = false;
	}
	return ok;
}

static bool xattr_is(const char *path, const char *key, const char *want, size_t len)
{
	char v[256];
	ssize_t n = lgetxattr(path, key, v, sizeof v);
	return n == (ssize_t)len && memcmp(v, want, len) == 0;
}

/* --- tests --------------------------------------------------------------------- */

/* VFS_CAP_REVISION_2 with CAP_NET_BIND_SERVICE permitted and effective. */
static const unsigned char fcap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void test_every_type(const char *filter, const char *mt)
{
	printf("# every file type, %s\n", filter);
	fresh_root();
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "long/", 5);
	longname[sizeof longname - 1] = '\0';
	longname[150] = '/';
	struct bytes b = LAYER(filter,
		{.name = "d/", .type = AE_IFDIR, .perm = 0750, .uid = 1000, .gid = 1001, .mtime = 1000000},
		{.name = "d/f", .perm = 04755, .uid = 1, .gid = 2, .data = "hello", .mtime = 1234567890, .mtime_nsec = 5000,
		 .xkey = "user.foo", .xval = "bar", .xlen = 3},
		{.name = "d/cap", .perm = 0755, .data = "bin", .xkey = "security.capability", .xval = fcap, .xlen = sizeof fcap},
		{.name = "d/sgid", .perm = 02755, .data = "g"},
		{.name = "tmp/", .type = AE_IFDIR, .perm = 01777},
		{.name = "d/link", .type = AE_IFLNK, .link = "f", .uid = 5, .gid = 6, .mtime = 1500000000},
		{.name = "d/hard", .hardlink = "d/f", .perm = 04755, .uid = 1, .gid = 2, .mtime = 1234567890,
		 .mtime_nsec = 5000},   /* a hard link sets the shared inode's metadata again */
		{.name = "fifo", .type = AE_IFIFO, .perm = 0640},
		{.name = "null", .type = AE_IFCHR, .perm = 0666, .rmaj = 1, .rmin = 3},
		{.name = "blk", .type = AE_IFBLK, .perm = 0600, .rmaj = 7, .rmin = 0},
		{.name = "empty"},
		{.name = "x/y/z", .data = "deep"},
		{.name = longname, .data = "long"},
		{.name = "./dot/./slash//name", .data = "clean"},
		{.name = "trusted", .data = "t", .xkey = "trusted.overlay.opaque", .xval = "y", .xlen = 1});
	struct diff_digest d;
	CHECK(apply_mt(root, mt, &b, NULL, &d) == 0);
	struct stat st;
	CHECK(lst(at(root, "d"), &st) && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 && st.st_uid == 1000 &&
	      st.st_gid == 1001 && st.st_mtime == 1000000);
	CHECK(lst(at(root, "d/f"), &st) && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 04755 && st.st_uid == 1 &&
	      st.st_gid == 2 && st.st_nlink == 2);
	CHECK(st.st_mtime == 1234567890 && st.st_mtim.tv_nsec == 5000);
	CHECK_STR(slurp(at(root, "d/f")), "hello");
	CHECK(xattr_is(at(root, "d/f"), "user.foo", "bar", 3));
	CHECK(xattr_is(at(root, "d/cap"), "security.capability", (const char *)fcap, sizeof fcap));
	CHECK(lst(at(root, "d/sgid"), &st) && (st.st_mode & 07777) == 02755);
	CHECK(lst(at(root, "tmp"), &st) && (st.st_mode & 07777) == 01777);
	char target[64] = {0};
	CHECK(lst(at(root, "d/link"), &st) && S_ISLNK(st.st_mode) && st.st_uid == 5 && st.st_gid == 6 &&
	      st.st_mtime == 1500000000 && readlink(at(root, "d/link"), target, sizeof target - 1) == 1 &&
	      strcmp(target, "f") == 0);
	struct stat f;
	CHECK(lst(at(root, "d/hard"), &st) && lst(at(root, "d/f"), &f) && st.st_ino == f.st_ino);
	CHECK(lst(at(root, "fifo"), &st) && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640);
	CHECK(lst(at(root, "null"), &st) && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK(lst(at(root, "blk"), &st) && S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 0));
	CHECK(lst(at(root, "empty"), &st) && S_ISREG(st.st_mode) && st.st_size == 0);
	CHECK(lst(at(root, "x/y"), &st) && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
	CHECK_STR(slurp(at(root, "x/y/z")), "deep");
	CHECK_STR(slurp(at(root, longname)), "long");
	CHECK_STR(slurp(at(root, "dot/slash/name")), "clean");
	CHECK(lst(at(root, "trusted"), &st) && lgetxattr(at(root, "trusted"), "trusted.overlay.opaque", NULL, 0) < 0);

	/* The diffID: sha256 of the uncompressed tar, which is exactly what the
	 * same entries produce without a filter. */
	struct bytes plain = b;
	if (strcmp(filter, "none") != 0) {
		struct archive *a = archive_read_new();
		archive_read_support_filter_all(a);
		archive_read_support_format_raw(a);
		archive_read_open_memory(a, b.p, b.n);
		struct archive_entry *e;
		archive_read_next_header(a, &e);
		plain = (struct bytes){0};
		char buf[65536];
		la_ssize_t n;
		while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
			bytes_add(&plain, buf, (size_t)n);
		archive_read_free(a);
	}
	unsigned char md[32];
	EVP_Digest(plain.p, plain.n, md, NULL, EVP_sha256(), NULL);
	char want[72] = "sha256:";
	for (int i = 0; i < 32; i++)
		sprintf(want + 7 + 2 * i, "%02x", md[i]);
	CHECK_STR(d.digest, want);
	CHECK(d.size == (int64_t)plain.n);
	if (plain.p != b.p)
		free(plain.p);
	free(b.p);
	CHECK(outside_untouched());
}

static void test_pax_and_gnu_names(void)
{
	printf("# names from PAX records and odd headers\n");
	fresh_root();
	struct bytes b = {0};
	raw_pax(&b, "path", "caf\xc3\xa9/\xe2\x82\xac.txt");   /* UTF-8, as Go writes non-ASCII names */
	raw_header(&b, "ignored", '0', 3, NULL);
	unsigned char data[512] = "abc";
	bytes_add(&b, data, 512);
	raw_header(&b, "g/", '5', 0, NULL);
	raw_end(&b);
	unsigned char trailing[100];
	memset(trailing, 'T', sizeof trailing);
	bytes_add(&b, trailing, sizeof trailing);   /* trailing bytes: applied, and counted in the diffID */
	struct diff_digest d;
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, NULL, &d) == 0);
	CHECK_STR(slurp(at(root, "caf\xc3\xa9/\xe2\x82\xac.txt")), "abc");
	CHECK(d.size == (int64_t)b.n);
	free(b.p);
}

static void test_whiteouts_plain(void)
{
	printf("# whiteouts, plain mode\n");
	fresh_root();
	sh("cd '%s' && mkdir -p a b c e && touch a/keep a/gone b/x c/old e/f && mkdir b/sub && touch b/sub/y && "
	   "ln -s /nowhere a/sym", root);
	struct bytes b = LAYER("gzip",
		{.name = "a/.wh.gone"},
		{.name = "a/.wh.sym"},
		{.name = "a/.wh.never-was"},
		{.name = "b/new", .data = "n"},
		{.name = "b/.wh..wh..opq"},
		{.name = "c/.wh..wh..opq"},
		{.name = "c/new2", .data = "m"},
		{.name = ".wh.e"});
	CHECK(apply_mt(root, DIFF_MT_LAYER_GZIP, &b, NULL, NULL) == 0);
	CHECK(missing(at(root, "a/gone")) && missing(at(root, "a/sym")) && !missing(at(root, "a/keep")));
	CHECK(missing(at(root, "a/.wh.gone")) && missing(at(root, "a/never-was")));
	CHECK(!missing(at(root, "b/new")) && missing(at(root, "b/x")) && missing(at(root, "b/sub")));
	CHECK(missing(at(root, "b/.wh..wh..opq")));
	CHECK(!missing(at(root, "c/new2")) && missing(at(root, "c/old")));
	CHECK(missing(at(root, "e")));
	free(b.p);
}

static void test_whiteouts_overlay(bool userxattr)
{
	printf("# whiteouts, overlay mode%s\n", userxattr ? " with userxattr" : "");
	fresh_root();
	sh("mkdir -p '%s/lower/a' && chown 7:8 '%s/lower/a' && chmod 0711 '%s/lower/a' && "
	   "mkdir '%s/upper'", root, root, root, root);
	lsetxattr(at(root, "lower/a"), "user.kept", "1", 1, 0);
	struct bytes b = LAYER("none",
		{.name = "a/gone/.wh.x"},
		{.name = "a/.wh.gone2", .uid = 3, .gid = 4},
		{.name = "b/.wh..wh..opq"},
		{.name = "b/new", .data = "n"});
	const char *parents[] = {at(root, "lower")};
	struct diff_apply_opts o = {.mode = DIFF_APPLY_OVERLAY, .userxattr = userxattr, .parents = parents, .n_parents = 1};
	CHECK(apply_mt(at(root, "upper"), DIFF_MT_LAYER, &b, &o, NULL) == 0);
	struct stat st;
	CHECK(lst(at(root, "upper/a/gone2"), &st) && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0) &&
	      st.st_uid == 3 && st.st_gid == 4);
	CHECK(lst(at(root, "upper/a/gone/x"), &st) && S_ISCHR(st.st_mode));
	/* the parent `a` was created with the lower directory's attributes */
	CHECK(lst(at(root, "upper/a"), &st) && (st.st_mode & 07777) == 0711 && st.st_uid == 7 && st.st_gid == 8);
	CHECK(xattr_is(at(root, "upper/a"), "user.kept", "1", 1));
	const char *key = userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
	CHECK(xattr_is(at(root, "upper/b"), key, "y", 1));
	CHECK(!missing(at(root, "upper/b/new")) && missing(at(root, "upper/b/.wh..wh..opq")));
	free(b.p);
}

/* Overlay mode: a parent the layer creates takes every xattr of the lower
 * directory it masks, however many and however long (the kernel allows
 * 64 KiB of names and 64 KiB per value). */
static void test_parent_xattrs(void)
{
	printf("# overlay mode: a created parent keeps long and many xattrs of the lower one\n");
	/* ext4 keeps an inode's xattrs in one block: tmpfs holds more */
	char dir[128];
	snprintf(dir, sizeof dir, "%s/ucd-test-xattr-XXXXXX", fstree_fast_dir(base));
	if (!CHECK(mkdtemp(dir) != NULL))
		return;
	sh("mkdir -p '%s/lower/a' '%s/upper'", dir, dir);
	char *big = xmalloc(10000);
	memset(big, 'v', 10000);
	CHECK(lsetxattr(at(dir, "lower/a"), "user.big", big, 10000, 0) == 0);
	char key[96];
	bool set = true;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "user.a-rather-long-attribute-name-to-fill-the-list-%03d", i);
		set &= lsetxattr(at(dir, "lower/a"), key, "x", 1, 0) == 0;
	}
	CHECK(set);
	struct bytes b = LAYER("none", {.name = "a/new", .data = "n"});
	const char *parents[] = {at(dir, "lower")};
	struct diff_apply_opts o = {.mode = DIFF_APPLY_OVERLAY, .parents = parents, .n_parents = 1};
	CHECK(apply_mt(at(dir, "upper"), DIFF_MT_LAYER, &b, &o, NULL) == 0);
	char v[10001];
	CHECK(lgetxattr(at(dir, "upper/a"), "user.big", v, sizeof v) == 10000 && memcmp(v, big, 10000) == 0);
	CHECK(xattr_is(at(dir, "upper/a"), "user.a-rather-long-attribute-name-to-fill-the-list-099", "x", 1));
	free(big);
	free(b.p);
	sh("rm -rf '%s'", dir);
}

/* One hostile layer: the expected outcome, then nothing outside changed. */
static void hostile(const char *what, const char *mt, struct bytes b, int want_code, const char *want_msg)
{
	printf("# hostile: %s\n", what);
	fresh_root();
	int rc = apply_mt(root, mt, &b, NULL, NULL);
	if (want_code == 0)
		tap_check(rc == 0, what, __FILE__, __LINE__);
	else
		tap_check(rc == -want_code && err_has(want_msg), what, __FILE__, __LINE__);
	tap_check(outside_untouched(), "nothing outside the target changed", __FILE__, __LINE__);
	free(b.p);
}

static void test_hostile(void)
{
	hostile("../ escape", DIFF_MT_LAYER, LAYER("none", {.name = "../pwned", .data = "x"}), UCD_INVALID_ARGUMENT,
		"path escapes the root");
	hostile("a/../../ escape", DIFF_MT_LAYER, LAYER("none", {.name = "a/../../canary/secret", .data = "x"}),
		UCD_INVALID_ARGUMENT, "path escapes the root");
	hostile("entry named ..", DIFF_MT_LAYER, LAYER("none", {.name = "..", .type = AE_IFDIR, .perm = 0777}),
		UCD_INVALID_ARGUMENT, "path escapes the root");

	hostile("absolute path stays inside (containerd cleans it relative to the root)", DIFF_MT_LAYER,
		LAYER("none", {.name = "/etc/passwd", .data = "mine"}, {.name = "/../../pwned", .data = "x"}), 0, NULL);
	CHECK_STR(slurp(at(root, "etc/passwd")), "mine");
	CHECK(!missing(at(root, "pwned")));

	hostile("symlink to / then a file through it lands inside", DIFF_MT_LAYER,
		LAYER("none", {.name = "s", .type = AE_IFLNK, .link = "/"}, {.name = "s/pwned", .data = "x"},
		      {.name = "s/etc/shadow", .data = "y"}), 0, NULL);
	CHECK(!missing(at(root, "pwned")) && !missing(at(root, "etc/shadow")));

	hostile("symlink to ../canary then a file through it lands inside", DIFF_MT_LAYER,
		LAYER("none", {.name = "canary/", .type = AE_IFDIR}, {.name = "up", .type = AE_IFLNK, .link = "../canary"},
		      {.name = "up/secret", .data = "overwritten?"}), 0, NULL);
	CHECK_STR(slurp(at(root, "canary/secret")), "overwritten?");

	hostile("symlink chain climbing out resolves inside", DIFF_MT_LAYER,
		LAYER("none", {.name = "l1", .type = AE_IFLNK, .link = "l2"},
		      {.name = "l2", .type = AE_IFLNK, .link = "../../../../.."}, {.name = "l1/x", .data = "x"}), 0, NULL);
	CHECK(!missing(at(root, "x")));

	hostile("symlink loop", DIFF_MT_LAYER,
		LAYER("none", {.name = "la", .type = AE_IFLNK, .link = "lb"}, {.name = "lb", .type = AE_IFLNK, .link = "la"},
		      {.name = "la/x", .data = "x"}), UCD_INVALID_ARGUMENT, "too many levels of symbolic links");

	hostile("dangling symlink as a parent", DIFF_MT_LAYER,
		LAYER("none", {.name = "dl", .type = AE_IFLNK, .link = "/no/such/dir"}, {.name = "dl/x", .data = "x"}),
		UCD_INVALID_ARGUMENT, "symbolic link to nothing");

	hostile("hard link to /etc/passwd (not in the layer)", DIFF_MT_LAYER,
		LAYER("none", {.name = "h", .hardlink = "/etc/passwd"}), UCD_INVALID_ARGUMENT, "does not exist");
	hostile("hard link to ../canary/secret", DIFF_MT_LAYER,
		LAYER("none", {.name = "h", .hardlink = "../canary/secret"}), UCD_INVALID_ARGUMENT, "escapes the root");
	hostile("hard link through a symlink to the canary", DIFF_MT_LAYER,
		LAYER("none", {.name = "up", .type = AE_IFLNK, .link = "../canary"}, {.name = "h", .hardlink = "up/secret"}),
		UCD_INVALID_ARGUMENT, "does not exist");
	hostile("hard link to a directory", DIFF_MT_LAYER,
		LAYER("none", {.name = "dd/", .type = AE_IFDIR}, {.name = "h", .hardlink = "dd"}), UCD_INVALID_ARGUMENT,
		"is a directory");
	hostile("hard link to the root", DIFF_MT_LAYER, LAYER("none", {.name = "h", .hardlink = "./"}),
		UCD_INVALID_ARGUMENT, "is the root");

	hostile("dir replaced by a symlink to /, then written through", DIFF_MT_LAYER,
		LAYER("none", {.name = "etc/", .type = AE_IFDIR}, {.name = "etc", .type = AE_IFLNK, .link = "/"},
		      {.name = "etc/passwd", .data = "x"}), 0, NULL);
	struct stat st;
	CHECK(lst(at(root, "etc"), &st) && S_ISLNK(st.st_mode) && !missing(at(root, "passwd")));

	hostile("dir replaced by a symlink to itself, then written through", DIFF_MT_LAYER,
		LAYER("none", {.name = "etc/", .type = AE_IFDIR}, {.name = "etc", .type = AE_IFLNK, .link = "/etc"},
		      {.name = "etc/passwd", .data = "x"}), UCD_INVALID_ARGUMENT, "too many levels");

	hostile("device node named like a parent", DIFF_MT_LAYER,
		LAYER("none", {.name = "dev0", .type = AE_IFCHR, .rmaj = 1, .rmin = 3}, {.name = "dev0/x", .data = "x"}),
		UCD_INVALID_ARGUMENT, "is not a directory");

	hostile("invalid whiteout .wh..", DIFF_MT_LAYER, LAYER("none", {.name = "a/.wh.."}), UCD_INVALID_ARGUMENT,
		"invalid whiteout name");
	hostile("invalid whiteout .wh.", DIFF_MT_LAYER, LAYER("none", {.name = ".wh."}), UCD_INVALID_ARGUMENT,
		"invalid whiteout name");
	hostile("invalid whiteout .wh...", DIFF_MT_LAYER, LAYER("none", {.name = "a/.wh..."}), UCD_INVALID_ARGUMENT,
		"invalid whiteout name");
	hostile("whiteout climbing out", DIFF_MT_LAYER, LAYER("none", {.name = "a/../../canary/.wh.secret"}),
		UCD_INVALID_ARGUMENT, "path escapes the root");
	hostile("whiteout of ..", DIFF_MT_LAYER, LAYER("none", {.name = "../.wh.canary"}), UCD_INVALID_ARGUMENT,
		"path escapes the root");
	hostile("absolute whiteout stays inside", DIFF_MT_LAYER,
		LAYER("none", {.name = "canary/", .type = AE_IFDIR}, {.name = "canary/secret", .data = "mine"},
		      {.name = "/canary/.wh.secret"}), 0, NULL);
	CHECK(missing(at(root, "canary/secret")));
	hostile("whiteout through a symlink to the canary lands inside", DIFF_MT_LAYER,
		LAYER("none", {.name = "canary/", .type = AE_IFDIR}, {.name = "canary/secret", .data = "mine"},
		      {.name = "up", .type = AE_IFLNK, .link = "../canary"}, {.name = "up/.wh.secret"}), 0, NULL);
	CHECK(missing(at(root, "canary/secret")));
	hostile("opaque whiteout on a symlink to / empties the root only", DIFF_MT_LAYER,
		LAYER("none", {.name = "keep", .data = "k"}, {.name = "o", .type = AE_IFLNK, .link = "/"},
		      {.name = "o/.wh..wh..opq"}), 0, NULL);
	CHECK(!missing(at(root, "keep")) && !missing(at(root, "o")));
	hostile("opaque whiteout on a symlink to ../canary", DIFF_MT_LAYER,
		LAYER("none", {.name = "o", .type = AE_IFLNK, .link = "../canary"}, {.name = "o/.wh..wh..opq"}),
		UCD_INVALID_ARGUMENT, "symbolic link to nothing");

	char *huge = xmalloc(5001);
	memset(huge, 'a', 5000);
	huge[5000] = '\0';
	for (int i = 100; i < 5000; i += 100)
		huge[i] = '/';
	hostile("name longer than PATH_MAX", DIFF_MT_LAYER, LAYER("none", {.name = huge, .data = "x"}),
		UCD_INVALID_ARGUMENT, "longer than");
	huge[300] = '\0';
	huge[100] = huge[200] = 'a';
	hostile("component longer than NAME_MAX", DIFF_MT_LAYER, LAYER("none", {.name = huge, .data = "x"}), UCD_UNKNOWN,
		"File name too long");
	free(huge);

	struct bytes t = LAYER("none", {.name = "big", .data = "0123456789abcdef0123456789abcdef"});
	t.n = 512 + 20;   /* cut inside the data */
	hostile("truncated inside file data", DIFF_MT_LAYER, t, UCD_INVALID_ARGUMENT, "big");
	t = LAYER("none", {.name = "big", .data = "x"});
	t.n = 300;   /* cut inside the header */
	hostile("truncated inside a header", DIFF_MT_LAYER, t, UCD_INVALID_ARGUMENT, "invalid tar");

	struct bytes h = {0};
	raw_header(&h, "huge", '0', 077777777777ULL, NULL);   /* 8 GiB declared, 1 KiB present */
	unsigned char some[1024] = {1};
	bytes_add(&h, some, sizeof some);
	hostile("huge declared size", DIFF_MT_LAYER, h, UCD_INVALID_ARGUMENT, "huge");

	struct bytes g = {0};
	srand(7);
	for (int i = 0; i < 4096; i++) {
		unsigned char c = (unsigned char)rand();
		bytes_add(&g, &c, 1);
	}
	hostile("garbage bytes", DIFF_MT_LAYER_GZIP, g, UCD_INVALID_ARGUMENT, "invalid tar");

	struct bytes z = LAYER("gzip", {.name = "f", .data = "x"});
	for (size_t i = 20; i < z.n - 8; i++)
		z.p[i] ^= 0x5a;
	hostile("corrupt gzip", DIFF_MT_LAYER_GZIP, z, UCD_INVALID_ARGUMENT, "");

	hostile("gzip data under the plain tar media type", DIFF_MT_LAYER, LAYER("gzip", {.name = "f", .data = "x"}),
		UCD_INVALID_ARGUMENT, "invalid tar");
	hostile("zstd data under +gzip is detected, as containerd does", DIFF_MT_LAYER_GZIP,
		LAYER("zstd", {.name = "f", .data = "x"}), 0, NULL);
	hostile("unknown media type", "application/vnd.oci.image.config.v1+json", LAYER("none", {.name = "f"}),
		UCD_UNKNOWN, "no processor for media-type");
	hostile("empty blob is an empty layer", DIFF_MT_LAYER_GZIP, (struct bytes){0}, 0, NULL);

	struct bytes damaged = LAYER("none", {.name = "first", .data = "1"}, {.name = "second", .data = "2"});
	damaged.p[1024 + 148] ^= 1;   /* the second header's checksum */
	hostile("a header failing its checksum", DIFF_MT_LAYER, damaged, UCD_INVALID_ARGUMENT,
		"invalid tar: Damaged tar archive");

	struct bytes s = {0};
	raw_header(&s, "sock", '9', 0, NULL);   /* no such tar type */
	raw_end(&s);
	hostile("unknown entry type", DIFF_MT_LAYER, s, 0, NULL);
}

/* --- diff --------------------------------------------------------------------------- */

static int sink(void *arg, const void *p, size_t n, struct ucd_error **err)
{
	bytes_add(arg, p, n);
	return 0;
}

/* Both trees the same: names, types, modes, owners, sizes, content, link
 * targets, non-directory mtimes (whole seconds), capabilities, and which
 * names share an inode. */
static bool same_tree(const char *a, const char *b)
{
	/* the listings go next to base (this run's own names), not into it:
	 * outside_untouched() wants base to hold only root/ and canary/ */
	char la[96], lb[96], cmd[2048];
	snprintf(la, sizeof la, "%s-a.txt", base);
	snprintf(lb, sizeof lb, "%s-b.txt", base);
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && find . -mindepth 1 -printf '%%P %%y %%m %%U %%G %%s %%l\\n' | sort > %s && "
		 "cd '%s' && find . -mindepth 1 -printf '%%P %%y %%m %%U %%G %%s %%l\\n' | sort > %s && "
		 "cmp -s %s %s && "
		 "cd '%s' && find . -type f -exec md5sum {} + | sort > %s && "
		 "cd '%s' && find . -type f -exec md5sum {} + | sort > %s && "
		 "cmp -s %s %s && "
		 "cd '%s' && find . ! -type d -printf '%%P %%T@ %%n\\n' | sed 's/\\.[0-9]* / /' | sort > %s && "
		 "cd '%s' && find . ! -type d -printf '%%P %%T@ %%n\\n' | sed 's/\\.[0-9]* / /' | sort > %s && "
		 "cmp -s %s %s",
		 a, la, b, lb, la, lb, a, la, b, lb, la, lb, a, la, b, lb, la, lb);
	bool same = system(cmd) == 0;
	if (!same)
		sh("diff %s %s | sed 's/^/# /' | head -20", la, lb);
	unlink(la);
	unlink(lb);
	return same;
}

static void test_diff(bool gzip)
{
	printf("# diff then apply, %s\n", gzip ? "gzip" : "plain");
	fresh_root();
	sh("cd '%s' && mkdir lower && cd lower && mkdir -p keep gone/sub swap2 opq && echo a > keep/same && "
	   "echo b > keep/changed && echo c > gone/sub/f && echo d > swap1 && echo e > swap2/f && "
	   "ln -s keep/same sym && echo h > hl1 && ln hl1 hl2 && echo m > mode && echo old > opq/x && "
	   "touch -d @1600000000 keep/changed && mkfifo fifo && echo same > samesize && touch -d @1600000000 samesize",
	   root);
	sh("cp -a '%s/lower' '%s/upper' && cd '%s/upper' && echo B > keep/changed && touch -d @1600000000 keep/changed && "
	   "rm -rf gone && rm swap1 && mkdir swap1 && echo in > swap1/f && rm -rf swap2 && echo file > swap2 && "
	   "rm sym && ln -s keep/changed sym && echo hh > hl1 && chmod 4750 mode && chown 12:34 mode && "
	   "mkdir -p new/deep && echo n > new/deep/f && ln new/deep/f new/link && rm fifo && "
	   "echo SAME > samesize && touch -d @1600000000 samesize",
	   root, root, root);
	CHECK(lsetxattr(at(root, "upper/new/deep/f"), "security.capability", fcap, sizeof fcap, 0) == 0);
	struct bytes out = {0};
	struct diff_result res;
	struct ucd_error *e = NULL;
	int rc = diff_trees(at(root, "lower"), at(root, "upper"), gzip, sink, &out, NULL, NULL, &res, &e);
	if (rc < 0)
		printf("# %s\n", e->msg);
	CHECK(rc == 0);
	CHECK(res.blob.size == (int64_t)out.n);
	if (!gzip)
		CHECK_STR(res.blob.digest, res.uncompressed.digest);

	sh("cp -a '%s/lower' '%s/applied'", root, root);
	struct diff_digest d;
	CHECK(apply_mt(at(root, "applied"), gzip ? DIFF_MT_LAYER_GZIP : DIFF_MT_LAYER, &out, NULL, &d) == 0);
	CHECK_STR(d.digest, res.uncompressed.digest);
	CHECK(d.size == res.uncompressed.size);
	CHECK(same_tree(at(root, "upper"), at(root, "applied")));
	CHECK(xattr_is(at(root, "applied/new/deep/f"), "security.capability", (const char *)fcap, sizeof fcap));

	/* Nothing changed: an empty layer (just the tar's end). */
	struct bytes none = {0};
	CHECK(diff_trees(at(root, "upper"), at(root, "upper"), false, sink, &none, NULL, NULL, &res, &e) == 0);
	CHECK(none.n == 1024);
	/* Two empty trees (no names to sort at all). */
	struct bytes empty = {0};
	sh("mkdir '%s/e1' '%s/e2'", root, root);
	CHECK(diff_trees(at(root, "e1"), at(root, "e2"), gzip, sink, &empty, NULL, NULL, &res, &e) == 0);
	free(empty.p);
	/* No lower: everything is added. */
	struct bytes all = {0};
	CHECK(diff_trees(NULL, at(root, "upper"), gzip, sink, &all, NULL, NULL, &res, &e) == 0);
	sh("mkdir '%s/fromscratch'", root);
	CHECK(apply_mt(at(root, "fromscratch"), gzip ? DIFF_MT_LAYER_GZIP : DIFF_MT_LAYER, &all, NULL, NULL) == 0);
	CHECK(same_tree(at(root, "upper"), at(root, "fromscratch")));
	free(out.p);
	free(none.p);
	free(all.p);
	error_free(e);
}

/* --- a tree that changes under the diff --------------------------------------------- */

/* A running container renames and replaces names while its snapshot is
 * diffed. These tests make the worst moment deterministic: the diff asks
 * its `cancelled` callback before each directory and after it has looked
 * at each entry (before anything reads that entry), and the callback does
 * the container's move at a chosen call. */
struct race {
	int calls, at;
	void (*act)(void);
};
static struct race race;

static bool race_cancelled(void *arg)
{
	struct race *r = arg;
	if (++r->calls == r->at)
		r->act();
	return false;
}

/* *out: what the diff wrote (the previous contents freed). */
static int race_diff(const char *lower, int when, void (*act)(void), struct bytes *out)
{
	free(out->p);
	*out = (struct bytes){0};
	race = (struct race){.at = when, .act = act};
	error_free(last_err);
	last_err = NULL;
	struct diff_result res;
	int rc = diff_trees(lower, at(root, "upper"), false, sink, out, race_cancelled, &race, &res, &last_err);
	if (rc < 0)
		printf("# error: %s\n", last_err->msg);
	CHECK(race.calls >= when);   /* the move did happen */
	return rc;
}

/* The data of entry `name` in the plain tar `b` (static storage), NULL
 * when there is no such regular entry. */
static const char *tar_data(const struct bytes *b, const char *name)
{
	static char data[256];
	const char *found = NULL;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_open_memory(a, b->p, b->n);
	struct archive_entry *e;
	while (found == NULL && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(e), name) != 0 || archive_entry_filetype(e) != AE_IFREG)
			continue;
		la_ssize_t n = archive_read_data(a, data, sizeof data - 1);
		data[n > 0 ? n : 0] = '\0';
		found = data;
	}
	archive_read_free(a);
	return found;
}

static void swap_in_fifo(void)
{
	CHECK(unlink(at(root, "upper/f")) == 0 && mkfifo(at(root, "upper/f"), 0644) == 0);
}

static void swap_in_device(void)
{
	/* /dev/zero's numbers: read as a regular file, it would put zeros
	 * (or, with a disk's numbers, the raw disk) into the layer */
	CHECK(unlink(at(root, "upper/f")) == 0 && mknod(at(root, "upper/f"), S_IFCHR | 0644, makedev(1, 5)) == 0);
}

static void remove_file(void)
{
	CHECK(unlink(at(root, "upper/f")) == 0);
}

static void swap_parent_for_symlink(void)
{
	/* d -> the canary directory outside: a lookup of "d/secret" by path
	 * would read the host's file */
	CHECK(rename(at(root, "upper/d"), at(root, "upper/d.moved")) == 0 && symlink(canary, at(root, "upper/d")) == 0);
}

static void swap_dir(void)
{
	CHECK(rename(at(root, "upper/d"), at(root, "upper/d.moved")) == 0 && mkdir(at(root, "upper/d"), 0755) == 0);
}

static void test_races(void)
{
	printf("# a tree that changes under the diff\n");
	fstree_hang_guard(60, "the diff hung on a name swapped for a fifo (a pool thread would hang)");
	struct bytes out = {0};

	/* "f" seen as a regular file, then a fifo: opened for reading it
	 * would block the thread forever */
	fresh_root();
	sh("mkdir '%s/upper' && echo -n data > '%s/upper/f'", root, root);
	CHECK(race_diff(NULL, 2, swap_in_fifo, &out) == -UCD_ABORTED && err_has("changed during the diff"));

	/* then a device node */
	fresh_root();
	sh("mkdir '%s/upper' && echo -n data > '%s/upper/f'", root, root);
	CHECK(race_diff(NULL, 2, swap_in_device, &out) == -UCD_ABORTED && err_has("/f changed during the diff"));

	/* gone before it is read: the diff fails, as containerd's does */
	fresh_root();
	sh("mkdir '%s/upper' && echo -n data > '%s/upper/f'", root, root);
	CHECK(race_diff(NULL, 2, remove_file, &out) == -UCD_ABORTED && err_has("changed during the diff"));

	/* the same on both sides but for the content: the comparison reads
	 * both, and must not open the fifo either */
	fresh_root();
	sh("mkdir '%s/lower' && echo -n data > '%s/lower/f' && touch -d @1600000000 '%s/lower/f' && "
	   "cp -a '%s/lower' '%s/upper'", root, root, root, root, root);
	CHECK(race_diff(at(root, "lower"), 2, swap_in_fifo, &out) == -UCD_ABORTED && err_has("changed during the diff"));

	/* a parent swapped for a symlink to the host once the walk is in it:
	 * the file is read from the directory the walk holds, never through
	 * the symlink (calls: the root, "d", d itself, "d/secret") */
	fresh_root();
	sh("mkdir -p '%s/upper/d' && echo -n inside > '%s/upper/d/secret'", root, root);
	CHECK(race_diff(NULL, 4, swap_parent_for_symlink, &out) == 0);
	const char *got = tar_data(&out, "d/secret");
	CHECK_STR(got, "inside");
	CHECK(memmem(out.p, out.n, "canary", 6) == NULL);

	/* a directory swapped for another between its stat and its walk */
	fresh_root();
	sh("mkdir -p '%s/upper/d' && echo -n inside > '%s/upper/d/secret'", root, root);
	CHECK(race_diff(NULL, 2, swap_dir, &out) == -UCD_ABORTED && err_has("/d changed during the diff"));
	free(out.p);

	fstree_hang_guard(0, NULL);
	CHECK(outside_untouched());
}

/* A tree 100,000 directories deep (a container can make one with mkdir
 * and chdir in a loop): the diff refuses it clearly instead of running the
 * thread out of stack. */
static void make_deep(const char *dir, int depth)
{
	CHECK(fstree_make_deep(dir, depth));
}

/* Deep trees go where they are quick to make (fstree.h). */
static char deep_base[128];

static const char *deep_dir(void)
{
	snprintf(deep_base, sizeof deep_base, "%s/ucd-test-deep-XXXXXX", fstree_fast_dir(base));
	if (mkdtemp(deep_base) == NULL)
		snprintf(deep_base, sizeof deep_base, "%s", root);
	return deep_base;
}

static void test_deep_diff(void)
{
	printf("# a tree 100,000 deep\n");
	const char *dir = deep_dir();
	make_deep(dir, 100000);
	struct bytes out = {0};
	struct diff_result res;
	error_free(last_err);
	last_err = NULL;
	CHECK(diff_trees(NULL, dir, true, sink, &out, NULL, NULL, &res, &last_err) == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("the tree is deeper than 512 directories"));
	free(out.p);
	sh("rm -rf '%s'", dir);
	/* 512 deep is fine */
	fresh_root();
	sh("mkdir '%s/upper'", root);
	make_deep(at(root, "upper"), 511);
	out = (struct bytes){0};
	error_free(last_err);
	last_err = NULL;
	CHECK(diff_trees(NULL, at(root, "upper"), false, sink, &out, NULL, NULL, &res, &last_err) == 0);
	free(out.p);
	fresh_root();
}

/* Apply: a mode is never set through a symlink. A process writing the
 * same tree could turn the name of a fifo the layer just made into a
 * symlink to a host file before its mode is set; the test hook does that
 * at the worst moment. */
static const char *hook_name;
static void (*hook_act)(int dir, const char *name);

void diff_apply_test_hook(const char *what, int dir, const char *name)
{
	if (hook_act != NULL && strcmp(what, "chmod") == 0 && strcmp(name, hook_name) == 0) {
		void (*a)(int, const char *) = hook_act;
		hook_act = NULL;
		a(dir, name);
	}
}

static void fifo_to_symlink(int dir, const char *name)
{
	CHECK(unlinkat(dir, name, 0) == 0 && symlinkat(at(canary, "secret"), dir, name) == 0);
}

static void test_apply_chmod_race(void)
{
	printf("# apply: a name turned into a symlink before its mode is set\n");
	fresh_root();
	struct stat before, after;
	CHECK(stat(at(canary, "secret"), &before) == 0);
	hook_name = "p";
	hook_act = fifo_to_symlink;
	struct bytes b = LAYER("none", {.name = "p", .type = AE_IFIFO, .perm = 0606});
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, NULL, NULL) == -UCD_UNKNOWN && err_has("chmod"));
	CHECK(hook_act == NULL);
	CHECK(stat(at(canary, "secret"), &after) == 0 && after.st_mode == before.st_mode);
	CHECK(outside_untouched());
	free(b.p);
}

/* Trees deeper than the apply walks: one a container left in a snapshot,
 * one a layer builds itself through symlinks (each entry name is at most
 * 4095 bytes, but a symlink to a deep directory makes the next entry start
 * there; the kernel follows at most 40 symlinks in one lookup, nested ones
 * fewer, so a layer gets to some 40,000-80,000 levels and no further: the
 * next entry is refused for its symlinks). Removing them (a whiteout, a
 * replacing entry, an opaque directory) is refused clearly; the thread
 * never runs out of stack. */
static int apply_at(const char *dir, struct bytes b)
{
	error_free(last_err);
	last_err = NULL;
	struct reader r = {&b, 0};
	struct diff_apply_opts plain = {.mode = DIFF_APPLY_PLAIN};
	struct diff_digest d;
	int rc = diff_apply(dir, DIFF_PLAIN_TAR, mem_read, &r, &plain, &d, &last_err);
	if (rc < 0)
		printf("# error: %.300s (errno %d: %s)\n", last_err->msg, last_err->errno_, strerror(last_err->errno_));
	free(b.p);
	return rc;
}

static void test_deep_apply(void)
{
	printf("# apply over trees 100,000 deep\n");
	char target[256];
	snprintf(target, sizeof target, "%s/t", deep_dir());
	sh("mkdir -p '%s/o'", target);
	make_deep(target, 100000);   /* t/d/d/..., then moved to t/o/deep */
	CHECK(rename(at(target, "d"), at(target, "o/deep")) == 0);

	CHECK(apply_at(target, LAYER("none", {.name = "o/.wh.deep"})) == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("entry \"o/.wh.deep\": remove whited-out file: the tree is deeper than 512 directories"));
	CHECK(apply_at(target, LAYER("none", {.name = "o/deep", .data = "now a file"})) == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("remove existing: the tree is deeper than 512 directories"));
	CHECK(apply_at(target, LAYER("none", {.name = "o/new", .data = "n"}, {.name = "o/.wh..wh..opq"})) ==
	      -UCD_FAILED_PRECONDITION);
	CHECK(err_has("remove for opaque directory: the tree is deeper than 512 directories"));
	struct stat st;
	CHECK(lst(at(target, "o/deep/d/d/d"), &st) && S_ISDIR(st.st_mode));

	/* a layer's own deep tree, through symlink hops: 2,000 levels per
	 * entry, each symlink one hop further; the 41st hop is refused */
	sh("rm -rf '%s' && mkdir '%s'", target, target);
	struct tb t;
	tb_open(&t, "none");
	char *chain = xmalloc(4100), *name = xmalloc(4200), *link = xmalloc(4200);
	size_t n = 0;
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(chain + n, i ? "/a" : "a");
	for (int k = 0; k <= 50; k++) {
		snprintf(name, 4200, "x%d/%s/", k, chain);
		if (k > 0) {
			snprintf(link, 4200, "x%d/%s", k - 1, chain);
			char sym[16];
			snprintf(sym, sizeof sym, "x%d", k);
			tb_add(&t, &(struct ent){.name = sym, .type = AE_IFLNK, .link = link});
		}
		tb_add(&t, &(struct ent){.name = name, .type = AE_IFDIR, .perm = 0755});
	}
	struct bytes hops = tb_close(&t);
	CHECK(apply_at(target, hops) == -UCD_INVALID_ARGUMENT);
	CHECK(err_has("entry \"x") && err_has("too many levels of symbolic links"));
	int fd = open(at(target, "x0"), O_RDONLY | O_DIRECTORY);
	int levels = 0;
	while (fd >= 0) {
		int next = openat(fd, "a", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		close(fd);
		fd = next;
		levels += next >= 0;
	}
	printf("# the layer made a tree %d directories deep\n", levels);
	CHECK(levels >= 20000);
	CHECK(apply_at(target, LAYER("none", {.name = ".wh.x0"})) == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("the tree is deeper than 512 directories"));

	/* an opaque marker over this layer's own directories, 600 deep */
	sh("rm -rf '%s' && mkdir '%s'", target, target);
	tb_open(&t, "none");
	n = (size_t)sprintf(name, "op");
	tb_add(&t, &(struct ent){.name = "op/", .type = AE_IFDIR, .perm = 0755});
	for (int i = 0; i < 600; i++) {
		n += (size_t)sprintf(name + n, "/a");
		char dirname[1300];
		snprintf(dirname, sizeof dirname, "%s/", name);
		tb_add(&t, &(struct ent){.name = dirname, .type = AE_IFDIR, .perm = 0755});
	}
	tb_add(&t, &(struct ent){.name = "op/.wh..wh..opq"});
	struct bytes opq = tb_close(&t);
	CHECK(apply_at(target, opq) == -UCD_FAILED_PRECONDITION);
	CHECK(err_has("opaque directory: the tree is deeper than 512 directories"));

	free(chain);
	free(name);
	free(link);
	sh("rm -rf '%s'", deep_base);
	CHECK(outside_untouched());
}

/* --- what libarchive is allowed to read, and how much --------------------------------- */

static bool root_is_empty(void)
{
	DIR *d = opendir(root);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		n++;
	if (d)
		closedir(d);
	return n == 2;
}

/* An archive of another format holding the file "pwned" (NULL when this
 * libarchive cannot write that format or filter). */
static bool other_archive(const char *format, const char *filter, struct bytes *out)
{
	*out = (struct bytes){0};
	struct archive *a = archive_write_new();
	bool ok = archive_write_set_format_by_name(a, format) == ARCHIVE_OK &&
		  (filter == NULL || archive_write_add_filter_by_name(a, filter) == ARCHIVE_OK) &&
		  archive_write_open(a, out, NULL, bytes_write_cb, NULL) == ARCHIVE_OK;
	if (ok) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, "pwned");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 1);
		ok = archive_write_header(a, e) == ARCHIVE_OK && archive_write_data(a, "x", 1) == 1;
		archive_entry_free(e);
		ok = archive_write_close(a) == ARCHIVE_OK && ok;
	}
	archive_write_free(a);
	if (!ok) {
		free(out->p);
		*out = (struct bytes){0};
	}
	return ok;
}

static void test_formats(void)
{
	printf("# only tar, only gzip and zstd\n");
	/* Every archive format libarchive's writer has besides tar: the
	 * reader would accept each with archive_read_support_format_all */
	static const char *const formats[] = {"zip", "7zip", "cpio", "odc", "newc", "iso9660", "ar", "arbsd",
					      "xar", "warc", "mtree", "shar", "raw"};
	int tried = 0;
	for (size_t i = 0; i < ARRAY_LEN(formats); i++) {
		struct bytes b;
		if (!other_archive(formats[i], NULL, &b)) {
			printf("# (this libarchive writes no %s)\n", formats[i]);
			continue;
		}
		tried++;
		for (int gz = 0; gz < 2; gz++) {
			fresh_root();
			struct bytes in = b;
			if (gz) {   /* gzip-wrapped, under the gzip media type: decompressed, then refused */
				in = (struct bytes){0};
				struct archive *a = archive_write_new();
				archive_write_set_format_raw(a);
				archive_write_add_filter_gzip(a);
				archive_write_open(a, &in, NULL, bytes_write_cb, NULL);
				struct archive_entry *e = archive_entry_new();
				archive_entry_set_filetype(e, AE_IFREG);
				archive_write_header(a, e);
				archive_write_data(a, b.p, b.n);
				archive_entry_free(e);
				archive_write_close(a);
				archive_write_free(a);
			}
			printf("# a %s archive%s\n", formats[i], gz ? ", gzip-compressed" : "");
			int rc = apply_mt(root, gz ? DIFF_MT_LAYER_GZIP : DIFF_MT_LAYER, &in, NULL, NULL);
			/* An ISO 9660 image begins with 32 KiB of zeros: to a tar
			 * reader (Go's too) the end of an empty archive */
			if (strcmp(formats[i], "iso9660") == 0 && rc == 0)
				printf("# read as an empty tar\n");
			else
				CHECK(rc == -UCD_INVALID_ARGUMENT && err_has("invalid tar"));
			CHECK(root_is_empty());
			if (gz)
				free(in.p);
		}
		free(b.p);
	}
	CHECK(tried >= 8);
	/* Every compression but gzip and zstd, around a valid tar, under a
	 * media type that detects compression */
	static const char *const filters[] = {"bzip2", "xz", "lzma", "lzip", "lz4", "compress", "uuencode", "b64encode",
					      "lzop", "grzip", "lrzip"};
	tried = 0;
	for (size_t i = 0; i < ARRAY_LEN(filters); i++) {
		struct bytes b;
		if (!other_archive("pax", filters[i], &b)) {
			printf("# (this libarchive writes no %s)\n", filters[i]);
			continue;
		}
		tried++;
		printf("# a %s-compressed tar\n", filters[i]);
		fresh_root();
		CHECK(apply_mt(root, DIFF_MT_LAYER_GZIP, &b, NULL, NULL) == -UCD_INVALID_ARGUMENT && err_has("invalid tar"));
		CHECK(root_is_empty());
		free(b.p);
	}
	CHECK(tried >= 6);
	CHECK(outside_untouched());
}

static struct bytes read_whole(const char *path)
{
	struct bytes b = {0};
	FILE *f = fopen(path, "rb");
	char buf[65536];
	size_t n;
	while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
		bytes_add(&b, buf, n);
	if (f)
		fclose(f);
	return b;
}

/* A pax record "len key=value\n". */
static void pax_record(struct bytes *b, const char *key, const char *value)
{
	char rec[512];
	size_t body = strlen(key) + strlen(value) + 3;
	size_t len = body + 1;
	while ((size_t)snprintf(NULL, 0, "%zu", len) + body != len)
		len++;
	snprintf(rec, sizeof rec, "%zu %s=%s\n", len, key, value);
	bytes_add(b, rec, strlen(rec));
}

static void pad512(struct bytes *b)
{
	static const unsigned char zero[512];
	if (b->n % 512)
		bytes_add(b, zero, 512 - b->n % 512);
}

static void test_limits(void)
{
	printf("# ceilings\n");
	struct diff_apply_opts o = {.mode = DIFF_APPLY_PLAIN};

	/* entries */
	o.limits = (struct diff_limits){.entries = 10};
	struct tb t;
	tb_open(&t, "gzip");
	char name[32];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "f%d", i);
		tb_add(&t, &(struct ent){.name = name});
	}
	struct bytes ten = tb_close(&t);
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER_GZIP, &ten, &o, NULL) == 0);
	o.limits.entries = 9;
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER_GZIP, &ten, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("entry \"f9\": the layer has more than 9 entries"));
	free(ten.p);

	/* entry names kept in memory */
	o.limits = (struct diff_limits){.name_bytes = 100};
	fresh_root();
	struct bytes names = LAYER("none", {.name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
				   {.name = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, {.name = "c"});
	CHECK(apply_mt(root, DIFF_MT_LAYER, &names, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("entry \"c\": the layer has entry names of more than 100 bytes"));
	free(names.p);

	/* the uncompressed stream: a file, bytes after the tar's end, and a
	 * gzip bomb (64 MiB of zeros in 64 KiB) stopped long before its end */
	o.limits = (struct diff_limits){.stream_bytes = 64 << 10};
	char *big = xcalloc(1, 100001);
	memset(big, 'b', 100000);
	struct bytes b = LAYER("none", {.name = "big", .data = big});
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("the layer is larger than 64 KiB uncompressed"));
	free(b.p);
	b = LAYER("none", {.name = "small", .data = "s"});
	unsigned char *trail = xcalloc(1, 100000);
	bytes_add(&b, trail, 100000);
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("larger than 64 KiB uncompressed"));
	free(b.p);
	o.limits.stream_bytes = 1 << 20;
	struct bytes bomb = {0};
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, &bomb, NULL, bytes_write_cb, NULL);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "zeros");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 64 << 20);
	archive_write_header(a, e);
	for (size_t left = 64 << 20; left > 0;) {
		size_t n = left < 100000 ? left : 100000;
		archive_write_data(a, trail, n);
		left -= n;
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	printf("# a gzip bomb: %zu bytes for 64 MiB\n", bomb.n);
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER_GZIP, &bomb, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("larger than 1 MiB uncompressed"));
	struct stat st;
	CHECK(lst(at(root, "zeros"), &st) && st.st_size <= (1 << 20));
	free(bomb.p);
	free(trail);
	free(big);

	/* sparse files: GNU tar's old sparse headers and pax 1.0, of a file
	 * of 15 TiB (ext4's files end below 16) with 6 bytes of data; a small
	 * one applies and stays sparse */
	o.limits = (struct diff_limits){0};   /* the defaults */
	sh("cd '%s' && mkdir sp && cd sp && truncate -s 15T huge && echo -n data16 | dd of=huge bs=1 seek=1000000 "
	   "conv=notrunc status=none && tar --sparse -cf ../gnu.tar huge && "
	   "tar --sparse --format=posix --sparse-version=1.0 -cf ../pax.tar huge && rm huge && "
	   "truncate -s 1M small && echo -n tail | dd of=small bs=1 seek=900000 conv=notrunc status=none && "
	   "tar --sparse --format=posix -cf ../small.tar small && cd .. && rm -r sp", base);
	static const char *const bombs[] = {"gnu.tar", "pax.tar"};
	for (int i = 0; i < 2; i++) {
		b = read_whole(at(base, bombs[i]));
		printf("# %s: a 15 TiB sparse file in %zu bytes\n", bombs[i], b.n);
		fresh_root();
		CHECK(b.n > 0 && b.n < (1 << 20));
		CHECK(apply_mt(root, DIFF_MT_LAYER, &b, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
		      err_has("entry \"huge\": the layer has sparse files with holes of more than 64 GiB"));
		CHECK(!lst(at(root, "huge"), &st) || st.st_size < (1ll << 40));
		free(b.p);
		unlink(at(base, bombs[i]));
	}
	b = read_whole(at(base, "small.tar"));
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, &o, NULL) == 0);
	CHECK(lst(at(root, "small"), &st) && st.st_size == 1 << 20 && st.st_blocks * 512 < (256 << 10));
	free(b.p);
	unlink(at(base, "small.tar"));

	/* a sparse map of 2 million extents (pax sparse 1.0): libarchive
	 * would keep a list entry per extent, 150 MB for a 4 MB gzip blob;
	 * it takes 20 MB of headers, over the 4 MiB of one entry's */
	b = (struct bytes){0};
	struct bytes pax = {0}, map = {0};
	pax_record(&pax, "GNU.sparse.major", "1");
	pax_record(&pax, "GNU.sparse.minor", "0");
	pax_record(&pax, "GNU.sparse.name", "mapped");
	pax_record(&pax, "GNU.sparse.realsize", "4000000");
	char line[64];
	snprintf(line, sizeof line, "%d\n", 2000000);
	bytes_add(&map, line, strlen(line));
	for (int i = 0; i < 2000000; i++) {
		snprintf(line, sizeof line, "%d\n0\n", 2 * i);
		bytes_add(&map, line, strlen(line));
	}
	pad512(&map);
	raw_header(&b, "PaxHeader", 'x', pax.n, NULL);
	bytes_add(&b, pax.p, pax.n);
	pad512(&b);
	raw_header(&b, "GNUSparseFile.0/mapped", '0', map.n, NULL);
	bytes_add(&b, map.p, map.n);
	raw_end(&b);
	fresh_root();
	CHECK(apply_mt(root, DIFF_MT_LAYER, &b, &o, NULL) == -UCD_RESOURCE_EXHAUSTED &&
	      err_has("the headers of one entry (pax records, sparse map) take more than 4 MiB"));
	free(pax.p);
	free(map.p);
	free(b.p);
	CHECK(outside_untouched());
}

static void test_clean(void)
{
	char out[64];
	CHECK(rootfs_clean("a//b/./c/", out) == 0 && strcmp(out, "a/b/c") == 0);
	CHECK(rootfs_clean("/etc/x", out) == 0 && strcmp(out, "etc/x") == 0);
	CHECK(rootfs_clean("/../x", out) == 0 && strcmp(out, "x") == 0);
	CHECK(rootfs_clean("a/../../x", out) < 0);
	CHECK(rootfs_clean("../x", out) < 0);
	CHECK(rootfs_clean("a/b/../..", out) == 1 && strcmp(out, ".") == 0);
	CHECK(rootfs_clean("./", out) == 1);
	CHECK(rootfs_clean("", out) == 1);
	CHECK(rootfs_clean("a/b/../c", out) == 0 && strcmp(out, "a/c") == 0);
	CHECK(rootfs_clean("..a/b", out) == 0 && strcmp(out, "..a/b") == 0);
}

static void test_media_types(void)
{
	enum diff_compression c;
	struct ucd_error *e = NULL;
	CHECK(diff_media_type_compression(DIFF_MT_LAYER, &c, &e) == 0 && c == DIFF_PLAIN_TAR);
	CHECK(diff_media_type_compression(DIFF_MT_LAYER_GZIP, &c, &e) == 0 && c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.oci.image.layer.v1.tar+zstd", &c, &e) == 0 && c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", &c, &e) == 0 &&
	      c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, &e) == 0 &&
	      c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.docker.image.rootfs.diff.tar", &c, &e) == 0 && c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", &c, &e) == 0 &&
	      c == DIFF_DETECT);
	CHECK(diff_media_type_compression("application/vnd.oci.image.layer.v1.tar+encrypted", &c, &e) == 0 &&
	      c == DIFF_PLAIN_TAR);
	CHECK(diff_media_type_compression("text/plain", &c, &e) == -UCD_UNKNOWN && e && e->code == UCD_UNKNOWN &&
	      strcmp(e->msg, "failed to get stream processor for text/plain: no processor for media-type") == 0);
	error_free(e);
}

int main(void)
{
	if (getuid() != 0) {
		printf("1..0 # SKIP applying layers needs root (owners, device nodes)\n");
		return 77;
	}
	snprintf(base, sizeof base, "/tmp/ucd-test-diff-XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(canary, sizeof canary, "%s/canary", base);
	sh("mkdir '%s' && echo -n canary > '%s/secret'", canary, canary);
	stat("/etc/passwd", &passwd_before);

	test_clean();
	test_media_types();
	test_every_type("none", DIFF_MT_LAYER);
	test_every_type("gzip", DIFF_MT_LAYER_GZIP);
	test_every_type("zstd", "application/vnd.oci.image.layer.v1.tar+zstd");
	test_every_type("gzip", "application/vnd.docker.image.rootfs.diff.tar");
	test_pax_and_gnu_names();
	test_whiteouts_plain();
	test_whiteouts_overlay(false);
	test_whiteouts_overlay(true);
	test_parent_xattrs();
	test_hostile();
	test_diff(true);
	test_diff(false);
	test_races();
	test_deep_diff();
	test_apply_chmod_race();
	test_deep_apply();
	test_formats();
	test_limits();

	error_free(last_err);
	sh("rm -rf '%s'", base);
	return tap_done();
}
