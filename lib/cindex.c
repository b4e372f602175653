#include "cindex.h"

#include "buf.h"
#include "bytes.h"
#include "hash.h"
#include "manifest.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char cindex_magic[8] = {'H', 'S', 'N', 'A', 'P', 'C', 'X', 1};
static const char inode_magic[8] = {'H', 'S', 'N', 'A', 'P', 'I', 'X', 1};

#define HEADER_SIZE 32
#define RECORD_SIZE 56
#define FOOTER_SIZE 8
/* Records sorted in memory at a time while building. */
#define PASS_RECORDS 65536
/* Bits of the size filter (16 KiB). */
#define SIZE_LOG2 17
#define SIZE_BITS (1u << SIZE_LOG2)
/* Records per block read by a lookup; the fence keeps one hash prefix per
 * block in memory (1/4 byte per file), so a lookup reads one or two blocks.
 * Reads, not a mapping: the kernel maps a mapping's neighbouring pages on
 * every fault, and lookups would make all of the index resident. */
#define FENCE 64
/* Reads while building and checking. */
#define CHUNK (1024 * 1024)

struct hs_cindex {
    int fd;
    size_t file_len;
    size_t count, records_off, paths_len;
    uint64_t *fence; /* the first 8 hash bytes of every FENCE-th record */
    size_t nfence;
    unsigned char block[FENCE * RECORD_SIZE]; /* records block_first.. */
    size_t block_first, block_n;
    struct hs_buf path; /* the last path read */
    uint64_t size_bits[SIZE_BITS / 64];
    bool by_inode;
};

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void index_name(const char *snap, bool by_inode, const char *suffix, char *out)
{
    snprintf(out, 80, "%s%s%s", snap, by_inode ? HS_INODE_INDEX_SUFFIX : HS_CINDEX_SUFFIX, suffix);
}

void hs_cindex_name(const char *snap, char out[80])
{
    index_name(snap, false, "", out);
}

void hs_cindex_inode_name(const char *snap, char out[80])
{
    index_name(snap, true, "", out);
}

void hs_cindex_inode_key(uint64_t ino, const uint8_t hash[16], uint8_t key[16])
{
    unsigned char v[24];
    hs_le64_store(v, ino);
    memcpy(v + 8, hash, 16);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(v, sizeof v));
    memcpy(key, c.digest, 16);
}

static bool indexed(const struct hs_mentry *m)
{
    return m->type == HS_FT_REG && (m->flags & HS_ME_HASH);
}

/* ---- building ---------------------------------------------------------- */

/* The builder writes the paths in manifest order while counting, then
 * sorts the fixed-size records one range of leading hash bits at a time;
 * every pass recomputes each path's offset the same way. Memory: one pass's
 * records, never the paths. */
struct builder {
    int fd;
    uint64_t count, root_ino;
    uint64_t part_count[256]; /* records by their hash's first byte */
    uint64_t path_at;         /* bytes of paths before the current record */
    uint64_t records_off, written;
    unsigned bits, part; /* the pass: records whose top bits are part */
    unsigned char *v;    /* the pass's records */
    size_t n, cap;
    struct hs_buf out; /* paths not yet written (first pass) */
    bool by_inode;     /* keyed by hs_cindex_inode_key(source inode), not the hash */
    uint8_t key[16];   /* the current record's */
};

/* The key the record is sorted and found by, into b->key. */
static const uint8_t *key_of(struct builder *b, const struct hs_mentry *m)
{
    if (!b->by_inode)
        return m->hash;
    hs_cindex_inode_key(m->ino, m->hash, b->key);
    return b->key;
}

static int cmp_record(const void *a, const void *b)
{
    const unsigned char *x = a, *y = b;
    int c = memcmp(x, y, 16);
    if (c)
        return c;
    uint64_t sx = hs_le64_load(x + 16), sy = hs_le64_load(y + 16);
    return sx < sy ? -1 : sx > sy;
}

static int pwrite_all(int fd, const void *p, size_t n, uint64_t at)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p = (const char *)p + k;
        n -= (size_t)k;
        at += (uint64_t)k;
    }
    return 0;
}

static int flush_paths(struct builder *b)
{
    int k = pwrite_all(b->fd, b->out.data, b->out.len, HEADER_SIZE + b->path_at - b->out.len);
    hs_buf_truncate(&b->out, 0);
    return k;
}

