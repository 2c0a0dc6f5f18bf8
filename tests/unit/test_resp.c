/* test_resp.c - the RESP request parser (framing, bounds, protocol errors)
 * and the RESP replies: the writers of resp.h and the seam's tables. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "proto/resp.h"

#define E_COUNT "Protocol error: invalid multibulk length"
#define E_BULKLEN "Protocol error: invalid bulk length"
#define E_CRLF "Protocol error: bulk string not ended by CRLF"
#define E_LONG "Protocol error: request longer than --max-line"

/* Parses buf[0..len) copied into an allocation of exactly len bytes, so that
 * the sanitizer build catches a read past len. The copy is returned in
 * *copy (tokens point into it); free it after use. */
static long parse_copy(const char *buf, size_t len, size_t max_line, struct ss_request *req,
		       char **copy)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	if (len)
		memcpy(*copy, buf, len);
	return ss_resp_parse(*copy, len, max_line, req);
}

/* Parses buf[0..len) and frees the copy: for results that keep no token. */
static long parse_n(const char *buf, size_t len, size_t max_line, struct ss_request *req)
{
	char *copy;
	long r = parse_copy(buf, len, max_line, req, &copy);
	free(copy);
	return r;
}

/* The same for a string literal (which must then hold no '\0'). */
static long parse_s(const char *s, size_t max_line, struct ss_request *req)
{
	return parse_n(s, strlen(s), max_line, req);
}

static void assert_token_n(const struct ss_token *t, const void *want, size_t n)
{
	assert_int_equal(t->n, n);
	assert_memory_equal(t->p, want, n);
}

static void assert_token(const struct ss_token *t, const char *want)
{
	assert_token_n(t, want, strlen(want));
}

/* Asserts that s is refused with exactly the error text want. */
static void assert_refused(const char *s, size_t len, size_t max_line, const char *want)
{
	struct ss_request req;
	ss_request_init(&req);
	long r = parse_n(s, len, max_line, &req);
	if (r != -1 || !req.error || strcmp(req.error, want) != 0)
		fail_msg("%.*s: parse returned %ld with error \"%s\", want -1 with \"%s\"",
			 (int)len, s, r, req.error ? req.error : "(null)", want);
	ss_request_free(&req);
}

#define REFUSED(lit, max_line, want) assert_refused(lit, sizeof(lit) - 1, max_line, want)

/* ---- the parser ----------------------------------------------------------- */

static void test_a_request_parses_into_its_bulks(void **state)
{
	(void)state;
	static const char s[] = "*3\r\n$3\r\nSET\r\n$6\r\norders\r\n$4\r\n1000\r\n";
	struct ss_request req;
	char *copy;

	ss_request_init(&req);
	long r = parse_copy(s, sizeof s - 1, 1024, &req, &copy);
	assert_int_equal(r, (long)(sizeof s - 1));
	assert_int_equal(req.argc, 3);
	assert_null(req.error);
	assert_int_equal(req.too_many, 0);
	assert_int_equal(req.nomem, 0);
	assert_ptr_equal(req.argv, req.inline_argv);
	assert_token(&req.argv[0], "SET");
	assert_token(&req.argv[1], "orders");
	assert_token(&req.argv[2], "1000");
	/* The tokens point into the buffer: no copy. */
	assert_ptr_equal(req.argv[0].p, copy + 8);
	assert_ptr_equal(req.argv[1].p, copy + 17);
	assert_ptr_equal(req.argv[2].p, copy + 29);
	free(copy);
	ss_request_free(&req);
}

static void test_bulks_are_binary_safe(void **state)
{
	(void)state;
	/* A NUL, a CRLF, a lone CR and LF, '$' and '*' inside bulks, and an
	 * empty bulk. */
	static const char s[] = "*4\r\n"
				"$5\r\na\0b\r\n\r\n"
				"$4\r\n\r\n\r\n\r\n"
				"$4\r\n$1*\n\r\n"
				"$0\r\n\r\n";
	struct ss_request req;
	char *copy;

	ss_request_init(&req);
	assert_int_equal(parse_copy(s, sizeof s - 1, 1024, &req, &copy), (long)(sizeof s - 1));
	assert_int_equal(req.argc, 4);
	assert_token_n(&req.argv[0], "a\0b\r\n", 5);
	assert_token_n(&req.argv[1], "\r\n\r\n", 4);
	assert_token_n(&req.argv[2], "$1*\n", 4);
	assert_int_equal(req.argv[3].n, 0);
	assert_ptr_equal(req.argv[3].p, copy + sizeof s - 1 - 2);
	free(copy);
	ss_request_free(&req);
}

static void test_an_empty_buffer_needs_more(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(ss_resp_parse(NULL, 0, 1024, &req), 0);
	assert_int_equal(req.argc, 0);
	assert_null(req.error);
	ss_request_free(&req);
}

/* Every prefix of a request needs more; the whole one gives the same
 * tokens whatever bytes follow it. */
