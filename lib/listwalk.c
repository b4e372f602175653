#include "listwalk.h"
#include "err.h"
#include "fsutil.h"
#include "manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct hs_listwalk *w, const char *why)
{
    return hs_err_setf(w->err, EBADMSG, "%s: bad list (%s)", w->name, why);
}

/* The next record of the list file into into: 1, 0 at its end, <0. */
static int read_rec(struct hs_listwalk *w, struct hs_rec_copy *into, uint64_t *index)
{
    int k = w->read(w->user, into, w->err);
    if (k == 1)
        *index = w->next_index++;
    return k;
}

static int next_rec(struct hs_listwalk *w)
{
    if (!w->have_peek)
        return read_rec(w, &w->cur, &w->cur_index);
    w->have_peek = false;
    struct hs_rec_copy t = w->cur;
    w->cur = w->peek;
    w->peek = t;
    w->cur_index = w->peek_index;
    return 1;
}

static int push_level(struct hs_listwalk *w, const struct hs_rec *r)
{
    if (w->depth == w->levels_cap) {
        size_t cap = w->levels_cap ? w->levels_cap * 2 : 32;
        struct hs_listwalk_level *l = realloc(w->levels, cap * sizeof *l);
        if (!l)
            return hs_err_setf(w->err, ENOMEM, "list walk");
        memset(l + w->levels_cap, 0, (cap - w->levels_cap) * sizeof *l);
        w->levels = l;
        w->levels_cap = cap;
    }
    struct hs_listwalk_level *lv = &w->levels[w->depth++];
    lv->path_len = w->path.len;
    lv->rel_len = r->path_len;
    lv->st = r->st;
    hs_buf_truncate(&lv->xattrs, 0);
    hs_buf_truncate(&w->dirpath, 0);
    if (hs_buf_append(&lv->xattrs, r->xattrs, r->xattrs_len) < 0 ||
        hs_buf_append(&w->dirpath, r->path, r->path_len) < 0)
        return hs_err_setf(w->err, ENOMEM, "list walk");
    return 0;
}

/* The walk path of list path p into w->path: "NAME/p", or p alone. */
static int set_path(struct hs_listwalk *w, const char *p, size_t n)
{
    size_t plen = strlen(w->prefix);
    hs_buf_truncate(&w->path, 0);
    int r = hs_buf_append(&w->path, w->prefix, n || !plen ? plen : plen - 1);
    if (r == 0)
        r = hs_buf_append(&w->path, p, n);
    return r < 0 ? hs_err_setf(w->err, ENOMEM, "list walk") : 0;
}

static void item_of(struct hs_listwalk *w, struct hs_walk_item *it, enum hs_walk_ev ev,
                    const struct stat *st, size_t depth)
{
    memset(it, 0, sizeof *it);
    it->ev = ev;
    it->fd = -1;
    it->path = w->path.data ? w->path.data : "";
    it->path_len = w->path.len;
    it->name = depth == 0 && ev != HS_WALK_ENTRY && ev != HS_WALK_ERROR
                   ? it->path
                   : hs_path_base(it->path, it->path_len);
    it->depth = depth;
    if (st) {
        it->st = *st;
        it->st.st_dev ^= w->dev_mask;
    }
}

static int emit_leave(struct hs_listwalk *w, struct hs_walk_item *it)
{
    struct hs_listwalk_level *lv = &w->levels[--w->depth];
    hs_buf_truncate(&w->path, lv->path_len);
    item_of(w, it, HS_WALK_LEAVE, &lv->st, w->depth);
    if (w->depth)
        hs_buf_truncate(&w->dirpath, w->levels[w->depth - 1].rel_len);
    return 0;
}

static bool below(const char *p, size_t n, const char *dir, size_t dlen)
{
    return n > dlen && (dlen == 0 || (memcmp(p, dir, dlen) == 0 && p[dlen] == '/'));
}

/* The directory of the ENTRY just returned: entered, unless the server
 * could not open it (then its ERROR comes next, for the same path). */
static int enter_dir(struct hs_listwalk *w, struct hs_walk_item *it)
{
    w->need_enter = false;
    int k = read_rec(w, &w->peek, &w->peek_index);
    if (k < 0)
        return k;
    w->have_peek = k == 1;
    const struct hs_rec *p = &w->peek.r, *c = &w->cur.r;
    if (k == 1 && p->kind == HS_REC_ERROR && p->unentered && p->path_len == c->path_len &&
        memcmp(p->path, c->path, p->path_len) == 0) {
        w->have_peek = false;
        item_of(w, it, HS_WALK_ERROR, &c->st, w->depth);
        it->err = p->err;
        it->what = "cannot open directory";
        it->unentered = true;
        return 0;
    }
    int r = push_level(w, c);
    if (r == 0)
        item_of(w, it, HS_WALK_ENTER, &c->st, w->depth - 1);
    return r;
}

