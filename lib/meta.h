/*
 * Giving a newly made object (a snapshot's copy, a restored file) the
 * metadata of its original: owner, extended attributes, mode, times, in the
 * one order that keeps them all.
 *
 * Everything here acts on an fd of the object, never on a name: where a
 * user can write in the directory (a restore's target), a name can be
 * swapped for a symlink to any file between the moment we make the object
 * and the moment we change it. hs_open_made() is how every writer (backup,
 * import, restore) gets that fd for what it cannot open for real.
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

/* hs_open_made(): the name holds something other than what was made. */
#define HS_MADE_SWAPPED 1

/* The owner this file system gives what we create in dirfd: our effective
 * uid, except where it forces one (NFS with root_squash, vfat or CIFS with
 * uid=), learnt from a file of our own made there (O_TMPFILE, else an
 * O_EXCL name at once removed), so no one else can choose it. Each writer
 * asks once per tree; where it is not our uid, the owner says less (anyone
 * there owns what they make as that uid too) and type and link count must
 * do. */
uid_t hs_made_uid(int dirfd);

/*
 * Opens the object just made at dirfd/name (by mkdirat, mknodat or
 * symlinkat) without following it: a directory O_RDONLY|O_DIRECTORY, anything
 * else O_PATH (no fifo blocks, no device is opened). What is open must be
 * what we made: of the type asked (S_IFDIR, S_IFIFO...), owned by owner
 * (hs_made_uid(): ours, which no one else can make), and, unless a directory, with
 * one name (not a link to someone's file). Returns 0 with *fd (O_PATH unless
 * a directory) and its fstat in *st; HS_MADE_SWAPPED when the name holds
 * something else; or -errno (-ENOENT: it is gone; -ELOOP, -ENOTDIR: a
 * symlink or file where a directory was made). See hs_made_gone().
 */
int hs_open_made(int dirfd, const char *name, mode_t type, uid_t owner, int *fd, struct stat *st);

/* Whether hs_open_made() said k because the name no longer holds what was
 * made: someone swapped it (in a directory a user can write in, a user). What
 * is there must be left alone; the caller warns, naming the path (with
 * strerror(-k) when k < 0). */
bool hs_made_gone(int k);

/* The check hs_open_made() makes, on the stat of something opened
 * otherwise (a directory reached from the top of a tree we made). */
bool hs_is_made(const struct stat *st, mode_t type, uid_t owner);

/* Sets the mode of o (an fd, O_PATH or not; never a symlink): 0 or -errno. */
int hs_meta_chmod(struct hs_xobj o, mode_t mode);

/*
 * Sets on o, an fd (-EBADF otherwise; O_PATH if o.opath), the owner (if root
 * and now, the object's current stat, is NULL or differs), the attributes xa
 * (may be NULL), the mode (not for symlinks) and the atime and mtime of want.
 * ACLs the new object inherited from its directory's default ACL and the
 * original lacks are removed; a file's set-ID bits are kept only where its
 * owner (group) is the original's.
 * Owner first: chown clears set-id bits and file capabilities
 * (security.capability), so xattrs and mode come after it; times last, since
 * every change before would touch them. Returns 0, or -errno when the mode
 * or times could not be set (res->what says which); failures of owner and
 * xattrs are only reported in res.
 */
int hs_meta_apply(struct hs_xobj o, const struct stat *want, const struct stat *now,
                  const struct hs_xattrs *xa, bool root, struct hs_meta_result *res);

#endif
