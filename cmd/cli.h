/* Shared by the verbs of the command line: output and option helpers. */
#ifndef HS_CLI_H
#define HS_CLI_H

#include "hardsnap.h"
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

struct cli_out {
    bool quiet;    /* errors only */
    bool verbose;  /* each copied path */
    bool progress; /* live line on stderr (only if it is a terminal) */
    bool progress_shown;
};

/* getopt_long's value of --progress: above any verb's own long options. */
enum { CLI_OPT_PROGRESS = 0x4000 };
/* Takes c (from getopt_long) if it is an output option: --progress, -v, -q. */
bool cli_out_option(struct cli_out *out, int c);
/* The arguments after the options: exactly want of them (told with
 * usage_line otherwise; want 0 takes any number); 0 or -1. */
int cli_args(int argc, char **argv, const char ***list, size_t *n, size_t want,
             const char *usage_line);

/* SECONDS for option opt (--timeout): a whole number, 1 to 1000000 (as the
 * config's timeout); 0, or -1 after saying what is wrong. */
int cli_parse_seconds(const char *opt, const char *arg, unsigned *out);
/* "hardsnap: msg" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_error with one argument as the user typed it, escaped like paths
 * (control bytes and invalid UTF-8 never reach the terminal): fmt has one %s. */
void cli_error_arg(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));
/* After getopt_long() returned '?': names the bad option; returns -1. */
int cli_bad_option(char **argv);
/* Prints err (or fallback) and returns its status. */
int cli_fail(const struct hs_err *err, enum hs_status st);
/* The library's event callback; user is a struct cli_out. */
void cli_on_event(const struct hs_event *ev, void *user);
/* The live progress line of a HS_EV_PROGRESS event (if asked for and stderr
 * is a terminal), from the stats of the operation's kind. */
void cli_show_progress(struct cli_out *out, const struct hs_event *ev);
/* Ends the progress line, if one is shown. */
void cli_progress_done(struct cli_out *out);
/* s as a JSON string on stdout: quotes, backslashes and control bytes
 * escaped (s is a snapshot name or another plain word, valid UTF-8). */
void cli_json_string(const char *s);
/* Appends s to a growable list. */
int cli_push(const char ***list, size_t *n, const char *s);

/* Appends the run's line to DEST/.hardsnap/log (b, p, error may be NULL);
 * the exit status: status, or HS_WARN for a good run whose line could not be
 * written. */
int cli_log_run(const char *dest, time_t start, const char *command, int status,
                const struct hs_backup_result *b, const struct hs_prune_result *p,
                const char *error);

/* The verbs: argv[0] is the verb; each returns the exit status. */
int cmd_backup(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_versions(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* import --from FORMAT DIR: whether argv asks for it, and the verb itself */
bool cli_import_from(int argc, char **argv);
int cmd_import_from(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_replicate(int argc, char **argv);

/* The replicas of store brought up to date, printing as the replicate verb
 * does; the exit status. */
int cli_replicate(const char *store, const char *dest, bool dry_run, struct cli_out *out);

/* prune dest by policy, printing as the prune verb does; the exit status. */
int cli_prune(const char *dest, const struct hs_retain *policy, bool dry_run, bool quiet,
              struct hs_prune_result *res);

#endif
