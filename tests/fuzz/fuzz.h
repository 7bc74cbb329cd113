/* What every fuzz target shares (docs/fuzzing.md).
 *
 * Each target is one file fuzz_<name>.c defining LLVMFuzzerTestOneInput
 * (and LLVMFuzzerInitialize when it needs set-up). With UCD_FUZZ it is
 * linked with libFuzzer; in the normal builds with replay_main.c, which
 * runs it on every file of its corpus (ctest fuzz_replay.<name>), so that
 * each regression input stays a test under gcc's ASan/UBSan too.
 *
 * Rules for a target: no state kept from one input to the next (what an
 * input creates is undone before the next one), nothing left on exit (the
 * leak checker runs then), nothing written outside its own temporary
 * directory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding that no sanitizer reports by itself (a broken invariant): the
 * message, then abort(), which libFuzzer records as a crash with its input. */
#define FUZZ_CHECK(cond, ...)                                                                          \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "fuzz: %s:%d: check `%s` failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                                  \
			fputc('\n', stderr);                                                           \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

/* The target's private temporary directory, made at the first call and
 * removed with everything in it when the process exits normally. */
const char *fuzz_tmpdir(void);
/* rm -rf of `path` (no error if it does not exist); aborts if it cannot
 * remove it, since the next input would then see this one's leftovers. */
void fuzz_rmtree(const char *path);
/* The daemon's log (core/util/log.h) silenced but for fatal errors: a
 * target runs millions of inputs. FUZZ_LOG=<level> in the environment
 * turns it back on (to see why an input fails). */
void fuzz_quiet_logs(void);

/* Consumes bytes from the front of an input. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};
uint8_t fuzz_byte(struct fuzz_input *in);   /* 0 once exhausted */
