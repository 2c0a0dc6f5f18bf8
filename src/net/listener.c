/*
 * listener.c - the listening socket; see listener.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/listener.h"

/* accept() failed with EMFILE: take the connection with the spare
 * descriptor and hand it over as one to refuse, so the client is told why
 * (and counted) rather than dropped without a word. */
static void shed_load(struct ss_listener *l)
{
	if (l->spare_fd >= 0) {
		close(l->spare_fd);
		l->spare_fd = -1;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			l->on_accept(l, fd, 1, l->arg); /* it closes fd */
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (l->spare_fd < 0) {
		ev_io_stop(l->loop, &l->accept_w);
		ev_timer_start(l->loop, &l->retry_w);
	}
	/* Once a second at most: a flood would otherwise flood the log too. */
	if (ev_now(l->loop) - l->emfile_warned >= 1.0) {
		l->emfile_warned = ev_now(l->loop);
		ss_log_warn(l->diag, "out of file descriptors; refusing connections");
	}
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ss_listener *l = w->data;
	(void)revents;

	if (l->spare_fd < 0)
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!l->stopped)
		ev_io_start(loop, &l->accept_w);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ss_listener *l = w->data;
	(void)loop;
	(void)revents;

	/* A bounded number per wake-up, so clients already connected get
	 * their turn during a connection storm. */
	for (int i = 0; i < 64 && !l->stopped; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				shed_load(l);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				ss_log_warn(l->diag, "accept: %s", strerror(errno));
			return;
		}
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			ss_log_debug(l->diag, "TCP_NODELAY: %s", strerror(errno));
		l->on_accept(l, fd, 0, l->arg);
	}
}

/* The one rule for a bind address: numeric, never a name to look up.
 * Returns getaddrinfo's code; *ai on 0. */
static int resolve(const char *addr, int port, struct addrinfo **ai)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
	char portstr[16];

	snprintf(portstr, sizeof(portstr), "%d", port);
	return getaddrinfo(addr, portstr, &hints, ai);
}

int ss_listener_address_ok(const char *addr)
{
	struct addrinfo *ai = NULL;

	if (resolve(addr, 0, &ai) != 0)
		return 0;
	freeaddrinfo(ai);
	return 1;
}

int ss_listener_address_loopback(const char *addr)
{
	struct addrinfo *ai = NULL;
	int loop = 0;

	/* The same parse the bind makes, so that "127.1" is what it binds. */
	if (resolve(addr, 0, &ai) != 0)
		return 0;
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ai->ai_addr;
		loop = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	} else if (ai->ai_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		loop = IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	freeaddrinfo(ai);
	return loop;
}

/* Creates the socket and binds it. Returns the fd, or -1 after logging why. */
static int bind_socket(const char *addr, int port, const struct ss_diag *diag)
{
	struct addrinfo *ai = NULL;
	int fd = -1, one = 1;

	int rc = resolve(addr, port, &ai);
	if (rc != 0) {
		ss_log_error(diag, "bad bind address '%s': %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ss_log_error(diag, "socket: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		ss_log_error(diag, "SO_REUSEADDR: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		ss_log_error(diag, "bind %s:%d: %s", addr, port, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

int ss_listener_bind(struct ss_listener *l, const char *addr, int port,
		     const struct ss_diag *diag)
{
	memset(l, 0, sizeof(*l));
	l->diag = diag;
	l->spare_fd = -1;
	l->fd = bind_socket(addr, port, diag);
	return l->fd < 0 ? -1 : 0;
}

int ss_listener_start(struct ss_listener *l, struct ev_loop *loop, ss_listener_accept_fn on_accept,
		      void *arg)
{
	if (listen(l->fd, 1024) < 0) {
		ss_log_error(l->diag, "listen: %s", strerror(errno));
		return -1;
	}
	l->loop = loop;
	l->on_accept = on_accept;
	l->arg = arg;
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->spare_fd < 0)
		ss_log_warn(l->diag, "no spare descriptor for shedding load (%s): accepting pauses "
			"while descriptors run out", strerror(errno));
	ev_io_init(&l->accept_w, on_readable, l->fd, EV_READ);
	ev_timer_init(&l->retry_w, on_retry, 0.1, 0.);
	l->accept_w.data = l->retry_w.data = l;
	ev_io_start(loop, &l->accept_w);
	return 0;
}

int ss_listener_port(const struct ss_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void ss_peer_name(int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(out, n, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)))
			snprintf(out, n, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)))
			snprintf(out, n, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

void ss_listener_stop(struct ss_listener *l)
{
	l->stopped = 1;
	if (l->loop) {
		ev_io_stop(l->loop, &l->accept_w);
		ev_timer_stop(l->loop, &l->retry_w);
	}
}

static void close_fds(struct ss_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->spare_fd >= 0)
		close(l->spare_fd);
	l->fd = l->spare_fd = -1;
}

void ss_listener_close(struct ss_listener *l)
{
	ss_listener_stop(l);
	close_fds(l);
}
