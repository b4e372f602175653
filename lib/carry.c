/*
 * A failed source carried forward: its part of the previous snapshot,
 * walked from the previous manifest as a tree whose entries are exactly
 * what that manifest recorded. The engine's change detection then finds
 * every one unchanged and links it (no data is read or written), keeps its
 * hard links (the recorded source inode numbers group them again), and
 * makes its directories anew with their recorded metadata and the xattrs
 * the previous snapshot's directories hold.
 */
#include "carry.h"
#include "err.h"
#include "fsutil.h"
#include "listwalk.h"
#include "manifest.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct carry {
    struct hs_tree t;
    struct hs_listwalk w;
    struct hs_manifest_reader *mr;
    int rootfd;   /* the previous snapshot */
    char *name;   /* the source's NAME: its records are NAME and NAME/... */
    char *prefix; /* "NAME/" */
    size_t nlen;
    bool first;
    bool missing;               /* the manifest has no directory NAME */
    bool by_sino;               /* a replica's source: the store's inode is the entry's */
    struct hs_mentry_copy root; /* the manifest's first record (read by the trust check) */
    struct stat opened;
};

static struct carry *of(struct hs_tree *t)
{
    return (struct carry *)t;
}

static mode_t type_bits(uint8_t type)
{
    switch (type) {
    case HS_FT_REG:
        return S_IFREG;
    case HS_FT_DIR:
        return S_IFDIR;
    case HS_FT_LNK:
        return S_IFLNK;
    case HS_FT_FIFO:
        return S_IFIFO;
    case HS_FT_CHR:
        return S_IFCHR;
    case HS_FT_BLK:
        return S_IFBLK;
    default:
        return S_IFSOCK;
    }
}

/* The recorded entry as the source looked when it was recorded (by_sino:
 * with the snapshot's inode in place of the source's). */
static void rec_of(struct hs_rec *r, const struct hs_mentry *m, size_t skip, bool by_sino)
{
    memset(r, 0, sizeof *r);
    r->kind = HS_REC_ENTRY;
    r->path = m->path + skip;
    r->path_len = m->path_len - skip;
    struct stat *st = &r->st;
    st->st_mode = type_bits(m->type) | (mode_t)(m->mode & 07777);
    st->st_uid = m->uid;
    st->st_gid = m->gid;
    st->st_size = (off_t)m->size;
    st->st_mtim.tv_sec = m->mtime_sec;
    st->st_mtim.tv_nsec = m->mtime_nsec;
    st->st_ctim.tv_sec = m->ctime_sec;
    st->st_ctim.tv_nsec = m->ctime_nsec;
    st->st_ino = by_sino && m->sino ? m->sino : m->ino;
    st->st_nlink = m->nlink ? m->nlink : 1;
    /* names --dedup made share one inode of the store: a group in a replica */
    if (by_sino && (m->flags & HS_ME_SHARED) && st->st_nlink < 2)
        st->st_nlink = 2;
    st->st_rdev = m->rdev;
    st->st_blocks = (blkcnt_t)m->sblocks;
    r->target = m->target;
    r->target_len = m->target_len;
    if (m->flags & HS_ME_HASH) {
        r->has_hash = true;
        memcpy(r->hash, m->hash, 16);
    }
}

static int read_manifest(void *user, struct hs_rec_copy *into, struct hs_err *e)
{
    struct carry *c = user;
    const struct hs_mentry *m;
    int k;
    if (c->first && !c->nlen) { /* the whole snapshot: from its root */
        c->first = false;
        m = &c->root.m;
        k = 1;
    } else if (c->first) {
        c->first = false;
        k = hs_manifest_seek(c->mr, c->name, c->nlen, &m, e);
        if (k == 1 && m->type != HS_FT_DIR)
            k = 0;
        c->missing = k == 0;
    } else {
        k = hs_manifest_next(c->mr, &m, e);
        /* (the whole snapshot, name "": every record is in it) */
        if (k == 1 && c->nlen &&
            (m->path_len <= c->nlen + 1 || memcmp(m->path, c->name, c->nlen) != 0 ||
             m->path[c->nlen] != '/'))
            k = 0;
    }
    if (k <= 0)
        return k;
    struct hs_rec r;
    rec_of(&r, m, m->path_len == c->nlen || !c->nlen ? c->nlen : c->nlen + 1, c->by_sino);
    return hs_rec_copy_set(into, &r) < 0 ? hs_err_setf(e, ENOMEM, "carry") : 1;
}

static int carry_next(struct hs_tree *t, struct hs_walk_item *it, struct hs_err *e)
{
    (void)e;
    return hs_listwalk_next(&of(t)->w, it);
}

static void carry_skip(struct hs_tree *t)
{
    hs_listwalk_skip(&of(t)->w);
}

/* The previous snapshot's directory holding the walk path's last name. */
static int parent_of(struct carry *c, const char *path, size_t len, char name[NAME_MAX + 1])
{
    size_t dl = hs_path_dir_len(path, len);
    const char *base = hs_path_base(path, len);
    size_t bl = len - (size_t)(base - path);
    if (bl == 0 || bl > NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(name, base, bl);
    name[bl] = '\0';
    return dl ? hs_open_dir_beneath(c->rootfd, path, dl) : dup(c->rootfd);
}

static int carry_open(struct hs_tree *t, const struct hs_walk_item *it, struct stat *st,
                      struct hs_err *e)
{
    struct carry *c = of(t);
    (void)e;
    char name[NAME_MAX + 1];
    int dfd = parent_of(c, it->path, it->path_len, name);
    if (dfd < 0)
        return dfd;
    int fd = hs_open_file_read(dfd, name);
    int err = errno;
    close(dfd);
    struct stat now;
    if (fd < 0)
        return -err;
    if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_size != it->st.st_size) {
        close(fd);
        return -ESTALE;
    }
    *st = c->opened = it->st;
    return fd;
}

