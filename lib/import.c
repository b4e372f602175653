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
#include "hash.h"
#include "manifest.h"
#include "meta.h"
#include "report.h"
#include "source.h"
#include "store.h"
#include "writer.h"
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
    NOTICE_MANIFEST = 1u << 2,
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

    struct hs_writer wr; /* partial/import, and the branch of the last parent */
    bool tree_made;
    struct rec *recs;
    size_t nrecs, cap;
    size_t *slots; /* open addressing over recs: index + 1, 0 = empty */
    size_t nslots;

    char name[HS_SNAPSHOT_NAME_LEN + 1];
    time_t newest; /* the newest mtime of the members, if have_newest */
    bool have_newest;
    uint64_t future_members; /* dated in the future: not used for the name */
    struct hs_buf clean;
    struct timespec now;
};

/* ---- messages ----------------------------------------------------------- */

static void refuse(struct importer *im, const char *raw, const char *why)
{
    im->st->warnings++;
    char *shown = hs_escape(raw, strlen(raw));
    char msg[512];
    snprintf(msg, sizeof msg, "entry refused: %s: %s", shown ? shown : "?", why);
    free(shown);
    hs_report_event(&im->rep, HS_EV_WARNING, raw, msg);
}

static void warn(struct importer *im, int errnum, const char *what, const char *path)
{
    char *shown = hs_escape(path, strlen(path));
    hs_report_warn(&im->rep, errnum, what, shown ? shown : path, path);
    free(shown);
}

/* ---- paths ---------------------------------------------------------------- */

/* The entry's path relative to the snapshot root ("" = the root), in
 * im->clean; NULL, or the reason it is refused. */
static const char *clean_path(struct importer *im, const char *raw)
{
    if (raw[0] == '/')
        return "absolute path";
    hs_buf_truncate(&im->clean, 0);
    const char *p = raw;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "\"..\" in path";
        if (n > NAME_MAX)
            return "a name longer than NAME_MAX";
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if ((im->clean.len && hs_buf_putc(&im->clean, '/') < 0) ||
                hs_buf_append(&im->clean, p, n) < 0)
                return "out of memory";
        }
        p += n + (end != NULL);
    }
    if (hs_buf_reserve(&im->clean, 1) < 0)
        return "out of memory";
    im->clean.data[im->clean.len] = '\0';
    return NULL;
}

/* ---- the records and their index ---------------------------------------- */

static size_t slot_of(const struct importer *im, const char *path, size_t len)
{
    size_t mask = im->nslots - 1, i = (size_t)hs_hash_bytes(path, len) & mask;
    for (;; i = (i + 1) & mask) {
        size_t v = im->slots[i];
        if (v == 0 ||
            (im->recs[v - 1].m.path_len == len && !memcmp(im->recs[v - 1].path, path, len)))
            return i;
    }
}

static struct rec *find_rec(const struct importer *im, const char *path, size_t len)
{
    size_t v = im->slots[slot_of(im, path, len)];
    return v ? &im->recs[v - 1] : NULL;
}

static int grow_slots(struct importer *im)
{
    size_t n = im->nslots ? im->nslots * 2 : 1024;
    size_t *s = calloc(n, sizeof *s);
    if (!s)
        return -ENOMEM;
    free(im->slots);
    im->slots = s;
    im->nslots = n;
    for (size_t i = 0; i < im->nrecs; i++)
        im->slots[slot_of(im, im->recs[i].path, im->recs[i].m.path_len)] = i + 1;
    return 0;
}

/* A new record for path (not yet in the index), stat-derived fields from st. */
static struct rec *add_rec(struct importer *im, const char *path, size_t len, const struct stat *st)
{
    if ((im->nrecs + 1) * 2 > im->nslots && grow_slots(im) < 0)
        return NULL;
    if (im->nrecs == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 256;
        struct rec *rec = realloc(im->recs, cap * sizeof *rec);
        if (!rec)
            return NULL;
        im->recs = rec;
        im->cap = cap;
    }
    struct rec *rec = &im->recs[im->nrecs];
    *rec = (struct rec){.path = strndup(path, len)};
    if (!rec->path)
        return NULL;
    rec->m.path_len = len;
    hs_mentry_from_stat(&rec->m, st);
    im->slots[slot_of(im, path, len)] = ++im->nrecs;
    return rec;
}

