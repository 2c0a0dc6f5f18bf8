/*
 * stdfds.h - what every program (the daemon, statestore-cli,
 * statestore-bench) does first: make sure descriptors 0, 1 and 2 are open
 * before it opens anything else, and ignore SIGPIPE.
 *
 * A program started with stdin, stdout or stderr closed (`prog >&-`, or by a
 * careless parent) hands that number to its next open() or socket(), since
 * POSIX gives out the lowest free descriptor. Code that then writes to
 * "stdout" writes into that file or socket instead: statestore-cli would send
 * its reply back to the server as a request, the daemon could print log
 * lines into its data log. So every program calls ss_stdfds_ensure first.
 *
 * A closed descriptor is filled with /dev/null opened read-only: a write to
 * it still fails with EBADF, exactly as it would have on the closed
 * descriptor (so "writing output failed" is still reported), and a read sees
 * EOF. It is opened without O_CLOEXEC so that a child, too, finds it open.
 */
#ifndef STATESTORED_STDFDS_H
#define STATESTORED_STDFDS_H

/* Opens /dev/null read-only on each of descriptors 0, 1 and 2 that is
 * closed. Call it before anything else opens a descriptor, while the process
 * has one thread. Returns 0, or -1 with errno if an open failed (the caller
 * should then exit: some of 0..2 may still be closed). */
int ss_stdfds_ensure(void);

/* The start of every program, before it opens anything: ss_stdfds_ensure,
 * then SIGPIPE ignored, so that a write to a socket or pipe whose reader
 * has gone fails with EPIPE (and is reported) instead of killing the
 * process. Returns 0, or -1 with errno and *what naming the step that
 * failed. */
int ss_program_start(const char **what);

#endif
