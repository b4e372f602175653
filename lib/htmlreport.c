/*
 * hardsnap report: one HTML page a person opens to see how a store grows.
 *
 * Nothing is computed here that another command already knows: the
 * snapshots' bytes are hs_list's, the newest snapshot, the stale sources
 * and the last run are hs_health's, the runs are the log's lines (read with
 * status's field parser), and the growers come from the two newest
 * snapshots read as diff reads them (manifest, else the tree).
 *
 * The page needs nothing but itself: the charts are SVG drawn here, the
 * style is inline, and its one script only checks that the charts are there
 * (a browser test reads the marker it sets). Every string from the store
 * (file names, source names, the store's own path) is user data: it is
 * escaped for display as the terminal commands do (hs_escape), then for
 * HTML, or for JSON inside a <script> element with < > & as \uXXXX. A
 * Content-Security-Policy with a per-page nonce forbids any other script,
 * event-handler attributes and every load from the network, in case
 * escaping were ever wrong.
 */
#include "htmlreport.h"
#include "log.h"

#include "fsutil.h"
#include "manifest.h"
#include "snapshot.h"
#include "store.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* The log's end read for the runs: years of nightly lines. */
#define LOG_READ_MAX (4u << 20)

/* ---- escaping ---------------------------------------------------------- */

int hs_htmlreport_text(struct hs_buf *b, const char *s, size_t len)
{
    char *esc = hs_escape(s, len);
    if (!esc)
        return -ENOMEM;
    int r = 0;
    for (const char *p = esc; *p && r == 0; p++) {
        switch (*p) {
        case '&':
            r = hs_buf_puts(b, "&amp;");
            break;
        case '<':
            r = hs_buf_puts(b, "&lt;");
            break;
        case '>':
            r = hs_buf_puts(b, "&gt;");
            break;
        case '"':
            r = hs_buf_puts(b, "&quot;");
            break;
        case '\'':
            r = hs_buf_puts(b, "&#39;");
            break;
        default:
            r = hs_buf_putc(b, *p);
        }
    }
    free(esc);
    return r;
}

int hs_htmlreport_json(struct hs_buf *b, const char *s, size_t len)
{
    char *esc = hs_escape(s, len);
    if (!esc)
        return -ENOMEM;
    int r = hs_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)esc; *p && r == 0; p++) {
        char u[8];
        if (*p == '"' || *p == '\\') {
            hs_buf_putc(b, '\\');
            r = hs_buf_putc(b, (char)*p);
        } else if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '&') {
            /* < and > and &: no "</script" or "<!--" inside the element */
            snprintf(u, sizeof u, "\\u%04x", *p);
            r = hs_buf_puts(b, u);
        } else {
            r = hs_buf_putc(b, (char)*p);
        }
    }
    free(esc);
    return r < 0 ? r : hs_buf_putc(b, '"');
}

static int html(struct hs_buf *b, const char *s)
{
    return hs_htmlreport_text(b, s, strlen(s));
}

