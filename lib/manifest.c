#include "manifest.h"
#include "buf.h"
#include "bytes.h"
#include "fsutil.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

static const char manifest_magic[8] = {'H', 'S', 'N', 'A', 'P', 'M', 'F', 1};
static const char index_magic[8] = {'H', 'S', 'M', 'F', 'I', 'D', 'X', 1};
#define HEADER_SIZE       16
#define FOOTER_SIZE       32
#define BLOCK_HEADER_SIZE 16

enum hs_ftype hs_ftype_of(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return HS_FT_REG;
    case S_IFDIR:
        return HS_FT_DIR;
    case S_IFLNK:
        return HS_FT_LNK;
    case S_IFIFO:
        return HS_FT_FIFO;
    case S_IFCHR:
        return HS_FT_CHR;
    case S_IFBLK:
        return HS_FT_BLK;
    default:
        return HS_FT_SOCK;
    }
}

void hs_mentry_from_stat(struct hs_mentry *m, const struct stat *st)
{
    m->type = (uint8_t)hs_ftype_of(st->st_mode);
    m->mode = st->st_mode & 07777;
    m->uid = st->st_uid;
    m->gid = st->st_gid;
    m->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? (uint64_t)st->st_size : 0;
    m->mtime_sec = st->st_mtim.tv_sec;
    m->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    m->ctime_sec = st->st_ctim.tv_sec;
    m->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
    m->ino = st->st_ino;
    m->nlink = st->st_nlink;
    m->rdev = S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? st->st_rdev : 0;
}

int hs_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca == cb)
            continue;
        /* '/' ends a component, so it sorts before every byte a name can hold */
        if (ca == '/')
            return -1;
        if (cb == '/')
            return 1;
        return ca < cb ? -1 : 1;
    }
    return alen < blen ? -1 : alen > blen;
}

/* ---- writer ---------------------------------------------------------- */

struct hs_manifest_writer {
    int fd;
    char name[64];           /* for messages; "" when opened from an fd */
    struct hs_buf payload;   /* records of the block being filled */
    struct hs_buf last_path; /* previous record's path: order check, prefix compression */
    bool have_last;
    bool block_has_prefix; /* last_path belongs to the current block */
    uint32_t block_count;
    uint64_t seq;
    uint64_t total;
    XXH3_state_t *sums;  /* hash over every block checksum, for the end block */
    uint64_t offset;     /* bytes written so far */
    struct hs_buf index; /* per block: u64 offset, varint length, first path */
};

