/*
 * Exporting a snapshot, or a path inside it, as an archive (libarchive).
 *
 * The snapshot is read with the walker (fd-relative, O_NOFOLLOW, any depth),
 * and every entry is streamed into the archive as it is met: memory follows
 * the walk's branch and the pending hard-link groups, not the tree. Member
 * names are the walk's paths: relative to the snapshot root, or starting
 * with PATH's last component, never with "/" or "./" (as borg export-tar);
 * the snapshot root itself is "./" (GNU tar's name for it), so that its
 * mode and times are not lost on extraction.
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
#include "bytes.h"
#include "export_iso.h"
#include "fsutil.h"
#include "manifest.h"
#include "report.h"
#include "snapshot.h"
#include "storefile.h"
#include "walk.h"
#include "xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* The member name of the snapshot's root directory (tar and zip add "/"). */
#define ROOT_NAME "."

/* Reads of file data, and blocks handed to the output. */
#define IO_SIZE (1024 * 1024)

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

struct exporter {
    const struct hs_export_opts *o;
    struct hs_export_stats *st;
    struct hs_err *err;
    struct hs_report rep;
    const struct format *fmt;

    /* the snapshot side */
    struct hs_snapsrc src;

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
    struct archive *names; /* pax: owner and group names (a disk reader's lookup) */

    char *buf;   /* IO_SIZE, file data */
    char *zeros; /* IO_SIZE of zeros, for holes */
    struct hs_xattrs xa;
    struct hs_buf lnk;       /* a symlink's target */
    struct hs_buf disp;      /* a path for a message */
    struct hs_buf segs;      /* a sparse file's data segments (struct seg) */
    locale_t utf8, plain;    /* LC_CTYPE for libarchive's name handling */
    struct hs_iso_guard iso; /* ISO: the trees its writer fails on (export_iso.h) */
    bool all_binary;         /* pax: every entry's names as bytes (see set_format) */
    bool xattr_both;         /* pax: xattrs as LIBARCHIVE.xattr.* too (see set_format) */
};

/* A data segment of a sparse file. */
struct seg {
    off_t off, len;
};

/* ---- messages ------------------------------------------------------------- */

static const char *spath(struct exporter *ex, const char *path)
{
    return hs_buf_join(&ex->disp, ex->src.disp, path);
}

/* A per-entry problem: counted, reported, and the export goes on. */
static int warn(struct exporter *ex, int errnum, const char *what, const char *path)
{
    hs_report_warn(&ex->rep, errnum, what, spath(ex, path), path);
    return HS_SKIPPED;
}

/* The same with libarchive's reason: "what: path: reason". */
static int warn_archive(struct exporter *ex, const char *what, const char *path)
{
    const char *why = archive_error_string(ex->a);
    const char *shown = spath(ex, path);
    char *esc = hs_escape(shown, strlen(shown));
    char *msg = NULL;
    if (asprintf(&msg, "%s: %s: %s", what, esc ? esc : "?", why ? why : "unknown error") < 0)
        msg = NULL;
    ex->st->warnings++;
    hs_report_event(&ex->rep, HS_EV_WARNING, path, msg ? msg : what);
    free(msg);
    free(esc);
    return HS_SKIPPED;
}

static bool interrupted(const struct exporter *ex)
{
    return ex->o->interrupt && *ex->o->interrupt;
}

static int fail_interrupted(struct exporter *ex)
{
    return hs_err_path(ex->err, EINTR, "export interrupted, archive not written", ex->o->archive);
}

/* The writer failed: our own write's errno if that was it, else its reason. */
static int fail_archive(struct exporter *ex)
{
    if (ex->write_err == EINTR && interrupted(ex))
        return fail_interrupted(ex);
    if (ex->write_err)
        return hs_err_path(ex->err, ex->write_err, "cannot write the archive", ex->o->archive);
    const char *why = archive_error_string(ex->a);
    int code = archive_errno(ex->a) > 0 ? archive_errno(ex->a) : EIO;
    char *esc = hs_escape(ex->o->archive, strlen(ex->o->archive));
    hs_err_setf(ex->err, 0, "cannot write the archive: %s: %s", esc ? esc : "?",
                why ? why : "unknown error");
    ex->err->code = code;
    free(esc);
    return -code;
}

/* ---- extended attributes and ACLs -------------------------------------------- */

/*
 * Read here, not by libarchive's archive_read_disk_entry_from_file(), which
 * was tried (libarchive 3.6.2) and writes another archive: it leaves out the
 * system.posix_acl_* xattrs, from which hardsnap import restores ACLs; it
 * gives the ACL entries owner names, which extractors then prefer to the ids;
 * it reads a directory's default ACL by the member's name, relative to the
 * working directory, which in an fd-relative walk is another file; and it
 * lists xattrs in the filesystem's order, where ours are sorted (one archive
 * for one snapshot, whatever the filesystem). It would not be faster
 * either: about the same system calls per attribute. Holes: map_segments.
 */

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

/* A POSIX ACL as libarchive ACL entries too (SCHILY.acl.*): extractors
 * restore ACLs from those, not from system.* xattrs. Added after the mode, as
 * libarchive's own disk reader does, so the group entry keeps its bits. */
