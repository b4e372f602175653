/* Extended attributes: read sorted, hash, apply; by fd and by (dirfd, name). */
#include "testutil.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static bool supported(void)
{
    tu_write("probe", "", 0);
    return setxattr(tu_path("probe"), "user.probe", "1", 1, 0) == 0;
}

START_TEST(read_hash_apply)
{
    TU_NEED(supported(), "the temp dir's filesystem has no user xattrs");
    tu_write("a", "", 0);
    tu_write("b", "", 0);
    ck_assert_int_eq(setxattr(tu_path("a"), "user.zeta", "last", 4, 0), 0);
    ck_assert_int_eq(setxattr(tu_path("a"), "user.alpha", "first\0bin", 9, 0), 0);
    struct hs_xattrs x = {0}, y = {0};
    int fa = open(tu_path("a"), O_RDONLY), fb = open(tu_path("b"), O_RDWR);
    ck_assert_int_eq(hs_xattr_read(&x, (struct hs_xobj){.fd = fa}, true), 0);
    ck_assert_uint_eq(x.count, 2);
    ck_assert_str_eq(x.names.data, "user.alpha"); /* sorted */
    uint64_t h = hs_xattr_hash(&x);
    ck_assert_uint_ne(h, 0);
    ck_assert_int_eq(hs_xattr_read(&y, (struct hs_xobj){.fd = fb}, true), 0);
    ck_assert_uint_eq(y.count, 0);
    ck_assert_uint_eq(hs_xattr_hash(&y), 0);
    ck_assert_int_eq(hs_xattr_apply(&x, (struct hs_xobj){.fd = fb}, true), 0);
    ck_assert_int_eq(hs_xattr_read(&y, (struct hs_xobj){.fd = fb}, true), 0);
    ck_assert_uint_eq(hs_xattr_hash(&y), h);
    char v[16];
    ck_assert_int_eq(getxattr(tu_path("b"), "user.alpha", v, sizeof v), 9);
    ck_assert(memcmp(v, "first\0bin", 9) == 0);
    /* a changed value changes the hash */
    ck_assert_int_eq(setxattr(tu_path("b"), "user.zeta", "LAST", 4, 0), 0);
    ck_assert_int_eq(hs_xattr_read(&y, (struct hs_xobj){.fd = fb}, true), 0);
    ck_assert_uint_ne(hs_xattr_hash(&y), h);
    close(fa);
    close(fb);
    hs_xattrs_free(&x);
    hs_xattrs_free(&y);
}
END_TEST

START_TEST(by_dirfd_and_name)
{
    TU_NEED(supported(), "the temp dir's filesystem has no user xattrs");
    tu_write("file", "", 0); /* user.* attributes exist on files and dirs only */
    ck_assert_int_eq(setxattr(tu_path("file"), "user.k", "v", 1, 0), 0);
    ck_assert_int_eq(symlinkat("file", tu_tmpfd, "link"), 0);
    struct hs_xattrs x = {0};
    ck_assert_int_eq(
        hs_xattr_read(&x, (struct hs_xobj){.fd = -1, .dirfd = tu_tmpfd, .name = "file"}, true), 0);
    ck_assert_uint_eq(x.count, 1);
    /* the symlink itself has none: the link is not followed */
    ck_assert_int_eq(
        hs_xattr_read(&x, (struct hs_xobj){.fd = -1, .dirfd = tu_tmpfd, .name = "link"}, true), 0);
    ck_assert_uint_eq(x.count, 0);
    hs_xattrs_free(&x);
}
END_TEST

START_TEST(many_and_large)
{
    TU_NEED(supported(), "the temp dir's filesystem has no user xattrs");
    tu_write("m", "", 0);
    char name[32], val[2000];
    memset(val, 'v', sizeof val);
    /* names beyond the first read's buffer; values within one ext4 block */
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "user.attribute-number-%02d", i);
        ck_assert_int_eq(setxattr(tu_path("m"), name, val, 40 + (size_t)i, 0), 0);
    }
    struct hs_xattrs x = {0};
    int fd = open(tu_path("m"), O_RDONLY);
    ck_assert_int_eq(hs_xattr_read(&x, (struct hs_xobj){.fd = fd}, true), 0);
    ck_assert_uint_eq(x.count, 20);
    close(fd);
    hs_xattrs_free(&x);
}
END_TEST

/* Without root, only what an unprivileged process can set is read, so
 * hashes compare what a copy can carry. */
START_TEST(unprivileged_read_is_filtered)
{
    TU_NEED(geteuid() == 0, "needs root to set trusted.* xattrs");
    TU_NEED(supported(), "the temp dir's filesystem has no user xattrs");
    tu_write("f", "", 0);
    ck_assert_int_eq(setxattr(tu_path("f"), "user.a", "1", 1, 0), 0);
    TU_NEED(setxattr(tu_path("f"), "trusted.b", "2", 1, 0) == 0,
            "the temp dir's filesystem has no trusted.* xattrs");
    struct hs_xattrs all = {0}, some = {0};
    int fd = open(tu_path("f"), O_RDONLY);
    ck_assert_int_eq(hs_xattr_read(&all, (struct hs_xobj){.fd = fd}, true), 0);
    ck_assert_int_eq(hs_xattr_read(&some, (struct hs_xobj){.fd = fd}, false), 0);
    close(fd);
    ck_assert_uint_eq(all.count, 2);
    ck_assert_uint_eq(some.count, 1);
    ck_assert_str_eq(some.names.data, "user.a");
    hs_xattrs_free(&all);
    hs_xattrs_free(&some);
}
END_TEST

Suite *xattr_suite(void)
{
    Suite *s = suite_create("xattr");
    TCase *tc = tu_tcase_needs("xattr");
    tcase_add_test(tc, read_hash_apply);
    tcase_add_test(tc, by_dirfd_and_name);
    tcase_add_test(tc, many_and_large);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("root");
    tcase_add_test(tc, unprivileged_read_is_filtered);
    suite_add_tcase(s, tc);
    return s;
}
