/*
 * http.c - the HTTP/1.1 server for /metrics and the probes; see http.h.
 *
 * The first half is the session: http-parser's callbacks, which only note
 * what they see and bound it, and the loop that answers each request when
 * the parser pauses at its end. The second half puts sessions on sockets.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"

/* ---- the session ------------------------------------------------------ */

static struct ss_http_session *session_of(http_parser *p) { return p->data; }

static int on_message_begin(http_parser *p)
{
	struct ss_http_session *s = session_of(p);

	s->url_len = 0;
	s->url_over = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct ss_http_session *s = session_of(p);

	if (n > sizeof(s->url) - s->url_len)
		s->url_over = 1;
	else {
		memcpy(s->url + s->url_len, at, n);
		s->url_len += n;
	}
	return 0;
}

/* The head is complete: refuse what we do not serve now, before a body
 * could be read, and answer it at once. */
static int on_headers_complete(http_parser *p)
{
	struct ss_http_session *s = session_of(p);

	s->headers_done = 1;
	if (p->method != HTTP_GET && p->method != HTTP_HEAD)
		s->bad = 405;
	else if ((p->flags & F_CHUNKED) ||
		 (p->content_length > 0 && p->content_length != ULLONG_MAX))
		s->bad = 400; /* a GET with a body */
	else if (p->upgrade)
		s->bad = 400;
	if (s->bad)
		http_parser_pause(p, 1);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	http_parser_pause(p, 1); /* answer it before parsing the next */
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void ss_http_session_init(struct ss_http_session *s, ss_http_handler_fn handler, void *arg)
{
	memset(s, 0, sizeof(*s));
	ss_buf_init(&s->in);
	ss_buf_init(&s->out);
	ss_buf_init(&s->body);
	http_parser_init(&s->parser, HTTP_REQUEST);
	s->parser.data = s;
	s->handler = handler;
	s->arg = arg;
}

void ss_http_session_free(struct ss_http_session *s)
{
	ss_buf_free(&s->in);
	ss_buf_free(&s->out);
	ss_buf_free(&s->body);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* Appends a response: the status line, the headers, and the body unless
 * the request was a HEAD. 0 or -1 (ENOMEM). */
static int respond(struct ss_http_session *s, int status, const char *type, int head_only)
{
	size_t len = ss_buf_size(&s->body);

	if (ss_buf_printf(&s->out,
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
			  status, reason(status), type, len,
			  status == 405 ? "Allow: GET, HEAD\r\n" : "",
			  s->close_after ? "Connection: close\r\n" : "") < 0)
		return -1;
	return head_only || len == 0 ? 0 : ss_buf_append(&s->out, ss_buf_head(&s->body), len);
}

/* An error of ours: a one-line reason, and the connection closes. */
static int respond_error(struct ss_http_session *s, int status)
{
	const char *why = status == 431 ? "request head too large (the limit is 8192 bytes)"
			  : status == 405 ? "only GET and HEAD are served"
					  : "bad request";

	s->close_after = 1;
	ss_buf_consume(&s->body, ss_buf_size(&s->body));
	if (ss_buf_printf(&s->body, "%d %s\n", status, why) < 0)
		return -1;
	return respond(s, status, "text/plain; charset=utf-8", 0);
}

/* A complete request: the handler's answer. */
static int answer(struct ss_http_session *s)
{
	const char *q = memchr(s->url, '?', s->url_len);
	size_t plen = q ? (size_t)(q - s->url) : s->url_len;
	struct ss_http_reply r = {.status = 200, .type = "text/plain; charset=utf-8",
				  .body = &s->body};

	s->served++;
	if (!http_should_keep_alive(&s->parser) || s->served >= SS_HTTP_REQUESTS_MAX)
		s->close_after = 1;
	ss_buf_consume(&s->body, ss_buf_size(&s->body));
	if (s->url_over) {
		r.status = 404;
		if (ss_buf_puts(&s->body, "404 not found\n") < 0)
			return -1;
	} else if (s->handler(s->arg, s->url, plen, &r) < 0) {
		return -1;
	}
	return respond(s, r.status, r.type, s->parser.method == HTTP_HEAD);
}

int ss_http_session_run(struct ss_http_session *s)
{
	int answered = 0;

	while (!s->close_after && ss_buf_size(&s->out) < SS_HTTP_OUT_HIGH &&
	       ss_buf_size(&s->in) > 0) {
		/* A head is given to the parser no further than one byte past
		 * its bound, counted in the bytes themselves: whether a long
		 * head is 431 or, for a bad byte after the bound, 400 must not
		 * depend on how its bytes were read (fuzz_http checks that). */
		size_t len = ss_buf_size(&s->in);
		if (!s->headers_done && len > SS_HTTP_HEAD_MAX + 1 - s->fed)
			len = SS_HTTP_HEAD_MAX + 1 - s->fed;
		size_t n = http_parser_execute(&s->parser, &settings, ss_buf_head(&s->in), len);
		enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);

		ss_buf_consume(&s->in, n > len ? len : n);
		if (e == HPE_OK && !s->headers_done && (s->fed += n) > SS_HTTP_HEAD_MAX)
			s->bad = 431;
		if (e == HPE_PAUSED) {
			/* A request ends here: the next one's head starts. */
			s->fed = 0;
			s->headers_done = 0;
			http_parser_pause(&s->parser, 0);
			int rc = s->bad ? respond_error(s, s->bad) : answer(s);
			if (rc < 0)
				return -1;
			answered++;
			continue;
		}
		if (e != HPE_OK || n < len || s->bad) {
			/* The parser stopped: our bound (s->bad 431), its own
			 * (a head past its 80 KiB), or bytes that are not HTTP;
			 * or it took less than it was given without saying why
			 * (an upgrade is refused above), which would loop here. */
			int status = s->bad ? s->bad : e == HPE_HEADER_OVERFLOW ? 431 : 400;
			if (respond_error(s, status) < 0)
				return -1;
			answered++;
			break;
		}
	}
	if (s->close_after)
		ss_buf_consume(&s->in, ss_buf_size(&s->in));
	return answered;
}

size_t ss_http_session_room(const struct ss_http_session *s)
{
	size_t held = ss_buf_size(&s->in);

	if (s->eof || s->close_after || ss_buf_size(&s->out) >= SS_HTTP_OUT_HIGH ||
	    held >= SS_HTTP_IN_MAX)
		return 0;
	return SS_HTTP_IN_MAX - held;
}

int ss_http_session_done(const struct ss_http_session *s)
{
	/* At EOF, what is left of the input is a request that cannot
	 * complete: no answer is owed for it. */
	return (s->close_after || s->eof) && ss_buf_size(&s->out) == 0;
}

/* ---- connections ------------------------------------------------------ */

struct ss_http_conn {
	struct ss_conn conn;
	struct ss_http_session s;
	struct ss_http_server *srv;
	ev_timer timer_w; /* SS_HTTP_TIMEOUT without a complete request */
	struct ss_http_conn *prev, *next;
};

static void conn_free(struct ss_http_conn *hc)
{
	struct ss_http_server *h = hc->srv;

	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->head = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	ev_timer_stop(h->loop, &hc->timer_w);
	ss_conn_close(&hc->conn);
	ss_http_session_free(&hc->s);
	free(hc);
	h->n--;
}

/* Answers what is complete, sends what it can, and frees a connection
 * that is finished or failed. */
static void serve(struct ss_http_conn *hc)
{
	int n = ss_http_session_run(&hc->s);

	if (n < 0) {
		ss_log_error(hc->srv->diag, "out of memory answering an HTTP request; closing it");
		conn_free(hc);
		return;
	}
	if (n > 0)
		ev_timer_again(hc->srv->loop, &hc->timer_w);
	if (ss_conn_flush(&hc->conn) < 0 || ss_http_session_done(&hc->s))
		conn_free(hc);
}

static size_t conn_room(void *arg)
{
	struct ss_http_conn *hc = arg;
	return ss_http_session_room(&hc->s);
}

static void conn_input(struct ss_conn *c, void *arg)
{
	(void)c;
	serve(arg);
}

static void conn_hangup(void *arg, int error)
{
	struct ss_http_conn *hc = arg;

	hc->s.eof = 1;
	if (error)
		hc->s.close_after = 1;
}

static int conn_done(void *arg)
{
	struct ss_http_conn *hc = arg;
	return ss_http_session_done(&hc->s);
}

static void conn_sent(void *arg)
{
	struct ss_http_conn *hc = arg;

	ss_buf_shrink(&hc->s.out, 64 * 1024);
	ss_buf_shrink(&hc->s.in, SS_HTTP_IN_MAX);
}

static void conn_closed(void *arg) { (void)arg; }

static const struct ss_conn_owner http_owner = {
	.out_high = SS_HTTP_OUT_HIGH,
	.room = conn_room,
	.input = conn_input,
	.hangup = conn_hangup,
	.done = conn_done,
	.sent = conn_sent,
	.closed = conn_closed,
};

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_free(w->data);
}

