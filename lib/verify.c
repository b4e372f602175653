/*
 * hardsnap verify: re-reads every regular file of a snapshot and checks it
 * against the content hash its manifest recorded, and names what was removed
 * from or added to the snapshot since it was made.
 *
 * The snapshot's tree is walked and its manifest read side by side: both come
 * in walk order (hs_path_cmp), so one comparison of the two current paths
 * tells a missing entry (the manifest is behind), an added one (the walk is
 * behind) or a pair to check. A missing or added directory is named once, not
 * with everything under it.
 *
 * Files are read once per inode, keyed by the inode on disk: names of the
 * same inode (hard links in one snapshot, and across snapshots with --all)
 * are checked against the hash of that one read.
 */
#include "blockhash.h"
#include "blockmap.h"
#include "buf.h"
#include "copy.h"
#include "delta.h"
#include "fsutil.h"
#include "hardsnap.h"
#include "inomap.h"
#include "manifest.h"
#include "snapshot.h"
#include "store.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the table of inodes already read keeps of each. */
struct seen {
    int err; /* reading it failed with this errno, else 0 */
    uint8_t hash[16];
};

/* ---- the verifier ----------------------------------------------------- */

struct verifier {
    const struct hs_verify_opts *o;
    struct hs_verify_stats *st;
    struct hs_copier copier;
    struct hs_inomap seen; /* (dev, ino) -> struct seen */
    const char *snap;      /* the snapshot being verified */
    /* its manifest, NULL once exhausted or without one; cur = the next record */
    struct hs_manifest_reader *mr;
    const struct hs_mentry *cur;
    bool checking;      /* there was a manifest to check against */
    struct hs_buf skip; /* records at or under this path go unreported */
    bool have_skip;
    struct hs_walk *walk;
    /* its block map (blockmap.h), in step: a damaged big file's record says
     * which blocks differ; bh makes the read file's block hashes */
    struct hs_blockmap_reader *br;
    struct hs_blockhash bh;
};

static void problem(struct verifier *v, enum hs_verify_kind kind, const char *path, const char *msg)
{
    v->st->problems++;
    if (v->o->on_problem) {
        struct hs_verify_problem p = {.kind = kind, .snapshot = v->snap, .path = path, .msg = msg};
        v->o->on_problem(&p, v->o->user);
    }
}

static void set_skip(struct verifier *v, const char *path, size_t len)
{
    hs_buf_truncate(&v->skip, 0);
    v->have_skip = hs_buf_append(&v->skip, path, len) == 0;
}

static bool skipped(const struct verifier *v, const char *path, size_t len)
{
    size_t n = v->skip.len;
    return v->have_skip && len >= n && memcmp(path, v->skip.data, n) == 0 &&
           (len == n || path[n] == '/' || n == 0);
}

/* A damaged or unreadable manifest: what came before was verified; from here
 * on files are only read. */
static void manifest_failed(struct verifier *v, const struct hs_err *why)
{
    problem(v, HS_VERIFY_NO_MANIFEST, "", why->msg ? why->msg : "manifest cannot be read");
    hs_manifest_reader_free(v->mr);
    v->mr = NULL;
    v->cur = NULL;
}

static void advance(struct verifier *v)
{
    struct hs_err e = {0};
    int k = v->mr ? hs_manifest_next(v->mr, &v->cur, &e) : 0;
    if (k <= 0)
        v->cur = NULL;
    if (k < 0)
        manifest_failed(v, &e);
    hs_err_clear(&e);
}

/* Reports the manifest's records before path (all of them if path is NULL)
 * as missing from the snapshot. */
static void missing_before(struct verifier *v, const char *path, size_t len)
{
    while (v->cur && (!path || hs_path_cmp(v->cur->path, v->cur->path_len, path, len) < 0)) {
        if (!skipped(v, v->cur->path, v->cur->path_len)) {
            problem(v, HS_VERIFY_MISSING, v->cur->path, NULL);
            if (v->cur->type == HS_FT_DIR) /* its contents are missing with it */
                set_skip(v, v->cur->path, v->cur->path_len);
        }
        advance(v);
    }
}

/* ---- reading files ---------------------------------------------------- */

