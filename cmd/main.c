/* hardsnap: the command line. Parses the verb and hands over to it. */
#include "cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
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
    "  import --from FORMAT DIR           make an rsnapshot or rsync-time-backup\n"
    "                                     store a hardsnap store, in place\n"
    "  status DEST [--max-age D] [--json] is the store healthy (for monitoring)\n"
    "  report DEST -o FILE.html           the store in one HTML page (charts)\n"
    "  replicate STORE DEST2              add the snapshots DEST2 lacks, links kept\n"
    "  serve [--allow PATH]...            the remote end of a pull, started by ssh\n"
    "\n"
    "hardsnap COMMAND --help shows the command's options; hardsnap --version the\n"
    "version. Exit status: 0 ok, 1 done with warnings, 2 usage error, 3 failed,\n"
    "4 DEST is locked.\n";

struct verb {
    const char *name;
    int (*run)(int argc, char **argv);
    bool reports; /* changes the store or files: stdout only reports what was done */
};

static const struct verb verbs[] = {
    {"backup", cmd_backup, true},   {"list", cmd_list, false},
    {"diff", cmd_diff, false},      {"versions", cmd_versions, false},
    {"restore", cmd_restore, true}, {"verify", cmd_verify, false},
    {"prune", cmd_prune, true},     {"run", cmd_run, true},
    {"export", cmd_export, true},   {"import", cmd_import, true},
    {"status", cmd_status, false},  {"serve", cmd_serve, true},
    {"report", cmd_report, true},   {"replicate", cmd_replicate, true},
};

/* Output that could not all be written: for a command whose output is its
 * product (a listing, a diff) the run failed (exit 3); for one that made or
 * changed something, only its report is lost (exit 1: a snapshot made is
 * made, and exit 3 would say it was not). */
static int checked_stdout(int status, bool reports)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return status;
    fprintf(stderr, "hardsnap: cannot write to standard output: %s\n", strerror(errno));
    int least = reports ? HS_WARN : HS_FAILED;
    return status > least ? status : least;
}

/* A deep tree holds an fd per level of some walks: the soft limit goes up
 * to the hard one (best effort; the library leaves process settings to us). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    /* modes and owners are set explicitly; the umask must not narrow them meanwhile */
    umask(077);
    raise_nofile();
    if (argc < 2) {
        fputs(main_usage, stderr);
        return HS_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
        fputs(main_usage, stdout);
        return checked_stdout(HS_OK, false);
    }
    if (!strcmp(verb, "--version") || !strcmp(verb, "-V")) {
        printf("hardsnap %s\n", hs_version());
        return checked_stdout(HS_OK, false);
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verb, verbs[i].name))
            return checked_stdout(verbs[i].run(argc - 1, argv + 1), verbs[i].reports);
    cli_error_arg("unknown command \"%s\" (see hardsnap --help)", verb);
    return HS_USAGE;
}
