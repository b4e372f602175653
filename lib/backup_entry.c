/*
 * What the backup does with each non-directory: a later name of a source
 * hard-link group joins the group's inode; anything else is linked from the
 * previous snapshot when change detection (change.h) says it is unchanged,
 * taken from an interrupted run's tree when that holds a finished copy, or
 * else copied (regular files) or created anew (symlinks, special files). A
 * snapshot inode that had several names may be claimed by one source file per
 * run only, so the snapshot's hard links are always exactly the source's.
 */
#include "change.h"
#include "engine.h"
#include "fsutil.h"
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the link table keeps of a group's leader, to record later names. */
struct leader {
    off_t size; /* the source as the walk saw the leader */
    struct timespec mtime, ctime;
    uint64_t sino, sblocks;
    uint32_t flags;
    uint8_t hash[16];
    uint64_t xattr_hash;
};

/* ---- metadata and records -------------------------------------------- */

static void rec_from_prev(struct engine *g, const struct hs_mentry *m)
{
    g->rec.sino = m->sino;
    g->rec.sblocks = m->sblocks;
    g->rec.flags = m->flags;
    memcpy(g->rec.hash, m->hash, sizeof g->rec.hash);
    g->rec.xattr_hash = m->xattr_hash;
}

/* ---- regular files --------------------------------------------------- */

int hs_eng_open_source(struct engine *g, const struct hs_walk_item *it, struct stat *st)
{
    struct hs_tree *t = g->cur->tree;
    struct hs_err e = {0};
    int fd = t->ops->open(t, it, st, &e);
    if (fd == -ENOENT)
        hs_eng_warn(g, ENOENT, "vanished", it->path);
    else if (fd == -ELOOP)
        hs_eng_warn(g, 0, "changed during backup (now a symlink)", it->path);
    else if (fd == -ESTALE)
        hs_eng_warn(g, 0, "changed during backup (replaced)", it->path);
    else if (fd < 0)
        hs_eng_warn(g, -fd, e.msg ? e.msg : "cannot open", it->path);
    hs_err_clear(&e);
    return fd < 0 ? -1 : fd;
}

static bool same_timespec(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool hs_eng_changed_while_read(const struct stat *a, const struct stat *b)
{
    return a->st_size != b->st_size || !same_timespec(&a->st_mtim, &b->st_mtim) ||
           !same_timespec(&a->st_ctim, &b->st_ctim);
}

/* Copies one attempt's data; HS_DONE, HS_SKIPPED (source unreadable), or
 * fatal <0. */
static int copy_attempt(struct engine *g, const struct hs_walk_item *it, int sfd, int dfd,
                        const struct stat *st)
{
    const char *path = it->path;
    uint64_t written = 0;
    int r = hs_eng_delta_copy(g, it, sfd, dfd, st, &written);
    if (r == HS_DELTA_PLAIN) {
        g->copier.blocks = hs_eng_blocks_want(g, st);
        r = hs_copy_data(&g->copier, sfd, dfd, st, g->rec.hash, &written, path, g->err);
        g->copier.blocks = NULL;
    }
    g->st->bytes_copied += written;
    if (written < HS_COPY_WRITEBACK_MIN) /* bigger ones flush themselves */
        hs_flusher_add(&g->flusher, written);
    if (r < 0 && g->copier.src_failed) {
        g->st->warnings++;
        hs_report_event(&g->rep, HS_EV_WARNING, path, g->err->msg);
        hs_err_clear(g->err);
        return HS_SKIPPED;
    }
    return r;
}

/* The source's content is already a new inode of this store nothing else
 * holds (a remote file's spool copy): linked into the new tree and given
 * its metadata, not copied again. HS_DONE, HS_NO_LINK (copy it), <0. */
static int adopt_file(struct engine *g, const struct hs_walk_item *it, int sfd,
                      const struct stat *st)
{
    struct hs_tree *t = g->cur->tree;
    int dirfd;
    char name[64];
    uint8_t hash[16];
    struct stat sst, dst;
    if (!t->ops->adopt || t->ops->adopt(t, sfd, &dirfd, name, hash) < 0 || fstat(sfd, &sst) < 0)
        return HS_NO_LINK;
    int r = hs_writer_link(&g->wr, dirfd, name, it->name, it->path);
    if (r != HS_DONE)
        return r;
    int dfd = openat(new_top(g), it->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, &dst) < 0 || !hs_stat_same_file(&dst, &sst)) {
        r = hs_eng_fail_new(g, dfd < 0 ? errno : ESTALE, "cannot open", it->path);
    } else {
        hs_eng_source_xattrs(g, it, sfd);
        r = hs_eng_apply_meta(g, (struct hs_xobj){.fd = dfd}, st, &dst, it->path);
    }
    if (dfd >= 0)
        close(dfd);
    if (r < 0)
        return r;
    hs_mentry_from_stat(&g->rec, st);
    g->rec.sino = dst.st_ino;
    g->rec.sblocks = (uint64_t)dst.st_blocks;
    g->rec.flags |= HS_ME_HASH;
    memcpy(g->rec.hash, hash, 16);
    if (g->xa.count) {
        g->rec.flags |= HS_ME_XATTR;
        g->rec.xattr_hash = hs_xattr_hash(&g->xa);
    }
    /* the tree made its block hashes as it arrived: no second reading */
    struct hs_blockhash *bh = hs_eng_blocks_want(g, st);
    if (bh && t->ops->blocks && t->ops->blocks(t, bh) == 0)
        hs_eng_blocks_put(g, it);
    g->st->copied++;
    g->st->bytes_copied += (uint64_t)dst.st_blocks * 512 < (uint64_t)st->st_size
                               ? (uint64_t)dst.st_blocks * 512
                               : (uint64_t)st->st_size;
    if (g->o->verbose_events)
        hs_report_event(&g->rep, HS_EV_COPY, it->path, NULL);
    return HS_DONE;
}

