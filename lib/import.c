/*
 * Importing an archive as a snapshot: the entries of a source (source.h),
 * met in whatever order it gives them, become a new tree under
 * .hardsnap/partial/, which is published like a backup's.
 *
 * Each path is cleaned and checked before anything is made: absolute paths
 * and ".." are refused, and parents are opened one component at a time with
 * O_NOFOLLOW beneath the new tree, so an entry whose path runs through a
 * symlink (or a file) made by an earlier entry is refused, never followed.
 * Nothing is created outside the new tree.
 *
 * A regular file whose path, size, mtime, mode and owner match the record of
 * the latest snapshot's manifest is hard-linked from it (its data skipped);
 * the rest is written into new inodes, hashed as it is written. Hard links
 * in the archive link to the earlier name in the new tree.
 *
 * Since entries come in any order, the new tree's records are kept in
 * memory (with a path index for hard links and repeated paths) and sorted
 * into walk order for the manifest at the end; directories get their
 * metadata last, deepest first, once nothing more is created in them. The
 * snapshot's name is known only then (the newest mtime), so the tree is
 * built as partial/import and renamed before publication; a killed import
 * leaves that name, which the next run of any writer removes.
 */
#include "hardsnap.h"

#include "change.h"
#include "copy.h"
#include "fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "report.h"
#include "source.h"
#include "store.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define BUILD_NAME "import"

enum {
    NOTICE_OWNER = 1u << 0,
    NOTICE_DEVICES = 1u << 1,
    NOTICE_MANIFEST = 1u << 2,
    NOTICE_XATTR = 1u << 3,
    NOTICE_FUTURE = 1u << 4,
};

/* One path of the new tree, for its manifest. */
struct rec {
    char *path;
    char *target;
    struct hs_mentry m; /* path and target are set when written */
    bool implicit;      /* a directory made for an entry's parent */
    bool written;       /* a regular file whose data this import wrote */
};

/* The open directories of the last parent path (fds[0] is the tree root). */
struct branch {
    struct hs_buf path;
    size_t *ends; /* end of each component in path */
    int *fds;
    size_t depth, cap;
};

/* The last directory of the previous snapshot a file was linked from. */
struct prevdir {
    struct hs_buf path;
    int fd;
};

struct importer {
    const struct hs_import_opts *o;
    struct hs_backup_stats *st;
    struct hs_err *err;
    struct hs_report rep;
    bool root;

    struct hs_entry_source src;
    bool src_open;
    struct hs_copier copier; /* its hash state and buffer */
    struct hs_xattrs xa;     /* the current entry's extended attributes */
    struct hs_store store;
    bool have_store;

    int prevfd;                       /* the latest snapshot, or -1 */
    struct hs_manifest_finder *prevm; /* its trusted manifest, or NULL */
    struct prevdir pdir;

    int treefd; /* partial/import */
    bool tree_made;
    struct branch br;
    struct rec *recs;
    size_t nrecs, cap;
    size_t *slots; /* open addressing over recs: index + 1, 0 = empty */
    size_t nslots;

    char name[HS_SNAPSHOT_NAME_LEN + 1];
    time_t newest; /* the newest mtime of the members, if have_newest */
    bool have_newest;
    uint64_t future_members; /* dated in the future: not used for the name */
    uid_t made_uid;          /* the owner of what we create in the store (meta.h) */
    bool acl_inherits;       /* the store's partial/ has a default ACL (xattr.h) */
    struct hs_buf clean;
    struct timespec now;
};

/* ---- messages ----------------------------------------------------------- */

static void refuse(struct importer *x, const char *raw, const char *why)
{
    x->st->warnings++;
    char *shown = hs_escape(raw, strlen(raw));
    char msg[512];
    snprintf(msg, sizeof msg, "entry refused: %s: %s", shown ? shown : "?", why);
    free(shown);
    hs_report_event(&x->rep, HS_EV_WARNING, raw, msg);
}

static void warn(struct importer *x, int errnum, const char *what, const char *path)
{
    char *shown = hs_escape(path, strlen(path));
    hs_report_warn(&x->rep, errnum, what, shown ? shown : path, path);
    free(shown);
}

/* ---- paths ---------------------------------------------------------------- */

/* The entry's path relative to the snapshot root ("" = the root), in
 * x->clean; NULL, or the reason it is refused. */
static const char *clean_path(struct importer *x, const char *raw)
{
    if (raw[0] == '/')
        return "absolute path";
    hs_buf_truncate(&x->clean, 0);
    const char *p = raw;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "\"..\" in path";
        if (n > NAME_MAX)
            return "a name longer than NAME_MAX";
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if ((x->clean.len && hs_buf_putc(&x->clean, '/') < 0) ||
                hs_buf_append(&x->clean, p, n) < 0)
                return "out of memory";
        }
        p += n + (end != NULL);
    }
    if (hs_buf_reserve(&x->clean, 1) < 0)
        return "out of memory";
    x->clean.data[x->clean.len] = '\0';
    return NULL;
}

static size_t dir_len(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    return slash ? (size_t)(slash - path) : 0;
}

static const char *base_of(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    return slash ? slash + 1 : path;
}

/* ---- the records and their index ---------------------------------------- */

