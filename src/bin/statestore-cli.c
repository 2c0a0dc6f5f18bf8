/* statestore-cli: the command-line client. Everything is in src/cli.c. */
#include "tools/cli/cli.h"

int main(int argc, char **argv) { return ss_cli_main(argc, argv); }
