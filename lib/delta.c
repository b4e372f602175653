#include "delta.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <xxhash.h>

int hs_delta_clone(int prev, int dst, const char *path, struct hs_err *e)
{
    /* FICLONE, never copy_file_range: that one copies when it cannot share
     * and does not say which it did, and a full copy is what this avoids */
    if (ioctl(dst, FICLONE, prev) == 0)
        return 0;
    int err = errno;
    if (err == EXDEV || err == EOPNOTSUPP || err == EINVAL || err == ENOTTY || err == ENOSYS)
        return HS_DELTA_PLAIN;
    return hs_err_path(e, err, "cannot clone the previous version of", path);
}

/* xfs allocates the new extents of a shared file in units of its CoW extent
 * size hint (default 32 filesystem blocks, 128 KiB), so a changed 64 KiB
 * block would cost 128 KiB: the hint is set to the block size on the new
 * inode (measured: docs/benchmarks.md). Best effort: btrfs has no such hint
 * and refuses, which changes nothing. */
void hs_delta_cow_blocks(int dst, uint32_t block_size)
{
    struct fsxattr fa;
    if (ioctl(dst, FS_IOC_FSGETXATTR, &fa) < 0)
        return;
    fa.fsx_xflags |= FS_XFLAG_COWEXTSIZE;
    fa.fsx_cowextsize = block_size;
    (void)ioctl(dst, FS_IOC_FSSETXATTR, &fa);
}

int hs_copy_delta(struct hs_copier *c, int src, int prev, int dst, const struct stat *st,
                  const struct hs_blocks *prev_blocks, struct hs_blockhash *out, uint8_t hash[16],
                  uint64_t *written, struct hs_delta_stats *stats, const char *path,
                  struct hs_err *e)
{
    *written = 0;
    struct stat pst;
    c->src_failed = false;
    if (fstat(prev, &pst) < 0)
        return hs_err_path(e, errno, "cannot stat the previous version of", path);
    if ((uint64_t)pst.st_size != prev_blocks->size)
        return HS_DELTA_PLAIN;
    int r = hs_delta_clone(prev, dst, path, e);
    if (r != 0)
        return r;
    hs_delta_cow_blocks(dst, prev_blocks->block_size);
    return hs_delta_apply(c, src, dst, st, prev_blocks, out, hash, written, stats, path, e);
}

