/* The container's cgroup (v1): counters for Stats and the OOM event.
 *
 * The cgroup is found from the init process (/proc/<pid>/cgroup, and the
 * mount points of the v1 hierarchies in /proc/self/mountinfo) right after
 * Create, so it works whatever cgroupsPath and runtime made it, and Stats
 * still answers after the init exited, until Delete removes the cgroup.
 * memory.stat keys are matched to io.containerd.cgroups.v1.MemoryStat by
 * the message's own field names, underscores aside (pgpgin = pg_pg_in). */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerd/events/task.pb-c.h"
#include "io/containerd/cgroups/v1/metrics.pb-c.h"
#include "shim.h"

enum { CG_MEMORY, CG_CPUACCT, CG_CPU, CG_PIDS, CG_COUNT };
static const char *const cg_names[CG_COUNT] = {"memory", "cpuacct", "cpu", "pids"};

struct cgroups {
	char *dir[CG_COUNT];   /* /sys/fs/cgroup/<hierarchy>/<path>, or NULL */
	struct watch oom;      /* eventfd registered with memory.oom_control */
	char *container_id;
};

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* The n-th space-separated field of a line (0-based), copied into out. */
static bool field(const char *line, int n, char *out, size_t size)
{
	const char *p = line;
	for (int i = 0; i < n; i++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return false;
		p++;
	}
	size_t len = strcspn(p, " \n");
	if (len == 0 || len >= size)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

/* The mount point of the v1 hierarchy that has controller c. */
static char *mount_point(const char *controller)
{
	char *info = read_file("/proc/self/mountinfo", 4u << 20, NULL);
	if (info == NULL)
		return NULL;
	char *found = NULL, *save = NULL;
	for (char *line = strtok_r(info, "\n", &save); line != NULL && found == NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sep = strstr(line, " - ");
		char fstype[16], super[1024], mp[2048], root[8];
		if (sep == NULL || !field(sep + 3, 0, fstype, sizeof fstype) || strcmp(fstype, "cgroup") != 0 ||
		    !field(sep + 3, 2, super, sizeof super) || !has_word(super, controller))
			continue;
		if (field(line, 3, root, sizeof root) && strcmp(root, "/") == 0 && field(line, 4, mp, sizeof mp))
			found = xstrdup(mp);
	}
	free(info);
	return found;
}

struct cgroups *cgroup_load(pid_t pid, const char *container_id)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	char *text = read_file(path, 1u << 16, NULL);
	if (text == NULL)
		return NULL;
	struct cgroups *cg = xcalloc(1, sizeof *cg);
	cg->oom.fd = -1;
	cg->container_id = xstrdup(container_id);
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		for (int i = 0; i < CG_COUNT; i++) {
			if (cg->dir[i] != NULL || !has_word(c1 + 1, cg_names[i]))
				continue;
			char *mp = mount_point(cg_names[i]);
			if (mp != NULL)
				cg->dir[i] = xasprintf("%s%s", mp, c2 + 1);
			free(mp);
		}
	}
	free(text);
	return cg;
}

static void oom_stop(struct cgroups *cg)
{
	loop_close(&cg->oom);
}

void cgroup_free(struct cgroups *cg)
{
	if (cg == NULL)
		return;
	oom_stop(cg);
	for (int i = 0; i < CG_COUNT; i++)
		free(cg->dir[i]);
	free(cg->container_id);
	loop_free_later(cg);   /* an OOM event of the current batch may still name it */
}

/* --- reading ------------------------------------------------------------- */

static char *cg_read(const struct cgroups *cg, int which, const char *file)
{
	if (cg->dir[which] == NULL)
		return NULL;
	char *path = xasprintf("%s/%s", cg->dir[which], file);
	char *s = read_file(path, 1 << 16, NULL);
	free(path);
	return s;
}

static uint64_t cg_u64(const struct cgroups *cg, int which, const char *file)
{
	char *s = cg_read(cg, which, file);
	uint64_t v = s ? strtoull(s, NULL, 10) : 0;   /* "max" (pids.max) reads as 0: no limit */
	free(s);
	return v;
}

