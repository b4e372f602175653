/* hardsnap: the command line. Parses the verb and hands over to it. */
#include "cli.h"

#include <string.h>
#include <sys/stat.h>

static const char main_usage[] =
    "usage: hardsnap COMMAND [OPTIONS] ARGS\n"
    "\n"
    "Incremental snapshot backups with hard links.\n"
    "\n"
    "  backup [OPTIONS] SOURCE... DEST    make a new snapshot of SOURCE(s) in DEST\n"
    "  backup -c FILE                     the same, from a config file\n"
    "  run -c FILE                        backup, then prune by the config's [retain]\n"
    "  list DEST [--json]                 snapshots, oldest first\n"
    "  diff SNAPSHOT_A SNAPSHOT_B         what changed between two snapshots\n"
    "  versions DEST PATH                 the distinct versions of one file\n"
    "  restore SNAPSHOT[/PATH] TARGET     copy a snapshot, or part of it, back out\n"
    "  prune DEST KEEP-OPTIONS [-n]       delete snapshots the policy does not keep\n"
    "  verify SNAPSHOT | DEST --all       check files against their stored hashes\n"
    "  export SNAPSHOT[/PATH] ARCHIVE     write a snapshot as an archive\n"
    "  import ARCHIVE DEST                make a snapshot from an archive\n"
    "\n"
    "hardsnap COMMAND --help shows the command's options; hardsnap --version the version.\n"
    "Exit status: 0 ok, 1 done with warnings, 2 usage error, 3 failed, 4 DEST is locked.\n";

struct verb {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct verb verbs[] = {
    {"backup", cmd_backup},     {"list", cmd_list},       {"diff", cmd_diff},
    {"versions", cmd_versions}, {"restore", cmd_restore}, {"verify", cmd_verify},
    {"prune", cmd_prune},       {"run", cmd_run},         {"export", cmd_export},
    {"import", cmd_import},
};

int main(int argc, char **argv)
{
    /* modes and owners are set explicitly; the umask must not narrow them meanwhile */
    umask(077);
    if (argc < 2) {
        fputs(main_usage, stderr);
        return HS_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
        fputs(main_usage, stdout);
        return HS_OK;
    }
    if (!strcmp(verb, "--version") || !strcmp(verb, "-V")) {
        printf("hardsnap %s\n", hs_version());
        return HS_OK;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verb, verbs[i].name))
            return verbs[i].run(argc - 1, argv + 1);
    cli_error_arg("unknown command \"%s\" (see hardsnap --help)", verb);
    return HS_USAGE;
}
