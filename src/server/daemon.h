/*
 * daemon.h - the statestored command line: options in, exit code out.
 */
#ifndef STATESTORED_DAEMON_H
#define STATESTORED_DAEMON_H

#include "statestored/io.h"

/* Parses argv (see --help), then runs the server with io for every file
 * system write. Returns the process exit code (server.h's enum ss_exit). */
int ss_daemon_main(int argc, char **argv, const struct ss_io *io);

#endif
