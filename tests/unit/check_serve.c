/* hardsnap serve against a hostile client (serve.c read_blocks, read_wants),
 * and the changed blocks it sends (map_changed): hs_serve runs in a child on
 * one end of a socketpair, the test speaks the protocol (wire.h) on the
 * other. A bad block list must end the server with an error that says so,
 * never a crash, never an allocation the client sized. */
#include "testutil.h"

#include "blockhash.h"
#include "bytes.h"
#include "hardsnap.h"
#include "wire.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#define BS     65536u
#define BIG_SZ (5 * BS + 1000) /* five whole blocks and a partial one */

/* The served tree: "" (index 0), big (1), small (2). */
static unsigned char *big_content(void)
{
    unsigned char *p = malloc(BIG_SZ);
    ck_assert_ptr_nonnull(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BIG_SZ; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static void make_tree(void)
{
    unsigned char *p = big_content();
    tu_mkdir("tree");
    tu_write("tree/big", p, BIG_SZ);
    tu_write("tree/small", "x", 1);
    free(p);
}

/* Kilobytes of the process's peak and current resident memory. */
static long vm_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

struct srv {
    pid_t pid;
    int fd;
    struct hs_conn c;
    struct hs_buf msg;
    uint64_t count; /* list records */
};

/* hs_serve in a child: its message into tu_tmp/err, then "GROW KB" (how
 * much its peak resident memory grew) into tu_tmp/grow; exits 0 (HS_OK) or
 * 10 + its status. */
static void start(struct srv *s)
{
    signal(SIGPIPE, SIG_IGN);
    make_tree();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char cache[4096];
    snprintf(cache, sizeof cache, "%s", tu_path("cache"));
    char errpath[4096], growpath[4096];
    snprintf(errpath, sizeof errpath, "%s", tu_path("err"));
    snprintf(growpath, sizeof growpath, "%s", tu_path("grow"));
    unlink(errpath);
    unlink(growpath);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        close(sv[0]);
        setenv("XDG_CACHE_HOME", cache, 1);
        long before = vm_kb("VmRSS");
        struct hs_serve_opts o = {.in_fd = sv[1], .out_fd = sv[1], .timeout = 20};
        struct hs_err e = {0};
        enum hs_status st = hs_serve(&o, &e);
        long after = vm_kb("VmHWM");
        FILE *f = fopen(errpath, "w");
        if (f) {
            fprintf(f, "%s", e.msg ? e.msg : "");
            fclose(f);
        }
        f = fopen(growpath, "w");
        if (f) {
            fprintf(f, "%ld", after - before);
            fclose(f);
        }
        hs_err_clear(&e);
        _exit(st == HS_OK ? 0 : 10 + (int)st);
    }
    close(sv[1]);
    s->fd = sv[0];
    hs_conn_init(&s->c, s->fd, s->fd, 20, "server");
    s->msg = (struct hs_buf){0};
}

static void send_msg(struct srv *s, uint8_t type, const void *p, size_t n)
{
    struct hs_err e = {0};
    /* the server may have left already (what a case checks): no error here */
    hs_conn_send(&s->c, type, p, n, &e);
    hs_err_clear(&e);
}

static void flush(struct srv *s)
{
    struct hs_err e = {0};
    hs_conn_flush(&s->c, &e);
    hs_err_clear(&e);
}

/* HELLO, REQUEST for tu_tmp/tree, the list read to its end. */
static void handshake(struct srv *s)
{
    struct hs_buf b = {0};
    ck_assert_int_eq(hs_wire_hello(&b), 0);
    send_msg(s, HS_MSG_HELLO, b.data, b.len);
    hs_buf_free(&b);
    struct hs_req q = {0};
    ck_assert_int_eq(hs_buf_puts(&q.path, tu_path("tree")), 0);
    ck_assert_int_eq(hs_req_encode(&q, &b), 0);
    send_msg(s, HS_MSG_REQUEST, b.data, b.len);
    hs_buf_free(&b);
    hs_req_free(&q);
    flush(s);
    struct hs_err e = {0};
    uint8_t type = 0;
    ck_assert_int_eq(hs_conn_recv(&s->c, &type, &s->msg, &e), 1);
    ck_assert_int_eq(type, HS_MSG_HELLO);
    struct hs_ldec l;
    ck_assert_int_eq(hs_ldec_init(&l, &s->c), 0);
    uint8_t op;
    struct hs_rec r;
    uint64_t n;
    const char *names[] = {"", "big", "small"};
    int k;
    s->count = 0;
    while ((k = hs_ldec_next(&l, &op, &r, &n, NULL, NULL, &e)) == 1) {
        ck_assert_int_eq(op, HS_LOP_REC);
        ck_assert_uint_lt(s->count, 3);
        ck_assert_uint_eq(r.path_len, strlen(names[s->count]));
        ck_assert(memcmp(r.path, names[s->count], r.path_len) == 0);
        s->count++;
    }
    ck_assert_msg(k == 0, "list: %s", e.msg ? e.msg : "?");
    ck_assert_uint_eq(s->count, 3);
    hs_ldec_free(&l);
}

/* WANT of these indexes (rising). */
static void want(struct srv *s, const uint64_t *idx, size_t n)
{
    struct hs_buf b = {0};
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(hs_put_varint(&b, idx[i] - at) | hs_put_varint(&b, 1), 0);
        at = idx[i] + 1;
    }
    send_msg(s, HS_MSG_WANT, b.data, b.len);
    hs_buf_free(&b);
}

