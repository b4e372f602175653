#include "remote_blocks.h"
#include "blockmap.h"
#include "bytes.h"
#include "delta.h"
#include "err.h"
#include "fsutil.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* A record: u64 index, u64 base size, u64 base inode, u32 block size,
 * u32 path length, the path, then u64 per block (little-endian). */
#define HEAD_SIZE 32

int hs_rblocks_init(struct hs_rblocks *b, const struct hs_rblocks_opts *o)
{
    *b = (struct hs_rblocks){.o = *o, .fd = -1};
    return 0;
}

void hs_rblocks_free(struct hs_rblocks *b)
{
    if (b->fd >= 0)
        close(b->fd);
    hs_blockmap_reader_free(b->bm);
    if (b->bh_ready)
        hs_blockhash_free(&b->bh);
    free(b->buf);
    hs_buf_free(&b->path);
    hs_buf_free(&b->cur_path);
    *b = (struct hs_rblocks){.fd = -1};
}

static int ready(struct hs_rblocks *b)
{
    if (!b->buf && !(b->buf = malloc(HS_BLOCK_MAX)))
        return -ENOMEM;
    if (!b->bh_ready) {
        int r = hs_blockhash_init(&b->bh, HS_DELTA_BLOCK, false);
        if (r < 0)
            return r;
        b->bh_ready = true;
    }
    if (b->fd < 0)
        b->fd = b->o.dirfd >= 0 ? openat(b->o.dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                                : memfd_create("hardsnap-blocks", MFD_CLOEXEC);
    return b->fd >= 0 ? 0 : -errno;
}

/* The previous snapshot's block map record of path, if it describes a
 * file of this size in the backup's blocks. */
static const struct hs_blocks *recorded(struct hs_rblocks *b, const struct stat *st)
{
    if (!b->bm_tried && b->o.manifestsfd >= 0 && b->o.prev) {
        char name[64];
        struct hs_err e = {0};
        hs_blockmap_name(b->o.prev, name);
        if (hs_blockmap_reader_open(&b->bm, b->o.manifestsfd, name, &e) < 0)
            b->bm = NULL;
        hs_err_clear(&e);
    }
    b->bm_tried = true;
    const struct hs_bmentry *m;
    struct hs_err e = {0};
    int k = b->bm ? hs_blockmap_seek(b->bm, (const char *)b->path.data, b->path.len, &m, &e) : 0;
    hs_err_clear(&e);
    if (k < 0) { /* damaged from here on: the bases are read instead */
        hs_blockmap_reader_free(b->bm);
        b->bm = NULL;
    }
    if (k != 1 || m->blocks.block_size != HS_DELTA_BLOCK || m->blocks.size != (uint64_t)st->st_size)
        return NULL;
    return &m->blocks;
}

/* The base's block hashes by reading it: a local read instead of a
 * transfer. 0 or -errno. */
static int hash_base(struct hs_rblocks *b, int fd, const struct stat *st)
{
    hs_blockhash_reset(&b->bh, (uint64_t)st->st_size);
    for (off_t off = 0; off < st->st_size;) {
        size_t want = st->st_size - off < HS_BLOCK_MAX ? (size_t)(st->st_size - off) : HS_BLOCK_MAX;
        ssize_t n = pread(fd, b->buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ESTALE; /* shrank */
        hs_blockhash_update(&b->bh, b->buf, (size_t)n);
        off += n;
    }
    return hs_blockhash_finish(&b->bh, NULL);
}

static int put_hashes(struct hs_rblocks *b, const struct hs_blocks *h)
{
    const size_t per = HS_BLOCK_MAX / 8;
    for (size_t i = 0; i < h->n; i += per) {
        size_t k = h->n - i < per ? h->n - i : per;
        for (size_t j = 0; j < k; j++)
            hs_le64_store(b->buf + 8 * j, h->h[i + j]);
        int r = hs_write_all(b->fd, b->buf, 8 * k);
        if (r < 0)
            return r;
    }
    return 0;
}

static int put_record(struct hs_rblocks *b, uint64_t index, int fd, const struct stat *st)
{
    const struct hs_blocks *h = recorded(b, st);
    struct hs_blocks made;
    if (!h) {
        int r = hash_base(b, fd, st);
        if (r < 0)
            return r == -ENOMEM ? r : 0; /* an unreadable base: the file comes whole */
        made = hs_blockhash_blocks(&b->bh);
        h = &made;
    }
    unsigned char head[HEAD_SIZE];
    hs_le64_store(head, index);
    hs_le64_store(head + 8, (uint64_t)st->st_size);
    hs_le64_store(head + 16, (uint64_t)st->st_ino);
    hs_le32_store(head + 24, HS_DELTA_BLOCK);
    hs_le32_store(head + 28, (uint32_t)b->path.len);
    int r = hs_write_all(b->fd, head, sizeof head);
    if (r == 0)
        r = hs_write_all(b->fd, b->path.data, b->path.len);
    if (r == 0)
        r = put_hashes(b, h);
    if (r < 0)
        return r;
    b->hashes += h->n + HS_WIRE_BASE_COST;
    b->count++;
    return 1;
}

int hs_rblocks_want(struct hs_rblocks *b, uint64_t index, const char *path, size_t len,
                    uint64_t size, struct hs_err *e)
{
    if (size < HS_DELTA_MIN_SIZE || !b->o.prev_file ||
        b->hashes + HS_WIRE_BASE_COST >= HS_WIRE_MAX_BASE_HASHES)
        return 0;
    hs_buf_truncate(&b->path, 0);
    if (hs_buf_puts(&b->path, b->o.prefix) < 0 || hs_buf_append(&b->path, path, len) < 0)
        return hs_err_setf(e, ENOMEM, "remote");
    int fd = b->o.prev_file(b->o.user, (const char *)b->path.data, b->path.len);
    if (fd < 0)
        return 0;
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        hs_blocks_count((uint64_t)st.st_size, HS_DELTA_BLOCK) + HS_WIRE_BASE_COST <=
            HS_WIRE_MAX_BASE_HASHES - b->hashes) {
        r = ready(b);
        off_t start = r == 0 ? lseek(b->fd, 0, SEEK_END) : 0;
        if (r == 0 && start < 0)
            r = -errno;
        if (r == 0 && (r = put_record(b, index, fd, &st)) <= 0 && ftruncate(b->fd, start) < 0)
            r = -errno;
    }
    close(fd);
    if (r < 0)
        return r == -ENOMEM ? hs_err_setf(e, ENOMEM, "remote")
                            : hs_err_path(e, -r, "cannot write", ".hardsnap/remote");
    return r;
}

/* ---- reading the records back ----------------------------------------- */

/* The record at b->rpos into cur: 1, 0 at the end, <0. */
static int read_head(struct hs_rblocks *b)
{
    unsigned char head[HEAD_SIZE];
    ssize_t n = b->fd >= 0 ? pread(b->fd, head, sizeof head, b->rpos) : 0;
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof head)
        return n < 0 ? -errno : -EIO;
    b->cur_index = hs_le64_load(head);
    b->cur_size = hs_le64_load(head + 8);
    b->cur_ino = hs_le64_load(head + 16);
    b->cur_bs = hs_le32_load(head + 24);
    uint32_t pl = hs_le32_load(head + 28);
    hs_buf_truncate(&b->cur_path, 0);
    if (hs_buf_reserve(&b->cur_path, pl) < 0)
        return -ENOMEM;
    if (pread(b->fd, b->cur_path.data, pl, b->rpos + HEAD_SIZE) != (ssize_t)pl)
        return -EIO;
    b->cur_path.len = pl;
    b->cur_hashes_at = (uint64_t)b->rpos + HEAD_SIZE + pl;
    b->rpos = (off_t)(b->cur_hashes_at + 8 * hs_blocks_count(b->cur_size, b->cur_bs));
    return 1;
}

