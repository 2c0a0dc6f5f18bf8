/*
 * conn.h - one client connection: its socket, its input and output buffers
 * and the watchers that move bytes between them.
 *
 * A connection reads only while its input buffer has room (the buffer is
 * capped at the line limit, so no more than one line's worth is ever held)
 * and while its unsent output is below SS_SESSION_OUT_HIGH (backpressure: a
 * client that does not read its replies stops being read). Buffers grow in
 * SS_SESSION_READ_STEP steps and are freed when empty, so an idle connection
 * costs little beyond its struct. Output past
 * SS_OUTBUF_MAX disconnects the client.
 *
 * The connection does not execute requests: the server's on_input callback
 * runs its session (session.h). A connection with mutations waiting for a
 * commit (s.pending > 0) cannot
 * be freed; ss_conn_close closes the socket and the server frees the struct
 * when the last of them has been answered.
 */
#ifndef STATESTORED_CONN_H
#define STATESTORED_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/session.h"

struct ss_conn;

struct ss_conn_hooks {
	/* New input arrived (or EOF): execute what can be executed. */
	void (*on_input)(struct ss_conn *c, void *arg);
	void *arg;
};

struct ss_conn {
	struct ss_session s; /* buffers and request state; s.closed once fd is closed */
	ev_io rio, wio;
	struct ev_loop *loop;
	int fd; /* -1 once closed */
	size_t max_line;
	const struct ss_conn_hooks *hooks;
	struct ss_conn *prev, *next; /* the server's list of connections */
};

/* The connection a session (the owner of a staged op) belongs to. */
static inline struct ss_conn *ss_conn_of(struct ss_session *s)
{
	return (struct ss_conn *)((char *)s - offsetof(struct ss_conn, s));
}

/* Sets up c around a connected non-blocking socket and starts reading.
 * Returns 0 or -1 (errno). */
int ss_conn_init(struct ss_conn *c, struct ev_loop *loop, int fd, size_t max_line,
		 const struct ss_conn_hooks *hooks);

/* Sends what it can of c->out without blocking and arranges for the rest;
 * re-evaluates which watchers should run. Returns 0, or -1 if the
 * connection failed or must go (the caller then closes it). */
int ss_conn_flush(struct ss_conn *c);

/* Recomputes whether to read (room in input, output below the high mark,
 * not closing) and whether to wait for writability. */
void ss_conn_update(struct ss_conn *c);

/* Stops the watchers and closes the socket. Safe to call twice. Buffers are
 * kept until ss_conn_free. */
void ss_conn_close(struct ss_conn *c);
void ss_conn_free(struct ss_conn *c);

#endif
