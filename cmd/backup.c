/* hardsnap backup: arguments and config file in, one summary line out. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char backup_usage[] =
    "usage: hardsnap backup [OPTIONS] SOURCE... DEST\n"
    "       hardsnap backup -c FILE [OPTIONS]\n"
    "\n"
    "Makes a new snapshot of SOURCE(s) in DEST: unchanged files are hard-linked\n"
    "to the previous snapshot, changed ones copied. One SOURCE fills the snapshot\n"
    "root; several go under their basenames. A SOURCE written [USER@]HOST:PATH is\n"
    "pulled over ssh from HOST, where hardsnap serve sends it (./a:b is local).\n"
    "\n"
    "  -c, --config FILE      sources, destination and options from FILE\n"
    "  -n, --dry-run          report what would be linked and copied, write nothing\n"
    "      --exclude PATTERN  skip matching paths (repeatable; see hardsnap(1))\n"
    "      --exclude-from F   patterns from file F, one a line\n"
    "      --checksum         hash every file; link only when the hash matches too\n"
    "      --dedup            equal new files in one run share an inode\n"
    "  -x, --one-file-system  do not cross filesystem boundaries\n"
    "  -e, --rsh COMMAND      reach remote sources with COMMAND, not ssh\n"
    "      --hardsnap-path P  run P on the remote host, not hardsnap\n"
    "      --timeout SECONDS  end a remote connection stalled that long\n"
    "      --progress         live progress on a terminal\n"
    "      --stats            detailed counts at the end\n"
    "      --json             the run's summary as one JSON object on stdout\n"
    "  -v, --verbose          print each copied path\n"
    "  -q, --quiet            print errors only\n"
    "  -h, --help             this help\n";

struct backup_args {
    const char *config;
    const char **exclude, **exclude_from, **positional;
    size_t n_exclude, n_exclude_from, n_positional;
    unsigned flags;
    bool stats, json;
    bool x_set, checksum_set;
    char *error; /* why the backup failed, for --json and the metrics */
    /* the config's hooks: the snapshot they are told of, and how the
     * global before hook ended (skipped: 75, not now) */
    char planned[HS_SNAPSHOT_NAME_LEN + 1];
    bool skipped, before_failed;
    const char *rsh, *hardsnap_path; /* NULL: the config's, else the default */
    unsigned timeout;                /* 0: the config's, else none */
    struct cli_out out;
};

enum {
    OPT_EXCLUDE = 256,
    OPT_EXCLUDE_FROM,
    OPT_CHECKSUM,
    OPT_DEDUP,
    OPT_STATS,
    OPT_HARDSNAP_PATH,
    OPT_TIMEOUT,
    OPT_JSON,
};

static const struct option backup_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"dry-run", no_argument, NULL, 'n'},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"exclude-from", required_argument, NULL, OPT_EXCLUDE_FROM},
    {"checksum", no_argument, NULL, OPT_CHECKSUM},
    {"dedup", no_argument, NULL, OPT_DEDUP},
    {"one-file-system", no_argument, NULL, 'x'},
    {"rsh", required_argument, NULL, 'e'},
    {"hardsnap-path", required_argument, NULL, OPT_HARDSNAP_PATH},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"progress", no_argument, NULL, CLI_OPT_PROGRESS},
    {"stats", no_argument, NULL, OPT_STATS},
    {"json", no_argument, NULL, OPT_JSON},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* 0 = go on, 1 = help shown, -1 = usage error */
static int parse_args(int argc, char **argv, struct backup_args *a, const char *usage)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:nxe:vqh", backup_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'n':
            a->flags |= HS_BACKUP_DRY_RUN;
            break;
        case OPT_EXCLUDE:
            cli_push(&a->exclude, &a->n_exclude, optarg);
            break;
        case OPT_EXCLUDE_FROM:
            cli_push(&a->exclude_from, &a->n_exclude_from, optarg);
            break;
        case OPT_CHECKSUM:
            a->flags |= HS_BACKUP_CHECKSUM;
            a->checksum_set = true;
            break;
        case OPT_DEDUP:
            a->flags |= HS_BACKUP_DEDUP;
            break;
        case 'x':
            a->flags |= HS_BACKUP_ONE_FS;
            a->x_set = true;
            break;
        case OPT_STATS:
            a->stats = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case 'e':
            a->rsh = optarg;
            break;
        case OPT_HARDSNAP_PATH:
            a->hardsnap_path = optarg;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_seconds("--timeout", optarg, &a->timeout) < 0)
                return -1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            if (!cli_out_option(&a->out, c))
                return cli_bad_option(argv);
        }
    }
    return cli_args(argc, argv, &a->positional, &a->n_positional, 0, NULL);
}

