/*
 * fake_relay: the byte relay behind tests/integration/fake_rsh. Runs
 * PROGRAM with pipes on its stdin and stdout and copies bytes between them
 * and the relay's own stdin and stdout, as the network between ssh and sshd
 * would: unchanged, both directions at once (a thread per direction, and
 * with -l or -r a second one that writes what is due: a full pipe one way
 * never stops the other way), EOF passed on
 * each way separately (a half-close), PROGRAM's exit status passed back.
 * stderr is PROGRAM's own (ssh passes the remote stderr through).
 *
 *   fake_relay [-n HOST] [-c FILE] [-d N] [-s N] [-l MS] [-r KBIT] -- PROGRAM ARGS...
 *
 *   -n HOST  the name in messages
 *   -c FILE  when the connection ends, appends "C2S S2C\n": the bytes
 *            forwarded client->server (stdin to PROGRAM) and server->client
 *            (PROGRAM to stdout)
 *   -d N     drop: after N server->client bytes, kills PROGRAM's process
 *            group and exits 255, closing both directions (a connection
 *            lost mid-way: ssh exits 255)
 *   -s N     stall: after N server->client bytes, nothing more is forwarded
 *            either way (the client's writes block once the pipe is full),
 *            but nothing is closed: the client must time out. When the
 *            client goes away (its end of stdin or stdout closed), PROGRAM
 *            is killed and the relay exits 255
 *   -l MS    one-way delay of every byte, each direction (a WAN where the
 *            kernel has no netem)
 *   -r KBIT  link rate of each direction, kbit/s
 *
 * The relay ends with PROGRAM's exit status (255 if a signal ended it, as
 * ssh does) once PROGRAM's stdout has ended and PROGRAM has exited. A relay
 * ended by its client (SIGTERM, SIGINT, SIGHUP, or SIGUSR1 as rsync sends)
 * writes its counts and exits 128+signal, leaving PROGRAM to see EOF on
 * stdin and EPIPE on stdout, as sshd's child sees a closed connection.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK     (64 * 1024)
#define QUEUE_CAP (1024 * 1024) /* bytes in flight per direction */

struct chunk {
    struct chunk *next;
    uint64_t due; /* CLOCK_MONOTONIC ns at which it may be written */
    size_t len;   /* 0: EOF */
    char data[];
};

struct dir {
    const char *name; /* "c2s" or "s2c" */
    int in, out;
    int is_s2c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk *head, *tail;
    size_t queued;
    uint64_t link_free; /* when the shaped link has sent what it holds */
    atomic_uint_least64_t count;
    atomic_int discard; /* the writer can no longer write: drop what comes */
};

/* A test helper program, not the library: its state is this one relay. */
static struct {
    const char *host;
    const char *count_file;
    int64_t drop_after, stall_after; /* -1: off */
    uint64_t delay_ns;
    uint64_t rate_bps;
    int shaped; /* delay or rate: a writer thread per direction */
    pid_t child;
    atomic_int stalled;
    pthread_mutex_t end_mu;
    struct dir up, down;
} R = {.host = "host", .drop_after = -1, .stall_after = -1, .end_mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Ends the relay once: the byte counts appended to -c FILE, then exit. */
static _Noreturn void finish(int code)
{
    pthread_mutex_lock(&R.end_mu); /* never released: the first caller exits */
    if (R.count_file) {
        char line[64];
        int n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n",
                         (uint64_t)atomic_load(&R.up.count), (uint64_t)atomic_load(&R.down.count));
        int fd = open(R.count_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)n) != n)
            fprintf(stderr, "fake_relay: %s: %s\n", R.count_file, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    _exit(code);
}

/* The connection is gone: the remote command dies with it. */
static _Noreturn void teardown(const char *why)
{
    fprintf(stderr, "fake_rsh: connection to %s %s\n", R.host, why);
    kill(-R.child, SIGKILL);
    kill(R.child, SIGKILL);
    (void)waitpid(R.child, NULL, 0);
    finish(255);
}

/*
 * The client may hand over non-blocking ends (rsync leaves the remote
 * shell's stdout non-blocking unless --blocking-io): EAGAIN waits in poll.
 */