/* Fills what the new tree's inode (its stat st) says. */
static void rec_inode_st(struct rec *rec, const struct stat *st)
{
    rec->m.sino = st->st_ino;
    rec->m.sblocks = (uint64_t)st->st_blocks;
    rec->m.ino = st->st_ino; /* an archive has no inode numbers of its own */
}

static struct stat implicit_dir_stat(const struct importer *im)
{
    struct stat st = {.st_mode = S_IFDIR | 0755, .st_uid = geteuid(), .st_gid = getegid()};
    st.st_mtim = st.st_atim = st.st_ctim = im->now;
    return st;
}

/* ---- parents -------------------------------------------------------------- */

/* A directory the writer made for an entry's parent: recorded, with the
 * metadata of an implicit directory unless an entry gives its own later. */
static int parent_made(void *user, const char *path, size_t len, const struct stat *made)
{
    struct importer *im = user;
    struct stat st = implicit_dir_stat(im);
    struct rec *rec = find_rec(im, path, len);
    if (!rec && (rec = add_rec(im, path, len, &st)))
        rec->implicit = true;
    if (!rec)
        return -ENOMEM;
    rec_inode_st(rec, made);
    return 0;
}

/* The directory dir (of the new tree), made as needed: the writer's top,
 * or -errno (ELOOP/ENOTDIR: a component is a symlink or a file). */
static int open_parent(struct importer *im, const char *dir, size_t len)
{
    return hs_writer_goto(&im->wr, dir, len, parent_made, im);
}

/* ---- the previous snapshot ------------------------------------------------ */

static void drop_prev_manifest(struct importer *im, const struct hs_err *why)
{
    char msg[512];
    snprintf(msg, sizeof msg,
             "the latest snapshot's manifest cannot be used (%s): nothing is linked",
             why->msg ? why->msg : "damaged");
    hs_report_notice_once(&im->rep, NOTICE_MANIFEST, msg);
    hs_manifest_finder_free(im->prevm);
    im->prevm = NULL;
}

/* The directory of the previous snapshot holding path, or -1. */
static int prev_parent(struct importer *im, const char *path, size_t len)
{
    size_t dl = hs_path_dir_len(path, len);
    struct prevdir *d = &im->pdir;
    if (d->fd >= 0 && d->path.len == dl && !memcmp(d->path.data, path, dl))
        return d->fd;
    if (d->fd >= 0 && d->fd != im->prevfd)
        close(d->fd);
    d->fd = -1;
    hs_buf_truncate(&d->path, 0);
    int fd = dl ? hs_open_dir_beneath(im->prevfd, path, dl) : im->prevfd;
    if (fd < 0 || hs_buf_append(&d->path, path, dl) < 0) {
        if (fd >= 0 && fd != im->prevfd)
            close(fd);
        return -1;
    }
    d->fd = fd;
    return fd;
}

/* Links the latest snapshot's file if the archive's entry is that file
 * (same path, size, mtime, mode, owner; the inode the manifest names):
 * HS_DONE, HS_NO_LINK, or <0. */
static int link_unchanged(struct importer *im, const struct stat *want, const char *base,
                          struct rec *rec)
{
    const char *path = rec->path;
    size_t len = rec->m.path_len;
    const struct hs_mentry *m;
    struct hs_err e = {0};
    int k = hs_manifest_finder_get(im->prevm, path, len, &m, &e);
    if (k < 0)
        drop_prev_manifest(im, &e);
    hs_err_clear(&e);
    if (k != 1 || m->type != HS_FT_REG || !(m->flags & HS_ME_HASH) ||
        !hs_change_meta_equal(want, m) || hs_mentry_xattr_hash(m) != rec->m.xattr_hash)
        return HS_NO_LINK;
    int pfd = prev_parent(im, path, len);
    struct stat st;
    if (pfd < 0 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        st.st_ino != m->sino || (uint64_t)st.st_size != m->size)
        return HS_NO_LINK;
    k = hs_writer_link(&im->wr, pfd, base, base, path);
    if (k == HS_NO_LINK)
        im->st->link_fallbacks++;
    if (k != HS_DONE)
        return k;
    memcpy(rec->m.hash, m->hash, sizeof rec->m.hash);
    rec->m.flags |= HS_ME_HASH;
    rec->m.sino = st.st_ino;
    rec->m.ino = st.st_ino;
    rec->m.sblocks = (uint64_t)st.st_blocks;
    return HS_DONE;
}

