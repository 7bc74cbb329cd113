/* The snapshotter test harness (harness.h). */
#include "../../harness/tap.h"
#undef CHECK
#undef CHECK_STR
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/registry.h"
#include "toml/toml.h"
#include "util/error.h"

char tmpdir[256];

int t_check(int ok, const char *what, const char *file, int line)
{
	return tap_check(ok, what, file, line);
}

int t_check_str(const char *a, const char *b, const char *what, const char *file, int line)
{
	return tap_check_str(a, b, what, file, line);
}

int t_done(void)
{
	return tap_done();
}
char last_msg[1024];

/* ---- loading ---- */

static struct toml_value *the_toml;

static const struct toml_value *table_of(void *arg, const char *uri, const char **file)
{
	(void)arg;
	*file = "test.toml";
	const struct toml_value *plugins = toml_get(the_toml, "plugins");
	return plugins ? toml_get(plugins, uri) : NULL;
}

void subj_open(struct subj *s, const char *id, const char *root, const char *toml)
{
	memset(s, 0, sizeof *s);
	s->id = id;
	s->uri = strcmp(id, "native") == 0 ? "io.containerd.snapshotter.v1.native"
					   : "io.containerd.snapshotter.v1.overlayfs";
	snprintf(s->root, sizeof s->root, "%s", root);
	snprintf(s->plugin_root, sizeof s->plugin_root, "%s/%s", root, s->uri);
	/* a plugin directory holding only this plugin */
	char dir[600], link[800], target[800];
	snprintf(dir, sizeof dir, "%s/plugins-%s", tmpdir, id);
	mkdir(dir, 0755);
	snprintf(link, sizeof link, "%s/%s.so", dir, s->uri);
	snprintf(target, sizeof target, "%s/%s.so", UCD_PLUGIN_BUILD_DIR, s->uri);
	unlink(link);
	if (symlink(target, link) != 0)
		perror("symlink");
	char state[600];
	snprintf(state, sizeof state, "%s/state", tmpdir);
	mkdir(state, 0755);
	mkdir(root, 0755);
	the_toml = NULL;
	if (toml != NULL) {
		char *text = NULL;
		size_t n = (size_t)snprintf(NULL, 0, "[plugins.\"%s\"]\n%s\n", s->uri, toml) + 1;
		text = malloc(n);
		snprintf(text, n, "[plugins.\"%s\"]\n%s\n", s->uri, toml);
		char *msg = NULL;
		the_toml = toml_parse(text, strlen(text), "test.toml", &msg);
		if (the_toml == NULL) {
			printf("# toml: %s\n", msg ? msg : "?");
			free(msg);
		}
		free(text);
	}
	struct registry_opts o = {
		.plugin_dir = dir,
		.root = root,
		.state = state,
		.plugin_table = toml ? table_of : NULL,
	};
	struct ucd_error *err = NULL;
	s->reg = registry_new(&o, &err);
	if (s->reg == NULL) {
		printf("# registry_new: %s\n", err->msg);
		exit(2);
	}
	if (registry_load(s->reg, &err) < 0) {
		printf("# registry_load: %s\n", err->msg);
		error_free(err);
	}
	s->host = registry_host(s->reg);
	const struct registry_plugin *p = registry_find(s->reg, s->uri);
	if (p != NULL && registry_plugin_status(p) == REGISTRY_OK) {
		s->ops = registry_plugin_ops(p);
		s->self = registry_plugin_self(p);
	} else {
		printf("# %s: %s: %s\n", s->uri, subj_status(s), subj_message(s) ? subj_message(s) : "");
	}
}

void subj_close(struct subj *s)
{
	registry_free(s->reg);
	toml_free(the_toml);
	the_toml = NULL;
	s->reg = NULL;
	s->ops = NULL;
}

const char *subj_status(const struct subj *s)
{
	const struct registry_plugin *p = registry_find(s->reg, s->uri);
	return p ? registry_status_name(registry_plugin_status(p)) : "missing";
}

const char *subj_message(const struct subj *s)
{
	const struct registry_plugin *p = registry_find(s->reg, s->uri);
	return p ? registry_plugin_message(p) : NULL;
}

/* ---- ops ---- */

static int settle(struct subj *s, int r, struct ucd_error *e)
{
	last_msg[0] = '\0';
	if (r >= 0 && e == NULL)
		return 0;
	int code = e ? e->code : UCD_UNKNOWN;
	snprintf(last_msg, sizeof last_msg, "%s", e ? e->msg : "(no error object)");
	s->host->error_free(e);
	return code;
}

