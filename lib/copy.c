#include "copy.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define COPY_BUF_SIZE (1024 * 1024)

static const unsigned char zeros[64 * 1024];

int hs_copier_init(struct hs_copier *c, enum hs_copy_method method)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->hash_state = XXH3_createState();
    if (!c->hash_state || posix_memalign((void **)&c->buf, 4096, COPY_BUF_SIZE) != 0) {
        hs_copier_free(c);
        return -ENOMEM;
    }
    c->buf_size = COPY_BUF_SIZE;
    return 0;
}

void hs_copier_free(struct hs_copier *c)
{
    free(c->buf);
    c->buf = NULL;
    XXH3_freeState(c->hash_state);
    c->hash_state = NULL;
}

struct copy_job {
    struct hs_copier *c;
    int src, dst;   /* dst -1: hash only */
    bool in_kernel; /* copy_file_range, then hash the copy */
    XXH3_state_t *h;
    uint64_t written;
    const char *path;
    struct hs_err *e;
};

void hs_hash_zeros(void *state, uint64_t n)
{
    XXH3_state_t *h = state;
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        XXH3_128bits_update(h, zeros, k);
        n -= k;
    }
}

static int write_all_at(struct copy_job *j, const unsigned char *p, size_t left, off_t o)
{
    int r = hs_pwrite_all(j->dst, p, left, o);
    return r < 0 ? hs_err_path(j->e, -r, "cannot write copy of", j->path) : 0;
}

/* Reads [off, off+len) of fd from through the buffer, hashes it, and writes
 * it to j->dst at the same offset if write. Stops early at EOF (the file
 * shrank: the caller's re-stat notices). */
static int pass_through_buffer(struct copy_job *j, int from, off_t off, uint64_t len, bool write)
{
    while (len > 0) {
        size_t want = len < j->c->buf_size ? (size_t)len : j->c->buf_size;
        ssize_t n = pread(from, j->c->buf, want, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            j->c->src_failed = from == j->src;
            return hs_err_path(j->e, errno,
                               j->c->src_failed ? "cannot read" : "cannot read back the copy of",
                               j->path);
        }
        if (n == 0)
            return 0;
        XXH3_128bits_update(j->h, j->c->buf, (size_t)n);
        if (j->c->blocks)
            hs_blockhash_update(j->c->blocks, j->c->buf, (size_t)n);
        if (write) {
            int r = write_all_at(j, j->c->buf, (size_t)n, off);
            if (r < 0)
                return r;
            j->written += (uint64_t)n;
        }
        off += n;
        len -= (uint64_t)n;
    }
    return 0;
}

/* In-kernel copy of a range (a reflink where the filesystem can), then the
 * copy is hashed from the page cache: the hash names what the snapshot holds,
 * even if the source changes in between. Falls back to the buffer when the
 * kernel cannot copy between these files. */
static int copy_range_kernel(struct copy_job *j, off_t off, uint64_t len)
{
    loff_t in = off, out = off;
    uint64_t left = len;
    while (left > 0) {
        ssize_t k = copy_file_range(j->src, &in, j->dst, &out, left, 0);
        if (k > 0) {
            left -= (uint64_t)k;
            continue;
        }
        if (k == 0)
            break;
        if (errno == EINTR)
            continue;
        /* the kernel cannot copy between these files, or one side failed:
         * go on through the buffer, which tells source from copy errors */
        j->written += len - left;
        int r = pass_through_buffer(j, j->dst, off, len - left, false);
        return r ? r : pass_through_buffer(j, j->src, (off_t)in, left, true);
    }
    j->written += len - left;
    return pass_through_buffer(j, j->dst, off, len - left, false);
}

static int copy_range(struct copy_job *j, off_t off, uint64_t len)
{
    if (j->dst >= 0 && j->in_kernel)
        return copy_range_kernel(j, off, len);
    return pass_through_buffer(j, j->src, off, len, j->dst >= 0);
}

/* Walks the data segments of a file with holes; holes hash as zeros and are
 * left unwritten. */
static int copy_sparse(struct copy_job *j, uint64_t size)
{
    off_t pos = 0;
    while ((uint64_t)pos < size) {
        off_t data = lseek(j->src, pos, SEEK_DATA);
        if (data < 0) {
            if (errno != ENXIO) {
                j->c->src_failed = true;
                return hs_err_path(j->e, errno, "cannot seek in", j->path);
            }
            data = (off_t)size; /* only a hole remains */
        }
        if ((uint64_t)data > size)
            data = (off_t)size;
        hs_hash_zeros(j->h, (uint64_t)(data - pos));
        if (j->c->blocks)
            hs_blockhash_zeros(j->c->blocks, (uint64_t)(data - pos));
        if ((uint64_t)data >= size)
            break;
        off_t hole = lseek(j->src, data, SEEK_HOLE);
        if (hole < 0) {
            j->c->src_failed = true;
            return hs_err_path(j->e, errno, "cannot seek in", j->path);
        }
        if ((uint64_t)hole > size)
            hole = (off_t)size;
        int r = copy_range(j, data, (uint64_t)(hole - data));
        if (r < 0)
            return r;
        pos = hole;
    }
    return 0;
}

static bool has_holes(const struct stat *st)
{
    return st->st_size > 0 && (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
}

static int run_job(struct copy_job *j, const struct stat *st, uint8_t hash[16])
{
    XXH3_state_t *h = j->c->hash_state;
    XXH3_128bits_reset(h);
    j->c->src_failed = false;
    j->h = h;
    uint64_t size = (uint64_t)st->st_size;
    if (j->c->blocks)
        hs_blockhash_reset(j->c->blocks, size);
    int r = has_holes(st) ? copy_sparse(j, size) : copy_range(j, 0, size);
    if (r == 0 && j->dst >= 0 && has_holes(st) && ftruncate(j->dst, (off_t)size) < 0)
        r = hs_err_path(j->e, errno, "cannot extend copy of", j->path);
    if (r == 0 && j->c->blocks && hs_blockhash_finish(j->c->blocks, NULL) < 0)
        r = hs_err_path(j->e, ENOMEM, "cannot keep the block hashes of", j->path);
    if (r == 0) {
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(h));
        memcpy(hash, canon.digest, 16);
    }
    return r;
}

int hs_copy_data(struct hs_copier *c, int src, int dst, const struct stat *st, uint8_t hash[16],
                 uint64_t *written, const char *path, struct hs_err *e)
{
    /* Measured (docs/benchmarks.md): for large files the in-kernel copy is
     * a third faster (and a reflink where extents can be shared); for small
     * ones one read and one write through the buffer beat it. */
    bool in_kernel = c->method == HS_COPY_CFR_HASH ||
                     (c->method == HS_COPY_AUTO && st->st_size >= HS_COPY_KERNEL_MIN);
    struct copy_job j = {
        .c = c, .src = src, .dst = dst, .in_kernel = in_kernel, .path = path, .e = e};
    int r = run_job(&j, st, hash);
    *written = j.written;
    if (r == 0 && j.written >= HS_COPY_WRITEBACK_MIN)
        sync_file_range(dst, 0, 0, SYNC_FILE_RANGE_WRITE);
    return r;
}

int hs_hash_fd(struct hs_copier *c, int fd, const struct stat *st, uint8_t hash[16],
               const char *path, struct hs_err *e)
{
    struct copy_job j = {.c = c, .src = fd, .dst = -1, .path = path, .e = e};
    return run_job(&j, st, hash);
}
