/* Manifest: round trips, walk order, damage detection. */
#include "manifest.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static struct hs_mentry sample(const char *path, unsigned i)
{
    struct hs_mentry m = {0};
    m.path = path;
    m.path_len = strlen(path);
    m.type = HS_FT_REG;
    m.mode = 0644;
    m.uid = 1000 + i;
    m.gid = 100;
    m.size = 12345ull * i;
    m.mtime_sec = 1700000000 + (int64_t)i;
    m.mtime_nsec = 123456789;
    m.ctime_sec = -5 - (int64_t)i; /* negative times must survive */
    m.ctime_nsec = 999999999;
    m.ino = 0xfffffffffffull + i;
    m.nlink = 1 + i % 3;
    m.sino = 42 + i;
    m.sblocks = 8 * i;
    m.flags = HS_ME_HASH;
    for (int k = 0; k < 16; k++)
        m.hash[k] = (uint8_t)(i * 16 + (unsigned)k);
    return m;
}

static void write_manifest(const char *name, const struct hs_mentry *m, size_t n)
{
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_writer_open(&w, tu_tmpfd, name, &e), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(hs_manifest_put(w, &m[i], &e) == 0, "put %s: %s", m[i].path, e.msg);
    ck_assert_int_eq(hs_manifest_writer_finish(w, true, &e), 0);
    hs_manifest_writer_free(w);
}

static void assert_same(const struct hs_mentry *a, const struct hs_mentry *b)
{
    ck_assert_uint_eq(a->path_len, b->path_len);
    ck_assert(memcmp(a->path, b->path, a->path_len) == 0);
    ck_assert_uint_eq(a->type, b->type);
    ck_assert_uint_eq(a->mode, b->mode);
    ck_assert_uint_eq(a->uid, b->uid);
    ck_assert_uint_eq(a->gid, b->gid);
    ck_assert_uint_eq(a->size, b->size);
    ck_assert_int_eq(a->mtime_sec, b->mtime_sec);
    ck_assert_uint_eq(a->mtime_nsec, b->mtime_nsec);
    ck_assert_int_eq(a->ctime_sec, b->ctime_sec);
    ck_assert_uint_eq(a->ctime_nsec, b->ctime_nsec);
    ck_assert_uint_eq(a->ino, b->ino);
    ck_assert_uint_eq(a->nlink, b->nlink);
    ck_assert_uint_eq(a->sino, b->sino);
    ck_assert_uint_eq(a->sblocks, b->sblocks);
    ck_assert_uint_eq(a->rdev, b->rdev);
    ck_assert_uint_eq(a->flags, b->flags);
    if (a->flags & HS_ME_HASH)
        ck_assert(memcmp(a->hash, b->hash, 16) == 0);
    if (a->flags & HS_ME_XATTR)
        ck_assert_uint_eq(a->xattr_hash, b->xattr_hash);
    ck_assert_uint_eq(a->target_len, b->target_len);
    if (a->target_len)
        ck_assert(memcmp(a->target, b->target, a->target_len) == 0);
}

START_TEST(path_order)
{
    ck_assert_int_lt(hs_path_cmp("", 0, "a", 1), 0);
    ck_assert_int_lt(hs_path_cmp("a", 1, "a/b", 3), 0);
    /* a directory's contents come before its next sibling, even "a-c" < "a/" bytewise */
    ck_assert_int_lt(hs_path_cmp("a/b", 3, "a-c", 3), 0);
    ck_assert_int_lt(hs_path_cmp("a/zzz", 5, "a b", 3), 0);
    ck_assert_int_lt(hs_path_cmp("a", 1, "ab", 2), 0);
    ck_assert_int_gt(hs_path_cmp("\xff", 1, "a", 1), 0);
    ck_assert_int_eq(hs_path_cmp("x/y", 3, "x/y", 3), 0);
}
END_TEST

