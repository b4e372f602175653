/*
 * One error convention for the whole library: a failing function returns
 * -errno and leaves "what: path: strerror" in a struct hs_err.
 */
#ifndef HS_ERR_H
#define HS_ERR_H

#include "hardsnap.h"
#include <stdbool.h>
#include <stddef.h>

/* Sets e to "what: path: strerror(errnum)" (path escaped). Returns -errnum. */
int hs_err_path(struct hs_err *e, int errnum, const char *what, const char *path);

/* Sets e to "what: path: why" (path escaped), for a reason strerror has no
 * words for ("not a regular file"). Returns -errnum. */
int hs_err_path_why(struct hs_err *e, int errnum, const char *what, const char *path,
                    const char *why);

/* Sets e to the formatted text, then ": strerror(errnum)" if errnum != 0.
 * Returns -errnum, or -EINVAL when errnum is 0. */
int hs_err_setf(struct hs_err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* hs_err_path, marked HS_USAGE: bad input, nothing was changed. */
int hs_err_usage(struct hs_err *e, int errnum, const char *what, const char *path);

/* dst takes src's error (dst's own, if any, is dropped); src is left empty. */
void hs_err_move(struct hs_err *dst, struct hs_err *src);

/* Marks how bad the error is (default HS_FAILED). */
void hs_err_kind(struct hs_err *e, enum hs_status kind);

/* Whether the len bytes at s are well-formed UTF-8: no overlong forms,
 * surrogates or values past U+10FFFF (NUL counts as a character). */
bool hs_utf8_valid(const char *s, size_t len);

#endif