int sn_prepare_labels(struct subj *s, const char *key, const char *parent, const struct ucd_label *l, size_t n,
		      struct ucd_mounts *m)
{
	struct ucd_error *e = NULL;
	struct ucd_mounts tmp = {0};
	int r = s->ops->prepare(s->self, key, parent, l, n, m ? m : &tmp, &e);
	if (m == NULL)
		ucd_mounts_release(s->host->free, &tmp);
	return settle(s, r, e);
}

int sn_prepare(struct subj *s, const char *key, const char *parent, struct ucd_mounts *m)
{
	return sn_prepare_labels(s, key, parent, NULL, 0, m);
}

int sn_view(struct subj *s, const char *key, const char *parent, struct ucd_mounts *m)
{
	struct ucd_error *e = NULL;
	struct ucd_mounts tmp = {0};
	int r = s->ops->view(s->self, key, parent, NULL, 0, m ? m : &tmp, &e);
	if (m == NULL)
		ucd_mounts_release(s->host->free, &tmp);
	return settle(s, r, e);
}

int sn_commit_labels(struct subj *s, const char *name, const char *key, const struct ucd_label *l, size_t n)
{
	struct ucd_error *e = NULL;
	int r = s->ops->commit(s->self, name, key, l, n, &e);
	return settle(s, r, e);
}

int sn_commit(struct subj *s, const char *name, const char *key)
{
	return sn_commit_labels(s, name, key, NULL, 0);
}

int sn_remove(struct subj *s, const char *key)
{
	struct ucd_error *e = NULL;
	int r = s->ops->remove(s->self, key, &e);
	return settle(s, r, e);
}

int sn_stat(struct subj *s, const char *key, struct ucd_snapshot_info *info)
{
	struct ucd_error *e = NULL;
	struct ucd_snapshot_info tmp = {0};
	int r = s->ops->stat(s->self, key, info ? info : &tmp, &e);
	if (info == NULL && r == 0)
		ucd_snapshot_info_release(s->host->free, &tmp);
	return settle(s, r, e);
}

int sn_mounts(struct subj *s, const char *key, struct ucd_mounts *m)
{
	struct ucd_error *e = NULL;
	struct ucd_mounts tmp = {0};
	int r = s->ops->mounts(s->self, key, m ? m : &tmp, &e);
	if (m == NULL)
		ucd_mounts_release(s->host->free, &tmp);
	return settle(s, r, e);
}

int sn_usage(struct subj *s, const char *key, struct ucd_snapshot_usage *u)
{
	struct ucd_error *e = NULL;
	struct ucd_snapshot_usage tmp;
	int r = s->ops->usage(s->self, key, u ? u : &tmp, &e);
	return settle(s, r, e);
}

int sn_cleanup(struct subj *s)
{
	struct ucd_error *e = NULL;
	int r = s->ops->cleanup(s->self, &e);
	return settle(s, r, e);
}

void sn_mounts_free(struct subj *s, struct ucd_mounts *m)
{
	ucd_mounts_release(s->host->free, m);
}

void sn_info_free(struct subj *s, struct ucd_snapshot_info *i)
{
	ucd_snapshot_info_release(s->host->free, i);
}

const char *info_label(const struct ucd_snapshot_info *i, const char *key)
{
	for (size_t k = 0; k < i->labels.n; k++)
		if (strcmp(i->labels.v[k].key, key) == 0)
			return i->labels.v[k].value;
	return NULL;
}

/* ---- mounts ---- */

#define MAX_MOUNTED 64
static char mounted[MAX_MOUNTED][600];
static int n_mounted;

void mount_data(const struct ucd_mount *m, char *buf, size_t n, bool *ro)
{
	size_t len = 0;
	buf[0] = '\0';
	*ro = false;
	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		if (strcmp(o, "ro") == 0) {
			*ro = true;
			continue;
		}
		if (strcmp(o, "rw") == 0 || strcmp(o, "rbind") == 0 || strcmp(o, "bind") == 0)
			continue;
		len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s", len ? "," : "", o);
	}
}

/* An overlay whose options exceed the page mount(2) copies, mounted as
 * containerd's mount.All does: from the common directory of the lower
 * directories, with them relative to it (in a child process: the working
 * directory is the whole process's). */
