/* fsutil: tree removal and links below a root, for paths of any length. */
#include "fsutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
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
    /* the top itself a symlink to a directory: only the link goes */
    ck_assert_int_eq(symlinkat("outside", tu_tmpfd, "top"), 0);
    ck_assert_int_eq(hs_remove_tree(tu_tmpfd, "top", &e), 0);
    ck_assert_int_ne(fstatat(tu_tmpfd, "top", &st, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_file_eq("outside/keep", "x", 1);
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

START_TEST(deep_removal)
{
    static char rel[8192];
    tu_mkdir("root");
    int root = openat(tu_tmpfd, "root", O_RDONLY | O_DIRECTORY);
    int bottom = deep(root, 50, rel, sizeof rel); /* ~5 KB of path */
    ck_assert_uint_gt(strlen(rel), PATH_MAX);
    int f = openat(bottom, "leader", O_WRONLY | O_CREAT, 0644);
    close(f);
    struct stat a;
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
    TU_NEED(geteuid() == 0, "needs root to become another user");
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

/* Runs fn in a child as an unprivileged user (nobody, when we are root);
 * returns its exit status. */
static int as_user(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(99);
        _exit(fn());
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Swaps t/c and s/l until killed or one is gone; says when it has begun. */
static void swap_forever(int t, int sdir, int ready)
{
    bool told = false;
    while (renameat2(t, "c", sdir, "l", RENAME_EXCHANGE) == 0) {
        if (!told)
            told = write(ready, "x", 1) == 1;
    }
    _exit(0);
}

/* One round: t/c a closed directory of ours (mode 0200: it can still move,
 * which rewrites its "..") swapped all along the removal of t with s/l, a
 * symlink to ../victim. 1 if victim's mode changed. */
static int swap_round(void)
{
    struct stat st;
    int ready[2];
    if (mkdirat(tu_tmpfd, "t", 0755) < 0 || mkdirat(tu_tmpfd, "t/c", 0200) < 0 ||
        mkdirat(tu_tmpfd, "s", 0755) < 0 || symlinkat("../victim", tu_tmpfd, "s/l") < 0 ||
        pipe(ready) < 0)
        return 2;
    int t = openat(tu_tmpfd, "t", O_RDONLY | O_DIRECTORY);
    int sdir = openat(tu_tmpfd, "s", O_RDONLY | O_DIRECTORY);
    pid_t racer = fork();
    if (racer == 0)
        swap_forever(t, sdir, ready[1]);
    close(ready[1]);
    char c;
    bool started = read(ready[0], &c, 1) == 1;
    struct hs_err e = {0};
    hs_remove_tree(tu_tmpfd, "t", &e);
    kill(racer, SIGKILL);
    waitpid(racer, NULL, 0);
    close(t);
    close(sdir);
    close(ready[0]);
    hs_err_clear(&e);
    if (!started || hs_remove_tree(tu_tmpfd, "t", &e) < 0 || hs_remove_tree(tu_tmpfd, "s", &e) < 0)
        return 3;
    if (fstatat(tu_tmpfd, "victim", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 4;
    return (st.st_mode & 07777) != 0755;
}

static int swap_rounds(void)
{
    if (mkdirat(tu_tmpfd, "victim", 0755) < 0)
        return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 500; i++) {
        int r = swap_round();
        if (r)
            return r;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 3) /* enough on a busy machine */
            break;
    }
    return 0;
}

/* A directory that must be opened up is changed through an fd of what was
 * checked: a symlink swapped in for it is never followed (the victim's mode
 * would become 0700). */
START_TEST(closed_dir_swapped_for_symlink)
{
    ck_assert_int_eq(fchmod(tu_tmpfd, 0777), 0);
    ck_assert_int_eq(as_user(swap_rounds), 0);
}
END_TEST

static int closed_by_other(void)
{
    struct hs_err e = {0};
    int r = hs_remove_tree_in(tu_tmpfd, "t", "W", &e);
    struct stat st;
    int ok = r == -EACCES && e.msg &&
             strcmp(e.msg, "cannot open: W/t/theirs: Permission denied") == 0 &&
             fstatat(tu_tmpfd, "t/mine", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
             fstatat(tu_tmpfd, "t/theirs", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
             (st.st_mode & 07777) == 0700;
    if (!ok)
        fprintf(stderr, "closed_by_other: %d %s\n", r, e.msg ? e.msg : "(no message)");
    hs_err_clear(&e);
    return ok ? 0 : 1;
}

/* Someone else's closed directory cannot be entered: named, left as it is
 * (its mode too), the rest removed. */
START_TEST(dir_that_cannot_be_entered)
{
    TU_NEED(geteuid() == 0, "needs root to be two users");
    tu_write("t/mine/f", "x", 1);
    tu_write("t/theirs/f", "x", 1);
    ck_assert_int_eq(fchmodat(tu_tmpfd, "t/theirs", 0700, 0), 0);
    ck_assert_int_eq(fchownat(tu_tmpfd, "t", 65534, 65534, 0), 0);
    ck_assert_int_eq(fchownat(tu_tmpfd, "t/mine", 65534, 65534, 0), 0);
    ck_assert_int_eq(fchownat(tu_tmpfd, "t/mine/f", 65534, 65534, 0), 0);
    ck_assert_int_eq(fchmod(tu_tmpfd, 0777), 0);
    ck_assert_int_eq(as_user(closed_by_other), 0);
    ck_assert_file_eq("t/theirs/f", "x", 1);
}
END_TEST

/* The mount tests run in a mount namespace of their own: a mount a failed
 * test leaves dies with it. 77: cannot mount here. */
static int in_mount_ns(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(77);
        /* an fd opened before sees the mounts of the namespace it was opened in */
        close(tu_tmpfd);
        tu_tmpfd = open(tu_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _exit(tu_tmpfd < 0 ? 98 : fn());
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int bind(const char *from, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/%s", tu_tmp, from);
    snprintf(b, sizeof b, "%s/%s", tu_tmp, to);
    return mount(a, b, NULL, MS_BIND, NULL);
}

static bool live_intact(void)
{
    char buf[8];
    int fd = openat(tu_tmpfd, "live/sub/f", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    struct stat st;
    return n == 4 && memcmp(buf, "live", 4) == 0 && fstatat(tu_tmpfd, "livefile", &st, 0) == 0 &&
           st.st_size == 6;
}

/* Fails with fn's message unless removing name below tu_tmp gives -EBUSY,
 * a message starting with want, and leaves the live files alone. */
static int refused(const char *name, const char *want)
{
    struct hs_err e = {0};
    int r = hs_remove_tree_in(tu_tmpfd, name, "W", &e);
    int ok = r == -EBUSY && e.msg && strncmp(e.msg, want, strlen(want)) == 0 && live_intact();
    if (!ok)
        fprintf(stderr, "removing %s: %d %s\n", name, r, e.msg ? e.msg : "(no message)");
    hs_err_clear(&e);
    return ok;
}

static int mounts_left_alone(void)
{
    /* a directory and a file bind-mounted (the same st_dev), a tmpfs */
    if (bind("live", "t/a/mnt") < 0 || bind("livefile", "t/b/file") < 0 ||
        mount("hs-unit", tu_path("t/c/tmp"), "tmpfs", 0, "size=64k") < 0 || bind("live", "top") < 0)
        return 77;
    if (!refused("t/a", "not removing a mount point: W/t/a/mnt: ") ||
        !refused("t/b", "not removing a mount point: W/t/b/file: ") ||
        !refused("t/c", "not removing a mount point: W/t/c/tmp: ") ||
        !refused("top", "not removing a mount point: W/top: "))
        return 1;
    struct stat st;
    if (fstatat(tu_tmpfd, "t/a/other", &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 2; /* what is not under the mount goes */
    if (!hs_is_mount_point(tu_tmpfd, "t/a/mnt") || !hs_is_mount_point(tu_tmpfd, "t/b/file") ||
        hs_is_mount_point(tu_tmpfd, "t/a"))
        return 3;
    if (umount(tu_path("t/a/mnt")) < 0 || umount(tu_path("t/b/file")) < 0 ||
        umount(tu_path("t/c/tmp")) < 0 || umount(tu_path("top")) < 0)
        return 4;
    struct hs_err e = {0};
    if (hs_remove_tree(tu_tmpfd, "t", &e) < 0 || hs_remove_tree(tu_tmpfd, "top", &e) < 0 ||
        !live_intact())
        return 5;
    return 0;
}

/* Removal never enters a mount point, whatever its st_dev. */
START_TEST(remove_tree_leaves_mounts_alone)
{
    TU_NEED(geteuid() == 0, "needs root to mount");
    tu_write("live/sub/f", "live", 4);
    tu_write("livefile", "single", 6);
    tu_mkdir("t/a/mnt");
    tu_write("t/a/other", "x", 1);
    tu_write("t/b/file", "", 0);
    tu_mkdir("t/c/tmp");
    tu_mkdir("top");
    int r = in_mount_ns(mounts_left_alone);
    TU_NEED(r != 77, "cannot mount here (no mount namespace, bind mount or tmpfs)");
    ck_assert_int_eq(r, 0);
    ck_assert(live_intact());
}
END_TEST

/* hs_open_dir_trusted of tu_tmp/rel: the fd's inode, or -errno. */
static long long trusted(const char *rel, int *parent, char *last, struct hs_err *e)
{
    int fd = hs_open_dir_trusted(tu_path(rel), parent, last, e);
    if (fd < 0)
        return fd;
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    return (long long)st.st_ino;
}

/* TARGET-like paths: symlinks of our own are followed (relative, absolute,
 * "..", several in a row), a missing last component gives its parent, a
 * loop ends. */
START_TEST(open_dir_trusted_resolves)
{
    tu_mkdir("t/a/b");
    tu_mkdir("t/c");
    ck_assert_int_eq(symlink("a/b", tu_path("t/ab")), 0);
    char abs_a[PATH_MAX];
    snprintf(abs_a, sizeof abs_a, "%s", tu_path("t/a")); /* tu_path's buffer is shared */
    ck_assert_int_eq(symlink(abs_a, tu_path("t/abs")), 0);
    ck_assert_int_eq(symlink("ab/..", tu_path("t/up")), 0);
    ck_assert_int_eq(symlink("loop2", tu_path("t/loop1")), 0);
    ck_assert_int_eq(symlink("loop1", tu_path("t/loop2")), 0);
    tu_write("t/file", "x", 1);
    int parent = -1;
    char last[NAME_MAX + 1];
    struct hs_err e = {0};
    long long b = (long long)tu_lstat("t/a/b").st_ino, a = (long long)tu_lstat("t/a").st_ino;
    ck_assert_int_eq(trusted("t/ab", &parent, last, &e), b);
    ck_assert_int_eq(trusted("t/abs/b/", &parent, last, &e), b);
    ck_assert_int_eq(trusted("t/up", &parent, last, &e), a); /* .. of a/b, as the kernel */
    ck_assert_int_eq(trusted("t/./c/../a", &parent, last, &e), a);
    ck_assert_int_eq(trusted("t/loop1", &parent, last, &e), -ELOOP);
    ck_assert_int_eq(trusted("t/file", &parent, last, &e), -ENOTDIR);
    ck_assert_int_eq(trusted("t/missing/x", &parent, last, &e), -ENOENT);
    ck_assert_int_eq(parent, -1);
    ck_assert_int_eq(trusted("t/ab/new", &parent, last, &e), -ENOENT);
    ck_assert_int_ge(parent, 0);
    ck_assert_str_eq(last, "new");
    struct stat st;
    ck_assert_int_eq(fstat(parent, &st), 0);
    ck_assert_int_eq((long long)st.st_ino, b);
    close(parent);
    ck_assert_ptr_null(e.msg);
}
END_TEST

/* As root, a symlink another user owns is not followed, wherever it is on
 * the way: named in a usage error. */
START_TEST(open_dir_trusted_refuses_others_symlinks)
{
    TU_NEED(geteuid() == 0, "only root meets symlinks it must not trust");
    tu_mkdir("u/home/bob");
    tu_mkdir("u/etc");
    ck_assert_int_eq(symlink("../../etc", tu_path("u/home/bob/restored")), 0);
    ck_assert_int_eq(lchown(tu_path("u/home/bob/restored"), 65534, 65534), 0);
    int parent = -1;
    char last[NAME_MAX + 1];
    struct hs_err e = {0};
    ck_assert_int_eq(trusted("u/home/bob/restored", &parent, last, &e), -EPERM);
    ck_assert_int_eq(e.kind, HS_USAGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "u/home/bob/restored"));
    hs_err_clear(&e);
    ck_assert_int_eq(trusted("u/home/bob/restored/x", &parent, last, &e), -EPERM);
    ck_assert_int_eq(parent, -1);
    hs_err_clear(&e);
    /* root's own symlink is followed */
    ck_assert_int_eq(lchown(tu_path("u/home/bob/restored"), 0, 0), 0);
    ck_assert_int_eq(trusted("u/home/bob/restored", &parent, last, &e),
                     (long long)tu_lstat("u/etc").st_ino);
}
END_TEST

/* etc/ok.conf, as a config file should be: 0644 in a 0755 directory. */
static void make_etc(void)
{
    tu_mkdir("etc");
    ck_assert_int_eq(chmod(tu_path("etc"), 0755), 0);
    tu_write("etc/ok.conf", "x", 1);
    ck_assert_int_eq(chmod(tu_path("etc/ok.conf"), 0644), 0);
}

/* A config or exclude file is opened without waiting on a fifo. */
START_TEST(steering_files)
{
    struct hs_err e = {0};
    make_etc();
    ck_assert_int_eq(mkfifo(tu_path("etc/fifo"), 0600), 0);
    int fd = hs_open_steering_file(tu_path("etc/fifo"), "cannot read config", &e);
    ck_assert_int_ge(fd, 0); /* ours; and opening it did not wait for a writer */
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 0);
    close(fd);
    fd = hs_open_steering_file(tu_path("etc/ok.conf"), "cannot read config", &e);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(hs_open_steering_file(tu_path("etc/none"), "cannot read config", &e), -ENOENT);
    ck_assert_int_eq(e.kind, HS_USAGE);
    hs_err_clear(&e);
}
END_TEST

/* A config or exclude file, as root: refused when another user could have
 * written it. */
START_TEST(steering_files_as_root)
{
    TU_NEED(geteuid() == 0, "needs root: these are what root refuses");
    struct hs_err e = {0};
    make_etc();
    char bad[PATH_MAX];
    hs_parent_unsafe(tu_path("etc/ok.conf"), bad);
    ck_assert_str_eq(bad, "");
    ck_assert_int_eq(chmod(tu_path("etc/ok.conf"), 0664), 0);
    ck_assert_int_eq(hs_open_steering_file(tu_path("etc/ok.conf"), "cannot read config", &e),
                     -EPERM);
    ck_assert_ptr_nonnull(strstr(e.msg, "writable by others"));
    hs_err_clear(&e);
    ck_assert_int_eq(chmod(tu_path("etc/ok.conf"), 0644), 0);
    ck_assert_int_eq(chown(tu_path("etc/ok.conf"), 65534, 65534), 0);
    ck_assert_int_eq(hs_open_steering_file(tu_path("etc/ok.conf"), "cannot read config", &e),
                     -EPERM);
    ck_assert_ptr_nonnull(strstr(e.msg, "owned by uid 65534"));
    hs_err_clear(&e);
    ck_assert_int_eq(chown(tu_path("etc/ok.conf"), 0, 0), 0);
    ck_assert_int_eq(chown(tu_path("etc"), 65534, 65534), 0);
    hs_parent_unsafe(tu_path("etc/ok.conf"), bad);
    ck_assert_ptr_nonnull(strstr(bad, "/etc"));
    ck_assert_int_eq(hs_open_steering_file(tu_path("etc/ok.conf"), "cannot read config", &e),
                     -EPERM);
    hs_err_clear(&e);
    ck_assert_int_eq(chown(tu_path("etc"), 0, 0), 0);
    ck_assert_int_eq(chmod(tu_path("etc"), 01777), 0); /* sticky, as /tmp: root's file stays */
    hs_parent_unsafe(tu_path("etc/ok.conf"), bad);
    ck_assert_str_eq(bad, "");
}
END_TEST

/* The parts of a path: its directory (as a length, and as a string to open)
 * and its last component. */
START_TEST(path_parts)
{
    static const struct {
        const char *path, *dir, *base;
        size_t dir_len;
    } cases[] = {
        {"a/b/c", "a/b", "c", 3}, {"c", ".", "c", 0}, {"/c", "/", "c", 0}, {"/a/c", "/a", "c", 2},
        {"a/", "a", "", 1},       {"", ".", "", 0},   {"/", "/", "", 0},   {"a//c", "a/", "c", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].path;
        size_t len = strlen(p);
        ck_assert_uint_eq(hs_path_dir_len(p, len), cases[i].dir_len);
        ck_assert_str_eq(hs_path_base(p, len), cases[i].base);
        char *d = hs_path_dirname(p, len);
        ck_assert_str_eq(d, cases[i].dir);
        free(d);
    }
    /* only the first len bytes count */
    ck_assert_uint_eq(hs_path_dir_len("a/b/c", 3), 1);
    const char *ab = "ab/c";
    ck_assert_ptr_eq(hs_path_base(ab, 2), ab);
    char *d = hs_path_dirname("x/y/z", 3);
    ck_assert_str_eq(d, "x");
    free(d);
}
END_TEST

START_TEST(open_dir_stat)
{
    tu_mkdir("d");
    tu_write("f", "x", 1);
    struct stat st, want;
    int fd = hs_open_dir_stat(tu_tmpfd, "d", &st);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstatat(tu_tmpfd, "d", &want, 0), 0);
    ck_assert(hs_stat_same_file(&st, &want));
    close(fd);
    ck_assert_int_eq(hs_open_dir_stat(tu_tmpfd, "f", &st), -ENOTDIR);
    ck_assert_int_eq(hs_open_dir_stat(tu_tmpfd, "none", &st), -ENOENT);
}
END_TEST

Suite *fsutil_suite(void)
{
    Suite *s = suite_create("fsutil");
    TCase *tc = tu_tcase("fsutil");
    tcase_add_test(tc, remove_tree_does_not_follow);
    tcase_add_test(tc, deep_removal);
    tcase_add_test(tc, open_dir_beneath_refuses_symlinks);
    tcase_add_test(tc, closed_dir_swapped_for_symlink);
    tcase_add_test(tc, open_dir_trusted_resolves);
    tcase_add_test(tc, steering_files);
    tcase_add_test(tc, path_parts);
    tcase_add_test(tc, open_dir_stat);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("root");
    tcase_add_test(tc, removes_read_only_dirs_without_root);
    tcase_add_test(tc, dir_that_cannot_be_entered);
    tcase_add_test(tc, open_dir_trusted_refuses_others_symlinks);
    tcase_add_test(tc, steering_files_as_root);
    suite_add_tcase(s, tc);
    tc = tu_tcase_needs("mount");
    tcase_add_test(tc, remove_tree_leaves_mounts_alone);
    suite_add_tcase(s, tc);
    return s;
}
