/*
 * The manifest: one record per snapshot entry, in walk order (see
 * hs_path_cmp), so a backup can read the previous snapshot's manifest in step
 * with its walk and hold only one block of it in memory.
 *
 * File: a 16-byte header, then blocks. A block is a 16-byte header (payload
 * length, record count, XXH3-64 of the payload seeded with the block's
 * sequence number) and up to HS_MANIFEST_BLOCK bytes of records. Paths are
 * prefix-compressed within a block, so each block decodes on its own and one
 * damaged block costs only its records. An empty block ends the file; its
 * count is the total number of records and its checksum covers all block
 * checksums, so truncation and reordering are detected. After it, a block
 * index (each block's offset and first path) and a 32-byte footer locating
 * and checksumming the index let hs_manifest_find() read a single block.
 */
#ifndef HS_MANIFEST_H
#define HS_MANIFEST_H
#include "internal.h"

#include "buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define HS_MANIFEST_BLOCK     (64 * 1024)
#define HS_MANIFEST_MAX_BLOCK (16 * 1024 * 1024)

enum hs_ftype {
    HS_FT_REG = 1,
    HS_FT_DIR = 2,
    HS_FT_LNK = 3,
    HS_FT_FIFO = 4,
    HS_FT_CHR = 5,
    HS_FT_BLK = 6,
    HS_FT_SOCK = 7,
};

enum hs_mentry_flags {
    HS_ME_HASH = 1u << 0,  /* hash holds the XXH3-128 of the content */
    HS_ME_XATTR = 1u << 1, /* xattr_hash holds the hash of the extended attributes */
    /* made by a --dedup run: the snapshot inode may have names that are
     * separate files in the source (link it for one source file per run) */
    HS_ME_SHARED = 1u << 2,
};

struct hs_mentry {
    const char *path; /* snapshot-relative, no leading '/', "" = root */
    size_t path_len;
    uint8_t type;      /* enum hs_ftype */
    uint32_t mode;     /* permission bits, st_mode & 07777 */
    uint32_t uid, gid; /* of the source */
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    int64_t ctime_sec; /* of the source: a change the mtime hides shows here */
    uint32_t ctime_nsec;
    uint64_t ino;     /* of the source */
    uint64_t nlink;   /* of the source: > 1 means the snapshot inode may have other names */
    uint64_t sino;    /* of the snapshot's inode */
    uint64_t sblocks; /* of the snapshot's inode (512-byte units): its space on disk */
    uint64_t rdev;    /* device nodes */
    uint32_t flags;
    uint8_t hash[16]; /* XXH3-128, canonical (big-endian) */
    uint64_t xattr_hash;
    const char *target; /* symlinks */
    size_t target_len;
};

enum hs_ftype hs_ftype_of(mode_t mode);

/* Fills the stat-derived fields of m from st (path, hash, sino untouched). */
void hs_mentry_from_stat(struct hs_mentry *m, const struct stat *st);

/* The hash of m's extended attributes, 0 when it has none: what a source
 * file's xattrs are compared against. */
static inline uint64_t hs_mentry_xattr_hash(const struct hs_mentry *m)
{
    return (m->flags & HS_ME_XATTR) ? m->xattr_hash : 0;
}

/* Whether the snapshot inode of m may have other names in its snapshot. */
static inline bool hs_mentry_multi(const struct hs_mentry *m)
{
    return m->nlink > 1 || (m->flags & HS_ME_SHARED);
}

/* Walk order: component by component, each compared bytewise; a directory
 * comes right before its contents. */
int hs_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

struct hs_manifest_writer;

/* Creates dirfd/name (replacing it). */
int hs_manifest_writer_open(struct hs_manifest_writer **w, int dirfd, const char *name,
                            struct hs_err *e);
/* Takes ownership of fd. */
int hs_manifest_writer_fdopen(struct hs_manifest_writer **w, int fd, struct hs_err *e);
/* Records must come in hs_path_cmp order; -EINVAL otherwise. */
int hs_manifest_put(struct hs_manifest_writer *w, const struct hs_mentry *m, struct hs_err *e);
/* Writes the end block and fsyncs if sync. */
int hs_manifest_writer_finish(struct hs_manifest_writer *w, bool sync, struct hs_err *e);
void hs_manifest_writer_free(struct hs_manifest_writer *w);

struct hs_manifest_reader;

/* -ENOENT (no message) if there is no such file, -EBADMSG for a bad header. */
int hs_manifest_reader_open(struct hs_manifest_reader **r, int dirfd, const char *name,
                            struct hs_err *e);
/* Takes ownership of fd. */
int hs_manifest_reader_fdopen(struct hs_manifest_reader **r, int fd, struct hs_err *e);

/*
 * The next record: 1 and *m (valid until the next call), 0 at a verified end,
 * -EBADMSG when the file is damaged or truncated (the records returned before
 * came from verified blocks and stay trustworthy), other -errno on read errors.
 */
int hs_manifest_next(struct hs_manifest_reader *rd, const struct hs_mentry **m, struct hs_err *e);

/*
 * In-step lookup: skips records before path and returns 1 with *m if the next
 * one is path, 0 if there is none. Paths must be asked in walk order.
 * Errors as hs_manifest_next; after an error every lookup returns it again.
 */
int hs_manifest_seek(struct hs_manifest_reader *rd, const char *path, size_t len,
                     const struct hs_mentry **m, struct hs_err *e);

void hs_manifest_reader_free(struct hs_manifest_reader *rd);
/* fstat of the manifest file being read: 0 or -errno. */
int hs_manifest_reader_stat(const struct hs_manifest_reader *rd, struct stat *st);

/* A record with its own copies of path and target. */
struct hs_mentry_copy {
    struct hs_mentry m;
    struct hs_buf path, target;
};

void hs_mentry_copy_set(struct hs_mentry_copy *c, const struct hs_mentry *m);
void hs_mentry_copy_free(struct hs_mentry_copy *c);

/*
 * Opens dirfd/mname only if its root record names root_ino, the inode of the
 * snapshot directory it must describe (never a tree made since by other
 * means); positioned after the root record, whose copy goes to root if not
 * NULL. root_ino 0 accepts any tree (verify: it compares the tree with the
 * manifest whatever happened to the tree, and a store copied elsewhere keeps
 * its manifests but not its inode numbers). 1 and *r, or 0 (no manifest,
 * damaged, or another tree's).
 */
int hs_manifest_open_trusted(int dirfd, const char *mname, uint64_t root_ino,
                             struct hs_manifest_reader **r, struct hs_mentry_copy *root);

/*
 * The record of one path, found through the manifest's block index: one
 * binary search and one block read, however large the manifest. 1 and *out
 * when found, 0 when the manifest has no such path, -ENOENT (no message)
 * when there is no manifest, -EBADMSG when it is damaged.
 */
int hs_manifest_find(int dirfd, const char *name, const char *path, size_t len,
                     struct hs_mentry_copy *out, struct hs_err *e);

/* The same for many lookups in any order: the index is read once. Errors as
 * hs_manifest_find; *m is valid until the next call. */
struct hs_manifest_finder;
int hs_manifest_finder_open(struct hs_manifest_finder **f, int dirfd, const char *name,
                            struct hs_err *e);
int hs_manifest_finder_get(struct hs_manifest_finder *f, const char *path, size_t len,
                           const struct hs_mentry **m, struct hs_err *e);
void hs_manifest_finder_free(struct hs_manifest_finder *f);

#endif