bool hs_rblocks_has(struct hs_rblocks *b, uint64_t index)
{
    while (!b->have_cur || b->cur_index < index) {
        if (read_head(b) <= 0) {
            b->have_cur = false;
            return false;
        }
        b->have_cur = true;
    }
    return b->cur_index == index;
}

static int send_one(struct hs_rblocks *b, struct hs_conn *c, struct hs_buf *f, struct hs_err *e)
{
    const size_t per = HS_WIRE_FRAME_FILL / 8;
    size_t n = hs_blocks_count(b->cur_size, b->cur_bs);
    for (size_t first = 0; first < n; first += per) {
        size_t k = n - first < per ? n - first : per;
        hs_buf_truncate(f, 0);
        if (hs_put_varint(f, b->cur_index) | hs_put_varint(f, b->cur_size) |
            hs_put_varint(f, b->cur_bs) | hs_put_varint(f, first) | hs_buf_reserve(f, 8 * k))
            return hs_err_setf(e, ENOMEM, "remote");
        if (pread(b->fd, f->data + f->len, 8 * k, (off_t)(b->cur_hashes_at + 8 * first)) !=
            (ssize_t)(8 * k))
            return hs_err_path(e, EIO, "cannot read", ".hardsnap/remote");
        f->len += 8 * k;
        int r = hs_conn_send(c, HS_MSG_BLOCKS, f->data, f->len, e);
        if (r < 0)
            return r;
    }
    return 0;
}

