/*
 * The hard-link table: source files with st_nlink > 1, keyed by (dev, ino).
 * The first name met is the leader; later names are linked to the leader's
 * file in the snapshot. Each entry counts down the names still to come and
 * is dropped when none remain, so memory follows pending links, not the tree.
 */
#ifndef HS_LINKTAB_H
#define HS_LINKTAB_H
#include "internal.h"

#include <stddef.h>
#include <stdint.h>

struct hs_link {
    uint64_t dev, ino;  /* source identity */
    uint64_t remaining; /* names not yet seen */
    char *path;         /* leader's snapshot-relative path (owned) */
    size_t path_len;
    void *data; /* caller's record of the leader (owned by the table, freed with free) */
};

struct hs_linktab;

struct hs_linktab *hs_linktab_new(void);
void hs_linktab_free(struct hs_linktab *t);

/* The entry for (dev, ino), or NULL. */
struct hs_link *hs_linktab_find(struct hs_linktab *t, uint64_t dev, uint64_t ino);

/* Adds a leader with nlink names in all (so nlink - 1 remain); -EINVAL for
 * nlink < 2 or the key no inode has (see inomap.h). Takes a copy of path and
 * ownership of data (even on failure). */
int hs_linktab_add(struct hs_linktab *t, uint64_t dev, uint64_t ino, uint64_t nlink,
                   const char *path, size_t path_len, void *data, struct hs_link **out);

/* Replaces the leader path of l (a group continues on a fresh copy). */
int hs_linktab_set_path(struct hs_link *l, const char *path, size_t path_len);

/* One more name of l was seen; drops l when it was the last. */
void hs_linktab_release(struct hs_linktab *t, struct hs_link *l);

size_t hs_linktab_count(const struct hs_linktab *t);

#endif
