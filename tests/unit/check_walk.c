/* The walker: order, depth, and never following what changes under it. */
#include "dirstack.h"
#include "testutil.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hs_walk *open_walk(const char *rel, const char *prefix)
{
    int fd = open(tu_path(rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    struct hs_walk *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_open(&w, fd, &st, prefix, &e), 0);
    return w;
}

/* The walk as text: one line per event, e.g. "E a/b", "> a", "< a". */
static char *trace(struct hs_walk *w)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    struct hs_walk_item it;
    struct hs_err e = {0};
    out[0] = '\0';
    while (hs_walk_next(w, &it, &e) == 0 && it.ev != HS_WALK_END) {
        const char *tag = it.ev == HS_WALK_ENTRY   ? "E"
                          : it.ev == HS_WALK_ENTER ? ">"
                          : it.ev == HS_WALK_LEAVE ? "<"
                                                   : "!";
        len += (size_t)snprintf(out + len, cap - len, "%s %s\n", tag, it.path);
        ck_assert_uint_lt(len, cap);
    }
    return out;
}

START_TEST(sorted_preorder)
{
    tu_write("t/b/x", "1", 1);
    tu_write("t/a-c", "1", 1);
    tu_write("t/a/z", "1", 1);
    tu_write("t/\xc3\xa9", "1", 1);
    tu_mkdir("t/empty");
    struct hs_walk *w = open_walk("t", "");
    char *got = trace(w);
    ck_assert_str_eq(got, "> \n"
                          "E a\n> a\nE a/z\n< a\n"
                          "E a-c\n"
                          "E b\n> b\nE b/x\n< b\n"
                          "E empty\n> empty\n< empty\n"
                          "E \xc3\xa9\n"
                          "< \n");
    free(got);
    hs_walk_free(w);
}
END_TEST

START_TEST(prefix_and_skip)
{
    tu_write("t/a/z", "1", 1);
    tu_write("t/b", "1", 1);
    struct hs_walk *w = open_walk("t", "src");
    struct hs_walk_item it;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ENTER);
    ck_assert_str_eq(it.path, "src");
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_str_eq(it.path, "src/a");
    hs_walk_skip(w);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_str_eq(it.path, "src/b");
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_LEAVE);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_END);
    hs_walk_free(w);
}
END_TEST

START_TEST(symlinks_not_followed)
{
    tu_write("t/real/f", "1", 1);
    ck_assert_int_eq(symlink("/", tu_path("t/root")), 0);
    ck_assert_int_eq(symlink("real", tu_path("t/alias")), 0);
    struct hs_walk *w = open_walk("t", "");
    char *got = trace(w);
    ck_assert_str_eq(got, "> \nE alias\nE real\n> real\nE real/f\n< real\nE root\n< \n");
    free(got);
    hs_walk_free(w);
}
END_TEST

/* A directory replaced by a symlink to / between listing and opening. */
START_TEST(swapped_dir_is_not_entered)
{
    tu_write("t/d/secret", "1", 1);
    struct hs_walk *w = open_walk("t", "");
    struct hs_walk_item it;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0); /* enter root */
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ENTRY);
    ck_assert_str_eq(it.path, "d");
    ck_assert_int_eq(renameat(tu_tmpfd, "t/d", tu_tmpfd, "t/moved"), 0);
    ck_assert_int_eq(symlinkat("/", tu_tmpfd, "t/d"), 0);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ERROR);
    ck_assert_str_eq(it.path, "d");
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_LEAVE);
    hs_walk_free(w);
}
END_TEST

/* A directory replaced by another directory: the (dev, ino) check. */
START_TEST(replaced_dir_is_not_entered)
{
    tu_write("t/d/secret", "1", 1);
    tu_mkdir("other");
    struct hs_walk *w = open_walk("t", "");
    struct hs_walk_item it;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_str_eq(it.path, "d");
    ck_assert_int_eq(renameat(tu_tmpfd, "t/d", tu_tmpfd, "t/moved"), 0);
    ck_assert_int_eq(renameat(tu_tmpfd, "other", tu_tmpfd, "t/d"), 0);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ERROR);
    ck_assert_int_eq(it.err, ESTALE);
    hs_walk_free(w);
}
END_TEST