/* Calls fn(key, value) for each "key value" line. */
static void each_pair(const char *text, void (*fn)(void *arg, const char *key, uint64_t v), void *arg)
{
	if (text == NULL)
		return;
	char key[128];
	for (const char *p = text; *p;) {
		size_t klen = strcspn(p, " \n");
		if (p[klen] == ' ' && klen < sizeof key) {
			memcpy(key, p, klen);
			key[klen] = '\0';
			char *end;
			uint64_t v = strtoull(p + klen + 1, &end, 10);
			if (end != p + klen + 1)
				fn(arg, key, v);
		}
		const char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static bool same_name(const char *field, const char *key)
{
	for (;;) {
		while (*field == '_')
			field++;
		while (*key == '_')
			key++;
		if (*field != *key)
			return false;
		if (*field == '\0')
			return true;
		field++;
		key++;
	}
}

static void set_u64_field(ProtobufCMessage *m, const char *key, uint64_t v)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if (fd->type == PROTOBUF_C_TYPE_UINT64 && fd->label != PROTOBUF_C_LABEL_REPEATED &&
		    same_name(fd->name, key)) {
			*(uint64_t *)((char *)m + fd->offset) = v;
			return;
		}
	}
}

static void memory_stat_pair(void *arg, const char *key, uint64_t v)
{
	Io__Containerd__Cgroups__V1__MemoryStat *m = arg;
	if (strcmp(key, "hierarchical_memsw_limit") == 0)
		m->hierarchical_swap_limit = v;
	else
		set_u64_field(&m->base, key, v);
}

static void memory_entry(const struct cgroups *cg, const char *prefix, Io__Containerd__Cgroups__V1__MemoryEntry *e)
{
	char f[96];
	snprintf(f, sizeof f, "%s.usage_in_bytes", prefix);
	e->usage = cg_u64(cg, CG_MEMORY, f);
	snprintf(f, sizeof f, "%s.limit_in_bytes", prefix);
	e->limit = cg_u64(cg, CG_MEMORY, f);
	snprintf(f, sizeof f, "%s.max_usage_in_bytes", prefix);
	e->max = cg_u64(cg, CG_MEMORY, f);
	snprintf(f, sizeof f, "%s.failcnt", prefix);
	e->failcnt = cg_u64(cg, CG_MEMORY, f);
}

static void oom_pair(void *arg, const char *key, uint64_t v)
{
	Io__Containerd__Cgroups__V1__MemoryOomControl *o = arg;
	set_u64_field(&o->base, key, v);
}

struct cpu_times {
	uint64_t user, system;
};

static void cpuacct_pair(void *arg, const char *key, uint64_t v)
{
	struct cpu_times *t = arg;
	if (strcmp(key, "user") == 0)
		t->user = v;
	else if (strcmp(key, "system") == 0)
		t->system = v;
}

static void throttle_pair(void *arg, const char *key, uint64_t v)
{
	Io__Containerd__Cgroups__V1__Throttle *t = arg;
	if (strcmp(key, "nr_periods") == 0)
		t->periods = v;
	else if (strcmp(key, "nr_throttled") == 0)
		t->throttled_periods = v;
	else if (strcmp(key, "throttled_time") == 0)
		t->throttled_time = v;
}

static size_t per_cpu(const char *s, uint64_t **out)
{
	size_t n = 0;
	*out = NULL;
	for (const char *p = s; p != NULL && *p;) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			break;
		*out = xrealloc(*out, (n + 1) * sizeof **out);
		(*out)[n++] = v;
		p = end;
	}
	return n;
}

