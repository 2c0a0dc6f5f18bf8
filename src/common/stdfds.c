/*
 * stdfds.c - fill closed standard descriptors with /dev/null; see stdfds.h.
 */
#include "common/stdfds.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

int ss_stdfds_ensure(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		int got;
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue; /* open: leave it alone */
		do /* read-only and inherited, on purpose: see stdfds.h */
			got = open("/dev/null", O_RDONLY);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return -1;
		/* Descriptors below fd are open by now (they were, or the loop
		 * opened them), so open() gave us fd itself: the lowest free
		 * one. If it did not, fd was taken meanwhile and ours is a spare
		 * that nobody else knows of, so closing it cannot lose data. */
		if (got != fd)
			(void)close(got);
	}
	return 0;
}

int ss_program_start(const char **what)
{
	struct sigaction sa;

	if (ss_stdfds_ensure() != 0) {
		*what = "opening /dev/null for a closed standard descriptor";
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGPIPE, &sa, NULL) != 0) {
		*what = "ignoring SIGPIPE";
		return -1;
	}
	return 0;
}
