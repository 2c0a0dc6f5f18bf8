/*
 * conn.h - one client connection: its socket, the transport that moves
 * its bytes, and the watchers that move them between the socket and its
 * owner's buffers.
 *
 * The connection knows bytes, not requests: what the bytes mean is its
 * owner's (the server's client, which runs a session, cmd/session.h). The
 * owner says how much may be read now - nothing while it must not take
 * input: the peer shut its side, the connection closes after what is
 * queued, or its unsent output is past the high mark (backpressure: a
 * client that does not read its replies stops being read) - and is told
 * when input arrived, when the peer went away and when the connection
 * closed. The owner's buffers grow in steps and shrink when idle, so an
 * idle connection costs little beyond its struct. Output past SS_OUTBUF_MAX
 * disconnects the client.
 *
 * The bytes move through the connection's transport (transport.h). Its two
 * watchers are the socket's two directions, not reading and writing: a TLS
 * read may wait for the socket to be writable, a TLS write for it to be
 * readable, and each event runs whichever half waits for it. Bytes a
 * transport holds already (TLS's decrypted records, which the socket will
 * not announce again) are read as soon as the owner has room for them.
 */
#ifndef STATESTORED_NET_CONN_H
#define STATESTORED_NET_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "net/transport.h"

struct ss_conn;

/* The owner's side. Every function gets the owner's arg. */
struct ss_conn_owner {
	/* Unsent output at which the owner stops taking input (room says 0);
	 * when the output drains below it, the connection runs the owner
	 * again (input), since no new input may come to wake it: the peer may
	 * have shut its side long before. */
	size_t out_high;
	/* Bytes that may be read into in now; 0 stops reading. */
	size_t (*room)(void *arg);
	/* Input arrived, the peer went away, or queued output drained: the
	 * owner runs what it can and settles the connection. */
	void (*input)(struct ss_conn *c, void *arg);
	/* The peer shut its side (error 0), or the connection failed (error
	 * 1: nothing more comes, and the owner's queued output was dropped). */
	void (*hangup)(void *arg, int error);
	/* Whether the owner is finished: the connection may close once its
	 * output is sent. */
	int (*done)(void *arg);
	/* Output was sent: the owner may shrink its idle buffers. */
	void (*sent)(void *arg);
	/* The connection closed (ss_conn_close). */
	void (*closed)(void *arg);
};

struct ss_conn {
	struct ss_buf *in, *out; /* the owner's */
	const struct ss_transport *tp;
	void *tp_state; /* the transport's, per connection (TLS: its SSL); NULL for TCP */
	const struct ss_conn_owner *owner;
	void *arg;
	ev_io rio, wio; /* the socket readable, the socket writable */
	struct ev_loop *loop;
	int fd; /* -1 once closed */
	/* The socket event (EV_READ or EV_WRITE) the next read, and the next
	 * write, wait for; the transport changes them (transport.h). */
	short read_on, write_on;
	unsigned handshaking : 1; /* a TLS handshake is under way: no request bytes have arrived yet */
	char peer_cn[65];         /* the verified client certificate's CN, "" if none */
};

/* Sets up c around a connected non-blocking socket and starts reading.
 * Returns 0, or -1 with errno if the transport cannot serve it (out of
 * memory): then nothing is set up and the caller still owns fd. */
int ss_conn_init(struct ss_conn *c, struct ev_loop *loop, int fd, const struct ss_transport *tp,
		 struct ss_buf *in, struct ss_buf *out, const struct ss_conn_owner *owner,
		 void *arg);

/* Sends what it can of the output without blocking and arranges for the
 * rest; re-evaluates which watchers should run. Returns 0, or -1 if the
 * connection failed or must go (the caller then closes it). */
int ss_conn_flush(struct ss_conn *c);

/* Recomputes whether to read (the owner's room) and whether to wait for
 * writability (output queued). */
void ss_conn_update(struct ss_conn *c);

/* Stops the watchers and closes the socket; tells the owner. Safe to call
 * twice. */
void ss_conn_close(struct ss_conn *c);

#endif
