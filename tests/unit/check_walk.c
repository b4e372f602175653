/* The walker: order, depth, and never following what changes under it. */
#include "dirstack.h"
#include "hardsnap.h"
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
    /* the error says everything a consumer needs: which ENTRY, its lstat */
    ck_assert(it.unentered);
    ck_assert_str_eq(it.name, "d");
    ck_assert(S_ISDIR(it.st.st_mode));
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

/* A root that cannot be read is FATAL, and the walk ends there. */
START_TEST(unreadable_root_is_fatal)
{
    tu_mkdir("t");
    int fd = open(tu_path("t"), O_PATH | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    struct hs_walk *w;
    struct hs_err e = {0};
    ck_assert_int_eq(hs_walk_open(&w, fd, &st, "", &e), 0);
    struct hs_walk_item it;
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0); /* getdents on O_PATH: EBADF */
    ck_assert_int_eq(it.ev, HS_WALK_FATAL);
    ck_assert_int_eq(it.err, EBADF);
    ck_assert_ptr_null(it.name);
    ck_assert_int_eq(hs_walk_next(w, &it, &e), 0);
    ck_assert_int_eq(it.ev, HS_WALK_END);
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
    ck_assert(!it.unentered);
    ck_assert_int_eq(it.st.st_mode, 0); /* no lstat was had */
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

/* ---- directories moved while the walk is below them ---------------------- */

/* t/a, then CHAIN levels of t/a/d/d/..., a file f in each, t/y (empty) and t/z: deeper
 * than the stack keeps open, so the walk comes back to closed levels. Level k
 * (k >= 1) is "a" and k-1 times "/d". */
enum { CHAIN = 120, DEEPEST = CHAIN + 1 };

static void make_chain(void)
{
    tu_write("t/z", "1", 1);
    tu_mkdir("t/y");
    tu_mkdir("t/a");
    int cur = openat(tu_tmpfd, "t/a", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(cur, 0);
    for (int i = 0; i <= CHAIN; i++) {
        int f = openat(cur, "f", O_WRONLY | O_CREAT, 0644);
        ck_assert_int_ge(f, 0);
        close(f);
        if (i == CHAIN)
            break;
        ck_assert_int_eq(mkdirat(cur, "d", 0755), 0);
        int next = openat(cur, "d", O_RDONLY | O_DIRECTORY);
        ck_assert_int_ge(next, 0);
        close(cur);
        cur = next;
    }
    close(cur);
}

/* base, then n times "/d" (one of two static buffers, alternately). */
static const char *chain_path(const char *base, int n)
{
    static char bufs[2][1024];
    static int which;
    char *p = bufs[which ^= 1];
    size_t len = (size_t)snprintf(p, sizeof bufs[0], "%s", base);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(p + len, sizeof bufs[0] - len, "/d");
    return p;
}

/* The path the walk reports for level k. */
static const char *level_path(int k)
{
    return chain_path("a", k - 1);
}

static void move(const char *from, const char *to)
{
    ck_assert_msg(renameat(tu_tmpfd, from, tu_tmpfd, to) == 0, "rename %s: %s", from,
                  strerror(errno));
}

struct moved_walk {
    char *after; /* "E path" / "! path" lines after the move */
    int errors;  /* ERROR items after the move */
    int err;     /* the first one's errno */
    char err_path[1024];
    int lost;       /* LEAVEs with fd -1 */
    int lost_first; /* ... before the first ERROR */
    int max_depth;  /* deepest ENTER */
};

/* Walks t; when the deepest level has been entered, calls mutate() (the
 * levels near the root are closed then) and records the rest. Checks what
 * must hold whatever moved: no fatal error, ENTER and LEAVE balanced (same
 * paths), a lost LEAVE has an errno. */
static void walk_moving(void (*mutate)(void), struct moved_walk *o)
{
    memset(o, 0, sizeof *o);
    size_t cap = 1 << 16, len = 0;
    o->after = malloc(cap);
    o->after[0] = '\0';
    char *open_paths[DEEPEST + 2];
    int depth = 0;
    bool moved = false;
    struct hs_walk *w = open_walk("t", "");
    struct hs_walk_item it;
    struct hs_err e = {0};
    int r;
    while ((r = hs_walk_next(w, &it, &e)) == 0 && it.ev != HS_WALK_END) {
        if (it.ev == HS_WALK_ENTER) {
            ck_assert_int_lt(depth, DEEPEST + 1);
            open_paths[depth++] = strdup(it.path);
            if ((int)it.depth > o->max_depth)
                o->max_depth = (int)it.depth;
        } else if (it.ev == HS_WALK_LEAVE) {
            ck_assert_int_gt(depth, 0);
            ck_assert_str_eq(it.path, open_paths[depth - 1]);
            ck_assert_uint_eq(it.depth, (size_t)depth - 1);
            free(open_paths[--depth]);
            if (it.fd < 0) {
                ck_assert_int_ne(it.err, 0);
                o->lost++;
            }
        } else if (moved) {
            bool error = it.ev == HS_WALK_ERROR;
            if (error && o->errors++ == 0) {
                o->err = it.err;
                o->lost_first = o->lost;
                ck_assert_uint_eq(it.depth, (size_t)depth); /* an entry of the current level */
                snprintf(o->err_path, sizeof o->err_path, "%s", it.path);
                ck_assert_str_eq(it.what, "directory moved during the walk");
                ck_assert_int_ge(it.fd, 0); /* its parent, reached again */
            }
            len +=
                (size_t)snprintf(o->after + len, cap - len, "%s %s\n", error ? "!" : "E", it.path);
            ck_assert_uint_lt(len, cap);
        }
        if (it.ev == HS_WALK_ENTER && it.depth == DEEPEST && !moved) {
            mutate();
            moved = true;
        }
    }
    ck_assert_msg(r == 0, "the walk stopped: %s", e.msg ? e.msg : "?");
    ck_assert_int_eq(depth, 0);
    ck_assert(moved);
    hs_err_clear(&e);
    hs_walk_free(w);
}

/* "E LEVEL/f" lines for the levels from hi down to lo, appended to out. */
static void add_files(char *out, size_t cap, int hi, int lo)
{
    size_t len = strlen(out);
    for (int i = hi; i >= lo; i--)
        len += (size_t)snprintf(out + len, cap - len, "E %s/f\n", level_path(i));
}

/* What is left after the deepest level was entered, nothing moving: the f of
 * each level from k up, then y and z. */
static char *files_from(int k)
{
    size_t cap = 1 << 16;
    char *s = calloc(1, cap);
    add_files(s, cap, k, 1);
    strcat(s, "E y\nE z\n");
    return s;
}

/* Level 30 out of the tree, then level 60 (inside it) out of level 59: ".."
 * of level 60 is not level 59, and level 59 cannot be reached by name. */
static void move_two_out(void)
{
    move(chain_path("t/a", 29), "out30");
    move(chain_path("out30", 30), "out60");
}

START_TEST(moved_out_of_the_tree_is_one_error)
{
    make_chain();
    struct moved_walk o;
    walk_moving(move_two_out, &o);
    ck_assert_int_eq(o.max_depth, DEEPEST);
    ck_assert_int_eq(o.errors, 1);
    ck_assert_str_eq(o.err_path, level_path(30));
    ck_assert_int_eq(o.err, ENOENT);
    ck_assert_int_eq(o.lost, 30); /* levels 59 to 30, then the error */
    ck_assert_int_eq(o.lost_first, 30);
    /* level 60 and below were walked where they went; 59 to 30 are lost; the
     * walk goes on with level 29's next entry */
    size_t cap = 1 << 16;
    char *want = calloc(1, cap);
    add_files(want, cap, DEEPEST, 60);
    snprintf(want + strlen(want), cap - strlen(want), "! %s\n", level_path(30));
    add_files(want, cap, 29, 1);
    strcat(want, "E y\nE z\n");
    ck_assert_str_eq(o.after, want);
    free(want);
    free(o.after);
}
END_TEST

/* The same moves, into a directory the walk has not entered yet: they are
 * walked there. */
static void move_two_inside(void)
{
    move(chain_path("t/a", 29), "t/y/m30");
    move(chain_path("t/y/m30", 30), "t/y/m60");
}

START_TEST(moved_inside_the_tree_is_walked_there)
{
    make_chain();
    struct moved_walk o;
    walk_moving(move_two_inside, &o);
    ck_assert_int_eq(o.errors, 1);
    ck_assert_str_eq(o.err_path, level_path(30));
    ck_assert_int_eq(o.lost, 30);
    char *tail = files_from(29);
    tail[strlen(tail) - strlen("E y\nE z\n")] = '\0';
    char *at = strstr(o.after, tail);
    ck_assert_ptr_nonnull(at);
    ck_assert_ptr_nonnull(strstr(at, "E y/m30\n"));
    ck_assert_ptr_nonnull(strstr(at, chain_path("E y/m30", 29)));
    ck_assert_ptr_nonnull(strstr(at, "E y/m60\n"));
    ck_assert_ptr_nonnull(strstr(at, chain_path("E y/m60", 61)));
    ck_assert_ptr_nonnull(strstr(at, "E y/m60/f\n"));
    ck_assert_str_eq(o.after + strlen(o.after) - strlen("E z\n"), "E z\n");
    free(tail);
    free(o.after);
}
END_TEST

/* Level 30 swapped for a symlink to where it went: never followed. */
static void swap_for_symlink(void)
{
    move(chain_path("t/a", 29), "out30");
    ck_assert_int_eq(symlinkat(tu_path("out30"), tu_tmpfd, chain_path("t/a", 29)), 0);
    move(chain_path("out30", 30), "out60");
}

START_TEST(swapped_for_a_symlink_is_not_followed)
{
    make_chain();
    struct moved_walk o;
    walk_moving(swap_for_symlink, &o);
    ck_assert_int_eq(o.errors, 1);
    ck_assert_str_eq(o.err_path, level_path(30));
    ck_assert_msg(o.err == ELOOP || o.err == ENOTDIR, "err %d", o.err);
    ck_assert_int_eq(o.lost, 30);
    char *tail = files_from(29);
    ck_assert_str_eq(o.after + strlen(o.after) - strlen(tail), tail);
    free(tail);
    free(o.after);
}
END_TEST

/* Level 60 moved out of level 59, and level 30 renamed away and back:
 * level 59 is reached by name again, nothing is lost. */
static void move_and_back(void)
{
    move(chain_path("t/a", 59), "out60");
    move(chain_path("t/a", 29), "t/away");
    move("t/away", chain_path("t/a", 29));
}

START_TEST(renamed_and_back_loses_nothing)
{
    make_chain();
    struct moved_walk o;
    walk_moving(move_and_back, &o);
    ck_assert_int_eq(o.errors, 0);
    ck_assert_int_eq(o.lost, 0);
    char *want = files_from(DEEPEST);
    ck_assert_str_eq(o.after, want);
    free(want);
    free(o.after);
}
END_TEST

/* An ancestor renamed elsewhere (and nothing else): ".." still leads from
 * level to level, the walk finishes it where it went, then finds its parent
 * by name. */
static void move_ancestor(void)
{
    move(chain_path("t/a", 29), "out30");
}

START_TEST(renamed_ancestor_loses_nothing)
{
    make_chain();
    struct moved_walk o;
    walk_moving(move_ancestor, &o);
    ck_assert_int_eq(o.errors, 0);
    ck_assert_int_eq(o.lost, 0);
    char *want = files_from(DEEPEST);
    ck_assert_str_eq(o.after, want);
    free(want);
    free(o.after);
}
END_TEST

/* The walker's consumer: a backup that meets the same moves at a known point
 * (while the deepest file is copied) warns once, naming the directory, and
 * publishes its snapshot without what was lost; the lost directories keep
 * their own metadata. The next run, nothing moving, exits 0. */
struct backup_watch {
    bool moved;
    int warnings;
    char warning[2048];
};

static void on_backup_event(const struct hs_event *ev, void *user)
{
    struct backup_watch *b = user;
    char deepest[1024];
    snprintf(deepest, sizeof deepest, "%s/f", level_path(DEEPEST));
    if (ev->type == HS_EV_COPY && ev->path && !b->moved && strcmp(ev->path, deepest) == 0) {
        move_two_out();
        b->moved = true;
    }
    if (ev->type == HS_EV_WARNING && b->warnings++ == 0)
        snprintf(b->warning, sizeof b->warning, "%s", ev->msg);
}

static enum hs_status backup_t(const char *now, struct backup_watch *b, char *name)
{
    char src[PATH_MAX], dest[PATH_MAX];
    snprintf(src, sizeof src, "%s", tu_path("t"));
    snprintf(dest, sizeof dest, "%s", tu_path("dest"));
    struct hs_source source = {.path = src};
    struct hs_backup_opts o = {.sources = &source,
                               .n_sources = 1,
                               .dest = dest,
                               .now = now,
                               .on_event = on_backup_event,
                               .user = b,
                               .verbose_events = true};
    struct hs_backup_result res;
    struct hs_err e = {0};
    enum hs_status st = hs_backup(&o, &res, &e);
    hs_backup_result_free(&res); /* (only its name is looked at) */
    ck_assert_msg(st == HS_OK || st == HS_WARN, "backup: %s", e.msg ? e.msg : "?");
    ck_assert_str_ne(res.name, "");
    snprintf(name, 64, "dest/%s/", res.name);
    hs_err_clear(&e);
    return st;
}

static bool exists_in(const char *snap, const char *rel)
{
    char p[2048];
    snprintf(p, sizeof p, "%s%s", snap, rel);
    struct stat st;
    return lstat(tu_path(p), &st) == 0;
}

START_TEST(backup_goes_on_past_a_moved_directory)
{
    make_chain();
    struct backup_watch b = {0};
    char snap[64];
    ck_assert_int_eq(backup_t("2026-01-01T000000Z", &b, snap), HS_WARN);
    ck_assert(b.moved);
    ck_assert_int_eq(b.warnings, 1);
    ck_assert_ptr_nonnull(strstr(b.warning, "directory moved during the walk"));
    ck_assert_ptr_nonnull(strstr(b.warning, level_path(30)));
    char rel[1024];
    for (int k = 1; k <= DEEPEST; k++) {
        snprintf(rel, sizeof rel, "%s/f", level_path(k));
        ck_assert_msg(exists_in(snap, rel) == (k < 30 || k >= 60), "level %d: f %s", k,
                      k < 30 || k >= 60 ? "missing" : "kept");
        struct stat st;
        char p[2048];
        snprintf(p, sizeof p, "%s%s", snap, level_path(k));
        ck_assert_int_eq(lstat(tu_path(p), &st), 0);
        ck_assert_msg((st.st_mode & 07777) == 0755, "level %d: mode %o", k, st.st_mode & 07777);
    }
    ck_assert(exists_in(snap, "y"));
    ck_assert(exists_in(snap, "z"));
    struct backup_watch again = {.moved = true};
    ck_assert_int_eq(backup_t("2026-01-02T000000Z", &again, snap), HS_OK);
    ck_assert_int_eq(again.warnings, 0);
    ck_assert(!exists_in(snap, level_path(30)));
    snprintf(rel, sizeof rel, "%s/f", level_path(29));
    ck_assert(exists_in(snap, rel));
}
END_TEST

/* A named stack: level 10 moved away, level 40 moved out of it. The pop
 * that comes back to level 39 cannot reach it (nor 10 to 38): they are lost,
 * popped without a fatal error, and level 9 is open again below them. An
 * unnamed stack (the store's trees) keeps the fatal error. */
static size_t push_chain(struct hs_dirstack *s, bool named, int depth)
{
    static char names[HS_DIRSTACK_OPEN_MAX + 100][16];
    struct hs_err e = {0};
    ck_assert_int_eq(hs_dirstack_push(s, dup(tu_tmpfd), &e), 0);
    for (int i = 0; i < depth; i++) {
        snprintf(names[i], sizeof names[i], "d%d", i);
        mkdirat(hs_dirstack_top(s), names[i], 0755);
        int fd = openat(hs_dirstack_top(s), names[i], O_RDONLY | O_DIRECTORY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(hs_dirstack_push_named(s, fd, named ? names[i] : NULL, &e), 0);
        ck_assert_uint_le(s->n_open, HS_DIRSTACK_OPEN_MAX);
    }
    ck_assert_int_eq(s->frames[0].state, HS_DF_OPEN); /* level 0 is never closed */
    return hs_dirstack_depth(s);
}

/* "d0/d1/.../d(n-1)", from level 1 to level n. */
static const char *dnames(int n, const char *base)
{
    static char p[1024];
    size_t len = (size_t)snprintf(p, sizeof p, "%s", base);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(p + len, sizeof p - len, "%sd%d", len ? "/" : "", i);
    return p;
}

static void move_levels_10_and_40(void)
{
    move(dnames(10, ""), "x10"); /* level 10 is d9 */
    char from[1024];
    size_t len = (size_t)snprintf(from, sizeof from, "x10");
    for (int i = 10; i < 40; i++)
        len += (size_t)snprintf(from + len, sizeof from - len, "/d%d", i);
    move(from, "x40");
}

START_TEST(dirstack_loses_moved_levels)
{
    enum { DEPTH = HS_DIRSTACK_OPEN_MAX + 72 };
    struct hs_dirstack s = {0};
    struct hs_err e = {0};
    ck_assert_uint_eq(push_chain(&s, true, DEPTH), DEPTH + 1);
    move_levels_10_and_40();
    int r = 0;
    while (hs_dirstack_depth(&s) > 41)
        ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
    r = hs_dirstack_pop(&s, "x", &e); /* level 40: back to 39 */
    ck_assert_int_eq(r, 30);          /* 39 to 10 */
    ck_assert_int_eq(s.lost_err, ENOENT);
    ck_assert_ptr_null(e.msg);
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(hs_dirstack_top(&s), -1);
        ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
    }
    ck_assert_uint_eq(hs_dirstack_depth(&s), 10);
    struct stat a, b;
    ck_assert_int_eq(fstat(hs_dirstack_top(&s), &a), 0);
    ck_assert_int_eq(stat(tu_path(dnames(9, "")), &b), 0);
    ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    while (hs_dirstack_depth(&s) > 0)
        ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
    ck_assert_uint_eq(s.n_open, 0);
    hs_dirstack_free(&s);
}
END_TEST

START_TEST(dirstack_unnamed_keeps_the_fatal_error)
{
    enum { DEPTH = HS_DIRSTACK_OPEN_MAX + 72 };
    struct hs_dirstack s = {0};
    struct hs_err e = {0};
    push_chain(&s, false, DEPTH);
    move_levels_10_and_40();
    while (hs_dirstack_depth(&s) > 41)
        ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), 0);
    ck_assert_int_eq(hs_dirstack_pop(&s, "x", &e), -ESTALE);
    ck_assert_ptr_nonnull(e.msg);
    hs_err_clear(&e);
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
    tcase_add_test(tc, unreadable_root_is_fatal);
    tcase_add_test(tc, deeper_than_path_max);
    tcase_add_test(tc, vanished_entry_is_an_error_item);
    tcase_add_test(tc, dirstack_reopens);
    tcase_add_test(tc, moved_out_of_the_tree_is_one_error);
    tcase_add_test(tc, moved_inside_the_tree_is_walked_there);
    tcase_add_test(tc, swapped_for_a_symlink_is_not_followed);
    tcase_add_test(tc, renamed_and_back_loses_nothing);
    tcase_add_test(tc, renamed_ancestor_loses_nothing);
    tcase_add_test(tc, backup_goes_on_past_a_moved_directory);
    tcase_add_test(tc, dirstack_loses_moved_levels);
    tcase_add_test(tc, dirstack_unnamed_keeps_the_fatal_error);
    suite_add_tcase(s, tc);
    return s;
}
