#include "blockmap.h"
#include "bytes.h"
#include "fsutil.h"
#include "manifest.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define MAGIC       "HSBLKMAP"
#define VERSION     1
#define HEADER_SIZE 16
#define IO_BUF      (64 * 1024)
/* payload bytes besides the path and the hashes: path length, size, block
 * size, file hash */
#define FIXED (4 + 8 + 4 + 16)

struct hs_blockmap_writer {
    int fd;
    char *name; /* for messages */
    unsigned char buf[IO_BUF];
    size_t used;
    uint64_t count;
    XXH3_state_t *rec;  /* the record being written */
    XXH3_state_t *sums; /* of all record checksums */
    char *last;         /* the last path put, for the order check */
    size_t last_len, last_cap;
};

struct hs_blockmap_reader {
    int fd;
    char *name;
    unsigned char *io; /* IO_BUF bytes, [pos, end) unread */
    size_t pos, end;
    unsigned char *rec; /* the current record's payload */
    size_t rec_len, rec_cap;
    uint64_t *hashes; /* decoded block hashes of the current record */
    size_t hashes_cap;
    struct hs_bmentry cur;
    char *prev; /* the previous record's path, for the order check */
    size_t prev_len, prev_cap;
    bool have;     /* cur is loaded and not yet passed by seek */
    bool returned; /* cur was returned (put_copy may carry it) */
    int err;       /* sticky */
    bool done;     /* the verified end was read */
    uint64_t count;
    XXH3_state_t *sums;
};

/* Writer */

static int w_flush(struct hs_blockmap_writer *w, struct hs_err *e)
{
    int r = hs_write_all(w->fd, w->buf, w->used);
    w->used = 0;
    return r < 0 ? hs_err_path(e, -r, "cannot write block map", w->name) : 0;
}

static int w_put(struct hs_blockmap_writer *w, const void *p, size_t n, bool sum, struct hs_err *e)
{
    const unsigned char *s = p;
    if (sum)
        XXH3_64bits_update(w->rec, s, n);
    while (n > 0) {
        if (w->used == sizeof w->buf) {
            int r = w_flush(w, e);
            if (r < 0)
                return r;
        }
        size_t k = sizeof w->buf - w->used;
        if (k > n)
            k = n;
        memcpy(w->buf + w->used, s, k);
        w->used += k, s += k, n -= k;
    }
    return 0;
}

