/*
 * Runs the Check suites: hs_unit [SUITE [TCASE]] runs one suite (ctest runs
 * one per suite), or one test case of it, or all of them. Exit status: 0
 * passed, 1 a test failed, 77 every test that ran skipped (TU_NEED; ctest's
 * SKIP_RETURN_CODE), 2 usage. CK_EXCLUDE_TAGS=needs leaves out the test
 * cases made by tu_tcase_needs (ctest runs each of those on its own).
 */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct suite_ref {
    const char *name;
    Suite *(*make)(void);
};

static const struct suite_ref suites[] = {
#define HS_SUITE(name) {#name, name##_suite},
#include "suites.h"
#undef HS_SUITE
};

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    size_t n = sizeof suites / sizeof suites[0];
    const char *tcase = argc > 2 ? argv[2] : NULL;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
            continue;
        if (!sr)
            sr = srunner_create(suites[i].make());
        else
            srunner_add_suite(sr, suites[i].make());
    }
    if (!sr) {
        fprintf(stderr, "hs_unit: no suite named %s\n", argc > 1 ? argv[1] : "(any)");
        return 2;
    }
    srunner_set_fork_status(sr, CK_FORK);
    tu_skips_begin();
    srunner_run(sr, NULL, tcase, CK_NORMAL);
    int ran = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr);
    unsigned skipped = tu_skips_count();
    srunner_free(sr);
    if (ran == 0) {
        fprintf(stderr, "hs_unit: no test ran (no test case %s?)\n", tcase ? tcase : "");
        return 2;
    }
    if (skipped)
        fprintf(stderr, "hs_unit: SKIP: %u of %d tests skipped\n", skipped, ran);
    if (failed)
        return EXIT_FAILURE;
    return skipped == (unsigned)ran ? 77 : EXIT_SUCCESS;
}
