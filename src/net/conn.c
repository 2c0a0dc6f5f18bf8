/*
 * conn.c - a client connection's socket I/O; see conn.h.
 *
 * The callbacks read and write; deciding what a byte means is the owner's
 * job (through owner->input), and deciding when to close is shared: this
 * file reports, through owner->done and return values, and the owner acts.
 * owner->input may free the connection, so it is the last thing a callback
 * does.
 */
#include <errno.h>
#include <string.h>

#include "net/conn.h"
#include "statestored/limits.h"

#define CONN_CONTAINER(w, field) ((struct ss_conn *)((char *)(w)-offsetof(struct ss_conn, field)))

static size_t held(const struct ss_conn *c)
{
	return c->tp->pending ? c->tp->pending(c) : 0;
}

/* The read half. Returns 1 if the owner must run. */
static int read_some(struct ss_conn *c)
{
	size_t room = c->owner->room(c->arg);
	char *dst = room ? ss_buf_space(c->in, room) : NULL;

	if (!dst) {
		/* Full (the input cap) or out of memory: stop reading; the
		 * owner decides (a full buffer with no line is "too long"). */
		if (c->read_on == EV_READ)
			ev_io_stop(c->loop, &c->rio);
		return 1;
	}
	ssize_t n = c->tp->read(c, dst, room);
	if (n > 0) {
		ss_buf_commit(c->in, (size_t)n);
	} else if (n == 0) {
		c->owner->hangup(c->arg, 0);
	} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		return 0;
	} else {
		/* ECONNRESET, a failed handshake and the like: nothing more
		 * will come, and replies cannot be delivered. */
		ss_buf_consume(c->out, ss_buf_size(c->out));
		c->owner->hangup(c->arg, 1);
	}
	return 1;
}

/* The write half. Returns 1 if the owner must run. */
static int write_some(struct ss_conn *c)
{
	size_t high = c->owner->out_high, before = ss_buf_size(c->out);

	if (ss_conn_flush(c) < 0) {
		ss_buf_consume(c->out, ss_buf_size(c->out));
		c->owner->hangup(c->arg, 1);
	}
	/* Output drained below the owner's mark, or the owner is finished:
	 * let it run. */
	return (before >= high && ss_buf_size(c->out) < high) || c->owner->done(c->arg);
}

/* The socket is ready for ev: runs each half that waits for it. For TCP
 * that is the read half on EV_READ and the write half on EV_WRITE, as
 * plain read and write watchers would. */
static void on_ready(struct ss_conn *c, int ev)
{
	int run = 0;

	if (ss_buf_size(c->out) > 0 && (c->write_on & ev))
		run |= write_some(c);
	if (c->fd >= 0 && ((c->read_on & ev) || held(c) > 0))
		run |= read_some(c);
	if (run)
		c->owner->input(c, c->arg);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	on_ready(CONN_CONTAINER(w, rio), EV_READ);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	on_ready(CONN_CONTAINER(w, wio), EV_WRITE);
}

int ss_conn_init(struct ss_conn *c, struct ev_loop *loop, int fd, const struct ss_transport *tp,
		 struct ss_buf *in, struct ss_buf *out, const struct ss_conn_owner *owner,
		 void *arg)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->fd = fd;
	c->tp = tp;
	c->in = in;
	c->out = out;
	c->owner = owner;
	c->arg = arg;
	c->read_on = EV_READ;
	c->write_on = EV_WRITE;
	if (tp->open && tp->open(tp, c) < 0) {
		c->fd = -1;
		return -1;
	}
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_io_start(loop, &c->rio);
	return 0;
}

int ss_conn_flush(struct ss_conn *c)
{
	struct ss_buf *out = c->out;

	if (c->fd < 0)
		return -1;
	while (ss_buf_size(out) > 0) {
		ssize_t n = c->tp->write(c, ss_buf_head(out), ss_buf_size(out));
		if (n > 0) {
			ss_buf_consume(out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1; /* EPIPE, ECONNRESET, ... */
	}
	if (ss_buf_size(out) > SS_OUTBUF_MAX)
		return -1;
	c->owner->sent(c->arg);
	ss_conn_update(c);
	return 0;
}

void ss_conn_update(struct ss_conn *c)
{
	if (c->fd < 0)
		return;
	int want_read = c->owner->room(c->arg) > 0;
	int want_write = ss_buf_size(c->out) > 0;
	int ev = (want_read ? c->read_on : 0) | (want_write ? c->write_on : 0);

	if ((ev & EV_READ) && !ev_is_active(&c->rio))
		ev_io_start(c->loop, &c->rio);
	else if (!(ev & EV_READ) && ev_is_active(&c->rio))
		ev_io_stop(c->loop, &c->rio);
	if ((ev & EV_WRITE) && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (!(ev & EV_WRITE) && ev_is_active(&c->wio))
		ev_io_stop(c->loop, &c->wio);
	/* Bytes the transport holds already will not make the socket
	 * readable again: they may have arrived while the owner had no room
	 * for them. Now it has: read them on this loop iteration. */
	if (want_read && held(c) > 0)
		ev_feed_event(c->loop, &c->rio, EV_READ);
}

void ss_conn_close(struct ss_conn *c)
{
	if (c->fd < 0)
		return;
	/* Stopping also forgets an event fed and not yet run. */
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	c->tp->close(c);
	c->fd = -1;
	c->tp_state = NULL;
	c->handshaking = 0;
	c->owner->closed(c->arg);
}
