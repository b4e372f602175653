/* hardsnap verify (being written). */
#include "cli.h"

int cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("verify: not available in this version yet");
    return HS_USAGE;
}