/* A BLOCKS message: k hashes h (NULL: made up), raw extra bytes after. */
static void blocks(struct srv *s, uint64_t index, uint64_t size, uint64_t bs, uint64_t first,
                   const uint64_t *h, size_t k, size_t extra)
{
    struct hs_buf b = {0};
    ck_assert_int_eq(hs_put_varint(&b, index) | hs_put_varint(&b, size) | hs_put_varint(&b, bs) |
                         hs_put_varint(&b, first),
                     0);
    unsigned char v[8];
    for (size_t i = 0; i < k; i++) {
        hs_le64_store(v, h ? h[i] : 0x0123456789abcdefu + i);
        ck_assert_int_eq(hs_buf_append(&b, v, 8), 0);
    }
    for (size_t i = 0; i < extra; i++)
        ck_assert_int_eq(hs_buf_putc(&b, 0), 0);
    send_msg(s, HS_MSG_BLOCKS, b.data, b.len);
    hs_buf_free(&b);
}

/* The server's end: its exit status (or -signal) and its message into msg;
 * what it sent after the list is read and dropped. */
static int finish(struct srv *s, char *msg, size_t len, long *grow)
{
    flush(s);
    struct hs_err e = {0};
    uint8_t type;
    while (hs_conn_recv(&s->c, &type, &s->msg, &e) == 1)
        if (type == HS_MSG_DATA_END) {
            send_msg(s, HS_MSG_BYE, NULL, 0);
            flush(s);
        }
    hs_err_clear(&e);
    hs_conn_free(&s->c);
    hs_buf_free(&s->msg);
    close(s->fd);
    /* a server that neither ends nor talks (a loop) is killed and said */
    int st = 0;
    pid_t k = 0;
    for (int i = 0; i < 300 && (k = waitpid(s->pid, &st, WNOHANG)) == 0; i++)
        usleep(100000);
    if (k == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        ck_abort_msg("the server hung (killed after 30 s)");
    }
    ck_assert_int_eq(k, s->pid);
    msg[0] = '\0';
    *grow = 0;
    /* what the child wrote, if it lived to write it */
    FILE *f = fopen(tu_path("err"), "r");
    if (f) {
        size_t n = fread(msg, 1, len - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    f = fopen(tu_path("grow"), "r");
    if (f) {
        if (fscanf(f, "%ld", grow) != 1)
            *grow = 0;
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* The server ended with a failure whose message holds want. */
static long max_grow_kb = 16 * 1024;
static void expect_failure(struct srv *s, const char *want)
{
    char msg[512];
    long grow = 0;
    int st = finish(s, msg, sizeof msg, &grow);
    ck_assert_msg(st > 0, "the server ended with %d (%s), not a failure", st, msg);
    ck_assert_msg(strstr(msg, want), "the server said \"%s\", not \"%s\"", msg, want);
    /* nothing the client sized: a few MiB of buffers at most */
    ck_assert_msg(grow < max_grow_kb, "the server grew by %ld KiB", grow);
}

static const char BAD[] = "bad block list from the client";

/* ---- a hostile client ------------------------------------------------- */

START_TEST(blocks_for_unwanted_index)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){2}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(blocks_before_any_want)
{
    struct srv s;
    start(&s);
    handshake(&s);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    want(&s, (uint64_t[]){1}, 1);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(blocks_for_index_past_list)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 3, BIG_SZ, BS, 0, NULL, 6, 0);
    blocks(&s, UINT64_MAX, BIG_SZ, BS, 0, NULL, 6, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(first_not_blocks_so_far)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    /* all six hashes, but the second message says it starts at block 3 */
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 2, 0);
    blocks(&s, 1, BIG_SZ, BS, 3, NULL, 4, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(first_again)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 2, 0);
    blocks(&s, 1, BIG_SZ, BS, 1, NULL, 4, 0); /* from block 1 again: six in all */
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(continued_with_other_index_or_size)
{
    for (int i = 0; i < 3; i++) {
        struct srv s;
        start(&s);
        handshake(&s);
        want(&s, (uint64_t[]){1, 2}, 2);
        blocks(&s, 1, BIG_SZ, BS, 0, NULL, 2, 0);
        if (i == 0)
            blocks(&s, 2, BIG_SZ, BS, 2, NULL, 4, 0);
        else if (i == 1)
            blocks(&s, 1, BIG_SZ + BS, BS, 2, NULL, 4, 0);
        else
            blocks(&s, 1, BIG_SZ, 2 * BS, 2, NULL, 4, 0);
        send_msg(&s, HS_MSG_WANT_END, NULL, 0);
        expect_failure(&s, BAD);
    }
}
END_TEST

START_TEST(more_hashes_than_size_allows)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 7, 0); /* 6 blocks */
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(far_more_hashes_than_size_allows)
{
    /* a base of one block, then half a million hashes for it: refused, not
     * stored past the one the server made room for */
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, 1, BS, 0, NULL, 500000, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(more_hashes_over_frames)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 4, 0);
    blocks(&s, 1, BIG_SZ, BS, 4, NULL, 3, 0); /* 7 of 6 */
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(hashes_not_whole)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 5, 3);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(bad_block_size)
{
    const uint64_t sizes[] = {
        0, 1, 2048, 4095, 4097, 65537, 65536 + 2048, 2u << 20, (1u << 20) + 4096, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct srv s;
        start(&s);
        handshake(&s);
        want(&s, (uint64_t[]){1}, 1);
        /* as many hashes as the size takes in blocks of that size: only
         * the block size is wrong */
        uint64_t n = sizes[i] ? BIG_SZ / sizes[i] + (BIG_SZ % sizes[i] != 0) : 1;
        blocks(&s, 1, BIG_SZ, sizes[i], 0, NULL, (size_t)n, 0);
        send_msg(&s, HS_MSG_WANT_END, NULL, 0);
        expect_failure(&s, BAD);
    }
}
END_TEST

START_TEST(bad_base_size)
{
    const uint64_t sizes[] = {0, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct srv s;
        start(&s);
        handshake(&s);
        want(&s, (uint64_t[]){1}, 1);
        blocks(&s, 1, sizes[i], BS, 0, NULL, 1, 0);
        send_msg(&s, HS_MSG_WANT_END, NULL, 0);
        expect_failure(&s, BAD);
    }
}
END_TEST

/* A base of more blocks than a pull may send in all: refused before any
 * allocation of its size (INT64_MAX bytes in 4 KiB blocks: 2^51 hashes). */
START_TEST(base_beyond_max_hashes)
{
    const uint64_t sizes[] = {(uint64_t)(HS_WIRE_MAX_BASE_HASHES + 1) * 4096, (uint64_t)INT64_MAX,
                              (uint64_t)HS_WIRE_MAX_BASE_HASHES * 4096 + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct srv s;
        start(&s);
        handshake(&s);
        want(&s, (uint64_t[]){1}, 1);
        blocks(&s, 1, sizes[i], 4096, 0, NULL, 1, 0);
        send_msg(&s, HS_MSG_WANT_END, NULL, 0);
        expect_failure(&s, BAD);
    }
}
END_TEST

/* Two bases whose hashes and costs together pass HS_WIRE_MAX_BASE_HASHES:
 * the second is refused (the first, all its hashes sent, is 32 MiB the
 * server holds); one hash fewer and the pull goes on. */
static void two_bases(uint64_t second_blocks, bool ok)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1, 2}, 2);
    /* with the second base of one block, exactly the bound */
    const uint64_t n = HS_WIRE_MAX_BASE_HASHES - 2 * HS_WIRE_BASE_COST - 1;
    const size_t per = 65536;
    uint64_t *h = calloc(per, 8);
    ck_assert_ptr_nonnull(h);
    for (uint64_t first = 0; first < n; first += per)
        blocks(&s, 1, n * 4096, 4096, first, h, n - first < per ? (size_t)(n - first) : per, 0);
    free(h);
    blocks(&s, 2, second_blocks * 4096, 4096, 0, NULL, (size_t)second_blocks, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    if (!ok) {
        max_grow_kb = 48 * 1024; /* the first base's 32 MiB */
        expect_failure(&s, BAD);
        return;
    }
    char msg[512];
    long grow;
    int st = finish(&s, msg, sizeof msg, &grow);
    ck_assert_msg(st == 0, "the server ended with %d: %s", st, msg);
}

