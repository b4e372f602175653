/*
 * The pull protocol's bytes: frames, and the entry list they carry.
 *
 * A connection (or a list file: the same bytes) is a sequence of frames, a
 * type byte and a 32-bit little-endian length before at most
 * HS_WIRE_MAX_FRAME bytes, so a reader never holds more than one frame
 * whatever the other end claims. Between client (the backup) and server
 * (hardsnap serve), in half-duplex phases so that neither end can block
 * the other on a full pipe:
 *
 *   C: HELLO REQUEST          S: HELLO, then LIST... LIST_END (or ERROR)
 *   C: WANT... BLOCKS... WANT_END
 *                             S: DATA... DATA_END
 *   C: FETCH path             S: DATA... DATA_END (one file, on demand)
 *   C: BYE
 *
 * HELLO is "HSNP", the protocol version (u32) and the program's version: a
 * mismatch ends the connection with an error naming both versions.
 *
 * The list is the tree in walk order, one record per entry (and per entry
 * the walk could not examine), prefix-compressed within each frame so a
 * frame decodes on its own. On the wire it is a delta against a list both
 * ends kept from the last pull (the base: see remote.c): KEEP n copies the
 * next n base records, DROP n skips them, a record is new. The list's id,
 * an XXH3-128 over its records, ends it: the client checks the list it
 * rebuilt against it, so a damaged base on either end is found, never used.
 * DATA is a pax archive, zstd-compressed (libarchive), whose members are
 * named by their record's index in the list.
 *
 * A changed big file the client holds an earlier version of comes as its
 * changed blocks only: BLOCKS gives the block hashes of that version (its
 * base, lib/blockhash.h), and the member is then named "INDEX.d": a sparse
 * member whose data segments are the blocks that differ, whose gaps are the
 * base's blocks (see remote_blocks.h).
 */
#ifndef HS_WIRE_H
#define HS_WIRE_H
#include "internal.h"

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define HS_PROTO_VERSION  2 /* 2: BLOCKS */
#define HS_WIRE_MAX_FRAME (4u << 20)
/* Records are cut into frames of about this size. */
#define HS_WIRE_FRAME_FILL (64u << 10)
/* Bounds a record must keep (what Linux itself allows, and room). */
#define HS_WIRE_MAX_PATH   (1u << 20)
#define HS_WIRE_MAX_TARGET 4096
#define HS_WIRE_MAX_XATTRS (1u << 20)
#define HS_WIRE_MAX_WHAT   1024
/* Block hashes a pull may send in BLOCKS, all files together (32 MiB held
 * by the server: 256 GiB of changed big files in 64 KiB blocks); files past
 * it come whole. */
#define HS_WIRE_MAX_BASE_HASHES (4u << 20)
/* What a base costs besides its hashes, counted against that bound as
 * hashes: the server's record of it (so a million one-block bases cannot
 * make it hold 80 bytes each beyond the bound). */
#define HS_WIRE_BASE_COST 16
/* A delta member's data segments at most (runs of changed blocks); more,
 * and the file comes whole. */
#define HS_WIRE_MAX_SEGMENTS (64u << 10)

enum hs_msg {
    HS_MSG_HELLO = 'H',
    HS_MSG_REQUEST = 'Q',
    HS_MSG_ERROR = 'E', /* u32 errno, message: the request failed */
    HS_MSG_WARN = 'W',  /* u32 errno, path, what: a problem the server met */
    HS_MSG_LIST = 'L',
    HS_MSG_LIST_END = 'l', /* u64 records, id[16] */
    HS_MSG_WANT = 'N',     /* varint pairs (gap, run) of wanted record indexes */
    HS_MSG_WANT_END = 'n',
    /* varint index (a wanted one, rising), base size, block size, first
     * block; then u64 hashes to the frame's end (little-endian): the blocks
     * first.. of the client's base of that file, all of them over one or
     * more frames */
    HS_MSG_BLOCKS = 'b',
    HS_MSG_DATA = 'D',
    HS_MSG_DATA_END = 'd',
    HS_MSG_FETCH = 'F', /* varint index, dev, ino, size, path */
    HS_MSG_BYE = 'B',
};

