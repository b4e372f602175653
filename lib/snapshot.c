#include "snapshot.h"
#include "buf.h"
#include "copy.h"
#include "dirlist.h"
#include "fsutil.h"
#include "mcheck.h"
#include "walk.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- where a path points ----------------------------------------------- */

/* Whether dir/comp is a snapshot of a store (dir holds .hardsnap/); fills
 * name, resolving "latest". */
static bool is_snapshot_at(const char *dir, const char *comp, char *name)
{
    bool latest = strcmp(comp, "latest") == 0;
    if (!latest && !hs_snapshot_name_valid(comp))
        return false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstatat(fd, HS_STORE_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    if (ok && latest) {
        char target[64];
        ssize_t n = readlinkat(fd, "latest", target, sizeof target - 1);
        ok = n == HS_SNAPSHOT_NAME_LEN;
        if (ok) {
            target[n] = '\0';
            ok = hs_snapshot_name_valid(target);
            if (ok)
                memcpy(name, target, HS_SNAPSHOT_NAME_LEN + 1);
        }
    } else if (ok) {
        snprintf(name, HS_SNAPSHOT_NAME_LEN + 1, "%s", comp);
    }
    ok = ok && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    return ok;
}

static char *join(const char *a, const char *b)
{
    char *out;
    if (!*a)
        return strdup(b);
    if (!*b)
        return strdup(a);
    if (asprintf(&out, "%s%s%s", a, a[strlen(a) - 1] == '/' ? "" : "/", b) < 0)
        return NULL;
    return out;
}

/* Checks the path inside a snapshot: no "." or ".." (it must not leave the
 * snapshot), no empty components. */
static bool clean_sub(const char *sub)
{
    const char *p = sub;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n + (q ? 1 : 0);
    }
    return true;
}

static char *trimmed(const char *arg)
{
    size_t n = strlen(arg);
    while (n > 1 && arg[n - 1] == '/')
        n--;
    return strndup(arg, n);
}

int hs_snapref_resolve(struct hs_snapref *ref, const char *arg, bool allow_plain, struct hs_err *e)
{
    memset(ref, 0, sizeof *ref);
    if (!*arg)
        return hs_err_usage(e, 0, "empty path", NULL);
    char *path = trimmed(arg);
    if (!path)
        return hs_err_setf(e, ENOMEM, "path");
    /* try each component, leftmost first: the outermost store wins */
    for (char *p = path;; p++) {
        char *slash = strchr(p, '/');
        char *comp = p;
        if (slash)
            *slash = '\0';
        char *dir = comp == path ? strdup(".") : strndup(path, (size_t)(comp - path - 1));
        if (comp == path + 1 && path[0] == '/') {
            free(dir);
            dir = strdup("/");
        }
        bool found = dir && *comp && is_snapshot_at(dir, comp, ref->name);
        if (found) {
            ref->dest = dir;
            ref->sub = strdup(slash ? slash + 1 : "");
            if (slash)
                *slash = '/';
            break;
        }
        free(dir);
        if (!slash)
            break;
        *slash = '/';
        p = slash;
    }
    if (!ref->dest) {
        ref->name[0] = '\0';
        if (!allow_plain) {
            int r = hs_err_usage(e, 0, "not a snapshot in a hardsnap store", arg);
            free(path);
            return r;
        }
        ref->dest = strdup("");
        ref->sub = strdup("");
        ref->dir = path;
        return ref->dest && ref->sub ? 0 : hs_err_setf(e, ENOMEM, "path");
    }
    free(path);
    if (!ref->sub)
        return hs_err_setf(e, ENOMEM, "path");
    if (!clean_sub(ref->sub))
        return hs_err_usage(e, 0, "not a path inside the snapshot", arg);
    char *snap = join(ref->dest, ref->name);
    ref->dir = snap ? join(snap, ref->sub) : NULL;
    free(snap);
    return ref->dir ? 0 : hs_err_setf(e, ENOMEM, "path");
}

void hs_snapref_free(struct hs_snapref *ref)
{
    free(ref->dest);
    free(ref->sub);
    free(ref->dir);
    memset(ref, 0, sizeof *ref);
}

