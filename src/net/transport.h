/*
 * transport.h - how a connection moves its bytes: the transport seam.
 *
 * A connection reads, writes and closes only through a struct ss_transport,
 * as Redis's connections go through their ConnectionType. Plain TCP is one
 * table (transport.c); TLS is another (tls.c), and nothing in the
 * connection code knows which it runs.
 *
 * A transport works on the connection, not on its descriptor alone, since
 * TLS keeps state per connection (c->tp_state) and may need the socket the
 * other way round: a TLS read can have to write (a handshake message, a
 * session ticket) and a TLS write can have to read. A read or write that
 * would block returns -1 with errno EAGAIN and leaves in c->read_on
 * (c->write_on) the socket event that lets it go on: EV_READ or EV_WRITE.
 * The connection (conn.c) watches for exactly those, so TCP, which never
 * changes them from EV_READ and EV_WRITE, costs nothing more than read(2)
 * and write(2) did.
 *
 * read and write have the contract of the POSIX calls they are named
 * after: a byte count (0 from read: the peer closed), or -1 with errno.
 * EAGAIN and EINTR mean "try again"; anything else means the connection
 * failed and is closed.
 */
#ifndef STATESTORED_NET_TRANSPORT_H
#define STATESTORED_NET_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

struct ss_conn;

struct ss_transport {
	const char *name;
	/* Sets up c's state (c->fd is set). 0, or -1 with errno: the
	 * connection cannot be served (the caller closes c->fd). NULL: no
	 * state to set up. */
	int (*open)(const struct ss_transport *tp, struct ss_conn *c);
	ssize_t (*read)(struct ss_conn *c, void *buf, size_t n);
	ssize_t (*write)(struct ss_conn *c, const void *buf, size_t n);
	/* Bytes the transport holds for reading that the socket will not
	 * announce again (TLS: decrypted and not yet read, or read ahead and
	 * not yet decrypted), or 1 when it holds some but cannot say how many;
	 * 0 when none. A read then may still find too few to return (EAGAIN).
	 * NULL: never any. */
	size_t (*pending)(const struct ss_conn *c);
	/* Frees c's state and closes c->fd. */
	void (*close)(struct ss_conn *c);
	/* Turns away a connection accepted on this transport without serving
	 * it (max clients, out of descriptors): the reason msg[0..n) where
	 * the transport can say it at no cost, then close(fd). 0, or -1 with
	 * errno if the reason could not be written. */
	int (*refuse)(int fd, const char *msg, size_t n);
	void *arg; /* the transport's own (TLS: its struct ss_tls) */
};

/* Plain TCP: read(2), write(2), close(2). */
extern const struct ss_transport ss_transport_tcp;

#endif
