/*
 * http.h - a small HTTP/1.1 server on the daemon's loop, for /metrics and
 * the health probes: GET and HEAD only, keep-alive, pipelining, and bounds
 * on everything a client controls.
 *
 * Two parts. A session (struct ss_http_session) is one connection's HTTP:
 * bytes in, responses out, no sockets and no clock, so that the fuzzer
 * (tests/fuzz/fuzz_http.c) drives exactly what the daemon runs. The bytes
 * are parsed by nodejs/http-parser (Debian's libhttp-parser-dev), paused
 * at the end of each request so that pipelined requests are answered one
 * at a time, in order. A server (struct ss_http_server) is the listener
 * (net/listener.c) and its connections (net/conn.c), each a session and a
 * timer.
 *
 * What a client gets, whatever it sends:
 *   - a request head (request line and headers) past SS_HTTP_HEAD_MAX
 *     bytes: 431, and the connection closes;
 *   - a method other than GET or HEAD: 405 with "Allow: GET, HEAD", close;
 *   - a request with a body, or bytes that are not HTTP/1.x: 400, close;
 *   - a path the handler does not know: 404 (the connection stays open);
 *   - after SS_HTTP_REQUESTS_MAX requests on one connection, the last
 *     response says "Connection: close" and the connection closes;
 *   - a connection that completes no request for SS_HTTP_TIMEOUT seconds
 *     (an idle keep-alive, or a client that sent half a request) is closed;
 *   - at SS_HTTP_CONNS_MAX connections, a new one closes the oldest one
 *     idle between requests (one answered, nothing buffered); if there is
 *     none, the new one gets 503 and is closed.
 * Nothing blocks: a slow client holds only its own connection's buffers.
 */
#ifndef STATESTORED_NET_HTTP_H
#define STATESTORED_NET_HTTP_H

#include <ev.h>
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/diag.h"
#include "net/conn.h"
#include "net/listener.h"

#define SS_HTTP_HEAD_MAX 8192      /* bytes of a request's head */
#define SS_HTTP_URL_MAX 1024       /* a longer path is not one we serve: 404 */
#define SS_HTTP_REQUESTS_MAX 1000  /* per connection */
#define SS_HTTP_CONNS_MAX 64       /* connections at once */
#define SS_HTTP_TIMEOUT 10.0       /* seconds without a complete request */
#define SS_HTTP_IN_MAX 16384       /* unparsed input held (pipelined requests) */
#define SS_HTTP_OUT_HIGH (1u << 20) /* unsent output at which parsing pauses */

/* What the handler fills: the status (200 unless it says otherwise), the
 * Content-Type, and the body (empty on entry). */
struct ss_http_reply {
	int status;
	const char *type;
	struct ss_buf *body;
};

/* Answers a GET (or HEAD: the body is made, and not sent) of path[0..len),
 * the URL without its query. Returns 0, or -1 (ENOMEM: the connection
 * closes). */
typedef int (*ss_http_handler_fn)(void *arg, const char *path, size_t len,
				  struct ss_http_reply *reply);

struct ss_http_session {
	http_parser parser;
	struct ss_buf in, out, body;
	ss_http_handler_fn handler;
	void *arg;
	size_t fed;              /* bytes of the current request's head given to the parser */
	char url[SS_HTTP_URL_MAX];
	size_t url_len;
	int url_over;            /* the URL was longer than url[] */
	int headers_done;        /* the current request's head is complete */
	int bad;                 /* a status to answer the request with, then close */
	unsigned served;         /* requests answered */
	int close_after;         /* close once the output is sent */
	int eof;                 /* the peer shut its side */
};

void ss_http_session_init(struct ss_http_session *s, ss_http_handler_fn handler, void *arg);
void ss_http_session_free(struct ss_http_session *s);

/* Parses the input and appends a response for each complete request, until
 * the input is used up, the output reaches SS_HTTP_OUT_HIGH or the
 * connection is to close. Returns the number of requests answered, or -1
 * (out of memory: close at once). */
int ss_http_session_run(struct ss_http_session *s);

/* Bytes that may be read into the input now; 0 stops reading. */
size_t ss_http_session_room(const struct ss_http_session *s);

/* Whether the connection may close once its output is sent. */
int ss_http_session_done(const struct ss_http_session *s);

struct ss_http_conn;

struct ss_http_server {
	struct ev_loop *loop;
	const struct ss_diag *diag;
	struct ss_listener listener;
	const struct ss_transport *tp; /* plain TCP unless set before ss_http_start */
	ss_http_handler_fn handler;
	void *arg;
	struct ss_http_conn *head;
	size_t n;
	size_t max_conns;    /* SS_HTTP_CONNS_MAX */
	double timeout;      /* SS_HTTP_TIMEOUT */
	uint64_t refused;    /* connections turned away */
	uint64_t evicted;    /* idle ones closed to make room at the cap */
};

/* Binds addr:port (as ss_listener_bind) without listening yet. Returns 0,
 * or -1 after logging why. */
int ss_http_bind(struct ss_http_server *h, const char *addr, int port,
		 const struct ss_diag *diag);
/* Listens, and serves each request through handler. 0, or -1 after logging
 * why. */
int ss_http_start(struct ss_http_server *h, struct ev_loop *loop, ss_http_handler_fn handler,
		  void *arg);
/* The port bound, or -1. */
int ss_http_port(const struct ss_http_server *h);
/* Stops listening and closes every connection; safe on a server that never
 * bound. */
void ss_http_close(struct ss_http_server *h);

#endif