/* The basename a source gets under the snapshot root when there are several. */
static char *source_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    return strndup(path + start, n - start);
}

static void print_stats(const struct hs_backup_result *res)
{
    const struct hs_backup_stats *s = &res->stats;
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    printf("entries:        %" PRIu64 " (%" PRIu64 " files, %" PRIu64 " dirs, %" PRIu64
           " symlinks, %" PRIu64 " special)\n",
           s->entries, s->files, s->dirs, s->symlinks, s->specials);
    printf("linked:         %" PRIu64 " from the previous snapshot\n", s->linked);
    printf("hard links:     %" PRIu64 " names joined to another name's inode\n", s->hardlinked);
    printf("copied:         %" PRIu64 " files, %s written\n", s->copied,
           hs_bytes_text(b1, sizeof b1, s->bytes_copied));
    if (s->delta_files)
        printf("changed blocks: %" PRIu64 " of the copied files (%s) cloned from their previous "
               "version, %s of changed blocks written into them\n",
               s->delta_files, hs_bytes_text(b5, sizeof b5, s->delta_bytes),
               hs_bytes_text(b6, sizeof b6, s->delta_written));
    printf("created:        %" PRIu64 " symlinks and special files\n", s->created);
    printf("resumed:        %" PRIu64 " files from an interrupted run\n", s->resumed);
    printf("content-linked: %" PRIu64 " files, %" PRIu64
           " cloned, %s not written (renamed, moved or copied: same content found)\n",
           s->content_linked, s->cloned, hs_bytes_text(b4, sizeof b4, s->bytes_content_linked));
    printf("hashed:         %" PRIu64 " files, %s read to compare\n", s->hashed,
           hs_bytes_text(b2, sizeof b2, s->bytes_hashed));
    printf("link fallbacks: %" PRIu64 " (too many links or other filesystem: copied)\n",
           s->link_fallbacks);
    printf("unlinked:       %" PRIu64 " files unchanged but written again (an anomaly)\n",
           s->unlinked_unchanged);
    printf("excluded:       %" PRIu64 "\n", s->excluded);
    if (s->wire_received || s->wire_sent)
        printf("remote:         %" PRIu64 " B received, %" PRIu64 " B sent, %" PRIu64
               " files fetched\n",
               s->wire_received, s->wire_sent, s->fetched);
    printf("total size:     %s\n", hs_bytes_text(b3, sizeof b3, s->bytes_total));
    printf("warnings:       %" PRIu64 "\n", s->warnings);
    const struct hs_change_alarm *c = &res->change;
    if (c->runs)
        printf("change rate:    %.2f%% of files, usually %.2f%% (median of %u runs)%s\n",
               100 * c->rate, 100 * c->usual, c->runs, c->raised ? ": an anomaly" : "");
    printf("time:           %.2f s (%.2f s of it making the snapshot durable)\n", s->seconds,
           s->sync_seconds);
}

/* The summary line, whose counts add up: each regular file is linked (from
 * the previous snapshot, to another name of its inode, by content, or from
 * an interrupted run), copied or cloned; each symlink or special file is
 * linked or made anew. The stats count links of every kind together. */
static void print_summary(const struct hs_backup_result *res, bool dry_run)
{
    const struct hs_backup_stats *s = &res->stats;
    uint64_t others = s->symlinks + s->specials;
    uint64_t others_linked = others >= s->created ? others - s->created : 0;
    uint64_t linked = s->linked + s->hardlinked + s->resumed + s->content_linked;
    uint64_t files_linked = linked >= others_linked ? linked - others_linked : 0;
    char b[32], cloned[48] = "", other[96] = "", delta[160] = "";
    if (s->cloned)
        snprintf(cloned, sizeof cloned, ", %" PRIu64 " cloned", s->cloned);
    if (others)
        snprintf(other, sizeof other,
                 ", %" PRIu64 " symlinks and specials (%" PRIu64 " linked, %" PRIu64 " made)",
                 others, others_linked, s->created);
    if (s->delta_files) {
        char sz[32], wr[32];
        snprintf(delta, sizeof delta,
                 " (%" PRIu64 " changed big file%s of %s: %s of changed blocks)", s->delta_files,
                 s->delta_files == 1 ? "" : "s", hs_bytes_text(sz, sizeof sz, s->delta_bytes),
                 hs_bytes_text(wr, sizeof wr, s->delta_written));
    }
    printf("%s: %" PRIu64 " files (%" PRIu64 " linked, %" PRIu64 " copied%s)%s, %s %s%s, %.2f s\n",
           dry_run ? "dry run" : res->name, s->files, files_linked, s->copied, cloned, other,
           hs_bytes_text(b, sizeof b, s->bytes_copied), dry_run ? "to write" : "written", delta,
           s->seconds);
}