static void test_every_split_point_needs_more_until_complete(void **state)
{
	(void)state;
	static const char s[] =
		"*3\r\n$14\r\nSET_CHECKPOINT\r\n$3\r\np\r\n\r\n$12\r\n0123456789\r\n\r\n";
	const size_t len = sizeof s - 1;
	struct ss_request req;
	char *copy;

	ss_request_init(&req);
	for (size_t cut = 0; cut < len; cut++) {
		long r = parse_n(s, cut, 1024, &req);
		if (r != 0 || req.error)
			fail_msg("prefix of %zu bytes: parse returned %ld (%s)", cut, r,
				 req.error ? req.error : "no error");
	}
	/* The whole request, then the whole request and the start of the next. */
	static const char two[] =
		"*3\r\n$14\r\nSET_CHECKPOINT\r\n$3\r\np\r\n\r\n$12\r\n0123456789\r\n\r\n"
		"*1\r\n$4\r\nPI";
	for (size_t n = len; n <= sizeof two - 1; n++) {
		assert_int_equal(parse_copy(two, n, 1024, &req, &copy), (long)len);
		assert_int_equal(req.argc, 3);
		assert_ptr_equal(req.argv[0].p, copy + 9);
		assert_token(&req.argv[0], "SET_CHECKPOINT");
		assert_ptr_equal(req.argv[1].p, copy + 29);
		assert_token(&req.argv[1], "p\r\n");
		assert_ptr_equal(req.argv[2].p, copy + 39);
		assert_token(&req.argv[2], "0123456789\r\n");
		free(copy);
	}
	ss_request_free(&req);
}

static void test_pipelined_requests_parse_one_at_a_time(void **state)
{
	(void)state;
	static const char s[] = "*1\r\n$4\r\nPING\r\n"            /* 14 bytes */
				"*0\r\n"                          /* 4 */
				"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"  /* 20 */
				"*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\n" /* 23 */
				"*2\r\n$3\r\nGE";                 /* a partial one */
	static const long want[] = {14, 4, 20, 23};
	struct ss_request req;
	size_t off = 0;

	ss_request_init(&req);
	char *buf = malloc(sizeof s - 1);
	assert_non_null(buf);
	memcpy(buf, s, sizeof s - 1);
	for (int k = 0; k < 4; k++) {
		long r = ss_resp_parse(buf + off, sizeof s - 1 - off, 1024, &req);
		assert_int_equal(r, want[k]);
		switch (k) {
		case 0:
			assert_int_equal(req.argc, 1);
			assert_token(&req.argv[0], "PING");
			break;
		case 1:
			assert_int_equal(req.argc, 0);
			break;
		case 2:
			assert_int_equal(req.argc, 2);
			assert_token(&req.argv[0], "GET");
			assert_token(&req.argv[1], "k");
			assert_ptr_equal(req.argv[1].p, buf + off + 17);
			break;
		case 3:
			assert_int_equal(req.argc, 2);
			assert_token(&req.argv[0], "ECHO");
			assert_token_n(&req.argv[1], "a\0b", 3);
			break;
		}
		off += (size_t)r;
	}
	assert_int_equal(off, sizeof s - 1 - 10);
	assert_int_equal(ss_resp_parse(buf + off, sizeof s - 1 - off, 1024, &req), 0);
	free(buf);
	ss_request_free(&req);
}