int hs_snapref_open_root(const struct hs_snapref *ref, struct hs_err *e)
{
    int d = open(ref->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = d >= 0 ? hs_open_dir(d, ref->name) : -1;
    int err = errno;
    if (d >= 0)
        close(d);
    if (fd < 0)
        return hs_err_path(e, err, "cannot open snapshot", ref->dir);
    return fd;
}

int hs_snapref_manifest(const struct hs_snapref *ref, struct hs_manifest_reader **r,
                        struct hs_mentry_copy *root, struct hs_err *e)
{
    (void)e;
    *r = NULL;
    if (!ref->name[0])
        return 0;
    char mpath[4096 + 64];
    snprintf(mpath, sizeof mpath, "%s/%s/manifests", ref->dest, HS_STORE_DIR);
    struct hs_err scratch = {0};
    int mfd = open(mpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rfd = mfd >= 0 ? hs_snapref_open_root(ref, &scratch) : -1;
    hs_err_clear(&scratch);
    struct stat st;
    char mname[64];
    hs_store_manifest_name(ref->name, mname);
    int k = rfd >= 0 && fstat(rfd, &st) == 0
                ? hs_manifest_open_trusted(mfd, mname, st.st_ino, r, root)
                : 0;
    if (rfd >= 0)
        close(rfd);
    if (mfd >= 0)
        close(mfd);
    return k;
}

/* ---- a snapshot to read whole ------------------------------------------ */

static int open_store_stat(struct hs_snapsrc *src, struct hs_err *e)
{
    int dfd = open(src->ref.dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, &src->store_st) < 0) {
        int err = errno;
        if (dfd >= 0)
            close(dfd);
        return hs_err_path(e, err, "cannot open the store", src->ref.dest);
    }
    close(dfd);
    return 0;
}

/* PATH: its directory, last component and stat. */
static int open_leaf(struct hs_snapsrc *src, struct hs_err *e)
{
    const char *sub = src->ref.sub;
    size_t slen = strlen(sub);
    src->mprefix_len = (size_t)(hs_path_base(sub, slen) - sub);
    src->leaf = strdup(sub + src->mprefix_len);
    size_t dlen = strlen(src->ref.dir);
    size_t llen = src->leaf ? strlen(src->leaf) : 0;
    src->disp = strndup(src->ref.dir, dlen > llen ? dlen - llen - 1 : 0);
    if (!src->leaf || !src->disp)
        return hs_err_path(e, ENOMEM, "cannot open", src->ref.dir);
    src->parent = hs_open_dir_beneath(src->root, sub, hs_path_dir_len(sub, slen));
    int err = src->parent < 0 ? -src->parent : 0;
    if (!err && fstatat(src->parent, src->leaf, &src->leaf_st, AT_SYMLINK_NOFOLLOW) < 0)
        err = errno;
    return err ? hs_err_usage(e, err, "no such path in the snapshot", src->ref.dir) : 0;
}

int hs_snapsrc_open(struct hs_snapsrc *src, const char *arg, struct hs_err *e)
{
    *src = (struct hs_snapsrc){.root = -1, .parent = -1};
    int k = hs_snapref_resolve(&src->ref, arg, false, e);
    if (k < 0)
        return k;
    k = open_store_stat(src, e);
    if (k < 0)
        return k;
    src->root = hs_snapref_open_root(&src->ref, e);
    if (src->root < 0)
        return src->root;
    src->whole = !*src->ref.sub;
    if (!src->whole)
        return open_leaf(src, e);
    src->disp = trimmed(src->ref.dir);
    if (fstat(src->root, &src->leaf_st) < 0)
        return hs_err_path(e, errno, "cannot examine", src->ref.dir);
    return src->disp ? 0 : hs_err_path(e, ENOMEM, "cannot open", src->ref.dir);
}

void hs_snapsrc_load_manifest(struct hs_snapsrc *src)
{
    struct hs_err scratch = {0};
    if (!src->mr)
        hs_snapref_manifest(&src->ref, &src->mr, NULL, &scratch);
    hs_err_clear(&scratch);
}

void hs_snapsrc_drop_manifest(struct hs_snapsrc *src)
{
    hs_manifest_reader_free(src->mr);
    src->mr = NULL;
}

uint64_t hs_snapsrc_names(struct hs_snapsrc *src, const char *path, size_t len,
                          const struct stat *st)
{
    uint64_t n = st->st_nlink;
    if (n < 2 || !src->mr)
        return n;
    hs_buf_truncate(&src->mpath, 0);
    if (hs_buf_append(&src->mpath, src->ref.sub, src->mprefix_len) < 0 ||
        hs_buf_append(&src->mpath, path, len) < 0)
        return n;
    const struct hs_mentry *m;
    struct hs_err scratch = {0};
    int k = hs_manifest_seek(src->mr, src->mpath.data, src->mpath.len, &m, &scratch);
    hs_err_clear(&scratch);
    if (k < 0)
        hs_snapsrc_drop_manifest(src); /* damaged: st_nlink still bounds every group */
    else if (k == 1 && m->sino == st->st_ino && m->nlink >= 1 && m->nlink < n)
        n = m->nlink;
    return n;
}

void hs_snapsrc_close(struct hs_snapsrc *src)
{
    hs_snapsrc_drop_manifest(src);
    hs_buf_free(&src->mpath);
    if (src->root >= 0)
        close(src->root);
    if (src->parent >= 0)
        close(src->parent);
    src->root = src->parent = -1;
    hs_snapref_free(&src->ref);
    free(src->leaf);
    free(src->disp);
    src->leaf = src->disp = NULL;
}

const char *hs_snapsrc_forbidden(const struct hs_snapsrc *src, int fd)
{
    if (hs_dir_within(fd, &src->store_st))
        return "the store";
    return hs_store_in_snapshot(fd) ? "a snapshot of a store" : NULL;
}

int hs_snapsrc_walk(const struct hs_snapsrc *src, struct hs_walk **w, struct hs_err *e)
{
    /* not dup() of root: a second pass must read the directory from its start */
    int fd = src->whole ? openat(src->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        : hs_open_dir(src->parent, src->leaf);
    if (fd < 0)
        return hs_err_path(e, errno, "cannot open", src->ref.dir);
    return hs_walk_open(w, fd, &src->leaf_st, src->whole ? "" : src->leaf, e);
}

/* ---- iterating -------------------------------------------------------- */

struct hs_snapiter {
    struct hs_manifest_reader *mr; /* manifest mode, after the root record */
    struct hs_mentry_copy root;    /* ... which is here */
    struct hs_mcheck *check;       /* ... each record checked against the tree */
    bool reread;                   /* the current entry is the tree's, not its record */
    struct hs_copier copier;       /* hashing what the manifest cannot vouch for */
    bool have_copier;
    int cur_dirfd; /* walk mode: where the current entry is, until the next call */
    const char *cur_name;
    size_t strip; /* bytes of "sub/" to strip from record paths */
    char *sub;
    bool started, done;
    struct hs_walk *walk; /* walk mode */
    struct hs_buf target;
    struct hs_mentry cur;
    bool want_xattrs;  /* hash the attributes of what is read from the tree */
    bool xattrs_known; /* of cur */
    struct hs_xattrs xa;
    hs_snapiter_warn_fn warn;
    void *user;
    /* a single non-directory named by sub */
    bool single;
    struct stat single_st;
    int single_dir;
    char *single_name;
};

static void iter_warn(struct hs_snapiter *it, int err, const char *what, const char *path)
{
    struct hs_err w = {0};
    hs_err_path(&w, err, what, path);
    if (it->warn)
        it->warn(w.msg ? w.msg : what, it->user);
    hs_err_clear(&w);
}

/* The directory that ref->sub names in the snapshot (HS_DONE, *dirfd), or
 * the parent and name of the single entry it names (HS_SINGLE, kept in it);
 * never following a symlink inside the snapshot. */
static int open_sub(struct hs_snapiter *it, const struct hs_snapref *ref, struct stat *st,
                    int *dirfd, struct hs_err *e)
{
    int root = ref->name[0] ? hs_snapref_open_root(ref, e)
                            : open(ref->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 && !ref->name[0]) /* a live directory that is none: bad input */
        return errno == ENOENT || errno == ENOTDIR
                   ? hs_err_usage(e, errno, "not a directory to compare", ref->dir)
                   : hs_err_path(e, errno, "cannot open", ref->dir);
    if (root < 0)
        return root;
    if (!*ref->sub) {
        if (fstat(root, st) < 0) {
            close(root);
            return hs_err_path(e, errno, "cannot stat", ref->dir);
        }
        *dirfd = root;
        return HS_DONE;
    }
    size_t slen = strlen(ref->sub);
    const char *leaf = hs_path_base(ref->sub, slen);
    int parent = hs_open_dir_beneath(root, ref->sub, hs_path_dir_len(ref->sub, slen));
    close(root);
    if (parent < 0 || fstatat(parent, leaf, st, AT_SYMLINK_NOFOLLOW) < 0) {
        int err = parent < 0 ? -parent : errno;
        if (parent >= 0)
            close(parent);
        return hs_err_usage(e, err, "no such path in the snapshot", ref->dir);
    }
    if (!S_ISDIR(st->st_mode)) {
        it->single = true;
        it->single_st = *st;
        it->single_dir = parent;
        it->single_name = strdup(leaf);
        return it->single_name ? HS_SINGLE : hs_err_setf(e, ENOMEM, "snapshot");
    }
    *dirfd = hs_open_dir(parent, leaf);
    close(parent);
    if (*dirfd < 0)
        return hs_err_path(e, errno, "cannot open", ref->dir);
    return HS_DONE;
}

/* The manifest is trusted for the tree it was made with; each record is
 * still checked against that tree (mcheck.h): a file replaced since is
 * taken from the tree. */
static int open_check(struct hs_snapiter *it, const struct hs_snapref *ref, struct hs_err *e)
{
    struct hs_err scratch = {0};
    int fd = hs_snapref_open_root(ref, &scratch);
    hs_err_clear(&scratch);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_ino != it->root.m.sino) {
        if (fd >= 0)
            close(fd);
        return hs_err_path(e, ESTALE, "snapshot changed while being opened", ref->dir);
    }
    struct timespec seal = {0};
    struct stat ms;
    if (hs_ctime_honest(fd) && hs_manifest_reader_stat(it->mr, &ms) == 0)
        seal = ms.st_mtim;
    return hs_mcheck_open(&it->check, fd, &seal, e);
}

int hs_snapiter_open(struct hs_snapiter **out, const struct hs_snapref *ref, bool walk,
                     hs_snapiter_warn_fn warn, void *user, struct hs_err *e)
{
    struct hs_snapiter *it = calloc(1, sizeof *it);
    if (!it || !(it->sub = strdup(ref->sub))) {
        free(it);
        return hs_err_setf(e, ENOMEM, "snapshot");
    }
    it->warn = warn;
    it->user = user;
    it->single_dir = -1;
    int r = 0;
    it->cur_dirfd = -1;
    if (!walk && hs_snapref_manifest(ref, &it->mr, &it->root, e) == 1) {
        it->strip = *ref->sub ? strlen(ref->sub) + 1 : 0;
        r = open_check(it, ref, e);
    } else {
        struct stat st;
        int fd = -1;
        r = open_sub(it, ref, &st, &fd, e);
        if (r == HS_DONE)
            r = hs_walk_open(&it->walk, fd, &st, "", e);
        else if (r == HS_SINGLE)
            r = 0;
    }
    if (r < 0) {
        hs_snapiter_free(it);
        return r;
    }
    *out = it;
    return 0;
}

bool hs_snapiter_from_manifest(const struct hs_snapiter *it)
{
    return it->mr != NULL;
}

void hs_snapiter_free(struct hs_snapiter *it)
{
    if (!it)
        return;
    hs_manifest_reader_free(it->mr);
    hs_mentry_copy_free(&it->root);
    hs_mcheck_free(it->check);
    if (it->have_copier)
        hs_copier_free(&it->copier);
    hs_walk_free(it->walk);
    hs_buf_free(&it->target);
    hs_xattrs_free(&it->xa);
    if (it->single_dir >= 0)
        close(it->single_dir);
    free(it->single_name);
    free(it->sub);
    free(it);
}

static int read_target_at(struct hs_snapiter *it, int dirfd, const char *name, size_t size)
{
    hs_buf_truncate(&it->target, 0);
    if (hs_buf_reserve(&it->target, size + 1) < 0)
        return -ENOMEM;
    ssize_t n = readlinkat(dirfd, name, it->target.data, size + 1);
    if (n < 0)
        return -errno;
    if ((size_t)n > size)
        n = (ssize_t)size; /* grew meanwhile: what the stat said */
    it->target.len = (size_t)n;
    it->target.data[n] = '\0';
    return 0;
}

/* An entry seen by a walk, as a record (no content hash). */
static int record_of(struct hs_snapiter *it, const char *path, size_t len, int dirfd,
                     const char *name, const struct stat *st)
{
    memset(&it->cur, 0, sizeof it->cur);
    hs_mentry_from_stat(&it->cur, st);
    it->cur.path = path;
    it->cur.path_len = len;
    it->cur.sino = st->st_ino;
    it->cur.sblocks = (uint64_t)st->st_blocks;
    it->cur_dirfd = dirfd;
    it->cur_name = name;
    if (S_ISLNK(st->st_mode)) {
        int r = read_target_at(it, dirfd, name, (size_t)st->st_size);
        if (r < 0)
            return r;
        it->cur.target = it->target.data;
        it->cur.target_len = it->target.len;
    }
    it->xattrs_known = false;
    if (it->want_xattrs && !S_ISDIR(st->st_mode) &&
        hs_xattr_read(&it->xa, (struct hs_xobj){.fd = -1, .dirfd = dirfd, .name = name},
                      geteuid() == 0) == 0) {
        it->xattrs_known = true;
        it->cur.xattr_hash = hs_xattr_hash(&it->xa);
        if (it->cur.xattr_hash)
            it->cur.flags |= HS_ME_XATTR;
    }
    return 0;
}

/* The next record of the manifest (its path as stored), 1, or 0 at the end. */
static int next_record(struct hs_snapiter *it, const struct hs_mentry **rec, struct hs_err *e)
{
    if (!it->started && *it->sub) {
        it->started = true;
        int k = hs_manifest_seek(it->mr, it->sub, strlen(it->sub), rec, e);
        return k == 0 ? hs_err_usage(e, ENOENT, "no such path in the snapshot", it->sub) : k;
    }
    if (!it->started) {
        it->started = true;
        *rec = &it->root.m;
        return 1;
    }
    return hs_manifest_next(it->mr, rec, e);
}

/* rec's path relative to the iterated subtree (into path and len); false when
 * rec is past the subtree. */
static bool in_subtree(const struct hs_snapiter *it, const struct hs_mentry *rec, const char **path,
                       size_t *len)
{
    *path = rec->path;
    *len = rec->path_len;
    if (!it->strip)
        return true;
    size_t n = it->strip - 1;
    if (rec->path_len < n || memcmp(rec->path, it->sub, n) != 0 ||
        (rec->path_len > n && rec->path[n] != '/'))
        return false;
    *path = rec->path_len == n ? "" : rec->path + it->strip;
    *len = rec->path_len == n ? 0 : rec->path_len - it->strip;
    return true;
}

/* A regular file of the tree that its record cannot vouch for: hashed, so
 * that its content is compared, not assumed. */
static int hash_at(struct hs_snapiter *it, int dirfd, const char *name, const struct stat *want,
                   uint8_t hash[16])
{
    if (!it->have_copier) {
        if (hs_copier_init(&it->copier, HS_COPY_AUTO) < 0)
            return -ENOMEM;
        it->have_copier = true;
    }
    int fd = hs_open_file_read(dirfd, name);
    if (fd < 0)
        return -errno;
    struct stat st;
    struct hs_err scratch = {0};
    int r = fstat(fd, &st) < 0                                      ? -errno
            : !S_ISREG(st.st_mode) || !hs_stat_same_file(&st, want) ? -ESTALE
                                                                    : 0;
    if (r == 0)
        r = hs_hash_fd(&it->copier, fd, &st, hash, name, &scratch);
    hs_err_clear(&scratch);
    close(fd);
    return r;
}

/* The tree's entry in place of a record it does not match (path as the
 * iterator gives it). 1, or 0: nothing to give for it. */
static int from_tree(struct hs_snapiter *it, const char *path, size_t len, int dirfd,
                     const char *name, const struct stat *st)
{
    iter_warn(it, 0,
              "not the file its manifest recorded (the snapshot was changed since it was made)",
              path);
    int r = record_of(it, path, len, dirfd, name, st);
    if (r == 0 && S_ISREG(st->st_mode) && (r = hash_at(it, dirfd, name, st, it->cur.hash)) == 0)
        it->cur.flags |= HS_ME_HASH;
    if (r < 0) {
        iter_warn(it, -r, "cannot read", path);
        return 0;
    }
    it->reread = true;
    return 1;
}

static int from_manifest(struct hs_snapiter *it, const struct hs_mentry **m, struct hs_err *e)
{
    for (;;) {
        const struct hs_mentry *rec;
        int k = next_record(it, &rec, e);
        if (k <= 0)
            return k;
        const char *path;
        size_t len;
        if (!in_subtree(it, rec, &path, &len))
            return 0;
        struct stat st;
        int dirfd;
        const char *name;
        k = it->check ? hs_mcheck_record(it->check, rec, &st, &dirfd, &name) : 1;
        if (k == 1) {
            it->cur = *rec;
            it->cur.path = path;
            it->cur.path_len = len;
            *m = &it->cur;
            return 1;
        }
        if (k == 0 && from_tree(it, path, len, dirfd, name, &st)) {
            *m = &it->cur;
            return 1;
        }
        if (k == -ENOENT)
            iter_warn(it, 0, "in the snapshot's manifest, but not in the snapshot", path);
        else if (k < 0)
            iter_warn(it, -k, "cannot check against the snapshot", path);
    }
}

static int from_walk(struct hs_snapiter *it, const struct hs_mentry **m, struct hs_err *e)
{
    struct hs_walk_item w;
    int r;
    while ((r = hs_walk_next(it->walk, &w, e)) == 0 && w.ev != HS_WALK_END) {
        if (w.ev == HS_WALK_ERROR || w.ev == HS_WALK_FATAL) {
            iter_warn(it, w.err, w.what, w.path);
            continue;
        }
        if (w.ev == HS_WALK_LEAVE || (w.ev == HS_WALK_ENTER && w.depth > 0))
            continue;
        r = record_of(it, w.path, w.path_len, w.fd, w.name, &w.st);
        if (r < 0) {
            iter_warn(it, -r, "cannot read symlink", w.path);
            continue;
        }
        *m = &it->cur;
        return 1;
    }
    return r < 0 ? r : 0;
}

int hs_snapiter_next(struct hs_snapiter *it, const struct hs_mentry **m, struct hs_err *e)
{
    if (it->done)
        return 0;
    it->reread = false;
    int k;
    if (it->single) {
        it->done = true;
        k = record_of(it, "", 0, it->single_dir, it->single_name, &it->single_st);
        if (k < 0)
            return hs_err_path(e, -k, "cannot read", it->sub);
        *m = &it->cur;
        return 1;
    }
    k = it->mr ? from_manifest(it, m, e) : from_walk(it, m, e);
    if (k <= 0)
        it->done = true;
    return k;
}

bool hs_snapiter_reread(const struct hs_snapiter *it)
{
    return it->reread;
}

void hs_snapiter_want_xattrs(struct hs_snapiter *it)
{
    it->want_xattrs = true;
}

bool hs_snapiter_xattrs_known(const struct hs_snapiter *it)
{
    /* a backup records a directory before it reads its attributes */
    if (it->cur.type == HS_FT_DIR)
        return false;
    return it->mr && !it->reread ? true : it->xattrs_known;
}

int hs_snapiter_hash_current(struct hs_snapiter *it, uint8_t hash[16])
{
    if (it->mr || it->cur_dirfd < 0 || it->cur.type != HS_FT_REG)
        return -EINVAL;
    struct stat st;
    if (fstatat(it->cur_dirfd, it->cur_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return hash_at(it, it->cur_dirfd, it->cur_name, &st, hash);
}
