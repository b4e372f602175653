/*
 * An archive as an entry source (source.h), read with libarchive: every
 * format and filter it knows, detected from the data, so a pipe works too.
 */
#include "source.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (1024 * 1024)

struct arcsrc {
    struct archive *a;
    int fd;
    const char *name;
    /* the current entry's extended attributes */
    const char **xnames;
    const void **xvalues;
    size_t *xsizes;
    size_t xcap;
};

/* libarchive's message, or errno's when it has none. */
static int arc_fail(struct arcsrc *s, struct hs_err *e, const char *what)
{
    const char *why = archive_error_string(s->a);
    int errnum = archive_errno(s->a);
    if (errnum <= 0)
        errnum = EIO;
    if (!why)
        return hs_err_path(e, errnum, what, s->name);
    char *name = hs_escape(s->name, strlen(s->name));
    hs_err_setf(e, 0, "%s: %s: %s", what, name ? name : "?", why);
    free(name);
    return -errnum;
}

static void entry_stat(struct archive_entry *ae, struct hs_src_entry *ent)
{
    memset(&ent->st, 0, sizeof ent->st);
    ent->st.st_mode = archive_entry_mode(ae);
    ent->st.st_uid = (uid_t)archive_entry_uid(ae);
    ent->st.st_gid = (gid_t)archive_entry_gid(ae);
    ent->st.st_size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
    ent->st.st_rdev = archive_entry_rdev(ae);
    ent->st.st_nlink = archive_entry_nlink(ae);
    if (archive_entry_mtime_is_set(ae)) {
        ent->st.st_mtim.tv_sec = archive_entry_mtime(ae);
        ent->st.st_mtim.tv_nsec = archive_entry_mtime_nsec(ae);
    }
    ent->st.st_atim = ent->st.st_mtim;
    if (archive_entry_atime_is_set(ae)) {
        ent->st.st_atim.tv_sec = archive_entry_atime(ae);
        ent->st.st_atim.tv_nsec = archive_entry_atime_nsec(ae);
    }
    ent->has_ctime = archive_entry_ctime_is_set(ae);
    ent->st.st_ctim = ent->st.st_mtim;
    if (ent->has_ctime) {
        ent->st.st_ctim.tv_sec = archive_entry_ctime(ae);
        ent->st.st_ctim.tv_nsec = archive_entry_ctime_nsec(ae);
    }
}