/* A remote source's NAME when there are several: the basename of its PATH,
 * which "HOST:." or "HOST:/" lack (a config file's [source NAME] names it). */
static bool remote_name_ok(const char *n)
{
    return *n && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 && strcmp(n, ".hardsnap") != 0;
}

/* Builds the sources from the command line (last positional is DEST). A
 * remote source's host and path are malloc'd (run_backup frees them). */
static int sources_from_args(struct backup_args *a, struct hs_source **out, size_t *n,
                             const char **dest)
{
    if (a->n_positional < 2) {
        cli_error("backup: need SOURCE... DEST (or -c FILE); see hardsnap backup --help");
        return -1;
    }
    size_t count = a->n_positional - 1;
    *dest = a->positional[count];
    struct hs_source *s = calloc(count, sizeof *s);
    if (!s)
        return -1;
    *out = s;
    for (size_t i = 0; i < count; i++) {
        const char *arg = a->positional[i];
        char *host, *path;
        struct hs_err err = {0};
        int r = hs_source_parse_remote(arg, &host, &path, &err);
        if (r < 0) {
            cli_fail(&err, HS_USAGE);
            hs_err_clear(&err);
            return -1;
        }
        *n = i + 1;
        s[i].path = r ? path : arg;
        if (r) {
            s[i].host = host;
            s[i].rsh = a->rsh;
            s[i].hardsnap_path = a->hardsnap_path;
        }
        if (count > 1 && !(s[i].name = source_name(s[i].path)))
            return -1;
        if (count > 1 && r && !remote_name_ok(s[i].name)) {
            cli_error_arg("backup: remote source %s has no basename to name it by in the "
                          "snapshot: give its directory by name (HOST:/srv, not HOST:.), or "
                          "name it in a config file's [source NAME]",
                          arg);
            return -1;
        }
    }
    return 0;
}

static int sources_from_config(const struct hs_config *cf, struct backup_args *a,
                               struct hs_source **out, size_t *n)
{
    if (a->n_positional) {
        cli_error("backup: with -c, sources and destination come from the config file");
        return -1;
    }
    struct hs_source *s = calloc(cf->n_sources ? cf->n_sources : 1, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < cf->n_sources; i++) {
        const struct hs_config_source *cs = &cf->sources[i];
        s[i].path = cs->path;
        s[i].name = strdup(cs->name);
        s[i].exclude = (const char *const *)cs->exclude;
        s[i].n_exclude = cs->n_exclude;
        s[i].before = cs->before;
        s[i].after = cs->after;
        if (cs->host) {
            /* as rsync: the command line wins, then the source's, then the global key */
            s[i].host = cs->host;
            s[i].rsh = a->rsh ? a->rsh : cs->rsh ? cs->rsh : cf->rsh;
            s[i].hardsnap_path = a->hardsnap_path    ? a->hardsnap_path
                                 : cs->hardsnap_path ? cs->hardsnap_path
                                                     : cf->hardsnap_path;
        }
    }
    *n = cf->n_sources;
    *out = s;
    for (size_t i = 0; i < cf->n_exclude; i++)
        cli_push(&a->exclude, &a->n_exclude, cf->exclude[i]);
    if (!a->x_set && cf->one_file_system == 1)
        a->flags |= HS_BACKUP_ONE_FS;
    if (!a->checksum_set && cf->checksum == 1)
        a->flags |= HS_BACKUP_CHECKSUM;
    if (!a->timeout)
        a->timeout = cf->timeout;
    return 0;
}

