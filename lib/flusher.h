/*
 * Early writeback: a thread that calls syncfs() whenever enough new data has
 * been written, so that the disk writes while the backup goes on copying,
 * and the final syncfs() of publication finds little left to do. Without
 * it, the kernel starts writing only at its dirty limits (10 % of RAM by
 * default), so a backup's copy and its flush would run one after the other.
 */
#ifndef HS_FLUSHER_H
#define HS_FLUSHER_H
#include "internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct hs_flusher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int fd;           /* any fd on the filesystem to flush */
    uint64_t pending; /* bytes written since the last flush began */
    uint64_t threshold;
    bool stop, running;
};

/* Starts the thread (best effort: without it, publication flushes alone). */
void hs_flusher_start(struct hs_flusher *f, int fd, uint64_t threshold);
/* n more bytes were written. */
void hs_flusher_add(struct hs_flusher *f, uint64_t n);
/* Stops and joins the thread; safe if it never started. */
void hs_flusher_stop(struct hs_flusher *f);

#endif
