/*
 * hardsnap report: one self-contained HTML page about a store
 * (hs_html_report). What it shows is gathered first (collect), from what
 * list, status and diff read, then written out (render), so the page can be
 * tested from made-up data.
 */
#ifndef HS_HTMLREPORT_H
#define HS_HTMLREPORT_H
#include "internal.h"

#include "buf.h"
#include "hardsnap.h"

#include <stdbool.h>
#include <stdint.h>

/* The biggest growers shown; the runs drawn (the log's newest). */
#define HS_HTMLREPORT_GROWERS 20
#define HS_HTMLREPORT_RUNS    90

/* A backup (or run, import) line of the store's log. */
struct hs_htmlreport_run {
    char start[HS_SNAPSHOT_NAME_LEN + 1], end[HS_SNAPSHOT_NAME_LEN + 1];
    char command[16];
    int status;
    uint64_t files, copied, linked, bytes;
    int64_t seconds;                         /* end - start */
    char snapshot[HS_SNAPSHOT_NAME_LEN + 1]; /* "" if it made none */
    char *stale;                             /* sources carried forward, comma-separated; or NULL */
    char *sources;    /* the run's sources, comma-separated; or NULL (a lone one, an old log) */
    char anomaly[32]; /* "unlinked", "change", both, or "" (anomaly.h) */
};

/* A source the log or .hardsnap/stale names (the others were never carried
 * forward: their last success is the last run's). */
struct hs_htmlreport_source {
    char name[256];
    char last_ok[HS_SNAPSHOT_NAME_LEN + 1]; /* the newest snapshot with it backed up; "" none */
    bool stale;                             /* carried forward now */
    char since[HS_SNAPSHOT_NAME_LEN + 1];   /* when stale: its tree is that snapshot's */
};

/* A regular file of the newer snapshot, larger than in the older one. */
struct hs_htmlreport_grower {
    char *path; /* raw bytes, malloc'd */
    size_t len;
    uint64_t before, after; /* before: 0 when added */
    bool added;             /* no regular file at its path in the older snapshot */
};

struct hs_htmlreport_data {
    char *dest;                         /* the store as given, for the title */
    char now[HS_SNAPSHOT_NAME_LEN + 1]; /* when the page was made */
    int64_t max_age;
    struct hs_list list;     /* hs_list's snapshots and bytes */
    struct hs_health health; /* hs_health's view (newest, stale, last run) */
    struct hs_htmlreport_run *runs;
    size_t n_runs;                          /* oldest first */
    char last_ok[HS_SNAPSHOT_NAME_LEN + 1]; /* the newest run that made a snapshot */
    bool all_named; /* that run's log line names its sources (sources=): no "every other" */
    struct hs_htmlreport_source *sources;
    size_t n_sources;
    char grow_a[HS_SNAPSHOT_NAME_LEN + 1], grow_b[HS_SNAPSHOT_NAME_LEN + 1]; /* "" < 2 */
    struct hs_htmlreport_grower growers[HS_HTMLREPORT_GROWERS];              /* biggest first */
    size_t n_growers;
};

/* Reads the store: its list, health, log and the last two snapshots'
 * difference. now: the clock (HARDSNAP_NOW) or NULL. <0 with e set (kind
 * HS_FAILED: not a store, no snapshot); hs_htmlreport_free after any result. */
int hs_htmlreport_collect(const char *dest, const char *now, int64_t max_age,
                          struct hs_htmlreport_data *d, struct hs_err *e);
void hs_htmlreport_free(struct hs_htmlreport_data *d);

/* The page into b; nonce (letters and digits) allows its scripts. 0 or -ENOMEM. */
int hs_htmlreport_render(const struct hs_htmlreport_data *d, const char *nonce, struct hs_buf *b);

/* Parses one log line into run (its stale malloc'd): 1 a backup-like line
 * (backup, run, import), 0 another command or not a line, -ENOMEM. */
int hs_htmlreport_parse_run(const char *line, struct hs_htmlreport_run *run);
/* Puts path (grown from before to after bytes) into the top list, biggest
 * growth first, if it is among the HS_HTMLREPORT_GROWERS biggest; -ENOMEM. */
int hs_htmlreport_add_grower(struct hs_htmlreport_data *d, const char *path, size_t len,
                             uint64_t before, uint64_t after, bool added);

/* s as HTML text or attribute value: escaped for display as paths are
 * (hs_escape: control bytes, invalid UTF-8, bidi controls), then & < > " '. */
int hs_htmlreport_text(struct hs_buf *b, const char *s, size_t len);
/* s as a JSON string that can sit inside a <script> element: hs_escape'd,
 * then quotes, backslashes and < > & as \uXXXX (no "</script>" can end it). */
int hs_htmlreport_json(struct hs_buf *b, const char *s, size_t len);

#endif
