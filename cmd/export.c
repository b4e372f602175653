/* hardsnap export: a snapshot, or a path in it, as an archive file or stream. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char export_usage[] =
    "usage: hardsnap export [OPTIONS] SNAPSHOT[/PATH] ARCHIVE\n"
    "\n"
    "Writes SNAPSHOT's contents, or PATH itself under its own name, as an\n"
    "archive. The format follows ARCHIVE's name: .tar (pax), .tar.gz or .tgz,\n"
    ".tar.xz, .tar.zst, .zip, .iso (ISO 9660 with Rock Ridge and Joliet);\n"
    "\"-\" writes a pax tar to stdout. Hard links stay hard links (zip has\n"
    "none). ARCHIVE must not exist; it appears only once complete.\n"
    "\n"
    "      --progress     live progress on a terminal\n"
    "  -v, --verbose      print each archived path (on stderr with \"-\")\n"
    "  -q, --quiet        print errors only\n"
    "  -h, --help         this help\n";

struct export_args {
    const char **positional;
    size_t n_positional;
    struct cli_out out;
};

static const struct option export_options[] = {
    {"progress", no_argument, NULL, CLI_OPT_PROGRESS},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the event callback needs besides the common output settings. */
struct export_ui {
    struct cli_out *out;
    FILE *listing; /* where -v and the summary go: stderr when the archive is stdout */
};

/* Set by the signal handler, read by the library between writes: the one
 * piece of process-wide state a handler can share. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* An interruption makes the export stop and remove its .part (exit 3); no
 * SA_RESTART, so a blocked read or write returns at once. A closed pipe is a
 * write error to report, not a silent death. */
static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct export_args *a)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vqh", export_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(export_usage, stdout);
            return 1;
        default:
            if (!cli_out_option(&a->out, c))
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 2,
                    "export: need SNAPSHOT[/PATH] ARCHIVE; see hardsnap export --help");
}

static void on_event(const struct hs_event *ev, void *user)
{
    struct export_ui *ui = user;
    if (ev->type == HS_EV_PROGRESS) {
        cli_show_progress(ui->out, ev);
    } else if (ev->type == HS_EV_COPY) {
        if (!ui->out->verbose || ui->out->quiet)
            return;
        cli_progress_done(ui->out);
        char *esc = hs_escape(ev->path, strlen(ev->path));
        fprintf(ui->listing, "%s\n", esc ? esc : "?");
        free(esc);
    } else {
        cli_on_event(ev, ui->out);
    }
}

static void print_summary(FILE *f, const struct hs_export_stats *s, const char *archive)
{
    char b[32];
    char *esc = hs_escape(archive, strlen(archive));
    fprintf(f,
            "exported: %" PRIu64 " files, %" PRIu64 " dirs, %s of data, %" PRIu64
            " hard links, %.2f s: %s\n",
            s->files, s->dirs, hs_bytes_text(b, sizeof b, s->bytes_copied), s->hardlinked,
            s->seconds, strcmp(archive, "-") ? (esc ? esc : "?") : "stdout");
    free(esc);
}

int cmd_export(int argc, char **argv)
{
    struct export_args a = {0};
    struct hs_err err = {0};
    int status = HS_USAGE;
    int p = parse_args(argc, argv, &a);
    if (p != 0) {
        status = p > 0 ? HS_OK : HS_USAGE;
        goto out;
    }
    const char *archive = a.positional[1];
    struct export_ui ui = {&a.out, strcmp(archive, "-") ? stdout : stderr};
    catch_signals();
    struct hs_export_opts o = {
        .source = a.positional[0],
        .archive = archive,
        .on_event = on_event,
        .user = &ui,
        .verbose_events = a.out.verbose && !a.out.quiet,
        .interrupt = &interrupted,
    };
    struct hs_export_stats stats;
    enum hs_status st = hs_export(&o, &stats, &err);
    cli_progress_done(&a.out);
    if (st == HS_OK || st == HS_WARN) {
        if (!a.out.quiet)
            print_summary(ui.listing, &stats, archive);
        status = st;
    } else {
        status = cli_fail(&err, st);
    }
out:
    free(a.positional);
    hs_err_clear(&err);
    return status;
}
