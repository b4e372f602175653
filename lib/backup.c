/*
 * The backup engine.
 *
 * One pass over each source with the walker; beside it, three more directory
 * stacks follow the same branch: the new snapshot being built (under
 * .hardsnap/partial/NAME), the previous snapshot (to link from), and the tree
 * of an interrupted run (to take finished copies from). The previous
 * snapshot's manifest is read in step with the walk: both are in walk order,
 * so one forward-only cursor answers every lookup and nothing holds the whole
 * tree. Only the hard-link table grows, with the pending multi-link files.
 *
 * For each entry: decide (change.h), then link from the previous snapshot or
 * write a new inode, and record it in the new manifest. Directory metadata is
 * set when the walk leaves the directory, after its contents. When the walk
 * ends, the manifest is finished and hs_store_publish() makes everything
 * durable and renames the snapshot into place.
 */
#include "anomaly.h"
#include "buf.h"
#include "carry.h"
#include "change.h"
#include "copy.h"
#include "dirstack.h"
#include "engine.h"
#include "exclude.h"
#include "fsutil.h"
#include "meta.h"
#include "remote.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* New data written between two early flushes (see flusher.h). */
#define FLUSH_EVERY (64u << 20)

/* ---- events ---------------------------------------------------------- */

int hs_eng_warn(struct engine *g, int errnum, const char *what, const char *path)
{
    hs_report_warn(&g->rep, errnum, what, path, path);
    return 0;
}

/* ---- the parallel trees ---------------------------------------------- */

/* Pushes the directory name of parent (in the previous snapshot or the
 * interrupted run's tree) on s, or "absent" when there is none: then its
 * files are copied, not linked, which a warning says when it is unexpected. */
static int push_ref(struct engine *g, struct hs_dirstack *s, int parent, const char *name,
                    const char *path)
{
    int fd = parent >= 0 && name ? hs_open_dir(parent, name) : -1;
    if (fd < 0 && parent >= 0 && name && errno != ENOENT && errno != ENOTDIR)
        hs_eng_warn(g, errno, "cannot open the earlier copy of", *path ? path : ".");
    return hs_dirstack_push(s, fd, g->err);
}

/* A new level of the previous snapshot: see hs_dirview (sealed, or listed
 * on first need). */
static int push_prevview(struct engine *g)
{
    size_t depth = hs_dirstack_depth(&g->prevdirs);
    if (depth > g->prevviews_cap) {
        size_t cap = g->prevviews_cap ? g->prevviews_cap * 2 : 16;
        struct hs_dirview *p = realloc(g->prevviews, cap * sizeof *p);
        if (!p)
            return hs_err_setf(g->err, ENOMEM, "directory listing");
        memset(p + g->prevviews_cap, 0, (cap - g->prevviews_cap) * sizeof *p);
        g->prevviews = p;
        g->prevviews_cap = cap;
    }
    hs_dirview_reset(&g->prevviews[depth - 1], prev_top(g), &g->prev_sealed);
    return 0;
}

bool hs_eng_prev_is(struct engine *g, const char *name, uint64_t sino, unsigned ftype)
{
    size_t depth = hs_dirstack_depth(&g->prevdirs);
    int fd = prev_top(g);
    return fd >= 0 && depth > 0 &&
           hs_dirview_is(&g->prevviews[depth - 1], fd, name, sino, hs_dtype_of_ftype(ftype));
}

bool hs_eng_source_is_store_inode(struct engine *g, const struct hs_walk_item *it, uint64_t sino)
{
    if (!g->have_dest_st || g->cur->tree->remote || it->st.st_dev != g->dest_st.st_dev ||
        it->st.st_ino != sino)
        return false;
    hs_eng_warn(g, 0, "is a hard link to a file of the store: copied, not linked", it->path);
    return true;
}

/* The reference trees at the same branch as a directory just entered. */
static int push_refs(struct engine *g, const char *name, const char *path, bool at_root)
{
    int r = at_root
                ? push_ref(g, &g->prevdirs, g->have_prev ? g->store.destfd : -1, g->prev_name, path)
                : push_ref(g, &g->prevdirs, prev_top(g), name, path);
    if (r == 0)
        r = push_prevview(g);
    if (r == 0)
        r = at_root
                ? push_ref(g, &g->resumedirs, g->resume ? g->store.partialfd : -1, g->resume, path)
                : push_ref(g, &g->resumedirs, resume_top(g), name, path);
    return r;
}

/* Leaves a directory in all trees, the new one with its metadata (want,
 * and the xattrs read into g->xa; NULL: a dry run's). Only the new tree's
 * failure is fatal. */
static int leave_all(struct engine *g, const struct stat *want, const char *path)
{
    struct hs_err scratch = {0};
    int r = hs_writer_leave(&g->wr, g->dry_run ? NULL : want, &g->xa, path);
    hs_dirstack_pop(&g->prevdirs, path, &scratch);
    hs_dirstack_pop(&g->resumedirs, path, &scratch);
    hs_err_clear(&scratch);
    return r;
}

int hs_eng_fail_new(struct engine *g, int errnum, const char *what, const char *path)
{
    return hs_err_path(g->err, errnum, what, path);
}

/* ---- recording ------------------------------------------------------- */

void hs_eng_rec_start(struct engine *g, const char *path, size_t len, const struct stat *st)
{
    memset(&g->rec, 0, sizeof g->rec);
    g->rec.path = path;
    g->rec.path_len = len;
    hs_mentry_from_stat(&g->rec, st);
}

int hs_eng_rec_put(struct engine *g)
{
    if (!g->mw)
        return 0;
    if ((g->o->flags & HS_BACKUP_DEDUP) && g->rec.type == HS_FT_REG)
        g->rec.flags |= HS_ME_SHARED; /* the next run without --dedup separates them */
    return hs_manifest_put(g->mw, &g->rec, g->err);
}

/* ---- metadata -------------------------------------------------------- */

