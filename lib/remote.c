/*
 * The client end of a pull (see remote.h, and wire.h for the protocol).
 *
 * Files under .hardsnap/remote/, KEY being a hash of the store's id and the
 * source's host and path:
 *   KEY.base   the list of the last published pull: what the delta is against
 *   KEY.new    the list rebuilt by this pull (base once published)
 *   KEY.got    (index, content hash) of each file that arrived, in index order
 *   spool/HASH the data that arrived, named by its XXH3-128
 */
#include "remote.h"
#include "bytes.h"
#include "copy.h"
#include "delta.h"
#include "err.h"
#include "fsutil.h"
#include "listwalk.h"
#include "manifest.h"
#include "remote_blocks.h"
#include "storefile.h"
#include "wire.h"
#include "xattr.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define REMOTE_DIR "remote"
#define SPOOL_DIR  "spool"
#define GOT_SIZE   25 /* status (0 or errno), index, hash */
/* 20 ms ticks a remote shell is given to end after its connection closed */
#define REAP_PATIENCE (30 * 50)

struct rebuild;

struct remote {
    struct hs_tree t;
    struct hs_remote_opts o;
    struct hs_err *err;
    char *name;   /* [USER@]HOST:PATH */
    char *prefix; /* o.prefix's copy */
    bool store_failed;
    pid_t pid;
    struct hs_conn c;
    bool connected;
    struct hs_buf msg;
    int dirfd, spoolfd;  /* .hardsnap/remote and its spool (-1 in a dry run) */
    uint8_t key_bin[16]; /* the source in this store: names its files, told to serve */
    char key[33];        /* in hex */
    /* the walk over the rebuilt list */
    struct rebuild *rb; /* streaming: the list is still arriving, the engine walks it as it does */
    bool list_ended;    /* streaming: the engine has had the whole list */
    bool base_used;     /* the list came as a delta against KEY.base */
    int fatal;          /* streaming: the pull failed under the engine's walk */
    char *fatal_msg;
    struct hs_xattrs xa; /* streaming: the records' xattrs decoded, to check them */
    int listfd, gotfd;
    struct hs_conn lconn;
    struct hs_ldec list;
    bool list_open;
    struct hs_listwalk w;
    /* KEY.got, read in step */
    uint64_t got_index;
    uint8_t got_hash[16];
    int got_err;
    bool got_valid, got_end;
    struct stat opened; /* what restat answers */
    /* the content hash of the spool file opened last, if it was one */
    bool spooled;
    uint8_t spooled_hash[16];
    int emptyfd; /* an empty file, dup'ed for every empty one */
    /* the block hashes of a big file as it arrives, kept beside it in the
     * spool (HASH.blk) for the block map of the snapshot that adopts it */
    struct hs_blockhash bh;
    bool bh_ready;
    unsigned char gotbuf[GOT_SIZE * 256];
    size_t gotpos, gotlen;
};

/* A failure of this store (not of the remote end): the run cannot go on. */
static int store_fail(struct remote *rm, int errnum, const char *what, const char *path)
{
    rm->store_failed = true;
    return hs_err_path(rm->err, errnum, what, path);
}

static void remote_warn(struct remote *rm, int errnum, const char *what, const char *path)
{
    if (rm->o.warn)
        rm->o.warn(rm->o.user, errnum, what, path);
}

char *hs_remote_name(const struct hs_source *src)
{
    char *s = NULL;
    if (asprintf(&s, "%s:%s", src->host, src->path) < 0)
        return NULL;
    return s;
}

/* ---- the connection --------------------------------------------------- */

/* Splits a command as sh would for plain words and quotes ('...', "...",
 * backslash): no expansion. Appends to argv (count in *n). */
static int split_words(const char *s, char ***argv, size_t *n)
{
    struct hs_buf w = {0};
    int r = 0;
    while (r == 0 && *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        hs_buf_truncate(&w, 0);
        char q = 0;
        for (; *s && (q || (*s != ' ' && *s != '\t' && *s != '\n')); s++) {
            if (!q && (*s == '\'' || *s == '"')) {
                q = *s;
            } else if (q && *s == q) {
                q = 0;
            } else if (*s == '\\' && q != '\'' && s[1]) {
                r |= hs_buf_putc(&w, *++s);
            } else {
                r |= hs_buf_putc(&w, *s);
            }
        }
        if (q)
            return -EINVAL;
        char **v = realloc(*argv, (*n + 2) * sizeof *v);
        if (!v || r) {
            hs_buf_free(&w);
            return -ENOMEM;
        }
        *argv = v;
        v[(*n)++] = strdup(w.data ? w.data : "");
        v[*n] = NULL;
        if (!v[*n - 1])
            r = -ENOMEM;
    }
    hs_buf_free(&w);
    return r;
}

static void free_argv(char **argv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
}

static int spawn(struct remote *rm)
{
    const struct hs_source *src = rm->o.src;
    char **argv = NULL;
    size_t n = 0;
    const char *rsh = src->rsh && *src->rsh ? src->rsh : "ssh";
    int r = split_words(rsh, &argv, &n);
    if (r == 0 && n == 0)
        r = -EINVAL;
    if (r < 0) {
        free_argv(argv, n);
        return hs_err_setf(rm->err, -r, "bad remote shell command \"%s\"", rsh);
    }
    const char *tail[] = {
        src->host, src->hardsnap_path && *src->hardsnap_path ? src->hardsnap_path : "hardsnap",
        "serve"};
    char **v = realloc(argv, (n + 4) * sizeof *v);
    if (!v) {
        free_argv(argv, n);
        return hs_err_setf(rm->err, ENOMEM, "remote");
    }
    argv = v;
    for (size_t i = 0; i < 3; i++)
        argv[n++] = strdup(tail[i]);
    argv[n] = NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free_argv(argv, n);
        return hs_err_setf(rm->err, errno, "remote");
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
            _exit(127);
        execvp(argv[0], argv);
        dprintf(2, "hardsnap: cannot run the remote shell %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int err = errno;
    close(sv[1]);
    free_argv(argv, n);
    if (pid < 0) {
        close(sv[0]);
        return hs_err_setf(rm->err, err, "cannot start the remote shell");
    }
    rm->pid = pid;
    hs_conn_init(&rm->c, sv[0], sv[0], rm->o.timeout, src->host);
    rm->connected = true;
    return 0;
}

/* The exit of the remote shell, said as ssh's callers say it. */
static void reap(struct remote *rm, bool kill_it, char *why, size_t len)
{
    if (why)
        why[0] = '\0';
    if (rm->pid <= 0)
        return;
    if (kill_it)
        kill(rm->pid, SIGTERM);
    /* its end of the connection is closed: a remote shell that does not
     * end by itself soon (a server that will not let go) is ended */
    int status = 0;
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        pid_t p = waitpid(rm->pid, &status, WNOHANG);
        if (p == rm->pid || (p < 0 && errno != EINTR))
            break;
        if (waited == REAP_PATIENCE)
            kill(rm->pid, SIGTERM);
        else if (waited == 2 * REAP_PATIENCE)
            kill(rm->pid, SIGKILL);
        nanosleep(&tick, NULL);
    }
    rm->pid = 0;
    if (!why)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status))
        snprintf(why, len, " (the remote shell exited with status %d)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status) && !kill_it)
        snprintf(why, len, " (the remote shell was killed by signal %d)", WTERMSIG(status));
}

/* A failure of the connection: the message says which source and, when
 * the other end is gone, how the remote shell ended. */
static int conn_failed(struct remote *rm, int r)
{
    if (rm->connected) {
        close(rm->c.in);
        rm->connected = false;
    }
    char why[128];
    reap(rm, r == -ETIMEDOUT, why, sizeof why);
    const char *msg = rm->err->msg ? rm->err->msg : "connection failed";
    char *text = NULL;
    if (asprintf(&text, "remote source %s: %s%s", rm->name, msg, why) >= 0) {
        int code = rm->err->code ? rm->err->code : -r;
        hs_err_setf(rm->err, 0, "%s", text);
        rm->err->code = code;
        free(text);
    }
    return r < 0 ? r : -EIO;
}

