/*
 * The hashes of the in-memory tables: one for integer keys (an inode's dev
 * and ino, a size), one for bytes (a path, a name). A table of 2^bits slots
 * takes its index from the top bits (hs_hash_top), where both spread their
 * input; the low bits of hs_hash_key would cluster.
 */
#ifndef HS_HASH_H
#define HS_HASH_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* Fibonacci hashing of the pair: the product by 2^64 / phi carries every
 * key bit into the top bits, and spreads a run of inode numbers evenly over
 * the table (no two neighbours collide, where a random hash would make half
 * of them probe). dev is turned half over first, so that small devices and
 * small inode numbers do not cancel each other out. */
static inline uint64_t hs_hash_key(uint64_t dev, uint64_t ino)
{
    return (ino ^ (dev << 32 | dev >> 32)) * 0x9E3779B97F4A7C15ull;
}

static inline uint64_t hs_hash_bytes(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

/* The slot of hash h in a table of 2^bits slots (1 <= bits <= 63). */
static inline size_t hs_hash_top(uint64_t h, unsigned bits)
{
    return (size_t)(h >> (64 - bits));
}

#endif
