#include "store.h"

#include "blockmap.h"
#include "cindex.h"
#include "fsutil.h"
#include "meta.h"
#include "storefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define RESUME_NAME "resume"
#define TRASH_DIR   "trash"

bool hs_snapshot_name_valid(const char *name)
{
    time_t t;
    return hs_snapshot_name_parse(name, &t) == 0;
}

void hs_snapshot_name_format(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, HS_SNAPSHOT_NAME_LEN + 1, "%Y-%m-%dT%H%M%SZ", &tm);
}

int hs_snapshot_name_parse(const char *name, time_t *t)
{
    static const char shape[] = "dddd-dd-ddTddddddZ";
    if (strlen(name) != HS_SNAPSHOT_NAME_LEN)
        return -EINVAL;
    for (size_t i = 0; i < HS_SNAPSHOT_NAME_LEN; i++) {
        if (shape[i] == 'd' ? (name[i] < '0' || name[i] > '9') : name[i] != shape[i])
            return -EINVAL;
    }
    struct tm tm = {0};
    int v[6];
    static const int offs[6] = {0, 5, 8, 11, 13, 15}, lens[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int k = 0; k < lens[i]; k++)
            v[i] = v[i] * 10 + (name[offs[i] + k] - '0');
    }
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    time_t x = timegm(&tm);
    char back[HS_SNAPSHOT_NAME_LEN + 1];
    hs_snapshot_name_format(x, back);
    if (strcmp(back, name) != 0) /* 2026-02-30 and 25:00 do not survive the round trip */
        return -EINVAL;
    *t = x;
    return 0;
}

bool hs_snapshot_in_future(const char *name)
{
    time_t t;
    return hs_snapshot_name_parse(name, &t) == 0 && t > time(NULL) + HS_FUTURE_SLACK;
}

int hs_check_now(const char *now, struct hs_err *e)
{
    if (!hs_snapshot_name_valid(now))
        return hs_err_usage(e, 0, "not a snapshot time (YYYY-MM-DDTHHMMSSZ)", now);
    if (hs_snapshot_in_future(now))
        return hs_err_usage(e, 0, "a time in the future (later than the clock)", now);
    return 0;
}

size_t hs_snapshot_newest_current(char *const *names, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (!hs_snapshot_in_future(names[i - 1]))
            return i - 1;
    return n - 1;
}

void hs_store_manifest_name(const char *name, char *out)
{
    snprintf(out, 64, "%s%s", name, HS_MANIFEST_SUFFIX);
}

static int open_subdir(int parent, const char *name, bool create, const char *dest,
                       struct hs_err *e)
{
    if (create && mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
        return hs_err_path(e, errno, "cannot create the store's directory in", dest);
    int fd = hs_open_dir(parent, name);
    if (fd < 0)
        return hs_err_path(e, errno, "cannot open the store's directory in", dest);
    return fd;
}

int hs_store_err_at(struct hs_err *e, int errnum, const char *dest, const char *sub,
                    const char *what, const char *why)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dest, sub) < 0)
        return hs_err_setf(e, ENOMEM, "%s", what);
    int r = why ? hs_err_path_why(e, errnum, what, path, why) : hs_err_path(e, errnum, what, path);
    free(path);
    return r;
}

/* How long a writer waits for the lock: longer than a reader's glance
 * (status takes it shared for an instant), never as long as a run. */
#define LOCK_PATIENCE_MS 1000

/* flock(LOCK_EX | LOCK_NB), tried again for a moment: a monitor's status
 * check that coincides with the cron line must not cost the night. The
 * tries come 2 to 6 ms apart, never in step with a monitor that takes the
 * shared lock at a steady rate (a fixed pause can fall in its every hold). */
static int lock_soon(int fd)
{
    for (int waited = 0, i = 0;; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK || waited >= LOCK_PATIENCE_MS)
            return -1;
        int ms = 2 + i % 5;
        struct timespec pause = {0, ms * 1000000L};
        nanosleep(&pause, NULL);
        waited += ms;
    }
}

