#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/log.h"

static char tmpdir[256];
static pid_t owner;

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP ? rmdir(path) : unlink(path)) {
		if (errno == ENOENT)
			return 0;
		/* a directory the input made unwritable or unsearchable */
		if (chmod(path, 0700) == 0 && (type == FTW_DP ? rmdir(path) : unlink(path)) == 0)
			return 0;
		fprintf(stderr, "fuzz: cannot remove %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

void fuzz_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return;
	if (S_ISDIR(st.st_mode))
		chmod(path, 0700);
	if (nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0) {
		fprintf(stderr, "fuzz: rm -rf %s failed\n", path);
		abort();
	}
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] != 0 && getpid() == owner)
		fuzz_rmtree(tmpdir);
}

const char *fuzz_tmpdir(void)
{
	if (tmpdir[0] != 0)
		return tmpdir;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/ucd-fuzz-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	owner = getpid();
	atexit(remove_tmpdir);
	return tmpdir;
}

void fuzz_quiet_logs(void)
{
	enum log_level l = LOG_FATAL;
	const char *want = getenv("FUZZ_LOG");   /* e.g. FUZZ_LOG=debug, to see why an input fails */
	if (want != NULL && !log_parse_level(want, &l))
		l = LOG_DEBUG;
	log_set_level(l);
}

uint8_t fuzz_byte(struct fuzz_input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}
