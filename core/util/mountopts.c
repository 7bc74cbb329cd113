/* Mount option strings to mount(2) flags (see mountopts.h). */
#include "util/mountopts.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>

#include "util/mem.h"

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} flags[] = {
	{"async", true, MS_SYNCHRONOUS},  {"atime", true, MS_NOATIME},     {"bind", false, MS_BIND},
	{"defaults", false, 0},           {"dev", true, MS_NODEV},         {"diratime", true, MS_NODIRATIME},
	{"dirsync", false, MS_DIRSYNC},   {"exec", true, MS_NOEXEC},       {"mand", false, MS_MANDLOCK},
	{"noatime", false, MS_NOATIME},   {"nodev", false, MS_NODEV},      {"nodiratime", false, MS_NODIRATIME},
	{"noexec", false, MS_NOEXEC},     {"nomand", true, MS_MANDLOCK},   {"norelatime", true, MS_RELATIME},
	{"nostrictatime", true, MS_STRICTATIME}, {"nosuid", false, MS_NOSUID}, {"rbind", false, MS_BIND | MS_REC},
	{"relatime", false, MS_RELATIME}, {"remount", false, MS_REMOUNT},  {"ro", false, MS_RDONLY},
	{"rw", true, MS_RDONLY},          {"strictatime", false, MS_STRICTATIME}, {"suid", true, MS_NOSUID},
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

void mount_opts_parse(const char *const *options, size_t n, struct mount_opts *out)
{
	size_t cap = 1;
	for (size_t i = 0; i < n; i++)
		cap += strlen(options[i]) + 1;
	out->data = xcalloc(1, cap);
	out->flags = out->propagation = 0;
	for (size_t i = 0; i < n; i++) {
		const char *o = options[i];
		bool known = false;
		for (size_t k = 0; k < ARRAY_LEN(flags) && !known; k++) {
			if (strcmp(o, flags[k].name) != 0)
				continue;
			known = true;
			if (flags[k].clear)
				out->flags &= ~flags[k].flag;
			else
				out->flags |= flags[k].flag;
		}
		for (size_t k = 0; k < ARRAY_LEN(propagation) && !known; k++) {
			if (strcmp(o, propagation[k].name) == 0) {
				known = true;
				out->propagation |= propagation[k].flag;
			}
		}
		if (known)
			continue;
		if (out->data[0] != '\0')
			strcat(out->data, ",");
		strcat(out->data, o);
	}
}