int hs_rblocks_send(struct hs_rblocks *b, struct hs_conn *c, struct hs_err *e)
{
    struct hs_buf f = {0};
    int r = 0, k;
    b->rpos = 0;
    while (r == 0 && (k = read_head(b)) != 0)
        r = k < 0 ? hs_err_path(e, -k, "cannot read", ".hardsnap/remote") : send_one(b, c, &f, e);
    hs_buf_free(&f);
    b->rpos = 0;
    b->have_cur = false;
    return r;
}

/* ---- rebuilding a file ------------------------------------------------ */

struct build {
    struct hs_rblocks *b;
    int base, fd;
    bool cloned;
    uint64_t size;
    XXH3_state_t *h;
    struct hs_blockhash *out;
    const char *peer;
    struct hs_err *e;
    bool stale;
};

static uint64_t sent_hash(struct build *u, uint64_t i)
{
    unsigned char v[8];
    if (pread(u->b->fd, v, 8, (off_t)(u->b->cur_hashes_at + 8 * i)) != 8)
        return 0;
    return hs_le64_load(v);
}

/* The base's blocks for [from, to), which the server left out: whole blocks
 * of the base, their hashes still the ones sent. */
static int take_base(struct build *u, uint64_t from, uint64_t to)
{
    const uint32_t bs = u->b->cur_bs;
    if (from % bs || (to % bs && to != u->size))
        return hs_err_setf(u->e, EBADMSG, "data from %s: blocks kept are not whole blocks",
                           u->peer);
    for (uint64_t at = from; at < to && !u->stale; at += bs) {
        size_t len = to - at < bs ? (size_t)(to - at) : bs;
        if (at + len > u->b->cur_size || (len < bs && at + len != u->b->cur_size))
            return hs_err_setf(u->e, EBADMSG, "data from %s: a block kept that the base lacks",
                               u->peer);
        /* a clone is checked itself: the base may change after it was taken */
        ssize_t n = pread(u->cloned ? u->fd : u->base, u->b->buf, len, (off_t)at);
        if (n != (ssize_t)len || XXH3_64bits(u->b->buf, len) != sent_hash(u, at / bs)) {
            u->stale = true;
            break;
        }
        XXH3_128bits_update(u->h, u->b->buf, len);
        if (u->out)
            hs_blockhash_update(u->out, u->b->buf, len);
        int r = u->cloned ? 0 : hs_pwrite_all(u->fd, u->b->buf, len, (off_t)at);
        if (r < 0)
            return hs_err_path(u->e, -r, "cannot write", ".hardsnap/remote/spool");
        u->b->st.written += u->cloned ? 0 : len;
    }
    return 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Blocks that arrived: written over the base (zeros as a hole). */
static int put_data(struct build *u, const void *p, size_t n, uint64_t off)
{
    XXH3_128bits_update(u->h, p, n);
    if (u->out)
        hs_blockhash_update(u->out, p, n);
    u->b->st.received += n;
    if (u->stale)
        return 0;
    if (all_zero(p, n) &&
        (!u->cloned ||
         fallocate(u->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n) == 0))
        return 0;
    int r = hs_pwrite_all(u->fd, p, n, (off_t)off);
    if (r < 0)
        return hs_err_path(u->e, -r, "cannot write", ".hardsnap/remote/spool");
    u->b->st.written += n;
    return 0;
}

static int open_base(struct hs_rblocks *b)
{
    int fd = b->o.prev_file(b->o.user, (const char *)b->cur_path.data, b->cur_path.len);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != b->cur_ino ||
                    (uint64_t)st.st_size != b->cur_size)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int read_member(struct build *u, struct archive *a)
{
    uint64_t at = 0;
    int r = 0;
    while (r == 0) {
        const void *p;
        size_t n;
        la_int64_t off;
        int k = archive_read_data_block(a, &p, &n, &off);
        if (k == ARCHIVE_EOF)
            break;
        if (k != ARCHIVE_OK)
            return hs_err_setf(u->e, EIO, "data from %s: %s", u->peer, archive_error_string(a));
        if (off < 0 || (uint64_t)off < at || (uint64_t)off + n > u->size)
            return hs_err_setf(u->e, EBADMSG, "data from %s: bad block", u->peer);
        if ((uint64_t)off > at)
            r = take_base(u, at, (uint64_t)off);
        if (r == 0)
            r = put_data(u, p, n, (uint64_t)off);
        at = (uint64_t)off + n;
    }
    return r == 0 && at < u->size ? take_base(u, at, u->size) : r;
}

int hs_rblocks_build(struct hs_rblocks *b, uint64_t index, uint64_t size, struct archive *a, int fd,
                     uint8_t hash[16], struct hs_blockhash *out, const char *peer, struct hs_err *e)
{
    if (!hs_rblocks_has(b, index) || !b->buf)
        return hs_err_setf(e, EBADMSG, "data from %s: changed blocks of a file not asked so", peer);
    struct build u = {.b = b, .fd = fd, .size = size, .out = out, .peer = peer, .e = e};
    if (out)
        hs_blockhash_reset(out, size);
    u.base = open_base(b);
    u.stale = u.base < 0;
    struct hs_err ce = {0};
    u.cloned = !u.stale && hs_delta_clone(u.base, fd, peer, &ce) == 0;
    hs_err_clear(&ce);
    if (u.cloned)
        hs_delta_cow_blocks(fd, b->cur_bs);
    int r = (u.h = XXH3_createState()) ? 0 : hs_err_setf(e, ENOMEM, "remote");
    if (r == 0) {
        XXH3_128bits_reset(u.h);
        r = read_member(&u, a);
    }
    if (r == 0 && !u.stale && ftruncate(fd, (off_t)size) < 0)
        r = hs_err_path(e, errno, "cannot write", ".hardsnap/remote/spool");
    if (r == 0 && !u.stale && out && hs_blockhash_finish(out, NULL) < 0)
        r = hs_err_setf(e, ENOMEM, "remote");
    if (r == 0 && !u.stale) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(u.h));
        memcpy(hash, c.digest, 16);
        b->st.files++;
        b->st.bytes += size;
    }
    if (u.h)
        XXH3_freeState(u.h);
    if (u.base >= 0)
        close(u.base);
    return r < 0 ? r : u.stale ? HS_RBLOCKS_STALE : 0;
}
