/*
 * hardsnap serve: the remote end of a pull (see remote.h for the protocol).
 */
#include "err.h"

#include <errno.h>

enum hs_status hs_serve(const struct hs_serve_opts *o, struct hs_err *err)
{
    (void)o;
    hs_err_setf(err, ENOSYS, "serve is not implemented yet");
    return HS_FAILED;
}
