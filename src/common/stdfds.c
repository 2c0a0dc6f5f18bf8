/*
 * stdfds.c - fill closed standard descriptors with /dev/null; see stdfds.h.
 */
#include "common/stdfds.h"

#include <errno.h>
#include <fcntl.h>
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