/* First pass: counts, and writes the paths. */
static int take_path(struct builder *b, const struct hs_mentry *m)
{
    b->count++;
    b->part_count[key_of(b, m)[0]]++;
    if (hs_buf_append(&b->out, m->path, m->path_len) < 0)
        return -ENOMEM;
    b->path_at += m->path_len;
    return b->out.len >= CHUNK ? flush_paths(b) : 0;
}

/* Later passes: the records of this pass's part. */
static int take_record(struct builder *b, const struct hs_mentry *m)
{
    uint64_t at = b->path_at;
    b->path_at += m->path_len;
    const uint8_t *key = key_of(b, m);
    if (b->bits && (unsigned)(key[0] >> (8 - b->bits)) != b->part)
        return 0;
    if (b->n == b->cap)
        return -EBADMSG; /* more than the first pass counted */
    unsigned char *r = b->v + b->n++ * RECORD_SIZE;
    memcpy(r, key, 16);
    hs_le64_store(r + 16, m->size);
    hs_le64_store(r + 24, m->sino);
    hs_le64_store(r + 32, hs_mentry_xattr_hash(m));
    hs_le64_store(r + 40, at);
    hs_le32_store(r + 48, (uint32_t)m->path_len);
    uint64_t names = (m->flags & HS_ME_SHARED) && m->nlink < 2 ? 2 : m->nlink;
    hs_le32_store(r + 52, names > UINT32_MAX ? UINT32_MAX : (uint32_t)names);
    return 0;
}

/* One pass over the manifest, each indexed record to take(). */
static int manifest_pass(int manifestsfd, const char *mname, struct builder *b,
                         int (*take)(struct builder *, const struct hs_mentry *), struct hs_err *e)
{
    struct hs_manifest_reader *rd;
    int k = hs_manifest_reader_open(&rd, manifestsfd, mname, e);
    if (k < 0)
        return k;
    b->path_at = 0;
    const struct hs_mentry *m;
    while ((k = hs_manifest_next(rd, &m, e)) == 1) {
        if (m->path_len == 0)
            b->root_ino = m->sino;
        if (indexed(m) && (k = take(b, m)) < 0)
            break;
    }
    hs_manifest_reader_free(rd);
    if (k == -ENOMEM)
        return hs_err_setf(e, ENOMEM, "content index");
    if (k == -EBADMSG && !e->msg)
        return hs_err_setf(e, EBADMSG, "manifest %s changed while indexed", mname);
    return k < 0 && !e->msg ? hs_err_setf(e, -k, "cannot write content index of %s", mname) : k;
}

/* Sorts the pass's records and writes them after those of earlier passes. */
static int flush_pass(struct builder *b)
{
    qsort(b->v, b->n, RECORD_SIZE, cmp_record);
    int k = pwrite_all(b->fd, b->v, b->n * RECORD_SIZE, b->records_off + b->written * RECORD_SIZE);
    b->written += b->n;
    b->n = 0;
    return k;
}

/* XXH3-64 of the file's first len bytes, read a chunk at a time (a mapping
 * would make all of it resident in this process at once). */
static int hash_range(int fd, uint64_t len, uint64_t *sum)
{
    XXH3_state_t *h = XXH3_createState();
    unsigned char *buf = malloc(CHUNK);
    int k = h && buf ? 0 : -ENOMEM;
    if (k == 0)
        XXH3_64bits_reset(h);
    for (uint64_t at = 0; k == 0 && at < len;) {
        size_t want = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            k = n < 0 ? -errno : -EBADMSG;
        else
            XXH3_64bits_update(h, buf, (size_t)n), at += (uint64_t)n;
    }
    if (k == 0)
        *sum = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    free(buf);
    return k;
}

static int finish_file(struct builder *b)
{
    unsigned char hdr[HEADER_SIZE] = {0};
    memcpy(hdr, b->by_inode ? inode_magic : cindex_magic, sizeof cindex_magic);
    hs_le64_store(hdr + 8, b->count);
    hs_le64_store(hdr + 16, b->records_off);
    hs_le64_store(hdr + 24, b->root_ino);
    int k = pwrite_all(b->fd, hdr, sizeof hdr, 0);
    uint64_t len = b->records_off + b->count * RECORD_SIZE, sum = 0;
    if (k == 0)
        k = hash_range(b->fd, len, &sum);
    unsigned char foot[FOOTER_SIZE];
    hs_le64_store(foot, sum);
    return k < 0 ? k : pwrite_all(b->fd, foot, sizeof foot, len);
}

