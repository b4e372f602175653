/*
 * The content index of a snapshot: every regular file's XXH3-128 and size
 * with its path and inode, sorted by hash, in .hardsnap/manifests/NAME.hsi
 * beside the manifest it is made from. A lookup is a binary search over a
 * small in-memory fence (a hash prefix per 64 records), then one read of
 * that block of the file, so memory stays flat however large the snapshot.
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
/* The same index keyed by the recorded source inode instead of the content
 * (a replica's: hs_replicate), NAME.hsr. */
#define HS_INODE_INDEX_SUFFIX ".hsr"

struct hs_centry {
    uint8_t hash[16]; /* canonical */
    uint64_t size;
    uint64_t sino;       /* the snapshot's inode */
    uint64_t xattr_hash; /* 0: none */
    uint32_t nlink;      /* of the source when the snapshot was made */
    const char *path;    /* snapshot-relative, after hs_cindex_read_path; valid until the next */
    size_t path_len;
    uint64_t path_off;
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
/* The same for the index by source inode (NAME.hsr): every regular file's
 * record under hs_cindex_inode_key(its recorded source inode, its hash) in
 * place of its hash (hs_centry.hash is that key). In a replica the recorded inode
 * is the replicated store's, so the lookup finds where the replica already
 * holds a copy of that inode. */
int hs_cindex_open_or_build_by_inode(struct hs_cindex **ci, int manifestsfd, const char *snap,
                                     uint64_t root_ino, struct hs_err *e);
/* The key of a source inode with this content in the index by inode (a
 * hash, so the index's passes split it evenly): an inode number the store
 * freed and gave to other content never finds the old one. */
void hs_cindex_inode_key(uint64_t ino, const uint8_t hash[16], uint8_t key[16]);

/* False when no file of this size is in the index (a filter: true may be a
 * false positive), so most files need no hashing to know there is no match. */
bool hs_cindex_maybe_size(const struct hs_cindex *ci, uint64_t size);

/* The records with this hash and size: the index of the first (for
 * hs_cindex_get) and their number (0: none). */
size_t hs_cindex_find(struct hs_cindex *ci, const uint8_t hash[16], uint64_t size, size_t *first);
/* Record i without its path (path NULL): 0, or -EIO when unreadable. */
int hs_cindex_get(struct hs_cindex *ci, size_t i, struct hs_centry *out);
/* Reads the path of a record got before: 0, -EIO or -ENOMEM. */
int hs_cindex_read_path(struct hs_cindex *ci, struct hs_centry *c);
size_t hs_cindex_count(const struct hs_cindex *ci);
/* The file name of snapshot snap's index (NAME.hsi) into out. */
void hs_cindex_name(const char *snap, char out[80]);
void hs_cindex_inode_name(const char *snap, char out[80]);

void hs_cindex_close(struct hs_cindex *ci);

#endif
