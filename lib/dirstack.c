#include "dirstack.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Closes the lowest open level to keep the number of open fds bounded; its
 * (dev, ino) is kept so the reopen through ".." can be checked. */
static void close_oldest(struct hs_dirstack *s)
{
    for (size_t i = 0; i + 1 < s->depth; i++) {
        struct hs_dirframe *f = &s->frames[i];
        if (f->state != HS_DF_OPEN)
            continue;
        struct stat st;
        if (fstat(f->fd, &st) < 0)
            return; /* keep it open rather than lose the way back */
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        close(f->fd);
        f->fd = -1;
        f->state = HS_DF_CLOSED;
        s->n_open--;
        return;
    }
}

int hs_dirstack_push(struct hs_dirstack *s, int fd, struct hs_err *e)
{
    if (s->depth == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct hs_dirframe *f = realloc(s->frames, cap * sizeof *f);
        if (!f) {
            if (fd >= 0)
                close(fd);
            return hs_err_setf(e, ENOMEM, "directory stack");
        }
        s->frames = f;
        s->cap = cap;
    }
    s->frames[s->depth++] =
        (struct hs_dirframe){.fd = fd, .state = fd >= 0 ? HS_DF_OPEN : HS_DF_ABSENT};
    if (fd >= 0 && ++s->n_open > HS_DIRSTACK_OPEN_MAX)
        close_oldest(s);
    return 0;
}

int hs_dirstack_top(const struct hs_dirstack *s)
{
    return s->depth ? s->frames[s->depth - 1].fd : -1;
}

size_t hs_dirstack_depth(const struct hs_dirstack *s)
{
    return s->depth;
}

static int reopen_parent(struct hs_dirframe *child, struct hs_dirframe *parent, const char *path,
                         struct hs_err *e)
{
    int fd = openat(child->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return hs_err_path(e, errno, "cannot reopen the parent of", path);
    if (fstat(fd, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
        close(fd);
        return hs_err_path(e, ESTALE, "directory moved during the walk", path);
    }
    parent->fd = fd;
    parent->state = HS_DF_OPEN;
    return 0;
}

int hs_dirstack_pop(struct hs_dirstack *s, const char *path_for_msg, struct hs_err *e)
{
    if (s->depth == 0)
        return 0;
    struct hs_dirframe *top = &s->frames[s->depth - 1];
    int r = 0;
    if (s->depth >= 2) {
        struct hs_dirframe *parent = top - 1;
        if (parent->state == HS_DF_CLOSED) {
            r = top->state == HS_DF_OPEN
                    ? reopen_parent(top, parent, path_for_msg, e)
                    : hs_err_path(e, ESTALE, "lost the way back from", path_for_msg);
            if (r == 0)
                s->n_open++;
        }
    }
    if (top->state == HS_DF_OPEN) {
        close(top->fd);
        s->n_open--;
    }
    s->depth--;
    return r;
}

void hs_dirstack_free(struct hs_dirstack *s)
{
    for (size_t i = 0; i < s->depth; i++)
        if (s->frames[i].state == HS_DF_OPEN)
            close(s->frames[i].fd);
    free(s->frames);
    s->frames = NULL;
    s->depth = s->cap = s->n_open = 0;
}
