/* The checks the metadata unit tests share: counters, CHECK/CHECK_STR,
 * CHECK_ERR (an error with a given code and message, freed), CHECK_OK, and
 * rm_cb for nftw() to remove a test's directory. Each test file includes
 * it once and prints "N passed, N failed" last. */
#pragma once
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <ucontainerd/error.h>

#include "util/error.h"

static int n_pass, n_fail;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (cond) {                                                          \
			n_pass++;                                                    \
		} else {                                                             \
			n_fail++;                                                    \
			fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                    \
	} while (0)

#define CHECK_STR(a, b)                                                                              \
	do {                                                                                         \
		const char *a_ = (a), *b_ = (b);                                                     \
		if (a_ != NULL && b_ != NULL && strcmp(a_, b_) == 0) {                               \
			n_pass++;                                                                    \
		} else {                                                                             \
			n_fail++;                                                                    \
			fprintf(stderr, "%s:%d: FAIL: %s: got `%s`, want `%s`\n", __FILE__, __LINE__, #a, \
				a_ ? a_ : "(null)", b_ ? b_ : "(null)");                             \
		}                                                                                    \
	} while (0)

/* `r` failed with `code` and exactly `msg` (containing msg+1 when msg
 * starts with '~'; any message when msg is NULL); frees the error. */
#define CHECK_ERR(r, e, code, msg) check_err(__FILE__, __LINE__, (r), &(e), (code), (msg))
static inline void check_err(const char *file, int line, int r, struct ucd_error **e, int code, const char *msg)
{
	bool ok = r == -code && *e != NULL && (*e)->code == code;
	if (ok && msg != NULL)
		ok = msg[0] == '~' ? strstr((*e)->msg, msg + 1) != NULL : strcmp((*e)->msg, msg) == 0;
	if (ok) {
		n_pass++;
	} else {
		n_fail++;
		fprintf(stderr, "%s:%d: FAIL: want %d `%s`, got r=%d %d `%s`\n", file, line, code, msg ? msg : "", r,
			*e ? (*e)->code : 0, *e ? (*e)->msg : "(no error)");
	}
	error_free(*e);
	*e = NULL;
}

/* `r` succeeded (>= 0); on failure prints the error; frees it either way. */
#define CHECK_OK(r, e)                                                                                \
	do {                                                                                          \
		int r_ = (r);                                                                         \
		if (r_ >= 0) {                                                                        \
			n_pass++;                                                                     \
		} else {                                                                              \
			n_fail++;                                                                     \
			fprintf(stderr, "%s:%d: FAIL: %s -> %d %s\n", __FILE__, __LINE__, #r, r_,     \
				(e) ? (e)->msg : "");                                                 \
		}                                                                                     \
		error_free(e);                                                                        \
		(e) = NULL;                                                                           \
	} while (0)

static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}
