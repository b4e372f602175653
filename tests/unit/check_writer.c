/* The tree writer: a tree made beneath its top only, links by part for any
 * depth, a branch of any depth on a bounded number of fds, metadata by fd. */
#include "testutil.h"
#include "writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static struct hs_backup_stats stats;

struct fixture {
    struct hs_writer w;
    struct hs_report rep;
    struct hs_err e;
};

static void start(struct fixture *f, bool shared, const char *root)
{
    memset(f, 0, sizeof *f);
    memset(&stats, 0, sizeof stats);
    hs_report_start(&f->rep, NULL, NULL, &stats);
    struct hs_writer_opts o = {.shared = shared};
    hs_writer_init(&f->w, &o, &f->rep, &f->e);
    ck_assert_int_eq(hs_writer_make_root(&f->w, tu_tmpfd, root, root), 0);
    ck_assert_int_eq(hs_writer_enter_root(&f->w), 0);
}

static void stop(struct fixture *f)
{
    hs_writer_free(&f->w);
    hs_err_clear(&f->e);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* A tree deeper than PATH_MAX and than the fd budget, made by path (as an
 * import does), on a bounded number of fds; a later name is linked to a
 * file at the bottom, in a private tree and in a shared one. */
START_TEST(goto_any_depth_bounded_fds)
{
    enum { DEPTH = 300 };
    static char dir[DEPTH * 21 + 1];
    dir[0] = '\0';
    for (int i = 0; i < DEPTH; i++)
        strcat(strcat(dir, i ? "/" : ""), "a-twenty-byte-name-0");
    ck_assert_uint_gt(strlen(dir), PATH_MAX);
    for (int shared = 0; shared < 2; shared++) {
        struct fixture f;
        const char *root = shared ? "shared" : "private";
        start(&f, shared, root);
        int before = open_fds();
        int top = hs_writer_goto(&f.w, dir, strlen(dir), NULL, NULL);
        ck_assert_int_ge(top, 0);
        ck_assert_int_le(open_fds() - before, HS_DIRSTACK_OPEN_MAX + 2);
        int fd = hs_writer_file(&f.w, "leader", "leader");
        ck_assert_int_ge(fd, 0);
        close(fd);
        struct stat leader;
        ck_assert_int_eq(fstatat(top, "leader", &leader, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert_int_ge(hs_writer_goto(&f.w, "", 0, NULL, NULL), 0);
        ck_assert_uint_eq(hs_writer_depth(&f.w), 1);
        char rel[sizeof dir + 8];
        snprintf(rel, sizeof rel, "%s/leader", dir);
        ck_assert_int_eq(hs_writer_link_path(&f.w, rel, strlen(rel), "member", &leader, "member"),
                         HS_DONE);
        struct stat m = tu_lstat(shared ? "shared/member" : "private/member");
        ck_assert_uint_eq(m.st_ino, leader.st_ino);
        stop(&f);
    }
}
END_TEST

/* Components hs_writer_goto() makes are told; what is not a directory of
 * ours on the way is refused, never followed. */
START_TEST(goto_refuses_symlinks_and_files)
{
    struct fixture f;
    start(&f, false, "t");
    ck_assert_int_ge(hs_writer_goto(&f.w, "a/b", 3, NULL, NULL), 0);
    ck_assert(S_ISDIR(tu_lstat("t/a/b").st_mode));
    tu_mkdir("elsewhere");
    ck_assert_int_eq(symlinkat("../elsewhere", tu_tmpfd, "t/a/link"), 0);
    tu_write("t/a/file", "x", 1);
    ck_assert_int_eq(hs_writer_goto(&f.w, "a/link/x", 8, NULL, NULL), -ENOTDIR);
    ck_assert_int_eq(hs_writer_goto(&f.w, "a/file/x", 8, NULL, NULL), -ENOTDIR);
    struct stat st;
    ck_assert_int_ne(fstatat(tu_tmpfd, "elsewhere/x", &st, AT_SYMLINK_NOFOLLOW), 0);
    stop(&f);
}
END_TEST

static int count_made(void *user, const char *path, size_t len, const struct stat *st)
{
    (void)path;
    (void)len;
    ck_assert(S_ISDIR(st->st_mode));
    ++*(int *)user;
    return 0;
}

START_TEST(goto_tells_what_it_made)
{
    struct fixture f;
    start(&f, false, "t");
    int made = 0;
    ck_assert_int_ge(hs_writer_goto(&f.w, "a/b/c", 5, count_made, &made), 0);
    ck_assert_int_eq(made, 3);
    ck_assert_int_ge(hs_writer_goto(&f.w, "a/b/d", 5, count_made, &made), 0);
    ck_assert_int_eq(made, 4);
    stop(&f);
}
END_TEST

/* In a shared tree the first name of a group may be replaced: the link must
 * lead to the inode expected, else none is left. */
START_TEST(link_path_checks_the_inode)
{
    struct fixture f;
    start(&f, true, "t");
    int fd = hs_writer_file(&f.w, "first", "first");
    close(fd);
    struct stat first = tu_lstat("t/first");
    /* kept elsewhere, so its inode number is not reused at once */
    ck_assert_int_eq(renameat(tu_tmpfd, "t/first", tu_tmpfd, "kept"), 0);
    tu_write("t/first", "someone else's", 14);
    ck_assert_int_eq(hs_writer_link_path(&f.w, "first", 5, "second", &first, "second"), HS_NO_LINK);
    struct stat st;
    ck_assert_int_ne(fstatat(tu_tmpfd, "t/second", &st, AT_SYMLINK_NOFOLLOW), 0);
    /* a symlink on the way: not followed, a copy must do */
    tu_mkdir("elsewhere");
    tu_write("elsewhere/f", "x", 1);
    ck_assert_int_eq(symlinkat("../elsewhere", tu_tmpfd, "t/d"), 0);
    ck_assert_int_eq(hs_writer_link_path(&f.w, "d/f", 3, "third", NULL, "third"), HS_NO_LINK);
    ck_assert_int_ne(fstatat(tu_tmpfd, "t/third", &st, AT_SYMLINK_NOFOLLOW), 0);
    stop(&f);
}
END_TEST

/* The device-node policy lives here: without root, skipped with a warning. */
START_TEST(devices_need_root)
{
    struct fixture f;
    start(&f, false, "t");
    f.w.root = false;
    ck_assert_int_eq(hs_writer_can_make(&f.w, S_IFCHR | 0600, "dev"), HS_SKIPPED);
    ck_assert_uint_eq(stats.warnings, 1);
    ck_assert_int_eq(hs_writer_can_make(&f.w, S_IFIFO | 0600, "fifo"), HS_DONE);
    struct stat want = {.st_mode = S_IFCHR | 0644};
    int fd;
    struct stat made;
    ck_assert_int_eq(hs_writer_special(&f.w, "dev", &want, NULL, "dev", &fd, &made), HS_SKIPPED);
    ck_assert_int_eq(fd, -1);
    stop(&f);
}
END_TEST

/* Objects are made private, given their metadata by fd; a replacement goes
 * in under a name of our own and is renamed over the old entry. */
START_TEST(special_meta_and_install)
{
    struct fixture f;
    start(&f, false, "t");
    struct stat want = {.st_mode = S_IFIFO | 0640, .st_uid = geteuid(), .st_gid = getegid()};
    want.st_mtim.tv_sec = want.st_atim.tv_sec = 1000000000;
    int fd;
    struct stat made;
    ck_assert_int_eq(hs_writer_special(&f.w, "fifo", &want, NULL, "fifo", &fd, &made), HS_DONE);
    ck_assert_int_eq(made.st_mode & 07777, 0600); /* private until set */
    ck_assert_int_eq(
        hs_writer_meta(&f.w, (struct hs_xobj){.fd = fd, .opath = true}, &want, &made, NULL, "fifo"),
        0);
    close(fd);
    struct stat st = tu_lstat("t/fifo");
    ck_assert_int_eq(st.st_mode, want.st_mode);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1000000000);
    tu_write("t/old", "old", 3);
    struct stat old = tu_lstat("t/old");
    char tmp[64];
    hs_writer_tmp_name(&f.w, tmp, sizeof tmp);
    struct stat lwant = {.st_mode = S_IFLNK | 0777};
    ck_assert_int_eq(hs_writer_special(&f.w, tmp, &lwant, "target", "old", &fd, &made), HS_DONE);
    close(fd);
    ck_assert_int_eq(hs_writer_install(&f.w, tmp, "old", "old"), HS_DONE);
    st = tu_lstat("t/old");
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_uint_ne(st.st_ino, old.st_ino);
    tu_mkdir("t/dir");
    fd = hs_writer_file(&f.w, hs_writer_tmp_name(&f.w, tmp, sizeof tmp), "dir");
    close(fd);
    ck_assert_int_eq(hs_writer_install(&f.w, tmp, "dir", "dir"), HS_SKIPPED);
    ck_assert(S_ISDIR(tu_lstat("t/dir").st_mode));
    stop(&f);
}
END_TEST

/* Walk order: a directory is held from its ENTRY to its ENTER, and gets its
 * metadata when it is left, after its contents. */
START_TEST(directory_metadata_after_contents)
{
    struct fixture f;
    start(&f, false, "t");
    ck_assert_int_eq(hs_writer_mkdir(&f.w, "d", "d"), HS_DONE);
    ck_assert_int_eq(hs_writer_mkdir(&f.w, "d", "d"), -EEXIST);
    hs_err_clear(&f.e);
    ck_assert_int_eq(hs_writer_enter(&f.w), 0);
    ck_assert_uint_eq(hs_writer_depth(&f.w), 2);
    int fd = hs_writer_file(&f.w, "inside", "d/inside");
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct stat want = {.st_mode = S_IFDIR | 0555, .st_uid = geteuid(), .st_gid = getegid()};
    want.st_mtim.tv_sec = want.st_atim.tv_sec = 1234567890;
    ck_assert_int_eq(hs_writer_leave(&f.w, &want, NULL, "d"), 0);
    struct stat st = tu_lstat("t/d");
    ck_assert_int_eq(st.st_mode, want.st_mode);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1234567890);
    /* an unentered directory is finished from what its ENTRY said */
    ck_assert_int_eq(hs_writer_mkdir(&f.w, "e", "e"), HS_DONE);
    ck_assert_int_eq(hs_writer_finish_held(&f.w, &want, NULL, "e"), 0);
    ck_assert_int_eq(tu_lstat("t/e").st_mode, want.st_mode);
    ck_assert_int_eq(chmod(tu_path("t/d"), 0755), 0);
    stop(&f);
}
END_TEST

Suite *writer_suite(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tu_tcase("writer");
    tcase_add_test(tc, goto_any_depth_bounded_fds);
    tcase_add_test(tc, goto_refuses_symlinks_and_files);
    tcase_add_test(tc, goto_tells_what_it_made);
    tcase_add_test(tc, link_path_checks_the_inode);
    tcase_add_test(tc, devices_need_root);
    tcase_add_test(tc, special_meta_and_install);
    tcase_add_test(tc, directory_metadata_after_contents);
    suite_add_tcase(s, tc);
    return s;
}