/* Writes the source file into a new inode in the new tree. The data is
 * copied again once if the file changed meanwhile; the recorded stat is the
 * one from before the copy that was kept, so a torn copy never looks
 * unchanged to the next run. */
static int copy_file(struct engine *g, const struct hs_walk_item *it, struct stat *st)
{
    int sfd = hs_eng_open_source(g, it, st);
    if (sfd < 0)
        return HS_SKIPPED;
    if (g->dry_run) {
        close(sfd);
        g->st->copied++;
        g->st->bytes_copied += (uint64_t)st->st_size;
        if (g->o->verbose_events)
            hs_report_event(&g->rep, HS_EV_COPY, it->path, NULL);
        return HS_DONE;
    }
    int r = adopt_file(g, it, sfd, st);
    if (r != HS_NO_LINK) {
        close(sfd);
        return r;
    }
    int dfd = hs_writer_file(&g->wr, it->name, it->path);
    if (dfd < 0) {
        close(sfd);
        return dfd;
    }
    for (int attempt = 0;; attempt++) {
        r = copy_attempt(g, it, sfd, dfd, st);
        struct stat after;
        if (r != 0 || g->cur->tree->ops->restat(g->cur->tree, sfd, &after) < 0 ||
            !hs_eng_changed_while_read(st, &after))
            break;
        if (attempt == 1) {
            hs_eng_warn(g, 0, "changed while being copied; the copy may be inconsistent", it->path);
            break;
        }
        if (ftruncate(dfd, 0) < 0) {
            r = hs_eng_fail_new(g, errno, "cannot rewrite", it->path);
            break;
        }
        *st = after;
    }
    struct stat dst;
    if (r == 0 && fstat(dfd, &dst) < 0)
        r = hs_eng_fail_new(g, errno, "cannot stat", it->path);
    if (r == 0) {
        hs_eng_source_xattrs(g, it, sfd);
        r = hs_eng_apply_meta(g, (struct hs_xobj){.fd = dfd}, st, &dst, it->path);
    }
    close(sfd);
    close(dfd);
    if (r == HS_SKIPPED) {
        hs_writer_unmake(&g->wr, it->name);
        return HS_SKIPPED;
    }
    if (r < 0)
        return r;
    hs_mentry_from_stat(&g->rec, st); /* the stat the copy was made from */
    g->rec.sino = dst.st_ino;
    g->rec.sblocks = (uint64_t)dst.st_blocks;
    g->rec.flags |= HS_ME_HASH;
    if (g->xa.count) {
        g->rec.flags |= HS_ME_XATTR;
        g->rec.xattr_hash = hs_xattr_hash(&g->xa);
    }
    g->st->copied++;
    if (hs_eng_blocks_want(g, st))
        hs_eng_blocks_put(g, it);
    if (g->o->verbose_events)
        hs_report_event(&g->rep, HS_EV_COPY, it->path, NULL);
    return HS_DONE;
}