/* Reads the file and fills s (hash, or err). */
static void read_file(struct verifier *v, int dirfd, const char *name, const char *path,
                      const struct stat *walked, struct seen *s)
{
    struct stat st;
    int fd = hs_open_file_read(dirfd, name); /* a fifo there: read_file says so */
    if (fd < 0 || fstat(fd, &st) < 0) {
        s->err = errno;
    } else if (!S_ISREG(st.st_mode) || st.st_ino != walked->st_ino) {
        s->err = ESTALE; /* replaced since the walk saw it */
    } else {
        struct hs_err e = {0};
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        int r = hs_hash_fd(&v->copier, fd, &st, s->hash, path, &e);
        s->err = r < 0 ? -r : 0;
        hs_err_clear(&e);
        v->st->bytes_read += (uint64_t)st.st_size;
    }
    if (fd >= 0)
        close(fd);
    v->st->inodes_hashed++;
}

/* The block map's record of the file, if it describes the content want: the
 * hashes its blocks had when the snapshot was made. */
static const struct hs_blocks *recorded_blocks(struct verifier *v, const struct hs_walk_item *it,
                                               const uint8_t *want)
{
    const struct hs_bmentry *b;
    struct hs_err e = {0};
    int k = want && v->br ? hs_blockmap_seek(v->br, it->path, it->path_len, &b, &e) : 0;
    hs_err_clear(&e);
    if (k < 0) { /* damaged from here on: files are still checked whole */
        hs_blockmap_reader_free(v->br);
        v->br = NULL;
    }
    return k == 1 && !memcmp(b->hash, want, 16) ? &b->blocks : NULL;
}

/* "content differs from the manifest's hash", and where, from the block
 * hashes: the byte ranges of the blocks that differ (the first few). */
static void say_damage(struct verifier *v, const char *path, const struct hs_blocks *rec,
                       const struct hs_blocks *now)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "content differs from the manifest's hash");
    size_t shown = 0, bad = 0, common = rec->n < now->n ? rec->n : now->n;
    for (size_t i = 0; i < common; i++) {
        if (rec->h[i] == now->h[i])
            continue;
        size_t j = i;
        while (j + 1 < common && rec->h[j + 1] != now->h[j + 1])
            j++;
        bad += j - i + 1;
        uint64_t end = (uint64_t)(j + 1) * rec->block_size;
        if (end > now->size)
            end = now->size;
        if (shown++ < 4 && n > 0 && (size_t)n < sizeof msg)
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s%" PRIu64 "-%" PRIu64,
                          shown == 1 ? ": bytes " : ", ", (uint64_t)i * rec->block_size, end - 1);
        i = j;
    }
    if (n > 0 && (size_t)n < sizeof msg) {
        if (shown > 4)
            n += snprintf(msg + n, sizeof msg - (size_t)n, " and %zu more ranges", shown - 4);
        if (shown)
            n += snprintf(msg + n, sizeof msg - (size_t)n, " (%zu of %zu blocks of %u KiB)", bad,
                          rec->n, rec->block_size / 1024);
    }
    if (n > 0 && (size_t)n < sizeof msg && rec->size != now->size)
        snprintf(msg + n, sizeof msg - (size_t)n, "; its size was %" PRIu64 ", is %" PRIu64,
                 rec->size, now->size);
    problem(v, HS_VERIFY_DAMAGED, path, msg);
}

/* Checks a regular file against want (NULL: nothing to compare with, read
 * it only to see that it can be read). */
static int check_file(struct verifier *v, const struct hs_walk_item *it, const uint8_t *want)
{
    v->st->files++;
    bool fresh;
    struct seen *s = hs_inomap_get(&v->seen, it->st.st_dev, it->st.st_ino, &fresh);
    if (!s)
        return -ENOMEM;
    const struct hs_blocks *rec = fresh ? recorded_blocks(v, it, want) : NULL;
    if (rec && rec->block_size == v->bh.block_size)
        v->copier.blocks = &v->bh;
    if (fresh)
        read_file(v, it->fd, it->name, it->path, &it->st, s);
    else
        v->st->inodes_shared++;
    bool blocks_made = v->copier.blocks != NULL;
    v->copier.blocks = NULL;
    if (s->err) {
        problem(v, HS_VERIFY_UNREADABLE, it->path, strerror(s->err));
    } else if (want && memcmp(want, s->hash, sizeof s->hash) != 0) {
        if (blocks_made) {
            struct hs_blocks now = hs_blockhash_blocks(&v->bh);
            say_damage(v, it->path, rec, &now);
        } else {
            problem(v, HS_VERIFY_DAMAGED, it->path, "content differs from the manifest's hash");
        }
    }
    return 0;
}