/* The most records any pass takes, with bits leading hash bits per pass. */
static uint64_t largest_part(const struct builder *b, unsigned bits)
{
    uint64_t most = 0;
    for (unsigned p = 0; p < (1u << bits); p++) {
        uint64_t n = 0;
        for (unsigned i = p << (8 - bits); i < (p + 1) << (8 - bits); i++)
            n += b->part_count[i];
        most = n > most ? n : most;
    }
    return most;
}

static int sort_passes(int manifestsfd, const char *mname, struct builder *b, struct hs_err *e)
{
    while (b->bits < 8 && largest_part(b, b->bits) > PASS_RECORDS)
        b->bits++;
    b->cap = (size_t)largest_part(b, b->bits);
    b->v = malloc(b->cap ? b->cap * RECORD_SIZE : 1);
    if (!b->v)
        return hs_err_setf(e, ENOMEM, "content index");
    int k = 0;
    for (b->part = 0; k == 0 && b->part < (1u << b->bits); b->part++) {
        k = manifest_pass(manifestsfd, mname, b, take_record, e);
        if (k == 0 && (k = flush_pass(b)) < 0)
            hs_err_setf(e, -k, "cannot write content index of %s", mname);
    }
    if (k == 0 && b->written != b->count)
        k = hs_err_setf(e, EBADMSG, "manifest %s changed while indexed", mname);
    return k;
}

