/* SipHash-2-4 (see siphash.h), written from the paper's description. */
#include "util/siphash.h"

#include <string.h>
#include <sys/random.h>

#include "util/mem.h"

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND                                                              \
	do {                                                                  \
		v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);     \
		v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                        \
		v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                        \
		v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);     \
	} while (0)

uint64_t siphash24(const uint64_t k[2], const void *data, size_t n)
{
	const unsigned char *p = data;
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	size_t whole = n - n % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = load_le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	/* The last 0..7 bytes, the length's low byte on top. */
	unsigned char last[8] = {0};
	memcpy(last, p + whole, n - whole);
	uint64_t m = load_le64(last) | (uint64_t)(n & 0xff) << 56;
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void siphash_key_new(uint64_t k[2])
{
	/* getrandom(2) of 16 bytes from an initialised pool does not fail
	 * nor return short; before the pool is ready (early boot) it blocks. */
	if (getrandom(k, 2 * sizeof k[0], 0) != (ssize_t)(2 * sizeof k[0]))
		oom();
}