static int mount_compact(const char *target, const char *data, bool ro)
{
	const char *lower = strstr(data, "lowerdir=");
	if (lower == NULL)
		return -EINVAL;
	lower += 9;
	size_t llen = strcspn(lower, ",");
	/* longest common prefix of the ':'-separated entries, cut to a directory */
	size_t common = strcspn(lower, ":");
	for (const char *p = lower; p < lower + llen;) {
		size_t n = strcspn(p, ":,");
		size_t k = 0;
		while (k < common && k < n && p[k] == lower[k])
			k++;
		common = k;
		p += n + (p[n] == ':');
	}
	while (common > 0 && lower[common - 1] != '/')
		common--;
	if (common == 0)
		return -EINVAL;
	static char dir[4096], out[65536];
	snprintf(dir, sizeof dir, "%.*s", (int)common, lower);
	size_t o = (size_t)snprintf(out, sizeof out, "%.*s", (int)(lower - data), data);
	for (const char *p = lower; p < lower + llen;) {
		size_t n = strcspn(p, ":,");
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", p == lower ? "" : ":", (int)(n - common),
				      p + common);
		p += n + (p[n] == ':');
	}
	snprintf(out + o, sizeof out - o, "%s", lower + llen);
	pid_t pid = fork();
	if (pid == 0) {
		if (chdir(dir) != 0 || mount("overlay", target, "overlay", ro ? MS_RDONLY : 0, out) != 0)
			_exit(errno);
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -ECHILD;
	printf("# mounted %zu bytes of options as %zu from `%s`\n", strlen(data), strlen(out), dir);
	return WIFEXITED(st) ? -WEXITSTATUS(st) : -EINTR;
}

const char *mount_at(const struct ucd_mounts *m, const char *name)
{
	static char target[600];
	snprintf(target, sizeof target, "%s/mnt-%s", tmpdir, name);
	mkdir(target, 0755);
	if (m->n != 1) {
		printf("# mount_at: %zu mounts, want 1\n", m->n);
		return NULL;
	}
	const struct ucd_mount *mt = &m->v[0];
	bool ro;
	static char data[65536];
	mount_data(mt, data, sizeof data, &ro);
	int r;
	if (strcmp(mt->type, "bind") == 0) {
		r = mount(mt->source, target, NULL, MS_BIND | MS_REC, NULL);
		if (r == 0 && ro)
			r = mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
	} else if (strlen(data) + 1 > (size_t)sysconf(_SC_PAGESIZE)) {
		r = mount_compact(target, data, ro);
		if (r < 0)
			errno = -r, r = -1;
	} else {
		r = mount(mt->source, target, mt->type, ro ? MS_RDONLY : 0, data);
	}
	if (r != 0) {
		printf("# mount %s %s on %s (%s): %s\n", mt->type, mt->source, target, data, strerror(errno));
		umount2(target, MNT_DETACH);
		return NULL;
	}
	/* remembered (a free slot first) so that unmount_all undoes it */
	int slot = 0;
	while (slot < n_mounted && mounted[slot][0] != '\0')
		slot++;
	if (slot == n_mounted && n_mounted < MAX_MOUNTED)
		n_mounted++;
	if (slot < MAX_MOUNTED)
		snprintf(mounted[slot], sizeof mounted[0], "%s", target);
	return target;
}

void unmount_one(const char *target)
{
	if (umount2(target, 0) != 0)
		umount2(target, MNT_DETACH);
	for (int i = 0; i < n_mounted; i++)
		if (strcmp(mounted[i], target) == 0) {
			mounted[i][0] = '\0';
			break;
		}
}

void unmount_all(void)
{
	for (int i = n_mounted - 1; i >= 0; i--)
		if (mounted[i][0] != '\0' && umount2(mounted[i], 0) != 0)
			umount2(mounted[i], MNT_DETACH);
	n_mounted = 0;
}

/* ---- files ---- */

int write_file(const char *dir, const char *rel, const char *content)
{
	char p[1200];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t n = strlen(content);
	ssize_t w = write(fd, content, n);
	int e = errno;
	close(fd);
	return w == (ssize_t)n ? 0 : -e;
}

const char *read_file(const char *dir, const char *rel)
{
	static char buf[4096];
	char p[1200];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

bool exists(const char *dir, const char *rel)
{
	char p[1200];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

void rm_rf(const char *path)
{
	nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
