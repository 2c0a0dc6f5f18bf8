/*
 * test_cli.c - the CLI's pure parts: option parsing, argument joining,
 * request classification and reply framing; and ss_stdfds_ensure, which the
 * CLI runs first. The socket side is covered by tests/integration/test_cli.py
 * against the real daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tools/cli/cli.h"
#include "common/stdfds.h"

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
	assert_int_equal(o.version, 0);
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

static void options_version_is_recognised_in_both_forms(void **state)
{
	char *argv[] = {"cli", "-V"};
	char *argv2[] = {"cli", "-p", "1", "--version"};
	char *argv3[] = {"cli", "PING", "-V"}; /* after the command: an argument */
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(argv), argv, &o, err, sizeof(err)), 0);
	assert_int_equal(o.version, 1);
	assert_int_equal(ss_cli_parse_options(ARGC(argv2), argv2, &o, err, sizeof(err)), 0);
	assert_int_equal(o.version, 1);
	assert_int_equal(ss_cli_parse_options(ARGC(argv3), argv3, &o, err, sizeof(err)), 0);
	assert_int_equal(o.version, 0);
	assert_int_equal(o.cmd_index, 1);
}

static void options_timeout_out_of_range_names_the_valid_range(void **state)
{
	char *big[] = {"cli", "-t", "99999999999"};
	char *zero[] = {"cli", "--timeout=0"};
	char *max[] = {"cli", "-t", "86400"};
	struct ss_cli_options o;
	char err[128];
	(void)state;
	assert_int_equal(ss_cli_parse_options(ARGC(big), big, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "invalid timeout '99999999999' (want seconds, more than 0 and at "
				 "most 86400)");
	assert_int_equal(ss_cli_parse_options(ARGC(zero), zero, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 0 and at most 86400"));
	assert_int_equal(ss_cli_parse_options(ARGC(max), max, &o, err, sizeof(err)), 0);
	assert_int_equal(o.timeout_ms, 86400000);
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
	char err[128];
	char *line;
	(void)state;
	line = ss_cli_join_args(args, 3, &len, err, sizeof(err));
	assert_non_null(line);
	assert_string_equal(line, "SET_CHECKPOINT orders 1000\n");
	assert_int_equal(len, strlen(line));
	free(line);
}

/* Expects args[0..n) to be refused with EINVAL and exactly message msg. */
static void assert_join_refused(char *const *args, int n, const char *msg)
{
	char err[256];
	size_t len;
	errno = 0;
	assert_null(ss_cli_join_args(args, n, &len, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(err, msg);
}

static void join_refuses_arguments_the_protocol_cannot_carry_naming_them(void **state)
{
	/* "a b" would reach the server as two tokens: SET_CHECKPOINT a b 1
	 * would set a to b with TTL 1. */
	char *space[] = {"SET_CHECKPOINT", "a b", "1"};
	char *tab[] = {"SET_CHECKPOINT", "a\tb", "1"};
	char *empty[] = {"SET_CHECKPOINT", "a", ""};
	char *nl[] = {"GET_CHECKPOINT", "a\nDEL_CHECKPOINT b"};
	char *cr[] = {"PING\r"};
	char *blanks[] = {" ", "\t"};
	char *ctl[] = {"PING", "\x01"};
	(void)state;
	assert_join_refused(space, 3, "argument 2 'a b' contains a space: the protocol cannot "
				      "carry it");
	assert_join_refused(tab, 3, "argument 2 'a\\tb' contains a tab: the protocol cannot "
				    "carry it");
	assert_join_refused(empty, 3, "argument 3 '' is empty: the protocol cannot carry it");
	assert_join_refused(nl, 2, "argument 2 'a\\nDEL_CHECKPOINT b' contains a newline: the "
				   "protocol cannot carry it");
	assert_join_refused(cr, 1, "argument 1 'PING\\r' contains a carriage return: the "
				   "protocol cannot carry it");
	assert_join_refused(blanks, 2, "argument 1 ' ' contains a space: the protocol cannot "
				       "carry it");
	assert_join_refused(space, 0, "no command");
	/* Other control bytes are the server's to refuse (unknown command,
	 * invalid name): only what changes the tokens is ours. */
	{
		size_t len;
		char err[64];
		char *line = ss_cli_join_args(ctl, 2, &len, err, sizeof(err));
		assert_non_null(line);
		assert_string_equal(line, "PING \x01\n");
		free(line);
	}
}

static void join_quotes_a_long_refused_argument_cut_short(void **state)
{
	char arg[200];
	char *args[] = {"GET_CHECKPOINT", arg};
	char want[256];
	(void)state;
	memset(arg, 'x', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	arg[150] = ' ';
	/* 64 bytes quoted, then "...": the message stays one short line. */
	snprintf(want, sizeof(want), "argument 2 '%.64s...' contains a space: the protocol cannot "
				     "carry it", arg);
	assert_join_refused(args, 2, want);
}

/* Classifies line (which must end in '\n') as the CLI does: parsed by the
 * server's parser first. */
static enum ss_cli_reply classify(const char *line)
{
	struct ss_request req;
	enum ss_cli_reply kind;
	long used;

	ss_request_init(&req);
	used = ss_text_parse(line, strlen(line), strlen(line), &req);
	assert_int_equal(used, (long)strlen(line));
	kind = ss_cli_classify(&req);
	ss_request_free(&req);
	return kind;
}

static void classify_reads_the_request_as_the_server_parses_it(void **state)
{
	(void)state;
	assert_int_equal(classify("\n"), SS_CLI_REPLY_NONE);
	assert_int_equal(classify(" \t \n"), SS_CLI_REPLY_NONE);
	assert_int_equal(classify("\r\n"), SS_CLI_REPLY_NONE);
	assert_int_equal(classify("stats\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("  StAtS\t\r\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("STATSX\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("quit\n"), SS_CLI_REPLY_QUIT);
	assert_int_equal(classify("GET_CHECKPOINT stats\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("PING\n"), SS_CLI_REPLY_LINE);
	/* CONFIG_GET answers rows, or one ERR line (too many arguments),
	 * which ss_cli_reply_end ends after that line. */
	assert_int_equal(classify("config_get\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("CONFIG_GET max-*\n"), SS_CLI_REPLY_ROWS);
	/* Only one '\r' before the newline is dropped: "STATS\r" is an
	 * unknown command, with a one-line reply. */
	assert_int_equal(classify("STATS\r\r\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("QUIT\r\r\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("\r\r\n"), SS_CLI_REPLY_LINE);
}

static void classify_stats_and_quit_with_arguments_are_one_line_errors(void **state)
{
	/* "QUIT" and SS_ARGS_MAX + 1 times " x", a newline and a NUL. */
	size_t size = 4 + 2 * ((size_t)SS_ARGS_MAX + 1) + 2, pos = 4;
	char *many = malloc(size);
	int i;
	(void)state;
	assert_non_null(many);
	memcpy(many, "QUIT", 4);
	/* The server answers them "ERR wrong number of arguments" and keeps
	 * the connection: no multi-line reply, and the batch must go on. */
	assert_int_equal(classify("STATS extra\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("QUIT x\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("quit\tnow \r\n"), SS_CLI_REPLY_LINE);
	/* Past SS_ARGS_MAX tokens: "ERR too many arguments". */
	for (i = 0; i <= SS_ARGS_MAX; i++) {
		many[pos++] = ' ';
		many[pos++] = 'x';
	}
	many[pos++] = '\n';
	many[pos] = '\0';
	assert_int_equal(classify(many), SS_CLI_REPLY_LINE);
	free(many);
}

static void classify_history_and_list_expect_rows_whatever_their_arguments(void **state)
{
	(void)state;
	assert_int_equal(classify("HISTORY_CHECKPOINT orders\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("history_checkpoint orders 3\r\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("LIST_CHECKPOINTS 0\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("List_Checkpoints 0 PREFIX a/ COUNT 5\n"), SS_CLI_REPLY_ROWS);
	/* Bad arguments get one ERR line, which ends a ROWS reply too. */
	assert_int_equal(classify("LIST_CHECKPOINTS\n"), SS_CLI_REPLY_ROWS);
	assert_int_equal(classify("HISTORY_CHECKPOINT a b c d\n"), SS_CLI_REPLY_ROWS);
	/* The one-line new commands. */
	assert_int_equal(classify("GETREV_CHECKPOINT orders\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("CAS_CHECKPOINT orders 7 1000\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("MSET_CHECKPOINT a 1 b 2\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("MCAS_CHECKPOINT a 0 1 b 0 2\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("ROLLBACK_CHECKPOINT orders 3\n"), SS_CLI_REPLY_LINE);
	assert_int_equal(classify("HISTORY_CHECKPOINTS orders\n"), SS_CLI_REPLY_LINE);
}

static void classify_takes_a_multi_commit_of_many_pipelines(void **state)
{
	/* More tokens than a request keeps inline: the parser's heap array. */
	size_t n = 5000, size = 16 + n * 24, pos;
	char *line = malloc(size);
	(void)state;
	assert_non_null(line);
	pos = (size_t)snprintf(line, size, "MSET_CHECKPOINT");
	for (size_t i = 0; i < n; i++)
		pos += (size_t)snprintf(line + pos, size - pos, " p%zu %zu", i, i);
	snprintf(line + pos, size - pos, "\n");
	assert_int_equal(classify(line), SS_CLI_REPLY_LINE);
	free(line);
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
		assert_int_equal(ss_cli_reply_end(r, i, SS_CLI_REPLY_ROWS), 0);
	assert_int_equal(ss_cli_reply_end(r, full, SS_CLI_REPLY_ROWS), full);
	assert_int_equal(ss_cli_reply_end(r, strlen(r), SS_CLI_REPLY_ROWS), full);
	assert_int_equal(ss_cli_reply_end("END\r\n", 5, SS_CLI_REPLY_ROWS), 5);
}

static void reply_end_of_history_and_list_is_the_end_line(void **state)
{
	/* A row may hold END as a name or a value: never as the whole line. */
	const char *h = "9 1700000000000 END\n5 1699999999999 300\nEND\nPONG\n";
	const char *l = "CURSOR 0\nEND 4 1700000000000 7\nx 5 1700000000001 END\nEND\nOK 6\n";
	const char *empty = "CURSOR 655361\nEND\n";
	size_t hfull = strlen(h) - strlen("PONG\n"), lfull = strlen(l) - strlen("OK 6\n"), i;
	(void)state;
	for (i = 0; i < hfull; i++)
		assert_int_equal(ss_cli_reply_end(h, i, SS_CLI_REPLY_ROWS), 0);
	assert_int_equal(ss_cli_reply_end(h, strlen(h), SS_CLI_REPLY_ROWS), hfull);
	for (i = 0; i < lfull; i++)
		assert_int_equal(ss_cli_reply_end(l, i, SS_CLI_REPLY_ROWS), 0);
	assert_int_equal(ss_cli_reply_end(l, strlen(l), SS_CLI_REPLY_ROWS), lfull);
	/* No rows (a missing pipeline, or a sparse stretch of the table). */
	assert_int_equal(ss_cli_reply_end("END\n", 4, SS_CLI_REPLY_ROWS), 4);
	assert_int_equal(ss_cli_reply_end(empty, strlen(empty), SS_CLI_REPLY_ROWS),
			 strlen(empty));
	/* Bad arguments: the ERR line is the whole reply. */
	l = "ERR invalid cursor: use 0 or a cursor LIST_CHECKPOINTS returned\nPONG\n";
	assert_int_equal(ss_cli_reply_end(l, strlen(l), SS_CLI_REPLY_ROWS),
			 strlen(l) - strlen("PONG\n"));
}

static void conflict_is_the_word_a_space_and_more(void **state)
{
	(void)state;
	assert_true(ss_cli_is_conflict("CONFLICT 8\n", 11));
	assert_true(ss_cli_is_conflict("CONFLICT 0", 10));
	assert_true(ss_cli_is_conflict("CONFLICT orders/p3 12\n", 22));
	/* Values (they hold no space) and other replies are not. */
	assert_false(ss_cli_is_conflict("CONFLICT\n", 9));
	assert_false(ss_cli_is_conflict("CONFLICT \n", 10));
	assert_false(ss_cli_is_conflict("CONFLICTS\n", 10));
	assert_false(ss_cli_is_conflict("conflict 8\n", 11));
	assert_false(ss_cli_is_conflict("OK 8\n", 5));
	assert_false(ss_cli_is_conflict("8 CONFLICT\n", 11));
	assert_false(ss_cli_is_conflict("", 0));
}

static void reply_end_of_stats_that_failed_is_its_err_line(void **state)
{
	const char *r = "ERR max clients reached\nOK\n";
	(void)state;
	assert_int_equal(ss_cli_reply_end(r, strlen(r), SS_CLI_REPLY_ROWS),
			 strlen(r) - strlen("OK\n"));
	/* "ERR" alone is no error line: the STATS reply goes on to END. */
	r = "ERR\nEND\nOK\n";
	assert_int_equal(ss_cli_reply_end(r, strlen(r), SS_CLI_REPLY_ROWS), 8);
}


/* In a child: closes the descriptors in mask (bit fd for fd 0..2), runs
 * ss_stdfds_ensure and checks the result. Exits 0 if all is well, else the
 * number of the check that failed. No cmocka here: it may print to a
 * descriptor the child closed. */
static void stdfds_child(int mask)
{
	struct stat before[3], after, devnull;
	char ch;
	int fd, s;

	if (stat("/dev/null", &devnull) != 0)
		_exit(10);
	for (fd = 0; fd <= 2; fd++) {
		if (fstat(fd, &before[fd]) != 0)
			_exit(11);
		if ((mask & (1 << fd)) && close(fd) != 0)
			_exit(12);
	}
	if (ss_stdfds_ensure() != 0)
		_exit(13);
	for (fd = 0; fd <= 2; fd++) {
		int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
		if (fl < 0 || fdfl < 0 || fstat(fd, &after) != 0)
			_exit(14);
		if (!(mask & (1 << fd))) {
			/* Open before: left exactly as it was. */
			if (after.st_dev != before[fd].st_dev || after.st_ino != before[fd].st_ino)
				_exit(15);
			continue;
		}
		/* Closed before: /dev/null, read-only, inherited across exec. */
		if (!S_ISCHR(after.st_mode) || after.st_rdev != devnull.st_rdev)
			_exit(16);
		if ((fl & O_ACCMODE) != O_RDONLY || (fdfl & FD_CLOEXEC))
			_exit(17);
	}
	/* A write to what was a closed stdout fails as it did: EBADF. */
	if ((mask & 2) && (write(1, "x", 1) != -1 || errno != EBADF))
		_exit(18);
	/* A read of what was a closed stdin sees EOF. */
	if ((mask & 1) && read(0, &ch, 1) != 0)
		_exit(19);
	/* And the next descriptor is not one of 0..2. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 3)
		_exit(20);
	_exit(0);
}

static void stdfds_fills_closed_standard_descriptors_with_read_only_dev_null(void **state)
{
	/* Each set of closed descriptors, from none to all three. */
	int mask;
	(void)state;
	for (mask = 0; mask < 8; mask++) {
		int st;
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			stdfds_child(mask);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(options_default_to_localhost_7070_5s_and_batch_mode),
	    cmocka_unit_test(options_short_long_and_glued_forms_are_accepted),
	    cmocka_unit_test(options_stop_at_the_command_so_arguments_may_start_with_a_dash),
	    cmocka_unit_test(options_help_is_recognised),
	    cmocka_unit_test(options_version_is_recognised_in_both_forms),
	    cmocka_unit_test(options_timeout_out_of_range_names_the_valid_range),
	    cmocka_unit_test(options_bad_values_are_usage_errors_with_a_message),
	    cmocka_unit_test(join_puts_single_spaces_between_arguments_and_ends_with_newline),
	    cmocka_unit_test(join_refuses_arguments_the_protocol_cannot_carry_naming_them),
	    cmocka_unit_test(join_quotes_a_long_refused_argument_cut_short),
	    cmocka_unit_test(classify_reads_the_request_as_the_server_parses_it),
	    cmocka_unit_test(classify_stats_and_quit_with_arguments_are_one_line_errors),
	    cmocka_unit_test(classify_history_and_list_expect_rows_whatever_their_arguments),
	    cmocka_unit_test(classify_takes_a_multi_commit_of_many_pipelines),
	    cmocka_unit_test(reply_end_waits_for_the_newline_of_a_one_line_reply),
	    cmocka_unit_test(reply_end_of_stats_is_the_end_line_however_the_bytes_are_split),
	    cmocka_unit_test(reply_end_of_stats_that_failed_is_its_err_line),
	    cmocka_unit_test(reply_end_of_history_and_list_is_the_end_line),
	    cmocka_unit_test(conflict_is_the_word_a_space_and_more),
	    cmocka_unit_test(stdfds_fills_closed_standard_descriptors_with_read_only_dev_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
