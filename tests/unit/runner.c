/* Runs one Check suite by name (ctest runs one per suite), or all of them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef HS_SUITE

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
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