int cgroup_stats(const struct cgroups *cg, Google__Protobuf__Any *any, struct shim_err *e)
{
	if (cg == NULL || (cg->dir[CG_MEMORY] == NULL && cg->dir[CG_CPUACCT] == NULL && cg->dir[CG_PIDS] == NULL))
		return fail(e, CODE_NOT_FOUND, "cgroup does not exist: not found");
	Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
	Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
	Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
	Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
	Io__Containerd__Cgroups__V1__Throttle thr = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
	Io__Containerd__Cgroups__V1__MemoryStat mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
	Io__Containerd__Cgroups__V1__MemoryEntry mu = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT,
						 ms = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT,
						 mk = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT,
						 mt = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
	Io__Containerd__Cgroups__V1__MemoryOomControl oom = IO__CONTAINERD__CGROUPS__V1__MEMORY_OOM_CONTROL__INIT;

	if (cg->dir[CG_PIDS] != NULL) {
		pids.current = cg_u64(cg, CG_PIDS, "pids.current");
		pids.limit = cg_u64(cg, CG_PIDS, "pids.max");
		m.pids = &pids;
	}
	if (cg->dir[CG_CPUACCT] != NULL) {
		/* cpuacct.stat counts USER_HZ ticks; the message wants nanoseconds */
		long hz = sysconf(_SC_CLK_TCK);
		struct cpu_times t = {0};
		char *s = cg_read(cg, CG_CPUACCT, "cpuacct.stat");
		each_pair(s, cpuacct_pair, &t);
		free(s);
		usage.user = hz > 0 ? t.user * (1000000000ull / (uint64_t)hz) : 0;
		usage.kernel = hz > 0 ? t.system * (1000000000ull / (uint64_t)hz) : 0;
		usage.total = cg_u64(cg, CG_CPUACCT, "cpuacct.usage");
		s = cg_read(cg, CG_CPUACCT, "cpuacct.usage_percpu");
		usage.n_per_cpu = per_cpu(s, &usage.per_cpu);
		free(s);
		cpu.usage = &usage;
		m.cpu = &cpu;
	}
	if (cg->dir[CG_CPU] != NULL) {
		char *s = cg_read(cg, CG_CPU, "cpu.stat");
		each_pair(s, throttle_pair, &thr);
		free(s);
		cpu.throttling = &thr;
		m.cpu = &cpu;
	}
	if (cg->dir[CG_MEMORY] != NULL) {
		char *s = cg_read(cg, CG_MEMORY, "memory.stat");
		each_pair(s, memory_stat_pair, &mem);
		free(s);
		memory_entry(cg, "memory", &mu);
		memory_entry(cg, "memory.memsw", &ms);
		memory_entry(cg, "memory.kmem", &mk);
		memory_entry(cg, "memory.kmem.tcp", &mt);
		mem.usage = &mu;
		mem.swap = &ms;
		mem.kernel = &mk;
		mem.kernel_tcp = &mt;
		m.memory = &mem;
		s = cg_read(cg, CG_MEMORY, "memory.oom_control");
		each_pair(s, oom_pair, &oom);
		free(s);
		m.memory_oom_control = &oom;
	}
	any->type_url = "io.containerd.cgroups.v1.Metrics";
	any->value.len = protobuf_c_message_get_packed_size(&m.base);
	any->value.data = xmalloc(any->value.len);
	protobuf_c_message_pack(&m.base, any->value.data);
	free(usage.per_cpu);
	return 0;
}

/* --- OOM ----------------------------------------------------------------- */

static void on_oom(struct watch *w, uint32_t events)
{
	struct cgroups *cg = (struct cgroups *)((char *)w - offsetof(struct cgroups, oom));
	uint64_t n;
	if (read(w->fd, &n, sizeof n) < 0 && errno == EAGAIN)
		return;
	/* the kernel signals the eventfd when the cgroup is removed, too */
	struct stat st;
	if (stat(cg->dir[CG_MEMORY], &st) < 0) {
		oom_stop(cg);
		return;
	}
	log_info("container %s: out of memory", cg->container_id);
	Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
	ev.container_id = cg->container_id;
	events_publish("/tasks/oom", &ev.base);
}

void cgroup_watch_oom(struct cgroups *cg)
{
	if (cg == NULL || cg->dir[CG_MEMORY] == NULL || cg->oom.fd >= 0)
		return;
	char *ctl = xasprintf("%s/memory.oom_control", cg->dir[CG_MEMORY]);
	char *reg = xasprintf("%s/cgroup.event_control", cg->dir[CG_MEMORY]);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int cfd = open(ctl, O_RDONLY | O_CLOEXEC);
	int rfd = open(reg, O_WRONLY | O_CLOEXEC);
	bool ok = efd >= 0 && cfd >= 0 && rfd >= 0;
	if (ok) {
		char line[64];
		int n = snprintf(line, sizeof line, "%d %d", efd, cfd);
		ok = write(rfd, line, (size_t)n) == n;
	}
	if (cfd >= 0)
		close(cfd);
	if (rfd >= 0)
		close(rfd);
	if (ok) {
		cg->oom = (struct watch){.fd = efd, .fn = on_oom};
		ok = loop_add(&cg->oom, EPOLLIN);
		if (!ok)
			cg->oom.fd = -1;
	}
	if (!ok) {
		log_warn("container %s: no OOM notifications: %s", cg->container_id, strerror(errno));
		if (efd >= 0 && cg->oom.fd != efd)
			close(efd);
	}
	free(ctl);
	free(reg);
}