static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    (void)poll(&p, 1, -1);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                wait_fd(fd, POLLOUT);
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void enqueue(struct dir *d, struct chunk *c)
{
    pthread_mutex_lock(&d->mu);
    while (d->queued >= QUEUE_CAP)
        pthread_cond_wait(&d->cv, &d->mu);
    uint64_t t = now_ns();
    if (R.rate_bps) {
        if (d->link_free < t)
            d->link_free = t;
        d->link_free += (uint64_t)c->len * 8u * 1000000000u / R.rate_bps;
        t = d->link_free;
    }
    c->due = t + R.delay_ns;
    c->next = NULL;
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->queued += c->len;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static struct chunk *dequeue(struct dir *d)
{
    pthread_mutex_lock(&d->mu);
    while (!d->head)
        pthread_cond_wait(&d->cv, &d->mu);
    struct chunk *c = d->head;
    d->head = c->next;
    if (!d->head)
        d->tail = NULL;
    d->queued -= c->len;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return c;
}

/*
 * Stalled: forwards nothing either way (a client writing blocks once the
 * pipes are full), and waits for the client to go away: POLLHUP/POLLERR on
 * its end of either stream.
 */
static _Noreturn void stall_forever(void)
{
    atomic_store(&R.stalled, 1);
    for (;;) {
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = 0},
                              {.fd = STDOUT_FILENO, .events = 0}};
        if (poll(p, 2, -1) > 0)
            teardown("closed by the client while stalled");
    }
}

/* The relay killed (as ssh may be by its client): the counts are written,
 * and the command sees EOF and EPIPE once the relay is gone. */
static void *on_signal(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) != 0)
        ;
    finish(128 + sig);
}

static int deliver(struct dir *d, const struct chunk *c);

static void *reader(void *arg)
{
    struct dir *d = arg;
    for (;;) {
        struct chunk *c = malloc(sizeof(*c) + CHUNK);
        if (!c) {
            perror("fake_relay: malloc");
            finish(255);
        }
        /* a shaped link delivers in pieces, not in one 64 KiB lump */
        size_t want = R.rate_bps ? 8192 : CHUNK;
        ssize_t n;
        for (;;) {
            n = read(d->in, c->data, want);
            if (n >= 0)
                break;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                wait_fd(d->in, POLLIN);
            else if (errno != EINTR)
                break;
        }
        if (n < 0)
            n = 0; /* a read error ends the stream as EOF would */
        c->len = (size_t)n;
        if (!d->is_s2c && atomic_load(&R.stalled)) {
            free(c);
            if (n == 0)
                teardown("closed by the client while stalled");
            for (;;)
                pause(); /* hold: the client's writes block, as on a dead link */
        }
        if (atomic_load(&d->discard)) {
            free(c);
            if (n == 0)
                return NULL;
            continue;
        }
        if (R.shaped) {
            enqueue(d, c);
        } else {
            /* unshaped: written by this thread, no hand-over per chunk */
            (void)deliver(d, c);
            free(c);
        }
        if (n == 0)
            return NULL;
    }
}

/*
 * Writes one chunk (len 0: EOF) to d->out. Returns -1 once the stream takes
 * no more (EOF passed on, or the command closed its stdin).
 */
static int deliver(struct dir *d, const struct chunk *c)
{
    if (c->len == 0) {
        close(d->out);
        return -1;
    }
    if (!d->is_s2c && atomic_load(&R.stalled)) {
        for (;;)
            pause(); /* the down direction ends the relay */
    }
    size_t n = c->len;
    int64_t limit = R.drop_after >= 0 ? R.drop_after : R.stall_after;
    int cut = 0;
    if (d->is_s2c && limit >= 0 && (int64_t)(atomic_load(&d->count) + n) >= limit) {
        n = (size_t)(limit - (int64_t)atomic_load(&d->count));
        cut = 1;
    }
    if (write_all(d->out, c->data, n) < 0) {
        if (d->is_s2c) { /* ssh exits when it cannot write its stdout */
            char why[120];
            snprintf(why, sizeof(why), "lost: writing to the client: %s", strerror(errno));
            teardown(why);
        }
        atomic_store(&d->discard, 1); /* the command closed its stdin */
        close(d->out);
        return -1;
    }
    atomic_fetch_add(&d->count, n);
    if (cut) {
        if (R.drop_after >= 0) {
            char why[80];
            snprintf(why, sizeof(why), "dropped after %" PRId64 " bytes (FAKE_RSH_DROP_AFTER)",
                     R.drop_after);
            teardown(why);
        }
        stall_forever();
    }
    return 0;
}

