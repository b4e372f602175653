/*
 * Manifest records checked against the tree they describe. A manifest says
 * which inode each path of its snapshot had when it was made; a file of the
 * store replaced since (by hand, or by a user who could reach it) keeps its
 * record. Readers that answer from the manifest (diff) ask here, record by
 * record in walk order, whether the tree still holds that inode and type:
 * one directory listing per directory (getdents: d_ino, d_type), no stat
 * per entry.
 */
#ifndef HS_MCHECK_H
#define HS_MCHECK_H
#include "internal.h"

#include "manifest.h"
#include <sys/stat.h>

struct hs_mcheck;

/* Checks records against the snapshot whose root directory is rootfd
 * (taken over), written at seal (the manifest's mtime, or {0} for none: see
 * hs_dir_sealed, a directory unchanged since needs no listing). */
int hs_mcheck_open(struct hs_mcheck **c, int rootfd, const struct timespec *seal, struct hs_err *e);

/*
 * Whether the tree holds rec (path relative to the snapshot root; records
 * given in walk order): 1 yes; 0 no, and *st is what the tree holds there,
 * readable as *dirfd / *name until the next call; -ENOENT nothing there.
 */
int hs_mcheck_record(struct hs_mcheck *c, const struct hs_mentry *rec, struct stat *st, int *dirfd,
                     const char **name);
void hs_mcheck_free(struct hs_mcheck *c);

#endif
