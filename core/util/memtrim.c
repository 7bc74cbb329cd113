/* Most of the code and read-only data the daemon maps is used once:
 * start-up, the dynamic linker's relocations, plugin init, OpenSSL's and
 * libarchive's initialization, a layer unpack. The kernel keeps every page a
 * process touched mapped in its page tables (and maps 16 around each fault:
 * fault-around), so after an image import the daemon "holds" megabytes it
 * will not read again. mem_trim() unmaps them from our page tables
 * (MADV_DONTNEED; the pages stay in the page cache, shared with every other
 * process) and sets MADV_RANDOM so that a page needed again comes back
 * alone, on a minor fault.
 *
 * Only read-only file mappings (r-xp, r--p) with no anonymous page are
 * touched: every page of those is the file's own, so dropping it loses
 * nothing. The RELRO segment (relocated data made read-only) holds private
 * copies, shows Anonymous > 0 and is left alone, as is everything writable.
 * Then malloc_trim gives free heap back. */
#include "util/memtrim.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void drop(unsigned long lo, unsigned long hi, size_t *kb)
{
	void *p = (void *)lo;
	madvise(p, hi - lo, MADV_RANDOM);
	if (madvise(p, hi - lo, MADV_DONTNEED) == 0)
		*kb += (hi - lo) / 1024;
}

size_t mem_trim(void)
{
	size_t kb = 0;
	FILE *f = fopen("/proc/self/smaps", "re");
	if (f != NULL) {
		/* procfs says 1 KiB blocks: stdio would read the ~300 KiB in
		 * 1 KiB read(2)s */
		char buf[64 * 1024];
		setvbuf(f, buf, _IOFBF, sizeof buf);
		char line[512];
		unsigned long lo = 0, hi = 0;
		bool candidate = false;
		while (fgets(line, sizeof line, f) != NULL) {
			unsigned long a, b;
			char perms[8];
			int path_at = 0;
			if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &a, &b, perms, &path_at) >= 3 && path_at > 0) {
				/* a new mapping: its fields follow */
				lo = a;
				hi = b;
				candidate = (strcmp(perms, "r-xp") == 0 || strcmp(perms, "r--p") == 0) &&
					    line[path_at] == '/';
				continue;
			}
			unsigned long anon;
			if (candidate && sscanf(line, "Anonymous: %lu kB", &anon) == 1) {
				if (anon == 0)
					drop(lo, hi, &kb);
				candidate = false;
			}
		}
		fclose(f);
	}
	malloc_trim(0);
	return kb;
}
