/* Regular expressions with the syntax and matching semantics of Go's regexp
 * package (RE2), which containerd uses for the `~=` filter operator. Matching
 * is a Thompson NFA simulation: linear in the text for a given pattern, no
 * backtracking, so a hostile pattern cannot blow up. Internal to core/filters;
 * docs/filters.md lists what is not supported (\p{...} Unicode classes).
 *
 * Compiled expressions are immutable: flt_re_match may run concurrently on
 * one expression from several threads. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Compiled program size limit (instructions). Go's own limit is far higher
 * (~3.3M); this one keeps the per-object cost of a hostile filter bounded. */
#define FLT_RE_MAX_INSTS 10000
/* Parenthesis nesting and parse-tree height limit (Go: tree height 1000). */
#define FLT_RE_MAX_DEPTH 256
/* Go's limit on a counted repetition and on the product of nested ones. */
#define FLT_RE_MAX_REPEAT 1000

struct flt_re;

/* Compiles `len` bytes of `pat`. On failure returns NULL and sets *msg to a
 * malloc'd message in Go's format: "error parsing regexp: <what>: `<expr>`". */
struct flt_re *flt_re_compile(const char *pat, size_t len, char **msg);
/* Go's (*Regexp).MatchString: does the expression match anywhere in text?
 * Text is UTF-8; invalid bytes read as U+FFFD, one byte each. */
bool flt_re_match(const struct flt_re *re, const char *text, size_t len);
void flt_re_free(struct flt_re *re);
