/*
 * hardsnap versions: the distinct versions of one path across the snapshots
 * of a store, oldest first, with the stretches in which it did not exist.
 *
 * Each snapshot is asked for the one path: through its manifest's block
 * index (one block read, whatever the tree's size) when the manifest
 * describes this snapshot directory, else by fstatat on the tree, walking
 * the components with O_NOFOLLOW. Consecutive snapshots hold the same
 * version when they share the inode or the content hash; without a hash
 * (no manifest), when type, size and mtime are equal.
 */
#include "fsutil.h"
#include "hardsnap.h"
#include "manifest.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one snapshot holds at the path. */
struct sighting {
    bool present;
    uint64_t sino; /* 0 = unknown */
    struct hs_file_version v;
};

/* The path without leading, trailing or repeated slashes and "." parts;
 * -EINVAL if it has ".." or names the root. */
static int clean_path(const char *in, struct hs_buf *out)
{
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return -EINVAL;
        if (n && !(n == 1 && p[0] == '.')) {
            if ((out->len && hs_buf_putc(out, '/') < 0) || hs_buf_append(out, p, n) < 0)
                return -ENOMEM;
        }
        p += n;
    }
    return out->len ? 0 : -EINVAL;
}

/* The manifest's HS_FT_* are its on-disk format; the API has its own names. */
static enum hs_entry_type entry_type(uint8_t ftype)
{
    switch (ftype) {
    case HS_FT_REG:
        return HS_ENTRY_FILE;
    case HS_FT_DIR:
        return HS_ENTRY_DIR;
    case HS_FT_LNK:
        return HS_ENTRY_SYMLINK;
    case HS_FT_FIFO:
        return HS_ENTRY_FIFO;
    case HS_FT_CHR:
        return HS_ENTRY_CHAR;
    case HS_FT_BLK:
        return HS_ENTRY_BLOCK;
    case HS_FT_SOCK:
        return HS_ENTRY_SOCKET;
    }
    return HS_ENTRY_UNKNOWN;
}

static void from_record(struct sighting *s, const struct hs_mentry *m)
{
    s->present = true;
    s->sino = m->sino;
    s->v.type = entry_type(m->type);
    s->v.mode = m->mode;
    s->v.size = m->size;
    s->v.mtime_sec = m->mtime_sec;
    s->v.mtime_nsec = m->mtime_nsec;
    s->v.has_hash = m->flags & HS_ME_HASH;
    if (s->v.has_hash)
        memcpy(s->v.hash, m->hash, sizeof s->v.hash);
}

/* Whether the manifest of name describes the directory with inode root_ino. */
static bool manifest_trusted(const struct hs_store *st, const char *mname, ino_t root_ino)
{
    struct hs_manifest_reader *rd;
    bool ok = hs_manifest_open_trusted(st->manifestsfd, mname, root_ino, &rd, NULL) == 1;
    hs_manifest_reader_free(rd);
    return ok;
}

/* 1 when the manifest answered (s filled, present or not), 0 when there is
 * no trustworthy manifest to ask. */
static int look_in_manifest(const struct hs_store *st, const char *name, ino_t root_ino,
                            const struct hs_buf *path, struct sighting *s)
{
    char mname[64];
    hs_store_manifest_name(name, mname);
    if (!manifest_trusted(st, mname, root_ino))
        return 0;
    struct hs_mentry_copy c = {0};
    struct hs_err scratch = {0};
    int k = hs_manifest_find(st->manifestsfd, mname, path->data, path->len, &c, &scratch);
    if (k == 1)
        from_record(s, &c.m);
    hs_mentry_copy_free(&c);
    hs_err_clear(&scratch);
    return k >= 0; /* a damaged block: ask the tree instead */
}

/* fstatat of the path in the snapshot, no symlink followed on the way. */
static int look_in_tree(const struct hs_store *st, const char *name, const struct hs_buf *path,
                        struct sighting *s, struct hs_err *e)
{
    int root = hs_open_dir(st->destfd, name);
    if (root < 0)
        return hs_err_path(e, errno, "cannot open snapshot", name);
    const char *leaf = hs_path_base(path->data, path->len);
    int dir = hs_open_dir_beneath(root, path->data, hs_path_dir_len(path->data, path->len));
    close(root);
    struct stat sb;
    int err = dir < 0 ? -dir : fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    if (dir >= 0)
        close(dir);
    if (err == ENOENT || err == ENOTDIR || err == ELOOP)
        return 0; /* not there (a component is no directory: not there either) */
    if (err)
        return hs_err_path(e, err, "cannot look up", path->data);
    struct hs_mentry m = {0};
    hs_mentry_from_stat(&m, &sb);
    m.sino = sb.st_ino;
    from_record(s, &m);
    return 0;
}

