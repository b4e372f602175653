/* hardsnap restore: a snapshot, or a path in it, back out into a directory. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

static const char restore_usage[] =
    "usage: hardsnap restore [OPTIONS] SNAPSHOT[/PATH] TARGET\n"
    "\n"
    "Copies the contents of SNAPSHOT into TARGET, or PATH itself, under its own\n"
    "name, into TARGET (as cp -a SNAPSHOT/PATH TARGET/ would). TARGET is created\n"
    "if missing. Entries that already exist in TARGET are named and nothing is\n"
    "changed, unless --overwrite is given.\n"
    "\n"
    "  -n, --dry-run      list what would be restored, change nothing\n"
    "      --overwrite    replace existing files in TARGET with new ones (a\n"
    "                     directory is never replaced by a file)\n"
    "      --progress     live progress on a terminal\n"
    "  -v, --verbose      print each restored path\n"
    "  -q, --quiet        print errors only\n"
    "  -h, --help         this help\n";

struct restore_args {
    const char **positional;
    size_t n_positional;
    bool dry_run, overwrite;
    struct cli_out out;
};

enum { OPT_OVERWRITE = 256 };

static const struct option restore_options[] = {
    {"dry-run", no_argument, NULL, 'n'},
    {"overwrite", no_argument, NULL, OPT_OVERWRITE},
    {"progress", no_argument, NULL, CLI_OPT_PROGRESS},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct restore_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "nvqh", restore_options, NULL)) != -1) {
        switch (c) {
        case 'n':
            a->dry_run = true;
            break;
        case OPT_OVERWRITE:
            a->overwrite = true;
            break;
        case 'h':
            fputs(restore_usage, stdout);
            return 1;
        default:
            if (!cli_out_option(&a->out, c))
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 2,
                    "restore: need SNAPSHOT[/PATH] TARGET; see hardsnap restore --help");
}

static void print_summary(const struct hs_restore_stats *s, bool dry_run)
{
    char b[32];
    printf("%s: %" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64 " symlinks, %" PRIu64
           " special, %s %s, %.2f s\n",
           dry_run ? "dry run" : "restored", s->files, s->dirs, s->symlinks, s->specials,
           hs_bytes_text(b, sizeof b, s->bytes_copied), dry_run ? "to copy" : "copied", s->seconds);
}

int cmd_restore(int argc, char **argv)
{
    struct restore_args a = {0};
    struct hs_err err = {0};
    int status = HS_USAGE;
    int p = parse_args(argc, argv, &a);
    if (p != 0) {
        status = p > 0 ? HS_OK : HS_USAGE;
        goto out;
    }
    /* a dry run is its listing */
    if (a.dry_run)
        a.out.verbose = true;
    struct hs_restore_opts o = {
        .source = a.positional[0],
        .target = a.positional[1],
        .dry_run = a.dry_run,
        .overwrite = a.overwrite,
        .on_event = cli_on_event,
        .user = &a.out,
        .verbose_events = a.out.verbose && !a.out.quiet,
    };
    struct hs_restore_stats stats;
    enum hs_status st = hs_restore(&o, &stats, &err);
    cli_progress_done(&a.out);
    if (st == HS_OK || st == HS_WARN) {
        if (!a.out.quiet)
            print_summary(&stats, a.dry_run);
        status = st;
    } else {
        status = cli_fail(&err, st);
    }
out:
    free(a.positional);
    hs_err_clear(&err);
    return status;
}
