/*
 * The content index of a snapshot: every regular file's XXH3-128 and size
 * with its path and inode, sorted by hash, in .hardsnap/manifests/NAME.hsi
 * beside the manifest it is made from. A lookup is a binary search over the
 * mapped file, so memory stays flat however large the snapshot.
 *
 * File: a 32-byte header (magic, record count, offset of the records, the
 * snapshot directory's inode from the manifest's root record), the paths
 * (in manifest order), fixed 56-byte records sorted by (hash, size), and an
 * XXH3-64 of everything before it. It can always be made again from the
 * manifest, so it is written without fsync and rebuilt when missing or
 * damaged.
 */
#ifndef HS_CINDEX_H
#define HS_CINDEX_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_CINDEX_SUFFIX ".hsi"

struct hs_centry {
    const uint8_t *hash; /* 16 bytes, canonical */
    uint64_t size;
    uint64_t sino;       /* the snapshot's inode */
    uint64_t xattr_hash; /* 0: none */
    uint32_t nlink;      /* of the source when the snapshot was made */
    const char *path;    /* snapshot-relative, not NUL-terminated */
    size_t path_len;
};

struct hs_cindex;

/* Writes manifestsfd/SNAP.hsi from manifestsfd/SNAP.hsm, sorting in passes
 * of bounded size. */
int hs_cindex_build(int manifestsfd, const char *snap, struct hs_err *e);

/* Maps manifestsfd/SNAP.hsi and checks it: -ENOENT (no message) when there
 * is none, -EBADMSG when it is damaged or made for another tree than the
 * snapshot directory root_ino (a stale index of an older snapshot of the
 * same name). */
int hs_cindex_open(struct hs_cindex **ci, int manifestsfd, const char *snap, uint64_t root_ino,
                   struct hs_err *e);

/* Opens the index, building it first when it is missing or damaged. */
int hs_cindex_open_or_build(struct hs_cindex **ci, int manifestsfd, const char *snap,
                            uint64_t root_ino, struct hs_err *e);

/* False when no file of this size is in the index (a filter: true may be a
 * false positive), so most files need no hashing to know there is no match. */
bool hs_cindex_maybe_size(const struct hs_cindex *ci, uint64_t size);

/* The records with this hash and size: the index of the first (for
 * hs_cindex_get) and their number (0: none). */
size_t hs_cindex_find(const struct hs_cindex *ci, const uint8_t hash[16], uint64_t size,
                      size_t *first);
void hs_cindex_get(const struct hs_cindex *ci, size_t i, struct hs_centry *out);
size_t hs_cindex_count(const struct hs_cindex *ci);

void hs_cindex_close(struct hs_cindex *ci);

#endif
