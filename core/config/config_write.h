/* Printing configuration back as TOML: `ucontainerd config default` and
 * `ucontainerd config dump`. */
#pragma once
#include <stdio.h>

#include "config/config.h"

/* The core's part of config.toml (everything but [plugins]), with its
 * values and a comment for each key. */
void config_write_core(FILE *out, const struct config *cfg, bool comments);
/* A TOML value in inline form (strings escaped, tables as inline tables). */
void config_write_value(FILE *out, const struct toml_value *v);
/* A table as `[prefix]` followed by its keys; sub-tables as `[prefix.key]`. */
void config_write_table(FILE *out, const char *prefix, const struct toml_value *t);
/* Every plugin table the config's files set, each once (from the file
 * whose table wins), as `[plugins."<uri>"]` tables; with `sources`, each
 * after a `# from <file>` comment. */
void config_write_plugin_tables(FILE *out, const struct config *cfg, bool sources);
/* A string as a TOML basic string. */
void config_write_string(FILE *out, const char *s);
/* The same for `len` bytes that may hold NUL (written as \u0000). */
void config_write_stringn(FILE *out, const char *s, size_t len);