int hs_eng_apply_meta(struct engine *g, struct hs_xobj o, const struct stat *st,
                      const struct stat *now, const char *path)
{
    return hs_writer_meta(&g->wr, o, st, now, &g->xa, path);
}

void hs_eng_source_xattrs(struct engine *g, const struct hs_walk_item *it, int fd)
{
    struct hs_tree *t = g->cur->tree;
    int r = t->ops->xattrs(t, it, fd, &g->xa, g->root);
    if (r < 0) {
        hs_eng_warn(g, -r, "cannot read extended attributes of", *it->path ? it->path : ".");
        g->xa.count = 0;
    }
}

/* ---- directories ----------------------------------------------------- */

/* A source's own patterns are anchored at its root. A global anchored
 * pattern is tried at the source's root and, for a source under its NAME,
 * also at the snapshot root: that is how the contract's example means
 * exclude = /home/<user>/.cache with [source home]. */
static bool is_excluded(struct engine *g, const struct hs_walk_item *it, bool is_dir)
{
    return hs_exclude_source(g->exclude, g->cur->exclude, it->path, it->path_len,
                             g->cur->prefix_len, is_dir);
}

/* The new tree's directory for name, made and held for its ENTER (an
 * absent level in a dry run). The tree is private (.hardsnap is 0700): a
 * directory of it replaced while being made means the store is being
 * changed under the backup, which then stops (hs_writer_mkdir). */
static int make_dir(struct engine *g, const char *name, const char *path)
{
    if (g->dry_run) {
        hs_writer_hold(&g->wr, -1);
        return 0;
    }
    return hs_writer_mkdir(&g->wr, name, path);
}

static void skip_dir(struct engine *g)
{
    g->cur->tree->ops->skip(g->cur->tree);
}

static int dir_entry(struct engine *g, const struct hs_walk_item *it)
{
    const struct stat *st = &it->st;
    if (g->have_dest_st && !g->cur->tree->remote && hs_stat_same_file(st, &g->dest_st)) {
        hs_report_notice_once(&g->rep, NOTICE_DEST_INSIDE,
                              "the destination is inside the source: it is not backed up");
        skip_dir(g);
        return 0;
    }
    g->st->dirs++;
    hs_eng_rec_start(g, it->path, it->path_len, st);
    /* the copy's blocks are known only when it is full; the source's, with
     * the same entries, are what it will take (list counts them) */
    g->rec.sblocks = (uint64_t)st->st_blocks;
    int r = hs_eng_rec_put(g);
    if (r == 0)
        r = make_dir(g, it->name, it->path);
    if (r != 0 || !g->one_fs || st->st_dev == g->cur->dev)
        return r;
    /* a mount point: kept as an empty directory, as rsync -x does */
    skip_dir(g);
    g->xa.count = 0;
    return hs_writer_finish_held(&g->wr, g->dry_run ? NULL : st, &g->xa, it->path);
}

static int dir_enter(struct engine *g, const struct hs_walk_item *it)
{
    bool at_root = it->depth == 0 && !g->cur->src->name;
    int r = at_root ? hs_writer_enter_root(&g->wr) : hs_writer_enter(&g->wr);
    return r < 0 ? r : push_refs(g, it->name, it->path, at_root);
}

/* it->fd is -1 for a directory the walk lost (it moved, see walk.h): the copy
 * keeps what was walked, and the metadata seen on entering, without xattrs. */
static int dir_leave(struct engine *g, const struct hs_walk_item *it)
{
    g->xa.count = 0;
    if (!g->dry_run)
        hs_eng_source_xattrs(g, it, -1);
    return leave_all(g, &it->st, it->path);
}

/* The walk could not examine an entry or open a directory, or a directory
 * moved while the walk was below it (after the LEAVEs of what it lost). */
static int walk_error(struct engine *g, const struct hs_walk_item *it)
{
    hs_eng_warn(g, it->err, it->what, it->path);
    if (!it->unentered)
        return 0;
    /* the directory stays, empty, with its own metadata */
    g->xa.count = 0;
    return hs_writer_finish_held(&g->wr, g->dry_run ? NULL : &it->st, &g->xa, it->path);
}

static int handle_entry(struct engine *g, const struct hs_walk_item *it)
{
    bool is_dir = S_ISDIR(it->st.st_mode);
    if (is_excluded(g, it, is_dir)) {
        g->st->excluded++;
        if (is_dir)
            skip_dir(g);
        return 0;
    }
    hs_report_entry(&g->rep);
    if (is_dir)
        return dir_entry(g, it);
    return hs_eng_nondir(g, it);
}

/* ---- one source -------------------------------------------------------- */

/* The manifest's root record names the snapshot directory's inode, so a
 * manifest is never trusted for a tree it does not describe (and its
 * blocks, for list). */
static void rec_root(struct engine *g)
{
    struct stat st;
    if (hs_writer_root(&g->wr) >= 0 && fstat(hs_writer_root(&g->wr), &st) == 0) {
        g->rec.sino = st.st_ino;
        g->rec.sblocks = (uint64_t)st.st_blocks;
    }
}

static void remote_warn(void *user, int errnum, const char *what, const char *path)
{
    hs_eng_warn(user, errnum, what, path);
}

static int remote_content(void *user, const uint8_t hash[16], uint64_t size)
{
    return hs_eng_open_content(user, hash, size);
}

static int remote_prev_file(void *user, const char *path, size_t len)
{
    return hs_eng_prev_file(user, path, len);
}

/* A replica's source: the snapshot src->snapshot of the store src->path,
 * from its manifest (carry.h); without a manifest to trust, its directory
 * walked (correct, but it reads every file whose ctime changed and keeps
 * every inode of more than one name in the link table). */