/* Markup and numbers of ours (never a string from the store). */
static void putf(struct hs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct hs_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        hs_buf_append(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* 3 d 4 h, 5 h 2 min, 42 s */
static const char *fmt_age(char out[32], int64_t s)
{
    if (s < 0)
        snprintf(out, 32, "in the future");
    else if (s < 120)
        snprintf(out, 32, "%" PRId64 " s", s);
    else if (s < 7200)
        snprintf(out, 32, "%" PRId64 " min", s / 60);
    else if (s < 172800)
        snprintf(out, 32, s % 3600 / 60 ? "%" PRId64 " h %" PRId64 " min" : "%" PRId64 " h",
                 s / 3600, s % 3600 / 60);
    else
        snprintf(out, 32, "%" PRId64 " d %" PRId64 " h", s / 86400, s % 86400 / 3600);
    return out;
}

/* 2026-11-22T020000Z as 2026-11-22 02:00:00 */
static const char *fmt_name(char out[32], const char *name)
{
    if (!hs_snapshot_name_valid(name)) {
        snprintf(out, 32, "%s", name[0] ? "?" : "-");
        return out;
    }
    snprintf(out, 32, "%.10s %.2s:%.2s:%.2s", name, name + 11, name + 13, name + 15);
    return out;
}

/* ---- the log ------------------------------------------------------------- */

static uint64_t field_num(const char *line, const char *key)
{
    char v[32];
    return hs_log_field(line, key, v, sizeof v) ? strtoull(v, NULL, 10) : 0;
}

/* The log writes a stale name's odd bytes as %XX (log.c). */
static char *percent_decode(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s; *p; p++) {
        unsigned v;
        if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1 && p[1] && p[2]) {
            *o++ = (char)v;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

int hs_htmlreport_parse_run(const char *line, struct hs_htmlreport_run *run)
{
    memset(run, 0, sizeof *run);
    char status[16];
    if (!hs_log_field(line, "command", run->command, sizeof run->command) ||
        !hs_log_field(line, "start", run->start, sizeof run->start) ||
        !hs_log_field(line, "end", run->end, sizeof run->end) ||
        !hs_log_field(line, "status", status, sizeof status))
        return 0;
    if (strcmp(run->command, "backup") && strcmp(run->command, "run") &&
        strcmp(run->command, "import"))
        return 0;
    run->status = atoi(status);
    run->files = field_num(line, "files");
    run->copied = field_num(line, "copied");
    run->linked = field_num(line, "linked");
    run->bytes = field_num(line, "bytes");
    time_t a, b;
    if (hs_snapshot_name_parse(run->start, &a) == 0 && hs_snapshot_name_parse(run->end, &b) == 0)
        run->seconds = (int64_t)b - (int64_t)a;
    if (!hs_log_field(line, "snapshot", run->snapshot, sizeof run->snapshot) ||
        !hs_snapshot_name_valid(run->snapshot))
        run->snapshot[0] = '\0';
    /* words log.c writes, nothing else: it goes into the page as is */
    if (hs_log_field(line, "anomaly", run->anomaly, sizeof run->anomaly) &&
        run->anomaly[strspn(run->anomaly, "abcdefghijklmnopqrstuvwxyz,")] != '\0')
        run->anomaly[0] = '\0';
    char names[1024];
    if (hs_log_field(line, "stale", names, sizeof names) && names[0] &&
        !(run->stale = percent_decode(names)))
        return -ENOMEM;
    if (hs_log_field(line, "sources", names, sizeof names) && names[0] &&
        !(run->sources = percent_decode(names))) {
        free(run->stale);
        run->stale = NULL;
        return -ENOMEM;
    }
    return 1;
}

/* Whether name is one of the comma-separated names in list. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !memcmp(p, name, n))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static struct hs_htmlreport_source *find_source(struct hs_htmlreport_data *d, const char *name,
                                                size_t len, bool add)
{
    for (size_t i = 0; i < d->n_sources; i++)
        if (strlen(d->sources[i].name) == len && !memcmp(d->sources[i].name, name, len))
            return &d->sources[i];
    if (!add || len >= sizeof d->sources->name)
        return NULL;
    struct hs_htmlreport_source *p = realloc(d->sources, (d->n_sources + 1) * sizeof *p);
    if (!p)
        return NULL;
    d->sources = p;
    p = &d->sources[d->n_sources++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, len);
    return p;
}

/* Adds each name of the comma-separated list. */
static int add_sources(struct hs_htmlreport_data *d, const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len && len < sizeof d->sources->name && !find_source(d, p, len, true))
            return -ENOMEM;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Each source the log names (a run's, or carried forward) or .hardsnap/stale
 * does: the newest run that made a snapshot with it backed up, not carried. */
static int sources_from_runs(struct hs_htmlreport_data *d)
{
    for (size_t i = 0; i < d->health.n_stale; i++) {
        const struct hs_stale_source *s = &d->health.stale[i];
        struct hs_htmlreport_source *src = find_source(d, s->name, strlen(s->name), true);
        if (!src)
            return -ENOMEM;
        src->stale = true;
        snprintf(src->since, sizeof src->since, "%s", s->since);
    }
    for (size_t i = 0; i < d->n_runs; i++)
        if (add_sources(d, d->runs[i].sources) < 0 || add_sources(d, d->runs[i].stale) < 0)
            return -ENOMEM;
    for (size_t i = 0; i < d->n_runs; i++) {
        const struct hs_htmlreport_run *r = &d->runs[i];
        if (!r->snapshot[0] || r->status > HS_WARN)
            continue;
        snprintf(d->last_ok, sizeof d->last_ok, "%s", r->snapshot);
        d->all_named = r->sources != NULL;
        for (size_t k = 0; k < d->n_sources; k++)
            if (!in_list(r->stale, d->sources[k].name) &&
                (!r->sources || in_list(r->sources, d->sources[k].name)))
                snprintf(d->sources[k].last_ok, sizeof d->sources[k].last_ok, "%s", r->snapshot);
    }
    return 0;
}

static int add_run(struct hs_htmlreport_data *d, const char *line, size_t *cap)
{
    struct hs_htmlreport_run run;
    int k = hs_htmlreport_parse_run(line, &run);
    if (k <= 0)
        return k;
    if (d->n_runs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct hs_htmlreport_run *p = realloc(d->runs, ncap * sizeof *p);
        if (!p) {
            free(run.stale);
            free(run.sources);
            return -ENOMEM;
        }
        d->runs = p;
        *cap = ncap;
    }
    d->runs[d->n_runs++] = run;
    return 0;
}

/* The complete lines of the log's last LOG_READ_MAX bytes. */
static int read_log(struct hs_htmlreport_data *d, const char *dest, struct hs_err *e)
{
    struct hs_store s;
    int r = hs_store_open(&s, dest, 0, e);
    if (r < 0) {
        hs_store_close(&s);
        return r;
    }
    int fd = hs_open_regular(s.hsfd, "log", O_RDONLY, 0);
    hs_store_close(&s);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return 0; /* no log: no runs to show */
    }
    off_t from = st.st_size > (off_t)LOG_READ_MAX ? st.st_size - (off_t)LOG_READ_MAX : 0;
    size_t want = (size_t)(st.st_size - from);
    char *buf = malloc(want + 1);
    ssize_t n = buf ? pread(fd, buf, want, from) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return buf ? 0 : hs_err_setf(e, ENOMEM, "report");
    }
    buf[n] = '\0';
    char *p = buf;
    if (from > 0) /* the first line is cut */
        p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + n;
    size_t cap = 0;
    for (char *nl; r == 0 && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0'; /* a line still being written (no newline yet) is left */
        r = add_run(d, p, &cap);
    }
    free(buf);
    if (r == 0)
        r = sources_from_runs(d);
    return r < 0 ? hs_err_setf(e, -r, "report") : 0;
}

/* ---- the growers ------------------------------------------------------- */

int hs_htmlreport_add_grower(struct hs_htmlreport_data *d, const char *path, size_t len,
                             uint64_t before, uint64_t after, bool added)
{
    uint64_t growth = after - before;
    size_t n = d->n_growers, at = n;
    while (at > 0 && d->growers[at - 1].after - d->growers[at - 1].before < growth)
        at--;
    if (at >= HS_HTMLREPORT_GROWERS)
        return 0;
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, path, len);
    copy[len] = '\0';
    if (n == HS_HTMLREPORT_GROWERS)
        free(d->growers[--n].path); /* the smallest falls off */
    memmove(&d->growers[at + 1], &d->growers[at], (n - at) * sizeof d->growers[0]);
    d->growers[at] = (struct hs_htmlreport_grower){copy, len, before, after, added};
    d->n_growers = n + 1;
    return 0;
}

static void ignore_warning(const char *msg, void *user)
{
    (void)msg;
    (void)user;
}

/* The regular files of b larger than at their path in a, merged in walk
 * order as hs_diff merges. */
static int merge_growth(struct hs_htmlreport_data *d, struct hs_snapiter *ia,
                        struct hs_snapiter *ib, struct hs_err *e)
{
    const struct hs_mentry *a = NULL, *b = NULL;
    int ka = hs_snapiter_next(ia, &a, e), kb = ka < 0 ? ka : hs_snapiter_next(ib, &b, e);
    while (ka >= 0 && kb > 0) {
        int c = ka > 0 ? hs_path_cmp(a->path, a->path_len, b->path, b->path_len) : 1;
        if (c < 0) {
            ka = hs_snapiter_next(ia, &a, e);
            continue;
        }
        bool same = c == 0 && a->type == HS_FT_REG;
        uint64_t before = same ? a->size : 0;
        int k = b->type == HS_FT_REG && b->size > before
                    ? hs_htmlreport_add_grower(d, b->path, b->path_len, before, b->size, !same)
                    : 0;
        if (k < 0)
            return hs_err_setf(e, -k, "report");
        if (c == 0)
            ka = hs_snapiter_next(ia, &a, e);
        if (ka >= 0)
            kb = hs_snapiter_next(ib, &b, e);
    }
    return ka < 0 ? ka : kb < 0 ? kb : 0;
}

static int open_iter(const char *dest, const char *name, struct hs_snapref *ref,
                     struct hs_snapiter **it, struct hs_err *e)
{
    char *arg = NULL;
    if (asprintf(&arg, "%s/%s", dest, name) < 0)
        return hs_err_setf(e, ENOMEM, "report");
    int r = hs_snapref_resolve(ref, arg, false, e);
    free(arg);
    if (r == 0)
        r = hs_snapiter_open(it, ref, false, ignore_warning, NULL, e);
    return r;
}

/* The two newest snapshots not named in the future. */
static int collect_growers(struct hs_htmlreport_data *d, const char *dest, struct hs_err *e)
{
    for (size_t i = d->list.n; i-- > 0;) {
        const struct hs_list_entry *s = &d->list.snapshots[i];
        if (s->future)
            continue;
        if (!d->grow_b[0]) {
            memcpy(d->grow_b, s->name, sizeof d->grow_b);
        } else {
            memcpy(d->grow_a, s->name, sizeof d->grow_a);
            break;
        }
    }
    if (!d->grow_a[0]) {
        d->grow_b[0] = '\0';
        return 0;
    }
    struct hs_snapref ra = {0}, rb = {0};
    struct hs_snapiter *ia = NULL, *ib = NULL;
    int r = open_iter(dest, d->grow_a, &ra, &ia, e);
    if (r == 0)
        r = open_iter(dest, d->grow_b, &rb, &ib, e);
    if (r == 0)
        r = merge_growth(d, ia, ib, e);
    hs_snapiter_free(ia);
    hs_snapiter_free(ib);
    hs_snapref_free(&ra);
    hs_snapref_free(&rb);
    return r;
}

/* ---- gathering --------------------------------------------------------- */

int hs_htmlreport_collect(const char *dest, const char *now, int64_t max_age,
                          struct hs_htmlreport_data *d, struct hs_err *e)
{
    memset(d, 0, sizeof *d);
    d->max_age = max_age > 0 ? max_age : 26 * 3600;
    if (!(d->dest = strdup(dest)))
        return hs_err_setf(e, ENOMEM, "report");
    time_t t = time(NULL);
    if (now && hs_snapshot_name_parse(now, &t) < 0)
        return hs_err_usage(e, EINVAL, "not a snapshot time (YYYY-MM-DDTHHMMSSZ)", now);
    hs_snapshot_name_format(t, d->now);
    enum hs_status st = hs_health(dest, now, d->max_age, &d->health, e);
    if (st == HS_FAILED || st == HS_USAGE)
        return -(e->code ? e->code : ENOENT);
    hs_err_clear(e);
    st = hs_list(dest, &d->list, e);
    if (st != HS_OK)
        return -(e->code ? e->code : EIO);
    if (d->list.n == 0) /* all pruned since status looked */
        return hs_err_path(e, 0, "no snapshot in", dest);
    int r = read_log(d, dest, e);
    if (r == 0)
        r = collect_growers(d, dest, e);
    return r;
}

void hs_htmlreport_free(struct hs_htmlreport_data *d)
{
    free(d->dest);
    hs_list_free(&d->list);
    hs_health_free(&d->health);
    for (size_t i = 0; i < d->n_runs; i++) {
        free(d->runs[i].stale);
        free(d->runs[i].sources);
    }
    free(d->runs);
    free(d->sources);
    for (size_t i = 0; i < d->n_growers; i++)
        free(d->growers[i].path);
    memset(d, 0, sizeof *d);
}

/* ---- drawing ------------------------------------------------------------ */

/* Chart geometry (SVG user units; the SVG scales to the page's width). */
#define CW 960
#define CH 300
#define ML 84
#define MR 24
#define MT 16
#define MB 46

enum axis_kind { AXIS_BYTES, AXIS_COUNT, AXIS_SECONDS };

/* The top of an axis showing up to v: four steps of 1, 2, 2.5 or 5 times a
 * power of ten, at least 1 (of KiB, MiB... for bytes, of minutes for long
 * runs), so every
 * grid line's label is exact. */
static double axis_top(double v, enum axis_kind k)
{
    double unit = 1;
    if (k == AXIS_BYTES)
        while (v / 4 >= unit * 1024)
            unit *= 1024;
    if (k == AXIS_SECONDS && v / 4 >= 60)
        unit = 60;
    double want = v / 4 / unit, p = 1;
    while (p * 10 <= want)
        p *= 10;
    static const double mult[] = {1, 2, 2.5, 5, 10};
    double step = 10 * p;
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++)
        if (mult[i] * p >= want && !(mult[i] == 2.5 && p == 1)) { /* no 2.5 files */
            step = mult[i] * p;
            break;
        }
    return v > 0 ? 4 * step * unit : 4;
}

