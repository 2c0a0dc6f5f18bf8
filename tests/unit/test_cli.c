/*
 * test_cli.c - the CLI's pure parts: option parsing, argument joining,
 * request classification and reply framing. The socket side is covered by
 * tests/integration/test_cli.py against the real daemon.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "statestored/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void options_default_to_localhost_7070_5s_and_batch_mode(void **state)
{
	char *argv[] = {"statestore-cli"};
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_string_equal(o.host, "127.0.0.1");
	assert_string_equal(o.port, "7070");
	assert_int_equal(o.timeout_ms, 5000);
	assert_int_equal(o.help, 0);
	assert_int_equal(o.cmd_index, 1); /* == argc: batch mode */
}

static void options_short_long_and_glued_forms_are_accepted(void **state)
{
	char *argv[] = {"cli", "-h", "::1", "-p7071", "--timeout=0.25", "GET_CHECKPOINT", "x"};
	char *argv2[] = {"cli", "--host", "example", "--port", "9", "-t", "2", "PING"};
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_string_equal(o.host, "::1");
	assert_string_equal(o.port, "7071");
	assert_int_equal(o.timeout_ms, 250);
	assert_int_equal(o.cmd_index, 5);

	assert_int_equal(ss_cli_parse_options(ARGC(argv2), argv2, &o, err, sizeof(err)), 0);
	assert_string_equal(o.host, "example");
	assert_string_equal(o.port, "9");
	assert_int_equal(o.timeout_ms, 2000);
	assert_int_equal(o.cmd_index, 7);
}

static void options_stop_at_the_command_so_arguments_may_start_with_a_dash(void **state)
{
	char *argv[] = {"cli", "SET_CHECKPOINT", "x", "-5", "-p", "1"};
	char *argv2[] = {"cli", "-p", "1", "--", "-weird", "arg"};
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd_index, 1);
	assert_string_equal(o.port, "7070");
	assert_int_equal(ss_cli_parse_options(ARGC(argv2), argv2, &o, err, sizeof(err)), 0);
	assert_int_equal(o.cmd_index, 4);
	assert_string_equal(o.port, "1");
}

static void options_help_is_recognised(void **state)
{
	char *argv[] = {"cli", "--help"};
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_int_equal(o.help, 1);
}

