#include "dirstack.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Closes the lowest open level above level 0 to keep the number of open fds
 * bounded; its (dev, ino) is kept so a reopen can be checked. Level 0 stays
 * open: every other level can be reached from it by name, whatever moved. */
static void close_oldest(struct hs_dirstack *s)
{
    for (size_t i = 1; i + 1 < s->depth; i++) {
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

int hs_dirstack_push_named(struct hs_dirstack *s, int fd, const char *name, struct hs_err *e)
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
        (struct hs_dirframe){.fd = fd, .state = fd >= 0 ? HS_DF_OPEN : HS_DF_ABSENT, .name = name};
    if (fd >= 0 && ++s->n_open > HS_DIRSTACK_OPEN_MAX)
        close_oldest(s);
    return 0;
}

int hs_dirstack_push(struct hs_dirstack *s, int fd, struct hs_err *e)
{
    return hs_dirstack_push_named(s, fd, NULL, e);
}

int hs_dirstack_top(const struct hs_dirstack *s)
{
    return s->depth ? s->frames[s->depth - 1].fd : -1;
}

size_t hs_dirstack_depth(const struct hs_dirstack *s)
{
    return s->depth;
}

/* Opens name in dirfd if it is still the directory f was: an fd or -errno. */
static int open_checked(int dirfd, const char *name, const struct hs_dirframe *f)
{
    int fd = hs_open_dir(dirfd, name);
    if (fd < 0)
        return -errno;
    struct stat st;
    int err = fstat(fd, &st) < 0 ? errno : st.st_dev != f->dev || st.st_ino != f->ino ? ESTALE : 0;
    if (err) {
        close(fd);
        return -err;
    }
    return fd;
}

static void set_open(struct hs_dirstack *s, size_t level, int fd)
{
    s->frames[level].fd = fd;
    s->frames[level].state = HS_DF_OPEN;
    s->n_open++;
}

/* Reaches the closed level p again from the nearest open ancestor, one name
 * at a time, each checked: 0, or the number of levels lost from the first
 * that is no longer where it was down to p (marked lost); -ESTALE when there
 * is no way (an unnamed level, or no open ancestor). */
static int reach_by_name(struct hs_dirstack *s, size_t p)
{
    size_t a = p;
    while (a > 0 && s->frames[a].state != HS_DF_OPEN)
        a--;
    if (s->frames[a].state != HS_DF_OPEN)
        return -ESTALE;
    for (size_t i = a + 1; i <= p; i++)
        if (!s->frames[i].name || s->frames[i].state != HS_DF_CLOSED)
            return -ESTALE;
    int fd = s->frames[a].fd, next = 0;
    size_t i;
    for (i = a + 1; i <= p; i++) {
        next = open_checked(fd, s->frames[i].name, &s->frames[i]);
        if (i - 1 > a && next < 0)
            set_open(s, i - 1, fd); /* the deepest level still where it was */
        else if (i - 1 > a)
            close(fd);
        if (next < 0)
            break;
        fd = next;
    }
    if (i > p) {
        set_open(s, p, fd);
        return 0;
    }
    for (size_t k = i; k <= p; k++)
        s->frames[k] = (struct hs_dirframe){.fd = -1, .state = HS_DF_LOST};
    s->lost_err = -next;
    return (int)(p - i + 1);
}

/* Reopens the closed parent of the top level through "..": 0 or -errno
 * (-ESTALE: ".." is another directory now, the top level was moved). */
static int reopen_dotdot(struct hs_dirstack *s, struct hs_dirframe *child,
                         struct hs_dirframe *parent)
{
    int fd = openat(child->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
        close(fd);
        return -ESTALE;
    }
    set_open(s, (size_t)(parent - s->frames), fd);
    return 0;
}

static int reopen_parent(struct hs_dirstack *s, const char *path, struct hs_err *e)
{
    struct hs_dirframe *top = &s->frames[s->depth - 1], *parent = top - 1;
    int r = top->state == HS_DF_OPEN ? reopen_dotdot(s, top, parent) : -ESTALE;
    if (r == 0)
        return 0;
    int k = reach_by_name(s, s->depth - 2);
    if (k >= 0)
        return k;
    if (top->state != HS_DF_OPEN)
        return hs_err_path(e, ESTALE, "lost the way back from", path);
    return r == -ESTALE ? hs_err_path(e, ESTALE, "directory moved during the walk", path)
                        : hs_err_path(e, -r, "cannot reopen the parent of", path);
}

int hs_dirstack_pop(struct hs_dirstack *s, const char *path_for_msg, struct hs_err *e)
{
    if (s->depth == 0)
        return 0;
    struct hs_dirframe *top = &s->frames[s->depth - 1];
    int r = 0;
    if (s->depth >= 2 && top[-1].state == HS_DF_CLOSED)
        r = reopen_parent(s, path_for_msg, e);
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
