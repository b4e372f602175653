/* hardsnap diff: what changed between two snapshots, or since one. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char diff_usage[] =
    "usage: hardsnap diff [-v] SNAPSHOT_A SNAPSHOT_B\n"
    "       hardsnap diff [-v] SNAPSHOT DIRECTORY\n"
    "\n"
    "One line per changed path, in walk order: \"+ path\" only in B, \"- path\"\n"
    "only in A, \"M path\" changed. B may be a live directory: what changed since\n"
    "the snapshot. Exit 0 when the trees are the same, 1 when they differ.\n"
    "\n"
    "  -v, --verbose   after a tab, what changed: type, size, mtime, mode, owner,\n"
    "                  target, content, device, xattrs (ACLs included; not of\n"
    "                  directories)\n"
    "  -h, --help      this help\n";

static const struct option diff_options[] = {
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct {
    unsigned bit;
    const char *name;
} diff_names[] = {
    {HS_DIFF_TYPE, "type"},       {HS_DIFF_SIZE, "size"},     {HS_DIFF_MTIME, "mtime"},
    {HS_DIFF_MODE, "mode"},       {HS_DIFF_OWNER, "owner"},   {HS_DIFF_TARGET, "target"},
    {HS_DIFF_CONTENT, "content"}, {HS_DIFF_DEVICE, "device"}, {HS_DIFF_XATTR, "xattrs"},
};

struct diff_out {
    bool verbose;
};

static void print_change(const struct hs_diff_change *c, void *user)
{
    const struct diff_out *out = user;
    char *esc = c->path_len ? hs_escape(c->path, c->path_len) : strdup(".");
    printf("%c %s", c->kind, esc ? esc : "?");
    free(esc);
    if (out->verbose && c->kind == 'M') {
        const char *sep = "\t";
        for (size_t i = 0; i < sizeof diff_names / sizeof diff_names[0]; i++) {
            if (c->what & diff_names[i].bit) {
                printf("%s%s", sep, diff_names[i].name);
                sep = ",";
            }
        }
    }
    putchar('\n');
}

static void diff_event(const struct hs_event *ev, void *user)
{
    (void)user;
    if (ev->type == HS_EV_WARNING || ev->type == HS_EV_NOTICE)
        cli_error("%s", ev->msg);
}

int cmd_diff(int argc, char **argv)
{
    struct diff_out out = {0};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vh", diff_options, NULL)) != -1) {
        switch (c) {
        case 'v':
            out.verbose = true;
            break;
        case 'h':
            fputs(diff_usage, stdout);
            return HS_OK;
        default:
            cli_bad_option(argv);
            return HS_USAGE;
        }
    }
    if (argc - optind != 2) {
        cli_error("diff: need SNAPSHOT_A and SNAPSHOT_B (see hardsnap diff --help)");
        return HS_USAGE;
    }
    struct hs_diff_opts o = {.a = argv[optind],
                             .b = argv[optind + 1],
                             .on_change = print_change,
                             .on_event = diff_event,
                             .user = &out};
    struct hs_err err = {0};
    uint64_t changes;
    enum hs_status st = hs_diff(&o, &changes, &err);
    int r = st == HS_OK || st == HS_WARN ? (int)st : cli_fail(&err, st);
    hs_err_clear(&err);
    return r;
}
