/* hardsnap serve: the remote end, started by ssh. Its stdout is the protocol:
 * nothing but hs_serve() writes there (messages go to stderr, which ssh
 * hands back to the client). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char serve_usage[] =
    "usage: hardsnap serve [--allow PATH]... [--store DEST] [--timeout SECONDS]\n"
    "\n"
    "The remote end of a pull, run by ssh on the host being backed up (hardsnap\n"
    "backup HOST:PATH DEST starts it): talks the protocol on stdin and stdout,\n"
    "sends the tree the client asks for and never writes into it. The request\n"
    "comes from the protocol, not from arguments, so it works as an\n"
    "authorized_keys forced command:\n"
    "  command=\"hardsnap serve --allow /srv\",restrict ssh-ed25519 AAAA...\n"
    "\n"
    "      --allow PATH       serve only trees inside directory PATH (repeatable;\n"
    "                         none: any tree this user can read)\n"
    "      --store DEST       receive replicas into the store DEST (reserved: this\n"
    "                         version refuses it, having no replicate command)\n"
    "      --timeout SECONDS  end the connection when the client stalls that long\n"
    "  -h, --help             this help\n";

enum { OPT_ALLOW = 256, OPT_STORE, OPT_TIMEOUT };

static const struct option serve_options[] = {
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"store", required_argument, NULL, OPT_STORE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* An --allow that is not a directory is a typo in a forced command: better
 * refused at once than every request refused later. */
static int check_allow(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        char fmt[128];
        snprintf(fmt, sizeof fmt, "serve: --allow %%s: %s", strerror(errno));
        cli_error_arg(fmt, path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_error_arg("serve: --allow %s: not a directory", path);
        return -1;
    }
    return 0;
}

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct hs_serve_opts *o, const char ***allow)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", serve_options, NULL)) != -1) {
        switch (c) {
        case OPT_ALLOW:
            if (check_allow(optarg) < 0)
                return -1;
            if (cli_push(allow, &o->n_allow, optarg) < 0) {
                cli_error("serve: out of memory");
                return -1;
            }
            break;
        case OPT_STORE:
            /* refused, not ignored: a forced command with --store would
             * otherwise send any tree its user can read */
            cli_error_arg("serve: --store %s: this version cannot receive replicas yet "
                          "(no replicate command)",
                          optarg);
            return -1;
        case OPT_TIMEOUT:
            if (cli_parse_seconds("--timeout", optarg, &o->timeout) < 0)
                return -1;
            break;
        case 'h':
            fputs(serve_usage, stdout);
            return 1;
        default:
            return cli_bad_option(argv);
        }
    }
    if (optind < argc) {
        cli_error_arg("serve: unexpected argument %s: the request comes from the client, over "
                      "the connection (see hardsnap serve --help)",
                      argv[optind]);
        return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct hs_serve_opts o = {.in_fd = 0, .out_fd = 1};
    const char **allow = NULL;
    int p = parse_args(argc, argv, &o, &allow);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p == 0) {
        /* a client gone mid-stream is a write error hs_serve reports and
         * cleans up after, not a silent death half-way through a write */
        signal(SIGPIPE, SIG_IGN);
        struct hs_err err = {0};
        o.allow = allow;
        enum hs_status st = hs_serve(&o, &err);
        /* no message: the client was told, and says it */
        status = st == HS_OK || !err.msg ? (int)st : cli_fail(&err, st);
        hs_err_clear(&err);
    }
    free(allow);
    return status;
}