/* Hashes the regular file dirfd/name through one fd: its content into hash,
 * its stat into st, its extended attributes into *xh. 0 or -errno. */
int hs_eng_hash_file(struct engine *g, int dirfd, const char *name, const char *path,
                     uint8_t hash[16], struct stat *st, uint64_t *xh)
{
    int fd = hs_open_file_read(dirfd, name);
    if (fd < 0)
        return -errno;
    struct hs_err e = {0};
    int r = fstat(fd, st) < 0 ? -errno : S_ISREG(st->st_mode) ? 0 : -EINVAL;
    if (r == 0)
        r = hs_hash_fd(&g->copier, fd, st, hash, path, &e);
    if (r == 0) {
        g->st->bytes_hashed += (uint64_t)st->st_size;
        *xh = hs_xattr_read(&g->xa, (struct hs_xobj){.fd = fd}, g->root) == 0
                  ? hs_xattr_hash(&g->xa)
                  : 0;
    }
    hs_err_clear(&e);
    close(fd);
    return r;
}

int hs_eng_hash_source(struct engine *g, const struct hs_walk_item *it, uint8_t hash[16],
                       struct stat *st, uint64_t *xh)
{
    struct hs_tree *t = g->cur->tree;
    if (t->ops->known_hash && t->ops->known_hash(t, it, hash) == 0) {
        *st = it->st;
        *xh = t->ops->xattrs(t, it, -1, &g->xa, g->root) == 0 ? hs_xattr_hash(&g->xa) : 0;
        return 0;
    }
    if (!t->remote)
        return hs_eng_hash_file(g, it->fd, it->name, it->path, hash, st, xh);
    struct hs_err e = {0};
    int fd = t->ops->open(t, it, st, &e);
    hs_err_clear(&e);
    if (fd < 0)
        return fd;
    int r = hs_hash_fd(&g->copier, fd, st, hash, it->path, &e);
    hs_err_clear(&e);
    if (r == 0) {
        g->st->bytes_hashed += (uint64_t)st->st_size;
        *xh = t->ops->xattrs(t, it, fd, &g->xa, g->root) == 0 ? hs_xattr_hash(&g->xa) : 0;
    }
    close(fd);
    return r;
}

/* A snapshot inode that had several names when it was made (a source
 * hard-link group) may be linked again for one source inode per run only:
 * otherwise two names that are separate files in the source now would become
 * one file in the snapshot. Returns HS_DONE (ours to link), HS_NO_LINK
 * (another source file has it: copy), or <0. */
int hs_eng_claim_inode(struct engine *g, uint64_t sino, const struct stat *src)
{
    bool fresh;
    struct claim *owner = hs_inomap_get(&g->claims, 0, sino, &fresh);
    if (!owner)
        return hs_err_setf(g->err, ENOMEM, "link table");
    if (fresh)
        *owner = (struct claim){src->st_dev, src->st_ino};
    return owner->dev == src->st_dev && owner->ino == src->st_ino ? HS_DONE : HS_NO_LINK;
}

/* Whether the earlier inode can take every name of this source group: if
 * not, the group starts on a fresh copy whole, rather than filling the old
 * inode and splitting when it is full (EMLINK), which would leave the
 * snapshot with two inodes where the source has one. */
static bool room_for_group(struct engine *g, const struct hs_walk_item *it)
{
    struct stat pst;
    if (fstatat(prev_top(g), it->name, &pst, AT_SYMLINK_NOFOLLOW) < 0)
        return true; /* linkat will say */
    return (long)pst.st_nlink + (long)it->st.st_nlink <= g->link_max;
}

