/* util/strset and util/siphash: the keyed hash matches SipHash-2-4's
 * published vector, each set draws its own key, and names chosen to
 * collide under an unkeyed hash (FNV-1a, what strset used before) do not
 * pile up into one probe chain. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../harness/tap.h"
#include "util/siphash.h"
#include "util/strset.h"

/* The unkeyed hash an attacker could aim at: 64-bit FNV-1a with the
 * offset basis strset used. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void test_vectors(void)
{
	/* The paper's key 00..0f; messages 00..(n-1). */
	uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
	unsigned char m[15];
	for (int i = 0; i < 15; i++)
		m[i] = (unsigned char)i;
	CHECK(siphash24(k, m, 15) == 0xa129ca6149be45e5ull);
	CHECK(siphash24(k, m, 0) == 0x726fdb47dd0e0e31ull);
	CHECK(siphash24(k, m, 8) == 0x93f5f5799a932462ull);
}

static void test_keys(void)
{
	struct strset a = STRSET_INIT, b = STRSET_INIT;
	strset_add(&a, "x");
	strset_add(&b, "x");
	CHECK(a.key[0] != 0 || a.key[1] != 0);
	CHECK(a.key[0] != b.key[0] || a.key[1] != b.key[1]);
	/* the key survives growing */
	uint64_t k0 = a.key[0], k1 = a.key[1];
	char name[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		strset_add(&a, name);
	}
	CHECK(a.key[0] == k0 && a.key[1] == k1);
	CHECK(a.n == 1001 && strset_has(&a, "n999") && strset_has(&a, "x") && !strset_has(&a, "n1000"));
	strset_free(&a);
	strset_free(&b);
}

/* 2000 names whose FNV-1a agree in the low 12 bits: with 2000 members the
 * table has 4096 slots, so under FNV-1a every one of them has the same
 * home slot and the last lookup walks 2000 slots. */
static void test_flooding(void)
{
	enum { N = 2000, CAP = 4096 };
	struct strset s = STRSET_INIT;
	char name[32];
	size_t found = 0;
	for (unsigned i = 0; found < N; i++) {
		snprintf(name, sizeof name, "layer/file-%u", i);
		if ((fnv1a(name) & (CAP - 1)) == 1234) {
			strset_add(&s, name);
			found++;
		}
	}
	CHECK(s.n == N && s.cap == CAP);
	size_t longest = strset_longest_probe(&s);
	printf("# %d names colliding under FNV-1a: the longest probe visits %zu slots\n", N, longest);
	CHECK(longest < 64);
	strset_free(&s);
	CHECK(strset_longest_probe(&s) == 0);
}

int main(void)
{
	test_vectors();
	test_keys();
	test_flooding();
	return tap_done();
}
