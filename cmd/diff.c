/* hardsnap diff (being written). */
#include "cli.h"

int cmd_diff(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("diff: not available in this version yet");
    return HS_USAGE;
}