static enum hs_copy_method copy_method_from_env(void)
{
    const char *m = getenv("HARDSNAP_COPY_METHOD");
    if (m && strcmp(m, "read-write") == 0)
        return HS_COPY_READ_WRITE;
    if (m && strcmp(m, "copy-file-range") == 0)
        return HS_COPY_CFR_HASH;
    return HS_COPY_AUTO;
}

static enum hs_content_order content_order_from_env(void)
{
    const char *m = getenv("HARDSNAP_CONTENT_ORDER");
    if (m && strcmp(m, "hash-first") == 0)
        return HS_CONTENT_HASH_FIRST;
    if (m && strcmp(m, "copy-first") == 0)
        return HS_CONTENT_COPY_FIRST;
    return HS_CONTENT_AUTO;
}

/* hook-timeout, 10 min when not set */
static unsigned hook_timeout(const struct hs_config *cf)
{
    return cf->hook_timeout ? cf->hook_timeout : 600;
}

static bool any_hook(const struct hs_config *cf)
{
    bool any = cf->before || cf->after || cf->on_failure;
    for (size_t i = 0; i < cf->n_sources; i++)
        any |= cf->sources[i].before || cf->sources[i].after;
    return any;
}

/* The name of the snapshot to be made, told to the hooks before it is
 * made (and then given to the backup): the clock's second, or the next one
 * when a snapshot of this second exists (a run just before). */
