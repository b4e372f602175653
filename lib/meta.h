/*
 * Giving a newly made object (a snapshot's copy, a restored file) the
 * metadata of its original: owner, extended attributes, mode, times, in the
 * one order that keeps them all.
 */
#ifndef HS_META_H
#define HS_META_H
#include "internal.h"

#include "xattr.h"
#include <stdbool.h>
#include <sys/stat.h>

struct hs_meta_result {
    int owner_err;    /* 0 or -errno: the owner could not be set (the rest was) */
    int xattr_err;    /* 0 or -errno of the first attribute that could not be set */
    const char *what; /* on a returned error: what failed */
};

/*
 * Sets on o the owner (if root and now, the object's current stat, is NULL
 * or differs), the attributes xa (may be NULL), the mode (not for symlinks)
 * and the atime and mtime of want. Owner first: chown clears set-id bits and
 * file capabilities (security.capability), so xattrs and mode come after it;
 * times last, since every change before would touch them. Returns 0, or
 * -errno when the mode or times could not be set (res->what says which);
 * failures of owner and xattrs are only reported in res.
 */
int hs_meta_apply(struct hs_xobj o, const struct stat *want, const struct stat *now,
                  const struct hs_xattrs *xa, bool root, struct hs_meta_result *res);

#endif
