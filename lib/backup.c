/*
 * The backup engine.
 *
 * One pass over each source with the walker; beside it, three more directory
 * stacks follow the same branch: the new snapshot being built (under
 * .hardsnap/partial/NAME), the previous snapshot (to link from), and the tree
 * of an interrupted run (to take finished copies from). The previous
 * snapshot's manifest is read in step with the walk: both are in walk order,
 * so one forward-only cursor answers every lookup and nothing holds the whole
 * tree. Only the hard-link table grows, with the pending multi-link files.
 *
 * For each entry: decide (change.h), then link from the previous snapshot or
 * write a new inode, and record it in the new manifest. Directory metadata is
 * set when the walk leaves the directory, after its contents. When the walk
 * ends, the manifest is finished and hs_store_publish() makes everything
 * durable and renames the snapshot into place.
 */
#include "buf.h"
#include "change.h"
#include "copy.h"
#include "dirstack.h"
#include "exclude.h"
#include "fsutil.h"
#include "hardsnap.h"
#include "linktab.h"
#include "manifest.h"
#include "store.h"
#include "walk.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the link table keeps of a group's leader, to record later names. */
struct leader {
    off_t size;
    struct timespec mtime, ctime;
    uint64_t sino;
    uint32_t flags;
    uint8_t hash[16];
    uint64_t xattr_hash;
};

struct source_ctx {
    const struct hs_source *src;
    struct hs_exclude *exclude;
    size_t prefix_len; /* bytes of "NAME/" before source-relative paths */
    dev_t dev;         /* of the source root, for -x */
};

struct engine {
    const struct hs_backup_opts *o;
    struct hs_backup_stats *st;
    struct hs_err *err;
    bool dry_run, checksum, one_fs, root;

    struct hs_store store;
    bool have_store;
    char name[HS_SNAPSHOT_NAME_LEN + 1];
    char prev_name[HS_SNAPSHOT_NAME_LEN + 1];
    char *resume;
    int newrootfd;
    struct hs_dirstack newdirs, prevdirs, resumedirs;
    struct hs_manifest_reader *mr; /* previous manifest; NULL: compare files */
    bool have_prev;
    struct hs_manifest_writer *mw;
    struct hs_linktab *links;   /* source hard-link groups */
    struct hs_linktab *claims;  /* multi-name snapshot inodes linked this run */
    struct hs_exclude *exclude; /* global patterns */
    struct hs_copier copier;
    struct hs_xattrs xa;
    struct hs_buf target;
    struct stat dest_st;
    bool have_dest_st;

    struct source_ctx *cur;
    struct stat pending_dir; /* the directory ENTRY awaiting its ENTER */
    bool pending_dir_valid;
    struct hs_mentry rec;
    struct timespec t0, last_progress;
    unsigned notices; /* bit set of notices already given */
};

enum {
    NOTICE_OWNER = 1u << 0,
    NOTICE_DEST_INSIDE = 1u << 1,
    NOTICE_XATTR = 1u << 2,
    NOTICE_MANIFEST = 1u << 3,
    NOTICE_DEVICES = 1u << 4,
};

/* ---- events ---------------------------------------------------------- */

static void emit(struct engine *g, enum hs_event_type type, const char *path, const char *msg)
{
    if (!g->o->on_event)
        return;
    struct hs_event ev = {.type = type, .path = path, .msg = msg, .stats = g->st};
    g->o->on_event(&ev, g->o->user);
}

static void notice_once(struct engine *g, unsigned bit, const char *msg)
{
    if (g->notices & bit)
        return;
    g->notices |= bit;
    emit(g, HS_EV_NOTICE, NULL, msg);
}