static const char *fmt_axis(char out[32], enum axis_kind k, double v)
{
    if (k == AXIS_BYTES)
        return hs_bytes_text(out, 32, (uint64_t)v);
    if (k == AXIS_SECONDS && v >= 60) {
        snprintf(out, 32, "%g min", v / 60);
        return out;
    }
    snprintf(out, 32, "%g%s", v, k == AXIS_SECONDS ? " s" : "");
    return out;
}

/* The frame: horizontal grid lines with the axis's labels. */
static void draw_grid(struct hs_buf *b, double top, enum axis_kind k)
{
    for (int i = 0; i <= 4; i++) {
        double v = top * i / 4;
        double y = MT + (CH - MT - MB) * (1 - i / 4.0);
        char lab[32];
        putf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", ML, y,
             CW - MR, y);
        putf(b, "<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%s</text>\n", ML - 6, y + 4,
             fmt_axis(lab, k, v));
    }
}

/* A snapshot name's date and time as an x-axis label at x. */
static void draw_xlabel(struct hs_buf *b, double x, const char *name)
{
    char when[32];
    fmt_name(when, name);
    when[10] = '\0';
    /* near the right edge it ends at its point, not past the frame */
    const char *anchor = x > CW - MR - 40 ? " style=\"text-anchor:end\"" : "";
    putf(b, "<text class=\"xlab\"%s x=\"%.1f\" y=\"%d\">%s</text>", anchor, x, CH - MB + 18, when);
    putf(b, "<text class=\"xlab\"%s x=\"%.1f\" y=\"%d\">%s</text>\n", anchor, x, CH - MB + 34,
         when + 11);
}

