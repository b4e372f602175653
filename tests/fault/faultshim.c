/*
 * LD_PRELOAD shim for crash and fault tests: counts the calls that change
 * or read the filesystem and, at the Nth, kills the process (as kill -9
 * would) or makes the call fail with an errno.
 *
 *   HS_FAULT_AT=N          the call to act on (1-based); 0 or unset: none
 *   HS_FAULT_ACTION=kill   SIGKILL (default), or an errno name: ENOSPC,
 *                          EIO, EMLINK, EXDEV, EACCES, ENOENT, EPERM; or swap:
 *                          the directory HS_FAULT_SWAP is renamed to
 *                          HS_FAULT_SWAP.swapped and replaced by a symlink
 *                          to "/" just before the call runs (a source that
 *                          changes between readdir and open); or swapnew:
 *                          right after the call (mkdirat, mknodat or
 *                          symlinkat) made its object, that object is
 *                          renamed to NAME.swapped and something else takes
 *                          NAME, as a user who can write in the directory
 *                          would do (a writer must then leave NAME alone;
 *                          "faultshim: swapped NAME" on stderr):
 *   HS_FAULT_SWAP_KIND     symlink (default): a symlink to
 *                          HS_FAULT_SWAP_TARGET; same: an object of the kind
 *                          made (a directory, a fifo for mknodat, a symlink
 *                          to HS_FAULT_SWAP_TARGET); link: a hard link to
 *                          HS_FAULT_SWAP_TARGET
 *   HS_FAULT_SWAP_UID=N    the owner of a swapped-in symlink or object: the
 *                          user (default 65534, nobody)
 *   HS_FAULT_CALLS=a,b     which calls count (default: all below)
 *   HS_FAULT_MATCH=str     only calls whose path (if any) contains str
 *   HS_FAULT_ONWARD=1      every counted call from the Nth on fails (a
 *                          filesystem that cannot do it at all), or is
 *                          swapped (swapnew)
 *
 * An error on a read or write of a regular file stays with that file, as a
 * bad sector would: a retry through another call or another open meets it
 * again. copy_file_range counts as a write, or as
 * "copy_file_range" (then an EIO stays with the file read from).
 *   HS_FAULT_REPORT=file   at exit, the number of counted calls is written here
 *   HS_FAULT_VERBOSE=1     the call acted on is named on stderr (=stack: and
 *                          its call stack)
 *
 * Test machinery, not part of hardsnap: this file's state is the shim's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long counted, at = -1;
/* the file an error stays with (as a bad sector would: reopening it does not help) */
static dev_t sticky_dev;
static ino_t sticky_ino;
static int sticky_write, sticky_set;
static int action_errno; /* 0: kill */
static int onward;
static const char *calls, *match, *swap;
static const char *swap_target; /* swapnew */
static int swap_pending;        /* swapnew: the current creating call is acted on */

static void report(void)
{
    const char *file = getenv("HS_FAULT_REPORT");
    FILE *f = file ? fopen(file, "w") : NULL;
    if (f) {
        fprintf(f, "%ld\n", counted);
        fclose(f);
    }
}

static void setup(void)
{
    if (at >= 0)
        return;
    const char *a = getenv("HS_FAULT_AT");
    at = a ? atol(a) : 0;
    const char *act = getenv("HS_FAULT_ACTION");
    static const struct {
        const char *name;
        int err;
    } errs[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EMLINK", EMLINK}, {"EXDEV", EXDEV},
                {"EACCES", EACCES}, {"ENOENT", ENOENT}, {"EPERM", EPERM}};
    for (size_t i = 0; act && i < sizeof errs / sizeof errs[0]; i++)
        if (!strcmp(act, errs[i].name))
            action_errno = errs[i].err;
    if (act && !strcmp(act, "swap"))
        swap = getenv("HS_FAULT_SWAP");
    if (act && !strcmp(act, "swapnew"))
        swap_target = getenv("HS_FAULT_SWAP_TARGET");
    onward = getenv("HS_FAULT_ONWARD") != NULL;
    calls = getenv("HS_FAULT_CALLS");
    match = getenv("HS_FAULT_MATCH");
    atexit(report);
}