static void plan_name(const char *dest, char name[HS_SNAPSHOT_NAME_LEN + 1])
{
    for (int tries = 0; tries < 3; tries++) {
        hs_snapshot_name_format(time(NULL), name);
        char *path = NULL;
        struct stat st;
        bool taken = asprintf(&path, "%s/%s", dest, name) >= 0 && lstat(path, &st) == 0;
        free(path);
        if (!taken)
            return;
        struct timespec pause = {0, 500 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* The config's global before hook: 0 go on, 1 not now (exit 75: the run is
 * skipped), <0 it failed (the run fails, err says why). */
static int global_before(struct backup_args *a, const struct hs_config *cf, const char *dest,
                         struct hs_err *err)
{
    if (!cf->before || (a->flags & HS_BACKUP_DRY_RUN))
        return 0;
    struct hs_hook_env env = {
        .dest = dest, .snapshot = a->planned, .status = -1, .timeout = hook_timeout(cf)};
    int r = hs_hook_run("before", cf->before, &env, NULL, err);
    if (r == HS_HOOK_NOT_NOW)
        return 1;
    if (r == 0)
        return 0;
    if (r > 0)
        err->code = 0;
    a->before_failed = true;
    return -1;
}

static void free_args(struct backup_args *a)
{
    free(a->exclude);
    free(a->exclude_from);
    free(a->positional);
    free(a->error);
}

/* The backup a describes (sources from the command line or from cf, loaded
 * here when a->config is set). Fills res; *dest is the store. */
static int run_backup(struct backup_args *a, struct hs_config *cf, struct hs_backup_result *res,
                      const char **dest)
{
    struct hs_err err = {0};
    struct hs_source *sources = NULL;
    size_t n_sources = 0;
    bool own_remote = !a->config; /* the command line's host and path are ours */
    int status = HS_USAGE;
    memset(res, 0, sizeof *res);
    if (a->config) {
        enum hs_status st = hs_config_load(cf, a->config, &err);
        if (st != HS_OK) {
            a->error = err.msg ? strdup(err.msg) : NULL;
            status = cli_fail(&err, st);
            goto out;
        }
        if (sources_from_config(cf, a, &sources, &n_sources) < 0)
            goto out;
        *dest = cf->dest;
    } else if (sources_from_args(a, &sources, &n_sources, dest) < 0) {
        goto out;
    }
    struct hs_backup_opts o = {
        .sources = sources,
        .n_sources = n_sources,
        .dest = *dest,
        .exclude = a->exclude,
        .n_exclude = a->n_exclude,
        .exclude_from = a->exclude_from,
        .n_exclude_from = a->n_exclude_from,
        .flags = a->flags,
        .now = getenv("HARDSNAP_NOW"),
        .copy_method = copy_method_from_env(),
        .content_order = content_order_from_env(),
        .on_event = cli_on_event,
        .user = &a->out,
        .verbose_events = a->out.verbose || (a->flags & HS_BACKUP_DRY_RUN),
        .timeout = a->timeout,
    };
    if (a->flags & HS_BACKUP_DRY_RUN)
        a->out.verbose = true;
    /* stdout is the JSON object's alone */
    if (a->json)
        a->out.verbose = false;
    if (a->config) {
        /* the hooks are told the snapshot's name before it is made */
        const char *now = getenv("HARDSNAP_NOW");
        snprintf(a->planned, sizeof a->planned, "%s", now ? now : "");
        if (!now && any_hook(cf)) {
            plan_name(*dest, a->planned);
            o.now = a->planned;
        }
        o.hook_timeout = hook_timeout(cf);
        int b = global_before(a, cf, *dest, &err);
        if (b > 0) {
            a->skipped = true;
            if (!a->out.quiet && !a->json)
                printf("skipped: the before hook said not now (exit 75)\n");
            status = HS_OK;
            goto out;
        }
        if (b < 0) {
            a->error = err.msg ? strdup(err.msg) : NULL;
            status = cli_fail(&err, HS_FAILED);
            goto out;
        }
    }
    enum hs_status st = hs_backup(&o, res, &err);
    cli_progress_done(&a->out);
    if ((st == HS_OK || st == HS_WARN) && !a->json) {
        if (a->stats)
            print_stats(res);
        if (!a->out.quiet || a->stats)
            print_summary(res, a->flags & HS_BACKUP_DRY_RUN);
        status = st;
    } else if (st == HS_OK || st == HS_WARN) {
        status = st;
    } else {
        a->error = err.msg ? strdup(err.msg) : NULL;
        status = cli_fail(&err, st);
    }
out:
    for (size_t i = 0; sources && i < n_sources; i++) {
        free((char *)sources[i].name);
        if (own_remote && sources[i].host) {
            free((char *)sources[i].host);
            free((char *)sources[i].path);
        }
    }
    free(sources);
    hs_err_clear(&err);
    return status;
}

/* A summary that could not be written is a warning, and the log line says
 * so too (main() prints the reason). */
static int unwritten_output(int status)
{
    if (status != HS_USAGE && (fflush(stdout) != 0 || ferror(stdout)))
        return status > HS_WARN ? status : HS_WARN;
    return status;
}

/* The run's JSON summary in a file of its own, for the hooks after it
 * (HARDSNAP_REPORT); its path (malloc'd), or NULL. */
static char *report_file(const char *dest, const struct hs_log_entry *le)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/hardsnap-report.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        return NULL;
    int fd = mkstemp(path);
    char *j = fd >= 0 ? hs_run_json(dest, le) : NULL;
    bool ok = j && write(fd, j, strlen(j)) == (ssize_t)strlen(j);
    free(j);
    if (fd >= 0)
        close(fd);
    if (!ok) {
        if (fd >= 0)
            unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* The config's after hook (unless before failed or skipped the run) and,
 * when the run failed (exit 2 or more), its on-failure hook. A hook that
 * fails makes a successful run's status a warning. */
static int global_after(struct backup_args *a, const struct hs_config *cf, const char *dest,
                        int status, const struct hs_log_entry *le)
{
    bool after = cf->after && !a->before_failed && !a->skipped;
    bool on_failure = cf->on_failure && status > HS_WARN && !a->skipped;
    if ((a->flags & HS_BACKUP_DRY_RUN) || (!after && !on_failure))
        return status;
    char *report = report_file(dest, le);
    const char *snap = le->backup && le->backup->name[0] ? le->backup->name : a->planned;
    struct hs_hook_env env = {.dest = dest,
                              .snapshot = *snap ? snap : NULL,
                              .report = report,
                              .status = status,
                              .timeout = hook_timeout(cf)};
    const char *names[] = {"after", "on-failure"};
    const char *commands[] = {after ? cf->after : NULL, on_failure ? cf->on_failure : NULL};
    for (size_t i = 0; i < 2; i++) {
        struct hs_err err = {0};
        if (commands[i] && hs_hook_run(names[i], commands[i], &env, NULL, &err) != 0) {
            cli_error("%s", err.msg ? err.msg : names[i]);
            status = status > HS_WARN ? status : HS_WARN;
        }
        hs_err_clear(&err);
    }
    if (report)
        unlink(report);
    free(report);
    return status;
}

/* After a run: the store's log line, the config's after hooks, its
 * metrics file, and with --json the summary on stdout. Returns the status,
 * made a warning when the log, a hook or the metrics failed. */
static int report_run(struct backup_args *a, const struct hs_config *cf, const char *dest,
                      time_t start, const char *command, int status,
                      const struct hs_backup_result *res, const struct hs_prune_result *pres)
{
    bool dry = a->flags & HS_BACKUP_DRY_RUN;
    /* a config's run that stopped before its walk (a source not mounted:
     * exit 2) is logged too: it is the nightly job, and status and the
     * report read the log. A command line's mistake, said to the person
     * who typed it, changes nothing (exit 2 as the contract has it). */
    if (!dry && (status != HS_USAGE || a->config))
        status = cli_log_run(dest, start, command, status, res, pres, a->error);
    struct hs_log_entry le = {.start = start,
                              .end = time(NULL),
                              .command = command,
                              .status = status,
                              .error = a->error,
                              .backup = res,
                              .prune = pres};
    le.status = status = global_after(a, cf, dest, status, &le);
    if (!dry && cf->prometheus && dest) {
        struct hs_err err = {0};
        if (hs_metrics_write(cf->prometheus, dest, &le, &err) < 0) {
            cli_error("%s", err.msg);
            status = status > HS_WARN ? status : HS_WARN;
            le.status = status;
        }
        hs_err_clear(&err);
    }
    if (a->json) {
        char *j = hs_run_json(dest, &le);
        if (j)
            fputs(j, stdout);
        free(j);
        status = unwritten_output(status);
    }
    return status;
}

int cmd_backup(int argc, char **argv)
{
    struct backup_args a = {0};
    struct hs_config cf = {0};
    struct hs_backup_result res = {0};
    const char *dest = NULL;
    time_t start = time(NULL);
    int p = parse_args(argc, argv, &a, backup_usage);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p == 0) {
        status = unwritten_output(run_backup(&a, &cf, &res, &dest));
        status = report_run(&a, &cf, dest, start, "backup", status, &res, NULL);
    }
    hs_backup_result_free(&res);
    free_args(&a);
    hs_config_free(&cf);
    return status;
}

static const char run_usage[] =
    "usage: hardsnap run -c FILE [OPTIONS]\n"
    "\n"
    "The nightly command: a backup of the config file's sources, then a prune by\n"
    "its [retain] rules (none: no prune), then each replicate = replica brought up\n"
    "to date. Takes the options of hardsnap backup.\n"
    "With -q, prints nothing unless something needs a person.\n";

int cmd_run(int argc, char **argv)
{
    struct backup_args a = {0};
    struct hs_config cf = {0};
    struct hs_backup_result res = {0};
    struct hs_prune_result pres = {0};
    const char *dest = NULL;
    time_t start = time(NULL);
    int p = parse_args(argc, argv, &a, run_usage);
    int status = p > 0 ? HS_OK : HS_USAGE;
    if (p == 0 && (!a.config || a.n_positional)) {
        cli_error("run: needs -c FILE and no other arguments (see hardsnap run --help)");
        p = -1;
    }
    if (p == 0) {
        status = run_backup(&a, &cf, &res, &dest);
        bool dry = a.flags & HS_BACKUP_DRY_RUN;
        /* an empty [retain] (or only zeros) means no pruning, as no [retain] */
        bool prune =
            (status == HS_OK || status == HS_WARN) && !a.skipped && hs_retain_any(&cf.retain);
        if (prune) {
            /* the snapshot is made: a prune that failed (its error printed)
             * is a warning, as exit 3 would say there is no new snapshot */
            int st = cli_prune(dest, &cf.retain, dry, a.out.quiet || a.json, &pres);
            st = st > HS_WARN ? HS_WARN : st;
            status = st > status ? st : status;
        }
        /* the replicas, after the prune: the snapshot is made, so a replica
         * that fails (said) is a warning */
        for (size_t i = 0;
             (status == HS_OK || status == HS_WARN) && !a.skipped && i < cf.n_replicate; i++) {
            struct cli_out out = a.out;
            out.quiet = a.out.quiet || a.json;
            int st = cli_replicate(dest, cf.replicate[i], dry, &out);
            st = st > HS_WARN ? HS_WARN : st;
            status = st > status ? st : status;
        }
        status = unwritten_output(status);
        status = report_run(&a, &cf, dest, start, "run", status, &res, prune ? &pres : NULL);
    }
    hs_backup_result_free(&res);
    free_args(&a);
    hs_config_free(&cf);
    return status;
}
