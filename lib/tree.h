/*
 * A source tree as the backup engine sees it: walk items in walk order (see
 * walk.h) and, for the current item, its content, extended attributes and
 * symlink target. The engine decides (link, verify, copy, content link) the
 * same way whatever is behind it: a local directory walked with fds
 * (hs_tree_open_local), or a host pulled over ssh (remote.h), whose items
 * carry no fd and whose content arrives through the connection.
 */
#ifndef HS_TREE_H
#define HS_TREE_H
#include "internal.h"

#include "buf.h"
#include "walk.h"
#include "xattr.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct hs_blockhash;
struct hs_copier;
struct hs_tree;

struct hs_tree_ops {
    /* As hs_walk_next. */
    int (*next)(struct hs_tree *t, struct hs_walk_item *it, struct hs_err *e);
    /* After ENTRY of a directory: its contents are not wanted. */
    void (*skip)(struct hs_tree *t);
    /* The regular file of the ENTRY it, opened for reading and checked to be
     * it: an fd and its stat, or -ENOENT (vanished), -ELOOP (now a symlink),
     * -ESTALE (replaced), other -errno (the message, if any, in e). */
    int (*open)(struct hs_tree *t, const struct hs_walk_item *it, struct stat *st,
                struct hs_err *e);
    /* The stat of the file fd (from open) now: a change while it was read
     * shows here. 0 or -errno. */
    int (*restat)(struct hs_tree *t, int fd, struct stat *st);
    /* The extended attributes of it (an ENTRY, or the directory of a LEAVE)
     * into xa; fd, when >= 0, is it opened by open. 0 or -errno. */
    int (*xattrs)(struct hs_tree *t, const struct hs_walk_item *it, int fd, struct hs_xattrs *xa,
                  bool all);
    /* The target of the symlink it into target (NUL-terminated, len without
     * it). 0, -ENOENT (vanished), -EAGAIN (kept changing), other -errno. */
    int (*readlink)(struct hs_tree *t, const struct hs_walk_item *it, struct hs_buf *target);
    /* Optional: whether fd (from open) is a file of this store that nothing
     * else holds, which the new tree may take as the copy (linked, not
     * written again): 0 with the directory and name to link it from and its
     * content hash, else <0. */
    int (*adopt)(struct hs_tree *t, int fd, int *dirfd, char name[64], uint8_t hash[16]);
    /* Optional: the block hashes (HS_DELTA_BLOCK) of the content adopted
     * last, when the tree made them as it arrived: 0 and out filled, else
     * <0 (the caller has none). */
    int (*blocks)(struct hs_tree *t, struct hs_blockhash *out);
    /* Optional: the content hash of the regular file it, when the tree knows
     * it without reading (0 and hash), else -ENODATA. */
    int (*known_hash)(struct hs_tree *t, const struct hs_walk_item *it, uint8_t hash[16]);
    void (*free)(struct hs_tree *t);
};

struct hs_tree {
    const struct hs_tree_ops *ops;
    /* Its st_dev and st_ino are another machine's: never compared with this
     * one's (the store, the destination). */
    bool remote;
};

/* The local directory fd (taken over), root_st its fstat; prefix starts
 * every path (as hs_walk_open). */
int hs_tree_open_local(struct hs_tree **t, int fd, const struct stat *root_st, const char *prefix,
                       struct hs_err *e);

static inline void hs_tree_free(struct hs_tree *t)
{
    if (t)
        t->ops->free(t);
}

#endif
