/* test_proto.c - the request parser: framing, tokens, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
	ss_request_init(&req);
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
	ss_request_init(&req);
	assert_int_equal(parse("GET_CHECKPOINT ord", 1024, &req), 0);
	assert_int_equal(parse("", 1024, &req), 0);
	/* An empty, never-allocated connection buffer. */
	assert_int_equal(ss_text_parse(NULL, 0, 1024, &req), 0);
}

static void test_crlf_ends_a_line_and_blanks_separate_tokens(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
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
	ss_request_init(&req);
	assert_int_equal(parse("a\r\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 1);
	assert_token(&req.argv[0], "a\r");
}

static void test_a_line_of_blanks_is_an_empty_request(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
	assert_int_equal(parse("\n", 1024, &req), 1);
	assert_int_equal(req.argc, 0);
	assert_int_equal(parse(" \t\r\n", 1024, &req), 4);
	assert_int_equal(req.argc, 0);
}

static void test_a_line_longer_than_max_line_is_too_long(void **state)
{
	(void)state;
	struct ss_request req;
	ss_request_init(&req);
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
	ss_request_init(&req);
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

/* "t" n times, blank-separated, and a newline (malloc'd); *len its size. */
static char *line_of_tokens(size_t n, size_t *len)
{
	char *buf = malloc(2 * n + 1);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + 2 * i, i % 2 ? "t\t" : "t ", 2);
	buf[2 * n] = '\n';
	*len = 2 * n + 1;
	return buf;
}

static void test_tokens_past_the_limit_are_counted_not_kept(void **state)
{
	(void)state;
	struct ss_request req;
	size_t n;
	char *buf;

	ss_request_init(&req);
	/* SS_ARGS_MAX tokens: a multi-commit of SS_MULTI_MAX triples. */
	buf = line_of_tokens(SS_ARGS_MAX, &n);
	assert_int_equal(ss_text_parse(buf, n, SS_LINE_MAX_DEFAULT, &req), (long)n);
	assert_int_equal(req.too_many, 0);
	assert_int_equal(req.nomem, 0);
	assert_int_equal(req.argc, SS_ARGS_MAX);
	assert_token(&req.argv[SS_ARGS_MAX - 1], "t");
	assert_ptr_equal(req.argv[SS_ARGS_MAX - 1].p, buf + 2 * (SS_ARGS_MAX - 1));
	free(buf);
	/* One more is too many; the first SS_ARGS_MAX are kept. */
	buf = line_of_tokens(SS_ARGS_MAX + 1, &n);
	assert_int_equal(ss_text_parse(buf, n, SS_LINE_MAX_DEFAULT, &req), (long)n);
	assert_int_equal(req.too_many, 1);
	assert_int_equal(req.argc, SS_ARGS_MAX);
	free(buf);
	ss_request_free(&req);
	assert_null(req.heap);
	assert_ptr_equal(req.argv, req.inline_argv);
}

/* Past SS_ARGS_INLINE tokens a request moves to a heap array, which later
 * parses reuse (short ones go back to the inline array) and free frees. */
static void test_the_heap_token_array_is_reused_and_freed(void **state)
{
	(void)state;
	struct ss_request req;
	size_t n;
	char *longer = line_of_tokens(SS_ARGS_INLINE + 1, &n);
	const char *shorter = "a b c\n";

	ss_request_init(&req);
	assert_ptr_equal(req.argv, req.inline_argv);
	assert_int_equal(ss_text_parse(longer, n, 1024, &req), (long)n);
	assert_int_equal(req.argc, SS_ARGS_INLINE + 1);
	assert_non_null(req.heap);
	assert_ptr_equal(req.argv, req.heap);
	struct ss_token *heap = req.heap;
	size_t cap = req.heap_cap;
	for (int i = 0; i < req.argc; i++)
		assert_ptr_equal(req.argv[i].p, longer + 2 * i);

	assert_int_equal(ss_text_parse(shorter, strlen(shorter), 1024, &req), 6);
	assert_int_equal(req.argc, 3);
	assert_ptr_equal(req.argv, req.inline_argv);
	assert_ptr_equal(req.heap, heap);

	assert_int_equal(ss_text_parse(longer, n, 1024, &req), (long)n);
	assert_ptr_equal(req.argv, heap);
	assert_int_equal(req.heap_cap, cap);
	for (int i = 0; i < req.argc; i++)
		assert_ptr_equal(req.argv[i].p, longer + 2 * i);
	ss_request_free(&req);
	assert_null(req.heap);
	assert_int_equal(req.heap_cap, 0);
	/* Free twice, and free of a request never used, are harmless. */
	ss_request_free(&req);
	free(longer);
}

static void test_split_anywhere_gives_same_request(void **state)
{
	(void)state;
	const char *line = "set_checkpoint\tp-1  v/2 30\r\n";
	size_t len = strlen(line);
	struct ss_request req;
	ss_request_init(&req);

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
		cmocka_unit_test(test_the_heap_token_array_is_reused_and_freed),
		cmocka_unit_test(test_split_anywhere_gives_same_request),
		cmocka_unit_test(test_token_is_case_insensitive),
		cmocka_unit_test(test_an_error_reply_is_err_a_space_and_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