static size_t slot_of(const struct importer *x, const char *path, size_t len)
{
    size_t mask = x->nslots - 1, i = (size_t)XXH3_64bits(path, len) & mask;
    for (;; i = (i + 1) & mask) {
        size_t v = x->slots[i];
        if (v == 0 || (x->recs[v - 1].m.path_len == len && !memcmp(x->recs[v - 1].path, path, len)))
            return i;
    }
}

static struct rec *find_rec(const struct importer *x, const char *path, size_t len)
{
    size_t v = x->slots[slot_of(x, path, len)];
    return v ? &x->recs[v - 1] : NULL;
}

static int grow_slots(struct importer *x)
{
    size_t n = x->nslots ? x->nslots * 2 : 1024;
    size_t *s = calloc(n, sizeof *s);
    if (!s)
        return -ENOMEM;
    free(x->slots);
    x->slots = s;
    x->nslots = n;
    for (size_t i = 0; i < x->nrecs; i++)
        x->slots[slot_of(x, x->recs[i].path, x->recs[i].m.path_len)] = i + 1;
    return 0;
}

/* A new record for path (not yet in the index), stat-derived fields from st. */
static struct rec *add_rec(struct importer *x, const char *path, size_t len, const struct stat *st)
{
    if ((x->nrecs + 1) * 2 > x->nslots && grow_slots(x) < 0)
        return NULL;
    if (x->nrecs == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        struct rec *r = realloc(x->recs, cap * sizeof *r);
        if (!r)
            return NULL;
        x->recs = r;
        x->cap = cap;
    }
    struct rec *r = &x->recs[x->nrecs];
    *r = (struct rec){.path = strndup(path, len)};
    if (!r->path)
        return NULL;
    r->m.path_len = len;
    hs_mentry_from_stat(&r->m, st);
    x->slots[slot_of(x, path, len)] = ++x->nrecs;
    return r;
}

/* Fills what the new tree's inode (its stat st) says. */
static void rec_inode_st(struct rec *r, const struct stat *st)
{
    r->m.sino = st->st_ino;
    r->m.sblocks = (uint64_t)st->st_blocks;
    r->m.ino = st->st_ino; /* an archive has no inode numbers of its own */
}

static struct stat implicit_dir_stat(const struct importer *x)
{
    struct stat st = {.st_mode = S_IFDIR | 0755, .st_uid = geteuid(), .st_gid = getegid()};
    st.st_mtim = st.st_atim = st.st_ctim = x->now;
    return st;
}

/* ---- parents -------------------------------------------------------------- */

static void branch_pop_to(struct branch *b, size_t depth)
{
    while (b->depth > depth) {
        b->depth--;
        close(b->fds[b->depth]);
    }
    hs_buf_truncate(&b->path, depth ? b->ends[depth - 1] : 0);
}

static int branch_push(struct importer *x, const char *comp, size_t n, int fd)
{
    struct branch *b = &x->br;
    if (b->depth + 1 >= b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int *fds = realloc(b->fds, cap * sizeof *fds);
        if (fds)
            b->fds = fds;
        size_t *ends = realloc(b->ends, cap * sizeof *ends);
        if (ends)
            b->ends = ends;
        if (!fds || !ends) {
            close(fd);
            return -ENOMEM;
        }
        b->cap = cap;
    }
    if ((b->path.len && hs_buf_putc(&b->path, '/') < 0) || hs_buf_append(&b->path, comp, n) < 0) {
        close(fd);
        return -ENOMEM;
    }
    b->fds[b->depth] = fd;
    b->ends[b->depth++] = b->path.len;
    return 0;
}

/* Opens (making it if missing) one component below top, never following a
 * symlink, checked to be a directory of ours (meta.h): -ENOTDIR when an
 * earlier entry made something else there, -ESTALE when what was just made
 * was replaced. The path so far is in x->br.path plus comp. */
static int open_component(struct importer *x, int top, const char *comp, size_t n)
{
    char name[NAME_MAX + 1];
    memcpy(name, comp, n);
    name[n] = '\0';
    bool made = mkdirat(top, name, 0700) == 0;
    if (!made && errno != EEXIST)
        return -errno;
    int fd;
    struct stat made_st;
    int k = hs_open_made(top, name, S_IFDIR, x->made_uid, &fd, &made_st);
    if (k == HS_MADE_SWAPPED || (made && hs_made_gone(k)))
        return made ? -ESTALE : -ENOTDIR;
    if (k < 0 || !made)
        return k < 0 ? k : fd;
    struct hs_buf *p = &x->br.path;
    size_t at = p->len;
    if ((at && hs_buf_putc(p, '/') < 0) || hs_buf_append(p, comp, n) < 0) {
        close(fd);
        return -ENOMEM;
    }
    struct stat st = implicit_dir_stat(x);
    struct rec *r = find_rec(x, p->data, p->len);
    if (!r && (r = add_rec(x, p->data, p->len, &st)))
        r->implicit = true;
    if (r)
        rec_inode_st(r, &made_st);
    hs_buf_truncate(p, at);
    if (!r) {
        close(fd);
        return -ENOMEM;
    }
    return fd;
}

/* The directory dir (of the new tree), made as needed: an fd owned by the
 * branch, or -errno (ELOOP/ENOTDIR: a component is a symlink or a file). */