static int open_snapshot_tree(struct engine *g, struct source_ctx *sc, struct stat *st)
{
    const struct hs_source *src = sc->src;
    int destfd = open(src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (destfd < 0)
        return hs_err_path(g->err, errno, "cannot open store", src->path);
    struct stat sst;
    if (fstatat(destfd, src->snapshot, &sst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sst.st_mode)) {
        int err = errno;
        close(destfd);
        return hs_err_path_why(g->err, err ? err : ENOTDIR, "cannot open snapshot", src->snapshot,
                               "no longer in the store");
    }
    int mfd =
        hs_open_dir_beneath(destfd, HS_STORE_DIR "/manifests", strlen(HS_STORE_DIR "/manifests"));
    int r = mfd < 0 ? -ENOENT
                    : hs_tree_open_snapshot(&sc->tree, mfd, destfd, src->snapshot,
                                            (uint64_t)(sc - g->sources + 1) << 56, st, g->err);
    if (mfd >= 0)
        close(mfd);
    if (r == -ENOENT) {
        hs_err_clear(g->err);
        char msg[400];
        snprintf(msg, sizeof msg, "%s/%s has no manifest to trust: its files are read", src->path,
                 src->snapshot);
        hs_report_notice_once(&g->rep, NOTICE_REPLICA_WALK, msg);
        int fd = hs_open_dir_stat(destfd, src->snapshot, st);
        r = fd < 0 ? hs_err_path(g->err, errno, "cannot open snapshot", src->snapshot)
                   : hs_tree_open_local(&sc->tree, fd, st, "", g->err);
    }
    close(destfd);
    return r;
}

/* The tree of a source: its directory, or the host's over the connection. */
static int open_tree(struct engine *g, struct source_ctx *sc, struct stat *st, bool *remote_failed)
{
    if (sc->src->snapshot)
        return open_snapshot_tree(g, sc, st);
    struct hs_source hooked;
    const struct hs_source *src = sc->src;
    if (sc->hook_path) {
        hooked = *src;
        hooked.path = sc->hook_path;
        src = &hooked;
    }
    if (src->host) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s%s", src->name ? src->name : "", src->name ? "/" : "");
        struct hs_remote_opts ro = {
            .src = src,
            .timeout = g->o->timeout,
            .one_fs = g->one_fs,
            .checksum = g->checksum,
            .stream = g->o->n_sources == 1,
            .dry_run = g->dry_run,
            .global = g->exclude,
            .own = sc->exclude,
            .prefix = prefix,
            .hsfd = g->have_store ? g->store.hsfd : -1,
            .index = (unsigned)(sc - g->sources),
            .store_has_data = g->have_prev,
            .prev = g->have_prev ? g->prev_name : NULL,
            .local_content = g->have_prev ? remote_content : NULL,
            .prev_file = g->have_prev ? remote_prev_file : NULL,
            .manifestsfd = g->mr ? g->store.manifestsfd : -1,
            .user = g,
            .warn = remote_warn,
            .bytes_in = &g->st->wire_received,
            .bytes_out = &g->st->wire_sent,
            .files_fetched = &g->st->fetched,
            .delta_files = &g->st->delta_files,
            .delta_bytes = &g->st->delta_bytes,
            .delta_written = &g->st->delta_written,
            .remote_failed = remote_failed,
        };
        return hs_remote_open(&sc->tree, &ro, st, g->err);
    }
    int fd = open(src->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return hs_err_path(g->err, err, "cannot open source", src->path);
    }
    return hs_tree_open_local(&sc->tree, fd, st, src->name ? src->name : "", g->err);
}

static int carry_source(struct engine *g, struct source_ctx *sc, struct stat *st);

/* A source that could not be backed up (a remote one not pulled, a before
 * hook that failed): said, counted, and its tree in the new snapshot is the
 * previous snapshot's (carry.h). 0 with that tree in sc->tree, 1 when there
 * is none to keep, <0. */
static int source_failed(struct engine *g, struct source_ctx *sc, struct stat *st)
{
    const struct hs_source *src = sc->src;
    g->n_failed++;
    sc->failed = true;
    if (!g->failed_msg)
        g->failed_msg = strdup(g->err->msg ? g->err->msg : "a source failed");
    char *msg = NULL;
    bool carry = src->name && g->have_prev && g->prev_root_ino;
    if (asprintf(&msg, "%s%s", g->err->msg ? g->err->msg : "failed",
                 carry ? "; its tree is the previous snapshot's" : "") < 0)
        msg = NULL;
    hs_err_clear(g->err);
    if (src->name) {
        if (g->stale.len)
            hs_buf_putc(&g->stale, ',');
        hs_buf_puts(&g->stale, src->name);
    }
    if (g->n_failed < g->n_sources)
        hs_report_say(&g->rep, HS_EV_WARNING, src->name ? src->name : "", msg ? msg : "failed");
    g->st->warnings++;
    free(msg);
    return carry ? carry_source(g, sc, st) : 1;
}

/* A source skipped (its before hook said not now): carried forward without
 * a word, as if nothing had changed in it. */
static int source_skipped(struct engine *g, struct source_ctx *sc, struct stat *st)
{
    sc->skipped = true;
    hs_err_clear(g->err);
    bool carry = sc->src->name && g->have_prev && g->prev_root_ino;
    return carry ? carry_source(g, sc, st) : 1;
}

static int carry_source(struct engine *g, struct source_ctx *sc, struct stat *st)
{
    const struct hs_source *src = sc->src;
    char mname[64];
    hs_store_manifest_name(g->prev_name, mname);
    int r = hs_tree_open_carried(&sc->tree, g->store.manifestsfd, mname, g->store.destfd,
                                 g->prev_name, g->prev_root_ino, src->name,
                                 (uint64_t)(sc - g->sources + 1) << 56, st, g->err);
    if (r == -ENOENT) {
        hs_err_clear(g->err);
        return 1;
    }
    return r;
}

/* What the run counted between before and after: one source's counts. The size
 * check makes a counter added to the struct fail the build until it is
 * taken here too. */