/* Reads the next record to emit into cur (w->pending), or sets w->eof. */
static int take_rec(struct hs_listwalk *w)
{
    for (;;) {
        int k = next_rec(w);
        if (k < 0)
            return k;
        if (k == 0) {
            w->eof = true;
            return 0;
        }
        const struct hs_rec *r = &w->cur.r;
        if (w->skipping && below(r->path, r->path_len, w->skip_path.data, w->skip_path.len))
            continue;
        w->skipping = false;
        /* the ERROR of a directory whose ENTRY was skipped */
        if (r->kind == HS_REC_ERROR && r->unentered && w->prev_set && w->prev.len == r->path_len &&
            memcmp(w->prev.data, r->path, r->path_len) == 0)
            continue;
        if (w->prev_set && hs_path_cmp(w->prev.data, w->prev.len, r->path, r->path_len) >= 0)
            return bad(w, "out of order");
        hs_buf_truncate(&w->prev, 0);
        w->prev_set = true;
        if (hs_buf_append(&w->prev, r->path, r->path_len) < 0)
            return hs_err_setf(w->err, ENOMEM, "list walk");
        w->pending = true;
        return 0;
    }
}

static int emit_root(struct hs_listwalk *w, struct hs_walk_item *it)
{
    const struct hs_rec *r = &w->cur.r;
    if (r->path_len != 0 || r->kind != HS_REC_ENTRY || !S_ISDIR(r->st.st_mode))
        return bad(w, "the list does not start with a directory");
    w->started = true;
    w->pending = false;
    int k = set_path(w, "", 0);
    if (k == 0)
        k = push_level(w, r);
    if (k == 0)
        item_of(w, it, HS_WALK_ENTER, &r->st, 0);
    return k;
}

int hs_listwalk_next(struct hs_listwalk *w, struct hs_walk_item *it)
{
    if (w->need_enter)
        return enter_dir(w, it);
    int k = !w->pending && !w->eof ? take_rec(w) : 0;
    if (k < 0)
        return k;
    if (w->eof || w->ended) {
        if (!w->started)
            return bad(w, "an empty list");
        if (w->depth > 0)
            return emit_leave(w, it);
        w->ended = true;
        item_of(w, it, HS_WALK_END, NULL, 0);
        return 0;
    }
    if (!w->started)
        return emit_root(w, it);
    const struct hs_rec *r = &w->cur.r;
    size_t dlen = hs_path_dir_len(r->path, r->path_len);
    bool in_top = dlen == w->dirpath.len && memcmp(r->path, w->dirpath.data, dlen) == 0;
    if (!in_top) {
        if (w->depth > 1 && !below(r->path, r->path_len, w->dirpath.data, w->dirpath.len))
            return emit_leave(w, it);
        return bad(w, "an entry in a directory the list did not name");
    }
    w->pending = false;
    if (set_path(w, r->path, r->path_len) < 0)
        return -ENOMEM;
    if (r->kind == HS_REC_ERROR) {
        item_of(w, it, HS_WALK_ERROR, r->st.st_mode ? &r->st : NULL, w->depth);
        it->err = r->err;
        it->what = "cannot examine";
        return 0;
    }
    item_of(w, it, HS_WALK_ENTRY, &r->st, w->depth);
    w->need_enter = S_ISDIR(r->st.st_mode);
    return 0;
}

void hs_listwalk_skip(struct hs_listwalk *w)
{
    w->need_enter = false;
    w->skipping = true;
    hs_buf_truncate(&w->skip_path, 0);
    if (hs_buf_append(&w->skip_path, w->cur.r.path, w->cur.r.path_len) < 0)
        w->skipping = false;
}

void hs_listwalk_rewind_root(struct hs_listwalk *w)
{
    w->started = false;
    w->depth = 0;
    w->prev_set = false;
    w->pending = true;
    w->next_index = 1;
    w->cur_index = 0;
}

const struct hs_buf *hs_listwalk_left_xattrs(const struct hs_listwalk *w)
{
    return &w->levels[w->depth].xattrs;
}

void hs_listwalk_free(struct hs_listwalk *w)
{
    hs_rec_copy_free(&w->cur);
    hs_rec_copy_free(&w->peek);
    for (size_t i = 0; i < w->levels_cap; i++)
        hs_buf_free(&w->levels[i].xattrs);
    free(w->levels);
    w->levels = NULL;
    w->levels_cap = w->depth = 0;
    hs_buf_free(&w->dirpath);
    hs_buf_free(&w->path);
    hs_buf_free(&w->prev);
    hs_buf_free(&w->skip_path);
}
