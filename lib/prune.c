/*
 * prune: the retention policy (retain.c) applied to a store. Each deleted
 * snapshot leaves sight in one rename (store.c), so a snapshot is never
 * half-visible; the space it gives back is what the filesystem reports.
 */
#include "hardsnap.h"
#include "retain.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

static uint64_t free_bytes(int fd)
{
    struct statvfs sv;
    return fstatvfs(fd, &sv) == 0 ? (uint64_t)sv.f_bfree * sv.f_frsize : 0;
}

static int prune_now(const struct hs_prune_opts *o, time_t *now, struct hs_err *e)
{
    if (!o->now) {
        *now = time(NULL);
        return 0;
    }
    int r = hs_check_now(o->now, e);
    if (r == 0)
        hs_snapshot_name_parse(o->now, now);
    return r;
}

static void report(const struct hs_prune_opts *o, const char *name, unsigned reasons,
                   uint64_t freed)
{
    if (!o->on_item)
        return;
    struct hs_prune_item it = {.name = name, .reasons = reasons, .freed = freed};
    o->on_item(&it, o->user);
}

static void say_warning(const struct hs_prune_opts *o, struct hs_err *t)
{
    if (o->on_event) {
        struct hs_event ev = {.type = HS_EV_WARNING, .msg = t->msg};
        o->on_event(&ev, o->user);
    }
    hs_err_clear(t);
}

/* A failure that does not stop the prune: the first becomes the run's error
 * (exit 3), later ones are warnings. */
static void keep_going(const struct hs_prune_opts *o, struct hs_err *first, struct hs_err *t)
{
    if (!first->msg) {
        hs_err_move(first, t);
        return;
    }
    say_warning(o, t);
}

/* Decides, then deletes oldest first. A snapshot that cannot be deleted
 * does not keep the others: each deletion stands alone, and latest is
 * pointed at the newest before and after (the newest is always kept). */
static int run(const struct hs_prune_opts *o, struct hs_store *s, time_t now,
               struct hs_prune_result *res, struct hs_err *e)
{
    char **names = NULL;
    size_t n = 0;
    struct hs_err t = {0};
    int r = hs_store_list(s, &names, &n, &t);
    struct hs_retain_item *items = r < 0 ? NULL : calloc(n ? n : 1, sizeof *items);
    if (!items) {
        if (r == 0)
            r = hs_err_setf(&t, ENOMEM, "prune");
        hs_store_list_free(names, n);
        keep_going(o, e, &t); /* after the trash's error, if there was one */
        return r;
    }
    for (size_t i = 0; i < n; i++)
        hs_snapshot_name_parse(names[i], &items[i].t);
    /* named in the future (a clock that ran ahead): sorted last, they are
     * kept and left out of the rules, so they can neither be "the newest"
     * nor push last night's snapshot out of --keep-last */
    size_t current = n;
    while (current > 0 && hs_snapshot_in_future(names[current - 1]))
        current--;
    hs_retain_apply(&o->policy, now, items, current);
    for (size_t i = current; i < n; i++) {
        items[i].reasons = HS_KEEP_FUTURE;
        hs_err_path(&t, 0,
                    "snapshot named in the future (the clock was ahead when it was made): "
                    "kept; remove it, or rename it to its true time",
                    names[i]);
        say_warning(o, &t);
        res->future++;
    }
    if (!o->dry_run && hs_store_update_latest(s, &t) < 0)
        keep_going(o, e, &t);
    for (size_t i = 0; i < n; i++) {
        uint64_t freed = 0;
        if (!items[i].reasons && !o->dry_run) {
            uint64_t before = free_bytes(s->destfd);
            if (hs_store_delete(s, names[i], &t) < 0) {
                keep_going(o, e, &t);
                continue;
            }
            uint64_t after = free_bytes(s->destfd);
            freed = after > before ? after - before : 0;
        }
        res->kept += items[i].reasons != 0;
        res->deleted += items[i].reasons == 0;
        res->freed += freed;
        report(o, names[i], items[i].reasons, freed);
    }
    free(items);
    hs_store_list_free(names, n);
    if (!o->dry_run && hs_store_update_latest(s, &t) < 0)
        keep_going(o, e, &t);
    return e->msg ? -(e->code ? e->code : EIO) : 0;
}

enum hs_status hs_prune(const struct hs_prune_opts *o, struct hs_prune_result *res,
                        struct hs_err *err)
{
    struct hs_store s;
    time_t now;
    memset(res, 0, sizeof *res);
    hs_err_clear(err);
    int r = 0;
    if (!hs_retain_any(&o->policy))
        r = hs_err_usage(err, 0,
                         "no keep option given (a count of 0 is none): prune needs a policy", NULL);
    if (r == 0)
        r = prune_now(o, &now, err);
    if (r < 0)
        return err->kind;
    r = hs_store_open(&s, o->dest, o->dry_run ? 0 : HS_STORE_LOCK, err);
    bool warned = s.warn.msg != NULL;
    if (warned)
        say_warning(o, &s.warn);
    if (r == 0 && !o->dry_run) {
        /* finish an interrupted prune first; what the trash cannot shed is
         * out of sight already, and no reason to keep the rest */
        struct hs_err t = {0};
        if (hs_store_empty_trash(&s, &t) < 0)
            keep_going(o, err, &t);
    }
    if (r == 0)
        r = run(o, &s, now, res, err);
    hs_store_close(&s);
    if (r < 0)
        return err->kind ? err->kind : HS_FAILED;
    return res->future || warned ? HS_WARN : HS_OK;
}
