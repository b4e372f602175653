#include "cindex.h"

#include "buf.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char cindex_magic[8] = {'H', 'S', 'N', 'A', 'P', 'C', 'X', 1};

#define HEADER_SIZE 32
#define RECORD_SIZE 56
#define FOOTER_SIZE 8
/* Records sorted in memory at a time while building. */
#define PASS_RECORDS 65536
/* Bits of the size filter (16 KiB). */
#define SIZE_BITS (1u << 17)

struct hs_cindex {
    const unsigned char *map;
    size_t map_len;
    size_t count;
    const unsigned char *records;
    const char *paths;
    size_t paths_len;
    uint64_t size_bits[SIZE_BITS / 64];
};

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void index_name(const char *snap, const char *suffix, char *out)
{
    snprintf(out, 80, "%s%s%s", snap, HS_CINDEX_SUFFIX, suffix);
}

static bool indexed(const struct hs_mentry *m)
{
    return m->type == HS_FT_REG && (m->flags & HS_ME_HASH);
}

/* ---- building ---------------------------------------------------------- */

/* One pass's records, with their paths in one buffer. */
struct pending {
    unsigned char rec[RECORD_SIZE]; /* path_off relative to paths below */
};

struct builder {
    int fd;
    uint64_t written, paths_at; /* records written; bytes of paths written */
    uint64_t paths_base;
    struct pending *v;
    size_t n, cap;
    struct hs_buf paths;
};

static int cmp_pending(const void *a, const void *b)
{
    const unsigned char *x = ((const struct pending *)a)->rec,
                        *y = ((const struct pending *)b)->rec;
    int c = memcmp(x, y, 16);
    if (c)
        return c;
    uint64_t sx = get_le64(x + 16), sy = get_le64(y + 16);
    return sx < sy ? -1 : sx > sy;
}

static int add_pending(struct builder *b, const struct hs_mentry *m)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct pending *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    unsigned char *r = b->v[b->n++].rec;
    memcpy(r, m->hash, 16);
    put_le64(r + 16, m->size);
    put_le64(r + 24, m->sino);
    put_le64(r + 32, (m->flags & HS_ME_XATTR) ? m->xattr_hash : 0);
    put_le64(r + 40, b->paths.len);
    put_le32(r + 48, (uint32_t)m->path_len);
    put_le32(r + 52, m->nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)m->nlink);
    return hs_buf_append(&b->paths, m->path, m->path_len) < 0 ? -ENOMEM : 0;
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

/* Sorts the pass's records and appends them, their paths after all records. */
static int flush_pass(struct builder *b)
{
    qsort(b->v, b->n, sizeof *b->v, cmp_pending);
    for (size_t i = 0; i < b->n; i++) {
        unsigned char *r = b->v[i].rec;
        uint64_t off = get_le64(r + 40);
        uint32_t len = get_le32(r + 48);
        put_le64(r + 40, b->paths_at);
        int k = pwrite_all(b->fd, b->paths.data + off, len, b->paths_base + b->paths_at);
        if (k == 0)
            k = pwrite_all(b->fd, r, RECORD_SIZE, HEADER_SIZE + b->written * RECORD_SIZE);
        if (k < 0)
            return k;
        b->paths_at += len;
        b->written++;
    }
    b->n = 0;
    hs_buf_truncate(&b->paths, 0);
    return 0;
}

/* One pass over the manifest: the records whose hash's top bits are part
 * (of 1 << bits), or, with count set, only counting. */
static int manifest_pass(int manifestsfd, const char *mname, struct builder *b, unsigned bits,
                         unsigned part, uint64_t *count, uint64_t *root_ino, struct hs_err *e)
{
    struct hs_manifest_reader *r;
    int k = hs_manifest_reader_open(&r, manifestsfd, mname, e);
    if (k < 0)
        return k;
    const struct hs_mentry *m;
    while ((k = hs_manifest_next(r, &m, e)) == 1) {
        if (m->path_len == 0 && root_ino)
            *root_ino = m->sino;
        if (!indexed(m))
            continue;
        if (count)
            ++*count;
        else if (bits == 0 || (unsigned)(m->hash[0] >> (8 - bits)) == part)
            if ((k = add_pending(b, m)) < 0)
                break;
    }
    hs_manifest_reader_free(r);
    if (k == -ENOMEM)
        return hs_err_setf(e, ENOMEM, "content index");
    return k;
}

