/* util: identifiers (containerd's rule), errors, the byte buffer. */
#include <stdlib.h>

#include "../../harness/tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/identifiers.h"

static int valid(const char *s)
{
	struct ucd_error *e = NULL;
	int r = identifier_validate(s, &e);
	if (r < 0 && (e == NULL || e->code != UCD_INVALID_ARGUMENT))
		return -2;
	error_free(e);
	return r == 0;
}

int main(void)
{
	CHECK(valid("default") == 1);
	CHECK(valid("k8s.io") == 1);
	CHECK(valid("a-b_c.d9") == 1);
	CHECK(valid("A") == 1);
	CHECK(valid("") == 0);
	CHECK(valid("a..b") == 0);
	CHECK(valid("-a") == 0);
	CHECK(valid("a-") == 0);
	CHECK(valid("a/b") == 0);
	CHECK(valid("a b") == 0);
	CHECK(valid("\xc3\xa9") == 0);
	char long_id[80];
	memset(long_id, 'a', 77);
	long_id[77] = 0;
	CHECK(valid(long_id) == 0);
	long_id[76] = 0;
	CHECK(valid(long_id) == 1);

	struct ucd_error *e = NULL;
	identifier_validate("a..b", &e);
	CHECK_STR(e->msg, "identifier \"a..b\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument");
	error_wrap(&e, "namespace validation");
	CHECK(strncmp(e->msg, "namespace validation: identifier", 32) == 0 && e->code == UCD_INVALID_ARGUMENT);
	error_free(e);

	e = NULL;
	CHECK(error_set(&e, UCD_NOT_FOUND, 0, "x %d", 1) == -UCD_NOT_FOUND);
	CHECK_STR(e->msg, "x 1");
	CHECK(error_set(&e, UCD_ALREADY_EXISTS, 0, "y") == -UCD_ALREADY_EXISTS);   /* replaces, no leak */
	CHECK(e->code == UCD_ALREADY_EXISTS);
	error_free(e);
	CHECK_STR(error_code_name(UCD_FAILED_PRECONDITION), "FailedPrecondition");
	CHECK_STR(error_code_name(99), "Unknown");

	struct buf b = {0};
	for (int i = 0; i < 1000; i++)
		buf_append(&b, "0123456789", 10);
	CHECK(buf_avail(&b) == 10000);
	buf_consume(&b, 9995);
	CHECK(buf_avail(&b) == 5 && memcmp(b.data + b.off, "56789", 5) == 0);
	buf_append(&b, "ab", 2);
	CHECK(buf_avail(&b) == 7 && memcmp(b.data + b.off, "56789ab", 7) == 0);
	buf_consume(&b, 7);
	CHECK(buf_avail(&b) == 0 && b.off == 0);
	buf_free(&b);
	return tap_done();
}