START_TEST(round_trip_all_types)
{
    const char *paths[] = {"", "a", "a/b\nc", "a/link", "a/\xff\xfe", "b", "b/fifo", "c", "d"};
    struct hs_mentry m[9];
    for (unsigned i = 0; i < 9; i++)
        m[i] = sample(paths[i], i);
    m[0].type = HS_FT_DIR, m[0].flags = 0, m[0].size = 0;
    m[1].type = HS_FT_DIR, m[1].flags = 0, m[1].size = 0;
    m[3].type = HS_FT_LNK, m[3].flags = 0, m[3].target = "../x\ny", m[3].target_len = 6;
    m[4].flags |= HS_ME_XATTR, m[4].xattr_hash = 0xdeadbeefcafef00dull;
    m[6].type = HS_FT_FIFO, m[6].flags = 0;
    m[7].type = HS_FT_CHR, m[7].flags = 0, m[7].rdev = 0x103;
    m[8].type = HS_FT_SOCK, m[8].flags = 0;
    write_manifest("m", m, 9);

    struct hs_manifest_reader *r;
    struct hs_err e = {0};
    const struct hs_mentry *got;
    ck_assert_int_eq(hs_manifest_reader_open(&r, tu_tmpfd, "m", &e), 0);
    for (unsigned i = 0; i < 9; i++) {
        ck_assert_int_eq(hs_manifest_next(r, &got, &e), 1);
        assert_same(got, &m[i]);
    }
    ck_assert_int_eq(hs_manifest_next(r, &got, &e), 0);
    hs_manifest_reader_free(r);
}
END_TEST

/* Many records over many blocks, looked up in step as the backup does. */
START_TEST(seek_in_step)
{
    enum { N = 20000 };
    char(*names)[32] = malloc(N * sizeof *names);
    struct hs_mentry *m = malloc(N * sizeof *m);
    for (unsigned i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "d%03u/file-%06u", i / 100, i);
        m[i] = sample(names[i], i);
    }
    write_manifest("big", m, N);
    struct stat st = tu_lstat("big");
    ck_assert_int_gt(st.st_size, 2 * HS_MANIFEST_BLOCK); /* several blocks */
    ck_assert_int_lt(st.st_size, N * 80);                /* prefix compression works */

    struct hs_manifest_reader *r;
    struct hs_err e = {0};
    const struct hs_mentry *got;
    ck_assert_int_eq(hs_manifest_reader_open(&r, tu_tmpfd, "big", &e), 0);
    for (unsigned i = 0; i < N; i += 7) {
        char miss[40];
        snprintf(miss, sizeof miss, "d%03u/file-%06u-gone", i / 100, i);
        ck_assert_int_eq(hs_manifest_seek(r, names[i], strlen(names[i]), &got, &e), 1);
        assert_same(got, &m[i]);
        ck_assert_int_eq(hs_manifest_seek(r, miss, strlen(miss), &got, &e), 0);
    }
    ck_assert_int_eq(hs_manifest_seek(r, "zzz", 3, &got, &e), 0);
    hs_manifest_reader_free(r);
    free(names);
    free(m);
}
END_TEST

START_TEST(out_of_order_rejected)
{
    struct hs_manifest_writer *w;
    struct hs_err e = {0};
    struct hs_mentry a = sample("b", 1), b = sample("a", 2);
    ck_assert_int_eq(hs_manifest_writer_open(&w, tu_tmpfd, "m", &e), 0);
    ck_assert_int_eq(hs_manifest_put(w, &a, &e), 0);
    ck_assert_int_eq(hs_manifest_put(w, &b, &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "out of order"));
    hs_manifest_writer_free(w);
    hs_err_clear(&e);
}
END_TEST

static void make_two_blocks(void)
{
    enum { N = 4000 };
    static char names[N][24];
    struct hs_mentry *m = malloc(N * sizeof *m);
    for (unsigned i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "f%06u", i);
        m[i] = sample(names[i], i);
    }
    write_manifest("m", m, N);
    free(m);
}