_Static_assert(sizeof(struct hs_backup_stats) == 29 * 8, "stats_since: every field");
static void stats_since(struct hs_backup_stats *d, const struct hs_backup_stats *a,
                        const struct hs_backup_stats *b)
{
    d->entries = a->entries - b->entries;
    d->files = a->files - b->files;
    d->dirs = a->dirs - b->dirs;
    d->symlinks = a->symlinks - b->symlinks;
    d->specials = a->specials - b->specials;
    d->linked = a->linked - b->linked;
    d->copied = a->copied - b->copied;
    d->created = a->created - b->created;
    d->hardlinked = a->hardlinked - b->hardlinked;
    d->hashed = a->hashed - b->hashed;
    d->resumed = a->resumed - b->resumed;
    d->content_linked = a->content_linked - b->content_linked;
    d->cloned = a->cloned - b->cloned;
    d->bytes_content_linked = a->bytes_content_linked - b->bytes_content_linked;
    d->link_fallbacks = a->link_fallbacks - b->link_fallbacks;
    d->unlinked_unchanged = a->unlinked_unchanged - b->unlinked_unchanged;
    d->bytes_total = a->bytes_total - b->bytes_total;
    d->bytes_copied = a->bytes_copied - b->bytes_copied;
    d->bytes_hashed = a->bytes_hashed - b->bytes_hashed;
    d->warnings = a->warnings - b->warnings;
    d->excluded = a->excluded - b->excluded;
    d->seconds = a->seconds - b->seconds;
    d->sync_seconds = 0;
    d->wire_received = a->wire_received - b->wire_received;
    d->wire_sent = a->wire_sent - b->wire_sent;
    d->fetched = a->fetched - b->fetched;
    d->delta_files = a->delta_files - b->delta_files;
    d->delta_bytes = a->delta_bytes - b->delta_bytes;
    d->delta_written = a->delta_written - b->delta_written;
}

static int walk_source_counted(struct engine *g, struct source_ctx *sc);

static int walk_source(struct engine *g, struct source_ctx *sc)
{
    struct hs_backup_stats before = *g->st;
    before.seconds = hs_report_seconds(&g->rep);
    int r = walk_source_counted(g, sc);
    struct hs_backup_stats after = *g->st;
    after.seconds = hs_report_seconds(&g->rep);
    stats_since(&sc->stats, &after, &before);
    return r;
}

static int check_source(const struct hs_source *s, const char *dest_real, struct hs_err *e);

/* What a source's hook (which: "before", "after") is called in messages
 * (into what) and finds in its environment. */
static struct hs_hook_env source_hook(struct engine *g, const struct hs_source *src,
                                      const char *which, char what[300])
{
    snprintf(what, 300, "source %s: %s", src->name ? src->name : src->path, which);
    return (struct hs_hook_env){.dest = g->o->dest,
                                .snapshot = g->name,
                                .source = src->name ? src->name : "",
                                .status = -1,
                                .timeout = g->o->hook_timeout};
}

/* The source's before hook: 0 go on (sc->hook_path set if it printed
 * path=DIR), HS_HOOK_NOT_NOW skip it, 1 it failed (g->err says why). */
static int source_before(struct engine *g, struct source_ctx *sc)
{
    const struct hs_source *src = sc->src;
    if (!src->before || g->dry_run)
        return 0;
    char what[300], *out = NULL;
    struct hs_hook_env env = source_hook(g, src, "before", what);
    int r = hs_hook_run(what, src->before, &env, &out, g->err);
    if (r == 0 && (sc->hook_path = hs_hook_path(out)) && !src->host) {
        /* what it names is checked as the source's own path was (a remote
         * one's is the server's to check) */
        struct hs_source in_place = *src;
        in_place.path = sc->hook_path;
        char *dest_real = realpath(g->o->dest, NULL);
        if (check_source(&in_place, dest_real, g->err) < 0)
            r = 1;
        free(dest_real);
    }
    free(out);
    return r == 0 || r == HS_HOOK_NOT_NOW ? r : 1;
}

/* The source's after hook, when its before hook did not fail or skip: a
 * failure is a warning (the snapshot holds the source). */
static void source_after(struct engine *g, struct source_ctx *sc, int before)
{
    const struct hs_source *src = sc->src;
    if (!src->after || g->dry_run || before != 0)
        return;
    char what[300];
    struct hs_hook_env env = source_hook(g, src, "after", what);
    struct hs_err e = {0};
    if (hs_hook_run(what, src->after, &env, NULL, &e) != 0) {
        hs_report_say(&g->rep, HS_EV_WARNING, src->name ? src->name : "", e.msg ? e.msg : what);
        g->st->warnings++;
    }
    hs_err_clear(&e);
}

/* The source's tree: its own, or the previous snapshot's when it cannot be
 * backed up (before said not now or failed, a remote host failed): 0 with
 * it in sc->tree, 1 none to walk, <0. */
static int source_tree(struct engine *g, struct source_ctx *sc, struct stat *st, int before)
{
    if (before == HS_HOOK_NOT_NOW)
        return source_skipped(g, sc, st);
    if (before)
        return source_failed(g, sc, st);
    bool remote_failed = false;
    int r = open_tree(g, sc, st, &remote_failed);
    if (r < 0 && remote_failed)
        r = source_failed(g, sc, st);
    return r;
}

static int walk_tree(struct engine *g, struct source_ctx *sc, struct stat *root);

static int walk_source_counted(struct engine *g, struct source_ctx *sc)
{
    int before = source_before(g, sc);
    struct stat st;
    int r = source_tree(g, sc, &st, before);
    if (r == 0)
        r = walk_tree(g, sc, &st);
    source_after(g, sc, before);
    return r < 0 ? r : 0;
}