/* A per-entry problem: reported, counted, and the run goes on (exit 1). */
static int warn(struct engine *g, int errnum, const char *what, const char *path)
{
    struct hs_err w = {0};
    hs_err_path(&w, errnum, what, path);
    g->st->warnings++;
    emit(g, HS_EV_WARNING, path, w.msg ? w.msg : what);
    hs_err_clear(&w);
    return 0;
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress(struct engine *g)
{
    if (!g->o->on_event || (g->st->entries & 255) != 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (elapsed(&g->last_progress, &now) < 0.2)
        return;
    g->last_progress = now;
    g->st->seconds = elapsed(&g->t0, &now);
    emit(g, HS_EV_PROGRESS, NULL, NULL);
}

/* ---- the parallel trees ---------------------------------------------- */

static int new_top(const struct engine *g)
{
    return hs_dirstack_top(&g->newdirs);
}

static int prev_top(const struct engine *g)
{
    return hs_dirstack_top(&g->prevdirs);
}

static int resume_top(const struct engine *g)
{
    return hs_dirstack_top(&g->resumedirs);
}

/* Opens name below the top of s, or pushes "absent". */
static int push_child(struct hs_dirstack *s, const char *name, struct hs_err *e)
{
    int parent = hs_dirstack_top(s);
    int fd = parent >= 0 ? hs_open_dir(parent, name) : -1;
    return hs_dirstack_push(s, fd, e);
}

static void set_times(struct timespec out[2], const struct stat *st)
{
    out[0] = st->st_atim;
    out[1] = st->st_mtim;
}

static int fail_new(struct engine *g, int errnum, const char *what, const char *path)
{
    return hs_err_path(g->err, errnum, what, path);
}

/* ---- recording ------------------------------------------------------- */

static void rec_start(struct engine *g, const char *path, size_t len, const struct stat *st)
{
    memset(&g->rec, 0, sizeof g->rec);
    g->rec.path = path;
    g->rec.path_len = len;
    hs_mentry_from_stat(&g->rec, st);
}

static int rec_put(struct engine *g)
{
    if (!g->mw)
        return 0;
    return hs_manifest_put(g->mw, &g->rec, g->err);
}

static void rec_from_prev(struct engine *g, const struct hs_mentry *m)
{
    g->rec.sino = m->sino;
    g->rec.flags = m->flags;
    memcpy(g->rec.hash, m->hash, sizeof g->rec.hash);
    g->rec.xattr_hash = m->xattr_hash;
}

/* ---- metadata -------------------------------------------------------- */

static void xattr_warn(struct engine *g, int r, const char *path)
{
    if (r == -ENOTSUP || r == -EOPNOTSUPP)
        notice_once(g, NOTICE_XATTR,
                    "extended attributes are not supported by the destination: not kept");
    else if (r < 0)
        warn(g, -r, "cannot keep extended attributes of", path);
}

/* Sets owner, mode, times (and the xattrs read into g->xa) on a new object. */
static int apply_meta_fd(struct engine *g, int fd, const struct stat *st, const char *path)
{
    if (g->xa.count)
        xattr_warn(g, hs_xattr_apply(&g->xa, (struct hs_xobj){.fd = fd}, g->root), path);
    if (g->root && fchown(fd, st->st_uid, st->st_gid) < 0)
        warn(g, errno, "cannot set owner of", path);
    /* after chown, which clears set-id bits */
    if (fchmod(fd, st->st_mode & 07777) < 0)
        return fail_new(g, errno, "cannot set mode of", path);
    struct timespec ts[2];
    set_times(ts, st);
    if (futimens(fd, ts) < 0)
        return fail_new(g, errno, "cannot set times of", path);
    return 0;
}

static int apply_meta_at(struct engine *g, int dirfd, const char *name, const struct stat *st,
                         const char *path)
{
    if (g->xa.count)
        xattr_warn(g,
                   hs_xattr_apply(&g->xa, (struct hs_xobj){.fd = -1, .dirfd = dirfd, .name = name},
                                  g->root),
                   path);
    if (g->root && fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        warn(g, errno, "cannot set owner of", path);
    struct timespec ts[2];
    set_times(ts, st);
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fail_new(g, errno, "cannot set times of", path);
    return 0;
}

static int read_xattrs(struct engine *g, struct hs_xobj o, const char *path)
{
    int r = hs_xattr_read(&g->xa, o);
    if (r < 0) {
        warn(g, -r, "cannot read extended attributes of", path);
        g->xa.count = 0;
    }
    return 0;
}

/* ---- regular files --------------------------------------------------- */

enum { DONE = 0, SKIPPED = 1 }; /* entry outcomes besides fatal (<0) */

static bool link_fallback_errno(int err)
{
    /* too many links, another filesystem, or no hard links at all */
    return err == EMLINK || err == EXDEV || err == EPERM || err == ENOENT;
}

static int open_source_file(struct engine *g, const struct hs_walk_item *it, struct stat *st)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    int fd = openat(it->fd, it->name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(it->fd, it->name, flags); /* O_NOATIME needs ownership */
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            warn(g, err, "vanished", it->path);
        else if (err == ELOOP)
            warn(g, err, "changed during backup (now a symlink)", it->path);
        else
            warn(g, err, "cannot open", it->path);
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, &it->st)) {
        warn(g, ESTALE, "changed during backup", it->path);
        close(fd);
        return -1;
    }
    return fd;
}

static bool changed_while_read(const struct stat *a, const struct stat *b)
{
    return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
           a->st_mtim.tv_nsec != b->st_mtim.tv_nsec || a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
           a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Copies one attempt's data; 0, SKIPPED (source unreadable), or fatal <0. */
static int copy_attempt(struct engine *g, int sfd, int dfd, const struct stat *st, const char *path)
{
    uint64_t written = 0;
    int r = hs_copy_data(&g->copier, sfd, dfd, st, g->rec.hash, &written, path, g->err);
    g->st->bytes_copied += written;
    if (r < 0 && g->copier.src_failed) {
        g->st->warnings++;
        emit(g, HS_EV_WARNING, path, g->err->msg);
        hs_err_clear(g->err);
        return SKIPPED;
    }
    return r;
}

/* Writes the source file into a new inode in the new tree. The data is
 * copied again once if the file changed meanwhile; the recorded stat is the
 * one from before the copy that was kept, so a torn copy never looks
 * unchanged to the next run. */
static int copy_file(struct engine *g, const struct hs_walk_item *it, struct stat *st)
{
    int sfd = open_source_file(g, it, st);
    if (sfd < 0)
        return SKIPPED;
    if (g->dry_run) {
        close(sfd);
        g->st->copied++;
        g->st->bytes_copied += (uint64_t)st->st_size;
        if (g->o->verbose_events)
            emit(g, HS_EV_COPY, it->path, NULL);
        return DONE;
    }
    int dfd =
        openat(new_top(g), it->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) {
        int r = fail_new(g, errno, "cannot create", it->path);
        close(sfd);
        return r;
    }
    int r;
    for (int attempt = 0;; attempt++) {
        r = copy_attempt(g, sfd, dfd, st, it->path);
        struct stat after;
        if (r != 0 || fstat(sfd, &after) < 0 || !changed_while_read(st, &after))
            break;
        if (attempt == 1) {
            warn(g, 0, "changed while being copied; the copy may be inconsistent", it->path);
            break;
        }
        if (ftruncate(dfd, 0) < 0) {
            r = fail_new(g, errno, "cannot rewrite", it->path);
            break;
        }
        *st = after;
    }
    if (r == 0) {
        read_xattrs(g, (struct hs_xobj){.fd = sfd}, it->path);
        r = apply_meta_fd(g, dfd, st, it->path);
    }
    struct stat dst;
    if (r == 0 && fstat(dfd, &dst) < 0)
        r = fail_new(g, errno, "cannot stat", it->path);
    close(sfd);
    close(dfd);
    if (r == SKIPPED) {
        unlinkat(new_top(g), it->name, 0);
        return SKIPPED;
    }
    if (r < 0)
        return r;
    hs_mentry_from_stat(&g->rec, st); /* the stat the copy was made from */
    g->rec.sino = dst.st_ino;
    g->rec.flags |= HS_ME_HASH;
    if (g->xa.count) {
        g->rec.flags |= HS_ME_XATTR;
        g->rec.xattr_hash = hs_xattr_hash(&g->xa);
    }
    g->st->copied++;
    if (g->o->verbose_events)
        emit(g, HS_EV_COPY, it->path, NULL);
    return DONE;
}

/* Hashes the file name in dirfd; 0 on success, -errno otherwise (no message). */
static int hash_at(struct engine *g, int dirfd, const char *name, const char *path,
                   uint8_t hash[16], struct stat *st)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct hs_err e = {0};
    int r = fstat(fd, st) < 0 ? -errno : S_ISREG(st->st_mode) ? 0 : -EINVAL;
    if (r == 0)
        r = hs_hash_fd(&g->copier, fd, st, hash, path, &e);
    if (r == 0)
        g->st->bytes_hashed += (uint64_t)st->st_size;
    hs_err_clear(&e);
    close(fd);
    return r;
}

static int xattr_hash_of(struct engine *g, struct hs_xobj o, uint64_t *h)
{
    int r = hs_xattr_read(&g->xa, o);
    *h = r == 0 ? hs_xattr_hash(&g->xa) : 0;
    return r;
}

/* A snapshot inode that had several names when it was made (a source
 * hard-link group) may be linked again for one source inode per run only:
 * otherwise two names that are separate files in the source now would become
 * one file in the snapshot. Returns 0 (ours to link), 1 (another source file
 * has it: copy), or <0. */
static int claim_inode(struct engine *g, uint64_t sino, const struct stat *src)
{
    struct hs_link *l = hs_linktab_find(g->claims, 0, sino);
    if (l) {
        const struct stat *owner = l->data;
        return hs_stat_same_file(owner, src) ? 0 : 1;
    }
    struct stat *owner = malloc(sizeof *owner);
    if (!owner)
        return hs_err_setf(g->err, ENOMEM, "link table");
    *owner = *src;
    int r = hs_linktab_add(g->claims, 0, sino, UINT64_MAX, "", 0, owner, NULL);
    return r < 0 ? hs_err_setf(g->err, -r, "link table") : 0;
}

/* Links the previous snapshot's entry sino: 0 linked, 1 a copy must do, <0. */
static int link_prev(struct engine *g, const struct hs_walk_item *it, uint64_t sino, bool multi)
{
    if (multi) {
        int r = claim_inode(g, sino, &it->st);
        if (r != 0)
            return r;
    }
    if (g->dry_run || linkat(prev_top(g), it->name, new_top(g), it->name, 0) == 0)
        return 0;
    int err = errno;
    if (!link_fallback_errno(err))
        return fail_new(g, err, "cannot link", it->path);
    g->st->link_fallbacks++;
    return 1;
}

static void count_linked(struct engine *g, const struct hs_walk_item *it)
{
    g->st->linked++;
    if (g->o->verbose_events)
        emit(g, HS_EV_LINK, it->path, NULL);
}

/* The content check of VERIFY: does the source still hash to what the
 * previous snapshot holds, and are its xattrs the same? */
static bool source_matches(struct engine *g, const struct hs_walk_item *it, const uint8_t hash[16],
                           bool have_xattr, uint64_t xattr_hash)
{
    uint8_t h[16];
    struct stat st;
    if (hash_at(g, it->fd, it->name, it->path, h, &st) < 0)
        return false;
    g->st->hashed++;
    uint64_t xh = 0;
    int fd = openat(it->fd, it->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        xattr_hash_of(g, (struct hs_xobj){.fd = fd}, &xh);
        close(fd);
    }
    return memcmp(h, hash, 16) == 0 && (have_xattr ? xattr_hash : 0) == xh &&
           !changed_while_read(&st, &it->st);
}

/* A manifest record says what the previous snapshot holds at this path:
 * 0 linked, 1 a copy must do, <0 fatal. */
static int reg_against_manifest(struct engine *g, const struct hs_walk_item *it,
                                const struct hs_mentry *m)
{
    enum hs_verdict v = hs_change_regular(&it->st, m, g->checksum);
    if (v == HS_VERDICT_VERIFY &&
        !source_matches(g, it, m->hash, m->flags & HS_ME_XATTR, m->xattr_hash))
        v = HS_VERDICT_COPY;
    if (v == HS_VERDICT_COPY)
        return 1;
    int r = link_prev(g, it, m->sino, m->nlink > 1);
    if (r != 0)
        return r;
    rec_from_prev(g, m);
    count_linked(g, it);
    return 0;
}

/* No manifest: compare with the previous snapshot's file itself, and hash
 * what is linked so the new manifest is complete. *prev_ino: the file seen. */
static int reg_against_file(struct engine *g, const struct hs_walk_item *it, uint64_t *prev_ino)
{
    struct stat pst;
    if (prev_top(g) < 0 || fstatat(prev_top(g), it->name, &pst, AT_SYMLINK_NOFOLLOW) < 0)
        return 1;
    *prev_ino = pst.st_ino;
    enum hs_verdict v = hs_change_against_file(&it->st, &pst, g->checksum);
    if (v == HS_VERDICT_COPY)
        return 1;
    uint8_t ph[16];
    struct stat hst;
    if (hash_at(g, prev_top(g), it->name, it->path, ph, &hst) < 0 || !hs_stat_same_file(&hst, &pst))
        return 1;
    g->st->hashed++;
    uint64_t pxh = 0, sxh = 0;
    xattr_hash_of(g, (struct hs_xobj){.fd = -1, .dirfd = prev_top(g), .name = it->name}, &pxh);
    int sfd = openat(it->fd, it->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (sfd >= 0) {
        xattr_hash_of(g, (struct hs_xobj){.fd = sfd}, &sxh);
        close(sfd);
    }
    if (sxh != pxh)
        return 1;
    if (v == HS_VERDICT_VERIFY && !source_matches(g, it, ph, sxh != 0, sxh))
        return 1;
    /* the link count of a file in an older store counts every snapshot */
    int r = link_prev(g, it, pst.st_ino, pst.st_nlink > 1);
    if (r != 0)
        return r;
    g->rec.sino = pst.st_ino;
    g->rec.flags = HS_ME_HASH | (sxh ? HS_ME_XATTR : 0);
    memcpy(g->rec.hash, ph, 16);
    g->rec.xattr_hash = sxh;
    count_linked(g, it);
    return 0;
}

/* Whether the interrupted run's file rst is a finished copy of this source
 * file: its mtime was set last, so equal size, mtime and mode mean the copy
 * completed, and a source ctime not after the copy's means the source did
 * not change since. An inode of the previous snapshot (linked there by the
 * interrupted run) is not a copy: a single-name source file only takes a
 * single-name file, and never the previous snapshot's inode for its path. */
static bool is_finished_copy(const struct engine *g, const struct stat *s, const struct stat *rst,
                             uint64_t prev_ino)
{
    return S_ISREG(rst->st_mode) && rst->st_size == s->st_size && rst->st_mode == s->st_mode &&
           rst->st_mtim.tv_sec == s->st_mtim.tv_sec && rst->st_mtim.tv_nsec == s->st_mtim.tv_nsec &&
           (!g->root || (rst->st_uid == s->st_uid && rst->st_gid == s->st_gid)) &&
           (s->st_ctim.tv_sec < rst->st_ctim.tv_sec ||
            (s->st_ctim.tv_sec == rst->st_ctim.tv_sec &&
             s->st_ctim.tv_nsec <= rst->st_ctim.tv_nsec)) &&
           (s->st_nlink > 1 || rst->st_nlink == 1) && rst->st_ino != prev_ino;
}

/* The interrupted run's tree may already hold a finished copy: 0 linked, 1 no. */
static int reg_from_resume(struct engine *g, const struct hs_walk_item *it, uint64_t prev_ino)
{
    struct stat rst;
    int rfd = resume_top(g);
    if (rfd < 0 || g->dry_run || fstatat(rfd, it->name, &rst, AT_SYMLINK_NOFOLLOW) < 0 ||
        !is_finished_copy(g, &it->st, &rst, prev_ino))
        return 1;
    uint8_t h[16];
    struct stat hst;
    if (hash_at(g, rfd, it->name, it->path, h, &hst) < 0 || !hs_stat_same_file(&hst, &rst))
        return 1;
    uint64_t rxh = 0, sxh = 0;
    xattr_hash_of(g, (struct hs_xobj){.fd = -1, .dirfd = rfd, .name = it->name}, &rxh);
    int sfd = openat(it->fd, it->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (sfd >= 0) {
        xattr_hash_of(g, (struct hs_xobj){.fd = sfd}, &sxh);
        close(sfd);
    }
    if (rxh != sxh)
        return 1;
    if (rst.st_nlink > 1) {
        int r = claim_inode(g, rst.st_ino, &it->st);
        if (r != 0)
            return r;
    }
    if (linkat(rfd, it->name, new_top(g), it->name, 0) < 0)
        return link_fallback_errno(errno) ? 1 : fail_new(g, errno, "cannot link", it->path);
    g->rec.sino = rst.st_ino;
    g->rec.flags = HS_ME_HASH | (sxh ? HS_ME_XATTR : 0);
    memcpy(g->rec.hash, h, 16);
    g->rec.xattr_hash = sxh;
    g->st->resumed++;
    return 0;
}

static int manifest_lookup(struct engine *g, const struct hs_walk_item *it,
                           const struct hs_mentry **m)
{
    *m = NULL;
    if (!g->mr)
        return 0;
    struct hs_err e = {0};
    int r = hs_manifest_seek(g->mr, it->path, it->path_len, m, &e);
    if (r < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "manifest of %s is damaged (%s): comparing files instead",
                 g->prev_name, e.msg ? e.msg : "?");
        notice_once(g, NOTICE_MANIFEST, msg);
        hs_manifest_reader_free(g->mr);
        g->mr = NULL;
        *m = NULL;
        r = 0;
    }
    hs_err_clear(&e);
    return r;
}

/* Later names of a multi-link source file join the leader's inode: 0 joined,
 * 1 the file changed between its names (a group of its own), 2 the leader's
 * inode is full (EMLINK...): the group goes on from a fresh copy, <0 fatal. */
static int join_group(struct engine *g, const struct hs_walk_item *it, struct hs_link *l)
{
    const struct leader *ld = l->data;
    const struct stat *s = &it->st;
    if (ld->size != s->st_size || ld->mtime.tv_sec != s->st_mtim.tv_sec ||
        ld->mtime.tv_nsec != s->st_mtim.tv_nsec || ld->ctime.tv_sec != s->st_ctim.tv_sec ||
        ld->ctime.tv_nsec != s->st_ctim.tv_nsec)
        return 1;
    if (!g->dry_run) {
        int r = hs_link_beneath(g->newrootfd, l->path, l->path_len, new_top(g), it->name);
        if (r < 0) {
            if (!link_fallback_errno(-r))
                return fail_new(g, -r, "cannot link", it->path);
            g->st->link_fallbacks++;
            return 2;
        }
    }
    g->rec.sino = ld->sino;
    g->rec.flags = ld->flags;
    memcpy(g->rec.hash, ld->hash, 16);
    g->rec.xattr_hash = ld->xattr_hash;
    g->st->hardlinked++;
    hs_linktab_release(g->links, l);
    return 0;
}

static int remember_leader(struct engine *g, const struct hs_walk_item *it, struct hs_link *l)
{
    struct leader *ld = malloc(sizeof *ld);
    if (!ld)
        return hs_err_setf(g->err, ENOMEM, "link table");
    *ld = (struct leader){.size = it->st.st_size,
                          .mtime = it->st.st_mtim,
                          .ctime = it->st.st_ctim,
                          .sino = g->rec.sino,
                          .flags = g->rec.flags,
                          .xattr_hash = g->rec.xattr_hash};
    memcpy(ld->hash, g->rec.hash, 16);
    int r;
    if (l) {
        free(l->data);
        l->data = ld;
        r = hs_linktab_set_path(l, it->path, it->path_len);
        if (r == 0)
            hs_linktab_release(g->links, l);
    } else {
        r = hs_linktab_add(g->links, it->st.st_dev, it->st.st_ino, it->st.st_nlink, it->path,
                           it->path_len, ld, NULL);
    }
    return r < 0 ? hs_err_setf(g->err, -r, "link table") : 0;
}

/* A regular file that is not joining a group: linked from the previous
 * snapshot, taken from the interrupted run, or copied. 0, SKIPPED or <0. */
static int reg_leader(struct engine *g, const struct hs_walk_item *it, struct stat *st, bool fresh)
{
    uint64_t prev_ino = 0;
    int r;
    if (!fresh && g->have_prev) {
        const struct hs_mentry *m;
        if ((r = manifest_lookup(g, it, &m)) < 0)
            return r;
        if (m) {
            prev_ino = m->sino;
            r = reg_against_manifest(g, it, m);
        } else {
            r = g->mr ? 1 : reg_against_file(g, it, &prev_ino);
        }
        if (r <= 0)
            return r;
    }
    if (!fresh && (r = reg_from_resume(g, it, prev_ino)) <= 0)
        return r;
    return copy_file(g, it, st);
}

static int read_target(struct engine *g, const struct hs_walk_item *it)
{
    size_t size = (size_t)it->st.st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(&g->target, 0);
        if (hs_buf_reserve(&g->target, size) < 0)
            return hs_err_setf(g->err, ENOMEM, "symlink");
        ssize_t n = readlinkat(it->fd, it->name, g->target.data, size);
        if (n < 0) {
            warn(g, errno, errno == ENOENT ? "vanished" : "cannot read symlink", it->path);
            return SKIPPED;
        }
        if ((size_t)n < size) {
            g->target.len = (size_t)n;
            g->target.data[n] = '\0';
            return DONE;
        }
    }
    warn(g, ESTALE, "changed during backup", it->path);
    return SKIPPED;
}

/* Creates a symlink or special file anew in the new tree. */
static int create_other(struct engine *g, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    int nd = new_top(g), r;
    if (S_ISLNK(st->st_mode))
        r = symlinkat(g->target.data, nd, it->name);
    else
        r = mknodat(nd, it->name, st->st_mode & (S_IFMT | 07777), st->st_rdev);
    if (r < 0)
        return fail_new(g, errno, "cannot create", it->path);
    g->xa.count = 0;
    if (!S_ISLNK(st->st_mode)) {
        read_xattrs(g, (struct hs_xobj){.fd = -1, .dirfd = it->fd, .name = it->name}, it->path);
        if (g->xa.count) {
            g->rec.flags |= HS_ME_XATTR;
            g->rec.xattr_hash = hs_xattr_hash(&g->xa);
        }
        if (fchmodat(nd, it->name, st->st_mode & 07777, 0) < 0 && errno != EOPNOTSUPP)
            return fail_new(g, errno, "cannot set mode of", it->path);
    }
    r = apply_meta_at(g, nd, it->name, st, it->path);
    struct stat dst;
    if (r == 0 && fstatat(nd, it->name, &dst, AT_SYMLINK_NOFOLLOW) < 0)
        r = fail_new(g, errno, "cannot stat", it->path);
    if (r == 0)
        g->rec.sino = dst.st_ino;
    g->st->created++;
    return r;
}

/* Without a manifest: the previous snapshot's entry itself, compared. */
static bool other_matches_file(struct engine *g, const struct hs_walk_item *it, struct stat *pst)
{
    if (prev_top(g) < 0 || fstatat(prev_top(g), it->name, pst, AT_SYMLINK_NOFOLLOW) < 0 ||
        hs_change_against_file(&it->st, pst, false) != HS_VERDICT_LINK ||
        pst->st_rdev != it->st.st_rdev)
        return false;
    if (S_ISLNK(it->st.st_mode)) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(prev_top(g), it->name, buf, sizeof buf);
        return n >= 0 && (size_t)n == g->target.len && memcmp(buf, g->target.data, (size_t)n) == 0;
    }
    return true;
}

