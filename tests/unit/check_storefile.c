/* Store files: only regular files are opened, and nothing is waited on (a
 * hang here ends in Check's timeout). */
#include "storefile.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void assert_refused(const char *name)
{
    static const int modes[] = {O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_APPEND | O_CREAT,
                                O_RDWR | O_CREAT};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        int fd = hs_open_regular(tu_tmpfd, name, modes[i], 0600);
        ck_assert_msg(fd == -EBADMSG, "%s, flags %#x: %d", name, (unsigned)modes[i], fd);
    }
}

START_TEST(regular_files_open)
{
    tu_write("f", "data", 4);
    int fd = hs_open_regular(tu_tmpfd, "f", O_RDONLY, 0);
    ck_assert_int_ge(fd, 0);
    char buf[8];
    ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
    close(fd);
    fd = hs_open_regular(tu_tmpfd, "new", O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert(S_ISREG(tu_lstat("new").st_mode));
    ck_assert_int_eq(hs_open_regular(tu_tmpfd, "new", O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);
    ck_assert_int_eq(hs_open_regular(tu_tmpfd, "missing", O_RDONLY, 0), -ENOENT);
}
END_TEST

START_TEST(others_refused)
{
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "fifo", 0600), 0);
    assert_refused("fifo");
    /* a fifo with a reader waiting: opened for writing, still refused */
    int rd = openat(tu_tmpfd, "fifo", O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    assert_refused("fifo");
    close(rd);
    tu_mkdir("dir");
    assert_refused("dir");
    tu_write("target", "x", 1);
    ck_assert_int_eq(symlinkat("target", tu_tmpfd, "link"), 0);
    assert_refused("link");
    ck_assert_int_eq(symlinkat("nowhere", tu_tmpfd, "dangling"), 0);
    assert_refused("dangling");
    ck_assert_int_eq(faccessat(tu_tmpfd, "nowhere", F_OK, 0), -1); /* not created through it */
    int dev = open("/dev", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(dev, 0);
    ck_assert_int_eq(hs_open_regular(dev, "null", O_RDWR, 0), -EBADMSG);
    close(dev);
}
END_TEST

Suite *storefile_suite(void)
{
    Suite *s = suite_create("storefile");
    TCase *tc = tu_tcase("storefile");
    tcase_add_test(tc, regular_files_open);
    tcase_add_test(tc, others_refused);
    suite_add_tcase(s, tc);
    return s;
}