/* A shaped link: chunks leave the queue when they are due. */
static void *writer(void *arg)
{
    struct dir *d = arg;
    for (;;) {
        struct chunk *c = dequeue(d);
        uint64_t t = now_ns();
        if (c->due > t) {
            struct timespec ts = {.tv_sec = (time_t)(c->due / 1000000000u),
                                  .tv_nsec = (long)(c->due % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
        }
        size_t len = c->len;
        int r = deliver(d, c);
        free(c);
        if (r == 0)
            continue;
        /* empty the queue so that the reader never blocks on a full one */
        while (len != 0) {
            c = dequeue(d);
            len = c->len;
            free(c);
        }
        return NULL;
    }
}

static int64_t num(const char *s, const char *opt)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "fake_relay: %s: not a number: %s\n", opt, s);
        exit(255);
    }
    return v;
}

int main(int argc, char **argv)
{
    int o;
    while ((o = getopt(argc, argv, "+n:c:d:s:l:r:")) != -1) {
        switch (o) {
        case 'n':
            R.host = optarg;
            break;
        case 'c':
            R.count_file = optarg;
            break;
        case 'd':
            R.drop_after = num(optarg, "-d");
            break;
        case 's':
            R.stall_after = num(optarg, "-s");
            break;
        case 'l':
            R.delay_ns = (uint64_t)num(optarg, "-l") * 1000000u;
            break;
        case 'r':
            R.rate_bps = (uint64_t)num(optarg, "-r") * 1000u;
            break;
        default:
            fprintf(stderr, "usage: fake_relay [-n HOST] [-c FILE] [-d N] [-s N] [-l MS] "
                            "[-r KBIT] -- PROGRAM ARGS...\n");
            return 255;
        }
    }
    R.shaped = R.delay_ns || R.rate_bps;
    if (optind >= argc) {
        fprintf(stderr, "fake_relay: no PROGRAM\n");
        return 255;
    }
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0) {
        perror("fake_relay: pipe");
        return 255;
    }
    /* forked before any thread starts */
    R.child = fork();
    if (R.child < 0) {
        perror("fake_relay: fork");
        return 255;
    }
    if (R.child == 0) {
        setpgid(0, 0); /* a drop kills the command and whatever it started */
        if (dup2(to_child[0], STDIN_FILENO) < 0 || dup2(from_child[1], STDOUT_FILENO) < 0)
            _exit(255);
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "fake_relay: %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    setpgid(R.child, R.child); /* also here: no race with a drop */
    close(to_child[0]);
    close(from_child[1]);
    signal(SIGPIPE, SIG_IGN); /* write errors are handled, not fatal */

    /* SIGTERM, SIGINT, SIGHUP, SIGUSR1: handled by one thread (all others block them) */
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1); /* rsync sends it to its remote shell when it ends */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pthread_t sig_th;
    if (pthread_create(&sig_th, NULL, on_signal, &sigs)) {
        fprintf(stderr, "fake_relay: pthread_create failed\n");
        teardown("not set up");
    }

    R.up = (struct dir){.name = "c2s", .in = STDIN_FILENO, .out = to_child[1]};
    R.down = (struct dir){.name = "s2c", .in = from_child[0], .out = STDOUT_FILENO, .is_s2c = 1};
    struct dir *dirs[2] = {&R.up, &R.down};
    pthread_t th[4];
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&dirs[i]->mu, NULL);
        pthread_cond_init(&dirs[i]->cv, NULL);
        if (pthread_create(&th[2 * i], NULL, reader, dirs[i]) ||
            (R.shaped && pthread_create(&th[2 * i + 1], NULL, writer, dirs[i]))) {
            fprintf(stderr, "fake_relay: pthread_create failed\n");
            teardown("not set up");
        }
    }
    /* the stream to the client ended (PROGRAM's stdout closed) ... */
    pthread_join(th[R.shaped ? 3 : 2], NULL);
    /* ... and PROGRAM ended */
    int st;
    while (waitpid(R.child, &st, 0) < 0) {
        if (errno != EINTR)
            finish(255);
    }
    finish(WIFEXITED(st) ? WEXITSTATUS(st) : 255);
}
