/* Directory listings: every name with its inode and type, found by name. */
#include "dirlist.h"
#include "manifest.h"
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_dir(const char *rel)
{
    int fd = open(tu_path(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* More names than one read of the kernel returns: all found, none made up. */
START_TEST(many_names)
{
    char name[160], rel[200];
    tu_mkdir("d");
    int dfd = open(tu_path("d"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < 2000; i++) { /* not tu_write: it runs mkdir -p each time */
        snprintf(name, sizeof name, "%0120d", i);
        int f = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(f, 0);
        close(f);
    }
    close(dfd);
    tu_mkdir("d/sub");
    ck_assert_int_eq(symlink("x", tu_path("d/link")), 0);
    ck_assert_int_eq(mkfifo(tu_path("d/fifo"), 0600), 0);
    int fd = open_dir("d");
    struct hs_dirlist l = {0};
    ck_assert_int_eq(hs_dirlist_read(&l, fd), 0);
    ck_assert_uint_eq(l.n, 2003);
    for (int i = 0; i < 2000; i += 7) {
        snprintf(name, sizeof name, "%0120d", i);
        snprintf(rel, sizeof rel, "d/%s", name);
        const struct hs_dirlist_ent *e = hs_dirlist_find(&l, name);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->ino, tu_lstat(rel).st_ino);
        ck_assert_int_eq(e->type, DT_REG);
    }
    ck_assert_int_eq(hs_dirlist_find(&l, "sub")->type, DT_DIR);
    ck_assert_int_eq(hs_dirlist_find(&l, "link")->type, DT_LNK);
    ck_assert_int_eq(hs_dirlist_find(&l, "fifo")->type, DT_FIFO);
    ck_assert_ptr_null(hs_dirlist_find(&l, "."));
    ck_assert_ptr_null(hs_dirlist_find(&l, "absent"));
    ck_assert_ptr_null(hs_dirlist_find(&l, ""));
    hs_dirlist_free(&l);
    close(fd);
}
END_TEST

/* Still the inode and type that were recorded, or not. */
START_TEST(is_recorded)
{
    tu_write("d/f", "one", 3);
    tu_write("d/g", "two", 3);
    uint64_t f = tu_lstat("d/f").st_ino, g = tu_lstat("d/g").st_ino;
    int fd = open_dir("d");
    struct hs_dirlist l = {0};
    ck_assert_int_eq(hs_dirlist_read(&l, fd), 0);
    ck_assert(hs_dirlist_is(&l, fd, "f", f, DT_REG));
    ck_assert(!hs_dirlist_is(&l, fd, "f", g, DT_REG));
    ck_assert(!hs_dirlist_is(&l, fd, "f", f, DT_FIFO));
    ck_assert(!hs_dirlist_is(&l, fd, "absent", f, DT_REG));
    /* an entry made after the listing was read: the filesystem is asked */
    tu_write("d/h", "three", 5);
    ck_assert(hs_dirlist_is(&l, fd, "h", tu_lstat("d/h").st_ino, DT_REG));
    /* an inode the listing names wrongly is asked again before "no" */
    struct hs_dirlist_ent *e = (struct hs_dirlist_ent *)hs_dirlist_find(&l, "g");
    e->ino = f;
    ck_assert(hs_dirlist_is(&l, fd, "g", g, DT_REG));
    hs_dirlist_free(&l);
    close(fd);
    ck_assert_int_eq(hs_dtype_of(S_IFSOCK | 0600), DT_SOCK);
    ck_assert_int_eq(hs_dtype_of_ftype(HS_FT_BLK), DT_BLK);
    ck_assert_int_eq(hs_dtype_of_ftype(99), DT_UNKNOWN);
}
END_TEST

Suite *dirlist_suite(void)
{
    Suite *s = suite_create("dirlist");
    TCase *tc = tu_tcase("dirlist");
    tcase_add_test(tc, many_names);
    tcase_add_test(tc, is_recorded);
    suite_add_tcase(s, tc);
    return s;
}
