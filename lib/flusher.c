#include "flusher.h"

#include <unistd.h>

static void *flusher_main(void *arg)
{
    struct hs_flusher *f = arg;
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        if (f->pending < f->threshold) {
            pthread_cond_wait(&f->wake, &f->lock);
            continue;
        }
        f->pending = 0;
        pthread_mutex_unlock(&f->lock);
        syncfs(f->fd); /* errors surface in the final, checked syncfs */
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

void hs_flusher_start(struct hs_flusher *f, int fd, uint64_t threshold)
{
    *f = (struct hs_flusher){.fd = fd, .threshold = threshold};
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        return;
    if (pthread_cond_init(&f->wake, NULL) != 0) {
        pthread_mutex_destroy(&f->lock);
        return;
    }
    f->running = pthread_create(&f->thread, NULL, flusher_main, f) == 0;
    if (!f->running) {
        pthread_cond_destroy(&f->wake);
        pthread_mutex_destroy(&f->lock);
    }
}

void hs_flusher_add(struct hs_flusher *f, uint64_t n)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->lock);
    f->pending += n;
    if (f->pending >= f->threshold)
        pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
}

void hs_flusher_stop(struct hs_flusher *f)
{
    if (!f->running)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    f->running = false;
}
