/*
 * hardsnap: incremental snapshot backups with hard links.
 *
 * The public interface of libhardsnap. The library never prints and never
 * exits: it reports through return values, a struct hs_err and an event
 * callback, and the caller (cmd/ or another program) decides what to show.
 */
#ifndef HARDSNAP_H
#define HARDSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome of a whole operation. The values are the CLI's exit codes. */
enum hs_status {
    HS_OK = 0,     /* done */
    HS_WARN = 1,   /* done, but some entries were skipped (see the warnings) */
    HS_USAGE = 2,  /* bad arguments or configuration; nothing was changed */
    HS_FAILED = 3, /* failed; no new snapshot, existing snapshots untouched */
    HS_LOCKED = 4, /* another hardsnap holds the store's lock */
};

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
    uint64_t specials;       /* fifos, sockets, device nodes */
    uint64_t linked;         /* non-directories linked from the previous snapshot */
    uint64_t copied;         /* regular files written into new inodes */
    uint64_t created;        /* symlinks and specials created anew */
    uint64_t hardlinked;     /* names linked to another name of the same source inode */
    uint64_t hashed;         /* files read only to compare their hash */
    uint64_t resumed;        /* files taken from an interrupted run's tree */
    uint64_t link_fallbacks; /* EMLINK/EXDEV/EPERM on linkat, copied instead */
    uint64_t bytes_total;    /* apparent size of all regular files */
    uint64_t bytes_copied;   /* data bytes written */
    uint64_t bytes_hashed;   /* data bytes read for hashing only */
    uint64_t warnings;
    uint64_t excluded;
    double seconds;      /* the whole run */
    double sync_seconds; /* of which making the snapshot durable and publishing it */
};

struct hs_event {
    enum hs_event_type type;
    const char *path; /* snapshot-relative, raw bytes; may be NULL */
    const char *msg;  /* WARNING/NOTICE: complete message, paths escaped */
    const struct hs_backup_stats *stats;
};

typedef void (*hs_event_fn)(const struct hs_event *ev, void *user);

enum hs_backup_flags {
    HS_BACKUP_DRY_RUN = 1u << 0,  /* decide and report, write nothing */
    HS_BACKUP_CHECKSUM = 1u << 1, /* hash every file; link only on equal hash */
    HS_BACKUP_ONE_FS = 1u << 2,   /* do not cross filesystem boundaries */
    HS_BACKUP_DEDUP = 1u << 3,    /* reserved: equal files in one run share an inode */
};

/* How file data is copied and hashed (for measurement; AUTO picks the best). */
enum hs_copy_method {
    HS_COPY_AUTO = 0,
    HS_COPY_READ_WRITE, /* read into user space once, hash and write */
    HS_COPY_CFR_HASH,   /* copy_file_range, then hash the source from the page cache */
};

struct hs_source {
    const char *path;           /* directory to back up */
    const char *name;           /* subdirectory in the snapshot; NULL = snapshot root */
    const char *const *exclude; /* patterns for this source only */
    size_t n_exclude;
};

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
    hs_event_fn on_event; /* may be NULL */
    void *user;
    bool verbose_events; /* emit COPY/LINK events (costs a call per entry) */
};

struct hs_backup_result {
    char name[32]; /* the snapshot's name; empty if none was made */
    struct hs_backup_stats stats;
};

/*
 * Makes a new snapshot of opts->sources in opts->dest. Returns HS_OK, HS_WARN
 * (snapshot made, some entries skipped), or HS_USAGE/HS_FAILED/HS_LOCKED with
 * err filled in; on those no snapshot was published.
 */
enum hs_status hs_backup(const struct hs_backup_opts *opts, struct hs_backup_result *res,
                         struct hs_err *err);

/* ---- config files ---------------------------------------------------- */

struct hs_config_source {
    char *name; /* [source NAME] */
    char *path; /* resolved against the config file's directory */
    char **exclude;
    size_t n_exclude;
    unsigned line; /* where the section starts, for messages */
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
    struct hs_config_source *sources;
    size_t n_sources;
    struct hs_retain retain;
    bool has_retain;
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

/* Snapshot names: YYYY-MM-DDTHHMMSSZ, UTC. */
#define HS_SNAPSHOT_NAME_LEN 18
bool hs_snapshot_name_valid(const char *name);

const char *hs_version(void);

/* A malloc'ed copy of path with control bytes, backslashes and invalid UTF-8
 * escaped (\n, \t, \\, \xNN), so no path can break a line of output. */
char *hs_escape(const char *path, size_t len);

#endif