static int recv_msg(struct remote *rm, uint8_t *type)
{
    int r = hs_conn_recv(&rm->c, type, &rm->msg, rm->err);
    if (r == 0)
        r = hs_err_setf(rm->err, ECONNRESET, "the connection closed");
    return r < 0 ? r : 0;
}

/* An ERROR from the server (its payload p, n bytes): its message. */
static int server_error_of(struct remote *rm, const void *p, size_t n)
{
    struct hs_dec d;
    hs_dec_init(&d, p, n);
    const unsigned char *code = hs_get_raw(&d, 4);
    int errnum = code ? (int)(hs_le32_load(code) & 0xfff) : EIO;
    size_t len = (size_t)(d.end - d.p);
    char *text = hs_escape((const char *)d.p, len > 1024 ? 1024 : len);
    hs_err_setf(rm->err, 0, "%s", text ? text : "?");
    rm->err->code = errnum ? errnum : EIO;
    free(text);
    return -rm->err->code;
}

static int server_error(struct remote *rm)
{
    return server_error_of(rm, rm->msg.data, rm->msg.len);
}

static int handshake(struct remote *rm)
{
    struct hs_buf h = {0};
    int r = hs_wire_hello(&h) < 0 ? hs_err_setf(rm->err, ENOMEM, "remote")
                                  : hs_conn_send(&rm->c, HS_MSG_HELLO, h.data, h.len, rm->err);
    hs_buf_free(&h);
    uint8_t type = 0;
    if (r == 0)
        r = hs_conn_flush(&rm->c, rm->err);
    if (r == 0)
        r = recv_msg(rm, &type);
    if (r < 0 && r != -ETIMEDOUT) {
        /* nothing came back: ssh could not connect, or the far end has no
         * hardsnap (the remote shell's own words are on stderr) */
        int code = rm->err->code;
        hs_err_setf(rm->err, 0, "cannot reach %s: no answer from %s serve", rm->o.src->host,
                    rm->o.src->hardsnap_path && *rm->o.src->hardsnap_path ? rm->o.src->hardsnap_path
                                                                          : "hardsnap");
        rm->err->code = code ? code : ECONNREFUSED;
    }
    if (r < 0)
        return r;
    char why[512];
    if (type == HS_MSG_ERROR)
        return server_error(rm);
    if (type != HS_MSG_HELLO ||
        hs_wire_hello_check(rm->msg.data, rm->msg.len, rm->o.src->host, why, sizeof why) < 0) {
        if (type != HS_MSG_HELLO)
            snprintf(why, sizeof why, "the remote end is not hardsnap serve");
        return hs_err_setf(rm->err, EPROTO, "%s", why);
    }
    return 0;
}

/* ---- the store's side: key, base, spool ------------------------------- */

static int open_dirs(struct remote *rm)
{
    rm->dirfd = rm->spoolfd = -1;
    if (rm->o.hsfd < 0)
        return 0;
    if (mkdirat(rm->o.hsfd, REMOTE_DIR, 0700) < 0 && errno != EEXIST)
        return store_fail(rm, errno, "cannot make", ".hardsnap/" REMOTE_DIR);
    rm->dirfd = hs_open_dir(rm->o.hsfd, REMOTE_DIR);
    if (rm->dirfd < 0)
        return store_fail(rm, errno, "cannot open", ".hardsnap/" REMOTE_DIR);
    if (mkdirat(rm->dirfd, SPOOL_DIR, 0700) < 0 && errno != EEXIST)
        return store_fail(rm, errno, "cannot make", ".hardsnap/remote/" SPOOL_DIR);
    rm->spoolfd = hs_open_dir(rm->dirfd, SPOOL_DIR);
    return rm->spoolfd < 0 ? store_fail(rm, errno, "cannot open", ".hardsnap/remote/spool") : 0;
}

/* The store's id (.hardsnap/remote/id, made once): bases are per store. */
static void store_id(int dirfd, uint8_t id[16])
{
    memset(id, 0, 16);
    if (dirfd < 0)
        return;
    int fd = openat(dirfd, "id", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && read(fd, id, 16) == 16) {
        close(fd);
        return;
    }
    if (fd >= 0)
        close(fd);
    if (getrandom(id, 16, 0) != 16)
        return;
    fd = openat(dirfd, "id.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && write(fd, id, 16) == 16 && fsync(fd) == 0)
        renameat(dirfd, "id.tmp", dirfd, "id");
    if (fd >= 0)
        close(fd);
}

static void source_key(int dirfd, const struct hs_source *src, uint8_t key[16])
{
    uint8_t id[16];
    store_id(dirfd, id);
    XXH3_state_t *s = XXH3_createState();
    if (!s) {
        memset(key, 0, 16);
        return;
    }
    XXH3_128bits_reset(s);
    XXH3_128bits_update(s, id, 16);
    XXH3_128bits_update(s, src->host, strlen(src->host) + 1);
    XXH3_128bits_update(s, src->path, strlen(src->path) + 1);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s));
    memcpy(key, c.digest, 16);
    XXH3_freeState(s);
}

static void key_file(const struct remote *rm, const char *suffix, char out[64])
{
    snprintf(out, 64, "%s.%s", rm->key, suffix);
}

/* KEY.of names the snapshot whose tree of this source KEY.base is. */
static void write_of(int dirfd, const char *hex, const char *snapshot)
{
    char tmp[64], name[64];
    snprintf(tmp, sizeof tmp, "%s.of.tmp", hex);
    snprintf(name, sizeof name, "%s.of", hex);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool ok = hs_write_all(fd, snapshot, strlen(snapshot)) == 0;
    close(fd);
    if (!ok || renameat(dirfd, tmp, dirfd, name) < 0)
        unlinkat(dirfd, tmp, 0);
}

static bool read_of(int dirfd, const char *hex, char out[HS_SNAPSHOT_NAME_LEN + 1])
{
    char name[64];
    snprintf(name, sizeof name, "%s.of", hex);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, HS_SNAPSHOT_NAME_LEN) : -1;
    if (fd >= 0)
        close(fd);
    out[n > 0 ? n : 0] = '\0';
    return n == HS_SNAPSHOT_NAME_LEN;
}

static int open_remote_dir(int hsfd, const struct hs_source *src, char hex[33])
{
    int dirfd = hs_open_dir(hsfd, REMOTE_DIR);
    if (dirfd >= 0) {
        uint8_t key[16];
        source_key(dirfd, src, key);
        hs_wire_hex(key, 16, hex);
    }
    return dirfd;
}

void hs_remote_published(int hsfd, const struct hs_source *src, const char *snapshot)
{
    char hex[33], from[64], to[64];
    int dirfd = open_remote_dir(hsfd, src, hex);
    if (dirfd < 0)
        return;
    snprintf(from, sizeof from, "%s.new", hex);
    snprintf(to, sizeof to, "%s.base", hex);
    if (renameat(dirfd, from, dirfd, to) == 0)
        write_of(dirfd, hex, snapshot);
    snprintf(from, sizeof from, "%s.got", hex);
    unlinkat(dirfd, from, 0);
    close(dirfd);
}

void hs_remote_carried(int hsfd, const struct hs_source *src, const char *prev,
                       const char *snapshot)
{
    char hex[33], of[HS_SNAPSHOT_NAME_LEN + 1];
    int dirfd = open_remote_dir(hsfd, src, hex);
    if (dirfd < 0)
        return;
    /* the new snapshot holds the same tree of it as prev */
    if (read_of(dirfd, hex, of) && strcmp(of, prev) == 0)
        write_of(dirfd, hex, snapshot);
    close(dirfd);
}

void hs_remote_spool_clear(int hsfd)
{
    int dirfd = hs_open_dir(hsfd, REMOTE_DIR);
    if (dirfd < 0)
        return;
    struct hs_err e = {0};
    hs_remove_tree_in(dirfd, SPOOL_DIR, ".hardsnap/remote", &e);
    hs_err_clear(&e);
    close(dirfd);
}

