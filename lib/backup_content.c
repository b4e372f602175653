/*
 * Content links: a regular file with nothing to link at its own path (new,
 * renamed, moved, or changed) is looked up by its XXH3-128 in the previous
 * snapshot's content index (cindex.h), and linked to a file there with the
 * same content, mode, mtime and owner (and extended attributes): renaming a
 * folder costs no data.
 *
 * The index is opened (or built from the manifest) only when the first such
 * file comes, so a backup where every path matches never touches it. A file
 * is hashed before it is copied only when the index holds some file of its
 * size (a 16 KiB filter), so a new file with a size nothing has costs no
 * extra read.
 *
 * The snapshot's hard links must stay the source's: an inode linked by
 * content belongs to that source file for this run (the claims table), and
 * from the first content link on, every link from the previous snapshot
 * checks the claims. An inode whose only name lies before this file in walk
 * order was either linked there already (then it is taken) or not; the new
 * tree says which.
 */
#include "cindex.h"
#include "engine.h"
#include "fsutil.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The previous snapshot's directory, if it is the one its trusted
 * manifest names: kept open for the run, or -1. */
static int prev_root(struct engine *g)
{
    if (g->prevrootfd >= 0 || !g->prev_root_ino)
        return g->prevrootfd;
    struct stat st;
    int fd = hs_open_dir_stat(g->store.destfd, g->prev_name, &st);
    if (fd >= 0 && st.st_ino != g->prev_root_ino) {
        close(fd);
        fd = -1;
    }
    return g->prevrootfd = fd;
}

static bool replica(const struct engine *g)
{
    return g->o->flags & HS_BACKUP_REPLICA;
}

static bool open_cindex(struct engine *g)
{
    if (g->cindex_state != 0)
        return g->cindex_state > 0;
    g->cindex_state = -1;
    if (!g->prev_root_ino)
        return false;
    struct hs_err e = {0};
    /* a replica links by its store's inodes, never by content alone */
    int k = prev_root(g) < 0 ? -ENOENT
            : replica(g)     ? hs_cindex_open_or_build_by_inode(&g->cindex, g->store.manifestsfd,
                                                                g->prev_name, g->prev_root_ino, &e)
                         : hs_cindex_open_or_build(&g->cindex, g->store.manifestsfd, g->prev_name,
                                                   g->prev_root_ino, &e);
    if (k < 0) {
        if (e.msg) {
            char msg[512];
            snprintf(msg, sizeof msg, "no content links this run (%s)", e.msg);
            hs_report_notice_once(&g->rep, NOTICE_CINDEX, msg);
        }
        hs_err_clear(&e);
        return false;
    }
    g->cindex_state = 1;
    return true;
}

/* Same mode, mtime, and owner (where it can be kept): linking shares them. */
static bool same_meta(const struct engine *g, const struct stat *src, const struct stat *inode)
{
    return src->st_mode == inode->st_mode && src->st_mtim.tv_sec == inode->st_mtim.tv_sec &&
           src->st_mtim.tv_nsec == inode->st_mtim.tv_nsec &&
           (!g->root || (src->st_uid == inode->st_uid && src->st_gid == inode->st_gid));
}

/* Whether path is relative with no empty, "." or ".." component: an index
 * (or a table) never leads out of the tree it names. */
static bool plain_relative(const char *path, size_t len)
{
    for (size_t at = 0; at <= len;) {
        const char *end = memchr(path + at, '/', len - at);
        size_t n = end ? (size_t)(end - path) - at : len - at;
        if (n == 0 || (n == 1 && path[at] == '.') ||
            (n == 2 && path[at] == '.' && path[at + 1] == '.'))
            return false;
        at += n + 1;
    }
    return true;
}

/* The directory holding path (len bytes) below rootfd, and its last
 * component in name: an fd to close with close_parent, or -1. */
static int open_parent(int rootfd, const char *path, size_t len, char name[NAME_MAX + 1])
{
    if (!plain_relative(path, len))
        return -1;
    size_t dl = hs_path_dir_len(path, len);
    const char *base = hs_path_base(path, len);
    size_t bl = len - (size_t)(base - path);
    if (bl == 0 || bl > NAME_MAX)
        return -1;
    memcpy(name, base, bl);
    name[bl] = '\0';
    int fd = base > path ? hs_open_dir_beneath(rootfd, path, dl) : rootfd;
    return fd < 0 ? -1 : fd;
}

