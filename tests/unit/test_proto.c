/* test_proto.c - the request parser: framing, tokens, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"

static long parse(const char *s, size_t max_line, struct ss_request *req)
{
	return ss_text_parse(s, strlen(s), max_line, req);
}

static void assert_token(const struct ss_token *t, const char *want)
{
	assert_int_equal(t->n, strlen(want));
	assert_memory_equal(t->p, want, t->n);
}

static void test_a_line_splits_into_tokens(void **state)
{
	(void)state;
	struct ss_request req;
	assert_int_equal(parse("SET_CHECKPOINT orders 1000\nGET", 1024, &req), 27);
	assert_int_equal(req.argc, 3);
	assert_token(&req.argv[0], "SET_CHECKPOINT");
	assert_token(&req.argv[1], "orders");
	assert_token(&req.argv[2], "1000");
	assert_int_equal(req.too_many, 0);
}

static void test_bytes_without_a_newline_need_more(void **state)
{
	(void)state;
	struct ss_request req;
	assert_int_equal(parse("GET_CHECKPOINT ord", 1024, &req), 0);
	assert_int_equal(parse("", 1024, &req), 0);
	/* An empty, never-allocated connection buffer. */
	assert_int_equal(ss_text_parse(NULL, 0, 1024, &req), 0);
}

static void test_crlf_ends_a_line_and_blanks_separate_tokens(void **state)
{
	(void)state;
	struct ss_request req;
	const char *line = " \tPING\t  x  \r\n";
	assert_int_equal(parse(line, 1024, &req), (long)strlen(line));
	assert_int_equal(req.argc, 2);
	assert_token(&req.argv[0], "PING");
	assert_token(&req.argv[1], "x");
}

