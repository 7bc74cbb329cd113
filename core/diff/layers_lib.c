/* Loading ucd-layers.so on first use (see diff.h). */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "diff/diff.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const struct diff_layers *layers;
static char *load_error;

static char *module_path(void)
{
	const char *env = getenv("UCD_LAYERS_LIB");
	if (env != NULL && env[0] != '\0')
		return xstrdup(env);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return xstrdup("/usr/lib/ucontainerd/ucd-layers.so");
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash != NULL)
		*slash = 0;
	return xasprintf("%s/%s/ucd-layers.so", exe, UCD_REL_LAYERS_DIR);
}

static void load(void)
{
	autofree char *path = module_path();
	/* The daemon runs this code as root: checked as the plugins are
	 * (util/fs.h fs_open_trusted); the fd stays open until dlopen has
	 * mapped the same file (only root can change the names on its way). */
	struct ucd_error *te = NULL;
	autoclose int fd = fs_open_trusted(path, &te);
	if (fd < 0) {
		load_error = xasprintf("layer support `%s` is not loaded: %s", path, te->msg);
		error_free(te);
		return;
	}
	/* RTLD_LOCAL: its libarchive and friends stay out of the daemon's
	 * symbol namespace; the handle is never closed (the code stays in use). */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		load_error = xasprintf("layer support `%s` cannot be loaded: %s", path, dlerror());
		return;
	}
	layers = dlsym(h, DIFF_LAYERS_SYMBOL);
	if (layers == NULL || layers->init == NULL || layers->apply == NULL || layers->trees == NULL) {
		load_error = xasprintf("layer support `%s` has no usable %s", path, DIFF_LAYERS_SYMBOL);
		layers = NULL;
		return;
	}
	layers->init();
}

int diff_layers_load(const struct diff_layers **out, struct ucd_error **err)
{
	pthread_once(&once, load);
	if (layers == NULL)
		return error_set(err, UCD_FAILED_PRECONDITION, 0, "%s", load_error);
	*out = layers;
	return 0;
}
