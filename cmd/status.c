/* hardsnap status: is the store healthy? One line per fact, or JSON. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char status_usage[] =
    "usage: hardsnap status DEST [--max-age D] [--json | --nagios]\n"
    "\n"
    "Tells whether the store DEST is healthy, from its top level and its log\n"
    "only (no snapshot is read): the newest snapshot and its age, the last run's\n"
    "result, snapshots named in the future, an interrupted run, a DEST open to\n"
    "other users. Exit 0 healthy; 1 needs attention (the newest snapshot is older\n"
    "than --max-age, the last run failed, or one of the above); 3 no snapshot or\n"
    "not a store. Its clock is HARDSNAP_NOW where set.\n"
    "\n"
    "      --max-age D  the newest snapshot may be this old (36h, 2d...; default 26h)\n"
    "      --json       one JSON object\n"
    "      --nagios     one line for Nagios/Icinga (HARDSNAP OK|WARNING|CRITICAL|\n"
    "                   UNKNOWN - ..., with performance data) and their exit codes:\n"
    "                   0 OK, 1 WARNING, 2 CRITICAL (no snapshot, the newest too old,\n"
    "                   the last run failed), 3 UNKNOWN (not a store, unreadable)\n"
    "  -h, --help       this help\n";

enum { OPT_JSON = 256, OPT_MAX_AGE, OPT_NAGIOS };

static const struct option status_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"max-age", required_argument, NULL, OPT_MAX_AGE},
    {"nagios", no_argument, NULL, OPT_NAGIOS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct status_args {
    bool json, nagios;
    int64_t max_age;
    const char *dest;
};

/* 0 = go on, 1 = help shown, -1 = usage error. */
static int parse_args(int argc, char **argv, struct status_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", status_options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_NAGIOS:
            a->nagios = true;
            break;
        case OPT_MAX_AGE:
            if (hs_parse_duration(optarg, &a->max_age) < 0) {
                cli_error_arg("status: --max-age \"%s\": not a duration like 26h, 2d, 1w", optarg);
                return -1;
            }
            break;
        case 'h':
            fputs(status_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    if (argc - optind != 1) {
        cli_error("status: need exactly one DEST (see hardsnap status --help)");
        return -1;
    }
    if (a->json && a->nagios) {
        cli_error("status: --json and --nagios are two outputs: give one");
        return -1;
    }
    a->dest = argv[optind];
    return 0;
}

/* "3d 4h", "4h 12m", "35m", "12s". */
static const char *duration_text(char *buf, size_t n, int64_t s)
{
    if (s >= 86400)
        snprintf(buf, n, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, n, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, n, "%" PRId64 "m", s / 60);
    else
        snprintf(buf, n, "%" PRId64 "s", s < 0 ? 0 : s);
    return buf;
}

static const char *const attention_names[] = {
    "old", "last-run-failed", "future", "dest-open", "interrupted", "stale-source", "anomaly"};

static void print_text(const struct hs_health *h, int64_t max_age)
{
    char age[64];
    printf("newest snapshot: %s, %s ago\n", h->newest, duration_text(age, sizeof age, h->age));
    if (h->have_last)
        printf("last run: %s ended %s, exit %d%s%s\n", h->last_command, h->last_end, h->last_status,
               h->last_snapshot[0] ? ", snapshot " : "", h->last_snapshot);
    else
        printf("last run: none in the log\n");
    for (size_t i = 0; i < h->n_future; i++)
        printf("named in the future: %s (the clock was ahead when it was made; remove it "
               "or rename it to its true time)\n",
               h->future[i]);
    if (h->dest_open)
        printf("open to other users: mode %04o (a backup as root makes it 0700)\n", h->dest_mode);
    if (h->running)
        printf("a run is in progress\n");
    if (h->interrupted)
        printf("interrupted run: its unfinished tree is in .hardsnap/partial (the next "
               "backup resumes from it)\n");
    for (size_t i = 0; i < h->n_stale; i++) {
        char *name = hs_escape(h->stale[i].name, strlen(h->stale[i].name));
        printf("stale source: %s, not pulled since %s (its tree is kept from that snapshot)\n",
               name ? name : "?", h->stale[i].since[0] ? h->stale[i].since : "an unknown time");
        free(name);
    }
    if (h->last_anomaly[0])
        printf("anomaly in the last run: %s (%s; its warnings say more)\n", h->last_anomaly,
               strstr(h->last_anomaly, "change") ? "far more files changed than usual"
                                                 : "unchanged files written again");
    if (!h->attention) {
        printf("status: OK\n");
        return;
    }
    printf("status: NEEDS ATTENTION:");
    const char *sep = " ";
    for (unsigned i = 0; i < sizeof attention_names / sizeof attention_names[0]; i++)
        if (h->attention & (1u << i)) {
            if (i == 0)
                printf("%snewest older than %s", sep, duration_text(age, sizeof age, max_age));
            else
                printf("%s%s", sep, attention_names[i]);
            sep = ", ";
        }
    printf("\n");
}

static void print_json(const struct hs_health *h)
{
    printf("{\"healthy\": %s, \"snapshots\": %zu, \"newest\": ", h->attention ? "false" : "true",
           h->snapshots);
    if (h->newest[0])
        cli_json_string(h->newest);
    else
        printf("null");
    printf(", \"age_seconds\": %" PRId64 ", \"last_run\": ", h->age);
    if (h->have_last) {
        printf("{\"command\": ");
        cli_json_string(h->last_command);
        printf(", \"end\": ");
        cli_json_string(h->last_end);
        printf(", \"status\": %d, \"snapshot\": ", h->last_status);
        if (h->last_snapshot[0])
            cli_json_string(h->last_snapshot);
        else
            printf("null");
        printf(", \"anomaly\": ");
        if (h->last_anomaly[0])
            cli_json_string(h->last_anomaly);
        else
            printf("null");
        printf("}");
    } else {
        printf("null");
    }
    printf(", \"future\": [");
    for (size_t i = 0; i < h->n_future; i++) {
        printf("%s", i ? ", " : "");
        cli_json_string(h->future[i]);
    }
    printf("], \"dest_open\": %s, \"dest_mode\": \"%04o\", \"running\": %s, \"interrupted\": %s",
           h->dest_open ? "true" : "false", h->dest_mode, h->running ? "true" : "false",
           h->interrupted ? "true" : "false");
    printf(", \"stale\": [");
    for (size_t i = 0; i < h->n_stale; i++) {
        printf("%s{\"source\": ", i ? ", " : "");
        cli_json_string(h->stale[i].name);
        printf(", \"since\": ");
        if (h->stale[i].since[0])
            cli_json_string(h->stale[i].since);
        else
            printf("null");
        printf("}");
    }
    printf("]");
    printf(", \"attention\": [");
    const char *sep = "";
    for (unsigned i = 0; i < sizeof attention_names / sizeof attention_names[0]; i++)
        if (h->attention & (1u << i)) {
            printf("%s\"%s\"", sep, attention_names[i]);
            sep = ", ";
        }
    printf("]}\n");
}

/* The monitoring plugins' states (their exit codes). */
enum nagios_state { NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN };

static const char *const nagios_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* Backups that stopped (too old, the last run failed) are critical; what
 * else needs a person, with a fresh snapshot there, is a warning. */
static enum nagios_state nagios_state_of(const struct hs_health *h)
{
    if (h->attention & (HS_HEALTH_OLD | HS_HEALTH_FAILED))
        return NAGIOS_CRITICAL;
    return h->attention ? NAGIOS_WARNING : NAGIOS_OK;
}

/* "HARDSNAP STATE - what | perfdata": the line Nagios shows and graphs. */
static int print_nagios(const struct hs_health *h, int64_t max_age)
{
    enum nagios_state st = nagios_state_of(h);
    char age[64], max[64];
    printf("HARDSNAP %s - newest %s, %s ago", nagios_names[st], h->newest,
           duration_text(age, sizeof age, h->age));
    if (h->attention & HS_HEALTH_OLD)
        printf(" (older than %s)", duration_text(max, sizeof max, max_age));
    if (h->have_last)
        printf("; last %s exit %d", h->last_command, h->last_status);
    for (unsigned i = 1; i < sizeof attention_names / sizeof attention_names[0]; i++)
        if (h->attention & (1u << i))
            printf("; %s", attention_names[i]);
    for (size_t i = 0; i < h->n_stale; i++) {
        char *name = hs_escape(h->stale[i].name, strlen(h->stale[i].name));
        printf(" %s", name ? name : "?");
        free(name);
    }
    printf(" | age=%" PRId64 "s;%" PRId64 ";%" PRId64 ";0 snapshots=%zu;;;0 stale=%zu;;;0\n",
           h->age, max_age, max_age, h->snapshots, h->n_stale);
    return (int)st;
}

int cmd_status(int argc, char **argv)
{
    struct status_args a = {.max_age = 26 * 3600};
    int p = parse_args(argc, argv, &a);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_health h;
    struct hs_err err = {0};
    enum hs_status st = hs_health(a.dest, getenv("HARDSNAP_NOW"), a.max_age, &h, &err);
    int code = (int)st;
    if (a.nagios && (st == HS_OK || st == HS_WARN)) {
        code = print_nagios(&h, a.max_age);
    } else if (a.nagios) {
        /* no snapshot in a store is backups that never ran: critical; not
         * being able to tell is unknown */
        bool no_snapshot = st == HS_FAILED && h.is_store;
        printf("HARDSNAP %s - %s\n", no_snapshot ? "CRITICAL" : "UNKNOWN",
               err.msg ? err.msg : "cannot tell");
        code = no_snapshot ? NAGIOS_CRITICAL : NAGIOS_UNKNOWN;
    } else if (st == HS_OK || st == HS_WARN) {
        if (a.json)
            print_json(&h);
        else
            print_text(&h, a.max_age);
    } else {
        code = st = cli_fail(&err, st);
        if (a.json && st != HS_USAGE)
            printf("{\"healthy\": false, \"snapshots\": %zu, \"newest\": null}\n", h.snapshots);
    }
    hs_health_free(&h);
    hs_err_clear(&err);
    return code;
}
