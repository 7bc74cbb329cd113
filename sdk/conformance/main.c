/* ucontainerd-snapshotter-conformance: checks a snapshotter plugin (.so)
 * against the contract of sdk/include/ucontainerd/snapshotter.h, loading it
 * through the daemon's own registry. Output is TAP: one line per case,
 * `ok N - name` or `not ok N - name: why`, each failure followed by `#` lines
 * naming the rule it breaks; then a summary. See sdk/CONFORMANCE.md.
 *
 * Exit status: 0 every case passed (or was skipped), 1 a case failed or the
 * plugin failed to initialize, 77 the plugin skipped itself at init (e.g.
 * unsupported filesystem: ctest shows SKIP), 2 bad usage. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cases.h"
#include "files.h"
#include "mnt.h"
#include "subject.h"
#include "tcase.h"
#include "util/log.h"
#include "util/mem.h"

#define EXIT_SKIP 77
#define CASE_TIMEOUT_S 600   /* a case that hangs (a deadlock under concurrency) fails instead */

struct opts {
	const char *root;        /* where the temporary directories go */
	const char *config;
	const char **globs;
	size_t n_globs;
	bool keep, list, no_fork;
	const char *no_mount;    /* why the cases that mount are skipped; NULL: they run */
	const char *plugin;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ucontainerd-snapshotter-conformance [--root DIR] [--config FILE.toml] [--keep]\n"
	        "           [--run NAME-GLOB]... [--no-fork] [--log-level LEVEL] PLUGIN.so\n"
	        "       ucontainerd-snapshotter-conformance --list\n"
	        "\n"
	        "Loads PLUGIN.so as the daemon would and checks it against the snapshotter contract\n"
	        "(sdk/include/ucontainerd/snapshotter.h). Each case gets a fresh instance on its own\n"
	        "root and state under a temporary directory in DIR (default $TMPDIR or /tmp).\n"
	        "\n"
	        "  --root DIR        parent of the temporary directories (choose the filesystem to test on)\n"
	        "  --config FILE     a config.toml whose [plugins.\"<uri>\"] table configures the plugin\n"
	        "  --keep            keep the temporary directories (mounts are always undone)\n"
	        "  --run GLOB        run only the cases whose name matches (repeatable; e.g. 'walk.*')\n"
	        "  --list            list the cases and the rules each checks\n"
	        "  --no-fork         run cases in this process (for a debugger; a crash ends the run)\n"
	        "  --log-level L     the daemon's log level for the registry and plugin (default error)\n"
	        "\n"
	        "Exit status: 0 passed, 1 failed, 77 the plugin skipped itself at init, 2 bad usage.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"root", required_argument, NULL, 'r'},   {"config", required_argument, NULL, 'c'},
		{"keep", no_argument, NULL, 'k'},         {"run", required_argument, NULL, 'R'},
		{"list", no_argument, NULL, 'l'},         {"no-fork", no_argument, NULL, 'F'},
		{"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (ch) {
		case 'r': o->root = optarg; break;
		case 'c': o->config = optarg; break;
		case 'k': o->keep = true; break;
		case 'R':
			o->globs = xrealloc(o->globs, (o->n_globs + 1) * sizeof *o->globs);
			o->globs[o->n_globs++] = optarg;
			break;
		case 'l': o->list = true; break;
		case 'F': o->no_fork = true; break;
		case 'L': {
			enum log_level l;
			if (!log_parse_level(optarg, &l)) {
				fprintf(stderr, "unknown log level `%s`\n", optarg);
				return -1;
			}
			log_set_level(l);
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc)
		o->plugin = argv[optind++];
	if (optind < argc || (o->plugin == NULL && !o->list))
		return -1;
	return 0;
}

static bool selected(const struct opts *o, const char *name)
{
	if (o->n_globs == 0)
		return true;
	for (size_t i = 0; i < o->n_globs; i++)
		if (fnmatch(o->globs[i], name, 0) == 0)
			return true;
	return false;
}

static void list_cases(const struct opts *o)
{
	for (size_t i = 0; i < conf_n_cases; i++)
		if (selected(o, conf_cases[i].name))
			printf("%-32s %s%s\n", conf_cases[i].name, conf_cases[i].needs_mount ? "[mounts] " : "",
			       conf_cases[i].checks);
}

enum result { PASS, FAIL, SKIP };

/* Runs one case in this process and prints its TAP line. */
static enum result run_case(const struct opts *o, const struct subject *s, const struct conf_case *c, size_t n,
                            const char *base)
{
	autofree char *dir = xasprintf("%s/%02zu-%s", base, n, c->name);
	struct tcase t;
	tc_init(&t, c, s, dir);
	t.can_mount = o->no_mount == NULL;
	if (c->needs_mount && o->no_mount != NULL)
		tc_skip(&t, "%s", o->no_mount);
	else if (!tc_failed(&t) && tc_open(&t))
		c->run(&t);
	tc_finish(&t, o->keep);
	enum result r;
	if (t.n_fail > 0) {
		r = FAIL;
		printf("not ok %zu - %s: %s\n", n, c->name, t.first_why);
		for (size_t i = 0; i < t.n_fail && i < ARRAY_LEN(t.fail); i++)
			printf("#   %s\n", t.fail[i]);
		if (t.n_fail > ARRAY_LEN(t.fail))
			printf("#   ... and %zu more\n", t.n_fail - ARRAY_LEN(t.fail));
		printf("#   rules checked: %s\n", c->checks);
	} else if (t.skip != NULL) {
		r = SKIP;
		printf("ok %zu - %s # SKIP %s\n", n, c->name, t.skip);
	} else {
		r = PASS;
		printf("ok %zu - %s\n", n, c->name);
	}
	if (o->keep)
		printf("#   kept: %s\n", dir);
	fflush(stdout);
	tc_fini(&t);
	return r;
}

/* Runs one case in a child process, so that a crash or a hang of the plugin
 * fails that case and the run goes on. */
static enum result run_case_isolated(const struct opts *o, const struct subject *s, const struct conf_case *c,
                                     size_t n, const char *base)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		printf("not ok %zu - %s: fork: %s\n", n, c->name, strerror(errno));
		return FAIL;
	}
	if (pid == 0) {
		alarm(CASE_TIMEOUT_S);
		enum result r = run_case(o, s, c, n, base);
		exit(r == PASS ? 0 : r == SKIP ? EXIT_SKIP : 1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return FAIL;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return PASS;
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP)
		return SKIP;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		return FAIL;
	/* The child did not get to report: say what happened and clean up. */
	autofree char *dir = xasprintf("%s/%02zu-%s", base, n, c->name);
	if (WIFSIGNALED(st))
		printf("not ok %zu - %s: the case %s (signal %d, %s) in the plugin or the tester\n", n, c->name,
		       WTERMSIG(st) == SIGALRM ? "timed out" : "crashed", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		printf("not ok %zu - %s: exited %d (a sanitizer report above?)\n", n, c->name, WEXITSTATUS(st));
	mnt_unmount_under(dir);
	if (!o->keep)
		files_remove_tree(dir);
	fflush(stdout);
	return FAIL;
}

/* Loads the plugin once before the cases: a plugin that skips or fails at
 * init is reported once, with its message, instead of per case. */
static int preflight(const struct subject *s, const char *base)
{
	autofree char *dir = xasprintf("%s/00-preflight", base);
	autofree char *root = xasprintf("%s/root", dir);
	autofree char *state = xasprintf("%s/state", dir);
	if (mkdir(dir, 0755) < 0 || mkdir(root, 0755) < 0 || mkdir(state, 0755) < 0) {
		printf("Bail out! cannot create `%s`: %s\n", dir, strerror(errno));
		return 1;
	}
	struct instance inst;
	char *msg = NULL;
	enum instance_outcome out = instance_open(s, root, state, &inst, &msg);
	instance_close(&inst);
	mnt_unmount_under(dir);
	files_remove_tree(dir);
	int rc = 0;
	if (out == INSTANCE_SKIP) {
		printf("1..0 # SKIP `%s` skipped itself at init: %s\n", s->uri, msg);
		rc = EXIT_SKIP;
	} else if (out == INSTANCE_ERROR) {
		printf("Bail out! `%s` failed to initialize: %s\n", s->uri, msg);
		rc = 1;
	}
	free(msg);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	log_set_level(LOG_ERROR);
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (o.list) {
		list_cases(&o);
		free(o.globs);
		return 0;
	}
	const char *tmp = o.root ? o.root : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	/* Absolute, so that mount points compare with /proc/self/mountinfo. */
	autofree char *tmp_abs = realpath(tmp, NULL);
	if (tmp_abs == NULL) {
		fprintf(stderr, "`%s`: %s\n", tmp, strerror(errno));
		return 2;
	}
	autofree char *base = xasprintf("%s/ucd-conformance-XXXXXX", tmp_abs);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "cannot create a directory in `%s`: %s\n", tmp, strerror(errno));
		return 2;
	}
	struct subject s;
	char why[1024];
	int rc = 0;
	if (subject_init(&s, o.plugin, o.config, base, why, sizeof why) < 0) {
		printf("Bail out! %s\n", why);
		rc = 1;
	} else {
		printf("# %s: %s\n# temporary directories under %s\n", s.uri, s.so_path, base);
		if (geteuid() != 0)
			o.no_mount = "mounts snapshots: needs root";
		else if (!mnt_possible(base))
			o.no_mount = "mounts snapshots: mount(2) is not permitted here (no CAP_SYS_ADMIN?)";
		if (o.no_mount != NULL)
			printf("# cases that mount are skipped: %s\n", o.no_mount);
		rc = preflight(&s, base);
	}
	if (rc == 0) {
		size_t n = 0, pass = 0, fail = 0, skip = 0;
		for (size_t i = 0; i < conf_n_cases; i++) {
			if (!selected(&o, conf_cases[i].name))
				continue;
			n++;
			enum result r = o.no_fork ? run_case(&o, &s, &conf_cases[i], n, base)
			                          : run_case_isolated(&o, &s, &conf_cases[i], n, base);
			pass += r == PASS;
			fail += r == FAIL;
			skip += r == SKIP;
		}
		printf("1..%zu\n# %zu passed, %zu failed, %zu skipped\n", n, pass, fail, skip);
		if (n == 0)
			printf("# no case matches the --run globs (see --list)\n");
		rc = fail > 0 || n == 0 ? 1 : 0;
	}
	subject_fini(&s);
	mnt_unmount_under(base);
	if (o.keep)
		printf("# kept %s\n", base);
	else
		files_remove_tree(base);
	free(o.globs);
	return rc;
}
