/*
 * The source walker: an iterator over a directory tree, fd-relative, sorted.
 *
 * It never builds a path to open anything: every open is openat() on the
 * parent's fd with O_NOFOLLOW, and a directory is checked after opening
 * (fstat, same dev and ino as the lstat that listed it), so a directory
 * swapped for a symlink mid-walk is reported, never followed. The path string
 * exists for the manifest and for messages. Entries of each directory are
 * sorted with strcmp, so output is the same on every run; only the directories
 * on the current branch are held in memory.
 *
 * A directory that moved while the walk was below it and can no longer be
 * reached (see dirstack.h) costs the rest of its entries, never the walk:
 * every level from the deepest one left up to it gets its LEAVE, with fd -1
 * and err set, then an ERROR names it as an entry of its parent ("directory
 * moved during the walk"), and the walk goes on with the parent's next entry.
 * ENTERs and LEAVEs stay balanced.
 *
 * What a consumer needs to know comes with the item, so it keeps no state of
 * its own between items: an ERROR carries the entry's lstat where one was
 * had, and says (unentered) when it is about the directory of the ENTRY just
 * before, which then gets no ENTER and no LEAVE (kept empty, with the
 * metadata of that lstat). A root that cannot be walked at all is FATAL.
 */
#ifndef HS_WALK_H
#define HS_WALK_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

enum hs_walk_ev {
    HS_WALK_END,   /* the walk is complete */
    HS_WALK_ENTRY, /* an entry of the current directory; dirs are entered next */
    HS_WALK_ENTER, /* a directory was opened: fd is its own */
    HS_WALK_LEAVE, /* all of a directory's entries were returned (or, err set, it was lost) */
    HS_WALK_ERROR, /* an entry could not be examined, a dir not opened, or a dir moved */
    HS_WALK_FATAL, /* the root could not be opened or read: the walk ends */
};

struct hs_walk_item {
    enum hs_walk_ev ev;
    int fd;           /* ENTRY/ERROR: the parent directory; ENTER/LEAVE: the dir itself,
                         -1 on the LEAVE of a lost directory */
    const char *name; /* name in the parent; the root's is its prefix */
    const char *path; /* prefix + relative path, NUL-terminated */
    size_t path_len;
    size_t depth;     /* 0 = root */
    struct stat st;   /* ENTRY/ENTER/LEAVE; ERROR: the entry's lstat (st_mode 0 if none) */
    int err;          /* ERROR/FATAL: errno; LEAVE: 0, or why the directory was lost */
    const char *what; /* ERROR/FATAL: what failed */
    bool unentered;   /* ERROR: about the directory of the ENTRY just before: it gets
                         no ENTER and no LEAVE */
};

struct hs_walk;

/* Walks the directory fd (taken over). prefix ("" or a name) starts every
 * path. root_st is fd's fstat. */
int hs_walk_open(struct hs_walk **w, int fd, const struct stat *root_st, const char *prefix,
                 struct hs_err *e);
/* The next item: 0, or <0 on a fatal error (the walk cannot go on). */
int hs_walk_next(struct hs_walk *w, struct hs_walk_item *it, struct hs_err *e);
/* After ENTRY of a directory: do not descend into it. */
void hs_walk_skip(struct hs_walk *w);
void hs_walk_free(struct hs_walk *w);

#endif
