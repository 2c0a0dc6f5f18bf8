/*
 * conn.c - a client connection's socket I/O; see conn.h.
 *
 * The callbacks read and write; deciding what a byte means is the owner's
 * job (through owner->input), and deciding when to close is shared: this
 * file reports, through owner->done and return values, and the owner acts.
 */
#include <errno.h>
#include <string.h>

#include "net/conn.h"
#include "statestored/limits.h"

#define CONN_CONTAINER(w, field) ((struct ss_conn *)((char *)(w)-offsetof(struct ss_conn, field)))

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ss_conn *c = CONN_CONTAINER(w, rio);
	(void)loop;
	(void)revents;

	size_t room = c->owner->room(c->arg);
	char *dst = room ? ss_buf_space(c->in, room) : NULL;
	if (!dst) {
		/* Full (the input cap) or out of memory: stop reading; the
		 * owner decides (a full buffer with no line is "too long"). */
		ev_io_stop(c->loop, &c->rio);
	} else {
		ssize_t n = c->tp->read(c->fd, dst, room);
		if (n > 0) {
			ss_buf_commit(c->in, (size_t)n);
		} else if (n == 0) {
			c->owner->hangup(c->arg, 0);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			return;
		} else {
			/* ECONNRESET and the like: nothing more will come,
			 * and replies cannot be delivered. */
			ss_buf_consume(c->out, ss_buf_size(c->out));
			c->owner->hangup(c->arg, 1);
		}
	}
	c->owner->input(c, c->arg);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ss_conn *c = CONN_CONTAINER(w, wio);
	(void)loop;
	(void)revents;

	size_t high = c->owner->out_high, before = ss_buf_size(c->out);
	if (ss_conn_flush(c) < 0) {
		ss_buf_consume(c->out, ss_buf_size(c->out));
		c->owner->hangup(c->arg, 1);
	}
	/* Output drained below the owner's mark, or the owner is finished:
	 * let it run. */
	if ((before >= high && ss_buf_size(c->out) < high) || c->owner->done(c->arg))
		c->owner->input(c, c->arg);
}

void ss_conn_init(struct ss_conn *c, struct ev_loop *loop, int fd, const struct ss_transport *tp,
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
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_io_start(loop, &c->rio);
}

int ss_conn_flush(struct ss_conn *c)
{
	struct ss_buf *out = c->out;

	if (c->fd < 0)
		return -1;
	while (ss_buf_size(out) > 0) {
		ssize_t n = c->tp->write(c->fd, ss_buf_head(out), ss_buf_size(out));
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

	if (want_read && !ev_is_active(&c->rio))
		ev_io_start(c->loop, &c->rio);
	else if (!want_read && ev_is_active(&c->rio))
		ev_io_stop(c->loop, &c->rio);
	if (want_write && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (!want_write && ev_is_active(&c->wio))
		ev_io_stop(c->loop, &c->wio);
}

void ss_conn_close(struct ss_conn *c)
{
	if (c->fd < 0)
		return;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	c->tp->close(c->fd); /* nothing useful to do on failure: the fd is gone */
	c->fd = -1;
	c->owner->closed(c->arg);
}