static void test_only_one_trailing_cr_dropped(void **state)
{
	(void)state;
	struct ss_request req;
	assert_int_equal(parse("a\r\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 1);
	assert_token(&req.argv[0], "a\r");
}

static void test_a_line_of_blanks_is_an_empty_request(void **state)
{
	(void)state;
	struct ss_request req;
	assert_int_equal(parse("\n", 1024, &req), 1);
	assert_int_equal(req.argc, 0);
	assert_int_equal(parse(" \t\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 0);
}

static void test_a_line_longer_than_max_line_is_too_long(void **state)
{
	(void)state;
	struct ss_request req;
	char buf[64];

	/* Exactly max_line bytes before the newline is accepted. */
	memset(buf, 'a', 16);
	buf[16] = '\n';
	assert_int_equal(ss_text_parse(buf, 17, 16, &req), 17);
	/* One more is refused, with or without its newline in the buffer. */
	memset(buf, 'a', 17);
	buf[17] = '\n';
	assert_int_equal(ss_text_parse(buf, 18, 16, &req), -1);
	assert_int_equal(ss_text_parse(buf, 17, 16, &req), -1);
	/* Up to the limit with no newline yet: need more. */
	assert_int_equal(ss_text_parse(buf, 16, 16, &req), 0);
}

static void test_the_cr_ending_a_line_does_not_count_toward_the_limit(void **state)
{
	(void)state;
	struct ss_request req;
	char buf[64];

	/* max_line bytes, then "\r\n": accepted, the '\r' dropped. */
	memset(buf, 'a', 16);
	memcpy(buf + 16, "\r\n", 2);
	assert_int_equal(ss_text_parse(buf, 18, 16, &req), 18);
	assert_int_equal(req.argc, 1);
	assert_int_equal(req.argv[0].n, 16);
	/* The '\r' arrived, its '\n' not yet: need more, not too long. */
	assert_int_equal(ss_text_parse(buf, 17, 16, &req), 0);
	/* A '\r' that does not end the line is content and counts. */
	memcpy(buf + 16, "\rb", 2);
	assert_int_equal(ss_text_parse(buf, 18, 16, &req), -1);
	memcpy(buf + 15, "\r\r\n", 3);
	assert_int_equal(ss_text_parse(buf, 18, 16, &req), 18);
	assert_int_equal(ss_text_parse(buf, 17, 16, &req), 0);
	memset(buf, 'a', 17);
	memcpy(buf + 17, "\r\n", 2);
	assert_int_equal(ss_text_parse(buf, 19, 16, &req), -1);
}

static void test_tokens_past_the_limit_are_counted_not_kept(void **state)
{
	(void)state;
	struct ss_request req;
	char buf[1024];
	size_t n = 0;

	for (int i = 0; i < SS_ARGS_MAX + 5; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "t%d ", i);
	buf[n++] = '\n';
	assert_int_equal(ss_text_parse(buf, n, sizeof(buf), &req), (long)n);
	assert_int_equal(req.too_many, 1);
	assert_int_equal(req.argc, SS_ARGS_MAX);

	n = 0;
	for (int i = 0; i < SS_ARGS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "t%d ", i);
	buf[n++] = '\n';
	assert_int_equal(ss_text_parse(buf, n, sizeof(buf), &req), (long)n);
	assert_int_equal(req.too_many, 0);
	assert_int_equal(req.argc, SS_ARGS_MAX);
}

static void test_split_anywhere_gives_same_request(void **state)
{
	(void)state;
	const char *line = "set_checkpoint\tp-1  v/2 30\r\n";
	size_t len = strlen(line);
	struct ss_request req;

	/* Every prefix short of the newline needs more; the whole line parses. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(ss_text_parse(line, cut, 1024, &req), 0);
	assert_int_equal(ss_text_parse(line, len, 1024, &req), (long)len);
	assert_int_equal(req.argc, 4);
	assert_token(&req.argv[2], "v/2");
	assert_token(&req.argv[3], "30");
}

static void test_token_is_case_insensitive(void **state)
{
	(void)state;
	struct ss_token t = {"get_CheckPoint", 14};
	assert_true(ss_token_is(&t, "GET_CHECKPOINT"));
	struct ss_token shorter = {"GET", 3};
	assert_false(ss_token_is(&shorter, "GET_CHECKPOINT"));
	struct ss_token longer = {"PINGS", 5};
	assert_false(ss_token_is(&longer, "PING"));
}

static void test_an_error_reply_is_err_a_space_and_a_reason(void **state)
{
	(void)state;
	assert_true(ss_text_is_error("ERR invalid ttl\n", 16));
	assert_true(ss_text_is_error("ERR x", 5));
	/* Values: a checkpoint may hold "ERR", "ERRx", "ERR_value"; a value
	 * never holds a space, so none looks like "ERR <reason>". */
	assert_false(ss_text_is_error("ERR\n", 4));
	assert_false(ss_text_is_error("ERR\r\n", 5));
	assert_false(ss_text_is_error("ERR", 3));
	assert_false(ss_text_is_error("ERRx\n", 5));
	assert_false(ss_text_is_error("ERRATA\n", 7));
	assert_false(ss_text_is_error("ERR_value\n", 10));
	assert_false(ss_text_is_error("OK\n", 3));
	assert_false(ss_text_is_error("ER", 2));
	/* Only the first len bytes count. */
	assert_false(ss_text_is_error("ERR invalid ttl\n", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_line_splits_into_tokens),
		cmocka_unit_test(test_bytes_without_a_newline_need_more),
		cmocka_unit_test(test_crlf_ends_a_line_and_blanks_separate_tokens),
		cmocka_unit_test(test_only_one_trailing_cr_dropped),
		cmocka_unit_test(test_a_line_of_blanks_is_an_empty_request),
		cmocka_unit_test(test_a_line_longer_than_max_line_is_too_long),
		cmocka_unit_test(test_the_cr_ending_a_line_does_not_count_toward_the_limit),
		cmocka_unit_test(test_tokens_past_the_limit_are_counted_not_kept),
		cmocka_unit_test(test_split_anywhere_gives_same_request),
		cmocka_unit_test(test_token_is_case_insensitive),
		cmocka_unit_test(test_an_error_reply_is_err_a_space_and_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
