/* libFuzzer target: what a remote server sends a backup, read as the
 * client reads it. The input is a frame stream (a list file's bytes): its
 * records are walked as the engine would walk them (listwalk.c's checks)
 * and each one's xattrs decoded; the input is also tried as a request and
 * as a hello. A bad stream must be an error (-EBADMSG), never a crash, a
 * leak or unbounded memory. */
#include "fuzz_util.h"
#include "listwalk.h"
#include "wire.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int read_rec(void *user, struct hs_rec_copy *into, struct hs_err *e)
{
    struct hs_ldec *l = user;
    uint8_t op = 0;
    struct hs_rec r;
    uint64_t n = 0;
    int k = hs_ldec_next(l, &op, &r, &n, NULL, NULL, e);
    if (k <= 0)
        return k;
    if (op != HS_LOP_REC)
        return -EBADMSG;
    return hs_rec_copy_set(into, &r) < 0 ? -ENOMEM : 1;
}

static void walk_list(void)
{
    int fd = openat(fuzz_dir(), "list", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct hs_conn c;
    hs_conn_init(&c, fd, -1, 0, "fuzz");
    struct hs_ldec l;
    struct hs_err e = {0};
    if (hs_ldec_init(&l, &c) == 0) {
        struct hs_listwalk w = {
            .read = read_rec, .user = &l, .prefix = "", .name = "fuzz", .err = &e};
        struct hs_xattrs xa = {0};
        struct hs_walk_item it;
        for (size_t n = 0; n < 1000000 && hs_listwalk_next(&w, &it) == 0 && it.ev != HS_WALK_END;
             n++) {
            const struct hs_rec *r = &w.cur.r;
            if (it.ev == HS_WALK_ENTRY && r->xattrs_len)
                hs_rec_xattrs_get(r->xattrs, r->xattrs_len, &xa, true);
            if (it.ev == HS_WALK_ENTRY && n % 7 == 3)
                hs_listwalk_skip(&w);
        }
        hs_xattrs_free(&xa);
        hs_listwalk_free(&w);
        hs_ldec_id_ok(&l);
        hs_ldec_free(&l);
    }
    hs_err_clear(&e);
    hs_conn_free(&c);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fuzz_write("list", data, size) < 0)
        return 0;
    walk_list();
    struct hs_req q = {0};
    hs_req_decode(&q, data, size);
    hs_req_free(&q);
    char why[256];
    hs_wire_hello_check(data, size, "fuzz", why, sizeof why);
    return 0;
}