/* The entries of the source's tree into the snapshot. */
static int walk_tree(struct engine *g, struct source_ctx *sc, struct stat *root)
{
    const struct hs_source *src = sc->src;
    struct stat st = *root;
    int r = 0;
    sc->dev = st.st_dev;
    g->cur = sc;
    /* the source's root is an entry as the shared root is, so that entries
     * is files + dirs + symlinks + specials (--stats, --json) */
    g->st->entries++;
    if (src->name) {
        /* the source's own directory in the snapshot root */
        g->st->dirs++;
        hs_eng_rec_start(g, src->name, strlen(src->name), &st);
        r = hs_eng_rec_put(g);
        if (r == 0)
            r = make_dir(g, src->name, src->name);
    } else {
        g->st->dirs++;
        hs_eng_rec_start(g, "", 0, &st);
        rec_root(g);
        r = hs_eng_rec_put(g);
    }
    struct hs_walk_item it;
    while (r == 0 && (r = sc->tree->ops->next(sc->tree, &it, g->err)) == 0 &&
           it.ev != HS_WALK_END) {
        switch (it.ev) {
        case HS_WALK_ENTRY:
            r = handle_entry(g, &it);
            break;
        case HS_WALK_ENTER:
            r = dir_enter(g, &it);
            break;
        case HS_WALK_LEAVE:
            r = dir_leave(g, &it);
            break;
        case HS_WALK_ERROR:
            r = walk_error(g, &it);
            break;
        case HS_WALK_FATAL:
            r = hs_err_path(g->err, it.err, it.what, src->path);
            break;
        case HS_WALK_END:
            break;
        }
        if (r < 0)
            break;
    }
    hs_tree_free(sc->tree);
    sc->tree = NULL;
    return r;
}

/* ---- setup ----------------------------------------------------------- */

static int cmp_sources(const void *a, const void *b)
{
    const struct source_ctx *sa = a, *sb = b;
    return strcmp(sa->src->name, sb->src->name);
}

/* realpath of a path that may not exist yet (its parent must). */
static char *resolve_maybe_missing(const char *path)
{
    char *real = realpath(path, NULL);
    if (real || errno != ENOENT)
        return real;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *base = hs_path_base(path, n);
    char *dir = hs_path_dirname(path, n);
    char *parent = dir ? realpath(dir, NULL) : NULL;
    char *out = NULL;
    if (parent && asprintf(&out, "%s/%.*s", strcmp(parent, "/") ? parent : "",
                           (int)(n - (size_t)(base - path)), base) < 0)
        out = NULL;
    free(parent);
    free(dir);
    return out;
}

static bool path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/' || n == 1);
}

static int check_source(const struct hs_source *s, const char *dest_real, struct hs_err *e)
{
    struct stat st;
    if (!s->path || !*s->path)
        return hs_err_usage(e, 0, "empty source path", NULL);
    if (s->host)
        return !*s->host ? hs_err_usage(e, 0, "remote source without a host", s->path) : 0;
    if (stat(s->path, &st) < 0)
        return hs_err_usage(e, errno, "cannot use source", s->path);
    if (!S_ISDIR(st.st_mode))
        return hs_err_usage(e, ENOTDIR, "source is not a directory", s->path);
    if (s->name && (!*s->name || strchr(s->name, '/') || !strcmp(s->name, ".") ||
                    !strcmp(s->name, "..") || !strcmp(s->name, HS_STORE_DIR)))
        return hs_err_usage(e, 0, "invalid source name", s->name);
    char *real = realpath(s->path, NULL);
    if (!real)
        return hs_err_usage(e, errno, "cannot use source", s->path);
    int r = 0;
    if (dest_real && path_within(real, dest_real))
        r = hs_err_usage(e, 0, "source is the destination or inside it", s->path);
    free(real);
    return r;
}

static int check_sources(struct engine *g, struct source_ctx *sc)
{
    const struct hs_backup_opts *o = g->o;
    if (o->n_sources == 0)
        return hs_err_usage(g->err, 0, "no source given", NULL);
    if (!o->dest || !*o->dest)
        return hs_err_usage(g->err, 0, "no destination given", NULL);
    char *dest_real = resolve_maybe_missing(o->dest);
    if (!dest_real) {
        int r = hs_err_usage(g->err, errno, "cannot use destination", o->dest);
        return r;
    }
    int r = 0;
    for (size_t i = 0; r == 0 && i < o->n_sources; i++) {
        sc[i].src = &o->sources[i];
        r = check_source(&o->sources[i], dest_real, g->err);
        if (r == 0 && o->n_sources > 1 && !o->sources[i].name)
            r = hs_err_usage(g->err, 0, "several sources need a name each", o->sources[i].path);
    }
    free(dest_real);
    if (r < 0)
        return r;
    if (o->n_sources > 1) {
        qsort(sc, o->n_sources, sizeof *sc, cmp_sources);
        for (size_t i = 1; i < o->n_sources; i++)
            if (strcmp(sc[i - 1].src->name, sc[i].src->name) == 0)
                return hs_err_usage(g->err, 0, "two sources have the same name", sc[i].src->name);
    }
    for (size_t i = 0; i < o->n_sources; i++)
        sc[i].prefix_len = sc[i].src->name ? strlen(sc[i].src->name) + 1 : 0;
    return 0;
}

