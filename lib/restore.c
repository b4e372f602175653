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

/* Outcomes of an entry besides fatal errors (<0). */
enum { DONE = 0, SKIPPED = 1 };

/* What the target holds where the snapshot has an entry. */
enum tstate { T_ABSENT, T_DIR, T_OTHER };

enum {
    NOTICE_OWNER = 1u << 0,
    NOTICE_XATTR = 1u << 1,
};

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
    uid_t made_uid;           /* the owner of what we create in the target (meta.h) */
    struct hs_dirstack tdirs; /* the target's directories on the walk's branch */
    int pending_fd;           /* a directory's target, opened at its ENTRY, pushed at ENTER */
    bool pending;
    struct stat pending_st;

    struct hs_linktab *links;
    struct hs_copier copier;
    struct hs_xattrs xa;
    struct hs_buf lnk;  /* a symlink's target */
    struct hs_buf disp; /* a path for a message */
    unsigned tmp_seq;
    uint64_t conflicts;
    bool said_no_links; /* the target cannot hold hard links: said once */
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

/* base/path in r->disp (valid until the next call), for messages. */
static const char *joined(struct restore *r, const char *base, const char *path)
{
    hs_buf_truncate(&r->disp, 0);
    hs_buf_puts(&r->disp, base);
    if (*path) {
        if (r->disp.len && r->disp.data[r->disp.len - 1] != '/')
            hs_buf_putc(&r->disp, '/');
        hs_buf_puts(&r->disp, path);
    }
    return r->disp.data ? r->disp.data : path;
}

static const char *tpath(struct restore *r, const char *path)
{
    return joined(r, r->tdisp, path);
}

static const char *spath(struct restore *r, const char *path)
{
    return joined(r, r->src.disp, path);
}

/* A per-entry problem about shown (a full path): reported (when this pass
 * reports), counted, and the restore goes on. Returns SKIPPED. */
static int warn(struct restore *r, int errnum, const char *what, const char *shown,
                const char *path)
{
    hs_report_warn(&r->rep, errnum, what, shown, path);
    return SKIPPED;
}

static int twarn(struct restore *r, int errnum, const char *what, const char *path)
{
    return warn(r, errnum, what, tpath(r, path), path);
}

static int swarn(struct restore *r, int errnum, const char *what, const char *path)
{
    return warn(r, errnum, what, spath(r, path), path);
}

/* Trouble writing the target: the restore stops (exit 3). */
static int fail(struct restore *r, int errnum, const char *what, const char *path)
{
    return hs_err_path(r->err, errnum, what, tpath(r, path));
}

/* An entry of the target that the restore would replace: named, always (it
 * is why nothing is written), up to CONFLICTS_SHOWN. */
static int conflict(struct restore *r, const char *path)
{
    if (r->conflicts++ < CONFLICTS_SHOWN) {
        struct hs_err w = {0};
        hs_err_path(&w, 0, "exists in the target", tpath(r, path));
        hs_report_say(&r->rep, HS_EV_WARNING, path, w.msg ? w.msg : "exists in the target");
        hs_err_clear(&w);
    }
    return SKIPPED;
}

/* An entry was restored (or would be, in a dry run): counted and reported. */
static void restored(struct restore *r, const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode)) {
        r->st->dirs++;
    } else if (S_ISREG(st->st_mode)) {
        r->st->files++;
        r->st->bytes_total += (uint64_t)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        r->st->symlinks++;
    } else {
        r->st->specials++;
    }
    if (r->o->verbose_events && *path)
        hs_report_event(&r->rep, HS_EV_COPY, path, NULL);
}

/* ---- the target side ------------------------------------------------------ */

static int ttop(const struct restore *r)
{
    return hs_dirstack_top(&r->tdirs);
}