static void close_parent(int fd, int rootfd)
{
    if (fd >= 0 && fd != rootfd)
        close(fd);
}

int hs_eng_prev_file(struct engine *g, const char *path, size_t len)
{
    char name[NAME_MAX + 1];
    int root = prev_root(g);
    int pfd = root >= 0 ? open_parent(root, path, len, name) : -1;
    int fd = pfd >= 0 ? hs_open_regular(pfd, name, O_RDONLY, 0) : -1;
    close_parent(pfd, root);
    return fd < 0 ? -1 : fd;
}

/* Whether the new tree already holds c's inode at c's path: the source
 * file there was linked to it earlier in this walk. */
static bool taken_at_its_path(struct engine *g, const struct hs_centry *c)
{
    char name[NAME_MAX + 1];
    int root = hs_writer_root(&g->wr);
    int fd = open_parent(root, c->path, c->path_len, name);
    struct stat st;
    bool taken =
        fd >= 0 && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == c->sino;
    close_parent(fd, root);
    return taken;
}

/* Puts a link to dirfd/name at it->name in the new tree; with replace, over
 * the copy already there (linked to a temporary name, then renamed over it,
 * so a failed link keeps the copy). HS_DONE, HS_NO_LINK (keep or make a
 * copy), <0 fatal. */
static int place_link(struct engine *g, const struct hs_walk_item *it, int dirfd, const char *name,
                      bool replace)
{
    char tmp[64];
    const char *as = replace ? hs_writer_tmp_name(&g->wr, tmp, sizeof tmp) : it->name;
    int r = hs_writer_link(&g->wr, dirfd, name, as, it->path);
    if (r == HS_DONE && replace)
        r = hs_writer_install(&g->wr, as, it->name, it->path);
    return r;
}

/* Whether the source still holds, at the candidate's path (met later in
 * this walk), a file that will be linked to the inode there by path: the
 * inode stays with its path, and a copy of it made elsewhere is copied. */