/* rename() and symlink() are not wrapped: the swap itself is not counted. */
static void swap_for_root(void)
{
    char aside[4096];
    int saved = errno;
    snprintf(aside, sizeof aside, "%s.swapped", swap);
    if (rename(swap, aside) || symlink("/", swap)) {
        perror("faultshim: swap");
        abort();
    }
    errno = saved;
}

/* Whether this call fails (errno set, -1 to return); kills at the kill point. */
static int fault(const char *call, const char *path)
{
    setup();
    if (calls && !strstr(calls, call))
        return 0;
    if (match && (!path || !strstr(path, match)))
        return 0;
    if (++counted != at && !(onward && at > 0 && counted > at && (action_errno || swap_target)))
        return 0;
    const char *verbose = getenv("HS_FAULT_VERBOSE");
    if (verbose) {
        fprintf(stderr, "faultshim: call %ld: %s %s\n", counted, call, path ? path : "");
        void *frames[32];
        if (!strcmp(verbose, "stack"))
            backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
    }
    if (swap) {
        swap_for_root();
        return 0;
    }
    if (swap_target) {
        swap_pending = 1; /* done by the wrapper once the object exists */
        return 0;
    }
    if (!action_errno) {
        report();
        raise(SIGKILL);
    }
    errno = action_errno;
    return 1;
}