/* ---- frames ----------------------------------------------------------- */

struct hs_conn {
    int in, out;
    int timeout_ms; /* -1: wait forever */
    const char *peer;
    struct hs_buf wbuf;
    unsigned char *rbuf;
    size_t rpos, rlen;
    uint64_t bytes_in, bytes_out;
    bool not_socket; /* out is a pipe or file: write(), not send() */
};

void hs_conn_init(struct hs_conn *c, int in, int out, unsigned timeout_s, const char *peer);
/* Queues a frame (sent when the buffer fills or on flush). 0 or -errno. */
int hs_conn_send(struct hs_conn *c, uint8_t type, const void *p, size_t n, struct hs_err *e);
int hs_conn_flush(struct hs_conn *c, struct hs_err *e);
/* Flushes, then reads the next frame into payload: 1 and *type, 0 at a
 * clean end of input before a frame, <0 (a cut frame, a stall past the
 * timeout, an oversized frame). */
int hs_conn_recv(struct hs_conn *c, uint8_t *type, struct hs_buf *payload, struct hs_err *e);
void hs_conn_free(struct hs_conn *c);

/* ---- values ----------------------------------------------------------- */

int hs_put_varint(struct hs_buf *b, uint64_t v);
int hs_put_bytes(struct hs_buf *b, const void *p, size_t n); /* varint length, bytes */

struct hs_dec {
    const unsigned char *p, *end;
    bool bad; /* a value ran past the end or out of range: sticky */
};

static inline void hs_dec_init(struct hs_dec *d, const void *p, size_t n)
{
    d->p = p;
    d->end = p ? d->p + n : d->p; /* NULL + 0 is no pointer arithmetic C allows */
    d->bad = false;
}

uint64_t hs_get_varint(struct hs_dec *d);
uint8_t hs_get_u8(struct hs_dec *d);
/* n raw bytes: a pointer into the input (NULL when bad). */
const void *hs_get_raw(struct hs_dec *d, size_t n);
/* A varint length (at most max) and its bytes. */
const void *hs_get_bytes(struct hs_dec *d, size_t max, size_t *n);

/* ---- records ---------------------------------------------------------- */

enum hs_rec_kind {
    HS_REC_ENTRY = 1,
    HS_REC_ERROR = 2, /* an entry the walk could not examine, or a directory not opened */
};

struct hs_rec {
    uint8_t kind;
    const char *path; /* relative to the served root, "" for the root itself */
    size_t path_len;
    struct stat st; /* ERROR: st_mode 0 when there was no stat */
    const char *target;
    size_t target_len;
    const void *xattrs; /* hs_rec_xattrs_put's encoding */
    size_t xattrs_len;
    int err; /* ERROR */
    const char *what;
    size_t what_len;
    bool unentered;
    /* annotation, not part of the record's identity */
    bool has_hash;
    uint8_t hash[16];
    int data_err; /* the server could not read the file (hashing it) */
};

/* The xattrs (sorted names, values) in a record's encoding. */
struct hs_xattrs;
int hs_rec_xattrs_put(struct hs_buf *b, const struct hs_xattrs *xa);
/* Back into xa (all: not only those an unprivileged process may set). */
int hs_rec_xattrs_get(const void *p, size_t n, struct hs_xattrs *xa, bool all);

/* The list in frames: records and delta operations. */
enum hs_lop {
    HS_LOP_REC = 'R',
    HS_LOP_KEEP = 'K',
    HS_LOP_DROP = 'X',
};

struct hs_lenc {
    struct hs_conn *c;
    struct hs_buf frame;
    struct hs_buf prev; /* the frame's previous path */
    struct hs_buf body;
    void *id; /* XXH3 state over the full list's records */
    uint64_t count;
};

int hs_lenc_init(struct hs_lenc *l, struct hs_conn *c);
/* A record of the list (and of the id, unless only delta is sent). */
int hs_lenc_rec(struct hs_lenc *l, const struct hs_rec *r, bool annotate, struct hs_err *e);
/* KEEP/DROP n. */
int hs_lenc_op(struct hs_lenc *l, uint8_t op, uint64_t n, struct hs_err *e);
/* Ends the frame now and sends it (buffered in the connection): what was
 * encoded so far can be decoded by the other end without more to come. */