/* ---- the request and the list ----------------------------------------- */

/* Whether an earlier pull left data in the spool (it was cut off). */
static bool spool_has_data(struct remote *rm)
{
    if (rm->spoolfd < 0)
        return false;
    int fd = openat(rm->spoolfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    bool any = false;
    for (struct dirent *e; d && !any && (e = readdir(d));)
        any = e->d_name[0] != '.';
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    return any;
}

static int send_request(struct remote *rm, int basefd)
{
    struct hs_req q = {0};
    q.flags = (rm->o.one_fs ? HS_REQ_ONE_FS : 0) |
              (!rm->o.dry_run && (rm->o.store_has_data || spool_has_data(rm)) ? HS_REQ_HASHES : 0);
    q.global = (struct hs_exclude *)rm->o.global;
    q.own = (struct hs_exclude *)rm->o.own;
    memcpy(q.key, rm->key_bin, 16);
    if (rm->o.checksum)
        q.flags |= HS_REQ_CHECKSUM;
    else if (basefd >= 0 && hs_list_file_id(basefd, q.base_id) == 0)
        q.has_base = true;
    struct hs_buf b = {0};
    int r = hs_buf_puts(&q.path, rm->o.src->path) | hs_buf_puts(&q.prefix, rm->o.prefix) |
                    hs_req_encode(&q, &b)
                ? hs_err_setf(rm->err, ENOMEM, "remote")
                : hs_conn_send(&rm->c, HS_MSG_REQUEST, b.data, b.len, rm->err);
    hs_buf_free(&b);
    hs_buf_free(&q.path);
    hs_buf_free(&q.prefix);
    return r;
}

struct rebuild {
    struct remote *rm;
    struct hs_ldec wire;
    struct hs_conn bconn, nconn;
    struct hs_ldec base;
    bool have_base;
    struct hs_lenc out;
    struct hs_buf wants; /* (gap, run) varints */
    uint64_t want_at, run_start, run_len;
    bool in_run;
    int wantfd; /* (index, size) of each wanted file: what may arrive */
    struct hs_buf wantbuf;
    uint8_t id[16]; /* of the rebuilt list */
    int basefd, newfd;
    char tmp[64]; /* newfd's name in .hardsnap/remote ("" in a dry run: anonymous) */
    bool have_base_id;
    uint8_t base_id[16];
    /* where in the server's list it is */
    uint64_t index; /* records rebuilt */
    uint8_t op;     /* a KEEP or DROP being applied */
    uint64_t left;  /* to this many base records more */
    bool ended;
    struct hs_rblocks blocks; /* the bases of changed big files */
};

static int on_list_msg(void *user, uint8_t type, struct hs_dec *d)
{
    struct remote *rm = user;
    if (type == HS_MSG_ERROR)
        return server_error_of(rm, d->p, (size_t)(d->end - d->p));
    if (type != HS_MSG_WARN)
        return -ENOMSG;
    uint64_t errnum = hs_get_varint(d);
    size_t pl, wl;
    const char *path = hs_get_bytes(d, HS_WIRE_MAX_PATH, &pl);
    const char *what = hs_get_bytes(d, HS_WIRE_MAX_WHAT, &wl);
    if (d->bad)
        return -EBADMSG;
    char *p = strndup(path, pl), *w = strndup(what, wl);
    char *shown = NULL;
    if (p && w && asprintf(&shown, "%s:%s/%s", rm->o.src->host, rm->o.src->path, p) >= 0)
        remote_warn(rm, errnum > 4095 ? EIO : (int)errnum, w, shown);
    free(shown);
    free(p);
    free(w);
    return 0;
}

static int want(struct rebuild *b, uint64_t index, uint64_t size)
{
    unsigned char rec[16];
    hs_le64_store(rec, index);
    hs_le64_store(rec + 8, size);
    if (hs_buf_append(&b->wantbuf, rec, sizeof rec) < 0)
        return -ENOMEM;
    if (b->wantbuf.len >= 65536) {
        if (hs_write_all(b->wantfd, b->wantbuf.data, b->wantbuf.len) < 0)
            return -errno;
        hs_buf_truncate(&b->wantbuf, 0);
    }
    if (b->in_run && b->run_start + b->run_len == index) {
        b->run_len++;
        return 0;
    }
    int r = 0;
    if (b->in_run) {
        r = hs_put_varint(&b->wants, b->run_start - b->want_at) |
            hs_put_varint(&b->wants, b->run_len);
        b->want_at = b->run_start + b->run_len;
    }
    b->in_run = true;
    b->run_start = index;
    b->run_len = 1;
    return r;
}

static bool spooled(struct remote *rm, const uint8_t hash[16], uint64_t size)
{
    char hex[33];
    struct stat st;
    hs_wire_hex(hash, 16, hex);
    return rm->spoolfd >= 0 && fstatat(rm->spoolfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

/* Whether this new or changed record's content must come over the wire. */
static bool wanted(struct remote *rm, const struct hs_rec *r)
{
    if (rm->o.dry_run || r->kind != HS_REC_ENTRY || !S_ISREG(r->st.st_mode) || r->st.st_size == 0 ||
        r->data_err)
        return false;
    if (!r->has_hash)
        return true;
    if (spooled(rm, r->hash, (uint64_t)r->st.st_size))
        return false;
    int fd = rm->o.local_content ? rm->o.local_content(rm->o.user, r->hash, (uint64_t)r->st.st_size)
                                 : -1;
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return true;
}

static int add_rec(struct rebuild *b, const struct hs_rec *r, bool annotate, uint64_t index)
{
    if (hs_ldec_count(&b->wire, r) < 0 || hs_lenc_rec(&b->out, r, annotate, b->rm->err) < 0)
        return hs_err_setf(b->rm->err, ENOMEM, "list");
    if (!annotate || !wanted(b->rm, r))
        return 0;
    int k = want(b, index, (uint64_t)r->st.st_size);
    if (k < 0)
        return store_fail(b->rm, -k, "cannot write", ".hardsnap/remote");
    k = hs_rblocks_want(&b->blocks, index, r->path, r->path_len, (uint64_t)r->st.st_size,
                        b->rm->err);
    if (k < 0)
        b->rm->store_failed = true;
    return k < 0 ? k : 0;
}

static int base_rec(struct rebuild *b, struct hs_rec *r)
{
    uint8_t op = 0;
    uint64_t n = 0;
    int k = b->have_base ? hs_ldec_next(&b->base, &op, r, &n, NULL, NULL, b->rm->err) : 0;
    if (k == 1 && op != HS_LOP_REC)
        k = -EBADMSG;
    if (k <= 0)
        return hs_err_setf(b->rm->err, EBADMSG,
                           "the list refers to a base this store does not hold intact");
    return 0;
}

static int rebuild_init(struct rebuild *b)
{
    struct remote *rm = b->rm;
    struct hs_rblocks_opts bo = {
        .dirfd = rm->dirfd,
        .manifestsfd = rm->o.manifestsfd,
        .prev = rm->o.prev,
        .prefix = rm->prefix,
        .prev_file = rm->o.dry_run || !rm->o.store_has_data ? NULL : rm->o.prev_file,
        .user = rm->o.user,
    };
    hs_rblocks_init(&b->blocks, &bo);
    hs_conn_init(&b->nconn, -1, b->newfd, 0, "list file");
    int r = hs_ldec_init(&b->wire, &rm->c) | hs_lenc_init(&b->out, &b->nconn);
    if (r == 0 && b->basefd >= 0) {
        hs_conn_init(&b->bconn, b->basefd, -1, 0, "base list");
        b->have_base = hs_ldec_init(&b->base, &b->bconn) == 0;
    }
    return r ? hs_err_setf(rm->err, ENOMEM, "list") : 0;
}

/* A list that did not rebuild into a good one (not the one sent, not a
 * tree) may have come from a damaged base: it is not used again, the next
 * pull asks for the whole list (otherwise every pull would fail alike). */
static void forget_base(struct remote *rm)
{
    if (!rm->base_used || rm->dirfd < 0 || rm->err->code != EBADMSG)
        return;
    char name[64];
    key_file(rm, "base", name);
    unlinkat(rm->dirfd, name, 0);
    key_file(rm, "of", name);
    unlinkat(rm->dirfd, name, 0);
}

static int rebuild_end(struct rebuild *b)
{
    struct remote *rm = b->rm;
    if (!hs_ldec_id_ok(&b->wire))
        return hs_err_setf(rm->err, EBADMSG,
                           "the list rebuilt here (%" PRIu64
                           " records) is not the one sent (%" PRIu64 "): a damaged base list",
                           b->wire.seen, b->wire.count);
    int r = hs_lenc_finish(&b->out, b->id, rm->err);
    if (r == 0 && b->in_run)
        r = hs_put_varint(&b->wants, b->run_start - b->want_at) |
                    hs_put_varint(&b->wants, b->run_len)
                ? hs_err_setf(rm->err, ENOMEM, "list")
                : 0;
    return r;
}

/* The next record of the rebuilt list into *rec (valid until the next
 * call), written to the list file too: 1, 0 after the list's end (checked
 * against the id the server sent), <0. */
static int rebuild_next(struct rebuild *b, struct hs_rec *rec)
{
    struct remote *rm = b->rm;
    for (;;) {
        while (b->left) {
            b->left--;
            int r = base_rec(b, rec);
            if (r == 0 && b->op == HS_LOP_KEEP)
                return (r = add_rec(b, rec, false, b->index++)) < 0 ? r : 1;
            if (r < 0)
                return r;
        }
        if (b->ended)
            return 0;
        uint8_t op = 0;
        uint64_t n = 0;
        int r = hs_ldec_next(&b->wire, &op, rec, &n, on_list_msg, rm, rm->err);
        if (r == 0) {
            b->ended = true;
            r = rebuild_end(b);
        }
        if (r <= 0)
            return r;
        if (op == HS_LOP_REC)
            return (r = add_rec(b, rec, true, b->index++)) < 0 ? r : 1;
        b->op = op;
        b->left = n;
    }
}

/* The rest of the list: 0 at its end, <0. */
static int rebuild_rest(struct rebuild *b)
{
    struct hs_rec rec;
    int r;
    while ((r = rebuild_next(b, &rec)) == 1)
        ;
    return r;
}

static void rebuild_free(struct remote *rm)
{
    struct rebuild *b = rm->rb;
    if (!b)
        return;
    hs_ldec_free(&b->wire);
    hs_lenc_free(&b->out);
    hs_conn_free(&b->nconn);
    if (b->have_base)
        hs_ldec_free(&b->base);
    hs_conn_free(&b->bconn);
    hs_buf_free(&b->wants);
    hs_buf_free(&b->wantbuf);
    if (rm->o.delta_files) {
        *rm->o.delta_files += b->blocks.st.files;
        *rm->o.delta_bytes += b->blocks.st.bytes;
        *rm->o.delta_written += b->blocks.st.written;
    }
    hs_rblocks_free(&b->blocks);
    int fds[] = {b->wantfd, b->basefd, b->newfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(b);
    rm->rb = NULL;
}

static int send_wants(struct remote *rm, const struct hs_buf *w, struct hs_rblocks *blocks)
{
    size_t off = 0;
    int r = 0;
    /* cut between varints: each frame decodes on its own */
    while (r == 0 && off < w->len) {
        size_t end = off + HS_WIRE_FRAME_FILL < w->len ? off + HS_WIRE_FRAME_FILL : w->len;
        while (end < w->len && (w->data[end - 1] & 0x80))
            end++;
        /* an even number of varints: pairs stay whole */
        size_t k = 0;
        for (size_t i = off; i < end; i++)
            k += !(w->data[i] & 0x80);
        if (k % 2 && end < w->len) {
            while (end < w->len && (w->data[end] & 0x80))
                end++;
            end++;
        }
        r = hs_conn_send(&rm->c, HS_MSG_WANT, w->data + off, end - off, rm->err);
        off = end;
    }
    if (r == 0)
        r = hs_rblocks_send(blocks, &rm->c, rm->err);
    return r == 0 ? hs_conn_send(&rm->c, HS_MSG_WANT_END, NULL, 0, rm->err) : r;
}

/* ---- the data --------------------------------------------------------- */

struct pax_in {
    struct remote *rm;
    bool done;
    /* what may arrive: the wanted (index, size) records of wantfd, read in
     * step, or (wantfd -1) the one file asked for on demand */
    int wantfd;
    unsigned char wbuf[16 * 1024];
    size_t wpos, wlen;
    uint64_t want_index, want_size;
    int gotfd; /* -1: on demand, the index in *fetched */
    uint64_t last;
    bool any;
    uint64_t fetched_index;
    uint8_t fetched_hash[16];
    int fetched_err;
    bool fetched;
    struct hs_rblocks *blocks; /* the bases of the changed big files asked for (NULL: none) */
};

static la_ssize_t pax_read(struct archive *a, void *user, const void **buf)
{
    struct pax_in *p = user;
    struct remote *rm = p->rm;
    while (!p->done) {
        uint8_t type = 0;
        if (recv_msg(rm, &type) < 0) {
            archive_set_error(a, EIO, "%s", rm->err->msg ? rm->err->msg : "connection lost");
            return -1;
        }
        if (type == HS_MSG_DATA_END) {
            p->done = true;
            break;
        }
        if (type == HS_MSG_ERROR) {
            server_error(rm);
            archive_set_error(a, EIO, "%s", rm->err->msg);
            return -1;
        }
        if (type != HS_MSG_DATA) {
            hs_err_setf(rm->err, EBADMSG, "unexpected message in the data");
            archive_set_error(a, EIO, "unexpected message in the data");
            return -1;
        }
        if (rm->msg.len) {
            *buf = rm->msg.data;
            return (la_ssize_t)rm->msg.len;
        }
    }
    return 0;
}

/* The hasher of a member's block hashes, if it is big enough to have a
 * block map record (NULL: none). */
static struct hs_blockhash *spool_hasher(struct remote *rm, int64_t size)
{
    if (size < (int64_t)HS_DELTA_MIN_SIZE)
        return NULL;
    if (!rm->bh_ready && hs_blockhash_init(&rm->bh, HS_DELTA_BLOCK, false) < 0)
        return NULL;
    rm->bh_ready = true;
    hs_blockhash_reset(&rm->bh, (uint64_t)size);
    return &rm->bh;
}

/* spool/HASH.blk: the finished block hashes of spool/HASH, little-endian.
 * Best effort: without it the snapshot has no record of the file. */
static void spool_blocks(struct remote *rm, const uint8_t hash[16], struct hs_blockhash *bh)
{
    char hex[33], name[40], tmp[40];
    hs_wire_hex(hash, 16, hex);
    snprintf(name, sizeof name, "%s.blk", hex);
    snprintf(tmp, sizeof tmp, "blk.%ld", (long)getpid());
    struct hs_blocks b = hs_blockhash_blocks(bh);
    int fd = openat(rm->spoolfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    unsigned char v[8];
    for (size_t i = 0; ok && i < b.n; i++) {
        hs_le64_store(v, b.h[i]);
        ok = hs_write_all(fd, v, 8) == 0;
    }
    if (fd >= 0)
        close(fd);
    if (!ok || renameat(rm->spoolfd, tmp, rm->spoolfd, name) < 0)
        unlinkat(rm->spoolfd, tmp, 0);
}

/* The file a member arrives in, spool/in.PID (tmp): an fd or <0. */
static int spool_open(struct remote *rm, char tmp[64])
{
    snprintf(tmp, 64, "in.%ld", (long)getpid());
    int fd = openat(rm->spoolfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : store_fail(rm, errno, "cannot write", ".hardsnap/remote/spool");
}

/* After r (0: tmp holds the content of hash): named by its hash, or removed. */
static int spool_close(struct remote *rm, const char *tmp, int r, const uint8_t hash[16])
{
    char hex[33] = "";
    if (r == 0)
        hs_wire_hex(hash, 16, hex);
    if (r == 0 && renameat(rm->spoolfd, tmp, rm->spoolfd, hex) < 0)
        r = store_fail(rm, errno, "cannot write", ".hardsnap/remote/spool");
    if (r != 0)
        unlinkat(rm->spoolfd, tmp, 0);
    return r;
}

/* A member of changed blocks rebuilt into the spool over its base: 0,
 * HS_RBLOCKS_STALE (nothing spooled: the file is fetched whole when the
 * engine needs it), <0. */
static int spool_delta(struct remote *rm, struct pax_in *p, struct archive *a,
                       struct archive_entry *ent, uint64_t index, uint8_t hash[16])
{
    char tmp[64];
    int fd = spool_open(rm, tmp);
    if (fd < 0)
        return fd;
    struct hs_blockhash *bh = spool_hasher(rm, archive_entry_size(ent));
    int r = hs_rblocks_build(p->blocks, index, (uint64_t)archive_entry_size(ent), a, fd, hash, bh,
                             rm->name, rm->err);
    close(fd);
    if (r == 0 && bh)
        spool_blocks(rm, hash, bh);
    if (r < 0 && !rm->err->msg)
        r = store_fail(rm, -r, "cannot write", ".hardsnap/remote/spool");
    return spool_close(rm, tmp, r, hash);
}

/* One member into the spool under its hash. */
static int spool_member(struct remote *rm, struct archive *a, struct archive_entry *ent,
                        uint8_t hash[16])
{
    char tmp[64];
    int fd = spool_open(rm, tmp);
    if (fd < 0)
        return fd;
    XXH3_state_t *h = XXH3_createState();
    int r = h ? 0 : hs_err_setf(rm->err, ENOMEM, "remote");
    if (h)
        XXH3_128bits_reset(h);
    int64_t size = archive_entry_size(ent);
    int64_t at = 0;
    struct hs_blockhash *bh = spool_hasher(rm, size);
    while (r == 0) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int k = archive_read_data_block(a, &buf, &n, &off);
        if (k == ARCHIVE_EOF)
            break;
        if (k != ARCHIVE_OK || off < at || (uint64_t)off + n > (uint64_t)size) {
            r = hs_err_setf(rm->err, EIO, "data from %s: %s", rm->name,
                            k != ARCHIVE_OK ? archive_error_string(a) : "bad block");
            break;
        }
        if (off > at)
            hs_hash_zeros(h, (uint64_t)(off - at));
        XXH3_128bits_update(h, buf, n);
        if (bh && off > at)
            hs_blockhash_zeros(bh, (uint64_t)(off - at));
        if (bh)
            hs_blockhash_update(bh, buf, n);
        for (size_t done = 0; done < n;) {
            ssize_t w = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                r = store_fail(rm, errno, "cannot write", ".hardsnap/remote/spool");
                break;
            }
            done += (size_t)w;
        }
        at = off + (int64_t)n;
    }
    if (r == 0 && at < size)
        hs_hash_zeros(h, (uint64_t)(size - at));
    if (r == 0 && bh && at < size)
        hs_blockhash_zeros(bh, (uint64_t)(size - at));
    if (r == 0 && bh && hs_blockhash_finish(bh, NULL) < 0)
        bh = NULL;
    if (r == 0 && ftruncate(fd, size) < 0)
        r = store_fail(rm, errno, "cannot write", ".hardsnap/remote/spool");
    close(fd);
    if (r == 0) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(hash, c.digest, 16);
        if (bh)
            spool_blocks(rm, hash, bh);
    }
    if (h)
        XXH3_freeState(h);
    return spool_close(rm, tmp, r, hash);
}

static int got_put(struct pax_in *p, uint64_t index, const uint8_t hash[16], int err)
{
    if (p->gotfd < 0) {
        p->fetched = true;
        p->fetched_index = index;
        p->fetched_err = err;
        memcpy(p->fetched_hash, hash, 16);
        return 0;
    }
    unsigned char rec[GOT_SIZE];
    rec[0] = (unsigned char)(err > 0 && err < 256 ? err : err ? EIO : 0);
    hs_le64_store(rec + 1, index);
    memcpy(rec + 9, hash, 16);
    return write(p->gotfd, rec, sizeof rec) == (ssize_t)sizeof rec
               ? 0
               : hs_err_path(p->rm->err, errno, "cannot write", ".hardsnap/remote");
}

/* A member's name: "INDEX" (the data of that record of the list),
 * "INDEX.d" (its changed blocks: asked so) or "INDEX-ERRNO" (empty: the
 * server could not read it), indexes rising. */
/* Whether index was asked for, at this size: the server sends nothing
 * else (not a file unasked, not more bytes than the list said). */
static bool was_wanted(struct pax_in *p, uint64_t index, int64_t size, int err)
{
    if (p->wantfd >= 0) {
        for (;;) {
            if (p->wpos == p->wlen) {
                ssize_t n = hs_read_full(p->wantfd, p->wbuf, sizeof p->wbuf);
                if (n < 16)
                    return false;
                p->wpos = 0;
                p->wlen = (size_t)n - (size_t)n % 16;
            }
            p->want_index = hs_le64_load(p->wbuf + p->wpos);
            p->want_size = hs_le64_load(p->wbuf + p->wpos + 8);
            if (p->want_index >= index)
                break;
            p->wpos += 16;
        }
        p->wpos += 16;
    }
    return p->want_index == index && (err || (uint64_t)size == p->want_size);
}

static int member_index(struct pax_in *p, struct archive_entry *ent, uint64_t *index, int *err,
                        bool *delta)
{
    const char *name = archive_entry_pathname(ent);
    char *end = NULL;
    unsigned long long v = 0, e = 0;
    errno = 0;
    if (name && *name >= '0' && *name <= '9')
        v = strtoull(name, &end, 10);
    if (end && *end == '-' && end[1] >= '1' && end[1] <= '9')
        e = strtoull(end + 1, &end, 10);
    *delta = end && end[0] == '.' && end[1] == 'd' && !end[2] && p->blocks &&
             hs_rblocks_has(p->blocks, v);
    if (*delta)
        end += 2;
    if (!end || errno || *end || (p->any && v <= p->last) || e > 4095 ||
        archive_entry_filetype(ent) != AE_IFREG || archive_entry_size(ent) < 0 ||
        (e && archive_entry_size(ent) != 0) || !was_wanted(p, v, archive_entry_size(ent), (int)e))
        return hs_err_setf(p->rm->err, EBADMSG, "data from %s: unexpected member", p->rm->name);
    p->any = true;
    p->last = v;
    *index = v;
    *err = (int)e;
    return 0;
}

/* The data phase: wantfd lists what may come (-1: only want_index of
 * want_size, asked for on demand). */
static int receive_data(struct remote *rm, int gotfd, int wantfd, uint64_t want_index,
                        uint64_t want_size, struct hs_rblocks *blocks, struct pax_in *p)
{
    *p = (struct pax_in){.rm = rm,
                         .blocks = blocks,
                         .gotfd = gotfd,
                         .wantfd = wantfd,
                         .want_index = want_index,
                         .want_size = want_size};
    struct archive *a = archive_read_new();
    if (!a)
        return hs_err_setf(rm->err, ENOMEM, "remote");
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    int r = 0;
    if (archive_read_open(a, p, NULL, pax_read, NULL) != ARCHIVE_OK)
        r = rm->err->msg
                ? -EIO
                : hs_err_setf(rm->err, EIO, "data from %s: %s", rm->name, archive_error_string(a));
    struct archive_entry *ent;
    while (r == 0) {
        int k = archive_read_next_header(a, &ent);
        if (k == ARCHIVE_EOF)
            break;
        uint64_t index = 0;
        uint8_t hash[16];
        int err = 0;
        bool delta = false;
        if (k != ARCHIVE_OK)
            r = rm->err->msg ? -EIO
                             : hs_err_setf(rm->err, EIO, "data from %s: %s", rm->name,
                                           archive_error_string(a));
        else if ((r = member_index(p, ent, &index, &err, &delta)) == 0 && err)
            r = got_put(p, index, (const uint8_t[16]){0}, err);
        else if (r == 0 && delta && (r = spool_delta(rm, p, a, ent, index, hash)) == 0)
            r = got_put(p, index, hash, 0);
        else if (r == 0 && !delta && (r = spool_member(rm, a, ent, hash)) == 0)
            r = got_put(p, index, hash, 0);
        if (r == HS_RBLOCKS_STALE) /* the engine fetches it whole */
            r = 0;
        else if (r == 0 && rm->o.files_fetched)
            (*rm->o.files_fetched)++;
    }
    /* the archive's end may come before DATA_END: read up to it */
    while (r == 0 && !p->done) {
        const void *buf;
        if (pax_read(a, p, &buf) < 0)
            r = -EIO;
    }
    archive_read_free(a);
    return r;
}

/* ---- opening ---------------------------------------------------------- */

/* In a dry run there is no store to keep files in: an anonymous one. */
static int new_list_file(struct remote *rm, char *name)
{
    if (rm->dirfd < 0) {
        name[0] = '\0';
        int fd = memfd_create("hardsnap-list", MFD_CLOEXEC);
        return fd >= 0 ? fd : hs_err_setf(rm->err, errno, "remote");
    }
    key_file(rm, "tmp", name);
    int fd = openat(rm->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : store_fail(rm, errno, "cannot write", ".hardsnap/remote");
}

static int read_list(void *user, struct hs_rec_copy *into, struct hs_err *e);

/* The engine's reading of the list file rm->listfd, from off. */
static int read_list_at(struct remote *rm, off_t off)
{
    if (lseek(rm->listfd, off, SEEK_SET) < 0)
        return store_fail(rm, errno, "cannot read", ".hardsnap/remote");
    hs_conn_init(&rm->lconn, rm->listfd, -1, 0, "list file");
    if (hs_ldec_init(&rm->list, &rm->lconn) < 0)
        return hs_err_setf(rm->err, ENOMEM, "remote");
    rm->list_open = true;
    return 0;
}

/* Walks the whole rebuilt list once before the engine does: a list that
 * is not a tree (hs_listwalk's checks) fails the pull here, so the source
 * is carried forward, instead of failing the snapshot half-way. Then the
 * list is read again from its start. */
static int check_list(struct remote *rm)
{
    struct hs_listwalk w = {.read = read_list,
                            .user = rm,
                            .prefix = rm->w.prefix,
                            .dev_mask = rm->w.dev_mask,
                            .name = rm->w.name,
                            .err = rm->err};
    struct hs_walk_item it;
    struct hs_xattrs xa = {0};
    int r;
    while ((r = hs_listwalk_next(&w, &it)) == 0 && it.ev != HS_WALK_END) {
        /* xattrs that do not decode would be lost without a word later */
        const struct hs_rec *c = &w.cur.r;
        if (it.ev == HS_WALK_ENTRY && c->xattrs_len &&
            hs_rec_xattrs_get(c->xattrs, c->xattrs_len, &xa, true) < 0) {
            r = hs_err_path(rm->err, EBADMSG, "bad list: extended attributes of", it.path);
            break;
        }
    }
    hs_xattrs_free(&xa);
    hs_listwalk_free(&w);
    if (r < 0)
        return r;
    hs_ldec_free(&rm->list);
    hs_conn_free(&rm->lconn);
    rm->list_open = false;
    return read_list_at(rm, 0);
}

/* Connects and asks for the list: rm->rb ready to rebuild it. */
static int pull_start(struct remote *rm)
{
    struct rebuild *b = calloc(1, sizeof *b);
    if (!b)
        return hs_err_setf(rm->err, ENOMEM, "remote");
    *b = (struct rebuild){.rm = rm, .wantfd = -1, .basefd = -1, .newfd = -1};
    rm->rb = b;
    int r = spawn(rm);
    if (r == 0)
        r = handshake(rm);
    source_key(rm->dirfd, rm->o.src, rm->key_bin);
    hs_wire_hex(rm->key_bin, 16, rm->key);
    if (r == 0 && rm->dirfd >= 0) {
        /* a base that is not the tree of the snapshot the engine compares
         * with would make each file that differs a round trip */
        char of[HS_SNAPSHOT_NAME_LEN + 1], name[64];
        key_file(rm, "base", name);
        if (rm->o.prev && read_of(rm->dirfd, rm->key, of) && strcmp(of, rm->o.prev) == 0)
            b->basefd = openat(rm->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    b->have_base_id = b->basefd >= 0 && hs_list_file_id(b->basefd, b->base_id) == 0;
    rm->base_used = b->basefd >= 0;
    if (r == 0)
        r = send_request(rm, b->basefd);
    if (r == 0 && (b->newfd = new_list_file(rm, b->tmp)) < 0)
        r = b->newfd;
    if (r == 0) {
        b->wantfd = rm->dirfd >= 0 ? openat(rm->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                                   : memfd_create("hardsnap-wants", MFD_CLOEXEC);
        if (b->wantfd < 0)
            r = store_fail(rm, errno, "cannot write", ".hardsnap/remote");
    }
    return r == 0 ? rebuild_init(b) : r;
}

/* After the list's end: the wanted files asked for and spooled, the list
 * file named KEY.new, KEY.got open for reading. */
static int pull_data(struct remote *rm)
{
    struct rebuild *b = rm->rb;
    char name[64];
    int r = 0;
    if (hs_write_all(b->wantfd, b->wantbuf.data, b->wantbuf.len) < 0 ||
        lseek(b->wantfd, 0, SEEK_SET) < 0)
        r = store_fail(rm, errno, "cannot write", ".hardsnap/remote");
    int gotfd = -1;
    if (r == 0 && rm->dirfd >= 0) {
        key_file(rm, "got", name);
        gotfd = openat(rm->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (gotfd < 0)
            r = store_fail(rm, errno, "cannot write", ".hardsnap/remote");
    }
    if (r == 0)
        r = send_wants(rm, &b->wants, &b->blocks);
    struct pax_in p;
    if (r == 0)
        r = receive_data(rm, gotfd, b->wantfd, 0, 0, &b->blocks, &p);
    if (gotfd >= 0)
        close(gotfd);
    if (r == 0 && b->tmp[0]) {
        key_file(rm, "new", name);
        if (renameat(rm->dirfd, b->tmp, rm->dirfd, name) < 0)
            r = store_fail(rm, errno, "cannot write", ".hardsnap/remote");
        key_file(rm, "got", name);
        if (r == 0 && (rm->gotfd = openat(rm->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            r = store_fail(rm, errno, "cannot open", name);
    }
    return r;
}

/* The engine reads on in the list file, from off (its writing is done). */
static int list_from(struct remote *rm, off_t off)
{
    rm->listfd = rm->rb->newfd;
    rm->rb->newfd = -1;
    return read_list_at(rm, off);
}

/* The whole pull before the engine walks the list: a source that fails at
 * any point of it can still be carried forward. */
static int pull(struct remote *rm)
{
    int r = pull_start(rm);
    if (r == 0 && rm->o.stream)
        return 0;
    if (r == 0)
        r = rebuild_rest(rm->rb);
    if (r == 0)
        r = pull_data(rm);
    if (r == 0)
        r = list_from(rm, 0);
    /* a list equal to the base (nothing changed) was checked when it was new */
    bool same = rm->rb && rm->rb->have_base_id && memcmp(rm->rb->base_id, rm->rb->id, 16) == 0;
    rebuild_free(rm);
    if (r == 0 && !same)
        r = check_list(rm);
    return r;
}

/* ---- streaming: the engine walks the list as it arrives --------------- */

/* A failure under the engine's walk: said as a failure of the source, and
 * kept, so the walk ends with it (the run has no other source to go on
 * with, see hs_remote_opts.stream). */
static int stream_failed(struct remote *rm, int r)
{
    if (!rm->store_failed && rm->err->msg && strncmp(rm->err->msg, "remote source ", 14) != 0)
        r = conn_failed(rm, r);
    forget_base(rm);
    rm->fatal = r < 0 ? r : -EIO;
    free(rm->fatal_msg);
    rm->fatal_msg = rm->err->msg ? strdup(rm->err->msg) : NULL;
    rebuild_free(rm);
    return rm->fatal;
}

/* The failure again, for each later call of the walk's. */
static int fatal_again(struct remote *rm, struct hs_err *e)
{
    hs_err_setf(e, 0, "%s", rm->fatal_msg ? rm->fatal_msg : "remote source failed");
    e->code = -rm->fatal;
    return rm->fatal;
}

/* The engine needs a file's data: the rest of the list first (into the
 * list file, where the engine reads on), then the data phase. The server
 * is never left waiting on the engine's copying. */
static int drain(struct remote *rm)
{
    struct rebuild *b = rm->rb;
    int r = hs_lenc_cut(&b->out, rm->err);
    if (r == 0)
        r = hs_conn_flush(&b->nconn, rm->err);
    off_t off = r == 0 ? lseek(b->newfd, 0, SEEK_CUR) : 0;
    if (off < 0)
        r = store_fail(rm, errno, "cannot write", ".hardsnap/remote");
    if (r == 0)
        r = rebuild_rest(b);
    if (r == 0)
        r = pull_data(rm);
    if (r == 0)
        r = list_from(rm, off);
    if (r < 0)
        return stream_failed(rm, r);
    rebuild_free(rm);
    return 0;
}

static int read_streamed(struct remote *rm, struct hs_rec_copy *into)
{
    struct hs_rec r;
    int k = rebuild_next(rm->rb, &r);
    /* xattrs that do not decode would be lost without a word later */
    if (k == 1 && r.kind == HS_REC_ENTRY && r.xattrs_len &&
        hs_rec_xattrs_get(r.xattrs, r.xattrs_len, &rm->xa, true) < 0)
        k = hs_err_setf(rm->err, EBADMSG, "bad list: extended attributes of %.*s",
                        (int)(r.path_len > 1024 ? 1024 : r.path_len), r.path);
    if (k == 1)
        return hs_rec_copy_set(into, &r) < 0 ? hs_err_setf(rm->err, ENOMEM, "remote") : 1;
    if (k == 0) {
        rm->list_ended = true;
        k = pull_data(rm);
    }
    if (k < 0)
        return stream_failed(rm, k);
    rebuild_free(rm);
    return 0;
}

/* ---- the tree: walking the rebuilt list ------------------------------- */

static struct remote *of(struct hs_tree *t)
{
    return (struct remote *)t;
}

/* The next record of the rebuilt list. */
static int read_list(void *user, struct hs_rec_copy *into, struct hs_err *e)
{
    struct remote *rm = user;
    if (rm->fatal)
        return fatal_again(rm, e);
    if (rm->rb)
        return read_streamed(rm, into);
    if (rm->list_ended)
        return 0;
    uint8_t op = 0;
    struct hs_rec r;
    uint64_t n = 0;
    int k = hs_ldec_next(&rm->list, &op, &r, &n, NULL, NULL, e);
    if (k <= 0)
        return k;
    if (op != HS_LOP_REC)
        return hs_err_setf(e, EBADMSG, "%s: bad list file", rm->name);
    return hs_rec_copy_set(into, &r) < 0 ? hs_err_setf(e, ENOMEM, "remote") : 1;
}

static int remote_next(struct hs_tree *t, struct hs_walk_item *it, struct hs_err *e)
{
    (void)e;
    return hs_listwalk_next(&of(t)->w, it);
}

static void remote_skip(struct hs_tree *t)
{
    hs_listwalk_skip(&of(t)->w);
}

/* What arrived for the current record: 1 and its hash, 0 nothing, -errno
 * when the server said it could not read the file. */
static int got_hash(struct remote *rm, uint8_t hash[16])
{
    while (rm->gotfd >= 0 && !rm->got_end && (!rm->got_valid || rm->got_index < rm->w.cur_index)) {
        if (rm->gotpos + GOT_SIZE > rm->gotlen) {
            ssize_t n = hs_read_full(rm->gotfd, rm->gotbuf, sizeof rm->gotbuf);
            rm->gotpos = 0;
            rm->gotlen = n > 0 ? (size_t)n : 0;
            if (rm->gotlen < GOT_SIZE) {
                rm->got_end = true;
                break;
            }
        }
        const unsigned char *rec = rm->gotbuf + rm->gotpos;
        rm->gotpos += GOT_SIZE;
        rm->got_valid = true;
        rm->got_err = rec[0];
        rm->got_index = hs_le64_load(rec + 1);
        memcpy(rm->got_hash, rec + 9, 16);
    }
    if (!rm->got_valid || rm->got_index != rm->w.cur_index)
        return 0;
    if (rm->got_err)
        return -rm->got_err;
    memcpy(hash, rm->got_hash, 16);
    return 1;
}

static int open_spooled(struct remote *rm, const uint8_t hash[16], uint64_t size)
{
    char hex[33];
    hs_wire_hex(hash, 16, hex);
    int fd = rm->spoolfd >= 0 ? hs_open_regular(rm->spoolfd, hex, O_RDONLY, 0) : -1;
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size)) {
        close(fd);
        fd = -1;
    }
    rm->spooled = fd >= 0;
    if (fd >= 0)
        memcpy(rm->spooled_hash, hash, 16);
    return fd;
}

/* Asks the server for the current file now: its data into the spool. */
static int fetch_now(struct remote *rm, uint8_t hash[16], struct hs_err *e)
{
    const struct hs_rec *r = &rm->w.cur.r;
    if (!rm->connected)
        return hs_err_setf(e, ENOTCONN, "the connection to %s is closed", rm->o.src->host);
    struct hs_buf b = {0};
    int k = hs_put_varint(&b, rm->w.cur_index) | hs_put_varint(&b, r->st.st_dev) |
            hs_put_varint(&b, r->st.st_ino) | hs_put_varint(&b, (uint64_t)r->st.st_size) |
            hs_put_bytes(&b, r->path, r->path_len);
    k = k ? -ENOMEM : hs_conn_send(&rm->c, HS_MSG_FETCH, b.data, b.len, rm->err);
    hs_buf_free(&b);
    struct pax_in p;
    if (k == 0)
        k = receive_data(rm, -1, -1, rm->w.cur_index, (uint64_t)r->st.st_size, NULL, &p);
    if (k < 0) {
        hs_err_setf(e, rm->err->code ? rm->err->code : EIO, "%s",
                    rm->err->msg ? rm->err->msg : "fetch failed");
        hs_err_clear(rm->err);
        close(rm->c.in);
        rm->connected = false;
        return k;
    }
    if (!p.fetched || p.fetched_index != rm->w.cur_index)
        return -ENOENT;
    if (p.fetched_err)
        return -p.fetched_err;
    memcpy(hash, p.fetched_hash, 16);
    return 0;
}

static int remote_open(struct hs_tree *t, const struct hs_walk_item *it, struct stat *st,
                       struct hs_err *e)
{
    struct remote *rm = of(t);
    const struct hs_rec *r = &rm->w.cur.r;
    *st = it->st;
    rm->opened = it->st;
    rm->spooled = false;
    if (r->data_err)
        return -r->data_err;
    uint64_t size = (uint64_t)r->st.st_size;
    /* a dry run reads no data: it only says what would be copied */
    if (size == 0 || rm->o.dry_run) {
        if (rm->emptyfd < 0 && (rm->emptyfd = memfd_create("hardsnap-empty", MFD_CLOEXEC)) < 0)
            return -errno;
        int fd = fcntl(rm->emptyfd, F_DUPFD_CLOEXEC, 0);
        return fd >= 0 ? fd : -errno;
    }
    /* streaming: data is read only once the whole list is here */
    if (rm->rb && drain(rm) < 0)
        return fatal_again(rm, e);
    uint8_t h[16];
    int fd = -1;
    int got = got_hash(rm, h);
    if (got < 0)
        return got;
    if (got)
        fd = open_spooled(rm, h, size);
    if (fd < 0 && r->has_hash)
        fd = open_spooled(rm, r->hash, size);
    if (fd < 0 && r->has_hash && rm->o.local_content) {
        rm->spooled = false; /* a snapshot's file: never to be taken */
        fd = rm->o.local_content(rm->o.user, r->hash, size);
    }
    if (fd >= 0)
        return fd;
    int k = fetch_now(rm, h, e);
    if (k < 0)
        return k;
    fd = open_spooled(rm, h, size);
    return fd >= 0 ? fd : -ESTALE;
}

/* A spool file nobody else has taken is the copy itself (the spool is
 * emptied once the snapshot is published: then the snapshot alone holds it). */
static int remote_adopt(struct hs_tree *t, int fd, int *dirfd, char name[64], uint8_t hash[16])
{
    struct remote *rm = of(t);
    struct stat st;
    if (!rm->spooled || fstat(fd, &st) < 0 || st.st_nlink != 1 ||
        (uint64_t)st.st_size != (uint64_t)rm->w.cur.r.st.st_size)
        return -ENOENT;
    memcpy(hash, rm->spooled_hash, 16);
    *dirfd = rm->spoolfd;
    hs_wire_hex(hash, 16, name);
    return 0;
}

static int remote_blocks(struct hs_tree *t, struct hs_blockhash *out)
{
    struct remote *rm = of(t);
    char hex[33], name[40];
    hs_wire_hex(rm->spooled_hash, 16, hex);
    snprintf(name, sizeof name, "%s.blk", hex);
    uint64_t size = (uint64_t)rm->w.cur.r.st.st_size;
    int fd = rm->spooled ? hs_open_regular(rm->spoolfd, name, O_RDONLY, 0) : -1;
    if (fd < 0)
        return -ENOENT;
    struct stat st;
    uint64_t *h = out->block_size == HS_DELTA_BLOCK ? hs_blockhash_fill(out, size) : NULL;
    int r = h && fstat(fd, &st) == 0 && (uint64_t)st.st_size == 8 * out->n ? 0 : -EINVAL;
    unsigned char v[8 * 512];
    for (size_t i = 0; r == 0 && i < out->n; i += 512) {
        size_t k = out->n - i < 512 ? out->n - i : 512;
        if (hs_read_full(fd, v, 8 * k) != (ssize_t)(8 * k))
            r = -EIO;
        for (size_t j = 0; r == 0 && j < k; j++)
            h[i + j] = hs_le64_load(v + 8 * j);
    }
    close(fd);
    return r;
}

static int remote_restat(struct hs_tree *t, int fd, struct stat *st)
{
    (void)fd;
    *st = of(t)->opened;
    return 0;
}

static int remote_xattrs(struct hs_tree *t, const struct hs_walk_item *it, int fd,
                         struct hs_xattrs *xa, bool all)
{
    struct remote *rm = of(t);
    (void)fd;
    if (it->ev == HS_WALK_LEAVE) {
        const struct hs_buf *x = hs_listwalk_left_xattrs(&rm->w);
        return hs_rec_xattrs_get(x->data, x->len, xa, all);
    }
    return hs_rec_xattrs_get(rm->w.cur.r.xattrs, rm->w.cur.r.xattrs_len, xa, all);
}

static int remote_readlink(struct hs_tree *t, const struct hs_walk_item *it, struct hs_buf *target)
{
    struct remote *rm = of(t);
    (void)it;
    hs_buf_truncate(target, 0);
    return hs_buf_append(target, rm->w.cur.r.target, rm->w.cur.r.target_len) < 0 ? -ENOMEM : 0;
}

static int remote_known_hash(struct hs_tree *t, const struct hs_walk_item *it, uint8_t hash[16])
{
    struct remote *rm = of(t);
    (void)it;
    /* what arrived, if it did: the list's hash was made earlier, and the
     * file may have changed since (or the server be wrong) */
    if (got_hash(rm, hash) == 1)
        return 0;
    if (rm->w.cur.r.has_hash) {
        memcpy(hash, rm->w.cur.r.hash, 16);
        return 0;
    }
    return -ENODATA;
}

static void remote_free(struct hs_tree *t)
{
    struct remote *rm = of(t);
    if (rm->connected) {
        struct hs_err e = {0};
        if (hs_conn_send(&rm->c, HS_MSG_BYE, NULL, 0, &e) == 0)
            hs_conn_flush(&rm->c, &e);
        hs_err_clear(&e);
        close(rm->c.in);
    }
    reap(rm, false, NULL, 0);
    if (rm->o.bytes_in)
        *rm->o.bytes_in += rm->c.bytes_in;
    if (rm->o.bytes_out)
        *rm->o.bytes_out += rm->c.bytes_out;
    hs_conn_free(&rm->c);
    if (rm->list_open)
        hs_ldec_free(&rm->list);
    hs_conn_free(&rm->lconn);
    hs_listwalk_free(&rm->w);
    rebuild_free(rm);
    free(rm->fatal_msg);
    hs_xattrs_free(&rm->xa);
    if (rm->bh_ready)
        hs_blockhash_free(&rm->bh);
    hs_buf_free(&rm->msg);
    int fds[] = {rm->listfd, rm->gotfd, rm->dirfd, rm->spoolfd, rm->emptyfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(rm->name);
    free(rm->prefix);
    free(rm);
}

static const struct hs_tree_ops remote_ops = {
    .next = remote_next,
    .skip = remote_skip,
    .open = remote_open,
    .restat = remote_restat,
    .xattrs = remote_xattrs,
    .readlink = remote_readlink,
    .known_hash = remote_known_hash,
    .adopt = remote_adopt,
    .blocks = remote_blocks,
    .free = remote_free,
};

int hs_remote_open(struct hs_tree **t, const struct hs_remote_opts *o, struct stat *root_st,
                   struct hs_err *e)
{
    *t = NULL;
    struct remote *rm = calloc(1, sizeof *rm);
    if (!rm)
        return hs_err_setf(e, ENOMEM, "remote");
    rm->t.ops = &remote_ops;
    rm->t.remote = true;
    rm->o = *o;
    rm->err = e;
    rm->listfd = rm->gotfd = rm->dirfd = rm->spoolfd = rm->emptyfd = -1;
    rm->c.in = -1;
    rm->w = (struct hs_listwalk){
        .read = read_list, .user = rm, .dev_mask = (uint64_t)(o->index + 1) << 56, .err = e};
    rm->name = hs_remote_name(o->src);
    rm->prefix = strdup(o->prefix);
    rm->o.prefix = rm->prefix;
    rm->w.prefix = rm->prefix;
    rm->w.name = rm->name;
    int r = rm->name && rm->prefix ? open_dirs(rm) : hs_err_setf(e, ENOMEM, "remote");
    if (r == 0)
        r = pull(rm);
    if (r < 0 && !rm->store_failed && rm->err->msg &&
        strncmp(rm->err->msg, "remote source ", 14) != 0)
        r = conn_failed(rm, r);
    /* the root's record: the first of the list */
    struct hs_walk_item it;
    if (r == 0 && (r = remote_next(&rm->t, &it, e)) == 0 && it.ev != HS_WALK_ENTER)
        r = hs_err_setf(e, EBADMSG, "%s: bad list (no root)", rm->name);
    if (r < 0) {
        forget_base(rm);
        if (o->remote_failed)
            *o->remote_failed = !rm->store_failed;
        remote_free(&rm->t);
        return r;
    }
    *root_st = it.st;
    /* the walk starts over at the root's ENTER */
    hs_listwalk_rewind_root(&rm->w);
    *t = &rm->t;
    return 0;
}
