/*
 * A run as machines read it: one JSON object (backup --json, and the file a
 * hook finds in HARDSNAP_REPORT) and node_exporter's textfile metrics
 * (prometheus = FILE). Both say what the store's log line says, in full:
 * the totals, each source's part, the prune.
 */
#include "buf.h"
#include "fsutil.h"
#include "hardsnap.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- JSON -------------------------------------------------------------- */

static void json_key(struct hs_buf *b, const char *key)
{
    if (b->len && b->data[b->len - 1] != '{')
        hs_buf_puts(b, ", ");
    hs_buf_json(b, key);
    hs_buf_puts(b, ": ");
}

static void json_num(struct hs_buf *b, const char *key, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    json_key(b, key);
    hs_buf_puts(b, tmp);
}

/* A number with decimals (seconds to the ms, ratios to 1e-6). */
static void json_real(struct hs_buf *b, const char *key, double v, int decimals)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    json_key(b, key);
    hs_buf_puts(b, tmp);
}

static void json_time(struct hs_buf *b, const char *key, time_t t)
{
    char name[HS_SNAPSHOT_NAME_LEN + 1];
    hs_snapshot_name_format(t, name);
    json_key(b, key);
    hs_buf_json(b, name);
}

static void json_text(struct hs_buf *b, const char *key, const char *s)
{
    json_key(b, key);
    if (s && *s)
        hs_buf_json(b, s);
    else
        hs_buf_puts(b, "null");
}

static void json_stats(struct hs_buf *b, const struct hs_backup_stats *s)
{
    json_num(b, "entries", s->entries);
    json_num(b, "files", s->files);
    json_num(b, "dirs", s->dirs);
    json_num(b, "symlinks", s->symlinks);
    json_num(b, "specials", s->specials);
    json_num(b, "linked", s->linked);
    json_num(b, "hardlinked", s->hardlinked);
    json_num(b, "content_linked", s->content_linked);
    json_num(b, "cloned", s->cloned);
    json_num(b, "resumed", s->resumed);
    json_num(b, "copied", s->copied);
    json_num(b, "created", s->created);
    json_num(b, "hashed", s->hashed);
    json_num(b, "link_fallbacks", s->link_fallbacks);
    json_num(b, "unlinked_unchanged", s->unlinked_unchanged);
    json_num(b, "excluded", s->excluded);
    json_num(b, "warnings", s->warnings);
    json_num(b, "bytes_total", s->bytes_total);
    json_num(b, "bytes_copied", s->bytes_copied);
    json_num(b, "bytes_hashed", s->bytes_hashed);
    json_num(b, "bytes_content_linked", s->bytes_content_linked);
    json_num(b, "delta_files", s->delta_files);
    json_num(b, "delta_bytes", s->delta_bytes);
    json_num(b, "delta_written", s->delta_written);
    json_num(b, "wire_received", s->wire_received);
    json_num(b, "wire_sent", s->wire_sent);
    json_num(b, "fetched", s->fetched);
    json_real(b, "seconds", s->seconds, 3);
}

static void json_backup(struct hs_buf *b, const struct hs_backup_result *r)
{
    json_text(b, "snapshot", r->name);
    json_key(b, "totals");
    hs_buf_putc(b, '{');
    json_stats(b, &r->stats);
    json_real(b, "sync_seconds", r->stats.sync_seconds, 3);
    hs_buf_puts(b, "}");
    json_key(b, "change");
    hs_buf_putc(b, '{');
    json_real(b, "rate", r->change.rate, 6);
    json_real(b, "usual", r->change.usual, 6);
    json_num(b, "runs", r->change.runs);
    json_key(b, "anomaly");
    hs_buf_puts(b, r->change.raised ? "true" : "false");
    hs_buf_puts(b, "}");
    json_key(b, "sources");
    hs_buf_putc(b, '[');
    for (size_t i = 0; i < r->n_sources; i++) {
        const struct hs_source_result *sr = &r->sources[i];
        hs_buf_puts(b, i ? ", {" : "{");
        json_key(b, "name");
        hs_buf_json(b, sr->name);
        json_key(b, "stale");
        hs_buf_puts(b, sr->carried ? "true" : "false");
        json_stats(b, &sr->stats);
        hs_buf_putc(b, '}');
    }
    hs_buf_putc(b, ']');
}

/* The store as a monitor names it: its absolute path, whatever the cwd. */
static char *dest_label(const char *dest)
{
    char *real = dest ? realpath(dest, NULL) : NULL;
    return real ? real : strdup(dest ? dest : "");
}