static int take_lock(struct hs_store *s, struct hs_err *e)
{
    /* only a regular file: anything else under the name is not hardsnap's
     * (a fifo can be held open by whoever made it, opening a device does
     * things of its own), and removing it here would race with another run
     * doing the same */
    int fd = hs_open_regular(s->hsfd, "lock", O_RDWR | O_CREAT, 0600);
    if (fd == -EBADMSG)
        return hs_store_err_at(e, EBADMSG, s->dest, HS_STORE_DIR "/lock", "cannot lock the store",
                               "not a regular file (remove it)");
    if (fd < 0)
        return hs_err_path(e, -fd, "cannot open the lock of", s->dest);
    s->lockfd = fd;
    if (lock_soon(s->lockfd) < 0) {
        int err = errno;
        int r = hs_err_path(
            e, err, err == EWOULDBLOCK ? "another hardsnap is working on" : "cannot lock", s->dest);
        if (err == EWOULDBLOCK)
            hs_err_kind(e, HS_LOCKED);
        return r;
    }
    return 0;
}

/* Whether the directory dirfd holds, under its name, a directory with the
 * inode of st that is a snapshot (snapshot-named) or the .hardsnap dir. */
static bool holds_as_snapshot(int dirfd, const struct stat *st)
{
    struct stat hs;
    if (fstatat(dirfd, HS_STORE_DIR, &hs, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(hs.st_mode))
        return false; /* not a store */
    if (hs_stat_same_file(&hs, st))
        return true;
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return true; /* cannot tell: say yes, refusing is the safe side */
    }
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        struct stat c;
        found = de->d_ino == st->st_ino && hs_snapshot_name_valid(de->d_name) &&
                fstatat(dirfd, de->d_name, &c, AT_SYMLINK_NOFOLLOW) == 0 &&
                hs_stat_same_file(&c, st);
    }
    closedir(d);
    return found;
}

bool hs_store_in_snapshot(int fd)
{
    int cur = dup(fd);
    bool found = false;
    while (cur >= 0 && !found) {
        struct stat st, up;
        int parent = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool top = parent < 0 || fstat(cur, &st) < 0 || fstat(parent, &up) < 0 ||
                   hs_stat_same_file(&st, &up); /* the root is its own parent */
        found = !top && holds_as_snapshot(parent, &st);
        close(cur);
        cur = top ? -1 : parent;
        if (top && parent >= 0)
            close(parent);
    }
    if (cur >= 0)
        close(cur);
    return found;
}

/* Whether a directory to be created at path would be in a snapshot. */
static bool parent_in_snapshot(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    char *parent = hs_path_dirname(path, n);
    int fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    bool in = fd >= 0 && hs_store_in_snapshot(fd);
    if (fd >= 0)
        close(fd);
    free(parent);
    return in;
}

static bool is_snapshot_dir(int dirfd, const char *name)
{
    struct stat st;
    return hs_snapshot_name_valid(name) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISDIR(st.st_mode);
}

/* A new store is a directory that is missing, empty, or already holds
 * snapshots (made by rsync --link-dest or rsnapshot: the backup continues
 * from them). A directory of something else is no store to take over
 * (DEST and SOURCE swapped?). */
