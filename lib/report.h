/*
 * Reporting from a long operation (backup, restore): events to the caller's
 * callback, warnings counted in the stats, notices said once, progress at
 * most five times a second. The library never prints; this is all it says.
 */
#ifndef HS_REPORT_H
#define HS_REPORT_H
#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct hs_report {
    hs_event_fn fn; /* may be NULL */
    void *user;
    /* the counts kept here, in the operation's stats (of whichever kind) */
    uint64_t *entries, *warnings;
    double *seconds;
    struct hs_event ev; /* with the stats pointer of the operation's kind */
    bool muted;         /* count, but send nothing (a pass that only looks) */
    unsigned notices;   /* bits of the notices already given */
    struct timespec t0, last;
};

void hs_report_start_backup(struct hs_report *rep, hs_event_fn fn, void *user,
                            struct hs_backup_stats *st);
void hs_report_start_restore(struct hs_report *rep, hs_event_fn fn, void *user,
                             struct hs_restore_stats *st);
void hs_report_start_export(struct hs_report *rep, hs_event_fn fn, void *user,
                            struct hs_export_stats *st);
/* Starts reporting an operation whose stats are st: a struct hs_backup_stats,
 * hs_restore_stats or hs_export_stats (each event carries it in its field). */
#define hs_report_start(r, fn, user, st)                                                           \
    _Generic((st), struct hs_backup_stats *                                                        \
             : hs_report_start_backup, struct hs_restore_stats *                                   \
             : hs_report_start_restore, struct hs_export_stats *                                   \
             : hs_report_start_export)(r, fn, user, st)
void hs_report_event(struct hs_report *rep, enum hs_event_type type, const char *path,
                     const char *msg);
/* The same, even when muted: what must be said whatever the pass. */
void hs_report_say(struct hs_report *rep, enum hs_event_type type, const char *path,
                   const char *msg);
/* A per-entry problem: counted, and reported as "what: shown: reason"
 * (shown is the path as the user knows it; path goes into the event). */
void hs_report_warn(struct hs_report *rep, int errnum, const char *what, const char *shown,
                    const char *path);
/* A warning already written into w (by the store, say), if there is one:
 * counted, said, and w cleared. */
void hs_report_warn_err(struct hs_report *rep, struct hs_err *w);
void hs_report_notice_once(struct hs_report *rep, unsigned bit, const char *msg);
/* Extended attributes that could not be set (err < 0): once the notice
 * none_msg if the filesystem has none, else a warning. */
void hs_report_xattrs(struct hs_report *rep, int err, unsigned bit, const char *none_msg,
                      const char *what, const char *shown, const char *path);
/* One more entry: counted, and now and then a progress event. */
void hs_report_entry(struct hs_report *rep);
/* Seconds since hs_report_start. */
double hs_report_seconds(const struct hs_report *rep);

#endif
