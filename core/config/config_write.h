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
/* A string as a TOML basic string. */
void config_write_string(FILE *out, const char *s);