/* ---- writing files ------------------------------------------------------- */

/* The entry's data into fd: pieces at their offsets (gaps stay holes),
 * hashed in file order. */
static int write_data(struct importer *im, int fd, uint64_t size, struct rec *rec)
{
    XXH3_state_t *h = im->copier.hash_state;
    XXH3_128bits_reset(h);
    uint64_t pos = 0;
    bool in_order = true;
    int k;
    const void *buf;
    size_t len;
    uint64_t off;
    while ((k = im->src.data(im->src.self, &buf, &len, &off, im->err)) == 1) {
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
                return hs_err_path(im->err, errno, "cannot write", rec->path);
            done += (size_t)n;
        }
        if (in_order)
            XXH3_128bits_update(h, buf, len);
        pos = off + len > pos ? off + len : pos;
        im->st->bytes_copied += len;
    }
    if (k < 0)
        return k;
    if (size > pos && ftruncate(fd, (off_t)size) < 0)
        return hs_err_path(im->err, errno, "cannot write", rec->path);
    rec->m.size = size > pos ? size : pos;
    rec->m.flags |= HS_ME_HASH;
    if (!in_order) { /* pieces out of order: hash what was written */
        struct stat st = {.st_size = (off_t)rec->m.size};
        return hs_hash_fd(&im->copier, fd, &st, rec->m.hash, rec->path, im->err);
    }
    hs_hash_zeros(h, rec->m.size - pos);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
    memcpy(rec->m.hash, c.digest, sizeof rec->m.hash);
    return 0;
}

/* Owner, the entry's extended attributes (xa, or NULL for none), mode,
 * times, through the writer; what cannot be set is a warning: the data is
 * in. */
static void apply_meta(struct importer *im, struct hs_xobj o, const struct stat *want,
                       const struct hs_xattrs *xa, const char *path)
{
    if (hs_writer_meta(&im->wr, o, want, NULL, xa, path) < 0)
        hs_report_warn_err(&im->rep, im->err);
}

static int write_file(struct importer *im, const struct hs_src_entry *ent, const char *base,
                      struct rec *rec)
{
    int fd = hs_writer_file(&im->wr, base, rec->path);
    if (fd < 0)
        return fd;
    int k = write_data(im, fd, (uint64_t)ent->st.st_size, rec);
    if (k == 0) {
        apply_meta(im, (struct hs_xobj){.fd = fd, .dirfd = -1}, &ent->st, &im->xa, rec->path);
        struct stat st;
        if (fstat(fd, &st) == 0) {
            rec->m.sino = rec->m.ino = st.st_ino;
            rec->m.sblocks = (uint64_t)st.st_blocks;
        }
        rec->written = true;
    }
    close(fd);
    return k;
}

/* ---- entries --------------------------------------------------------------- */

static void count_kind(struct importer *im, mode_t mode)
{
    if (S_ISREG(mode))
        im->st->files++;
    else if (S_ISDIR(mode))
        im->st->dirs++;
    else if (S_ISLNK(mode))
        im->st->symlinks++;
    else
        im->st->specials++;
}

static int make_regular(struct importer *im, const struct hs_src_entry *ent, const char *base,
                        struct rec *rec)
{
    im->st->bytes_total += (uint64_t)ent->st.st_size;
    int k = im->prevm ? link_unchanged(im, &ent->st, base, rec) : HS_NO_LINK;
    if (k == HS_DONE) {
        im->st->linked++;
        if (im->o->verbose_events)
            hs_report_event(&im->rep, HS_EV_LINK, rec->path, NULL);
        return HS_DONE;
    }
    if (k < 0)
        return k;
    k = write_file(im, ent, base, rec);
    if (k == 0) {
        im->st->copied++;
        if (im->o->verbose_events)
            hs_report_event(&im->rep, HS_EV_COPY, rec->path, NULL);
    }
    return k;
}

/* A creation the writer could not make (k < 0, said in im->err): the
 * entry is left out, with the writer's words. */
static int not_made(struct importer *im, int k)
{
    if (k == -ENOMEM)
        return k;
    hs_report_warn_err(&im->rep, im->err);
    return HS_SKIPPED;
}