/* Deeper than PATH_MAX and than the open-fd budget of the dir stack. */
START_TEST(deeper_than_path_max)
{
    enum { DEPTH = 400 };
    const char *name = "a-twenty-byte-name-0";
    int fd = dup(tu_tmpfd);
    ck_assert_int_eq(mkdirat(fd, "t", 0755), 0);
    int cur = openat(fd, "t", O_RDONLY | O_DIRECTORY);
    close(fd);
    for (int i = 0; i < DEPTH; i++) {
        ck_assert_int_eq(mkdirat(cur, name, 0755), 0);
        int next = openat(cur, name, O_RDONLY | O_DIRECTORY);
        close(cur);
        cur = next;
    }
    int f = openat(cur, "leaf", O_WRONLY | O_CREAT, 0644);
    close(f);
    close(cur);
    struct hs_walk *w = open_walk("t", "");
    struct hs_walk_item it;
    struct hs_err e = {0};
    size_t enters = 0, leaves = 0, max_len = 0;
    bool leaf = false;
    while (hs_walk_next(w, &it, &e) == 0 && it.ev != HS_WALK_END) {
        ck_assert_int_ne(it.ev, HS_WALK_ERROR);
        enters += it.ev == HS_WALK_ENTER;
        leaves += it.ev == HS_WALK_LEAVE;
        if (it.path_len > max_len)
            max_len = it.path_len;
        if (it.ev == HS_WALK_ENTRY && strcmp(it.name, "leaf") == 0) {
            leaf = true;
            ck_assert_uint_eq(it.depth, DEPTH + 1);
        }
    }
    ck_assert_msg(e.msg == NULL, "%s", e.msg);
    ck_assert(leaf);
    ck_assert_uint_eq(enters, DEPTH + 1);
    ck_assert_uint_eq(leaves, DEPTH + 1);
    ck_assert_uint_gt(max_len, PATH_MAX);
    hs_walk_free(w);
}
END_TEST

START_TEST(vanished_entry_is_an_error_item)
{
    tu_write("t/a", "1", 1);
    tu_write("t/b", "1", 1);
    struct hs_walk *w = open_walk("t", "");
    struct hs_walk_item it;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0); /* root; names read now */
    ck_assert_int_eq(unlink(tu_path("t/a")), 0);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ERROR);
    ck_assert_int_eq(it.err, ENOENT);
    ck_assert_str_eq(it.path, "a");
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_ENTRY);
    ck_assert_str_eq(it.path, "b");
    hs_walk_free(w);
}
END_TEST

/* The dir stack reopens closed levels through ".." and checks them. */
START_TEST(dirstack_reopens)
{
    struct hs_dirstack s = {0};
    struct hs_err e = {0};
    int depth = HS_DIRSTACK_OPEN_MAX + 20;
    char name[16];
    ck_assert_int_eq(hs_dirstack_push(&s, dup(tu_tmpfd), &e), 0);
    for (int i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "d%d", i);
        ck_assert_int_eq(mkdirat(hs_dirstack_top(&s), name, 0755), 0);
        ck_assert_int_eq(hs_dirstack_push(&s, openat(hs_dirstack_top(&s), name, O_RDONLY), &e), 0);
        ck_assert_uint_le(s.n_open, HS_DIRSTACK_OPEN_MAX);
    }
    ck_assert_int_eq(hs_dirstack_push(&s, -1, &e), 0); /* absent level on top */
    ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
    for (int i = depth - 1; i >= 0; i--) {
        ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
        snprintf(name, sizeof name, "d%d", i);
        struct stat st;
        ck_assert_msg(fstatat(hs_dirstack_top(&s), name, &st, 0) == 0, "lost level %d", i);
    }
    hs_dirstack_free(&s);
}
END_TEST

Suite *walk_suite(void)
{
    Suite *s = suite_create("walk");
    TCase *tc = tu_tcase("walk");
    tcase_add_test(tc, sorted_preorder);
    tcase_add_test(tc, prefix_and_skip);
    tcase_add_test(tc, symlinks_not_followed);
    tcase_add_test(tc, swapped_dir_is_not_entered);
    tcase_add_test(tc, replaced_dir_is_not_entered);
    tcase_add_test(tc, deeper_than_path_max);
    tcase_add_test(tc, vanished_entry_is_an_error_item);
    tcase_add_test(tc, dirstack_reopens);
    suite_add_tcase(s, tc);
    return s;
}
