/* hardsnap verify: problems on stderr, one summary line on stdout. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char verify_usage[] =
    "usage: hardsnap verify [OPTIONS] SNAPSHOT\n"
    "       hardsnap verify [OPTIONS] DEST --all\n"
    "\n"
    "Re-reads every regular file of SNAPSHOT (DEST/NAME or DEST/latest) and checks\n"
    "it against the content hash its manifest recorded; names files that are\n"
    "damaged, unreadable, missing from the snapshot or added to it since it was\n"
    "made. With --all, every snapshot of DEST, reading each shared file once.\n"
    "Exit status 1 when anything was found.\n"
    "\n"
    "      --all    verify every snapshot of the store DEST\n"
    "  -q, --quiet  no summary line, only the problems\n"
    "  -h, --help   this help\n";

enum { OPT_ALL = 256 };

static const struct option verify_options[] = {
    {"all", no_argument, NULL, OPT_ALL},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct verify_args {
    bool all, quiet;
    const char *target;
};

/* 0 = go on, 1 = help shown, -1 = usage error. */
static int parse_args(int argc, char **argv, struct verify_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qh", verify_options, NULL)) != -1) {
        switch (c) {
        case OPT_ALL:
            a->all = true;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            fputs(verify_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    if (argc - optind != 1) {
        cli_error("verify: need one %s (see hardsnap verify --help)", a->all ? "DEST" : "SNAPSHOT");
        return -1;
    }
    a->target = argv[optind];
    return 0;
}

static void on_problem(const struct hs_verify_problem *p, void *user)
{
    (void)user;
    static const char *const what[] = {
        [HS_VERIFY_DAMAGED] = "damaged",
        [HS_VERIFY_MISSING] = "missing",
        [HS_VERIFY_ADDED] = "added",
        [HS_VERIFY_UNREADABLE] = "unreadable",
        [HS_VERIFY_NO_MANIFEST] = "no manifest",
    };
    const char *why = p->msg;
    if (p->kind == HS_VERIFY_MISSING)
        why = "in the manifest, gone from the snapshot";
    else if (p->kind == HS_VERIFY_ADDED)
        why = "in the snapshot, not in the manifest";
    char *esc = hs_escape(p->path, strlen(p->path));
    cli_error("%s: %s%s%s%s%s", what[p->kind], p->snapshot, *p->path ? "/" : "", esc ? esc : "?",
              why ? ": " : "", why ? why : "");
    free(esc);
}

static void print_summary(const struct hs_verify_stats *s)
{
    char b[32];
    printf("verified %" PRIu64 " snapshot%s: %" PRIu64 " files, %" PRIu64 " inodes read, %" PRIu64
           " names shared, %s in %.2f s: ",
           s->snapshots, s->snapshots == 1 ? "" : "s", s->files, s->inodes_hashed, s->inodes_shared,
           hs_bytes_text(b, sizeof b, s->bytes_read), s->seconds);
    if (s->problems)
        printf("%" PRIu64 " problem%s\n", s->problems, s->problems == 1 ? "" : "s");
    else
        printf("no problems\n");
}

int cmd_verify(int argc, char **argv)
{
    struct verify_args a = {0};
    int p = parse_args(argc, argv, &a);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_verify_opts o = {.target = a.target, .all = a.all, .on_problem = on_problem};
    struct hs_verify_stats st;
    struct hs_err err = {0};
    enum hs_status rc = hs_verify(&o, &st, &err);
    if (rc == HS_OK || rc == HS_WARN) {
        if (!a.quiet)
            print_summary(&st);
    } else {
        rc = cli_fail(&err, rc);
    }
    hs_err_clear(&err);
    return (int)rc;
}
