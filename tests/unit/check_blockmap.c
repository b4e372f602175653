/* Block map: round trips, in-step seeking, carried records, and damage
 * that is never read as data. */
#include "blockmap.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NREC 6

/* Record i of the sample map: sizes from empty to several blocks, odd ends. */
static const char *const paths[NREC] = {"a",   "a/b/x", "a/big.img",
                                        "a/c", "b",     "b\xc3\xa9/vm.qcow2"};
static uint64_t hashes[NREC][40];

static struct hs_blocks sample(unsigned i, uint8_t hash[16])
{
    uint32_t bs = 4096u * (1 + i % 3);
    uint64_t size = (uint64_t)bs * (i * 7 % 40) - (i % 2 ? 100 : 0);
    if (i == 0)
        size = 0;
    for (size_t k = 0; k < 40; k++)
        hashes[i][k] = 0x9e3779b97f4a7c15ull * (i * 100 + k + 1);
    for (int k = 0; k < 16; k++)
        hash[k] = (uint8_t)(i * 31 + (unsigned)k);
    return (struct hs_blocks){
        .block_size = bs, .size = size, .n = hs_blocks_count(size, bs), .h = hashes[i]};
}

static void expect_record(const struct hs_bmentry *m, unsigned i)
{
    uint8_t hash[16];
    struct hs_blocks b = sample(i, hash);
    ck_assert_uint_eq(m->path_len, strlen(paths[i]));
    ck_assert(memcmp(m->path, paths[i], m->path_len) == 0);
    ck_assert(memcmp(m->hash, hash, 16) == 0);
    ck_assert_uint_eq(m->blocks.block_size, b.block_size);
    ck_assert_uint_eq(m->blocks.size, b.size);
    ck_assert_uint_eq(m->blocks.n, b.n);
    ck_assert(b.n == 0 || memcmp(m->blocks.h, b.h, b.n * 8) == 0);
}

static void write_sample(const char *name)
{
    struct hs_blockmap_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, name, &e), 0);
    for (unsigned i = 0; i < NREC; i++) {
        uint8_t hash[16];
        struct hs_blocks b = sample(i, hash);
        ck_assert_int_eq(hs_blockmap_put(w, paths[i], strlen(paths[i]), hash, &b, &e), 0);
    }
    ck_assert_int_eq(hs_blockmap_writer_finish(w, true, &e), 0);
    hs_blockmap_writer_free(w);
}

START_TEST(round_trip)
{
    write_sample("m.blocks");
    struct hs_blockmap_reader *rd;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, "m.blocks", &e), 0);
    const struct hs_bmentry *m;
    for (unsigned i = 0; i < NREC; i++) {
        ck_assert_int_eq(hs_blockmap_next(rd, &m, &e), 1);
        expect_record(m, i);
    }
    ck_assert_int_eq(hs_blockmap_next(rd, &m, &e), 0);
    ck_assert_int_eq(hs_blockmap_next(rd, &m, &e), 0);
    hs_blockmap_reader_free(rd);
    ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, "none", &e), -ENOENT);
}
END_TEST

START_TEST(seek_in_step)
{
    write_sample("m.blocks");
    struct hs_blockmap_reader *rd;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, "m.blocks", &e), 0);
    const struct hs_bmentry *m;
    /* asked in walk order: some present, some not, records skipped */
    ck_assert_int_eq(hs_blockmap_seek(rd, "a/b", 3, &m, &e), 0);
    ck_assert_int_eq(hs_blockmap_seek(rd, "a/b/x", 5, &m, &e), 1);
    expect_record(m, 1);
    ck_assert_int_eq(hs_blockmap_seek(rd, "a/bz", 4, &m, &e), 0);
    ck_assert_int_eq(hs_blockmap_seek(rd, "b", 1, &m, &e), 1);
    expect_record(m, 4);
    ck_assert_int_eq(hs_blockmap_seek(rd, "c", 1, &m, &e), 0);
    ck_assert_int_eq(hs_blockmap_seek(rd, "d", 1, &m, &e), 0);
    hs_blockmap_reader_free(rd);
}
END_TEST

