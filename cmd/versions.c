/* hardsnap versions (being written). */
#include "cli.h"

int cmd_versions(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("versions: not available in this version yet");
    return HS_USAGE;
}
