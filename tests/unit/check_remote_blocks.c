/* The client side of a pull's changed blocks (lib/remote_blocks.h): the
 * bases recorded and their hashes sent (BLOCKS), and a file rebuilt from
 * its base and a server's "INDEX.d" member, made here as serve.c makes it
 * (pax, a sparse map of the changed blocks, the logical content written
 * and its holes dropped by the writer). A base that changed or was
 * replaced since its hashes were sent is never used; a member the server
 * should not have sent is an error. */
#include "blockhash.h"
#include "blockmap.h"
#include "delta.h"
#include "remote_blocks.h"
#include "testutil.h"
#include "wire.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define BS   HS_DELTA_BLOCK
#define BASE (HS_DELTA_MIN_SIZE + 3 * BS + 1000) /* 68 blocks, the last partial */

/* The previous snapshot: tu_tmp/prev/PATH. */
static int open_prev(void *user, const char *path, size_t len)
{
    (void)user;
    char name[256];
    snprintf(name, sizeof name, "prev/%.*s", (int)len, path);
    return openat(tu_tmpfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static void init(struct hs_rblocks *b)
{
    struct hs_rblocks_opts o = {
        .dirfd = tu_tmpfd, .manifestsfd = -1, .prefix = "", .prev_file = open_prev};
    ck_assert_int_eq(hs_rblocks_init(b, &o), 0);
}

static unsigned char *random_bytes(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    return p;
}

/* A data segment of a delta member. */
struct seg {
    uint64_t off, len;
};

/* The segments serve.c's map_changed makes: runs of the blocks of new that
 * are not whole in both with the base's hash. At most max; their count. */
static size_t changed(const unsigned char *base, uint64_t base_size, const unsigned char *new,
                      uint64_t size, struct seg *s, size_t max)
{
    size_t n = 0;
    for (uint64_t at = 0; at < size; at += BS) {
        uint64_t len = size - at < BS ? size - at : BS;
        if (len == BS && at + BS <= base_size &&
            XXH3_64bits(new + at, BS) == XXH3_64bits(base + at, BS))
            continue;
        if (n && s[n - 1].off + s[n - 1].len == at) {
            s[n - 1].len += len;
            continue;
        }
        ck_assert_uint_lt(n, max);
        s[n++] = (struct seg){at, len};
    }
    return n;
}

/* The member "NAME" of new's content with the data segments segs (none: an
 * empty one at the end, as serve.c does), as a pax archive in memory. */
static unsigned char *member(const char *name, const unsigned char *new, uint64_t size,
                             const struct seg *segs, size_t nseg, size_t *len)
{
    size_t cap = size + (1u << 20);
    unsigned char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    struct archive *a = archive_write_new();
    struct archive_entry *ent = archive_entry_new();
    ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_set_bytes_per_block(a, 0), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
    archive_entry_set_pathname(ent, name);
    archive_entry_set_filetype(ent, AE_IFREG);
    archive_entry_set_perm(ent, 0644);
    archive_entry_set_size(ent, (la_int64_t)size);
    for (size_t i = 0; i < nseg; i++)
        archive_entry_sparse_add_entry(ent, (la_int64_t)segs[i].off, (la_int64_t)segs[i].len);
    if (nseg == 0)
        archive_entry_sparse_add_entry(ent, (la_int64_t)size, 0);
    ck_assert_int_eq(archive_write_header(a, ent), ARCHIVE_OK);
    for (uint64_t at = 0; at < size;) {
        size_t k = size - at < (1u << 20) ? (size_t)(size - at) : (1u << 20);
        ck_assert_int_eq(archive_write_data(a, new + at, k), (la_ssize_t)k);
        at += k;
    }
    ck_assert_int_eq(archive_write_finish_entry(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    archive_entry_free(ent);
    /* the holes were dropped: the member is no bigger than its segments */
    uint64_t data = 0;
    for (size_t i = 0; i < nseg; i++)
        data += segs[i].len;
    ck_assert_uint_le(*len, data + 16 * 1024);
    return buf;
}

/* Opens the member in buf, positioned at its data. */
static struct archive *open_member(const unsigned char *buf, size_t len, const char *name)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ent;
    archive_read_support_format_tar(a);
    ck_assert_int_eq(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
    ck_assert_int_eq(archive_read_next_header(a, &ent), ARCHIVE_OK);
    ck_assert_str_eq(archive_entry_pathname(ent), name);
    return a;
}

static int spool(void)
{
    int fd = openat(tu_tmpfd, "spool", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void expect_content(int fd, const unsigned char *want, uint64_t size)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, size);
    unsigned char *got = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(pread(fd, got, size, 0), (ssize_t)size);
    ck_assert_msg(memcmp(got, want, size) == 0, "the rebuilt file has other content");
    free(got);
}

/* The rebuild of index from the member made of new (segs, or the changed
 * blocks against base if segs is NULL): its result; on 0 the spool holds
 * new, the hash is new's XXH3-128 and the block hashes new's. */
static int rebuild(struct hs_rblocks *b, uint64_t index, const unsigned char *base,
                   uint64_t base_size, const unsigned char *new, uint64_t size,
                   const struct seg *segs, size_t nseg)
{
    struct seg made[64];
    if (!segs) {
        nseg = changed(base, base_size, new, size, made, 64);
        segs = made;
    }
    size_t len;
    char name[32];
    snprintf(name, sizeof name, "%llu.d", (unsigned long long)index);
    unsigned char *buf = member(name, new, size, segs, nseg, &len);
    struct archive *a = open_member(buf, len, name);
    int fd = spool();
    uint8_t hash[16];
    struct hs_blockhash out;
    ck_assert_int_eq(hs_blockhash_init(&out, BS, false), 0);
    struct hs_err e = {0};
    int r = hs_rblocks_build(b, index, size, a, fd, hash, &out, "peer", &e);
    ck_assert_msg((r < 0) == (e.msg != NULL), "an error has a message, and only an error");
    if (r == 0) {
        expect_content(fd, new, size);
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(new, size));
        ck_assert(memcmp(hash, c.digest, 16) == 0);
        struct hs_blockhash want;
        ck_assert_int_eq(hs_blockhash_init(&want, BS, false), 0);
        hs_blockhash_reset(&want, size);
        hs_blockhash_update(&want, new, size);
        ck_assert_int_eq(hs_blockhash_finish(&want, NULL), 0);
        struct hs_blocks x = hs_blockhash_blocks(&out), y = hs_blockhash_blocks(&want);
        ck_assert_uint_eq(x.size, size);
        ck_assert_uint_eq(x.n, y.n);
        ck_assert(memcmp(x.h, y.h, 8 * y.n) == 0);
        hs_blockhash_free(&want);
    }
    hs_err_clear(&e);
    hs_blockhash_free(&out);
    close(fd);
    archive_read_free(a);
    free(buf);
    return r;
}

/* base, and new: base with blocks 1, 2, 40 and 66 changed (a byte each),
 * block 10 zeroed, size as given (the tail beyond base: other bytes). */
static unsigned char *edit(const unsigned char *base, uint64_t base_size, uint64_t size)
{
    unsigned char *n = random_bytes(size, 99);
    memcpy(n, base, base_size < size ? base_size : size);
    const unsigned block[] = {1, 2, 40, 66};
    for (size_t i = 0; i < sizeof block / sizeof block[0]; i++)
        if ((uint64_t)block[i] * BS + 77 < size)
            n[(uint64_t)block[i] * BS + 77] ^= 0x5a;
    memset(n + 10 * BS, 0, BS);
    return n;
}

START_TEST(rebuilt_from_base_and_blocks)
{
    unsigned char *base = random_bytes(BASE, 1);
    tu_write("prev/dir/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_rblocks b;
    init(&b);
    struct hs_err e = {0};
    ck_assert_int_eq(hs_rblocks_want(&b, 4, "dir/f", 5, BASE, &e), 1);
    /* the real order: the hashes are sent before the data comes */
    int out = openat(tu_tmpfd, "blocks", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct hs_conn c;
    hs_conn_init(&c, -1, out, 0, "file");
    ck_assert_int_eq(hs_rblocks_send(&b, &c, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&c, &e), 0);
    hs_conn_free(&c);
    close(out);
    ck_assert(hs_rblocks_has(&b, 4));
    ck_assert_int_eq(rebuild(&b, 4, base, BASE, new, BASE, NULL, 0), 0);
    /* only the changed blocks came: 1-2, 10, 40, 66, and the partial last
     * one (always sent) */
    ck_assert_uint_eq(b.st.received, 5 * BS + 1000);
    /* zeros are not written (block 10): the rest of the file is, or (a
     * clone of the base) only the blocks that came */
    ck_assert_msg(b.st.written == BASE - BS || b.st.written == 4 * BS + 1000, "%llu bytes written",
                  (unsigned long long)b.st.written);
    ck_assert_uint_eq(b.st.files, 1);
    ck_assert_uint_eq(b.st.bytes, BASE);
    hs_rblocks_free(&b);
    free(new);
    free(base);
}
END_TEST

/* The base ends with a partial block; the new file: grown inside it, grown
 * by a block and a partial one (zeros: a hole, the size set at the end),
 * shrunk inside the last block and inside an earlier one, shrunk and grown
 * to a block boundary, unchanged (a member without data). */
START_TEST(grow_and_shrink)
{
    const uint64_t sizes[] = {BASE + 5000,
                              BASE + BS,
                              BASE - 500,
                              BASE - 1000 - BS + 7,
                              HS_DELTA_MIN_SIZE + 3 * BS,
                              BASE - 1000 + 3 * BS,
                              BASE};
    unsigned char *base = random_bytes(BASE, 2);
    tu_write("prev/f", base, BASE);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *new = edit(base, BASE, sizes[i]);
        if (i == sizeof sizes / sizeof sizes[0] - 1)
            memcpy(new, base, BASE); /* nothing changed: an empty member */
        if (i == 1) {                /* grown by zeros, a segment of their own: left a hole */
            new[66 * BS + 77] = base[66 * BS + 77];
            memset(new + BASE - 1000, 0, sizes[i] - (BASE - 1000));
        }
        struct hs_rblocks b;
        init(&b);
        struct hs_err e = {0};
        ck_assert_int_eq(hs_rblocks_want(&b, 1, "f", 1, sizes[i], &e), 1);
        ck_assert_msg(rebuild(&b, 1, base, BASE, new, sizes[i], NULL, 0) == 0, "size %llu",
                      (unsigned long long)sizes[i]);
        hs_rblocks_free(&b);
        free(new);
    }
    free(base);
}
END_TEST

START_TEST(base_changed_is_stale)
{
    unsigned char *base = random_bytes(BASE, 3);
    tu_write("prev/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_rblocks b;
    init(&b);
    struct hs_err e = {0};
    ck_assert_int_eq(hs_rblocks_want(&b, 0, "f", 1, BASE, &e), 1);
    /* block 30 is left out of the member (unchanged): the base's copy rots */
    int fd = openat(tu_tmpfd, "prev/f", O_WRONLY | O_CLOEXEC);
    unsigned char x = base[30 * BS + 5] ^ 1;
    ck_assert_int_eq(pwrite(fd, &x, 1, 30 * BS + 5), 1);
    close(fd);
    ck_assert_int_eq(rebuild(&b, 0, base, BASE, new, BASE, NULL, 0), HS_RBLOCKS_STALE);
    hs_rblocks_free(&b);
    free(new);
    free(base);
}
END_TEST

START_TEST(base_replaced_is_stale)
{
    unsigned char *base = random_bytes(BASE, 4);
    tu_write("prev/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_rblocks b;
    init(&b);
    struct hs_err e = {0};
    ck_assert_int_eq(hs_rblocks_want(&b, 2, "f", 1, BASE, &e), 1);
    /* the same content in another inode */
    tu_write("prev/f.new", base, BASE);
    ck_assert_int_eq(renameat(tu_tmpfd, "prev/f.new", tu_tmpfd, "prev/f"), 0);
    ck_assert_int_eq(rebuild(&b, 2, base, BASE, new, BASE, NULL, 0), HS_RBLOCKS_STALE);
    /* and gone */
    ck_assert_int_eq(unlinkat(tu_tmpfd, "prev/f", 0), 0);
    hs_rblocks_free(&b);
    init(&b);
    tu_write("prev/f", base, BASE);
    ck_assert_int_eq(hs_rblocks_want(&b, 2, "f", 1, BASE, &e), 1);
    ck_assert_int_eq(unlinkat(tu_tmpfd, "prev/f", 0), 0);
    ck_assert_int_eq(rebuild(&b, 2, base, BASE, new, BASE, NULL, 0), HS_RBLOCKS_STALE);
    hs_rblocks_free(&b);
    free(new);
    free(base);
}
END_TEST

START_TEST(bad_members_refused)
{
    unsigned char *base = random_bytes(BASE, 5);
    tu_write("prev/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_err e = {0};
    /* gaps that are not whole blocks: a segment starting or ending inside a
     * block the member leaves out */
    const struct seg bad[][2] = {
        {{5 * BS + 100, BS}, {BASE - 1000, 1000}},
        {{5 * BS, BS - 100}, {BASE - 1000, 1000}},
        {{5 * BS, BS}, {BASE - 1000 + 1, 999}}, /* the partial last block, cut */
        {{5 * BS, BS}, {0, 0}},                 /* the partial last block left out, size other */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hs_rblocks b;
        init(&b);
        ck_assert_int_eq(hs_rblocks_want(&b, 1, "f", 1, BASE, &e), 1);
        size_t n = bad[i][1].len ? 2 : 1;
        uint64_t size = i == 3 ? BASE - 500 : BASE;
        ck_assert_msg(rebuild(&b, 1, base, BASE, new, size, bad[i], n) == -EBADMSG, "member %zu",
                      i);
        hs_rblocks_free(&b);
    }
    /* a gap past the base's end: the new file is 2 blocks longer (whole
     * ones), and the member has nothing of them */
    const uint64_t aligned = HS_DELTA_MIN_SIZE + 2 * BS, longer = aligned + 2 * BS;
    tu_write("prev/g", base, aligned);
    unsigned char *grown = random_bytes(longer, 6);
    memcpy(grown, base, aligned);
    struct hs_rblocks b;
    init(&b);
    ck_assert_int_eq(hs_rblocks_want(&b, 3, "g", 1, longer, &e), 1);
    ck_assert_int_eq(rebuild(&b, 3, base, aligned, grown, longer, NULL, 0), 0); /* sane */
    hs_rblocks_free(&b);
    init(&b);
    ck_assert_int_eq(hs_rblocks_want(&b, 3, "g", 1, longer, &e), 1);
    ck_assert_int_eq(rebuild(&b, 3, base, aligned, grown, longer, (struct seg[]){{0, 0}}, 0),
                     -EBADMSG);
    hs_rblocks_free(&b);
    free(grown);
    free(new);
    free(base);
}
END_TEST

START_TEST(member_not_asked_for)
{
    unsigned char *base = random_bytes(BASE, 7);
    tu_write("prev/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_rblocks b;
    struct hs_err e = {0};
    /* nothing recorded at all */
    init(&b);
    ck_assert(!hs_rblocks_has(&b, 0));
    ck_assert_int_eq(rebuild(&b, 0, base, BASE, new, BASE, NULL, 0), -EBADMSG);
    hs_rblocks_free(&b);
    /* 5 recorded; 4 and 6 are not */
    init(&b);
    ck_assert_int_eq(hs_rblocks_want(&b, 5, "f", 1, BASE, &e), 1);
    ck_assert_int_eq(rebuild(&b, 4, base, BASE, new, BASE, NULL, 0), -EBADMSG);
    ck_assert_int_eq(rebuild(&b, 5, base, BASE, new, BASE, NULL, 0), 0);
    ck_assert_int_eq(rebuild(&b, 6, base, BASE, new, BASE, NULL, 0), -EBADMSG);
    hs_rblocks_free(&b);
    free(new);
    free(base);
}
END_TEST

/* The previous snapshot's block map describes another version of the same
 * size (its hashes are the new content's): the server leaves out blocks
 * the base does not hold, and the rebuild finds it. */
START_TEST(block_map_of_other_content_is_stale)
{
    unsigned char *base = random_bytes(BASE, 10);
    tu_write("prev/f", base, BASE);
    unsigned char *new = edit(base, BASE, BASE);
    struct hs_blockhash h;
    ck_assert_int_eq(hs_blockhash_init(&h, BS, false), 0);
    hs_blockhash_reset(&h, BASE);
    hs_blockhash_update(&h, new, BASE);
    ck_assert_int_eq(hs_blockhash_finish(&h, NULL), 0);
    struct hs_blocks rec = hs_blockhash_blocks(&h);
    struct hs_blockmap_writer *w;
    struct hs_err e = {0};
    char name[64];
    hs_blockmap_name("prev", name);
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, name, &e), 0);
    uint8_t whole[16] = {0};
    ck_assert_int_eq(hs_blockmap_put(w, "f", 1, whole, &rec, &e), 0);
    ck_assert_int_eq(hs_blockmap_writer_finish(w, false, &e), 0);
    hs_blockmap_writer_free(w);
    struct hs_rblocks b;
    struct hs_rblocks_opts o = {.dirfd = -1, /* the records in memory */
                                .manifestsfd = tu_tmpfd,
                                .prev = "prev",
                                .prefix = "",
                                .prev_file = open_prev};
    ck_assert_int_eq(hs_rblocks_init(&b, &o), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 0, "f", 1, BASE, &e), 1);
    /* what serve.c sends against those hashes: the partial last block */
    ck_assert_int_eq(rebuild(&b, 0, new, BASE, new, BASE, NULL, 0), HS_RBLOCKS_STALE);
    hs_rblocks_free(&b);
    hs_blockhash_free(&h);
    free(new);
    free(base);
}
END_TEST

/* One BLOCKS frame: its header, and its hashes appended to h. */
static void decode_blocks(const struct hs_buf *f, uint64_t want[4], uint64_t *h, size_t *nh,
                          size_t max)
{
    struct hs_dec d;
    hs_dec_init(&d, f->data, f->len);
    for (int i = 0; i < 4; i++)
        want[i] = hs_get_varint(&d);
    ck_assert(!d.bad);
    size_t left = (size_t)(d.end - d.p);
    ck_assert_uint_eq(left % 8, 0);
    ck_assert_uint_le(left, HS_WIRE_FRAME_FILL);
    for (size_t i = 0; i < left / 8; i++) {
        ck_assert_uint_lt(*nh, max);
        const unsigned char *p = d.p + 8 * i;
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = v << 8 | p[k];
        h[(*nh)++] = v;
    }
}

START_TEST(blocks_frames)
{
    /* "a": hashed by reading it; "big": 8195 blocks (sparse), its hashes
     * from the previous snapshot's block map, over two frames */
    const uint64_t big = (uint64_t)BS * (HS_WIRE_FRAME_FILL / 8 + 2) + 10;
    const size_t nbig = HS_WIRE_FRAME_FILL / 8 + 3;
    unsigned char *a = random_bytes(BASE, 8);
    tu_write("prev/a", a, BASE);
    tu_write("prev/big", "", 0);
    int fd = openat(tu_tmpfd, "prev/big", O_WRONLY | O_CLOEXEC);
    ck_assert_int_eq(ftruncate(fd, (off_t)big), 0);
    close(fd);
    uint64_t *bh = malloc(nbig * 8);
    for (size_t i = 0; i < nbig; i++)
        bh[i] = 0x9e3779b97f4a7c15ull * (i + 1);
    struct hs_blockmap_writer *w;
    struct hs_err e = {0};
    char name[64];
    hs_blockmap_name("prev", name);
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, name, &e), 0);
    struct hs_blocks rec = {.block_size = BS, .size = big, .n = nbig, .h = bh};
    uint8_t whole[16] = {0};
    ck_assert_int_eq(hs_blockmap_put(w, "big", 3, whole, &rec, &e), 0);
    ck_assert_int_eq(hs_blockmap_writer_finish(w, false, &e), 0);
    hs_blockmap_writer_free(w);

    struct hs_rblocks b;
    struct hs_rblocks_opts o = {.dirfd = tu_tmpfd,
                                .manifestsfd = tu_tmpfd,
                                .prev = "prev",
                                .prefix = "",
                                .prev_file = open_prev};
    ck_assert_int_eq(hs_rblocks_init(&b, &o), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 3, "a", 1, BASE, &e), 1);
    ck_assert_int_eq(hs_rblocks_want(&b, 7, "big", 3, big, &e), 1);
    ck_assert_int_eq(hs_rblocks_want(&b, 8, "c", 1, BASE, &e), 0); /* no base */

    int out = openat(tu_tmpfd, "blocks", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct hs_conn c;
    hs_conn_init(&c, -1, out, 0, "file");
    ck_assert_int_eq(hs_rblocks_send(&b, &c, &e), 0);
    ck_assert_int_eq(hs_conn_flush(&c, &e), 0);
    hs_conn_free(&c);
    ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
    hs_conn_init(&c, out, -1, 0, "file");

    struct hs_blockhash want;
    ck_assert_int_eq(hs_blockhash_init(&want, BS, false), 0);
    hs_blockhash_reset(&want, BASE);
    hs_blockhash_update(&want, a, BASE);
    ck_assert_int_eq(hs_blockhash_finish(&want, NULL), 0);
    struct hs_blocks wa = hs_blockhash_blocks(&want);
    /* frames: a (first 0), big (first 0, 8192 hashes), big (first 8192) */
    const uint64_t heads[3][4] = {
        {3, BASE, BS, 0}, {7, big, BS, 0}, {7, big, BS, HS_WIRE_FRAME_FILL / 8}};
    uint64_t *got = malloc((nbig + wa.n) * 8);
    size_t ngot = 0;
    struct hs_buf f = {0};
    uint8_t type;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hs_conn_recv(&c, &type, &f, &e), 1);
        ck_assert_int_eq(type, HS_MSG_BLOCKS);
        uint64_t head[4];
        size_t before = ngot;
        decode_blocks(&f, head, got, &ngot, nbig + wa.n);
        for (int k = 0; k < 4; k++)
            ck_assert_uint_eq(head[k], heads[i][k]);
        ck_assert_uint_eq(ngot - before, i == 0 ? wa.n : i == 1 ? HS_WIRE_FRAME_FILL / 8 : 3);
    }
    ck_assert_int_eq(hs_conn_recv(&c, &type, &f, &e), 0);
    ck_assert_uint_eq(ngot, wa.n + nbig);
    ck_assert(memcmp(got, wa.h, 8 * wa.n) == 0);
    ck_assert(memcmp(got + wa.n, bh, 8 * nbig) == 0);
    ck_assert_uint_eq(b.count, 2);
    ck_assert_uint_eq(b.hashes, wa.n + nbig + 2 * HS_WIRE_BASE_COST);
    hs_buf_free(&f);
    hs_conn_free(&c);
    close(out);
    hs_blockhash_free(&want);
    hs_rblocks_free(&b);
    free(got);
    free(bh);
    free(a);
}
END_TEST

START_TEST(small_or_baseless_come_whole)
{
    unsigned char *base = random_bytes(BASE, 9);
    tu_write("prev/f", base, BASE);
    tu_write("prev/empty", "", 0);
    tu_mkdir("prev/dir");
    struct hs_rblocks b;
    struct hs_err e = {0};
    init(&b);
    /* below the delta size (the base is big enough) */
    ck_assert_int_eq(hs_rblocks_want(&b, 0, "f", 1, HS_DELTA_MIN_SIZE - 1, &e), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 1, "f", 1, 0, &e), 0);
    /* no base: none, empty, not a regular file */
    ck_assert_int_eq(hs_rblocks_want(&b, 2, "none", 4, BASE, &e), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 3, "empty", 5, BASE, &e), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 4, "dir", 3, BASE, &e), 0);
    ck_assert_uint_eq(b.count, 0);
    for (uint64_t i = 0; i < 5; i++)
        ck_assert(!hs_rblocks_has(&b, i));
    hs_rblocks_free(&b);
    /* no previous snapshot at all */
    struct hs_rblocks_opts o = {.dirfd = tu_tmpfd, .manifestsfd = -1, .prefix = ""};
    ck_assert_int_eq(hs_rblocks_init(&b, &o), 0);
    ck_assert_int_eq(hs_rblocks_want(&b, 0, "f", 1, BASE, &e), 0);
    hs_rblocks_free(&b);
    ck_assert_ptr_null(e.msg);
    free(base);
}
END_TEST

Suite *remote_blocks_suite(void)
{
    Suite *s = suite_create("remote_blocks");
    TCase *tc = tu_tcase("remote_blocks");
    tcase_add_test(tc, rebuilt_from_base_and_blocks);
    tcase_add_test(tc, grow_and_shrink);
    tcase_add_test(tc, base_changed_is_stale);
    tcase_add_test(tc, base_replaced_is_stale);
    tcase_add_test(tc, bad_members_refused);
    tcase_add_test(tc, member_not_asked_for);
    tcase_add_test(tc, block_map_of_other_content_is_stale);
    tcase_add_test(tc, blocks_frames);
    tcase_add_test(tc, small_or_baseless_come_whole);
    suite_add_tcase(s, tc);
    return s;
}
