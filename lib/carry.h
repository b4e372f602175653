/*
 * A source that failed this run (a host that could not be reached) keeps
 * its place in the new snapshot: its tree is the previous snapshot's,
 * linked, at no cost. See carry.c.
 */
#ifndef HS_CARRY_H
#define HS_CARRY_H
#include "internal.h"

#include "tree.h"

#include <stdint.h>

/* The previous snapshot prev (in destfd, its directory's inode root_ino,
 * its manifest mname in manifestsfd) below name, as a tree whose walk
 * paths start with name: 0 and root_st, -ENOENT when it has no such
 * directory or no manifest to trust, other <0. */
int hs_tree_open_carried(struct hs_tree **t, int manifestsfd, const char *mname, int destfd,
                         const char *prev, uint64_t root_ino, const char *name, uint64_t dev_mask,
                         struct stat *root_st, struct hs_err *e);

#endif
