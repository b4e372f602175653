/*
 * A stack of directory fds, one per level of a walk, with a bounded number
 * open at once: deep trees (deeper than PATH_MAX, or than RLIMIT_NOFILE
 * allows) close their oldest levels and reopen them through ".." on the way
 * back up, checking (dev, ino) so a moved directory is never mistaken for its
 * old parent. Level 0 is never closed. A level may be absent (fd -1), e.g. a
 * directory the previous snapshot did not have; everything below an absent
 * level is absent too.
 *
 * A level pushed with its name can also be reached again from the nearest
 * open ancestor, one name at a time, when ".." no longer leads to it (the
 * level below it was moved elsewhere). When that fails too, the directory on
 * the way moved: it and the levels under it are lost, and can only be popped.
 */
#ifndef HS_DIRSTACK_H
#define HS_DIRSTACK_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>

#define HS_DIRSTACK_OPEN_MAX 48

struct hs_dirframe {
    int fd;           /* -1: absent, closed or lost */
    uint8_t state;    /* HS_DF_OPEN, HS_DF_ABSENT, HS_DF_CLOSED, HS_DF_LOST */
    const char *name; /* in the level above (borrowed), or NULL */
    uint64_t dev, ino;
};

enum { HS_DF_OPEN, HS_DF_ABSENT, HS_DF_CLOSED, HS_DF_LOST };

struct hs_dirstack {
    struct hs_dirframe *frames;
    size_t depth, cap;
    size_t n_open;
    int lost_err; /* why the last pop lost levels: ESTALE (another directory), ENOENT... */
};

/* Pushes fd (owned from now on; -1 = absent). */
int hs_dirstack_push(struct hs_dirstack *s, int fd, struct hs_err *e);
/* The same, with the level's name in the level above, which must stay valid
 * until the level is popped. */
int hs_dirstack_push_named(struct hs_dirstack *s, int fd, const char *name, struct hs_err *e);
/* The fd of the top level, or -1 if absent or lost. Never closed while on top. */
int hs_dirstack_top(const struct hs_dirstack *s);
/* Closes the top level and makes the new top usable again if it had been
 * closed: through "..", or by name from the nearest open ancestor.
 * 0: done; n > 0: the n top levels left are lost (the lowest of them is the
 * directory that moved; lost_err says why); <0: -ESTALE when the way back is
 * lost on an unnamed stack. */
int hs_dirstack_pop(struct hs_dirstack *s, const char *path_for_msg, struct hs_err *e);
size_t hs_dirstack_depth(const struct hs_dirstack *s);
void hs_dirstack_free(struct hs_dirstack *s);

#endif