static void test_a_zero_count_is_an_empty_request(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse_s("*0\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 0);
	assert_null(req.error);
	/* What follows it is the next request's. */
	assert_int_equal(parse_s("*0\r\n*1\r\n$1\r\nx\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 0);
	/* Its header incomplete: need more. */
	assert_int_equal(parse_s("*0\r", 1024, &req), 0);
	assert_int_equal(parse_s("*0", 1024, &req), 0);
	assert_int_equal(parse_s("*", 1024, &req), 0);
	ss_request_free(&req);
}

/* Numbers as Redis writes them: no leading zero (but "0" itself), no "-0",
 * no '+' sign; at most 18 digits. */
static void test_leading_zeros_minus_zero_and_plus_sign_refused(void **state)
{
	(void)state;
	struct ss_request req;
	char *copy;
	ss_request_init(&req);
	REFUSED("*002\r\n$3\r\nGET\r\n$0\r\n\r\n", 1024, E_COUNT);
	REFUSED("*2\r\n$003\r\nGET\r\n$0\r\n\r\n", 1024, E_BULKLEN);
	REFUSED("*1\r\n$00\r\n\r\n", 1024, E_BULKLEN);
	static const char ok[] = "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
	assert_int_equal(parse_copy(ok, sizeof ok - 1, 1024, &req, &copy), (long)(sizeof ok - 1));
	assert_int_equal(req.argc, 2);
	assert_token(&req.argv[0], "GET");
	assert_int_equal(req.argv[1].n, 0);
	free(copy);
	/* 18 digits is the most a number may have. */
	REFUSED("*1000000000000000000\r\n", 1024, E_COUNT);
	REFUSED("*1\r\n$1000000000000000000\r\nx\r\n", 1024, E_BULKLEN);
	/* "-0" is not a number Redis writes. */
	REFUSED("*-0\r\n", 1024, E_COUNT);
	REFUSED("*1\r\n$-0\r\n\r\n", 1024, E_BULKLEN);
	/* '+' is not a sign the parser takes; neither is a lone '-'. */
	REFUSED("*+1\r\n$1\r\nx\r\n", 1024, E_COUNT);
	REFUSED("*1\r\n$+1\r\nx\r\n", 1024, E_BULKLEN);
	REFUSED("*-\r\n", 1024, E_COUNT);
	REFUSED("*1\r\n$-\r\n", 1024, E_BULKLEN);
	REFUSED("*--1\r\n", 1024, E_COUNT);
	ss_request_free(&req);
}

static void test_count_errors(void **state)
{
	(void)state;
	/* Negative (Redis takes it as an empty request; here it is malformed). */
	REFUSED("*-1\r\n", 1024, E_COUNT);
	REFUSED("*-5\r\n$1\r\nx\r\n", 1024, E_COUNT);
	/* Not a number. */
	REFUSED("*x\r\n", 1024, E_COUNT);
	REFUSED("*1x\r\n", 1024, E_COUNT);
	REFUSED("*\r\n", 1024, E_COUNT);
	REFUSED("* 1\r\n", 1024, E_COUNT);
	REFUSED("*1 \r\n", 1024, E_COUNT);
	REFUSED("*1\0\r\n", 1024, E_COUNT);
	/* A CR not followed by LF. */
	REFUSED("*1\rx", 1024, E_COUNT);
	REFUSED("*1\r\r\n", 1024, E_COUNT);
	/* More than SS_ARGS_MAX (300001), with a max_line it would fit in;
	 * SS_ARGS_MAX itself passes its header (and then needs the bulks). */
	assert_int_equal(SS_ARGS_MAX, 300001);
	REFUSED("*300002\r\n", SS_LINE_MAX_DEFAULT, E_COUNT);
	REFUSED("*999999999999999999\r\n", SS_LINE_MAX_MAX, E_COUNT);
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse_s("*300001\r\n", SS_LINE_MAX_DEFAULT, &req), 0);
	/* The header plus count * 6 (the least each bulk takes: "$0\r\n\r\n")
	 * past max_line + 2: with max_line 1024 and the 6-byte header "*171\r\n"
	 * that is 171 arguments; 170 pass the header. */
	REFUSED("*171\r\n", 1024, E_COUNT);
	assert_int_equal(parse_s("*170\r\n", 1024, &req), 0);
	assert_null(req.error);
	ss_request_free(&req);
}

static void test_a_missing_dollar_names_the_byte(void **state)
{
	(void)state;
	REFUSED("*1\r\n*1\r\n$1\r\nx\r\n", 1024, "Protocol error: expected '$', got '*'");
	REFUSED("*1\r\n:1\r\n", 1024, "Protocol error: expected '$', got ':'");
	REFUSED("*2\r\n$1\r\nx\r\n+OK\r\n", 1024, "Protocol error: expected '$', got '+'");
	REFUSED("*1\r\nPING\r\n", 1024, "Protocol error: expected '$', got 'P'");
	/* A byte that cannot go into a one-line error shows as '?'. */
	REFUSED("*1\r\n\r\n", 1024, "Protocol error: expected '$', got '?'");
	REFUSED("*1\r\n\n", 1024, "Protocol error: expected '$', got '?'");
	REFUSED("*1\r\n\0", 1024, "Protocol error: expected '$', got '?'");
	REFUSED("*1\r\n\xff", 1024, "Protocol error: expected '$', got '?'");
	/* A request that does not start with '*' (the caller sends those to
	 * the text parser). */
	REFUSED("$1\r\nx\r\n", 1024, "Protocol error: expected '*'");
	REFUSED("PING\r\n", 1024, "Protocol error: expected '*'");
}

static void test_bulk_length_errors(void **state)
{
	(void)state;
	REFUSED("*1\r\n$x\r\n", 1024, E_BULKLEN);
	REFUSED("*1\r\n$\r\n", 1024, E_BULKLEN);
	REFUSED("*1\r\n$1x\r\nx\r\n", 1024, E_BULKLEN);
	REFUSED("*1\r\n$1\rxx\r\n", 1024, E_BULKLEN);
	REFUSED("*1\r\n$-1\r\n", 1024, E_BULKLEN);
	REFUSED("*2\r\n$1\r\nx\r\n$-2\r\n", 1024, E_BULKLEN);
	/* Longer than max_line: refused on its header, before its bytes. */
	REFUSED("*1\r\n$17\r\n", 16, E_BULKLEN);
	REFUSED("*1\r\n$999999999999999999\r\n", SS_LINE_MAX_MAX, E_BULKLEN);
	REFUSED("*1\r\n$2097153\r\n", SS_LINE_MAX_DEFAULT, E_BULKLEN);
}

static void test_a_bulk_not_ended_by_crlf(void **state)
{
	(void)state;
	REFUSED("*1\r\n$3\r\nabcd\r\n", 1024, E_CRLF);
	REFUSED("*1\r\n$3\r\nab\r\n\r\n", 1024, E_CRLF);
	REFUSED("*1\r\n$3\r\nabc\rx", 1024, E_CRLF);
	REFUSED("*1\r\n$3\r\nabc\n\r", 1024, E_CRLF);
	REFUSED("*1\r\n$0\r\nxx", 1024, E_CRLF);
	REFUSED("*2\r\n$1\r\nx\r\n$1\r\nyzw", 1024, E_CRLF);
	/* Until both bytes after the bulk are here, it may still end well. */
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse_s("*1\r\n$3\r\nabc\r", 1024, &req), 0);
	assert_int_equal(parse_s("*1\r\n$3\r\nabc", 1024, &req), 0);
	ss_request_free(&req);
}

/* A header is at most 22 bytes with its CRLF ('*' or '$', a sign, 18
 * digits): 22 bytes from its type byte with no CR among them are refused,
 * not waited for. */
static void test_a_header_without_crlf_within_22_bytes(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	char buf[64];

	memset(buf, '1', sizeof buf);
	buf[0] = '*';
	/* '*' and 20 digits: still 0, its CR may be next. */
	assert_int_equal(parse_n(buf, 21, SS_LINE_MAX_DEFAULT, &req), 0);
	/* 22 bytes from the '*' without a CR: refused. */
	assert_int_equal(parse_n(buf, 22, SS_LINE_MAX_DEFAULT, &req), -1);
	assert_string_equal(req.error, E_COUNT);
	assert_int_equal(parse_n(buf, sizeof buf, SS_LINE_MAX_DEFAULT, &req), -1);
	assert_string_equal(req.error, E_COUNT);
	/* Junk that is not digits waits the same, then is refused. */
	memset(buf + 1, 'z', 21);
	assert_int_equal(parse_n(buf, 21, SS_LINE_MAX_DEFAULT, &req), 0);
	assert_int_equal(parse_n(buf, 22, SS_LINE_MAX_DEFAULT, &req), -1);
	assert_string_equal(req.error, E_COUNT);

	/* The same for a bulk header, wherever it starts. */
	memcpy(buf, "*2\r\n$1\r\nx\r\n$", 12);
	memset(buf + 12, '0', sizeof buf - 12);
	assert_int_equal(parse_n(buf, 11 + 21, SS_LINE_MAX_DEFAULT, &req), 0);
	assert_int_equal(parse_n(buf, 11 + 22, SS_LINE_MAX_DEFAULT, &req), -1);
	assert_string_equal(req.error, E_BULKLEN);
	ss_request_free(&req);
}

static void test_a_request_longer_than_max_line(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	/* max_line 16: a request may take 18 bytes. "*1\r\n$8\r\n" is 8, so
	 * a bulk of 8 (8 + 8 + 2 = 18) fits and one of 9 does not, though 9 <=
	 * max_line: refused on the bulk's header. */
	static const char fits[] = "*1\r\n$8\r\n12345678\r\n";
	assert_int_equal(sizeof fits - 1, 18);
	char *copy;
	assert_int_equal(parse_copy(fits, 18, 16, &req, &copy), 18);
	assert_int_equal(req.argc, 1);
	assert_token(&req.argv[0], "12345678");
	free(copy);
	REFUSED("*1\r\n$9\r\n", 16, E_LONG);
	REFUSED("*1\r\n$16\r\n", 16, E_LONG);
	/* Across several bulks. */
	static const char fits2[] = "*2\r\n$2\r\nab\r\n$0\r\n\r\n";
	assert_int_equal(sizeof fits2 - 1, 18);
	assert_int_equal(parse_s(fits2, 16, &req), 18);
	assert_int_equal(req.argc, 2);
	REFUSED("*2\r\n$2\r\nab\r\n$1\r\n", 16, E_LONG);
	REFUSED("*2\r\n$3\r\nabc\r\n$0\r\n", 16, E_LONG);
	ss_request_free(&req);
}

/* A buffer that holds max_line + 2 bytes and no whole request will never
 * hold one: an error, not "need more" forever. */
static void test_incomplete_at_the_limit_is_an_error(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	/* 18 bytes (max_line 16) that are the whole of their first bulk and
	 * want a second. */
	static const char s1[] = "*2\r\n$8\r\n12345678\r\n";
	assert_int_equal(parse_n(s1, 17, 16, &req), 0);
	REFUSED("*2\r\n$8\r\n12345678\r\n", 16, E_LONG);
	/* The next header cut at the limit. */
	static const char s2[] = "*2\r\n$6\r\n123456\r\n$1";
	assert_int_equal(sizeof s2 - 1, 18);
	assert_int_equal(parse_n(s2, 17, 16, &req), 0);
	REFUSED("*2\r\n$6\r\n123456\r\n$1", 16, E_LONG);
	/* With a max_line under a header's size: the count's header itself. */
	REFUSED("*1234", 3, E_LONG);
	assert_int_equal(parse_s("*123", 3, &req), 0);
	ss_request_free(&req);
}

/* A count or a length that cannot fit is refused on its header alone: no
 * token is stored and no memory taken for it. */
static void test_bounds_come_before_allocation(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse_s("*300000\r\n", 1024, &req), -1);
	assert_string_equal(req.error, E_COUNT);
	assert_int_equal(req.argc, 0);
	assert_null(req.heap);
	assert_int_equal(req.heap_cap, 0);
	assert_ptr_equal(req.argv, req.inline_argv);
	/* Also with the bulks' bytes following: nothing past the header is
	 * looked at. */
	size_t n = 9 + 20 * 6;
	char *buf = malloc(n);
	assert_non_null(buf);
	memcpy(buf, "*300000\r\n", 9);
	for (size_t i = 9; i < n; i += 6)
		memcpy(buf + i, "$0\r\n\r\n", 6);
	assert_int_equal(ss_resp_parse(buf, n, 1024, &req), -1);
	assert_string_equal(req.error, E_COUNT);
	assert_int_equal(req.argc, 0);
	assert_null(req.heap);
	free(buf);
	/* A gigabyte bulk: refused on its header, not waited for. */
	assert_int_equal(parse_s("*1\r\n$1073741824\r\n", 1024, &req), -1);
	assert_string_equal(req.error, E_BULKLEN);
	assert_int_equal(req.argc, 0);
	ss_request_free(&req);
}

