/*
 * Restoring a snapshot, or a path inside it, into a target directory.
 *
 * The snapshot side is read with the walker (fd-relative, O_NOFOLLOW, any
 * depth); the target side follows the same branch on an hs_dirstack whose
 * directories are each opened with openat(parent, name, O_DIRECTORY |
 * O_NOFOLLOW), so a symlink planted in the target is never followed: it is an
 * existing entry like any other. No path is built to open anything but
 * TARGET itself (which may be a symlink: the user's choice) and the leaders
 * of hard-link groups, which are reached component by component.
 *
 * Two passes. Without --overwrite, the first one only looks: every entry of
 * the target that the restore would replace is named, and if there is any,
 * nothing is written at all. The second pass writes: new objects only (a
 * replaced file is a new inode under a temporary name, renamed over the old
 * one; an old inode is never written into), metadata through hs_meta_apply(),
 * a directory's when the walk leaves it. Metadata is only ever set through an
 * fd of the object made and checked (hs_open_made()): a user who can write
 * in the target can swap a new fifo or directory for a symlink to any file,
 * and a name would follow it. A dry run is the first pass with
 * reporting on. With --overwrite the first pass is not needed: what cannot be
 * replaced (a directory where the snapshot has a file) is a warning.
 *
 * Hard links: snapshot names that share an inode are one group, keyed by the
 * snapshot's (dev, ino) in a countdown table; later names are linked to the
 * first name's restored file. A snapshot inode is also shared with the other
 * snapshots of the store, so its st_nlink overstates the group; the
 * manifest's nlink (the source's, which bounds the names of the inode in this
 * snapshot) tightens the count when the manifest can be trusted, so that the
 * table holds only pending groups.
 */
#include "hardsnap.h"

#include "buf.h"
#include "copy.h"
#include "dirstack.h"
#include "fsutil.h"
#include "linktab.h"
#include "manifest.h"
#include "meta.h"
#include "report.h"
#include "snapshot.h"
#include "store.h"
#include "walk.h"
#include "writer.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Conflicts named one by one; the rest are counted in one line. */
#define CONFLICTS_SHOWN 50

/* What the target holds where the snapshot has an entry. */
enum tstate { T_ABSENT, T_DIR, T_OTHER };

struct restore {
    const struct hs_restore_opts *o;
    struct hs_restore_stats *st; /* the caller's, or a scratch one in the checking pass */
    struct hs_err *err;
    bool root;
    bool writing; /* the pass that writes, else the one that looks */

    struct hs_snapsrc src;
    char *tdisp; /* TARGET as given, for messages */

    int tbase;   /* TARGET; -1 while it does not exist (a dry run, the checking pass) */
    int tparent; /* while it does not: the directory to make it in */
    char tlast[NAME_MAX + 1]; /* ... under this name */
    struct hs_writer wr;      /* the target's branch, in step with the walk */

    struct hs_linktab *links;
    struct hs_copier copier;
    struct hs_xattrs xa;
    struct hs_buf lnk;  /* a symlink's target */
    struct hs_buf disp; /* a path for a message */
    uint64_t conflicts;
    struct hs_report rep;
};

/* One entry of the snapshot, wherever it comes from (the walk, or PATH). */
struct rs_entry {
    int sfd;          /* its directory in the snapshot */
    const char *name; /* in that directory, and in the target's */
    const char *path; /* relative to TARGET */
    size_t path_len;
    const struct stat *st; /* the snapshot's lstat */
};

/* What the link table keeps of a group's first restored name. */
struct leader {
    dev_t dev;
    ino_t ino;
};

/* ---- messages and events ------------------------------------------------ */

static const char *tpath(struct restore *rs, const char *path)
{
    return hs_buf_join(&rs->disp, rs->tdisp, path);
}

static const char *spath(struct restore *rs, const char *path)
{
    return hs_buf_join(&rs->disp, rs->src.disp, path);
}

/* A per-entry problem about shown (a full path): reported (when this pass
 * reports), counted, and the restore goes on. Returns HS_SKIPPED. */
static int warn(struct restore *rs, int errnum, const char *what, const char *shown,
                const char *path)
{
    hs_report_warn(&rs->rep, errnum, what, shown, path);
    return HS_SKIPPED;
}

static int twarn(struct restore *rs, int errnum, const char *what, const char *path)
{
    return warn(rs, errnum, what, tpath(rs, path), path);
}