START_TEST(bases_beyond_max_hashes)
{
    two_bases(2, false);
}
END_TEST

START_TEST(bases_at_max_hashes)
{
    two_bases(1, true);
}
END_TEST

START_TEST(blocks_then_want)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    want(&s, (uint64_t[]){2}, 1);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, "unexpected message from the client");
}
END_TEST

START_TEST(truncated_last_base)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 5, 0); /* of 6 */
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(truncated_base_then_next)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1, 2}, 2);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 5, 0); /* of 6 */
    blocks(&s, 2, 1, BS, 0, NULL, 1, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(bases_not_rising)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1, 2}, 2);
    blocks(&s, 2, 1, BS, 0, NULL, 1, 0);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(same_base_twice)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    blocks(&s, 1, BIG_SZ, BS, 0, NULL, 6, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

START_TEST(bad_varints)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    /* index, then a varint cut short */
    send_msg(&s, HS_MSG_BLOCKS, "\x01\xff", 2);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    expect_failure(&s, BAD);
}
END_TEST

/* ---- what an honest client gets: the blocks that differ --------------- */

/* The hashes of base (size bytes) in BS blocks, the last partial. */
static size_t hashes_of(const unsigned char *base, size_t size, uint64_t *h)
{
    size_t n = 0;
    for (size_t at = 0; at < size; at += BS)
        h[n++] = XXH3_64bits(base + at, size - at < BS ? size - at : BS);
    return n;
}