char *hs_run_json(const char *dest, const struct hs_log_entry *le)
{
    struct hs_buf b = {0};
    char *label = dest ? dest_label(dest) : NULL;
    hs_buf_putc(&b, '{');
    json_text(&b, "command", le->command);
    json_text(&b, "dest", label);
    free(label);
    json_num(&b, "status", (uint64_t)le->status);
    json_time(&b, "start", le->start);
    json_time(&b, "end", le->end);
    json_text(&b, "error", le->error);
    if (le->backup)
        json_backup(&b, le->backup);
    json_key(&b, "prune");
    if (le->prune) {
        hs_buf_putc(&b, '{');
        json_num(&b, "kept", le->prune->kept);
        json_num(&b, "deleted", le->prune->deleted);
        json_num(&b, "freed", le->prune->freed);
        hs_buf_putc(&b, '}');
    } else {
        hs_buf_puts(&b, "null");
    }
    if (hs_buf_puts(&b, "}\n") < 0) {
        hs_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- node_exporter textfile metrics ------------------------------------ */

/* A label value: backslash, quote and newline escaped. */
static void prom_label(struct hs_buf *b, const char *key, const char *v)
{
    hs_buf_puts(b, key);
    hs_buf_puts(b, "=\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            hs_buf_putc(b, '\\');
        if (*p == '\n')
            hs_buf_puts(b, "\\n");
        else
            hs_buf_putc(b, *p);
    }
    hs_buf_putc(b, '"');
}

static void prom_help(struct hs_buf *b, const char *name, const char *help)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "# HELP hardsnap_%s %s\n# TYPE hardsnap_%s gauge\n", name, help,
             name);
    hs_buf_puts(b, tmp);
}

/* name{dest="..."[,source="..."]} value */
static void prom_value(struct hs_buf *b, const char *name, const char *dest, const char *source,
                       double v)
{
    hs_buf_puts(b, "hardsnap_");
    hs_buf_puts(b, name);
    hs_buf_putc(b, '{');
    prom_label(b, "dest", dest);
    if (source) {
        hs_buf_putc(b, ',');
        prom_label(b, "source", source);
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "} %.15g\n", v);
    hs_buf_puts(b, tmp);
}

static void prom_gauge(struct hs_buf *b, const char *name, const char *help, const char *dest,
                       double v)
{
    prom_help(b, name, help);
    prom_value(b, name, dest, NULL, v);
}

/* The last success an earlier run wrote into file, kept by a run that
 * failed (0: none). */
static double last_success_in(const char *file)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return 0;
    char line[4096];
    double v = 0;
    static const char key[] = "hardsnap_last_success_timestamp_seconds{";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, sizeof key - 1) == 0) {
            const char *sp = strrchr(line, ' ');
            v = sp ? strtod(sp + 1, NULL) : 0;
            break;
        }
    fclose(f);
    return v;
}

struct source_metric {
    const char *name, *help;
    size_t offset; /* of a uint64_t in struct hs_backup_stats */
};

#define SM(field, help)                                                                            \
    {                                                                                              \
#field, help, offsetof(struct hs_backup_stats, field)                                      \
    }

static const struct source_metric source_metrics[] = {
    SM(files, "Regular files in the last run's snapshot."),
    SM(linked, "Entries (not directories) linked from the previous snapshot by the last run."),
    SM(copied, "Files copied into new inodes by the last run."),
    SM(content_linked, "Files linked to equal content elsewhere (renamed, moved) by the last run."),
    SM(bytes_copied, "Bytes written by the last run: what its snapshot added on disk."),
    SM(bytes_total, "Apparent size of the regular files in the last run's snapshot."),
    SM(warnings, "Problems the last run met (files it could not read)."),
    SM(unlinked_unchanged, "Files found unchanged but written again, not linked (an anomaly)."),
};

static uint64_t stat_of(const struct hs_backup_stats *s, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)s + offset, sizeof v);
    return v;
}

