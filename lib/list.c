/*
 * hardsnap list: per snapshot, its regular files, their apparent size and the
 * disk space that only it holds.
 *
 * Every non-directory of every snapshot goes through one table keyed by the
 * snapshot inode number: the first snapshot that had the inode, the last one
 * seen with it, and its blocks. Snapshots are counted oldest first, so an
 * inode whose first and last snapshot are the same belongs to that snapshot
 * alone, and "last == current" tells a second name of the inode in the same
 * snapshot. Memory follows the distinct inodes of the store, not its names.
 *
 * Entries come from the manifest (sino, sblocks), or, for a snapshot without
 * a trustworthy one, from a walk of its tree (lstat). Directories are left
 * out of the byte counts: the manifest records no inode or blocks for them.
 *
 * Decoding manifests is most of the work, so worker threads read the
 * snapshots (each into an array of its entries) a few snapshots ahead of the
 * thread that counts them, in order.
 */
#include "fsutil.h"
#include "hardsnap.h"
#include "inomap.h"
#include "manifest.h"
#include "store.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the inode table keeps of each snapshot inode. */
struct ino_use {
    uint64_t blocks;
    uint32_t first, last; /* snapshot indexes */
};

/* ---- one snapshot's entries ------------------------------------------ */

struct rec {
    uint64_t sino, size, blocks;
    bool reg;
};

/* What a worker read of one snapshot. */
struct snap {
    struct rec *recs; /* its non-directories */
    size_t n, cap;
    uint64_t dir_blocks; /* its directories: never shared with another snapshot */
    bool from_manifest;
    bool gone;  /* removed while listing (pruned) */
    bool ready; /* the worker is done with it */
    int err;
    struct hs_err e;
};

