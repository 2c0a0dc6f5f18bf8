/*
 * transport.h - how a connection moves its bytes: the transport seam.
 *
 * A connection reads, writes and closes only through a struct ss_transport,
 * as Redis's connections go through their ConnectionType. Plain TCP is the
 * one transport today; TLS will be a second table in a file of its own,
 * and nothing in the connection code will change for it.
 *
 * Each function has the contract of the POSIX call it is named after: a
 * byte count, or -1 with errno (EAGAIN when it would block).
 */
#ifndef STATESTORED_NET_TRANSPORT_H
#define STATESTORED_NET_TRANSPORT_H

#include <sys/types.h>

struct ss_transport {
	const char *name;
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*close)(int fd);
};

/* Plain TCP: read(2), write(2), close(2). */
extern const struct ss_transport ss_transport_tcp;

#endif
