#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int hs_meta_apply(struct hs_xobj o, const struct stat *want, const struct stat *now,
                  const struct hs_xattrs *xa, bool root, struct hs_meta_result *res)
{
    *res = (struct hs_meta_result){0};
    bool by_fd = o.fd >= 0;
    bool owned = now && now->st_uid == want->st_uid && now->st_gid == want->st_gid;
    if (root && !owned &&
        (by_fd ? fchown(o.fd, want->st_uid, want->st_gid)
               : fchownat(o.dirfd, o.name, want->st_uid, want->st_gid, AT_SYMLINK_NOFOLLOW)) < 0)
        res->owner_err = -errno;
    if (xa && xa->count)
        res->xattr_err = hs_xattr_apply(xa, o, root);
    /* a symlink's mode is always 0777; fchmodat would follow it */
    if (!S_ISLNK(want->st_mode) &&
        (by_fd ? fchmod(o.fd, want->st_mode & 07777)
               : fchmodat(o.dirfd, o.name, want->st_mode & 07777, 0)) < 0) {
        res->what = "cannot set mode of";
        return -errno;
    }
    struct timespec ts[2] = {want->st_atim, want->st_mtim};
    if ((by_fd ? futimens(o.fd, ts) : utimensat(o.dirfd, o.name, ts, AT_SYMLINK_NOFOLLOW)) < 0) {
        res->what = "cannot set times of";
        return -errno;
    }
    return 0;
}