static int open_parent(struct importer *x, const char *dir, size_t len)
{
    struct branch *b = &x->br;
    size_t keep = 0, at = 0;
    /* the components this path shares with the open branch stay open */
    while (keep < b->depth) {
        size_t start = keep ? b->ends[keep - 1] + 1 : 0, end = b->ends[keep];
        if (at >= len || end - start > len - at ||
            memcmp(b->path.data + start, dir + at, end - start) ||
            (at + end - start < len && dir[at + end - start] != '/'))
            break;
        at += end - start + 1;
        keep++;
    }
    branch_pop_to(b, keep);
    while (at < len) {
        const char *comp = dir + at;
        const char *slash = memchr(comp, '/', len - at);
        size_t n = slash ? (size_t)(slash - comp) : len - at;
        int top = b->depth ? b->fds[b->depth - 1] : x->treefd;
        int fd = open_component(x, top, comp, n);
        if (fd < 0)
            return fd;
        int r = branch_push(x, comp, n, fd);
        if (r < 0)
            return r;
        at += n + 1;
    }
    return b->depth ? b->fds[b->depth - 1] : x->treefd;
}

/* ---- the previous snapshot ------------------------------------------------ */

static void drop_prev_manifest(struct importer *x, const struct hs_err *why)
{
    char msg[512];
    snprintf(msg, sizeof msg,
             "the latest snapshot's manifest cannot be used (%s): nothing is linked",
             why->msg ? why->msg : "damaged");
    hs_report_notice_once(&x->rep, NOTICE_MANIFEST, msg);
    hs_manifest_finder_free(x->prevm);
    x->prevm = NULL;
}

/* The directory of the previous snapshot holding path, or -1. */
static int prev_parent(struct importer *x, const char *path, size_t len)
{
    size_t dl = dir_len(path, len);
    struct prevdir *d = &x->pdir;
    if (d->fd >= 0 && d->path.len == dl && !memcmp(d->path.data, path, dl))
        return d->fd;
    if (d->fd >= 0 && d->fd != x->prevfd)
        close(d->fd);
    d->fd = -1;
    hs_buf_truncate(&d->path, 0);
    int fd = dl ? hs_open_dir_beneath(x->prevfd, path, dl) : x->prevfd;
    if (fd < 0 || hs_buf_append(&d->path, path, dl) < 0) {
        if (fd >= 0 && fd != x->prevfd)
            close(fd);
        return -1;
    }
    d->fd = fd;
    return fd;
}

/* Links the latest snapshot's file if the archive's entry is that file
 * (same path, size, mtime, mode, owner; the inode the manifest names).
 * 1 = linked, 0 = not. */
static int link_unchanged(struct importer *x, const struct stat *want, int dirfd, const char *base,
                          struct rec *r)
{
    const char *path = r->path;
    size_t len = r->m.path_len;
    const struct hs_mentry *m;
    struct hs_err e = {0};
    int k = hs_manifest_finder_get(x->prevm, path, len, &m, &e);
    if (k < 0)
        drop_prev_manifest(x, &e);
    hs_err_clear(&e);
    if (k != 1 || m->type != HS_FT_REG || !(m->flags & HS_ME_HASH) ||
        !hs_change_meta_equal(want, m) ||
        ((m->flags & HS_ME_XATTR) ? m->xattr_hash : 0) != r->m.xattr_hash)
        return 0;
    int pfd = prev_parent(x, path, len);
    struct stat st;
    if (pfd < 0 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        st.st_ino != m->sino || (uint64_t)st.st_size != m->size)
        return 0;
    if (linkat(pfd, base, dirfd, base, 0) < 0) {
        if (hs_link_fallback(errno))
            x->st->link_fallbacks++;
        return 0;
    }
    memcpy(r->m.hash, m->hash, sizeof r->m.hash);
    r->m.flags |= HS_ME_HASH;
    r->m.sino = st.st_ino;
    r->m.ino = st.st_ino;
    r->m.sblocks = (uint64_t)st.st_blocks;
    return 1;
}

/* ---- writing files ------------------------------------------------------- */

/* The entry's data into fd: pieces at their offsets (gaps stay holes),
 * hashed in file order. */
static int write_data(struct importer *x, int fd, uint64_t size, struct rec *r)
{
    XXH3_state_t *h = x->copier.hash_state;
    XXH3_128bits_reset(h);
    uint64_t pos = 0;
    bool in_order = true;
    int k;
    const void *buf;
    size_t len;
    uint64_t off;
    while ((k = x->src.data(x->src.self, &buf, &len, &off, x->err)) == 1) {
        if (len == 0)
            continue;
        if (off < pos)
            in_order = false;
        else if (in_order)
            hs_hash_zeros(h, off - pos);
        for (size_t done = 0; done < len;) {
            ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return hs_err_path(x->err, errno, "cannot write", r->path);
            done += (size_t)n;
        }
        if (in_order)
            XXH3_128bits_update(h, buf, len);
        pos = off + len > pos ? off + len : pos;
        x->st->bytes_copied += len;
    }
    if (k < 0)
        return k;
    if (size > pos && ftruncate(fd, (off_t)size) < 0)
        return hs_err_path(x->err, errno, "cannot write", r->path);
    r->m.size = size > pos ? size : pos;
    r->m.flags |= HS_ME_HASH;
    if (!in_order) { /* pieces out of order: hash what was written */
        struct stat st = {.st_size = (off_t)r->m.size};
        return hs_hash_fd(&x->copier, fd, &st, r->m.hash, r->path, x->err);
    }
    hs_hash_zeros(h, r->m.size - pos);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
    memcpy(r->m.hash, c.digest, sizeof r->m.hash);
    return 0;
}

