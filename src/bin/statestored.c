/* statestored: the daemon. Everything but this line lives in the library. */
#include "server/daemon.h"

int main(int argc, char **argv)
{
	const struct ss_daemon_env env = {.io = &ss_io_posix};
	return ss_daemon_main(argc, argv, &env);
}
