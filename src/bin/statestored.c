/* statestored: the daemon. Everything but this line lives in the library. */
#include "server/daemon.h"

int main(int argc, char **argv) { return ss_daemon_main(argc, argv, &ss_io_posix); }
