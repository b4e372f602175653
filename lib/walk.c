/*
 * The walker is a depth-first iterator whose only state is the current
 * branch: for each open directory level, its sorted entry names and the
 * position reached. Non-directories are never stored; a directory's names are
 * freed (reused) when the walk leaves it, so memory follows the widest
 * directory on the branch, not the tree.
 *
 * Each directory fd is held by an hs_dirstack, which bounds the number open at
 * once and makes trees of any depth walkable. Every entry is examined with
 * fstatat(AT_SYMLINK_NOFOLLOW) relative to its parent's fd; directories are
 * opened O_NOFOLLOW and must be the same (dev, ino) the fstatat saw.
 *
 * A level whose fd the stack had to close is reached again through "..", or
 * by name from the nearest open ancestor (the root at worst: never closed);
 * when a directory on that way moved, the levels from it down are lost:
 * each gets its LEAVE (fd -1) without its remaining entries, then one ERROR
 * names the moved directory, and the walk goes on with its parent's next
 * entry. Whoever can rename directories in the tree
 * can thus cost the walk part of it, never stop it.
 */
#include "walk.h"
#include "buf.h"
#include "dirstack.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct level {
    char *names; /* NUL-terminated names, back to back */
    size_t names_len, names_cap;
    size_t *offs; /* sorted offsets into names */
    size_t count, cap, pos;
    size_t path_len; /* length of this directory's path in w->path */
    const char *name;
    struct stat st;
};

enum walk_state { WS_START, WS_RUN, WS_PENDING_DIR, WS_LEAVING, WS_END };

struct hs_walk {
    struct hs_dirstack fds;
    struct level *levels;
    size_t depth, levels_cap;
    struct hs_buf path;
    char *prefix;
    int root_fd;
    struct stat root_st;
    enum walk_state state;
    struct stat pending_st; /* the directory ENTRY just returned */
    const char *pending_name;
    size_t lost; /* the level of a directory that moved, until it is named; 0: none */
    char *dents; /* getdents64 buffer */
};

#define DENTS_SIZE (64 * 1024)

int hs_walk_open(struct hs_walk **out, int fd, const struct stat *root_st, const char *prefix,
                 struct hs_err *e)
{
    struct hs_walk *w = calloc(1, sizeof *w);
    if (w) {
        w->prefix = strdup(prefix);
        w->dents = malloc(DENTS_SIZE);
    }
    if (!w || !w->prefix || !w->dents || hs_buf_puts(&w->path, prefix) < 0) {
        close(fd);
        hs_walk_free(w);
        return hs_err_setf(e, ENOMEM, "walk");
    }
    w->root_fd = fd;
    w->root_st = *root_st;
    w->state = WS_START;
    *out = w;
    return 0;
}

void hs_walk_free(struct hs_walk *w)
{
    if (!w)
        return;
    if (w->state == WS_START && w->root_fd >= 0)
        close(w->root_fd);
    hs_dirstack_free(&w->fds);
    for (size_t i = 0; i < w->levels_cap; i++) {
        free(w->levels[i].names);
        free(w->levels[i].offs);
    }
    free(w->levels);
    hs_buf_free(&w->path);
    free(w->prefix);
    free(w->dents);
    free(w);
}

static int cmp_names(const void *a, const void *b, void *arena)
{
    return strcmp((const char *)arena + *(const size_t *)a,
                  (const char *)arena + *(const size_t *)b);
}

