/* util/unixsock: the socket is at its path only once it listens with its
 * final mode and owner; why fchmod/fchown on the fd are no substitute; the
 * long-path fallback; what is refused and what is replaced. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../harness/tap.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/unixsock.h"

static bool connects(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* Entries of `dir` besides . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d != NULL)
		closedir(d);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/ucd-unixsock-XXXXXX";
	char *dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	autofree char *path = xasprintf("%s/s.sock", dir);
	struct ucd_error *e = NULL;
	struct stat st;

	/* What Linux does with fchmod/fchown on a bound socket's fd: they
	 * succeed, on the socket's own inode, and the file keeps its mode. */
	{
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
		CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
		CHECK(chmod(path, 0600) == 0);
		CHECK(fchmod(fd, 0666) == 0);
		CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
		close(fd);
		unlink(path);
	}

	int fd = unixsock_listen(path, 0640, 65534, 65534, 16, &e);
	CHECK(fd >= 0);
	CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 07777) == 0640);
	if (geteuid() == 0)
		CHECK(st.st_uid == 65534 && st.st_gid == 65534);
	CHECK(connects(path));          /* listening already: nothing to wait for */
	CHECK(entries(dir) == 1);       /* the private directory is gone */
	close(fd);

	/* a stale socket at the path is replaced; the new one answers */
	CHECK(!connects(path));
	fd = unixsock_listen(path, 0660, -1, -1, 16, &e);
	CHECK(fd >= 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0660 && st.st_uid == geteuid());
	CHECK(connects(path));
	close(fd);
	unlink(path);

	/* anything but a socket is refused and left alone */
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fclose(f);
	CHECK(unixsock_listen(path, 0660, -1, -1, 16, &e) == -1);
	CHECK(e != NULL && e->code == UCD_FAILED_PRECONDITION);
	error_free(e);
	e = NULL;
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	CHECK(entries(dir) == 1);
	unlink(path);

	/* a path of 107 bytes: the private directory's name would not fit in
	 * sun_path, so bind goes through /proc/self/fd */
	autofree char *deep = xasprintf("%s/%0*d", dir, (int)(107 - strlen(dir) - 1), 0);
	CHECK(strlen(deep) == 107);
	fd = unixsock_listen(deep, 0600, -1, -1, 16, &e);
	CHECK(fd >= 0);
	CHECK(stat(deep, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600);
	CHECK(connects(deep));
	CHECK(entries(dir) == 1);
	close(fd);
	unlink(deep);
	error_free(e);

	CHECK(rmdir(dir) == 0);
	return tap_done();
}
