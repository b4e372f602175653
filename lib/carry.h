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

/* A whole snapshot snap of another store (its DEST destfd, its manifests
 * manifestsfd) as the source of a replica (hs_replicate): the entries its
 * manifest recorded, each with its inode in that store (the record's sino)
 * as its inode number, so that two names share an inode in the replica
 * exactly when they do there, and an entry is linked from the replica's
 * previous snapshot only when it is the same inode of that store. 0 and
 * root_st, -ENOENT when there is no manifest to trust, other <0. */
int hs_tree_open_snapshot(struct hs_tree **t, int manifestsfd, int destfd, const char *snap,
                          uint64_t dev_mask, struct stat *root_st, struct hs_err *e);

#endif