bool hs_eng_claimed_by_other(const struct engine *g, const struct hs_walk_item *it, uint64_t sino)
{
    if ((g->o->flags & HS_BACKUP_DEDUP) || !g->claims.n)
        return false;
    const struct claim *owner = hs_inomap_find(&g->claims, 0, sino);
    return owner && (owner->dev != it->st.st_dev || owner->ino != it->st.st_ino);
}

/* Links the previous snapshot's entry sino: HS_DONE, HS_NO_LINK (a copy
 * must do), <0. */
static int link_prev(struct engine *g, const struct hs_walk_item *it, uint64_t sino, bool multi)
{
    if (hs_eng_source_is_store_inode(g, it, sino))
        return HS_NO_LINK;
    if (g->o->flags & HS_BACKUP_DEDUP) {
        /* equal files may share: a path link matched its record */
    } else if (multi) {
        int r = hs_eng_claim_inode(g, sino, &it->st);
        if (r != HS_DONE)
            return r;
    } else if (hs_eng_claimed_by_other(g, it, sino)) {
        /* a single-name inode taken by a content link (or a resumed group)
         * is that file's now; the others need no entry: a content link
         * checks the new tree */
        return HS_NO_LINK;
    }
    if (prev_top(g) < 0) {
        g->link_missed = LINK_MISSED_NO_DIR;
        return HS_NO_LINK;
    }
    if (!g->dry_run && it->st.st_nlink > 1 && !room_for_group(g, it)) {
        g->st->link_fallbacks++;
        return HS_NO_LINK;
    }
    if (g->dry_run)
        return HS_DONE;
    int r = hs_writer_link(&g->wr, prev_top(g), it->name, it->name, it->path);
    if (r == HS_NO_LINK) {
        g->st->link_fallbacks++;
        /* a full inode is expected now and then (later runs link the
         * copy); another filesystem under the store, or a refusal, is not */
        if (g->wr.link_err != EMLINK)
            g->link_missed = g->wr.link_err;
    }
    return r;
}

static void count_linked(struct engine *g, const struct hs_walk_item *it)
{
    g->st->linked++;
    if (g->o->verbose_events)
        hs_report_event(&g->rep, HS_EV_LINK, it->path, NULL);
}

/* The content check: does the source (still) hash to hash, with the
 * extended attributes xh (0: none)? */
static bool source_matches(struct engine *g, const struct hs_walk_item *it, const uint8_t hash[16],
                           uint64_t xh)
{
    uint8_t h[16];
    struct stat st;
    uint64_t sxh = 0;
    if (hs_eng_hash_source(g, it, h, &st, &sxh) < 0)
        return false;
    g->st->hashed++;
    bool unchanged = !hs_eng_changed_while_read(&st, &it->st);
    if (unchanged) { /* a content lookup after a mismatch needs no second read */
        memcpy(g->src_hash, h, 16);
        g->src_xattr_hash = sxh;
        g->src_hashed = true;
    }
    return memcmp(h, hash, 16) == 0 && sxh == xh && unchanged;
}

/* Whether the previous snapshot still holds, at this path, the inode its
 * manifest recorded: a file of the store replaced since (same size and
 * times, other content; or a fifo now) is never linked as unchanged. */
static bool prev_still_recorded(struct engine *g, const struct hs_walk_item *it,
                                const struct hs_mentry *m)
{
    if (prev_top(g) < 0 || hs_eng_prev_is(g, it->name, m->sino, m->type))
        return true; /* absent: nothing is linked anyway */
    hs_eng_warn(g, 0,
                "the previous snapshot's copy is not the file its manifest recorded (copied anew)",
                it->path);
    return false;
}

/* An unchanged entry of a replica's source (same inode, ctime and
 * metadata): LINK when the store's recorded hash is the one recorded here,
 * compared without reading anything (not even xattrs: the ctime covers
 * them); VERIFY when the tree knows no hash (a snapshot walked). */
