/* What the unit tests of tree walks share: a scratch place where deep
 * trees are quick to make, making one, and a guard for a test whose
 * failure mode is hanging (a walk blocked opening a fifo). */
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* "/dev/shm" when it is a tmpfs (100,000 directories take seconds there,
 * a minute on a busy disk), else `fallback`. */
static inline const char *fstree_fast_dir(const char *fallback)
{
	struct statfs fs;
	return statfs("/dev/shm", &fs) == 0 && fs.f_type == 0x01021994 /* TMPFS_MAGIC */ ? "/dev/shm" : fallback;
}

/* dir/d/d/d/... `depth` levels, made through directory fds (no path
 * grows); false when one could not be made. */
static inline bool fstree_make_deep(const char *dir, int depth)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; fd >= 0 && i < depth; i++) {
		int next = mkdirat(fd, "d", 0755) == 0 ? openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		close(fd);
		fd = next;
	}
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static const char *fstree_hang_what;

static inline void fstree_on_alarm(int sig)
{
	(void)sig;
	char msg[256];
	int n = snprintf(msg, sizeof msg, "not ok - %s\n", fstree_hang_what);
	if (n > 0 && write(1, msg, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

/* Until fstree_hang_guard(0, NULL): after `seconds` the test prints
 * "not ok - <what>" and exits 1. */
static inline void fstree_hang_guard(unsigned seconds, const char *what)
{
	fstree_hang_what = what;
	signal(SIGALRM, fstree_on_alarm);
	alarm(seconds);
}