static int target_state(struct restore *r, const char *name, struct stat *tst, const char *path)
{
    int tfd = ttop(r);
    if (tfd < 0)
        return T_ABSENT;
    if (fstatat(tfd, name, tst, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISDIR(tst->st_mode) ? T_DIR : T_OTHER;
    if (errno == ENOENT)
        return T_ABSENT;
    return fail(r, errno, "cannot examine", path);
}

/* A name of our own next to name, for a new object that replaces it. */
static const char *tmp_name(struct restore *r, char *buf, size_t n)
{
    struct stat st;
    do
        snprintf(buf, n, ".hardsnap-restore.%ld.%u", (long)getpid(), r->tmp_seq++);
    while (fstatat(ttop(r), buf, &st, AT_SYMLINK_NOFOLLOW) == 0);
    return buf;
}

/* What we made at e's name in the target is no longer there: someone who
 * can write in its directory swapped it (hs_open_made()). What took its
 * place is theirs, not followed and not touched; the entry is skipped. */
static int swapped(struct restore *r, int k, const char *path)
{
    return twarn(r, k < 0 ? -k : 0, "replaced in the target while being restored, left alone",
                 path);
}

/* Creating name failed with err: a name that appeared meanwhile is skipped
 * (never replaced without --overwrite); anything else stops the restore. */
static int create_failed(struct restore *r, int err, const struct rs_entry *e)
{
    if (err == EEXIST)
        return twarn(r, err, "appeared in the target during the restore, not replaced", e->path);
    return fail(r, err, "cannot create", e->path);
}

/* Opens the existing target directory of e, checked to be the one tst saw
 * and not the store: DONE and *fd, or SKIPPED (warned). */
static int open_target_dir(struct restore *r, const struct rs_entry *e, const struct stat *tst,
                           int *fd)
{
    struct stat st;
    *fd = hs_open_dir(ttop(r), e->name);
    if (*fd < 0)
        return twarn(r, errno, "cannot open", e->path);
    if (fstat(*fd, &st) < 0 || !hs_stat_same_file(&st, tst)) {
        close(*fd);
        *fd = -1;
        return twarn(r, ESTALE, "changed during the restore", e->path);
    }
    if (hs_stat_same_file(&st, &r->src.store_st)) {
        close(*fd);
        *fd = -1;
        return twarn(r, 0, "the store is inside the target: not restoring into", e->path);
    }
    /* its mode is set from the snapshot when the walk leaves it */
    if (r->writing && !r->root && (st.st_mode & S_IRWXU) != S_IRWXU)
        fchmod(*fd, (st.st_mode & 07777) | S_IRWXU);
    return DONE;
}

/* ---- metadata --------------------------------------------------------------- */

/* Gives the target object dst the metadata of the snapshot's src (xattrs
 * read from src when it names an object), as hs_meta_apply() orders it. */
static int apply_meta(struct restore *r, struct hs_xobj src, struct hs_xobj dst,
                      const struct stat *want, const struct stat *now, const char *path)
{
    r->xa.count = 0;
    if (src.fd >= 0 || src.name) {
        int k = hs_xattr_read(&r->xa, src, r->root);
        if (k < 0) {
            swarn(r, -k, "cannot read extended attributes of", path);
            r->xa.count = 0;
        }
    }
    struct hs_meta_result res;
    dst.inherits = true; /* a target directory may have a default ACL: its user's */
    int k = hs_meta_apply(dst, want, now, &r->xa, r->root, &res);
    if (res.owner_err)
        twarn(r, -res.owner_err, "cannot set owner of", path);
    if (res.xattr_err)
        hs_report_xattrs(&r->rep, res.xattr_err, NOTICE_XATTR,
                         "extended attributes are not supported by the target: not restored",
                         "cannot restore extended attributes of", tpath(r, path), path);
    return k < 0 ? fail(r, -k, res.what, path) : DONE;
}

/* A directory is finished: its metadata from the snapshot's (srcfd may be -1:
 * the snapshot directory could not be read). */
static int finish_dir(struct restore *r, int tfd, int srcfd, const struct stat *st,
                      const char *path)
{
    struct stat now;
    if (fstat(tfd, &now) < 0)
        return fail(r, errno, "cannot examine", path);
    return apply_meta(r, (struct hs_xobj){.fd = srcfd}, (struct hs_xobj){.fd = tfd}, st, &now,
                      path);
}

/* ---- hard links ------------------------------------------------------------ */

static int split_group(struct restore *r, int errnum, const char *path)
{
    r->st->link_fallbacks++;
    if (errnum != EPERM && errnum != EXDEV)
        twarn(r, errnum, "hard link not kept, copied instead", path);
    else if (!r->said_no_links) /* a filesystem without hard links: once, not per name */
        twarn(r, errnum, "hard links cannot be made here; they are restored as copies, from", path);
    r->said_no_links |= errnum == EPERM || errnum == EXDEV;
    return 1;
}

/* Links a later name of a group to its leader's restored file, reached from
 * TARGET one component at a time (O_NOFOLLOW) and checked to be the inode
 * restored: 0 linked, 1 not (a fresh copy must do), <0 fatal. A fresh copy
 * restores the data but not the grouping the snapshot has, so it is a
 * warning (exit 1), never silent. */
static int link_member(struct restore *r, const struct rs_entry *e, struct hs_link *l, int tfd,
                       const char *dname)
{
    const struct leader *ld = l->data;
    const char *slash = memrchr(l->path, '/', l->path_len);
    int parent =
        slash ? hs_open_dir_beneath(r->tbase, l->path, (size_t)(slash - l->path)) : dup(r->tbase);
    if (parent < 0)
        return split_group(r, errno, e->path);
    int k = linkat(parent, slash ? slash + 1 : l->path, tfd, dname, 0);
    int err = errno;
    close(parent);
    if (k < 0) {
        if (!hs_link_fallback(err))
            return fail(r, err, "cannot link", e->path);
        return split_group(r, err, e->path);
    }
    struct stat made;
    if (fstatat(tfd, dname, &made, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(r, errno, "cannot examine", e->path);
    if (made.st_dev != ld->dev || made.st_ino != ld->ino) {
        /* the leader's name was replaced by something else meanwhile */
        unlinkat(tfd, dname, 0);
        return split_group(r, 0, e->path);
    }
    r->st->hardlinked++;
    hs_linktab_release(r->links, l);
    return 0;
}

/* e's restored file (made) leads its group from now on; l is the group's
 * entry when it goes on from a fresh copy. */
static int remember_leader(struct restore *r, const struct rs_entry *e, struct hs_link *l,
                           uint64_t names, const struct stat *made)
{
    struct leader *ld = malloc(sizeof *ld);
    if (!ld)
        return hs_err_setf(r->err, ENOMEM, "link table");
    *ld = (struct leader){made ? made->st_dev : 0, made ? made->st_ino : 0};
    int k;
    if (l) {
        free(l->data);
        l->data = ld;
        k = hs_linktab_set_path(l, e->path, e->path_len);
        if (k == 0)
            hs_linktab_release(r->links, l);
    } else {
        k = hs_linktab_add(r->links, e->st->st_dev, e->st->st_ino, names, e->path, e->path_len, ld,
                           NULL);
    }
    return k < 0 ? hs_err_setf(r->err, -k, "link table") : 0;
}

/* ---- creating non-directories ----------------------------------------------- */

/* The snapshot's regular file e, opened and checked to be what the walk saw. */
static int open_snapshot_file(struct restore *r, const struct rs_entry *e, struct stat *st)
{
    int fd = hs_open_file_read(e->sfd, e->name);
    if (fd < 0) {
        swarn(r, errno, "cannot open", e->path);
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, e->st)) {
        swarn(r, ESTALE, "changed in the snapshot", e->path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Copies the snapshot's file e into the new file tfd/dname. */
static int copy_file(struct restore *r, const struct rs_entry *e, int tfd, const char *dname,
                     struct stat *made)
{
    struct stat sst;
    int sfd = open_snapshot_file(r, e, &sst);
    if (sfd < 0)
        return SKIPPED;
    int dfd = openat(tfd, dname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) {
        int k = create_failed(r, errno, e);
        close(sfd);
        return k;
    }
    uint8_t hash[16];
    uint64_t written = 0;
    int k = hs_copy_data(&r->copier, sfd, dfd, &sst, hash, &written, tpath(r, e->path), r->err);
    r->st->bytes_copied += written;
    if (k < 0 && r->copier.src_failed) {
        /* a damaged snapshot file: the others are still worth restoring */
        int err = r->err->code;
        hs_err_clear(r->err);
        k = swarn(r, err, "cannot read", e->path);
    }
    if (k == DONE && fstat(dfd, made) < 0)
        k = fail(r, errno, "cannot examine", e->path);
    if (k == DONE)
        k = apply_meta(r, (struct hs_xobj){.fd = sfd}, (struct hs_xobj){.fd = dfd}, &sst, made,
                       e->path);
    close(sfd);
    close(dfd);
    if (k != DONE)
        unlinkat(tfd, dname, 0); /* nothing half-made stays */
    else
        r->st->copied++;
    return k;
}

/* The snapshot symlink's target into r->lnk. */
static int read_link(struct restore *r, const struct rs_entry *e)
{
    size_t size = (size_t)e->st->st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(&r->lnk, 0);
        if (hs_buf_reserve(&r->lnk, size) < 0)
            return hs_err_setf(r->err, ENOMEM, "symlink");
        ssize_t n = readlinkat(e->sfd, e->name, r->lnk.data, size);
        if (n < 0)
            return swarn(r, errno, "cannot read symlink", e->path);
        if ((size_t)n < size) {
            r->lnk.len = (size_t)n;
            r->lnk.data[n] = '\0';
            return DONE;
        }
    }
    return swarn(r, ESTALE, "changed in the snapshot", e->path);
}

/* A symlink, fifo, socket or device node, created anew as tfd/dname. */
static int create_other(struct restore *r, const struct rs_entry *e, int tfd, const char *dname,
                        struct stat *made)
{
    bool is_link = S_ISLNK(e->st->st_mode);
    int k = is_link ? read_link(r, e) : DONE;
    if (k != DONE)
        return k;
    /* private until its owner and mode are set, through an fd of it */
    if (is_link)
        k = symlinkat(r->lnk.data, tfd, dname);
    else
        k = mknodat(tfd, dname, (e->st->st_mode & S_IFMT) | 0600, e->st->st_rdev);
    if (k < 0)
        return create_failed(r, errno, e);
    int ofd;
    k = hs_open_made(tfd, dname, e->st->st_mode & S_IFMT, r->made_uid, &ofd, made);
    if (hs_made_gone(k))
        return swapped(r, k, e->path);
    if (k < 0)
        k = fail(r, -k, "cannot examine", e->path);
    /* a symlink's xattrs are not kept by the backup either */
    struct hs_xobj src = {.fd = -1, .dirfd = e->sfd, .name = is_link ? NULL : e->name};
    if (k == DONE) {
        k = apply_meta(r, src, (struct hs_xobj){.fd = ofd, .opath = true}, e->st, made, e->path);
        close(ofd);
    }
    if (k != DONE)
        unlinkat(tfd, dname, 0);
    else
        r->st->created++;
    return k;
}

/* Puts the new object tfd/tmp in the place of the old e->name, which is
 * unlinked by the rename, never written. */
static int install(struct restore *r, const struct rs_entry *e, int tfd, const char *tmp)
{
    if (renameat(tfd, tmp, tfd, e->name) == 0)
        return DONE;
    int err = errno;
    unlinkat(tfd, tmp, 0);
    if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
        return twarn(r, 0, "a directory in the target is not replaced by a file", e->path);
    return fail(r, err, "cannot replace", e->path);
}

/* Restores the non-directory e in the target, in place of an old entry if
 * replace. */
static int place_nondir(struct restore *r, const struct rs_entry *e, bool replace)
{
    int tfd = ttop(r);
    char tmp[64];
    const char *dname = replace ? tmp_name(r, tmp, sizeof tmp) : e->name;
    uint64_t names = hs_snapsrc_names(&r->src, e->path, e->path_len, e->st);
    struct hs_link *l = names > 1 ? hs_linktab_find(r->links, e->st->st_dev, e->st->st_ino) : NULL;
    int k = l ? link_member(r, e, l, tfd, dname) : 1;
    if (k < 0)
        return k;
    bool linked = k == 0;
    struct stat made;
    if (!linked) {
        k = S_ISREG(e->st->st_mode) ? copy_file(r, e, tfd, dname, &made)
                                    : create_other(r, e, tfd, dname, &made);
        if (k != DONE)
            return k;
    }
    if (replace && (k = install(r, e, tfd, dname)) != DONE)
        return k;
    if (!linked && names > 1 && (k = remember_leader(r, e, l, names, &made)) < 0)
        return k;
    restored(r, e->path, e->st);
    return DONE;
}

/* A dry run's account of e: what would be copied, created or linked. */
static int plan_nondir(struct restore *r, const struct rs_entry *e)
{
    if (r->rep.muted)
        return DONE;
    uint64_t names = hs_snapsrc_names(&r->src, e->path, e->path_len, e->st);
    struct hs_link *l = names > 1 ? hs_linktab_find(r->links, e->st->st_dev, e->st->st_ino) : NULL;
    if (l) {
        r->st->hardlinked++;
        hs_linktab_release(r->links, l);
    } else {
        if (S_ISREG(e->st->st_mode)) {
            r->st->copied++;
            r->st->bytes_copied += (uint64_t)e->st->st_size;
        } else {
            r->st->created++;
        }
        if (names > 1) {
            int k = remember_leader(r, e, NULL, names, NULL);
            if (k < 0)
                return k;
        }
    }
    restored(r, e->path, e->st);
    return DONE;
}

/* SKIPPED for what cannot be restored here at all. */
static int restorable(struct restore *r, const struct rs_entry *e)
{
    mode_t m = e->st->st_mode;
    if ((S_ISCHR(m) || S_ISBLK(m)) && !r->root)
        return swarn(r, EPERM, "device node skipped (needs root)", e->path);
    return DONE;
}

static int nondir(struct restore *r, const struct rs_entry *e)
{
    hs_report_entry(&r->rep);
    int k = restorable(r, e);
    if (k != DONE)
        return k;
    struct stat tst;
    int t = target_state(r, e->name, &tst, e->path);
    if (t < 0)
        return t;
    if (t == T_DIR && (r->o->overwrite || r->writing))
        return twarn(r, 0, "a directory in the target is not replaced by a file", e->path);
    if (t != T_ABSENT && !r->o->overwrite) {
        if (!r->writing)
            return conflict(r, e->path);
        return twarn(r, EEXIST, "appeared in the target during the restore, not replaced", e->path);
    }
    if (!r->writing)
        return plan_nondir(r, e);
    return place_nondir(r, e, t == T_OTHER);
}

/* ---- directories ------------------------------------------------------------ */

static void drop_pending(struct restore *r)
{
    if (r->pending_fd >= 0)
        close(r->pending_fd);
    r->pending_fd = -1;
    r->pending = false;
}

static void set_pending(struct restore *r, int fd, const struct stat *st)
{
    drop_pending(r);
    r->pending = true;
    r->pending_fd = fd;
    r->pending_st = *st;
}

/* The checking pass: is there anything in the way of directory e? */
static int check_dir(struct restore *r, const struct rs_entry *e, int t, const struct stat *tst)
{
    int fd = -1;
    if (t == T_OTHER && !r->o->overwrite)
        conflict(r, e->path);
    else if (t == T_DIR && open_target_dir(r, e, tst, &fd) != DONE)
        return SKIPPED;
    set_pending(r, fd, e->st);
    /* below an absent or replaced directory nothing can be in the way: only
     * a dry run has to go there, to list what would be restored */
    return fd < 0 && r->rep.muted ? SKIPPED : DONE;
}

/* The writing pass: directory e made in the target (or an existing one
 * merged into), and opened. */
static int make_dir(struct restore *r, const struct rs_entry *e, int t, struct stat *tst)
{
    int tfd = ttop(r), fd;
    if (t == T_OTHER) {
        if (!r->o->overwrite)
            return twarn(r, EEXIST, "appeared in the target during the restore, not replaced",
                         e->path);
        /* a file or symlink (never followed) gives way to the directory */
        if (unlinkat(tfd, e->name, 0) < 0)
            return fail(r, errno, "cannot replace", e->path);
        t = T_ABSENT;
    }
    int k;
    if (t == T_ABSENT) {
        if (mkdirat(tfd, e->name, 0700) < 0)
            return create_failed(r, errno, e);
        /* checked to be ours before anything goes into it */
        k = hs_open_made(tfd, e->name, S_IFDIR, r->made_uid, &fd, tst);
        if (hs_made_gone(k))
            return swapped(r, k, e->path);
        if (k < 0)
            return fail(r, -k, "cannot open", e->path);
    } else if ((k = open_target_dir(r, e, tst, &fd)) != DONE) {
        return k;
    }
    set_pending(r, fd, e->st);
    return DONE;
}

/* A directory of the snapshot, met as an entry: DONE (descend), SKIPPED
 * (not into this one), or <0. */
static int dir_entry(struct restore *r, const struct rs_entry *e)
{
    hs_report_entry(&r->rep);
    struct stat tst;
    int t = target_state(r, e->name, &tst, e->path);
    if (t < 0)
        return t;
    int k = r->writing ? make_dir(r, e, t, &tst) : check_dir(r, e, t, &tst);
    if (k == DONE)
        restored(r, e->path, e->st);
    return k;
}

static int dir_enter(struct restore *r, const struct hs_walk_item *it)
{
    int fd;
    if (it->depth == 0 && r->src.whole) {
        r->st->dirs++;
        fd = r->tbase >= 0 ? dup(r->tbase) : -1;
        if (r->tbase >= 0 && fd < 0)
            return fail(r, errno, "cannot open", "");
    } else {
        fd = r->pending_fd;
        r->pending_fd = -1;
        r->pending = false;
    }
    return hs_dirstack_push(&r->tdirs, fd, r->err);
}

static int dir_leave(struct restore *r, const struct hs_walk_item *it)
{
    int k = DONE;
    if (r->writing && ttop(r) >= 0)
        k = finish_dir(r, ttop(r), it->fd, &it->st, it->path);
    int k1 = hs_dirstack_pop(&r->tdirs, it->path, r->err);
    return k < 0 ? k : k1;
}

/* The walk could not examine an entry or open a directory of the snapshot. */
static int walk_error(struct restore *r, const struct hs_walk_item *it)
{
    if (it->depth == 0 && !it->name)
        return hs_err_path(r->err, it->err, it->what, spath(r, it->path));
    swarn(r, it->err, it->what, it->path);
    if (!r->pending)
        return DONE;
    /* the directory stays, empty, with its own metadata */
    int fd = r->pending_fd, k = DONE;
    if (r->writing && fd >= 0)
        k = finish_dir(r, fd, -1, &r->pending_st, it->path);
    drop_pending(r);
    return k < 0 ? k : DONE;
}

static int walk_item(struct restore *r, struct hs_walk *w, const struct hs_walk_item *it)
{
    struct rs_entry e = {it->fd, it->name, it->path, it->path_len, &it->st};
    int k = DONE;
    switch (it->ev) {
    case HS_WALK_ENTRY:
        if (!S_ISDIR(it->st.st_mode))
            return nondir(r, &e);
        k = dir_entry(r, &e);
        if (k == SKIPPED) {
            drop_pending(r);
            hs_walk_skip(w);
        }
        break;
    case HS_WALK_ENTER:
        k = dir_enter(r, it);
        break;
    case HS_WALK_LEAVE:
        k = dir_leave(r, it);
        break;
    case HS_WALK_ERROR:
        k = walk_error(r, it);
        break;
    case HS_WALK_END:
        break;
    }
    return k;
}

/* ---- the passes ------------------------------------------------------------- */

/* Walks the snapshot's tree: its root, or the directory PATH. */
static int walk_tree(struct restore *r)
{
    if (!r->src.whole) {
        struct rs_entry e = {r->src.parent, r->src.leaf, r->src.leaf, strlen(r->src.leaf),
                             &r->src.leaf_st};
        int k = dir_entry(r, &e);
        if (k != DONE)
            return k < 0 ? k : 0;
    }
    struct hs_walk *w;
    int k = hs_snapsrc_walk(&r->src, &w, r->err);
    if (k < 0)
        return k;
    struct hs_walk_item it;
    while ((k = hs_walk_next(w, &it, r->err)) == 0 && it.ev != HS_WALK_END) {
        k = walk_item(r, w, &it);
        if (k < 0)
            break;
    }
    hs_walk_free(w);
    return k < 0 ? k : 0;
}

static int run_pass(struct restore *r, bool writing)
{
    r->writing = writing;
    r->rep.muted = !(writing || r->o->dry_run);
    if (!r->root)
        hs_report_notice_once(&r->rep, NOTICE_OWNER,
                              "not running as root: file ownership is not restored");
    r->links = hs_linktab_new();
    if (!r->links)
        return hs_err_setf(r->err, ENOMEM, "link table");
    if (!r->rep.muted) { /* only counting groups needs it */
        hs_snapsrc_load_manifest(&r->src);
    }
    int k = 0;
    if (!r->src.whole) {
        /* TARGET holds PATH: the level above the walk's root */
        int fd = r->tbase >= 0 ? dup(r->tbase) : -1;
        k = r->tbase >= 0 && fd < 0 ? fail(r, errno, "cannot open", "")
                                    : hs_dirstack_push(&r->tdirs, fd, r->err);
    }
    if (k == 0) {
        if (!r->src.whole && !S_ISDIR(r->src.leaf_st.st_mode)) {
            struct rs_entry e = {r->src.parent, r->src.leaf, r->src.leaf, strlen(r->src.leaf),
                                 &r->src.leaf_st};
            k = nondir(r, &e);
        } else {
            k = walk_tree(r);
        }
    }
    drop_pending(r);
    hs_dirstack_free(&r->tdirs);
    hs_snapsrc_drop_manifest(&r->src);
    hs_linktab_free(r->links);
    r->links = NULL;
    return k < 0 ? k : 0;
}

/* The checking pass: HS_USAGE (-EEXIST) when anything is in the way. */
static int check_conflicts(struct restore *r)
{
    int k = run_pass(r, false);
    if (k < 0)
        return k;
    if (r->conflicts > CONFLICTS_SHOWN) {
        char msg[96];
        snprintf(msg, sizeof msg, "... and %" PRIu64 " more", r->conflicts - CONFLICTS_SHOWN);
        hs_report_say(&r->rep, HS_EV_WARNING, NULL, msg);
    }
    if (!r->conflicts)
        return 0;
    char what[128];
    snprintf(what, sizeof what, "%" PRIu64 " %s in the target (use --overwrite to replace %s)",
             r->conflicts, r->conflicts == 1 ? "entry exists" : "entries exist",
             r->conflicts == 1 ? "it" : "them");
    hs_err_usage(r->err, 0, what, r->tdisp);
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
static int open_target(struct restore *r, const char *target)
{
    r->tbase = hs_open_dir_trusted(target, &r->tparent, r->tlast, r->err);
    if (r->tbase == -EPERM)
        return r->tbase;
    if (r->tbase < 0 && r->tbase != -ENOENT)
        return hs_err_usage(r->err, -r->tbase, "cannot use the target", target);
    if (r->tbase == -ENOENT && r->tparent < 0)
        return hs_err_usage(r->err, ENOENT, "cannot create the target (its parent must exist)",
                            target);
    const char *harmed = hs_snapsrc_forbidden(&r->src, r->tbase >= 0 ? r->tbase : r->tparent);
    if (!harmed)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "the target is inside %s", harmed);
    return hs_err_usage(r->err, 0, what, target);
}

static int create_target(struct restore *r, const char *target)
{
    if (r->tbase >= 0) {
        r->made_uid = hs_made_uid(r->tbase);
        return 0;
    }
    r->made_uid = hs_made_uid(r->tparent);
    if (mkdirat(r->tparent, r->tlast, 0700) < 0) {
        int err = errno;
        int k = hs_err_path(r->err, err, "cannot create the target", target);
        if (err == ENOENT) /* the parent went away since it was checked */
            hs_err_kind(r->err, HS_USAGE);
        return k;
    }
    struct stat st;
    int k = hs_open_made(r->tparent, r->tlast, S_IFDIR, r->made_uid, &r->tbase, &st);
    if (hs_made_gone(k))
        return hs_err_path(r->err, k < 0 ? -k : 0, "the target was replaced while being created",
                           target);
    return k < 0 ? hs_err_path(r->err, -k, "cannot open the target", target) : 0;
}

static int restore_run(struct restore *r)
{
    const struct hs_restore_opts *o = r->o;
    if (!o->source || !*o->source)
        return hs_err_usage(r->err, 0, "no snapshot given", NULL);
    if (!o->target || !*o->target)
        return hs_err_usage(r->err, 0, "no target given", NULL);
    r->tdisp = trimmed(o->target);
    if (!r->tdisp || hs_copier_init(&r->copier, HS_COPY_AUTO) < 0)
        return hs_err_setf(r->err, ENOMEM, "restore");
    int k = hs_snapsrc_open(&r->src, o->source, r->err);
    if (k == 0)
        k = open_target(r, o->target);
    if (k < 0)
        return k;
    if (!o->overwrite || o->dry_run) {
        /* the checking pass counts into scratch stats, unless it is the dry run */
        struct hs_restore_stats scratch = {0}, *st = r->st;
        if (!o->dry_run)
            r->st = &scratch;
        k = check_conflicts(r);
        r->st = st;
        if (k < 0 || o->dry_run)
            return k;
    }
    k = create_target(r, o->target);
    if (k == 0)
        k = run_pass(r, true);
    /* "restored" means on disk: a power cut right after must not take back
     * what the restore reported done (cp and rsync leave this to the kernel) */
    if (k == 0 && syncfs(r->tbase) < 0)
        k = fail(r, errno, "cannot sync the restored files in", "");
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
    struct restore r = {.o = o,
                        .st = st,
                        .err = err,
                        .tbase = -1,
                        .tparent = -1,
                        .pending_fd = -1,
                        .src = {.root = -1, .parent = -1}};
    r.root = geteuid() == 0;
    hs_report_start(&r.rep, o->on_event, o->user, st);
    int k = restore_run(&r);
    st->seconds = hs_report_seconds(&r.rep);
    if (r.tbase >= 0)
        close(r.tbase);
    if (r.tparent >= 0)
        close(r.tparent);
    hs_snapsrc_close(&r.src);
    free(r.tdisp);
    hs_copier_free(&r.copier);
    hs_xattrs_free(&r.xa);
    hs_buf_free(&r.lnk);
    hs_buf_free(&r.disp);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "restore failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return st->warnings ? HS_WARN : HS_OK;
}