/* Snapshots over time: total and unique bytes, one point each. */
static void draw_snapshots(struct hs_buf *b, const struct hs_list *l)
{
    time_t t0 = 0, t1 = 0;
    double top = 0;
    for (size_t i = 0; i < l->n; i++) {
        time_t t = 0;
        hs_snapshot_name_parse(l->snapshots[i].name, &t);
        t0 = i == 0 || t < t0 ? t : t0;
        t1 = i == 0 || t > t1 ? t : t1;
        top = (double)l->snapshots[i].total_bytes > top ? (double)l->snapshots[i].total_bytes : top;
        top =
            (double)l->snapshots[i].unique_bytes > top ? (double)l->snapshots[i].unique_bytes : top;
    }
    top = axis_top(top, AXIS_BYTES);
    putf(b,
         "<svg id=\"chart\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
         "aria-label=\"snapshots over time\" data-points=\"%zu\">\n",
         CW, CH, 2 * l->n);
    draw_grid(b, top, AXIS_BYTES);
    double pw = CW - ML - MR, ph = CH - MT - MB;
    double *xs = calloc(l->n ? l->n : 1, sizeof *xs);
    if (!xs)
        return;
    for (size_t i = 0; i < l->n; i++) {
        time_t t = 0;
        hs_snapshot_name_parse(l->snapshots[i].name, &t);
        xs[i] = t1 > t0 ? ML + pw * (double)(t - t0) / (double)(t1 - t0) : ML + pw / 2;
    }
    static const char *const series[] = {"total", "unique"};
    for (int s = 0; s < 2; s++) {
        putf(b, "<polyline class=\"%s\" points=\"", series[s]);
        for (size_t i = 0; i < l->n; i++) {
            const struct hs_list_entry *e = &l->snapshots[i];
            double v = (double)(s ? e->unique_bytes : e->total_bytes);
            putf(b, "%s%.1f,%.1f", i ? " " : "", xs[i], MT + ph * (1 - v / top));
        }
        hs_buf_puts(b, "\"/>\n");
        for (size_t i = 0; i < l->n; i++) {
            const struct hs_list_entry *e = &l->snapshots[i];
            uint64_t v = s ? e->unique_bytes : e->total_bytes;
            char when[32], by[32];
            putf(b, "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>%s: %s %s",
                 series[s], xs[i], MT + ph * (1 - (double)v / top), fmt_name(when, e->name),
                 series[s], hs_bytes_text(by, sizeof by, v));
            putf(b, ", %" PRIu64 " files</title></circle>\n", e->files);
        }
    }
    /* labels: the first, the last, and a few between that do not collide */
    double last_x = -1e9;
    for (size_t i = 0; i < l->n; i++)
        if ((i == 0 || i + 1 == l->n || xs[i] - last_x > 110) &&
            (i + 1 == l->n || xs[l->n - 1] - xs[i] > 110 || i == 0)) {
            draw_xlabel(b, xs[i], l->snapshots[i].name);
            last_x = xs[i];
        }
    free(xs);
    hs_buf_puts(b, "</svg>\n");
}

