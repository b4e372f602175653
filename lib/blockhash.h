/*
 * Per-block hashes of a file's content, made in the same pass as its
 * XXH3-128: fed the content in order (data, and holes as the zeros they read
 * as), a hasher yields one XXH3-64 per block of block_size bytes (the last
 * block partial), and, if asked, the whole content's XXH3-128 (the manifest's
 * hash). The block hashes let a later copy write only the blocks that changed
 * (lib/delta.h), and are what a remote pull or verify can compare block by
 * block. The hash of block i covers bytes [i*block_size, (i+1)*block_size)
 * only (no seed, no offset), so the same content gives the same hash at any
 * position.
 */
#ifndef HS_BLOCKHASH_H
#define HS_BLOCKHASH_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Block sizes are multiples of 4 KiB, the filesystem block size of btrfs
 * and xfs on common hardware, so a changed block is written, and an
 * unchanged one shared, whole. The largest fits the copy buffer. */
#define HS_BLOCK_MAX (1024u * 1024)

/* The block hashes of one file's content, as read back from a block map or
 * made by a hasher: n = ceil(size / block_size) hashes. */
struct hs_blocks {
    uint32_t block_size;
    uint64_t size; /* of the content the hashes cover */
    size_t n;
    const uint64_t *h;
};

struct hs_blockhash {
    uint32_t block_size;
    uint64_t size; /* bytes fed since the reset */
    uint64_t *h;   /* the hashes of the complete blocks (and the last, after finish) */
    size_t n, cap;
    uint64_t zero_hash; /* of a whole block of zeros: holes cost no hashing */
    void *block;        /* XXH3_state_t of the block being filled */
    uint32_t in_block;  /* bytes of it fed so far */
    void *whole;        /* XXH3_state_t of the whole content, NULL if not wanted */
    int err;            /* -ENOMEM once a hash could not be kept; finish returns it */
};

/* block_size: a multiple of 4096 in [4096, HS_BLOCK_MAX] (-EINVAL
 * otherwise); the backup's is HS_DELTA_BLOCK (lib/delta.h). whole: also
 * keep the XXH3-128 of all the content. 0 or -errno. */
int hs_blockhash_init(struct hs_blockhash *b, uint32_t block_size, bool whole);
void hs_blockhash_free(struct hs_blockhash *b);

/* Starts a new file; size_hint (its expected size, 0 if unknown) sizes the
 * hash array at once. */
void hs_blockhash_reset(struct hs_blockhash *b, uint64_t size_hint);
void hs_blockhash_update(struct hs_blockhash *b, const void *p, size_t n);
/* n bytes of zeros (a hole): whole blocks take the cached zero hash. */
void hs_blockhash_zeros(struct hs_blockhash *b, uint64_t n);
/* Ends the file: hashes the partial last block, and fills whole[16] (the
 * canonical big-endian XXH3-128) if the hasher keeps it and whole is not
 * NULL. 0, or -ENOMEM if a hash could not be stored (no message: the caller
 * names the file). */
int hs_blockhash_finish(struct hs_blockhash *b, uint8_t whole[16]);

/* For hashes made elsewhere (a file rebuilt from a pull's blocks): resets b
 * to a finished file of size bytes and returns its hs_blocks_count() hashes
 * for the caller to fill, NULL when out of memory. */
uint64_t *hs_blockhash_fill(struct hs_blockhash *b, uint64_t size);

/* The finished hashes as a struct hs_blocks (valid until the next reset). */
struct hs_blocks hs_blockhash_blocks(const struct hs_blockhash *b);

/* The number of blocks of a file of size bytes. */
static inline size_t hs_blocks_count(uint64_t size, uint32_t block_size)
{
    return (size_t)(size / block_size + (size % block_size != 0));
}

#endif