static int level_add(struct level *lv, const char *name, size_t len)
{
    if (lv->count == lv->cap) {
        size_t cap = lv->cap ? lv->cap * 2 : 64;
        size_t *p = realloc(lv->offs, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        lv->offs = p;
        lv->cap = cap;
    }
    if (lv->names_len + len + 1 > lv->names_cap) {
        size_t cap = lv->names_cap ? lv->names_cap * 2 : 4096;
        while (cap < lv->names_len + len + 1)
            cap *= 2;
        char *p = realloc(lv->names, cap);
        if (!p)
            return -ENOMEM;
        lv->names = p;
        lv->names_cap = cap;
    }
    memcpy(lv->names + lv->names_len, name, len + 1);
    lv->offs[lv->count++] = lv->names_len;
    lv->names_len += len + 1;
    return 0;
}

/* A name listed twice (a file deleted and created again while a large
 * directory was being read) is one entry. */
static void drop_repeats(struct level *lv)
{
    size_t out = 0;
    for (size_t i = 0; i < lv->count; i++)
        if (out == 0 || strcmp(lv->names + lv->offs[out - 1], lv->names + lv->offs[i]) != 0)
            lv->offs[out++] = lv->offs[i];
    lv->count = out;
}

/* Reads and sorts the names of fd into lv. */
static int level_read(struct hs_walk *w, struct level *lv, int fd)
{
    lv->count = lv->pos = lv->names_len = 0;
    for (;;) {
        ssize_t n = getdents64(fd, w->dents, DENTS_SIZE);
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(w->dents + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
                continue;
            int r = level_add(lv, nm, strlen(nm));
            if (r < 0)
                return r;
        }
    }
    if (lv->count > 1)
        qsort_r(lv->offs, lv->count, sizeof *lv->offs, cmp_names, lv->names);
    drop_repeats(lv);
    return 0;
}

static struct level *level_push(struct hs_walk *w)
{
    if (w->depth == w->levels_cap) {
        size_t cap = w->levels_cap ? w->levels_cap * 2 : 16;
        struct level *p = realloc(w->levels, cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + w->levels_cap, 0, (cap - w->levels_cap) * sizeof *p);
        w->levels = p;
        w->levels_cap = cap;
    }
    return &w->levels[w->depth++];
}

static void item_base(struct hs_walk *w, struct hs_walk_item *it, enum hs_walk_ev ev)
{
    memset(it, 0, sizeof *it);
    it->ev = ev;
    it->path = w->path.data;
    it->path_len = w->path.len;
}

static int item_error(struct hs_walk *w, struct hs_walk_item *it, int err, const char *what)
{
    item_base(w, it, HS_WALK_ERROR);
    it->fd = hs_dirstack_top(&w->fds);
    it->err = err;
    it->what = what;
    it->depth = w->depth;
    return 0;
}

/* An ERROR about the directory of the ENTRY just returned (or FATAL, at
 * the root): named, with the lstat the ENTRY had. */
static int dir_error(struct hs_walk *w, struct hs_walk_item *it, int err, const char *what,
                     const char *name, const struct stat *seen)
{
    item_error(w, it, err, what);
    it->name = name;
    it->st = *seen;
    it->unentered = true;
    if (w->depth == 0) { /* the root */
        it->ev = HS_WALK_FATAL;
        it->name = NULL;
        it->unentered = false;
    }
    return 0;
}

/* Opens the directory just returned as an ENTRY (or the root) and reads it. */
static int enter(struct hs_walk *w, struct hs_walk_item *it, int fd, const char *name,
                 const struct stat *seen, struct hs_err *e)
{
    struct stat st = {0};
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || !hs_stat_same_file(&st, seen)) {
        int err = S_ISDIR(st.st_mode) ? ESTALE : ENOTDIR;
        close(fd);
        return dir_error(w, it, err, "directory changed during the walk", name, seen);
    }
    struct level *lv = level_push(w);
    if (!lv) {
        close(fd);
        return hs_err_setf(e, ENOMEM, "walk");
    }
    int r = level_read(w, lv, fd);
    if (r < 0) {
        w->depth--;
        close(fd);
        if (r == -ENOMEM)
            return hs_err_setf(e, ENOMEM, "walk");
        return dir_error(w, it, -r, "cannot read directory", name, seen);
    }
    /* the root is never closed: it needs no name to be reached again */
    r = hs_dirstack_push_named(&w->fds, fd, w->depth > 1 ? name : NULL, e);
    if (r < 0) {
        w->depth--;
        return r;
    }
    lv->path_len = w->path.len;
    lv->name = name;
    lv->st = st;
    item_base(w, it, HS_WALK_ENTER);
    it->fd = fd;
    it->name = name;
    it->st = st;
    it->depth = w->depth - 1;
    return 0;
}