static int finish_file(int fd, uint64_t count, uint64_t paths_base, uint64_t paths_len,
                       uint64_t root_ino)
{
    unsigned char hdr[HEADER_SIZE] = {0};
    memcpy(hdr, cindex_magic, sizeof cindex_magic);
    put_le64(hdr + 8, count);
    put_le64(hdr + 16, paths_base);
    put_le64(hdr + 24, root_ino);
    int k = pwrite_all(fd, hdr, sizeof hdr, 0);
    size_t len = (size_t)(paths_base + paths_len);
    void *map = k == 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (map == MAP_FAILED)
        return k < 0 ? k : -errno;
    unsigned char foot[FOOTER_SIZE];
    put_le64(foot, XXH3_64bits(map, len));
    munmap(map, len);
    return pwrite_all(fd, foot, sizeof foot, len);
}

int hs_cindex_build(int manifestsfd, const char *snap, struct hs_err *e)
{
    char mname[80], tmp[80], final[80];
    snprintf(mname, sizeof mname, "%s%s", snap, ".hsm");
    index_name(snap, ".tmp", tmp);
    index_name(snap, "", final);
    uint64_t count = 0, root_ino = 0;
    int k = manifest_pass(manifestsfd, mname, NULL, 0, 0, &count, &root_ino, e);
    if (k < 0)
        return k;
    unsigned bits = 0;
    while (bits < 8 && (count >> bits) > PASS_RECORDS)
        bits++;
    struct builder b = {.fd = -1, .paths_base = HEADER_SIZE + count * RECORD_SIZE};
    b.fd = openat(manifestsfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (b.fd < 0)
        return hs_err_path(e, errno, "cannot create content index", tmp);
    for (unsigned part = 0; k == 0 && part < (1u << bits); part++) {
        k = manifest_pass(manifestsfd, mname, &b, bits, part, NULL, NULL, e);
        if (k == 0 && (k = flush_pass(&b)) < 0)
            hs_err_path(e, -k, "cannot write content index", tmp);
    }
    if (k == 0 && b.written != count)
        k = hs_err_setf(e, EBADMSG, "manifest %s changed while indexed", mname);
    if (k == 0 && (k = finish_file(b.fd, count, b.paths_base, b.paths_at, root_ino)) < 0)
        hs_err_path(e, -k, "cannot write content index", tmp);
    close(b.fd);
    free(b.v);
    hs_buf_free(&b.paths);
    if (k == 0 && renameat(manifestsfd, tmp, manifestsfd, final) < 0)
        k = hs_err_path(e, errno, "cannot store content index", final);
    if (k < 0)
        unlinkat(manifestsfd, tmp, 0);
    return k;
}

/* ---- reading ------------------------------------------------------------- */

static size_t size_bit(uint64_t size)
{
    return (size_t)(XXH3_64bits(&size, sizeof size) & (SIZE_BITS - 1));
}

static int check_map(struct hs_cindex *ci, uint64_t root_ino)
{
    const unsigned char *p = ci->map;
    size_t len = ci->map_len;
    if (len < HEADER_SIZE + FOOTER_SIZE || memcmp(p, cindex_magic, sizeof cindex_magic) != 0)
        return -EBADMSG;
    uint64_t count = get_le64(p + 8), base = get_le64(p + 16);
    if (get_le64(p + 24) != root_ino || count > (len - HEADER_SIZE) / RECORD_SIZE ||
        base != HEADER_SIZE + count * RECORD_SIZE || base > len - FOOTER_SIZE ||
        XXH3_64bits(p, len - FOOTER_SIZE) != get_le64(p + len - FOOTER_SIZE))
        return -EBADMSG;
    ci->count = (size_t)count;
    ci->records = p + HEADER_SIZE;
    ci->paths = (const char *)p + base;
    ci->paths_len = len - FOOTER_SIZE - base;
    for (size_t i = 0; i < ci->count; i++) {
        const unsigned char *r = ci->records + i * RECORD_SIZE;
        if (get_le64(r + 40) + get_le32(r + 48) > ci->paths_len ||
            (i > 0 && memcmp(r - RECORD_SIZE, r, 16) > 0))
            return -EBADMSG;
        size_t bit = size_bit(get_le64(r + 16));
        ci->size_bits[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
    return 0;
}

int hs_cindex_open(struct hs_cindex **out, int manifestsfd, const char *snap, uint64_t root_ino,
                   struct hs_err *e)
{
    char name[80];
    index_name(snap, "", name);
    int fd = openat(manifestsfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ENOENT : hs_err_path(e, errno, "cannot open content index", name);
    struct stat st;
    struct hs_cindex *ci = calloc(1, sizeof *ci);
    int k = ci ? 0 : -ENOMEM;
    if (k == 0 && fstat(fd, &st) < 0)
        k = -errno;
    if (k == 0) {
        ci->map_len = (size_t)st.st_size;
        void *map = ci->map_len ? mmap(NULL, ci->map_len, PROT_READ, MAP_SHARED, fd, 0) : NULL;
        if (map == MAP_FAILED)
            k = -errno;
        else
            ci->map = map;
    }
    close(fd);
    if (k == 0 && (k = check_map(ci, root_ino)) < 0)
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

int hs_cindex_open_or_build(struct hs_cindex **ci, int manifestsfd, const char *snap,
                            uint64_t root_ino, struct hs_err *e)
{
    int k = hs_cindex_open(ci, manifestsfd, snap, root_ino, e);
    if (k != -ENOENT && k != -EBADMSG)
        return k;
    hs_err_clear(e);
    k = hs_cindex_build(manifestsfd, snap, e);
    return k < 0 ? k : hs_cindex_open(ci, manifestsfd, snap, root_ino, e);
}

bool hs_cindex_maybe_size(const struct hs_cindex *ci, uint64_t size)
{
    size_t bit = size_bit(size);
    return (ci->size_bits[bit / 64] >> (bit % 64)) & 1;
}

static int cmp_at(const struct hs_cindex *ci, size_t i, const uint8_t hash[16], uint64_t size)
{
    const unsigned char *r = ci->records + i * RECORD_SIZE;
    int c = memcmp(r, hash, 16);
    if (c)
        return c;
    uint64_t s = get_le64(r + 16);
    return s < size ? -1 : s > size;
}

size_t hs_cindex_find(const struct hs_cindex *ci, const uint8_t hash[16], uint64_t size,
                      size_t *first)
{
    size_t lo = 0, hi = ci->count;
    while (lo < hi) { /* the first record not before (hash, size) */
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_at(ci, mid, hash, size) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < ci->count && cmp_at(ci, end, hash, size) == 0)
        end++;
    *first = lo;
    return end - lo;
}

void hs_cindex_get(const struct hs_cindex *ci, size_t i, struct hs_centry *out)
{
    const unsigned char *r = ci->records + i * RECORD_SIZE;
    out->hash = r;
    out->size = get_le64(r + 16);
    out->sino = get_le64(r + 24);
    out->xattr_hash = get_le64(r + 32);
    out->path = ci->paths + get_le64(r + 40);
    out->path_len = get_le32(r + 48);
    out->nlink = get_le32(r + 52);
}

size_t hs_cindex_count(const struct hs_cindex *ci)
{
    return ci->count;
}

void hs_cindex_close(struct hs_cindex *ci)
{
    if (!ci)
        return;
    if (ci->map)
        munmap((void *)ci->map, ci->map_len);
    free(ci);
}
