/* A growable byte buffer, always NUL-terminated after len bytes. */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>

struct hs_buf {
    char *data;
    size_t len;
    size_t cap;
};

int hs_buf_reserve(struct hs_buf *b, size_t extra);
int hs_buf_append(struct hs_buf *b, const void *p, size_t n);
int hs_buf_puts(struct hs_buf *b, const char *s);
int hs_buf_putc(struct hs_buf *b, char c);
/* s as a JSON string, quotes included (hs_json_quote). */
int hs_buf_json(struct hs_buf *b, const char *s);
void hs_buf_truncate(struct hs_buf *b, size_t len);
/* "base/path" (base alone for an empty path) in b, for a message: valid
 * until b changes; path itself if memory ran out. */
const char *hs_buf_join(struct hs_buf *b, const char *base, const char *path);
void hs_buf_free(struct hs_buf *b);

#endif
