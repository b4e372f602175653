/* hardsnap replicate: the snapshots a replica lacks, added to it. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char replicate_usage[] =
    "usage: hardsnap replicate [OPTIONS] STORE DEST2\n"
    "\n"
    "Adds to DEST2 (a store, or a directory that becomes one) every snapshot of\n"
    "STORE newer than DEST2's newest, oldest first, each published as a backup's\n"
    "is: files that are the same inode as in the snapshot before are linked to\n"
    "DEST2's copy, the rest copied, so two names share an inode in DEST2 exactly\n"
    "when they do in STORE. DEST2's own snapshots are never changed; one it\n"
    "pruned is not added again.\n"
    "\n"
    "  -n, --dry-run      say what would be added, write nothing\n"
    "      --progress     live progress on a terminal\n"
    "  -v, --verbose      print each written or linked path\n"
    "  -q, --quiet        print errors only\n"
    "  -h, --help         this help\n";

struct replicate_args {
    const char **positional;
    size_t n_positional;
    bool dry_run;
    struct cli_out out;
};

static const struct option replicate_options[] = {
    {"dry-run", no_argument, NULL, 'n'}, {"progress", no_argument, NULL, CLI_OPT_PROGRESS},
    {"verbose", no_argument, NULL, 'v'}, {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct replicate_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "nvqh", replicate_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(replicate_usage, stdout);
            return 1;
        case 'n':
            a->dry_run = true;
            break;
        default:
            if (!cli_out_option(&a->out, c))
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 2,
                    "replicate: need STORE DEST2; see hardsnap replicate --help");
}

/* (out first: the library's event callback takes it as a struct cli_out) */
struct replicate_run {
    struct cli_out out;
    struct replicate_args *a;
    bool failed_shown;
    const char *dest;
    time_t start;
    int status; /* of the log lines */
};

static void on_snapshot(void *user, const char *name, enum hs_status st,
                        const struct hs_backup_result *res, const struct hs_err *err)
{
    struct replicate_run *run = user;
    struct cli_out *out = &run->out;
    cli_progress_done(out);
    if (st != HS_OK && st != HS_WARN) {
        cli_error("replicate %s: %s", name, err->msg ? err->msg : "failed");
        run->failed_shown = true;
    } else if (!out->quiet) {
        const struct hs_backup_stats *s = &res->stats;
        char b[32];
        printf("%s%s: %" PRIu64 " files, %" PRIu64 " linked, %" PRIu64 " hard links, %" PRIu64
               " copied, %s written, %.2f s\n",
               run->a->dry_run ? "would add " : "", name, s->files, s->linked, s->hardlinked,
               s->copied, hs_bytes_text(b, sizeof b, s->bytes_copied), s->seconds);
        fflush(stdout);
    }
    if (!run->a->dry_run && st != HS_USAGE) {
        int logged = cli_log_run(run->dest, run->start, "replicate", st, res, NULL,
                                 st == HS_OK || st == HS_WARN ? NULL : err->msg);
        run->status = logged > run->status ? logged : run->status;
    }
    run->start = time(NULL);
}

static void print_summary(const struct replicate_args *a, const char *dest,
                          const struct hs_replicate_result *res)
{
    char b[32];
    printf("%s %zu snapshot%s to %s, %s written", a->dry_run ? "would add" : "added", res->added,
           res->added == 1 ? "" : "s", dest, hs_bytes_text(b, sizeof b, res->stats.bytes_copied));
    if (res->present)
        printf("; %zu already there", res->present);
    if (res->vanished)
        printf("; %zu pruned from the store meanwhile", res->vanished);
    if (res->older)
        printf("; %zu older than its newest (%s) left out", res->older, res->newest);
    printf("\n");
}

/* What leaves the replica behind the store, said even with -q. */
static void warn_behind(const char *dest, const struct hs_replicate_result *res)
{
    if (res->future)
        cli_error("replicate: %zu snapshot%s of the store named in the future left out "
                  "(a clock that ran ahead)",
                  res->future, res->future == 1 ? "" : "s");
    if (res->behind)
        cli_error_arg("replicate: %s has snapshots newer than the store's newest, which it "
                      "therefore lacks",
                      dest);
}

int cli_replicate(const char *store, const char *dest, bool dry_run, struct cli_out *out)
{
    struct hs_err err = {0};
    char *host = NULL, *path = NULL;
    int k = hs_source_parse_remote(dest, &host, &path, &err);
    free(host);
    free(path);
    if (k != 0) {
        if (k > 0)
            cli_error_arg("replicate: %s: a replica on another host is not supported yet", dest);
        else
            cli_fail(&err, HS_USAGE);
        hs_err_clear(&err);
        return HS_USAGE;
    }
    struct replicate_args a = {.dry_run = dry_run, .out = *out};
    struct replicate_run run = {
        .out = *out, .a = &a, .dest = dest, .start = time(NULL), .status = HS_OK};
    struct hs_replicate_opts o = {
        .store = store,
        .dest = dest,
        .dry_run = dry_run,
        .on_event = cli_on_event,
        .user = &run,
        .verbose_events = out->verbose && !out->quiet,
        .on_snapshot = on_snapshot,
    };
    struct hs_replicate_result res;
    enum hs_status st = hs_replicate(&o, &res, &err);
    cli_progress_done(&run.out);
    int status;
    if (st == HS_OK || st == HS_WARN) {
        if (!out->quiet)
            print_summary(&a, dest, &res);
        warn_behind(dest, &res);
        status = st == HS_OK && run.status == HS_WARN ? HS_WARN : st;
    } else {
        status = run.failed_shown ? (int)st : cli_fail(&err, st);
    }
    hs_err_clear(&err);
    return status;
}

int cmd_replicate(int argc, char **argv)
{
    struct replicate_args a = {0};
    int p = parse_args(argc, argv, &a);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p == 0)
        status = cli_replicate(a.positional[0], a.positional[1], a.dry_run, &a.out);
    free(a.positional);
    return status;
}
