/*
 * The retention policy of prune, as restic's forget: each rule on its own
 * keeps the newest snapshot of each of its N most recent periods that have
 * one, counting back from the newest snapshot; the union of the rules is kept
 * (unlike borg, rules do not consume each other's snapshots); keep-within
 * keeps everything newer than now minus the duration; the newest snapshot is
 * always kept. Periods are UTC hours, days, ISO weeks, months and years.
 */
#ifndef HS_RETAIN_H
#define HS_RETAIN_H
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct hs_retain_item {
    time_t t;         /* the snapshot's time */
    unsigned reasons; /* enum hs_keep_reason bits; 0 = delete */
};

/* Decides for items (sorted oldest first) which to keep and why. */
void hs_retain_apply(const struct hs_retain *p, time_t now, struct hs_retain_item *items, size_t n);

#endif
