/* hardsnap list (being written). */
#include "cli.h"

int cmd_list(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("list: not available in this version yet");
    return HS_USAGE;
}
