/*
 * daemon.h - the statestored command line: options in, exit code out.
 */
#ifndef STATESTORED_DAEMON_H
#define STATESTORED_DAEMON_H

#include "statestored/io.h"

/* What the daemon runs on: the I/O table for every file-system write, and
 * for a test program (tests/progs/statestored-faulty.c) a hook called at
 * each of replay's progress points (NULL for the daemon itself). */
struct ss_daemon_env {
	const struct ss_io *io;
	void (*replay_hook)(void *arg);
	void *replay_hook_arg;
};

/* Parses argv and the config file it names (see --help), then runs the
 * server. Returns the process exit code (server.h's enum ss_exit). */
int ss_daemon_main(int argc, char **argv, const struct ss_daemon_env *env);

#endif
