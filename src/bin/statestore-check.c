/* statestore-check: the offline log tool. Everything is in src/tools/check/. */
#include "tools/check/check.h"

int main(int argc, char **argv) { return ss_check_main(argc, argv); }
