/* hardsnap report: the store as one self-contained HTML page. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char report_usage[] =
    "usage: hardsnap report DEST -o FILE [--max-age D] [-q]\n"
    "\n"
    "Writes one HTML page about the store DEST that needs nothing else to be\n"
    "viewed (no network, no other file): its snapshots over time with their\n"
    "total and unique bytes (as list counts them), the runs of its log (files\n"
    "copied and linked, duration), when each source was last backed up and\n"
    "which are stale, and the 20 files that grew most between the two newest\n"
    "snapshots. FILE is written as FILE.tmp and renamed over FILE. It reads\n"
    "every snapshot, as list does. Its clock is HARDSNAP_NOW where set.\n"
    "\n"
    "  -o, --output FILE  the page (- for standard output)\n"
    "      --max-age D    a source last backed up longer ago is marked (default 26h)\n"
    "  -q, --quiet        print nothing on success\n"
    "  -h, --help         this help\n";

enum { OPT_MAX_AGE = 256 };

static const struct option report_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"max-age", required_argument, NULL, OPT_MAX_AGE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct report_args {
    const char *dest, *output;
    int64_t max_age;
    bool quiet;
};

/* 0 = go on, 1 = help shown, -1 = usage error. */
static int parse_args(int argc, char **argv, struct report_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", report_options, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case OPT_MAX_AGE:
            if (hs_parse_duration(optarg, &a->max_age) < 0 || a->max_age <= 0) {
                cli_error_arg("report: --max-age \"%s\": not a duration like 26h, 2d, 1w", optarg);
                return -1;
            }
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            fputs(report_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    if (argc - optind != 1) {
        cli_error("report: need exactly one DEST (see hardsnap report --help)");
        return -1;
    }
    if (!a->output || !*a->output) {
        cli_error("report: need -o FILE, or -o - for standard output (see hardsnap report --help)");
        return -1;
    }
    a->dest = argv[optind];
    return 0;
}

int cmd_report(int argc, char **argv)
{
    struct report_args a = {0};
    int p = parse_args(argc, argv, &a);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_html_report_opts o = {
        .dest = a.dest,
        .output = a.output,
        .now = getenv("HARDSNAP_NOW"),
        .max_age = a.max_age,
    };
    struct hs_err err = {0};
    enum hs_status st = hs_html_report(&o, &err);
    if (st != HS_OK) {
        int rc = cli_fail(&err, st);
        hs_err_clear(&err);
        return rc;
    }
    if (!a.quiet && strcmp(a.output, "-")) {
        char *esc = hs_escape(a.output, strlen(a.output));
        printf("report: %s\n", esc ? esc : "?");
        free(esc);
    }
    return HS_OK;
}