/* Turns a connection away, best effort: the socket is new, its buffer
 * empty. */
static void refuse(struct ss_http_server *h, int fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Length: 21\r\nConnection: close\r\n\r\n"
				  "too many connections\n";

	if (h->tp->refuse(fd, msg, sizeof(msg) - 1) < 0)
		ss_log_debug(h->diag, "refusing an HTTP client: %s", strerror(errno));
	h->refused++;
}

/* At the cap, the oldest connection idle between requests (one answered
 * already, nothing buffered either way) is closed to make room, so
 * connections that only hold their slot, a request now and then, never
 * lock a scraper out. A connection that has answered nothing yet, or holds
 * half a request, keeps its slot until the timeout. Returns 0 if one was
 * closed. New connections go to the head and an answered request does not
 * move one, so the last idle one found is the oldest. */
static int make_room(struct ss_http_server *h)
{
	struct ss_http_conn *idle = NULL;

	for (struct ss_http_conn *c = h->head; c; c = c->next)
		if (c->s.served > 0 && ss_buf_size(&c->s.in) == 0 && ss_buf_size(&c->s.out) == 0)
			idle = c;
	if (!idle)
		return -1;
	conn_free(idle);
	h->evicted++;
	return 0;
}

static void on_accept(struct ss_listener *l, int fd, int shed, void *arg)
{
	struct ss_http_server *h = arg;
	(void)l;

	if (shed || (h->n >= h->max_conns && make_room(h) < 0)) {
		refuse(h, fd);
		return;
	}
	struct ss_http_conn *hc = calloc(1, sizeof(*hc));
	if (!hc) {
		ss_log_error(h->diag, "out of memory accepting an HTTP connection");
		h->tp->refuse(fd, NULL, 0);
		return;
	}
	hc->srv = h;
	ss_http_session_init(&hc->s, h->handler, h->arg);
	if (ss_conn_init(&hc->conn, h->loop, fd, h->tp, &hc->s.in, &hc->s.out, &http_owner, hc) <
	    0) {
		ss_log_error(h->diag, "out of memory accepting an HTTP connection");
		h->tp->refuse(fd, NULL, 0);
		ss_http_session_free(&hc->s);
		free(hc);
		return;
	}
	ev_timer_init(&hc->timer_w, on_timeout, 0., h->timeout);
	hc->timer_w.data = hc;
	ev_timer_again(h->loop, &hc->timer_w);
	hc->next = h->head;
	if (h->head)
		h->head->prev = hc;
	h->head = hc;
	h->n++;
}

int ss_http_bind(struct ss_http_server *h, const char *addr, int port,
		 const struct ss_diag *diag)
{
	memset(h, 0, sizeof(*h));
	h->diag = diag;
	h->max_conns = SS_HTTP_CONNS_MAX;
	h->timeout = SS_HTTP_TIMEOUT;
	h->tp = &ss_transport_tcp;
	return ss_listener_bind(&h->listener, addr, port, diag);
}

int ss_http_start(struct ss_http_server *h, struct ev_loop *loop, ss_http_handler_fn handler,
		  void *arg)
{
	h->loop = loop;
	h->handler = handler;
	h->arg = arg;
	return ss_listener_start(&h->listener, loop, on_accept, h);
}

int ss_http_port(const struct ss_http_server *h) { return ss_listener_port(&h->listener); }

void ss_http_close(struct ss_http_server *h)
{
	while (h->head)
		conn_free(h->head);
	ss_listener_close(&h->listener);
}