/* The runs of the log, newest last: n of them from first. */
static void draw_runs(struct hs_buf *b, const struct hs_htmlreport_run *runs, size_t n, bool time)
{
    double top = 0;
    for (size_t i = 0; i < n; i++) {
        double v = time ? (double)runs[i].seconds : (double)(runs[i].copied + runs[i].linked);
        top = v > top ? v : top;
    }
    top = axis_top(top, time ? AXIS_SECONDS : AXIS_COUNT);
    putf(b,
         "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" data-bars=\"%zu\">\n",
         time ? "durations" : "runs", CW, CH, n);
    draw_grid(b, top, time ? AXIS_SECONDS : AXIS_COUNT);
    double pw = CW - ML - MR, ph = CH - MT - MB, slot = pw / (double)(n ? n : 1);
    double w = slot * 0.7 > 48 ? 48 : slot * 0.7 > 1 ? slot * 0.7 : 1;
    double last_x = -1e9;
    for (size_t i = 0; i < n; i++) {
        const struct hs_htmlreport_run *r = &runs[i];
        double x = ML + slot * (double)i + (slot - w) / 2;
        bool failed = r->status > HS_WARN;
        const char *mark = failed ? " failed" : r->anomaly[0] ? " anomaly" : "";
        char when[32];
        fmt_name(when, r->end);
        if (time) {
            double h = ph * (double)r->seconds / top;
            putf(b,
                 "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                 "<title>%s %s: %" PRId64 " s, exit %d</title></rect>\n",
                 failed ? "failed" : "dur", x, MT + ph - h, w, h, when, r->command, r->seconds,
                 r->status);
        } else {
            double hl = ph * (double)r->linked / top, hc = ph * (double)r->copied / top;
            putf(b,
                 "<rect class=\"bar linked\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                 "height=\"%.1f\"/>",
                 x, MT + ph - hl, w, hl);
            putf(b,
                 "<rect class=\"bar copied\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                 "height=\"%.1f\"/>",
                 x, MT + ph - hl - hc, w, hc);
            /* the whole slot carries the tooltip, and marks a failed run
             * or one that raised an anomaly */
            putf(b,
                 "<rect class=\"hit%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%.1f\">"
                 "<title>%s %s, exit %d: %" PRIu64 " copied, %" PRIu64 " linked%s%s</title>"
                 "</rect>\n",
                 mark, ML + slot * (double)i, MT, slot, ph, when, r->command, r->status, r->copied,
                 r->linked, r->anomaly[0] ? "; anomaly: " : "", r->anomaly);
        }
        double cx = x + w / 2;
        if (i == 0 || i + 1 == n || (cx - last_x > 110 && (ML + pw) - cx > 110)) {
            draw_xlabel(b, cx, r->end);
            last_x = cx;
        }
    }
    hs_buf_puts(b, "</svg>\n");
}

/* ---- the page ----------------------------------------------------------- */

static const char page_style[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;"
    "color:#1d2330;background:#f4f6f9}"
    "header{background:#1d2b45;color:#fff;padding:18px 28px}"
    "header h1{margin:0;font-size:22px;font-weight:600;word-break:break-all}"
    "header p{margin:4px 0 0;color:#b8c4dc}"
    "main{padding:8px 28px 28px;max-width:1200px}"
    "section{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:14px 18px;"
    "margin:16px 0}"
    "h2{font-size:17px;margin:0 0 8px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}"
    ".card{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:10px 16px;"
    "min-width:150px}"
    ".card b{display:block;font-size:20px}.card span{color:#5b6578;font-size:12px}"
    ".ok{color:#137333}.warn{color:#b3261e}"
    "svg.chart{width:100%;height:auto;display:block}"
    ".grid{stroke:#e3e7ee;stroke-width:1}"
    ".ylab{font-size:12px;fill:#5b6578;text-anchor:end}"
    ".xlab{font-size:12px;fill:#5b6578;text-anchor:middle}"
    "polyline{fill:none;stroke-width:2.5}"
    "polyline.total{stroke:#2f6fdb}polyline.unique{stroke:#e8710a}"
    "circle.total{fill:#2f6fdb}circle.unique{fill:#e8710a}"
    ".bar.linked{fill:#34a853}.bar.copied{fill:#2f6fdb}.bar.dur{fill:#7b61c9}"
    ".bar.failed{fill:#d93025}.hit{fill:transparent}.hit.failed{fill:rgba(217,48,37,.15)}"
    ".hit.anomaly{fill:rgba(242,153,0,.22)}"
    ".legend{font-size:13px;color:#5b6578;margin:2px 0 6px}"
    ".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;"
    "margin:0 5px -1px 12px}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceff4;vertical-align:top}"
    "th{color:#5b6578;font-weight:600}td.num,th.num{text-align:right;white-space:nowrap}"
    "td.path{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}"
    ".gbar{height:8px;background:#e8710a;border-radius:4px;min-width:2px}"
    "details summary{cursor:pointer;color:#2f6fdb;margin-top:8px}"
    "footer{color:#5b6578;font-size:12px;padding:0 28px 24px}";

/* The first script: any script error marks the page (the browser test
 * reads the mark). The second checks the charts against the data. */
static const char page_onerror[] = "window.addEventListener('error',function(){"
                                   "document.documentElement.setAttribute('data-error','1');});";
static const char page_check[] =
    "(function(){var root=document.documentElement;"
    "var d=JSON.parse(document.getElementById('hs-data').textContent);"
    "var pts=document.querySelectorAll('#chart circle.pt').length;"
    "if(!d.snapshots.length||pts!==2*d.snapshots.length)"
    "throw new Error('chart: '+pts+' points for '+d.snapshots.length+' snapshots');"
    "var bars=document.querySelectorAll('#runs rect.hit').length;"
    "if(bars!==d.runs.length)throw new Error('runs: '+bars+' bars for '+d.runs.length);"
    "root.setAttribute('data-points',String(pts));"
    "root.setAttribute('data-chart','drawn');})();";

static void json_num(struct hs_buf *b, const char *key, uint64_t v, bool comma)
{
    putf(b, "%s\"%s\":%" PRIu64, comma ? "," : "", key, v);
}

static void json_str(struct hs_buf *b, const char *key, const char *s, bool comma)
{
    putf(b, "%s\"%s\":", comma ? "," : "", key);
    hs_htmlreport_json(b, s, strlen(s));
}

/* The data the page shows, for the check and for whoever wants numbers. */
static void put_data(struct hs_buf *b, const struct hs_htmlreport_data *d,
                     const struct hs_htmlreport_run *runs, size_t n_runs)
{
    hs_buf_puts(b, "{");
    json_str(b, "dest", d->dest, false);
    json_str(b, "generated", d->now, true);
    hs_buf_puts(b, ",\"snapshots\":[");
    for (size_t i = 0; i < d->list.n; i++) {
        const struct hs_list_entry *e = &d->list.snapshots[i];
        hs_buf_puts(b, i ? ",{" : "{");
        json_str(b, "name", e->name, false);
        json_num(b, "files", e->files, true);
        json_num(b, "total_bytes", e->total_bytes, true);
        json_num(b, "unique_bytes", e->unique_bytes, true);
        hs_buf_puts(b, "}");
    }
    hs_buf_puts(b, "],\"runs\":[");
    for (size_t i = 0; i < n_runs; i++) {
        const struct hs_htmlreport_run *r = &runs[i];
        hs_buf_puts(b, i ? ",{" : "{");
        json_str(b, "end", r->end, false);
        json_str(b, "command", r->command, true);
        json_num(b, "status", (uint64_t)r->status, true);
        json_num(b, "copied", r->copied, true);
        json_num(b, "linked", r->linked, true);
        json_num(b, "seconds", r->seconds > 0 ? (uint64_t)r->seconds : 0, true);
        hs_buf_puts(b, "}");
    }
    hs_buf_puts(b, "],\"sources\":[");
    for (size_t i = 0; i < d->n_sources; i++) {
        const struct hs_htmlreport_source *s = &d->sources[i];
        hs_buf_puts(b, i ? ",{" : "{");
        json_str(b, "name", s->name, false);
        json_str(b, "last_success", s->last_ok, true);
        putf(b, ",\"stale\":%s}", s->stale ? "true" : "false");
    }
    hs_buf_puts(b, "],\"growers\":[");
    for (size_t i = 0; i < d->n_growers; i++) {
        const struct hs_htmlreport_grower *g = &d->growers[i];
        hs_buf_puts(b, i ? ",{\"path\":" : "{\"path\":");
        hs_htmlreport_json(b, g->path, g->len);
        json_num(b, "before", g->before, true);
        json_num(b, "after", g->after, true);
        putf(b, ",\"added\":%s}", g->added ? "true" : "false");
    }
    hs_buf_puts(b, "]}");
}

static void card(struct hs_buf *b, const char *label, const char *value, const char *cls)
{
    putf(b, "<div class=\"card\"><span>%s</span><b class=\"%s\">", label, cls);
    html(b, value);
    hs_buf_puts(b, "</b></div>\n");
}

static void put_cards(struct hs_buf *b, const struct hs_htmlreport_data *d)
{
    const struct hs_health *h = &d->health;
    char tmp[64], v[32];
    hs_buf_puts(b, "<div class=\"cards\">\n");
    snprintf(tmp, sizeof tmp, "%zu", d->list.n);
    card(b, "snapshots", tmp, "");
    snprintf(tmp, sizeof tmp, "%s ago", fmt_age(v, h->age));
    card(b, "newest snapshot", h->newest[0] ? tmp : "none",
         h->attention & HS_HEALTH_OLD ? "warn" : "ok");
    card(b, "store on disk", hs_bytes_text(v, sizeof v, d->list.used_bytes), "");
    if (h->have_last) {
        snprintf(tmp, sizeof tmp, "%s, exit %d", h->last_command, h->last_status);
        card(b, "last run", tmp, h->last_status > HS_WARN ? "warn" : "ok");
    }
    card(b, "health", h->attention ? "needs attention" : "healthy", h->attention ? "warn" : "ok");
    hs_buf_puts(b, "</div>\n");
    static const struct {
        unsigned bit;
        const char *text;
    } why[] = {
        {HS_HEALTH_OLD, "the newest snapshot is older than it should be"},
        {HS_HEALTH_FAILED, "the last run failed"},
        {HS_HEALTH_FUTURE, "a snapshot is named in the future"},
        {HS_HEALTH_OPEN, "other users can enter the store"},
        {HS_HEALTH_INTERRUPTED, "an interrupted run left its tree"},
        {HS_HEALTH_STALE, "a source was carried forward, not backed up"},
        {HS_HEALTH_ANOMALY, "the last run raised an anomaly (far more files changed than usual, "
                            "or unchanged files written again): see its warnings"},
    };
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++)
        if (h->attention & why[i].bit)
            putf(b, "<p class=\"warn\">&#9888; %s</p>\n", why[i].text);
}

