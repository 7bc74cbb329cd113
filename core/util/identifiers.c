#include "util/identifiers.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/quote.h"

static bool is_alnum(char c) { return isascii((unsigned char)c) && isalnum((unsigned char)c); }

static bool matches(const char *s)
{
	/* alnum+ ( [._-] alnum+ )* */
	const char *p = s;
	for (;;) {
		if (!is_alnum(*p))
			return false;
		while (is_alnum(*p))
			p++;
		if (*p == 0)
			return true;
		if (*p != '.' && *p != '_' && *p != '-')
			return false;
		p++;
	}
}

int identifier_validate(const char *s, struct ucd_error **err)
{
	if (s == NULL || *s == 0)
		return error_set(err, UCD_INVALID_ARGUMENT, 0, "identifier must not be empty: invalid argument");
	autofree char *q = go_quote(s);
	if (strlen(s) > IDENTIFIER_MAX_LEN)
		return error_set(err, UCD_INVALID_ARGUMENT, 0,
				 "identifier %s greater than maximum length (%d characters): invalid argument", q,
				 IDENTIFIER_MAX_LEN);
	if (!matches(s))
		return error_set(err, UCD_INVALID_ARGUMENT, 0,
				 "identifier %s must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument", q);
	return 0;
}

int identifier_validate_ns(const char *ns, struct ucd_error **err)
{
	if (identifier_validate(ns, err) < 0)
		return error_wrap(err, "namespace validation");
	return 0;
}