static int snap_add(struct snap *sn, uint8_t type, uint64_t sino, uint64_t size, uint64_t blocks)
{
    if (type == HS_FT_DIR) {
        sn->dir_blocks += blocks;
        return 0;
    }
    if (sn->n == sn->cap) {
        size_t cap = sn->cap ? sn->cap * 2 : 4096;
        struct rec *p = realloc(sn->recs, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        sn->recs = p;
        sn->cap = cap;
    }
    sn->recs[sn->n++] = (struct rec){sino, size, blocks, type == HS_FT_REG};
    return 0;
}

/* Its manifest, if it describes this very directory (root record's inode);
 * the root record goes to root. */
static bool open_manifest(const struct hs_store *s, const char *name, ino_t root_ino,
                          struct hs_manifest_reader **r, struct hs_mentry_copy *root)
{
    char mname[64];
    hs_store_manifest_name(name, mname);
    return hs_manifest_open_trusted(s->manifestsfd, mname, root_ino, r, root) == 1;
}

/* 1 when the manifest was read to its verified end, 0 when there is none to
 * trust or it failed on the way (damaged: the tree is the truth then). */
static int read_manifest(struct snap *sn, const struct hs_store *s, const char *name,
                         ino_t root_ino)
{
    struct hs_manifest_reader *rd;
    struct hs_mentry_copy root = {0};
    bool ok = open_manifest(s, name, root_ino, &rd, &root);
    int k = ok ? snap_add(sn, root.m.type, root.m.sino, root.m.size, root.m.sblocks) : 0;
    hs_mentry_copy_free(&root);
    if (!ok)
        return 0;
    const struct hs_mentry *m;
    struct hs_err scratch = {0};
    while (k == 0 && (k = hs_manifest_next(rd, &m, &scratch)) == 1)
        k = snap_add(sn, m->type, m->sino, m->size, m->sblocks) < 0 ? -ENOMEM : 0;
    hs_manifest_reader_free(rd);
    hs_err_clear(&scratch);
    if (k == -ENOMEM)
        return hs_err_setf(&sn->e, ENOMEM, "list");
    if (k != 0) {
        sn->n = 0;
        sn->dir_blocks = 0;
    }
    return k == 0;
}

/* Walks the tree: every entry lstat'ed. Unreadable parts are left out. */
static int read_tree(struct snap *sn, const struct hs_store *s, const char *name)
{
    struct stat st;
    int fd = hs_open_dir_stat(s->destfd, name, &st);
    if (fd < 0)
        return hs_err_path(&sn->e, -fd, "cannot open snapshot", name);
    snap_add(sn, HS_FT_DIR, st.st_ino, 0, (uint64_t)st.st_blocks); /* the root itself */
    struct hs_walk *w;
    int r = hs_walk_open(&w, fd, &st, "", &sn->e);
    if (r < 0)
        return r;
    struct hs_walk_item it;
    while ((r = hs_walk_next(w, &it, &sn->e)) == 0 && it.ev != HS_WALK_END) {
        if (it.ev == HS_WALK_ENTRY &&
            snap_add(sn, hs_ftype_of(it.st.st_mode), it.st.st_ino, (uint64_t)it.st.st_size,
                     (uint64_t)it.st.st_blocks) < 0) {
            r = hs_err_setf(&sn->e, ENOMEM, "list");
            break;
        }
    }
    hs_walk_free(w);
    return r;
}

static void read_snapshot(struct snap *sn, const struct hs_store *s, const char *name)
{
    struct stat st;
    if (fstatat(s->destfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        sn->gone = errno == ENOENT;
        if (!sn->gone)
            sn->err = hs_err_path(&sn->e, errno, "cannot stat snapshot", name);
        return;
    }
    int k = read_manifest(sn, s, name, st.st_ino);
    sn->from_manifest = k == 1;
    if (k == 0)
        k = read_tree(sn, s, name);
    sn->gone = k == -ENOENT; /* pruned while we looked */
    sn->err = k < 0 && !sn->gone ? k : 0;
}

/* ---- accounting ------------------------------------------------------- */

/* How far ahead the table slots are prefetched: with the table larger than
 * the caches each lookup is a miss, and the misses then overlap. */
#define PREFETCH_AHEAD 16

struct acct {
    struct hs_inomap map; /* snapshot inode -> struct ino_use */
    uint64_t dir_bytes;   /* of all snapshots' directories */
    struct hs_list_entry *out;
};

/* One non-directory of snapshot cur. */
static int account_one(struct acct *a, uint32_t cur, const struct rec *e)
{
    struct hs_list_entry *s = &a->out[cur];
    s->files += e->reg;
    if (e->sino == 0) { /* no inode recorded: counted, but cannot be shared */
        s->total_bytes += e->reg ? e->size : 0;
        return 0;
    }
    bool fresh;
    struct ino_use *slot = hs_inomap_get(&a->map, 0, e->sino, &fresh);
    if (!slot)
        return -ENOMEM;
    if (fresh) {
        slot->blocks = e->blocks;
        slot->first = cur;
    } else if (slot->last == cur) {
        return 0; /* another name of an inode already counted in this snapshot */
    }
    slot->last = cur;
    s->total_bytes += e->reg ? e->size : 0;
    return 0;
}

static int account_snap(struct acct *a, uint32_t cur, const struct snap *sn)
{
    a->out[cur].from_manifest = sn->from_manifest;
    a->out[cur].unique_bytes += sn->dir_blocks * 512;
    a->dir_bytes += sn->dir_blocks * 512;
    for (size_t i = 0; i < sn->n; i++) {
        if (i + PREFETCH_AHEAD < sn->n)
            hs_inomap_prefetch(&a->map, 0, sn->recs[i + PREFETCH_AHEAD].sino);
        if (account_one(a, cur, &sn->recs[i]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Each inode once into used; into the unique bytes of the only snapshot
 * holding it. */
static uint64_t account_finish(struct acct *a)
{
    uint64_t used = 0;
    for (size_t i = 0; i <= a->map.mask; i++) {
        const struct ino_use *s = hs_inomap_slot(&a->map, i);
        if (!s)
            continue;
        used += s->blocks * 512;
        if (s->first == s->last)
            a->out[s->first].unique_bytes += s->blocks * 512;
    }
    return used;
}

/* ---- readers ahead, one counter --------------------------------------- */

#define MAX_WORKERS 4

struct pipeline {
    const struct hs_store *store;
    char **names;
    size_t n;
    struct snap *snaps;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next;     /* the next snapshot a worker takes */
    size_t consumed; /* snapshots counted so far */
    size_t ahead;    /* how many may wait, read but not counted (bounds memory) */
    bool stop;
};

static void *worker(void *arg)
{
    struct pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next < p->n && p->next >= p->consumed + p->ahead)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next >= p->n)
            break;
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        read_snapshot(&p->snaps[i], p->store, p->names[i]);
        pthread_mutex_lock(&p->mu);
        p->snaps[i].ready = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void wait_ready(struct pipeline *p, size_t i)
{
    pthread_mutex_lock(&p->mu);
    while (!p->snaps[i].ready)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void set_consumed(struct pipeline *p, size_t consumed, bool stop)
{
    pthread_mutex_lock(&p->mu);
    p->consumed = consumed;
    p->stop |= stop;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Counts the snapshots in order as the workers deliver them. */
static int count_all(struct pipeline *p, struct acct *a, struct hs_err *e)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < p->n; i++) {
        struct snap *sn = &p->snaps[i];
        wait_ready(p, i);
        memcpy(a->out[i].name, p->names[i], HS_SNAPSHOT_NAME_LEN + 1);
        a->out[i].future = hs_snapshot_in_future(p->names[i]);
        if (sn->err) {
            r = sn->err;
            *e = sn->e;
            sn->e = (struct hs_err){0};
        } else if (!sn->gone && account_snap(a, (uint32_t)i, sn) < 0) {
            r = hs_err_setf(e, ENOMEM, "list");
        }
        free(sn->recs);
        sn->recs = NULL;
        set_consumed(p, i + 1, r < 0);
    }
    return r;
}

static size_t n_workers(size_t n_snaps)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t k = cpus > 1 ? (size_t)cpus : 1;
    k = k < MAX_WORKERS ? k : MAX_WORKERS;
    return k < n_snaps ? k : n_snaps;
}

/* Starts the workers, counts, joins. */
static int run_pipeline(struct pipeline *p, struct acct *a, struct hs_err *e)
{
    pthread_t tids[MAX_WORKERS];
    size_t started = 0, want = n_workers(p->n);
    p->ahead = want ? want : 1; /* each one waiting holds a snapshot's records */
    while (started < want && pthread_create(&tids[started], NULL, worker, p) == 0)
        started++;
    int r;
    if (started == 0 && p->n > 0)
        r = hs_err_setf(e, EAGAIN, "list: cannot start a thread");
    else
        r = count_all(p, a, e);
    if (r < 0)
        set_consumed(p, p->consumed, true);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    return r;
}

/* ---- the whole store -------------------------------------------------- */

/* The manifests' own space. */
static uint64_t manifest_bytes(const struct pipeline *p)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < p->n; i++) {
        char mname[64];
        struct stat st;
        hs_store_manifest_name(p->names[i], mname);
        if (!p->snaps[i].gone &&
            fstatat(p->store->manifestsfd, mname, &st, AT_SYMLINK_NOFOLLOW) == 0)
            sum += (uint64_t)st.st_blocks * 512;
    }
    return sum;
}

/* Drops the snapshots removed while listing. */
static void drop_gone(const struct pipeline *p, struct hs_list *out)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!p->snaps[i].gone)
            out->snapshots[k++] = out->snapshots[i];
    out->n = k;
}