/* Symlinks and special files: HS_DONE, HS_SKIPPED (warned), or <0. */
static int make_other(struct importer *im, const struct hs_src_entry *ent, const char *base,
                      struct rec *rec)
{
    mode_t type = ent->st.st_mode & S_IFMT;
    if (type == S_IFLNK && !ent->symlink)
        return warn(im, EINVAL, "symlink without a target", rec->path), HS_SKIPPED;
    if (type == S_IFSOCK) /* no archive format keeps one */
        return warn(im, EINVAL, "entry of an unknown type", rec->path), HS_SKIPPED;
    int fd;
    struct stat st;
    int k = hs_writer_special(&im->wr, base, &ent->st, ent->symlink, rec->path, &fd, &st);
    if (k != HS_DONE)
        return k < 0 ? not_made(im, k) : k;
    if (type == S_IFLNK) {
        rec->m.size = strlen(ent->symlink);
        if (!(rec->target = strdup(ent->symlink))) {
            close(fd);
            return hs_err_setf(im->err, ENOMEM, "import");
        }
    }
    apply_meta(im, (struct hs_xobj){.fd = fd, .opath = true}, &ent->st, &im->xa, rec->path);
    close(fd);
    rec_inode_st(rec, &st);
    im->st->created++;
    if (im->o->verbose_events)
        hs_report_event(&im->rep, HS_EV_COPY, rec->path, NULL);
    return HS_DONE;
}

/* The earlier member a hard link names, or NULL and why not in *why. */
static struct rec *link_target(struct importer *im, const struct hs_src_entry *ent,
                               const char **why, char *msg, size_t msg_size)
{
    *why = clean_path(im, ent->hardlink);
    if (*why) {
        snprintf(msg, msg_size, "hard link target with %s", *why);
        *why = msg;
        return NULL;
    }
    struct rec *t = find_rec(im, im->clean.data, im->clean.len);
    if (!t || t->m.type == 0 || t->m.type == HS_FT_DIR) {
        *why = "hard link to a path that is no file of the archive";
        return NULL;
    }
    return t;
}

/* cpio's newc format gives a hard-link group's data with its last name: the
 * earlier names were made empty by this import, so that inode (no older
 * snapshot's) gets the data now, and every name's record says so. */