static bool add_acl(struct archive_entry *e, const unsigned char *v, size_t len, int type)
{
    if (len < 4 || (len - 4) % 8 != 0 || hs_le32_load(v) != POSIX_ACL_VERSION)
        return false;
    for (size_t i = 4; i < len; i += 8) {
        int tag = acl_tag(hs_le16_load(v + i));
        int perm = hs_le16_load(v + i + 2) & 7;
        int id = (int)hs_le32_load(v + i + 4);
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
static void add_xattrs(struct exporter *ex, struct hs_xobj obj, const char *path)
{
    int k = hs_xattr_read(&ex->xa, obj, true);
    if (k < 0) {
        warn(ex, -k, "cannot read extended attributes of", path);
        return;
    }
    const char *name = ex->xa.names.data;
    const char *val = ex->xa.values.data;
    for (size_t i = 0; i < ex->xa.count; i++) {
        uint32_t len;
        memcpy(&len, val, 4);
        archive_entry_xattr_add_entry(ex->entry, name, val + 4, len);
        const unsigned char *v = (const unsigned char *)val + 4;
        bool ok = true;
        if (!strcmp(name, "system.posix_acl_access"))
            ok = add_acl(ex->entry, v, len, ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
        else if (!strcmp(name, "system.posix_acl_default"))
            ok = add_acl(ex->entry, v, len, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
        if (!ok)
            warn(ex, EINVAL, "ACL not understood (kept as an extended attribute only)", path);
        name += strlen(name) + 1;
        val += 4 + len;
    }
}

/* ---- entries ------------------------------------------------------------------ */

/* The entry's fields from the snapshot's stat; nlink as hs_snapsrc_names says. */
static void fill_entry(struct exporter *ex, const char *path, const struct stat *st, unsigned nlink)
{
    struct archive_entry *e = ex->entry;
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
    if (ex->fmt->kind == K_PAX) {
        /* names for readers on other systems; extract with --numeric-owner to ignore them */
        const char *u = archive_read_disk_uname(ex->names, st->st_uid);
        const char *g = archive_read_disk_gname(ex->names, st->st_gid);
        if (u)
            archive_entry_copy_uname(e, u);
        if (g)
            archive_entry_copy_gname(e, g);
    }
}

/* Turns the entry into a hard-link entry if its inode was archived under an
 * earlier name: true then (no data follows). */
static bool linkify(struct exporter *ex, const struct stat *st)
{
    if (!ex->links || archive_entry_nlink(ex->entry) < 2)
        return false;
    /* ISO 9660 shares extents only between files */
    if (ex->fmt->kind == K_ISO && !S_ISREG(st->st_mode))
        return false;
    struct archive_entry *e = ex->entry, *spare = NULL;
    archive_entry_linkify(ex->links, &e, &spare);
    /* the tar strategy hands back the same entry and keeps nothing for later */
    return archive_entry_hardlink(ex->entry) != NULL;
}

static bool utf8_or_none(const char *s)
{
    return !s || hs_utf8_valid(s, strlen(s));
}

/* Whether every name the entry carries is UTF-8: its path, link target and
 * owner names, what the pax writer converts. */
static bool names_utf8(struct archive_entry *e)
{
    return utf8_or_none(archive_entry_pathname(e)) && utf8_or_none(archive_entry_hardlink(e)) &&
           utf8_or_none(archive_entry_symlink(e)) && utf8_or_none(archive_entry_uname(e)) &&
           utf8_or_none(archive_entry_gname(e));
}

/* Writes the entry's header: HS_DONE, HS_SKIPPED (the format refused it), or <0. */
static int put_header(struct exporter *ex, const char *path)
{
    if (interrupted(ex))
        return fail_interrupted(ex);
    /* the zip writer flags a name UTF-8 when the locale is: only if it is */
    if (ex->fmt->kind == K_ZIP && ex->utf8 && ex->plain)
        uselocale(hs_utf8_valid(path, strlen(path)) ? ex->utf8 : ex->plain);
    int r = archive_write_header(ex->a, ex->entry);
    if (ex->write_err)
        return fail_archive(ex);
    if (r == ARCHIVE_OK)
        return HS_DONE;
    if (r == ARCHIVE_WARN && ex->fmt->kind == K_ISO && !hs_utf8_valid(path, strlen(path))) {
        /* the Rock Ridge name keeps the bytes; Joliet has only UTF-16 */
        hs_report_notice_once(&ex->rep, NOTICE_JOLIET,
                              "names that are not UTF-8 have no Joliet name in the image "
                              "(their Rock Ridge names are kept)");
        return HS_DONE;
    }
    if (r == ARCHIVE_WARN && ex->fmt->kind == K_PAX && !names_utf8(ex->entry))
        return HS_DONE; /* "cannot translate": its names went as bytes (hdrcharset=BINARY) */
    if (r == ARCHIVE_WARN) {
        warn_archive(ex, "archived incompletely", path);
        return HS_DONE;
    }
    if (r == ARCHIVE_FAILED)
        return warn_archive(ex, "not archived", path);
    return fail_archive(ex);
}

static void archived(struct exporter *ex, const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        ex->st->dirs++;
    else if (S_ISREG(st->st_mode))
        ex->st->files++;
    else if (S_ISLNK(st->st_mode))
        ex->st->symlinks++;
    else
        ex->st->specials++;
    if (ex->o->verbose_events)
        hs_report_event(&ex->rep, HS_EV_COPY, path, NULL);
}

/* ---- file data ------------------------------------------------------------------ */

static int put_data(struct exporter *ex, const void *p, size_t n)
{
    if (interrupted(ex))
        return fail_interrupted(ex);
    la_ssize_t k = archive_write_data(ex->a, p, n);
    if (k < 0 || ex->write_err)
        return fail_archive(ex);
    return 0;
}

/* n bytes of zeros (holes; the pax writer skips what the sparse map calls a hole). */
static int put_zeros(struct exporter *ex, off_t n)
{
    while (n > 0) {
        size_t c = n > IO_SIZE ? IO_SIZE : (size_t)n;
        int k = put_data(ex, ex->zeros, c);
        if (k < 0)
            return k;
        n -= (off_t)c;
    }
    return 0;
}

/* The data segments of a file with holes, into ex->segs; false when it has
 * none worth mapping (or the filesystem cannot say). Not libarchive's map
 * (archive_read_disk_entry_from_file), which gives the same segments but
 * asks every regular file with about five lseek()s where st_blocks already
 * says most have no hole: measured on a 23k-entry tree, 260k system calls
 * instead of 143k and a third more CPU for the export; and which maps a file
 * that is all hole as (0, 0) where ours says (size, 0), another archive. */
static bool map_segments(struct exporter *ex, int fd, const struct stat *st)
{
    hs_buf_truncate(&ex->segs, 0);
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
        if (hs_buf_append(&ex->segs, &s, sizeof s) < 0)
            return false;
        off = hole;
    }
    return true;
}

/* Copies len bytes at off of fd into the archive. A file that is shorter
 * than its stat said, or unreadable, is completed with zeros (the header
 * already promised the size): *bad says so. */
static int copy_range(struct exporter *ex, int fd, off_t off, off_t len, int *bad)
{
    while (len > 0) {
        size_t want = len > IO_SIZE ? IO_SIZE : (size_t)len;
        ssize_t n = *bad ? 0 : pread(fd, ex->buf, want, off);
        if (n < 0 && errno == EINTR && !interrupted(ex))
            continue;
        if (n <= 0) {
            if (!*bad)
                *bad = n < 0 ? errno : ESTALE;
            return put_zeros(ex, len);
        }
        int k = put_data(ex, ex->buf, (size_t)n);
        if (k < 0)
            return k;
        ex->st->bytes_copied += (uint64_t)n;
        off += n;
        len -= n;
    }
    return 0;
}

/* The file's data: the mapped segments with zeros between, or all of it. */
static int write_data(struct exporter *ex, int fd, const struct stat *st, bool mapped,
                      const char *path)
{
    int bad = 0, k = 0;
    if (!mapped) {
        k = copy_range(ex, fd, 0, st->st_size, &bad);
    } else {
        const struct seg *s = (const struct seg *)ex->segs.data;
        size_t n = ex->segs.len / sizeof *s;
        off_t at = 0;
        for (size_t i = 0; k == 0 && i < n; i++) {
            k = put_zeros(ex, s[i].off - at);
            if (k == 0)
                k = copy_range(ex, fd, s[i].off, s[i].len, &bad);
            at = s[i].off + s[i].len;
        }
        if (k == 0)
            k = put_zeros(ex, st->st_size - at);
    }
    if (k == 0 && bad == ESTALE)
        warn(ex, 0, "file shrank while exported (completed with zeros in the archive)", path);
    else if (k == 0 && bad)
        warn(ex, bad, "cannot read (completed with zeros in the archive)", path);
    return k;
}

/* ---- one entry of each kind --------------------------------------------------------- */

/* The snapshot's regular file name in dirfd, opened and checked to be what
 * the walk saw; -1 (warned) if not. */
static int open_file(struct exporter *ex, int dirfd, const char *name, const char *path,
                     const struct stat *seen, struct stat *st)
{
    int fd = hs_open_file_read(dirfd, name);
    if (fd < 0) {
        warn(ex, errno, "cannot open", path);
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || !hs_stat_same_file(st, seen)) {
        warn(ex, ESTALE, "changed in the snapshot", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int export_file(struct exporter *ex, int dirfd, const char *name, const char *path,
                       const struct stat *seen)
{
    struct stat st;
    /* opened first even when it may become a link: a group's first name must
     * be one that is really archived with its data */
    int fd = open_file(ex, dirfd, name, path, seen, &st);
    if (fd < 0)
        return HS_SKIPPED;
    unsigned names = (unsigned)hs_snapsrc_names(&ex->src, path, strlen(path), &st);
    fill_entry(ex, path, &st, names);
    int k;
    if (linkify(ex, &st)) {
        k = put_header(ex, path);
        if (k == HS_DONE)
            ex->st->hardlinked++;
    } else {
        if (ex->fmt->kind == K_PAX)
            add_xattrs(ex, (struct hs_xobj){.fd = fd}, path);
        bool mapped = map_segments(ex, fd, &st);
        if (mapped && ex->fmt->kind == K_PAX) {
            const struct seg *s = (const struct seg *)ex->segs.data;
            size_t n = ex->segs.len / sizeof *s;
            for (size_t i = 0; i < n; i++)
                archive_entry_sparse_add_entry(ex->entry, s[i].off, s[i].len);
            if (n == 0) /* all hole: one empty segment at the end keeps it sparse */
                archive_entry_sparse_add_entry(ex->entry, st.st_size, 0);
        }
        k = put_header(ex, path);
        if (k == HS_DONE) {
            ex->st->bytes_total += (uint64_t)st.st_size;
            k = write_data(ex, fd, &st, mapped, path);
        }
        if (k == HS_DONE && ex->fmt->kind == K_ZIP && names > 1)
            hs_report_notice_once(&ex->rep, NOTICE_ZIP_LINKS,
                                  "zip has no hard links: each name of a hard-linked file "
                                  "is stored with its own copy of the data");
    }
    close(fd);
    if (k == HS_DONE)
        archived(ex, path, &st);
    return k;
}

/* The snapshot symlink's target into ex->lnk. */
static int read_link(struct exporter *ex, int dirfd, const char *name, const char *path,
                     const struct stat *st)
{
    size_t size = (size_t)st->st_size + 1;
    for (int tries = 0; tries < 4; tries++, size *= 2) {
        hs_buf_truncate(&ex->lnk, 0);
        if (hs_buf_reserve(&ex->lnk, size) < 0)
            return hs_err_setf(ex->err, ENOMEM, "symlink");
        ssize_t n = readlinkat(dirfd, name, ex->lnk.data, size);
        if (n < 0)
            return warn(ex, errno, "cannot read symlink", path);
        if ((size_t)n < size) {
            ex->lnk.len = (size_t)n;
            ex->lnk.data[n] = '\0';
            return HS_DONE;
        }
    }
    return warn(ex, ESTALE, "changed in the snapshot", path);
}

/* A symlink, fifo or device node: a header only. */
static int export_other(struct exporter *ex, int dirfd, const char *name, const char *path,
                        const struct stat *st)
{
    if (S_ISSOCK(st->st_mode)) {
        /* a socket is only a name; tar and the others have no type for it */
        hs_report_notice_once(&ex->rep, NOTICE_SOCKET, "sockets are not archived");
        return HS_SKIPPED;
    }
    bool is_link = S_ISLNK(st->st_mode);
    int k = is_link ? read_link(ex, dirfd, name, path, st) : HS_DONE;
    if (k != HS_DONE)
        return k;
    fill_entry(ex, path, st, (unsigned)hs_snapsrc_names(&ex->src, path, strlen(path), st));
    if (is_link)
        archive_entry_copy_symlink(ex->entry, ex->lnk.data);
    bool linked = linkify(ex, st);
    /* a symlink's xattrs are not kept by the backup either */
    if (!linked && !is_link && ex->fmt->kind == K_PAX)
        add_xattrs(ex, (struct hs_xobj){.fd = -1, .dirfd = dirfd, .name = name}, path);
    k = put_header(ex, path);
    if (k == HS_DONE) {
        if (linked)
            ex->st->hardlinked++;
        archived(ex, path, st);
    }
    return k;
}

/* ---- ISO 9660 deep directories ------------------------------------------------------- */

/* One directory of the ISO check's pass: the workaround for libarchive's
 * ISO writer lives in export_iso.c, to be deleted with it. */
static int iso_check_dir(struct exporter *ex, const char *path)
{
    return hs_iso_guard_dir(&ex->iso, path, ex->err);
}

/* A directory's link count, 2 + its subdirectories, for Rock Ridge (the
 * writer takes it from the entry): st_nlink where the filesystem counts so,
 * else (btrfs says 1, ext4 past 65000 subdirectories too) counted, through a
 * descriptor of its own, not to move the walk's place in fd. */
static unsigned dir_links(int fd, const struct stat *st)
{
    if (st->st_nlink >= 2)
        return st->st_nlink > UINT_MAX ? UINT_MAX : (unsigned)st->st_nlink;
    int own = fd >= 0 ? openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    DIR *d = own >= 0 ? fdopendir(own) : NULL;
    if (!d) {
        if (own >= 0)
            close(own);
        return 2;
    }
    unsigned n = 2;
    struct dirent *de;
    struct stat cst;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (de->d_type == DT_DIR ||
            (de->d_type == DT_UNKNOWN &&
             fstatat(dirfd(d), de->d_name, &cst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(cst.st_mode)))
            n++;
    }
    closedir(d);
    return n;
}

/* A directory: its header, with its xattrs when it could be opened (fd). */
static int export_dir(struct exporter *ex, int fd, const char *path, const struct stat *st)
{
    fill_entry(ex, path, st, ex->fmt->kind == K_ISO ? dir_links(fd, st) : 1);
    if (fd >= 0 && ex->fmt->kind == K_PAX)
        add_xattrs(ex, (struct hs_xobj){.fd = fd}, path);
    int k = put_header(ex, path);
    if (k == HS_DONE)
        archived(ex, path, st);
    return k;
}

static int export_nondir(struct exporter *ex, int dirfd, const char *name, const char *path,
                         const struct stat *st)
{
    hs_report_entry(&ex->rep);
    int k = S_ISREG(st->st_mode) ? export_file(ex, dirfd, name, path, st)
                                 : export_other(ex, dirfd, name, path, st);
    return k < 0 ? k : HS_DONE;
}

/* ---- the walk --------------------------------------------------------------------- */

static int walk_item(struct exporter *ex, const struct hs_walk_item *it)
{
    int k;
    switch (it->ev) {
    case HS_WALK_ENTRY:
        if (!S_ISDIR(it->st.st_mode))
            return export_nondir(ex, it->fd, it->name, it->path, &it->st);
        /* its header when it is entered, with its own fd for the xattrs */
        return HS_DONE;
    case HS_WALK_ENTER:
        hs_report_entry(&ex->rep);
        /* the snapshot root is "./", as GNU tar names it: extracting with
         * -C DIR then gives DIR the root's mode, owner and times. Not in an
         * ISO image, whose writer makes the root itself and takes nothing
         * from such an entry: finish_output patches it (export_iso.h) */
        if (it->depth == 0 && ex->src.whole && ex->fmt->kind == K_ISO)
            return HS_DONE;
        k = export_dir(ex, it->fd, it->depth == 0 && ex->src.whole ? ROOT_NAME : it->path, &it->st);
        return k < 0 ? k : HS_DONE;
    case HS_WALK_FATAL:
        return hs_err_path(ex->err, it->err, it->what, spath(ex, it->path));
    case HS_WALK_ERROR:
        warn(ex, it->err, it->what, it->path);
        if (it->unentered) {
            /* the directory is archived, empty, with what its stat says */
            k = export_dir(ex, -1, it->path, &it->st);
            return k < 0 ? k : HS_DONE;
        }
        return HS_DONE;
    case HS_WALK_LEAVE:
    case HS_WALK_END:
        break;
    }
    return HS_DONE;
}

/* Whether s holds a UTF-16 surrogate in UTF-8 form (ED A0..BF): the pax
 * writer's UTF-8 check joins a pair of them into one 4-byte character where
 * it should have failed, so such a name would not survive in UTF-8 mode. */
static bool has_surrogate(const char *s, size_t len)
{
    for (const char *p = s; (p = memchr(p, 0xed, len - (size_t)(p - s))) != NULL; p++)
        if ((size_t)(p + 1 - s) < len && (unsigned char)p[1] >= 0xa0)
            return true;
    return false;
}

/* Whether the name or the symlink target needs the pax archive all binary. */
static bool needs_binary(int dirfd, const char *name, const char *path, const struct stat *st)
{
    if (has_surrogate(path, strlen(path)))
        return true;
    if (!S_ISLNK(st->st_mode))
        return false;
    char target[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target);
    return n > 0 && has_surrogate(target, (size_t)n);
}

/* Whether an xattr name is one that only LIBARCHIVE.xattr.* carries whole:
 * GNU tar writes "%" and "=" in SCHILY.xattr.* names as %25 and %3D, and so
 * does libarchive, but libarchive 3.6's reader (bsdtar, hardsnap import)
 * does not decode them; a control or non-ASCII byte in a pax keyword is
 * not trusted to every reader either. */
static bool xattr_name_odd(const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == '=')
            return true;
    return false;
}

/* Whether an object (its own fd, else dirfd/name, not followed) has an
 * xattr name that needs LIBARCHIVE.xattr.*. Names only: no values read. */
static bool needs_both_xattrs(int fd, int dirfd, const char *name)
{
    char list[4096];
    ssize_t n = hs_xattr_list((struct hs_xobj){.fd = fd, .dirfd = dirfd, .name = name}, list,
                              sizeof list - 1);
    if (n < 0)
        return errno == ERANGE; /* a list too long for list: not worth looking into */
    list[n] = '\0';
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
        if (xattr_name_odd(list + i))
            return true;
    return false;
}

/* The check pass: for ISO directories, as walk_item will meet them; for
 * pax, the names that need the archive all binary, and the xattr names
 * that need LIBARCHIVE.xattr.* (a symlink's xattrs are not exported). */
static int check_item(struct exporter *ex, const struct hs_walk_item *it)
{
    if (it->ev == HS_WALK_FATAL)
        return hs_err_path(ex->err, it->err, it->what, spath(ex, it->path));
    bool named = it->ev == HS_WALK_ENTRY || (it->ev == HS_WALK_ENTER && it->depth == 0);
    if (ex->fmt->kind == K_PAX && !ex->all_binary && named)
        ex->all_binary = needs_binary(it->fd, it->name, it->path, &it->st);
    if (ex->fmt->kind == K_PAX && !ex->xattr_both && it->ev == HS_WALK_ENTER)
        ex->xattr_both = needs_both_xattrs(it->fd, -1, NULL);
    if (ex->fmt->kind == K_PAX && !ex->xattr_both && it->ev == HS_WALK_ENTRY &&
        !S_ISDIR(it->st.st_mode) && !S_ISLNK(it->st.st_mode))
        ex->xattr_both = needs_both_xattrs(-1, it->fd, it->name);
    if (ex->fmt->kind == K_ISO && it->ev == HS_WALK_ENTRY && S_ISDIR(it->st.st_mode))
        return iso_check_dir(ex, it->path);
    return 0; /* trouble elsewhere is for the writing pass to report */
}

/* Walks the snapshot's tree (its root, or the directory PATH), writing it,
 * or with check_only, only checking it for the ISO writer. */
static int walk_tree(struct exporter *ex, bool check_only)
{
    struct hs_walk *w;
    int k = hs_snapsrc_walk(&ex->src, &w, ex->err);
    if (k < 0)
        return k;
    struct hs_walk_item it;
    while ((k = hs_walk_next(w, &it, ex->err)) == 0 && it.ev != HS_WALK_END) {
        k = check_only ? check_item(ex, &it) : walk_item(ex, &it);
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
    struct exporter *ex = user;
    if (ex->cut_off || ex->write_err) {
        if (ex->fmt->kind != K_ISO)
            return (la_ssize_t)n;
        archive_set_error(a, ECANCELED, "export abandoned");
        return -1;
    }
    const char *p = buf;
    size_t left = n;
    while (left > 0) {
        ssize_t k = -1;
        if (interrupted(ex))
            errno = EINTR;
        else
            k = write(ex->outfd, p, left);
        if (k < 0 && errno == EINTR && !interrupted(ex))
            continue;
        if (k < 0) {
            ex->write_err = errno;
            archive_set_error(a, errno, "%s", strerror(errno));
            return ex->fmt->kind == K_ISO ? -1 : (la_ssize_t)n;
        }
        p += k;
        left -= (size_t)k;
    }
    return (la_ssize_t)n;
}

/* liblzma's memory for one thread of its multithreaded encoder at the
 * default level 6: "331 MiB of memory is required" for xz -6 -T2 (5.4). */
#define XZ_THREAD_MEM (166ull << 20)

/* The xz filter's threads: one per online CPU, as many as fit in a quarter
 * of the memory (xz -T0's own limit), at least one. */
static unsigned xz_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    unsigned long long fit =
        pages > 0 && page > 0
            ? (unsigned long long)pages * (unsigned long long)page / 4 / XZ_THREAD_MEM
            : 1;
    unsigned long long n = cpus > 0 ? (unsigned long long)cpus : 1;
    if (n > fit)
        n = fit;
    return n ? (unsigned)n : 1;
}

static int add_filter(struct archive *a, enum filter f)
{
    char threads[24];
    switch (f) {
    case F_GZIP:
        return archive_write_add_filter_gzip(a);
    case F_XZ:
        /* liblzma's encoder runs one thread unless told: 16x zstd's time */
        if (archive_write_add_filter_xz(a) != ARCHIVE_OK)
            return ARCHIVE_FATAL;
        snprintf(threads, sizeof threads, "%u", xz_threads());
        return archive_write_set_filter_option(a, "xz", "threads", threads);
    case F_ZSTD:
        return archive_write_add_filter_zstd(a);
    case F_NONE:
        break;
    }
    return ARCHIVE_OK;
}

static int set_format(struct archive *a, enum kind k, bool all_binary, bool xattr_both)
{
    switch (k) {
    case K_PAX:
        /* full pax, not "restricted": ns times and atimes on every entry.
         * Names are the snapshot's bytes either way: UTF-8 ones go as they
         * are (the locale is UTF-8 while exporting), and an entry with a
         * name that is not UTF-8 fails the conversion, which makes the
         * writer store that entry's names raw under hdrcharset=BINARY.
         * Not the writer's hdrcharset=BINARY option: it marks every entry,
         * and GNU tar, which knows no hdrcharset, warns once per member.
         * Unless a name holds a surrogate (has_surrogate): then the option,
         * as the names must come back as they are.
         * Xattrs as SCHILY.xattr.NAME=raw value alone, which GNU tar, star
         * and libarchive read (binary values too: a pax record has a
         * length); libarchive's default adds LIBARCHIVE.xattr.* (base64),
         * which GNU tar warns about once per xattr, even without --xattrs.
         * Both where a name holds "%", "=" or a byte that is not printable
         * ASCII (xattr_name_odd): then GNU tar warns, but the name comes
         * back whole */
        if (archive_write_set_format_pax(a) != ARCHIVE_OK ||
            archive_write_set_format_option(a, "pax", "xattrheader",
                                            xattr_both ? "ALL" : "SCHILY") != ARCHIVE_OK)
            return ARCHIVE_FATAL;
        return all_binary ? archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY")
                          : ARCHIVE_OK;
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

static int open_writer(struct exporter *ex)
{
    ex->a = archive_write_new();
    ex->entry = archive_entry_new();
    ex->buf = malloc(IO_SIZE);
    ex->zeros = calloc(1, IO_SIZE);
    if (!ex->a || !ex->entry || !ex->buf || !ex->zeros)
        return hs_err_setf(ex->err, ENOMEM, "export");
    if (set_format(ex->a, ex->fmt->kind, ex->all_binary, ex->xattr_both) != ARCHIVE_OK ||
        add_filter(ex->a, ex->fmt->filter) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(ex->a, IO_SIZE) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(ex->a, 1) != ARCHIVE_OK)
        return fail_archive(ex);
    if (ex->fmt->kind == K_PAX) {
        /* libarchive's lookup, as bsdtar's: getpwuid_r/getgrgid_r, once per
         * id while it stays in its cache (a tree has few owners, and NSS
         * lookups can be slow), a missing name remembered as well */
        ex->names = archive_read_disk_new();
        if (!ex->names || archive_read_disk_set_standard_lookup(ex->names) != ARCHIVE_OK)
            return hs_err_setf(ex->err, ENOMEM, "export");
    }
    if (ex->fmt->kind != K_ZIP) {
        ex->links = archive_entry_linkresolver_new();
        if (!ex->links)
            return hs_err_setf(ex->err, ENOMEM, "export");
        archive_entry_linkresolver_set_strategy(ex->links, archive_format(ex->a));
    }
    if (archive_write_open2(ex->a, ex, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
        return fail_archive(ex);
    return 0;
}

/* Ends the archive and makes it ARCHIVE: synced, renamed without replacing. */
static int finish_output(struct exporter *ex)
{
    if (archive_write_close(ex->a) != ARCHIVE_OK || ex->write_err)
        return fail_archive(ex);
    if (ex->outdir < 0)
        return 0;
    /* the image's root is the writer's own: given the snapshot root's (or
     * the directory PATH's) mode, owner and times afterwards (export_iso.h) */
    if (ex->fmt->kind == K_ISO && S_ISDIR(ex->src.leaf_st.st_mode)) {
        int k = hs_iso_patch_root(ex->outfd, &ex->src.leaf_st, ex->err);
        if (k == -EINVAL) /* a writer that lays it out otherwise: the image is good */
            hs_report_warn_err(&ex->rep, ex->err);
        else if (k < 0)
            return k;
    }
    if (fsync(ex->outfd) < 0)
        return hs_err_path(ex->err, errno, "cannot write the archive", ex->o->archive);
    if (renameat2(ex->outdir, ex->part_name, ex->outdir, ex->final_name, RENAME_NOREPLACE) < 0) {
        int err = errno;
        if (err == EEXIST)
            return hs_err_path(ex->err, 0, "appeared during the export, not replaced",
                               ex->o->archive);
        return hs_err_path(ex->err, err, "cannot rename the archive into place", ex->o->archive);
    }
    ex->part_made = false;
    /* the archive is whole and its data on disk: only its name may not
     * survive a power loss yet, which is worth a warning, not its removal */
    if (fsync(ex->outdir) < 0)
        hs_report_warn(&ex->rep, errno, "archive written, but its directory could not be synced",
                       ex->o->archive, ex->o->archive);
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
static int check_target(struct exporter *ex)
{
    const char *arch = ex->o->archive;
    size_t len = strlen(arch);
    ex->final_name = hs_path_base(arch, len);
    char *dir = hs_path_dirname(arch, len);
    if (!dir)
        return hs_err_setf(ex->err, ENOMEM, "export");
    /* never through another user's symlink: root's archive would land
     * wherever she pointed it */
    int parent;
    char last[NAME_MAX + 1];
    int fd = hs_open_dir_trusted(dir, &parent, last, ex->err);
    free(dir);
    if (parent >= 0)
        close(parent);
    if (fd == -EPERM)
        return fd;
    if (fd < 0)
        return hs_err_usage(ex->err, -fd, "cannot create the archive in its directory", arch);
    ex->outdir = fd;
    struct stat st;
    if (fstatat(ex->outdir, ex->final_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return hs_err_usage(ex->err, 0, "the archive already exists (not replaced)", arch);
    if (errno != ENOENT) /* ENAMETOOLONG: a name no file can have */
        return hs_err_usage(ex->err, errno, "cannot use the archive name", arch);
    ex->part_name = part_name_for(ex->outdir, ex->final_name);
    if (!ex->part_name)
        return hs_err_setf(ex->err, ENOMEM, "export");
    const char *harmed = hs_snapsrc_forbidden(&ex->src, ex->outdir);
    if (!harmed)
        return 0;
    char what[64];
    snprintf(what, sizeof what, "the archive would be inside %s", harmed);
    return hs_err_usage(ex->err, 0, what, arch);
}

/* Whether the .part in the way was left by a killed export (nobody holds its
 * lock): then it is removed. 0 = removed or gone, <0 = it stays (an error). */
static int clear_stale_part(struct exporter *ex)
{
    /* not opened blocking: a fifo under the name would hang the export */
    int old = hs_open_regular(ex->outdir, ex->part_name, O_RDONLY, 0);
    if (old == -ENOENT)
        return 0; /* gone meanwhile */
    if (old < 0) {
        int k = old == -EBADMSG
                    ? hs_err_path_why(ex->err, EEXIST, "cannot create the archive", ex->part_name,
                                      "not a regular file (not removed)")
                    : hs_err_path(ex->err, -old, "cannot create the archive", ex->part_name);
        hs_err_kind(ex->err, HS_USAGE);
        return k;
    }
    bool held = flock(old, LOCK_EX | LOCK_NB) < 0;
    if (!held)
        unlinkat(ex->outdir, ex->part_name, 0);
    close(old);
    if (held) {
        int k = hs_err_path(ex->err, 0, "another export is writing", ex->part_name);
        hs_err_kind(ex->err, HS_USAGE);
        return k;
    }
    hs_report_notice_once(&ex->rep, NOTICE_STALE_PART,
                          "removed the .part file an interrupted export had left");
    return 0;
}

/* Creates the .part, exclusively. One left by a killed export is replaced;
 * one being written by another, or anything but a file, is an error. */
static int create_part(struct exporter *ex)
{
    for (int tries = 0; tries < 4; tries++) {
        /* 0600 whatever the umask: the archive holds every user's files,
         * readable by its maker alone, as the store is; read-write, as an
         * ISO image's root is patched once written */
        ex->outfd = openat(ex->outdir, ex->part_name,
                           O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (ex->outfd >= 0) {
            ex->part_made = true;
            if (flock(ex->outfd, LOCK_EX | LOCK_NB) < 0)
                return hs_err_path(ex->err, errno, "cannot lock", ex->part_name);
            return 0;
        }
        if (errno != EEXIST)
            return hs_err_path(ex->err, errno, "cannot create the archive", ex->o->archive);
        int k = clear_stale_part(ex);
        if (k < 0)
            return k;
    }
    return hs_err_path(ex->err, EEXIST, "cannot create the archive", ex->part_name);
}

static int open_output(struct exporter *ex)
{
    if (ex->outdir < 0) {
        ex->outfd = STDOUT_FILENO;
        return 0;
    }
    return create_part(ex);
}

static int export_run(struct exporter *ex)
{
    const struct hs_export_opts *o = ex->o;
    if (!o->source || !*o->source)
        return hs_err_usage(ex->err, 0, "no snapshot given", NULL);
    if (!o->archive || !*o->archive)
        return hs_err_usage(ex->err, 0, "no archive given", NULL);
    ex->fmt = find_format(o->archive);
    if (!ex->fmt) {
        char what[160];
        snprintf(what, sizeof what, "unknown archive type (known: %s, or - for tar on stdout)",
                 hs_export_suffixes);
        return hs_err_usage(ex->err, 0, what, o->archive);
    }
    int k = hs_snapsrc_open(&ex->src, o->source, ex->err);
    if (k < 0)
        return k;
    if (ex->fmt == &stream_format) {
        if (isatty(STDOUT_FILENO))
            return hs_err_usage(ex->err, 0, "not writing an archive to a terminal", "-");
    } else if ((k = check_target(ex)) < 0) {
        return k;
    }
    hs_snapsrc_load_manifest(&ex->src);
    bool tree = ex->src.whole || S_ISDIR(ex->src.leaf_st.st_mode);
    /* a pass that reads no data first, for what must be known before the
     * writer is set up; a single file is its own check */
    if (tree && ex->fmt->kind != K_ZIP && (k = walk_tree(ex, true)) < 0)
        return k;
    if (!tree && ex->fmt->kind == K_PAX) {
        ex->all_binary = needs_binary(ex->src.parent, ex->src.leaf, ex->src.leaf, &ex->src.leaf_st);
        ex->xattr_both = !S_ISLNK(ex->src.leaf_st.st_mode) &&
                         needs_both_xattrs(-1, ex->src.parent, ex->src.leaf);
    }
    k = open_output(ex);
    if (k == 0)
        k = open_writer(ex);
    if (k == 0)
        k = tree ? walk_tree(ex, false)
                 : export_nondir(ex, ex->src.parent, ex->src.leaf, ex->src.leaf, &ex->src.leaf_st);
    if (k == 0)
        k = finish_output(ex);
    return k;
}

static void export_free(struct exporter *ex, bool failed)
{
    if (ex->a) {
        /* after a failure nothing more reaches the output: no end-of-archive
         * marker may make a truncated archive look complete */
        ex->cut_off = failed;
        archive_write_free(ex->a);
    }
    if (ex->links)
        archive_entry_linkresolver_free(ex->links);
    if (ex->names)
        archive_read_free(ex->names);
    if (ex->entry)
        archive_entry_free(ex->entry);
    if (ex->part_made)
        unlinkat(ex->outdir, ex->part_name, 0);
    if (ex->outdir >= 0 && ex->outfd >= 0)
        close(ex->outfd);
    if (ex->outdir >= 0)
        close(ex->outdir);
    hs_snapsrc_close(&ex->src);
    free(ex->part_name);
    free(ex->buf);
    free(ex->zeros);
    hs_xattrs_free(&ex->xa);
    hs_buf_free(&ex->lnk);
    hs_buf_free(&ex->disp);
    hs_buf_free(&ex->segs);
    hs_iso_guard_free(&ex->iso);
}

enum hs_status hs_export(const struct hs_export_opts *o, struct hs_export_stats *st,
                         struct hs_err *err)
{
    struct hs_export_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    hs_err_clear(err);
    struct exporter ex = {
        .o = o, .st = st, .err = err, .outdir = -1, .outfd = -1, .src = {.root = -1, .parent = -1}};
    hs_report_start(&ex.rep, o->on_event, o->user, st);
    /* libarchive converts names for Joliet from the locale's charset, and
     * marks zip names UTF-8 by it: UTF-8 for this thread only (the
     * process's locale stays the caller's) */
    ex.utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    ex.plain = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    locale_t saved = ex.utf8 ? uselocale(ex.utf8) : (locale_t)0;
    int k = export_run(&ex);
    export_free(&ex, k < 0);
    if (ex.utf8) {
        uselocale(saved);
        freelocale(ex.utf8);
    }
    if (ex.plain)
        freelocale(ex.plain);
    st->seconds = hs_report_seconds(&ex.rep);
    if (k < 0) {
        if (!err->msg)
            hs_err_setf(err, -k, "export failed");
        return err->kind ? err->kind : HS_FAILED;
    }
    return st->warnings ? HS_WARN : HS_OK;
}
