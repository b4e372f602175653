/*
 * Anomalies: a run that read every file may still be wrong, in two ways a
 * person would want to hear about the same night rather than weeks later.
 *
 * - Files whose metadata and content were the previous snapshot's but that
 *   were written again instead of linked: the way rsync --link-dest backups
 *   silently became full copies (a moved link-dest, a store spanning mounts).
 *   The engine counts them (stats.unlinked_unchanged); any is a warning.
 * - A change rate far above the store's usual, taken from its log: what
 *   ransomware encrypting a home directory, or a tool rewriting every
 *   file, looks like to a backup.
 */
#ifndef HS_ANOMALY_H
#define HS_ANOMALY_H
#include "internal.h"

#include "hardsnap.h"
#include <stdbool.h>
#include <stdint.h>

/* How many earlier runs make "usual": the median of their rates. Fewer than
 * HS_ANOMALY_MIN_RUNS is too little history to judge by. */
#define HS_ANOMALY_RUNS     20
#define HS_ANOMALY_MIN_RUNS 3
/* Far above usual: this many times the usual rate, and at least this share
 * of the files and this many files (so a small tree where one night's edits
 * are a large share, or a store where nothing ever changes, stays quiet). */
#define HS_ANOMALY_FACTOR    10.0
#define HS_ANOMALY_MIN_RATE  0.01
#define HS_ANOMALY_MIN_FILES 100

/* The usual change rate of the store at hsfd (.hardsnap): the median of
 * copied/files over its last HS_ANOMALY_RUNS backups that made a snapshot
 * and had files, from its log. *runs: how many there were (0: none). */
double hs_anomaly_usual_rate(int hsfd, unsigned *runs);

/* Fills c for a run that copied copied of files, against the usual rate
 * (of runs runs): c->raised when it is far above. */
void hs_anomaly_judge(struct hs_change_alarm *c, uint64_t files, uint64_t copied, double usual,
                      unsigned runs);

#endif
