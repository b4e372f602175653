/*
 * Exporting a snapshot, or a path inside it, as an archive (libarchive).
 *
 * The snapshot is read with the walker (fd-relative, O_NOFOLLOW, any depth),
 * and every entry is streamed into the archive as it is met: memory follows
 * the walk's branch and the pending hard-link groups, not the tree. Member
 * names are the walk's paths: relative to the snapshot root, or starting
 * with PATH's last component, never with "/" or "./" (as borg export-tar).
 *
 * Hard links: names that share a snapshot inode go through libarchive's
 * link resolver with the format's strategy, keyed on the snapshot's
 * (dev, ino): the first name carries the data, later ones are hard-link
 * entries. The resolver forgets a group once it has seen nlink names, so
 * nlink must count the names inside this snapshot, not st_nlink (which also
 * counts the other snapshots sharing the inode): the trusted manifest's
 * record gives the source's link count, which bounds them.
 *
 * Output: ARCHIVE.part in ARCHIVE's directory (a shorter name of its own
 * where ARCHIVE is too long for the suffix; created exclusively, flock()ed
 * so a stale one from a killed run can be told from one being written),
 * fsync'ed and renamed to ARCHIVE without replacing anything. Not O_TMPFILE
 * and linkat: not every filesystem has it, and a nameless file could not
 * show a second export to the same name that one is under way. On any failure
 * the writer is cut off from its output before it is freed, so no
 * end-of-archive marker makes a truncated stream look complete, and the
 * .part is removed.
 */
#include "hardsnap.h"

#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "manifest.h"
#include "report.h"
#include "snapshot.h"
#include "storefile.h"
#include "walk.h"
#include "xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* Reads of file data, and blocks handed to the output. */
#define IO_SIZE (1024 * 1024)
/* Owner and group names remembered (direct-mapped by id). */
#define NAME_CACHE 32

/* Outcomes of an entry besides fatal errors (<0). */
enum { DONE = 0, SKIPPED = 1 };

enum {
    NOTICE_SOCKET = 1u << 0,
    NOTICE_ZIP_LINKS = 1u << 1,
    NOTICE_STALE_PART = 1u << 2,
    NOTICE_JOLIET = 1u << 3,
};

const char hs_export_suffixes[] = ".tar, .tar.gz, .tgz, .tar.xz, .tar.zst, .zip, .iso";

enum filter { F_NONE, F_GZIP, F_XZ, F_ZSTD };
enum kind { K_PAX, K_ZIP, K_ISO };

struct format {
    const char *suffix;
    enum kind kind;
    enum filter filter;
};

static const struct format formats[] = {
    {".tar", K_PAX, F_NONE},  {".tar.gz", K_PAX, F_GZIP},  {".tgz", K_PAX, F_GZIP},
    {".tar.xz", K_PAX, F_XZ}, {".tar.zst", K_PAX, F_ZSTD}, {".zip", K_ZIP, F_NONE},
    {".iso", K_ISO, F_NONE},
};

static const struct format stream_format = {"-", K_PAX, F_NONE};

/* A set of names (chained hash table). */
struct name_node {
    struct name_node *next;
    uint64_t hash;
    char name[];
};

struct name_set {
    struct name_node **buckets;
    size_t nbuckets, count;
};

struct name_slot {
    bool valid;
    uint32_t id;
    char *name; /* NULL: the id has no name here */
};

struct exporter {
    const struct hs_export_opts *o;
    struct hs_backup_stats *st;
    struct hs_err *err;
    struct hs_report rep;
    const struct format *fmt;

    /* the snapshot side */
    struct hs_snapsrc src;
    bool pending_dir; /* a directory ENTRY not yet ENTERed */
    struct stat pending_st;

    /* the archive side */
    int outdir;      /* ARCHIVE's directory; -1 for stdout */
    int outfd;       /* ARCHIVE.part or stdout */
    char *part_name; /* in outdir */
    const char *final_name;
    bool part_made;
    bool cut_off;  /* failed: the writer's output goes nowhere from now on */
    int write_err; /* errno of the failed write */
    struct archive *a;
    struct archive_entry *entry;
    struct archive_entry_linkresolver *links; /* NULL: the format has no hard links */

    char *buf;   /* IO_SIZE, file data */
    char *zeros; /* IO_SIZE of zeros, for holes */
    struct hs_xattrs xa;
    struct hs_buf lnk;  /* a symlink's target */
    struct hs_buf disp; /* a path for a message */
    struct hs_buf segs; /* a sparse file's data segments (struct seg) */
    struct name_slot users[NAME_CACHE], groups[NAME_CACHE];
    locale_t utf8, plain;      /* LC_CTYPE for libarchive's name handling */
    struct name_set relocated; /* ISO: names of the directories Rock Ridge relocates */
};

/* A data segment of a sparse file. */
struct seg {
    off_t off, len;
};

/* ---- messages ------------------------------------------------------------- */

static const char *spath(struct exporter *x, const char *path)
{
    hs_buf_truncate(&x->disp, 0);
    hs_buf_puts(&x->disp, x->src.disp);
    if (*path) {
        if (x->disp.len && x->disp.data[x->disp.len - 1] != '/')
            hs_buf_putc(&x->disp, '/');
        hs_buf_puts(&x->disp, path);
    }
    return x->disp.data ? x->disp.data : path;
}

/* A per-entry problem: counted, reported, and the export goes on. */
static int warn(struct exporter *x, int errnum, const char *what, const char *path)
{
    hs_report_warn(&x->rep, errnum, what, spath(x, path), path);
    return SKIPPED;
}

