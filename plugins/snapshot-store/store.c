/* Opening and closing the snapshot store, and sweeping what a crash or an
 * interrupted op left on disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "snst_int.h"
#include "sweep.h"

const struct ucd_host *snst_host(const struct snst *s)
{
	return s->host;
}

const struct ucd_init_ctx *snst_ic(const struct snst *s)
{
	return s->ic;
}

void *snst_driver_arg(const struct snst *s)
{
	return s->drv_arg;
}

const char *snst_root(const struct snst *s)
{
	return s->root;
}

char *snst_dir(const struct snst *s, uint64_t id, const char *suffix)
{
	return snst_printf(s->host, "%s/%llu%s", s->snapshots, (unsigned long long)id, suffix);
}

static void add_id(void *arg, struct snst_rec *r)
{
	struct snst_ids *ids = arg;
	ids->v[ids->n++] = r->id;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void snst_ids_collect(struct snst *s, struct snst_ids *ids)
{
	ids->v = s->host->alloc((s->index.n ? s->index.n : 1) * sizeof *ids->v);
	ids->n = 0;
	snst_index_each(&s->index, add_id, ids);
	qsort(ids->v, ids->n, sizeof *ids->v, cmp_u64);
}

bool snst_ids_has(const struct snst_ids *ids, uint64_t id)
{
	return bsearch(&id, ids->v, ids->n, sizeof *ids->v, cmp_u64) != NULL;
}

/* "123" -> 123; 0 when `p` is not a positive decimal number. */
static uint64_t parse_id(const char *p)
{
	if (*p < '1' || *p > '9')
		return 0;
	uint64_t v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > UINT64_MAX / 10 - 1)
			return 0;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return v;
}

/* What snapshots/ holds, before the database is opened: how many
 * directories have snapshot names ("<id>", "new-<id>") and the largest id
 * among them. */
static void census(struct snst *s, size_t *n, uint64_t *max_id)
{
	*n = 0;
	*max_id = 0;
	int fd = openat(s->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t id = parse_id(strncmp(e->d_name, "new-", 4) == 0 ? e->d_name + 4 : e->d_name);
		if (id == 0)
			continue;
		(*n)++;
		if (id > *max_id)
			*max_id = id;
	}
	closedir(d);
}

/* The sweep trusts the database to name every snapshot: a directory no
 * record names is a crash's leftover. A database that is missing, empty or
 * has no schema while snapshots/ holds snapshot directories names nothing
 * because it was lost (deleted, truncated, restored from the wrong place),
 * not because the directories are leftovers: opening it would make the
 * sweep trash every snapshot. The plugin refuses to start instead and says
 * how to recover; nothing on disk is changed. (An unreadable, corrupt or
 * newer database fails snst_db_open/load, before any sweep, too.) */
static int refuse_lost_db(struct snst *s, const char *db, const char *how, size_t n_dirs,
			  struct ucd_error **err)
{
	/* the registry logs it (warning, with the plugin) and introspection
	 * shows it as the plugin's init error */
	return s->host->error_new(err, UCD_FAILED_PRECONDITION, 0,
				   "%s: `%s` is %s but `%s` holds %zu snapshot director%s: refusing to start "
				   "rather than delete them as leftovers; nothing was changed. Restore metadata.db "
				   "from a backup, or move `%s` aside to start with an empty store "
				   "(docs/snapshotters.md, \"A lost metadata.db\")",
				   s->drv->name, db, how, s->snapshots, n_dirs, n_dirs == 1 ? "y" : "ies", s->root);
}