/* Reads everything; returns the last status and the records seen. */
static int read_all(const char *name, unsigned *count)
{
    struct hs_manifest_reader *r;
    struct hs_err e = {0};
    const struct hs_mentry *got;
    int k = hs_manifest_reader_open(&r, tu_tmpfd, name, &e);
    *count = 0;
    if (k < 0) {
        hs_err_clear(&e);
        return k;
    }
    while ((k = hs_manifest_next(r, &got, &e)) == 1)
        (*count)++;
    hs_manifest_reader_free(r);
    hs_err_clear(&e);
    return k;
}

/* Where the block index starts (read from the footer). */
static off_t index_offset(void)
{
    struct stat st = tu_lstat("m");
    unsigned char f[8];
    int fd = open(tu_path("m"), O_RDONLY);
    ck_assert_int_eq(pread(fd, f, 8, st.st_size - 24), 8);
    close(fd);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | f[i];
    return (off_t)v;
}

/* Looks up f000123: 1 found, 0 not, <0 damaged. */
static int find_one(const char *name)
{
    struct hs_mentry_copy c = {0};
    struct hs_err e = {0};
    int k = hs_manifest_find(tu_tmpfd, name, "f000123", 7, &c, &e);
    hs_mentry_copy_free(&c);
    hs_err_clear(&e);
    return k;
}

START_TEST(flipped_byte_detected)
{
    make_two_blocks();
    struct stat st = tu_lstat("m");
    off_t data_end = index_offset();
    unsigned good;
    ck_assert_int_eq(read_all("m", &good), 0);
    ck_assert_uint_eq(good, 4000);
    ck_assert_int_eq(find_one("m"), 1);
    /* every single-byte change after the header is caught: in the blocks by
     * the reader, in the block index and footer by the lookup */
    int fd = open(tu_path("m"), O_RDWR);
    for (off_t off = 16; off < st.st_size; off += off < data_end ? 997 : 7) {
        unsigned char c;
        ck_assert_int_eq(pread(fd, &c, 1, off), 1);
        c ^= 0x40;
        ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
        unsigned n;
        if (off < data_end) {
            ck_assert_msg(read_all("m", &n) == -EBADMSG, "flip at %lld not detected",
                          (long long)off);
            ck_assert_uint_lt(n, 4000);
        } else {
            ck_assert_msg(find_one("m") == -EBADMSG, "index flip at %lld not detected",
                          (long long)off);
        }
        c ^= 0x40;
        ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
    }
    close(fd);
}
END_TEST

START_TEST(truncation_detected)
{
    make_two_blocks();
    struct stat st = tu_lstat("m");
    off_t data_end = index_offset();
    ck_assert_int_eq(truncate(tu_path("m"), st.st_size - 1), 0);
    ck_assert_int_eq(find_one("m"), -EBADMSG);
    off_t cuts[] = {data_end - 1, data_end - 16, data_end / 2, 17, 16};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ck_assert_int_eq(truncate(tu_path("m"), cuts[i]), 0);
        unsigned n;
        ck_assert_int_eq(read_all("m", &n), -EBADMSG);
        ck_assert_int_eq(find_one("m"), -EBADMSG);
    }
    ck_assert_int_eq(truncate(tu_path("m"), 3), 0);
    unsigned n;
    ck_assert_int_eq(read_all("m", &n), -EBADMSG);
    ck_assert_int_eq(read_all("missing", &n), -ENOENT);
    ck_assert_int_eq(find_one("missing"), -ENOENT);
}
END_TEST