static int carry_restat(struct hs_tree *t, int fd, struct stat *st)
{
    (void)fd;
    *st = of(t)->opened;
    return 0;
}

static int carry_xattrs(struct hs_tree *t, const struct hs_walk_item *it, int fd,
                        struct hs_xattrs *xa, bool all)
{
    struct carry *c = of(t);
    if (fd >= 0)
        return hs_xattr_read(xa, (struct hs_xobj){.fd = fd}, all);
    if (it->ev == HS_WALK_LEAVE) {
        int dfd = hs_open_dir_beneath(c->rootfd, it->path, it->path_len);
        if (dfd < 0) {
            xa->count = 0;
            return 0;
        }
        int r = hs_xattr_read(xa, (struct hs_xobj){.fd = dfd}, all);
        close(dfd);
        return r;
    }
    char name[NAME_MAX + 1];
    int dfd = parent_of(c, it->path, it->path_len, name);
    if (dfd < 0) {
        xa->count = 0;
        return 0;
    }
    int r = hs_xattr_read(xa, (struct hs_xobj){.fd = -1, .dirfd = dfd, .name = name}, all);
    close(dfd);
    return r;
}

static int carry_readlink(struct hs_tree *t, const struct hs_walk_item *it, struct hs_buf *target)
{
    (void)it;
    const struct hs_rec *r = &of(t)->w.cur.r;
    hs_buf_truncate(target, 0);
    return hs_buf_append(target, r->target, r->target_len) < 0 ? -ENOMEM : 0;
}

static int carry_known_hash(struct hs_tree *t, const struct hs_walk_item *it, uint8_t hash[16])
{
    (void)it;
    const struct hs_rec *r = &of(t)->w.cur.r;
    if (!r->has_hash)
        return -ENODATA;
    memcpy(hash, r->hash, 16);
    return 0;
}

static void carry_free(struct hs_tree *t)
{
    struct carry *c = of(t);
    hs_listwalk_free(&c->w);
    hs_manifest_reader_free(c->mr);
    hs_mentry_copy_free(&c->root);
    if (c->rootfd >= 0)
        close(c->rootfd);
    free(c->name);
    free(c->prefix);
    free(c);
}

static const struct hs_tree_ops carry_ops = {
    .next = carry_next,
    .skip = carry_skip,
    .open = carry_open,
    .restat = carry_restat,
    .xattrs = carry_xattrs,
    .readlink = carry_readlink,
    .known_hash = carry_known_hash,
    .free = carry_free,
};

static int open_carried(struct hs_tree **t, int manifestsfd, const char *mname, int destfd,
                        const char *prev, uint64_t root_ino, const char *name, bool by_sino,
                        uint64_t dev_mask, struct stat *root_st, struct hs_err *e)
{
    *t = NULL;
    struct carry *c = calloc(1, sizeof *c);
    if (!c)
        return hs_err_setf(e, ENOMEM, "carry");
    c->t.ops = &carry_ops;
    /* a replica's source: its inode numbers are the other store's, never
     * this one's, and its content is read only through the tree's ops */
    c->t.remote = by_sino;
    c->rootfd = -1;
    c->first = true;
    c->by_sino = by_sino;
    c->name = strdup(name);
    c->nlen = strlen(name);
    if (asprintf(&c->prefix, "%s%s", name, *name ? "/" : "") < 0)
        c->prefix = NULL;
    int r = c->name && c->prefix ? 0 : hs_err_setf(e, ENOMEM, "carry");
    struct stat st;
    if (r == 0 && ((c->rootfd = hs_open_dir_stat(destfd, prev, &st)) < 0 || st.st_ino != root_ino))
        r = -ENOENT;
    if (r == 0 && !hs_manifest_open_trusted(manifestsfd, mname, root_ino, &c->mr, &c->root))
        r = -ENOENT;
    c->w = (struct hs_listwalk){.read = read_manifest,
                                .user = c,
                                .prefix = c->prefix ? c->prefix : "",
                                .dev_mask = dev_mask,
                                .name = prev,
                                .err = e};
    struct hs_walk_item it;
    if (r == 0 && (r = hs_listwalk_next(&c->w, &it)) == 0 && it.ev != HS_WALK_ENTER)
        r = -ENOENT;
    if (r < 0 && c->missing) {
        hs_err_clear(e);
        r = -ENOENT;
    }
    if (r < 0) {
        carry_free(&c->t);
        return r;
    }
    *root_st = it.st;
    hs_listwalk_rewind_root(&c->w);
    *t = &c->t;
    return 0;
}

int hs_tree_open_carried(struct hs_tree **t, int manifestsfd, const char *mname, int destfd,
                         const char *prev, uint64_t root_ino, const char *name, uint64_t dev_mask,
                         struct stat *root_st, struct hs_err *e)
{
    return open_carried(t, manifestsfd, mname, destfd, prev, root_ino, name, false, dev_mask,
                        root_st, e);
}

int hs_tree_open_snapshot(struct hs_tree **t, int manifestsfd, int destfd, const char *snap,
                          uint64_t dev_mask, struct stat *root_st, struct hs_err *e)
{
    char mname[64];
    struct stat st;
    if (fstatat(destfd, snap, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return -ENOENT;
    hs_store_manifest_name(snap, mname);
    return open_carried(t, manifestsfd, mname, destfd, snap, (uint64_t)st.st_ino, "", true,
                        dev_mask, root_st, e);
}
