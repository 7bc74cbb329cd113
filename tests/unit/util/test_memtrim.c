/* mem_trim: the code and read-only data it unmaps come back on use, and
 * what it must not touch stays intact: relocated data (RELRO: calls through
 * the GOT into libc, libuv and protobuf-c keep working), writable data and
 * the heap; the RSS it reports dropping really drops; mount_opts_parse
 * splits options as containerd does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <uv.h>

#include "../../harness/tap.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "util/mem.h"
#include "util/memtrim.h"
#include "util/mountopts.h"

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	char line[256];
	long kb = -1;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Rss: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int writable_data = 41;             /* .data */
static const char rodata[] = "read-only";  /* .rodata */

static void test_trim(void)
{
	char *heap = xasprintf("heap %d", 7);
	long before = rss_kb();
	size_t kb = mem_trim();
	long after = rss_kb();
	CHECK(kb > 0);
	CHECK(before > 0 && after > 0 && after < before);
	printf("# rss %ld kB -> %ld kB, %zu kB of mappings dropped\n", before, after, kb);

	/* everything still works after it, through the GOT and from the heap */
	writable_data++;
	CHECK(writable_data == 42);
	CHECK_STR(rodata, "read-only");
	CHECK_STR(heap, "heap 7");
	int v[] = {3, 1, 2};
	qsort(v, 3, sizeof v[0], cmp_int);
	CHECK(v[0] == 1 && v[2] == 3);
	CHECK(strcmp(uv_strerror(UV_ENOENT), "no such file or directory") == 0);
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = 1700000000;
	uint8_t buf[32];
	size_t n = google__protobuf__timestamp__pack(&ts, buf);
	Google__Protobuf__Timestamp *back = google__protobuf__timestamp__unpack(NULL, n, buf);
	CHECK(back != NULL && back->seconds == 1700000000);
	google__protobuf__timestamp__free_unpacked(back, NULL);
	/* twice in a row is fine too */
	mem_trim();
	CHECK(strlen(heap) == 6);
	free(heap);
}

static void test_mount_opts(void)
{
	const char *o[] = {"ro", "nosuid", "rbind", "rprivate", "index=off", "defaults", "rw", "lowerdir=/a:/b"};
	struct mount_opts m;
	mount_opts_parse(o, 8, &m);
	CHECK(m.flags == (MS_NOSUID | MS_BIND | MS_REC));   /* "rw" after "ro" clears it */
	CHECK(m.propagation == (MS_PRIVATE | MS_REC));
	CHECK_STR(m.data, "index=off,lowerdir=/a:/b");
	free(m.data);
	mount_opts_parse(NULL, 0, &m);
	CHECK(m.flags == 0 && m.propagation == 0);
	CHECK_STR(m.data, "");
	free(m.data);
}

int main(void)
{
	test_trim();
	test_mount_opts();
	return tap_done();
}