void snst_sweep(struct snst *s)
{
	struct snst_ids ids;
	snst_ids_collect(s, &ids);
	int fd = openat(s->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* not dup: its offset would be shared */
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		s->host->free(ids.v);
		return;
	}
	/* Names to move are collected first: renaming while reading could
	 * make readdir skip entries. */
	char **gone = NULL;
	size_t n_gone = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t id = parse_id(strncmp(e->d_name, "new-", 4) == 0 ? e->d_name + 4 : e->d_name);
		if (id == 0 || snst_ids_has(&ids, id))
			continue;   /* ours and alive, or not ours at all */
		char **v = s->host->alloc((n_gone + 1) * sizeof *v);
		if (n_gone)
			memcpy(v, gone, n_gone * sizeof *v);
		s->host->free(gone);
		gone = v;
		gone[n_gone++] = snst_strdup(s->host, e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n_gone; i++) {
		s->host->log(s->ic, UCD_LOG_INFO, "moving leftover `snapshots/%s` (no snapshot record) to the trash",
			     gone[i]);
		int r = snst_trash_move(&s->trash, s->snapshots_fd, gone[i]);
		if (r < 0)
			s->host->log(s->ic, UCD_LOG_WARN, "cannot move `snapshots/%s` to the trash: %s", gone[i],
				     strerror(-r));
		s->host->free(gone[i]);
	}
	s->host->free(gone);
	if (s->drv->sweep != NULL)
		s->drv->sweep(s, ids.v, ids.n);
	s->host->free(ids.v);
}

/* The umask without changing it (umask(2) can only set it, which would
 * race with other threads): Linux shows it in /proc/self/status. */
static mode_t read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned int m = 022;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Umask: %o", &m) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return (mode_t)m;
}

int snst_mkdir_exact(const struct snst *s, const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0)
		return -errno;
	if ((mode & s->umask) != 0 && chmod(path, mode) != 0)
		return -errno;
	return 0;
}

static void store_free(struct snst *s)
{
	const struct ucd_host *h = s->host;
	if (s->trash_opened)
		snst_trash_close(&s->trash);
	snst_db_close(&s->db);
	snst_index_fini(h, &s->index);
	if (s->snapshots_fd >= 0)
		close(s->snapshots_fd);
	pthread_cond_destroy(&s->settled);
	pthread_mutex_destroy(&s->mu);
	h->free(s->root);
	h->free(s->snapshots);
	h->free(s);
}

int snst_open(const struct snst_opts *o, struct snst **out, struct ucd_error **err)
{
	const struct ucd_host *h = o->host;
	struct snst *s = h->alloc(sizeof *s);
	memset(s, 0, sizeof *s);
	s->host = h;
	s->ic = o->ic;
	s->drv = o->driver;
	s->drv_arg = o->driver_arg;
	s->root = snst_strdup(h, o->root);
	s->snapshots = snst_printf(h, "%s/snapshots", o->root);
	s->snapshots_fd = -1;
	s->umask = read_umask();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->settled, NULL);
	snst_index_init(&s->index);

	char *db = snst_printf(h, "%s/metadata.db", o->root);
	char *trash = snst_printf(h, "%s/trash", o->root);
	int r = snst_mkdir_all(h, s->snapshots, 0700, NULL, err);
	if (r == 0) {
		s->snapshots_fd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->snapshots_fd < 0)
			r = snst_errno(h, err, errno, "cannot open `%s`", s->snapshots);
	}
	if (r == 0) {
		s->trash_opened = true;   /* closable from here on, even if this fails */
		r = snst_trash_open(&s->trash, h, o->ic, trash, err);
	}
	size_t n_dirs = 0;
	uint64_t max_dir_id = 0;
	if (r == 0)
		census(s, &n_dirs, &max_dir_id);
	struct stat st;
	if (r == 0 && n_dirs > 0 && stat(db, &st) != 0 && errno == ENOENT)
		r = refuse_lost_db(s, db, "missing", n_dirs, err);
	else if (r == 0 && n_dirs > 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		r = refuse_lost_db(s, db, "empty", n_dirs, err);
	bool no_schema = false;
	if (r == 0)
		r = snst_db_open(s, db, n_dirs > 0, &no_schema, err);
	if (r == 0 && no_schema)
		r = refuse_lost_db(s, db, "a database without our schema", n_dirs, err);
	if (r == 0)
		r = snst_db_load(s, err);
	/* ids are never handed out twice, even when the database lost the
	 * newest ones (a power cut): a directory's name is taken */
	if (r == 0 && max_dir_id >= s->next_id)
		s->next_id = max_dir_id + 1;
	h->free(db);
	h->free(trash);
	if (r < 0) {
		store_free(s);
		return r;
	}
	snst_sweep(s);
	snst_trash_start(&s->trash);
	*out = s;
	return 0;
}

void snst_close(struct snst *s)
{
	if (s != NULL)
		store_free(s);
}
