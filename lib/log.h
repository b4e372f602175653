/*
 * Reading DEST/.hardsnap/log (log.c writes it): its tail, complete lines
 * only, and the fields of a line. Readers look at the tail alone, so the
 * cost stays the same however long the store has lived.
 */
#ifndef HS_LOG_H
#define HS_LOG_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>

/* The last complete lines of the log of the store at hsfd (.hardsnap), at
 * most cap - 1 bytes of them, NUL-terminated in buf, each ending in '\n'.
 * The length, 0 when there is no log or nothing complete in its tail. */
size_t hs_log_tail(int hsfd, char *buf, size_t cap);

/* The value of key in one log line ("key=value ..."), into out (n bytes). */
bool hs_log_field(const char *line, const char *key, char *out, size_t n);

#endif
