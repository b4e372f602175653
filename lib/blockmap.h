/*
 * The block map: a side file per snapshot beside its manifest, holding the
 * block hashes (lib/blockhash.h) of the snapshot's big files, so the next
 * backup can copy a changed big file as a clone of this snapshot's version
 * with only its changed blocks written (lib/delta.h), reading the source
 * once.
 *
 * Records come in walk order (hs_path_cmp, like the manifest's), so a backup
 * reads the previous block map in step with its walk (hs_blockmap_seek),
 * holding one record in memory. A record: path, file size, block size, the
 * file's XXH3-128 (the manifest record's hash: a record whose hash differs
 * from the manifest's, or from the snapshot file's, describes other content
 * and must not be used) and the block hashes.
 *
 * File: an 16-byte header ("HSBLKMAP", version, 0), then records, each
 *   u32 payload length, payload, u64 XXH3-64 of the payload seeded with the
 *   record's sequence number (0, 1, ...)
 * payload: u32 path length, path, u64 size, u32 block size, 16-byte hash,
 *   u64 hash per block (ceil(size / block size) of them); all little-endian.
 * The end: u32 0, u64 record count, u64 XXH3-64 (seeded with the count) of
 * all record checksums in order, so truncation, a lost or reordered record
 * show. A damaged record (checksum, lengths, order) is reported as -EBADMSG
 * and ends the reading: the records before it were verified and stay good,
 * no record after it is trusted. For the backup a damaged block map is "no
 * block map" (the files get a plain copy), never wrong data.
 */
#ifndef HS_BLOCKMAP_H
#define HS_BLOCKMAP_H
#include "internal.h"

#include "blockhash.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds that keep a damaged length from costing memory: a record holds at
 * most this many block hashes (128 MiB; a 1 TiB file in 64 KiB blocks) and a
 * path of at most HS_BLOCKMAP_MAX_PATH bytes. */
#define HS_BLOCKMAP_MAX_BLOCKS (16u * 1024 * 1024)
#define HS_BLOCKMAP_MAX_PATH   (1024u * 1024)

/* The block map of snapshot NAME is .hardsnap/manifests/NAME.hsb, beside
 * its manifest (written in partial/ and moved there before the manifest). */
#define HS_BLOCKMAP_SUFFIX ".hsb"
void hs_blockmap_name(const char *snap, char out[64]);

struct hs_bmentry {
    const char *path; /* snapshot-relative, as in the manifest */
    size_t path_len;
    uint8_t hash[16];        /* XXH3-128 of the whole content, canonical */
    struct hs_blocks blocks; /* .size is the file size */
};

struct hs_blockmap_writer;

/* Creates dirfd/name (replacing it), mode 0600. */
int hs_blockmap_writer_open(struct hs_blockmap_writer **w, int dirfd, const char *name,
                            struct hs_err *e);
/* A record: paths in strictly increasing hs_path_cmp order (-EINVAL
 * otherwise), b->n == ceil(b->size / b->block_size) and at most
 * HS_BLOCKMAP_MAX_BLOCKS (-EFBIG: use bigger blocks or no block map). */
int hs_blockmap_put(struct hs_blockmap_writer *w, const char *path, size_t len,
                    const uint8_t hash[16], const struct hs_blocks *b, struct hs_err *e);
struct hs_blockmap_reader;
/* Carries the record last returned by rd (hs_blockmap_seek/next) into w as
 * it is: its bytes are copied, nothing decoded or re-hashed but the
 * checksum. For a file linked unchanged into the new snapshot. Order as
 * hs_blockmap_put; -EINVAL if rd has returned no record since its last
 * advance. */
int hs_blockmap_put_copy(struct hs_blockmap_writer *w, const struct hs_blockmap_reader *rd,
                         struct hs_err *e);
/* Writes the end and fsyncs if sync. */
int hs_blockmap_writer_finish(struct hs_blockmap_writer *w, bool sync, struct hs_err *e);
/* Frees w (an unfinished file stays without its end: its records read
 * fine, then -EBADMSG). NULL-safe. */
void hs_blockmap_writer_free(struct hs_blockmap_writer *w);

/* -ENOENT (no message) if there is no such file, -EBADMSG for a bad header. */
int hs_blockmap_reader_open(struct hs_blockmap_reader **rd, int dirfd, const char *name,
                            struct hs_err *e);
/* The next record: 1 and *m (valid until the reader moves on), 0 at a
 * verified end, -EBADMSG when damaged, other -errno on read errors; an error
 * is returned again by every later call. */
int hs_blockmap_next(struct hs_blockmap_reader *rd, const struct hs_bmentry **m, struct hs_err *e);
/* In-step lookup: skips the records before path; 1 and *m if the next is
 * path, 0 if there is none. Paths must be asked in walk order. Errors as
 * hs_blockmap_next. */
int hs_blockmap_seek(struct hs_blockmap_reader *rd, const char *path, size_t len,
                     const struct hs_bmentry **m, struct hs_err *e);
void hs_blockmap_reader_free(struct hs_blockmap_reader *rd);

#endif