static enum hs_verdict replica_same_content(struct engine *g, const struct hs_walk_item *it,
                                            const struct hs_mentry *m)
{
    struct hs_tree *t = g->cur->tree;
    uint8_t h[16];
    if (!t->ops->known_hash || t->ops->known_hash(t, it, h) < 0)
        return HS_VERDICT_VERIFY;
    return (m->flags & HS_ME_HASH) && memcmp(h, m->hash, 16) == 0 ? HS_VERDICT_LINK
                                                                  : HS_VERDICT_COPY;
}

/* A manifest record says what the previous snapshot holds at this path:
 * HS_DONE linked, HS_NO_LINK a copy must do, <0 fatal. */
static int reg_against_manifest(struct engine *g, const struct hs_walk_item *it,
                                const struct hs_mentry *m)
{
    enum hs_verdict v = hs_change_regular(&it->st, m, g->checksum);
    /* a replica shares an inode between snapshots only where its store does,
     * and only while it holds the content recorded (an inode number its
     * store freed and gave to another file must not link the old one) */
    if ((g->o->flags & HS_BACKUP_REPLICA) && m->ino != (uint64_t)it->st.st_ino)
        v = HS_VERDICT_COPY;
    else if ((g->o->flags & HS_BACKUP_REPLICA) && v == HS_VERDICT_LINK)
        v = replica_same_content(g, it, m);
    if (v == HS_VERDICT_VERIFY && !source_matches(g, it, m->hash, hs_mentry_xattr_hash(m)))
        v = HS_VERDICT_COPY;
    if (v == HS_VERDICT_COPY)
        return HS_NO_LINK;
    if (!prev_still_recorded(g, it, m)) {
        g->link_missed = LINK_MISSED_REPLACED;
        return HS_NO_LINK;
    }
    int r = link_prev(g, it, m->sino, hs_mentry_multi(m));
    if (r != HS_DONE)
        return r;
    rec_from_prev(g, m);
    count_linked(g, it);
    return HS_DONE;
}

/* The record of a file linked from another tree's inode. */
void hs_eng_rec_linked(struct engine *g, const struct stat *inode, const uint8_t hash[16],
                       uint64_t xh)
{
    g->rec.sino = inode->st_ino;
    g->rec.sblocks = (uint64_t)inode->st_blocks;
    g->rec.flags = HS_ME_HASH | (xh ? HS_ME_XATTR : 0);
    memcpy(g->rec.hash, hash, 16);
    g->rec.xattr_hash = xh;
}

/* The source's extended attributes as a hash (0: none or unreadable). */
static uint64_t source_xattr_hash(struct engine *g, const struct hs_walk_item *it)
{
    struct hs_tree *t = g->cur->tree;
    if (t->remote)
        return t->ops->xattrs(t, it, -1, &g->xa, g->root) == 0 ? hs_xattr_hash(&g->xa) : 0;
    uint64_t h = 0;
    int fd = hs_open_file_read(it->fd, it->name);
    if (fd >= 0) {
        if (hs_xattr_read(&g->xa, (struct hs_xobj){.fd = fd}, g->root) == 0)
            h = hs_xattr_hash(&g->xa);
        close(fd);
    }
    return h;
}

/* No manifest: compare with the previous snapshot's file itself, and hash
 * what is linked so the new manifest is complete. *prev_ino: the file seen. */
static int reg_against_file(struct engine *g, const struct hs_walk_item *it, uint64_t *prev_ino)
{
    struct stat pst, hst;
    uint8_t ph[16];
    uint64_t pxh = 0;
    /* (a replica without its base's manifest knows no store inodes there) */
    if ((g->o->flags & HS_BACKUP_REPLICA) || prev_top(g) < 0 ||
        fstatat(prev_top(g), it->name, &pst, AT_SYMLINK_NOFOLLOW) < 0)
        return HS_NO_LINK;
    *prev_ino = pst.st_ino;
    enum hs_verdict v = hs_change_against_file(&it->st, &pst, g->checksum);
    if (v == HS_VERDICT_COPY)
        return HS_NO_LINK;
    int k = hs_eng_hash_file(g, prev_top(g), it->name, it->path, ph, &hst, &pxh);
    if (k < 0 && k != -ENOENT && k != -EINVAL && k != -ELOOP)
        /* the file is copied afresh, but a store that cannot be read is
         * something to hear about before the day it is needed */
        hs_eng_warn(g, -k, "cannot read the earlier copy of", it->path);
    if (k < 0 || !hs_stat_same_file(&hst, &pst))
        return HS_NO_LINK;
    g->st->hashed++;
    if (v == HS_VERDICT_VERIFY ? !source_matches(g, it, ph, pxh) : source_xattr_hash(g, it) != pxh)
        return HS_NO_LINK;
    /* the link count of a file in an older store counts every snapshot */
    int r = link_prev(g, it, pst.st_ino, pst.st_nlink > 1);
    if (r != HS_DONE)
        return r;
    hs_eng_rec_linked(g, &pst, ph, pxh);
    count_linked(g, it);
    return HS_DONE;
}

