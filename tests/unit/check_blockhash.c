/* Block hashes: streaming in any pieces equals one-shot hashing per block,
 * holes hash as zeros, and copy.c makes them in its one pass. */
#include "blockhash.h"
#include "copy.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rand_r(&seed) >> 7);
    return p;
}

/* The block hashes of data, each block hashed on its own. */
static void expect_blocks(const struct hs_blocks *b, const unsigned char *data, size_t size,
                          uint32_t bs)
{
    ck_assert_uint_eq(b->block_size, bs);
    ck_assert_uint_eq(b->size, size);
    ck_assert_uint_eq(b->n, hs_blocks_count(size, bs));
    for (size_t i = 0; i < b->n; i++) {
        size_t len = size - i * bs < bs ? size - i * bs : bs;
        ck_assert_msg(b->h[i] == XXH3_64bits(data + i * bs, len), "block %zu of %zu bytes", i,
                      size);
    }
}

static void whole_hash(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

START_TEST(pieces_equal_one_shot)
{
    const uint32_t bs = 16384;
    size_t sizes[] = {0, 1, bs - 1, bs, bs + 1, 3 * bs + 17, 10 * bs};
    size_t pieces[] = {1, 7, 4096, bs, bs + 5, 3 * bs, 1 << 20};
    struct hs_blockhash b;
    ck_assert_int_eq(hs_blockhash_init(&b, bs, true), 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *data = pattern(sizes[i], (unsigned)i);
        uint8_t want[16];
        whole_hash(data, sizes[i], want);
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            hs_blockhash_reset(&b, p % 2 ? sizes[i] : 0);
            for (size_t off = 0; off < sizes[i]; off += pieces[p]) {
                size_t k = sizes[i] - off < pieces[p] ? sizes[i] - off : pieces[p];
                hs_blockhash_update(&b, data + off, k);
            }
            uint8_t got[16];
            ck_assert_int_eq(hs_blockhash_finish(&b, got), 0);
            struct hs_blocks bl = hs_blockhash_blocks(&b);
            expect_blocks(&bl, data, sizes[i], bs);
            ck_assert_msg(memcmp(got, want, 16) == 0, "whole hash, size %zu", sizes[i]);
        }
        free(data);
    }
    hs_blockhash_free(&b);
}
END_TEST

START_TEST(zeros_hash_as_zero_data)
{
    const uint32_t bs = 8192;
    const size_t size = 7 * bs + 100;
    unsigned char *data = pattern(size, 3);
    /* holes at: inside a block, across a boundary, whole blocks, the end */
    size_t holes[][2] = {{100, 200}, {bs - 10, bs + 20}, {2 * bs, 5 * bs + 1}, {7 * bs, size}};
    for (size_t h = 0; h < 4; h++)
        memset(data + holes[h][0], 0, holes[h][1] - holes[h][0]);
    struct hs_blockhash b;
    ck_assert_int_eq(hs_blockhash_init(&b, bs, true), 0);
    hs_blockhash_reset(&b, size);
    size_t pos = 0;
    for (size_t h = 0; h < 4; h++) {
        hs_blockhash_update(&b, data + pos, holes[h][0] - pos);
        hs_blockhash_zeros(&b, holes[h][1] - holes[h][0]);
        pos = holes[h][1];
    }
    uint8_t got[16], want[16];
    ck_assert_int_eq(hs_blockhash_finish(&b, got), 0);
    whole_hash(data, size, want);
    struct hs_blocks bl = hs_blockhash_blocks(&b);
    expect_blocks(&bl, data, size, bs);
    ck_assert(memcmp(got, want, 16) == 0);
    unsigned char *z = calloc(1, bs);
    ck_assert(b.zero_hash == XXH3_64bits(z, bs));
    free(z);
    free(data);
    hs_blockhash_free(&b);
}
END_TEST