/* Pulls big with base as its base (size bytes): the member's name into
 * name, the data segments (offset, length) into seg, their count. */
static size_t pull_big(const unsigned char *base, size_t base_size, char name[32],
                       int64_t (*seg)[2], size_t max)
{
    struct srv s;
    start(&s);
    handshake(&s);
    want(&s, (uint64_t[]){1}, 1);
    uint64_t h[64];
    size_t n = hashes_of(base, base_size, h);
    blocks(&s, 1, base_size, BS, 0, h, n, 0);
    send_msg(&s, HS_MSG_WANT_END, NULL, 0);
    flush(&s);
    struct hs_buf data = {0};
    struct hs_err e = {0};
    uint8_t type = 0;
    while (hs_conn_recv(&s.c, &type, &s.msg, &e) == 1 && type == HS_MSG_DATA)
        ck_assert_int_eq(hs_buf_append(&data, s.msg.data, s.msg.len), 0);
    hs_err_clear(&e);
    if (type == HS_MSG_DATA_END)
        send_msg(&s, HS_MSG_BYE, NULL, 0);
    char msg[512];
    long grow;
    int st = finish(&s, msg, sizeof msg, &grow);
    ck_assert_msg(type == HS_MSG_DATA_END && st == 0, "the server ended with %d: %s", st, msg);

    struct archive *a = archive_read_new();
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    ck_assert_int_eq(archive_read_open_memory(a, data.data, data.len), ARCHIVE_OK);
    struct archive_entry *ent;
    ck_assert_int_eq(archive_read_next_header(a, &ent), ARCHIVE_OK);
    snprintf(name, 32, "%s", archive_entry_pathname(ent));
    ck_assert_int_eq(archive_entry_size(ent), BIG_SZ);
    unsigned char *want = big_content();
    size_t k = 0;
    for (;;) {
        const void *p;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &p, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        ck_assert_int_eq(r, ARCHIVE_OK);
        if (len == 0)
            continue;
        ck_assert(off >= 0 && (size_t)off + len <= BIG_SZ);
        ck_assert_msg(memcmp(p, want + off, len) == 0, "wrong data at %lld", (long long)off);
        if (k && seg[k - 1][0] + seg[k - 1][1] == off) {
            seg[k - 1][1] += (int64_t)len;
            continue;
        }
        ck_assert_uint_lt(k, max);
        seg[k][0] = off;
        seg[k][1] = (int64_t)len;
        k++;
    }
    ck_assert_int_eq(archive_read_next_header(a, &ent), ARCHIVE_EOF);
    archive_read_free(a);
    hs_buf_free(&data);
    free(want);
    return k;
}

