/*
 * A stack of directory fds, one per level of a walk, with a bounded number
 * open at once: deep trees (deeper than PATH_MAX, or than RLIMIT_NOFILE
 * allows) close their oldest levels and reopen them through ".." on the way
 * back up, checking (dev, ino) so a moved directory is never mistaken for its
 * old parent. A level may be absent (fd -1), e.g. a directory the previous
 * snapshot did not have; everything below an absent level is absent too.
 */
#ifndef HS_DIRSTACK_H
#define HS_DIRSTACK_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>

#define HS_DIRSTACK_OPEN_MAX 48

struct hs_dirframe {
    int fd;        /* -1: absent or closed */
    uint8_t state; /* HS_DF_OPEN, HS_DF_ABSENT, HS_DF_CLOSED */
    uint64_t dev, ino;
};

enum { HS_DF_OPEN, HS_DF_ABSENT, HS_DF_CLOSED };

struct hs_dirstack {
    struct hs_dirframe *frames;
    size_t depth, cap;
    size_t n_open;
};

/* Pushes fd (owned from now on; -1 = absent). */
int hs_dirstack_push(struct hs_dirstack *s, int fd, struct hs_err *e);
/* The fd of the top level, or -1 if absent. Never closed while on top. */
int hs_dirstack_top(const struct hs_dirstack *s);
/* Closes the top level; reopens the new top through ".." if it had been
 * closed. -ESTALE if what ".." leads to is not the directory we left. */
int hs_dirstack_pop(struct hs_dirstack *s, const char *path_for_msg, struct hs_err *e);
size_t hs_dirstack_depth(const struct hs_dirstack *s);
void hs_dirstack_free(struct hs_dirstack *s);

#endif