/* A request of n arguments: "x<i>" for every i that is a multiple of
 * every, the others empty. */
static char *request_of(size_t n, size_t every, size_t *len)
{
	size_t cap = 16 + n * 32, o;
	char *buf = malloc(cap);
	assert_non_null(buf);
	o = (size_t)snprintf(buf, cap, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++) {
		if (i % every == 0) {
			char arg[24];
			int an = snprintf(arg, sizeof arg, "x%zu", i);
			o += (size_t)snprintf(buf + o, cap - o, "$%d\r\n%s\r\n", an, arg);
		} else {
			memcpy(buf + o, "$0\r\n\r\n", 6);
			o += 6;
		}
	}
	*len = o;
	return buf;
}

static void assert_request_of(const struct ss_request *req, size_t n, size_t every)
{
	assert_int_equal(req->argc, (int)n);
	for (size_t i = 0; i < n; i++) {
		if (i % every == 0) {
			char arg[24];
			snprintf(arg, sizeof arg, "x%zu", i);
			assert_token(&req->argv[i], arg);
		} else {
			assert_int_equal(req->argv[i].n, 0);
		}
	}
}

/* More than SS_ARGS_INLINE arguments go to the heap array, which a later
 * long request reuses and ss_request_free frees. */
static void test_many_arguments_use_the_heap_array(void **state)
{
	(void)state;
	struct ss_request req;
	size_t n17, n100;
	char *r17 = request_of(SS_ARGS_INLINE + 1, 7, &n17);
	char *r100 = request_of(100, 7, &n100);

	ss_request_init(&req);
	/* Exactly SS_ARGS_INLINE: no allocation. */
	size_t n16;
	char *r16 = request_of(SS_ARGS_INLINE, 7, &n16);
	assert_int_equal(ss_resp_parse(r16, n16, 1024, &req), (long)n16);
	assert_request_of(&req, SS_ARGS_INLINE, 7);
	assert_ptr_equal(req.argv, req.inline_argv);
	assert_null(req.heap);

	assert_int_equal(ss_resp_parse(r17, n17, 1024, &req), (long)n17);
	assert_non_null(req.heap);
	assert_ptr_equal(req.argv, req.heap);
	assert_request_of(&req, SS_ARGS_INLINE + 1, 7);
	/* The tokens moved from the inline array still point into r17. */
	assert_ptr_equal(req.argv[0].p, r17 + 9);

	assert_int_equal(ss_resp_parse(r100, n100, 1024, &req), (long)n100);
	assert_ptr_equal(req.argv, req.heap);
	assert_request_of(&req, 100, 7);
	size_t cap = req.heap_cap;
	assert_true(cap >= 100);

	/* A short request goes back to the inline array; the heap is kept. */
	struct ss_token *heap = req.heap;
	assert_int_equal(parse_s("*1\r\n$1\r\na\r\n", 1024, &req), 11);
	assert_ptr_equal(req.argv, req.inline_argv);
	assert_ptr_equal(req.heap, heap);
	assert_int_equal(ss_resp_parse(r100, n100, 1024, &req), (long)n100);
	assert_ptr_equal(req.argv, heap);
	assert_int_equal(req.heap_cap, cap);
	assert_request_of(&req, 100, 7);

	ss_request_free(&req);
	assert_null(req.heap);
	assert_int_equal(req.heap_cap, 0);
	assert_int_equal(req.argc, 0);
	assert_ptr_equal(req.argv, req.inline_argv);
	ss_request_free(&req); /* twice is harmless */
	free(r16);
	free(r17);
	free(r100);
}

