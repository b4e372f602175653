#include "report.h"

#include <errno.h>

static double elapsed(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void start(struct hs_report *rep, hs_event_fn fn, void *user)
{
    rep->fn = fn;
    rep->user = user;
    clock_gettime(CLOCK_MONOTONIC, &rep->t0);
    rep->last = rep->t0;
}

void hs_report_start_backup(struct hs_report *rep, hs_event_fn fn, void *user,
                            struct hs_backup_stats *st)
{
    *rep = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    rep->ev.stats = st;
    start(rep, fn, user);
}

void hs_report_start_restore(struct hs_report *rep, hs_event_fn fn, void *user,
                             struct hs_restore_stats *st)
{
    *rep = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    rep->ev.restore_stats = st;
    start(rep, fn, user);
}

void hs_report_start_export(struct hs_report *rep, hs_event_fn fn, void *user,
                            struct hs_export_stats *st)
{
    *rep = (struct hs_report){
        .entries = &st->entries, .warnings = &st->warnings, .seconds = &st->seconds};
    rep->ev.export_stats = st;
    start(rep, fn, user);
}

void hs_report_say(struct hs_report *rep, enum hs_event_type type, const char *path,
                   const char *msg)
{
    if (!rep->fn)
        return;
    struct hs_event ev = rep->ev;
    ev.type = type;
    ev.path = path;
    ev.msg = msg;
    rep->fn(&ev, rep->user);
}

void hs_report_event(struct hs_report *rep, enum hs_event_type type, const char *path,
                     const char *msg)
{
    if (!rep->muted)
        hs_report_say(rep, type, path, msg);
}

void hs_report_warn(struct hs_report *rep, int errnum, const char *what, const char *shown,
                    const char *path)
{
    (*rep->warnings)++;
    if (!rep->fn || rep->muted)
        return;
    struct hs_err w = {0};
    hs_err_path(&w, errnum, what, shown);
    hs_report_event(rep, HS_EV_WARNING, path, w.msg ? w.msg : what);
    hs_err_clear(&w);
}

void hs_report_warn_err(struct hs_report *rep, struct hs_err *w)
{
    if (!w->msg)
        return;
    (*rep->warnings)++;
    hs_report_say(rep, HS_EV_WARNING, NULL, w->msg);
    hs_err_clear(w);
}

void hs_report_notice_once(struct hs_report *rep, unsigned bit, const char *msg)
{
    if (rep->muted || (rep->notices & bit))
        return;
    rep->notices |= bit;
    hs_report_event(rep, HS_EV_NOTICE, NULL, msg);
}

void hs_report_xattrs(struct hs_report *rep, int err, unsigned bit, const char *none_msg,
                      const char *what, const char *shown, const char *path)
{
    if (err == -ENOTSUP || err == -EOPNOTSUPP)
        hs_report_notice_once(rep, bit, none_msg);
    else if (err < 0)
        hs_report_warn(rep, -err, what, shown, path);
}

void hs_report_entry(struct hs_report *rep)
{
    uint64_t n = ++*rep->entries;
    if (!rep->fn || rep->muted || (n & 255) != 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* the first report at once, so even a short run shows it is alive */
    if (n > 256 && elapsed(&rep->last, &now) < 0.2)
        return;
    rep->last = now;
    *rep->seconds = elapsed(&rep->t0, &now);
    hs_report_event(rep, HS_EV_PROGRESS, NULL, NULL);
}

double hs_report_seconds(const struct hs_report *rep)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return elapsed(&rep->t0, &now);
}
