/* The task's rootfs: the mounts of CreateTaskRequest.rootfs, one over the
 * other onto <bundle>/rootfs, as containerd's mount.All does. Options are
 * mount(8)'s: the flag words become MS_* bits, the rest is the data string
 * (overlay's lowerdir=..., upperdir=...). A bind mount is read-only only
 * after a remount, so "ro" on a bind is applied in a second step. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "shim.h"

static int mount_one(const char *target, const struct mount_spec *m, struct shim_err *e)
{
	struct mount_opts mo;
	mount_opts_parse((const char *const *)m->options, m->n_options, &mo);
	unsigned long fl = mo.flags, prop = mo.propagation;
	char *data = mo.data;
	const char *type = m->type && *m->type ? m->type : "none";
	const char *source = m->source && *m->source ? m->source : type;
	int r = 0;
	if (strlen(data) >= 4096 - 1) {
		r = fail(e, CODE_INVALID_ARGUMENT, "mount options of %s too long (%zu bytes)", source, strlen(data));
	} else if (fl & MS_BIND) {
		r = mount(source, target, NULL, fl & (MS_BIND | MS_REC), NULL);
		unsigned long rest = fl & ~(MS_BIND | MS_REC | MS_REMOUNT);
		if (r == 0 && rest != 0)
			r = mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | rest, NULL);
		if (r < 0)
			r = fail(e, CODE_UNKNOWN, "bind mount %s on %s: %s", source, target, strerror(errno));
	} else {
		r = mount(source, target, type, fl, data);
		if (r < 0)
			r = fail(e, CODE_UNKNOWN, "mount %s (%s, %s) on %s: %s", source, type, data, target,
				 strerror(errno));
	}
	if (r == 0 && prop != 0 && mount(NULL, target, NULL, prop, NULL) < 0)
		r = fail(e, CODE_UNKNOWN, "set propagation of %s: %s", target, strerror(errno));
	free(data);
	return r;
}

int mount_rootfs(const char *target, const struct mount_spec *m, size_t n, struct shim_err *e)
{
	if (n == 0)
		return 0;
	if (mkdir_p(target, 0711) < 0)
		return fail(e, CODE_INTERNAL, "create %s: %s", target, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		if (mount_one(target, &m[i], e) < 0) {
			unmount_all(target);
			return fail_wrap(e, "failed to mount rootfs component");
		}
	}
	return 0;
}

void unmount_all(const char *target)
{
	/* stacked mounts come off one at a time; EINVAL: nothing mounted there any more */
	for (int i = 0; i < 64; i++) {
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
			if (errno != EINVAL && errno != ENOENT)
				log_warn("unmount %s: %s", target, strerror(errno));
			return;
		}
	}
}