static void put_snapshots(struct hs_buf *b, const struct hs_htmlreport_data *d)
{
    char t[32], u[32], w[32];
    hs_buf_puts(b, "<section><h2>Snapshots over time</h2>\n<div class=\"legend\">"
                   "<i style=\"background:#2f6fdb\"></i>total (each inode once)"
                   "<i style=\"background:#e8710a\"></i>unique (freed by deleting it alone)"
                   "</div>\n");
    draw_snapshots(b, &d->list);
    putf(b,
         "<details><summary>%zu snapshots</summary><table><tr><th>snapshot</th>"
         "<th class=\"num\">files</th><th class=\"num\">total</th>"
         "<th class=\"num\">unique</th></tr>\n",
         d->list.n);
    for (size_t i = d->list.n; i-- > 0;) {
        const struct hs_list_entry *e = &d->list.snapshots[i];
        putf(b,
             "<tr><td>%s%s</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%s</td>"
             "<td class=\"num\">%s</td></tr>\n",
             fmt_name(w, e->name), e->future ? " (in the future)" : "", e->files,
             hs_bytes_text(t, sizeof t, e->total_bytes),
             hs_bytes_text(u, sizeof u, e->unique_bytes));
    }
    hs_buf_puts(b, "</table></details></section>\n");
}