/* A symlink or special file that is not joining a group. 0 or <0. */
static int other_leader(struct engine *g, const struct hs_walk_item *it, bool fresh)
{
    const struct hs_mentry *m = NULL;
    struct stat pst;
    uint64_t sino = 0;
    bool same = false, multi = false;
    if (!fresh && g->have_prev) {
        int r = manifest_lookup(g, it, &m);
        if (r < 0)
            return r;
        if (m) {
            same = hs_change_other(&it->st, g->target.data, g->target.len, m) == HS_VERDICT_LINK;
            sino = m->sino;
            multi = m->nlink > 1;
        } else if (!g->mr && other_matches_file(g, it, &pst)) {
            same = true;
            sino = pst.st_ino;
            multi = pst.st_nlink > 1;
        }
    }
    int r = same ? link_prev(g, it, sino, multi) : 1;
    if (r < 0)
        return r;
    if (r == 0) {
        if (m)
            rec_from_prev(g, m);
        else
            g->rec.sino = sino;
        count_linked(g, it);
        return 0;
    }
    if (g->dry_run) {
        g->st->created++;
        return 0;
    }
    return create_other(g, it);
}

/* Counts a non-directory; SKIPPED for what cannot be kept. */
static int count_nondir(struct engine *g, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    if (S_ISREG(st->st_mode)) {
        g->st->files++;
        g->st->bytes_total += (uint64_t)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        int r = read_target(g, it);
        if (r != DONE)
            return r;
        g->st->symlinks++;
    } else if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && !g->root) {
        warn(g, EPERM, "device node skipped (needs root)", it->path);
        return SKIPPED;
    } else {
        g->st->specials++;
    }
    return DONE;
}

