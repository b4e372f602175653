/* Manifest records against the tree they describe, in walk order. */
#include "mcheck.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct hs_mentry rec_of(const char *path)
{
    struct stat st = tu_lstat(path);
    struct hs_mentry m = {0};
    hs_mentry_from_stat(&m, &st);
    m.path = path + 2; /* "s/" */
    m.path_len = strlen(m.path);
    m.sino = st.st_ino;
    return m;
}

START_TEST(records_against_tree)
{
    tu_write("s/a", "1", 1);
    tu_write("s/b/c/d", "2", 1);
    tu_write("s/b/c/e", "3", 1);
    tu_write("s/b/f", "4", 1);
    tu_write("s/g", "5", 1);
    tu_write("s/h", "6", 1);
    const char *paths[] = {"s/a", "s/b", "s/b/c", "s/b/c/d", "s/b/c/e", "s/b/f", "s/g", "s/h"};
    struct hs_mentry recs[8];
    for (int i = 0; i < 8; i++)
        recs[i] = rec_of(paths[i]);
    /* the manifest "written" now: the changes below come after it, and
     * the directories they touch are listed despite the seal */
    struct timespec seal;
    ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &seal), 0);
    struct timespec tick = {0, 20 * 1000 * 1000}; /* past the coarse clock's tick */
    nanosleep(&tick, NULL);
    /* e replaced by another file (a new inode while the old one lives),
     * g by a fifo, h gone */
    tu_write("s/b/c/e.new", "3", 1);
    ck_assert_int_eq(renameat(tu_tmpfd, "s/b/c/e.new", tu_tmpfd, "s/b/c/e"), 0);
    ck_assert_int_eq(unlink(tu_path("s/g")), 0);
    ck_assert_int_eq(mkfifo(tu_path("s/g"), 0644), 0);
    ck_assert_int_eq(unlink(tu_path("s/h")), 0);

    int root = open(tu_path("s"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct hs_mcheck *c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_mcheck_open(&c, root, &seal, &e), 0);
    int want[8] = {1, 1, 1, 1, 0, 1, 0, -ENOENT};
    for (int i = 0; i < 8; i++) {
        struct stat st;
        int dirfd = -1;
        const char *name = NULL;
        int k = hs_mcheck_record(c, &recs[i], &st, &dirfd, &name);
        ck_assert_msg(k == want[i], "%s: %d, expected %d", paths[i], k, want[i]);
        if (k == 0) {
            /* what the tree holds there, and where to read it */
            struct stat again;
            ck_assert_int_eq(fstatat(dirfd, name, &again, AT_SYMLINK_NOFOLLOW), 0);
            ck_assert_uint_eq(again.st_ino, st.st_ino);
            ck_assert_uint_eq(st.st_ino, tu_lstat(paths[i]).st_ino);
        }
    }
    hs_mcheck_free(c);
}
END_TEST

/* A directory unchanged since the manifest was written (its ctime older
 * than the seal) is trusted without a listing; one changed after is not. */
START_TEST(sealed_directories)
{
    tu_write("s/a/f", "1", 1);
    tu_write("s/b/g", "2", 1);
    struct hs_mentry f = rec_of("s/a/f"), g = rec_of("s/b/g");
    struct timespec tick = {0, 20 * 1000 * 1000}, seal;
    nanosleep(&tick, NULL);
    ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &seal), 0);
    nanosleep(&tick, NULL);
    /* b changed after the seal: g replaced */
    tu_write("s/b/g.new", "2", 1);
    ck_assert_int_eq(renameat(tu_tmpfd, "s/b/g.new", tu_tmpfd, "s/b/g"), 0);
    int root = open(tu_path("s"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct hs_mcheck *c;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_mcheck_open(&c, root, &seal, &e), 0);
    struct stat st;
    int dirfd;
    const char *name;
    ck_assert_int_eq(hs_mcheck_record(c, &f, &st, &dirfd, &name), 1);
    ck_assert_int_eq(hs_mcheck_record(c, &g, &st, &dirfd, &name), 0);
    hs_mcheck_free(c);
}
END_TEST

Suite *mcheck_suite(void)
{
    Suite *s = suite_create("mcheck");
    TCase *tc = tu_tcase("mcheck");
    tcase_add_test(tc, records_against_tree);
    tcase_add_test(tc, sealed_directories);
    suite_add_tcase(s, tc);
    return s;
}
