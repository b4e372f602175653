/* hardsnap import --from: an rsnapshot or rsync-time-backup store made a
 * hardsnap store in place. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char migrate_usage[] =
    "usage: hardsnap import --from rsnapshot DIR\n"
    "       hardsnap import --from rsync-time-backup DIR\n"
    "\n"
    "Makes DIR, a store of rsnapshot (DIR/daily.0, weekly.1...) or of\n"
    "rsync-time-backup (DIR/2026-01-01-020000...), a hardsnap store in place.\n"
    "Nothing is copied: each old snapshot is renamed to the UTC time it was made\n"
    "(rsnapshot: the directory's mtime; rsync-time-backup: its name, read in the\n"
    "local time zone) and gets a manifest (every file is read once), so hard\n"
    "links between them stay. With one rsnapshot backup point (localhost/), that\n"
    "directory becomes the snapshot root. Interrupted, run it again: it continues.\n"
    "Then back up into DIR as usual; the first backup links to the newest.\n"
    "\n"
    "  -v, --verbose      print each snapshot renamed\n"
    "  -q, --quiet        print errors only\n"
    "  -h, --help         this help\n";

struct migrate_args {
    const char **positional;
    size_t n_positional;
    const char *from;
    struct cli_out out;
};

static const struct option migrate_options[] = {
    {"from", required_argument, NULL, 'F'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

bool cli_import_from(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--from") || !strncmp(argv[i], "--from=", 7))
            return true;
    return false;
}

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct migrate_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vqh", migrate_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(migrate_usage, stdout);
            return 1;
        case 'F':
            a->from = optarg;
            break;
        default:
            if (!cli_out_option(&a->out, c) || c == CLI_OPT_PROGRESS)
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 1,
                    "import --from: need FORMAT DIR; see hardsnap import --help");
}

static void on_snapshot(const char *old, const char *name, void *user)
{
    const struct cli_out *out = user;
    if (out->verbose && !out->quiet) {
        char *e = hs_escape(old, strlen(old));
        printf("%s -> %s\n", e ? e : old, name);
        free(e);
    }
}

int cmd_import_from(int argc, char **argv)
{
    struct migrate_args a = {0};
    struct hs_err err = {0};
    time_t start = time(NULL);
    int p = parse_args(argc, argv, &a);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p != 0)
        goto out;
    struct hs_migrate_opts o = {.dir = a.positional[0], .on_snapshot = on_snapshot, .user = &a.out};
    if (!strcmp(a.from, "rsnapshot")) {
        o.from = HS_FROM_RSNAPSHOT;
    } else if (!strcmp(a.from, "rsync-time-backup")) {
        o.from = HS_FROM_RSYNC_TIME_BACKUP;
    } else {
        cli_error_arg("import --from: unknown format %s (rsnapshot or rsync-time-backup)", a.from);
        status = HS_USAGE;
        goto out;
    }
    struct hs_migrate_result res;
    enum hs_status st = hs_migrate(&o, &res, &err);
    if (res.warn.msg)
        cli_error("%s", res.warn.msg);
    if (st == HS_OK || st == HS_WARN) {
        char b[32];
        char *root = hs_escape(res.root, strlen(res.root));
        if (res.already && !a.out.quiet)
            printf("%s: already a hardsnap store, nothing to migrate\n", o.dir);
        else if (!a.out.quiet)
            printf("%zu snapshots migrated%s%s%s: %" PRIu64 " files, %" PRIu64
                   " read (%s), %.2f s\n",
                   res.snapshots, *res.root ? " (the root of each: its " : "", root ? root : "",
                   *res.root ? "/)" : "", res.files, res.inodes_hashed,
                   hs_bytes_text(b, sizeof b, res.bytes_hashed), res.seconds);
        free(root);
        status = st;
    } else {
        status = cli_fail(&err, st);
    }
    if (st != HS_USAGE && st != HS_LOCKED)
        status = cli_log_run(o.dir, start, "import", status, NULL, NULL, NULL);
    hs_err_clear(&res.warn);
out:
    free(a.positional);
    hs_err_clear(&err);
    return status;
}