START_TEST(carry_records)
{
    write_sample("old.blocks");
    struct hs_blockmap_reader *rd;
    struct hs_blockmap_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, "old.blocks", &e), 0);
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, "new.blocks", &e), 0);
    const struct hs_bmentry *m;
    /* nothing returned yet: nothing to carry */
    ck_assert_int_eq(hs_blockmap_put_copy(w, rd, &e), -EINVAL);
    hs_err_clear(&e);
    ck_assert_int_eq(hs_blockmap_seek(rd, paths[1], strlen(paths[1]), &m, &e), 1);
    ck_assert_int_eq(hs_blockmap_put_copy(w, rd, &e), 0);
    /* a new record between two carried ones */
    uint8_t hash[16];
    struct hs_blocks b = sample(3, hash);
    ck_assert_int_eq(hs_blockmap_put(w, paths[3], strlen(paths[3]), hash, &b, &e), 0);
    ck_assert_int_eq(hs_blockmap_seek(rd, paths[5], strlen(paths[5]), &m, &e), 1);
    ck_assert_int_eq(hs_blockmap_put_copy(w, rd, &e), 0);
    /* out of order: refused */
    ck_assert_int_eq(hs_blockmap_put(w, paths[4], strlen(paths[4]), hash, &b, &e), -EINVAL);
    hs_err_clear(&e);
    ck_assert_int_eq(hs_blockmap_writer_finish(w, false, &e), 0);
    hs_blockmap_writer_free(w);
    hs_blockmap_reader_free(rd);

    ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, "new.blocks", &e), 0);
    unsigned want[] = {1, 3, 5};
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(hs_blockmap_next(rd, &m, &e), 1);
        expect_record(m, want[i]);
    }
    ck_assert_int_eq(hs_blockmap_next(rd, &m, &e), 0);
    hs_blockmap_reader_free(rd);
}
END_TEST

START_TEST(bad_records_refused)
{
    struct hs_blockmap_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, "m.blocks", &e), 0);
    uint8_t hash[16] = {0};
    struct hs_blocks b = {.block_size = 4096, .size = 10000, .n = 2, .h = hashes[0]};
    ck_assert_int_eq(hs_blockmap_put(w, "x", 1, hash, &b, &e), -EINVAL); /* 3 blocks */
    hs_err_clear(&e);
    b.block_size = 5000;
    b.n = 2;
    ck_assert_int_eq(hs_blockmap_put(w, "x", 1, hash, &b, &e), -EINVAL);
    hs_err_clear(&e);
    b.block_size = 4096;
    b.size = (uint64_t)4096 * (HS_BLOCKMAP_MAX_BLOCKS + 1);
    b.n = HS_BLOCKMAP_MAX_BLOCKS + 1;
    ck_assert_int_eq(hs_blockmap_put(w, "x", 1, hash, &b, &e), -EFBIG);
    hs_err_clear(&e);
    hs_blockmap_writer_free(w);
}
END_TEST

/* Reads name to its end: every record returned must be the sample's record
 * of that position, and the end must say whether the file was whole. */
static int read_all(const char *name, unsigned *count)
{
    struct hs_blockmap_reader *rd;
    struct hs_err e = {0};
    *count = 0;
    int r = hs_blockmap_reader_open(&rd, tu_tmpfd, name, &e);
    if (r < 0) {
        hs_err_clear(&e);
        return r;
    }
    const struct hs_bmentry *m;
    while ((r = hs_blockmap_next(rd, &m, &e)) == 1) {
        ck_assert_uint_lt(*count, NREC);
        expect_record(m, (*count)++);
    }
    hs_err_clear(&e);
    hs_blockmap_reader_free(rd);
    return r;
}