/* SS_ARGS_MAX arguments (a multi-commit's most), all kept. */
static void test_the_most_arguments(void **state)
{
	(void)state;
	struct ss_request req;
	size_t n;
	char *buf = request_of(SS_ARGS_MAX, 1000, &n);

	ss_request_init(&req);
	assert_int_equal(ss_resp_parse(buf, n, SS_LINE_MAX_DEFAULT, &req), (long)n);
	assert_int_equal(req.too_many, 0);
	assert_int_equal(req.nomem, 0);
	assert_request_of(&req, SS_ARGS_MAX, 1000);
	const struct ss_token *last = &req.argv[SS_ARGS_MAX - 1];
	assert_token(last, "x300000");
	assert_ptr_equal(last->p + last->n + 2, buf + n);
	free(buf);
	ss_request_free(&req);
}

/* The result does not depend on the request struct's earlier use. */
static void test_an_error_then_a_request(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse_s("*1\r\n$x\r\n", 1024, &req), -1);
	assert_non_null(req.error);
	assert_int_equal(parse_s("*1\r\n$1\r\na\r\n", 1024, &req), 11);
	assert_null(req.error);
	assert_int_equal(req.argc, 1);
	assert_int_equal(parse_s("*2\r\n$1\r\na\r\n", 1024, &req), 0);
	assert_null(req.error);
	assert_int_equal(parse_s("*1\r\n:", 1024, &req), -1);
	assert_string_equal(req.error, "Protocol error: expected '$', got ':'");
	ss_request_free(&req);
}

