/*
 * conn.c - a client connection's buffers and socket I/O; see conn.h.
 *
 * The callbacks read and write; deciding what a byte means is the server's
 * job (through hooks->on_input, which runs session.c), and deciding when to
 * close is shared: this file reports, through ss_session_done and return
 * values, and the server acts.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "net/conn.h"
#include "statestored/limits.h"

#define CONN_CONTAINER(w, field) ((struct ss_conn *)((char *)(w)-offsetof(struct ss_conn, field)))

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ss_conn *c = CONN_CONTAINER(w, rio);
	struct ss_session *s = &c->s;
	(void)loop;
	(void)revents;

	size_t room = ss_session_room(s, c->max_line);
	char *dst = room ? ss_buf_space(&s->in, room) : NULL;
	if (!dst) {
		/* Full (the input cap) or out of memory: stop reading; the
		 * server decides (a full buffer with no line is "too long"). */
		ev_io_stop(c->loop, &c->rio);
	} else {
		ssize_t n = read(c->fd, dst, room);
		if (n > 0) {
			ss_buf_commit(&s->in, (size_t)n);
		} else if (n == 0) {
			s->eof = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			return;
		} else {
			/* ECONNRESET and the like: nothing more will come,
			 * and replies cannot be delivered. */
			s->eof = 1;
			s->close_after = 1;
			ss_buf_consume(&s->out, ss_buf_size(&s->out));
		}
	}
	c->hooks->on_input(c, c->hooks->arg);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ss_conn *c = CONN_CONTAINER(w, wio);
	struct ss_session *s = &c->s;
	(void)loop;
	(void)revents;

	size_t before = ss_buf_size(&s->out);
	if (ss_conn_flush(c) < 0) {
		ss_buf_consume(&s->out, ss_buf_size(&s->out));
		s->close_after = 1;
	}
	/* Output drained below the high mark: input may run again. */
	if (before >= SS_SESSION_OUT_HIGH && ss_buf_size(&s->out) < SS_SESSION_OUT_HIGH)
		c->hooks->on_input(c, c->hooks->arg);
	else if (ss_session_done(s))
		c->hooks->on_input(c, c->hooks->arg);
}

int ss_conn_init(struct ss_conn *c, struct ev_loop *loop, int fd, size_t max_line,
		 const struct ss_conn_hooks *hooks)
{
	memset(c, 0, sizeof(*c));
	ss_session_init(&c->s);
	c->loop = loop;
	c->fd = fd;
	c->max_line = max_line;
	c->hooks = hooks;
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_io_start(loop, &c->rio);
	return 0;
}

int ss_conn_flush(struct ss_conn *c)
{
	struct ss_buf *out = &c->s.out;

	if (c->fd < 0)
		return -1;
	while (ss_buf_size(out) > 0) {
		ssize_t n = write(c->fd, ss_buf_head(out), ss_buf_size(out));
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
	ss_session_trim(&c->s);
	ss_conn_update(c);
	return 0;
}

void ss_conn_update(struct ss_conn *c)
{
	if (c->fd < 0)
		return;
	const struct ss_session *s = &c->s;
	int want_read = !s->eof && !s->close_after && ss_session_room(s, c->max_line) > 0 &&
			ss_buf_size(&s->out) < SS_SESSION_OUT_HIGH;
	int want_write = ss_buf_size(&s->out) > 0;

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
	close(c->fd); /* nothing useful to do on failure: the fd is gone */
	c->fd = -1;
	c->s.closed = 1;
}

void ss_conn_free(struct ss_conn *c)
{
	ss_conn_close(c);
	ss_session_free(&c->s);
}
