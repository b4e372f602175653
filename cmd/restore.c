/* hardsnap restore (being written). */
#include "cli.h"

int cmd_restore(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("restore: not available in this version yet");
    return HS_USAGE;
}
