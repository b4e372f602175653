/*
 * diff: two trees in walk order, merged like two sorted lists. Either side
 * comes from a manifest (fast, with content hashes) or from walking a tree
 * (a snapshot without manifest, or a live directory).
 */
#include "diff.h"
#include "snapshot.h"

#include <errno.h>
#include <string.h>

static bool same_time(int64_t as, uint32_t an, int64_t bs, uint32_t bn)
{
    return as == bs && an == bn;
}

unsigned hs_diff_records(const struct hs_mentry *a, const struct hs_mentry *b, bool same_store)
{
    if (a->type != b->type)
        return HS_DIFF_TYPE;
    if (same_store && a->sino == b->sino && a->type != HS_FT_DIR)
        return 0; /* one inode: nothing can differ */
    unsigned what = 0;
    if (a->mode != b->mode)
        what |= HS_DIFF_MODE;
    if (a->uid != b->uid || a->gid != b->gid)
        what |= HS_DIFF_OWNER;
    if (a->type == HS_FT_DIR)
        return what;
    if (a->size != b->size)
        what |= HS_DIFF_SIZE;
    if (!same_time(a->mtime_sec, a->mtime_nsec, b->mtime_sec, b->mtime_nsec))
        what |= HS_DIFF_MTIME;
    if (a->type == HS_FT_LNK &&
        (a->target_len != b->target_len || memcmp(a->target, b->target, a->target_len) != 0))
        what |= HS_DIFF_TARGET;
    if ((a->type == HS_FT_CHR || a->type == HS_FT_BLK) && a->rdev != b->rdev)
        what |= HS_DIFF_DEVICE;
    if (a->type == HS_FT_REG && (a->flags & HS_ME_HASH) && (b->flags & HS_ME_HASH) &&
        memcmp(a->hash, b->hash, sizeof a->hash) != 0)
        what |= HS_DIFF_CONTENT;
    return what;
}

struct diff_run {
    const struct hs_diff_opts *o;
    uint64_t changes;
    uint64_t warnings;
};

static void report(struct diff_run *d, char kind, const struct hs_mentry *m, unsigned what)
{
    d->changes++;
    if (!d->o->on_change)
        return;
    struct hs_diff_change c = {
        .kind = kind, .path = m->path, .path_len = m->path_len, .what = what};
    d->o->on_change(&c, d->o->user);
}

static void warn_cb(const char *msg, void *user)
{
    struct diff_run *d = user;
    d->warnings++;
    if (d->o->on_event) {
        struct hs_event ev = {.type = HS_EV_WARNING, .msg = msg};
        d->o->on_event(&ev, d->o->user);
    }
}

/* Both sides are snapshots of one store: equal inode numbers mean one file. */
static bool one_store(const struct hs_snapref *a, const struct hs_snapref *b)
{
    struct stat sa, sb;
    return a->name[0] && b->name[0] && stat(a->dest, &sa) == 0 && stat(b->dest, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A record one side's manifest could not vouch for was read from its tree
 * (hashed): equal stats prove nothing then, so the contents are compared,
 * hashing the other side's file when its record has no hash. */
static unsigned recheck_content(struct hs_snapiter *ia, const struct hs_mentry *a,
                                struct hs_snapiter *ib, const struct hs_mentry *b)
{
    if (a->type != HS_FT_REG || b->type != HS_FT_REG ||
        !(hs_snapiter_reread(ia) || hs_snapiter_reread(ib)))
        return 0;
    uint8_t ha[16], hb[16];
    const uint8_t *pa = a->hash, *pb = b->hash;
    if (!(a->flags & HS_ME_HASH))
        pa = hs_snapiter_hash_current(ia, ha) == 0 ? ha : NULL;
    if (!(b->flags & HS_ME_HASH))
        pb = hs_snapiter_hash_current(ib, hb) == 0 ? hb : NULL;
    /* a side that cannot be read does not prove them equal */
    return !pa || !pb || memcmp(pa, pb, 16) != 0 ? HS_DIFF_CONTENT : 0;
}

/* Extended attributes (ACLs are some) of a non-directory, where both sides
 * know them: a backup copies a file whose attributes changed, so a diff
 * must say so too. */
static unsigned xattr_change(const struct hs_snapiter *ia, const struct hs_mentry *a,
                             const struct hs_snapiter *ib, const struct hs_mentry *b, bool same)
{
    if (a->type != b->type || (same && a->sino == b->sino) || !hs_snapiter_xattrs_known(ia) ||
        !hs_snapiter_xattrs_known(ib))
        return 0;
    return hs_mentry_xattr_hash(a) != hs_mentry_xattr_hash(b) ? HS_DIFF_XATTR : 0;
}

/* The records of the side that did not end: copies, since the other side's
 * next call invalidates nothing of this side. */
static int merge(struct diff_run *d, struct hs_snapiter *ia, struct hs_snapiter *ib, bool same,
                 struct hs_err *e)
{
    const struct hs_mentry *a = NULL, *b = NULL;
    int ka = hs_snapiter_next(ia, &a, e), kb = ka < 0 ? 0 : hs_snapiter_next(ib, &b, e);
    while (ka > 0 || kb > 0) {
        if (ka < 0 || kb < 0)
            return ka < 0 ? ka : kb;
        int c = ka <= 0   ? 1
                : kb <= 0 ? -1
                          : hs_path_cmp(a->path, a->path_len, b->path, b->path_len);
        if (c < 0) {
            report(d, '-', a, 0);
            ka = hs_snapiter_next(ia, &a, e);
        } else if (c > 0) {
            report(d, '+', b, 0);
            kb = hs_snapiter_next(ib, &b, e);
        } else {
            unsigned what = hs_diff_records(a, b, same) | xattr_change(ia, a, ib, b, same);
            if (!(what & ~HS_DIFF_XATTR))
                what |= recheck_content(ia, a, ib, b);
            if (what)
                report(d, 'M', a, what);
            ka = hs_snapiter_next(ia, &a, e);
            kb = hs_snapiter_next(ib, &b, e);
        }
    }
    return ka < 0 ? ka : kb < 0 ? kb : 0;
}

enum hs_status hs_diff(const struct hs_diff_opts *o, uint64_t *changes, struct hs_err *err)
{
    struct diff_run d = {.o = o};
    struct hs_snapref ra, rb;
    struct hs_snapiter *ia = NULL, *ib = NULL;
    hs_err_clear(err);
    *changes = 0;
    int r = hs_snapref_resolve(&ra, o->a, false, err);
    if (r == 0) {
        r = hs_snapref_resolve(&rb, o->b, true, err);
        if (r < 0)
            hs_snapref_free(&rb);
    }
    if (r < 0) {
        hs_snapref_free(&ra);
        return err->kind ? err->kind : HS_FAILED;
    }
    r = hs_snapiter_open(&ia, &ra, false, warn_cb, &d, err);
    if (r == 0)
        r = hs_snapiter_open(&ib, &rb, false, warn_cb, &d, err);
    if (r == 0) {
        hs_snapiter_want_xattrs(ia);
        hs_snapiter_want_xattrs(ib);
        r = merge(&d, ia, ib, one_store(&ra, &rb), err);
    }
    hs_snapiter_free(ia);
    hs_snapiter_free(ib);
    hs_snapref_free(&ra);
    hs_snapref_free(&rb);
    *changes = d.changes;
    if (r < 0) {
        if (!err->msg)
            hs_err_setf(err, -r, "diff failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return d.changes || d.warnings ? HS_WARN : HS_OK;
}
