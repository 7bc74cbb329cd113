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

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} flags[] = {
	{"async", true, MS_SYNCHRONOUS},     {"atime", true, MS_NOATIME},       {"bind", false, MS_BIND},
	{"defaults", false, 0},              {"dev", true, MS_NODEV},           {"diratime", true, MS_NODIRATIME},
	{"dirsync", false, MS_DIRSYNC},      {"exec", true, MS_NOEXEC},         {"mand", false, MS_MANDLOCK},
	{"noatime", false, MS_NOATIME},      {"nodev", false, MS_NODEV},        {"nodiratime", false, MS_NODIRATIME},
	{"noexec", false, MS_NOEXEC},        {"nomand", true, MS_MANDLOCK},     {"norelatime", true, MS_RELATIME},
	{"nostrictatime", true, MS_STRICTATIME}, {"nosuid", false, MS_NOSUID},  {"rbind", false, MS_BIND | MS_REC},
	{"relatime", false, MS_RELATIME},    {"remount", false, MS_REMOUNT},    {"ro", false, MS_RDONLY},
	{"rw", true, MS_RDONLY},             {"strictatime", false, MS_STRICTATIME}, {"suid", true, MS_NOSUID},
	{"sync", false, MS_SYNCHRONOUS},
};

static const struct {
	const char *name;
	unsigned long flag;
} propagation[] = {
	{"private", MS_PRIVATE},         {"rprivate", MS_PRIVATE | MS_REC}, {"shared", MS_SHARED},
	{"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE},               {"rslave", MS_SLAVE | MS_REC},
	{"unbindable", MS_UNBINDABLE},   {"runbindable", MS_UNBINDABLE | MS_REC},
};

/* Splits options into flags, propagation and the data string (malloc'ed). */
static char *parse_options(const struct mount_spec *m, unsigned long *fl, unsigned long *prop)
{
	size_t cap = 1;
	for (size_t i = 0; i < m->n_options; i++)
		cap += strlen(m->options[i]) + 1;
	char *data = xcalloc(1, cap);
	*fl = *prop = 0;
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		bool known = false;
		for (size_t k = 0; k < ARRAY_LEN(flags) && !known; k++) {
			if (strcmp(o, flags[k].name) != 0)
				continue;
			known = true;
			if (flags[k].clear)
				*fl &= ~flags[k].flag;
			else
				*fl |= flags[k].flag;
		}
		for (size_t k = 0; k < ARRAY_LEN(propagation) && !known; k++) {
			if (strcmp(o, propagation[k].name) == 0) {
				known = true;
				*prop |= propagation[k].flag;
			}
		}
		if (known)
			continue;
		if (*data)
			strcat(data, ",");
		strcat(data, o);
	}
	return data;
}

static int mount_one(const char *target, const struct mount_spec *m, struct shim_err *e)
{
	unsigned long fl, prop;
	char *data = parse_options(m, &fl, &prop);
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
		if (umount2(target, MNT_DETACH) < 0) {
			if (errno != EINVAL && errno != ENOENT)
				log_warn("unmount %s: %s", target, strerror(errno));
			return;
		}
	}
}