static void report_xattrs(struct importer *x, int err, const char *path)
{
    char *shown = hs_escape(path, strlen(path));
    hs_report_xattrs(&x->rep, err, NOTICE_XATTR,
                     "the store's file system keeps no extended attributes: they are left out",
                     "cannot set extended attributes of", shown ? shown : path, path);
    free(shown);
}

/* Owner, the entry's extended attributes (xa, or NULL for none), mode, times. */
static void apply_meta(struct importer *x, struct hs_xobj o, const struct stat *want,
                       const struct hs_xattrs *xa, const char *path)
{
    struct hs_meta_result res = {0};
    o.inherits = x->acl_inherits;
    int k = hs_meta_apply(o, want, NULL, xa, x->root, &res);
    if (res.xattr_err)
        report_xattrs(x, res.xattr_err, path);
    if (res.owner_err && x->root)
        warn(x, -res.owner_err, "cannot set owner of", path);
    else if (res.owner_err)
        hs_report_notice_once(&x->rep, NOTICE_OWNER,
                              "not running as root: file ownership is not kept");
    if (k < 0)
        warn(x, -k, res.what ? res.what : "cannot set metadata of", path);
}

static int write_file(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                      const char *base, struct rec *r)
{
    int fd = openat(dirfd, base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return hs_err_path(x->err, errno, "cannot create", r->path);
    int k = write_data(x, fd, (uint64_t)ent->st.st_size, r);
    if (k == 0) {
        apply_meta(x, (struct hs_xobj){.fd = fd, .dirfd = -1}, &ent->st, &x->xa, r->path);
        struct stat st;
        if (fstat(fd, &st) == 0) {
            r->m.sino = r->m.ino = st.st_ino;
            r->m.sblocks = (uint64_t)st.st_blocks;
        }
        r->written = true;
    }
    close(fd);
    return k;
}

/* ---- entries --------------------------------------------------------------- */

static void count_kind(struct importer *x, mode_t mode)
{
    if (S_ISREG(mode))
        x->st->files++;
    else if (S_ISDIR(mode))
        x->st->dirs++;
    else if (S_ISLNK(mode))
        x->st->symlinks++;
    else
        x->st->specials++;
}

static int make_regular(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                        const char *base, struct rec *r)
{
    x->st->bytes_total += (uint64_t)ent->st.st_size;
    if (x->prevm && link_unchanged(x, &ent->st, dirfd, base, r)) {
        x->st->linked++;
        if (x->o->verbose_events)
            hs_report_event(&x->rep, HS_EV_LINK, r->path, NULL);
        return 0;
    }
    int k = write_file(x, ent, dirfd, base, r);
    if (k == 0) {
        x->st->copied++;
        if (x->o->verbose_events)
            hs_report_event(&x->rep, HS_EV_COPY, r->path, NULL);
    }
    return k;
}

/* What was made at dirfd/base could not be taken hold of (k from
 * hs_open_made()): warned, and left out of the snapshot. */
static void left_out(struct importer *x, int k, int dirfd, const char *base, const char *path)
{
    if (!hs_made_gone(k)) {
        warn(x, -k, "cannot open", path);
        return;
    }
    warn(x, k < 0 ? -k : 0, "replaced in the new snapshot while being made, left out", path);
    unlinkat(dirfd, base, 0); /* the store's tree: not followed, never kept */
}

/* Symlinks and special files: 0, SKIPPED (warned), or <0. */
static int make_other(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                      const char *base, struct rec *r)
{
    mode_t type = ent->st.st_mode & S_IFMT;
    int k;
    if (type == S_IFLNK) {
        if (!ent->symlink)
            return warn(x, EINVAL, "symlink without a target", r->path), 1;
        k = symlinkat(ent->symlink, dirfd, base);
        if (k == 0 && !(r->target = strdup(ent->symlink)))
            return hs_err_setf(x->err, ENOMEM, "import");
        r->m.size = strlen(ent->symlink);
    } else if (type == S_IFIFO || type == S_IFCHR || type == S_IFBLK) {
        k = mknodat(dirfd, base, type | 0600, ent->st.st_rdev);
        if (k < 0 && errno == EPERM && type != S_IFIFO && !x->root) {
            hs_report_notice_once(&x->rep, NOTICE_DEVICES,
                                  "not running as root: device nodes are left out");
            x->st->warnings++;
            return 1;
        }
    } else {
        return warn(x, EINVAL, "entry of an unknown type", r->path), 1;
    }
    if (k < 0)
        return warn(x, errno, "cannot create", r->path), 1;
    int fd;
    struct stat st;
    k = hs_open_made(dirfd, base, type, x->made_uid, &fd, &st);
    if (k != 0)
        return left_out(x, k, dirfd, base, r->path), 1;
    apply_meta(x, (struct hs_xobj){.fd = fd, .opath = true}, &ent->st, &x->xa, r->path);
    close(fd);
    rec_inode_st(r, &st);
    x->st->created++;
    if (x->o->verbose_events)
        hs_report_event(&x->rep, HS_EV_COPY, r->path, NULL);
    return 0;
}

/* The earlier member a hard link names, or NULL and why not in *why. */
static struct rec *link_target(struct importer *x, const struct hs_src_entry *ent, const char **why,
                               char *msg, size_t msg_size)
{
    *why = clean_path(x, ent->hardlink);
    if (*why) {
        snprintf(msg, msg_size, "hard link target with %s", *why);
        *why = msg;
        return NULL;
    }
    struct rec *t = find_rec(x, x->clean.data, x->clean.len);
    if (!t || t->m.type == 0 || t->m.type == HS_FT_DIR) {
        *why = "hard link to a path that is no file of the archive";
        return NULL;
    }
    return t;
}

/* cpio's newc format gives a hard-link group's data with its last name: the
 * earlier names were made empty by this import, so that inode (no older
 * snapshot's) gets the data now, and every name's record says so. */
static int fill_group(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                      const char *base, struct rec *r)
{
    int fd = openat(dirfd, base, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return hs_err_path(x->err, errno, "cannot open", r->path);
    uint64_t sino = r->m.sino;
    struct stat now;
    int err = fstat(fd, &now) < 0 ? errno : 0;
    if (!err && (!S_ISREG(now.st_mode) || now.st_ino != sino))
        err = ESTALE; /* only the inode this import made for the group is written into */
    if (!err && ftruncate(fd, 0) < 0)
        err = errno;
    if (err) {
        close(fd);
        return hs_err_path(x->err, err, "cannot write", r->path);
    }
    hs_mentry_from_stat(&r->m, &ent->st);
    int k = write_data(x, fd, (uint64_t)ent->st.st_size, r);
    if (k == 0) {
        apply_meta(x, (struct hs_xobj){.fd = fd, .dirfd = -1}, &ent->st, &x->xa, r->path);
        struct stat st;
        r->m.sino = r->m.ino = sino;
        if (fstat(fd, &st) == 0)
            r->m.sblocks = (uint64_t)st.st_blocks;
        x->st->bytes_total += r->m.size;
        for (size_t i = 0; i < x->nrecs; i++) {
            struct rec *q = &x->recs[i];
            if (q != r && q->m.type == HS_FT_REG && q->m.sino == sino) {
                size_t len = q->m.path_len;
                q->m = r->m;
                q->m.path_len = len;
            }
        }
    }
    close(fd);
    return k;
}

/* A second name of a file met earlier in the archive. */
static int make_hardlink(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                         const char *base, struct rec *r)
{
    const char *why;
    char msg[128];
    struct rec *t = link_target(x, ent, &why, msg, sizeof msg);
    if (!t)
        return refuse(x, ent->path, why), 1;
    bool with_data = ent->st.st_size > 0 && t->m.type == HS_FT_REG;
    if (with_data && !t->written) {
        /* the group's inode is shared with an older snapshot: never written into */
        int k = make_regular(x, ent, dirfd, base, r);
        if (k == 0)
            count_kind(x, S_IFREG);
        return k;
    }
    size_t dl = dir_len(t->path, t->m.path_len);
    int tfd = dl ? hs_open_dir_beneath(x->treefd, t->path, dl) : x->treefd;
    if (tfd < 0 || linkat(tfd, base_of(t->path, t->m.path_len), dirfd, base, 0) < 0)
        why = strerror(tfd < 0 ? -tfd : errno);
    if (tfd >= 0 && tfd != x->treefd)
        close(tfd);
    if (why)
        return refuse(x, ent->path, why), 1;
    char *path = r->path;
    size_t len = r->m.path_len;
    r->m = t->m;
    r->m.path_len = len;
    r->path = path;
    r->written = t->written;
    if (t->target && !(r->target = strdup(t->target)))
        return hs_err_setf(x->err, ENOMEM, "import");
    count_kind(x, r->m.type == HS_FT_REG ? S_IFREG : S_IFLNK);
    x->st->hardlinked++;
    return with_data ? fill_group(x, ent, dirfd, base, r) : 0;
}

/* An entry at a path met before: a directory again updates its metadata;
 * a non-directory replaces a non-directory (the last one wins, as tar -x). */
static int replace_earlier(struct importer *x, const struct hs_src_entry *ent, int dirfd,
                           const char *base, struct rec *r)
{
    bool was_dir = r->m.type == HS_FT_DIR, is_dir = S_ISDIR(ent->st.st_mode) && !ent->hardlink;
    if (was_dir != is_dir) {
        refuse(x, ent->path,
               is_dir ? "a directory where the archive has a file"
                      : "a file where the archive has a directory");
        return 1;
    }
    if (!is_dir && unlinkat(dirfd, base, 0) < 0 && errno != ENOENT)
        return hs_err_path(x->err, errno, "cannot replace", r->path);
    free(r->target);
    r->target = NULL;
    return 0;
}

/* A directory entry (again, or where an earlier one made it implicitly):
 * made if missing, and checked to be ours (meta.h). */
static int make_dir(struct importer *x, const struct hs_src_entry *ent, int dirfd, const char *base,
                    struct rec *r)
{
    int fd = x->treefd, k = 0;
    struct stat st;
    if (r->m.path_len == 0) {
        k = fstat(fd, &st) < 0 ? -errno : 0;
    } else {
        bool made = mkdirat(dirfd, base, 0700) == 0;
        if (!made && errno != EEXIST)
            return warn(x, errno, "cannot create", r->path), 1;
        k = hs_open_made(dirfd, base, S_IFDIR, x->made_uid, &fd, &st);
        if (!made && hs_made_gone(k)) /* an earlier entry's file or symlink */
            return warn(x, EEXIST, "cannot create", r->path), 1;
        if (k != 0)
            return left_out(x, k, dirfd, base, r->path), 1;
    }
    if (k < 0)
        return warn(x, -k, "cannot examine", r->path), 1;
    hs_mentry_from_stat(&r->m, &ent->st);
    r->implicit = false;
    rec_inode_st(r, &st);
    if (x->xa.count) { /* now: mode and times wait for the end, xattrs need not */
        int err = hs_xattr_apply(&x->xa, (struct hs_xobj){.fd = fd}, x->root);
        if (err < 0)
            report_xattrs(x, err, r->path);
    }
    if (fd != x->treefd)
        close(fd);
    return 0;
}

/* The snapshot is named by its newest member, unless that lies in the
 * future: a member dated 2099 must not make the import the store's latest
 * (and every later backup's base) for decades. */
static void note_mtime(struct importer *x, time_t t)
{
    if (t > x->now.tv_sec + HS_FUTURE_SLACK) {
        x->future_members++;
        return;
    }
    if (!x->have_newest || t > x->newest)
        x->newest = t;
    x->have_newest = true;
}

static int import_entry(struct importer *x, const struct hs_src_entry *ent)
{
    const char *why = clean_path(x, ent->path);
    if (why)
        return refuse(x, ent->path, why), 0;
    const char *path = x->clean.data;
    size_t len = x->clean.len;
    bool is_dir = S_ISDIR(ent->st.st_mode) && !ent->hardlink;
    if (len == 0 && !is_dir)
        return refuse(x, ent->path, "the snapshot root as a file"), 0;
    int dirfd = len ? open_parent(x, path, dir_len(path, len)) : x->treefd;
    if (dirfd == -ENOMEM)
        return hs_err_setf(x->err, ENOMEM, "import");
    if (dirfd < 0)
        return refuse(x, ent->path,
                      dirfd == -ELOOP || dirfd == -ENOTDIR
                          ? "its path goes through a symlink or file"
                      : dirfd == -ESTALE ? "a directory of its path was replaced while being made"
                                         : strerror(-dirfd)),
               0;
    struct rec *r = find_rec(x, path, len);
    bool earlier = r && r->m.type != 0;
    if (!r && !(r = add_rec(x, path, len, &ent->st)))
        return hs_err_setf(x->err, ENOMEM, "import");
    /* x->clean is reused for a hard link's target: names come from the record */
    const char *base = len ? base_of(r->path, len) : ".";
    int k = earlier ? replace_earlier(x, ent, dirfd, base, r) : 0;
    if (k != 0)
        return k < 0 ? k : 0;
    note_mtime(x, ent->st.st_mtim.tv_sec);
    hs_mentry_from_stat(&r->m, &ent->st);
    r->m.path_len = len;
    r->m.flags = 0;
    if (hs_xattr_set(&x->xa, ent->xattr_names, ent->xattr_values, ent->xattr_sizes, ent->n_xattrs,
                     x->root) < 0)
        return hs_err_setf(x->err, ENOMEM, "import");
    r->m.xattr_hash = hs_xattr_hash(&x->xa);
    if (r->m.xattr_hash)
        r->m.flags |= HS_ME_XATTR;
    if (ent->hardlink)
        k = make_hardlink(x, ent, dirfd, base, r);
    else if (is_dir)
        k = make_dir(x, ent, dirfd, base, r);
    else if (S_ISREG(ent->st.st_mode))
        k = make_regular(x, ent, dirfd, base, r);
    else
        k = make_other(x, ent, dirfd, base, r);
    if (k == 0 && !ent->hardlink)
        count_kind(x, ent->st.st_mode);
    if (k > 0)
        r->m.type = 0; /* nothing was made: no record */
    return k < 0 ? k : 0;
}

/* ---- finishing ----------------------------------------------------------- */

static int cmp_recs(const void *a, const void *b)
{
    const struct rec *ra = *(struct rec *const *)a, *rb = *(struct rec *const *)b;
    return hs_path_cmp(ra->path, ra->m.path_len, rb->path, rb->m.path_len);
}

static int cmp_sino(const void *a, const void *b)
{
    const struct rec *ra = *(struct rec *const *)a, *rb = *(struct rec *const *)b;
    return ra->m.sino < rb->m.sino ? -1 : ra->m.sino > rb->m.sino;
}

/* nlink: the names each inode has in this snapshot. */
static void count_names(struct rec **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_sino);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j]->m.sino == v[i]->m.sino)
            j++;
        for (size_t k = i; k < j; k++)
            v[k]->m.nlink = v[k]->m.type == HS_FT_DIR ? 1 : j - i;
        i = j;
    }
}

