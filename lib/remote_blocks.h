/*
 * The changed blocks of a pull's big files (the client's side; wire.h has
 * the messages): a wanted file of at least HS_DELTA_MIN_SIZE whose previous
 * snapshot holds a version at its path (the base) is asked for with the
 * base's block hashes, and the server sends only the blocks that differ.
 *
 * The base's hashes come from the previous snapshot's block map when it has
 * a record of the file (btrfs, xfs), else from reading the base (a local
 * read instead of a transfer). While the list is rebuilt they are kept in a
 * file, not in memory, then sent; the file is read back in step with the
 * data. The file is rebuilt in the spool: a clone of the base where the
 * store can share extents (only the changed blocks take new space), a copy
 * of its blocks elsewhere, with the blocks that arrived written over it.
 *
 * The server is not trusted: a block taken from the base is one the server
 * left out of the data, whole and within the base, and its hash must still
 * be the one sent (a base that changed or rotted since fails the rebuild;
 * the file is then fetched whole). The content's hash is computed here, of
 * what was rebuilt, as for any file that arrives.
 */
#ifndef HS_REMOTE_BLOCKS_H
#define HS_REMOTE_BLOCKS_H
#include "internal.h"

#include "blockhash.h"
#include "buf.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct archive;
struct hs_blockmap_reader;

struct hs_rblocks_opts {
    int dirfd;       /* where the records file is made (O_TMPFILE); -1: memory */
    int manifestsfd; /* the previous snapshot's block map is there (-1: none) */
    const char *prev;
    const char *prefix; /* "NAME/" of the source in the snapshots, or "" */
    /* The previous snapshot's file at a snapshot path, opened for reading
     * (a regular file, no symlink followed), or -1. */
    int (*prev_file)(void *user, const char *path, size_t len);
    void *user;
};

/* What a rebuild did, for the run's counters. */
struct hs_rblocks_stats {
    uint64_t files, bytes; /* rebuilt, and their size */
    uint64_t written;      /* bytes written into the spool (all of them without clones) */
    uint64_t received;     /* bytes of blocks that arrived */
};

struct hs_rblocks {
    struct hs_rblocks_opts o;
    int fd;          /* the records: index, base size, base inode, block size, path, hashes */
    uint64_t hashes; /* in all records */
    uint64_t count;
    struct hs_buf path;
    struct hs_blockmap_reader *bm;
    bool bm_tried;
    struct hs_blockhash bh;
    bool bh_ready;
    unsigned char *buf; /* one block, or HS_BLOCK_MAX while hashing a base */
    /* reading back, in step with the data's members */
    off_t rpos;
    bool have_cur;
    uint64_t cur_index, cur_size, cur_ino, cur_hashes_at;
    uint32_t cur_bs;
    struct hs_buf cur_path;
    struct hs_rblocks_stats st;
};

/* 0 or -ENOMEM. */
int hs_rblocks_init(struct hs_rblocks *b, const struct hs_rblocks_opts *o);
void hs_rblocks_free(struct hs_rblocks *b);

/* A wanted record (at this index of the list, its path relative to the
 * source): 1 if its base was found and recorded (its blocks will be asked
 * for), 0 if the file is to come whole, <0 when the records file cannot be
 * written (e names it). */
int hs_rblocks_want(struct hs_rblocks *b, uint64_t index, const char *path, size_t len,
                    uint64_t size, struct hs_err *e);

/* The BLOCKS messages of every recorded base, in index order. */
int hs_rblocks_send(struct hs_rblocks *b, struct hs_conn *c, struct hs_err *e);

/* Whether index has a recorded base (the members come in rising index
 * order: asked so). */
bool hs_rblocks_has(struct hs_rblocks *b, uint64_t index);

/* Not an error: the base is no longer the one whose hashes were sent (gone,
 * replaced, changed or damaged): the member was read to its end, fd holds
 * nothing to keep, and the file is to be fetched whole. */
#define HS_RBLOCKS_STALE 1

/*
 * Rebuilds the member of index (a delta member, the archive positioned at
 * its data, size bytes) into the empty fd (opened read-write) from its base
 * and the blocks that arrive: 0 with hash its XXH3-128 (and out, if not
 * NULL, its block hashes, made in the same pass), HS_RBLOCKS_STALE,
 * -EBADMSG for a member the server should not have sent (gaps not whole
 * blocks of the base), other -errno; e says which.
 */
int hs_rblocks_build(struct hs_rblocks *b, uint64_t index, uint64_t size, struct archive *a, int fd,
                     uint8_t hash[16], struct hs_blockhash *out, const char *peer,
                     struct hs_err *e);

#endif
