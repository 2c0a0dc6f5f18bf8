/*
 * listener.h - the listening socket: bind, accept, and shedding load when the
 * process runs out of file descriptors.
 *
 * The socket is bound first (ss_listener_bind) and listens later
 * (ss_listener_start): the daemon binds before it replays its log, so a
 * port in use or a bad address is found at once, and listens only when it
 * can serve, so no client connects to a daemon still replaying (the kernel
 * refuses connections to a bound socket that does not listen).
 *
 * Each accepted socket is non-blocking, close-on-exec and has TCP_NODELAY;
 * it is handed to the on_accept callback, which owns it from then on. When
 * accept fails with EMFILE or ENFILE, a spare descriptor kept open for the
 * purpose is closed, the pending connection accepted and handed to
 * on_accept as one to refuse (shed = 1: write it a reason, close it), and
 * the spare reopened, so the level-triggered watcher does not spin on a
 * connection it cannot take (libev's manual, "special problems"). Without a
 * spare, accepting pauses for 100 ms.
 */
#ifndef STATESTORED_LISTENER_H
#define STATESTORED_LISTENER_H

#include <ev.h>
#include <stddef.h>

#include "common/diag.h"

struct ss_listener;

/* shed is 1 when the process is out of descriptors: refuse fd at once. */
typedef void (*ss_listener_accept_fn)(struct ss_listener *l, int fd, int shed, void *arg);

struct ss_listener {
	struct ev_loop *loop;
	const struct ss_diag *diag;
	ss_listener_accept_fn on_accept;
	void *arg;
	int fd, spare_fd;
	ev_io accept_w;
	ev_timer retry_w;
	double emfile_warned; /* when EMFILE was last logged */
	int stopped;
};

/* 1 if addr is an address ss_listener_bind accepts (numeric IPv4 or IPv6:
 * names are not looked up), 0 if not. For checking options early. */
int ss_listener_address_ok(const char *addr);

/* 1 if addr (numeric) is a loopback address: 127.0.0.0/8 or ::1 (or
 * ::ffff:127.x.x.x). The wildcards 0.0.0.0 and :: are not. */
int ss_listener_address_loopback(const char *addr);

/* Binds addr:port (numeric IPv4 or IPv6; port 0 picks a free one) without
 * listening yet. Returns 0, or -1 after logging why. */
int ss_listener_bind(struct ss_listener *l, const char *addr, int port,
		     const struct ss_diag *diag);

/* Listens on the bound socket and starts accepting on loop. Returns 0, or
 * -1 after logging why. */
int ss_listener_start(struct ss_listener *l, struct ev_loop *loop, ss_listener_accept_fn on_accept,
		      void *arg);

/* The port actually bound, or -1. */
int ss_listener_port(const struct ss_listener *l);

/* The peer of a connected socket as "addr:port" (an IPv6 address in
 * brackets) into out[0..n), or "?" if it cannot be told (the peer is
 * gone). For log lines and CLIENT LIST. */
void ss_peer_name(int fd, char *out, size_t n);

/* Stops accepting for good (shutdown). */
void ss_listener_stop(struct ss_listener *l);

/* Closes the sockets; safe on a listener that never opened. */
void ss_listener_close(struct ss_listener *l);

#endif