#define REAL(ret, name, ...)                                                                       \
    static ret (*real_##name)(__VA_ARGS__);                                                        \
    if (!real_##name)                                                                              \
    real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

int openat(int dirfd, const char *path, int flags, ...)
{
    REAL(int, openat, int, const char *, int, ...);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (fault("openat", path))
        return -1;
    return real_openat(dirfd, path, flags, mode);
}

int linkat(int od, const char *op, int nd, const char *np, int flags)
{
    REAL(int, linkat, int, const char *, int, const char *, int);
    return fault("linkat", np) ? -1 : real_linkat(od, op, nd, np, flags);
}

int renameat(int od, const char *op, int nd, const char *np)
{
    REAL(int, renameat, int, const char *, int, const char *);
    return fault("renameat", np) ? -1 : real_renameat(od, op, nd, np);
}

int renameat2(int od, const char *op, int nd, const char *np, unsigned flags)
{
    REAL(int, renameat2, int, const char *, int, const char *, unsigned);
    return fault("renameat", np) ? -1 : real_renameat2(od, op, nd, np, flags);
}

/* swapnew: what made dirfd/path is moved aside, and what HS_FAULT_SWAP_KIND
 * says takes its name. The calls are the real ones, not counted. */
static void swap_new(int dirfd, const char *path, mode_t type)
{
    static int (*ren)(int, const char *, int, const char *);
    static int (*sym)(const char *, int, const char *);
    static int (*mkd)(int, const char *, mode_t);
    static int (*mkn)(int, const char *, mode_t, dev_t);
    static int (*lnk)(int, const char *, int, const char *, int);
    if (!ren) {
        ren = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
        sym = (int (*)(const char *, int, const char *))dlsym(RTLD_NEXT, "symlinkat");
        mkd = (int (*)(int, const char *, mode_t))dlsym(RTLD_NEXT, "mkdirat");
        mkn = (int (*)(int, const char *, mode_t, dev_t))dlsym(RTLD_NEXT, "mknodat");
        lnk = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    }
    int saved = errno;
    const char *kind = getenv("HS_FAULT_SWAP_KIND"), *uid = getenv("HS_FAULT_SWAP_UID");
    int same = kind && !strcmp(kind, "same"), link = kind && !strcmp(kind, "link");
    uid_t owner = uid ? (uid_t)atol(uid) : 65534;
    char aside[4096];
    snprintf(aside, sizeof aside, "%s.swapped", path);
    int k = ren(dirfd, path, dirfd, aside);
    if (k == 0 && link)
        k = lnk(AT_FDCWD, swap_target, dirfd, path, 0);
    else if (k == 0 && same && S_ISDIR(type))
        k = mkd(dirfd, path, 0777);
    else if (k == 0 && same && !S_ISLNK(type))
        k = mkn(dirfd, path, S_IFIFO | 0666, 0);
    else if (k == 0)
        k = sym(swap_target, dirfd, path);
    if (k == 0 && !link)
        k = fchownat(dirfd, path, owner, owner, AT_SYMLINK_NOFOLLOW);
    if (k) {
        perror("faultshim: swapnew");
        abort();
    }
    fprintf(stderr, "faultshim: swapped %s\n", path);
    errno = saved;
}

/* A creating call's result, after swapnew's swap if it was acted on. */
static int created(int r, int dirfd, const char *path, mode_t type)
{
    if (swap_pending && r == 0)
        swap_new(dirfd, path, type);
    swap_pending = 0;
    return r;
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    REAL(int, mkdirat, int, const char *, mode_t);
    if (fault("mkdirat", path))
        return -1;
    return created(real_mkdirat(dirfd, path, mode), dirfd, path, S_IFDIR);
}

int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
    REAL(int, mknodat, int, const char *, mode_t, dev_t);
    if (fault("mknodat", path))
        return -1;
    return created(real_mknodat(dirfd, path, mode, dev), dirfd, path, mode & S_IFMT);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    REAL(int, unlinkat, int, const char *, int);
    return fault("unlinkat", path) ? -1 : real_unlinkat(dirfd, path, flags);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
    REAL(int, symlinkat, const char *, int, const char *);
    if (fault("symlinkat", path))
        return -1;
    return created(real_symlinkat(target, dirfd, path), dirfd, path, S_IFLNK);
}

/* A read or write on fd: fails if an earlier error stays with fd, or if this
 * is the call acted on (the error then stays with fd). */
static int fault_on(int fd, int is_write, const char *call)
{
    struct stat st;
    int saved = errno;
    int known = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    errno = saved;
    if (sticky_set && known && st.st_dev == sticky_dev && st.st_ino == sticky_ino &&
        is_write == sticky_write) {
        errno = action_errno;
        return 1;
    }
    if (!fault(call, NULL))
        return 0;
    if (action_errno && known) {
        sticky_dev = st.st_dev, sticky_ino = st.st_ino;
        sticky_write = is_write, sticky_set = 1;
    }
    return 1;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    return fault_on(fd, 1, "write") ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
    return fault_on(fd, 1, "write") ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
    return fault_on(fd, 1, "write") ? -1 : real_pwrite64(fd, buf, n, off);
}

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(ssize_t, read, int, void *, size_t);
    return fault_on(fd, 0, "read") ? -1 : real_read(fd, buf, n);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pread, int, void *, size_t, off_t);
    return fault_on(fd, 0, "read") ? -1 : real_pread(fd, buf, n, off);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pread64, int, void *, size_t, off_t);
    return fault_on(fd, 0, "read") ? -1 : real_pread64(fd, buf, n, off);
}

ssize_t copy_file_range(int in, off_t *ioff, int out, off_t *ooff, size_t n, unsigned flags)
{
    REAL(ssize_t, copy_file_range, int, off_t *, int, off_t *, size_t, unsigned);
    setup();
    int as_read = calls && strstr(calls, "copy_file_range") && action_errno == EIO;
    int fd = as_read ? in : out;
    if (fault_on(fd, !as_read,
                 calls && strstr(calls, "copy_file_range") ? "copy_file_range" : "write"))
        return -1;
    return real_copy_file_range(in, ioff, out, ooff, n, flags);
}

int fsync(int fd)
{
    REAL(int, fsync, int);
    return fault("fsync", NULL) ? -1 : real_fsync(fd);
}

int syncfs(int fd)
{
    REAL(int, syncfs, int);
    return fault("fsync", NULL) ? -1 : real_syncfs(fd);
}
