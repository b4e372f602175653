/*
 * Walk items (walk.h) from records in walk order (wire.h): how a remote
 * source's list, and the previous snapshot's part that a failed source
 * carries forward, reach the engine as trees.
 *
 * The records are checked as they come, since a list may be a hostile
 * server's: the first is the root (a directory, path ""), each later one
 * comes after the one before in walk order and lies in a directory the
 * list named before (so never below a symlink or a file); what is wrong
 * ends the walk with an error. ENTER and LEAVE follow from the paths; a
 * directory record followed by an ERROR record of the same path is one the
 * other end could not open (an unentered ERROR, as the walker says it).
 */
#ifndef HS_LISTWALK_H
#define HS_LISTWALK_H
#include "internal.h"

#include "buf.h"
#include "walk.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

struct hs_listwalk_level {
    size_t path_len; /* of the walk path (prefix included) */
    size_t rel_len;  /* of the list path */
    struct stat st;
    struct hs_buf xattrs;
};

struct hs_listwalk {
    /* The next record into into: 1, 0 at the end, <0 (message in e). */
    int (*read)(void *user, struct hs_rec_copy *into, struct hs_err *e);
    void *user;
    const char *prefix; /* "NAME/" before every list path, or "" */
    uint64_t dev_mask;  /* st_dev ^= it: another machine's devices never meet ours */
    const char *name;   /* the list's, for messages */
    struct hs_err *err;

    struct hs_rec_copy cur, peek;
    uint64_t cur_index, peek_index, next_index; /* places in the list */
    bool have_peek, pending, need_enter, skipping, ended, started, eof, prev_set;
    struct hs_buf skip_path;
    struct hs_listwalk_level *levels;
    size_t depth, levels_cap;
    struct hs_buf dirpath; /* the list path of the directory on top */
    struct hs_buf path;    /* the walk path of the current item */
    struct hs_buf prev;    /* the previous record's path, for order */
};

/* As hs_walk_next. */
int hs_listwalk_next(struct hs_listwalk *w, struct hs_walk_item *it);
/* After ENTRY of a directory: not entered, its records skipped. */
void hs_listwalk_skip(struct hs_listwalk *w);
/* After the root's ENTER (read to learn its stat): the walk starts again. */
void hs_listwalk_rewind_root(struct hs_listwalk *w);
/* The xattrs of the directory of the LEAVE just returned. */
const struct hs_buf *hs_listwalk_left_xattrs(const struct hs_listwalk *w);
void hs_listwalk_free(struct hs_listwalk *w);

#endif
