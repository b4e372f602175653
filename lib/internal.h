/* Included first by every private header: they are not part of the API. */
#ifndef HS_INTERNAL_H
#define HS_INTERNAL_H
#ifndef HS_INTERNAL
#error "private libhardsnap header: include hardsnap.h instead"
#endif
#include "err.h"

/*
 * One outcome convention for the whole library: a function that can fail
 * returns r < 0 (-errno, the message in its struct hs_err); otherwise one of
 * these, for the results that are not errors.
 */
enum hs_outcome {
    HS_DONE = 0,    /* done as asked (made, linked, copied, joined) */
    HS_SKIPPED = 1, /* left out, a warning said why; the run goes on */
    HS_NO_LINK = 2, /* no link was (or could be) made: a copy must do */
    HS_CHANGED = 3, /* the source changed between two of its names: a group of its own */
    HS_SINGLE = 4,  /* a path names a single file, not a directory to walk */
};
#endif