static int enter_pending(struct hs_walk *w, struct hs_walk_item *it, struct hs_err *e)
{
    int parent = hs_dirstack_top(&w->fds);
    int fd = hs_open_dir(parent, w->pending_name);
    if (fd < 0) {
        int err = errno;
        const char *what = err == ELOOP || err == ENOTDIR ? "directory changed during the walk"
                                                          : "cannot open directory";
        return dir_error(w, it, err, what, w->pending_name, &w->pending_st);
    }
    return enter(w, it, fd, w->pending_name, &w->pending_st, e);
}

static int next_entry(struct hs_walk *w, struct level *lv, struct hs_walk_item *it)
{
    const char *name = lv->names + lv->offs[lv->pos++];
    hs_buf_truncate(&w->path, lv->path_len);
    if (w->path.len > 0 && hs_buf_putc(&w->path, '/') < 0)
        return -ENOMEM;
    if (hs_buf_puts(&w->path, name) < 0)
        return -ENOMEM;
    int parent = hs_dirstack_top(&w->fds);
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        item_error(w, it, errno, "cannot stat");
        it->name = name;
        return 0;
    }
    item_base(w, it, HS_WALK_ENTRY);
    it->fd = parent;
    it->name = name;
    it->st = st;
    it->depth = w->depth;
    if (S_ISDIR(st.st_mode)) {
        w->state = WS_PENDING_DIR;
        w->pending_st = st;
        w->pending_name = name;
    }
    return 0;
}

/* The directory at level w->lost moved: the stack lost it and the levels
 * under it, whose LEAVEs were returned; now it is named, as an entry of its
 * parent that could not be walked. */
static int item_lost(struct hs_walk *w, struct hs_walk_item *it)
{
    const struct level *lv = &w->levels[w->lost];
    int err = w->fds.lost_err;
    bool moved = err == ESTALE || err == ENOENT || err == ENOTDIR || err == ELOOP;
    item_base(w, it, HS_WALK_ERROR);
    it->fd = hs_dirstack_top(&w->fds);
    it->name = lv->name;
    it->st = lv->st;
    it->depth = w->lost;
    it->err = err;
    it->what = moved ? "directory moved during the walk" : "cannot open directory again";
    w->lost = 0;
    w->state = WS_RUN;
    return 0;
}

void hs_walk_skip(struct hs_walk *w)
{
    if (w->state == WS_PENDING_DIR)
        w->state = WS_RUN;
}

int hs_walk_next(struct hs_walk *w, struct hs_walk_item *it, struct hs_err *e)
{
    int r;
    switch (w->state) {
    case WS_START:
        w->state = WS_RUN;
        r = enter(w, it, w->root_fd, w->prefix, &w->root_st, e);
        w->root_fd = -1;
        if (r == 0 && it->ev == HS_WALK_FATAL)
            w->state = WS_END;
        return r;
    case WS_PENDING_DIR:
        w->state = WS_RUN;
        return enter_pending(w, it, e);
    case WS_LEAVING:
        w->depth--;
        r = hs_dirstack_pop(&w->fds, w->path.data, e);
        if (r < 0)
            return r;
        if (r > 0)
            w->lost = w->depth - (size_t)r; /* their LEAVEs first, then the error */
        else if (w->lost && w->depth == w->lost)
            return item_lost(w, it);
        w->state = w->depth ? WS_RUN : WS_END;
        break;
    case WS_END:
    case WS_RUN:
        break;
    }
    if (w->state == WS_END) {
        item_base(w, it, HS_WALK_END);
        return 0;
    }
    struct level *lv = &w->levels[w->depth - 1];
    int fd = hs_dirstack_top(&w->fds); /* -1: a lost level, its other entries unreachable */
    if (lv->pos < lv->count && fd >= 0) {
        r = next_entry(w, lv, it);
        return r < 0 ? hs_err_setf(e, -r, "walk") : 0;
    }
    hs_buf_truncate(&w->path, lv->path_len);
    item_base(w, it, HS_WALK_LEAVE);
    it->fd = fd;
    it->name = lv->name;
    it->st = lv->st;
    it->depth = w->depth - 1;
    it->err = fd < 0 ? w->fds.lost_err : 0;
    w->state = WS_LEAVING;
    return 0;
}
