/*
 * The local source tree: the walker, and the fds of what it walks.
 */
#include "tree.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

struct local_tree {
    struct hs_tree t;
    struct hs_walk *w;
};

static int local_next(struct hs_tree *t, struct hs_walk_item *it, struct hs_err *e)
{
    return hs_walk_next(((struct local_tree *)t)->w, it, e);
}

static void local_skip(struct hs_tree *t)
{
    hs_walk_skip(((struct local_tree *)t)->w);
}

static int local_open(struct hs_tree *t, const struct hs_walk_item *it, struct stat *st,
                      struct hs_err *e)
{
    (void)t;
    (void)e;
    int fd = hs_open_file_read(it->fd, it->name);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, &it->st)) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

static int local_restat(struct hs_tree *t, int fd, struct stat *st)
{
    (void)t;
    return fstat(fd, st) < 0 ? -errno : 0;
}

static int local_xattrs(struct hs_tree *t, const struct hs_walk_item *it, int fd,
                        struct hs_xattrs *xa, bool all)
{
    (void)t;
    struct hs_xobj o = {.fd = fd};
    if (fd < 0 && it->ev == HS_WALK_LEAVE)
        o.fd = it->fd; /* -1: a directory the walk lost */
    else if (fd < 0)
        o = (struct hs_xobj){.fd = -1, .dirfd = it->fd, .name = it->name};
    if (o.fd < 0 && !o.name) {
        xa->count = 0;
        return 0;
    }
    return hs_xattr_read(xa, o, all);
}

static int local_readlink(struct hs_tree *t, const struct hs_walk_item *it, struct hs_buf *target)
{
    (void)t;
    size_t size = (size_t)it->st.st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(target, 0);
        if (hs_buf_reserve(target, size) < 0)
            return -ENOMEM;
        ssize_t n = readlinkat(it->fd, it->name, target->data, size);
        if (n < 0)
            return -errno;
        if ((size_t)n < size) {
            target->len = (size_t)n;
            target->data[n] = '\0';
            return 0;
        }
    }
    return -EAGAIN;
}

static void local_free(struct hs_tree *t)
{
    struct local_tree *lt = (struct local_tree *)t;
    hs_walk_free(lt->w);
    free(lt);
}

static const struct hs_tree_ops local_ops = {
    .next = local_next,
    .skip = local_skip,
    .open = local_open,
    .restat = local_restat,
    .xattrs = local_xattrs,
    .readlink = local_readlink,
    .free = local_free,
};

int hs_tree_open_local(struct hs_tree **t, int fd, const struct stat *root_st, const char *prefix,
                       struct hs_err *e)
{
    *t = NULL;
    struct local_tree *lt = calloc(1, sizeof *lt);
    if (!lt) {
        close(fd);
        return hs_err_setf(e, ENOMEM, "walk");
    }
    int r = hs_walk_open(&lt->w, fd, root_st, prefix, e);
    if (r < 0) {
        free(lt);
        return r;
    }
    lt->t.ops = &local_ops;
    *t = &lt->t;
    return 0;
}
