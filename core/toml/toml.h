/* A TOML 1.0 parser (https://toml.io/en/v1.0.0), tested against the upstream
 * toml-test corpus. It builds a tree of values that remembers where each key
 * and value stood in the file, so the config layer can say "file:line:col:
 * plugin `x` has no key `y`". Parsing is all or nothing: either a whole tree
 * or an error message naming file, line and column. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z / +01:00 */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL,     /* 07:32:00 */
};

struct toml_datetime {
	int year, month, day;       /* 0 for TOML_TIME_LOCAL */
	int hour, minute, second;   /* 0 for TOML_DATE_LOCAL */
	int nanosecond;             /* fraction, truncated to nanoseconds */
	bool has_offset;            /* TOML_DATETIME only */
	int offset_minutes;         /* east of UTC; Z = 0 */
};

struct toml_value;

/* Parses `len` bytes of `text` (need not be NUL-terminated). `filename` is used
 * only in messages. On failure returns NULL and sets *errmsg (malloc'd, caller
 * frees) to "FILE:LINE:COL: message"; lines and columns count from 1, columns
 * in bytes. The returned root is a TOML_TABLE. */
struct toml_value *toml_parse(const char *text, size_t len, const char *filename, char **errmsg);
/* Reads and parses a file; a read failure is reported in *errmsg too. */
struct toml_value *toml_parse_file(const char *path, char **errmsg);
void toml_free(struct toml_value *v);

enum toml_type toml_type(const struct toml_value *v);
const char *toml_type_name(enum toml_type t);    /* "table", "string", ... */
int toml_line(const struct toml_value *v);       /* where the value starts */
int toml_col(const struct toml_value *v);

/* Tables keep keys in document order. */
size_t toml_table_len(const struct toml_value *t);
const char *toml_table_key(const struct toml_value *t, size_t i);
struct toml_value *toml_table_value(const struct toml_value *t, size_t i);
/* NULL if absent or if t is not a table. */
struct toml_value *toml_get(const struct toml_value *t, const char *key);

size_t toml_array_len(const struct toml_value *a);
struct toml_value *toml_array_at(const struct toml_value *a, size_t i);

/* Scalars. Strings are NUL-terminated UTF-8; a string holding U+0000 keeps
 * its true length in *len (len may be NULL). */
const char *toml_string(const struct toml_value *v, size_t *len);
/* Wrong-type or NULL arguments give 0 / false / NULL; toml_type needs a value. */
int64_t toml_integer(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);
const struct toml_datetime *toml_datetime(const struct toml_value *v);

/* Additions beyond the calls above. */

/* Like toml_table_key, also giving the key's length: a quoted key may hold
 * U+0000 ("\u0000"), which toml_table_key's C string would cut short. */
const char *toml_table_keyn(const struct toml_value *t, size_t i, size_t *len);
/* Where the i-th key of t was written (the last part of a dotted key, or of
 * a table header); 0 if out of range. Implicitly created tables report the
 * key part that created them. */
int toml_table_key_line(const struct toml_value *t, size_t i);
int toml_table_key_col(const struct toml_value *t, size_t i);
/* toml_get for a key of `len` bytes that may contain NUL. */
struct toml_value *toml_getn(const struct toml_value *t, const char *key, size_t len);