int hs_blockmap_writer_open(struct hs_blockmap_writer **out, int dirfd, const char *name,
                            struct hs_err *e)
{
    *out = NULL;
    struct hs_blockmap_writer *w = calloc(1, sizeof *w);
    if (!w)
        return hs_err_path(e, ENOMEM, "cannot create block map", name);
    w->fd = -1;
    w->name = strdup(name);
    w->rec = XXH3_createState();
    w->sums = XXH3_createState();
    if (!w->name || !w->rec || !w->sums) {
        hs_blockmap_writer_free(w);
        return hs_err_path(e, ENOMEM, "cannot create block map", name);
    }
    w->fd = hs_open_regular(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (w->fd < 0) {
        int r = w->fd == -EBADMSG ? hs_err_path_why(e, EEXIST, "cannot create block map", name,
                                                    "not a regular file")
                                  : hs_err_path(e, -w->fd, "cannot create block map", name);
        hs_blockmap_writer_free(w);
        return r;
    }
    XXH3_64bits_reset(w->sums);
    unsigned char h[HEADER_SIZE] = {0};
    memcpy(h, MAGIC, 8);
    hs_le32_store(h + 8, VERSION);
    int r = w_put(w, h, sizeof h, false, e);
    if (r < 0) {
        hs_blockmap_writer_free(w);
        return r;
    }
    *out = w;
    return 0;
}

static int check_order(struct hs_blockmap_writer *w, const char *path, size_t len, struct hs_err *e)
{
    if (w->count > 0 && hs_path_cmp(w->last, w->last_len, path, len) >= 0)
        return hs_err_path_why(e, EINVAL, "block map record out of walk order", path,
                               "after a later path");
    if (len + 1 > w->last_cap) {
        char *p = realloc(w->last, len + 1);
        if (!p)
            return hs_err_path(e, ENOMEM, "cannot write block map", w->name);
        w->last = p, w->last_cap = len + 1;
    }
    memcpy(w->last, path, len);
    w->last_len = len;
    return 0;
}

/* The record's length and payload pieces are written by the caller between
 * these two; this ends it with its checksum. */
static int end_record(struct hs_blockmap_writer *w, struct hs_err *e)
{
    unsigned char sum[8];
    hs_le64_store(sum, XXH3_64bits_digest(w->rec));
    XXH3_64bits_update(w->sums, sum, 8);
    w->count++;
    return w_put(w, sum, 8, false, e);
}

static int begin_record(struct hs_blockmap_writer *w, uint64_t payload_len, struct hs_err *e)
{
    unsigned char l[4];
    hs_le32_store(l, (uint32_t)payload_len);
    XXH3_64bits_reset_withSeed(w->rec, w->count);
    return w_put(w, l, 4, false, e);
}

int hs_blockmap_put(struct hs_blockmap_writer *w, const char *path, size_t len,
                    const uint8_t hash[16], const struct hs_blocks *b, struct hs_err *e)
{
    if (b->block_size < 4096 || b->block_size % 4096 || b->block_size > HS_BLOCK_MAX ||
        b->n != hs_blocks_count(b->size, b->block_size) || len == 0 || len > HS_BLOCKMAP_MAX_PATH)
        return hs_err_path_why(e, EINVAL, "cannot write block map record of", path,
                               "bad block size, count or path");
    if (b->n > HS_BLOCKMAP_MAX_BLOCKS)
        return hs_err_path_why(e, EFBIG, "cannot write block map record of", path,
                               "too many blocks");
    int r = check_order(w, path, len, e);
    if (r < 0)
        return r;
    unsigned char f[FIXED];
    hs_le32_store(f, (uint32_t)len);
    r = begin_record(w, FIXED + len + 8 * (uint64_t)b->n, e);
    r = r ? r : w_put(w, f, 4, true, e);
    r = r ? r : w_put(w, path, len, true, e);
    hs_le64_store(f, b->size);
    hs_le32_store(f + 8, b->block_size);
    memcpy(f + 12, hash, 16);
    r = r ? r : w_put(w, f, FIXED - 4, true, e);
    for (size_t i = 0; r == 0 && i < b->n; i++) {
        unsigned char h[8];
        hs_le64_store(h, b->h[i]);
        r = w_put(w, h, 8, true, e);
    }
    return r ? r : end_record(w, e);
}

int hs_blockmap_put_copy(struct hs_blockmap_writer *w, const struct hs_blockmap_reader *rd,
                         struct hs_err *e)
{
    if (!rd->returned)
        return hs_err_path_why(e, EINVAL, "cannot carry a block map record into", w->name,
                               "no current record");
    int r = check_order(w, rd->cur.path, rd->cur.path_len, e);
    r = r ? r : begin_record(w, rd->rec_len, e);
    r = r ? r : w_put(w, rd->rec, rd->rec_len, true, e);
    return r ? r : end_record(w, e);
}

int hs_blockmap_writer_finish(struct hs_blockmap_writer *w, bool sync, struct hs_err *e)
{
    unsigned char end[20] = {0};
    hs_le64_store(end + 4, w->count);
    XXH3_state_t *s = w->sums;
    /* the count seeds the checksum of the checksums: a file cut after a
     * record's end cannot pass for a complete one */
    unsigned char sum[8];
    XXH64_hash_t all = XXH3_64bits_digest(s);
    hs_le64_store(sum, all);
    hs_le64_store(end + 12, XXH3_64bits_withSeed(sum, 8, w->count));
    int r = w_put(w, end, sizeof end, false, e);
    r = r ? r : w_flush(w, e);
    if (r == 0 && sync && fsync(w->fd) < 0)
        r = hs_err_path(e, errno, "cannot sync block map", w->name);
    return r;
}

void hs_blockmap_writer_free(struct hs_blockmap_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    XXH3_freeState(w->rec);
    XXH3_freeState(w->sums);
    free(w->name);
    free(w->last);
    free(w);
}

/* Reader */

static int damaged(struct hs_blockmap_reader *rd, const char *why, struct hs_err *e)
{
    rd->err = hs_err_path_why(e, EBADMSG, "damaged block map", rd->name, why);
    return rd->err;
}

/* Reads exactly n bytes into dst; 0, or 1 at a clean EOF before any byte,
 * or -errno / -EBADMSG (cut short). */
static int r_get(struct hs_blockmap_reader *rd, void *dst, size_t n, struct hs_err *e)
{
    unsigned char *d = dst;
    size_t got = 0;
    while (got < n) {
        if (rd->pos == rd->end) {
            ssize_t k = hs_read_full(rd->fd, rd->io, IO_BUF);
            if (k < 0) {
                rd->err = hs_err_path(e, (int)-k, "cannot read block map", rd->name);
                return rd->err;
            }
            if (k == 0)
                return got == 0 ? 1 : damaged(rd, "cut short", e);
            rd->pos = 0, rd->end = (size_t)k;
        }
        size_t k = rd->end - rd->pos;
        if (k > n - got)
            k = n - got;
        memcpy(d + got, rd->io + rd->pos, k);
        rd->pos += k, got += k;
    }
    return 0;
}

int hs_blockmap_reader_open(struct hs_blockmap_reader **out, int dirfd, const char *name,
                            struct hs_err *e)
{
    *out = NULL;
    int fd = hs_open_regular(dirfd, name, O_RDONLY, 0);
    if (fd == -ENOENT)
        return -ENOENT;
    if (fd == -EBADMSG)
        return hs_err_path_why(e, EBADMSG, "not a block map", name, "not a regular file");
    if (fd < 0)
        return hs_err_path(e, -fd, "cannot open block map", name);
    struct hs_blockmap_reader *rd = calloc(1, sizeof *rd);
    if (rd) {
        rd->fd = fd;
        rd->name = strdup(name);
        rd->io = malloc(IO_BUF);
        rd->sums = XXH3_createState();
    }
    if (!rd || !rd->name || !rd->io || !rd->sums) {
        if (!rd)
            close(fd);
        hs_blockmap_reader_free(rd);
        return hs_err_path(e, ENOMEM, "cannot open block map", name);
    }
    XXH3_64bits_reset(rd->sums);
    unsigned char h[HEADER_SIZE];
    int r = r_get(rd, h, sizeof h, e);
    if (r == 0 &&
        (memcmp(h, MAGIC, 8) != 0 || hs_le32_load(h + 8) != VERSION || hs_le32_load(h + 12) != 0))
        r = hs_err_path_why(e, EBADMSG, "not a block map", name, "bad header");
    else if (r == 1)
        r = hs_err_path_why(e, EBADMSG, "not a block map", name, "empty");
    if (r < 0) {
        hs_blockmap_reader_free(rd);
        return r;
    }
    *out = rd;
    return 0;
}

static int read_end(struct hs_blockmap_reader *rd, struct hs_err *e)
{
    unsigned char end[16], extra;
    int r = r_get(rd, end, sizeof end, e);
    if (r != 0)
        return r < 0 ? r : damaged(rd, "cut short", e);
    unsigned char sum[8];
    hs_le64_store(sum, XXH3_64bits_digest(rd->sums));
    if (hs_le64_load(end) != rd->count ||
        hs_le64_load(end + 8) != XXH3_64bits_withSeed(sum, 8, rd->count))
        return damaged(rd, "records lost or reordered", e);
    r = r_get(rd, &extra, 1, e);
    if (r != 1)
        return r < 0 ? r : damaged(rd, "data after the end", e);
    rd->done = true;
    return 0;
}

/* Loads the next record into cur: 1, 0 at the verified end, or the error. */
static int load(struct hs_blockmap_reader *rd, struct hs_err *e)
{
    unsigned char l[4];
    int r = r_get(rd, l, 4, e);
    if (r != 0)
        return r < 0 ? r : damaged(rd, "cut short", e);
    uint32_t len = hs_le32_load(l);
    if (len == 0)
        return read_end(rd, e);
    if (len < FIXED + 1 ||
        len > FIXED + HS_BLOCKMAP_MAX_PATH + 8 * (uint64_t)HS_BLOCKMAP_MAX_BLOCKS)
        return damaged(rd, "bad record length", e);
    if (len + 8 > rd->rec_cap) {
        unsigned char *p = realloc(rd->rec, len + 8);
        if (!p) {
            rd->err = hs_err_path(e, ENOMEM, "cannot read block map", rd->name);
            return rd->err;
        }
        rd->rec = p, rd->rec_cap = len + 8;
    }
    r = r_get(rd, rd->rec, len + 8, e);
    if (r != 0)
        return r < 0 ? r : damaged(rd, "cut short", e);
    if (hs_le64_load(rd->rec + len) != XXH3_64bits_withSeed(rd->rec, len, rd->count))
        return damaged(rd, "bad record checksum", e);
    XXH3_64bits_update(rd->sums, rd->rec + len, 8);
    rd->count++;
    rd->rec_len = len;
    const unsigned char *p = rd->rec;
    uint32_t plen = hs_le32_load(p);
    if (plen == 0 || plen > len - FIXED)
        return damaged(rd, "bad path length", e);
    const unsigned char *f = p + 4 + plen;
    uint64_t size = hs_le64_load(f);
    uint32_t bs = hs_le32_load(f + 8);
    size_t n = (len - FIXED - plen) / 8;
    if ((len - FIXED - plen) % 8 || bs < 4096 || bs % 4096 || bs > HS_BLOCK_MAX ||
        n != hs_blocks_count(size, bs))
        return damaged(rd, "bad block count", e);
    if (rd->count > 1 && hs_path_cmp(rd->prev, rd->prev_len, (const char *)p + 4, plen) >= 0)
        return damaged(rd, "records out of walk order", e);
    if (plen > rd->prev_cap) {
        char *q = realloc(rd->prev, plen);
        if (!q) {
            rd->err = hs_err_path(e, ENOMEM, "cannot read block map", rd->name);
            return rd->err;
        }
        rd->prev = q, rd->prev_cap = plen;
    }
    memcpy(rd->prev, p + 4, plen);
    rd->prev_len = plen;
    if (n > rd->hashes_cap) {
        uint64_t *h = realloc(rd->hashes, n * sizeof *h);
        if (!h) {
            rd->err = hs_err_path(e, ENOMEM, "cannot read block map", rd->name);
            return rd->err;
        }
        rd->hashes = h, rd->hashes_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        rd->hashes[i] = hs_le64_load(f + FIXED - 4 + 8 * i);
    rd->cur.path = (const char *)p + 4;
    rd->cur.path_len = plen;
    memcpy(rd->cur.hash, f + 12, 16);
    rd->cur.blocks = (struct hs_blocks){.block_size = bs, .size = size, .n = n, .h = rd->hashes};
    return 1;
}

int hs_blockmap_next(struct hs_blockmap_reader *rd, const struct hs_bmentry **m, struct hs_err *e)
{
    rd->returned = false;
    if (rd->err)
        return rd->err;
    if (rd->done)
        return 0;
    if (!rd->have) {
        int r = load(rd, e);
        if (r <= 0)
            return r;
    }
    rd->have = false;
    rd->returned = true;
    *m = &rd->cur;
    return 1;
}

int hs_blockmap_seek(struct hs_blockmap_reader *rd, const char *path, size_t len,
                     const struct hs_bmentry **m, struct hs_err *e)
{
    rd->returned = false;
    for (;;) {
        if (rd->err)
            return rd->err;
        if (rd->done)
            return 0;
        if (!rd->have) {
            int r = load(rd, e);
            if (r <= 0)
                return r;
            rd->have = true;
        }
        int c = hs_path_cmp(rd->cur.path, rd->cur.path_len, path, len);
        if (c > 0)
            return 0;
        rd->have = false;
        if (c == 0) {
            rd->returned = true;
            *m = &rd->cur;
            return 1;
        }
    }
}

void hs_blockmap_reader_free(struct hs_blockmap_reader *rd)
{
    if (!rd)
        return;
    if (rd->fd >= 0)
        close(rd->fd);
    XXH3_freeState(rd->sums);
    free(rd->name);
    free(rd->io);
    free(rd->rec);
    free(rd->hashes);
    free(rd->prev);
    free(rd);
}

void hs_blockmap_name(const char *snap, char out[64])
{
    snprintf(out, 64, "%s%s", snap, HS_BLOCKMAP_SUFFIX);
}