/* Whether the interrupted run's file rst may be a finished copy of this
 * source file: same size, mtime, mode (and owner as root). A single-name
 * source file only takes a single-name file, so never an inode that the
 * interrupted run linked from a snapshot, and never the previous snapshot's
 * inode for this path. The content is compared after this. */
static bool resume_candidate(const struct engine *g, const struct stat *s, const struct stat *rst,
                             uint64_t prev_ino)
{
    return S_ISREG(rst->st_mode) && rst->st_size == s->st_size && rst->st_mode == s->st_mode &&
           rst->st_mtim.tv_sec == s->st_mtim.tv_sec && rst->st_mtim.tv_nsec == s->st_mtim.tv_nsec &&
           (!g->root || (rst->st_uid == s->st_uid && rst->st_gid == s->st_gid)) &&
           (s->st_nlink > 1 || rst->st_nlink == 1) && rst->st_ino != prev_ino &&
           !hs_stat_same_file(rst, s);
}

/* The interrupted run's tree may already hold a copy of the file: linked if
 * source and copy hash the same (nothing of that run was synced, so after a
 * power loss a copy can hold zeros under the right size and mtime), which
 * reads both but writes nothing. HS_DONE linked, HS_NO_LINK, <0 fatal. */
static int reg_from_resume(struct engine *g, const struct hs_walk_item *it, uint64_t prev_ino)
{
    struct stat rst, hst;
    int rfd = resume_top(g);
    uint8_t h[16];
    uint64_t xh = 0;
    if (rfd < 0 || g->dry_run || fstatat(rfd, it->name, &rst, AT_SYMLINK_NOFOLLOW) < 0 ||
        !resume_candidate(g, &it->st, &rst, prev_ino) ||
        hs_eng_hash_file(g, rfd, it->name, it->path, h, &hst, &xh) < 0 ||
        !hs_stat_same_file(&hst, &rst) || !source_matches(g, it, h, xh))
        return HS_NO_LINK;
    if (rst.st_nlink > 1) {
        int r = hs_eng_claim_inode(g, rst.st_ino, &it->st);
        if (r != HS_DONE)
            return r;
    }
    int r = hs_writer_link(&g->wr, rfd, it->name, it->name, it->path);
    if (r != HS_DONE)
        return r;
    hs_eng_rec_linked(g, &rst, h, xh);
    g->st->resumed++;
    return HS_DONE;
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
        hs_report_notice_once(&g->rep, NOTICE_MANIFEST, msg);
        hs_manifest_reader_free(g->mr);
        g->mr = NULL;
        *m = NULL;
        r = 0;
    }
    hs_err_clear(&e);
    return r;
}

/* Later names of a multi-link source file join the leader's inode: HS_DONE;
 * HS_CHANGED: the file changed between its names (a group of its own);
 * HS_NO_LINK: the leader's inode is full (EMLINK...), the group goes on from
 * a fresh copy; <0 fatal. */
