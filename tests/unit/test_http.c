/*
 * test_http.c - the HTTP server's timer (net/http.h): a connection that
 * completes no request for the timeout is closed, whether it is an idle
 * keep-alive or a client that sent half a request, and one that keeps
 * asking stays open. On a real loop and real sockets, with the timeout cut
 * to 0.2 s so that the test is quick (the daemon's is SS_HTTP_TIMEOUT).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/diag.h"
#include "net/http.h"

#define TIMEOUT 0.2

static int handler(void *arg, const char *path, size_t len, struct ss_http_reply *r)
{
	(void)arg;
	(void)path;
	(void)len;
	return ss_buf_puts(r->body, "ok\n");
}

struct fixture {
	struct ev_loop *loop;
	struct ss_http_server h;
	struct ss_diag diag;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.diag = (struct ss_diag){.level = SS_ERROR, .out = stderr};
	f.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f.loop);
	assert_int_equal(ss_http_bind(&f.h, "127.0.0.1", 0, &f.diag), 0);
	f.h.timeout = TIMEOUT;
	assert_int_equal(ss_http_start(&f.h, f.loop, handler, NULL), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ss_http_close(&f->h);
	ev_loop_destroy(f->loop);
	return 0;
}

static int client(struct fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ss_http_port(&f->h))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void on_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Runs the loop for about seconds of wall time. */
static void run_for(struct fixture *f, double seconds)
{
	ev_timer t;
	double end = ev_time() + seconds;

	ev_timer_init(&t, on_wake, 0.01, 0.01);
	ev_timer_start(f->loop, &t);
	while (ev_time() < end)
		ev_run(f->loop, EVRUN_ONCE);
	ev_timer_stop(f->loop, &t);
}

/* What the server sent, without waiting: bytes (> 0), 0 if it closed, -1
 * if nothing is there yet. */
static ssize_t peek(int fd, char *buf, size_t n)
{
	ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : r;
}

static void send_all(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

static void ask(struct fixture *f, int fd)
{
	char buf[512];
	ssize_t n;

	send_all(fd, "GET /x HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 100 && (n = peek(fd, buf, sizeof(buf))) < 0; i++)
		run_for(f, 0.005);
	assert_true(n > 0);
	assert_memory_equal(buf, "HTTP/1.1 200 OK\r\n", 17);
}

static void an_idle_keep_alive_connection_is_closed_after_the_timeout(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd = client(f);

	ask(f, fd);
	run_for(f, TIMEOUT / 2);
	assert_int_equal(peek(fd, buf, sizeof(buf)), -1); /* still open */
	assert_int_equal(f->h.n, 1);
	run_for(f, TIMEOUT * 2);
	assert_int_equal(peek(fd, buf, sizeof(buf)), 0);
	assert_int_equal(f->h.n, 0);
	close(fd);
}

static void half_a_request_is_closed_after_the_timeout_unanswered(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd = client(f);
	int other = client(f);

	send_all(fd, "GET /he");
	run_for(f, TIMEOUT / 2);
	ask(f, other); /* served meanwhile */
	run_for(f, TIMEOUT * 2);
	assert_int_equal(peek(fd, buf, sizeof(buf)), 0); /* closed, no reply */
	close(fd);
	close(other);
}

static void a_connection_that_keeps_asking_stays_open(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd = client(f);

	for (int i = 0; i < 6; i++) {
		ask(f, fd);
		run_for(f, TIMEOUT / 2);
	}
	assert_int_equal(peek(fd, buf, sizeof(buf)), -1);
	assert_int_equal(f->h.n, 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(an_idle_keep_alive_connection_is_closed_after_the_timeout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(half_a_request_is_closed_after_the_timeout_unanswered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_connection_that_keeps_asking_stays_open, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