static bool same_target(const struct hs_walk_item *it, const struct hs_mentry *m)
{
    char buf[4096];
    ssize_t n = readlinkat(it->fd, it->name, buf, sizeof buf);
    if (n < 0 || (size_t)n == sizeof buf)
        return (uint64_t)it->st.st_size == m->target_len; /* cannot tell more */
    return (size_t)n == m->target_len && memcmp(buf, m->target, (size_t)n) == 0;
}

static const char *type_word(uint8_t t)
{
    static const char *const words[] = {"?",      "a file",        "a directory",    "a symlink",
                                        "a fifo", "a char device", "a block device", "a socket"};
    return t < sizeof words / sizeof words[0] ? words[t] : "?";
}

/* The walk's entry and the manifest's record of the same path. */
static int check_pair(struct verifier *v, const struct hs_walk_item *it, const struct hs_mentry *m)
{
    uint8_t type = (uint8_t)hs_ftype_of(it->st.st_mode);
    if (type != m->type) {
        char msg[96];
        snprintf(msg, sizeof msg, "was %s, is %s", type_word(m->type), type_word(type));
        problem(v, HS_VERIFY_DAMAGED, it->path, msg);
        if (type == HS_FT_DIR)
            hs_walk_skip(v->walk);
        if (m->type == HS_FT_DIR)
            set_skip(v, m->path, m->path_len);
        return 0;
    }
    if (type == HS_FT_LNK && !same_target(it, m))
        problem(v, HS_VERIFY_DAMAGED, it->path, "symlink target differs from the manifest");
    if (type == HS_FT_REG)
        return check_file(v, it, m->flags & HS_ME_HASH ? m->hash : NULL);
    return 0;
}

static int on_entry(struct verifier *v, const struct hs_walk_item *it)
{
    if (!v->checking)
        return S_ISREG(it->st.st_mode) ? check_file(v, it, NULL) : 0;
    missing_before(v, it->path, it->path_len);
    if (v->cur && hs_path_cmp(v->cur->path, v->cur->path_len, it->path, it->path_len) == 0) {
        int r = check_pair(v, it, v->cur);
        advance(v);
        return r;
    }
    if (!v->mr) /* the manifest failed on the way: nothing to compare with */
        return S_ISREG(it->st.st_mode) ? check_file(v, it, NULL) : 0;
    problem(v, HS_VERIFY_ADDED, it->path, NULL);
    if (S_ISDIR(it->st.st_mode))
        hs_walk_skip(v->walk);
    return 0;
}

/* Walks the snapshot tree against the manifest. */
static int walk_snapshot(struct verifier *v, struct hs_err *e)
{
    struct hs_walk_item it;
    int r;
    while ((r = hs_walk_next(v->walk, &it, e)) == 0 && it.ev != HS_WALK_END) {
        if (it.ev == HS_WALK_ERROR || it.ev == HS_WALK_FATAL) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s: %s", it.what, strerror(it.err));
            problem(v, HS_VERIFY_UNREADABLE, it.path, msg);
            set_skip(v, it.path, it.path_len); /* what is under it was not seen */
            if (it.path_len == 0)
                v->cur = NULL; /* the root itself: nothing was seen */
        } else if (it.ev == HS_WALK_ENTRY) {
            r = on_entry(v, &it);
            if (r < 0)
                return hs_err_setf(e, -r, "verify");
        }
    }
    if (r == 0)
        missing_before(v, NULL, 0);
    return r;
}

/* ---- one snapshot ----------------------------------------------------- */

/* The snapshot's manifest, positioned after its root record. Whatever tree
 * it once described: verify is what finds a tree that changed, and a store
 * copied elsewhere keeps its manifests but not its inode numbers. */