static void put_runs(struct hs_buf *b, const struct hs_htmlreport_run *runs, size_t n)
{
    hs_buf_puts(b, "<section><h2>Runs</h2>\n");
    if (!n) {
        hs_buf_puts(b, "<p>The store's log has no runs.</p><svg id=\"runs\"></svg></section>\n");
        return;
    }
    putf(b,
         "<div class=\"legend\">the last %zu runs: files"
         "<i style=\"background:#2f6fdb\"></i>copied"
         "<i style=\"background:#34a853\"></i>linked"
         "<i style=\"background:rgba(217,48,37,.35)\"></i>failed run"
         "<i style=\"background:rgba(242,153,0,.45)\"></i>anomaly</div>\n",
         n);
    draw_runs(b, runs, n, false);
    hs_buf_puts(b, "<div class=\"legend\">duration"
                   "<i style=\"background:#7b61c9\"></i>made a snapshot"
                   "<i style=\"background:#d93025\"></i>failed</div>\n");
    draw_runs(b, runs, n, true);
    hs_buf_puts(b, "<details><summary>the runs</summary><table><tr><th>ended</th><th>command</th>"
                   "<th class=\"num\">exit</th><th class=\"num\">files</th>"
                   "<th class=\"num\">copied</th><th class=\"num\">linked</th>"
                   "<th class=\"num\">written</th><th class=\"num\">took</th><th>stale</th>"
                   "<th>anomaly</th></tr>\n");
    for (size_t i = n; i-- > 0;) {
        const struct hs_htmlreport_run *r = &runs[i];
        char when[32], by[32], took[32];
        putf(b,
             "<tr><td>%s</td><td>%s</td><td class=\"num\">%d</td><td class=\"num\">%" PRIu64
             "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64
             "</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td>",
             fmt_name(when, r->end), r->command, r->status, r->files, r->copied, r->linked,
             hs_bytes_text(by, sizeof by, r->bytes), fmt_age(took, r->seconds));
        if (r->stale)
            html(b, r->stale);
        hs_buf_puts(b, "</td><td class=\"warn\">");
        html(b, r->anomaly);
        hs_buf_puts(b, "</td></tr>\n");
    }
    hs_buf_puts(b, "</table></details></section>\n");
}

static void source_row(struct hs_buf *b, const struct hs_htmlreport_data *d, const char *name,
                       bool is_name, const char *last_ok, const char *state, bool bad)
{
    time_t now = 0, t = 0;
    char when[32], age[32];
    hs_snapshot_name_parse(d->now, &now);
    bool known = last_ok[0] && hs_snapshot_name_parse(last_ok, &t) == 0;
    bool old = known && (int64_t)now - (int64_t)t > d->max_age;
    hs_buf_puts(b, is_name ? "<tr><td class=\"path\">" : "<tr><td>");
    html(b, name);
    putf(b, "</td><td>%s</td><td class=\"num\">%s</td><td class=\"%s\">",
         known ? fmt_name(when, last_ok) : "never (in the log)",
         known ? fmt_age(age, (int64_t)now - (int64_t)t) : "",
         bad || old || !known ? "warn" : "ok");
    html(b, old && !bad ? "too old" : state);
    hs_buf_puts(b, "</td></tr>\n");
}

static void put_sources(struct hs_buf *b, const struct hs_htmlreport_data *d)
{
    char age[32];
    putf(b,
         "<section><h2>Sources</h2>\n<p class=\"legend\">when each source was last backed up "
         "(not carried forward from an earlier snapshot); older than %s is too old</p>\n"
         "<table id=\"sources\"><tr><th>source</th><th>last success</th><th class=\"num\">ago"
         "</th><th>state</th></tr>\n",
         fmt_age(age, d->max_age));
    for (size_t i = 0; i < d->n_sources; i++) {
        const struct hs_htmlreport_source *s = &d->sources[i];
        char state[64];
        if (s->stale)
            snprintf(state, sizeof state, "stale: its tree is %s's",
                     s->since[0] ? s->since : "an earlier snapshot");
        source_row(b, d, s->name[0] ? s->name : "(the lone source)", s->name[0] != '\0', s->last_ok,
                   s->stale ? state : "ok", s->stale);
    }
    /* the last run that made a snapshot; without a log, the newest snapshot */
    const char *last = d->last_ok[0] ? d->last_ok : d->health.newest;
    if (!d->all_named)
        source_row(b, d, d->n_sources ? "every other source" : "every source", false, last, "ok",
                   false);
    hs_buf_puts(b, "</table></section>\n");
}

static void put_growers(struct hs_buf *b, const struct hs_htmlreport_data *d)
{
    char wa[32], wb[32];
    hs_buf_puts(b, "<section><h2>Biggest growers</h2>\n");
    if (!d->grow_a[0]) {
        hs_buf_puts(b, "<p>Only one snapshot: nothing to compare yet.</p></section>\n");
        return;
    }
    putf(b, "<p class=\"legend\">the regular files that grew most (or are new) from %s to %s</p>\n",
         fmt_name(wa, d->grow_a), fmt_name(wb, d->grow_b));
    if (!d->n_growers) {
        hs_buf_puts(b, "<p>No file grew.</p></section>\n");
        return;
    }
    hs_buf_puts(b, "<table id=\"growers\"><tr><th>path</th><th class=\"num\">before</th>"
                   "<th class=\"num\">after</th><th class=\"num\">grew by</th>"
                   "<th style=\"width:22%\"></th></tr>\n");
    uint64_t most = d->growers[0].after - d->growers[0].before;
    for (size_t i = 0; i < d->n_growers; i++) {
        const struct hs_htmlreport_grower *g = &d->growers[i];
        char x[32], y[32], z[32];
        uint64_t grew = g->after - g->before;
        hs_buf_puts(b, "<tr><td class=\"path\">");
        hs_htmlreport_text(b, g->path, g->len);
        putf(b,
             "</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
             "<td><div class=\"gbar\" style=\"width:%.1f%%\"></div></td></tr>\n",
             g->added ? "new" : hs_bytes_text(x, sizeof x, g->before),
             hs_bytes_text(y, sizeof y, g->after), hs_bytes_text(z, sizeof z, grew),
             most ? 100.0 * (double)grew / (double)most : 0);
    }
    hs_buf_puts(b, "</table></section>\n");
}