static int fill_group(struct importer *im, const struct hs_src_entry *ent, const char *base,
                      struct rec *rec)
{
    int fd = openat(hs_writer_top(&im->wr), base, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return hs_err_path(im->err, errno, "cannot open", rec->path);
    uint64_t sino = rec->m.sino;
    struct stat now;
    int err = fstat(fd, &now) < 0 ? errno : 0;
    if (!err && (!S_ISREG(now.st_mode) || now.st_ino != sino))
        err = ESTALE; /* only the inode this import made for the group is written into */
    if (!err && ftruncate(fd, 0) < 0)
        err = errno;
    if (err) {
        close(fd);
        return hs_err_path(im->err, err, "cannot write", rec->path);
    }
    hs_mentry_from_stat(&rec->m, &ent->st);
    int k = write_data(im, fd, (uint64_t)ent->st.st_size, rec);
    if (k == 0) {
        apply_meta(im, (struct hs_xobj){.fd = fd, .dirfd = -1}, &ent->st, &im->xa, rec->path);
        struct stat st;
        rec->m.sino = rec->m.ino = sino;
        if (fstat(fd, &st) == 0)
            rec->m.sblocks = (uint64_t)st.st_blocks;
        im->st->bytes_total += rec->m.size;
        for (size_t i = 0; i < im->nrecs; i++) {
            struct rec *q = &im->recs[i];
            if (q != rec && q->m.type == HS_FT_REG && q->m.sino == sino) {
                size_t len = q->m.path_len;
                q->m = rec->m;
                q->m.path_len = len;
            }
        }
    }
    close(fd);
    return k;
}

/* A second name of a file met earlier in the archive. */
static int make_hardlink(struct importer *im, const struct hs_src_entry *ent, const char *base,
                         struct rec *rec)
{
    const char *why;
    char msg[128];
    struct rec *t = link_target(im, ent, &why, msg, sizeof msg);
    if (!t)
        return refuse(im, ent->path, why), HS_SKIPPED;
    bool with_data = ent->st.st_size > 0 && t->m.type == HS_FT_REG;
    if (with_data && !t->written) {
        /* the group's inode is shared with an older snapshot: never written into */
        int k = make_regular(im, ent, base, rec);
        if (k == HS_DONE)
            count_kind(im, S_IFREG);
        return k;
    }
    int k = hs_writer_link_path(&im->wr, t->path, t->m.path_len, base, NULL, rec->path);
    if (k != HS_DONE) {
        refuse(im, ent->path, k < 0 ? im->err->msg : strerror(im->wr.link_err));
        hs_err_clear(im->err);
        return k == -ENOMEM ? k : HS_SKIPPED;
    }
    char *path = rec->path;
    size_t len = rec->m.path_len;
    rec->m = t->m;
    rec->m.path_len = len;
    rec->path = path;
    rec->written = t->written;
    if (t->target && !(rec->target = strdup(t->target)))
        return hs_err_setf(im->err, ENOMEM, "import");
    count_kind(im, rec->m.type == HS_FT_REG ? S_IFREG : S_IFLNK);
    im->st->hardlinked++;
    return with_data ? fill_group(im, ent, base, rec) : HS_DONE;
}

/* An entry at a path met before: a directory again updates its metadata;
 * a non-directory replaces a non-directory (the last one wins, as tar -x). */
static int replace_earlier(struct importer *im, const struct hs_src_entry *ent, const char *base,
                           struct rec *rec)
{
    bool was_dir = rec->m.type == HS_FT_DIR, is_dir = S_ISDIR(ent->st.st_mode) && !ent->hardlink;
    if (was_dir != is_dir) {
        refuse(im, ent->path,
               is_dir ? "a directory where the archive has a file"
                      : "a file where the archive has a directory");
        return HS_SKIPPED;
    }
    if (!is_dir && unlinkat(hs_writer_top(&im->wr), base, 0) < 0 && errno != ENOENT)
        return hs_err_path(im->err, errno, "cannot replace", rec->path);
    free(rec->target);
    rec->target = NULL;
    return HS_DONE;
}

/* A directory entry (again, or where an earlier one made it implicitly):
 * made if missing, and checked to be ours (meta.h). */
static int make_dir(struct importer *im, const struct hs_src_entry *ent, const char *base,
                    struct rec *rec)
{
    int fd = hs_writer_root(&im->wr);
    struct stat st;
    if (rec->m.path_len == 0) {
        if (fstat(fd, &st) < 0)
            return warn(im, errno, "cannot examine", rec->path), HS_SKIPPED;
    } else {
        bool made;
        fd = hs_writer_open_dir(&im->wr, base, &made, &st);
        if (fd == -ESTALE)
            return warn(im, 0, "replaced in the new snapshot while being made, left out",
                        rec->path),
                   HS_SKIPPED;
        if (fd < 0) /* not made: an earlier entry's file or symlink is there */
            return warn(im, made ? -fd : EEXIST, "cannot create", rec->path), HS_SKIPPED;
    }
    hs_mentry_from_stat(&rec->m, &ent->st);
    rec->implicit = false;
    rec_inode_st(rec, &st);
    if (im->xa.count) { /* now: mode and times wait for the end, xattrs need not */
        int err = hs_xattr_apply(&im->xa, (struct hs_xobj){.fd = fd}, im->root);
        if (err < 0)
            hs_report_xattrs(&im->rep, err, HS_WRITER_NOTICE_XATTR, im->wr.o.xattrs_none,
                             "cannot set extended attributes of", rec->path, rec->path);
    }
    if (fd != hs_writer_root(&im->wr))
        close(fd);
    return HS_DONE;
}

/* The snapshot is named by its newest member, unless that lies in the
 * future: a member dated 2099 must not make the import the store's latest
 * (and every later backup's base) for decades. */
static void note_mtime(struct importer *im, time_t t)
{
    if (t > im->now.tv_sec + HS_FUTURE_SLACK) {
        im->future_members++;
        return;
    }
    if (!im->have_newest || t > im->newest)
        im->newest = t;
    im->have_newest = true;
}

static int import_entry(struct importer *im, const struct hs_src_entry *ent)
{
    const char *why = clean_path(im, ent->path);
    if (why)
        return refuse(im, ent->path, why), 0;
    const char *path = im->clean.data;
    size_t len = im->clean.len;
    bool is_dir = S_ISDIR(ent->st.st_mode) && !ent->hardlink;
    if (len == 0 && !is_dir)
        return refuse(im, ent->path, "the snapshot root as a file"), 0;
    int dirfd = open_parent(im, path, hs_path_dir_len(path, len));
    if (dirfd == -ENOMEM)
        return hs_err_setf(im->err, ENOMEM, "import");
    if (dirfd < 0)
        return refuse(im, ent->path,
                      dirfd == -ELOOP || dirfd == -ENOTDIR
                          ? "its path goes through a symlink or file"
                      : dirfd == -ESTALE ? "a directory of its path was replaced while being made"
                                         : strerror(-dirfd)),
               0;
    struct rec *rec = find_rec(im, path, len);
    bool earlier = rec && rec->m.type != 0;
    if (!rec && !(rec = add_rec(im, path, len, &ent->st)))
        return hs_err_setf(im->err, ENOMEM, "import");
    /* im->clean is reused for a hard link's target: names come from the record */
    const char *base = len ? hs_path_base(rec->path, len) : ".";
    int k = earlier ? replace_earlier(im, ent, base, rec) : HS_DONE;
    if (k != HS_DONE)
        return k < 0 ? k : 0;
    note_mtime(im, ent->st.st_mtim.tv_sec);
    hs_mentry_from_stat(&rec->m, &ent->st);
    rec->m.path_len = len;
    rec->m.flags = 0;
    if (hs_xattr_set(&im->xa, ent->xattr_names, ent->xattr_values, ent->xattr_sizes, ent->n_xattrs,
                     im->root) < 0)
        return hs_err_setf(im->err, ENOMEM, "import");
    rec->m.xattr_hash = hs_xattr_hash(&im->xa);
    if (rec->m.xattr_hash)
        rec->m.flags |= HS_ME_XATTR;
    if (ent->hardlink)
        k = make_hardlink(im, ent, base, rec);
    else if (is_dir)
        k = make_dir(im, ent, base, rec);
    else if (S_ISREG(ent->st.st_mode))
        k = make_regular(im, ent, base, rec);
    else
        k = make_other(im, ent, base, rec);
    if (k == HS_DONE && !ent->hardlink)
        count_kind(im, ent->st.st_mode);
    if (k == HS_SKIPPED)
        rec->m.type = 0; /* nothing was made: no record */
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
static void finish_dirs(struct importer *im, struct rec **v, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        struct rec *rec = v[i];
        if (rec->m.type != HS_FT_DIR)
            continue;
        int root = hs_writer_root(&im->wr);
        int fd = rec->m.path_len ? hs_open_dir_beneath(root, rec->path, rec->m.path_len) : root;
        if (fd < 0) {
            warn(im, -fd, "cannot open", rec->path);
            continue;
        }
        struct stat now;
        if (fstat(fd, &now) < 0 || !hs_is_made(&now, S_IFDIR, im->wr.made_uid)) {
            /* only what this import made, and still holds, gets metadata */
            warn(im, 0, "replaced in the new snapshot, left alone", rec->path);
            if (fd != root)
                close(fd);
            continue;
        }
        struct stat want = {
            .st_mode = S_IFDIR | rec->m.mode, .st_uid = rec->m.uid, .st_gid = rec->m.gid};
        want.st_mtim.tv_sec = rec->m.mtime_sec;
        want.st_mtim.tv_nsec = rec->m.mtime_nsec;
        want.st_atim = want.st_mtim;
        apply_meta(im, (struct hs_xobj){.fd = fd, .dirfd = -1}, &want, NULL, rec->path);
        if (fd != root)
            close(fd);
    }
}

static int write_manifest(struct importer *im, struct rec **v, size_t n)
{
    char mname[64];
    hs_store_manifest_name(im->name, mname);
    struct hs_manifest_writer *w;
    int k = hs_manifest_writer_open(&w, im->store.partialfd, mname, im->err);
    for (size_t i = 0; k == 0 && i < n; i++) {
        struct hs_mentry m = v[i]->m;
        m.path = v[i]->path;
        m.target = v[i]->target;
        m.target_len = m.target ? strlen(m.target) : 0;
        k = hs_manifest_put(w, &m, im->err);
    }
    if (k == 0)
        k = hs_manifest_writer_finish(w, false, im->err);
    hs_manifest_writer_free(w);
    return k;
}

static int check_now(struct importer *im)
{
    return im->o->now ? hs_check_now(im->o->now, im->err) : 0;
}

static int choose_name(struct importer *im)
{
    if (im->o->now) {
        snprintf(im->name, sizeof im->name, "%s", im->o->now);
    } else {
        hs_snapshot_name_format(im->have_newest ? im->newest : im->now.tv_sec, im->name);
        if (im->future_members) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "%" PRIu64 " member%s dated in the future: the snapshot is named by the "
                     "newest of the others",
                     im->future_members, im->future_members == 1 ? "" : "s");
            hs_report_notice_once(&im->rep, NOTICE_FUTURE, msg);
        }
    }
    struct stat st;
    if (fstatat(im->store.destfd, im->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return hs_err_path(im->err, EEXIST, "a snapshot of this time already exists", im->name);
    return 0;
}

static int finish_tree(struct importer *im)
{
    struct rec **v = malloc((im->nrecs ? im->nrecs : 1) * sizeof *v);
    if (!v)
        return hs_err_setf(im->err, ENOMEM, "import");
    size_t n = 0;
    for (size_t i = 0; i < im->nrecs; i++)
        if (im->recs[i].m.type != 0)
            v[n++] = &im->recs[i];
    count_names(v, n);
    qsort(v, n, sizeof *v, cmp_recs);
    hs_writer_goto(&im->wr, "", 0, NULL, NULL); /* nothing of the branch stays open */
    finish_dirs(im, v, n);
    int k = choose_name(im);
    if (k == 0)
        k = write_manifest(im, v, n);
    free(v);
    if (k == 0 && renameat(im->store.partialfd, BUILD_NAME, im->store.partialfd, im->name) < 0)
        k = hs_err_path(im->err, errno, "cannot rename the imported tree to", im->name);
    return k;
}

/* ---- the run --------------------------------------------------------------- */

static int open_prev(struct importer *im)
{
    char **names = NULL;
    size_t n = 0;
    int k = hs_store_list(&im->store, &names, &n, im->err);
    if (k < 0 || n == 0) {
        hs_store_list_free(names, n);
        return k;
    }
    char mname[64];
    const char *base = names[hs_snapshot_newest_current(names, n)];
    hs_store_manifest_name(base, mname);
    im->prevfd = hs_open_dir(im->store.destfd, base);
    hs_store_list_free(names, n);
    struct stat st;
    struct hs_err e = {0};
    const struct hs_mentry *root;
    if (im->prevfd < 0 || fstat(im->prevfd, &st) < 0 ||
        hs_manifest_finder_open(&im->prevm, im->store.manifestsfd, mname, &e) < 0)
        goto untrusted;
    if (hs_manifest_finder_get(im->prevm, "", 0, &root, &e) != 1 || root->sino != st.st_ino) {
        hs_manifest_finder_free(im->prevm);
        im->prevm = NULL;
    }
untrusted:
    hs_err_clear(&e);
    return 0;
}

static int start_tree(struct importer *im)
{
    int k = hs_store_open(&im->store, im->o->dest, HS_STORE_CREATE | HS_STORE_LOCK, im->err);
    im->have_store = true; /* closed even when opening failed half-way */
    hs_report_warn_err(&im->rep, &im->store.warn);
    if (k < 0)
        return k;
    char *resume = NULL;
    struct hs_err w = {0};
    k = hs_store_recover(&im->store, &resume, im->err, &w);
    hs_report_warn_err(&im->rep, &w);
    free(resume); /* an unfinished backup's tree: the next backup's to reuse */
    if (k == 0 && im->o->now)
        k = choose_name(im); /* fail before the archive is read */
    if (k == 0)
        k = open_prev(im);
    if (k < 0)
        return k;
    struct stat st;
    if (fstatat(im->store.partialfd, BUILD_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* through the trash, as every unfinished tree (a mount in it stays
         * there, named) */
        struct hs_err left = {0};
        hs_store_drop_partial(&im->store, BUILD_NAME, &left);
        if (fstatat(im->store.partialfd, BUILD_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (left.msg)
                hs_err_move(im->err, &left);
            else
                hs_err_path(im->err, EEXIST, "cannot remove an earlier import's tree in",
                            im->o->dest);
            return -EIO;
        }
        hs_report_warn_err(&im->rep, &left);
    }
    /* directories get their metadata at the end: only partial/ passes a
     * default ACL on */
    im->wr.o.inherits = hs_xattr_has_default_acl(im->store.partialfd);
    k = hs_writer_make_root(&im->wr, im->store.partialfd, BUILD_NAME, "partial/" BUILD_NAME);
    im->tree_made = true; /* or half made: removed if the import fails */
    if (k == 0)
        k = hs_writer_enter_root(&im->wr);
    struct stat made;
    if (k == 0 && fstat(hs_writer_root(&im->wr), &made) < 0)
        k = hs_err_path(im->err, errno, "cannot examine", "partial/" BUILD_NAME);
    if (k < 0)
        return k;
    st = implicit_dir_stat(im);
    struct rec *rec = add_rec(im, "", 0, &st);
    if (!rec)
        return hs_err_setf(im->err, ENOMEM, "import");
    rec->implicit = true;
    rec_inode_st(rec, &made);
    return 0;
}

static int import_all(struct importer *im)
{
    struct hs_src_entry ent;
    int k;
    uint64_t entries = 0;
    while ((k = im->src.next(im->src.self, &ent, im->err)) == 1) {
        if (im->o->interrupt && *im->o->interrupt)
            return hs_err_setf(im->err, EINTR, "import interrupted");
        entries++;
        k = import_entry(im, &ent);
        if (k < 0)
            return k;
        hs_report_entry(&im->rep);
    }
    if (k == 0 && entries == 0)
        return hs_err_path(im->err, ENODATA, "archive has no entries", im->src.name);
    return k;
}

static int import_run(struct importer *im)
{
    int k = check_now(im);
    if (k == 0 && hs_copier_init(&im->copier, HS_COPY_AUTO) < 0)
        k = hs_err_setf(im->err, ENOMEM, "import");
    if (k == 0)
        k = hs_archive_source_open(&im->src, im->o->archive, im->err);
    if (k < 0)
        return k;
    im->src_open = true;
    clock_gettime(CLOCK_REALTIME, &im->now);
    if ((k = start_tree(im)) < 0 || (k = import_all(im)) < 0 || (k = finish_tree(im)) < 0)
        return k;
    struct hs_err w = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    k = hs_store_publish(&im->store, im->name, im->err, &w);
    hs_report_warn_err(&im->rep, &w);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    im->st->sync_seconds =
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (k == 0)
        im->tree_made = false;
    return k;
}

static void import_free(struct importer *im, bool failed)
{
    hs_writer_free(&im->wr);
    if (im->pdir.fd >= 0 && im->pdir.fd != im->prevfd)
        close(im->pdir.fd);
    hs_buf_free(&im->pdir.path);
    if (im->prevfd >= 0)
        close(im->prevfd);
    hs_manifest_finder_free(im->prevm);
    if (failed && im->tree_made) {
        struct hs_err e = {0};
        char mname[64];
        hs_store_drop_partial(&im->store, BUILD_NAME, &e);
        if (im->name[0]) {
            hs_store_drop_partial(&im->store, im->name, &e);
            hs_store_manifest_name(im->name, mname);
            unlinkat(im->store.partialfd, mname, 0);
        }
        hs_err_clear(&e);
    }
    if (failed && im->have_store && im->store.partialfd >= 0 && hs_store_full_errno(im->err->code))
        hs_store_give_way(&im->store);
    if (im->have_store)
        hs_store_close(&im->store);
    if (im->src_open)
        im->src.close(im->src.self);
    hs_copier_free(&im->copier);
    hs_xattrs_free(&im->xa);
    for (size_t i = 0; i < im->nrecs; i++) {
        free(im->recs[i].path);
        free(im->recs[i].target);
    }
    free(im->recs);
    free(im->slots);
    hs_buf_free(&im->clean);
}

enum hs_status hs_import(const struct hs_import_opts *o, struct hs_backup_result *res,
                         struct hs_err *err)
{
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    struct importer im = {.o = o, .st = &res->stats, .err = err, .prevfd = -1, .pdir = {.fd = -1}};
    im.root = geteuid() == 0;
    hs_report_start(&im.rep, o->on_event, o->user, im.st);
    hs_writer_init(&im.wr,
                   &(struct hs_writer_opts){.xattrs_none =
                                                "the store's file system keeps no "
                                                "extended attributes: they are left out"},
                   &im.rep, err);
    /* pax names are UTF-8: read in a UTF-8 locale (this thread only), libarchive
     * hands them over unconverted, as export wrote them */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t saved = utf8 ? uselocale(utf8) : (locale_t)0;
    int k = import_run(&im);
    if (utf8) {
        uselocale(saved);
        freelocale(utf8);
    }
    if (k == 0)
        snprintf(res->name, sizeof res->name, "%s", im.name);
    import_free(&im, k < 0);
    res->stats.seconds = hs_report_seconds(&im.rep);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "import failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return res->stats.warnings ? HS_WARN : HS_OK;
}
