/*
 * test_conffile.c - the config file's lines (conffile.h) and the option
 * table (options.h): what a line's name and value are, where a comment
 * starts, quoting, the bounds, and that every row's default parses and
 * prints back as itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/conffile.h"
#include "server/options.h"
#include "statestored/limits.h"
#include "statestored/table.h"

/* What the parse handed over: "line:name=value" (value "(none)" if
 * absent), one per line of got. */
struct seen {
	char got[4096];
	int stop_at; /* return 7 on this line */
};

static int record(void *arg, unsigned line, const char *name, const char *value)
{
	struct seen *s = arg;
	size_t n = strlen(s->got);

	snprintf(s->got + n, sizeof s->got - n, "%u:%s=%s\n", line, name, value ? value : "(none)");
	return (int)line == s->stop_at ? 7 : 0;
}

/* Parses text (a copy: the parse writes into it); returns the parse's
 * result, with *seen filled. */
static int parse(const char *text, struct seen *seen, unsigned *line, const char **why)
{
	char *copy = strdup(text);
	assert_non_null(copy);
	int rc = ss_conffile_parse(copy, strlen(text), record, seen, line, why);
	free(copy);
	return rc;
}

static void names_values_blanks_and_comments(void **state)
{
	struct seen s = {0};
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("# a comment\n"
			       "\n"
			       "   \t\n"
			       "  port   7070  \n"
			       "history 4 # four\n"
			       "\t# indented comment\n"
			       "data-dir /srv/my data\t\n"
			       "bind ::1#no-space-no-comment\n"
			       "sync-thread\n"
			       "log-level #only a comment\n"
			       "last no-newline",
			       &s, &line, &why),
			 0);
	assert_string_equal(s.got, "4:port=7070\n"
				   "5:history=4\n"
				   "7:data-dir=/srv/my data\n"
				   "8:bind=::1#no-space-no-comment\n"
				   "9:sync-thread=(none)\n"
				   "10:log-level=(none)\n"
				   "11:last=no-newline\n");
}

static void crlf_lines_read_as_lf(void **state)
{
	struct seen s = {0};
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("port 1\r\nhistory 2 \r\n\r\n", &s, &line, &why), 0);
	assert_string_equal(s.got, "1:port=1\n2:history=2\n");
}

static void quoted_values_keep_hashes_and_spaces_and_may_be_empty(void **state)
{
	struct seen s = {0};
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("a \"\"\n"
			       "b \" x # y \"  # comment\n"
			       "c \"z\"\n",
			       &s, &line, &why),
			 0);
	assert_string_equal(s.got, "1:a=\n2:b= x # y \n3:c=z\n");
}

static void malformed_lines_name_their_number(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *why;
	} cases[] = {
		{"port 1\nbind \"::1\n", 2, "the quoted value has no closing '\"'"},
		{"\n\nbind \"::1\" x\n", 3, "there is text after the quoted value"},
		{"port 1\nport\0 2\n", 2, "the line holds a NUL byte"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seen s = {0};
		unsigned line = 0;
		const char *why = NULL;
		/* The NUL case has a NUL inside: its length is given. */
		size_t n = i == 2 ? 16 : strlen(cases[i].text);
		char *copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, cases[i].text, n);
		assert_int_equal(ss_conffile_parse(copy, n, record, &s, &line, &why), -1);
		free(copy);
		assert_int_equal(line, cases[i].line);
		assert_string_equal(why, cases[i].why);
	}
}

