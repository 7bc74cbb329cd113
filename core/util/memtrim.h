/* Giving back memory the daemon no longer uses (see memtrim.c). */
#pragma once
#include <stddef.h>

/* Drops this process's mappings of library and program code (r-x file
 * mappings) and marks them MADV_RANDOM, then returns free heap to the
 * kernel. Returns the kB of code unmapped (for the log). */
size_t mem_trim(void);