static int handle_nondir(struct engine *g, const struct hs_walk_item *it)
{
    struct stat st = it->st;
    int r = count_nondir(g, it);
    if (r != DONE)
        return r < 0 ? r : 0;
    rec_start(g, it->path, it->path_len, &st);
    if (S_ISLNK(st.st_mode)) {
        g->rec.target = g->target.data;
        g->rec.target_len = g->target.len;
    }
    g->xa.count = 0;
    struct hs_link *l = NULL;
    bool fresh = false;
    if (st.st_nlink > 1 && (l = hs_linktab_find(g->links, st.st_dev, st.st_ino)) != NULL) {
        r = join_group(g, it, l);
        if (r < 0)
            return r;
        if (r == 0)
            return rec_put(g);
        fresh = r == 2;
        if (!fresh)
            l = NULL;
    }
    r = S_ISREG(st.st_mode) ? reg_leader(g, it, &st, fresh) : other_leader(g, it, fresh);
    if (r != DONE)
        return r < 0 ? r : 0;
    if (st.st_nlink > 1 && (r = remember_leader(g, it, l)) < 0)
        return r;
    return rec_put(g);
}

/* ---- directories ----------------------------------------------------- */

static bool is_excluded(struct engine *g, const struct hs_walk_item *it, bool is_dir)
{
    size_t off = g->cur->prefix_len;
    if (it->path_len <= off)
        return false;
    const char *rel = it->path + off;
    size_t len = it->path_len - off;
    return (g->exclude && hs_exclude_match(g->exclude, rel, len, is_dir)) ||
           (g->cur->exclude && hs_exclude_match(g->cur->exclude, rel, len, is_dir));
}