/* ---- the writers ---------------------------------------------------------- */

/* Asserts that out holds exactly want[0..n) and empties it. */
static void assert_out_n(struct ss_buf *out, const char *want, size_t n)
{
	if (ss_buf_size(out) != n || memcmp(ss_buf_head(out), want, n) != 0)
		fail_msg("got \"%.*s\" (%zu bytes), want \"%.*s\" (%zu bytes)",
			 (int)ss_buf_size(out), ss_buf_head(out), ss_buf_size(out), (int)n, want,
			 n);
	ss_buf_consume(out, ss_buf_size(out));
}

#define ASSERT_OUT(out, lit) assert_out_n(out, lit, sizeof(lit) - 1)

static void test_resp_writers(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);

	assert_int_equal(ss_resp_bulk(&out, "abc", 3), 0);
	ASSERT_OUT(&out, "$3\r\nabc\r\n");
	assert_int_equal(ss_resp_bulk(&out, "a\0\r\nb", 5), 0);
	ASSERT_OUT(&out, "$5\r\na\0\r\nb\r\n");
	assert_int_equal(ss_resp_bulk(&out, NULL, 0), 0);
	ASSERT_OUT(&out, "$0\r\n\r\n");
	assert_int_equal(ss_resp_bulk_str(&out, "hello"), 0);
	ASSERT_OUT(&out, "$5\r\nhello\r\n");

	assert_int_equal(ss_resp_int(&out, 0), 0);
	ASSERT_OUT(&out, ":0\r\n");
	assert_int_equal(ss_resp_int(&out, -42), 0);
	ASSERT_OUT(&out, ":-42\r\n");
	assert_int_equal(ss_resp_int(&out, LLONG_MAX), 0);
	ASSERT_OUT(&out, ":9223372036854775807\r\n");
	assert_int_equal(ss_resp_int(&out, LLONG_MIN), 0);
	ASSERT_OUT(&out, ":-9223372036854775808\r\n");

	assert_int_equal(ss_resp_array(&out, 3), 0);
	ASSERT_OUT(&out, "*3\r\n");
	assert_int_equal(ss_resp_array(&out, 0), 0);
	ASSERT_OUT(&out, "*0\r\n");
	assert_int_equal(ss_resp_map(&out, 2, 3), 0);
	ASSERT_OUT(&out, "*6\r\n");
	assert_int_equal(ss_resp_map(&out, 3, 3), 0);
	ASSERT_OUT(&out, "%3\r\n");
	assert_int_equal(ss_resp_map(&out, 2, 0), 0);
	ASSERT_OUT(&out, "*0\r\n");

	assert_int_equal(ss_resp_nil(&out, 2), 0);
	ASSERT_OUT(&out, "$-1\r\n");
	assert_int_equal(ss_resp_nil(&out, 3), 0);
	ASSERT_OUT(&out, "_\r\n");
	assert_int_equal(ss_resp_nil_array(&out, 2), 0);
	ASSERT_OUT(&out, "*-1\r\n");
	assert_int_equal(ss_resp_nil_array(&out, 3), 0);
	ASSERT_OUT(&out, "_\r\n");

	assert_int_equal(ss_resp_simple(&out, "OK"), 0);
	ASSERT_OUT(&out, "+OK\r\n");
	assert_int_equal(ss_resp_simple(&out, ""), 0);
	ASSERT_OUT(&out, "+\r\n");
	assert_int_equal(ss_resp_simple(&out, "a\r\nb\rc\nd"), 0);
	ASSERT_OUT(&out, "+a  b c d\r\n");
	assert_int_equal(ss_resp_err(&out, "ERR bad\r\nthing"), 0);
	ASSERT_OUT(&out, "-ERR bad  thing\r\n");
	assert_int_equal(ss_resp_err(&out, "WRONGTYPE x"), 0);
	ASSERT_OUT(&out, "-WRONGTYPE x\r\n");
	assert_int_equal(ss_resp_errf(&out, "ERR %s %d\n", "n", 5), 0);
	ASSERT_OUT(&out, "-ERR n 5 \r\n");

	/* Appends after what is there. */
	assert_int_equal(ss_resp_array(&out, 2), 0);
	assert_int_equal(ss_resp_int(&out, 1), 0);
	assert_int_equal(ss_resp_nil(&out, 3), 0);
	ASSERT_OUT(&out, "*2\r\n:1\r\n_\r\n");
	ss_buf_free(&out);
}