static void a_line_past_the_bound_is_refused_and_one_at_it_is_not(void **state)
{
	size_t n = 5 + SS_CONFFILE_LINE_MAX + 2;
	char *text = malloc(n + 1);
	struct seen s = {0};
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_non_null(text);
	/* "x 1\n" then a line of exactly the bound. */
	memcpy(text, "x 1\n", 4);
	memset(text + 4, 'a', SS_CONFFILE_LINE_MAX);
	memcpy(text + 4 + SS_CONFFILE_LINE_MAX, "\n", 2);
	assert_int_equal(ss_conffile_parse(text, strlen(text), record, &s, &line, &why), 0);
	/* One byte more (the parse wrote NULs: the text is made again). */
	memcpy(text, "x 1\n", 4);
	memset(text + 4, 'a', SS_CONFFILE_LINE_MAX + 1);
	text[4 + SS_CONFFILE_LINE_MAX + 1] = '\0';
	assert_int_equal(ss_conffile_parse(text, strlen(text), record, &s, &line, &why), -1);
	assert_int_equal(line, 2);
	assert_string_equal(why, "the line is longer than 4096 bytes");
	free(text);
}

static void the_callback_stops_the_parse(void **state)
{
	struct seen s = {.stop_at = 2};
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("a 1\nb 2\nc 3\n", &s, &line, &why), 7);
	assert_string_equal(s.got, "1:a=1\n2:b=2\n");
}

static void every_default_parses_and_prints_as_itself(void **state)
{
	struct ss_server_config cfg;
	size_t n;
	const struct ss_option *o = ss_options(&n);
	char buf[SS_OPTION_TEXT_MAX];

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	assert_int_equal(ss_options_defaults(&cfg), 0);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ss_option_text(&o[i], &cfg, buf), o[i].def);
	/* The defaults the rest of the code names by macro. */
	assert_int_equal(cfg.max_line, SS_LINE_MAX_DEFAULT);
	assert_int_equal(cfg.history, SS_HISTORY_DEFAULT);
	assert_int_equal(cfg.port, 7070);
	assert_int_equal(cfg.sync_thread, 0);
}

static void values_are_checked_against_their_row(void **state)
{
	struct ss_server_config cfg;
	char want[128];

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	assert_int_equal(ss_option_set(ss_option_find("port"), &cfg, "65536", want, sizeof want), -1);
	assert_string_equal(want, "want a port from 0 to 65535, or none");
	assert_int_equal(ss_option_set(ss_option_find("port"), &cfg, "65535", want, sizeof want), 0);
	assert_int_equal(cfg.port, 65535);
	/* "none": no listener on that port (TLS only, or no TLS). */
	assert_int_equal(ss_option_set(ss_option_find("port"), &cfg, "none", want, sizeof want), 0);
	assert_int_equal(cfg.port, -1);
	assert_int_equal(ss_option_set(ss_option_find("tls-port"), &cfg, "-1", want, sizeof want),
			 -1);
	assert_int_equal(ss_option_set(ss_option_find("tls-auth-clients"), &cfg, "optional", want,
				       sizeof want),
			 0);
	assert_int_equal(cfg.tls_auth_clients, 1);
	assert_int_equal(ss_option_set(ss_option_find("tls-auth-clients"), &cfg, "required", want,
				       sizeof want),
			 -1);
	assert_string_equal(want, "want no, optional or yes");
	assert_int_equal(ss_option_set(ss_option_find("bind"), &cfg, "localhost", want, sizeof want),
			 -1);
	assert_int_equal(ss_option_set(ss_option_find("sync-thread"), &cfg, "on", want, sizeof want),
			 -1);
	assert_string_equal(want, "want yes or no");
	assert_int_equal(ss_option_set(ss_option_find("auto-compact-min"), &cfg,
				       "9223372036854775807", want, sizeof want),
			 0);
	assert_int_equal(cfg.auto_compact_min, INT64_MAX);
	assert_null(ss_option_find("dir")); /* Redis's name is CONFIG GET's only */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_values_blanks_and_comments),
		cmocka_unit_test(crlf_lines_read_as_lf),
		cmocka_unit_test(quoted_values_keep_hashes_and_spaces_and_may_be_empty),
		cmocka_unit_test(malformed_lines_name_their_number),
		cmocka_unit_test(a_line_past_the_bound_is_refused_and_one_at_it_is_not),
		cmocka_unit_test(the_callback_stops_the_parse),
		cmocka_unit_test(every_default_parses_and_prints_as_itself),
		cmocka_unit_test(values_are_checked_against_their_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
