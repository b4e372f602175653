/*
 * The delta copy of a changed big file (on filesystems with reflinks: btrfs,
 * xfs with reflink=1): the new snapshot's file is made a clone (FICLONE) of
 * the previous snapshot's version, a new inode sharing all its extents, and
 * only the blocks whose hash differs from the previous version's block map
 * record (lib/blockmap.h) are written into it. The source is read once, each
 * block hashed as it passes; the previous version's inode is only read by
 * the clone, never written, so no older snapshot changes.
 *
 * Trust: an unchanged block is one whose XXH3-64 equals the recorded one.
 * The whole content's XXH3-128 is computed from the source as it is read,
 * never from the clone, so the manifest's hash names what the source held
 * and verify catches a block wrongly kept (a 64-bit collision).
 */
#ifndef HS_DELTA_H
#define HS_DELTA_H
#include "internal.h"

#include "blockhash.h"
#include "copy.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* The block size of the backup's block hashes, and the size from which a
 * changed file gets a delta copy (smaller ones keep the plain copy). Chosen
 * by measurement: docs/design.md, "Changed blocks of big files". */
#define HS_DELTA_BLOCK    (64u * 1024)
#define HS_DELTA_MIN_SIZE (4ull * 1024 * 1024)

/* Not an error: no delta copy was made and dst is still empty, so the
 * caller copies normally (hs_copy_data). The filesystem cannot clone prev
 * into dst (EXDEV, EOPNOTSUPP, EINVAL, ENOTTY: ext4, tmpfs, across
 * filesystems), or prev is not what the block hashes describe (its size
 * differs). */
#define HS_DELTA_PLAIN 1

/* What a delta copy did, for --stats and the measurements. */
struct hs_delta_stats {
    uint64_t blocks;         /* of the new content */
    uint64_t blocks_written; /* changed, past the previous size, or the partial last one */
    uint64_t blocks_punched; /* changed to all zeros: made a hole instead of written */
};

/*
 * Copies src (size st->st_size as stat'ed) into the new, empty dst (opened
 * O_RDWR) as a clone of prev (opened for reading) with only the changed
 * blocks written, prev_blocks being prev's block hashes (prev_blocks->size
 * must be prev's size, else HS_DELTA_PLAIN). out (a hasher of
 * prev_blocks->block_size, -EINVAL otherwise) receives the new content's
 * block hashes (for the new block map record), hash its XXH3-128, *written
 * the bytes written (the new space, give or take metadata), stats (may be
 * NULL) the block counts. Like hs_copy_data, a source that shrinks while
 * read ends the copy at its new end (the caller's re-stat notices) and
 * c->src_failed tells source from copy errors.
 * Returns 0, HS_DELTA_PLAIN (dst left empty) or -errno. After -errno dst
 * holds a part of the copy: the caller removes it.
 */
int hs_copy_delta(struct hs_copier *c, int src, int prev, int dst, const struct stat *st,
                  const struct hs_blocks *prev_blocks, struct hs_blockhash *out, uint8_t hash[16],
                  uint64_t *written, struct hs_delta_stats *stats, const char *path,
                  struct hs_err *e);

/* The clone alone: FICLONE of prev into dst. 0, HS_DELTA_PLAIN when the
 * filesystem cannot (dst untouched), or -errno. */
int hs_delta_clone(int prev, int dst, const char *path, struct hs_err *e);

/* Makes the shared file dst take new extents in units of block_size where
 * it is written (xfs's CoW extent size hint; nothing elsewhere). */
void hs_delta_cow_blocks(int dst, uint32_t block_size);

/* The writing alone: dst already holds the content prev_blocks describes
 * (a clone, or any copy: the unit tests use a plain one). Arguments and
 * results as hs_copy_delta, but never HS_DELTA_PLAIN. */
int hs_delta_apply(struct hs_copier *c, int src, int dst, const struct stat *st,
                   const struct hs_blocks *prev_blocks, struct hs_blockhash *out, uint8_t hash[16],
                   uint64_t *written, struct hs_delta_stats *stats, const char *path,
                   struct hs_err *e);

/* The number of extents of fd (FIEMAP), for the fragmentation guard.
 * 0 or -errno (EOPNOTSUPP: the filesystem cannot tell). */
int hs_delta_extents(int fd, uint64_t *n);

/* The previous version is too fragmented for a delta copy when its extents
 * average less than this: the clone then costs about as much time as a
 * plain copy, and a plain copy makes the next runs' clones cheap again. */
#define HS_DELTA_FRAG_EXTENT (8u * 1024)

/*
 * Whether a changed file of size bytes should get a delta copy, its previous
 * version (in the previous snapshot, with a block map record) having
 * prev_extents extents (hs_delta_extents; 0 when unknown): size at least
 * HS_DELTA_MIN_SIZE and the previous version not too fragmented. No guard
 * on the share of changed blocks: a delta copy never costs more space than
 * a plain one and, measured, about the same time when nearly all changed
 * (docs/design.md, "Changed blocks of big files").
 */
bool hs_delta_worth(uint64_t size, uint64_t prev_extents);

#endif
