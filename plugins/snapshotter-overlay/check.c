/* Can overlayfs work on the root's filesystem? As containerd's
 * overlayutils.Supported: the filesystem must report file types in
 * directory entries (d_type; xfs made with ftype=0 does not), and a real
 * overlay mount with two lower directories must succeed there. Also finds
 * out which options the kernel wants (index=off, userxattr). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ovl.h"

#define XFS_MAGIC 0x58465342
#define TMPFS_MAGIC 0x01021994
#define OVERLAYFS_MAGIC 0x794c7630

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext4";
	case XFS_MAGIC: return "xfs";
	case 0x9123683E: return "btrfs";
	case TMPFS_MAGIC: return "tmpfs";
	case OVERLAYFS_MAGIC: return "overlayfs";
	case 0x2FC12FC1: return "zfs";
	case 0x6969: return "nfs";
	case 0x65735546: return "fuse";
	case 0x4d44: return "vfat";
	case 0x5346544e: return "ntfs";
	case 0xF2F52010: return "f2fs";
	case 0x01021997: return "9p";
	case 0xFF534D42: return "cifs";
	default: return NULL;
	}
}

/* "xfs" or "a filesystem of type 0x1234" */
static void describe(long type, char *buf, size_t n)
{
	const char *name = fs_name(type);
	if (name)
		snprintf(buf, n, "%s", name);
	else
		snprintf(buf, n, "a filesystem of type 0x%lx", (unsigned long)type);
}

/* containerd's userns.RunningInUserNS: the full identity map means the
 * initial namespace. */
static bool in_user_namespace(void)
{
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (f == NULL)
		return false;
	unsigned long a = 0, b = 0, c = 0;
	int n = fscanf(f, "%lu %lu %lu", &a, &b, &c);
	fclose(f);
	return !(n == 3 && a == 0 && b == 0 && c == 4294967295ul);
}

/* Whether entries of a fresh directory on that filesystem carry d_type. */
static int has_d_type(const struct ucd_host *h, const char *root, bool *yes, struct ucd_error **err)
{
	char *td = snst_printf(h, "%s/.d_type-check-XXXXXX", root);
	if (mkdtemp(td) == NULL) {
		int r = snst_errno(h, err, errno, "overlayfs: cannot create a directory in `%s`", root);
		h->free(td);
		return r;
	}
	char *file = snst_printf(h, "%s/f", td);
	int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	*yes = true;
	DIR *d = opendir(td);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, "f") == 0)
			*yes = e->d_type != DT_UNKNOWN;
	if (d != NULL)
		closedir(d);
	snst_remove_path(td);
	h->free(file);
	h->free(td);
	return 0;
}

/* Mounts an overlay with two lower directories in a scratch directory
 * under root and unmounts it; 0 or the errno of mount(2). */
static int try_mount(const struct ucd_host *h, const char *root, bool userxattr, int *mount_errno,
		     struct ucd_error **err)
{
	char *td = snst_printf(h, "%s/.overlay-check-XXXXXX", root);
	if (mkdtemp(td) == NULL) {
		int r = snst_errno(h, err, errno, "overlayfs: cannot create a directory in `%s`", root);
		h->free(td);
		return r;
	}
	static const char *const dirs[] = {"lower1", "lower2", "upper", "work", "merged"};
	int r = 0;
	for (size_t i = 0; i < 5 && r == 0; i++) {
		char *p = snst_printf(h, "%s/%s", td, dirs[i]);
		if (mkdir(p, 0755) != 0)
			r = snst_errno(h, err, errno, "overlayfs: cannot create `%s`", p);
		h->free(p);
	}
	if (r == 0) {
		char *opts = snst_printf(h, "lowerdir=%s/lower2:%s/lower1,upperdir=%s/upper,workdir=%s/work%s", td, td, td,
					 td, userxattr ? ",userxattr" : "");
		char *merged = snst_printf(h, "%s/merged", td);
		*mount_errno = 0;
		if (mount("overlay", merged, "overlay", 0, opts) != 0)
			*mount_errno = errno;
		else if (umount2(merged, 0) != 0)
			umount2(merged, MNT_DETACH);
		h->free(opts);
		h->free(merged);
	}
	snst_remove_path(td);
	h->free(td);
	return r;
}

int ovl_check(const struct ucd_host *h, const char *root, struct ovl_features *f, struct ucd_error **err)
{
	memset(f, 0, sizeof *f);
	struct statfs sfs;
	if (statfs(root, &sfs) != 0)
		return snst_errno(h, err, errno, "overlayfs: cannot inspect `%s`", root);
	char fs[64];
	describe((long)sfs.f_type, fs, sizeof fs);

	bool d_type = true;
	int r = has_d_type(h, root, &d_type, err);
	if (r < 0)
		return r;
	if (!d_type) {
		if ((unsigned long)sfs.f_type == XFS_MAGIC)
			h->error_new(err, UCD_FAILED_PRECONDITION, 0,
				     "overlayfs: `%s` is on xfs without d_type (ftype=0): overlay needs d_type; "
				     "reformat with `mkfs.xfs -n ftype=1` or use the native snapshotter",
				     root);
		else
			h->error_new(err, UCD_FAILED_PRECONDITION, 0,
				     "overlayfs: `%s` is on %s, which does not report file types in directory entries "
				     "(d_type): overlay needs d_type; use the native snapshotter",
				     root, fs);
		return UCD_PLUGIN_SKIP;
	}

	/* containerd's NeedsUserXAttr: only in a user namespace, never on
	 * tmpfs; kernels since 5.11 know the option (tried first, below). */
	bool want_userxattr = in_user_namespace() && (unsigned long)sfs.f_type != TMPFS_MAGIC;
	int merr = 0;
	if (want_userxattr) {
		if ((r = try_mount(h, root, true, &merr, err)) < 0)
			return r;
		f->userxattr = merr == 0;
	}
	if (!f->userxattr && (r = try_mount(h, root, false, &merr, err)) < 0)
		return r;
	if (merr != 0) {
		if (merr == EPERM || merr == EACCES)
			h->error_new(err, UCD_FAILED_PRECONDITION, merr,
				     "overlayfs: cannot mount overlay on `%s`: %s: the daemon needs CAP_SYS_ADMIN "
				     "(or a user namespace that may mount overlay); use the native snapshotter",
				     root, strerror(merr));
		else if (merr == ENODEV)
			h->error_new(err, UCD_FAILED_PRECONDITION, merr,
				     "overlayfs: the kernel has no overlay filesystem (is the `overlay` module "
				     "available? try `modprobe overlay`); use the native snapshotter");
		else if ((unsigned long)sfs.f_type == OVERLAYFS_MAGIC)
			h->error_new(err, UCD_FAILED_PRECONDITION, merr,
				     "overlayfs: `%s` is itself on overlayfs, which cannot hold the upper directory "
				     "of another overlay (%s); put the root on ext4 or xfs, or use the native snapshotter",
				     root, strerror(merr));
		else
			h->error_new(err, UCD_FAILED_PRECONDITION, merr,
				     "overlayfs: a test overlay mount on `%s` (on %s) failed: %s; the kernel log "
				     "(dmesg) may say why; use the native snapshotter",
				     root, fs, strerror(merr));
		return UCD_PLUGIN_SKIP;
	}
	/* After the mount, so that the module is loaded if it was a module
	 * (containerd's supportsIndex). */
	struct stat st;
	f->index_off = stat("/sys/module/overlay/parameters/index", &st) == 0;
	return 0;
}
