/*
 * The check keeps the directories of the current record's parent open (an
 * hs_dirstack, so any depth) with each one's listing, read on first need.
 * Walk order means a directory's records all come before the walk leaves
 * it, so each directory is listed once.
 */
#include "mcheck.h"

#include "buf.h"
#include "dirlist.h"
#include "dirstack.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct level {
    struct hs_dirview v;
    size_t parent_len; /* of the parent's path in c->path: where a pop cuts it */
};

struct hs_mcheck {
    struct hs_dirstack fds;
    struct level *lv;
    size_t cap;
    struct hs_buf path; /* the directory on top of the stack */
    struct timespec seal;
    char name[NAME_MAX + 1];
};

static int push(struct hs_mcheck *c, int fd, size_t parent_len)
{
    size_t depth = hs_dirstack_depth(&c->fds);
    if (depth == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct level *p = realloc(c->lv, cap * sizeof *p);
        if (!p) {
            if (fd >= 0)
                close(fd);
            return -ENOMEM;
        }
        memset(p + c->cap, 0, (cap - c->cap) * sizeof *p);
        c->lv = p;
        c->cap = cap;
    }
    if (hs_dirstack_push(&c->fds, fd, NULL) < 0)
        return -ENOMEM;
    hs_dirview_reset(&c->lv[depth].v, fd, &c->seal);
    c->lv[depth].parent_len = parent_len;
    return 0;
}

int hs_mcheck_open(struct hs_mcheck **out, int rootfd, const struct timespec *seal,
                   struct hs_err *e)
{
    struct hs_mcheck *c = calloc(1, sizeof *c);
    if (c)
        c->seal = *seal;
    if (!c || hs_buf_puts(&c->path, "") < 0 || push(c, rootfd, 0) < 0) {
        if (c)
            hs_mcheck_free(c);
        else
            close(rootfd);
        return hs_err_setf(e, ENOMEM, "manifest check");
    }
    *out = c;
    return 0;
}

void hs_mcheck_free(struct hs_mcheck *c)
{
    if (!c)
        return;
    hs_dirstack_free(&c->fds);
    for (size_t i = 0; i < c->cap; i++)
        hs_dirlist_free(&c->lv[i].v.l);
    free(c->lv);
    hs_buf_free(&c->path);
    free(c);
}

/* Whether the directory path dir (len bytes) is the top's or below it. */
static bool below_top(const struct hs_mcheck *c, const char *dir, size_t len)
{
    size_t n = c->path.len;
    return n == 0 || (len >= n && memcmp(dir, c->path.data, n) == 0 && (len == n || dir[n] == '/'));
}

/* Makes the stack hold the directories of dir (len bytes), root first. */
static int descend_to(struct hs_mcheck *c, const char *dir, size_t len)
{
    while (!below_top(c, dir, len)) {
        size_t depth = hs_dirstack_depth(&c->fds);
        if (depth <= 1)
            return -EINVAL; /* the root is above everything: records out of order */
        /* a parent that cannot be reopened stays closed: its records then
         * find no directory (-ENOENT), which diff says */
        hs_dirstack_pop(&c->fds, NULL, NULL);
        hs_buf_truncate(&c->path, c->lv[depth - 1].parent_len);
    }
    while (c->path.len < len) {
        size_t at = c->path.len ? c->path.len + 1 : 0, end = at;
        while (end < len && dir[end] != '/')
            end++;
        if (end - at > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(c->name, dir + at, end - at);
        c->name[end - at] = '\0';
        int top = hs_dirstack_top(&c->fds);
        int fd = top >= 0 ? hs_open_dir(top, c->name) : -1;
        size_t parent_len = c->path.len;
        if ((c->path.len && hs_buf_putc(&c->path, '/') < 0) ||
            hs_buf_append(&c->path, c->name, end - at) < 0) {
            if (fd >= 0)
                close(fd);
            return -ENOMEM;
        }
        int r = push(c, fd, parent_len);
        if (r < 0)
            return r;
    }
    return 0;
}

int hs_mcheck_record(struct hs_mcheck *c, const struct hs_mentry *rec, struct stat *st, int *dirfd,
                     const char **name)
{
    if (rec->path_len == 0)
        return 1; /* the root: the manifest was matched to it when opened */
    size_t dlen = hs_path_dir_len(rec->path, rec->path_len);
    const char *base = hs_path_base(rec->path, rec->path_len);
    size_t blen = rec->path_len - (size_t)(base - rec->path);
    if (blen > NAME_MAX)
        return -ENAMETOOLONG;
    int r = descend_to(c, rec->path, dlen);
    if (r < 0)
        return r;
    memcpy(c->name, base, blen);
    c->name[blen] = '\0';
    size_t depth = hs_dirstack_depth(&c->fds);
    int fd = hs_dirstack_top(&c->fds);
    if (fd < 0)
        return -ENOENT;
    if (hs_dirview_is(&c->lv[depth - 1].v, fd, c->name, rec->sino, hs_dtype_of_ftype(rec->type)))
        return 1;
    if (fstatat(fd, c->name, st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    *dirfd = fd;
    *name = c->name;
    return 0;
}
