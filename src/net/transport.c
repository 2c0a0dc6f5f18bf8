/*
 * transport.c - the plain TCP transport; see transport.h.
 */
#include <unistd.h>

#include "net/transport.h"

static ssize_t tcp_read(int fd, void *buf, size_t n)
{
	return read(fd, buf, n);
}

static ssize_t tcp_write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

static int tcp_close(int fd)
{
	return close(fd);
}

const struct ss_transport ss_transport_tcp = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.close = tcp_close,
};
