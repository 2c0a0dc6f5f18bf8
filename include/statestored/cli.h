/*
 * cli.h - statestore-cli, the command-line client.
 *
 * One-shot:  statestore-cli [options] COMMAND [ARG...]
 *            joins COMMAND and ARGs with spaces, sends that one line, prints
 *            the reply (for STATS every line through END) to stdout.
 * Batch:     statestore-cli [options]            (no command)
 *            reads request lines from stdin, pipelines them over one
 *            connection and prints one reply per request, in order (STATS:
 *            all its lines). Lines without a token are skipped, as the server
 *            would skip them. A QUIT ends the batch.
 *
 * Where an ERR reply goes: one-shot prints it to stderr (so that
 * `v=$(statestore-cli GET_CHECKPOINT x)` never captures an error as a value);
 * batch prints it to stdout like any reply, so output line N still answers
 * input request N, and counts it for the exit code.
 *
 * Timeout (-t): the longest the client waits for the server to make progress
 * (accept the connection, take request bytes, send reply bytes) while it owes
 * a reply. Waiting on stdin in batch mode has no timeout.
 *
 * The pure helpers below (option parsing, argument joining, reply framing)
 * do no I/O so that unit tests can drive them.
 */
#ifndef STATESTORED_CLI_H
#define STATESTORED_CLI_H

#include <stddef.h>

/* Exit codes. */
enum ss_cli_exit {
	SS_CLI_EXIT_OK = 0,
	SS_CLI_EXIT_ERR_REPLY = 1, /* the server answered ERR (batch: at least once) */
	SS_CLI_EXIT_USAGE = 2,     /* bad options or arguments */
	SS_CLI_EXIT_CONN = 3,      /* could not connect, or the connection broke */
	SS_CLI_EXIT_TIMEOUT = 4,   /* the server made no progress within the timeout */
	SS_CLI_EXIT_LOCAL = 5,     /* out of memory, or reading stdin / writing stdout failed */
};

#define SS_CLI_DEFAULT_HOST "127.0.0.1"
#define SS_CLI_DEFAULT_PORT "7070"
#define SS_CLI_DEFAULT_TIMEOUT_MS 5000
#define SS_CLI_TIMEOUT_MAX_S 86400.0

struct ss_cli_options {
	const char *host;    /* points into argv or at a default */
	const char *port;    /* decimal 1..65535, checked */
	int timeout_ms;      /* > 0 */
	int help;            /* --help given */
	int cmd_index;       /* argv index of the command; == argc for batch mode */
};

/* Parses argv. Options come before the command: the first argument that is
 * not an option (or everything after "--") starts the command, so command
 * arguments may begin with '-'. Accepts -h HOST, -p PORT, -t SECONDS (may be
 * fractional, e.g. 0.5), their long forms --host, --port, --timeout (also as
 * --opt=VALUE), the short forms glued (-p7070), and --help.
 * Returns 0 with *o filled, or -1 with a one-line message in err (NUL
 * terminated, truncated to errlen). */
int ss_cli_parse_options(int argc, char **argv, struct ss_cli_options *o, char *err,
			 size_t errlen);

/* Joins args[0..n) with single spaces and appends '\n'. Returns a malloc'd
 * NUL-terminated string (*len set to its length, newline included), or NULL
 * with errno EINVAL if an argument contains '\n' or '\r' or the line has no
 * token at all (the server would answer nothing), or ENOMEM. */
char *ss_cli_join_args(char *const *args, int n, size_t *len);

/* What a request line expects back. */
enum ss_cli_reply {
	SS_CLI_REPLY_NONE = 0,  /* no token: the server sends nothing */
	SS_CLI_REPLY_LINE = 1,  /* one line */
	SS_CLI_REPLY_STATS = 2, /* "STAT ..." lines then "END" (or one ERR line) */
	SS_CLI_REPLY_QUIT = 3,  /* one line, then the server closes */
};

/* Classifies the request line[0..len) (no newline needed; a trailing '\r'
 * is ignored) by its first token, case-insensitively, as the server does. */
enum ss_cli_reply ss_cli_classify(const char *line, size_t len);

/* Returns the length (final newline included) of the complete reply of kind
 * kind at the start of buf[0..len), or 0 if it is not complete yet. kind is
 * not SS_CLI_REPLY_NONE. A STATS reply ends at a line "END", or after its
 * first line if that starts with "ERR". */
size_t ss_cli_reply_end(const char *buf, size_t len, enum ss_cli_reply kind);

/* Returns 1 if the reply starts with "ERR" (an error reply), else 0. */
int ss_cli_reply_is_err(const char *reply, size_t len);

/* The whole program. Returns an exit code (enum ss_cli_exit). */
int ss_cli_main(int argc, char **argv);

#endif
