/*
 * hardsnap import --from: turns an rsnapshot or rsync-time-backup store into
 * a hardsnap store in place. Nothing is copied: each old snapshot directory
 * is renamed to its time's name, so every hard link between the old
 * snapshots stays, and gets the manifest a backup would have written for it
 * (every file read once per inode, to hash it).
 *
 * Order per snapshot, so that a kill leaves only states a re-run continues
 * from: the manifest is written in partial/, synced, moved to manifests/
 * (replacing one a killed run left), then the old directory is renamed to
 * DEST/NAME (no replace). Until that rename the old directory is untouched
 * and a re-run derives the same name again; after it, the snapshot is
 * complete with its manifest. An old tree is never moved into partial/,
 * where a backup's recovery would take it for an unfinished run and remove
 * it. .hardsnap/migrating (the format and the backup point made the root)
 * lets a re-run continue and tells it from a store in use.
 */
#include "buf.h"
#include "copy.h"
#include "fsutil.h"
#include "hardsnap.h"
#include "inomap.h"
#include "manifest.h"
#include "store.h"
#include "walk.h"
#include "xattr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARKER "migrating"
/* rsync-time-backup's files in its destination */
#define RTB_MARKER     "backup.marker"
#define RTB_INPROGRESS "backup.inprogress"

struct old_snap {
    char *old; /* its name in DIR: daily.0, 2026-01-01-020000 */
    time_t t;
    char name[HS_SNAPSHOT_NAME_LEN + 1];
};

struct plan {
    struct old_snap *v;
    size_t n, cap;
    char **empty; /* rsnapshot INTERVAL.N left empty by a killed run */
    size_t n_empty;
    char root[NAME_MAX + 1]; /* rsnapshot: the one backup point that is the root, or "" */
};

struct seen {
    int err;
    uint8_t hash[16];
};

struct migrator {
    const struct hs_migrate_opts *o;
    struct hs_migrate_result *res;
    struct hs_store s;
    struct hs_copier copier;
    /* per snapshot: (dev, ino) -> struct seen, for inodes with several
     * names in it (read once), and -> uint32_t, its names in it */
    struct hs_inomap seen, names;
    struct hs_manifest_reader *prev; /* the snapshot migrated before, in step */
    struct hs_xattrs xa;
    struct hs_buf target;
    bool root_user;
    struct hs_err *err;
};

static const char *format_word(enum hs_migrate_from f)
{
    return f == HS_FROM_RSNAPSHOT ? "rsnapshot" : "rsync-time-backup";
}

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].old);
    free(p->v);
    hs_store_list_free(p->empty, p->n_empty);
    *p = (struct plan){0};
}