/* Sets a finished directory's metadata; fd is the source directory or -1. */
static int finish_dir(struct engine *g, int newfd, int srcfd, const struct stat *st,
                      const char *path)
{
    if (g->dry_run)
        return 0;
    g->xa.count = 0;
    if (srcfd >= 0)
        read_xattrs(g, (struct hs_xobj){.fd = srcfd}, path);
    return apply_meta_fd(g, newfd, st, path);
}

static int dir_entry(struct engine *g, struct hs_walk *w, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    if (g->have_dest_st && hs_stat_same_file(st, &g->dest_st)) {
        notice_once(g, NOTICE_DEST_INSIDE,
                    "the destination is inside the source: it is not backed up");
        hs_walk_skip(w);
        return 0;
    }
    g->st->dirs++;
    rec_start(g, it->path, it->path_len, st);
    int r = rec_put(g);
    if (r < 0)
        return r;
    if (!g->dry_run && mkdirat(new_top(g), it->name, 0700) < 0)
        return fail_new(g, errno, "cannot create directory", it->path);
    if (g->one_fs && st->st_dev != g->cur->dev) {
        /* a mount point: kept as an empty directory, as rsync -x does */
        hs_walk_skip(w);
        if (g->dry_run)
            return 0;
        int fd = hs_open_dir(new_top(g), it->name);
        if (fd < 0)
            return fail_new(g, errno, "cannot open", it->path);
        r = finish_dir(g, fd, -1, st, it->path);
        close(fd);
        return r;
    }
    g->pending_dir = *st;
    g->pending_dir_valid = true;
    return 0;
}