static struct hs_manifest_reader *open_manifest(const struct hs_store *s, const char *name,
                                                struct hs_err *why)
{
    char mname[64];
    struct hs_manifest_reader *rd = NULL;
    const struct hs_mentry *root;
    hs_store_manifest_name(name, mname);
    int k = hs_manifest_reader_open(&rd, s->manifestsfd, mname, why);
    if (k == 0 && (k = hs_manifest_next(rd, &root, why)) == 1 && root->path_len == 0)
        return rd;
    hs_manifest_reader_free(rd);
    return NULL;
}

static int verify_snapshot(struct verifier *v, const struct hs_store *s, const char *name,
                           struct hs_err *e)
{
    v->snap = name;
    v->have_skip = false;
    struct stat st;
    int fd = hs_open_dir_stat(s->destfd, name, &st);
    if (fd < 0) {
        if (fd == -ENOENT) /* pruned meanwhile */
            return 0;
        problem(v, HS_VERIFY_UNREADABLE, "", strerror(-fd));
        return 0;
    }
    v->st->snapshots++;
    struct hs_err why = {0};
    v->mr = open_manifest(s, name, &why);
    v->checking = v->mr != NULL;
    char bname[64];
    hs_blockmap_name(name, bname);
    struct hs_err ignored = {0};
    if (!v->checking || hs_blockmap_reader_open(&v->br, s->manifestsfd, bname, &ignored) < 0)
        v->br = NULL; /* without one, a damaged file is named whole */
    hs_err_clear(&ignored);
    if (!v->checking) /* damaged or none: which, and the file named */
        problem(v, HS_VERIFY_NO_MANIFEST, "",
                why.msg ? why.msg : "no manifest describes this snapshot");
    hs_err_clear(&why);
    advance(v);
    int r = hs_walk_open(&v->walk, fd, &st, "", e);
    if (r == 0)
        r = walk_snapshot(v, e);
    hs_walk_free(v->walk);
    v->walk = NULL;
    hs_manifest_reader_free(v->mr);
    v->mr = NULL;
    v->cur = NULL;
    hs_blockmap_reader_free(v->br);
    v->br = NULL;
    return r;
}

/* ---- targets ---------------------------------------------------------- */

static int verify_all(struct verifier *v, struct hs_err *e)
{
    struct hs_store s;
    char **names = NULL;
    size_t n = 0;
    int r = hs_store_open(&s, v->o->target, 0, e);
    if (r == 0)
        r = hs_store_list(&s, &names, &n, e);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = verify_snapshot(v, &s, names[i], e);
    hs_store_list_free(names, n);
    hs_store_close(&s);
    return r;
}

static int verify_one(struct verifier *v, struct hs_err *e)
{
    struct hs_snapref ref;
    struct hs_store s;
    int r = hs_snapref_resolve(&ref, v->o->target, false, e);
    if (r == 0 && *ref.sub) {
        r = hs_err_path(e, 0, "verify checks whole snapshots, not a path inside one", v->o->target);
        hs_err_kind(e, HS_USAGE);
    }
    if (r == 0) {
        r = hs_store_open(&s, ref.dest, 0, e);
        if (r == 0)
            r = verify_snapshot(v, &s, ref.name, e);
        hs_store_close(&s);
    }
    hs_snapref_free(&ref);
    return r;
}

enum hs_status hs_verify(const struct hs_verify_opts *o, struct hs_verify_stats *st,
                         struct hs_err *err)
{
    double t0 = hs_monotonic_seconds();
    memset(st, 0, sizeof *st);
    struct verifier v = {.o = o, .st = st};
    if (hs_copier_init(&v.copier, HS_COPY_AUTO) < 0 ||
        hs_inomap_init(&v.seen, sizeof(struct seen)) < 0 ||
        hs_blockhash_init(&v.bh, HS_DELTA_BLOCK, false) < 0) {
        hs_copier_free(&v.copier);
        hs_inomap_free(&v.seen);
        hs_err_setf(err, ENOMEM, "verify");
        return HS_FAILED;
    }
    int r = o->all ? verify_all(&v, err) : verify_one(&v, err);
    hs_copier_free(&v.copier);
    hs_inomap_free(&v.seen);
    hs_blockhash_free(&v.bh);
    hs_buf_free(&v.skip);
    st->seconds = hs_monotonic_seconds() - t0;
    if (r < 0)
        return err->kind == HS_USAGE ? HS_USAGE : HS_FAILED;
    return st->problems ? HS_WARN : HS_OK;
}