static void prom_backup(struct hs_buf *b, const char *dest, const struct hs_backup_result *r)
{
    for (size_t m = 0; m < sizeof source_metrics / sizeof source_metrics[0]; m++) {
        const struct source_metric *sm = &source_metrics[m];
        char name[64];
        snprintf(name, sizeof name, "last_run_%s", sm->name);
        prom_gauge(b, name, sm->help, dest, (double)stat_of(&r->stats, sm->offset));
        /* each source's part, under its name ("" for a lone source) */
        snprintf(name, sizeof name, "source_%s", sm->name);
        prom_help(b, name, sm->help);
        for (size_t i = 0; i < r->n_sources; i++)
            prom_value(b, name, dest, r->sources[i].name,
                       (double)stat_of(&r->sources[i].stats, sm->offset));
    }
    prom_gauge(b, "last_run_change_ratio", "Share of the files the last run found changed.", dest,
               r->change.rate);
    if (r->change.runs)
        prom_gauge(b, "usual_change_ratio",
                   "Median share of files changed over the store's earlier runs.", dest,
                   r->change.usual);
    prom_gauge(b, "last_run_anomaly",
               "1 when the last run changed far more files than usual, or wrote unchanged "
               "files again.",
               dest, r->change.raised || r->stats.unlinked_unchanged ? 1 : 0);
    prom_help(b, "source_stale", "1 when the source was not backed up (its tree carried forward).");
    for (size_t i = 0; i < r->n_sources; i++)
        prom_value(b, "source_stale", dest, r->sources[i].name, r->sources[i].carried ? 1 : 0);
}

static void prom_store(struct hs_buf *b, const char *dest)
{
    struct hs_health h;
    struct hs_err e = {0};
    enum hs_status st = hs_health(dest, NULL, 26 * 3600, &h, &e);
    hs_err_clear(&e);
    if (h.is_store) {
        prom_gauge(b, "snapshots", "Snapshots in the store.", dest, (double)h.snapshots);
        time_t t = 0;
        if (st != HS_FAILED && h.newest[0] && hs_snapshot_name_parse(h.newest, &t) == 0)
            prom_gauge(b, "newest_snapshot_timestamp_seconds",
                       "When the store's newest snapshot was made.", dest, (double)t);
    }
    hs_health_free(&h);
    struct statvfs fs;
    if (statvfs(dest, &fs) == 0) {
        prom_gauge(b, "filesystem_size_bytes", "Size of the store's filesystem.", dest,
                   (double)fs.f_blocks * (double)fs.f_frsize);
        prom_gauge(b, "filesystem_avail_bytes", "Space left on the store's filesystem.", dest,
                   (double)fs.f_bavail * (double)fs.f_frsize);
    }
}

static int format_metrics(struct hs_buf *b, const char *file, const char *dest,
                          const struct hs_log_entry *le)
{
    /* a success made its snapshot (a run its before hook skipped did not) */
    bool ok = (le->status == HS_OK || le->status == HS_WARN) && le->backup && le->backup->name[0];
    prom_gauge(b, "last_run_timestamp_seconds", "When the last run ended.", dest, (double)le->end);
    prom_gauge(b, "last_success_timestamp_seconds",
               "When the last run that made its snapshot ended (exit 0 or 1).", dest,
               ok ? (double)le->end : last_success_in(file));
    prom_gauge(b, "last_run_exit_status", "The last run's exit status (see hardsnap(1)).", dest,
               le->status);
    prom_gauge(b, "last_run_duration_seconds", "How long the last run took.", dest,
               (double)(le->end - le->start));
    if (le->backup)
        prom_backup(b, dest, le->backup);
    if (le->prune)
        prom_gauge(b, "last_prune_deleted", "Snapshots the last run's prune deleted.", dest,
                   (double)le->prune->deleted);
    prom_store(b, dest);
    return b->data ? 0 : -ENOMEM;
}

int hs_metrics_write(const char *file, const char *dest, const struct hs_log_entry *le,
                     struct hs_err *err)
{
    struct hs_buf b = {0};
    char *label = dest_label(dest);
    int k = label ? format_metrics(&b, file, label, le) : -ENOMEM;
    free(label);
    if (k < 0) {
        hs_buf_free(&b);
        return hs_err_setf(err, ENOMEM, "metrics");
    }
    /* node_exporter must never read half a file: a new one renamed over */
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%ld", file, (long)getpid()) < 0) {
        hs_buf_free(&b);
        return hs_err_setf(err, ENOMEM, "metrics");
    }
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || hs_write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
        r = hs_err_path(err, errno, "cannot write the metrics file", tmp);
    if (fd >= 0 && close(fd) < 0 && r == 0)
        r = hs_err_path(err, errno, "cannot write the metrics file", tmp);
    if (r == 0 && rename(tmp, file) < 0)
        r = hs_err_path(err, errno, "cannot write the metrics file", file);
    if (r < 0)
        unlink(tmp);
    free(tmp);
    hs_buf_free(&b);
    return r;
}