static int dir_enter(struct engine *g, const struct hs_walk_item *it)
{
    g->pending_dir_valid = false;
    int fd = -1;
    if (!g->dry_run) {
        fd = it->depth == 0 && !g->cur->src->name ? dup(g->newrootfd)
                                                  : hs_open_dir(new_top(g), it->name);
        if (fd < 0)
            return fail_new(g, errno, "cannot open", it->path);
    }
    int r = hs_dirstack_push(&g->newdirs, fd, g->err);
    if (r == 0) {
        if (it->depth == 0 && !g->cur->src->name) {
            int pfd = -1, rfd = -1;
            if (g->have_prev)
                pfd = hs_open_dir(g->store.destfd, g->prev_name);
            if (g->resume)
                rfd = hs_open_dir(g->store.partialfd, g->resume);
            r = hs_dirstack_push(&g->prevdirs, pfd, g->err);
            if (r == 0)
                r = hs_dirstack_push(&g->resumedirs, rfd, g->err);
        } else {
            r = push_child(&g->prevdirs, it->name, g->err);
            if (r == 0)
                r = push_child(&g->resumedirs, it->name, g->err);
        }
    }
    return r;
}

static int dir_leave(struct engine *g, const struct hs_walk_item *it)
{
    int r = finish_dir(g, new_top(g), it->fd, &it->st, it->path);
    int r1 = hs_dirstack_pop(&g->newdirs, it->path, g->err);
    int r2 = hs_dirstack_pop(&g->prevdirs, it->path, g->err);
    int r3 = hs_dirstack_pop(&g->resumedirs, it->path, g->err);
    return r < 0 ? r : r1 < 0 ? r1 : r2 < 0 ? 0 : r3 < 0 ? 0 : 0;
}

/* The walk could not examine an entry or open a directory. */
static int walk_error(struct engine *g, const struct hs_walk_item *it)
{
    warn(g, it->err, it->what, it->path);
    if (!g->pending_dir_valid)
        return 0;
    /* the directory stays, empty, with its own metadata */
    g->pending_dir_valid = false;
    if (g->dry_run)
        return 0;
    const char *name = strrchr(it->path, '/');
    name = name ? name + 1 : it->path;
    int fd = hs_open_dir(new_top(g), name);
    if (fd < 0)
        return fail_new(g, errno, "cannot open", it->path);
    int r = finish_dir(g, fd, -1, &g->pending_dir, it->path);
    close(fd);
    return r;
}

static int handle_entry(struct engine *g, struct hs_walk *w, const struct hs_walk_item *it)
{
    bool is_dir = S_ISDIR(it->st.st_mode);
    if (is_excluded(g, it, is_dir)) {
        g->st->excluded++;
        if (is_dir)
            hs_walk_skip(w);
        return 0;
    }
    g->st->entries++;
    progress(g);
    if (is_dir)
        return dir_entry(g, w, it);
    return handle_nondir(g, it);
}

/* ---- one source -------------------------------------------------------- */

/* The manifest's root record names the snapshot directory's inode, so a
 * manifest is never trusted for a tree it does not describe. */
static uint64_t root_ino(struct engine *g)
{
    struct stat st;
    return g->newrootfd >= 0 && fstat(g->newrootfd, &st) == 0 ? st.st_ino : 0;
}

static int walk_source(struct engine *g, struct source_ctx *sc)
{
    const struct hs_source *src = sc->src;
    int fd = open(src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return hs_err_path(g->err, err, "cannot open source", src->path);
    }
    sc->dev = st.st_dev;
    g->cur = sc;
    if (src->name) {
        /* the source's own directory in the snapshot root */
        struct hs_walk_item top = {.fd = hs_dirstack_top(&g->newdirs),
                                   .name = src->name,
                                   .path = src->name,
                                   .path_len = strlen(src->name),
                                   .st = st};
        g->st->dirs++;
        rec_start(g, top.path, top.path_len, &st);
        int r = rec_put(g);
        if (r == 0 && !g->dry_run && mkdirat(new_top(g), src->name, 0700) < 0)
            r = fail_new(g, errno, "cannot create directory", src->name);
        if (r < 0) {
            close(fd);
            return r;
        }
    } else {
        g->st->dirs++;
        rec_start(g, "", 0, &st);
        g->rec.sino = root_ino(g);
        int r = rec_put(g);
        if (r < 0) {
            close(fd);
            return r;
        }
    }
    struct hs_walk *w;
    int r = hs_walk_open(&w, fd, &st, src->name ? src->name : "", g->err);
    if (r < 0)
        return r;
    struct hs_walk_item it;
    while ((r = hs_walk_next(w, &it, g->err)) == 0 && it.ev != HS_WALK_END) {
        switch (it.ev) {
        case HS_WALK_ENTRY:
            r = handle_entry(g, w, &it);
            break;
        case HS_WALK_ENTER:
            r = dir_enter(g, &it);
            break;
        case HS_WALK_LEAVE:
            r = dir_leave(g, &it);
            break;
        case HS_WALK_ERROR:
            if (it.depth == 0 && !it.name)
                r = hs_err_path(g->err, it.err, it.what, src->path);
            else
                r = walk_error(g, &it);
            break;
        case HS_WALK_END:
            break;
        }
        if (r < 0)
            break;
    }
    hs_walk_free(w);
    return r;
}

/* ---- setup ----------------------------------------------------------- */

static int usage(struct hs_err *e, int errnum, const char *what, const char *path)
{
    int r = hs_err_path(e, errnum, what, path);
    hs_err_kind(e, HS_USAGE);
    return r;
}

static int cmp_sources(const void *a, const void *b)
{
    const struct source_ctx *x = a, *y = b;
    return strcmp(x->src->name, y->src->name);
}

/* realpath of a path that may not exist yet (its parent must). */
static char *resolve_maybe_missing(const char *path)
{
    char *r = realpath(path, NULL);
    if (r || errno != ENOENT)
        return r;
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    char *parent = realpath(slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".", NULL);
    char *out = NULL;
    if (parent && asprintf(&out, "%s/%s", strcmp(parent, "/") ? parent : "", base) < 0)
        out = NULL;
    free(parent);
    free(copy);
    return out;
}

static bool path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/' || n == 1);
}

