/* Loading one plugin file: the file name is the first contract, the
 * descriptor the second. Every refusal is a message naming the file (and,
 * for version problems, both versions); nothing here can crash the daemon
 * short of code the plugin runs inside dlopen (ELF constructors, which the
 * SDK forbids). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <uv.h>

#include "registry/registry_int.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

void ptrvec_push(struct ptrvec *pv, void *p)
{
	if (pv->n + 2 > pv->cap) {
		pv->cap = pv->cap ? pv->cap * 2 : 8;
		pv->v = xrealloc(pv->v, pv->cap * sizeof *pv->v);
	}
	pv->v[pv->n++] = p;
	pv->v[pv->n] = NULL;
}

void ptrvec_fini(struct ptrvec *pv)
{
	free(pv->v);
	pv->v = NULL;
	pv->n = pv->cap = 0;
}

void ptrvec_free_all(struct ptrvec *pv)
{
	for (size_t i = 0; i < pv->n; i++)
		free(pv->v[i]);
	ptrvec_fini(pv);
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_id_char(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
}

/* One dot-free segment of a kind: [a-z0-9][a-z0-9_-]* */
static bool valid_kind(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

/* v[0-9]+ */
static bool valid_version(const char *s, size_t n)
{
	if (n < 2 || s[0] != 'v')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

#define URI_PREFIX "io.containerd."

bool loader_valid_type(const char *type)
{
	if (type == NULL || strncmp(type, URI_PREFIX, strlen(URI_PREFIX)) != 0)
		return false;
	const char *kind = type + strlen(URI_PREFIX);
	const char *dot = strchr(kind, '.');
	if (dot == NULL || !valid_kind(kind, (size_t)(dot - kind)))
		return false;
	return valid_version(dot + 1, strlen(dot + 1));
}

bool loader_valid_id(const char *id)
{
	if (id == NULL || id[0] == '\0' || id[0] == '.')
		return false;
	for (const char *p = id; *p; p++)
		if (!is_id_char(*p))
			return false;
	return id[strlen(id) - 1] != '.';
}

bool registry_parse_filename(const char *name, char **uri, char **type, char **id)
{
	size_t len = strlen(name);
	if (len <= 3 || strcmp(name + len - 3, ".so") != 0)
		return false;
	size_t ulen = len - 3;
	if (strncmp(name, URI_PREFIX, strlen(URI_PREFIX)) != 0)
		return false;
	const char *kind = name + strlen(URI_PREFIX);
	const char *end = name + ulen;
	const char *d1 = memchr(kind, '.', (size_t)(end - kind));
	if (d1 == NULL || !valid_kind(kind, (size_t)(d1 - kind)))
		return false;
	const char *ver = d1 + 1;
	const char *d2 = memchr(ver, '.', (size_t)(end - ver));
	if (d2 == NULL || !valid_version(ver, (size_t)(d2 - ver)))
		return false;
	char *id_s = xstrndup(d2 + 1, (size_t)(end - d2 - 1));
	if (!loader_valid_id(id_s)) {
		free(id_s);
		return false;
	}
	if (uri)
		*uri = xstrndup(name, ulen);
	if (type)
		*type = xstrndup(name, (size_t)(d2 - name));
	if (id)
		*id = id_s;
	else
		free(id_s);
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int loader_list_dir(const char *dir, struct ptrvec *names)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ptrvec_push(names, xstrdup(de->d_name));
	}
	int saved = errno;
	closedir(d);
	if (saved != 0) {
		ptrvec_free_all(names);
		errno = saved;
		return -1;
	}
	if (names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, cmp_str);
	return 0;
}

/* dlerror() repeats the path; "`x.so` cannot be loaded: /dir/x.so: invalid ELF
 * header" reads better without it. */
static const char *strip_path(const char *msg, const char *path)
{
	size_t n = strlen(path);
	if (strncmp(msg, path, n) == 0 && msg[n] == ':') {
		msg += n + 1;
		while (*msg == ' ')
			msg++;
	}
	return msg;
}

static int check_abi(const struct ucd_plugin_desc *d, const char *name, struct ucd_error **err)
{
	if (d->magic != UCD_PLUGIN_MAGIC)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` is not a ucontainerd plugin: its descriptor starts with 0x%08x, not the magic 0x%08x",
		                 name, d->magic, UCD_PLUGIN_MAGIC);
	if (d->abi_major != UCD_ABI_MAJOR)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` was built for plugin ABI %u.%u; this daemon provides %d.%d: %s", name,
		                 d->abi_major, d->abi_minor, UCD_ABI_MAJOR, UCD_ABI_MINOR,
		                 d->abi_major > UCD_ABI_MAJOR ? "it needs a newer daemon"
		                                              : "rebuild it against this daemon's SDK");
	if (d->abi_minor > UCD_ABI_MINOR)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` was built for plugin ABI %u.%u; this daemon provides %d.%d: it needs a newer daemon",
		                 name, d->abi_major, d->abi_minor, UCD_ABI_MAJOR, UCD_ABI_MINOR);
	if (d->struct_size < LOADER_DESC_SIZE_1_0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` has a %u-byte descriptor; plugin ABI %u.%u needs at least %zu bytes "
		                 "(was it built with UCD_PLUGIN_DESC_INIT?)",
		                 name, d->struct_size, d->abi_major, d->abi_minor, (size_t)LOADER_DESC_SIZE_1_0);
	const uint8_t ours[4] = {sizeof(void *), sizeof(off_t), sizeof(time_t), sizeof(long)};
	if (memcmp(d->sizes, ours, sizeof ours) != 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` is not binary compatible with this daemon: it was built with "
		                 "sizeof(void *, off_t, time_t, long) = %u, %u, %u, %u; this daemon has %u, %u, %u, %u",
		                 name, d->sizes[0], d->sizes[1], d->sizes[2], d->sizes[3], ours[0], ours[1], ours[2],
		                 ours[3]);
	/* A plugin on the daemon's loop shares libuv's structures with it. */
	if (UCD_PLUGIN_DESC_HAS(d, libuv_major) && d->libuv_major != 0 && d->libuv_major != UV_VERSION_MAJOR)
		return error_set(err, UCD_FAILED_PRECONDITION, 0,
		                 "`%s` was built against libuv %u; this daemon uses libuv %d: rebuild it against "
		                 "this daemon's libuv", name, d->libuv_major, UV_VERSION_MAJOR);
	return 0;
}

int loader_validate(const struct ucd_plugin_desc *d, const char *what, bool need_init, struct ucd_error **err)
{
	for (size_t i = 0; i < ARRAY_LEN(d->reserved); i++)
		if (d->reserved[i] != 0)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: descriptor member reserved[%zu] is not zero", what, i);
	if (UCD_PLUGIN_DESC_HAS(d, reserved2) && d->reserved2 != 0)
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: descriptor member reserved2 is not zero", what);
	if (need_init && d->init == NULL)
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: descriptor has no init function", what);
	if (d->requires_types != NULL) {
		size_t n = 0;
		bool star = false;
		for (; d->requires_types[n] != NULL; n++) {
			const char *t = d->requires_types[n];
			if (strcmp(t, "*") == 0) {
				star = true;
				continue;
			}
			if (!loader_valid_type(t))
				return error_set(err, UCD_FAILED_PRECONDITION, 0,
				                 "%s: requires `%s`, which is not a plugin type "
				                 "(io.containerd.<kind>.<version>)",
				                 what, t);
			if (strcmp(t, d->type) == 0)
				return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s: requires its own type `%s`",
				                 what, t);
		}
		if (star && n > 1)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: requires `*` together with other types; `*` must be the only entry", what);
	}
	if (d->config == NULL) {
		if (d->config_size != 0)
			return error_set(err, UCD_FAILED_PRECONDITION, 0,
			                 "%s: config_size is %zu but no config fields are declared", what, d->config_size);
		return 0;
	}
	return plugin_config_validate(d->config, d->config_size, what, err);
}

typedef const struct ucd_plugin_desc *(*entry_fn)(void);

int loader_open(const char *path, const char *name, const char *type, const char *id, void **handle,
                const struct ucd_plugin_desc **desc, struct ucd_error **err)
{
	/* Code the daemon runs as root: as sshd with a key file, refused when
	 * anyone but root (or the daemon's user) can change it, its directory
	 * or the way to it (util/fs.h). The checks hold the file open: after
	 * them only root can change what `path` names, so dlopen(path) maps
	 * the file checked. (dlopen("/proc/self/fd/N") would need no such
	 * argument, but the library would then be named "/proc/self/fd/N"
	 * everywhere: in sanitizer reports, whose symbolizer cannot open that
	 * name, in backtraces and in dladdr.) */
	struct ucd_error *te = NULL;
	autoclose int fd = fs_open_trusted(path, &te);
	if (fd < 0) {
		int r = error_set(err, te->code, te->errno_, "`%s` is not loaded: %s", name, te->msg);
		error_free(te);
		return r;
	}
	dlerror();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s` cannot be loaded: %s", name,
		                 e ? strip_path(e, path) : "unknown dlopen error");
	}
	int r;
	/* POSIX guarantees dlsym()'s void * converts to a function pointer. */
	entry_fn entry = (entry_fn)dlsym(h, UCD_PLUGIN_ENTRY);
	if (entry == NULL) {
		/* A plugin of another ABI major exports another entry name: say so. */
		for (int major = 0; major <= 9; major++) {
			if (major == UCD_ABI_MAJOR)
				continue;
			char sym[32];
			snprintf(sym, sizeof sym, "ucd_plugin_entry_v%d", major);
			if (dlsym(h, sym) != NULL) {
				r = error_set(err, UCD_FAILED_PRECONDITION, 0,
				              "`%s` was built for plugin ABI %d.x; this daemon provides %d.%d: %s", name,
				              major, UCD_ABI_MAJOR, UCD_ABI_MINOR,
				              major > UCD_ABI_MAJOR ? "it needs a newer daemon"
				                                    : "rebuild it against this daemon's SDK");
				goto fail;
			}
		}
		r = error_set(err, UCD_FAILED_PRECONDITION, 0,
		              "`%s` is not a ucontainerd plugin: it does not export `%s`", name, UCD_PLUGIN_ENTRY);
		goto fail;
	}
	const struct ucd_plugin_desc *d = entry();
	if (d == NULL) {
		r = error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s`: %s() returned no descriptor", name,
		              UCD_PLUGIN_ENTRY);
		goto fail;
	}
	r = check_abi(d, name, err);
	if (r < 0)
		goto fail;
	if (d->type == NULL || d->id == NULL) {
		r = error_set(err, UCD_FAILED_PRECONDITION, 0, "`%s`: its descriptor has no type or id", name);
		goto fail;
	}
	if (strcmp(d->type, type) != 0 || strcmp(d->id, id) != 0) {
		r = error_set(err, UCD_FAILED_PRECONDITION, 0,
		              "`%s` declares plugin `%s.%s`; a plugin's file must be named after it (`%s.%s.so`)",
		              name, d->type, d->id, d->type, d->id);
		goto fail;
	}
	char what[512];
	snprintf(what, sizeof what, "`%s`", name);
	r = loader_validate(d, what, true, err);
	if (r < 0)
		goto fail;
	/* An accepted plugin is never unmapped (RTLD_NODELETE, added by a
	 * second open): dlclose at shutdown leaves it and the libraries it
	 * brought (libcrypto, ...) in place, so their exit-time cleanups run
	 * at process exit, after every thread has stopped using them, not in
	 * the middle of the shutdown; sanitizer reports keep its frames. A
	 * refused file is still closed at once. */
	void *pin = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE);
	if (pin != NULL)
		dlclose(pin);
	*handle = h;
	*desc = d;
	return 0;
fail:
	dlclose(h);
	return r;
}
