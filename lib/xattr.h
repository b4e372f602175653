/*
 * Extended attributes (POSIX ACLs included: they are system.posix_acl_*).
 * An object is named by an fd: an ordinary one, or an O_PATH one (symlinks
 * and special files, which cannot be opened for real), reached through its
 * /proc/self/fd link, which lands on the object itself and never follows it
 * further. Only for reading, an object may also be named by (dirfd, name),
 * through /proc/self/fd/DIRFD/name: no long path, the final symlink not
 * followed. Writing is by fd only: a name can be swapped for a symlink
 * between the check and the call, an fd of the object checked cannot.
 */
#ifndef HS_XATTR_H
#define HS_XATTR_H
#include "internal.h"

#include "buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hs_xattrs {
    struct hs_buf names;  /* NUL-separated, sorted */
    struct hs_buf values; /* (u32 length, bytes) per name, same order */
    size_t count;
};

struct hs_xobj {
    int fd;     /* >= 0: use it */
    bool opath; /* fd was opened O_PATH: f*xattr() would fail with EBADF */
    int dirfd;  /* else (reading only) dirfd/name, not following a final symlink */
    const char *name;
    bool inherits; /* made where a default ACL may apply: hs_meta_apply() drops
                      the ACLs it took that the original lacks */
};

/* Reads the attributes of o into x (reused between calls): all of them if
 * all, else only those an unprivileged process can set (user.*, ACLs), so
 * that what is read, hashed and compared is what a copy can carry. */
int hs_xattr_read(struct hs_xattrs *xa, struct hs_xobj o, bool all);
/* The object's xattr names (listxattr(2)'s list), never following a final
 * symlink of (dirfd, name): its length, or -1 with errno. */
ssize_t hs_xattr_list(struct hs_xobj o, char *buf, size_t size);
/* Sets x to the n attributes given in any order (copied; a repeated name
 * counts once), all of them or only those an unprivileged process can set,
 * as hs_xattr_read: an archive's attributes, in the same form. */
int hs_xattr_set(struct hs_xattrs *xa, const char *const *names, const void *const *values,
                 const size_t *sizes, size_t n, bool all);
/* 0 when there are none, else a 64-bit hash of the sorted names and values. */
uint64_t hs_xattr_hash(const struct hs_xattrs *xa);
/* Sets x on o, which must be an fd (-EBADF otherwise). Without root, only
 * user.* and ACLs are tried. Returns 0, or -errno of the first attribute that
 * could not be set (the rest are still set). */
int hs_xattr_apply(const struct hs_xattrs *xa, struct hs_xobj o, bool root);
/* A new object takes the ACLs of its directory's default ACL: those that x
 * (the original's attributes, may be NULL) does not have are removed from o
 * (an fd), so a user's default ACL on a restore target cannot grant her what
 * the original did not (system.posix_acl_default only for a directory). */
int hs_xattr_drop_inherited_acls(const struct hs_xattrs *xa, struct hs_xobj o, bool dir);
/* Whether the directory dirfd has a default ACL, which what is made in it
 * takes. */
bool hs_xattr_has_default_acl(int dirfd);
void hs_xattrs_free(struct hs_xattrs *xa);

#endif
