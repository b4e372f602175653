/*
 * The tree writer: the one place where a new tree is built, whoever builds
 * it (a backup's snapshot, an import's, a restore's target; the remote
 * receiver next). Its callers only decide what goes where; the writer makes
 * it, the way archive_write_disk does for bsdtar and bsdcpio.
 *
 * It never leaves the tree it was given and never follows a name: it
 * descends component by component (mkdirat, then O_NOFOLLOW opens of what it
 * made, checked), holds the branch on a bounded stack of directory fds
 * (dirstack.h: any depth, any RLIMIT_NOFILE), makes every object private
 * first (0600 / 0700) and gives it its metadata only through an fd of the
 * object it made and checked (meta.h), never by a name a user could swap.
 *
 * Two kinds of tree. The store's (private: .hardsnap is 0700) has nothing of
 * anyone else's in it, so anything not ours there means the store is being
 * changed under us: a directory is then a failure, an object a warning and
 * removed. A restore's target is shared with its users: what they swap is
 * theirs, left alone, with a warning.
 *
 * Policy lives here too: device nodes need root (one warning per node),
 * owners are kept only by root (one notice otherwise), extended attributes
 * a filesystem cannot keep give one notice, hard links that cannot be made
 * (EMLINK, EXDEV, EPERM) tell the caller to copy.
 */
#ifndef HS_WRITER_H
#define HS_WRITER_H
#include "internal.h"

#include "buf.h"
#include "dirstack.h"
#include "report.h"
#include "xattr.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct hs_writer_opts {
    bool shared;             /* a tree users can write in (a restore's target) */
    bool looking;            /* nothing is written (a dry run, a pass that checks) */
    bool inherits;           /* its directories may pass a default ACL on */
    const char *shown;       /* put before a path in messages (TARGET), or NULL */
    const char *xattrs_none; /* the notice when extended attributes cannot be kept */
};

struct hs_writer {
    struct hs_err *err;
    struct hs_report *rep;
    struct hs_writer_opts o;
    bool root;               /* euid 0: owners are kept, device nodes made */
    uid_t made_uid;          /* the owner of what we create there (meta.h) */
    int rootfd;              /* the tree's top (owned), or -1 */
    struct hs_dirstack dirs; /* the branch being written */
    int held_fd;             /* a directory made for an ENTRY, until its ENTER */
    struct stat held_st;
    /* hs_writer_goto's branch: its path, and where each component ends */
    struct hs_buf at;
    size_t *ends;
    char **names;
    size_t ends_cap;
    struct hs_buf shown;
    unsigned tmp_seq;
    int link_err; /* why the last link was not made (0: it led elsewhere) */
    bool said_no_links;
};

/* Notice bits of the caller's report that the writer uses. */
enum { HS_WRITER_NOTICE_OWNER = 1u << 28, HS_WRITER_NOTICE_XATTR = 1u << 29 };

void hs_writer_init(struct hs_writer *w, const struct hs_writer_opts *o, struct hs_report *rep,
                    struct hs_err *e);
void hs_writer_free(struct hs_writer *w);

/* The tree's top: made as parent/name (the writer's from now on), or an
 * existing directory fd taken over (-1: none, a dry run's). */
int hs_writer_make_root(struct hs_writer *w, int parent, const char *name, const char *shown);
int hs_writer_adopt_root(struct hs_writer *w, int fd);
int hs_writer_root(const struct hs_writer *w);
/* The top becomes a level of the branch (as hs_writer_enter). */
int hs_writer_enter_root(struct hs_writer *w);

/* The directory on top of the branch (-1: absent, a dry run's). */
int hs_writer_top(const struct hs_writer *w);
size_t hs_writer_depth(const struct hs_writer *w);

/* path for a message: "shown/path" (valid until the next call). */
const char *hs_writer_shown(struct hs_writer *w, const char *path);

/* ---- directories, in walk order ---- */

/* Makes the directory name in the top one, opened and checked to be ours,
 * and holds it for hs_writer_enter(). HS_DONE; HS_SKIPPED when a user swapped
 * it (shared tree, warned); or <0 (-EEXIST: a name was there). */
int hs_writer_mkdir(struct hs_writer *w, const char *name, const char *path);
/* Holds an existing directory fd (taken over; -1: absent) for the ENTER. */
void hs_writer_hold(struct hs_writer *w, int fd);
/* The held directory (or an absent level) becomes the top of the branch. */
int hs_writer_enter(struct hs_writer *w);
/* A held directory that will not be entered (the walk could not open its
 * original, or it is not descended into): its metadata from want and xa
 * (want NULL: none), and it is let go. */
