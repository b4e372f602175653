#include "storefile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int hs_open_regular(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
    if (fd < 0) {
        /* a symlink (O_NOFOLLOW), a directory opened for writing, a fifo
         * without a reader or a socket opened for writing */
        if (errno == ELOOP || errno == EISDIR || errno == ENXIO)
            return -EBADMSG;
        return -errno;
    }
    struct stat st;
    int err = fstat(fd, &st) < 0 ? errno : S_ISREG(st.st_mode) ? 0 : EBADMSG;
    if (err) {
        close(fd);
        return -err;
    }
    return fd;
}