static int write_at(int dst, const unsigned char *p, size_t left, off_t o, const char *path,
                    struct hs_err *e)
{
    int r = hs_pwrite_all(dst, p, left, o);
    return r < 0 ? hs_err_path(e, -r, "cannot write copy of", path) : 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* A changed block that is all zeros becomes a hole in the copy: no write,
 * no space (the clone's old extent there is unshared for this inode only).
 * 1 if punched, 0 if it must be written (no hole punching here). */
static int punch(int dst, off_t off, size_t len, const char *path, struct hs_err *e)
{
    if (fallocate(dst, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) == 0)
        return 1;
    if (errno == EOPNOTSUPP || errno == ENOSYS)
        return 0;
    return hs_err_path(e, errno, "cannot punch a hole in the copy of", path);
}

struct run {
    off_t off; /* of the first changed block not yet written */
    size_t len;
    const unsigned char *p;
};

static int flush_run(int dst, struct run *run, uint64_t *written, const char *path,
                     struct hs_err *e)
{
    int r = 0;
    if (run->len > 0) {
        r = write_at(dst, run->p, run->len, run->off, path, e);
        *written += run->len;
    }
    run->len = 0;
    return r;
}

int hs_delta_apply(struct hs_copier *c, int src, int dst, const struct stat *st,
                   const struct hs_blocks *prev_blocks, struct hs_blockhash *out, uint8_t hash[16],
                   uint64_t *written, struct hs_delta_stats *stats, const char *path,
                   struct hs_err *e)
{
    const uint32_t bs = prev_blocks->block_size;
    *written = 0;
    c->src_failed = false;
    if (out->block_size != bs || bs > c->buf_size)
        return hs_err_path_why(e, EINVAL, "cannot copy the changed blocks of", path,
                               "block sizes differ");
    struct hs_delta_stats s = {0};
    XXH3_state_t *h = c->hash_state;
    XXH3_128bits_reset(h);
    hs_blockhash_reset(out, (uint64_t)st->st_size);
    const uint64_t size = (uint64_t)st->st_size;
    const size_t chunk = c->buf_size / bs * bs; /* whole blocks per read */
    uint64_t off = 0;
    int r = 0;
    /* the source is read once, in order, from its start */
    if (lseek(src, 0, SEEK_SET) < 0) {
        c->src_failed = true;
        return hs_err_path(e, errno, "cannot seek in", path);
    }
    while (r == 0 && off < size) {
        size_t want = size - off < chunk ? (size_t)(size - off) : chunk;
        ssize_t n = hs_read_full(src, c->buf, want);
        if (n < 0) {
            c->src_failed = true;
            return hs_err_path(e, (int)-n, "cannot read", path);
        }
        if (n == 0)
            break; /* shrank */
        XXH3_128bits_update(h, c->buf, (size_t)n);
        size_t first = out->n;
        hs_blockhash_update(out, c->buf, (size_t)n);
        struct run run = {0};
        for (size_t k = 0; r == 0 && k * bs < (size_t)n; k++) {
            size_t idx = first + k;
            size_t blen = (size_t)n - k * bs < bs ? (size_t)n - k * bs : bs;
            const unsigned char *p = c->buf + k * bs;
            off_t boff = (off_t)(off + k * bs);
            /* a partial block (the last) has no hash yet and is always
             * written; so is one the previous version ends inside */
            bool same = blen == bs && idx < out->n && idx < prev_blocks->n &&
                        (uint64_t)boff + bs <= prev_blocks->size &&
                        prev_blocks->h[idx] == out->h[idx];
            s.blocks++;
            if (same) {
                r = flush_run(dst, &run, written, path, e);
                continue;
            }
            if (blen == bs && idx < out->n && out->h[idx] == out->zero_hash && all_zero(p, blen)) {
                r = flush_run(dst, &run, written, path, e);
                int k2 = r ? r : punch(dst, boff, blen, path, e);
                if (k2 == 1) {
                    s.blocks_punched++;
                    continue;
                }
                r = k2 < 0 ? k2 : 0;
            }
            if (run.len == 0)
                run.off = boff, run.p = p;
            run.len += blen;
            s.blocks_written++;
        }
        if (r == 0)
            r = flush_run(dst, &run, written, path, e);
        off += (uint64_t)n;
        if ((size_t)n < want)
            break; /* shrank while read */
    }
    if (r == 0 && ftruncate(dst, (off_t)off) < 0)
        r = hs_err_path(e, errno, "cannot set the size of the copy of", path);
    if (r == 0 && hs_blockhash_finish(out, NULL) < 0)
        r = hs_err_path(e, ENOMEM, "cannot keep the block hashes of", path);
    if (r == 0) {
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h));
        memcpy(hash, canon.digest, 16);
        if (*written >= HS_COPY_WRITEBACK_MIN)
            sync_file_range(dst, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    if (stats)
        *stats = s;
    return r;
}

int hs_delta_extents(int fd, uint64_t *n)
{
    /* fm_extent_count 0: the kernel only counts */
    struct fiemap fm = {.fm_start = 0,
                        .fm_length = FIEMAP_MAX_OFFSET,
                        .fm_flags = FIEMAP_FLAG_SYNC,
                        .fm_extent_count = 0};
    if (ioctl(fd, FS_IOC_FIEMAP, &fm) < 0)
        return errno == ENOTTY ? -EOPNOTSUPP : -errno;
    *n = fm.fm_mapped_extents;
    return 0;
}

bool hs_delta_worth(uint64_t size, uint64_t prev_extents)
{
    return size >= HS_DELTA_MIN_SIZE && prev_extents <= size / HS_DELTA_FRAG_EXTENT;
}
