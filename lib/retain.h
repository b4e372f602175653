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

enum hs_keep_reason {
    HS_KEEP_LAST = 1u << 0,
    HS_KEEP_HOURLY = 1u << 1,
    HS_KEEP_DAILY = 1u << 2,
    HS_KEEP_WEEKLY = 1u << 3,
    HS_KEEP_MONTHLY = 1u << 4,
    HS_KEEP_YEARLY = 1u << 5,
    HS_KEEP_WITHIN = 1u << 6,
    HS_KEEP_NEWEST = 1u << 7,
};

struct hs_retain_item {
    time_t t;         /* the snapshot's time */
    unsigned reasons; /* enum hs_keep_reason bits; 0 = delete */
};

/* Whether p has at least one rule. */
bool hs_retain_any(const struct hs_retain *p);

/* Decides for items (sorted oldest first) which to keep and why. */
void hs_retain_apply(const struct hs_retain *p, time_t now, struct hs_retain_item *items, size_t n);

/* "last", "hourly", ... for the reasons set in bits, comma-separated. */
void hs_retain_reasons(unsigned bits, char *out, size_t size);

#endif