static void options_bad_values_are_usage_errors_with_a_message(void **state)
{
	char *bad[][3] = {
	    {"cli", "-p", "0"},        {"cli", "-p", "65536"},    {"cli", "-p", "70x"},
	    {"cli", "-p", ""},         {"cli", "-t", "0"},        {"cli", "-t", "-1"},
	    {"cli", "-t", "abc"},      {"cli", "-t", "nan"},      {"cli", "-t", "1e9"},
	    {"cli", "-h", ""},         {"cli", "-x", "1"},        {"cli", "--porty", "1"},
	};
	char *missing[] = {"cli", "-p"};
	struct ss_cli_options o;
	char err[128];
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(ss_cli_parse_options(3, bad[i], &o, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(ss_cli_parse_options(ARGC(missing), missing, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs a value"));
}

static void join_puts_single_spaces_between_arguments_and_ends_with_newline(void **state)
{
	char *args[] = {"SET_CHECKPOINT", "orders", "1000"};
	size_t len = 0;
	char *line;
	(void)state;
	line = ss_cli_join_args(args, 3, &len);
	assert_non_null(line);
	assert_string_equal(line, "SET_CHECKPOINT orders 1000\n");
	assert_int_equal(len, strlen(line));
	free(line);
}

static void join_refuses_line_breaks_and_commands_without_a_token(void **state)
{
	char *nl[] = {"GET_CHECKPOINT", "a\nDEL_CHECKPOINT b"};
	char *cr[] = {"PING\r"};
	char *empty[] = {""};
	char *blanks[] = {" ", "\t"};
	size_t len;
	(void)state;
	errno = 0;
	assert_null(ss_cli_join_args(nl, 2, &len));
	assert_int_equal(errno, EINVAL);
	assert_null(ss_cli_join_args(cr, 1, &len));
	assert_null(ss_cli_join_args(empty, 1, &len));
	assert_null(ss_cli_join_args(blanks, 2, &len));
}

static void classify_reads_the_first_token_case_insensitively(void **state)
{
	(void)state;
	assert_int_equal(ss_cli_classify("", 0), SS_CLI_REPLY_NONE);
	assert_int_equal(ss_cli_classify(" \t ", 3), SS_CLI_REPLY_NONE);
	assert_int_equal(ss_cli_classify("\r", 1), SS_CLI_REPLY_NONE);
	assert_int_equal(ss_cli_classify("stats", 5), SS_CLI_REPLY_STATS);
	assert_int_equal(ss_cli_classify("  StAtS\r", 8), SS_CLI_REPLY_STATS);
	assert_int_equal(ss_cli_classify("STATS extra", 11), SS_CLI_REPLY_STATS);
	assert_int_equal(ss_cli_classify("STATSX", 6), SS_CLI_REPLY_LINE);
	assert_int_equal(ss_cli_classify("quit", 4), SS_CLI_REPLY_QUIT);
	assert_int_equal(ss_cli_classify("GET_CHECKPOINT stats", 20), SS_CLI_REPLY_LINE);
	assert_int_equal(ss_cli_classify("PING", 4), SS_CLI_REPLY_LINE);
	/* Only the first len bytes count. */
	assert_int_equal(ss_cli_classify("STATSFOO", 5), SS_CLI_REPLY_STATS);
}

static void reply_end_waits_for_the_newline_of_a_one_line_reply(void **state)
{
	const char *r = "OK\nPONG\n";
	(void)state;
	assert_int_equal(ss_cli_reply_end(r, 0, SS_CLI_REPLY_LINE), 0);
	assert_int_equal(ss_cli_reply_end(r, 2, SS_CLI_REPLY_LINE), 0);
	assert_int_equal(ss_cli_reply_end(r, 3, SS_CLI_REPLY_LINE), 3);
	assert_int_equal(ss_cli_reply_end(r, 8, SS_CLI_REPLY_LINE), 3);
	assert_int_equal(ss_cli_reply_end(r, 8, SS_CLI_REPLY_QUIT), 3);
}

static void reply_end_of_stats_is_the_end_line_however_the_bytes_are_split(void **state)
{
	const char *r = "STAT version 0.1.0\nSTAT clients 1\nSTAT x ENDING\nEND\nPONG\n";
	size_t full = strlen(r) - strlen("PONG\n"), i;
	(void)state;
	/* Every prefix shorter than the reply is incomplete. */
	for (i = 0; i < full; i++)
		assert_int_equal(ss_cli_reply_end(r, i, SS_CLI_REPLY_STATS), 0);
	assert_int_equal(ss_cli_reply_end(r, full, SS_CLI_REPLY_STATS), full);
	assert_int_equal(ss_cli_reply_end(r, strlen(r), SS_CLI_REPLY_STATS), full);
	assert_int_equal(ss_cli_reply_end("END\r\n", 5, SS_CLI_REPLY_STATS), 5);
}

static void reply_end_of_stats_that_failed_is_its_err_line(void **state)
{
	const char *r = "ERR wrong number of arguments for 'STATS'\nOK\n";
	(void)state;
	assert_int_equal(ss_cli_reply_end(r, strlen(r), SS_CLI_REPLY_STATS),
			 strlen(r) - strlen("OK\n"));
}

static void err_replies_are_recognised_by_their_first_word(void **state)
{
	(void)state;
	assert_true(ss_cli_reply_is_err("ERR invalid ttl\n", 16));
	assert_true(ss_cli_reply_is_err("ERR\n", 4));
	assert_false(ss_cli_reply_is_err("ERRATA\n", 7));
	assert_false(ss_cli_reply_is_err("OK\n", 3));
	assert_false(ss_cli_reply_is_err("ER", 2));
	/* A checkpoint value may start with ERR-like bytes only if not "ERR ". */
	assert_false(ss_cli_reply_is_err("ERR_value\n", 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(options_default_to_localhost_7070_5s_and_batch_mode),
	    cmocka_unit_test(options_short_long_and_glued_forms_are_accepted),
	    cmocka_unit_test(options_stop_at_the_command_so_arguments_may_start_with_a_dash),
	    cmocka_unit_test(options_help_is_recognised),
	    cmocka_unit_test(options_bad_values_are_usage_errors_with_a_message),
	    cmocka_unit_test(join_puts_single_spaces_between_arguments_and_ends_with_newline),
	    cmocka_unit_test(join_refuses_line_breaks_and_commands_without_a_token),
	    cmocka_unit_test(classify_reads_the_first_token_case_insensitively),
	    cmocka_unit_test(reply_end_waits_for_the_newline_of_a_one_line_reply),
	    cmocka_unit_test(reply_end_of_stats_is_the_end_line_however_the_bytes_are_split),
	    cmocka_unit_test(reply_end_of_stats_that_failed_is_its_err_line),
	    cmocka_unit_test(err_replies_are_recognised_by_their_first_word),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