/* The segments must be exactly these (offset, length) pairs. */
static void expect_segments(int64_t (*seg)[2], size_t n, const int64_t (*want)[2], size_t wn)
{
    ck_assert_msg(n == wn, "%zu segments, not %zu (first at %lld+%lld)", n, wn,
                  n ? (long long)seg[0][0] : -1LL, n ? (long long)seg[0][1] : -1LL);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(seg[i][0] == want[i][0] && seg[i][1] == want[i][1],
                      "segment %zu: %lld+%lld, not %lld+%lld", i, (long long)seg[i][0],
                      (long long)seg[i][1], (long long)want[i][0], (long long)want[i][1]);
}

START_TEST(delta_same_file)
{
    /* the base is the file: only its partial last block comes */
    unsigned char *base = big_content();
    char name[32];
    int64_t seg[16][2];
    size_t n = pull_big(base, BIG_SZ, name, seg, 16);
    ck_assert_str_eq(name, "1.d");
    expect_segments(seg, n, (const int64_t[][2]){{5 * BS, 1000}}, 1);
    free(base);
}
END_TEST

START_TEST(delta_changed_blocks)
{
    unsigned char *base = big_content();
    base[2 * BS + 7] ^= 1;
    base[3 * BS] ^= 1;
    char name[32];
    int64_t seg[16][2];
    size_t n = pull_big(base, BIG_SZ, name, seg, 16);
    ck_assert_str_eq(name, "1.d");
    expect_segments(seg, n, (const int64_t[][2]){{2 * BS, 2 * BS}, {5 * BS, 1000}}, 2);
    free(base);
}
END_TEST

