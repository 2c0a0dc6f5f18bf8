/*
 * transport.c - the plain TCP transport; see transport.h.
 */
#include <errno.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/transport.h"

static ssize_t tcp_read(struct ss_conn *c, void *buf, size_t n)
{
	return read(c->fd, buf, n);
}

static ssize_t tcp_write(struct ss_conn *c, const void *buf, size_t n)
{
	return write(c->fd, buf, n);
}

static void tcp_close(struct ss_conn *c)
{
	close(c->fd); /* nothing useful to do on failure: the fd is gone */
}

/* Best effort: the socket is new, its buffer empty. */
static int tcp_refuse(int fd, const char *msg, size_t n)
{
	int rc = n > 0 && write(fd, msg, n) < 0 ? -1 : 0;
	int e = errno;

	close(fd);
	errno = e;
	return rc;
}

const struct ss_transport ss_transport_tcp = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.close = tcp_close,
	.refuse = tcp_refuse,
};
