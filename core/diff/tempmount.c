/* Temporary mounts (see tempmount.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff/tempmount.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/mountopts.h"

/* An overlay whose options do not fit the one page mount(2) copies (a
 * deep lowerdir chain): containerd's mount.All shortens the paths by
 * mounting from their common parent; the new mount API does without that
 * trick - each lower directory is its own fsconfig "lowerdir+" (Linux 6.8),
 * each other option its own fsconfig call - so the length is unlimited. */
static int mount_overlay_long(const char *data, const char *target, unsigned long flags, struct ucd_error **err)
{
	int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return error_set(err, UCD_UNKNOWN, errno, "overlay options of %zu bytes: fsopen: %s", strlen(data),
				 strerror(errno));
	autofree char *opts = xstrdup(data);
	char *save = NULL;
	int r = 0;
	for (char *o = strtok_r(opts, ",", &save); o != NULL && r == 0; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		if (eq == NULL) {
			r = fsconfig(fs, FSCONFIG_SET_FLAG, o, NULL, 0);
			continue;
		}
		*eq = '\0';
		if (strcmp(o, "lowerdir") != 0) {
			r = fsconfig(fs, FSCONFIG_SET_STRING, o, eq + 1, 0);
			continue;
		}
		char *lsave = NULL;
		for (char *l = strtok_r(eq + 1, ":", &lsave); l != NULL && r == 0; l = strtok_r(NULL, ":", &lsave))
			r = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l, 0);
	}
	if (r == 0 && (flags & MS_RDONLY))
		r = fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0);
	if (r == 0)
		r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	if (r < 0) {
		int e = errno;
		close(fs);
		return error_set(err, UCD_UNKNOWN, e, "overlay options of %zu bytes (too long for mount(2)): fsconfig: %s",
				 strlen(data), strerror(e));
	}
	unsigned attrs = (flags & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (flags & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
			 (flags & MS_NODEV ? MOUNT_ATTR_NODEV : 0) | (flags & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0);
	int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	int e = errno;
	close(fs);
	if (mnt < 0)
		return error_set(err, UCD_UNKNOWN, e, "overlay: fsmount: %s", strerror(e));
	r = move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
	e = errno;
	close(mnt);
	if (r < 0)
		return error_set(err, UCD_UNKNOWN, e, "overlay: move_mount to %s: %s", target, strerror(e));
	return 0;
}

/* The options of a read-only view of an overlay: its upperdir becomes the
 * top lowerdir, and there is no workdir. Mounting an overlay on the
 * upperdir and workdir of another - a running container's - is what the
 * kernel calls undefined, and even read-only it empties the workdir the
 * container's overlay is using (containerd's readonly temp mounts do the
 * same conversion). Returns a malloc'd array of *n strings (free each). */
static char **readonly_overlay(char *const *options, size_t n_options, size_t *n)
{
	const char *upper = NULL;
	for (size_t i = 0; i < n_options; i++)
		if (strncmp(options[i], "upperdir=", 9) == 0)
			upper = options[i] + 9;
	char **out = xcalloc(n_options + 1, sizeof *out);
	bool has_lower = false;
	*n = 0;
	for (size_t i = 0; i < n_options; i++) {
		if (strncmp(options[i], "upperdir=", 9) == 0 || strncmp(options[i], "workdir=", 8) == 0)
			continue;
		if (upper != NULL && strncmp(options[i], "lowerdir=", 9) == 0) {
			out[(*n)++] = xasprintf("lowerdir=%s:%s", upper, options[i] + 9);
			has_lower = true;
			continue;
		}
		out[(*n)++] = xstrdup(options[i]);
	}
	if (upper != NULL && !has_lower)
		out[(*n)++] = xasprintf("lowerdir=%s", upper);
	return out;
}

static int mount_one(const struct tempmount_spec *m, const char *target, bool readonly, struct ucd_error **err)
{
	struct mount_opts mo;
	if (readonly && m->type != NULL && strcmp(m->type, "overlay") == 0) {
		size_t n = 0;
		char **opts = readonly_overlay(m->options, m->n_options, &n);
		mount_opts_parse((const char *const *)opts, n, &mo);
		for (size_t i = 0; i < n; i++)
			free(opts[i]);
		free(opts);
	} else {
		mount_opts_parse((const char *const *)m->options, m->n_options, &mo);
	}
	autofree char *data = mo.data;
	/* The daemon only reads and writes files under a temporary mount: a
	 * device node or a setuid binary the tree holds (a container made
	 * it) is never to work there. */
	unsigned long flags = mo.flags | MS_NOSUID | MS_NODEV;
	if (readonly)
		flags |= MS_RDONLY;
	const char *type = m->type && m->type[0] ? m->type : "none";
	if (strcmp(type, "overlay") == 0 && strlen(data) >= (size_t)sysconf(_SC_PAGESIZE))
		return mount_overlay_long(data, target, flags, err);
	if (mount(m->source, target, type, flags & ~MS_REMOUNT, data[0] ? data : NULL) < 0)
		return error_set(err, UCD_UNKNOWN, errno, "mount %s (%s) on %s: %s", m->source ? m->source : "", type,
				 target, strerror(errno));
	/* A bind mount ignores MS_RDONLY, MS_NOSUID, MS_NODEV until remounted. */
	unsigned long keep = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if ((flags & MS_BIND) && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (flags & keep), NULL) < 0) {
		int e = errno;
		umount2(target, MNT_DETACH);
		return error_set(err, UCD_UNKNOWN, e, "remount %s nosuid,nodev%s: %s", target,
				 flags & MS_RDONLY ? ",ro" : "", strerror(e));
	}
	return 0;
}

int tempmount_mount(const char *parent, const struct tempmount_spec *specs, size_t n, bool readonly, char **dir,
		    struct ucd_error **err)
{
	if (fs_mkdir_p(parent, 0700, err) < 0)
		return -1;
	autofree char *path = xasprintf("%s/ucd-mount-XXXXXX", parent);
	if (mkdtemp(path) == NULL)
		return error_set(err, UCD_UNKNOWN, errno, "create temporary mount point under %s: %s", parent, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		if (mount_one(&specs[i], path, readonly, err) < 0) {
			for (size_t k = 0; k < i; k++)
				umount2(path, MNT_DETACH);
			rmdir(path);
			return -1;
		}
	}
	*dir = steal(path);
	return 0;
}

int tempmount_unmount(char *dir, size_t n, struct ucd_error **err)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		/* Busy (a straggling reader): detach, the kernel finishes later. */
		if (umount2(dir, 0) < 0 && umount2(dir, MNT_DETACH) < 0 && rc == 0)
			rc = error_set(err, UCD_UNKNOWN, errno, "unmount %s: %s", dir, strerror(errno));
	}
	if (rc == 0 && rmdir(dir) < 0)
		rc = error_set(err, UCD_UNKNOWN, errno, "remove %s: %s", dir, strerror(errno));
	free(dir);
	return rc;
}