/* The same with libarchive's reason: "what: path: reason". */
static int warn_archive(struct exporter *x, const char *what, const char *path)
{
    const char *why = archive_error_string(x->a);
    const char *shown = spath(x, path);
    char *esc = hs_escape(shown, strlen(shown));
    char *msg = NULL;
    if (asprintf(&msg, "%s: %s: %s", what, esc ? esc : "?", why ? why : "unknown error") < 0)
        msg = NULL;
    x->st->warnings++;
    hs_report_event(&x->rep, HS_EV_WARNING, path, msg ? msg : what);
    free(msg);
    free(esc);
    return SKIPPED;
}

static bool interrupted(const struct exporter *x)
{
    return x->o->interrupt && *x->o->interrupt;
}

static int fail_interrupted(struct exporter *x)
{
    return hs_err_path(x->err, EINTR, "export interrupted, archive not written", x->o->archive);
}

/* The writer failed: our own write's errno if that was it, else its reason. */
static int fail_archive(struct exporter *x)
{
    if (x->write_err == EINTR && interrupted(x))
        return fail_interrupted(x);
    if (x->write_err)
        return hs_err_path(x->err, x->write_err, "cannot write the archive", x->o->archive);
    const char *why = archive_error_string(x->a);
    int code = archive_errno(x->a) > 0 ? archive_errno(x->a) : EIO;
    char *esc = hs_escape(x->o->archive, strlen(x->o->archive));
    hs_err_setf(x->err, 0, "cannot write the archive: %s: %s", esc ? esc : "?",
                why ? why : "unknown error");
    x->err->code = code;
    free(esc);
    return -code;
}

/* ---- owner names ------------------------------------------------------------ */

/* The name of a uid or gid into s->name (NULL if it has none), with a
 * buffer grown while the entry does not fit (a group with many members). */
static void lookup_name(struct name_slot *s, bool group)
{
    for (size_t size = 16384; size <= 16u << 20; size *= 4) {
        char *buf = malloc(size);
        if (!buf)
            return;
        int k;
        if (group) {
            struct group g, *res = NULL;
            k = getgrgid_r(s->id, &g, buf, size, &res);
            if (k == 0 && res)
                s->name = strdup(res->gr_name);
        } else {
            struct passwd p, *res = NULL;
            k = getpwuid_r(s->id, &p, buf, size, &res);
            if (k == 0 && res)
                s->name = strdup(res->pw_name);
        }
        free(buf);
        if (k != ERANGE)
            return;
    }
}

/* The name of a uid or gid, or NULL; looked up once per id while it stays in
 * the small cache (a tree has few owners, and NSS lookups can be slow). */
static const char *owner_name(struct name_slot *cache, uint32_t id, bool group)
{
    struct name_slot *s = &cache[id % NAME_CACHE];
    if (s->valid && s->id == id)
        return s->name;
    free(s->name);
    *s = (struct name_slot){.valid = true, .id = id};
    lookup_name(s, group);
    return s->name;
}

static void names_free(struct name_slot *cache)
{
    for (size_t i = 0; i < NAME_CACHE; i++)
        free(cache[i].name);
}

/* ---- extended attributes and ACLs -------------------------------------------- */

/* Linux's system.posix_acl_* value: a version word, then (tag, perm, id). */
#define POSIX_ACL_VERSION 2

