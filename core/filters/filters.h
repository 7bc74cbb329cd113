/* containerd's filter language (github.com/containerd/containerd/filters, as
 * of containerd 1.6): the `filters` strings of List RPCs, event subscriptions
 * and `ctr ... ls`. docs/filters.md has the syntax, limits and differences.
 *
 *   filter    := selector ("," selector)*          all must match
 *   selector  := fieldpath [("==" | "!=" | "~=") value]
 *   fieldpath := field ("." field)*                field: [A-Za-z0-9_]+ or "quoted"
 *   value     := bare | "quoted" (| /quoted/ or |quoted| after ~= only)
 *
 * A list of filter strings is a disjunction: an object matches if any string
 * matches; an empty list, or a list holding "", matches everything.
 * Without an operator a selector tests presence. `==` needs the field present
 * and equal; `!=` and `~=` compare the field's value even when it is absent
 * (then the value is ""), as containerd does: `labels.a!=x` matches objects
 * without label a. `~=` takes a Go (RE2) regular expression, unanchored.
 *
 * Parsing is all or nothing; every failure is UCD_INVALID_ARGUMENT with
 * containerd's message, e.g.
 *   filters: parse error: [name==foo,]: expected field or quoted: invalid argument
 *   filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated: invalid argument
 * (the offending byte between >| and |<, or the whole input when the error is
 * at its end).
 * A parsed filter is immutable: filter_match may run on it from any thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <ucontainerd/error.h>

#define FILTER_MAX_STRINGS 64      /* filter strings per list */
#define FILTER_MAX_LEN 4096        /* bytes per filter string */
#define FILTER_MAX_SELECTORS 64    /* selectors per filter string */

struct filter;

/* The adaptor: resolves a field path of n >= 1 components against obj.
 * Returns whether the field is present. *value arrives NULL; set it to the
 * field's value (NULL means ""), valid until the call that follows. As in
 * containerd, a value set for an absent field is still seen by != and ~=. */
typedef bool (*filter_get_fn)(void *obj, const char *const *path, size_t n, const char **value);

/* Parses n NUL-terminated filter strings (containerd's filters.ParseAll).
 * n == 0 gives a filter that matches everything. NULL on error, with *err. */
struct filter *filter_parse(const char *const *strs, size_t n, struct ucd_error **err);
/* The same with explicit lengths (lens NULL: strlen), for strings that may
 * hold NUL bytes; containerd rejects those ("unexpected null"). */
struct filter *filter_parse_len(const char *const *strs, const size_t *lens, size_t n,
				struct ucd_error **err);
/* Does obj match? A NULL filter matches everything. */
bool filter_match(const struct filter *f, filter_get_fn get, void *obj);
/* True when f matches everything whatever the object (no strings, or ""). */
bool filter_is_match_all(const struct filter *f);
void filter_free(struct filter *f);

/* ---- adaptor helpers ---- */

/* Does key equal the components of path joined with "."? (containerd joins
 * the rest of a path to look up a label, so labels."a.b" and labels.a.b
 * both name the label "a.b".) n == 0 compares with "". */
bool filter_path_equals(const char *key, const char *const *path, size_t n);

/* Resolves a label (or annotation) in a map held as parallel key/value
 * arrays, as containerd's adaptors do with checkMap: `subpath` is the field
 * path after its first component, e.g. for labels."a.b" the single component
 * "a.b". An empty map never has the field. Usage in an adaptor:
 *   if (strcmp(path[0], "labels") == 0)
 *       return filter_get_label(keys, vals, nlabels, path + 1, n - 1, value); */
bool filter_get_label(const char *const *keys, const char *const *vals, size_t nlabels,
		      const char *const *subpath, size_t n, const char **value);

/* ---- update-mask field paths ---- */

/* containerd's Update handlers take `<prefix>.<key>` paths (labels.<key>,
 * annotations.<key>, extensions.<key>) by prefix: everything after the first
 * "<prefix>." is the key, verbatim: dots kept, quotes not interpreted, and
 * possibly empty ("labels." names the label ""). Returns that key, or NULL
 * when path does not start with "<prefix>." (so a bare "labels", which
 * replaces the whole map, gives NULL). */
const char *filter_fieldmask_key(const char *path, const char *prefix);

/* Splits a mask path at its first '.': returns the length of the head and
 * sets *rest to what follows the dot, or to NULL when there is no dot.
 * "labels.foo.bar" gives 6 ("labels") and "foo.bar". */
size_t filter_fieldmask_split(const char *path, const char **rest);