START_TEST(bad_block_sizes)
{
    struct hs_blockhash b;
    uint32_t bad[] = {0, 512, 4095, 4097, 6000, HS_BLOCK_MAX + 4096};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hs_blockhash_init(&b, bad[i], false), -EINVAL);
    ck_assert_int_eq(hs_blockhash_init(&b, HS_BLOCK_MAX, false), 0);
    hs_blockhash_free(&b);
}
END_TEST

/* hs_copy_data with c.blocks set: the same copy and hash, plus the blocks,
 * for both copy methods and for hs_hash_fd. */
static void copy_blocks(const unsigned char *data, size_t size, uint32_t bs)
{
    enum hs_copy_method methods[] = {HS_COPY_READ_WRITE, HS_COPY_CFR_HASH};
    uint8_t want[16];
    whole_hash(data, size, want);
    struct hs_blockhash b;
    ck_assert_int_eq(hs_blockhash_init(&b, bs, false), 0);
    for (size_t m = 0; m < 3; m++) {
        struct hs_copier c;
        struct hs_err e = {0};
        ck_assert_int_eq(hs_copier_init(&c, m < 2 ? methods[m] : HS_COPY_AUTO), 0);
        c.blocks = &b;
        int s = open(tu_path("src"), O_RDONLY);
        struct stat st;
        ck_assert_int_eq(fstat(s, &st), 0);
        uint8_t got[16];
        if (m < 2) {
            unlink(tu_path("dst"));
            int d = open(tu_path("dst"), O_RDWR | O_CREAT | O_EXCL, 0600);
            uint64_t w;
            ck_assert_int_eq(hs_copy_data(&c, s, d, &st, got, &w, "src", &e), 0);
            close(d);
            ck_assert_file_eq("dst", data, size);
        } else {
            ck_assert_int_eq(hs_hash_fd(&c, s, &st, got, "src", &e), 0);
        }
        close(s);
        ck_assert(memcmp(got, want, 16) == 0);
        struct hs_blocks bl = hs_blockhash_blocks(&b);
        expect_blocks(&bl, data, size, bs);
        hs_copier_free(&c);
    }
    hs_blockhash_free(&b);
}

START_TEST(copy_makes_blocks)
{
    size_t sizes[] = {0, 5, 65536, 3 * 1024 * 1024 + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *data = pattern(sizes[i], (unsigned)i + 50);
        tu_write("src", data, sizes[i]);
        copy_blocks(data, sizes[i], 65536);
        copy_blocks(data, sizes[i], 12288); /* not dividing the copy buffer */
        free(data);
    }
}
END_TEST

START_TEST(copy_makes_blocks_of_holes)
{
    const size_t size = 8 * 1024 * 1024 + 333;
    int fd = open(tu_path("src"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    ck_assert_int_eq(pwrite(fd, "middle", 6, 3 * 1024 * 1024 + 5), 6);
    ck_assert_int_eq(pwrite(fd, "end", 3, (off_t)size - 3), 3);
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    struct stat sst = tu_lstat("src");
    TU_NEED((uint64_t)sst.st_blocks * 512 < size && hole >= 0 && (size_t)hole < size,
            "the temp dir's filesystem does not do holes");
    unsigned char *all = calloc(1, size);
    memcpy(all + 3 * 1024 * 1024 + 5, "middle", 6);
    memcpy(all + size - 3, "end", 3);
    copy_blocks(all, size, 65536);
    free(all);
}
END_TEST

Suite *blockhash_suite(void)
{
    Suite *s = suite_create("blockhash");
    TCase *tc = tu_tcase("blockhash");
    tcase_add_test(tc, pieces_equal_one_shot);
    tcase_add_test(tc, zeros_hash_as_zero_data);
    tcase_add_test(tc, bad_block_sizes);
    tcase_add_test(tc, copy_makes_blocks);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("holes");
    tcase_add_test(tc, copy_makes_blocks_of_holes);
    suite_add_tcase(s, tc);
    return s;
}
