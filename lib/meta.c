#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* fchmodat2 (Linux 6.6) is numbered alike on these; glibc 2.36 does not know it */
#if !defined(SYS_fchmodat2) &&                                                                     \
    (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||       \
     defined(__riscv) || defined(__powerpc__) || defined(__s390__) || defined(__loongarch__))
#define SYS_fchmodat2 452
#endif

uid_t hs_made_uid(int dirfd)
{
    int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    char name[48] = "";
    if (fd < 0) { /* no O_TMPFILE here: a name of our own, for a moment */
        snprintf(name, sizeof name, ".hardsnap-owner-probe.%ld", (long)getpid());
        fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            name[0] = '\0';
    }
    struct stat st;
    uid_t uid = fd >= 0 && fstat(fd, &st) == 0 ? st.st_uid : geteuid();
    if (name[0])
        unlinkat(dirfd, name, 0);
    if (fd >= 0)
        close(fd);
    return uid;
}

bool hs_is_made(const struct stat *st, mode_t type, uid_t owner)
{
    return (st->st_mode & S_IFMT) == type && st->st_uid == owner &&
           (S_ISDIR(type) || st->st_nlink == 1);
}

int hs_open_made(int dirfd, const char *name, mode_t type, uid_t owner, int *fd, struct stat *st)
{
    int flags = S_ISDIR(type) ? O_RDONLY | O_DIRECTORY | O_NONBLOCK : O_PATH;
    *fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
    if (*fd < 0)
        return -errno;
    int k = fstat(*fd, st) < 0 ? -errno : hs_is_made(st, type, owner) ? 0 : HS_MADE_SWAPPED;
    if (k != 0) {
        close(*fd);
        *fd = -1;
    }
    return k;
}

bool hs_made_gone(int k)
{
    return k == HS_MADE_SWAPPED || k == -ENOENT || k == -ELOOP || k == -ENOTDIR;
}

int hs_meta_chmod(struct hs_xobj o, mode_t mode)
{
    if (o.fd < 0)
        return -EBADF;
    if (!o.opath)
        return fchmod(o.fd, mode) < 0 ? -errno : 0;
#ifdef SYS_fchmodat2
    if (syscall(SYS_fchmodat2, o.fd, "", mode, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != ENOSYS && errno != EPERM) /* EPERM: a sandbox that refuses it */
        return -errno;
#endif
    /* an older kernel: the fd's /proc link, as glibc's fchmodat emulates
     * AT_SYMLINK_NOFOLLOW (it reaches the object, never a swapped name) */
    char p[32];
    snprintf(p, sizeof p, "/proc/self/fd/%d", o.fd);
    return chmod(p, mode) < 0 ? -errno : 0;
}

static int set_owner(struct hs_xobj o, uid_t uid, gid_t gid)
{
    int k = o.opath ? fchownat(o.fd, "", uid, gid, AT_EMPTY_PATH) : fchown(o.fd, uid, gid);
    return k < 0 ? -errno : 0;
}

static int set_times(struct hs_xobj o, const struct stat *want)
{
    struct timespec ts[2] = {want->st_atim, want->st_mtim};
    int k = o.opath ? utimensat(o.fd, "", ts, AT_EMPTY_PATH) : futimens(o.fd, ts);
    return k < 0 ? -errno : 0;
}

/* A file's set-user-ID and set-group-ID bits, kept only where its owner and
 * group are the original's (as libarchive and GNU tar do): a setuid-root file
 * restored by someone who could not give it to root must not become a
 * setuid file of someone else's. */
static mode_t setid_kept(struct hs_xobj o, const struct stat *want, const struct stat *now,
                         bool chowned)
{
    mode_t mode = want->st_mode & 07777;
    if (!S_ISREG(want->st_mode) || !(mode & (S_ISUID | S_ISGID)) || chowned)
        return mode;
    struct stat cur;
    if (!now && fstat(o.fd, &cur) == 0)
        now = &cur;
    if (!now || now->st_uid != want->st_uid)
        mode &= ~(mode_t)S_ISUID;
    if (!now || now->st_gid != want->st_gid)
        mode &= ~(mode_t)S_ISGID;
    return mode;
}

int hs_meta_apply(struct hs_xobj o, const struct stat *want, const struct stat *now,
                  const struct hs_xattrs *xa, bool root, struct hs_meta_result *res)
{
    *res = (struct hs_meta_result){0};
    if (o.fd < 0) {
        res->what = "cannot set metadata of";
        return -EBADF;
    }
    bool owned = now && now->st_uid == want->st_uid && now->st_gid == want->st_gid;
    if (root && !owned)
        res->owner_err = set_owner(o, want->st_uid, want->st_gid);
    bool chowned = root && (owned || !res->owner_err);
    if (xa && xa->count)
        res->xattr_err = hs_xattr_apply(xa, o, root);
    if (o.inherits && !S_ISLNK(want->st_mode)) {
        int a = hs_xattr_drop_inherited_acls(xa, o, S_ISDIR(want->st_mode));
        if (a < 0 && !res->xattr_err)
            res->xattr_err = a;
    }
    /* a symlink's mode is always 0777 and cannot be changed */
    int k = S_ISLNK(want->st_mode) ? 0 : hs_meta_chmod(o, setid_kept(o, want, now, chowned));
    if (k < 0) {
        res->what = "cannot set mode of";
        return k;
    }
    k = set_times(o, want);
    if (k < 0)
        res->what = "cannot set times of";
    return k;
}
