/* Trees the engine walks: the local one (the walker's items, content by fd
 * checked to be the walked file, symlink targets, a skipped directory) and
 * the carried one (a source's part of the previous snapshot, walked from
 * its manifest with the stat the manifest recorded). */
#include "carry.h"
#include "store.h"
#include "testutil.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static struct hs_tree *open_local(const char *rel)
{
    int fd = openat(tu_tmpfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    struct hs_tree *t;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_tree_open_local(&t, fd, &st, "", &e), 0);
    ck_assert(!t->remote);
    return t;
}

/* The content, target and skip of a local tree, item by item. */
START_TEST(local_items_and_content)
{
    tu_write("src/file", "hello", 5);
    tu_write("src/skipped/inner", "x", 1);
    tu_mkdir("src/zdir");
    ck_assert_int_eq(symlinkat("file", tu_tmpfd, "src/link"), 0);
    struct hs_tree *t = open_local("src");
    struct hs_walk_item it;
    struct hs_err e = {0};
    struct hs_buf target = {0};
    int files = 0, links = 0, enters = 0;
    while (t->ops->next(t, &it, &e) == 0 && it.ev != HS_WALK_END) {
        ck_assert_str_ne(it.path, "skipped/inner");
        if (it.ev == HS_WALK_ENTER)
            enters++;
        if (it.ev != HS_WALK_ENTRY)
            continue;
        if (!strcmp(it.path, "file")) {
            struct stat st, now;
            int fd = t->ops->open(t, &it, &st, &e);
            ck_assert_int_ge(fd, 0);
            ck_assert_uint_eq(st.st_ino, it.st.st_ino);
            ck_assert_int_eq(t->ops->restat(t, fd, &now), 0);
            ck_assert_int_eq(now.st_size, 5);
            close(fd);
            files++;
        } else if (!strcmp(it.path, "link")) {
            ck_assert_int_eq(t->ops->readlink(t, &it, &target), 0);
            ck_assert_str_eq(target.data, "file");
            links++;
        } else if (!strcmp(it.path, "skipped")) {
            t->ops->skip(t);
        }
    }
    ck_assert_int_eq(files, 1);
    ck_assert_int_eq(links, 1);
    ck_assert_int_eq(enters, 2); /* the root and zdir: not skipped */
    hs_buf_free(&target);
    hs_tree_free(t);
}
END_TEST

/* A file replaced after the walk saw it is not opened as if it were the
 * same one: the engine says "changed during backup (replaced)". */
START_TEST(local_open_refuses_a_replaced_file)
{
    tu_write("src/f", "one", 3);
    struct hs_tree *t = open_local("src");
    struct hs_walk_item it;
    struct hs_err e = {0};
    while (t->ops->next(t, &it, &e) == 0 && it.ev != HS_WALK_ENTRY)
        ;
    ck_assert_str_eq(it.path, "f");
    tu_write("src/f.new", "two", 3);
    ck_assert_int_eq(renameat(tu_tmpfd, "src/f.new", tu_tmpfd, "src/f"), 0);
    struct stat st;
    ck_assert_int_eq(t->ops->open(t, &it, &st, &e), -ESTALE);
    ck_assert_int_eq(unlinkat(tu_tmpfd, "src/f", 0), 0);
    ck_assert_int_eq(t->ops->open(t, &it, &st, &e), -ENOENT);
    hs_tree_free(t);
}
END_TEST

/* A source's part of a snapshot, carried: its entries are the manifest's
 * records under NAME (paths with NAME/, the source's inode numbers and
 * hashes), its content and xattrs the snapshot's files. */
START_TEST(carried_tree_is_the_manifest)
{
    tu_write("src/a", "alpha", 5);
    tu_write("src/d/b", "beta", 4);
    tu_link("src/a", "src/d/a2");
    ck_assert_int_eq(symlinkat("a", tu_tmpfd, "src/s"), 0);
    struct hs_source src = {.path = tu_path("src"), .name = "web"};
    char srcpath[4096];
    snprintf(srcpath, sizeof srcpath, "%s", tu_path("src"));
    src.path = srcpath;
    char dest[4096];
    snprintf(dest, sizeof dest, "%s", tu_path("dest"));
    struct hs_backup_opts o = {
        .sources = &src, .n_sources = 1, .dest = dest, .now = "2026-01-01T000000Z"};
    struct hs_backup_result res;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_backup(&o, &res, &e), HS_OK);
    hs_backup_result_free(&res); /* (only its name is looked at) */
    struct stat a = tu_lstat("src/a"), root = tu_lstat("dest/2026-01-01T000000Z");
    int destfd = openat(tu_tmpfd, "dest", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int mfd = openat(tu_tmpfd, "dest/.hardsnap/manifests", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(destfd, 0);
    ck_assert_int_ge(mfd, 0);
    char mname[64];
    hs_store_manifest_name(res.name, mname);
    struct hs_tree *t;
    struct stat rst;
    ck_assert_int_eq(hs_tree_open_carried(&t, mfd, mname, destfd, res.name, root.st_ino, "web",
                                          1ull << 56, &rst, &e),
                     0);
    ck_assert(S_ISDIR(rst.st_mode));
    struct hs_walk_item it;
    struct hs_buf target = {0};
    int seen = 0;
    while (t->ops->next(t, &it, &e) == 0 && it.ev != HS_WALK_END) {
        if (it.ev != HS_WALK_ENTRY)
            continue;
        seen++;
        if (!strcmp(it.path, "web/a") || !strcmp(it.path, "web/d/a2")) {
            /* the source's inode number: the pair is one group again */
            ck_assert_uint_eq(it.st.st_ino, a.st_ino);
            ck_assert_uint_eq(it.st.st_nlink, 2);
            uint8_t h[16];
            ck_assert_int_eq(t->ops->known_hash(t, &it, h), 0);
            struct stat st;
            int fd = t->ops->open(t, &it, &st, &e);
            ck_assert_int_ge(fd, 0);
            char buf[8] = {0};
            ck_assert_int_eq(read(fd, buf, sizeof buf), 5);
            ck_assert_str_eq(buf, "alpha");
            close(fd);
        }
        if (!strcmp(it.path, "web/s")) {
            ck_assert_int_eq(t->ops->readlink(t, &it, &target), 0);
            ck_assert_str_eq(target.data, "a");
        }
    }
    ck_assert_int_eq(seen, 5); /* a, d, d/a2, d/b, s */
    hs_buf_free(&target);
    hs_tree_free(t);
    /* no such source in that snapshot: nothing to carry */
    ck_assert_int_eq(
        hs_tree_open_carried(&t, mfd, mname, destfd, res.name, root.st_ino, "db", 0, &rst, &e),
        -ENOENT);
    hs_err_clear(&e);
    close(mfd);
    close(destfd);
}
END_TEST

Suite *tree_suite(void)
{
    Suite *s = suite_create("tree");
    TCase *tc = tu_tcase("tree");
    tcase_add_test(tc, local_items_and_content);
    tcase_add_test(tc, local_open_refuses_a_replaced_file);
    tcase_add_test(tc, carried_tree_is_the_manifest);
    suite_add_tcase(s, tc);
    return s;
}
