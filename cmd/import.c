/* hardsnap import: a snapshot made from an archive. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char import_usage[] =
    "usage: hardsnap import [OPTIONS] ARCHIVE DEST\n"
    "       hardsnap import --from rsnapshot|rsync-time-backup DIR\n"
    "\n"
    "Makes a new snapshot in DEST from ARCHIVE (\"-\": stdin), in any format\n"
    "libarchive reads: tar (pax, GNU, ustar), cpio, zip, ISO 9660, ... plain or\n"
    "compressed. Files whose path, size, mtime, mode and owner match the latest\n"
    "snapshot are linked to it; hard links in the archive stay hard links.\n"
    "Entries with absolute paths, \"..\" or a path through a symlink are refused\n"
    "and named (exit 1). The snapshot is named by the newest mtime in the\n"
    "archive, or by HARDSNAP_NOW; an older one does not become latest.\n"
    "With --from, DIR (an rsnapshot or rsync-time-backup store) is made a\n"
    "hardsnap store in place: see hardsnap import --from rsnapshot --help.\n"
    "\n"
    "      --stats        detailed counts at the end\n"
    "      --progress     live progress on a terminal\n"
    "  -v, --verbose      print each written or linked path\n"
    "  -q, --quiet        print errors only\n"
    "  -h, --help         this help\n";

enum { OPT_STATS = 0x100 };

struct import_args {
    const char **positional;
    size_t n_positional;
    bool stats;
    struct cli_out out;
};

static const struct option import_options[] = {
    {"stats", no_argument, NULL, OPT_STATS}, {"progress", no_argument, NULL, CLI_OPT_PROGRESS},
    {"verbose", no_argument, NULL, 'v'},     {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct import_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vqh", import_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(import_usage, stdout);
            return 1;
        case OPT_STATS:
            a->stats = true;
            break;
        default:
            if (!cli_out_option(&a->out, c))
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 2,
                    "import: need ARCHIVE DEST; see hardsnap import --help");
}

static void print_summary(const struct hs_backup_result *res, bool detailed)
{
    const struct hs_backup_stats *s = &res->stats;
    char b[32], t[32];
    if (detailed)
        printf("entries: %" PRIu64 " (%" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64
               " symlinks, %" PRIu64 " special), total size %s, warnings %" PRIu64 "\n",
               s->entries, s->files, s->dirs, s->symlinks, s->specials,
               hs_bytes_text(t, sizeof t, s->bytes_total), s->warnings);
    printf("%s: %" PRIu64 " files, %" PRIu64 " linked, %" PRIu64 " hard links, %" PRIu64
           " written, %s written, %.2f s\n",
           res->name, s->files, s->linked, s->hardlinked, s->copied,
           hs_bytes_text(b, sizeof b, s->bytes_copied), s->seconds);
}

int cmd_import(int argc, char **argv)
{
    struct import_args a = {0};
    struct hs_err err = {0};
    if (cli_import_from(argc, argv)) /* an old store in place: not an archive */
        return cmd_import_from(argc, argv);
    time_t start = time(NULL);
    int p = parse_args(argc, argv, &a);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p != 0)
        goto out;
    const char *dest = a.positional[1];
    struct hs_import_opts o = {
        .archive = a.positional[0],
        .dest = dest,
        .now = getenv("HARDSNAP_NOW"),
        .on_event = cli_on_event,
        .user = &a.out,
        .verbose_events = a.out.verbose && !a.out.quiet,
    };
    struct hs_backup_result res;
    enum hs_status st = hs_import(&o, &res, &err);
    cli_progress_done(&a.out);
    if (st == HS_OK || st == HS_WARN) {
        if (!a.out.quiet || a.stats)
            print_summary(&res, a.stats);
        status = st;
    } else {
        status = cli_fail(&err, st);
    }
    if (st != HS_USAGE)
        status = cli_log_run(dest, start, "import", status, &res, NULL, NULL);
out:
    free(a.positional);
    hs_err_clear(&err);
    return status;
}