static bool kept_at_its_path(struct engine *g, const struct hs_centry *c, const struct stat *inode)
{
    for (size_t i = 0; i < g->n_sources; i++) {
        const char *name = g->sources[i].src->name;
        size_t pl = name ? strlen(name) : 0;
        if (name && (c->path_len <= pl + 1 || memcmp(c->path, name, pl) || c->path[pl] != '/'))
            continue;
        const char *rel = c->path + (name ? pl + 1 : 0);
        char base[NAME_MAX + 1];
        int root = open(g->sources[i].src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            return false;
        int dfd = open_parent(root, rel, c->path_len - (size_t)(rel - c->path), base);
        struct stat st;
        bool kept = dfd >= 0 && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(st.st_mode) && st.st_size == inode->st_size && same_meta(g, &st, inode);
        close_parent(dfd, root);
        close(root);
        return kept;
    }
    return false;
}

/* Whether the candidate's inode may take this file's name: with --dedup
 * always; else if no other source file of this run has it or will.
 * HS_DONE, HS_NO_LINK, <0. */
static int may_take(struct engine *g, const struct hs_walk_item *it, const struct hs_centry *c,
                    const struct stat *inode)
{
    if (g->o->flags & HS_BACKUP_DEDUP)
        return HS_DONE;
    int order = hs_path_cmp(c->path, c->path_len, it->path, it->path_len);
    if (order < 0 && c->nlink <= 1 && taken_at_its_path(g, c))
        return HS_NO_LINK;
    if (order > 0 && kept_at_its_path(g, c, inode))
        return HS_NO_LINK;
    return hs_eng_claim_inode(g, c->sino, &it->st);
}

/* Links c's file at it->name if it is the inode the index names and its
 * metadata is src's (replacing the copy there with replace): HS_DONE,
 * HS_NO_LINK, <0 fatal. */
static int link_candidate(struct engine *g, const struct hs_walk_item *it,
                          const struct hs_centry *c, const struct stat *src, bool replace)
{
    char name[NAME_MAX + 1];
    int pfd = open_parent(g->prevrootfd, c->path, c->path_len, name);
    if (pfd < 0)
        return HS_NO_LINK;
    struct stat pst;
    int r = HS_NO_LINK;
    if (fstatat(pfd, name, &pst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(pst.st_mode) &&
        pst.st_ino == c->sino && (uint64_t)pst.st_size == c->size && same_meta(g, src, &pst) &&
        !hs_eng_source_is_store_inode(g, it, pst.st_ino))
        r = may_take(g, it, c, &pst);
    if (r == HS_DONE)
        r = place_link(g, it, pfd, name, replace);
    close_parent(pfd, g->prevrootfd);
    if (r == HS_DONE)
        hs_eng_rec_linked(g, &pst, c->hash, c->xattr_hash);
    return r;
}

/* A file whose data was not written again: counted, and told with -v. */
static void count_saved(struct engine *g, const struct hs_walk_item *it, uint64_t *counter,
                        uint64_t size, enum hs_event_type ev)
{
    ++*counter;
    g->st->bytes_content_linked += size;
    if (g->o->verbose_events)
        hs_report_event(&g->rep, ev, it->path, NULL);
}

/* ---- clones: the same content under other metadata ------------------- */

/* The previous snapshot's file of c, opened for reading if it is the inode
 * the index names; -1 otherwise. */
static int open_candidate(struct engine *g, const struct hs_centry *c)
{
    char name[NAME_MAX + 1];
    int pfd = open_parent(g->prevrootfd, c->path, c->path_len, name);
    if (pfd < 0)
        return -1;
    /* a fifo put in the store's place must not hang the night (and its lock) */
    int fd = hs_open_regular(pfd, name, O_RDONLY, 0);
    close_parent(pfd, g->prevrootfd);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != c->sino ||
                    (uint64_t)st.st_size != c->size)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The new file as a clone of cfd (FICLONE: extents shared, nothing copied),
 * with the source's metadata: HS_DONE, HS_NO_LINK (not possible: copy
 * it), <0 fatal.
 * The source was hashed just before and must not have changed since. */
static int clone_into(struct engine *g, const struct hs_walk_item *it, int cfd,
                      const uint8_t hash[16])
{
    struct hs_tree *t = g->cur->tree;
    struct hs_err e = {0};
    struct stat sst, dst;
    int sfd = t->ops->open(t, it, &sst, &e);
    hs_err_clear(&e);
    if (sfd < 0 || hs_eng_changed_while_read(&sst, &it->st)) {
        if (sfd >= 0)
            close(sfd);
        return HS_NO_LINK;
    }
    int dfd = hs_writer_file(&g->wr, it->name, it->path);
    if (dfd < 0) {
        close(sfd);
        return dfd;
    }
    int r = HS_DONE;
    if (ioctl(dfd, FICLONE, cfd) < 0) {
        g->no_reflink = true; /* the store's file system shares no extents */
        r = HS_NO_LINK;
    } else if (fstat(dfd, &dst) < 0) {
        r = hs_eng_fail_new(g, errno, "cannot stat", it->path);
    } else {
        hs_eng_source_xattrs(g, it, sfd);
        r = hs_eng_apply_meta(g, (struct hs_xobj){.fd = dfd}, &it->st, &dst, it->path);
    }
    close(sfd);
    close(dfd);
    if (r != HS_DONE) {
        hs_writer_unmake(&g->wr, it->name);
        return r;
    }
    g->rec.sino = dst.st_ino;
    g->rec.sblocks = (uint64_t)dst.st_blocks;
    g->rec.flags = HS_ME_HASH | (g->xa.count ? HS_ME_XATTR : 0);
    g->rec.xattr_hash = g->xa.count ? hs_xattr_hash(&g->xa) : 0;
    memcpy(g->rec.hash, hash, 16);
    return HS_DONE;
}

/* A clone of the first candidate with this content whatever its metadata. */
static int clone_first(struct engine *g, const struct hs_walk_item *it, const uint8_t hash[16],
                       uint64_t size)
{
    size_t first, n = hs_cindex_find(g->cindex, hash, size, &first);
    for (size_t i = first; i < first + n && !g->no_reflink; i++) {
        struct hs_centry c;
        if (hs_cindex_get(g->cindex, i, &c) < 0 || hs_cindex_read_path(g->cindex, &c) < 0)
            return HS_NO_LINK;
        int cfd = open_candidate(g, &c);
        if (cfd < 0)
            continue;
        int r = clone_into(g, it, cfd, hash);
        close(cfd);
        if (r == HS_DONE)
            count_saved(g, it, &g->st->cloned, size, HS_EV_COPY);
        if (r != HS_NO_LINK)
            return r;
    }
    return HS_NO_LINK;
}

/* The first candidate of (hash, size, xattrs) that links: HS_DONE,
 * HS_NO_LINK (none), <0. */
static int link_first(struct engine *g, const struct hs_walk_item *it, const uint8_t hash[16],
                      uint64_t size, uint64_t xh, const struct stat *src, uint64_t tried_ino,
                      bool replace)
{
    size_t first, n = hs_cindex_find(g->cindex, hash, size, &first);
    for (size_t i = first; i < first + n; i++) {
        struct hs_centry c;
        if (hs_cindex_get(g->cindex, i, &c) < 0)
            return HS_NO_LINK;
        if (c.xattr_hash != xh || c.sino == tried_ino || hs_eng_claimed_by_other(g, it, c.sino))
            continue;
        if (hs_cindex_read_path(g->cindex, &c) < 0)
            return HS_NO_LINK;
        int r = link_candidate(g, it, &c, src, replace);
        if (r == HS_DONE)
            count_saved(g, it, &g->st->content_linked, size, HS_EV_LINK);
        if (r != HS_NO_LINK)
            return r;
    }
    return HS_NO_LINK;
}

/* Whether content links may apply to this file at all. */
static bool content_candidate(struct engine *g, uint64_t size)
{
    return !g->dry_run && size > 0 && new_top(g) >= 0 && open_cindex(g) &&
           hs_cindex_maybe_size(g->cindex, size);
}

bool hs_eng_content_copy_first(const struct engine *g, bool same_size_before)
{
    switch (g->o->content_order) {
    case HS_CONTENT_HASH_FIRST:
        return false;
    case HS_CONTENT_COPY_FIRST:
        return true;
    default:
        /* rewritten in place, likely: its own old version passes the size
         * filter, and hashing first would read it twice for nothing */
        return same_size_before;
    }
}

/* A replica's file that is not the same inode at its path: the previous
 * snapshot's copy of the same inode of the store, found by that inode
 * wherever it was (a file the store moved and linked). */
static int link_same_inode(struct engine *g, const struct hs_walk_item *it, uint64_t tried_ino)
{
    uint8_t h[16], key[16];
    struct stat hst;
    uint64_t xh = 0;
    /* the store's hash, from its manifest (a snapshot walked without one:
     * the file is read) */
    if (hs_eng_hash_source(g, it, h, &hst, &xh) < 0)
        return HS_NO_LINK;
    hs_cindex_inode_key((uint64_t)it->st.st_ino, h, key);
    int r = link_first(g, it, key, (uint64_t)it->st.st_size, xh, &it->st, tried_ino, false);
    if (r == HS_DONE)
        memcpy(g->rec.hash, h, 16); /* the index's key is no content hash */
    return r;
}

int hs_eng_link_by_content(struct engine *g, const struct hs_walk_item *it, uint64_t tried_ino)
{
    if (!content_candidate(g, (uint64_t)it->st.st_size))
        return HS_NO_LINK;
    if (replica(g))
        return link_same_inode(g, it, tried_ino);
    uint8_t h[16];
    struct stat hst;
    uint64_t xh = 0;
    if (g->src_hashed) {
        memcpy(h, g->src_hash, 16);
        xh = g->src_xattr_hash;
    } else if (hs_eng_hash_source(g, it, h, &hst, &xh) < 0 ||
               hs_eng_changed_while_read(&hst, &it->st)) {
        return HS_NO_LINK;
    } else {
        g->st->hashed++;
    }
    int r = link_first(g, it, h, (uint64_t)it->st.st_size, xh, &it->st, tried_ino, false);
    if (r == HS_NO_LINK && !g->no_reflink)
        r = clone_first(g, it, h, (uint64_t)it->st.st_size);
    return r;
}

int hs_eng_content_after_copy(struct engine *g, const struct hs_walk_item *it,
                              const struct stat *st, uint64_t tried_ino)
{
    if (replica(g) || !content_candidate(g, g->rec.size))
        return HS_NO_LINK;
    uint8_t h[16];
    memcpy(h, g->rec.hash, 16);
    uint64_t xh = hs_mentry_xattr_hash(&g->rec);
    int r = link_first(g, it, h, g->rec.size, xh, st, tried_ino, true);
    if (r == HS_DONE)
        g->st->copied--;
    return r;
}

/* ---- --dedup: equal new files of this run share one inode ------------ */

/* What a copy of this run needs to be shared by a later equal file. */
struct dedup_val {
    uint64_t size, sino, sblocks, xattr_hash, path_off;
    int64_t mtime_sec;
    uint32_t mtime_nsec, mode, uid, gid, path_len;
    uint8_t hash[16]; /* the table's key, less the bit that keeps it storable */
};

static bool same_copy(const struct dedup_val *v, const struct hs_mentry *rec)
{
    return memcmp(v->hash, rec->hash, 16) == 0 && v->size == rec->size && v->mode == rec->mode &&
           v->uid == rec->uid && v->gid == rec->gid && v->mtime_sec == rec->mtime_sec &&
           v->mtime_nsec == rec->mtime_nsec && v->xattr_hash == hs_mentry_xattr_hash(rec);
}

static void remember_copy(struct engine *g, struct dedup_val *v, const char *path, size_t len)
{
    *v = (struct dedup_val){.size = g->rec.size,
                            .sino = g->rec.sino,
                            .sblocks = g->rec.sblocks,
                            .xattr_hash = hs_mentry_xattr_hash(&g->rec),
                            .path_off = g->dedup_paths.len,
                            .mtime_sec = g->rec.mtime_sec,
                            .mtime_nsec = g->rec.mtime_nsec,
                            .mode = g->rec.mode,
                            .uid = g->rec.uid,
                            .gid = g->rec.gid,
                            .path_len = (uint32_t)len};
    memcpy(v->hash, g->rec.hash, 16);
    if (hs_buf_append(&g->dedup_paths, path, len) < 0 || hs_buf_putc(&g->dedup_paths, '\0') < 0)
        v->path_len = UINT32_MAX; /* never matched: a link needs the path */
}

/* Replaces the new copy it->name by a link to the earlier copy v. HS_DONE
 * shared, HS_NO_LINK kept, <0 fatal. */
static int share_copy(struct engine *g, const struct hs_walk_item *it, const struct dedup_val *v)
{
    char name[NAME_MAX + 1];
    int root = hs_writer_root(&g->wr);
    int dfd = open_parent(root, g->dedup_paths.data + v->path_off, v->path_len, name);
    if (dfd < 0)
        return HS_NO_LINK;
    int r = place_link(g, it, dfd, name, true);
    close_parent(dfd, root);
    if (r == HS_DONE) {
        g->rec.sino = v->sino;
        g->rec.sblocks = v->sblocks;
    }
    return r;
}

int hs_eng_dedup_copy(struct engine *g, const struct hs_walk_item *it)
{
    if (!(g->o->flags & HS_BACKUP_DEDUP) || g->dry_run || g->rec.size == 0)
        return HS_DONE;
    if (!g->dedup.slots && hs_inomap_init(&g->dedup, sizeof(struct dedup_val)) < 0)
        return hs_err_setf(g->err, ENOMEM, "dedup table");
    uint64_t k1, k2;
    memcpy(&k1, g->rec.hash, 8);
    memcpy(&k2, g->rec.hash + 8, 8);
    /* never the one key inomap cannot hold, (UINT64_MAX, 0); the whole hash
     * is compared below */
    k2 |= 1;
    bool fresh;
    struct dedup_val *v = hs_inomap_get(&g->dedup, k1, k2, &fresh);
    if (!v)
        return hs_err_setf(g->err, ENOMEM, "dedup table");
    if (fresh) {
        remember_copy(g, v, it->path, it->path_len);
        return HS_DONE;
    }
    if (v->path_len == UINT32_MAX || !same_copy(v, &g->rec))
        return HS_DONE;
    struct dedup_val found = *v;
    int r = share_copy(g, it, &found);
    if (r != HS_DONE)
        return r < 0 ? r : HS_DONE;
    g->st->copied--;
    g->st->content_linked++;
    g->st->bytes_content_linked += found.size;
    return HS_DONE;
}

void hs_eng_content_free(struct engine *g)
{
    hs_inomap_free(&g->dedup);
    hs_buf_free(&g->dedup_paths);
    hs_cindex_close(g->cindex);
    g->cindex = NULL;
    if (g->prevrootfd >= 0)
        close(g->prevrootfd);
    g->prevrootfd = -1;
}

int hs_eng_open_content(struct engine *g, const uint8_t hash[16], uint64_t size)
{
    if (!open_cindex(g))
        return -1;
    size_t first, n = hs_cindex_find(g->cindex, hash, size, &first);
    for (size_t i = first; i < first + n; i++) {
        struct hs_centry c;
        if (hs_cindex_get(g->cindex, i, &c) < 0 || hs_cindex_read_path(g->cindex, &c) < 0)
            return -1;
        int fd = open_candidate(g, &c);
        if (fd >= 0)
            return fd;
    }
    return -1;
}