static int check_new_store(int destfd, const char *dest, struct hs_err *e)
{
    struct stat st;
    if (fstatat(destfd, HS_STORE_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    int fd = openat(destfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    bool empty = true, snapshots = false;
    struct dirent *de;
    while (d && !snapshots && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        empty = false;
        snapshots = is_snapshot_dir(destfd, de->d_name);
    }
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    if (empty || snapshots)
        return 0;
    int r = hs_err_path(e, 0,
                        hs_migrate_candidate(destfd)
                            ? "neither a hardsnap store nor empty: an rsnapshot or "
                              "rsync-time-backup store? See hardsnap import --from"
                            : "neither a hardsnap store nor empty (refusing to make it one)",
                        dest);
    hs_err_kind(e, HS_USAGE);
    return r;
}

bool hs_store_dest_open(const struct stat *st)
{
    return (st->st_mode & 077) != 0;
}

/* Root's store among users: a DEST they can enter lets them read everyone's
 * files in the snapshots and write their own, in every snapshot at once
 * (the inode keeps their ownership), so it is closed; a parent they can
 * write lets them swap DEST for another directory, which is said. */
static void guard_dest(struct hs_store *s)
{
    struct stat st;
    char msg[160], bad[PATH_MAX];
    if (fstat(s->destfd, &st) == 0 && hs_store_dest_open(&st)) {
        snprintf(msg, sizeof msg,
                 "was open to other users (mode %04o): made 0700 (see hardsnap(1))",
                 (unsigned)(st.st_mode & 07777));
        if (fchmod(s->destfd, 0700) < 0)
            snprintf(msg, sizeof msg, "is open to other users (mode %04o) and cannot be closed",
                     (unsigned)(st.st_mode & 07777));
        hs_err_path(&s->warn, 0, msg, s->dest);
        return;
    }
    hs_parent_unsafe(s->dest, bad);
    if (bad[0])
        hs_err_path(&s->warn, 0,
                    "the store can be replaced by another user, who owns or can write its parent",
                    bad);
}

/* DEST for a command that writes to it: reached without following another
 * user's symlink (hs_open_dir_trusted), and made (0700) if create and only
 * its last component is missing. An fd, or <0 with e set. */
static int open_dest_to_write(const char *dest, bool create, struct hs_err *e)
{
    int parent;
    char last[NAME_MAX + 1];
    int fd = hs_open_dir_trusted(dest, &parent, last, e);
    if (fd == -ENOENT && parent >= 0 && create) {
        fd = mkdirat(parent, last, 0700) < 0 && errno != EEXIST ? -errno : 0;
        if (fd == 0) {
            fd = openat(parent, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                fd = -errno;
        }
        if (fd < 0) {
            int r = hs_err_path(e, -fd, "cannot create destination", dest);
            if (fd == -ENAMETOOLONG)
                hs_err_kind(e, HS_USAGE);
            fd = r;
        }
    } else if (fd < 0 && fd != -EPERM) {
        int err = -fd;
        fd = hs_err_path(e, err, "cannot open destination", dest);
        if (err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG || err == ELOOP)
            hs_err_kind(e, HS_USAGE);
    }
    if (parent >= 0)
        close(parent);
    return fd;
}

/* DEST and .hardsnap must be the owner's who writes to them (hs_made_uid:
 * root's, for root, also where the file system forces an owner): a user
 * who owns either can hide, rename or replace snapshots, point latest at a
 * tree she made (restored as root's), or open the store to all. */
static int check_owner(struct hs_store *s, struct hs_err *e)
{
    uid_t made = hs_made_uid(s->destfd);
    struct stat d, h;
    bool dest_bad = fstat(s->destfd, &d) == 0 && d.st_uid != made;
    bool hs_bad = !dest_bad && fstat(s->hsfd, &h) == 0 && h.st_uid != made;
    if (!dest_bad && !hs_bad)
        return 0;
    char what[128];
    snprintf(what, sizeof what, "owned by another user (uid %u): not writing to the store",
             (unsigned)(dest_bad ? d.st_uid : h.st_uid));
    int r = dest_bad ? hs_err_path(e, 0, what, s->dest)
                     : hs_store_err_at(e, 0, s->dest, HS_STORE_DIR, what, NULL);
    hs_err_kind(e, HS_USAGE);
    return r;
}

int hs_store_open(struct hs_store *s, const char *dest, unsigned flags, struct hs_err *e)
{
    *s = (struct hs_store){
        .destfd = -1, .hsfd = -1, .partialfd = -1, .manifestsfd = -1, .lockfd = -1};
    s->dest = strdup(dest);
    if (!s->dest)
        return hs_err_setf(e, ENOMEM, "store");
    bool create = flags & HS_STORE_CREATE;
    /* a store copied into a snapshot is a copy, not a store, and a store
     * named through a snapshot (latest/..) is named oddly enough to be a
     * mistake: refused to readers too, so that prune -n says what prune does */
    if (parent_in_snapshot(dest))
        return hs_err_usage(
            e, 0, "inside a snapshot, or reached through one (name the store itself)", dest);
    bool writer = flags & (HS_STORE_CREATE | HS_STORE_LOCK);
    s->destfd = writer ? open_dest_to_write(dest, create, e)
                       : open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->destfd < 0 && writer)
        return s->destfd;
    if (s->destfd < 0) {
        int err = errno;
        int r = hs_err_path(e, err, "cannot open destination", dest);
        if (err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG)
            hs_err_kind(e, HS_USAGE);
        return r;
    }
    /* a store inside a snapshot is a copy of one: writing to it would
     * change that snapshot */
    if ((flags & (HS_STORE_CREATE | HS_STORE_LOCK)) && hs_store_in_snapshot(s->destfd)) {
        int r = hs_err_path(e, 0, "inside a snapshot (a copy of a store is not a store)", dest);
        hs_err_kind(e, HS_USAGE);
        return r;
    }
    if (create && !(flags & HS_STORE_ADOPT)) {
        int r = check_new_store(s->destfd, dest, e);
        if (r < 0)
            return r;
    }
    struct stat st;
    if (!create && fstatat(s->destfd, HS_STORE_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
        errno == ENOENT) {
        int r = hs_err_path(e, 0, "not a hardsnap store (no " HS_STORE_DIR " in it)", dest);
        hs_err_kind(e, HS_USAGE);
        return r;
    }
    int r = s->hsfd = open_subdir(s->destfd, HS_STORE_DIR, create, dest, e);
    if (r >= 0 && writer)
        r = check_owner(s, e);
    if (r >= 0)
        r = s->partialfd = open_subdir(s->hsfd, "partial", create, dest, e);
    if (r >= 0)
        r = s->manifestsfd = open_subdir(s->hsfd, "manifests", create, dest, e);
    if (r >= 0 && (flags & HS_STORE_LOCK))
        r = take_lock(s, e);
    /* made while there is room: a prune on a full disk, when it is needed
     * most, must not need a new directory to delete into */
    if (r >= 0 && create)
        mkdirat(s->hsfd, TRASH_DIR, 0700);
    if (r >= 0 && (flags & (HS_STORE_CREATE | HS_STORE_LOCK)) && geteuid() == 0)
        guard_dest(s);
    return r < 0 ? r : 0;
}

void hs_store_close(struct hs_store *s)
{
    int *fds[] = {&s->lockfd, &s->manifestsfd, &s->partialfd, &s->hsfd, &s->destfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    free(s->dest);
    s->dest = NULL;
    hs_err_clear(&s->warn);
}

/* Names in dirfd for which keep() says yes, unsorted. */
static int list_names(int dirfd, bool (*keep)(int dirfd, const char *name), char ***out,
                      size_t *count, struct hs_err *e)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return hs_err_setf(e, errno, "cannot list the store");
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (!keep(dirfd, de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                r = -ENOMEM;
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(de->d_name)))
            r = -ENOMEM;
        else
            n++;
    }
    closedir(d);
    if (r < 0) {
        hs_store_list_free(names, n);
        return hs_err_setf(e, -r, "cannot list the store");
    }
    *out = names;
    *count = n;
    return 0;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool any_name(int dirfd, const char *name)
{
    (void)dirfd;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int list_sorted(int dirfd, bool (*keep)(int, const char *), char ***out, size_t *n,
                       struct hs_err *e)
{
    int r = list_names(dirfd, keep, out, n, e);
    if (r == 0 && *n > 1)
        qsort(*out, *n, sizeof **out, cmp_strp);
    return r;
}

int hs_store_list(const struct hs_store *s, char ***names, size_t *n, struct hs_err *e)
{
    return list_sorted(s->destfd, is_snapshot_dir, names, n, e);
}

void hs_store_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* hs_snapshot_newest_current of names and coming (NULL: none). */
static const char *newest_with(char *const *names, size_t n, const char *coming)
{
    const char *best = NULL, *last = NULL;
    for (size_t i = 0; i <= n; i++) {
        const char *x = i < n ? names[i] : coming;
        if (!x)
            continue;
        if (!last || strcmp(x, last) > 0)
            last = x;
        if (!hs_snapshot_in_future(x) && (!best || strcmp(x, best) > 0))
            best = x;
    }
    return best ? best : last;
}

/* Decides where latest must point: at the newest complete snapshot not
 * named in the future, counting coming (a snapshot about to be published)
 * if not NULL. 1 with .hardsnap/latest.new made when latest must change, 2
 * when latest must go (no snapshot), 0 when it is right already, <0. */
static int prepare_latest(struct hs_store *s, const char *coming, struct hs_err *e)
{
    char **names = NULL;
    size_t n = 0;
    int r = hs_store_list(s, &names, &n, e);
    if (r < 0)
        return r;
    struct stat lst;
    if (fstatat(s->destfd, "latest", &lst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(lst.st_mode)) {
        hs_store_list_free(names, n);
        return hs_err_path(e, 0, "not updated: latest is not a symlink in", s->dest);
    }
    char cur[64];
    ssize_t len = readlinkat(s->destfd, "latest", cur, sizeof cur - 1);
    if (len >= 0)
        cur[len] = '\0';
    const char *newest = newest_with(names, n, coming);
    if (!newest) {
        r = len >= 0 ? 2 : 0;
    } else if (len < 0 || strcmp(cur, newest) != 0) {
        unlinkat(s->hsfd, "latest.new", 0);
        r = symlinkat(newest, s->hsfd, "latest.new") < 0
                ? hs_err_path(e, errno, "cannot update latest in", s->dest)
                : 1;
    }
    hs_store_list_free(names, n);
    return r;
}

/* Carries out what prepare_latest decided (k), durably. */
static int commit_latest(struct hs_store *s, int k, struct hs_err *e)
{
    if (k == 2)
        unlinkat(s->destfd, "latest", 0);
    else if (k == 1 && renameat(s->hsfd, "latest.new", s->destfd, "latest") < 0)
        return hs_err_path(e, errno, "cannot update latest in", s->dest);
    if (k > 0 && fsync(s->destfd) < 0)
        return hs_err_path(e, errno, "cannot sync", s->dest);
    return 0;
}

int hs_store_update_latest(struct hs_store *s, struct hs_err *e)
{
    int k = prepare_latest(s, NULL, e);
    return k < 0 ? k : commit_latest(s, k, e);
}

/* rename(2) that never replaces: RENAME_NOREPLACE, or where the filesystem
 * lacks it (some NFS and FUSE), a check then a plain rename, which the lock
 * makes safe from other hardsnap runs. */
static int rename_noreplace(int olddir, const char *old, int newdir, const char *new)
{
    if (renameat2(olddir, old, newdir, new, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (exists_at(newdir, new))
        return -EEXIST;
    return renameat(olddir, old, newdir, new) == 0 ? 0 : -errno;
}

/* Moving a directory to another parent rewrites its "..": without root,
 * that needs write permission on it, which a read-only source root lacks.
 * It is lent for the rename through an fd of the directory (O_PATH: mode 0
 * is no obstacle), which stays with it whatever its name, and never follows
 * a name swapped for a symlink. */
static int rename_dir_noreplace(int olddir, const char *old, int newdir, const char *new)
{
    int r = rename_noreplace(olddir, old, newdir, new);
    if (r != -EACCES || geteuid() == 0)
        return r;
    struct hs_xobj dir = {.fd = openat(olddir, old, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                          .opath = true};
    struct stat st;
    if (dir.fd < 0)
        return r;
    if (fstat(dir.fd, &st) == 0 && !(st.st_mode & S_IWUSR) &&
        hs_meta_chmod(dir, (st.st_mode & 07777) | S_IWUSR) == 0) {
        r = rename_noreplace(olddir, old, newdir, new);
        hs_meta_chmod(dir, st.st_mode & 07777);
    }
    close(dir.fd);
    return r;
}

static void move_back(struct hs_store *s, const char *mname)
{
    renameat(s->manifestsfd, mname, s->partialfd, mname);
}

int hs_store_publish(struct hs_store *s, const char *name, struct hs_err *e, struct hs_err *warn)
{
    char mname[64];
    hs_store_manifest_name(name, mname);
    if (exists_at(s->destfd, name))
        return hs_err_path(e, EEXIST, "snapshot already exists", name);
    /* everything written so far reaches the disk before anything is renamed */
    if (syncfs(s->destfd) < 0)
        return hs_err_path(e, errno, "cannot sync", s->dest);
    unlinkat(s->manifestsfd, mname, 0); /* an orphan: its snapshot is gone */
    char iname[80];
    hs_cindex_name(name, iname);
    unlinkat(s->manifestsfd, iname, 0);
    hs_cindex_inode_name(name, iname);
    unlinkat(s->manifestsfd, iname, 0);
    /* the block map first: a committed manifest finds its own, or none */
    char bname[64];
    hs_blockmap_name(name, bname);
    if (renameat(s->partialfd, bname, s->manifestsfd, bname) < 0 && errno != ENOENT)
        unlinkat(s->manifestsfd, bname, 0); /* only an optimisation: better none than old */
    int r = rename_noreplace(s->partialfd, mname, s->manifestsfd, mname);
    if (r < 0)
        return hs_err_path(e, -r, "cannot store manifest", mname);
    if (fsync(s->manifestsfd) < 0 || fsync(s->partialfd) < 0) {
        r = hs_err_path(e, errno, "cannot sync", s->dest);
        move_back(s, mname);
        return r;
    }
    /* latest's new target is ready before the snapshot appears, so that
     * a kill between the two renames is as unlikely as it can be: only the
     * sync that keeps them in order on disk lies between them */
    struct hs_err scratch = {0};
    int k = prepare_latest(s, name, &scratch);
    hs_err_clear(&scratch);
    r = rename_dir_noreplace(s->partialfd, name, s->destfd, name);
    if (r < 0) {
        hs_err_path(e, -r, "cannot publish snapshot", name);
        move_back(s, mname);
        if (k == 1)
            unlinkat(s->hsfd, "latest.new", 0);
        return r;
    }
    /* published: what fails from here on leaves a complete snapshot */
    if (fsync(s->destfd) < 0)
        hs_err_path(warn, errno, "snapshot published, but cannot sync", s->dest);
    else if (k < 0)
        hs_store_update_latest(s, warn); /* tell why it fails, if it still does */
    else
        commit_latest(s, k, warn);
    return 0;
}

/* A manifest, content index (cindex.h) or block map (blockmap.h) of the
 * snapshot *snap. */
static bool is_manifest_name(const char *name, char *snap)
{
    size_t n = strlen(name);
    const char *suffix = name + HS_SNAPSHOT_NAME_LEN;
    if (n <= HS_SNAPSHOT_NAME_LEN ||
        (strcmp(suffix, HS_MANIFEST_SUFFIX) != 0 && strcmp(suffix, HS_CINDEX_SUFFIX) != 0 &&
         strcmp(suffix, HS_INODE_INDEX_SUFFIX) != 0 && strcmp(suffix, HS_BLOCKMAP_SUFFIX) != 0))
        return false;
    memcpy(snap, name, HS_SNAPSHOT_NAME_LEN);
    snap[HS_SNAPSHOT_NAME_LEN] = '\0';
    return hs_snapshot_name_valid(snap);
}

/* Partial trees whose manifest was already stored were complete and durable:
 * only the final rename was missing. */
static int finish_published(struct hs_store *s, char **names, size_t n, struct hs_err *e)
{
    for (size_t i = 0; i < n; i++) {
        char mname[64];
        if (!is_snapshot_dir(s->partialfd, names[i]))
            continue;
        hs_store_manifest_name(names[i], mname);
        if (!exists_at(s->manifestsfd, mname) || exists_at(s->destfd, names[i]))
            continue;
        int r = rename_dir_noreplace(s->partialfd, names[i], s->destfd, names[i]);
        if (r < 0)
            return hs_err_path(e, -r, "cannot publish interrupted snapshot", names[i]);
        fsync(s->destfd);
    }
    return 0;
}

static void drop_orphan_manifests(struct hs_store *s)
{
    char **names = NULL;
    size_t n = 0;
    if (list_sorted(s->manifestsfd, any_name, &names, &n, NULL) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char snap[HS_SNAPSHOT_NAME_LEN + 1];
        if (!is_manifest_name(names[i], snap) || !is_snapshot_dir(s->destfd, snap))
            unlinkat(s->manifestsfd, names[i], 0);
    }
    hs_store_list_free(names, n);
}

/* Keeps the first warning; the later ones are dropped. */
static void warn_first(struct hs_err *warn, struct hs_err *t)
{
    if (warn && !warn->msg)
        hs_err_move(warn, t);
    hs_err_clear(t);
}

/* DEST/.hardsnap/SUB, for messages (NULL without memory: names then show
 * from SUB down). */
static char *store_path(const struct hs_store *s, const char *sub)
{
    size_t n = strlen(s->dest) + strlen(sub) + sizeof "/" HS_STORE_DIR "/";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/" HS_STORE_DIR "/%s", s->dest, sub);
    return p;
}

static int open_trash(struct hs_store *s, struct hs_err *e);
static int remove_in_trash(struct hs_store *s, int trash, const char *name, struct hs_err *e);

/* An unfinished tree that is not kept leaves partial/ through the trash,
 * under a name no other entry there can have (partial.INODE: the inode is
 * that entry's as long as it is there), and is removed there: what cannot
 * go (a mount point in it, an immutable file) is then out of the next runs'
 * way, and each prune and recovery tries again, never through a mount, as
 * for a pruned snapshot. A file, or a tree that cannot be moved (itself a
 * mount point), is removed in place. */
static void discard_partial(struct hs_store *s, int trash, const char *name, struct hs_err *warn)
{
    struct hs_err t = {0};
    struct stat st;
    int r = -1;
    if (trash >= 0 && fstatat(s->partialfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
        char tname[40];
        snprintf(tname, sizeof tname, "partial.%ju", (uintmax_t)st.st_ino);
        r = rename_dir_noreplace(s->partialfd, name, trash, tname);
        if (r == 0)
            remove_in_trash(s, trash, tname, &t);
    }
    if (r < 0) {
        char *where = store_path(s, "partial");
        hs_remove_tree_in(s->partialfd, name, where, &t);
        free(where);
    }
    warn_first(warn, &t);
}

bool hs_store_full_errno(int err)
{
    return err == ENOSPC || err == EDQUOT;
}

void hs_store_drop_partial(struct hs_store *s, const char *name, struct hs_err *warn)
{
    struct hs_err e = {0};
    int trash = open_trash(s, &e);
    hs_err_clear(&e);
    discard_partial(s, trash, name, warn);
    if (trash >= 0)
        close(trash);
}

void hs_store_give_way(struct hs_store *s)
{
    char **names = NULL;
    size_t n = 0;
    struct hs_err e = {0};
    if (list_sorted(s->partialfd, any_name, &names, &n, &e) == 0) {
        int trash = open_trash(s, &e);
        for (size_t i = 0; i < n; i++)
            discard_partial(s, trash, names[i], NULL);
        if (trash >= 0)
            close(trash);
        syncfs(s->partialfd);
    }
    hs_store_list_free(names, n);
    hs_err_clear(&e);
}

/* Keeps the newest unfinished tree as partial/resume; the rest goes. What
 * cannot go is a warning, not a reason to stop the nights' backups; an old
 * resume tree that stays (a mount point itself) stays the resume tree. */
static int keep_resume_tree(struct hs_store *s, char **names, size_t n, char **resume,
                            struct hs_err *e, struct hs_err *warn)
{
    const char *newest = NULL;
    for (size_t i = 0; i < n; i++)
        if (is_snapshot_dir(s->partialfd, names[i]))
            newest = names[i];
    struct hs_err t = {0};
    int trash = n ? open_trash(s, &t) : -1;
    warn_first(warn, &t);
    if (newest) {
        if (exists_at(s->partialfd, RESUME_NAME))
            discard_partial(s, trash, RESUME_NAME, warn);
        if (exists_at(s->partialfd, RESUME_NAME)) {
            newest = NULL;
        } else if (renameat(s->partialfd, newest, s->partialfd, RESUME_NAME) < 0) {
            hs_err_path(&t, errno, "cannot keep interrupted snapshot", newest);
            warn_first(warn, &t);
            newest = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], RESUME_NAME) != 0 && (!newest || strcmp(names[i], newest) != 0))
            discard_partial(s, trash, names[i], warn);
    }
    if (trash >= 0)
        close(trash);
    if (exists_at(s->partialfd, RESUME_NAME) && !(*resume = strdup(RESUME_NAME)))
        return hs_err_setf(e, ENOMEM, "store");
    return 0;
}

int hs_store_recover(struct hs_store *s, char **resume, struct hs_err *e, struct hs_err *warn)
{
    char **names = NULL;
    size_t n = 0;
    *resume = NULL;
    /* a prune that was interrupted; what the trash cannot shed (an immutable
     * file, a directory of another user) is out of sight and must not stop
     * the nights' backups: a warning */
    struct hs_err t = {0};
    if (hs_store_empty_trash(s, &t) < 0)
        warn_first(warn, &t);
    int r = list_sorted(s->partialfd, any_name, &names, &n, e);
    if (r < 0)
        return r;
    r = finish_published(s, names, n, e);
    hs_store_list_free(names, n);
    if (r < 0)
        return r;
    drop_orphan_manifests(s);
    r = list_sorted(s->partialfd, any_name, &names, &n, e);
    if (r < 0)
        return r;
    r = keep_resume_tree(s, names, n, resume, e, warn);
    hs_store_list_free(names, n);
    if (r == 0) {
        /* not fatal: publishing tries again, and warns */
        struct hs_err scratch = {0};
        hs_store_update_latest(s, &scratch);
        hs_err_clear(&scratch);
    }
    return r;
}

/* ---- deleting --------------------------------------------------------- */

static int open_trash(struct hs_store *s, struct hs_err *e)
{
    if (mkdirat(s->hsfd, TRASH_DIR, 0700) < 0 && errno != EEXIST)
        return hs_err_path(e, errno, "cannot create the trash of", s->dest);
    int fd = hs_open_dir(s->hsfd, TRASH_DIR);
    if (fd < 0)
        return hs_err_path(e, errno, "cannot open the trash of", s->dest);
    return fd;
}

/* Removes name from the trash; messages say DEST/.hardsnap/trash/name/... */
static int remove_in_trash(struct hs_store *s, int trash, const char *name, struct hs_err *e)
{
    char *where = store_path(s, TRASH_DIR);
    if (!where)
        return hs_err_setf(e, ENOMEM, "store");
    int r = hs_remove_tree_in(trash, name, where, e);
    free(where);
    return r;
}

/* The manifest and content index of name, whose tree is gone from DEST. Kept
 * while DEST or partial/ holds a tree of that name: a committed manifest
 * there is one recovery is about to publish. */
static int drop_manifest_of(struct hs_store *s, const char *name, struct hs_err *e)
{
    if (!hs_snapshot_name_valid(name) || exists_at(s->destfd, name) ||
        exists_at(s->partialfd, name))
        return 0;
    char mname[64], iname[80], bname[64];
    hs_store_manifest_name(name, mname);
    hs_cindex_name(name, iname);
    hs_blockmap_name(name, bname);
    if (unlinkat(s->manifestsfd, iname, 0) < 0 && errno != ENOENT)
        return hs_err_path(e, errno, "cannot remove content index", iname);
    hs_cindex_inode_name(name, iname);
    if (unlinkat(s->manifestsfd, iname, 0) < 0 && errno != ENOENT)
        return hs_err_path(e, errno, "cannot remove inode index", iname);
    if (unlinkat(s->manifestsfd, bname, 0) < 0 && errno != ENOENT)
        return hs_err_path(e, errno, "cannot remove block map", bname);
    if (unlinkat(s->manifestsfd, mname, 0) < 0 && errno != ENOENT)
        return hs_err_path(e, errno, "cannot remove manifest", mname);
    return 0;
}

int hs_store_empty_trash(struct hs_store *s, struct hs_err *e)
{
    int fd = hs_open_dir(s->hsfd, TRASH_DIR);
    if (fd < 0)
        return errno == ENOENT ? 0 : hs_err_path(e, errno, "cannot open the trash of", s->dest);
    char **names = NULL;
    size_t n = 0;
    int r = list_sorted(fd, any_name, &names, &n, e);
    /* one entry that cannot go does not keep the others; the first error is
     * the one reported */
    struct hs_err t = {0};
    int first = r;
    for (size_t i = 0; r == 0 && i < n; i++) {
        int k = drop_manifest_of(s, names[i], &t);
        if (k == 0)
            k = remove_in_trash(s, fd, names[i], &t);
        if (k < 0 && first == 0) {
            first = k;
            hs_err_move(e, &t);
        }
        hs_err_clear(&t);
    }
    hs_store_list_free(names, n);
    close(fd);
    return first;
}

int hs_store_delete(struct hs_store *s, const char *name, struct hs_err *e)
{
    int trash = open_trash(s, e);
    if (trash < 0)
        return trash;
    int r = remove_in_trash(s, trash, name, e); /* left by an earlier, failed removal */
    if (r == 0) {
        r = rename_dir_noreplace(s->destfd, name, trash, name);
        if (r == -EBUSY && hs_is_mount_point(s->destfd, name))
            /* a snapshot that is itself a mount point stays where it is, whole */
            hs_store_err_at(e, EBUSY, s->dest, name, "not removing a mount point", NULL);
        else if (r < 0)
            hs_err_path(e, -r, "cannot move snapshot to the trash", name);
    }
    /* gone from sight, durably, before anything of it is removed: a power
     * cut never leaves a published snapshot without its manifest */
    if (r == 0 && fsync(s->destfd) < 0)
        r = hs_err_path(e, errno, "cannot sync", s->dest);
    /* the manifest first: while the tree is in the trash, the next prune or
     * backup finishes both */
    if (r == 0)
        r = drop_manifest_of(s, name, e);
    if (r == 0)
        r = remove_in_trash(s, trash, name, e);
    close(trash);
    return r;
}