static int check_source(const struct hs_source *s, const char *dest_real, struct hs_err *e)
{
    struct stat st;
    if (!s->path || !*s->path)
        return usage(e, EINVAL, "empty source path", NULL);
    if (stat(s->path, &st) < 0)
        return usage(e, errno, "cannot use source", s->path);
    if (!S_ISDIR(st.st_mode))
        return usage(e, ENOTDIR, "source is not a directory", s->path);
    if (s->name && (!*s->name || strchr(s->name, '/') || !strcmp(s->name, ".") ||
                    !strcmp(s->name, "..") || !strcmp(s->name, HS_STORE_DIR)))
        return usage(e, EINVAL, "invalid source name", s->name);
    char *real = realpath(s->path, NULL);
    if (!real)
        return usage(e, errno, "cannot use source", s->path);
    int r = 0;
    if (dest_real && path_within(real, dest_real))
        r = usage(e, EINVAL, "source is the destination or inside it", s->path);
    free(real);
    return r;
}

static int check_sources(struct engine *g, struct source_ctx *sc)
{
    const struct hs_backup_opts *o = g->o;
    if (o->n_sources == 0)
        return usage(g->err, EINVAL, "no source given", NULL);
    if (!o->dest || !*o->dest)
        return usage(g->err, EINVAL, "no destination given", NULL);
    char *dest_real = resolve_maybe_missing(o->dest);
    if (!dest_real) {
        int r = usage(g->err, errno, "cannot use destination", o->dest);
        return r;
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < o->n_sources; i++) {
        sc[i].src = &o->sources[i];
        r = check_source(&o->sources[i], dest_real, g->err);
        if (r == 0 && o->n_sources > 1 && !o->sources[i].name)
            r = usage(g->err, EINVAL, "several sources need a name each", o->sources[i].path);
    }
    free(dest_real);
    if (r < 0)
        return r;
    if (o->n_sources > 1) {
        qsort(sc, o->n_sources, sizeof *sc, cmp_sources);
        for (size_t i = 1; i < o->n_sources; i++)
            if (strcmp(sc[i - 1].src->name, sc[i].src->name) == 0)
                return usage(g->err, EINVAL, "two sources have the same name", sc[i].src->name);
    } else if (o->sources[0].name && strcmp(o->sources[0].name, HS_STORE_DIR) == 0) {
        return usage(g->err, EINVAL, "invalid source name", o->sources[0].name);
    }
    for (size_t i = 0; i < o->n_sources; i++)
        sc[i].prefix_len = sc[i].src->name ? strlen(sc[i].src->name) + 1 : 0;
    return 0;
}

