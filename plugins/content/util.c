/* Paths, times and small files of the local content store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

char *cs_strdup(const struct cs *s, const char *str)
{
	size_t n = strlen(str) + 1;
	char *p = s->host->alloc(n);
	memcpy(p, str, n);
	return p;
}

char *cs_printf(const struct cs *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = s->host->alloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static bool is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return p[n] == '\0';
}

int cs_blob_path(const struct cs *s, const char *digest, char **path, struct ucd_error **err)
{
	static const struct {
		const char *name;
		size_t hex;
	} algs[] = { { "sha256", 64 }, { "sha384", 96 }, { "sha512", 128 } };
	const char *colon = strchr(digest, ':');
	for (size_t i = 0; colon != NULL && i < sizeof algs / sizeof algs[0]; i++) {
		size_t an = strlen(algs[i].name);
		if ((size_t)(colon - digest) == an && strncmp(digest, algs[i].name, an) == 0 &&
		    strlen(colon + 1) == algs[i].hex && is_lower_hex(colon + 1, algs[i].hex)) {
			*path = cs_printf(s, "%s/%s/%s", s->blobs, algs[i].name, colon + 1);
			return 0;
		}
	}
	return s->host->error_new(err, UCD_INVALID_ARGUMENT, 0,
				  "cannot calculate blob path from invalid digest `%s`", digest);
}

void cs_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

char *cs_ingest_dir(const struct cs *s, const char *ref)
{
	/* hashed, as containerd does, so that any ref makes a fixed-length,
	 * harmless directory name */
	char hex[65];
	cs_sha256_hex(ref, strlen(ref), hex);
	return cs_printf(s, "%s/%s", s->ingest, hex);
}

int64_t cs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cs_format_time(int64_t ns, char out[40])
{
	time_t sec = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac != 0) {
		char f[11];
		snprintf(f, sizeof f, ".%09ld", frac);
		for (size_t k = strlen(f); k > 1 && f[k - 1] == '0'; k--)
			f[k - 1] = '\0';   /* Go drops trailing zeros */
		n += (size_t)snprintf(out + n, 40 - n, "%s", f);
	}
	snprintf(out + n, 40 - n, "Z");
}

bool cs_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return false;
	int64_t frac = 0;
	if (*p == '.') {
		int64_t scale = 100000000;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += scale > 0 ? (*p - '0') * scale : 0;
	}
	long off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* exactly "+HH:MM": sscanf's %2d would also take "+1:2", and
		 * skipping six bytes then runs past the end of the string */
		const char *z = p + 1;
		bool digits = z[0] >= '0' && z[0] <= '9' && z[1] >= '0' && z[1] <= '9' && z[2] == ':' &&
			      z[3] >= '0' && z[3] <= '9' && z[4] >= '0' && z[4] <= '9';
		if (!digits)
			return false;
		int h = (z[0] - '0') * 10 + (z[1] - '0'), m = (z[3] - '0') * 10 + (z[4] - '0');
		off = (h * 60 + m) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	while (*p == '\n')
		p++;
	if (*p != '\0')
		return false;
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000 + frac;
	return true;
}

char *cs_read_small(const struct cs *s, int dirfd, const char *name, size_t max)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	/* not one of ours (a FIFO, a directory) or longer than any we write:
	 * refused whole, never cut to a prefix that could match */
	struct stat st;
	int e = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : (uint64_t)st.st_size > max ? EFBIG : 0;
	if (e != 0) {
		close(fd);
		errno = e;
		return NULL;
	}
	char *buf = s->host->alloc(max + 2);
	size_t n = 0;
	ssize_t r;
	while (n < max + 1 && (r = read(fd, buf + n, max + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			s->host->free(buf);
			errno = e;
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (n > max || strlen(buf) != n) {   /* grew meanwhile, or a NUL inside: not one of ours */
		s->host->free(buf);
		errno = n > max ? EFBIG : EINVAL;
		return NULL;
	}
	/* exactly as long as the text: a parser that reads past its end is
	 * caught by the sanitizers instead of reading the rest of `buf` */
	char *out = cs_strdup(s, buf);
	s->host->free(buf);
	return out;
}

int cs_write_small(int dirfd, const char *name, const char *data)
{
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(data), off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlinkat(dirfd, tmp, 0);
			return -e;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return -e;
	}
	return 0;
}

/* Depth-first removal below an open directory; `depth` bounds hostile
 * nesting. */
static int remove_below(int dirfd, int depth)
{
	DIR *d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		return -errno;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0)
			continue;
		if ((errno == EISDIR || errno == EPERM) && depth < 16) {
			int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0 && remove_below(sub, depth + 1) == 0 && unlinkat(dirfd, e->d_name, AT_REMOVEDIR) == 0)
				continue;
		}
		if (errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

int cs_remove_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = remove_below(fd, 0);
	if (rc < 0)
		return rc;
	return rmdir(path) < 0 ? -errno : 0;
}