/* A write that fails or a damaged file: the message names the manifest. */
START_TEST(errors_name_the_manifest)
{
    /* the file size limit stands in for a full disk (a device would not
     * do: a manifest must be a regular file) */
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 8;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    struct hs_manifest_writer *w = NULL;
    struct hs_err e = {0};
    int k = hs_manifest_writer_open(&w, tu_tmpfd, "full", &e);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_eq(k, -EFBIG);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(e.msg, "cannot write manifest: full: File too large");
    hs_err_clear(&e);

    make_two_blocks();
    struct stat st = tu_lstat("m");
    ck_assert_int_eq(truncate(tu_path("m"), st.st_size / 2), 0);
    struct hs_manifest_reader *r;
    ck_assert_int_eq(hs_manifest_reader_open(&r, tu_tmpfd, "m", &e), 0);
    const struct hs_mentry *m;
    while ((k = hs_manifest_next(r, &m, &e)) == 1)
        ;
    ck_assert_int_eq(k, -EBADMSG);
    ck_assert_msg(strstr(e.msg, "manifest m ") == e.msg, "unnamed: %s", e.msg);
    hs_manifest_reader_free(r);
    hs_err_clear(&e);
}
END_TEST

/* A fifo, a device or a symlink under a manifest's name is damage: never
 * waited on, never written to. */
START_TEST(only_regular_files)
{
    struct hs_manifest_reader *r = NULL;
    struct hs_manifest_writer *w = NULL;
    struct hs_manifest_finder *f = NULL;
    struct hs_err e = {0};
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "fifo.hsm", 0600), 0);
    ck_assert_int_eq(hs_manifest_reader_open(&r, tu_tmpfd, "fifo.hsm", &e), -EBADMSG);
    ck_assert_str_eq(e.msg, "not a manifest: fifo.hsm: not a regular file");
    hs_err_clear(&e);
    ck_assert_int_eq(hs_manifest_finder_open(&f, tu_tmpfd, "fifo.hsm", &e), -EBADMSG);
    hs_err_clear(&e);
    ck_assert_int_lt(hs_manifest_writer_open(&w, tu_tmpfd, "fifo.hsm", &e), 0);
    ck_assert_str_eq(e.msg, "cannot create manifest: fifo.hsm: not a regular file");
    hs_err_clear(&e);
    ck_assert_int_eq(symlinkat("fifo.hsm", tu_tmpfd, "link.hsm"), 0);
    ck_assert_int_eq(hs_manifest_reader_open(&r, tu_tmpfd, "link.hsm", &e), -EBADMSG);
    hs_err_clear(&e);
    int dev = open("/dev", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(dev, 0);
    ck_assert_int_eq(hs_manifest_reader_open(&r, dev, "zero", &e), -EBADMSG);
    hs_err_clear(&e);
    ck_assert_int_lt(hs_manifest_writer_open(&w, dev, "full", &e), 0);
    ck_assert_str_eq(e.msg, "cannot create manifest: full: not a regular file");
    hs_err_clear(&e);
    close(dev);
    ck_assert_ptr_null(r);
    ck_assert_ptr_null(w);
    ck_assert_ptr_null(f);
    struct hs_manifest_reader *t = NULL;
    ck_assert_int_eq(hs_manifest_open_trusted(tu_tmpfd, "fifo.hsm", 0, &t, NULL), 0);
    ck_assert_ptr_null(t);
}
END_TEST

/* One path through the block index, for every kind of position. */
START_TEST(find_through_index)
{
    enum { N = 20000 };
    char(*names)[32] = malloc(N * sizeof *names);
    struct hs_mentry *m = malloc(N * sizeof *m);
    for (unsigned i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "d%03u/file-%06u", i / 100, i);
        m[i] = sample(names[i], i);
    }
    m[0].path = "";
    m[0].path_len = 0;
    write_manifest("big", m, N);
    struct hs_mentry_copy c = {0};
    struct hs_err e = {0};
    for (unsigned i = 0; i < N; i += 97) {
        ck_assert_int_eq(hs_manifest_find(tu_tmpfd, "big", m[i].path, m[i].path_len, &c, &e), 1);
        assert_same(&c.m, &m[i]);
    }
    ck_assert_int_eq(hs_manifest_find(tu_tmpfd, "big", m[N - 1].path, m[N - 1].path_len, &c, &e),
                     1);
    assert_same(&c.m, &m[N - 1]);
    ck_assert_int_eq(hs_manifest_find(tu_tmpfd, "big", "d000/file-000005x", 17, &c, &e), 0);
    ck_assert_int_eq(hs_manifest_find(tu_tmpfd, "big", "zzz", 3, &c, &e), 0);
    ck_assert_int_eq(hs_manifest_find(tu_tmpfd, "big", "", 0, &c, &e), 1);
    hs_mentry_copy_free(&c);
    free(names);
    free(m);
}
END_TEST