static int swarn(struct restore *rs, int errnum, const char *what, const char *path)
{
    return warn(rs, errnum, what, spath(rs, path), path);
}

/* Trouble writing the target: the restore stops (exit 3). */
static int fail(struct restore *rs, int errnum, const char *what, const char *path)
{
    return hs_err_path(rs->err, errnum, what, tpath(rs, path));
}

/* An entry of the target that the restore would replace: named, always (it
 * is why nothing is written), up to CONFLICTS_SHOWN. */
static int conflict(struct restore *rs, const char *path)
{
    if (rs->conflicts++ < CONFLICTS_SHOWN) {
        struct hs_err w = {0};
        hs_err_path(&w, 0, "exists in the target", tpath(rs, path));
        hs_report_say(&rs->rep, HS_EV_WARNING, path, w.msg ? w.msg : "exists in the target");
        hs_err_clear(&w);
    }
    return HS_SKIPPED;
}

/* An entry was restored (or would be, in a dry run): counted and reported. */
static void restored(struct restore *rs, const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode)) {
        rs->st->dirs++;
    } else if (S_ISREG(st->st_mode)) {
        rs->st->files++;
        rs->st->bytes_total += (uint64_t)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        rs->st->symlinks++;
    } else {
        rs->st->specials++;
    }
    if (rs->o->verbose_events && *path)
        hs_report_event(&rs->rep, HS_EV_COPY, path, NULL);
}

/* ---- the target side ------------------------------------------------------ */

static int ttop(const struct restore *rs)
{
    return hs_writer_top(&rs->wr);
}