static int put_varint(struct hs_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    return hs_buf_append(b, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int write_block(struct hs_manifest_writer *w, const void *data, uint32_t len, uint32_t count,
                       uint64_t sum)
{
    unsigned char hdr[BLOCK_HEADER_SIZE];
    hs_le32_store(hdr, len);
    hs_le32_store(hdr + 4, count);
    hs_le64_store(hdr + 8, sum);
    int r = hs_write_all(w->fd, hdr, sizeof hdr);
    if (r == 0 && len)
        r = hs_write_all(w->fd, data, len);
    w->offset += sizeof hdr + len;
    return r;
}

static int flush_block(struct hs_manifest_writer *w)
{
    if (w->block_count == 0)
        return 0;
    uint64_t sum = XXH3_64bits_withSeed(w->payload.data, w->payload.len, w->seq);
    unsigned char le[8];
    hs_le64_store(le, sum);
    XXH3_64bits_update(w->sums, le, sizeof le);
    int r = write_block(w, w->payload.data, (uint32_t)w->payload.len, w->block_count, sum);
    w->seq++;
    hs_buf_truncate(&w->payload, 0);
    w->block_count = 0;
    w->block_has_prefix = false;
    return r;
}

/* "what: NAME: strerror", or without the name when there is none. */
static int named_fail(struct hs_err *e, int errnum, const char *what, const char *name)
{
    return *name ? hs_err_path(e, errnum, what, name) : hs_err_setf(e, errnum, "%s", what);
}

static void set_name(char *dst, size_t size, const char *name)
{
    snprintf(dst, size, "%s", name);
}

static int writer_start(struct hs_manifest_writer **out, int fd, const char *name, struct hs_err *e)
{
    struct hs_manifest_writer *w = calloc(1, sizeof *w);
    XXH3_state_t *sums = XXH3_createState();
    if (!w || !sums) {
        free(w);
        XXH3_freeState(sums);
        close(fd);
        return hs_err_setf(e, ENOMEM, "manifest");
    }
    w->fd = fd;
    set_name(w->name, sizeof w->name, name);
    w->sums = sums;
    XXH3_64bits_reset(w->sums);
    unsigned char hdr[HEADER_SIZE] = {0};
    memcpy(hdr, manifest_magic, sizeof manifest_magic);
    int r = hs_write_all(fd, hdr, sizeof hdr);
    w->offset = sizeof hdr;
    if (r < 0) {
        named_fail(e, -r, "cannot write manifest", name);
        hs_manifest_writer_free(w);
        return r;
    }
    *out = w;
    return 0;
}

int hs_manifest_writer_fdopen(struct hs_manifest_writer **out, int fd, struct hs_err *e)
{
    return writer_start(out, fd, "", e);
}

int hs_manifest_writer_open(struct hs_manifest_writer **w, int dirfd, const char *name,
                            struct hs_err *e)
{
    int fd = hs_open_regular(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -EBADMSG)
        return hs_err_path_why(e, EEXIST, "cannot create manifest", name, "not a regular file");
    if (fd < 0)
        return hs_err_path(e, -fd, "cannot create manifest", name);
    return writer_start(w, fd, name, e);
}

static size_t common_prefix(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static int encode_entry(struct hs_buf *b, const struct hs_mentry *m, size_t prefix)
{
    int r = 0;
    r |= put_varint(b, prefix);
    r |= put_varint(b, m->path_len - prefix);
    r |= hs_buf_append(b, m->path + prefix, m->path_len - prefix);
    r |= hs_buf_putc(b, (char)m->type);
    r |= put_varint(b, m->mode);
    r |= put_varint(b, m->uid);
    r |= put_varint(b, m->gid);
    r |= put_varint(b, m->size);
    r |= put_varint(b, zigzag(m->mtime_sec));
    r |= put_varint(b, m->mtime_nsec);
    r |= put_varint(b, zigzag(m->ctime_sec));
    r |= put_varint(b, m->ctime_nsec);
    r |= put_varint(b, m->ino);
    r |= put_varint(b, m->nlink);
    r |= put_varint(b, m->sino);
    r |= put_varint(b, m->sblocks);
    r |= put_varint(b, m->flags & (HS_ME_HASH | HS_ME_XATTR | HS_ME_SHARED));
    if (m->flags & HS_ME_HASH)
        r |= hs_buf_append(b, m->hash, sizeof m->hash);
    if (m->flags & HS_ME_XATTR) {
        unsigned char le[8];
        hs_le64_store(le, m->xattr_hash);
        r |= hs_buf_append(b, le, sizeof le);
    }
    if (m->type == HS_FT_LNK) {
        r |= put_varint(b, m->target_len);
        r |= hs_buf_append(b, m->target, m->target_len);
    }
    if (m->type == HS_FT_CHR || m->type == HS_FT_BLK)
        r |= put_varint(b, m->rdev);
    return r ? -ENOMEM : 0;
}

/* The index names each block's offset and first path, so one path can be
 * found by a binary search and one block read (hs_manifest_find). */
static int index_block(struct hs_manifest_writer *w, const struct hs_mentry *m)
{
    unsigned char le[8];
    hs_le64_store(le, w->offset);
    int r = hs_buf_append(&w->index, le, sizeof le);
    r |= put_varint(&w->index, m->path_len);
    r |= hs_buf_append(&w->index, m->path, m->path_len);
    return r ? -ENOMEM : 0;
}

int hs_manifest_put(struct hs_manifest_writer *w, const struct hs_mentry *m, struct hs_err *e)
{
    if (w->have_last && hs_path_cmp(w->last_path.data, w->last_path.len, m->path, m->path_len) >= 0)
        return hs_err_path(e, EINVAL, "manifest record out of order", m->path);
    if (m->path_len + m->target_len > HS_MANIFEST_MAX_BLOCK / 2)
        return hs_err_path(e, ENAMETOOLONG, "cannot record in manifest", m->path);
    if (w->payload.len >= HS_MANIFEST_BLOCK) {
        int r = flush_block(w);
        if (r < 0)
            return named_fail(e, -r, "cannot write manifest", w->name);
    }
    size_t prefix = 0;
    if (w->block_has_prefix)
        prefix = common_prefix(w->last_path.data, w->last_path.len, m->path, m->path_len);
    else if (index_block(w, m) < 0)
        return hs_err_setf(e, ENOMEM, "manifest");
    if (encode_entry(&w->payload, m, prefix) < 0)
        return hs_err_setf(e, ENOMEM, "manifest");
    hs_buf_truncate(&w->last_path, 0);
    if (hs_buf_append(&w->last_path, m->path, m->path_len) < 0)
        return hs_err_setf(e, ENOMEM, "manifest");
    w->have_last = w->block_has_prefix = true;
    w->block_count++;
    w->total++;
    return 0;
}

/* After the end block: the index, then a footer locating and checking it. */
static int write_index(struct hs_manifest_writer *w)
{
    unsigned char footer[FOOTER_SIZE];
    memcpy(footer, index_magic, sizeof index_magic);
    hs_le64_store(footer + 8, w->offset);
    hs_le64_store(footer + 16, w->index.len);
    hs_le64_store(footer + 24, XXH3_64bits(w->index.data, w->index.len));
    int r = hs_write_all(w->fd, w->index.data, w->index.len);
    return r ? r : hs_write_all(w->fd, footer, sizeof footer);
}

int hs_manifest_writer_finish(struct hs_manifest_writer *w, bool sync, struct hs_err *e)
{
    int r = flush_block(w);
    if (r == 0)
        r = write_block(w, NULL, 0, (uint32_t)w->total, XXH3_64bits_digest(w->sums));
    if (r == 0)
        r = write_index(w);
    if (r == 0 && sync && fsync(w->fd) < 0)
        r = -errno;
    if (r < 0)
        return named_fail(e, -r, "cannot write manifest", w->name);
    return 0;
}

void hs_manifest_writer_free(struct hs_manifest_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    hs_buf_free(&w->payload);
    hs_buf_free(&w->last_path);
    hs_buf_free(&w->index);
    XXH3_freeState(w->sums);
    free(w);
}

/* ---- reader ---------------------------------------------------------- */

struct hs_manifest_reader {
    int fd;
    uint64_t off;         /* where the next block header is */
    int error;            /* sticky: once damaged, always damaged */
    bool done;            /* verified end seen */
    unsigned char *block; /* current block's payload */
    size_t block_len, block_cap, pos;
    uint32_t block_left; /* records still to decode in this block */
    uint64_t seq, total;
    XXH3_state_t *sums;
    struct hs_buf path;      /* current record's path */
    struct hs_buf last_path; /* previous record's path, for the order check */
    size_t same;             /* bytes the current path shares with the previous one */
    bool have_last;
    struct hs_mentry cur;
    bool cur_valid; /* cur was read but not yet consumed by a seek */
    char name[64];  /* for messages; "" when opened from an fd */
};

static int reader_start(struct hs_manifest_reader **out, int fd, const char *name, struct hs_err *e)
{
    unsigned char hdr[HEADER_SIZE];
    ssize_t n = hs_read_full(fd, hdr, sizeof hdr);
    if (n < 0) {
        close(fd);
        return named_fail(e, (int)-n, "cannot read manifest", name);
    }
    if ((size_t)n != sizeof hdr || memcmp(hdr, manifest_magic, sizeof manifest_magic) != 0) {
        close(fd);
        return named_fail(e, EBADMSG, "not a manifest (bad header)", name);
    }
    struct hs_manifest_reader *rd = calloc(1, sizeof *rd);
    XXH3_state_t *sums = XXH3_createState();
    if (!rd || !sums) {
        free(rd);
        XXH3_freeState(sums);
        close(fd);
        return hs_err_setf(e, ENOMEM, "manifest");
    }
    rd->fd = fd;
    set_name(rd->name, sizeof rd->name, name);
    rd->off = HEADER_SIZE;
    rd->sums = sums;
    XXH3_64bits_reset(rd->sums);
    *out = rd;
    return 0;
}

int hs_manifest_reader_fdopen(struct hs_manifest_reader **out, int fd, struct hs_err *e)
{
    return reader_start(out, fd, "", e);
}

int hs_manifest_reader_open(struct hs_manifest_reader **r, int dirfd, const char *name,
                            struct hs_err *e)
{
    /* a fifo is damage, not a manifest to wait for */
    int fd = hs_open_regular(dirfd, name, O_RDONLY, 0);
    if (fd == -ENOENT)
        return -ENOENT;
    if (fd == -EBADMSG)
        return hs_err_path_why(e, EBADMSG, "not a manifest", name, "not a regular file");
    if (fd < 0)
        return hs_err_path(e, -fd, "cannot open manifest", name);
    return reader_start(r, fd, name, e);
}

int hs_manifest_reader_stat(const struct hs_manifest_reader *rd, struct stat *st)
{
    return fstat(rd->fd, st) < 0 ? -errno : 0;
}

void hs_manifest_reader_free(struct hs_manifest_reader *rd)
{
    if (!rd)
        return;
    if (rd->fd >= 0)
        close(rd->fd);
    free(rd->block);
    hs_buf_free(&rd->path);
    hs_buf_free(&rd->last_path);
    XXH3_freeState(rd->sums);
    free(rd);
}

static int damaged(struct hs_manifest_reader *rd, struct hs_err *e, const char *why)
{
    rd->error = -EBADMSG;
    if (*rd->name)
        return hs_err_setf(e, EBADMSG, "manifest %s %s", rd->name, why);
    return hs_err_setf(e, EBADMSG, "manifest %s", why);
}

/* Reads and verifies the next block; 1 = records available, 0 = verified end. */
static ssize_t read_at(struct hs_manifest_reader *rd, void *buf, size_t n)
{
    ssize_t got = hs_pread_full(rd->fd, buf, n, (off_t)rd->off);
    if (got > 0)
        rd->off += (uint64_t)got;
    return got;
}

static int load_block(struct hs_manifest_reader *rd, struct hs_err *e)
{
    unsigned char hdr[BLOCK_HEADER_SIZE];
    ssize_t n = read_at(rd, hdr, sizeof hdr);
    if (n < 0) {
        rd->error = (int)n;
        return named_fail(e, (int)-n, "cannot read manifest", rd->name);
    }
    if ((size_t)n != sizeof hdr)
        return damaged(rd, e, "is truncated");
    uint32_t len = hs_le32_load(hdr), count = hs_le32_load(hdr + 4);
    uint64_t sum = hs_le64_load(hdr + 8);
    if (len == 0) { /* the end block; the block index follows it */
        if (count != (uint32_t)rd->total || sum != XXH3_64bits_digest(rd->sums))
            return damaged(rd, e, "end block does not match its records");
        rd->done = true;
        return 0;
    }
    if (len > HS_MANIFEST_MAX_BLOCK || count == 0 || count > len)
        return damaged(rd, e, "block header is invalid");
    if (len > rd->block_cap) {
        unsigned char *p = realloc(rd->block, len);
        if (!p) {
            rd->error = -ENOMEM;
            return hs_err_setf(e, ENOMEM, "manifest");
        }
        rd->block = p;
        rd->block_cap = len;
    }
    n = read_at(rd, rd->block, len);
    if (n < 0) {
        rd->error = (int)n;
        return named_fail(e, (int)-n, "cannot read manifest", rd->name);
    }
    if ((size_t)n != len)
        return damaged(rd, e, "is truncated");
    if (XXH3_64bits_withSeed(rd->block, len, rd->seq) != sum)
        return damaged(rd, e, "block checksum mismatch");
    unsigned char le[8];
    hs_le64_store(le, sum);
    XXH3_64bits_update(rd->sums, le, sizeof le);
    rd->seq++;
    rd->block_len = len;
    rd->pos = 0;
    rd->block_left = count;
    hs_buf_truncate(&rd->path, 0);
    return 1;
}

static bool get_varint(struct hs_manifest_reader *rd, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && rd->pos < rd->block_len; shift += 7) {
        unsigned char c = rd->block[rd->pos++];
        if (shift == 63 && c > 1)
            return false;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static bool get_u32(struct hs_manifest_reader *rd, uint32_t *v, uint32_t max)
{
    uint64_t x;
    if (!get_varint(rd, &x) || x > max)
        return false;
    *v = (uint32_t)x;
    return true;
}

static bool get_bytes(struct hs_manifest_reader *rd, const unsigned char **p, size_t n)
{
    if (n > rd->block_len - rd->pos)
        return false;
    *p = rd->block + rd->pos;
    rd->pos += n;
    return true;
}

static bool decode_path(struct hs_manifest_reader *rd)
{
    uint64_t prefix, suffix;
    const unsigned char *p;
    if (!get_varint(rd, &prefix) || !get_varint(rd, &suffix) || prefix > rd->path.len ||
        !get_bytes(rd, &p, suffix))
        return false;
    hs_buf_truncate(&rd->path, prefix);
    rd->same = prefix;
    if (hs_buf_append(&rd->path, p, suffix) < 0 || memchr(p, '\0', suffix))
        return false;
    rd->cur.path = rd->path.data ? rd->path.data : "";
    rd->cur.path_len = rd->path.len;
    return true;
}

static bool decode_entry(struct hs_manifest_reader *rd)
{
    struct hs_mentry *m = &rd->cur;
    const unsigned char *p;
    uint64_t v;
    memset(m, 0, sizeof *m);
    if (!decode_path(rd) || !get_bytes(rd, &p, 1) || p[0] < HS_FT_REG || p[0] > HS_FT_SOCK)
        return false;
    m->type = p[0];
    if (!get_u32(rd, &m->mode, 07777) || !get_u32(rd, &m->uid, UINT32_MAX) ||
        !get_u32(rd, &m->gid, UINT32_MAX) || !get_varint(rd, &m->size))
        return false;
    if (!get_varint(rd, &v) || !get_u32(rd, &m->mtime_nsec, 999999999))
        return false;
    m->mtime_sec = unzigzag(v);
    if (!get_varint(rd, &v) || !get_u32(rd, &m->ctime_nsec, 999999999))
        return false;
    m->ctime_sec = unzigzag(v);
    if (!get_varint(rd, &m->ino) || !get_varint(rd, &m->nlink) || !get_varint(rd, &m->sino) ||
        !get_varint(rd, &m->sblocks) ||
        !get_u32(rd, &m->flags, HS_ME_HASH | HS_ME_XATTR | HS_ME_SHARED))
        return false;
    if (m->flags & HS_ME_HASH) {
        if (!get_bytes(rd, &p, sizeof m->hash))
            return false;
        memcpy(m->hash, p, sizeof m->hash);
    }
    if (m->flags & HS_ME_XATTR) {
        if (!get_bytes(rd, &p, 8))
            return false;
        m->xattr_hash = hs_le64_load(p);
    }
    if (m->type == HS_FT_LNK) {
        if (!get_varint(rd, &v) || !get_bytes(rd, &p, v) || memchr(p, '\0', v))
            return false;
        m->target = (const char *)p;
        m->target_len = v;
    }
    if ((m->type == HS_FT_CHR || m->type == HS_FT_BLK) && !get_varint(rd, &m->rdev))
        return false;
    return true;
}

/* Decodes the next record into rd->cur: 1, 0 at the end, <0 on damage. */
static int read_next(struct hs_manifest_reader *rd, struct hs_err *e)
{
    if (rd->error)
        return named_fail(e, -rd->error, "manifest", rd->name);
    if (rd->done)
        return 0;
    if (rd->block_left == 0) {
        if (rd->pos != rd->block_len)
            return damaged(rd, e, "block has trailing bytes");
        int k = load_block(rd, e);
        if (k <= 0)
            return k;
    }
    if (!decode_entry(rd))
        return damaged(rd, e, "record cannot be decoded");
    rd->block_left--;
    /* the shared prefix is equal by construction (and 0 at a block's start):
     * only what follows it can be out of order */
    size_t same = rd->same;
    if (rd->have_last && hs_path_cmp(rd->last_path.data + same, rd->last_path.len - same,
                                     rd->cur.path + same, rd->cur.path_len - same) >= 0)
        return damaged(rd, e, "records are out of order");
    hs_buf_truncate(&rd->last_path, same);
    if (hs_buf_append(&rd->last_path, rd->cur.path + same, rd->cur.path_len - same) < 0) {
        rd->error = -ENOMEM;
        return hs_err_setf(e, ENOMEM, "manifest");
    }
    rd->have_last = true;
    rd->total++;
    return 1;
}

int hs_manifest_next(struct hs_manifest_reader *rd, const struct hs_mentry **m, struct hs_err *e)
{
    if (rd->cur_valid) {
        rd->cur_valid = false;
        *m = &rd->cur;
        return 1;
    }
    int k = read_next(rd, e);
    if (k == 1)
        *m = &rd->cur;
    return k;
}

int hs_manifest_seek(struct hs_manifest_reader *rd, const char *path, size_t len,
                     const struct hs_mentry **m, struct hs_err *e)
{
    for (;;) {
        if (!rd->cur_valid) {
            int k = read_next(rd, e);
            if (k <= 0)
                return k;
            rd->cur_valid = true;
        }
        int c = hs_path_cmp(rd->cur.path, rd->cur.path_len, path, len);
        if (c > 0)
            return 0;
        rd->cur_valid = false;
        if (c == 0) {
            *m = &rd->cur;
            return 1;
        }
    }
}

/* ---- one path, through the block index ------------------------------- */

void hs_mentry_copy_set(struct hs_mentry_copy *c, const struct hs_mentry *m)
{
    c->m = *m;
    hs_buf_truncate(&c->path, 0);
    hs_buf_truncate(&c->target, 0);
    if (hs_buf_append(&c->path, m->path, m->path_len) < 0 ||
        hs_buf_append(&c->target, m->target ? m->target : "", m->target_len) < 0) {
        c->m.path_len = c->m.target_len = 0; /* out of memory: an empty, safe record */
        c->m.path = c->m.target = "";
        return;
    }
    c->m.path = c->path.data;
    c->m.target = c->target.data;
}

void hs_mentry_copy_free(struct hs_mentry_copy *c)
{
    hs_buf_free(&c->path);
    hs_buf_free(&c->target);
}

struct index_entry {
    uint64_t offset;
    const char *path;
    size_t len;
};

/* Reads and checks the block index at the end of the file into idx (whose
 * paths point into raw). */
static int load_index(struct hs_manifest_reader *rd, struct hs_buf *raw, struct index_entry **idx,
                      size_t *n, struct hs_err *e)
{
    struct stat st;
    unsigned char f[FOOTER_SIZE];
    if (fstat(rd->fd, &st) < 0)
        return named_fail(e, errno, "cannot stat manifest", rd->name);
    if (st.st_size < HEADER_SIZE + FOOTER_SIZE ||
        pread(rd->fd, f, sizeof f, st.st_size - FOOTER_SIZE) != FOOTER_SIZE ||
        memcmp(f, index_magic, sizeof index_magic) != 0)
        return damaged(rd, e, "has no block index");
    uint64_t at = hs_le64_load(f + 8), len = hs_le64_load(f + 16);
    if (at < HEADER_SIZE || len > HS_MANIFEST_MAX_BLOCK ||
        at + len + FOOTER_SIZE != (uint64_t)st.st_size)
        return damaged(rd, e, "block index is invalid");
    if (hs_buf_reserve(raw, (size_t)len) < 0)
        return hs_err_setf(e, ENOMEM, "manifest");
    if (pread(rd->fd, raw->data, (size_t)len, (off_t)at) != (ssize_t)len ||
        XXH3_64bits(raw->data, (size_t)len) != hs_le64_load(f + 24))
        return damaged(rd, e, "block index checksum mismatch");
    raw->len = (size_t)len;
    /* parse with the record decoder's bounds checks, on a borrowed block */
    unsigned char *saved = rd->block;
    size_t saved_len = rd->block_len, saved_pos = rd->pos;
    rd->block = (unsigned char *)raw->data;
    rd->block_len = raw->len;
    rd->pos = 0;
    size_t cap = 0;
    int ret = 0;
    *idx = NULL;
    *n = 0;
    while (ret == 0 && rd->pos < rd->block_len) {
        const unsigned char *p;
        uint64_t plen;
        struct index_entry ie;
        if (!get_bytes(rd, &p, 8) || (ie.offset = hs_le64_load(p), !get_varint(rd, &plen)) ||
            !get_bytes(rd, &p, plen)) {
            ret = -EBADMSG;
            break;
        }
        ie.path = (const char *)p;
        ie.len = plen;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct index_entry *q = realloc(*idx, cap * sizeof *q);
            if (!q) {
                ret = -ENOMEM;
                break;
            }
            *idx = q;
        }
        (*idx)[(*n)++] = ie;
    }
    rd->block = saved;
    rd->block_len = saved_len;
    rd->pos = saved_pos;
    if (ret < 0) {
        free(*idx);
        *idx = NULL;
        return ret == -ENOMEM ? hs_err_setf(e, ENOMEM, "manifest")
                              : damaged(rd, e, "block index cannot be decoded");
    }
    return 0;
}

/* The last block whose first path is not after path, or -1. */
static ptrdiff_t index_search(const struct index_entry *idx, size_t n, const char *path, size_t len)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, found = -1;
    while (lo <= hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (hs_path_cmp(idx[mid].path, idx[mid].len, path, len) <= 0) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

struct hs_manifest_finder {
    struct hs_manifest_reader *r;
    struct hs_buf raw;
    struct index_entry *idx;
    size_t n;
    ptrdiff_t loaded; /* the block in rd->block, or -1 */
    size_t count_of_loaded;
    bool cur_valid; /* rd->cur is a record of the loaded block, decoded in order */
};

int hs_manifest_finder_open(struct hs_manifest_finder **out, int dirfd, const char *name,
                            struct hs_err *e)
{
    struct hs_manifest_finder *f = calloc(1, sizeof *f);
    if (!f)
        return hs_err_setf(e, ENOMEM, "manifest");
    f->loaded = -1;
    int k = hs_manifest_reader_open(&f->r, dirfd, name, e);
    if (k == 0)
        k = load_index(f->r, &f->raw, &f->idx, &f->n, e);
    if (k < 0) {
        hs_manifest_finder_free(f);
        return k;
    }
    *out = f;
    return 0;
}

/* The block is read and checksummed once for all the lookups that fall into
 * it; lookups in walk order (an archive made from a tree) go on decoding from
 * the last record, others decode it again from its start. */
static int finder_load(struct hs_manifest_finder *f, ptrdiff_t b, const char *path, size_t len,
                       struct hs_err *e)
{
    struct hs_manifest_reader *rd = f->r;
    if (b == f->loaded) {
        if (f->cur_valid && hs_path_cmp(rd->cur.path, rd->cur.path_len, path, len) <= 0)
            return 2;
        rd->pos = 0;
        rd->block_left = (uint32_t)f->count_of_loaded;
        hs_buf_truncate(&rd->path, 0);
        f->cur_valid = false;
        return 1;
    }
    f->loaded = -1;
    f->cur_valid = false;
    rd->off = f->idx[b].offset;
    rd->seq = (uint64_t)b;
    int k = load_block(rd, e);
    if (k == 1) {
        f->loaded = b;
        f->count_of_loaded = rd->block_left;
    }
    return k;
}

int hs_manifest_finder_get(struct hs_manifest_finder *f, const char *path, size_t len,
                           const struct hs_mentry **m, struct hs_err *e)
{
    struct hs_manifest_reader *rd = f->r;
    ptrdiff_t b = index_search(f->idx, f->n, path, len);
    if (b < 0)
        return 0;
    int k = finder_load(f, b, path, len, e);
    if (k == 2) { /* positioned at or before path: is it the current record? */
        if (hs_path_cmp(rd->cur.path, rd->cur.path_len, path, len) == 0) {
            *m = &rd->cur;
            return 1;
        }
        k = 1;
    }
    while (k == 1 && rd->block_left > 0) {
        if (!decode_entry(rd)) {
            f->loaded = -1;
            f->cur_valid = false;
            return damaged(rd, e, "record cannot be decoded");
        }
        rd->block_left--;
        f->cur_valid = true;
        int c = hs_path_cmp(rd->cur.path, rd->cur.path_len, path, len);
        if (c == 0) {
            *m = &rd->cur;
            return 1;
        }
        if (c > 0)
            return 0;
    }
    return k < 0 ? k : 0;
}

void hs_manifest_finder_free(struct hs_manifest_finder *f)
{
    if (!f)
        return;
    hs_manifest_reader_free(f->r);
    hs_buf_free(&f->raw);
    free(f->idx);
    free(f);
}

int hs_manifest_find(int dirfd, const char *name, const char *path, size_t len,
                     struct hs_mentry_copy *out, struct hs_err *e)
{
    struct hs_manifest_finder *f;
    int k = hs_manifest_finder_open(&f, dirfd, name, e);
    if (k < 0)
        return k;
    const struct hs_mentry *m;
    k = hs_manifest_finder_get(f, path, len, &m, e);
    if (k == 1)
        hs_mentry_copy_set(out, m);
    hs_manifest_finder_free(f);
    return k;
}

int hs_manifest_open_trusted(int dirfd, const char *mname, uint64_t root_ino,
                             struct hs_manifest_reader **r, struct hs_mentry_copy *root)
{
    struct hs_err scratch = {0};
    const struct hs_mentry *m;
    *r = NULL;
    bool ok = hs_manifest_reader_open(r, dirfd, mname, &scratch) == 0 &&
              hs_manifest_next(*r, &m, &scratch) == 1 && m->path_len == 0 &&
              (root_ino == 0 || m->sino == root_ino);
    if (ok && root)
        hs_mentry_copy_set(root, m);
    hs_err_clear(&scratch);
    if (!ok) {
        hs_manifest_reader_free(*r);
        *r = NULL;
    }
    return ok;
}