START_TEST(damage_is_never_data)
{
    write_sample("m.blocks");
    size_t len;
    char *good = tu_read("m.blocks", &len);
    unsigned n;
    ck_assert_int_eq(read_all("m.blocks", &n), 0);
    ck_assert_uint_eq(n, NREC);
    /* every byte flipped, every length cut */
    for (size_t i = 0; i < len; i++) {
        good[i] ^= 0x20;
        tu_write("bad.blocks", good, len);
        good[i] ^= 0x20;
        ck_assert_msg(read_all("bad.blocks", &n) == -EBADMSG, "byte %zu flipped", i);
    }
    for (size_t cut = 0; cut < len; cut++) {
        tu_write("bad.blocks", good, cut);
        ck_assert_msg(read_all("bad.blocks", &n) == -EBADMSG, "cut at %zu", cut);
    }
    /* a byte too many after the end */
    good = realloc(good, len + 1);
    good[len] = 0;
    tu_write("bad.blocks", good, len + 1);
    ck_assert_int_eq(read_all("bad.blocks", &n), -EBADMSG);
    free(good);
}
END_TEST

/* The fuzz target's seeds (tests/fuzz/corpus/blockmap), written by the real
 * writer and read back whole: the sample map, an empty one, and big blocks
 * (the largest block size, an empty file's record). With HS_BLOCKMAP_SEEDS
 * set to a directory they are also written there, which is how the corpus
 * was made: HS_BLOCKMAP_SEEDS=tests/fuzz/corpus/blockmap build/tests/hs_unit blockmap */
START_TEST(fuzz_seeds)
{
    static const char *const names[] = {"sample.hsb", "empty.hsb", "big-blocks.hsb"};
    struct hs_err e = {0};
    write_sample(names[0]);
    struct hs_blockmap_writer *w;
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, names[1], &e), 0);
    ck_assert_int_eq(hs_blockmap_writer_finish(w, false, &e), 0);
    hs_blockmap_writer_free(w);
    ck_assert_int_eq(hs_blockmap_writer_open(&w, tu_tmpfd, names[2], &e), 0);
    uint8_t hash[16] = {0xab};
    struct hs_blocks b = {
        .block_size = HS_BLOCK_MAX, .size = 3ull * HS_BLOCK_MAX + 1, .n = 4, .h = hashes[0]};
    ck_assert_int_eq(hs_blockmap_put(w, "dir/disk.img", 12, hash, &b, &e), 0);
    b = (struct hs_blocks){.block_size = 65536, .size = 0, .n = 0, .h = hashes[0]};
    ck_assert_int_eq(hs_blockmap_put(w, "dir2/empty", 10, hash, &b, &e), 0);
    ck_assert_int_eq(hs_blockmap_writer_finish(w, false, &e), 0);
    hs_blockmap_writer_free(w);

    unsigned want[] = {NREC, 0, 2};
    const char *out = getenv("HS_BLOCKMAP_SEEDS");
    for (unsigned i = 0; i < 3; i++) {
        struct hs_blockmap_reader *rd;
        const struct hs_bmentry *m;
        ck_assert_int_eq(hs_blockmap_reader_open(&rd, tu_tmpfd, names[i], &e), 0);
        unsigned n = 0;
        int r;
        while ((r = hs_blockmap_next(rd, &m, &e)) == 1)
            n++;
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(n, want[i]);
        hs_blockmap_reader_free(rd);
        if (out && *out) {
            size_t len;
            char *d = tu_read(names[i], &len);
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", out, names[i]);
            FILE *f = fopen(path, "wb");
            ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
            ck_assert_uint_eq(fwrite(d, 1, len, f), len);
            ck_assert_int_eq(fclose(f), 0);
            free(d);
        }
    }
}
END_TEST

Suite *blockmap_suite(void)
{
    Suite *s = suite_create("blockmap");
    TCase *tc = tu_tcase("blockmap");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, seek_in_step);
    tcase_add_test(tc, carry_records);
    tcase_add_test(tc, bad_records_refused);
    tcase_add_test(tc, damage_is_never_data);
    tcase_add_test(tc, fuzz_seeds);
    suite_add_tcase(s, tc);
    return s;
}
