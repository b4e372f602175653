/* hook: commands run by /bin/sh around a run, in a process group of their own. */
#include "hardsnap.h"
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

START_TEST(status_output_and_environment)
{
    struct hs_err e = {0};
    struct hs_hook_env env = {.dest = "/d", .snapshot = "2026-01-01T000000Z", .status = 3};
    char *out = NULL;
    setenv("HARDSNAP_SOURCE", "inherited", 1);
    int r = hs_hook_run("after",
                        "echo \"$HARDSNAP_DEST $HARDSNAP_SNAPSHOT $HARDSNAP_STATUS "
                        "${HARDSNAP_SOURCE:-unset} ${HARDSNAP_REPORT:-none}\"",
                        &env, &out, &e);
    unsetenv("HARDSNAP_SOURCE");
    ck_assert_int_eq(r, 0);
    ck_assert_str_eq(out, "/d 2026-01-01T000000Z 3 unset none\n");
    free(out);
    ck_assert_ptr_null(e.msg);
    /* 75 is not now: no message */
    ck_assert_int_eq(hs_hook_run("before", "exit 75", &env, NULL, &e), HS_HOOK_NOT_NOW);
    ck_assert_ptr_null(e.msg);
    /* another status: said, with what */
    ck_assert_int_eq(hs_hook_run("before", "exit 4", &env, NULL, &e), 4);
    ck_assert_str_eq(e.msg, "before hook failed: exit 4");
    hs_err_clear(&e);
    ck_assert_int_eq(hs_hook_run("before", "kill -TERM $$", &env, NULL, &e), -EINTR);
    ck_assert_ptr_nonnull(strstr(e.msg, "signal 15"));
    hs_err_clear(&e);
}
END_TEST

START_TEST(path_line)
{
    char *p = hs_hook_path("snapshot made\npath=/mnt/snap/home\nmore\n");
    ck_assert_str_eq(p, "/mnt/snap/home");
    free(p);
    p = hs_hook_path("path=/last");
    ck_assert_str_eq(p, "/last");
    free(p);
    ck_assert_ptr_null(hs_hook_path("no path here\npath=\n"));
    ck_assert_ptr_null(hs_hook_path(NULL));
}
END_TEST

START_TEST(timeout_ends_the_group)
{
    struct hs_err e = {0};
    struct hs_hook_env env = {.status = -1, .timeout = 1};
    const char *pidfile = tu_path("child.pid");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sleep 300 & echo $! > '%s'; wait", pidfile);
    time_t start = time(NULL);
    ck_assert_int_eq(hs_hook_run("before", cmd, &env, NULL, &e), -ETIMEDOUT);
    ck_assert_int_lt(time(NULL) - start, 30);
    ck_assert_ptr_nonnull(strstr(e.msg, "hook-timeout"));
    hs_err_clear(&e);
    size_t n;
    char *s = tu_read("child.pid", &n);
    pid_t child = (pid_t)atoi(s);
    free(s);
    ck_assert_int_gt(child, 0);
    /* reaped by init once killed: gone within a moment */
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        alive = kill(child, 0) == 0;
        if (alive)
            usleep(20000);
    }
    ck_assert_int_eq(alive, 0);
}
END_TEST

START_TEST(chatty_output_never_blocks)
{
    struct hs_err e = {0};
    struct hs_hook_env env = {.status = -1, .timeout = 60};
    char *out = NULL;
    /* 1 MiB on stdout: more than a pipe holds, more than is kept */
    ck_assert_int_eq(
        hs_hook_run("before", "head -c 1048576 /dev/zero | tr '\\0' x; echo", &env, &out, &e), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), 64 * 1024);
    free(out);
}
END_TEST

Suite *hook_suite(void)
{
    Suite *s = suite_create("hook");
    TCase *plain = tu_tcase_plain("hook");
    tcase_add_test(plain, status_output_and_environment);
    tcase_add_test(plain, path_line);
    tcase_add_test(plain, chatty_output_never_blocks);
    suite_add_tcase(s, plain);
    TCase *tc = tu_tcase("timeout");
    tcase_add_test(tc, timeout_ends_the_group);
    suite_add_tcase(s, tc);
    return s;
}
