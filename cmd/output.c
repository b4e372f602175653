#include "cli.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("hardsnap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_error_arg(const char *fmt, const char *arg)
{
    char *esc = hs_escape(arg, strlen(arg));
    cli_error(fmt, esc ? esc : "?");
    free(esc);
}

int cli_parse_seconds(const char *opt, const char *arg, unsigned *out)
{
    unsigned long n = 0;
    const char *c = arg;
    for (; *c >= '0' && *c <= '9' && n <= 1000000; c++)
        n = n * 10 + (unsigned long)(*c - '0');
    if (c == arg || *c || n == 0 || n > 1000000) {
        char fmt[160];
        snprintf(fmt, sizeof fmt, "bad value \"%%s\" for %s (seconds, 1 to 1000000)", opt);
        cli_error_arg(fmt, arg);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

int cli_bad_option(char **argv)
{
    /* a short option names itself; a long one, or one missing its
     * argument, is best shown as it was typed (escaped) */
    char what[160];
    if (optopt > 0 && optopt < 128 && isprint(optopt) && argv[optind - 1][1] != '-')
        snprintf(what, sizeof what, "%s: unknown or incomplete option -%c", argv[0], optopt);
    else
        snprintf(what, sizeof what, "%s: unknown or incomplete option %%s", argv[0]);
    char fmt[200];
    snprintf(fmt, sizeof fmt, "%s (see hardsnap %s --help)", what, argv[0]);
    if (strstr(what, "%s"))
        cli_error_arg(fmt, argv[optind - 1]);
    else
        cli_error("%s", fmt);
    return -1;
}

int cli_fail(const struct hs_err *err, enum hs_status st)
{
    cli_error("%s", err->msg ? err->msg : "failed");
    return (int)st;
}

int cli_push(const char ***list, size_t *n, const char *s)
{
    const char **p = realloc(*list, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    p[(*n)++] = s;
    *list = p;
    return 0;
}

bool cli_out_option(struct cli_out *out, int c)
{
    if (c == CLI_OPT_PROGRESS)
        out->progress = true;
    else if (c == 'v')
        out->verbose = true;
    else if (c == 'q')
        out->quiet = true;
    else
        return false;
    return true;
}

int cli_args(int argc, char **argv, const char ***list, size_t *n, size_t want,
             const char *usage_line)
{
    for (int i = optind; i < argc; i++)
        if (cli_push(list, n, argv[i]) < 0) {
            cli_error("out of memory");
            return -1;
        }
    if (want && *n != want) {
        cli_error("%s", usage_line);
        return -1;
    }
    return 0;
}

void cli_progress_done(struct cli_out *out)
{
    if (out->progress_shown) {
        fputs("\r\033[K", stderr);
        out->progress_shown = false;
    }
}

/* The counts of the progress line; counts: with linked and copied. */
struct progress {
    uint64_t entries, linked, copied, bytes_copied;
    double seconds;
    bool counts;
};

void cli_show_progress(struct cli_out *out, const struct hs_event *ev)
{
    if (!out->progress || !isatty(STDERR_FILENO))
        return;
    struct progress s = {0};
    if (ev->stats) {
        const struct hs_backup_stats *b = ev->stats;
        s = (struct progress){b->entries, b->linked, b->copied, b->bytes_copied, b->seconds, true};
    } else if (ev->restore_stats) {
        const struct hs_restore_stats *r = ev->restore_stats;
        s = (struct progress){r->entries, 0, r->copied, r->bytes_copied, r->seconds, true};
    } else if (ev->export_stats) {
        const struct hs_export_stats *x = ev->export_stats;
        s = (struct progress){x->entries, 0, 0, x->bytes_copied, x->seconds, false};
    } else {
        return;
    }
    char b[32], r[32];
    double rate = s.seconds > 0 ? (double)s.bytes_copied / s.seconds : 0;
    fprintf(stderr, "\r\033[K%" PRIu64 " entries, ", s.entries);
    if (s.counts)
        fprintf(stderr, "%" PRIu64 " linked, %" PRIu64 " copied, ", s.linked, s.copied);
    fprintf(stderr, "%s%s, %s/s", hs_bytes_text(b, sizeof b, s.bytes_copied),
            s.counts ? "" : " of data", hs_bytes_text(r, sizeof r, (uint64_t)rate));
    out->progress_shown = true;
}

static void print_path(const char *prefix, const char *path)
{
    char *esc = hs_escape(path, strlen(path));
    printf("%s%s\n", prefix, esc ? esc : "?");
    free(esc);
}

void cli_on_event(const struct hs_event *ev, void *user)
{
    struct cli_out *out = user;
    switch (ev->type) {
    case HS_EV_PROGRESS:
        cli_show_progress(out, ev);
        break;
    case HS_EV_WARNING:
        cli_progress_done(out);
        cli_error("%s", ev->msg);
        break;
    case HS_EV_NOTICE:
        if (!out->quiet) {
            cli_progress_done(out);
            cli_error("%s", ev->msg);
        }
        break;
    case HS_EV_COPY:
        if (out->verbose && !out->quiet) {
            cli_progress_done(out);
            print_path("", ev->path);
        }
        break;
    case HS_EV_LINK:
        break;
    }
}

int cli_log_run(const char *dest, time_t start, const char *command, int status,
                const struct hs_backup_result *b, const struct hs_prune_result *p,
                const char *error)
{
    struct hs_log_entry le = {.start = start,
                              .end = time(NULL),
                              .command = command,
                              .status = status,
                              .error = error,
                              .backup = b,
                              .prune = p};
    struct hs_err err = {0};
    bool failed = dest && hs_log_append(dest, &le, &err) < 0;
    if (failed)
        cli_error("%s", err.msg);
    hs_err_clear(&err);
    /* said on stderr: a run that was fine is now one with a warning */
    return failed && status == HS_OK ? HS_WARN : status;
}

void cli_json_string(const char *s)
{
    char *q = hs_json_quote(s);
    fputs(q ? q : "\"\"", stdout);
    free(q);
}