static int target_state(struct restore *rs, const char *name, struct stat *tst, const char *path)
{
    int tfd = ttop(rs);
    if (tfd < 0)
        return T_ABSENT;
    if (fstatat(tfd, name, tst, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISDIR(tst->st_mode) ? T_DIR : T_OTHER;
    if (errno == ENOENT)
        return T_ABSENT;
    return fail(rs, errno, "cannot examine", path);
}

/* The writer could not create e (k < 0, said in rs->err): a name that
 * appeared meanwhile is skipped (never replaced without --overwrite);
 * anything else stops the restore. */
static int create_failed(struct restore *rs, int k, const struct rs_entry *e)
{
    if (k != -EEXIST)
        return k;
    hs_err_clear(rs->err);
    return twarn(rs, EEXIST, "appeared in the target during the restore, not replaced", e->path);
}

/* Opens the existing target directory of e, checked to be the one tst saw
 * and not the store: HS_DONE and *fd, or HS_SKIPPED (warned). */
static int open_target_dir(struct restore *rs, const struct rs_entry *e, const struct stat *tst,
                           int *fd)
{
    struct stat st;
    *fd = hs_open_dir(ttop(rs), e->name);
    if (*fd < 0)
        return twarn(rs, errno, "cannot open", e->path);
    if (fstat(*fd, &st) < 0 || !hs_stat_same_file(&st, tst)) {
        close(*fd);
        *fd = -1;
        return twarn(rs, ESTALE, "changed during the restore", e->path);
    }
    if (hs_stat_same_file(&st, &rs->src.store_st)) {
        close(*fd);
        *fd = -1;
        return twarn(rs, 0, "the store is inside the target: not restoring into", e->path);
    }
    /* its mode is set from the snapshot when the walk leaves it */
    if (rs->writing && !rs->root && (st.st_mode & S_IRWXU) != S_IRWXU)
        fchmod(*fd, (st.st_mode & 07777) | S_IRWXU);
    return HS_DONE;
}

/* ---- metadata --------------------------------------------------------------- */

/* The snapshot object src's extended attributes into rs->xa (none when src
 * names nothing: the snapshot directory could not be read). */
static void read_xattrs(struct restore *rs, struct hs_xobj src, const char *path)
{
    rs->xa.count = 0;
    if (src.fd < 0 && !src.name)
        return;
    int k = hs_xattr_read(&rs->xa, src, rs->root);
    if (k < 0) {
        swarn(rs, -k, "cannot read extended attributes of", path);
        rs->xa.count = 0;
    }
}

/* Gives the target object dst the metadata of the snapshot's src, through
 * the writer (an fd of what it made). */
static int apply_meta(struct restore *rs, struct hs_xobj src, struct hs_xobj dst,
                      const struct stat *want, const struct stat *now, const char *path)
{
    read_xattrs(rs, src, path);
    return hs_writer_meta(&rs->wr, dst, want, now, &rs->xa, path);
}

/* ---- hard links ------------------------------------------------------------ */

/* Links a later name of a group to its leader's restored file, reached from
 * TARGET one component at a time (O_NOFOLLOW) and checked to be the inode
 * restored: HS_DONE, HS_NO_LINK (a fresh copy must do), <0 fatal. A fresh
 * copy restores the data but not the grouping the snapshot has, so it is a
 * warning (exit 1), never silent. */
static int link_member(struct restore *rs, const struct rs_entry *e, struct hs_link *l,
                       const char *dname)
{
    const struct leader *ld = l->data;
    struct stat leader = {.st_dev = ld->dev, .st_ino = ld->ino};
    int k = hs_writer_link_path(&rs->wr, l->path, l->path_len, dname, &leader, e->path);
    if (k == HS_NO_LINK) {
        rs->st->link_fallbacks++;
        hs_writer_link_lost(&rs->wr, e->path);
    } else if (k == HS_DONE) {
        rs->st->hardlinked++;
        hs_linktab_release(rs->links, l);
    }
    return k;
}

/* e's restored file (made) leads its group from now on; l is the group's
 * entry when it goes on from a fresh copy. */
static int remember_leader(struct restore *rs, const struct rs_entry *e, struct hs_link *l,
                           uint64_t names, const struct stat *made)
{
    struct leader *ld = malloc(sizeof *ld);
    if (!ld)
        return hs_err_setf(rs->err, ENOMEM, "link table");
    *ld = (struct leader){made ? made->st_dev : 0, made ? made->st_ino : 0};
    int k;
    if (l) {
        free(l->data);
        l->data = ld;
        k = hs_linktab_set_path(l, e->path, e->path_len);
        if (k == 0)
            hs_linktab_release(rs->links, l);
    } else {
        k = hs_linktab_add(rs->links, e->st->st_dev, e->st->st_ino, names, e->path, e->path_len, ld,
                           NULL);
    }
    return k < 0 ? hs_err_setf(rs->err, -k, "link table") : 0;
}

/* ---- creating non-directories ----------------------------------------------- */

/* The snapshot's regular file e, opened and checked to be what the walk saw. */
static int open_snapshot_file(struct restore *rs, const struct rs_entry *e, struct stat *st)
{
    int fd = hs_open_file_read(e->sfd, e->name);
    if (fd < 0) {
        swarn(rs, errno, "cannot open", e->path);
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, e->st)) {
        swarn(rs, ESTALE, "changed in the snapshot", e->path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Copies the snapshot's file e into the new file dname. */
static int copy_file(struct restore *rs, const struct rs_entry *e, const char *dname,
                     struct stat *made)
{
    struct stat sst;
    int sfd = open_snapshot_file(rs, e, &sst);
    if (sfd < 0)
        return HS_SKIPPED;
    int dfd = hs_writer_file(&rs->wr, dname, e->path);
    if (dfd < 0) {
        close(sfd);
        return create_failed(rs, dfd, e);
    }
    uint8_t hash[16];
    uint64_t written = 0;
    int k = hs_copy_data(&rs->copier, sfd, dfd, &sst, hash, &written, tpath(rs, e->path), rs->err);
    rs->st->bytes_copied += written;
    if (k < 0 && rs->copier.src_failed) {
        /* a damaged snapshot file: the others are still worth restoring */
        int err = rs->err->code;
        hs_err_clear(rs->err);
        k = swarn(rs, err, "cannot read", e->path);
    }
    if (k == HS_DONE && fstat(dfd, made) < 0)
        k = fail(rs, errno, "cannot examine", e->path);
    if (k == HS_DONE)
        k = apply_meta(rs, (struct hs_xobj){.fd = sfd}, (struct hs_xobj){.fd = dfd}, &sst, made,
                       e->path);
    close(sfd);
    close(dfd);
    if (k != HS_DONE)
        hs_writer_unmake(&rs->wr, dname); /* nothing half-made stays */
    else
        rs->st->copied++;
    return k;
}

/* The snapshot symlink's target into rs->lnk. */
static int read_link(struct restore *rs, const struct rs_entry *e)
{
    size_t size = (size_t)e->st->st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(&rs->lnk, 0);
        if (hs_buf_reserve(&rs->lnk, size) < 0)
            return hs_err_setf(rs->err, ENOMEM, "symlink");
        ssize_t n = readlinkat(e->sfd, e->name, rs->lnk.data, size);
        if (n < 0)
            return swarn(rs, errno, "cannot read symlink", e->path);
        if ((size_t)n < size) {
            rs->lnk.len = (size_t)n;
            rs->lnk.data[n] = '\0';
            return HS_DONE;
        }
    }
    return swarn(rs, ESTALE, "changed in the snapshot", e->path);
}

/* A symlink, fifo, socket or device node, created anew as dname. */
static int create_other(struct restore *rs, const struct rs_entry *e, const char *dname,
                        struct stat *made)
{
    bool is_link = S_ISLNK(e->st->st_mode);
    int k = is_link ? read_link(rs, e) : HS_DONE;
    if (k != HS_DONE)
        return k;
    int ofd;
    k = hs_writer_special(&rs->wr, dname, e->st, rs->lnk.data, e->path, &ofd, made);
    if (k < 0)
        return create_failed(rs, k, e);
    if (k != HS_DONE)
        return k;
    /* a symlink's xattrs are not kept by the backup either */
    struct hs_xobj src = {.fd = -1, .dirfd = e->sfd, .name = is_link ? NULL : e->name};
    k = apply_meta(rs, src, (struct hs_xobj){.fd = ofd, .opath = true}, e->st, made, e->path);
    close(ofd);
    if (k != HS_DONE)
        hs_writer_unmake(&rs->wr, dname);
    else
        rs->st->created++;
    return k;
}

/* Restores the non-directory e in the target, in place of an old entry if
 * replace (the new object under a name of our own, renamed over the old
 * one, which is unlinked, never written). */
static int place_nondir(struct restore *rs, const struct rs_entry *e, bool replace)
{
    char tmp[64];
    const char *dname = replace ? hs_writer_tmp_name(&rs->wr, tmp, sizeof tmp) : e->name;
    uint64_t names = hs_snapsrc_names(&rs->src, e->path, e->path_len, e->st);
    struct hs_link *l = names > 1 ? hs_linktab_find(rs->links, e->st->st_dev, e->st->st_ino) : NULL;
    int k = l ? link_member(rs, e, l, dname) : HS_NO_LINK;
    if (k < 0)
        return k;
    bool linked = k == HS_DONE;
    struct stat made;
    if (!linked) {
        k = S_ISREG(e->st->st_mode) ? copy_file(rs, e, dname, &made)
                                    : create_other(rs, e, dname, &made);
        if (k != HS_DONE)
            return k;
    }
    if (replace && (k = hs_writer_install(&rs->wr, dname, e->name, e->path)) != HS_DONE)
        return k;
    if (!linked && names > 1 && (k = remember_leader(rs, e, l, names, &made)) < 0)
        return k;
    restored(rs, e->path, e->st);
    return HS_DONE;
}

/* A dry run's account of e: what would be copied, created or linked. */
static int plan_nondir(struct restore *rs, const struct rs_entry *e)
{
    if (rs->rep.muted)
        return HS_DONE;
    uint64_t names = hs_snapsrc_names(&rs->src, e->path, e->path_len, e->st);
    struct hs_link *l = names > 1 ? hs_linktab_find(rs->links, e->st->st_dev, e->st->st_ino) : NULL;
    if (l) {
        rs->st->hardlinked++;
        hs_linktab_release(rs->links, l);
    } else {
        if (S_ISREG(e->st->st_mode)) {
            rs->st->copied++;
            rs->st->bytes_copied += (uint64_t)e->st->st_size;
        } else {
            rs->st->created++;
        }
        if (names > 1) {
            int k = remember_leader(rs, e, NULL, names, NULL);
            if (k < 0)
                return k;
        }
    }
    restored(rs, e->path, e->st);
    return HS_DONE;
}

static int nondir(struct restore *rs, const struct rs_entry *e)
{
    hs_report_entry(&rs->rep);
    int k = hs_writer_can_make(&rs->wr, e->st->st_mode, e->path);
    if (k != HS_DONE)
        return k;
    struct stat tst;
    int t = target_state(rs, e->name, &tst, e->path);
    if (t < 0)
        return t;
    if (t == T_DIR && (rs->o->overwrite || rs->writing))
        return twarn(rs, 0, "a directory in the target is not replaced by a file", e->path);
    if (t != T_ABSENT && !rs->o->overwrite) {
        if (!rs->writing)
            return conflict(rs, e->path);
        return twarn(rs, EEXIST, "appeared in the target during the restore, not replaced",
                     e->path);
    }
    if (!rs->writing)
        return plan_nondir(rs, e);
    return place_nondir(rs, e, t == T_OTHER);
}

/* ---- directories ------------------------------------------------------------ */

/* The checking pass: is there anything in the way of directory e? */
static int check_dir(struct restore *rs, const struct rs_entry *e, int t, const struct stat *tst)
{
    int fd = -1;
    if (t == T_OTHER && !rs->o->overwrite)
        conflict(rs, e->path);
    else if (t == T_DIR && open_target_dir(rs, e, tst, &fd) != HS_DONE)
        return HS_SKIPPED;
    hs_writer_hold(&rs->wr, fd);
    /* below an absent or replaced directory nothing can be in the way: only
     * a dry run has to go there, to list what would be restored */
    return fd < 0 && rs->rep.muted ? HS_SKIPPED : HS_DONE;
}

/* The writing pass: directory e made in the target (or an existing one
 * merged into), and opened. */
static int make_dir(struct restore *rs, const struct rs_entry *e, int t, struct stat *tst)
{
    int tfd = ttop(rs), fd;
    if (t == T_OTHER) {
        if (!rs->o->overwrite)
            return twarn(rs, EEXIST, "appeared in the target during the restore, not replaced",
                         e->path);
        /* a file or symlink (never followed) gives way to the directory */
        if (unlinkat(tfd, e->name, 0) < 0)
            return fail(rs, errno, "cannot replace", e->path);
        t = T_ABSENT;
    }
    if (t == T_ABSENT) {
        /* made, and checked to be ours before anything goes into it */
        int k = hs_writer_mkdir(&rs->wr, e->name, e->path);
        return k < 0 ? create_failed(rs, k, e) : k;
    }
    int k = open_target_dir(rs, e, tst, &fd);
    if (k == HS_DONE)
        hs_writer_hold(&rs->wr, fd);
    return k;
}

/* A directory of the snapshot, met as an entry: HS_DONE (descend),
 * HS_SKIPPED (not into this one), or <0. */
static int dir_entry(struct restore *rs, const struct rs_entry *e)
{
    hs_report_entry(&rs->rep);
    struct stat tst;
    int t = target_state(rs, e->name, &tst, e->path);
    if (t < 0)
        return t;
    int k = rs->writing ? make_dir(rs, e, t, &tst) : check_dir(rs, e, t, &tst);
    if (k == HS_DONE)
        restored(rs, e->path, e->st);
    return k;
}

static int dir_enter(struct restore *rs, const struct hs_walk_item *it)
{
    if (it->depth == 0 && rs->src.whole) {
        rs->st->dirs++;
        return hs_writer_enter_root(&rs->wr);
    }
    return hs_writer_enter(&rs->wr);
}

/* The target directory is complete: the snapshot directory's metadata (a
 * lost one's, it->fd -1, without xattrs). */
static int dir_leave(struct restore *rs, const struct hs_walk_item *it)
{
    if (rs->writing)
        read_xattrs(rs, (struct hs_xobj){.fd = it->fd}, it->path);
    return hs_writer_leave(&rs->wr, rs->writing ? &it->st : NULL, &rs->xa, it->path);
}

/* The walk could not examine an entry or open a directory of the snapshot:
 * such a directory stays, empty, with its own metadata. */
static int walk_error(struct restore *rs, const struct hs_walk_item *it)
{
    swarn(rs, it->err, it->what, it->path);
    if (!it->unentered)
        return HS_DONE;
    int k = hs_writer_finish_held(&rs->wr, rs->writing ? &it->st : NULL, NULL, it->path);
    return k < 0 ? k : HS_DONE;
}

static int walk_item(struct restore *rs, struct hs_walk *w, const struct hs_walk_item *it)
{
    struct rs_entry e = {it->fd, it->name, it->path, it->path_len, &it->st};
    int k = HS_DONE;
    switch (it->ev) {
    case HS_WALK_ENTRY:
        if (!S_ISDIR(it->st.st_mode))
            return nondir(rs, &e);
        k = dir_entry(rs, &e);
        if (k == HS_SKIPPED) {
            hs_writer_hold(&rs->wr, -1);
            hs_walk_skip(w);
        }
        break;
    case HS_WALK_ENTER:
        k = dir_enter(rs, it);
        break;
    case HS_WALK_LEAVE:
        k = dir_leave(rs, it);
        break;
    case HS_WALK_ERROR:
        k = walk_error(rs, it);
        break;
    case HS_WALK_FATAL:
        return hs_err_path(rs->err, it->err, it->what, spath(rs, it->path));
    case HS_WALK_END:
        break;
    }
    return k;
}

/* ---- the passes ------------------------------------------------------------- */

/* Walks the snapshot's tree: its root, or the directory PATH. */
static int walk_tree(struct restore *rs)
{
    if (!rs->src.whole) {
        struct rs_entry e = {rs->src.parent, rs->src.leaf, rs->src.leaf, strlen(rs->src.leaf),
                             &rs->src.leaf_st};
        int k = dir_entry(rs, &e);
        if (k != HS_DONE)
            return k < 0 ? k : 0;
    }
    struct hs_walk *w;
    int k = hs_snapsrc_walk(&rs->src, &w, rs->err);
    if (k < 0)
        return k;
    struct hs_walk_item it;
    while ((k = hs_walk_next(w, &it, rs->err)) == 0 && it.ev != HS_WALK_END) {
        k = walk_item(rs, w, &it);
        if (k < 0)
            break;
    }
    hs_walk_free(w);
    return k < 0 ? k : 0;
}

/* The writer for a pass, at TARGET: the existing one, one made now (the
 * writing pass), or none yet (a pass that only looks). */
static int open_tree(struct restore *rs, bool writing)
{
    struct hs_writer_opts wo = {
        .shared = true,
        .looking = !writing,
        .inherits = true, /* a target directory may have a default ACL: its user's */
        .shown = rs->tdisp,
        .xattrs_none = "extended attributes are not supported by the target: not restored"};
    hs_writer_init(&rs->wr, &wo, &rs->rep, rs->err);
    if (rs->tbase >= 0 || !writing) {
        int fd = rs->tbase >= 0 ? dup(rs->tbase) : -1;
        if (rs->tbase >= 0 && fd < 0)
            return fail(rs, errno, "cannot open", "");
        return hs_writer_adopt_root(&rs->wr, fd);
    }
    int k = hs_writer_make_root(&rs->wr, rs->tparent, rs->tlast, rs->tdisp);
    if (k == -ENOENT) /* the parent went away since it was checked */
        hs_err_kind(rs->err, HS_USAGE);
    if (k == 0 && (rs->tbase = dup(hs_writer_root(&rs->wr))) < 0)
        k = fail(rs, errno, "cannot open", "");
    return k;
}

static int run_pass(struct restore *rs, bool writing)
{
    rs->writing = writing;
    rs->rep.muted = !(writing || rs->o->dry_run);
    if (!rs->root)
        hs_report_notice_once(&rs->rep, HS_WRITER_NOTICE_OWNER,
                              "not running as root: file ownership is not restored");
    int k = open_tree(rs, writing);
    rs->links = k == 0 ? hs_linktab_new() : NULL;
    if (k == 0 && !rs->links)
        k = hs_err_setf(rs->err, ENOMEM, "link table");
    if (k == 0 && !rs->rep.muted) { /* only counting groups needs it */
        hs_snapsrc_load_manifest(&rs->src);
    }
    /* TARGET holds PATH: the level above the walk's root */
    if (k == 0 && !rs->src.whole)
        k = hs_writer_enter_root(&rs->wr);
    if (k == 0) {
        if (!rs->src.whole && !S_ISDIR(rs->src.leaf_st.st_mode)) {
            struct rs_entry e = {rs->src.parent, rs->src.leaf, rs->src.leaf, strlen(rs->src.leaf),
                                 &rs->src.leaf_st};
            k = nondir(rs, &e);
        } else {
            k = walk_tree(rs);
        }
    }
    hs_writer_free(&rs->wr);
    hs_snapsrc_drop_manifest(&rs->src);
    hs_linktab_free(rs->links);
    rs->links = NULL;
    return k < 0 ? k : 0;
}

/* The checking pass: HS_USAGE (-EEXIST) when anything is in the way. */
static int check_conflicts(struct restore *rs)
{
    int k = run_pass(rs, false);
    if (k < 0)
        return k;
    if (rs->conflicts > CONFLICTS_SHOWN) {
        char msg[96];
        snprintf(msg, sizeof msg, "... and %" PRIu64 " more", rs->conflicts - CONFLICTS_SHOWN);
        hs_report_say(&rs->rep, HS_EV_WARNING, NULL, msg);
    }
    if (!rs->conflicts)
        return 0;
    char what[128];
    snprintf(what, sizeof what, "%" PRIu64 " %s in the target (use --overwrite to replace %s)",
             rs->conflicts, rs->conflicts == 1 ? "entry exists" : "entries exist",
             rs->conflicts == 1 ? "it" : "them");
    hs_err_usage(rs->err, 0, what, rs->tdisp);
    return -EEXIST;
}

/* ---- setup -------------------------------------------------------------------- */

static char *trimmed(const char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        n--;
    return strndup(s, n);
}

/* TARGET, or the directory to make it in when it does not exist yet, found
 * without following another user's symlink (hs_open_dir_trusted: a user
 * could point her directory at /etc and ask root for her files back);
 * restoring into the store is refused. */
static int open_target(struct restore *rs, const char *target)
{
    rs->tbase = hs_open_dir_trusted(target, &rs->tparent, rs->tlast, rs->err);
    if (rs->tbase == -EPERM)
        return rs->tbase;
    if (rs->tbase < 0 && rs->tbase != -ENOENT)
        return hs_err_usage(rs->err, -rs->tbase, "cannot use the target", target);
    if (rs->tbase == -ENOENT && rs->tparent < 0)
        return hs_err_usage(rs->err, ENOENT, "cannot create the target (its parent must exist)",
                            target);
    const char *harmed = hs_snapsrc_forbidden(&rs->src, rs->tbase >= 0 ? rs->tbase : rs->tparent);
    if (!harmed)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "the target is inside %s", harmed);
    return hs_err_usage(rs->err, 0, what, target);
}

static int restore_run(struct restore *rs)
{
    const struct hs_restore_opts *o = rs->o;
    if (!o->source || !*o->source)
        return hs_err_usage(rs->err, 0, "no snapshot given", NULL);
    if (!o->target || !*o->target)
        return hs_err_usage(rs->err, 0, "no target given", NULL);
    rs->tdisp = trimmed(o->target);
    if (!rs->tdisp || hs_copier_init(&rs->copier, HS_COPY_AUTO) < 0)
        return hs_err_setf(rs->err, ENOMEM, "restore");
    int k = hs_snapsrc_open(&rs->src, o->source, rs->err);
    if (k == 0)
        k = open_target(rs, o->target);
    if (k < 0)
        return k;
    if (!o->overwrite || o->dry_run) {
        /* the checking pass counts into scratch stats, unless it is the dry run */
        struct hs_restore_stats scratch = {0}, *st = rs->st;
        if (!o->dry_run)
            rs->st = &scratch;
        k = check_conflicts(rs);
        rs->st = st;
        if (k < 0 || o->dry_run)
            return k;
    }
    k = run_pass(rs, true);
    /* "restored" means on disk: a power cut right after must not take back
     * what the restore reported done (cp and rsync leave this to the kernel) */
    if (k == 0 && syncfs(rs->tbase) < 0)
        k = fail(rs, errno, "cannot sync the restored files in", "");
    return k;
}

enum hs_status hs_restore(const struct hs_restore_opts *o, struct hs_restore_stats *st,
                          struct hs_err *err)
{
    struct hs_restore_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    hs_err_clear(err);
    struct restore rs = {.o = o,
                         .st = st,
                         .err = err,
                         .tbase = -1,
                         .tparent = -1,
                         .src = {.root = -1, .parent = -1}};
    rs.root = geteuid() == 0;
    hs_report_start(&rs.rep, o->on_event, o->user, st);
    int k = restore_run(&rs);
    st->seconds = hs_report_seconds(&rs.rep);
    if (rs.tbase >= 0)
        close(rs.tbase);
    if (rs.tparent >= 0)
        close(rs.tparent);
    hs_snapsrc_close(&rs.src);
    free(rs.tdisp);
    hs_copier_free(&rs.copier);
    hs_xattrs_free(&rs.xa);
    hs_buf_free(&rs.lnk);
    hs_buf_free(&rs.disp);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "restore failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return st->warnings ? HS_WARN : HS_OK;
}
