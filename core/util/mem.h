/* Allocation that never returns NULL. Running out of memory is not an error
 * path in the daemon: wire limits keep it out of a client's reach, and the one
 * place it can happen aborts with a message (crun's OOM()). */
#pragma once
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

_Noreturn void oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Scope cleanup (crun, kernel cleanup.h). Never mixed with goto unwinding. */
static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define autofree __attribute__((cleanup(cleanup_freep)))
#define autoclose __attribute__((cleanup(cleanup_closep)))
/* Moves a value out of a cleanup variable: `return steal (buf);` */
#define steal(p) ({ __typeof__(p) steal_tmp_ = (p); (p) = NULL; steal_tmp_; })
#define steal_fd(fd) ({ int steal_fd_ = (fd); (fd) = -1; steal_fd_; })
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
