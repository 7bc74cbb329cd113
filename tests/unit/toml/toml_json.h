/* toml-test's tagged JSON form, for the corpus run of test_toml. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "toml/toml.h"

/* True if v matches exp; otherwise false with the first difference in why. */
bool tj_compare(json_object *exp, const struct toml_value *v, const char *path, char *why,
		size_t whylen);
/* Parses an expected datetime of the given tag ("datetime", "date-local", ...). */
bool tj_parse_datetime(const char *s, const char *tag, struct toml_datetime *dt);