static int acl_tag(unsigned tag)
{
    switch (tag) {
    case 0x01:
        return ARCHIVE_ENTRY_ACL_USER_OBJ;
    case 0x02:
        return ARCHIVE_ENTRY_ACL_USER;
    case 0x04:
        return ARCHIVE_ENTRY_ACL_GROUP_OBJ;
    case 0x08:
        return ARCHIVE_ENTRY_ACL_GROUP;
    case 0x10:
        return ARCHIVE_ENTRY_ACL_MASK;
    case 0x20:
        return ARCHIVE_ENTRY_ACL_OTHER;
    default:
        return 0;
    }
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A POSIX ACL as libarchive ACL entries too (SCHILY.acl.*): extractors
 * restore ACLs from those, not from system.* xattrs. Added after the mode, as
 * libarchive's own disk reader does, so the group entry keeps its bits. */
static bool add_acl(struct archive_entry *e, const unsigned char *v, size_t len, int type)
{
    if (len < 4 || (len - 4) % 8 != 0 || le32(v) != POSIX_ACL_VERSION)
        return false;
    for (size_t i = 4; i < len; i += 8) {
        int tag = acl_tag((unsigned)(v[i] | v[i + 1] << 8));
        int perm = (v[i + 2] | v[i + 3] << 8) & 7;
        int id = (int)le32(v + i + 4);
        if (!tag)
            return false;
        if (tag != ARCHIVE_ENTRY_ACL_USER && tag != ARCHIVE_ENTRY_ACL_GROUP)
            id = -1;
        if (archive_entry_acl_add_entry(e, type, perm, tag, id, NULL) != ARCHIVE_OK)
            return false;
    }
    return true;
}

/* The object's xattrs, all namespaces, into the entry under their raw names
 * (pax: LIBARCHIVE.xattr.* and SCHILY.xattr.*), ACLs also as ACL entries. */
static void add_xattrs(struct exporter *x, struct hs_xobj obj, const char *path)
{
    int k = hs_xattr_read(&x->xa, obj, true);
    if (k < 0) {
        warn(x, -k, "cannot read extended attributes of", path);
        return;
    }
    const char *name = x->xa.names.data;
    const char *val = x->xa.values.data;
    for (size_t i = 0; i < x->xa.count; i++) {
        uint32_t len;
        memcpy(&len, val, 4);
        archive_entry_xattr_add_entry(x->entry, name, val + 4, len);
        const unsigned char *v = (const unsigned char *)val + 4;
        bool ok = true;
        if (!strcmp(name, "system.posix_acl_access"))
            ok = add_acl(x->entry, v, len, ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
        else if (!strcmp(name, "system.posix_acl_default"))
            ok = add_acl(x->entry, v, len, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
        if (!ok)
            warn(x, EINVAL, "ACL not understood (kept as an extended attribute only)", path);
        name += strlen(name) + 1;
        val += 4 + len;
    }
}

/* ---- entries ------------------------------------------------------------------ */

/* The entry's fields from the snapshot's stat; nlink as hs_snapsrc_names says. */
static void fill_entry(struct exporter *x, const char *path, const struct stat *st, unsigned nlink)
{
    struct archive_entry *e = x->entry;
    archive_entry_clear(e);
    archive_entry_copy_pathname(e, path);
    archive_entry_set_mode(e, st->st_mode);
    archive_entry_set_uid(e, st->st_uid);
    archive_entry_set_gid(e, st->st_gid);
    archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    archive_entry_set_atime(e, st->st_atim.tv_sec, st->st_atim.tv_nsec);
    archive_entry_set_dev(e, st->st_dev);
    archive_entry_set_ino64(e, (la_int64_t)st->st_ino);
    archive_entry_set_nlink(e, nlink);
    if (S_ISREG(st->st_mode))
        archive_entry_set_size(e, st->st_size);
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        archive_entry_set_rdev(e, st->st_rdev);
    if (x->fmt->kind == K_PAX) {
        /* names for readers on other systems; extract with --numeric-owner to ignore them */
        const char *u = owner_name(x->users, st->st_uid, false);
        const char *g = owner_name(x->groups, st->st_gid, true);
        if (u)
            archive_entry_copy_uname(e, u);
        if (g)
            archive_entry_copy_gname(e, g);
    }
}

/* Turns the entry into a hard-link entry if its inode was archived under an
 * earlier name: true then (no data follows). */
static bool linkify(struct exporter *x, const struct stat *st)
{
    if (!x->links || archive_entry_nlink(x->entry) < 2)
        return false;
    /* ISO 9660 shares extents only between files */
    if (x->fmt->kind == K_ISO && !S_ISREG(st->st_mode))
        return false;
    struct archive_entry *e = x->entry, *spare = NULL;
    archive_entry_linkify(x->links, &e, &spare);
    /* the tar strategy hands back the same entry and keeps nothing for later */
    return archive_entry_hardlink(x->entry) != NULL;
}

/* How many continuation bytes follow the UTF-8 lead byte c; -1 if c cannot lead. */
static int utf8_tail(unsigned c)
{
    if (c < 0x80)
        return 0;
    if (c >= 0xc2 && c < 0xe0)
        return 1;
    if (c >= 0xe0 && c < 0xf0)
        return 2;
    if (c >= 0xf0 && c < 0xf5)
        return 3;
    return -1;
}

/* Whether s is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_tail(*p);
        if (n < 0)
            return false;
        uint32_t cp = *p++ & (n ? 0x3fu >> n : 0x7fu);
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
    }
    return true;
}

/* Writes the entry's header: DONE, SKIPPED (the format refused it), or <0. */
static int put_header(struct exporter *x, const char *path)
{
    if (interrupted(x))
        return fail_interrupted(x);
    /* the zip writer flags a name UTF-8 when the locale is: only if it is */
    if (x->fmt->kind == K_ZIP && x->utf8 && x->plain)
        uselocale(valid_utf8(path) ? x->utf8 : x->plain);
    int r = archive_write_header(x->a, x->entry);
    if (x->write_err)
        return fail_archive(x);
    if (r == ARCHIVE_OK)
        return DONE;
    if (r == ARCHIVE_WARN && x->fmt->kind == K_ISO && !valid_utf8(path)) {
        /* the Rock Ridge name keeps the bytes; Joliet has only UTF-16 */
        hs_report_notice_once(&x->rep, NOTICE_JOLIET,
                              "names that are not UTF-8 have no Joliet name in the image "
                              "(their Rock Ridge names are kept)");
        return DONE;
    }
    if (r == ARCHIVE_WARN) {
        warn_archive(x, "archived incompletely", path);
        return DONE;
    }
    if (r == ARCHIVE_FAILED)
        return warn_archive(x, "not archived", path);
    return fail_archive(x);
}

static void archived(struct exporter *x, const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        x->st->dirs++;
    else if (S_ISREG(st->st_mode))
        x->st->files++;
    else if (S_ISLNK(st->st_mode))
        x->st->symlinks++;
    else
        x->st->specials++;
    if (x->o->verbose_events)
        hs_report_event(&x->rep, HS_EV_COPY, path, NULL);
}

/* ---- file data ------------------------------------------------------------------ */

static int put_data(struct exporter *x, const void *p, size_t n)
{
    if (interrupted(x))
        return fail_interrupted(x);
    la_ssize_t k = archive_write_data(x->a, p, n);
    if (k < 0 || x->write_err)
        return fail_archive(x);
    return 0;
}

/* n bytes of zeros (holes; the pax writer skips what the sparse map calls a hole). */
static int put_zeros(struct exporter *x, off_t n)
{
    while (n > 0) {
        size_t c = n > IO_SIZE ? IO_SIZE : (size_t)n;
        int k = put_data(x, x->zeros, c);
        if (k < 0)
            return k;
        n -= (off_t)c;
    }
    return 0;
}

/* The data segments of a file with holes, into x->segs; false when it has
 * none worth mapping (or the filesystem cannot say). */
static bool map_segments(struct exporter *x, int fd, const struct stat *st)
{
    hs_buf_truncate(&x->segs, 0);
    if (st->st_size == 0 || (off_t)st->st_blocks * 512 >= st->st_size)
        return false;
    off_t off = 0;
    while (off < st->st_size) {
        off_t data = lseek(fd, off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* a hole up to the end */
        if (data < 0)
            return false;
        if (data >= st->st_size)
            break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            return false;
        if (hole > st->st_size)
            hole = st->st_size;
        struct seg s = {data, hole - data};
        if (hs_buf_append(&x->segs, &s, sizeof s) < 0)
            return false;
        off = hole;
    }
    return true;
}

/* Copies len bytes at off of fd into the archive. A file that is shorter
 * than its stat said, or unreadable, is completed with zeros (the header
 * already promised the size): *bad says so. */
static int copy_range(struct exporter *x, int fd, off_t off, off_t len, int *bad)
{
    while (len > 0) {
        size_t want = len > IO_SIZE ? IO_SIZE : (size_t)len;
        ssize_t n = *bad ? 0 : pread(fd, x->buf, want, off);
        if (n < 0 && errno == EINTR && !interrupted(x))
            continue;
        if (n <= 0) {
            if (!*bad)
                *bad = n < 0 ? errno : ESTALE;
            return put_zeros(x, len);
        }
        int k = put_data(x, x->buf, (size_t)n);
        if (k < 0)
            return k;
        x->st->bytes_copied += (uint64_t)n;
        off += n;
        len -= n;
    }
    return 0;
}

/* The file's data: the mapped segments with zeros between, or all of it. */
static int write_data(struct exporter *x, int fd, const struct stat *st, bool mapped,
                      const char *path)
{
    int bad = 0, k = 0;
    if (!mapped) {
        k = copy_range(x, fd, 0, st->st_size, &bad);
    } else {
        const struct seg *s = (const struct seg *)x->segs.data;
        size_t n = x->segs.len / sizeof *s;
        off_t at = 0;
        for (size_t i = 0; k == 0 && i < n; i++) {
            k = put_zeros(x, s[i].off - at);
            if (k == 0)
                k = copy_range(x, fd, s[i].off, s[i].len, &bad);
            at = s[i].off + s[i].len;
        }
        if (k == 0)
            k = put_zeros(x, st->st_size - at);
    }
    if (k == 0 && bad == ESTALE)
        warn(x, 0, "file shrank while exported (completed with zeros in the archive)", path);
    else if (k == 0 && bad)
        warn(x, bad, "cannot read (completed with zeros in the archive)", path);
    return k;
}

/* ---- one entry of each kind --------------------------------------------------------- */

/* The snapshot's regular file name in dirfd, opened and checked to be what
 * the walk saw; -1 (warned) if not. */
static int open_file(struct exporter *x, int dirfd, const char *name, const char *path,
                     const struct stat *seen, struct stat *st)
{
    int fd = hs_open_file_read(dirfd, name);
    if (fd < 0) {
        warn(x, errno, "cannot open", path);
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, seen)) {
        warn(x, ESTALE, "changed in the snapshot", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int export_file(struct exporter *x, int dirfd, const char *name, const char *path,
                       const struct stat *seen)
{
    struct stat st;
    /* opened first even when it may become a link: a group's first name must
     * be one that is really archived with its data */
    int fd = open_file(x, dirfd, name, path, seen, &st);
    if (fd < 0)
        return SKIPPED;
    unsigned names = (unsigned)hs_snapsrc_names(&x->src, path, strlen(path), &st);
    fill_entry(x, path, &st, names);
    int k;
    if (linkify(x, &st)) {
        k = put_header(x, path);
        if (k == DONE)
            x->st->hardlinked++;
    } else {
        if (x->fmt->kind == K_PAX)
            add_xattrs(x, (struct hs_xobj){.fd = fd}, path);
        bool mapped = map_segments(x, fd, &st);
        if (mapped && x->fmt->kind == K_PAX) {
            const struct seg *s = (const struct seg *)x->segs.data;
            size_t n = x->segs.len / sizeof *s;
            for (size_t i = 0; i < n; i++)
                archive_entry_sparse_add_entry(x->entry, s[i].off, s[i].len);
            if (n == 0) /* all hole: one empty segment at the end keeps it sparse */
                archive_entry_sparse_add_entry(x->entry, st.st_size, 0);
        }
        k = put_header(x, path);
        if (k == DONE) {
            x->st->bytes_total += (uint64_t)st.st_size;
            k = write_data(x, fd, &st, mapped, path);
        }
        if (k == DONE && x->fmt->kind == K_ZIP && names > 1)
            hs_report_notice_once(&x->rep, NOTICE_ZIP_LINKS,
                                  "zip has no hard links: each name of a hard-linked file "
                                  "is stored with its own copy of the data");
    }
    close(fd);
    if (k == DONE)
        archived(x, path, &st);
    return k;
}

/* The snapshot symlink's target into x->lnk. */
static int read_link(struct exporter *x, int dirfd, const char *name, const char *path,
                     const struct stat *st)
{
    size_t size = (size_t)st->st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(&x->lnk, 0);
        if (hs_buf_reserve(&x->lnk, size) < 0)
            return hs_err_setf(x->err, ENOMEM, "symlink");
        ssize_t n = readlinkat(dirfd, name, x->lnk.data, size);
        if (n < 0)
            return warn(x, errno, "cannot read symlink", path);
        if ((size_t)n < size) {
            x->lnk.len = (size_t)n;
            x->lnk.data[n] = '\0';
            return DONE;
        }
    }
    return warn(x, ESTALE, "changed in the snapshot", path);
}

/* A symlink, fifo or device node: a header only. */
static int export_other(struct exporter *x, int dirfd, const char *name, const char *path,
                        const struct stat *st)
{
    if (S_ISSOCK(st->st_mode)) {
        /* a socket is only a name; tar and the others have no type for it */
        hs_report_notice_once(&x->rep, NOTICE_SOCKET, "sockets are not archived");
        return SKIPPED;
    }
    bool is_link = S_ISLNK(st->st_mode);
    int k = is_link ? read_link(x, dirfd, name, path, st) : DONE;
    if (k != DONE)
        return k;
    fill_entry(x, path, st, (unsigned)hs_snapsrc_names(&x->src, path, strlen(path), st));
    if (is_link)
        archive_entry_copy_symlink(x->entry, x->lnk.data);
    bool linked = linkify(x, st);
    /* a symlink's xattrs are not kept by the backup either */
    if (!linked && !is_link && x->fmt->kind == K_PAX)
        add_xattrs(x, (struct hs_xobj){.fd = -1, .dirfd = dirfd, .name = name}, path);
    k = put_header(x, path);
    if (k == DONE) {
        if (linked)
            x->st->hardlinked++;
        archived(x, path, st);
    }
    return k;
}

/* ---- ISO 9660 deep directories ------------------------------------------------------- */

/* 1 if name was added, 0 if it was there already, -ENOMEM. */
static int name_set_add(struct name_set *s, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = hs_hash_bytes(name, len);
    if (s->count >= s->nbuckets) {
        size_t nb = s->nbuckets ? s->nbuckets * 2 : 64;
        struct name_node **b = calloc(nb, sizeof *b);
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < s->nbuckets; i++) {
            for (struct name_node *n = s->buckets[i], *next; n; n = next) {
                next = n->next;
                n->next = b[n->hash & (nb - 1)];
                b[n->hash & (nb - 1)] = n;
            }
        }
        free(s->buckets);
        s->buckets = b;
        s->nbuckets = nb;
    }
    struct name_node **head = &s->buckets[h & (s->nbuckets - 1)];
    for (struct name_node *n = *head; n; n = n->next)
        if (n->hash == h && !strcmp(n->name, name))
            return 0;
    struct name_node *n = malloc(sizeof *n + len + 1);
    if (!n)
        return -ENOMEM;
    n->hash = h;
    memcpy(n->name, name, len + 1);
    n->next = *head;
    *head = n;
    s->count++;
    return 1;
}

static void name_set_free(struct name_set *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (struct name_node *n = s->buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    free(s->buckets);
}

/*
 * ISO 9660 allows 8 directory levels; Rock Ridge moves deeper directories
 * to /rr_moved, where libarchive 3.6's writer keys them by name alone and
 * crashes at close (a NULL parent, libarchive issue #1517) when two of them
 * share a name, when /rr_moved already holds that name, and when a moved
 * tree must be moved again (directories 14 levels deep). Those trees are
 * refused by a walk over the directories before anything is written.
 */
#define ISO_MOVED_LEVEL 8
#define ISO_DEEPEST     13

static int iso_refuse(struct exporter *x, const char *why, const char *path)
{
    char *esc = hs_escape(path, strlen(path));
    hs_err_setf(x->err, 0,
                "cannot write ISO 9660: %s: %s (libarchive's ISO writer fails on such "
                "trees, issue #1517; export as .tar or .zip)",
                why, esc ? esc : "?");
    free(esc);
    x->err->code = ENOTSUP;
    hs_err_kind(x->err, HS_USAGE); /* nothing written yet: another format will do */
    return -ENOTSUP;
}

static int iso_check_dir(struct exporter *x, const char *path)
{
    size_t levels = 1;
    for (const char *p = path; *p; p++)
        levels += *p == '/';
    const char *base = hs_path_base(path, strlen(path));
    bool in_rr_moved = levels == 2 && !strncmp(path, "rr_moved/", 9);
    if (levels > ISO_DEEPEST)
        return iso_refuse(x, "a directory more than 13 levels deep", path);
    if (levels != ISO_MOVED_LEVEL && !in_rr_moved)
        return 0;
    int k = name_set_add(&x->relocated, base);
    if (k < 0)
        return hs_err_setf(x->err, ENOMEM, "export");
    if (k == 0)
        return iso_refuse(x, "two directories of the same name at the 8th level or in rr_moved",
                          path);
    return 0;
}

/* A directory: its header, with its xattrs when it could be opened (fd). */
static int export_dir(struct exporter *x, int fd, const char *path, const struct stat *st)
{
    fill_entry(x, path, st, 1);
    if (fd >= 0 && x->fmt->kind == K_PAX)
        add_xattrs(x, (struct hs_xobj){.fd = fd}, path);
    int k = put_header(x, path);
    if (k == DONE)
        archived(x, path, st);
    return k;
}

static int export_nondir(struct exporter *x, int dirfd, const char *name, const char *path,
                         const struct stat *st)
{
    hs_report_entry(&x->rep);
    int k = S_ISREG(st->st_mode) ? export_file(x, dirfd, name, path, st)
                                 : export_other(x, dirfd, name, path, st);
    return k < 0 ? k : DONE;
}

/* ---- the walk --------------------------------------------------------------------- */

static int walk_item(struct exporter *x, const struct hs_walk_item *it)
{
    int k;
    switch (it->ev) {
    case HS_WALK_ENTRY:
        if (!S_ISDIR(it->st.st_mode))
            return export_nondir(x, it->fd, it->name, it->path, &it->st);
        /* its header when it is entered, with its own fd for the xattrs */
        x->pending_dir = true;
        x->pending_st = it->st;
        return DONE;
    case HS_WALK_ENTER:
        x->pending_dir = false;
        if (it->depth == 0 && x->src.whole)
            return DONE; /* the snapshot root is no member */
        hs_report_entry(&x->rep);
        k = export_dir(x, it->fd, it->path, &it->st);
        return k < 0 ? k : DONE;
    case HS_WALK_ERROR:
        if (it->depth == 0 && !it->name)
            return hs_err_path(x->err, it->err, it->what, spath(x, it->path));
        warn(x, it->err, it->what, it->path);
        if (x->pending_dir) {
            /* the directory is archived, empty, with what its stat says */
            x->pending_dir = false;
            k = export_dir(x, -1, it->path, &x->pending_st);
            return k < 0 ? k : DONE;
        }
        return DONE;
    case HS_WALK_LEAVE:
    case HS_WALK_END:
        break;
    }
    return DONE;
}

/* The ISO check's pass: directories only, as walk_item will meet them. */
static int check_item(struct exporter *x, const struct hs_walk_item *it)
{
    if (it->ev == HS_WALK_ERROR && it->depth == 0 && !it->name)
        return hs_err_path(x->err, it->err, it->what, spath(x, it->path));
    if (it->ev == HS_WALK_ENTRY && S_ISDIR(it->st.st_mode))
        return iso_check_dir(x, it->path);
    return 0; /* trouble elsewhere is for the writing pass to report */
}

/* Walks the snapshot's tree (its root, or the directory PATH), writing it,
 * or with check_only, only checking it for the ISO writer. */
static int walk_tree(struct exporter *x, bool check_only)
{
    struct hs_walk *w;
    int k = hs_snapsrc_walk(&x->src, &w, x->err);
    if (k < 0)
        return k;
    struct hs_walk_item it;
    while ((k = hs_walk_next(w, &it, x->err)) == 0 && it.ev != HS_WALK_END) {
        k = check_only ? check_item(x, &it) : walk_item(x, &it);
        if (k < 0)
            break;
    }
    hs_walk_free(w);
    return k < 0 ? k : 0;
}

/* ---- the writer -------------------------------------------------------------------- */

/*
 * The output callback. After a failure (write_err, or cut_off once the
 * export is abandoned) nothing more is written, and the writer is told all
 * went well: a libarchive writer that sees an output error stops where it is
 * and, when freed, leaks what it was in the middle of (zip's deflate
 * stream), while one that goes on can finish and free everything. The
 * failure is ours to report: write_err is checked after every call. The ISO
 * writer alone is told, since going on would copy its whole image out.
 */
static la_ssize_t out_write(struct archive *a, void *user, const void *buf, size_t n)
{
    struct exporter *x = user;
    if (x->cut_off || x->write_err) {
        if (x->fmt->kind != K_ISO)
            return (la_ssize_t)n;
        archive_set_error(a, ECANCELED, "export abandoned");
        return -1;
    }
    const char *p = buf;
    size_t left = n;
    while (left > 0) {
        ssize_t k = -1;
        if (interrupted(x))
            errno = EINTR;
        else
            k = write(x->outfd, p, left);
        if (k < 0 && errno == EINTR && !interrupted(x))
            continue;
        if (k < 0) {
            x->write_err = errno;
            archive_set_error(a, errno, "%s", strerror(errno));
            return x->fmt->kind == K_ISO ? -1 : (la_ssize_t)n;
        }
        p += k;
        left -= (size_t)k;
    }
    return (la_ssize_t)n;
}

static int add_filter(struct archive *a, enum filter f)
{
    switch (f) {
    case F_GZIP:
        return archive_write_add_filter_gzip(a);
    case F_XZ:
        return archive_write_add_filter_xz(a);
    case F_ZSTD:
        return archive_write_add_filter_zstd(a);
    case F_NONE:
        break;
    }
    return ARCHIVE_OK;
}

static int set_format(struct archive *a, enum kind k)
{
    switch (k) {
    case K_PAX:
        /* full pax, not "restricted": ns times and atimes on every entry.
         * Names are stored as the bytes they are (hdrcharset=BINARY), as in
         * the snapshot: no extractor converts them, whatever its locale, and
         * names that are not UTF-8 need no special case */
        if (archive_write_set_format_pax(a) != ARCHIVE_OK)
            return ARCHIVE_FATAL;
        return archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
    case K_ZIP:
        return archive_write_set_format_zip(a);
    case K_ISO:
        if (archive_write_set_format_iso9660(a) != ARCHIVE_OK)
            return ARCHIVE_FATAL;
        /* strict Rock Ridge keeps modes and owners (the default, "useful",
         * makes everything read-only); level 3 allows files of 4 GiB and
         * more; a snapshot may have more than 65536 directories */
        return archive_write_set_options(a, "iso9660:rockridge=strict,iso9660:joliet,"
                                            "iso9660:iso-level=3,iso9660:!limit-dirs");
    }
    return ARCHIVE_FATAL;
}

static int open_writer(struct exporter *x)
{
    x->a = archive_write_new();
    x->entry = archive_entry_new();
    x->buf = malloc(IO_SIZE);
    x->zeros = calloc(1, IO_SIZE);
    if (!x->a || !x->entry || !x->buf || !x->zeros)
        return hs_err_setf(x->err, ENOMEM, "export");
    if (set_format(x->a, x->fmt->kind) != ARCHIVE_OK ||
        add_filter(x->a, x->fmt->filter) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(x->a, IO_SIZE) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(x->a, 1) != ARCHIVE_OK)
        return fail_archive(x);
    if (x->fmt->kind != K_ZIP) {
        x->links = archive_entry_linkresolver_new();
        if (!x->links)
            return hs_err_setf(x->err, ENOMEM, "export");
        archive_entry_linkresolver_set_strategy(x->links, archive_format(x->a));
    }
    if (archive_write_open2(x->a, x, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
        return fail_archive(x);
    return 0;
}

/* Ends the archive and makes it ARCHIVE: synced, renamed without replacing. */
static int finish_output(struct exporter *x)
{
    if (archive_write_close(x->a) != ARCHIVE_OK || x->write_err)
        return fail_archive(x);
    if (x->outdir < 0)
        return 0;
    if (fsync(x->outfd) < 0)
        return hs_err_path(x->err, errno, "cannot write the archive", x->o->archive);
    if (renameat2(x->outdir, x->part_name, x->outdir, x->final_name, RENAME_NOREPLACE) < 0) {
        int err = errno;
        if (err == EEXIST)
            return hs_err_path(x->err, 0, "appeared during the export, not replaced",
                               x->o->archive);
        return hs_err_path(x->err, err, "cannot rename the archive into place", x->o->archive);
    }
    x->part_made = false;
    /* the archive is whole and its data on disk: only its name may not
     * survive a power loss yet, which is worth a warning, not its removal */
    if (fsync(x->outdir) < 0)
        hs_report_warn(&x->rep, errno, "archive written, but its directory could not be synced",
                       x->o->archive, x->o->archive);
    return 0;
}

/* ---- setup ------------------------------------------------------------------------- */

static const struct format *find_format(const char *name)
{
    if (!strcmp(name, "-"))
        return &stream_format;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        size_t s = strlen(formats[i].suffix);
        if (n > s && !strcmp(name + n - s, formats[i].suffix) && name[n - s - 1] != '/')
            return &formats[i];
    }
    return NULL;
}

#define PART_SUFFIX ".part"

/* ARCHIVE.part; where that is longer than the directory's filesystem takes,
 * as much of ARCHIVE as fits (cut between characters), "~" and a hash of
 * all of ARCHIVE: the same name for the same ARCHIVE, so a stale one is
 * still found and two exports to it still meet, and no archive's own name
 * (none ends in .part). */
static char *part_name_for(int dirfd, const char *archive)
{
    long max = fpathconf(dirfd, _PC_NAME_MAX);
    size_t len = strlen(archive), room = max > 0 ? (size_t)max : NAME_MAX;
    char *out = NULL;
    if (len + strlen(PART_SUFFIX) <= room)
        return asprintf(&out, "%s" PART_SUFFIX, archive) < 0 ? NULL : out;
    char tag[32];
    snprintf(tag, sizeof tag, "~%016llx" PART_SUFFIX,
             (unsigned long long)XXH3_64bits(archive, len));
    size_t keep = room > strlen(tag) ? room - strlen(tag) : 0;
    if (keep > len)
        keep = len;
    while (keep > 0 && ((unsigned char)archive[keep] & 0xc0) == 0x80)
        keep--;
    return asprintf(&out, "%.*s%s", (int)keep, archive, tag) < 0 ? NULL : out;
}

/* ARCHIVE's directory (opened) and name; checked: not there yet, not in the store. */
static int check_target(struct exporter *x)
{
    const char *arch = x->o->archive;
    size_t len = strlen(arch);
    x->final_name = hs_path_base(arch, len);
    char *dir = hs_path_dirname(arch, len);
    if (!dir)
        return hs_err_setf(x->err, ENOMEM, "export");
    /* never through another user's symlink: root's archive would land
     * wherever she pointed it */
    int parent;
    char last[NAME_MAX + 1];
    int fd = hs_open_dir_trusted(dir, &parent, last, x->err);
    free(dir);
    if (parent >= 0)
        close(parent);
    if (fd == -EPERM)
        return fd;
    if (fd < 0)
        return hs_err_usage(x->err, -fd, "cannot create the archive in its directory", arch);
    x->outdir = fd;
    struct stat st;
    if (fstatat(x->outdir, x->final_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return hs_err_usage(x->err, 0, "the archive already exists (not replaced)", arch);
    if (errno != ENOENT) /* ENAMETOOLONG: a name no file can have */
        return hs_err_usage(x->err, errno, "cannot use the archive name", arch);
    x->part_name = part_name_for(x->outdir, x->final_name);
    if (!x->part_name)
        return hs_err_setf(x->err, ENOMEM, "export");
    const char *harmed = hs_snapsrc_forbidden(&x->src, x->outdir);
    if (!harmed)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "the archive would be inside %s", harmed);
    return hs_err_usage(x->err, 0, what, arch);
}

/* Whether the .part in the way was left by a killed export (nobody holds its
 * lock): then it is removed. 0 = removed or gone, <0 = it stays (an error). */
static int clear_stale_part(struct exporter *x)
{
    /* not opened blocking: a fifo under the name would hang the export */
    int old = hs_open_regular(x->outdir, x->part_name, O_RDONLY, 0);
    if (old == -ENOENT)
        return 0; /* gone meanwhile */
    if (old < 0) {
        int k = old == -EBADMSG
                    ? hs_err_path_why(x->err, EEXIST, "cannot create the archive", x->part_name,
                                      "not a regular file (not removed)")
                    : hs_err_path(x->err, -old, "cannot create the archive", x->part_name);
        hs_err_kind(x->err, HS_USAGE);
        return k;
    }
    bool held = flock(old, LOCK_EX | LOCK_NB) < 0;
    if (!held)
        unlinkat(x->outdir, x->part_name, 0);
    close(old);
    if (held) {
        int k = hs_err_path(x->err, 0, "another export is writing", x->part_name);
        hs_err_kind(x->err, HS_USAGE);
        return k;
    }
    hs_report_notice_once(&x->rep, NOTICE_STALE_PART,
                          "removed the .part file an interrupted export had left");
    return 0;
}

/* Creates the .part, exclusively. One left by a killed export is replaced;
 * one being written by another, or anything but a file, is an error. */
static int create_part(struct exporter *x)
{
    for (int tries = 0; tries < 4; tries++) {
        /* 0600 whatever the umask: the archive holds every user's files,
         * readable by its maker alone, as the store is */
        x->outfd = openat(x->outdir, x->part_name,
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (x->outfd >= 0) {
            x->part_made = true;
            if (flock(x->outfd, LOCK_EX | LOCK_NB) < 0)
                return hs_err_path(x->err, errno, "cannot lock", x->part_name);
            return 0;
        }
        if (errno != EEXIST)
            return hs_err_path(x->err, errno, "cannot create the archive", x->o->archive);
        int k = clear_stale_part(x);
        if (k < 0)
            return k;
    }
    return hs_err_path(x->err, EEXIST, "cannot create the archive", x->part_name);
}

static int open_output(struct exporter *x)
{
    if (x->outdir < 0) {
        x->outfd = STDOUT_FILENO;
        return 0;
    }
    return create_part(x);
}

static int export_run(struct exporter *x)
{
    const struct hs_export_opts *o = x->o;
    if (!o->source || !*o->source)
        return hs_err_usage(x->err, 0, "no snapshot given", NULL);
    if (!o->archive || !*o->archive)
        return hs_err_usage(x->err, 0, "no archive given", NULL);
    x->fmt = find_format(o->archive);
    if (!x->fmt) {
        char what[160];
        snprintf(what, sizeof what, "unknown archive type (known: %s, or - for tar on stdout)",
                 hs_export_suffixes);
        return hs_err_usage(x->err, 0, what, o->archive);
    }
    int k = hs_snapsrc_open(&x->src, o->source, x->err);
    if (k < 0)
        return k;
    if (x->fmt == &stream_format) {
        if (isatty(STDOUT_FILENO))
            return hs_err_usage(x->err, 0, "not writing an archive to a terminal", "-");
    } else if ((k = check_target(x)) < 0) {
        return k;
    }
    hs_raise_nofile();
    hs_snapsrc_load_manifest(&x->src);
    bool tree = x->src.whole || S_ISDIR(x->src.leaf_st.st_mode);
    if (tree && x->fmt->kind == K_ISO && (k = walk_tree(x, true)) < 0)
        return k;
    k = open_output(x);
    if (k == 0)
        k = open_writer(x);
    if (k == 0)
        k = tree ? walk_tree(x, false)
                 : export_nondir(x, x->src.parent, x->src.leaf, x->src.leaf, &x->src.leaf_st);
    if (k == 0)
        k = finish_output(x);
    return k;
}

static void export_free(struct exporter *x, bool failed)
{
    if (x->a) {
        /* after a failure nothing more reaches the output: no end-of-archive
         * marker may make a truncated archive look complete */
        x->cut_off = failed;
        archive_write_free(x->a);
    }
    if (x->links)
        archive_entry_linkresolver_free(x->links);
    if (x->entry)
        archive_entry_free(x->entry);
    if (x->part_made)
        unlinkat(x->outdir, x->part_name, 0);
    if (x->outdir >= 0 && x->outfd >= 0)
        close(x->outfd);
    if (x->outdir >= 0)
        close(x->outdir);
    hs_snapsrc_close(&x->src);
    free(x->part_name);
    free(x->buf);
    free(x->zeros);
    hs_xattrs_free(&x->xa);
    hs_buf_free(&x->lnk);
    hs_buf_free(&x->disp);
    hs_buf_free(&x->segs);
    names_free(x->users);
    names_free(x->groups);
    name_set_free(&x->relocated);
}

enum hs_status hs_export(const struct hs_export_opts *o, struct hs_backup_stats *st,
                         struct hs_err *err)
{
    struct hs_backup_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    hs_err_clear(err);
    struct exporter x = {
        .o = o, .st = st, .err = err, .outdir = -1, .outfd = -1, .src = {.root = -1, .parent = -1}};
    hs_report_start(&x.rep, o->on_event, o->user, st);
    /* libarchive converts names for Joliet from the locale's charset, and
     * marks zip names UTF-8 by it: UTF-8 for this thread only (the
     * process's locale stays the caller's) */
    x.utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    x.plain = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    locale_t saved = x.utf8 ? uselocale(x.utf8) : (locale_t)0;
    int k = export_run(&x);
    export_free(&x, k < 0);
    if (x.utf8) {
        uselocale(saved);
        freelocale(x.utf8);
    }
    if (x.plain)
        freelocale(x.plain);
    st->seconds = hs_report_seconds(&x.rep);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "export failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return st->warnings ? HS_WARN : HS_OK;
}