/* Directories last and deepest first: nothing is created in them after. */
static void finish_dirs(struct importer *x, struct rec **v, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        struct rec *r = v[i];
        if (r->m.type != HS_FT_DIR)
            continue;
        int fd = r->m.path_len ? hs_open_dir_beneath(x->treefd, r->path, r->m.path_len) : x->treefd;
        if (fd < 0) {
            warn(x, -fd, "cannot open", r->path);
            continue;
        }
        struct stat now;
        if (fstat(fd, &now) < 0 || !hs_is_made(&now, S_IFDIR, x->made_uid)) {
            /* only what this import made, and still holds, gets metadata */
            warn(x, 0, "replaced in the new snapshot, left alone", r->path);
            if (fd != x->treefd)
                close(fd);
            continue;
        }
        struct stat want = {.st_mode = S_IFDIR | r->m.mode, .st_uid = r->m.uid, .st_gid = r->m.gid};
        want.st_mtim.tv_sec = r->m.mtime_sec;
        want.st_mtim.tv_nsec = r->m.mtime_nsec;
        want.st_atim = want.st_mtim;
        apply_meta(x, (struct hs_xobj){.fd = fd, .dirfd = -1}, &want, NULL, r->path);
        if (fd != x->treefd)
            close(fd);
    }
}