static int compile_excludes(struct engine *g, struct source_ctx *sc)
{
    const struct hs_backup_opts *o = g->o;
    if (o->n_exclude || o->n_exclude_from) {
        if (!(g->exclude = hs_exclude_new()))
            return hs_err_setf(g->err, ENOMEM, "exclude");
        for (size_t i = 0; i < o->n_exclude; i++)
            if (hs_exclude_add(g->exclude, o->exclude[i], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
        for (size_t i = 0; i < o->n_exclude_from; i++)
            if (hs_exclude_add_file(g->exclude, o->exclude_from[i], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
    }
    for (size_t i = 0; i < o->n_sources; i++) {
        if (!sc[i].src->n_exclude)
            continue;
        if (!(sc[i].exclude = hs_exclude_new()))
            return hs_err_setf(g->err, ENOMEM, "exclude");
        for (size_t k = 0; k < sc[i].src->n_exclude; k++)
            if (hs_exclude_add(sc[i].exclude, sc[i].src->exclude[k], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
    }
    return 0;
}

/* The snapshot's name: the clock's second, or HARDSNAP_NOW. A taken name
 * means waiting for the next second; never merging into a snapshot. */
static int choose_name(struct engine *g)
{
    if (g->o->now)
        snprintf(g->name, sizeof g->name, "%s", g->o->now);
    for (int tries = 0; tries < 5; tries++) {
        if (!g->o->now)
            hs_snapshot_name_format(time(NULL), g->name);
        struct stat st;
        if (!g->have_store || g->dry_run ||
            fstatat(g->store.destfd, g->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
        if (g->o->now)
            break;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct timespec wait = {0, 1000000000L - now.tv_nsec};
        nanosleep(&wait, NULL);
    }
    return hs_err_path(g->err, EEXIST, "a snapshot of this time already exists", g->name);
}

/* The previous snapshot (the newest) and, if it is trustworthy, its manifest. */
static int open_prev(struct engine *g)
{
    char **names;
    size_t n;
    int r = hs_store_list(&g->store, &names, &n, g->err);
    if (r < 0)
        return r;
    if (n > 0 && (g->dry_run || strcmp(names[n - 1], g->name) != 0)) {
        snprintf(g->prev_name, sizeof g->prev_name, "%s", names[n - 1]);
        g->have_prev = true;
    }
    hs_store_list_free(names, n);
    if (!g->have_prev)
        return 0;
    char mname[64];
    hs_store_manifest_name(g->prev_name, mname);
    struct hs_err e = {0};
    r = hs_manifest_reader_open(&g->mr, g->store.manifestsfd, mname, &e);
    if (r == 0) {
        /* the manifest must describe this very tree, not one made since by hand */
        const struct hs_mentry *m;
        struct stat st;
        int root = hs_open_dir(g->store.destfd, g->prev_name);
        bool ok = root >= 0 && fstat(root, &st) == 0 && hs_manifest_next(g->mr, &m, &e) == 1 &&
                  m->path_len == 0 && m->sino == st.st_ino;
        if (root >= 0)
            close(root);
        if (!ok) {
            hs_manifest_reader_free(g->mr);
            g->mr = NULL;
            r = -EBADMSG;
        }
    }
    if (r < 0 && r != -ENOENT) {
        char msg[160];
        snprintf(msg, sizeof msg, "manifest of %s is missing or damaged: comparing files instead",
                 g->prev_name);
        notice_once(g, NOTICE_MANIFEST, msg);
    }
    hs_err_clear(&e);
    return 0;
}

static int open_store(struct engine *g)
{
    if (g->dry_run) {
        struct hs_err e = {0};
        g->have_store = hs_store_open(&g->store, g->o->dest, 0, &e) == 0;
        if (!g->have_store)
            hs_store_close(&g->store);
        hs_err_clear(&e);
        return 0;
    }
    int r = hs_store_open(&g->store, g->o->dest, HS_STORE_CREATE | HS_STORE_LOCK, g->err);
    g->have_store = true;
    if (r == 0)
        r = hs_store_recover(&g->store, &g->resume, g->err);
    return r;
}

static int start_snapshot(struct engine *g)
{
    if (g->have_store && fstat(g->store.destfd, &g->dest_st) == 0)
        g->have_dest_st = true;
    if (g->dry_run)
        return 0;
    if (mkdirat(g->store.partialfd, g->name, 0700) < 0)
        return hs_err_path(g->err, errno, "cannot create snapshot directory", g->name);
    g->newrootfd = hs_open_dir(g->store.partialfd, g->name);
    if (g->newrootfd < 0)
        return hs_err_path(g->err, errno, "cannot open snapshot directory", g->name);
    char mname[64];
    hs_store_manifest_name(g->name, mname);
    return hs_manifest_writer_open(&g->mw, g->store.partialfd, mname, g->err);
}

/* Several sources: the snapshot root is ours, each source a directory in it. */
static int open_shared_root(struct engine *g, struct stat *root_st)
{
    time_t t = time(NULL);
    hs_snapshot_name_parse(g->name, &t);
    memset(root_st, 0, sizeof *root_st);
    root_st->st_mode = S_IFDIR | 0755;
    root_st->st_uid = geteuid();
    root_st->st_gid = getegid();
    root_st->st_mtim.tv_sec = root_st->st_atim.tv_sec = root_st->st_ctim.tv_sec = t;
    g->st->dirs++;
    g->st->entries++;
    rec_start(g, "", 0, root_st);
    g->rec.sino = root_ino(g);
    int r = rec_put(g);
    int nfd = g->dry_run ? -1 : dup(g->newrootfd);
    int pfd = g->have_prev ? hs_open_dir(g->store.destfd, g->prev_name) : -1;
    int rfd = g->resume ? hs_open_dir(g->store.partialfd, g->resume) : -1;
    if (r == 0)
        r = hs_dirstack_push(&g->newdirs, nfd, g->err);
    if (r == 0)
        r = hs_dirstack_push(&g->prevdirs, pfd, g->err);
    if (r == 0)
        r = hs_dirstack_push(&g->resumedirs, rfd, g->err);
    return r;
}

static int close_shared_root(struct engine *g, const struct stat *root_st)
{
    int r = finish_dir(g, new_top(g), -1, root_st, "");
    hs_dirstack_pop(&g->newdirs, "", g->err);
    hs_dirstack_pop(&g->prevdirs, "", g->err);
    hs_dirstack_pop(&g->resumedirs, "", g->err);
    return r;
}

static int walk_all(struct engine *g, struct source_ctx *sc)
{
    struct stat root_st;
    bool shared = g->o->n_sources > 1 || g->o->sources[0].name;
    int r = shared ? open_shared_root(g, &root_st) : 0;
    for (size_t i = 0; r == 0 && i < g->o->n_sources; i++)
        r = walk_source(g, &sc[i]);
    if (r == 0 && shared)
        r = close_shared_root(g, &root_st);
    return r;
}

static int finish_snapshot(struct engine *g)
{
    if (g->dry_run)
        return 0;
    int r = hs_manifest_writer_finish(g->mw, false, g->err);
    hs_manifest_writer_free(g->mw);
    g->mw = NULL;
    close(g->newrootfd);
    g->newrootfd = -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (r == 0)
        r = hs_store_publish(&g->store, g->name, g->err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    g->st->sync_seconds = elapsed(&t0, &t1);
    if (r == 0 && g->resume) {
        struct hs_err e = {0};
        if (hs_remove_tree(g->store.partialfd, g->resume, &e) < 0)
            warn(g, e.code, "cannot remove the interrupted run's tree", e.msg);
        hs_err_clear(&e);
    }
    return r;
}

static void engine_free(struct engine *g, struct source_ctx *sc, size_t n)
{
    hs_dirstack_free(&g->newdirs);
    hs_dirstack_free(&g->prevdirs);
    hs_dirstack_free(&g->resumedirs);
    if (g->newrootfd >= 0)
        close(g->newrootfd);
    hs_manifest_reader_free(g->mr);
    hs_manifest_writer_free(g->mw);
    hs_linktab_free(g->links);
    hs_linktab_free(g->claims);
    hs_exclude_free(g->exclude);
    for (size_t i = 0; sc && i < n; i++)
        hs_exclude_free(sc[i].exclude);
    hs_copier_free(&g->copier);
    hs_xattrs_free(&g->xa);
    hs_buf_free(&g->target);
    free(g->resume);
    if (g->have_store)
        hs_store_close(&g->store);
}

enum hs_status hs_backup(const struct hs_backup_opts *o, struct hs_backup_result *res,
                         struct hs_err *err)
{
    struct engine g = {.o = o, .st = &res->stats, .err = err, .newrootfd = -1};
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    clock_gettime(CLOCK_MONOTONIC, &g.t0);
    g.last_progress = g.t0;
    g.dry_run = o->flags & HS_BACKUP_DRY_RUN;
    g.checksum = o->flags & HS_BACKUP_CHECKSUM;
    g.one_fs = o->flags & HS_BACKUP_ONE_FS;
    g.root = geteuid() == 0;
    struct source_ctx *sc = calloc(o->n_sources ? o->n_sources : 1, sizeof *sc);
    int r = sc ? 0 : hs_err_setf(err, ENOMEM, "backup");
    if (r == 0)
        r = check_sources(&g, sc);
    if (r == 0 && o->now && !hs_snapshot_name_valid(o->now))
        r = usage(err, EINVAL, "not a snapshot time (YYYY-MM-DDTHHMMSSZ)", o->now);
    if (r == 0)
        r = compile_excludes(&g, sc);
    if (r == 0 && (!(g.links = hs_linktab_new()) || !(g.claims = hs_linktab_new()) ||
                   hs_copier_init(&g.copier, o->copy_method) < 0))
        r = hs_err_setf(err, ENOMEM, "backup");
    if (r == 0)
        r = open_store(&g);
    if (r == 0)
        r = choose_name(&g);
    if (r == 0 && g.have_store)
        r = open_prev(&g);
    if (r == 0)
        r = start_snapshot(&g);
    if (r == 0) {
        if (!g.root)
            notice_once(&g, NOTICE_OWNER, "not running as root: file ownership is not kept");
        hs_raise_nofile();
        r = walk_all(&g, sc);
    }
    if (r == 0)
        r = finish_snapshot(&g);
    if (r == 0)
        snprintf(res->name, sizeof res->name, "%s", g.name);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->stats.seconds = elapsed(&g.t0, &t1);
    engine_free(&g, sc, o->n_sources);
    free(sc);
    if (r < 0) {
        if (!err->msg)
            hs_err_setf(err, -r, "backup failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return res->stats.warnings ? HS_WARN : HS_OK;
}

const char *hs_version(void)
{
    return HS_VERSION;
}
