/* util: identifiers (containerd's rule), errors, the byte buffer. */
#include <stdlib.h>

#include "../../harness/tap.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/identifiers.h"
#include "util/pbfield.h"
#include "containerd/events/container.pb-c.h"

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

	/* pbfield: containerd's generated field adaptors over protobuf-c messages */
	Containerd__Events__ContainerCreate__Runtime rt = CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;
	rt.name = "io.containerd.runc.v2";
	Containerd__Events__ContainerCreate cc = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
	cc.id = "c1";
	cc.image = "";
	cc.runtime = &rt;
	Containerd__Events__ContainerUpdate__LabelsEntry l1 = CONTAINERD__EVENTS__CONTAINER_UPDATE__LABELS_ENTRY__INIT,
		l2 = l1, l3 = l1;
	l1.key = "a.b";
	l1.value = "first";
	l2.key = "x";
	l2.value = "";
	l3.key = "a.b";
	l3.value = "last";
	Containerd__Events__ContainerUpdate__LabelsEntry *labels[] = {&l1, &l2, &l3};
	Containerd__Events__ContainerUpdate cu = CONTAINERD__EVENTS__CONTAINER_UPDATE__INIT;
	cu.id = "c1";
	cu.labels = labels;
	cu.n_labels = 3;
	const char *v = NULL;
	CHECK(pbfield_get(&cc.base, (const char *[]){"id"}, 1, &v) && strcmp(v, "c1") == 0);
	CHECK(!pbfield_get(&cc.base, (const char *[]){"image"}, 1, &v));           /* empty string: absent */
	CHECK(pbfield_get(&cc.base, (const char *[]){"runtime", "name"}, 2, &v) && strcmp(v, "io.containerd.runc.v2") == 0);
	CHECK(!pbfield_get(&cc.base, (const char *[]){"runtime"}, 1, &v));        /* a message is no value */
	CHECK(!pbfield_get(&cc.base, (const char *[]){"nope"}, 1, &v));
	CHECK(pbfield_get(&cu.base, (const char *[]){"labels", "a", "b"}, 3, &v) && strcmp(v, "last") == 0);
	CHECK(pbfield_get(&cu.base, (const char *[]){"labels", "x"}, 2, &v) && strcmp(v, "") == 0);
	CHECK(!pbfield_get(&cu.base, (const char *[]){"labels", "y"}, 2, &v));
	CHECK(!pbfield_get(&cu.base, (const char *[]){"labels"}, 1, &v));
	CHECK(!pbfield_get(NULL, (const char *[]){"id"}, 1, &v));

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
