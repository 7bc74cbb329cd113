/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012): a keyed 64-bit hash for hash tables whose keys an attacker
 * chooses (paths from a layer or a container). With a random key per
 * table, which names collide cannot be known in advance, so no input makes
 * a table degrade into one long probe chain. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The hash of the n bytes at p under the 128-bit key (k[0] is the first
 * eight key bytes read little-endian, k[1] the last eight). */
uint64_t siphash24(const uint64_t k[2], const void *p, size_t n);
/* A fresh random key from getrandom(2). */
void siphash_key_new(uint64_t k[2]);