/* ss_resp_errf cuts its message at 1023 bytes (a 1 KiB buffer). */
static void test_a_formatted_error_is_cut_at_1k(void **state)
{
	(void)state;
	struct ss_buf out;
	char big[2000];

	ss_buf_init(&out);
	memset(big, 'e', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(ss_resp_errf(&out, "%s", big), 0);
	assert_int_equal(ss_buf_size(&out), 1 + 1023 + 2);
	assert_int_equal(ss_buf_head(&out)[0], '-');
	assert_memory_equal(ss_buf_head(&out) + 1, big, 1023);
	assert_memory_equal(ss_buf_head(&out) + 1024, "\r\n", 2);
	ss_buf_free(&out);
}

/* ---- the seam's tables ---------------------------------------------------- */

static const struct ss_proto *const protos[] = {&ss_proto_resp2, &ss_proto_resp3};

static void test_the_tables_name_their_version(void **state)
{
	(void)state;
	assert_string_equal(ss_proto_resp2.name, "resp2");
	assert_int_equal(ss_proto_resp2.resp, 2);
	assert_string_equal(ss_proto_resp3.name, "resp3");
	assert_int_equal(ss_proto_resp3.resp, 3);
	assert_ptr_equal(ss_proto_resp2.parse, ss_resp_parse);
	assert_ptr_equal(ss_proto_resp3.parse, ss_resp_parse);
}

/* The replies that are the same in both versions. */
static void test_common_replies(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);
	for (int v = 0; v < 2; v++) {
		const struct ss_proto *p = protos[v];

		assert_int_equal(p->ok(&out), 0);
		ASSERT_OUT(&out, "+OK\r\n");
		assert_int_equal(p->status(&out, "PONG"), 0);
		ASSERT_OUT(&out, "+PONG\r\n");
		assert_int_equal(p->error(&out, "no such thing"), 0);
		ASSERT_OUT(&out, "-ERR no such thing\r\n");
		assert_int_equal(p->error(&out, "two\r\nlines"), 0);
		ASSERT_OUT(&out, "-ERR two  lines\r\n");
		assert_int_equal(ss_proto_errorf(p, &out, "no revision %d in history", 7), 0);
		ASSERT_OUT(&out, "-ERR no revision 7 in history\r\n");
		assert_int_equal(p->integer(&out, -3), 0);
		ASSERT_OUT(&out, ":-3\r\n");
		assert_int_equal(p->value(&out, "v\0\r\n", 4), 0);
		ASSERT_OUT(&out, "$4\r\nv\0\r\n\r\n");
		assert_int_equal(p->ok_rev(&out, 12), 0);
		ASSERT_OUT(&out, ":12\r\n");
		assert_int_equal(p->rev_value(&out, 7, "abc", 3), 0);
		ASSERT_OUT(&out, "*2\r\n:7\r\n$3\r\nabc\r\n");
		assert_int_equal(p->rev_value(&out, 1, "a\r\n", 3), 0);
		ASSERT_OUT(&out, "*2\r\n:1\r\n$3\r\na\r\n\r\n");

		/* Conflicts: without and with a pipeline's name (taken by
		 * length, not to its NUL). */
		assert_int_equal(p->conflict(&out, NULL, 0, 5), 0);
		ASSERT_OUT(&out, "-CONFLICT 5\r\n");
		assert_int_equal(p->conflict(&out, NULL, 0, 0), 0);
		ASSERT_OUT(&out, "-CONFLICT 0\r\n");
		assert_int_equal(p->conflict(&out, "p1xyz", 2, 9), 0);
		ASSERT_OUT(&out, "-CONFLICT p1 9\r\n");
		assert_int_equal(p->conflict(&out, "orders", 6, 0), 0);
		ASSERT_OUT(&out, "-CONFLICT orders 0\r\n");
		assert_int_equal(p->conflict(&out, "UINT64", 6, UINT64_C(18446744073709551615)), 0);
		ASSERT_OUT(&out, "-CONFLICT UINT64 18446744073709551615\r\n");
	}
	ss_buf_free(&out);
}

static void test_null_differs_by_version(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);
	assert_int_equal(ss_proto_resp2.null(&out), 0);
	ASSERT_OUT(&out, "$-1\r\n");
	assert_int_equal(ss_proto_resp3.null(&out), 0);
	ASSERT_OUT(&out, "_\r\n");
	ss_buf_free(&out);
}

/* Puts a reply and consumes part of it, so that the buffer's live bytes do
 * not start at its memory's start: rows_end's at counts live bytes. */
static void with_earlier_bytes(struct ss_buf *out)
{
	assert_int_equal(ss_buf_puts(out, "gone+OK\r\n"), 0);
	ss_buf_consume(out, 4);
}

/* Name-value rows (STATS): a map, RESP2 a flat array; the header goes at
 * `at`, after what was in the buffer before the rows. */
static void test_pair_rows(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);
	for (int v = 0; v < 2; v++) {
		const struct ss_proto *p = protos[v];

		with_earlier_bytes(&out);
		assert_int_equal(p->rows_begin(&out), 0);
		size_t at = ss_buf_size(&out);
		assert_int_equal(at, 5);
		assert_int_equal(p->row(&out, "keys", "10"), 0);
		assert_int_equal(p->row(&out, "uptime", "3"), 0);
		assert_int_equal(p->rows_end(&out, at, 2, 1), 0);
		if (v == 0)
			ASSERT_OUT(&out, "+OK\r\n*4\r\n"
					 "$4\r\nkeys\r\n$2\r\n10\r\n$6\r\nuptime\r\n$1\r\n3\r\n");
		else
			ASSERT_OUT(&out, "+OK\r\n%2\r\n"
					 "$4\r\nkeys\r\n$2\r\n10\r\n$6\r\nuptime\r\n$1\r\n3\r\n");

		/* No rows. */
		assert_int_equal(p->rows_begin(&out), 0);
		assert_int_equal(p->rows_end(&out, 0, 0, 1), 0);
		if (v == 0)
			ASSERT_OUT(&out, "*0\r\n");
		else
			ASSERT_OUT(&out, "%0\r\n");
	}
	ss_buf_free(&out);
}

