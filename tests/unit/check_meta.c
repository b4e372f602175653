/* Metadata by fd: taking hold of what was just made (hs_open_made), and
 * setting owner, xattrs, mode and times through an O_PATH fd. */
#include "meta.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* hs_open_made() of tu_tmp/name: its result, the fd closed. */
static int made(const char *name, mode_t type)
{
    int fd;
    struct stat st;
    int k = hs_open_made(tu_tmpfd, name, type, geteuid(), &fd, &st);
    if (k == 0) {
        ck_assert_int_ge(fd, 0);
        ck_assert_uint_eq(st.st_mode & S_IFMT, type);
        close(fd);
    } else {
        ck_assert_int_eq(fd, -1);
    }
    return k;
}

START_TEST(open_made_checks_what_is_there)
{
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "fifo", 0600), 0);
    ck_assert_int_eq(mkdirat(tu_tmpfd, "dir", 0700), 0);
    ck_assert_int_eq(symlinkat("fifo", tu_tmpfd, "link"), 0);
    ck_assert_int_eq(symlinkat("dir", tu_tmpfd, "dirlink"), 0);
    ck_assert_int_eq(made("fifo", S_IFIFO), 0);
    ck_assert_int_eq(made("dir", S_IFDIR), 0);
    ck_assert_int_eq(made("link", S_IFLNK), 0);
    /* what a user puts in the place of what was made */
    ck_assert_int_eq(made("link", S_IFIFO), HS_MADE_SWAPPED); /* never followed */
    ck_assert(hs_made_gone(made("dirlink", S_IFDIR)));        /* never followed */
    ck_assert(hs_made_gone(made("fifo", S_IFDIR)));
    ck_assert_int_eq(made("gone", S_IFIFO), -ENOENT);
    ck_assert(hs_made_gone(-ENOENT));
    ck_assert(!hs_made_gone(-EACCES) && !hs_made_gone(0));
    ck_assert_int_eq(linkat(tu_tmpfd, "fifo", tu_tmpfd, "fifo2", 0), 0);
    ck_assert_int_eq(made("fifo", S_IFIFO), HS_MADE_SWAPPED); /* a second name */
}
END_TEST

/* What another user owns in the place of what was made is not ours. */
START_TEST(open_made_refuses_someone_elses)
{
    TU_NEED(geteuid() == 0, "needs root to give a file to another user");
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "theirs", 0600), 0);
    ck_assert_int_eq(fchownat(tu_tmpfd, "theirs", 65534, 65534, 0), 0);
    ck_assert_int_eq(made("theirs", S_IFIFO), HS_MADE_SWAPPED);
}
END_TEST

START_TEST(apply_through_o_path)
{
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "fifo", 0600), 0);
    int fd;
    struct stat st;
    ck_assert_int_eq(hs_open_made(tu_tmpfd, "fifo", S_IFIFO, geteuid(), &fd, &st), 0);
    struct stat want = st;
    want.st_mode = S_IFIFO | 04751;
    want.st_mtim = (struct timespec){1000000000, 5};
    want.st_atim = (struct timespec){900000000, 7};
    struct hs_meta_result res;
    ck_assert_int_eq(
        hs_meta_apply((struct hs_xobj){.fd = fd, .opath = true}, &want, &st, NULL, false, &res), 0);
    close(fd);
    struct stat now = tu_lstat("fifo");
    ck_assert_uint_eq(now.st_mode, S_IFIFO | 04751);
    ck_assert_int_eq(now.st_mtim.tv_sec, 1000000000);
    ck_assert_int_eq(now.st_mtim.tv_nsec, 5);
    ck_assert_int_eq(now.st_atim.tv_sec, 900000000);
}
END_TEST

START_TEST(symlink_itself_never_its_target)
{
    tu_write("victim", "x", 1);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "victim", 0600, 0), 0);
    struct stat vst = tu_lstat("victim");
    ck_assert_int_eq(symlinkat("victim", tu_tmpfd, "link"), 0);
    int fd;
    struct stat st;
    ck_assert_int_eq(hs_open_made(tu_tmpfd, "link", S_IFLNK, geteuid(), &fd, &st), 0);
    struct stat want = st;
    want.st_mtim = want.st_atim = (struct timespec){1000000000, 0};
    struct hs_meta_result res;
    ck_assert_int_eq(hs_meta_apply((struct hs_xobj){.fd = fd, .opath = true}, &want, &st, NULL,
                                   geteuid() == 0, &res),
                     0);
    close(fd);
    ck_assert_int_eq(tu_lstat("link").st_mtim.tv_sec, 1000000000);
    struct stat after = tu_lstat("victim");
    ck_assert_uint_eq(after.st_mode, vst.st_mode);
    ck_assert_int_eq(after.st_mtim.tv_sec, vst.st_mtim.tv_sec);
    ck_assert_int_eq(after.st_ctim.tv_sec, vst.st_ctim.tv_sec); /* nothing changed it */
    ck_assert_int_eq(after.st_ctim.tv_nsec, vst.st_ctim.tv_nsec);
}
END_TEST