int hs_lenc_cut(struct hs_lenc *l, struct hs_err *e);
/* Adds a record to the id and count only (a KEEP's records). */
int hs_lenc_count(struct hs_lenc *l, const struct hs_rec *r);
/* LIST_END with the count and id (into id too). */
int hs_lenc_finish(struct hs_lenc *l, uint8_t id[16], struct hs_err *e);
void hs_lenc_free(struct hs_lenc *l);

struct hs_ldec {
    struct hs_conn *c;
    struct hs_buf payload;
    struct hs_dec d;
    struct hs_buf path;
    bool in_frame, ended;
    uint64_t count; /* LIST_END's */
    uint8_t id[16];
    void *idstate; /* over the records returned (REC), when the caller adds them */
    uint64_t seen;
};

int hs_ldec_init(struct hs_ldec *l, struct hs_conn *c);
/* The next operation: 1 with *op (and *r for REC, valid until the next
 * call; *n for KEEP/DROP), 0 at LIST_END, <0 on bad input (EBADMSG) or a
 * broken connection. Other frames are errors unless handle accepts them
 * (HS_MSG_WARN on the wire): then it is called and the list goes on. */
int hs_ldec_next(struct hs_ldec *l, uint8_t *op, struct hs_rec *r, uint64_t *n,
                 int (*handle)(void *user, uint8_t type, struct hs_dec *d), void *user,
                 struct hs_err *e);
/* Adds r to the id being computed (the list the caller rebuilds). */
int hs_ldec_count(struct hs_ldec *l, const struct hs_rec *r);
/* The id of what was counted: 1 if it is the list's (LIST_END's), 0 if not. */
bool hs_ldec_id_ok(struct hs_ldec *l);
void hs_ldec_free(struct hs_ldec *l);

/* Whether two records are the same entry, equal in every field. */
bool hs_rec_equal(const struct hs_rec *a, const struct hs_rec *b);

/* Whether a list may hold this path: relative, components neither empty,
 * "." nor "..", at most 255 bytes each, no NUL. */
bool hs_wire_path_ok(const char *p, size_t n);

/* The id at the end of a list file (its LIST_END frame): 0, or -EBADMSG. */
int hs_list_file_id(int fd, uint8_t id[16]);

/* n bytes as lowercase hex into out (2n+1 bytes). */
void hs_wire_hex(const uint8_t *p, size_t n, char *out);

/* ---- hello and request ------------------------------------------------ */

/* This end's HELLO payload. */
int hs_wire_hello(struct hs_buf *b);
/* Checks the other end's (who: "the client", "web1"): 0, or -EPROTO with
 * why naming both versions. */
int hs_wire_hello_check(const void *p, size_t n, const char *who, char *why, size_t len);

enum hs_req_flags {
    HS_REQ_ONE_FS = 1u << 0,   /* do not descend into other file systems (-x) */
    HS_REQ_HASHES = 1u << 1,   /* hash new and changed files: the store may hold them */
    HS_REQ_CHECKSUM = 1u << 2, /* --checksum: hash every file (no base: a full list) */
};

struct hs_exclude;
struct hs_req {
    struct hs_buf path;   /* as the user wrote it (relative: to the server's home) */
    struct hs_buf prefix; /* "NAME/" of the source in the snapshot, or "" */
    uint32_t flags;
    struct hs_exclude *global, *own; /* patterns (see hs_exclude_source) */
    bool has_base;
    uint8_t key[16];     /* which base: the store's and the source's */
    uint8_t base_id[16]; /* the list the client's store holds */
};

int hs_req_encode(const struct hs_req *q, struct hs_buf *b);
/* -EBADMSG for a malformed request. */
int hs_req_decode(struct hs_req *q, const void *p, size_t n);
void hs_req_free(struct hs_req *q);

/* A record kept beyond the decoder's next call. */
struct hs_rec_copy {
    struct hs_rec r;
    struct hs_buf path, target, xattrs, what;
};
int hs_rec_copy_set(struct hs_rec_copy *c, const struct hs_rec *r);
void hs_rec_copy_free(struct hs_rec_copy *c);

#endif