START_TEST(delta_grown)
{
    /* the base is the file's first 3 blocks and a half: block 3 is not
     * whole in it, blocks 4 and on past its end */
    unsigned char *base = big_content();
    char name[32];
    int64_t seg[16][2];
    size_t n = pull_big(base, 3 * BS + BS / 2, name, seg, 16);
    ck_assert_str_eq(name, "1.d");
    expect_segments(seg, n, (const int64_t[][2]){{3 * BS, 2 * BS + 1000}}, 1);
    free(base);
}
END_TEST

START_TEST(delta_shrunk)
{
    /* the base is longer: its block 5 is whole where the file's is partial */
    unsigned char *base = calloc(1, 8 * BS);
    ck_assert_ptr_nonnull(base);
    unsigned char *b = big_content();
    memcpy(base, b, BIG_SZ);
    free(b);
    base[BS] ^= 1;
    char name[32];
    int64_t seg[16][2];
    size_t n = pull_big(base, 8 * BS, name, seg, 16);
    ck_assert_str_eq(name, "1.d");
    expect_segments(seg, n, (const int64_t[][2]){{BS, BS}, {5 * BS, 1000}}, 2);
    free(base);
}
END_TEST

START_TEST(delta_all_changed)
{
    /* every block differs: one data segment, the whole file (which the pax
     * writer then writes as a plain member) with the file's content */
    unsigned char *base = big_content();
    for (size_t at = 0; at < BIG_SZ; at += BS)
        base[at] ^= 1;
    char name[32];
    int64_t seg[16][2];
    size_t n = pull_big(base, BIG_SZ, name, seg, 16);
    ck_assert_str_eq(name, "1.d");
    expect_segments(seg, n, (const int64_t[][2]){{0, BIG_SZ}}, 1);
    free(base);
}
END_TEST

Suite *serve_suite(void)
{
    Suite *s = suite_create("serve");
    TCase *tc = tu_tcase("hostile_client");
    tcase_add_test(tc, blocks_for_unwanted_index);
    tcase_add_test(tc, blocks_before_any_want);
    tcase_add_test(tc, blocks_for_index_past_list);
    tcase_add_test(tc, first_not_blocks_so_far);
    tcase_add_test(tc, first_again);
    tcase_add_test(tc, continued_with_other_index_or_size);
    tcase_add_test(tc, more_hashes_than_size_allows);
    tcase_add_test(tc, far_more_hashes_than_size_allows);
    tcase_add_test(tc, more_hashes_over_frames);
    tcase_add_test(tc, hashes_not_whole);
    tcase_add_test(tc, bad_block_size);
    tcase_add_test(tc, bad_base_size);
    tcase_add_test(tc, base_beyond_max_hashes);
    tcase_add_test(tc, bases_beyond_max_hashes);
    tcase_add_test(tc, bases_at_max_hashes);
    tcase_add_test(tc, blocks_then_want);
    tcase_add_test(tc, truncated_last_base);
    tcase_add_test(tc, truncated_base_then_next);
    tcase_add_test(tc, bases_not_rising);
    tcase_add_test(tc, same_base_twice);
    tcase_add_test(tc, bad_varints);
    suite_add_tcase(s, tc);
    tc = tu_tcase("changed_blocks");
    tcase_add_test(tc, delta_same_file);
    tcase_add_test(tc, delta_changed_blocks);
    tcase_add_test(tc, delta_grown);
    tcase_add_test(tc, delta_shrunk);
    tcase_add_test(tc, delta_all_changed);
    suite_add_tcase(s, tc);
    return s;
}