int hs_htmlreport_render(const struct hs_htmlreport_data *d, const char *nonce, struct hs_buf *b)
{
    size_t skip = d->n_runs > HS_HTMLREPORT_RUNS ? d->n_runs - HS_HTMLREPORT_RUNS : 0;
    const struct hs_htmlreport_run *runs = d->runs + skip;
    size_t n_runs = d->n_runs - skip;
    char when[32];
    hs_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    /* nothing from the network, no script but ours, no inline handlers */
    putf(b,
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; script-src 'nonce-%s'; base-uri 'none'; form-action "
         "'none'\">\n",
         nonce);
    hs_buf_puts(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"hardsnap ");
    html(b, hs_version());
    hs_buf_puts(b, "\">\n<title>hardsnap report: ");
    html(b, d->dest);
    hs_buf_puts(b, "</title>\n<style>");
    hs_buf_puts(b, page_style); /* longer than putf's buffer */
    putf(b, "</style>\n<script nonce=\"%s\">%s</script>\n</head>\n<body>\n", nonce, page_onerror);
    hs_buf_puts(b, "<header><h1>hardsnap report: ");
    html(b, d->dest);
    putf(b, "</h1><p>made %s UTC by hardsnap ", fmt_name(when, d->now));
    html(b, hs_version());
    hs_buf_puts(b, "</p></header>\n<main>\n");
    put_cards(b, d);
    put_snapshots(b, d);
    put_runs(b, runs, n_runs);
    put_sources(b, d);
    put_growers(b, d);
    hs_buf_puts(b, "</main>\n<footer>Totals and unique bytes as <code>hardsnap list</code> "
                   "counts them; runs from the store's log; growers compare the two newest "
                   "snapshots.</footer>\n");
    hs_buf_puts(b, "<script type=\"application/json\" id=\"hs-data\">");
    put_data(b, d, runs, n_runs);
    putf(b, "</script>\n<script nonce=\"%s\">", nonce);
    hs_buf_puts(b, page_check);
    hs_buf_puts(b, "</script>\n</body></html>\n");
    return b->data ? 0 : -ENOMEM;
}

/* ---- writing it ------------------------------------------------------------ */

/* 32 letters and digits, unknown before the page is made: the scripts'
 * nonce, so no name in the store can carry a script of its own. */
static void make_nonce(char out[33])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)((uint64_t)ts.tv_nsec * 2654435761u >> (i % 24)) ^
                     (unsigned char)(getpid() >> (i % 16));
    }
    for (size_t i = 0; i < 32; i++)
        out[i] = digits[raw[i] % 36];
    out[32] = '\0';
}

/* OUTPUT.tmp in OUTPUT's directory, exclusively and never through a symlink;
 * one left by a report that died (nobody holds its lock) is replaced. */
static int create_tmp(int dirfd, const char *tmp, const char *output, struct hs_err *e)
{
    for (int tries = 0; tries < 4; tries++) {
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int k = hs_err_path(e, errno, "cannot lock", tmp);
                close(fd);
                return k;
            }
            return fd;
        }
        if (errno != EEXIST)
            return hs_err_path(e, errno, "cannot write the report", output);
        int old = hs_open_regular(dirfd, tmp, O_RDONLY, 0);
        if (old == -ENOENT)
            continue;
        if (old < 0)
            return hs_err_path_why(e, EEXIST, "cannot write the report", tmp,
                                   "in the way, not a regular file (not removed)");
        bool held = flock(old, LOCK_EX | LOCK_NB) < 0;
        if (!held)
            unlinkat(dirfd, tmp, 0);
        close(old);
        if (held)
            return hs_err_path(e, 0, "another report is being written to", output);
    }
    return hs_err_path(e, EEXIST, "cannot write the report", tmp);
}

/* The page into output: OUTPUT.tmp, synced, renamed over OUTPUT. */
static int write_file(const char *output, const struct hs_buf *page, struct hs_err *e)
{
    size_t len = strlen(output);
    const char *name = hs_path_base(output, len);
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return hs_err_usage(e, EISDIR, "not a file name", output);
    char *dir = hs_path_dirname(output, len);
    if (!dir)
        return hs_err_setf(e, ENOMEM, "report");
    int parent;
    char last[NAME_MAX + 1];
    int dirfd = hs_open_dir_trusted(dir, &parent, last, e);
    free(dir);
    if (parent >= 0)
        close(parent);
    if (dirfd == -EPERM)
        return dirfd;
    if (dirfd < 0)
        return hs_err_usage(e, -dirfd, "cannot write the report in its directory", output);
    if (hs_store_in_snapshot(dirfd)) {
        close(dirfd);
        return hs_err_usage(e, 0, "the report would change a snapshot of a store", output);
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", name) < 0) {
        close(dirfd);
        return hs_err_setf(e, ENOMEM, "report");
    }
    int r = 0, fd = create_tmp(dirfd, tmp, output, e);
    if (fd < 0) {
        r = fd;
    } else {
        if (hs_write_all(fd, page->data, page->len) < 0 || fsync(fd) < 0)
            r = hs_err_path(e, errno, "cannot write the report", tmp);
        if (close(fd) < 0 && r == 0)
            r = hs_err_path(e, errno, "cannot write the report", tmp);
        /* renameat replaces a symlink at OUTPUT's name, never its target */
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
            r = hs_err_path(e, errno, "cannot write the report", output);
        if (r < 0)
            unlinkat(dirfd, tmp, 0);
    }
    free(tmp);
    close(dirfd);
    return r;
}

enum hs_status hs_html_report(const struct hs_html_report_opts *o, struct hs_err *err)
{
    hs_err_clear(err);
    if (!o->dest || !*o->dest)
        return hs_err_usage(err, 0, "no store given", NULL), HS_USAGE;
    if (!o->output || !*o->output)
        return hs_err_usage(err, 0, "no output file given", NULL), HS_USAGE;
    struct hs_htmlreport_data d;
    int r = hs_htmlreport_collect(o->dest, o->now, o->max_age, &d, err);
    struct hs_buf page = {0};
    if (r == 0) {
        char nonce[33];
        make_nonce(nonce);
        r = hs_htmlreport_render(&d, nonce, &page);
        if (r < 0)
            hs_err_setf(err, -r, "report");
    }
    hs_htmlreport_free(&d);
    if (r == 0) {
        if (!strcmp(o->output, "-")) {
            if (hs_write_all(STDOUT_FILENO, page.data, page.len) < 0)
                r = hs_err_path(err, errno, "cannot write the report", "standard output");
        } else {
            r = write_file(o->output, &page, err);
        }
    }
    hs_buf_free(&page);
    if (r < 0)
        return err->kind ? err->kind : HS_FAILED;
    return HS_OK;
}