static int write_manifest(struct importer *x, struct rec **v, size_t n)
{
    char mname[64];
    hs_store_manifest_name(x->name, mname);
    struct hs_manifest_writer *w;
    int k = hs_manifest_writer_open(&w, x->store.partialfd, mname, x->err);
    for (size_t i = 0; k == 0 && i < n; i++) {
        struct hs_mentry m = v[i]->m;
        m.path = v[i]->path;
        m.target = v[i]->target;
        m.target_len = m.target ? strlen(m.target) : 0;
        k = hs_manifest_put(w, &m, x->err);
    }
    if (k == 0)
        k = hs_manifest_writer_finish(w, false, x->err);
    hs_manifest_writer_free(w);
    return k;
}

static int check_now(struct importer *x)
{
    return x->o->now ? hs_check_now(x->o->now, x->err) : 0;
}

static int choose_name(struct importer *x)
{
    if (x->o->now) {
        snprintf(x->name, sizeof x->name, "%s", x->o->now);
    } else {
        hs_snapshot_name_format(x->have_newest ? x->newest : x->now.tv_sec, x->name);
        if (x->future_members) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "%" PRIu64 " member%s dated in the future: the snapshot is named by the "
                     "newest of the others",
                     x->future_members, x->future_members == 1 ? "" : "s");
            hs_report_notice_once(&x->rep, NOTICE_FUTURE, msg);
        }
    }
    struct stat st;
    if (fstatat(x->store.destfd, x->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return hs_err_path(x->err, EEXIST, "a snapshot of this time already exists", x->name);
    return 0;
}

static int finish_tree(struct importer *x)
{
    struct rec **v = malloc((x->nrecs ? x->nrecs : 1) * sizeof *v);
    if (!v)
        return hs_err_setf(x->err, ENOMEM, "import");
    size_t n = 0;
    for (size_t i = 0; i < x->nrecs; i++)
        if (x->recs[i].m.type != 0)
            v[n++] = &x->recs[i];
    count_names(v, n);
    qsort(v, n, sizeof *v, cmp_recs);
    branch_pop_to(&x->br, 0);
    finish_dirs(x, v, n);
    int k = choose_name(x);
    if (k == 0)
        k = write_manifest(x, v, n);
    free(v);
    if (k == 0 && renameat(x->store.partialfd, BUILD_NAME, x->store.partialfd, x->name) < 0)
        k = hs_err_path(x->err, errno, "cannot rename the imported tree to", x->name);
    return k;
}

/* ---- the run --------------------------------------------------------------- */

static int open_prev(struct importer *x)
{
    char **names = NULL;
    size_t n = 0;
    int k = hs_store_list(&x->store, &names, &n, x->err);
    if (k < 0 || n == 0) {
        hs_store_list_free(names, n);
        return k;
    }
    char mname[64];
    const char *base = names[hs_snapshot_newest_current(names, n)];
    hs_store_manifest_name(base, mname);
    x->prevfd = hs_open_dir(x->store.destfd, base);
    hs_store_list_free(names, n);
    struct stat st;
    struct hs_err e = {0};
    const struct hs_mentry *root;
    if (x->prevfd < 0 || fstat(x->prevfd, &st) < 0 ||
        hs_manifest_finder_open(&x->prevm, x->store.manifestsfd, mname, &e) < 0)
        goto untrusted;
    if (hs_manifest_finder_get(x->prevm, "", 0, &root, &e) != 1 || root->sino != st.st_ino) {
        hs_manifest_finder_free(x->prevm);
        x->prevm = NULL;
    }
untrusted:
    hs_err_clear(&e);
    return 0;
}

static int start_tree(struct importer *x)
{
    int k = hs_store_open(&x->store, x->o->dest, HS_STORE_CREATE | HS_STORE_LOCK, x->err);
    x->have_store = true; /* closed even when opening failed half-way */
    hs_report_warn_err(&x->rep, &x->store.warn);
    if (k < 0)
        return k;
    char *resume = NULL;
    struct hs_err w = {0};
    k = hs_store_recover(&x->store, &resume, x->err, &w);
    hs_report_warn_err(&x->rep, &w);
    free(resume); /* an unfinished backup's tree: the next backup's to reuse */
    if (k == 0 && x->o->now)
        k = choose_name(x); /* fail before the archive is read */
    if (k == 0)
        k = open_prev(x);
    if (k < 0)
        return k;
    struct stat st;
    if (fstatat(x->store.partialfd, BUILD_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* through the trash, as every unfinished tree (a mount in it stays
         * there, named) */
        struct hs_err left = {0};
        hs_store_drop_partial(&x->store, BUILD_NAME, &left);
        if (fstatat(x->store.partialfd, BUILD_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (left.msg)
                hs_err_move(x->err, &left);
            else
                hs_err_path(x->err, EEXIST, "cannot remove an earlier import's tree in",
                            x->o->dest);
            return -EIO;
        }
        hs_report_warn_err(&x->rep, &left);
    }
    x->made_uid = hs_made_uid(x->store.partialfd);
    /* directories get their metadata at the end: only partial/ passes a
     * default ACL on */
    x->acl_inherits = hs_xattr_has_default_acl(x->store.partialfd);
    if (mkdirat(x->store.partialfd, BUILD_NAME, 0700) < 0)
        return hs_err_path(x->err, errno, "cannot create the import tree in", x->o->dest);
    x->tree_made = true;
    struct stat made;
    k = hs_open_made(x->store.partialfd, BUILD_NAME, S_IFDIR, x->made_uid, &x->treefd, &made);
    if (k != 0)
        return hs_err_path(x->err, k < 0 ? -k : 0,
                           hs_made_gone(k) ? "the import tree was replaced while being made in"
                                           : "cannot open the import tree in",
                           x->o->dest);
    st = implicit_dir_stat(x);
    struct rec *r = add_rec(x, "", 0, &st);
    if (!r)
        return hs_err_setf(x->err, ENOMEM, "import");
    r->implicit = true;
    rec_inode_st(r, &made);
    return 0;
}

static int import_all(struct importer *x)
{
    struct hs_src_entry ent;
    int k;
    uint64_t entries = 0;
    while ((k = x->src.next(x->src.self, &ent, x->err)) == 1) {
        if (x->o->interrupt && *x->o->interrupt)
            return hs_err_setf(x->err, EINTR, "import interrupted");
        entries++;
        k = import_entry(x, &ent);
        if (k < 0)
            return k;
        hs_report_entry(&x->rep);
    }
    if (k == 0 && entries == 0)
        return hs_err_path(x->err, ENODATA, "archive has no entries", x->src.name);
    return k;
}

static int import_run(struct importer *x)
{
    int k = check_now(x);
    if (k == 0 && hs_copier_init(&x->copier, HS_COPY_AUTO) < 0)
        k = hs_err_setf(x->err, ENOMEM, "import");
    if (k == 0)
        k = hs_archive_source_open(&x->src, x->o->archive, x->err);
    if (k < 0)
        return k;
    x->src_open = true;
    clock_gettime(CLOCK_REALTIME, &x->now);
    if ((k = start_tree(x)) < 0 || (k = import_all(x)) < 0 || (k = finish_tree(x)) < 0)
        return k;
    struct hs_err w = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    k = hs_store_publish(&x->store, x->name, x->err, &w);
    hs_report_warn_err(&x->rep, &w);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    x->st->sync_seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (k == 0)
        x->tree_made = false;
    return k;
}

static void import_free(struct importer *x, bool failed)
{
    branch_pop_to(&x->br, 0);
    free(x->br.fds);
    free(x->br.ends);
    hs_buf_free(&x->br.path);
    if (x->pdir.fd >= 0 && x->pdir.fd != x->prevfd)
        close(x->pdir.fd);
    hs_buf_free(&x->pdir.path);
    if (x->prevfd >= 0)
        close(x->prevfd);
    hs_manifest_finder_free(x->prevm);
    if (x->treefd >= 0)
        close(x->treefd);
    if (failed && x->tree_made) {
        struct hs_err e = {0};
        char mname[64];
        hs_store_drop_partial(&x->store, BUILD_NAME, &e);
        if (x->name[0]) {
            hs_store_drop_partial(&x->store, x->name, &e);
            hs_store_manifest_name(x->name, mname);
            unlinkat(x->store.partialfd, mname, 0);
        }
        hs_err_clear(&e);
    }
    if (failed && x->have_store && x->store.partialfd >= 0 && hs_store_full_errno(x->err->code))
        hs_store_give_way(&x->store);
    if (x->have_store)
        hs_store_close(&x->store);
    if (x->src_open)
        x->src.close(x->src.self);
    hs_copier_free(&x->copier);
    hs_xattrs_free(&x->xa);
    for (size_t i = 0; i < x->nrecs; i++) {
        free(x->recs[i].path);
        free(x->recs[i].target);
    }
    free(x->recs);
    free(x->slots);
    hs_buf_free(&x->clean);
}

enum hs_status hs_import(const struct hs_import_opts *o, struct hs_backup_result *res,
                         struct hs_err *err)
{
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    struct importer x = {
        .o = o, .st = &res->stats, .err = err, .prevfd = -1, .treefd = -1, .pdir = {.fd = -1}};
    x.root = geteuid() == 0;
    hs_report_start(&x.rep, o->on_event, o->user, x.st);
    /* pax names are UTF-8: read in a UTF-8 locale (this thread only), libarchive
     * hands them over unconverted, as export wrote them */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t saved = utf8 ? uselocale(utf8) : (locale_t)0;
    int k = import_run(&x);
    if (utf8) {
        uselocale(saved);
        freelocale(utf8);
    }
    if (k == 0)
        snprintf(res->name, sizeof res->name, "%s", x.name);
    import_free(&x, k < 0);
    res->stats.seconds = hs_report_seconds(&x.rep);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "import failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return res->stats.warnings ? HS_WARN : HS_OK;
}
