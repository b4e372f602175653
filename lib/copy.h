/*
 * Copying file data into a new inode while computing its XXH3-128, keeping
 * holes as holes (SEEK_DATA/SEEK_HOLE) and hashing holes as the zeros they
 * read as, so the hash names the content whatever its layout.
 */
#ifndef HS_COPY_H
#define HS_COPY_H
#include "internal.h"

#include "blockhash.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* Copies at least this big start their own writeback at once
 * (sync_file_range), so the final sync finds little of them left to write. */
#define HS_COPY_WRITEBACK_MIN (1024 * 1024)

/* With HS_COPY_AUTO, files at least this big are copied in the kernel. */
#define HS_COPY_KERNEL_MIN (4 * 1024 * 1024)

struct hs_copier {
    enum hs_copy_method method;
    unsigned char *buf;
    size_t buf_size;
    void *hash_state; /* XXH3_state_t, reused for every file */
    bool src_failed;  /* the last error was reading the source (else writing) */
    /* If not NULL, each copy or hash also makes the content's block hashes
     * here (reset at its start, finished at its end: read them with
     * hs_blockhash_blocks), in the same pass. NULL (the default): none. */
    struct hs_blockhash *blocks;
};

int hs_copier_init(struct hs_copier *c, enum hs_copy_method method);
void hs_copier_free(struct hs_copier *c);

/* Copies src (size st->st_size, as stat'ed) into the empty dst (opened for
 * reading too: the copy may be hashed from it), hashing it.
 * *written is the data bytes written (holes excluded). path is for messages. */
int hs_copy_data(struct hs_copier *c, int src, int dst, const struct stat *st, uint8_t hash[16],
                 uint64_t *written, const char *path, struct hs_err *e);

/* Feeds n zero bytes (a hole) to an XXH3 state (XXH3_state_t *). */
void hs_hash_zeros(void *state, uint64_t n);

/* Hashes fd's whole content from offset 0. */
int hs_hash_fd(struct hs_copier *c, int fd, const struct stat *st, uint8_t hash[16],
               const char *path, struct hs_err *e);

#endif
