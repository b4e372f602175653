/*
 * status: is a store healthy? Cheap by design, since monitoring runs it
 * often: the names at DEST's top, DEST's mode, whether partial/ holds
 * anything, whether the lock is held, and the last complete line of the
 * log's tail. No snapshot is opened.
 */
#include "dirlist.h"
#include "hardsnap.h"
#include "store.h"
#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* How much of the log's end is read for its last line. */
#define LOG_TAIL 8192

static bool dir_has_entries(int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* read from its start */
    struct hs_dirlist l = {0};
    bool any = dup_fd >= 0 && hs_dirlist_read(&l, dup_fd) == 0 && l.n > 0;
    hs_dirlist_free(&l);
    if (dup_fd >= 0)
        close(dup_fd);
    return any;
}

/* The sources a backup carried forward (.hardsnap/stale/NAME), sorted. */
static void read_stale(int hsfd, struct hs_health *h)
{
    int dfd = openat(hsfd, HS_STALE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct hs_dirlist l = {0};
    if (dfd < 0 || hs_dirlist_read(&l, dfd) < 0 || l.n == 0 ||
        !(h->stale = calloc(l.n, sizeof *h->stale))) {
        hs_dirlist_free(&l);
        if (dfd >= 0)
            close(dfd);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        struct hs_stale_source *s = &h->stale[h->n_stale];
        const char *name = l.names + l.ents[i].off;
        if (strlen(name) >= sizeof s->name)
            continue;
        snprintf(s->name, sizeof s->name, "%s", name);
        char buf[64] = {0};
        int fd = hs_open_regular(dfd, name, O_RDONLY, 0);
        if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0 && !strncmp(buf, "since=", 6))
            snprintf(s->since, sizeof s->since, "%.*s", (int)strcspn(buf + 6, "\n"), buf + 6);
        if (fd >= 0)
            close(fd);
        h->n_stale++;
    }
    hs_dirlist_free(&l);
    close(dfd);
}

/* Whether a run holds the store's lock now (a shared lock cannot be had). */
static bool lock_held(int hsfd)
{
    int fd = hs_open_regular(hsfd, "lock", O_RDONLY, 0);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

bool hs_log_field(const char *line, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = line; p && *p; p = strchr(p, ' ')) {
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

/* The last complete line of DEST/.hardsnap/log. */
static void read_last_run(int hsfd, struct hs_health *h)
{
    int fd = hs_open_regular(hsfd, "log", O_RDONLY, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    char buf[LOG_TAIL + 1];
    off_t from = st.st_size > LOG_TAIL ? st.st_size - LOG_TAIL : 0;
    ssize_t n = pread(fd, buf, LOG_TAIL, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] != '\n') /* a line being written: not yet */
        buf[--n] = '\0';
    if (n > 0)
        buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    char status[16];
    if (!hs_log_field(line, "command", h->last_command, sizeof h->last_command) ||
        !hs_log_field(line, "end", h->last_end, sizeof h->last_end) ||
        !hs_log_field(line, "status", status, sizeof status))
        return;
    h->last_status = atoi(status);
    if (!hs_log_field(line, "snapshot", h->last_snapshot, sizeof h->last_snapshot) ||
        !strcmp(h->last_snapshot, "-"))
        h->last_snapshot[0] = '\0';
    h->have_last = true;
}

static int add_future(struct hs_health *h, const char *name)
{
    char(*p)[HS_SNAPSHOT_NAME_LEN + 1] = realloc(h->future, (h->n_future + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    h->future = p;
    snprintf(h->future[h->n_future++], sizeof *p, "%s", name);
    return 0;
}

static int look(struct hs_store *s, time_t now, int64_t max_age, struct hs_health *h,
                struct hs_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int r = hs_store_list(s, &names, &n, err);
    if (r < 0)
        return r;
    h->snapshots = n;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (hs_snapshot_in_future(names[i]))
            r = add_future(h, names[i]);
    if (r == 0 && n > 0) {
        const char *newest = names[hs_snapshot_newest_current(names, n)];
        time_t t;
        snprintf(h->newest, sizeof h->newest, "%s", newest);
        if (hs_snapshot_name_parse(newest, &t) == 0)
            h->age = (int64_t)now - (int64_t)t;
    }
    hs_store_list_free(names, n);
    if (r < 0)
        return hs_err_setf(err, -r, "status");
    struct stat st;
    if (fstat(s->destfd, &st) == 0) {
        h->dest_open = hs_store_dest_open(&st);
        h->dest_mode = st.st_mode & 07777;
    }
    read_stale(s->hsfd, h);
    h->running = lock_held(s->hsfd);
    h->interrupted = !h->running && dir_has_entries(s->partialfd);
    read_last_run(s->hsfd, h);
    if (n == 0)
        return 0;
    if (h->age > max_age)
        h->attention |= HS_HEALTH_OLD;
    if (h->have_last && h->last_status >= HS_USAGE)
        h->attention |= HS_HEALTH_FAILED;
    if (h->n_future)
        h->attention |= HS_HEALTH_FUTURE;
    if (h->dest_open)
        h->attention |= HS_HEALTH_OPEN;
    if (h->interrupted)
        h->attention |= HS_HEALTH_INTERRUPTED;
    if (h->n_stale)
        h->attention |= HS_HEALTH_STALE;
    return 0;
}

enum hs_status hs_health(const char *dest, const char *now, int64_t max_age, struct hs_health *h,
                         struct hs_err *err)
{
    memset(h, 0, sizeof *h);
    hs_err_clear(err);
    time_t t = time(NULL);
    if (now && hs_snapshot_name_parse(now, &t) < 0) {
        hs_err_usage(err, 0, "not a snapshot time (YYYY-MM-DDTHHMMSSZ)", now);
        return HS_USAGE;
    }
    struct hs_store s;
    int r = hs_store_open(&s, dest, 0, err);
    if (r == 0)
        r = look(&s, t, max_age, h, err);
    h->is_store = r == 0;
    hs_store_close(&s);
    if (r < 0) {
        /* not a store, or not one that can be read: for monitoring, as bad
         * as no snapshot (3), not a usage error */
        err->kind = HS_FAILED;
        return HS_FAILED;
    }
    if (h->snapshots == 0) {
        hs_err_path(err, 0, "no snapshot in", dest);
        return HS_FAILED;
    }
    return h->attention ? HS_WARN : HS_OK;
}

void hs_health_free(struct hs_health *h)
{
    free(h->future);
    h->future = NULL;
    free(h->stale);
    h->stale = NULL;
    h->n_stale = 0;
    h->n_future = 0;
}
