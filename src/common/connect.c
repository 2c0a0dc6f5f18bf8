/*
 * connect.c - opening a client connection; see connect.h.
 *
 * The socket is non-blocking from the start, so the timeout bounds the
 * connect itself (a blocking connect to an unreachable host waits minutes);
 * EINTR counts as EINPROGRESS: the connection goes on asynchronously.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/connect.h"

/* Connects to one address before deadline. Returns the socket, -1 with
 * *why an errno, or -2 at the deadline. */
static int connect_one(const struct addrinfo *ai, int64_t deadline, int *why)
{
	int one = 1, rc;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);

	if (fd < 0) {
		*why = errno;
		return -1;
	}
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
		*why = errno;
		goto fail;
	}
	while (rc != 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - ss_clock_ms();
		int pr, soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (left <= 0) {
			rc = -2;
			goto fail;
		}
		pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0 || (pr > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)) {
			*why = errno;
			rc = -1;
			goto fail;
		}
		if (soerr != 0) {
			*why = soerr;
			rc = -1;
			goto fail;
		}
		if (pr > 0)
			rc = 0;
	}
	/* Failing here costs latency only. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	(void)close(fd); /* never used for I/O: nothing to lose */
	return rc == 0 ? -1 : rc;
}

int ss_connect(const char *host, const char *port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	int64_t deadline = ss_clock_ms() + timeout_ms;
	int gai, fd = -1, why = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
			 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline, &why);
		if (fd >= 0 || fd == -2)
			break;
	}
	freeaddrinfo(res);
	if (fd == -2)
		snprintf(err, errlen, "timed out connecting to %s port %s", host, port);
	else if (fd < 0)
		snprintf(err, errlen, "cannot connect to %s port %s: %s", host, port, strerror(why));
	return fd;
}
