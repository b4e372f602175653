/*
 * hardsnap: incremental snapshot backups with hard links.
 *
 * The public interface of libhardsnap. The library never prints and never
 * exits: it reports through return values, a struct hs_err and an event
 * callback, and the caller (cmd/ or another program) decides what to show.
 *
 * Build against the installed library with
 *     cc prog.c $(pkg-config --cflags --libs hardsnap)
 *
 * Process-wide settings are the program's: the library changes no signal
 * disposition, resource limit or umask. A run over a deep tree may hold
 * many fds at once, more than the usual soft limit of 1024, so a program
 * that handles such trees raises RLIMIT_NOFILE's soft limit first
 * (hardsnap's main() raises it to the hard limit).
 */
#ifndef HARDSNAP_H
#define HARDSNAP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What is declared here is the library's interface, and it alone is exported
 * from libhardsnap.so (the rest is built with -fvisibility=hidden). */
#pragma GCC visibility push(default)
#ifdef __cplusplus
extern "C" {
#endif

/* Outcome of a whole operation. The values are the CLI's exit codes. */
enum hs_status {
    HS_OK = 0,     /* done */
    HS_WARN = 1,   /* done, but some entries were skipped (see the warnings) */
    HS_USAGE = 2,  /* bad arguments or configuration; nothing was changed */
    HS_FAILED = 3, /* failed; no new snapshot, existing snapshots untouched */
    HS_LOCKED = 4, /* another hardsnap holds the store's lock */
};

/* Snapshot names: YYYY-MM-DDTHHMMSSZ, UTC. */
#define HS_SNAPSHOT_NAME_LEN 18

/* The error of a failed operation: "what: path: reason", paths escaped. */
struct hs_err {
    int code;            /* errno of the cause, 0 if none */
    enum hs_status kind; /* how bad: HS_USAGE, HS_FAILED, HS_LOCKED */
    char *msg;           /* owned; NULL when no error */
};

void hs_err_clear(struct hs_err *e);

enum hs_event_type {
    HS_EV_COPY,     /* a file's data was written into a new inode */
    HS_EV_LINK,     /* an entry was hard-linked from the previous snapshot */
    HS_EV_WARNING,  /* an entry was skipped or is incomplete; the run goes on */
    HS_EV_NOTICE,   /* something the user should know once (e.g. ownership) */
    HS_EV_PROGRESS, /* periodic; stats are current */
};

struct hs_backup_stats {
    uint64_t entries; /* everything walked and kept, directories included */
    uint64_t files;   /* regular files */
    uint64_t dirs;
    uint64_t symlinks;
    uint64_t specials;             /* fifos, sockets, device nodes */
    uint64_t linked;               /* non-directories linked from the previous snapshot */
    uint64_t copied;               /* regular files written into new inodes */
    uint64_t created;              /* symlinks and specials created anew */
    uint64_t hardlinked;           /* names linked to another name of the same source inode */
    uint64_t hashed;               /* files read only to compare their hash */
    uint64_t resumed;              /* files taken from an interrupted run's tree */
    uint64_t content_linked;       /* files with no match at their path linked to the same content
                                      elsewhere in the previous snapshot (renamed, moved, copied) */
    uint64_t cloned;               /* files with the content of a previous file but other metadata,
                                      made as clones sharing its extents (FICLONE: btrfs, xfs) */
    uint64_t bytes_content_linked; /* size of the content-linked and cloned files:
                                      data not written again */
    uint64_t link_fallbacks;       /* EMLINK/EXDEV/EPERM on linkat, copied instead */
    uint64_t unlinked_unchanged;   /* files the previous snapshot held unchanged (metadata and
                                      content) that were written again, not for a link limit:
                                      an anomaly, warned of */
    uint64_t bytes_total;          /* apparent size of all regular files */
    uint64_t bytes_copied;         /* data bytes written */
    uint64_t bytes_hashed;         /* data bytes read for hashing only */
    uint64_t warnings;
    uint64_t excluded;
    double seconds;         /* the whole run */
    double sync_seconds;    /* of which making the snapshot durable and publishing it */
    uint64_t wire_received; /* remote sources: bytes read from the connections */
    uint64_t wire_sent;     /* and written to them */
    uint64_t fetched;       /* files whose data came over the connections */
    uint64_t delta_files;   /* copied files made as clones of their previous version with only
                               the changed blocks written (btrfs, xfs: docs/design.md) */
    uint64_t delta_bytes;   /* their size */
    uint64_t delta_written; /* the changed blocks written into them (in bytes_copied too) */
};

/* What a restore has done so far (hs_restore; in a dry run, would do). */
struct hs_restore_stats {
    uint64_t entries; /* everything restored, directories included */
    uint64_t files;   /* regular files */
    uint64_t dirs;
    uint64_t symlinks;
    uint64_t specials;       /* fifos, sockets, device nodes */
    uint64_t copied;         /* regular files written into new inodes */
    uint64_t created;        /* symlinks and specials created */
    uint64_t hardlinked;     /* names linked to another restored name of the same inode */
    uint64_t link_fallbacks; /* EMLINK/EXDEV/EPERM on linkat, copied instead */
    uint64_t bytes_total;    /* apparent size of all regular files */
    uint64_t bytes_copied;   /* data bytes written */
    uint64_t warnings;
    double seconds;
};

/* What an export has archived so far (hs_export). */
struct hs_export_stats {
    uint64_t entries; /* everything walked, directories included */
    uint64_t files;   /* regular files archived */
    uint64_t dirs;
    uint64_t symlinks;
    uint64_t specials;     /* fifos and device nodes archived */
    uint64_t hardlinked;   /* names stored as hard links to an earlier member */
    uint64_t bytes_total;  /* size of the files archived */
    uint64_t bytes_copied; /* data bytes read into the archive */
    uint64_t warnings;
    double seconds;
};

struct hs_event {
    enum hs_event_type type;
    const char *path; /* snapshot-relative, raw bytes; may be NULL */
    const char *msg;  /* WARNING/NOTICE: complete message, paths escaped */
    /* the running operation's counts, current at every event: the one for
     * its kind is set, the other two are NULL */
    const struct hs_backup_stats *stats;          /* hs_backup, hs_import */
    const struct hs_restore_stats *restore_stats; /* hs_restore */
    const struct hs_export_stats *export_stats;   /* hs_export */
};

typedef void (*hs_event_fn)(const struct hs_event *ev, void *user);

enum hs_backup_flags {
    HS_BACKUP_DRY_RUN = 1u << 0,  /* decide and report, write nothing */
    HS_BACKUP_CHECKSUM = 1u << 1, /* hash every file; link only on equal hash */
    HS_BACKUP_ONE_FS = 1u << 2,   /* do not cross filesystem boundaries */
    HS_BACKUP_DEDUP = 1u << 3,    /* equal files (content and metadata) share an inode */
    /* a replica (hs_replicate): the one source is a snapshot of another
     * store; a file is linked from the previous snapshot only when it is
     * the same inode of that store, never by content alone */
    HS_BACKUP_REPLICA = 1u << 4,
};

/* How file data is copied and hashed (for measurement; AUTO picks the best). */
enum hs_copy_method {
    HS_COPY_AUTO = 0,
    HS_COPY_READ_WRITE, /* read into user space once, hash and write */
    HS_COPY_CFR_HASH,   /* copy_file_range, then hash the source from the page cache */
};

/* When a file with nothing to link at its path is looked up by content (for
 * measurement; AUTO: hash first, except a file whose path had the same size
 * before, likely rewritten in place, which is copied, then looked up). */
enum hs_content_order {
    HS_CONTENT_AUTO = 0,
    HS_CONTENT_HASH_FIRST, /* read to hash; link on a match, else copy (a second read) */
    HS_CONTENT_COPY_FIRST, /* copy (hashing); on a match, the copy is replaced by a link */
};

struct hs_source {
    const char *path;           /* directory to back up (on host, for a remote source) */
    const char *name;           /* subdirectory in the snapshot; NULL = snapshot root */
    const char *const *exclude; /* patterns for this source only */
    size_t n_exclude;
    /* A remote source: "[USER@]HOST", reached as `RSH HOST PROGRAM serve`
     * (NULL: a local directory). rsh NULL means "ssh", hardsnap_path NULL
     * means "hardsnap"; both may hold several words (quoted as in sh). */
    const char *host;
    const char *rsh;
    const char *hardsnap_path;
    /* Hooks around this source's walk (hs_hook_run; NULL: none). before may
     * print path=DIR to have DIR backed up in place of path; exit 75 skips
     * the source, another failure fails it: its tree is then carried forward
     * from the previous snapshot. after runs when before did not fail. */
    const char *before, *after;
    /* A snapshot of the store at path (its name), walked from its manifest:
     * the source of a replica (hs_replicate). */
    const char *snapshot;
};

/* A SOURCE argument as rsync spells a remote one: "[USER@]HOST:PATH" has a
 * colon before its first '/' (a local path with a colon is written ./a:b).
 * 1 with *host and *path (malloc'd) for a remote source, 0 for a local one
 * (nothing allocated), <0 (HS_USAGE, message naming arg) when it is remote
 * but malformed (empty host or path). */
int hs_source_parse_remote(const char *arg, char **host, char **path, struct hs_err *err);

struct hs_backup_opts {
    const struct hs_source *sources;
    size_t n_sources;
    const char *dest;
    const char *const *exclude; /* patterns for every source */
    size_t n_exclude;
    const char *const *exclude_from; /* files of patterns, one a line */
    size_t n_exclude_from;
    unsigned flags;  /* enum hs_backup_flags */
    const char *now; /* snapshot name to use instead of the clock, or NULL */
    enum hs_copy_method copy_method;
    enum hs_content_order content_order;
    hs_event_fn on_event; /* may be NULL */
    void *user;
    bool verbose_events;   /* emit COPY/LINK events (costs a call per entry) */
    unsigned timeout;      /* seconds a remote source's connection may stall; 0: no limit */
    unsigned hook_timeout; /* seconds a source's hook may run (0: no limit) */
};

/* One source's part of a run. */
struct hs_source_result {
    char name[256]; /* its NAME in the snapshot ("" for a lone source at the root) */
    bool carried;   /* not backed up (a remote one that failed): its tree is the previous
                       snapshot's, or absent when there was none */
    struct hs_backup_stats stats; /* its entries alone (seconds: its walk) */
};

/* A run's change rate against the store's usual (its log's last runs). */
struct hs_change_alarm {
    double rate;   /* files copied / files, this run */
    double usual;  /* the median of that over the store's last (up to 20) runs */
    unsigned runs; /* how many runs usual is of; fewer than 3: too few to judge */
    bool raised;   /* rate far above usual (10x, and 1% and 100 files at least): a
                      warning, as ransomware or a mass rewrite would cause */
};

struct hs_backup_result {
    char name[32];   /* the snapshot's name; empty if none was made */
    char stale[256]; /* sources that failed and were carried forward, comma-separated */
    struct hs_backup_stats stats;
    struct hs_change_alarm change;
    struct hs_source_result *sources; /* per source, as walked (by name; hs_backup only) */
    size_t n_sources;
};

/* Frees what hs_backup allocated in res (safe on a zeroed one). */
void hs_backup_result_free(struct hs_backup_result *res);

/*
 * Makes a new snapshot of opts->sources in opts->dest. Returns HS_OK, HS_WARN
 * (snapshot made, some entries skipped), or HS_USAGE/HS_FAILED/HS_LOCKED with
 * err filled in; on those no snapshot was published.
 */
enum hs_status hs_backup(const struct hs_backup_opts *opts, struct hs_backup_result *res,
                         struct hs_err *err);

/* ---- replicas: a store copied snapshot by snapshot ------------------- */

struct hs_replicate_opts {
    const char *store; /* whose snapshots are copied */
    const char *dest;  /* the replica: a store, or a directory made one */
    bool dry_run;
    enum hs_copy_method copy_method;
    hs_event_fn on_event; /* may be NULL */
    void *user;
    bool verbose_events;
    /* After each snapshot added (or failed): its name, its status and its
     * backup's result (err set when it failed). May be NULL. */
    void (*on_snapshot)(void *user, const char *name, enum hs_status st,
                        const struct hs_backup_result *res, const struct hs_err *err);
};

struct hs_replicate_result {
    size_t added;   /* snapshots added to the replica */
    size_t present; /* already in the replica */
    /* older than the replica's newest snapshot and not in it (pruned by the
     * replica's own policy, or older than its first replication): left out */
    size_t older;
    size_t future;   /* named later than the clock: not added (a clock that ran ahead) */
    bool behind;     /* the store's newest left out: the replica has newer snapshots */
    size_t vanished; /* pruned from the store while this run added the ones before */
    char newest[32]; /* the replica's newest snapshot before the run ("": none) */
    struct hs_backup_stats stats; /* the added snapshots' together */
};

/*
 * Adds to opts->dest every snapshot of opts->store that is newer than the
 * replica's newest, oldest first, each built by the backup engine from the
 * store's snapshot and its manifest and published as a backup's is: a file
 * is linked from the replica's previous snapshot when it is the same inode
 * of the store (so names share an inode in the replica exactly when they
 * do in the store), otherwise copied. Stops at the first snapshot that
 * fails (err; the ones before it stay). HS_OK, HS_WARN, or the failure.
 */
enum hs_status hs_replicate(const struct hs_replicate_opts *opts, struct hs_replicate_result *res,
                            struct hs_err *err);

/* ---- living with snapshots: list, diff, versions, verify, restore ------ */
/*
 * A SNAPSHOT argument is a path to a snapshot directory of a store
 * (DEST/2026-11-22T020000Z or DEST/latest), optionally followed by a path
 * inside it (DEST/latest/home/alice). Paths given to callbacks are raw
 * bytes (escape them with hs_escape for output).
 */

struct hs_list_entry {
    char name[HS_SNAPSHOT_NAME_LEN + 1];
    uint64_t files;        /* regular files (every name) */
    uint64_t total_bytes;  /* apparent size of the tree, each inode counted once */
    uint64_t unique_bytes; /* disk space of the inodes no other snapshot holds:
                              what deleting this snapshot alone would free */
    bool from_manifest;    /* false: no usable manifest, the tree was walked */
    bool future;           /* named after the clock (it ran ahead): not latest */
};

struct hs_list {
    struct hs_list_entry *snapshots; /* oldest first */
    size_t n;
    uint64_t used_bytes; /* disk space of the whole store: every inode once, and
                            the manifests */
};

/* Lists the snapshots of the store dest, from their manifests. */
enum hs_status hs_list(const char *dest, struct hs_list *out, struct hs_err *err);
void hs_list_free(struct hs_list *l);

enum hs_diff_what {
    HS_DIFF_TYPE = 1u << 0,
    HS_DIFF_SIZE = 1u << 1,
    HS_DIFF_MTIME = 1u << 2,
    HS_DIFF_MODE = 1u << 3,
    HS_DIFF_OWNER = 1u << 4,
    HS_DIFF_TARGET = 1u << 5,  /* symlink target */
    HS_DIFF_CONTENT = 1u << 6, /* same size and mtime, other content hash */
    HS_DIFF_DEVICE = 1u << 7,
    HS_DIFF_XATTR = 1u << 8, /* extended attributes or ACLs (not compared of directories) */
};

struct hs_diff_change {
    char kind;        /* '+' only in B, '-' only in A, 'M' changed */
    const char *path; /* relative to the compared roots */
    size_t path_len;
    unsigned what; /* for 'M': enum hs_diff_what bits */
};

typedef void (*hs_diff_fn)(const struct hs_diff_change *c, void *user);

struct hs_diff_opts {
    const char *a; /* SNAPSHOT[/PATH] */
    const char *b; /* SNAPSHOT[/PATH] or any directory */
    hs_diff_fn on_change;
    hs_event_fn on_event; /* warnings (unreadable parts of a live tree) */
    void *user;
};

/* Compares two trees in walk order; *changes counts the changes reported. */
enum hs_status hs_diff(const struct hs_diff_opts *o, uint64_t *changes, struct hs_err *err);

/* The kind of an entry of a snapshot. */
enum hs_entry_type {
    HS_ENTRY_UNKNOWN = 0,
    HS_ENTRY_FILE,
    HS_ENTRY_DIR,
    HS_ENTRY_SYMLINK,
    HS_ENTRY_FIFO,
    HS_ENTRY_CHAR, /* character device */
    HS_ENTRY_BLOCK,
    HS_ENTRY_SOCKET,
};

/* One version of a path across snapshots (hs_versions). */
struct hs_file_version {
    bool present; /* false: a gap, snapshots in which the path did not exist */
    char first[HS_SNAPSHOT_NAME_LEN + 1], last[HS_SNAPSHOT_NAME_LEN + 1];
    unsigned snapshots; /* how many snapshots this line covers */
    /* when present: */
    enum hs_entry_type type;
    uint32_t mode;
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    bool has_hash;
    uint8_t hash[16];
};

typedef void (*hs_version_fn)(const struct hs_file_version *v, void *user);

/* The distinct versions of path (inside the snapshots) across the store
 * dest, oldest first, with the gaps. Same inode or same hash: same version. */
enum hs_status hs_versions(const char *dest, const char *path, hs_version_fn fn, void *user,
                           struct hs_err *err);

enum hs_verify_kind {
    HS_VERIFY_DAMAGED,    /* content differs from the manifest's hash */
    HS_VERIFY_MISSING,    /* in the manifest, gone from the snapshot */
    HS_VERIFY_ADDED,      /* in the snapshot, not in the manifest */
    HS_VERIFY_UNREADABLE, /* could not be read */
    HS_VERIFY_NO_MANIFEST /* nothing to check against (path is "") */
};

struct hs_verify_problem {
    enum hs_verify_kind kind;
    const char *snapshot; /* its name */
    const char *path;     /* inside the snapshot */
    const char *msg;      /* for UNREADABLE: the reason */
};

typedef void (*hs_verify_fn)(const struct hs_verify_problem *p, void *user);

struct hs_verify_stats {
    uint64_t snapshots;
    uint64_t files;         /* regular files checked (names) */
    uint64_t inodes_hashed; /* distinct inodes read */
    uint64_t inodes_shared; /* names whose inode was already checked in another snapshot */
    uint64_t bytes_read;
    uint64_t problems;
    double seconds;
};

struct hs_verify_opts {
    const char *target; /* SNAPSHOT, or with all, DEST */
    bool all;           /* every snapshot of the store, each shared inode read once */
    hs_verify_fn on_problem;
    hs_event_fn on_event; /* progress */
    void *user;
};

/* HS_OK when everything matches, HS_WARN when problems were reported. */
enum hs_status hs_verify(const struct hs_verify_opts *o, struct hs_verify_stats *st,
                         struct hs_err *err);

struct hs_restore_opts {
    const char *source;   /* SNAPSHOT[/PATH] */
    const char *target;   /* created if missing (its parent must exist) */
    bool dry_run;         /* report what would be restored, write nothing */
    bool overwrite;       /* replace existing files (never writing into them) */
    hs_event_fn on_event; /* HS_EV_COPY per restored path (if verbose_events),
                             warnings, progress (restore_stats) */
    void *user;
    bool verbose_events;
};

/*
 * Restores SNAPSHOT (its contents into target) or SNAPSHOT/PATH (PATH itself,
 * under its own name, into target). Without overwrite, any entry that exists
 * in target is named (HS_EV_WARNING) and nothing is changed (HS_USAGE).
 */
enum hs_status hs_restore(const struct hs_restore_opts *o, struct hs_restore_stats *st,
                          struct hs_err *err);

/* ---- status: is the store healthy? --------------------------------- */

enum hs_health_bits {
    HS_HEALTH_OLD = 1u << 0,         /* the newest snapshot is older than max_age */
    HS_HEALTH_FAILED = 1u << 1,      /* the last run (from the log) failed (exit 2-4) */
    HS_HEALTH_FUTURE = 1u << 2,      /* a snapshot is named in the future */
    HS_HEALTH_OPEN = 1u << 3,        /* other users can enter DEST */
    HS_HEALTH_INTERRUPTED = 1u << 4, /* an unfinished run's tree is left, and none runs */
    HS_HEALTH_STALE = 1u << 5,       /* a source was carried forward (not pulled) */
    HS_HEALTH_ANOMALY = 1u << 6,     /* the last run wrote unchanged files again, or changed
                                        far more files than usual (hs_change_alarm) */
};

struct hs_stale_source {
    char name[256];
    char since[HS_SNAPSHOT_NAME_LEN + 1]; /* its tree is that snapshot's ("" unknown) */
};

struct hs_health {
    bool is_store; /* dest is a store that could be read (maybe without snapshots) */
    size_t snapshots;
    char newest[HS_SNAPSHOT_NAME_LEN + 1]; /* the newest not named in the future */
    int64_t age;                           /* seconds since it was made */
    char (*future)[HS_SNAPSHOT_NAME_LEN + 1];
    size_t n_future;
    bool dest_open;
    unsigned dest_mode;
    bool running;     /* a run holds the lock now */
    bool interrupted; /* partial/ holds something and no run does */
    bool have_last;   /* the log's last line: */
    char last_command[16];
    char last_end[HS_SNAPSHOT_NAME_LEN + 1];
    int last_status;
    char last_snapshot[HS_SNAPSHOT_NAME_LEN + 1]; /* "" if it made none */
    char last_anomaly[32];                        /* "unlinked", "change", both or "" */
    struct hs_stale_source *stale;                /* sources not pulled by the last runs */
    size_t n_stale;
    unsigned attention; /* enum hs_health_bits */
};

/*
 * What a monitor needs to know about the store dest, read from its top
 * level and its log only. now (HARDSNAP_NOW) replaces the clock for the
 * age, or NULL. HS_OK healthy, HS_WARN needs attention (h->attention says
 * why), HS_FAILED no snapshot or not a store (err), HS_USAGE a bad now.
 * hs_health_free after any result.
 */
enum hs_status hs_health(const char *dest, const char *now, int64_t max_age, struct hs_health *h,
                         struct hs_err *err);
void hs_health_free(struct hs_health *h);

/* ---- report: the store in one HTML page ----------------------------------- */

struct hs_html_report_opts {
    const char *dest;
    const char *output; /* the page's file, written as OUTPUT.tmp and renamed over it
                           (never through a symlink); "-": standard output */
    const char *now;    /* the clock for ages (HARDSNAP_NOW), or NULL */
    int64_t max_age;    /* a source last backed up longer ago is marked (0: 26 h) */
};

/*
 * Writes one self-contained HTML page about the store dest (no network, no
 * other file): its snapshots over time with total and unique bytes (as
 * hs_list), the runs of its log (files copied and linked, duration), each
 * source's last success and the stale ones (as hs_health), and the files
 * that grew most between the two newest snapshots. It reads every snapshot
 * (as hs_list does). HS_OK; HS_FAILED: not a store, no snapshot, or the page
 * could not be written (err); HS_USAGE: a bad now, or an output that cannot
 * be (its directory missing, or inside a snapshot).
 */
enum hs_status hs_html_report(const struct hs_html_report_opts *o, struct hs_err *err);

/* ---- the store's log --------------------------------------------------- */

struct hs_log_entry {
    time_t start, end;
    const char *command;                   /* "backup", "prune", "run" */
    int status;                            /* the exit status */
    const char *error;                     /* why it failed, or NULL */
    const struct hs_backup_result *backup; /* or NULL */
    const struct hs_prune_result *prune;   /* or NULL */
};

/* Appends one line to DEST/.hardsnap/log (if DEST is a store): start, end,
 * command, exit status, and the counts of the backup and prune. */
int hs_log_append(const char *dest, const struct hs_log_entry *le, struct hs_err *err);

/* The run as one JSON object (a line, malloc'd; NULL without memory):
 * command, dest, status, start, end, error, snapshot, totals, sources
 * (each with its counts and whether it is stale), prune. What `backup
 * --json` prints and a hook reads from HARDSNAP_REPORT. */
char *hs_run_json(const char *dest, const struct hs_log_entry *le);

/* node_exporter textfile metrics of the run into file, replaced at once
 * (a new file renamed over it): the last run's end, exit status, duration
 * and counts (in total and per source), the last success (kept from the
 * file when this run failed), the store's snapshots and its filesystem's
 * space. */
int hs_metrics_write(const char *file, const char *dest, const struct hs_log_entry *le,
                     struct hs_err *err);

/* ---- hooks --------------------------------------------------------------- */

/* A before hook's exit status that means "not now": the run (or the source)
 * is skipped, not failed (as rsbackup and borgmatic). */
#define HS_HOOK_NOT_NOW 75

/* What a hook finds in its environment (NULL, -1: not set). */
struct hs_hook_env {
    const char *dest;     /* HARDSNAP_DEST */
    const char *snapshot; /* HARDSNAP_SNAPSHOT: the snapshot made (or to be made) */
    const char *source;   /* HARDSNAP_SOURCE: the source's NAME, for its own hooks */
    const char *report;   /* HARDSNAP_REPORT: a file with the run's JSON summary */
    int status;           /* HARDSNAP_STATUS: the run's exit status, for after hooks */
    unsigned timeout;     /* seconds it may run (0: no limit) */
};

/*
 * Runs command by /bin/sh -c in a process group of its own, stdin from
 * /dev/null; what names it in messages ("before", "source home's after").
 * Past env->timeout the group gets SIGTERM, 5 s later SIGKILL. Returns the
 * exit status (0-255; err says why unless 0 or HS_HOOK_NOT_NOW), or <0 with
 * err set: not run, -ETIMEDOUT, -EINTR (killed by a signal). With out,
 * *out is its standard output (the first 64 KiB, malloc'd) or NULL;
 * without, its standard output goes to our standard error (ours may be
 * for a JSON object alone).
 */
int hs_hook_run(const char *what, const char *command, const struct hs_hook_env *env, char **out,
                struct hs_err *err);

/* The DIR of a `path=DIR` line in a before hook's output (malloc'd), or NULL. */
char *hs_hook_path(const char *out);

/* ---- export -------------------------------------------------------- */

/* The archive names hs_export knows, for messages and help:
 * ".tar, .tar.gz, .tgz, .tar.xz, .tar.zst, .zip, .iso". */
extern const char hs_export_suffixes[];

struct hs_export_opts {
    const char *source;   /* SNAPSHOT[/PATH] */
    const char *archive;  /* the file to create, its format from its name; "-": pax tar on stdout */
    hs_event_fn on_event; /* HS_EV_COPY per archived member (if verbose_events), warnings,
                             notices, progress (export_stats) */
    void *user;
    bool verbose_events;
    /* when it becomes non-zero (a signal handler sets it), the export stops: HS_FAILED */
    const volatile sig_atomic_t *interrupt;
};

/*
 * Writes SNAPSHOT (its contents) or SNAPSHOT/PATH (PATH itself, under its own
 * name) as an archive. Member names are relative, without "/" or "./" in
 * front; hard links inside what is exported stay hard links. A file archive
 * is written as ARCHIVE.part and renamed to ARCHIVE once complete and synced;
 * on failure (HS_FAILED) nothing is left. An existing ARCHIVE, an unknown
 * suffix, an ARCHIVE inside the store, or a tree libarchive's ISO writer
 * cannot take (directories nested too deep for ISO 9660): HS_USAGE, nothing
 * changed.
 */
enum hs_status hs_export(const struct hs_export_opts *o, struct hs_export_stats *st,
                         struct hs_err *err);

/* ---- import -------------------------------------------------------- */

struct hs_import_opts {
    const char *archive;  /* a file in any format libarchive reads, or "-" for stdin */
    const char *dest;     /* the store; created if missing (its parent must exist) */
    const char *now;      /* the snapshot's name (HARDSNAP_NOW), or NULL: the newest mtime */
    hs_event_fn on_event; /* HS_EV_COPY / HS_EV_LINK per entry (if verbose_events),
                             warnings (refused entries), notices, progress */
    void *user;
    bool verbose_events;
    /* when it becomes non-zero (a signal handler sets it), the import stops: HS_FAILED */
    const volatile sig_atomic_t *interrupt;
};

/*
 * Makes a snapshot of dest from an archive's entries. Regular files whose
 * path, size, mtime, mode and owner match the latest snapshot's manifest
 * are linked from it; the rest is written anew; hard links in the archive
 * stay hard links. Entries with absolute paths, "..", or a path through a
 * symlink are refused (warnings: HS_WARN, the snapshot is still made). A
 * damaged or truncated archive: HS_FAILED and no snapshot. latest moves only
 * if the new snapshot is the newest. Stats as hs_backup's.
 */
enum hs_status hs_import(const struct hs_import_opts *o, struct hs_backup_result *res,
                         struct hs_err *err);

/* ---- import --from: an rsnapshot or rsync-time-backup store --------- */

enum hs_migrate_from {
    HS_FROM_RSNAPSHOT = 1,         /* DIR/INTERVAL.N/ (daily.0, weekly.2...) */
    HS_FROM_RSYNC_TIME_BACKUP = 2, /* DIR/YYYY-MM-DD-HHMMSS/, latest, backup.marker */
};

struct hs_migrate_opts {
    const char *dir; /* the old store, made a hardsnap store in place */
    enum hs_migrate_from from;
    /* each old snapshot renamed: its old name and its snapshot name (may be NULL) */
    void (*on_snapshot)(const char *old, const char *name, void *user);
    void *user;
    /* when it becomes non-zero (a signal handler sets it), the migration stops
     * before the next file: HS_FAILED, and a re-run continues */
    const volatile sig_atomic_t *interrupt;
};

struct hs_migrate_result {
    size_t snapshots;       /* migrated by this run */
    bool already;           /* dir was a hardsnap store with nothing to migrate */
    char root[256];         /* rsnapshot: the backup point that became each root, or "" */
    uint64_t files;         /* regular file names recorded */
    uint64_t inodes_hashed; /* files read (an inode shared by snapshots once) */
    uint64_t bytes_hashed;
    struct hs_err warn; /* what did not stop it (hs_err_clear it) */
    double seconds;
};

/*
 * Turns dir, an rsnapshot or rsync-time-backup store, into a hardsnap store
 * without copying: each old snapshot directory (for rsnapshot with a single
 * backup point, the point's directory) is renamed to the UTC time it was
 * made (rsnapshot: the directory's mtime; rsync-time-backup: its name, in
 * the local time zone) after its manifest was written, so hard links between
 * them stay. A kill leaves every old snapshot either untouched or migrated;
 * the same call again continues. HS_USAGE, nothing changed: dir is not such a
 * store, two snapshots would get one name or a name is taken, or dir is
 * already a hardsnap store with old snapshots in it (one with none: HS_OK,
 * res->already). HS_LOCKED: a hardsnap run holds it.
 */
enum hs_status hs_migrate(const struct hs_migrate_opts *o, struct hs_migrate_result *res,
                          struct hs_err *err);

/* ---- config files ---------------------------------------------------- */

struct hs_config_source {
    char *name; /* [source NAME] */
    char *path; /* resolved against the config file's directory (local sources) */
    char *host; /* path = [USER@]HOST:PATH: the host part (NULL: local) */
    char *rsh;  /* rsh = (NULL: the global one) */
    char *hardsnap_path;
    char **exclude;
    size_t n_exclude;
    char *before, *after; /* this source's hooks (NULL: none) */
    unsigned line;        /* where the section starts, for messages */
};

/* Retention rules: -1 = not set. */
struct hs_retain {
    int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
    int64_t keep_within; /* seconds, -1 = not set */
};

struct hs_config {
    char *file;
    char *dest;     /* resolved against the config file's directory */
    char **exclude; /* [hardsnap] exclude, in order */
    size_t n_exclude;
    int one_file_system; /* -1 unset, 0, 1 */
    int checksum;        /* -1 unset, 0, 1 */
    char *rsh;           /* [hardsnap] rsh = (NULL: ssh) */
    char *hardsnap_path; /* [hardsnap] hardsnap-path = (NULL: hardsnap) */
    unsigned timeout;    /* [hardsnap] timeout = SECONDS (0: unset) */
    char *prometheus;    /* [hardsnap] prometheus = FILE: metrics after each run (or NULL) */
    char *before, *after, *on_failure; /* hooks (NULL: none) */
    unsigned hook_timeout;             /* seconds (0: unset, 10 min) */
    struct hs_config_source *sources;
    size_t n_sources;
    struct hs_retain retain;
    bool has_retain;
    /* [hardsnap] replicate = (repeatable): replicas run -c brings up to date
     * after its prune (local ones resolved; [USER@]HOST:PATH as written) */
    char **replicate;
    size_t n_replicate;
};

/*
 * Reads an INI config file. On error returns HS_USAGE with err naming the
 * file and line ("FILE:LINE: unknown key \"x\" in [hardsnap]") and leaves c
 * empty. hs_config_free() is safe on a zeroed or failed config.
 */
enum hs_status hs_config_load(struct hs_config *c, const char *file, struct hs_err *err);
void hs_config_free(struct hs_config *c);

/* Parses a duration like 36h, 7d, 2w, 6m, 1y into seconds; -EINVAL if bad. */
int hs_parse_duration(const char *s, int64_t *seconds);

/* ---- serve: the remote end of a pull ------------------------------------ */

struct hs_serve_opts {
    const char *const *allow; /* trees a client may ask for (none: any) */
    size_t n_allow;
    const char *store; /* serve --store DEST: receive replicas (not yet) */
    int in_fd, out_fd; /* the connection (stdin and stdout under ssh) */
    unsigned timeout;  /* seconds the client may stall; 0: no limit */
};

/* Serves one client on in_fd/out_fd: the request comes from the protocol,
 * never from argv, so this works as an authorized_keys forced command.
 * Never writes into the trees it serves. A failure the client was told
 * of returns its status with err empty (the client says it). */
enum hs_status hs_serve(const struct hs_serve_opts *o, struct hs_err *err);

/* ---- prune ------------------------------------------------------------- */

enum hs_keep_reason {
    HS_KEEP_LAST = 1u << 0,
    HS_KEEP_HOURLY = 1u << 1,
    HS_KEEP_DAILY = 1u << 2,
    HS_KEEP_WEEKLY = 1u << 3,
    HS_KEEP_MONTHLY = 1u << 4,
    HS_KEEP_YEARLY = 1u << 5,
    HS_KEEP_WITHIN = 1u << 6,
    HS_KEEP_NEWEST = 1u << 7,
    HS_KEEP_FUTURE = 1u << 8, /* named after the clock: no rule can judge it */
};

/* Whether p has at least one rule (a count above 0, or keep_within). */
bool hs_retain_any(const struct hs_retain *p);

/* "last", "daily", ... for the reasons in bits, comma-separated, into out. */
void hs_retain_describe(unsigned bits, char *out, size_t size);

struct hs_prune_item {
    const char *name;
    unsigned reasons; /* enum hs_keep_reason bits; 0: deleted (or to delete) */
    uint64_t freed;   /* bytes the filesystem got back (0 in a dry run) */
};

typedef void (*hs_prune_fn)(const struct hs_prune_item *it, void *user);

struct hs_prune_opts {
    const char *dest;
    struct hs_retain policy; /* at least one rule */
    bool dry_run;
    const char *now;     /* YYYY-MM-DDTHHMMSSZ instead of the clock, or NULL */
    hs_prune_fn on_item; /* each snapshot, oldest first: kept, or deleted */
    hs_event_fn on_event;
    void *user;
};

struct hs_prune_result {
    uint64_t kept, deleted;
    uint64_t future; /* of the kept: named in the future, warned about */
    uint64_t freed;  /* bytes */
};

/* Deletes the snapshots the policy does not keep, holding the store's lock. */
enum hs_status hs_prune(const struct hs_prune_opts *o, struct hs_prune_result *res,
                        struct hs_err *err);

bool hs_snapshot_name_valid(const char *name);
/* Formats t (UTC) as a snapshot name into out[HS_SNAPSHOT_NAME_LEN + 1]. */
void hs_snapshot_name_format(time_t t, char *out);
/* Parses a snapshot name; -EINVAL if it is not one. */
int hs_snapshot_name_parse(const char *name, time_t *t);

/* The library's version, "MAJOR.MINOR.PATCH" (pkg-config's Version). */
const char *hs_version(void);

/* A malloc'ed copy of path with control bytes, backslashes and invalid UTF-8
 * escaped (\n, \t, \\, \xNN), and the bytes of the characters a terminal
 * acts on (C1 controls, bidi controls, line separators) as \xNN, so no path
 * can break a line of output or disguise itself or its neighbours. */
char *hs_escape(const char *path, size_t len);

/* bytes for a person, into buf (n bytes): "512 B", "1.5 KiB", "23.4 MiB";
 * returns buf. */
const char *hs_bytes_text(char *buf, size_t n, uint64_t bytes);

/* s as a JSON string, quotes included: '"' and '\\' escaped, control
 * bytes as \u00XX (malloc'ed; NULL without memory). Other bytes are kept,
 * so escape a raw path with hs_escape first. */
char *hs_json_quote(const char *s);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop

#endif
