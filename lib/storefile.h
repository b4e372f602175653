/* Opening the store's own files (manifests, content indexes, the log, the
 * lock, an export's temp file) so that nothing found under their names can
 * hang or fool a command. */
#ifndef HS_STOREFILE_H
#define HS_STOREFILE_H
#include "internal.h"

#include <sys/types.h>

/* openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
 * O_CLOEXEC, mode), kept only if it is a regular file: a fifo would block
 * the open or the first read forever, a device or socket is nothing the
 * store wrote. Returns the fd, or -errno; a name that is no regular file
 * (fifo, socket, device, directory, symlink) is -EBADMSG, as a damaged file
 * is: open(2) itself never returns that. */
int hs_open_regular(int dirfd, const char *name, int flags, mode_t mode);

#endif
