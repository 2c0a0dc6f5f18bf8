/*
 * notify.c - the sd_notify datagram protocol; see notify.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/numparse.h"
#include "server/notify.h"

/* Fills n->addr from NOTIFY_SOCKET's value. Returns 0, or -1 with the
 * reason logged. Only the two forms systemd documents for unix sockets
 * are taken: an absolute path, or '@' for the abstract namespace (a
 * leading NUL byte in sun_path, and a length that counts only the name). */
static int parse_address(struct ss_notify *n, const char *s)
{
	size_t len = strlen(s);

	memset(&n->addr, 0, sizeof(n->addr));
	n->addr.sun_family = AF_UNIX;
	if (s[0] != '/' && s[0] != '@') {
		ss_log_warn(n->diag, "NOTIFY_SOCKET '%s' is neither an absolute path nor an abstract "
				     "'@name': not notifying the service manager", s);
		return -1;
	}
	/* A path needs its NUL inside sun_path; an abstract name has none. */
	if (len < 2 || len > sizeof(n->addr.sun_path) - (s[0] == '/')) {
		ss_log_warn(n->diag, "NOTIFY_SOCKET '%s' does not fit a unix socket address: "
				     "not notifying the service manager", s);
		return -1;
	}
	memcpy(n->addr.sun_path, s, len);
	memcpy(n->name, s, len + 1);
	if (s[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (s[0] == '/'));
	return 0;
}

/* WATCHDOG_USEC, honoured only when WATCHDOG_PID is unset or ours (a
 * manager sets it so that a child that inherited the environment does not
 * ping for its parent). */
static void parse_watchdog(struct ss_notify *n, const char *usec, const char *pid)
{
	uint64_t us, p;

	if (!usec)
		return;
	if (ss_parse_u64(usec, strlen(usec), &us) < 0 || us == 0) {
		ss_log_warn(n->diag, "WATCHDOG_USEC '%s' is not a positive number of microseconds: "
				     "no watchdog pings", usec);
		return;
	}
	if (pid) {
		if (ss_parse_u64(pid, strlen(pid), &p) < 0) {
			ss_log_warn(n->diag, "WATCHDOG_PID '%s' is not a pid: no watchdog pings", pid);
			return;
		}
		if (p != (uint64_t)getpid()) {
			ss_log_info(n->diag, "WATCHDOG_PID %s is not ours (%d): no watchdog pings",
				    pid, (int)getpid());
			return;
		}
	}
	n->watchdog_s = (double)us / 2e6;
}

void ss_notify_init(struct ss_notify *n, const struct ss_diag *diag)
{
	memset(n, 0, sizeof(*n));
	n->diag = diag;
	n->fd = -1;

	/* Copies: unsetenv may free the strings getenv returned. */
	const char *v = getenv("NOTIFY_SOCKET");
	char *sock = v ? strdup(v) : NULL;
	v = getenv("WATCHDOG_USEC");
	char *usec = v ? strdup(v) : NULL;
	v = getenv("WATCHDOG_PID");
	char *pid = v ? strdup(v) : NULL;
	if (unsetenv("NOTIFY_SOCKET") < 0 || unsetenv("WATCHDOG_USEC") < 0 ||
	    unsetenv("WATCHDOG_PID") < 0)
		ss_log_warn(diag, "cannot unset the service manager's variables: %s", strerror(errno));

	/* No manager: the usual case outside systemd. (A strdup that failed
	 * lands here too; the daemon serves on, unsupervised, as notify.h
	 * promises.) */
	if (!sock) {
		if (usec)
			ss_log_info(diag, "WATCHDOG_USEC is set but NOTIFY_SOCKET is not: "
					  "no watchdog pings");
		goto out;
	}
	if (parse_address(n, sock) < 0)
		goto out;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		ss_log_warn(diag, "cannot create the notify socket: %s: not notifying the service "
				  "manager", strerror(errno));
		goto out;
	}
	parse_watchdog(n, usec, pid);
	ss_log_debug(diag, "notifying the service manager at %s%s", sock,
		     n->watchdog_s > 0 ? " (watchdog on)" : "");
out:
	free(sock);
	free(usec);
	free(pid);
}

void ss_notify_send(struct ss_notify *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (n->fd < 0)
		return;
	va_start(ap, fmt);
	int len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(msg))
		len = (int)sizeof(msg) - 1; /* a STATUS cut short beats none */
	/* MSG_DONTWAIT: a manager that does not read must never block the
	 * loop; a full queue loses this message, which the next one
	 * supersedes. */
	ssize_t sent = sendto(n->fd, msg, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
			      (const struct sockaddr *)&n->addr, n->addrlen);
	if (sent < 0 && !n->warned) {
		n->warned = 1;
		ss_log_warn(n->diag, "cannot notify the service manager at %s (%s); carrying on, "
				     "and not logging later failures", n->name, strerror(errno));
	}
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ss_notify_send(w->data, "WATCHDOG=1");
}

void ss_notify_ready(struct ss_notify *n, struct ev_loop *loop, const char *status)
{
	ss_notify_send(n, "READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(), status);
	if (n->fd < 0 || n->watchdog_s <= 0)
		return;
	n->loop = loop;
	ev_timer_init(&n->watchdog_w, on_watchdog, n->watchdog_s, n->watchdog_s);
	n->watchdog_w.data = n;
	ev_timer_start(loop, &n->watchdog_w);
}

void ss_notify_stopping(struct ss_notify *n, const char *why)
{
	if (n->stopping)
		return;
	n->stopping = 1;
	ss_notify_send(n, "STOPPING=1\nSTATUS=%s", why);
}

void ss_notify_close(struct ss_notify *n)
{
	if (n->loop)
		ev_timer_stop(n->loop, &n->watchdog_w);
	n->loop = NULL;
	if (n->fd >= 0 && close(n->fd) < 0)
		ss_log_warn(n->diag, "close(notify socket): %s", strerror(errno));
	n->fd = -1;
}
