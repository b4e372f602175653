/* fsutil: tree removal and links below a root, for paths of any length. */
#include "fsutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(remove_tree_does_not_follow)
{
    tu_write("victim/a/b/c", "x", 1);
    tu_write("victim/f", "x", 1);
    tu_write("outside/keep", "x", 1);
    ck_assert_int_eq(symlinkat("../outside", tu_tmpfd, "victim/a/link"), 0);
    ck_assert_int_eq(mkfifoat(tu_tmpfd, "victim/fifo", 0600), 0);
    struct hs_err e = {0};
    ck_assert_int_eq(hs_remove_tree(tu_tmpfd, "victim", &e), 0);
    struct stat st;
    ck_assert_int_ne(fstatat(tu_tmpfd, "victim", &st, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_file_eq("outside/keep", "x", 1);
    ck_assert_int_eq(hs_remove_tree(tu_tmpfd, "victim", &e), 0); /* already gone: fine */
}
END_TEST

/* Builds DEPTH levels of 100-byte names below dirfd; returns the deepest fd. */
static int deep(int dirfd, int depth, char *rel, size_t cap)
{
    char name[101];
    memset(name, 'n', 100);
    name[100] = '\0';
    int cur = dup(dirfd);
    rel[0] = '\0';
    for (int i = 0; i < depth; i++) {
        ck_assert_int_eq(mkdirat(cur, name, 0755), 0);
        int next = openat(cur, name, O_RDONLY | O_DIRECTORY);
        close(cur);
        cur = next;
        if (i)
            strncat(rel, "/", cap - strlen(rel) - 1);
        strncat(rel, name, cap - strlen(rel) - 1);
    }
    return cur;
}

START_TEST(deep_links_and_removal)
{
    static char rel[8192];
    tu_mkdir("root");
    int root = openat(tu_tmpfd, "root", O_RDONLY | O_DIRECTORY);
    int bottom = deep(root, 50, rel, sizeof rel); /* ~5 KB of path */
    ck_assert_uint_gt(strlen(rel), PATH_MAX);
    int f = openat(bottom, "leader", O_WRONLY | O_CREAT, 0644);
    close(f);
    strncat(rel, "/leader", sizeof rel - strlen(rel) - 1);
    ck_assert_int_eq(hs_link_beneath(root, rel, strlen(rel), tu_tmpfd, "follower"), 0);
    struct stat a, b;
    ck_assert_int_eq(fstatat(bottom, "leader", &a, 0), 0);
    ck_assert_int_eq(fstatat(tu_tmpfd, "follower", &b, 0), 0);
    ck_assert_uint_eq(a.st_ino, b.st_ino);
    ck_assert_int_eq(hs_link_beneath(root, "missing/x", 9, tu_tmpfd, "y"), -ENOENT);
    close(bottom);
    struct hs_err e = {0};
    ck_assert_int_eq(hs_remove_tree(tu_tmpfd, "root", &e), 0);
    close(root);
    ck_assert_int_ne(fstatat(tu_tmpfd, "root", &a, AT_SYMLINK_NOFOLLOW), 0);
}
END_TEST

START_TEST(open_dir_beneath_refuses_symlinks)
{
    tu_mkdir("r/real");
    ck_assert_int_eq(symlinkat("real", tu_tmpfd, "r/alias"), 0);
    int r = openat(tu_tmpfd, "r", O_RDONLY | O_DIRECTORY);
    int fd = hs_open_dir_beneath(r, "real", 4);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_lt(hs_open_dir_beneath(r, "alias", 5), 0);
    close(r);
}
END_TEST

/* A snapshot keeps its source's modes: an unprivileged owner must still be
 * able to remove read-only and inaccessible directories of its own trees. */
START_TEST(removes_read_only_dirs_without_root)
{
    if (geteuid() != 0)
        return; /* needs root to become another user */
    tu_write("t/ro/a/file", "x", 1);
    tu_write("t/ro/b/file", "x", 1);
    tu_mkdir("t/closed");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "chown -R 65534:65534 '%s/t'", tu_tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "t/ro/a", 0555, 0), 0);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "t/ro", 0555, 0), 0);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "t/closed", 0, 0), 0);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "t", 0500, 0), 0);
    ck_assert_int_eq(fchmod(tu_tmpfd, 0777), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct hs_err e = {0};
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        _exit(hs_remove_tree(tu_tmpfd, "t", &e) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    struct stat st;
    ck_assert_int_ne(fstatat(tu_tmpfd, "t", &st, AT_SYMLINK_NOFOLLOW), 0);
}
END_TEST

Suite *fsutil_suite(void)
{
    Suite *s = suite_create("fsutil");
    TCase *tc = tu_tcase("fsutil");
    tcase_add_test(tc, remove_tree_does_not_follow);
    tcase_add_test(tc, deep_links_and_removal);
    tcase_add_test(tc, open_dir_beneath_refuses_symlinks);
    tcase_add_test(tc, removes_read_only_dirs_without_root);
    suite_add_tcase(s, tc);
    return s;
}
