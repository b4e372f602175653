#include "blockhash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const unsigned char zeros[64 * 1024];

static void push(struct hs_blockhash *b, uint64_t h)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint64_t *p = realloc(b->h, cap * sizeof *p);
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        b->h = p, b->cap = cap;
    }
    b->h[b->n++] = h;
}

int hs_blockhash_init(struct hs_blockhash *b, uint32_t block_size, bool whole)
{
    memset(b, 0, sizeof *b);
    if (block_size < 4096 || block_size % 4096 != 0 || block_size > HS_BLOCK_MAX)
        return -EINVAL;
    b->block_size = block_size;
    b->block = XXH3_createState();
    if (whole)
        b->whole = XXH3_createState();
    if (!b->block || (whole && !b->whole)) {
        hs_blockhash_free(b);
        return -ENOMEM;
    }
    XXH3_state_t *s = b->block;
    XXH3_64bits_reset(s);
    for (uint32_t left = block_size; left > 0;) {
        uint32_t k = left < sizeof zeros ? left : (uint32_t)sizeof zeros;
        XXH3_64bits_update(s, zeros, k);
        left -= k;
    }
    b->zero_hash = XXH3_64bits_digest(s);
    hs_blockhash_reset(b, 0);
    return 0;
}

void hs_blockhash_free(struct hs_blockhash *b)
{
    free(b->h);
    XXH3_freeState(b->block);
    XXH3_freeState(b->whole);
    memset(b, 0, sizeof *b);
}

uint64_t *hs_blockhash_fill(struct hs_blockhash *b, uint64_t size)
{
    hs_blockhash_reset(b, size);
    size_t n = hs_blocks_count(size, b->block_size);
    if (n > b->cap)
        return NULL;
    b->n = n;
    b->size = size;
    return b->h;
}

void hs_blockhash_reset(struct hs_blockhash *b, uint64_t size_hint)
{
    b->size = 0;
    b->n = 0;
    b->in_block = 0;
    b->err = 0;
    XXH3_64bits_reset(b->block);
    if (b->whole)
        XXH3_128bits_reset(b->whole);
    size_t want = hs_blocks_count(size_hint, b->block_size);
    if (want > b->cap) {
        uint64_t *p = realloc(b->h, want * sizeof *p);
        if (p) /* else push grows it, or fails */
            b->h = p, b->cap = want;
    }
}

/* Feeds block data (p NULL: zeros), never past the current block's end. */
static void feed_block(struct hs_blockhash *b, const unsigned char *p, size_t n)
{
    XXH3_state_t *s = b->block;
    if (b->in_block == 0 && n == b->block_size) {
        /* a whole block at once (the common case: a copy buffer holds many):
         * one-shot hashing, no streaming state */
        push(b, p ? XXH3_64bits(p, n) : b->zero_hash);
        return;
    }
    if (p) {
        XXH3_64bits_update(s, p, n);
    } else {
        for (size_t left = n; left > 0;) {
            size_t k = left < sizeof zeros ? left : sizeof zeros;
            XXH3_64bits_update(s, zeros, k);
            left -= k;
        }
    }
    b->in_block += (uint32_t)n;
    if (b->in_block == b->block_size) {
        push(b, XXH3_64bits_digest(s));
        XXH3_64bits_reset(s);
        b->in_block = 0;
    }
}

static void feed(struct hs_blockhash *b, const unsigned char *p, uint64_t n)
{
    b->size += n;
    while (n > 0) {
        uint64_t room = b->block_size - b->in_block;
        size_t k = (size_t)(n < room ? n : room);
        feed_block(b, p, k);
        if (p)
            p += k;
        n -= k;
    }
}

void hs_blockhash_update(struct hs_blockhash *b, const void *p, size_t n)
{
    if (b->whole)
        XXH3_128bits_update(b->whole, p, n);
    feed(b, p, n);
}

void hs_blockhash_zeros(struct hs_blockhash *b, uint64_t n)
{
    if (b->whole) {
        for (uint64_t left = n; left > 0;) {
            size_t k = left < sizeof zeros ? (size_t)left : sizeof zeros;
            XXH3_128bits_update(b->whole, zeros, k);
            left -= k;
        }
    }
    feed(b, NULL, n);
}

int hs_blockhash_finish(struct hs_blockhash *b, uint8_t whole[16])
{
    if (b->in_block > 0) {
        push(b, XXH3_64bits_digest(b->block));
        XXH3_64bits_reset(b->block);
        b->in_block = 0;
    }
    if (b->whole && whole) {
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(b->whole));
        memcpy(whole, canon.digest, 16);
    }
    return b->err;
}

struct hs_blocks hs_blockhash_blocks(const struct hs_blockhash *b)
{
    return (struct hs_blocks){.block_size = b->block_size, .size = b->size, .n = b->n, .h = b->h};
}
