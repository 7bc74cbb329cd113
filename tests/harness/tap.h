/* A minimal TAP runner for the C unit tests: each CHECK prints
 * `ok N - expr` or `not ok N - expr (file:line)`, tap_done() prints the
 * summary line `N passed, N failed` and returns the exit status. */
#pragma once
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define CHECK(cond) tap_check(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(a, b) tap_check_str((a), (b), #a, __FILE__, __LINE__)

static inline int tap_check(int ok, const char *what, const char *file, int line)
{
	tap_n++;
	if (ok) {
		printf("ok %d - %s\n", tap_n, what);
	} else {
		tap_failed++;
		printf("not ok %d - %s (%s:%d)\n", tap_n, what, file, line);
	}
	return ok;
}

static inline int tap_check_str(const char *a, const char *b, const char *what, const char *file, int line)
{
	int ok = a != NULL && b != NULL && strcmp(a, b) == 0;
	if (!ok)
		printf("# got \"%s\", want \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
	return tap_check(ok, what, file, line);
}

static inline int tap_done(void)
{
	printf("1..%d\n%d passed, %d failed\n", tap_n, tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}