static int build(int manifestsfd, const char *snap, bool by_inode, struct hs_err *e)
{
    char mname[80], tmp[80], final[80];
    snprintf(mname, sizeof mname, "%s%s", snap, ".hsm");
    index_name(snap, by_inode, ".tmp", tmp);
    index_name(snap, by_inode, "", final);
    struct builder b = {.fd = -1, .by_inode = by_inode};
    /* whatever a killed build (or anything else) left under the temp name
     * goes: never opened, so never waited on */
    unlinkat(manifestsfd, tmp, 0);
    b.fd = hs_open_regular(manifestsfd, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (b.fd < 0)
        return hs_err_path(e, -b.fd, "cannot create content index", tmp);
    int k = manifest_pass(manifestsfd, mname, &b, take_path, e);
    if (k == 0 && (k = flush_paths(&b)) < 0)
        hs_err_path(e, -k, "cannot write content index", tmp);
    b.records_off = HEADER_SIZE + b.path_at;
    if (k == 0)
        k = sort_passes(manifestsfd, mname, &b, e);
    if (k == 0 && (k = finish_file(&b)) < 0)
        hs_err_path(e, -k, "cannot write content index", tmp);
    close(b.fd);
    free(b.v);
    hs_buf_free(&b.out);
    if (k == 0 && renameat(manifestsfd, tmp, manifestsfd, final) < 0)
        k = hs_err_path(e, errno, "cannot store content index", final);
    if (k < 0)
        unlinkat(manifestsfd, tmp, 0);
    return k;
}

int hs_cindex_build(int manifestsfd, const char *snap, struct hs_err *e)
{
    return build(manifestsfd, snap, false, e);
}

/* ---- reading ------------------------------------------------------------- */

static size_t size_bit(uint64_t size)
{
    return hs_hash_top(hs_hash_key(0, size), SIZE_LOG2);
}

/* Bounds and order of every record, and the size filter. */
static int check_records(struct hs_cindex *ci, int fd)
{
    enum { PER_CHUNK = CHUNK / RECORD_SIZE };
    unsigned char *buf = malloc((size_t)PER_CHUNK * RECORD_SIZE);
    unsigned char last[16] = {0};
    int k = buf ? 0 : -ENOMEM;
    for (size_t i = 0; k == 0 && i < ci->count; i += PER_CHUNK) {
        size_t n = ci->count - i < PER_CHUNK ? ci->count - i : PER_CHUNK;
        if (pread(fd, buf, n * RECORD_SIZE, (off_t)(ci->records_off + i * RECORD_SIZE)) !=
            (ssize_t)(n * RECORD_SIZE)) {
            k = -EBADMSG;
            break;
        }
        for (size_t j = 0; j < n; j++) {
            const unsigned char *r = buf + j * RECORD_SIZE;
            if (hs_le64_load(r + 40) > ci->paths_len ||
                hs_le32_load(r + 48) > ci->paths_len - hs_le64_load(r + 40) ||
                (i + j > 0 && memcmp(last, r, 16) > 0)) {
                k = -EBADMSG;
                break;
            }
            memcpy(last, r, 16);
            if ((i + j) % FENCE == 0)
                ci->fence[(i + j) / FENCE] = be64(r);
            size_t bit = size_bit(hs_le64_load(r + 16));
            ci->size_bits[bit / 64] |= (uint64_t)1 << (bit % 64);
        }
    }
    free(buf);
    return k;
}

/* Header, checksum, then every record (bounds, order, the size filter), all
 * read through fd: the mapping is touched only by lookups. */
static int check_file(struct hs_cindex *ci, int fd, uint64_t root_ino)
{
    unsigned char p[HEADER_SIZE], foot[FOOTER_SIZE];
    size_t len = ci->file_len;
    uint64_t sum;
    if (len < HEADER_SIZE + FOOTER_SIZE || pread(fd, p, sizeof p, 0) != (ssize_t)sizeof p ||
        pread(fd, foot, sizeof foot, (off_t)(len - FOOTER_SIZE)) != (ssize_t)sizeof foot ||
        memcmp(p, ci->by_inode ? inode_magic : cindex_magic, sizeof cindex_magic) != 0)
        return -EBADMSG;
    uint64_t count = hs_le64_load(p + 8), roff = hs_le64_load(p + 16);
    if (hs_le64_load(p + 24) != root_ino || roff < HEADER_SIZE || roff > len - FOOTER_SIZE ||
        count != (len - FOOTER_SIZE - roff) / RECORD_SIZE ||
        roff + count * RECORD_SIZE != len - FOOTER_SIZE)
        return -EBADMSG;
    int k = hash_range(fd, len - FOOTER_SIZE, &sum);
    if (k < 0)
        return k == -ENOMEM ? k : -EBADMSG;
    if (sum != hs_le64_load(foot))
        return -EBADMSG;
    ci->count = (size_t)count;
    ci->records_off = (size_t)roff;
    ci->paths_len = roff - HEADER_SIZE;
    ci->nfence = (ci->count + FENCE - 1) / FENCE;
    ci->fence = malloc((ci->nfence ? ci->nfence : 1) * sizeof *ci->fence);
    return ci->fence ? check_records(ci, fd) : -ENOMEM;
}

static int open_index(struct hs_cindex **out, int manifestsfd, const char *snap, bool by_inode,
                      uint64_t root_ino, struct hs_err *e)
{
    char name[80];
    index_name(snap, by_inode, "", name);
    /* no regular file: damaged, and rebuilt (the rename replaces it) */
    int fd = hs_open_regular(manifestsfd, name, O_RDONLY, 0);
    if (fd == -ENOENT)
        return -ENOENT;
    if (fd == -EBADMSG)
        return hs_err_path_why(e, EBADMSG, "content index is damaged", name, "not a regular file");
    if (fd < 0)
        return hs_err_path(e, -fd, "cannot open content index", name);
    struct stat st;
    struct hs_cindex *ci = calloc(1, sizeof *ci);
    int k = ci ? 0 : -ENOMEM;
    if (ci) {
        ci->fd = -1;
        ci->by_inode = by_inode;
    }
    if (k == 0 && fstat(fd, &st) < 0)
        k = -errno;
    if (k == 0) {
        ci->fd = fd;
        ci->file_len = (size_t)st.st_size;
        ci->block_first = SIZE_MAX;
        k = check_file(ci, fd, root_ino);
    } else {
        close(fd);
    }
    if (k == -EBADMSG)
        hs_err_path(e, EBADMSG, "content index is damaged", name);
    else if (k < 0)
        hs_err_path(e, -k, "cannot read content index", name);
    if (k < 0) {
        hs_cindex_close(ci);
        return k;
    }
    *out = ci;
    return 0;
}

int hs_cindex_open(struct hs_cindex **out, int manifestsfd, const char *snap, uint64_t root_ino,
                   struct hs_err *e)
{
    return open_index(out, manifestsfd, snap, false, root_ino, e);
}

static int open_or_build(struct hs_cindex **ci, int manifestsfd, const char *snap, bool by_inode,
                         uint64_t root_ino, struct hs_err *e)
{
    int k = open_index(ci, manifestsfd, snap, by_inode, root_ino, e);
    if (k != -ENOENT && k != -EBADMSG)
        return k;
    hs_err_clear(e);
    k = build(manifestsfd, snap, by_inode, e);
    return k < 0 ? k : open_index(ci, manifestsfd, snap, by_inode, root_ino, e);
}

int hs_cindex_open_or_build(struct hs_cindex **ci, int manifestsfd, const char *snap,
                            uint64_t root_ino, struct hs_err *e)
{
    return open_or_build(ci, manifestsfd, snap, false, root_ino, e);
}

int hs_cindex_open_or_build_by_inode(struct hs_cindex **ci, int manifestsfd, const char *snap,
                                     uint64_t root_ino, struct hs_err *e)
{
    return open_or_build(ci, manifestsfd, snap, true, root_ino, e);
}

bool hs_cindex_maybe_size(const struct hs_cindex *ci, uint64_t size)
{
    size_t bit = size_bit(size);
    return (ci->size_bits[bit / 64] >> (bit % 64)) & 1;
}

/* Record i, from the block read last or from a new read; NULL if unreadable. */
static const unsigned char *record_at(struct hs_cindex *ci, size_t i)
{
    if (i - ci->block_first >= ci->block_n) {
        size_t first = i - i % FENCE, n = ci->count - first < FENCE ? ci->count - first : FENCE;
        ssize_t got = pread(ci->fd, ci->block, n * RECORD_SIZE,
                            (off_t)(ci->records_off + first * RECORD_SIZE));
        if (got != (ssize_t)(n * RECORD_SIZE)) {
            ci->block_n = 0;
            return NULL;
        }
        ci->block_first = first;
        ci->block_n = n;
    }
    return ci->block + (i - ci->block_first) * RECORD_SIZE;
}

static int cmp_record_key(const unsigned char *r, const uint8_t hash[16], uint64_t size)
{
    int c = memcmp(r, hash, 16);
    if (c)
        return c;
    uint64_t s = hs_le64_load(r + 16);
    return s < size ? -1 : s > size;
}

size_t hs_cindex_find(struct hs_cindex *ci, const uint8_t hash[16], uint64_t size, size_t *first)
{
    uint64_t key = be64(hash);
    size_t lo = 0, hi = ci->nfence; /* blocks: the first whose fence is not below key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ci->fence[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the lower bound lies after the block before that one */
    size_t i = lo ? (lo - 1) * FENCE : 0;
    const unsigned char *r;
    while (i < ci->count && (r = record_at(ci, i)) && cmp_record_key(r, hash, size) < 0)
        i++;
    size_t end = i;
    while (end < ci->count && (r = record_at(ci, end)) && cmp_record_key(r, hash, size) == 0)
        end++;
    *first = i;
    return end - i;
}

int hs_cindex_get(struct hs_cindex *ci, size_t i, struct hs_centry *out)
{
    const unsigned char *r = record_at(ci, i);
    if (!r)
        return -EIO;
    memcpy(out->hash, r, 16);
    out->size = hs_le64_load(r + 16);
    out->sino = hs_le64_load(r + 24);
    out->xattr_hash = hs_le64_load(r + 32);
    out->path_off = hs_le64_load(r + 40);
    out->path_len = hs_le32_load(r + 48);
    out->nlink = hs_le32_load(r + 52);
    out->path = NULL;
    return 0;
}

int hs_cindex_read_path(struct hs_cindex *ci, struct hs_centry *c)
{
    hs_buf_truncate(&ci->path, 0);
    if (hs_buf_reserve(&ci->path, c->path_len + 1) < 0)
        return -ENOMEM;
    if (pread(ci->fd, ci->path.data, c->path_len, (off_t)(HEADER_SIZE + c->path_off)) !=
        (ssize_t)c->path_len)
        return -EIO;
    ci->path.data[c->path_len] = '\0';
    c->path = ci->path.data;
    return 0;
}

size_t hs_cindex_count(const struct hs_cindex *ci)
{
    return ci->count;
}

void hs_cindex_close(struct hs_cindex *ci)
{
    if (!ci)
        return;
    if (ci->fd >= 0)
        close(ci->fd);
    free(ci->fence);
    hs_buf_free(&ci->path);
    free(ci);
}
