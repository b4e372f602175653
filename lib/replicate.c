/*
 * A replica of a store (hardsnap.h, hs_replicate): each snapshot the replica
 * lacks becomes a backup whose one source is that snapshot, walked from its
 * manifest (carry.h, hs_tree_open_snapshot) with the store's inode numbers
 * as the entries' own. The engine then links exactly what the store shares
 * with the snapshot before (the same inode recorded at the same path),
 * copies the rest, and keeps the hard links inside the snapshot; the
 * replica's manifests are written by the engine as a backup's are, so the
 * replica is a store like any other (list, verify, restore, prune).
 */
#include "err.h"
#include "hardsnap.h"
#include "internal.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The replica's snapshots, oldest first (none when it does not exist yet). */
static int replica_names(const char *dest, char ***names, size_t *n, struct hs_err *e)
{
    *names = NULL;
    *n = 0;
    struct stat st;
    if (stat(dest, &st) < 0 && errno == ENOENT)
        return 0;
    struct hs_store s;
    struct hs_err oe = {0};
    if (hs_store_open(&s, dest, 0, &oe) < 0) {
        /* not a store: an empty directory becomes the replica, anything
         * else is refused by the backup; a store that cannot be read is
         * an error (taken for empty, it would get back what it pruned) */
        bool usage = oe.kind == HS_USAGE;
        hs_store_close(&s); /* (what opening took before it failed) */
        if (!usage) {
            *e = oe;
            return -EIO;
        }
        hs_err_clear(&oe);
        return 0;
    }
    int r = hs_store_list(&s, names, n, e);
    hs_store_close(&s);
    return r;
}

static bool has_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static bool in_store(const char *dest, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    return snprintf(path, sizeof path, "%s/%s", dest, name) < (int)sizeof path &&
           lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* What the summary of a replication adds up. */
static void add_stats(struct hs_backup_stats *sum, const struct hs_backup_stats *s)
{
    sum->entries += s->entries;
    sum->files += s->files;
    sum->linked += s->linked;
    sum->hardlinked += s->hardlinked;
    sum->copied += s->copied;
    sum->bytes_total += s->bytes_total;
    sum->bytes_copied += s->bytes_copied;
    sum->warnings += s->warnings;
    sum->seconds += s->seconds;
}

/* One snapshot of the store added to the replica. */
static enum hs_status add_one(const struct hs_replicate_opts *o, const char *name,
                              struct hs_replicate_result *res, struct hs_err *err)
{
    struct hs_source src = {.path = o->store, .snapshot = name};
    struct hs_backup_opts bo = {
        .sources = &src,
        .n_sources = 1,
        .dest = o->dest,
        .flags = HS_BACKUP_REPLICA | (o->dry_run ? HS_BACKUP_DRY_RUN : 0),
        .now = name,
        .copy_method = o->copy_method,
        .on_event = o->on_event,
        .user = o->user,
        .verbose_events = o->verbose_events,
    };
    struct hs_backup_result br;
    enum hs_status st = hs_backup(&bo, &br, err);
    if (st != HS_OK && st != HS_WARN && err->code == EEXIST && in_store(o->dest, name)) {
        /* a replication killed after the snapshot was complete (the
         * backup's recovery has just published it), or another one that
         * added it meanwhile */
        hs_err_clear(err);
        hs_backup_result_free(&br);
        res->present++;
        return HS_OK;
    }
    if (st == HS_OK || st == HS_WARN) {
        res->added++;
        add_stats(&res->stats, &br.stats);
    }
    if (o->on_snapshot)
        o->on_snapshot(o->user, name, st, &br, err);
    hs_backup_result_free(&br);
    return st;
}

enum hs_status hs_replicate(const struct hs_replicate_opts *o, struct hs_replicate_result *res,
                            struct hs_err *err)
{
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    if (!o->store || !*o->store || !o->dest || !*o->dest) {
        hs_err_usage(err, 0, "replicate needs a store and a replica", NULL);
        return HS_USAGE;
    }
    if (same_dir(o->store, o->dest)) {
        hs_err_usage(err, 0, "the replica is the store itself", o->dest);
        return HS_USAGE;
    }
    struct hs_store s;
    if (hs_store_open(&s, o->store, 0, err) < 0) {
        hs_store_close(&s);
        return err->kind ? err->kind : HS_FAILED;
    }
    char **names = NULL, **have = NULL;
    size_t n = 0, nhave = 0;
    int r = hs_store_list(&s, &names, &n, err);
    hs_store_close(&s);
    if (r == 0)
        r = replica_names(o->dest, &have, &nhave, err);
    if (r < 0) {
        hs_store_list_free(names, n);
        return err->kind ? err->kind : HS_FAILED;
    }
    /* (a name in the future is nobody's base: as for a backup) */
    const char *newest = nhave ? have[hs_snapshot_newest_current(have, nhave)] : NULL;
    if (newest)
        snprintf(res->newest, sizeof res->newest, "%s", newest);
    enum hs_status worst = HS_OK;
    for (size_t i = 0; i < n; i++) {
        if (has_name(have, nhave, names[i])) {
            res->present++;
            continue;
        }
        if (newest && strcmp(names[i], newest) < 0) {
            res->older++;
            continue;
        }
        if (hs_snapshot_in_future(names[i])) {
            res->future++;
            worst = HS_WARN;
            continue;
        }
        enum hs_status st = add_one(o, names[i], res, err);
        if (st != HS_OK && st != HS_WARN && !in_store(o->store, names[i])) {
            /* pruned from the store meanwhile: nothing to add (said) */
            hs_err_clear(err);
            res->vanished++;
            continue;
        }
        if (st != HS_OK && st != HS_WARN) {
            worst = st;
            break;
        }
        if (st == HS_WARN)
            worst = HS_WARN;
    }
    /* the store's newest left out (the replica has newer ones of its own):
     * the replica is not up to date, which must not pass in silence */
    if (worst != HS_FAILED && n && newest && !has_name(have, nhave, names[n - 1]) &&
        strcmp(names[n - 1], newest) < 0) {
        res->behind = true;
        worst = HS_WARN;
    }
    hs_store_list_free(names, n);
    hs_store_list_free(have, nhave);
    return worst;
}