static int grow_xattrs(struct arcsrc *s, size_t n)
{
    if (n <= s->xcap)
        return 0;
    const char **names = realloc(s->xnames, n * sizeof *names);
    if (names)
        s->xnames = names;
    const void **values = realloc(s->xvalues, n * sizeof *values);
    if (values)
        s->xvalues = values;
    size_t *sizes = realloc(s->xsizes, n * sizeof *sizes);
    if (sizes)
        s->xsizes = sizes;
    if (!names || !values || !sizes)
        return -ENOMEM;
    s->xcap = n;
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Whether name, %XX-decoded, is want: a pax archive may carry one xattr
 * twice, as LIBARCHIVE.xattr.NAME (which libarchive 3.6 decodes) and as
 * SCHILY.xattr.NAME with "%" and "=" encoded (which it does not). */
static bool encoded_form_of(const char *name, const char *want)
{
    bool decoded = false;
    for (const char *p = name; *p; p++, want++) {
        int hi, lo;
        char c = *p;
        if (c == '%' && (hi = hex_digit(p[1])) >= 0 && (lo = hex_digit(p[2])) >= 0) {
            c = (char)(hi << 4 | lo);
            p += 2;
            decoded = true;
        }
        if (c != *want)
            return false;
    }
    return decoded && !*want;
}

/* The entry's xattrs without the encoded twin of another (encoded_form_of)
 * holding the same value. */
static void drop_encoded_twins(struct arcsrc *s, struct hs_src_entry *ent)
{
    size_t k = 0;
    for (size_t i = 0; i < ent->n_xattrs; i++) {
        bool twin = false;
        for (size_t j = 0; j < ent->n_xattrs && !twin && strchr(s->xnames[i], '%'); j++)
            twin = j != i && s->xsizes[j] == s->xsizes[i] &&
                   !memcmp(s->xvalues[j], s->xvalues[i], s->xsizes[i]) &&
                   encoded_form_of(s->xnames[i], s->xnames[j]);
        if (twin)
            continue;
        s->xnames[k] = s->xnames[i];
        s->xvalues[k] = s->xvalues[i];
        s->xsizes[k++] = s->xsizes[i];
    }
    ent->n_xattrs = k;
}

static int entry_xattrs(struct arcsrc *s, struct archive_entry *ae, struct hs_src_entry *ent,
                        struct hs_err *e)
{
    int n = archive_entry_xattr_reset(ae);
    ent->n_xattrs = 0;
    if (n <= 0)
        return 0;
    if (grow_xattrs(s, (size_t)n) < 0)
        return hs_err_setf(e, ENOMEM, "archive");
    const char *name;
    const void *value;
    size_t size;
    while (ent->n_xattrs < (size_t)n &&
           archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
        s->xnames[ent->n_xattrs] = name;
        s->xvalues[ent->n_xattrs] = value;
        s->xsizes[ent->n_xattrs++] = size;
    }
    drop_encoded_twins(s, ent);
    ent->xattr_names = s->xnames;
    ent->xattr_values = s->xvalues;
    ent->xattr_sizes = s->xsizes;
    return 0;
}

static int arc_next(void *self, struct hs_src_entry *ent, struct hs_err *e)
{
    struct arcsrc *s = self;
    struct archive_entry *ae;
    int r = archive_read_next_header(s->a, &ae);
    if (r == ARCHIVE_EOF)
        return 0;
    /* ARCHIVE_WARN: e.g. an unknown pax keyword; the entry itself is fine */
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return arc_fail(s, e, "cannot read archive");
    ent->path = archive_entry_pathname(ae);
    if (!ent->path)
        return hs_err_path_why(e, EILSEQ, "cannot read archive", s->name, "an entry has no name");
    entry_stat(ae, ent);
    ent->symlink = archive_entry_symlink(ae);
    ent->hardlink = archive_entry_hardlink(ae);
    int k = entry_xattrs(s, ae, ent, e);
    return k < 0 ? k : 1;
}

static int arc_data(void *self, const void **buf, size_t *len, uint64_t *offset, struct hs_err *e)
{
    struct arcsrc *s = self;
    la_int64_t off = 0;
    int r = archive_read_data_block(s->a, buf, len, &off);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return arc_fail(s, e, "cannot read archive");
    *offset = (uint64_t)off;
    return 1;
}

static void arc_close(void *self)
{
    struct arcsrc *s = self;
    archive_read_free(s->a);
    free(s->xnames);
    free(s->xvalues);
    free(s->xsizes);
    if (s->fd > STDIN_FILENO)
        close(s->fd);
    free(s);
}

static int open_input(struct arcsrc *s, const char *path, struct hs_err *e)
{
    if (strcmp(path, "-") == 0) {
        s->fd = STDIN_FILENO;
        s->name = "(stdin)";
        return 0;
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (s->fd < 0 || fstat(s->fd, &st) < 0)
        return hs_err_usage(e, errno, "cannot open archive", path);
    if (S_ISDIR(st.st_mode))
        return hs_err_usage(e, EISDIR, "not an archive", path);
    return 0;
}

int hs_archive_source_open(struct hs_entry_source *src, const char *path, struct hs_err *e)
{
    struct arcsrc *s = calloc(1, sizeof *s);
    if (!s)
        return hs_err_setf(e, ENOMEM, "archive");
    s->name = path;
    s->fd = -1;
    int r = open_input(s, path, e);
    if (r == 0 && !(s->a = archive_read_new()))
        r = hs_err_setf(e, ENOMEM, "archive");
    if (r == 0) {
        archive_read_support_filter_all(s->a);
        archive_read_support_format_all(s->a);
        if (archive_read_open_fd(s->a, s->fd, READ_BLOCK) != ARCHIVE_OK)
            r = arc_fail(s, e, "cannot read archive");
    }
    if (r < 0) {
        arc_close(s);
        return r;
    }
    *src = (struct hs_entry_source){
        .self = s, .name = s->name, .next = arc_next, .data = arc_data, .close = arc_close};
    return 0;
}