START_TEST(xattrs_through_o_path)
{
    tu_write("f", "", 0);
    TU_NEED(setxattr(tu_path("f"), "user.probe", "1", 1, 0) == 0,
            "the temp dir's filesystem has no user xattrs");
    int fd = openat(tu_tmpfd, "f", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct hs_xattrs x = {0};
    const char *names[] = {"user.k"};
    const void *values[] = {"v"};
    size_t sizes[] = {1};
    ck_assert_int_eq(hs_xattr_set(&x, names, values, sizes, 1, false), 0);
    ck_assert_int_eq(hs_xattr_apply(&x, (struct hs_xobj){.fd = fd, .opath = true}, false), 0);
    ck_assert_int_eq(hs_xattr_read(&x, (struct hs_xobj){.fd = fd, .opath = true}, false), 0);
    ck_assert_uint_eq(x.count, 2); /* user.k and user.probe */
    close(fd);
    char v[4];
    ck_assert_int_eq(getxattr(tu_path("f"), "user.k", v, sizeof v), 1);
    hs_xattrs_free(&x);
}
END_TEST

START_TEST(never_by_name)
{
    tu_write("f", "", 0);
    struct hs_xobj byname = {.fd = -1, .dirfd = tu_tmpfd, .name = "f"};
    struct stat want = tu_lstat("f");
    want.st_mode = S_IFREG | 04777;
    struct hs_meta_result res;
    ck_assert_int_eq(hs_meta_apply(byname, &want, NULL, NULL, false, &res), -EBADF);
    struct hs_xattrs x = {0};
    ck_assert_int_eq(hs_xattr_apply(&x, byname, false), -EBADF);
    ck_assert_uint_ne(tu_lstat("f").st_mode & 07777, 04777);
}
END_TEST

/* The owner our creations get here: ours on a file system that keeps it,
 * learnt from a file nobody else could have made, which is gone after. */
START_TEST(made_uid_is_ours_and_leaves_nothing)
{
    ck_assert_uint_eq(hs_made_uid(tu_tmpfd), geteuid());
    int dup_fd = openat(tu_tmpfd, ".", O_RDONLY | O_DIRECTORY);
    char buf[4096];
    long n = getdents64(dup_fd, buf, sizeof buf), names = 0;
    for (long at = 0; at < n;) {
        struct dirent64 *d = (struct dirent64 *)(buf + at);
        at += d->d_reclen;
        names += strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
    }
    close(dup_fd);
    ck_assert_int_eq(names, 0);
}
END_TEST

/* Set-ID bits only where the owner is the original's: a setuid file of
 * uid 1234 made by someone who is not uid 1234 (and cannot chown) is no
 * setuid file of theirs; one whose owner matches keeps them. */
START_TEST(setid_only_with_the_owner)
{
    tu_write("f", "x", 1);
    int fd = openat(tu_tmpfd, "f", O_RDWR);
    struct stat now = tu_lstat("f"), want = now;
    struct hs_meta_result res;
    want.st_mode = S_IFREG | 06755;
    ck_assert_int_eq(hs_meta_apply((struct hs_xobj){.fd = fd}, &want, &now, NULL, false, &res), 0);
    ck_assert_uint_eq(tu_lstat("f").st_mode & 07777, 06755);
    want.st_uid = now.st_uid + 1234;
    ck_assert_int_eq(hs_meta_apply((struct hs_xobj){.fd = fd}, &want, &now, NULL, false, &res), 0);
    ck_assert_uint_eq(tu_lstat("f").st_mode & 07777, 02755);
    want.st_gid = now.st_gid + 1234;
    ck_assert_int_eq(hs_meta_apply((struct hs_xobj){.fd = fd}, &want, NULL, NULL, false, &res), 0);
    ck_assert_uint_eq(tu_lstat("f").st_mode & 07777, 0755);
    close(fd);
}
END_TEST

Suite *meta_suite(void)
{
    Suite *s = suite_create("meta");
    TCase *tc = tu_tcase("meta");
    tcase_add_test(tc, open_made_checks_what_is_there);
    tcase_add_test(tc, apply_through_o_path);
    tcase_add_test(tc, symlink_itself_never_its_target);
    tcase_add_test(tc, never_by_name);
    tcase_add_test(tc, made_uid_is_ours_and_leaves_nothing);
    tcase_add_test(tc, setid_only_with_the_owner);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("root");
    tcase_add_test(tc, open_made_refuses_someone_elses);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("xattr");
    tcase_add_test(tc, xattrs_through_o_path);
    suite_add_tcase(s, tc);
    return s;
}
