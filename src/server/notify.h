/*
 * notify.h - telling a service manager (systemd's Type=notify) where the
 * daemon stands: the sd_notify datagram protocol, written by hand so the
 * daemon links no libsystemd.
 *
 * The protocol (sd_notify(3)): the manager puts a unix datagram socket's
 * address in NOTIFY_SOCKET (a path, or '@' for the abstract namespace) and
 * reads one datagram per message, newline-separated KEY=VALUE lines. Under
 * no manager NOTIFY_SOCKET is unset and every call here does nothing.
 *
 * Nothing here is ever fatal: the manager is an observer, and a daemon
 * that stops serving because its supervisor cannot hear it would be worse
 * than one that serves unsupervised. The first failed send is logged, the
 * later ones are not (a watchdog ping every few seconds would flood the
 * log).
 *
 * The watchdog: with WATCHDOG_USEC set (and WATCHDOG_PID, if set, ours),
 * a libev timer sends WATCHDOG=1 every WATCHDOG_USEC/2, the interval
 * sd_watchdog_enabled(3) recommends. It runs on the loop, so a stuck loop
 * stops the pings, which is the point.
 */
#ifndef STATESTORED_NOTIFY_H
#define STATESTORED_NOTIFY_H

#include <ev.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/diag.h"

struct ss_notify {
	const struct ss_diag *diag;
	int fd; /* -1: no manager, or its address could not be used */
	struct sockaddr_un addr;
	socklen_t addrlen;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* NOTIFY_SOCKET, for logs */
	int warned;        /* a failed send was logged */
	int stopping;      /* STOPPING=1 was sent */
	double watchdog_s; /* the ping interval; 0: no watchdog */
	struct ev_loop *loop;
	ev_timer watchdog_w;
};

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and unsets them, as
 * sd_notify's unset_environment does, so nothing the daemon might run
 * later takes itself for the service. A bad value is logged and turns that
 * part off. Never fails. */
void ss_notify_init(struct ss_notify *n, const struct ss_diag *diag);

/* Sends one message (KEY=VALUE lines), printf-style. */
void ss_notify_send(struct ss_notify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* READY=1, MAINPID and a STATUS line, then starts the watchdog timer on
 * loop. Call once the daemon serves: the store is open and the listener
 * accepts. */
void ss_notify_ready(struct ss_notify *n, struct ev_loop *loop, const char *status);

/* STOPPING=1 with a STATUS line saying why; sent once, whichever stop path
 * comes first. */
void ss_notify_stopping(struct ss_notify *n, const char *why);

/* Stops the watchdog timer and closes the socket. */
void ss_notify_close(struct ss_notify *n);

#endif