/* Many lookups through one finder, in an order unlike the manifest's: a
 * block read once serves lookups before and after earlier ones in it. */
START_TEST(finder_any_order)
{
    enum { N = 5000 };
    char(*names)[32] = malloc(N * sizeof *names);
    struct hs_mentry *m = malloc(N * sizeof *m);
    for (unsigned i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "d%02u/f-%05u", i / 100, i);
        m[i] = sample(names[i], i);
    }
    m[0].path = "";
    m[0].path_len = 0;
    write_manifest("big", m, N);
    struct hs_manifest_finder *f;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_manifest_finder_open(&f, tu_tmpfd, "big", &e), 0);
    const struct hs_mentry *got;
    for (unsigned k = 0; k < N; k++) {
        unsigned i = (unsigned)(((uint64_t)k * 2654435761u) % N); /* a permutation of 0..N-1 */
        ck_assert_int_eq(hs_manifest_finder_get(f, m[i].path, m[i].path_len, &got, &e), 1);
        assert_same(got, &m[i]);
        ck_assert_int_eq(
            hs_manifest_finder_get(f, m[N - 1 - i].path, m[N - 1 - i].path_len, &got, &e), 1);
        assert_same(got, &m[N - 1 - i]);
    }
    ck_assert_int_eq(hs_manifest_finder_get(f, "d00/f-00001x", 12, &got, &e), 0);
    ck_assert_int_eq(hs_manifest_finder_get(f, "d00/f-00001", 11, &got, &e), 1);
    ck_assert_int_eq(hs_manifest_finder_get(f, "zz", 2, &got, &e), 0);
    hs_manifest_finder_free(f);
    ck_assert_int_eq(hs_manifest_finder_open(&f, tu_tmpfd, "missing", &e), -ENOENT);
    free(names);
    free(m);
}
END_TEST

/* Records from blocks before the damage are still returned, in order. */
START_TEST(damage_keeps_earlier_blocks)
{
    make_two_blocks();
    struct stat st = tu_lstat("m");
    int fd = open(tu_path("m"), O_RDWR);
    unsigned char c = 0;
    ck_assert_int_eq(pwrite(fd, &c, 1, st.st_size - 100), 1);
    close(fd);
    unsigned n;
    ck_assert_int_eq(read_all("m", &n), -EBADMSG);
    ck_assert_uint_gt(n, 1000);
}
END_TEST

START_TEST(garbage_never_crashes)
{
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)(rand_r(&seed) % 4096);
        unsigned char *buf = malloc(len + 32);
        memcpy(buf, "HSNAPMF\1\0\0\0\0\0\0\0\0", 16);
        for (size_t i = 16; i < len + 32; i++)
            buf[i] = (unsigned char)rand_r(&seed);
        tu_write("g", buf, len + 32);
        unsigned n;
        ck_assert_int_lt(read_all("g", &n), 0);
        free(buf);
    }
}
END_TEST

Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tu_tcase("manifest");
    tcase_add_test(tc, path_order);
    tcase_add_test(tc, round_trip_all_types);
    tcase_add_test(tc, seek_in_step);
    tcase_add_test(tc, out_of_order_rejected);
    tcase_add_test(tc, flipped_byte_detected);
    tcase_add_test(tc, truncation_detected);
    tcase_add_test(tc, errors_name_the_manifest);
    tcase_add_test(tc, only_regular_files);
    tcase_add_test(tc, find_through_index);
    tcase_add_test(tc, finder_any_order);
    tcase_add_test(tc, damage_keeps_earlier_blocks);
    tcase_add_test(tc, garbage_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}