int hs_writer_finish_held(struct hs_writer *w, const struct stat *want, const struct hs_xattrs *xa,
                          const char *path);
/* The top directory is complete: its metadata (want NULL: none, the branch
 * only looked), then the branch goes up a level. */
int hs_writer_leave(struct hs_writer *w, const struct stat *want, const struct hs_xattrs *xa,
                    const char *path);

/* ---- directories by path (entries in any order: import) ---- */

/* Called for each directory hs_writer_goto() had to make. */
typedef int (*hs_writer_made_fn)(void *user, const char *path, size_t len, const struct stat *made);
/* The directory dir (len bytes, relative to the top; "" is the top) becomes
 * the top of the branch, its missing components made (0700, ours). An fd of
 * it, or <0 without a message: -ELOOP/-ENOTDIR (a component is something
 * else: a symlink, a file), -ESTALE (replaced while being made), -ENOMEM. */
int hs_writer_goto(struct hs_writer *w, const char *dir, size_t len, hs_writer_made_fn made,
                   void *user);
/* An existing directory name in the top one, or made if missing; opened and
 * checked to be ours: an fd, or <0 as hs_writer_goto (-ESTALE: made, then
 * replaced at once; in a private tree what took its place is removed). */
int hs_writer_open_dir(struct hs_writer *w, const char *name, bool *made, struct stat *st);

/* ---- everything else, in the top directory ---- */

/* HS_SKIPPED (warned) for what cannot be made here at all: a device node
 * without root. Asked before anything is counted or made. */
int hs_writer_can_make(struct hs_writer *w, mode_t mode, const char *path);

/* A new empty regular file name, open O_RDWR (private, 0600): an fd, or
 * <0 with "cannot create" said (-EEXIST: a name was there). */
int hs_writer_file(struct hs_writer *w, const char *name, const char *path);

/* A new symlink (to target), fifo, socket or device node name like want,
 * opened (O_PATH) and checked: HS_DONE with *fd and its stat in *made;
 * HS_SKIPPED (warned: swapped, removed from a private tree); or <0. */
int hs_writer_special(struct hs_writer *w, const char *name, const struct stat *want,
                      const char *target, const char *path, int *fd, struct stat *made);

/* A hard link name to dirfd/from: HS_DONE; HS_NO_LINK when none can be made
 * there (EMLINK, EXDEV, EPERM, ENOENT: the caller copies); <0 otherwise. */
int hs_writer_link(struct hs_writer *w, int dirfd, const char *from, const char *name,
                   const char *path);
/* The same to the tree's own relpath (a hard-link group's first name),
 * reached beneath the top without following anything; with expect, the link
 * must lead to that inode (in a shared tree, the first name may have been
 * replaced meanwhile): HS_NO_LINK when not, and the link is removed. */
int hs_writer_link_path(struct hs_writer *w, const char *relpath, size_t len, const char *name,
                        const struct stat *expect, const char *path);
/* After HS_NO_LINK: says once that hard links cannot be made here (EPERM,
 * EXDEV), or else for this name, that the caller copies it instead. */
void hs_writer_link_lost(struct hs_writer *w, const char *path);

/* A name of our own beside the top directory's entries (buf: 64 bytes), for
 * an object that will replace an entry; hs_writer_install() renames it over
 * name (the old inode is unlinked, never written). HS_DONE; HS_SKIPPED when
 * name became a directory (warned); <0. */
const char *hs_writer_tmp_name(struct hs_writer *w, char *buf, size_t n);
int hs_writer_install(struct hs_writer *w, const char *tmp, const char *name, const char *path);
/* Removes what the writer made as name in the top directory (a half-made
 * object), never a directory. */
void hs_writer_unmake(struct hs_writer *w, const char *name);

/* Owner, extended attributes xa (NULL: none), mode and times of want on the
 * object o made here (an fd; now: its fstat, or NULL), in the order that
 * keeps them all (hs_meta_apply). Owner and xattr trouble is reported;
 * returns 0, or <0 with the message when the mode or times cannot be set. */
int hs_writer_meta(struct hs_writer *w, struct hs_xobj o, const struct stat *want,
                   const struct stat *now, const struct hs_xattrs *xa, const char *path);

#endif