/* rsnapshot's INTERVAL.N: an interval name (letters and digits), a dot, a number. */
static bool rsnapshot_name(const char *s)
{
    const char *dot = strrchr(s, '.');
    if (!dot || dot == s || !dot[1])
        return false;
    for (const char *c = s; c < dot; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return false;
    for (const char *c = dot + 1; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

/* rsync-time-backup's YYYY-MM-DD-HHMMSS, in the local time zone (the script
 * names them with date(1)): the time, or -1. */
static time_t rtb_time(const char *s)
{
    static const char shape[] = "dddd-dd-dd-dddddd";
    if (strlen(s) != sizeof shape - 1)
        return -1;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
            return -1;
    struct tm tm = {.tm_isdst = -1};
    if (sscanf(s, "%4d-%2d-%2d-%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    /* A 13th month or a 61st minute is carried over by the calendar: such
     * a name is no date rsync-time-backup wrote. Checked in UTC, where no
     * clock change moves the hour (a local time that does not exist is
     * read as mktime reads it). */
    struct tm cal = tm;
    if (timegm(&cal) == (time_t)-1 || cal.tm_year != tm.tm_year || cal.tm_mon != tm.tm_mon ||
        cal.tm_mday != tm.tm_mday || cal.tm_hour != tm.tm_hour || cal.tm_min != tm.tm_min ||
        cal.tm_sec != tm.tm_sec)
        return -1;
    return mktime(&tm);
}

static int plan_add(struct plan *p, const char *old, time_t t)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct old_snap *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    struct old_snap *o = &p->v[p->n];
    if (!(o->old = strdup(old)))
        return -ENOMEM;
    o->t = t;
    hs_snapshot_name_format(t, o->name);
    p->n++;
    return 0;
}

static int cmp_time(const void *a, const void *b)
{
    const struct old_snap *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t ? 1 : strcmp(x->old, y->old);
}

/* The names in the directory fd (not . and ..), malloc'd; -errno. */
static int names_in(int dirfd, const char *name, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return -err;
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char **v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v || !(v[*n] = strdup(de->d_name))) {
            if (v)
                *out = v;
            r = -ENOMEM;
            break;
        }
        *out = v;
        (*n)++;
    }
    closedir(d);
    return r;
}

static bool is_dir_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool hs_migrate_candidate(int dirfd)
{
    char **names;
    size_t n;
    bool found = false;
    if (names_in(dirfd, ".", &names, &n) < 0)
        return false;
    for (size_t i = 0; i < n && !found; i++)
        found = !strcmp(names[i], RTB_MARKER) ||
                (rsnapshot_name(names[i]) && is_dir_at(dirfd, names[i]));
    hs_store_list_free(names, n);
    return found;
}

/* rsnapshot with one backup point (`backup /home/ localhost/`) keeps each
 * snapshot's tree in INTERVAL.N/localhost/: that directory becomes the
 * snapshot root, so that `hardsnap backup /home DEST` continues it. With
 * several points (or a point not alone) the INTERVAL.N directory is the
 * root, holding them by name as several hardsnap sources do. */
static int rsnapshot_root(int destfd, struct plan *p, const char *given, struct hs_err *e)
{
    bool first = true, one = true;
    for (size_t i = 0; i < p->n; i++) {
        char **in;
        size_t k;
        int r = names_in(destfd, p->v[i].old, &in, &k);
        if (r < 0)
            return hs_err_path(e, -r, "cannot read", p->v[i].old);
        if (given) { /* a re-run keeps the first run's choice */
            bool ok = !*given || (k == 1 && !strcmp(in[0], given));
            hs_store_list_free(in, k);
            if (!ok)
                return hs_err_path_why(e, 0, "cannot continue the migration", p->v[i].old,
                                       "it does not hold the backup point the first run chose");
            continue;
        }
        int fd = openat(destfd, p->v[i].old, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        bool single = k == 1 && fd >= 0 && is_dir_at(fd, in[0]);
        if (fd >= 0)
            close(fd);
        if (!single || (!first && strcmp(in[0], p->root) != 0))
            one = false;
        else if (first)
            snprintf(p->root, sizeof p->root, "%s", in[0]);
        first = false;
        hs_store_list_free(in, k);
    }
    if (given)
        snprintf(p->root, sizeof p->root, "%s", given);
    else if (!one)
        p->root[0] = '\0';
    return 0;
}

/* The old snapshots in DIR, oldest first, each with its hardsnap name;
 * every reason to refuse is found here, before anything is changed. */
static int scan(int destfd, const char *dir, enum hs_migrate_from from, const char *given_root,
                bool continuing, struct plan *p, struct hs_err *e)
{
    char **names;
    size_t n;
    int r = names_in(destfd, ".", &names, &n);
    if (r < 0)
        return hs_err_path(e, -r, "cannot read", dir);
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *nm = names[i];
        struct stat st;
        if (fstatat(destfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (from == HS_FROM_RSNAPSHOT && rsnapshot_name(nm)) {
            char **in;
            size_t k;
            if (names_in(destfd, nm, &in, &k) == 0 && k == 0) { /* left by a killed run */
                char **v = realloc(p->empty, (p->n_empty + 1) * sizeof *v);
                if (v)
                    p->empty = v;
                if (!v || !(v[p->n_empty++] = strdup(nm)))
                    r = -ENOMEM;
                free(in);
                continue;
            }
            hs_store_list_free(in, k);
            /* rsnapshot touches INTERVAL.0 when a run ends: its mtime is the
             * snapshot's time */
            r = plan_add(p, nm, st.st_mtim.tv_sec);
        } else if (from == HS_FROM_RSYNC_TIME_BACKUP && rtb_time(nm) != (time_t)-1) {
            r = plan_add(p, nm, rtb_time(nm));
        }
    }
    hs_store_list_free(names, n);
    if (r < 0)
        return hs_err_setf(e, -r, "import --from");
    struct stat st;
    if (from == HS_FROM_RSYNC_TIME_BACKUP && p->n &&
        fstatat(destfd, RTB_INPROGRESS, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return hs_err_usage(e, 0,
                            "an rsync-time-backup run was interrupted (its newest backup is "
                            "incomplete): finish it or remove it and " RTB_INPROGRESS ", in",
                            dir);
    if (from == HS_FROM_RSYNC_TIME_BACKUP && p->n && !continuing &&
        fstatat(destfd, RTB_MARKER, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return hs_err_usage(e, 0, "no " RTB_MARKER ": not an rsync-time-backup destination", dir);
    if (p->n)
        qsort(p->v, p->n, sizeof *p->v, cmp_time);
    for (size_t i = 0; i < p->n; i++) {
        if (i > 0 && !strcmp(p->v[i].name, p->v[i - 1].name)) {
            char why[160];
            snprintf(why, sizeof why, "%s and %s both have the time %s", p->v[i - 1].old,
                     p->v[i].old, p->v[i].name);
            return hs_err_path_why(e, 0, "two old snapshots would get one name in", dir, why),
                   hs_err_kind(e, HS_USAGE), -EEXIST;
        }
        if (fstatat(destfd, p->v[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            char why[160];
            snprintf(why, sizeof why, "%s would be named %s, which exists", p->v[i].old,
                     p->v[i].name);
            return hs_err_path_why(e, 0, "name taken in", dir, why), hs_err_kind(e, HS_USAGE),
                   -EEXIST;
        }
    }
    if (from == HS_FROM_RSNAPSHOT)
        return rsnapshot_root(destfd, p, given_root, e);
    return 0;
}

/* ---- the manifest of an old snapshot ----------------------------------- */

/* Reads and hashes the file the walk met into *s (s->err on failure). */
static void hash_inode(struct migrator *m, const struct hs_walk_item *it, struct seen *s)
{
    struct stat st;
    int fd = hs_open_file_read(it->fd, it->name);
    if (fd < 0 || fstat(fd, &st) < 0) {
        s->err = errno;
    } else if (!S_ISREG(st.st_mode) || !hs_stat_same_file(&st, &it->st)) {
        s->err = ESTALE; /* replaced since the walk saw it */
    } else {
        struct hs_err e = {0};
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        int r = hs_hash_fd(&m->copier, fd, &st, s->hash, it->path, &e);
        s->err = r < 0 ? -r : 0;
        hs_err_clear(&e);
        m->res->inodes_hashed++;
        m->res->bytes_hashed += (uint64_t)st.st_size;
    }
    if (fd >= 0)
        close(fd);
}

/* The hash the previous snapshot's manifest holds for this very inode, at
 * the same path: rsnapshot's snapshots share most inodes with the one
 * before, and an inode whose ctime did not move was not written since. */
static bool hash_from_prev(struct migrator *m, const struct hs_walk_item *it, uint8_t hash[16])
{
    const struct hs_mentry *pm;
    struct hs_err e = {0};
    int k = m->prev ? hs_manifest_seek(m->prev, it->path, it->path_len, &pm, &e) : 0;
    hs_err_clear(&e);
    if (k < 0) { /* damaged: read the files instead */
        hs_manifest_reader_free(m->prev);
        m->prev = NULL;
    }
    if (k != 1 || pm->type != HS_FT_REG || !(pm->flags & HS_ME_HASH) ||
        pm->sino != (uint64_t)it->st.st_ino || pm->size != (uint64_t)it->st.st_size ||
        pm->mtime_sec != it->st.st_mtim.tv_sec || pm->mtime_nsec != it->st.st_mtim.tv_nsec ||
        pm->ctime_sec != it->st.st_ctim.tv_sec || pm->ctime_nsec != it->st.st_ctim.tv_nsec)
        return false;
    memcpy(hash, pm->hash, 16);
    return true;
}

/* The content hash of the walk's file into rec: from the previous
 * snapshot's manifest, from another name of the inode in this snapshot, or
 * read; each inode is read at most once per snapshot. */
static int read_hash(struct migrator *m, const struct hs_walk_item *it, struct hs_mentry *rec,
                     unsigned names)
{
    struct seen one = {0}, *s = &one;
    bool fresh = true;
    if (hash_from_prev(m, it, one.hash)) {
        fresh = false;
    } else if (names > 1) {
        s = hs_inomap_get(&m->seen, it->st.st_dev, it->st.st_ino, &fresh);
        if (!s)
            return hs_err_setf(m->err, ENOMEM, "import --from");
    }
    if (fresh)
        hash_inode(m, it, s);
    if (s->err)
        return hs_err_path(m->err, s->err, "cannot read", it->path);
    rec->flags |= HS_ME_HASH;
    memcpy(rec->hash, s->hash, sizeof rec->hash);
    return 0;
}

/* The record a backup would have written for the entry: the old snapshot's
 * file is both "source" and snapshot inode, so the next backup, seeing
 * another inode and ctime in its source, compares content by hash and links. */
static int record(struct migrator *m, struct hs_manifest_writer *w, const struct hs_walk_item *it)
{
    struct hs_mentry rec = {.path = it->path, .path_len = it->path_len};
    hs_mentry_from_stat(&rec, &it->st);
    rec.sino = it->st.st_ino;
    rec.sblocks = (uint64_t)it->st.st_blocks;
    int r = hs_xattr_read(&m->xa, (struct hs_xobj){.fd = -1, .dirfd = it->fd, .name = it->name},
                          m->root_user);
    if (r < 0)
        return hs_err_path(m->err, -r, "cannot read extended attributes of", it->path);
    if (m->xa.count) {
        rec.flags |= HS_ME_XATTR;
        rec.xattr_hash = hs_xattr_hash(&m->xa);
    }
    if (!S_ISDIR(it->st.st_mode) && it->st.st_nlink > 1) {
        /* a backup records the source's link count, the names of its group;
         * st_nlink here counts the other snapshots' names too */
        const uint32_t *c = hs_inomap_find(&m->names, it->st.st_dev, it->st.st_ino);
        rec.nlink = c ? *c : 1;
    }
    if (S_ISREG(it->st.st_mode)) {
        m->res->files++;
        r = read_hash(m, it, &rec, (unsigned)rec.nlink);
    } else if (S_ISLNK(it->st.st_mode)) {
        size_t size = (size_t)it->st.st_size + 1;
        ssize_t n = -1;
        if (hs_buf_reserve(&m->target, size) == 0)
            n = readlinkat(it->fd, it->name, m->target.data, size);
        if (n < 0 || (size_t)n >= size)
            return hs_err_path(m->err, n < 0 ? errno : ESTALE, "cannot read symlink", it->path);
        rec.target = m->target.data;
        rec.target_len = (size_t)n;
    }
    return r < 0 ? r : hs_manifest_put(w, &rec, m->err);
}

/* The first pass: each multi-name inode's names in this snapshot. */
static int count_name(struct migrator *m, const struct hs_walk_item *it)
{
    if (S_ISDIR(it->st.st_mode) || it->st.st_nlink < 2)
        return 0;
    bool fresh;
    uint32_t *c = hs_inomap_get(&m->names, it->st.st_dev, it->st.st_ino, &fresh);
    if (!c)
        return hs_err_setf(m->err, ENOMEM, "import --from");
    (*c)++;
    return 0;
}

static int walk_tree(struct migrator *m, struct hs_manifest_writer *w, int rootfd,
                     const struct stat *rst)
{
    struct hs_walk *walk = NULL;
    /* a new open file description: a dup would share the directory offset
     * the first pass left at the end */
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = fd < 0 ? hs_err_setf(m->err, errno, "import --from")
                   : hs_walk_open(&walk, fd, rst, "", m->err);
    struct hs_walk_item it;
    while (r == 0 && (r = hs_walk_next(walk, &it, m->err)) == 0 && it.ev != HS_WALK_END) {
        if (m->o->interrupt && *m->o->interrupt)
            r = hs_err_setf(m->err, EINTR, "interrupted");
        else if (it.ev == HS_WALK_ERROR || it.ev == HS_WALK_FATAL)
            r = hs_err_path_why(m->err, it.err, it.what, *it.path ? it.path : ".",
                                strerror(it.err));
        else if (it.ev == HS_WALK_ENTRY)
            r = w ? record(m, w, &it) : count_name(m, &it);
    }
    hs_walk_free(walk);
    return r;
}

/* Walks the snapshot: with w, its records into w; without, count_name. */
static int walk_into(struct migrator *m, struct hs_manifest_writer *w, int rootfd,
                     const struct stat *rst)
{
    if (!w)
        return walk_tree(m, NULL, rootfd, rst);
    struct hs_mentry root = {.path = "", .path_len = 0};
    hs_mentry_from_stat(&root, rst);
    root.sino = rst->st_ino;
    root.sblocks = (uint64_t)rst->st_blocks;
    int r = hs_xattr_read(&m->xa, (struct hs_xobj){.fd = rootfd}, m->root_user);
    if (r == 0 && m->xa.count) {
        root.flags |= HS_ME_XATTR;
        root.xattr_hash = hs_xattr_hash(&m->xa);
    }
    if (r < 0)
        return hs_err_setf(m->err, -r, "cannot read extended attributes of a snapshot root");
    r = hs_manifest_put(w, &root, m->err);
    return r < 0 ? r : walk_tree(m, w, rootfd, rst);
}

/* "DIR/old: what went wrong" for what failed inside one old snapshot. */
static int in_snapshot(struct migrator *m, int r, const char *old)
{
    char *msg = m->err->msg;
    m->err->msg = NULL;
    int code = m->err->code;
    char *where = NULL;
    if (asprintf(&where, "%s/%s", m->o->dir, old) < 0)
        where = NULL;
    hs_err_path_why(m->err, code, "cannot migrate (nothing of it was renamed)", where ? where : old,
                    msg ? msg : strerror(-r));
    free(where);
    free(msg);
    return r;
}

/* Per-snapshot state: the tables emptied, the previous snapshot's manifest
 * (prev_name, or none) opened to take hashes from. */
static int start_snapshot(struct migrator *m, const char *prev_name)
{
    hs_inomap_free(&m->names);
    hs_inomap_free(&m->seen);
    hs_manifest_reader_free(m->prev);
    m->prev = NULL;
    if (hs_inomap_init(&m->names, sizeof(uint32_t)) < 0 ||
        hs_inomap_init(&m->seen, sizeof(struct seen)) < 0)
        return hs_err_setf(m->err, ENOMEM, "import --from");
    if (prev_name) {
        char pname[64];
        struct hs_err e = {0};
        hs_store_manifest_name(prev_name, pname);
        if (hs_manifest_reader_open(&m->prev, m->s.manifestsfd, pname, &e) < 0)
            m->prev = NULL; /* read every file instead */
        hs_err_clear(&e);
    }
    return 0;
}

static int migrate_one(struct migrator *m, const struct old_snap *o, const char *root,
                       const char *prev_name)
{
    struct hs_store *s = &m->s;
    int parent = *root ? hs_open_dir(s->destfd, o->old) : dup(s->destfd);
    const char *leaf = *root ? root : o->old;
    struct stat rst;
    int rootfd = parent < 0 ? -errno : hs_open_dir_stat(parent, leaf, &rst);
    if (rootfd < 0) {
        if (parent >= 0)
            close(parent);
        return hs_err_path(m->err, -rootfd, "cannot open", o->old);
    }
    char mname[64];
    hs_store_manifest_name(o->name, mname);
    struct hs_manifest_writer *w = NULL;
    int r = start_snapshot(m, prev_name);
    if (r == 0)
        r = walk_into(m, NULL, rootfd, &rst);
    if (r == 0)
        r = hs_manifest_writer_open(&w, s->partialfd, mname, m->err);
    if (r == 0)
        r = walk_into(m, w, rootfd, &rst);
    if (r == 0)
        r = hs_manifest_writer_finish(w, true, m->err);
    hs_manifest_writer_free(w);
    close(rootfd);
    if (r < 0) {
        unlinkat(s->partialfd, mname, 0);
        close(parent);
        return in_snapshot(m, r, o->old);
    }
    /* the commit of the manifest, then the tree under its name */
    struct stat now;
    if (renameat(s->partialfd, mname, s->manifestsfd, mname) < 0 || fsync(s->manifestsfd) < 0)
        r = hs_store_err_at(m->err, errno, s->dest, HS_STORE_DIR "/manifests",
                            "cannot store manifest in", NULL);
    else if (fstatat(parent, leaf, &now, AT_SYMLINK_NOFOLLOW) < 0 || !hs_stat_same_file(&now, &rst))
        r = hs_err_path(m->err, ESTALE, "replaced while its manifest was written", o->old);
    else if (renameat2(parent, leaf, s->destfd, o->name, RENAME_NOREPLACE) < 0 ||
             fsync(s->destfd) < 0)
        r = hs_err_path(m->err, errno, "cannot rename", o->old);
    if (r == 0 && *root && unlinkat(s->destfd, o->old, AT_REMOVEDIR) < 0)
        hs_err_path(&m->res->warn, errno, "migrated, but cannot remove the emptied", o->old);
    close(parent);
    if (r == 0) {
        m->res->snapshots++;
        if (m->o->on_snapshot)
            m->o->on_snapshot(o->old, o->name, m->o->user);
    }
    return r;
}

/* ---- the marker ---------------------------------------------------------- */

/* .hardsnap/migrating: "FORMAT\nROOT\n". 1 and its fields, 0 if absent. */
static int read_marker(int destfd, char *format, size_t fsize, char *root, size_t rsize)
{
    char path[] = HS_STORE_DIR "/" MARKER, buf[512];
    int fd = openat(destfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    char *nl2 = nl ? strchr(nl + 1, '\n') : NULL;
    if (!nl2)
        return -EBADMSG;
    *nl = *nl2 = '\0';
    snprintf(format, fsize, "%s", buf);
    snprintf(root, rsize, "%s", nl + 1);
    return 1;
}

static int write_marker(struct hs_store *s, enum hs_migrate_from from, const char *root,
                        struct hs_err *e)
{
    int fd =
        openat(s->hsfd, MARKER ".new", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\n%s\n", format_word(from), root);
    bool ok = fd >= 0 && write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || renameat(s->hsfd, MARKER ".new", s->hsfd, MARKER) < 0 || fsync(s->hsfd) < 0)
        return hs_store_err_at(e, errno ? errno : EIO, s->dest, HS_STORE_DIR "/" MARKER,
                               "cannot write", NULL);
    return 0;
}

/* ---- the whole migration ------------------------------------------------- */

/* Everything that can refuse, before anything is written: 1 = go on,
 * 0 = nothing to do (already a store, no old snapshot), <0. */
static int precheck(const struct hs_migrate_opts *o, struct hs_migrate_result *res,
                    struct hs_err *e)
{
    int fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        int r = hs_err_path(e, err, "cannot open", o->dir);
        if (err == ENOENT || err == ENOTDIR)
            hs_err_kind(e, HS_USAGE);
        return r;
    }
    char format[512], root[512];
    struct stat st;
    bool store = fstatat(fd, HS_STORE_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0;
    int k = store ? read_marker(fd, format, sizeof format, root, sizeof root) : 0;
    struct plan p = {0};
    int r = 0;
    if (k < 0)
        r = hs_store_err_at(e, -k, o->dir, HS_STORE_DIR "/" MARKER, "cannot read", NULL);
    else if (k == 1 && strcmp(format, format_word(o->from)) != 0)
        r = hs_err_usage(e, 0, "a migration from another format was started in", o->dir);
    if (r == 0)
        r = scan(fd, o->dir, o->from, k == 1 ? root : NULL, k == 1, &p, e);
    if (r == 0 && store && k == 0) {
        /* a store in use: its snapshots and runs are not ours to reorder */
        res->already = p.n == 0;
        if (p.n)
            r = hs_err_usage(e, 0, "already a hardsnap store: refusing to migrate into it", o->dir);
    } else if (r == 0 && k == 0 && p.n == 0) {
        char what[128];
        snprintf(what, sizeof what, "not an %s store (no %s in it)", format_word(o->from),
                 o->from == HS_FROM_RSNAPSHOT ? "INTERVAL.N directories"
                                              : "YYYY-MM-DD-HHMMSS directories");
        r = hs_err_usage(e, 0, what, o->dir);
    }
    plan_free(&p);
    close(fd);
    return r < 0 ? r : !res->already;
}

static int run(struct migrator *m)
{
    const struct hs_migrate_opts *o = m->o;
    struct hs_store *s = &m->s;
    struct plan p = {0};
    char format[512], root[512];
    int k = read_marker(s->destfd, format, sizeof format, root, sizeof root);
    int r = k < 0
                ? hs_store_err_at(m->err, -k, o->dir, HS_STORE_DIR "/" MARKER, "cannot read", NULL)
                : scan(s->destfd, o->dir, o->from, k == 1 ? root : NULL, k == 1, &p, m->err);
    if (r == 0 && k == 0)
        r = write_marker(s, o->from, p.root, m->err);
    for (size_t i = 0; r == 0 && i < p.n; i++)
        r = migrate_one(m, &p.v[i], p.root, i > 0 ? p.v[i - 1].name : NULL);
    for (size_t i = 0; r == 0 && i < p.n_empty; i++)
        unlinkat(s->destfd, p.empty[i], AT_REMOVEDIR);
    if (r == 0)
        r = hs_store_update_latest(s, m->err);
    if (r == 0 && o->from == HS_FROM_RSYNC_TIME_BACKUP)
        unlinkat(s->destfd, RTB_MARKER, 0); /* the script now refuses this store */
    if (r == 0 && (unlinkat(s->hsfd, MARKER, 0) < 0 || fsync(s->hsfd) < 0))
        r = hs_store_err_at(m->err, errno, o->dir, HS_STORE_DIR "/" MARKER, "cannot remove", NULL);
    snprintf(m->res->root, sizeof m->res->root, "%.255s", p.root);
    plan_free(&p);
    return r;
}

enum hs_status hs_migrate(const struct hs_migrate_opts *o, struct hs_migrate_result *res,
                          struct hs_err *err)
{
    double t0 = hs_monotonic_seconds();
    memset(res, 0, sizeof *res);
    if (o->from != HS_FROM_RSNAPSHOT && o->from != HS_FROM_RSYNC_TIME_BACKUP)
        return hs_err_usage(err, 0, "unknown format to import from", o->dir), HS_USAGE;
    int r = precheck(o, res, err);
    if (r <= 0)
        return r == 0 ? HS_OK : err->kind == HS_USAGE ? HS_USAGE : HS_FAILED;
    struct migrator m = {.o = o, .res = res, .err = err, .root_user = geteuid() == 0};
    if (hs_copier_init(&m.copier, HS_COPY_AUTO) < 0) {
        hs_copier_free(&m.copier);
        hs_err_setf(err, ENOMEM, "import --from");
        return HS_FAILED;
    }
    r = hs_store_open(&m.s, o->dir, HS_STORE_CREATE | HS_STORE_LOCK | HS_STORE_ADOPT, err);
    if (r == 0) {
        hs_err_move(&res->warn, &m.s.warn);
        r = run(&m);
    }
    enum hs_status st = r == 0                   ? (res->warn.msg ? HS_WARN : HS_OK)
                        : err->kind == HS_LOCKED ? HS_LOCKED
                        : err->kind == HS_USAGE  ? HS_USAGE
                                                 : HS_FAILED;
    hs_store_close(&m.s);
    hs_copier_free(&m.copier);
    hs_inomap_free(&m.seen);
    hs_inomap_free(&m.names);
    hs_manifest_reader_free(m.prev);
    hs_xattrs_free(&m.xa);
    hs_buf_free(&m.target);
    res->seconds = hs_monotonic_seconds() - t0;
    return st;
}