static int compile_excludes(struct engine *g, struct source_ctx *sc)
{
    const struct hs_backup_opts *o = g->o;
    if (o->n_exclude || o->n_exclude_from) {
        if (!(g->exclude = hs_exclude_new()))
            return hs_err_setf(g->err, ENOMEM, "exclude");
        for (size_t i = 0; i < o->n_exclude; i++)
            if (hs_exclude_add(g->exclude, o->exclude[i], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
        for (size_t i = 0; i < o->n_exclude_from; i++)
            if (hs_exclude_add_file(g->exclude, o->exclude_from[i], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
    }
    for (size_t i = 0; i < o->n_sources; i++) {
        if (!sc[i].src->n_exclude)
            continue;
        if (!(sc[i].exclude = hs_exclude_new()))
            return hs_err_setf(g->err, ENOMEM, "exclude");
        for (size_t k = 0; k < sc[i].src->n_exclude; k++)
            if (hs_exclude_add(sc[i].exclude, sc[i].src->exclude[k], g->err) < 0) {
                hs_err_kind(g->err, HS_USAGE);
                return -EINVAL;
            }
    }
    return 0;
}

/* The snapshot's name: the clock's second, or HARDSNAP_NOW. A taken name
 * means waiting for the next second; never merging into a snapshot. */
static int choose_name(struct engine *g)
{
    if (g->o->now)
        snprintf(g->name, sizeof g->name, "%s", g->o->now);
    for (int tries = 0; tries < 5; tries++) {
        if (!g->o->now)
            hs_snapshot_name_format(time(NULL), g->name);
        struct stat st;
        if (!g->have_store || fstatat(g->store.destfd, g->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
        if (g->o->now)
            break;
        /* the name the real run would take after its wait, so that the
         * dry run compares with the snapshot of this second as it would */
        if (g->dry_run) {
            hs_snapshot_name_format(time(NULL) + 1, g->name);
            return 0;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct timespec wait = {0, 1000000000L - now.tv_nsec};
        nanosleep(&wait, NULL);
    }
    int r = hs_err_path(g->err, 0, "a snapshot of this time already exists", g->name);
    g->err->code = EEXIST; /* (not said: the message is the whole story) */
    return r;
}

/* Snapshots named after the clock (it ran ahead, then was set back) are no
 * base and no latest: each run says so until someone removes them, since
 * prune keeps them (it cannot tell how old they are). */
static void warn_future(struct engine *g, char **names, size_t n)
{
    for (size_t i = n; i > 0 && hs_snapshot_in_future(names[i - 1]); i--)
        hs_eng_warn(g, 0,
                    "snapshot named in the future (the clock was ahead when it was made): "
                    "not used as the base or latest; remove it, or rename it to its true time",
                    names[i - 1]);
}

/* The previous snapshot (the newest not named in the future) and, if it is
 * trustworthy, its manifest. */
static int open_prev(struct engine *g)
{
    char **names = NULL;
    size_t n = 0;
    int r = hs_store_list(&g->store, &names, &n, g->err);
    if (r < 0)
        return r;
    warn_future(g, names, n);
    /* never this run's own name: a dry run may pick a taken one (HARDSNAP_NOW) */
    size_t k = n;
    while (k > 0 && !strcmp(names[k - 1], g->name))
        k--;
    if (k > 0) {
        size_t i = hs_snapshot_newest_current(names, k);
        snprintf(g->prev_name, sizeof g->prev_name, "%s", names[i]);
        g->have_prev = true;
        if (strcmp(g->name, names[i]) < 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "older than the newest snapshot, %s, which stays latest",
                     names[i]);
            hs_report_notice_once(&g->rep, NOTICE_OLDER, msg);
        }
    }
    hs_store_list_free(names, n);
    if (!g->have_prev)
        return 0;
    char mname[64];
    hs_store_manifest_name(g->prev_name, mname);
    struct stat st;
    int root = hs_open_dir_stat(g->store.destfd, g->prev_name, &st);
    /* the manifest must describe this very tree, not one made since by hand */
    bool ok =
        root >= 0 && hs_manifest_open_trusted(g->store.manifestsfd, mname, st.st_ino, &g->mr, NULL);
    struct stat ms;
    if (ok)
        g->prev_root_ino = st.st_ino;
    if (ok && hs_ctime_honest(root) && hs_manifest_reader_stat(g->mr, &ms) == 0)
        g->prev_sealed = ms.st_mtim;
    if (root >= 0)
        close(root);
    r = ok ? 0 : fstatat(g->store.manifestsfd, mname, &ms, 0) < 0 ? -ENOENT : -EBADMSG;
    if (r < 0 && r != -ENOENT) {
        char msg[160];
        snprintf(msg, sizeof msg, "manifest of %s is missing or damaged: comparing files instead",
                 g->prev_name);
        hs_report_notice_once(&g->rep, NOTICE_MANIFEST, msg);
    }
    return 0;
}

static int open_store(struct engine *g)
{
    if (g->dry_run) {
        struct hs_err e = {0};
        g->have_store = hs_store_open(&g->store, g->o->dest, 0, &e) == 0;
        if (!g->have_store)
            hs_store_close(&g->store);
        hs_err_clear(&e);
        return 0;
    }
    int r = hs_store_open(&g->store, g->o->dest, HS_STORE_CREATE | HS_STORE_LOCK, g->err);
    g->have_store = true;
    hs_report_warn_err(&g->rep, &g->store.warn);
    struct hs_err w = {0};
    if (r == 0)
        r = hs_store_recover(&g->store, &g->resume, g->err, &w);
    hs_report_warn_err(&g->rep, &w);
    return r;
}

/* The names an inode may have where fd is. glibc's fpathconf knows ext2-4,
 * xfs and btrfs; for other filesystems it answers a default (127, on tmpfs
 * too) that is no real limit: there EMLINK itself must tell. */
static long link_max_of(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) == 0 && (sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC ||
                                  sf.f_type == BTRFS_SUPER_MAGIC)) {
        long m = fpathconf(fd, _PC_LINK_MAX);
        if (m > 0)
            return m;
    }
    return LONG_MAX;
}

static int start_snapshot(struct engine *g)
{
    if (g->have_store && fstat(g->store.destfd, &g->dest_st) == 0)
        g->have_dest_st = true;
    struct hs_writer_opts wo = {
        .looking = g->dry_run,
        .xattrs_none = "extended attributes are not supported by the destination: not kept"};
    /* a new directory gets its own metadata (a default ACL too) only after
     * its entries are made: what is made here inherits from partial/ alone */
    wo.inherits = !g->dry_run && hs_xattr_has_default_acl(g->store.partialfd);
    g->wr.o = wo;
    if (g->dry_run)
        return 0;
    int r = hs_writer_make_root(&g->wr, g->store.partialfd, g->name, g->name);
    if (r < 0)
        return r;
    int root = hs_writer_root(&g->wr);
    g->link_max = link_max_of(root);
    char mname[64];
    hs_store_manifest_name(g->name, mname);
    hs_flusher_start(&g->flusher, root, FLUSH_EVERY);
    return hs_manifest_writer_open(&g->mw, g->store.partialfd, mname, g->err);
}

/* Several sources: the snapshot root is ours, each source a directory in it. */
static int open_shared_root(struct engine *g, struct stat *root_st)
{
    time_t t = time(NULL);
    hs_snapshot_name_parse(g->name, &t);
    memset(root_st, 0, sizeof *root_st);
    root_st->st_mode = S_IFDIR | 0755;
    root_st->st_uid = geteuid();
    root_st->st_gid = getegid();
    root_st->st_mtim.tv_sec = root_st->st_atim.tv_sec = root_st->st_ctim.tv_sec = t;
    g->st->dirs++;
    g->st->entries++;
    hs_eng_rec_start(g, "", 0, root_st);
    rec_root(g);
    int r = hs_eng_rec_put(g);
    if (r == 0)
        r = hs_writer_enter_root(&g->wr);
    return r < 0 ? r : push_refs(g, NULL, "", true);
}

static int close_shared_root(struct engine *g, const struct stat *root_st)
{
    g->xa.count = 0;
    return leave_all(g, root_st, "");
}

static int walk_all(struct engine *g, struct source_ctx *sc)
{
    struct stat root_st;
    bool shared = g->o->n_sources > 1 || g->o->sources[0].name;
    int r = shared ? open_shared_root(g, &root_st) : 0;
    for (size_t i = 0; r == 0 && i < g->o->n_sources; i++)
        r = walk_source(g, &sc[i]);
    if (r == 0 && g->n_failed == g->o->n_sources)
        return hs_err_setf(g->err, 0, "%s%s", g->failed_msg ? g->failed_msg : "every source failed",
                           g->o->n_sources > 1 ? " (and every other source failed too)" : "");
    if (r == 0 && shared)
        r = close_shared_root(g, &root_st);
    return r;
}

/* .hardsnap/stale/NAME for each source carried forward, saying since which
 * snapshot (status reads them); removed once the source is pulled again. */
static void record_stale(struct engine *g)
{
    if (mkdirat(g->store.hsfd, HS_STALE_DIR, 0700) < 0 && errno != EEXIST)
        return;
    int dfd = hs_open_dir(g->store.hsfd, HS_STALE_DIR);
    if (dfd < 0)
        return;
    for (size_t i = 0; i < g->n_sources; i++) {
        const struct source_ctx *sc = &g->sources[i];
        if (!sc->src->name)
            continue;
        if (!sc->failed) {
            unlinkat(dfd, sc->src->name, 0);
            continue;
        }
        int fd = hs_open_regular(dfd, sc->src->name, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
            continue; /* stale since an earlier run: that one says since when */
        char line[64];
        int n = snprintf(line, sizeof line, "since=%s\n", g->have_prev ? g->prev_name : g->name);
        if (hs_write_all(fd, line, (size_t)n) < 0)
            unlinkat(dfd, sc->src->name, 0);
        close(fd);
    }
    close(dfd);
}

static int finish_snapshot(struct engine *g)
{
    if (g->dry_run)
        return 0;
    int r = hs_manifest_writer_finish(g->mw, false, g->err);
    hs_manifest_writer_free(g->mw);
    g->mw = NULL;
    if (r == 0)
        r = hs_eng_blocks_finish(g);
    hs_flusher_stop(&g->flusher); /* it flushes through the tree's root */
    hs_writer_free(&g->wr);
    double t0 = hs_report_seconds(&g->rep);
    struct hs_err w = {0};
    if (r == 0)
        r = hs_store_publish(&g->store, g->name, g->err, &w);
    hs_report_warn_err(&g->rep, &w);
    g->st->sync_seconds = hs_report_seconds(&g->rep) - t0;
    if (r == 0 && g->resume) {
        hs_store_drop_partial(&g->store, g->resume, &w);
        hs_report_warn_err(&g->rep, &w);
    }
    bool any_remote = false;
    for (size_t i = 0; r == 0 && i < g->n_sources; i++) {
        const struct source_ctx *sc = &g->sources[i];
        any_remote |= sc->src->host != NULL;
        if (sc->src->host && !sc->failed && !sc->skipped)
            hs_remote_published(g->store.hsfd, sc->src, g->name);
        else if (sc->src->host && g->have_prev)
            hs_remote_carried(g->store.hsfd, sc->src, g->prev_name, g->name);
    }
    if (r == 0 && any_remote && g->n_failed == 0)
        hs_remote_spool_clear(g->store.hsfd);
    if (r == 0)
        record_stale(g);
    return r;
}

/* The run's anomalies (anomaly.h), each a warning: files found unchanged
 * but written again, and a change rate far above the store's usual. */
static void warn_anomalies(struct engine *g, struct hs_backup_result *res)
{
    const struct hs_backup_stats *s = g->st;
    char what[192], why[256];
    struct hs_err w = {0};
    if (s->unlinked_unchanged) {
        snprintf(what, sizeof what,
                 "anomaly: unchanged since %s, yet written again, not linked (%" PRIu64
                 " such files in all: the store grows as if they had changed)",
                 g->prev_name, s->unlinked_unchanged);
        const char *path = g->first_unlinked ? g->first_unlinked : "?";
        int reason = g->first_unlinked_why;
        if (reason > 0)
            hs_err_path(&w, reason, what, path);
        else
            hs_err_path_why(&w, 0, what, path,
                            reason == LINK_MISSED_NO_DIR
                                ? "its directory in that snapshot cannot be opened"
                                : "that snapshot holds another file there than it recorded");
        hs_report_warn_err(&g->rep, &w);
    }
    unsigned runs = 0;
    double usual = g->have_store ? hs_anomaly_usual_rate(g->store.hsfd, &runs) : 0;
    hs_anomaly_judge(&res->change, s->files, s->copied, usual, runs);
    if (res->change.raised) {
        snprintf(why, sizeof why,
                 "%" PRIu64 " of %" PRIu64 " files changed (%.1f%%), where the last %u runs "
                 "changed %.2f%% (median): a mass rewrite, or ransomware encrypting files? "
                 "Look before old snapshots are pruned",
                 s->copied, s->files, 100 * res->change.rate, runs, 100 * usual);
        hs_err_path_why(&w, 0, "anomaly", g->o->dest, why);
        hs_report_warn_err(&g->rep, &w);
    }
}

/* What holds the new tree open: closed before the tree may be removed. */
static void engine_free_run(struct engine *g)
{
    hs_flusher_stop(&g->flusher);
    hs_manifest_writer_free(g->mw);
    g->mw = NULL;
    hs_blockmap_writer_free(g->bw);
    g->bw = NULL;
    hs_writer_free(&g->wr);
}

static void engine_free(struct engine *g, struct source_ctx *sc, size_t n)
{
    engine_free_run(g);
    hs_dirstack_free(&g->prevdirs);
    hs_dirstack_free(&g->resumedirs);
    for (size_t i = 0; i < g->prevviews_cap; i++)
        hs_dirlist_free(&g->prevviews[i].l);
    free(g->prevviews);
    hs_manifest_reader_free(g->mr);
    hs_eng_blocks_free(g);
    hs_eng_content_free(g);
    hs_linktab_free(g->links);
    hs_inomap_free(&g->claims);
    hs_exclude_free(g->exclude);
    for (size_t i = 0; sc && i < n; i++) {
        hs_exclude_free(sc[i].exclude);
        free(sc[i].hook_path);
    }
    hs_copier_free(&g->copier);
    hs_xattrs_free(&g->xa);
    hs_buf_free(&g->target);
    hs_buf_free(&g->stale);
    free(g->failed_msg);
    free(g->first_unlinked);
    free(g->resume);
    if (g->have_store)
        hs_store_close(&g->store);
}

enum hs_status hs_backup(const struct hs_backup_opts *o, struct hs_backup_result *res,
                         struct hs_err *err)
{
    struct engine g = {.o = o, .st = &res->stats, .err = err, .prevrootfd = -1};
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    hs_report_start(&g.rep, o->on_event, o->user, &res->stats);
    hs_writer_init(&g.wr, &(struct hs_writer_opts){0}, &g.rep, err);
    g.dry_run = o->flags & HS_BACKUP_DRY_RUN;
    g.checksum = o->flags & HS_BACKUP_CHECKSUM;
    g.one_fs = o->flags & HS_BACKUP_ONE_FS;
    g.root = geteuid() == 0;
    struct source_ctx *sc = calloc(o->n_sources ? o->n_sources : 1, sizeof *sc);
    int r = sc ? 0 : hs_err_setf(err, ENOMEM, "backup");
    g.sources = sc;
    g.n_sources = o->n_sources;
    if (r == 0)
        r = check_sources(&g, sc);
    if (r == 0 && o->now)
        r = hs_check_now(o->now, err);
    if (r == 0)
        r = compile_excludes(&g, sc);
    if (r == 0 &&
        (!(g.links = hs_linktab_new()) || hs_inomap_init(&g.claims, sizeof(struct claim)) < 0 ||
         hs_copier_init(&g.copier, o->copy_method) < 0))
        r = hs_err_setf(err, ENOMEM, "backup");
    if (r == 0)
        r = open_store(&g);
    if (r == 0)
        r = choose_name(&g);
    if (r == 0 && g.have_store)
        r = open_prev(&g);
    if (r == 0)
        r = start_snapshot(&g);
    if (r == 0)
        r = hs_eng_blocks_open(&g);
    if (r == 0) {
        if (!g.root)
            hs_report_notice_once(&g.rep, HS_WRITER_NOTICE_OWNER,
                                  "not running as root: file ownership is not kept");
        r = walk_all(&g, sc);
    }
    if (r == 0)
        warn_anomalies(&g, res);
    /* a replica is the store's snapshot exactly or nothing: an entry that
     * could not be copied (pruned from the store meanwhile, unreadable)
     * leaves it unpublished, for the next run to finish */
    if (r == 0 && (o->flags & HS_BACKUP_REPLICA) && res->stats.warnings && !g.dry_run)
        r = hs_err_setf(err, EIO,
                        "%s: %" PRIu64 " entr%s of the store's snapshot could not be copied as "
                        "recorded (said above): not published",
                        g.name, res->stats.warnings, res->stats.warnings == 1 ? "y" : "ies");
    if (r == 0)
        r = finish_snapshot(&g);
    if (r == 0)
        snprintf(res->name, sizeof res->name, "%s", g.name);
    if (g.stale.len)
        snprintf(res->stale, sizeof res->stale, "%s", g.stale.data);
    res->stats.seconds = hs_report_seconds(&g.rep);
    if (sc && (res->sources = calloc(o->n_sources ? o->n_sources : 1, sizeof *res->sources))) {
        res->n_sources = o->n_sources;
        for (size_t i = 0; i < o->n_sources; i++) {
            struct hs_source_result *sr = &res->sources[i];
            /* a run that failed early may not have placed every source yet */
            const struct hs_source *src = sc[i].src ? sc[i].src : &o->sources[i];
            snprintf(sr->name, sizeof sr->name, "%s", src->name ? src->name : "");
            sr->carried = sc[i].failed || sc[i].skipped;
            sr->stats = sc[i].stats;
        }
    }
    bool full = r < 0 && !g.dry_run && g.have_store && hs_store_full_errno(err->code);
    engine_free_run(&g);
    if (full)
        hs_store_give_way(&g.store);
    engine_free(&g, sc, o->n_sources);
    free(sc);
    if (r < 0) {
        if (!err->msg)
            hs_err_setf(err, -r, "backup failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return res->stats.warnings ? HS_WARN : HS_OK;
}

void hs_backup_result_free(struct hs_backup_result *res)
{
    free(res->sources);
    res->sources = NULL;
    res->n_sources = 0;
}

const char *hs_version(void)
{
    return HS_VERSION;
}