static int list_store(struct pipeline *p, struct hs_list *out, struct hs_err *e)
{
    struct acct a = {0};
    out->snapshots = calloc(p->n ? p->n : 1, sizeof *out->snapshots);
    p->snaps = calloc(p->n ? p->n : 1, sizeof *p->snaps);
    if (!out->snapshots || !p->snaps || hs_inomap_init(&a.map, sizeof(struct ino_use)) < 0) {
        hs_inomap_free(&a.map);
        return hs_err_setf(e, ENOMEM, "list");
    }
    a.out = out->snapshots;
    int r = run_pipeline(p, &a, e);
    if (r == 0) {
        out->used_bytes = account_finish(&a) + a.dir_bytes + manifest_bytes(p);
        drop_gone(p, out);
    }
    hs_inomap_free(&a.map);
    return r;
}

static void pipeline_free(struct pipeline *p)
{
    for (size_t i = 0; p->snaps && i < p->n; i++) {
        free(p->snaps[i].recs);
        hs_err_clear(&p->snaps[i].e);
    }
    free(p->snaps);
    hs_store_list_free(p->names, p->n);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

enum hs_status hs_list(const char *dest, struct hs_list *out, struct hs_err *err)
{
    memset(out, 0, sizeof *out);
    struct hs_store s;
    struct pipeline p = {.store = &s};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int r = hs_store_open(&s, dest, 0, err);
    if (r == 0)
        r = hs_store_list(&s, &p.names, &p.n, err);
    if (r == 0)
        r = list_store(&p, out, err);
    pipeline_free(&p);
    hs_store_close(&s);
    if (r < 0) {
        hs_list_free(out);
        return err->kind == HS_USAGE ? HS_USAGE : HS_FAILED;
    }
    return HS_OK;
}

void hs_list_free(struct hs_list *l)
{
    free(l->snapshots);
    memset(l, 0, sizeof *l);
}