enum { SNAP_GONE = 1 };

/* What snapshot name holds at path: 0, SNAP_GONE (removed meanwhile), <0. */
static int look(const struct hs_store *st, const char *name, const struct hs_buf *path,
                struct sighting *s, struct hs_err *e)
{
    memset(s, 0, sizeof *s);
    struct stat root;
    if (fstatat(st->destfd, name, &root, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? SNAP_GONE : hs_err_path(e, errno, "cannot stat snapshot", name);
    if (look_in_manifest(st, name, root.st_ino, path, s))
        return 0;
    int r = look_in_tree(st, name, path, s, e);
    if (r == -ENOENT) { /* the snapshot itself went (pruned) */
        hs_err_clear(e);
        return SNAP_GONE;
    }
    return r;
}

/* Whether b (the next snapshot) holds the same version as a. */
static bool same_version(const struct sighting *a, const struct sighting *b)
{
    if (a->present != b->present)
        return false;
    if (!a->present)
        return true;
    if (a->v.type != b->v.type)
        return false;
    if (a->sino && a->sino == b->sino)
        return true;
    if (a->v.has_hash && b->v.has_hash)
        return memcmp(a->v.hash, b->v.hash, sizeof a->v.hash) == 0;
    return a->v.size == b->v.size && a->v.mtime_sec == b->v.mtime_sec &&
           a->v.mtime_nsec == b->v.mtime_nsec;
}

/* The line being built: its first sighting and the latest. */
struct run {
    bool open;
    struct hs_file_version v;
    struct sighting prev;
};

static void run_add(struct run *run, const struct sighting *s, const char *name, hs_version_fn fn,
                    void *user)
{
    if (run->open && same_version(&run->prev, s)) {
        run->v.snapshots++;
        memcpy(run->v.last, name, HS_SNAPSHOT_NAME_LEN + 1);
        run->prev = *s;
        return;
    }
    if (run->open)
        fn(&run->v, user);
    run->open = true;
    run->v = s->v;
    run->v.present = s->present;
    run->v.snapshots = 1;
    memcpy(run->v.first, name, HS_SNAPSHOT_NAME_LEN + 1);
    memcpy(run->v.last, name, HS_SNAPSHOT_NAME_LEN + 1);
    run->prev = *s;
}

static int each_snapshot(const struct hs_store *st, const struct hs_buf *path, hs_version_fn fn,
                         void *user, struct hs_err *e)
{
    char **names = NULL;
    size_t n = 0;
    int r = hs_store_list(st, &names, &n, e);
    struct run run = {0};
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct sighting s;
        r = look(st, names[i], path, &s, e);
        if (r == 0)
            run_add(&run, &s, names[i], fn, user);
        else if (r == SNAP_GONE)
            r = 0;
    }
    if (r == 0 && run.open)
        fn(&run.v, user);
    hs_store_list_free(names, n);
    return r;
}

enum hs_status hs_versions(const char *dest, const char *path, hs_version_fn fn, void *user,
                           struct hs_err *err)
{
    struct hs_buf p = {0};
    int r = clean_path(path, &p);
    if (r < 0) {
        hs_buf_free(&p);
        if (r == -ENOMEM)
            return hs_err_setf(err, ENOMEM, "versions"), HS_FAILED;
        hs_err_path(err, 0, "not a path inside the snapshots", path);
        hs_err_kind(err, HS_USAGE);
        return HS_USAGE;
    }
    struct hs_store st;
    r = hs_store_open(&st, dest, 0, err);
    if (r == 0)
        r = each_snapshot(&st, &p, fn, user, err);
    hs_store_close(&st);
    hs_buf_free(&p);
    if (r < 0)
        return err->kind == HS_USAGE ? HS_USAGE : HS_FAILED;
    return HS_OK;
}
