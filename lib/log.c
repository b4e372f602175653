/*
 * DEST/.hardsnap/log: one line per command run on the store, so a person can
 * see what happened each night without cron's mail. Lines are key=value
 * pairs, written with O_APPEND in one write(2), so concurrent readers never
 * see half a line.
 */
#include "log.h"
#include "buf.h"
#include "fsutil.h"
#include "hardsnap.h"
#include "store.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_time(struct hs_buf *b, const char *key, time_t t)
{
    char name[HS_SNAPSHOT_NAME_LEN + 1];
    hs_snapshot_name_format(t, name);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s%s=%s", b->len ? " " : "", key, name);
    hs_buf_puts(b, tmp);
}

static void put_num(struct hs_buf *b, const char *key, uint64_t v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, " %s=%" PRIu64, key, v);
    hs_buf_puts(b, tmp);
}

/* Names (comma-separated) in a value: %XX keeps the line's key=value shape
 * whatever a name holds. */
static void put_name(struct hs_buf *b, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        char esc[4];
        if (*p <= ' ' || *p == '=' || *p == '%' || *p >= 0x7f) {
            snprintf(esc, sizeof esc, "%%%02X", *p);
            hs_buf_puts(b, esc);
        } else {
            hs_buf_putc(b, (char)*p);
        }
    }
}

/* The run's named sources, so a report can tell when each was last backed
 * up (stale= says which of them were carried forward instead). */
static void put_sources(struct hs_buf *b, const struct hs_backup_result *r)
{
    const char *sep = " sources=";
    for (size_t i = 0; i < r->n_sources; i++) {
        if (!r->sources[i].name[0])
            continue; /* a lone source from the command line has no name */
        hs_buf_puts(b, sep);
        put_name(b, r->sources[i].name);
        sep = ",";
    }
}

static void format_line(struct hs_buf *b, const struct hs_log_entry *le)
{
    put_time(b, "start", le->start);
    put_time(b, "end", le->end);
    hs_buf_puts(b, " command=");
    hs_buf_puts(b, le->command);
    put_num(b, "status", (uint64_t)le->status);
    if (le->error) {
        hs_buf_puts(b, " error=");
        put_name(b, le->error);
    }
    if (le->backup) {
        const struct hs_backup_stats *s = &le->backup->stats;
        put_num(b, "files", s->files);
        put_num(b, "copied", s->copied);
        put_num(b, "linked", s->linked + s->hardlinked + s->resumed + s->content_linked);
        put_num(b, "bytes", s->bytes_copied);
        hs_buf_puts(b, " snapshot=");
        hs_buf_puts(b, le->backup->name[0] ? le->backup->name : "-");
        if (le->backup->stale[0]) {
            hs_buf_puts(b, " stale=");
            put_name(b, le->backup->stale);
        }
        put_sources(b, le->backup);
    }
    if (le->backup && (le->backup->stats.unlinked_unchanged || le->backup->change.raised)) {
        /* what status tells a monitor the morning after */
        hs_buf_puts(b, " anomaly=");
        if (le->backup->stats.unlinked_unchanged)
            hs_buf_puts(b, le->backup->change.raised ? "unlinked,change" : "unlinked");
        else
            hs_buf_puts(b, "change");
    }
    if (le->prune) {
        put_num(b, "deleted", le->prune->deleted);
        put_num(b, "kept", le->prune->kept);
        put_num(b, "freed", le->prune->freed);
    }
    hs_buf_putc(b, '\n');
}

int hs_log_append(const char *dest, const struct hs_log_entry *le, struct hs_err *err)
{
    /* the store the run wrote to, reached as it was (hs_open_dir_trusted) */
    int parent;
    char last[NAME_MAX + 1];
    int d = hs_open_dir_trusted(dest, &parent, last, NULL);
    if (parent >= 0)
        close(parent);
    int hs = d >= 0 ? openat(d, HS_STORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (d >= 0)
        close(d);
    if (hs < 0)
        return 0; /* not a store (yet): nothing to log into */
    /* a fifo would hold the run (and its lock) until someone reads it */
    int fd = hs_open_regular(hs, "log", O_WRONLY | O_APPEND | O_CREAT, 0600);
    close(hs);
    if (fd == -EBADMSG)
        return hs_store_err_at(err, EBADMSG, dest, HS_STORE_DIR "/log", "not writing the log",
                               "not a regular file");
    if (fd < 0)
        return hs_err_path(err, -fd, "cannot open the log of", dest);
    struct hs_buf b = {0};
    format_line(&b, le);
    ssize_t n = b.data ? write(fd, b.data, b.len) : -1;
    int r = n == (ssize_t)b.len
                ? 0
                : hs_err_path(err, n < 0 ? errno : EIO, "cannot write the log of", dest);
    close(fd);
    hs_buf_free(&b);
    return r;
}

size_t hs_log_tail(int hsfd, char *buf, size_t cap)
{
    int fd = hs_open_regular(hsfd, "log", O_RDONLY, 0);
    struct stat st;
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        size_t want = cap - 1;
        off_t from = st.st_size > (off_t)want ? st.st_size - (off_t)want : 0;
        n = pread(fd, buf, want, from);
    }
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        buf[0] = '\0';
        return 0;
    }
    while (n > 0 && buf[n - 1] != '\n') /* a line being written: not yet */
        n--;
    buf[n] = '\0';
    return (size_t)n;
}

bool hs_log_field(const char *line, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = line; p && *p && *p != '\n'; p = strpbrk(p, " \n")) {
        while (*p == ' ')
            p++;
        if (!strncmp(p, key, klen) && p[klen] == '=') {
            p += klen + 1;
            size_t len = strcspn(p, " \n");
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
            return true;
        }
    }
    return false;
}
