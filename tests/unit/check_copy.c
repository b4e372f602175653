/* Copy: content, holes, and the hash of both copy methods. */
#include "copy.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static void expected_hash(const void *data, size_t len, uint8_t out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
    memcpy(out, c.digest, 16);
}

/* Copies tu_tmp/src to tu_tmp/dst with the method; returns bytes written. */
static uint64_t copy_with(enum hs_copy_method method, uint8_t hash[16])
{
    struct hs_copier c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_copier_init(&c, method), 0);
    int s = open(tu_path("src"), O_RDONLY);
    unlink(tu_path("dst"));
    int d = open(tu_path("dst"), O_RDWR | O_CREAT | O_EXCL, 0600);
    struct stat st;
    ck_assert_int_eq(fstat(s, &st), 0);
    uint64_t written = 0;
    ck_assert_int_eq(hs_copy_data(&c, s, d, &st, hash, &written, "src", &e), 0);
    close(s);
    close(d);
    hs_copier_free(&c);
    return written;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rand_r(&seed) >> 7);
    return p;
}

START_TEST(plain_files_both_methods)
{
    size_t sizes[] = {0, 1, 4095, 65536, 3 * 1024 * 1024 + 17};
    enum hs_copy_method methods[] = {HS_COPY_READ_WRITE, HS_COPY_CFR_HASH};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *data = pattern(sizes[i], (unsigned)i);
        tu_write("src", data, sizes[i]);
        uint8_t want[16];
        expected_hash(data, sizes[i], want);
        for (size_t m = 0; m < 2; m++) {
            uint8_t got[16];
            uint64_t w = copy_with(methods[m], got);
            ck_assert_uint_eq(w, sizes[i]);
            ck_assert_msg(memcmp(got, want, 16) == 0, "hash of %zu bytes, method %zu", sizes[i], m);
            ck_assert_file_eq("dst", data, sizes[i]);
        }
        free(data);
    }
}
END_TEST

START_TEST(holes_stay_holes)
{
    const size_t size = 64 * 1024 * 1024;
    int fd = open(tu_path("src"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    ck_assert_int_eq(pwrite(fd, "middle", 6, 20 * 1024 * 1024), 6);
    ck_assert_int_eq(pwrite(fd, "start", 5, 0), 5);
    /* holes kept, and told by SEEK_HOLE (ramfs keeps them but says none) */
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    struct stat sst = tu_lstat("src");
    TU_NEED((uint64_t)sst.st_blocks * 512 < size && hole >= 0 && (size_t)hole < size,
            "the temp dir's filesystem does not do holes");
    unsigned char *all = calloc(1, size);
    memcpy(all, "start", 5);
    memcpy(all + 20 * 1024 * 1024, "middle", 6);
    uint8_t want[16];
    expected_hash(all, size, want);
    for (int m = 0; m < 2; m++) {
        uint8_t got[16];
        uint64_t w = copy_with(m ? HS_COPY_CFR_HASH : HS_COPY_READ_WRITE, got);
        struct stat dst = tu_lstat("dst");
        ck_assert_int_eq(dst.st_size, (off_t)size);
        ck_assert_uint_lt((uint64_t)dst.st_blocks * 512, 1024 * 1024);
        ck_assert_uint_lt(w, 1024 * 1024);
        ck_assert(memcmp(got, want, 16) == 0);
        ck_assert_file_eq("dst", all, size);
    }
    free(all);
}
END_TEST

START_TEST(hash_fd_matches_copy_hash)
{
    unsigned char *data = pattern(200000, 9);
    tu_write("src", data, 200000);
    uint8_t copied[16], hashed[16];
    copy_with(HS_COPY_READ_WRITE, copied);
    struct hs_copier c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_copier_init(&c, HS_COPY_AUTO), 0);
    int fd = open(tu_path("dst"), O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    ck_assert_int_eq(hs_hash_fd(&c, fd, &st, hashed, "dst", &e), 0);
    close(fd);
    hs_copier_free(&c);
    ck_assert(memcmp(copied, hashed, 16) == 0);
    free(data);
}
END_TEST

/* A file that shrinks under us: the copy stops at EOF, no error. */
START_TEST(shrunk_source)
{
    tu_write("src", "0123456789", 10);
    struct hs_copier c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_copier_init(&c, HS_COPY_READ_WRITE), 0);
    int s = open(tu_path("src"), O_RDONLY);
    struct stat st;
    fstat(s, &st);
    ck_assert_int_eq(truncate(tu_path("src"), 4), 0);
    int d = open(tu_path("dst"), O_RDWR | O_CREAT, 0600);
    uint8_t h[16];
    uint64_t w;
    ck_assert_int_eq(hs_copy_data(&c, s, d, &st, h, &w, "src", &e), 0);
    ck_assert_uint_eq(w, 4);
    close(s);
    close(d);
    hs_copier_free(&c);
}
END_TEST

Suite *copy_suite(void)
{
    Suite *s = suite_create("copy");
    TCase *tc = tu_tcase("copy");
    tcase_add_test(tc, plain_files_both_methods);
    tcase_add_test(tc, hash_fd_matches_copy_hash);
    tcase_add_test(tc, shrunk_source);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("holes");
    tcase_add_test(tc, holes_stay_holes);
    suite_add_tcase(s, tc);
    return s;
}