static int join_group(struct engine *g, const struct hs_walk_item *it, struct hs_link *l)
{
    const struct leader *ld = l->data;
    const struct stat *s = &it->st;
    /* (a replica's group is one inode of its store, whatever ctimes the
     * names had in their sources: --dedup joined separate files) */
    if (ld->size != s->st_size || !same_timespec(&ld->mtime, &s->st_mtim) ||
        (!(g->o->flags & HS_BACKUP_REPLICA) && !same_timespec(&ld->ctime, &s->st_ctim)))
        return HS_CHANGED;
    if (!g->dry_run) {
        int r = hs_writer_link_path(&g->wr, l->path, l->path_len, it->name, NULL, it->path);
        if (r == HS_NO_LINK)
            g->st->link_fallbacks++;
        if (r != HS_DONE)
            return r;
    }
    g->rec.sino = ld->sino;
    g->rec.sblocks = ld->sblocks;
    g->rec.flags = ld->flags;
    memcpy(g->rec.hash, ld->hash, 16);
    g->rec.xattr_hash = ld->xattr_hash;
    g->st->hardlinked++;
    hs_linktab_release(g->links, l);
    return HS_DONE;
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
                          .sblocks = g->rec.sblocks,
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

/* reg_leader's work: the file linked, taken, or copied. */
static int reg_place(struct engine *g, const struct hs_walk_item *it, struct stat *st, bool fresh)
{
    uint64_t prev_ino = 0;
    bool same_size_before = false;
    int r;
    if (!fresh && g->have_prev) {
        const struct hs_mentry *m;
        if ((r = manifest_lookup(g, it, &m)) < 0)
            return r;
        if (m) {
            prev_ino = m->sino;
            same_size_before = m->size == (uint64_t)it->st.st_size;
            hs_eng_blocks_lookup(g, it, m);
            g->prev_sino = m->sino;
            r = reg_against_manifest(g, it, m);
            if (r == HS_DONE)
                hs_eng_blocks_carry(g);
        } else {
            r = g->mr ? HS_NO_LINK : reg_against_file(g, it, &prev_ino);
        }
        if (r != HS_NO_LINK)
            return r;
    }
    if (!fresh && (r = reg_from_resume(g, it, prev_ino)) != HS_NO_LINK)
        return r;
    /* (a replica finds the same inode elsewhere without reading: first) */
    bool copy_first =
        !(g->o->flags & HS_BACKUP_REPLICA) && hs_eng_content_copy_first(g, same_size_before);
    if (!fresh && !copy_first && (r = hs_eng_link_by_content(g, it, prev_ino)) != HS_NO_LINK)
        return r;
    if ((r = copy_file(g, it, st)) != HS_DONE)
        return r;
    if (!fresh && copy_first && (r = hs_eng_content_after_copy(g, it, st, prev_ino)) != HS_NO_LINK)
        return r;
    return hs_eng_dedup_copy(g, it);
}

/* A regular file that is not joining a group: linked from the previous
 * snapshot, taken from the interrupted run, or copied. An unchanged file
 * that ends up copied is counted: the store grows as if it had changed.
 * HS_DONE, HS_SKIPPED or <0. */
static int reg_leader(struct engine *g, const struct hs_walk_item *it, struct stat *st, bool fresh)
{
    uint64_t copied = g->st->copied;
    g->link_missed = 0;
    g->prev_bm = NULL;
    int r = reg_place(g, it, st, fresh);
    g->prev_bm = NULL; /* valid only until the reader moves on */
    if (r == HS_DONE && g->link_missed && g->st->copied > copied) {
        g->st->unlinked_unchanged++;
        if (!g->first_unlinked) {
            g->first_unlinked = strdup(it->path);
            g->first_unlinked_why = g->link_missed;
        }
    }
    return r;
}

static int read_target(struct engine *g, const struct hs_walk_item *it)
{
    int r = g->cur->tree->ops->readlink(g->cur->tree, it, &g->target);
    if (r == -ENOMEM)
        return hs_err_setf(g->err, ENOMEM, "symlink");
    if (r == -EAGAIN)
        hs_eng_warn(g, 0, "changed during backup", it->path);
    else if (r < 0)
        hs_eng_warn(g, -r, r == -ENOENT ? "vanished" : "cannot read symlink", it->path);
    return r < 0 ? HS_SKIPPED : HS_DONE;
}

/* Creates a symlink or special file anew in the new tree; its metadata is
 * set through an fd of what was made, checked (meta.h). */
static int create_other(struct engine *g, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    int ofd;
    struct stat dst;
    int r = hs_writer_special(&g->wr, it->name, st, g->target.data, it->path, &ofd, &dst);
    if (r != HS_DONE)
        return r;
    g->xa.count = 0;
    if (!S_ISLNK(st->st_mode)) {
        hs_eng_source_xattrs(g, it, -1);
        if (g->xa.count) {
            g->rec.flags |= HS_ME_XATTR;
            g->rec.xattr_hash = hs_xattr_hash(&g->xa);
        }
    }
    r = hs_eng_apply_meta(g, (struct hs_xobj){.fd = ofd, .opath = true}, st, &dst, it->path);
    close(ofd);
    g->rec.sino = dst.st_ino;
    g->rec.sblocks = (uint64_t)dst.st_blocks;
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

/* A symlink or special file that is not joining a group. HS_DONE,
 * HS_SKIPPED or <0. */
static int other_leader(struct engine *g, const struct hs_walk_item *it, bool fresh)
{
    const struct hs_mentry *m = NULL;
    struct stat pst = {0};
    uint64_t sino = 0;
    bool same = false, multi = false;
    if (!fresh && g->have_prev) {
        int r = manifest_lookup(g, it, &m);
        if (r < 0)
            return r;
        if (m) {
            same = hs_change_other(&it->st, g->target.data, g->target.len, m) == HS_VERDICT_LINK &&
                   (!(g->o->flags & HS_BACKUP_REPLICA) || m->ino == (uint64_t)it->st.st_ino) &&
                   prev_still_recorded(g, it, m);
            sino = m->sino;
            multi = hs_mentry_multi(m);
        } else if (!g->mr && !(g->o->flags & HS_BACKUP_REPLICA) &&
                   other_matches_file(g, it, &pst)) {
            same = true;
            sino = pst.st_ino;
            multi = pst.st_nlink > 1;
        }
    }
    int r = same ? link_prev(g, it, sino, multi) : HS_NO_LINK;
    if (r < 0)
        return r;
    if (r == HS_DONE) {
        if (m) {
            rec_from_prev(g, m);
        } else {
            g->rec.sino = sino;
            g->rec.sblocks = (uint64_t)pst.st_blocks;
        }
        count_linked(g, it);
        return HS_DONE;
    }
    if (g->dry_run) {
        g->st->created++;
        return HS_DONE;
    }
    return create_other(g, it);
}

/* Reads what a non-directory needs before it is kept (a symlink's target);
 * HS_SKIPPED for what cannot be kept here (a warning says why). */
static int admit_nondir(struct engine *g, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    if (S_ISREG(st->st_mode))
        return HS_DONE;
    if (S_ISLNK(st->st_mode))
        return read_target(g, it);
    if (hs_writer_can_make(&g->wr, st->st_mode, it->path) != HS_DONE)
        return HS_SKIPPED;
    return HS_DONE;
}

/* Counts an entry once it is in the snapshot, so that the counts describe
 * the snapshot and add up (each file linked, copied or cloned). */
static void count_kept(struct engine *g, const struct stat *st)
{
    if (S_ISREG(st->st_mode)) {
        g->st->files++;
        g->st->bytes_total += (uint64_t)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        g->st->symlinks++;
    } else {
        g->st->specials++;
    }
}

int hs_eng_nondir(struct engine *g, const struct hs_walk_item *it)
{
    struct stat st = it->st;
    int r = admit_nondir(g, it);
    if (r != HS_DONE)
        return r < 0 ? r : HS_DONE;
    hs_eng_rec_start(g, it->path, it->path_len, &st);
    g->src_hashed = false;
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
        if (r == HS_DONE) {
            count_kept(g, &it->st);
            return hs_eng_rec_put(g);
        }
        fresh = r == HS_NO_LINK;
        if (!fresh)
            l = NULL;
    }
    r = S_ISREG(st.st_mode) ? reg_leader(g, it, &st, fresh) : other_leader(g, it, fresh);
    if (r != HS_DONE)
        return r < 0 ? r : HS_DONE;
    count_kept(g, &it->st);
    if (st.st_nlink > 1 && (r = remember_leader(g, it, l)) < 0)
        return r;
    return hs_eng_rec_put(g);
}
