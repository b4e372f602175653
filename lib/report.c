#include "report.h"

#include <errno.h>

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void start(struct hs_report *r, hs_event_fn fn, void *user)
{
    r->fn = fn;
    r->user = user;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->last = r->t0;
}

void hs_report_start_backup(struct hs_report *r, hs_event_fn fn, void *user,
                            struct hs_backup_stats *st)
{
    *r = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    r->ev.stats = st;
    start(r, fn, user);
}

void hs_report_start_restore(struct hs_report *r, hs_event_fn fn, void *user,
                             struct hs_restore_stats *st)
{
    *r = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    r->ev.restore_stats = st;
    start(r, fn, user);
}

void hs_report_start_export(struct hs_report *r, hs_event_fn fn, void *user,
                            struct hs_export_stats *st)
{
    *r = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    r->ev.export_stats = st;
    start(r, fn, user);
}

void hs_report_say(struct hs_report *r, enum hs_event_type type, const char *path, const char *msg)
{
    if (!r->fn)
        return;
    struct hs_event ev = r->ev;
    ev.type = type;
    ev.path = path;
    ev.msg = msg;
    r->fn(&ev, r->user);
}

void hs_report_event(struct hs_report *r, enum hs_event_type type, const char *path,
                     const char *msg)
{
    if (!r->muted)
        hs_report_say(r, type, path, msg);
}

void hs_report_warn(struct hs_report *r, int errnum, const char *what, const char *shown,
                    const char *path)
{
    (*r->warnings)++;
    if (!r->fn || r->muted)
        return;
    struct hs_err w = {0};
    hs_err_path(&w, errnum, what, shown);
    hs_report_event(r, HS_EV_WARNING, path, w.msg ? w.msg : what);
    hs_err_clear(&w);
}

void hs_report_warn_err(struct hs_report *r, struct hs_err *w)
{
    if (!w->msg)
        return;
    (*r->warnings)++;
    hs_report_say(r, HS_EV_WARNING, NULL, w->msg);
    hs_err_clear(w);
}

void hs_report_notice_once(struct hs_report *r, unsigned bit, const char *msg)
{
    if (r->muted || (r->notices & bit))
        return;
    r->notices |= bit;
    hs_report_event(r, HS_EV_NOTICE, NULL, msg);
}

void hs_report_xattrs(struct hs_report *r, int err, unsigned bit, const char *none_msg,
                      const char *what, const char *shown, const char *path)
{
    if (err == -ENOTSUP || err == -EOPNOTSUPP)
        hs_report_notice_once(r, bit, none_msg);
    else if (err < 0)
        hs_report_warn(r, -err, what, shown, path);
}

void hs_report_entry(struct hs_report *r)
{
    uint64_t n = ++*r->entries;
    if (!r->fn || r->muted || (n & 255) != 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* the first report at once, so even a short run shows it is alive */
    if (n > 256 && elapsed(&r->last, &now) < 0.2)
        return;
    r->last = now;
    *r->seconds = elapsed(&r->t0, &now);
    hs_report_event(r, HS_EV_PROGRESS, NULL, NULL);
}

double hs_report_seconds(const struct hs_report *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return elapsed(&r->t0, &now);
}