/* Versions (HISTORY): an array of [rev, commit_ms, value], the same in both. */
static void test_version_rows(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);
	for (int v = 0; v < 2; v++) {
		const struct ss_proto *p = protos[v];

		with_earlier_bytes(&out);
		assert_int_equal(p->rows_begin(&out), 0);
		size_t at = ss_buf_size(&out);
		assert_int_equal(p->version(&out, 3, 1700000000123, "v3", 2), 0);
		assert_int_equal(p->version(&out, 2, -1, "a\0", 2), 0);
		assert_int_equal(p->rows_end(&out, at, 2, 0), 0);
		ASSERT_OUT(&out, "+OK\r\n*2\r\n"
				 "*3\r\n:3\r\n:1700000000123\r\n$2\r\nv3\r\n"
				 "*3\r\n:2\r\n:-1\r\n$2\r\na\0\r\n");

		assert_int_equal(p->rows_begin(&out), 0);
		assert_int_equal(p->rows_end(&out, 0, 0, 0), 0);
		ASSERT_OUT(&out, "*0\r\n");
	}
	ss_buf_free(&out);
}

/* Listings (LIST): [cursor, [[name, rev, commit_ms, value], ...]], the rows'
 * header inserted after the cursor. */
static void test_listing_rows(void **state)
{
	(void)state;
	struct ss_buf out;
	ss_buf_init(&out);
	for (int v = 0; v < 2; v++) {
		const struct ss_proto *p = protos[v];

		with_earlier_bytes(&out);
		assert_int_equal(p->cursor(&out, 42), 0);
		size_t at = ss_buf_size(&out);
		assert_int_equal(p->listed(&out, "a/b", 3, 5, 1000, "x", 1), 0);
		assert_int_equal(p->listed(&out, "qqq", 1, 1, 0, "\r\n", 2), 0);
		assert_int_equal(p->rows_end(&out, at, 2, 0), 0);
		ASSERT_OUT(&out, "+OK\r\n*2\r\n$2\r\n42\r\n*2\r\n"
				 "*4\r\n$3\r\na/b\r\n:5\r\n:1000\r\n$1\r\nx\r\n"
				 "*4\r\n$1\r\nq\r\n:1\r\n:0\r\n$2\r\n\r\n\r\n");

		/* The last page: cursor 0, no rows. */
		assert_int_equal(p->cursor(&out, 0), 0);
		at = ss_buf_size(&out);
		assert_int_equal(p->rows_end(&out, at, 0, 0), 0);
		ASSERT_OUT(&out, "*2\r\n$1\r\n0\r\n*0\r\n");

		assert_int_equal(p->cursor(&out, UINT64_C(18446744073709551615)), 0);
		assert_int_equal(p->rows_end(&out, ss_buf_size(&out), 0, 0), 0);
		ASSERT_OUT(&out, "*2\r\n$20\r\n18446744073709551615\r\n*0\r\n");
	}
	ss_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_request_parses_into_its_bulks),
		cmocka_unit_test(test_bulks_are_binary_safe),
		cmocka_unit_test(test_an_empty_buffer_needs_more),
		cmocka_unit_test(test_every_split_point_needs_more_until_complete),
		cmocka_unit_test(test_pipelined_requests_parse_one_at_a_time),
		cmocka_unit_test(test_a_zero_count_is_an_empty_request),
		cmocka_unit_test(test_leading_zeros_minus_zero_and_plus_sign_refused),
		cmocka_unit_test(test_count_errors),
		cmocka_unit_test(test_a_missing_dollar_names_the_byte),
		cmocka_unit_test(test_bulk_length_errors),
		cmocka_unit_test(test_a_bulk_not_ended_by_crlf),
		cmocka_unit_test(test_a_header_without_crlf_within_22_bytes),
		cmocka_unit_test(test_a_request_longer_than_max_line),
		cmocka_unit_test(test_incomplete_at_the_limit_is_an_error),
		cmocka_unit_test(test_bounds_come_before_allocation),
		cmocka_unit_test(test_many_arguments_use_the_heap_array),
		cmocka_unit_test(test_the_most_arguments),
		cmocka_unit_test(test_an_error_then_a_request),
		cmocka_unit_test(test_resp_writers),
		cmocka_unit_test(test_a_formatted_error_is_cut_at_1k),
		cmocka_unit_test(test_the_tables_name_their_version),
		cmocka_unit_test(test_common_replies),
		cmocka_unit_test(test_null_differs_by_version),
		cmocka_unit_test(test_pair_rows),
		cmocka_unit_test(test_version_rows),
		cmocka_unit_test(test_listing_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
