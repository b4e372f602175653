/*
 * The block maps of a backup (blockmap.h) and the delta copy of a changed
 * big file (delta.h): the previous snapshot's block map is read in step
 * with the walk, this run's is written beside its manifest. A big file
 * linked unchanged carries its record over; a big file copied gets a new
 * one, made in the same pass as the copy; a changed big file whose previous
 * version has a record is copied as a clone of that version with only its
 * changed blocks written, where the store's filesystem shares extents.
 *
 * The block map only ever saves work: one that cannot be read or written
 * (damaged, a full disk) costs plain copies, never a failed run.
 */
#include "blockmap.h"
#include "delta.h"
#include "engine.h"
#include "fsutil.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* This run's block map is given up: no more records, no file. */
static void drop_writer(struct engine *g, struct hs_err *e)
{
    char name[64], msg[320];
    snprintf(
        msg, sizeof msg,
        "no block map for this snapshot (%s): its big files will be copied whole when they change",
        e->msg ? e->msg : strerror(e->code));
    hs_report_notice_once(&g->rep, NOTICE_BLOCKMAP, msg);
    hs_err_clear(e);
    hs_blockmap_writer_free(g->bw);
    g->bw = NULL;
    hs_blockmap_name(g->name, name);
    unlinkat(g->store.partialfd, name, 0);
}

static void drop_reader(struct engine *g, struct hs_err *e)
{
    char msg[320];
    snprintf(msg, sizeof msg, "block map of %s is damaged (%s): changed big files copied whole",
             g->prev_name, e->msg ? e->msg : "?");
    hs_report_notice_once(&g->rep, NOTICE_BLOCKMAP, msg);
    hs_err_clear(e);
    hs_blockmap_reader_free(g->br);
    g->br = NULL;
}

/* Whether the store's file system shares extents (FICLONE): one probe per
 * run, between two unnamed files in partial/. Where it cannot, a block map
 * would only cost hashing and space: none is made. */
static bool store_can_clone(int dirfd)
{
    static const char page[4096];
    int a = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    int b = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    bool ok = a >= 0 && b >= 0 && pwrite(a, page, sizeof page, 0) == (ssize_t)sizeof page &&
              ioctl(b, FICLONE, a) == 0;
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return ok;
}

int hs_eng_blocks_open(struct engine *g)
{
    if (g->dry_run)
        return 0;
    if (!store_can_clone(g->store.partialfd)) {
        g->no_reflink = true;
        return 0;
    }
    if (hs_blockhash_init(&g->bh, HS_DELTA_BLOCK, false) < 0)
        return hs_err_setf(g->err, ENOMEM, "backup");
    g->bh_ready = true;
    char name[64];
    struct hs_err e = {0};
    if (g->mr) { /* only beside a trusted manifest: its records name the content */
        hs_blockmap_name(g->prev_name, name);
        int k = hs_blockmap_reader_open(&g->br, g->store.manifestsfd, name, &e);
        if (k < 0 && k != -ENOENT)
            drop_reader(g, &e);
        else if (k < 0)
            g->br = NULL;
        hs_err_clear(&e);
    }
    hs_blockmap_name(g->name, name);
    if (hs_blockmap_writer_open(&g->bw, g->store.partialfd, name, &e) < 0) {
        g->bw = NULL;
        drop_writer(g, &e);
    }
    return 0;
}

int hs_eng_blocks_finish(struct engine *g)
{
    if (!g->bw)
        return 0;
    struct hs_err e = {0};
    /* not synced here: the publication's syncfs covers it */
    if (hs_blockmap_writer_finish(g->bw, false, &e) < 0) {
        drop_writer(g, &e);
        return 0;
    }
    hs_blockmap_writer_free(g->bw);
    g->bw = NULL;
    return 0;
}

void hs_eng_blocks_free(struct engine *g)
{
    hs_blockmap_reader_free(g->br);
    g->br = NULL;
    hs_blockmap_writer_free(g->bw);
    g->bw = NULL;
    if (g->bh_ready)
        hs_blockhash_free(&g->bh);
    g->bh_ready = false;
}

void hs_eng_blocks_lookup(struct engine *g, const struct hs_walk_item *it,
                          const struct hs_mentry *m)
{
    g->prev_bm = NULL;
    if (!g->br || !m || m->type != HS_FT_REG || !(m->flags & HS_ME_HASH) ||
        m->size < HS_DELTA_MIN_SIZE)
        return;
    const struct hs_bmentry *b;
    struct hs_err e = {0};
    int k = hs_blockmap_seek(g->br, it->path, it->path_len, &b, &e);
    if (k < 0) {
        drop_reader(g, &e);
        return;
    }
    /* a record of other content than the manifest's (a file copied since
     * by other means) describes nothing here */
    if (k == 1 && !memcmp(b->hash, m->hash, 16) && b->blocks.size == m->size &&
        b->blocks.block_size == HS_DELTA_BLOCK)
        g->prev_bm = b;
}

void hs_eng_blocks_carry(struct engine *g)
{
    struct hs_err e = {0};
    if (g->bw && g->prev_bm && hs_blockmap_put_copy(g->bw, g->br, &e) < 0)
        drop_writer(g, &e);
    g->prev_bm = NULL;
}

struct hs_blockhash *hs_eng_blocks_want(struct engine *g, const struct stat *st)
{
    return g->bw && (uint64_t)st->st_size >= HS_DELTA_MIN_SIZE ? &g->bh : NULL;
}

void hs_eng_blocks_put(struct engine *g, const struct hs_walk_item *it)
{
    struct hs_err e = {0};
    struct hs_blocks b = hs_blockhash_blocks(&g->bh);
    if (g->bw && hs_blockmap_put(g->bw, it->path, it->path_len, g->rec.hash, &b, &e) < 0)
        drop_writer(g, &e);
}

/* The previous snapshot's version of the file, if it is still the inode
 * its manifest record and block map describe: an fd, or -1. */
static int open_prev_version(struct engine *g, const struct hs_walk_item *it)
{
    int dir = prev_top(g);
    if (dir < 0)
        return -1;
    int fd = hs_open_regular(dir, it->name, O_RDONLY, 0);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_ino != g->prev_sino ||
                    (uint64_t)st.st_size != g->prev_bm->blocks.size)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int hs_eng_delta_copy(struct engine *g, const struct hs_walk_item *it, int sfd, int dfd,
                      const struct stat *st, uint64_t *written)
{
    *written = 0;
    if (!g->prev_bm || g->no_reflink || !hs_eng_blocks_want(g, st))
        return HS_DELTA_PLAIN;
    int pfd = open_prev_version(g, it);
    if (pfd < 0)
        return HS_DELTA_PLAIN;
    uint64_t extents = 0;
    if (hs_delta_extents(pfd, &extents) < 0)
        extents = 0;
    if (!hs_delta_worth((uint64_t)st->st_size, extents)) { /* too fragmented: copy it */
        close(pfd);
        return HS_DELTA_PLAIN;
    }
    struct hs_delta_stats ds = {0};
    int r = hs_copy_delta(&g->copier, sfd, pfd, dfd, st, &g->prev_bm->blocks, &g->bh, g->rec.hash,
                          written, &ds, it->path, g->err);
    close(pfd);
    if (r == HS_DELTA_PLAIN)
        g->no_reflink = true; /* FICLONE refused: not tried again this run */
    if (r == 0) {
        g->st->delta_files++;
        g->st->delta_bytes += (uint64_t)st->st_size;
        g->st->delta_written += *written;
    }
    return r;
}
