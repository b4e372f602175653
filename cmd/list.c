/* hardsnap list: the snapshots of a store, as a table or as JSON. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

static const char list_usage[] =
    "usage: hardsnap list DEST [--json]\n"
    "\n"
    "Lists the snapshots of DEST, oldest first: the number of regular files, the\n"
    "total size of the tree (each inode once) and the unique size: the disk space\n"
    "only that snapshot holds, which deleting it alone would free. Directories are\n"
    "not counted. The last line gives the disk space the whole store uses.\n"
    "\n"
    "      --json  one JSON array of {name, files, total_bytes, unique_bytes, future}\n"
    "  -h, --help  this help\n";

enum { OPT_JSON = 256 };

static const struct option list_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error; *dest is the one operand. */
static int parse_args(int argc, char **argv, bool *json, const char **dest)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", list_options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            *json = true;
            break;
        case 'h':
            fputs(list_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    if (argc - optind != 1) {
        cli_error("list: need exactly one DEST (see hardsnap list --help)");
        return -1;
    }
    *dest = argv[optind];
    return 0;
}

static void print_json(const struct hs_list *l)
{
    printf("[");
    for (size_t i = 0; i < l->n; i++) {
        const struct hs_list_entry *s = &l->snapshots[i];
        printf("%s\n  {\"name\": ", i ? "," : "");
        cli_json_string(s->name);
        printf(", \"files\": %" PRIu64 ", \"total_bytes\": %" PRIu64 ", \"unique_bytes\": %" PRIu64
               ", \"future\": %s}",
               s->files, s->total_bytes, s->unique_bytes, s->future ? "true" : "false");
    }
    printf("%s]\n", l->n ? "\n" : "");
}

static void print_table(const struct hs_list *l)
{
    char t[32], u[32];
    bool walked = false, future = false;
    printf("%-20s %10s %12s %12s\n", "SNAPSHOT", "FILES", "TOTAL", "UNIQUE");
    for (size_t i = 0; i < l->n; i++) {
        const struct hs_list_entry *s = &l->snapshots[i];
        printf("%-20s %10" PRIu64 " %12s %12s%s%s\n", s->name, s->files,
               hs_bytes_text(t, sizeof t, s->total_bytes),
               hs_bytes_text(u, sizeof u, s->unique_bytes), s->from_manifest ? "" : "  *",
               s->future ? "  !" : "");
        walked |= !s->from_manifest;
        future |= s->future;
    }
    printf("%zu snapshot%s, %s used on disk\n", l->n, l->n == 1 ? "" : "s",
           hs_bytes_text(t, sizeof t, l->used_bytes));
    if (walked)
        printf("* no usable manifest: counted by walking the snapshot\n");
    if (future)
        printf("! named in the future: the clock was ahead when it was made; it is not latest\n");
}

int cmd_list(int argc, char **argv)
{
    bool json = false;
    const char *dest = NULL;
    int p = parse_args(argc, argv, &json, &dest);
    if (p != 0)
        return p > 0 ? HS_OK : HS_USAGE;
    struct hs_list l;
    struct hs_err err = {0};
    enum hs_status st = hs_list(dest, &l, &err);
    if (st != HS_OK) {
        int rc = cli_fail(&err, st);
        hs_err_clear(&err);
        return rc;
    }
    if (json)
        print_json(&l);
    else
        print_table(&l);
    hs_list_free(&l);
    return HS_OK;
}
