/* hardsnap prune: delete the snapshots a retention policy does not keep. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char prune_usage[] =
    "usage: hardsnap prune DEST KEEP-OPTIONS [-n]\n"
    "       hardsnap prune -c FILE [KEEP-OPTIONS] [-n]\n"
    "\n"
    "Deletes the snapshots no rule keeps. Each rule on its own keeps the newest\n"
    "snapshot of each of its N most recent periods that have one (UTC); the\n"
    "union of the rules is kept; the newest snapshot is never deleted.\n"
    "\n"
    "      --keep-last N        the N newest snapshots\n"
    "      --keep-hourly N      the newest of each of the N most recent hours\n"
    "      --keep-daily N       ... days\n"
    "      --keep-weekly N      ... ISO weeks\n"
    "      --keep-monthly N     ... months\n"
    "      --keep-yearly N      ... years\n"
    "      --keep-within DUR    everything newer than now minus DUR (36h, 7d, 2w,\n"
    "                           6m, 1y)\n"
    "  -c, --config FILE        DEST and the [retain] rules from FILE (options\n"
    "                           override them)\n"
    "  -n, --dry-run            print each snapshot with keep (and why) or delete\n"
    "  -q, --quiet              print errors only\n"
    "  -h, --help               this help\n";

enum { OPT_LAST = 256, OPT_HOURLY, OPT_DAILY, OPT_WEEKLY, OPT_MONTHLY, OPT_YEARLY, OPT_WITHIN };

static const struct option prune_options[] = {
    {"keep-last", required_argument, NULL, OPT_LAST},
    {"keep-hourly", required_argument, NULL, OPT_HOURLY},
    {"keep-daily", required_argument, NULL, OPT_DAILY},
    {"keep-weekly", required_argument, NULL, OPT_WEEKLY},
    {"keep-monthly", required_argument, NULL, OPT_MONTHLY},
    {"keep-yearly", required_argument, NULL, OPT_YEARLY},
    {"keep-within", required_argument, NULL, OPT_WITHIN},
    {"config", required_argument, NULL, 'c'},
    {"dry-run", no_argument, NULL, 'n'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct prune_args {
    struct hs_retain cli; /* -1 = not given */
    const char *config;
    bool dry_run, quiet;
    const char *dest;
};

static int parse_count(const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > 1000000 || s[0] == '+' || s[0] == '-') {
        char fmt[96];
        snprintf(fmt, sizeof fmt, "prune: %s needs a number from 0 to 1000000, not \"%%s\"", opt);
        cli_error_arg(fmt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_prune(int argc, char **argv, struct prune_args *a)
{
    static const char *const names[] = {"--keep-last",   "--keep-hourly",  "--keep-daily",
                                        "--keep-weekly", "--keep-monthly", "--keep-yearly"};
    int *fields[] = {&a->cli.keep_last,   &a->cli.keep_hourly,  &a->cli.keep_daily,
                     &a->cli.keep_weekly, &a->cli.keep_monthly, &a->cli.keep_yearly};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:nqh", prune_options, NULL)) != -1) {
        if (c >= OPT_LAST && c <= OPT_YEARLY) {
            if (parse_count(names[c - OPT_LAST], optarg, fields[c - OPT_LAST]) < 0)
                return -1;
            continue;
        }
        switch (c) {
        case OPT_WITHIN:
            if (hs_parse_duration(optarg, &a->cli.keep_within) < 0) {
                cli_error_arg("prune: --keep-within needs a duration like 36h, 7d, 2w, 6m or 1y, "
                              "not \"%s\"",
                              optarg);
                return -1;
            }
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'n':
            a->dry_run = true;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            fputs(prune_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    int left = argc - optind;
    if (a->config ? left != 0 : left != 1) {
        cli_error("prune: need DEST (or -c FILE) and keep options; see hardsnap prune --help");
        return -1;
    }
    if (!a->config)
        a->dest = argv[optind];
    return 0;
}

/* The command line's rules over the config file's. */
static void merge_policy(struct hs_retain *p, const struct hs_retain *cli)
{
    int *dst[] = {&p->keep_last,   &p->keep_hourly,  &p->keep_daily,
                  &p->keep_weekly, &p->keep_monthly, &p->keep_yearly};
    const int *src[] = {&cli->keep_last,   &cli->keep_hourly,  &cli->keep_daily,
                        &cli->keep_weekly, &cli->keep_monthly, &cli->keep_yearly};
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++)
        if (*src[i] >= 0)
            *dst[i] = *src[i];
    if (cli->keep_within >= 0)
        p->keep_within = cli->keep_within;
}

struct prune_out {
    bool dry_run, quiet;
};

static void print_item(const struct hs_prune_item *it, void *user)
{
    const struct prune_out *out = user;
    char why[128], b[32];
    if (out->dry_run) {
        hs_retain_describe(it->reasons, why, sizeof why);
        if (it->reasons)
            printf("keep    %s  (%s)\n", it->name, why);
        else
            printf("delete  %s\n", it->name);
    } else if (!it->reasons && !out->quiet) {
        printf("deleted %s  (%s freed)\n", it->name, hs_bytes_text(b, sizeof b, it->freed));
    }
}

static void prune_event(const struct hs_event *ev, void *user)
{
    (void)user;
    if (ev->type == HS_EV_WARNING || ev->type == HS_EV_NOTICE)
        cli_error("%s", ev->msg);
}

int cli_prune(const char *dest, const struct hs_retain *policy, bool dry_run, bool quiet,
              struct hs_prune_result *res)
{
    struct prune_out out = {.dry_run = dry_run, .quiet = quiet};
    struct hs_prune_opts o = {.dest = dest,
                              .policy = *policy,
                              .dry_run = dry_run,
                              .now = getenv("HARDSNAP_NOW"),
                              .on_item = print_item,
                              .on_event = prune_event,
                              .user = &out};
    struct hs_err err = {0};
    enum hs_status st = hs_prune(&o, res, &err);
    if (st != HS_OK && st != HS_WARN) {
        int r = cli_fail(&err, st);
        hs_err_clear(&err);
        return r;
    }
    char b[32];
    if (!quiet && !dry_run)
        printf("pruned: %" PRIu64 " deleted, %" PRIu64 " kept, %s freed\n", res->deleted, res->kept,
               hs_bytes_text(b, sizeof b, res->freed));
    hs_err_clear(&err);
    return st;
}

int cmd_prune(int argc, char **argv)
{
    struct prune_args a = {.cli = {-1, -1, -1, -1, -1, -1, -1}};
    int p = parse_prune(argc, argv, &a);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_retain policy = {-1, -1, -1, -1, -1, -1, -1};
    struct hs_config cf = {0};
    struct hs_err err = {0};
    const char *dest = a.dest;
    if (a.config) {
        enum hs_status st = hs_config_load(&cf, a.config, &err);
        if (st != HS_OK) {
            int r = cli_fail(&err, st);
            hs_err_clear(&err);
            return r;
        }
        policy = cf.retain;
        dest = cf.dest;
    }
    merge_policy(&policy, &a.cli);
    struct hs_prune_result res = {0};
    time_t start = time(NULL);
    int r = cli_prune(dest, &policy, a.dry_run, a.quiet, &res);
    if (!a.dry_run && r != HS_USAGE) {
        r = cli_log_run(dest, start, "prune", r, NULL, &res, NULL);
    }
    hs_config_free(&cf);
    return r;
}
