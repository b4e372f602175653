/* hardsnap versions: one line per distinct version of a path, with the gaps. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

static const char versions_usage[] =
    "usage: hardsnap versions DEST PATH\n"
    "\n"
    "Shows the distinct versions of PATH (a path inside the snapshots, such as\n"
    "home/alice/thesis.tex) across the snapshots of DEST, oldest first: the first\n"
    "and last snapshot holding each version, how many snapshots that is, its type,\n"
    "size in bytes, mtime (UTC) and the start of its content hash. Snapshots in\n"
    "which PATH did not exist show as \"absent FIRST..LAST\".\n"
    "\n"
    "  -h, --help  this help\n";

static const struct option versions_options[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error. */
static int parse_args(int argc, char **argv, const char **dest, const char **path)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", versions_options, NULL)) != -1) {
        if (c == 'h') {
            fputs(versions_usage, stdout);
            return 1;
        }
        return cli_bad_option(argv);
    }
    if (argc - optind != 2) {
        cli_error("versions: need DEST and PATH (see hardsnap versions --help)");
        return -1;
    }
    *dest = argv[optind];
    *path = argv[optind + 1];
    return 0;
}

static const char *type_name(enum hs_entry_type type)
{
    switch (type) {
    case HS_ENTRY_FILE:
        return "file";
    case HS_ENTRY_DIR:
        return "dir";
    case HS_ENTRY_SYMLINK:
        return "symlink";
    case HS_ENTRY_FIFO:
        return "fifo";
    case HS_ENTRY_CHAR:
        return "char";
    case HS_ENTRY_BLOCK:
        return "block";
    case HS_ENTRY_SOCKET:
        return "socket";
    case HS_ENTRY_UNKNOWN:
        break;
    }
    return "?";
}

static void print_version(const struct hs_file_version *v, void *user)
{
    (void)user;
    const char *s = v->snapshots == 1 ? "" : "s";
    if (!v->present) {
        printf("absent %s..%s  %u snapshot%s\n", v->first, v->last, v->snapshots, s);
        return;
    }
    char when[64] = "?";
    struct tm tm;
    time_t t = (time_t)v->mtime_sec;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char hash[20] = "-";
    if (v->has_hash)
        for (int i = 0; i < 8; i++)
            snprintf(hash + 2 * i, 3, "%02x", v->hash[i]);
    printf("%s..%s  %u snapshot%s  %s  %" PRIu64 " bytes  %s  %s\n", v->first, v->last,
           v->snapshots, s, type_name(v->type), v->size, when, hash);
}

int cmd_versions(int argc, char **argv)
{
    const char *dest = NULL, *path = NULL;
    int p = parse_args(argc, argv, &dest, &path);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_err err = {0};
    enum hs_status st = hs_versions(dest, path, print_version, NULL, &err);
    int rc = st == HS_OK ? HS_OK : cli_fail(&err, st);
    hs_err_clear(&err);
    return rc;
}
