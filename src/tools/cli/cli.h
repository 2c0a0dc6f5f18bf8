/*
 * cli.h - statestore-cli, the command-line client.
 *
 * One-shot:  statestore-cli [options] COMMAND [ARG...]
 *            joins COMMAND and ARGs with spaces, sends that one line, prints
 *            the reply (for STATS, HISTORY_CHECKPOINT and LIST_CHECKPOINTS
 *            every line through END) to stdout. An
 *            argument that is empty or holds a space, tab, '\r' or '\n' is
 *            refused: the protocol has no quoting, so the server would split
 *            it (or drop it) and run a different request.
 * Batch:     statestore-cli [options]            (no command)
 *            reads request lines from stdin, pipelines them over one
 *            connection and prints one reply per request, in order (STATS:
 *            all its lines). Each line is cut and tokenized by the server's
 *            own parser (proto.h) and sent as it came, so the client and the
 *            server cannot disagree on what a line is or how many reply lines
 *            it gets. Lines without a token are skipped, as the server would
 *            skip them. A QUIT without arguments ends the batch.
 *
 * Multi-line replies: STATS ("STAT ..." lines), HISTORY_CHECKPOINT
 * ("<rev> <commit_ms> <value>" lines) and LIST_CHECKPOINTS ("CURSOR <next>",
 * then "<name> <rev> <commit_ms> <value>" lines) end with a line "END", or
 * are one ERR line (bad arguments). No row of any of them can be the line
 * "END": each has at least two tokens.
 *
 * An error reply is a line starting with "ERR " (ERR, a space, a reason).
 * Values cannot hold spaces, so no value looks like one; a bare "ERR" or
 * "ERRx" is a value. Where an error reply goes: one-shot prints it to stderr
 * (so that `v=$(statestore-cli GET_CHECKPOINT x)` never captures an error as
 * a value); batch prints it to stdout like any reply, so output line N still
 * answers input request N, and counts it for the exit code.
 *
 * A CONFLICT reply ("CONFLICT <rev>" or "CONFLICT <name> <rev>": a CAS,
 * conditional DEL, MCAS or ROLLBACK whose expected revision was not the
 * current one) is no error: the request was valid and the server decided
 * it, changing nothing. It is printed to stdout in both modes, since the
 * current revision it carries is what a script needs next, and it has its
 * own exit code (6), so that `statestore-cli CAS_CHECKPOINT ...` can be
 * tested with `case $?`. A batch with ERR and CONFLICT replies exits 1: an
 * ERR means a request was wrong, which matters more. A value never holds a
 * space and a GETREV reply starts with a digit, so no other one-line reply
 * starts with "CONFLICT ".
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

#include "proto/proto.h"

/* Exit codes. */
enum ss_cli_exit {
	SS_CLI_EXIT_OK = 0,
	SS_CLI_EXIT_ERR_REPLY = 1, /* the server answered ERR (batch: at least once) */
	SS_CLI_EXIT_USAGE = 2,     /* bad options or arguments */
	SS_CLI_EXIT_CONN = 3,      /* could not connect, or the connection broke */
	SS_CLI_EXIT_TIMEOUT = 4,   /* the server made no progress within the timeout */
	SS_CLI_EXIT_LOCAL = 5,     /* out of memory, or reading stdin / writing stdout failed */
	SS_CLI_EXIT_CONFLICT = 6,  /* the server answered CONFLICT (batch: at least once, no ERR) */
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
	int version;         /* -V or --version given */
	int cmd_index;       /* argv index of the command; == argc for batch mode */
};

/* Parses argv. Options come before the command: the first argument that is
 * not an option (or everything after "--") starts the command, so command
 * arguments may begin with '-'. Accepts -h HOST, -p PORT, -t SECONDS (may be
 * fractional, e.g. 0.5; more than 0, at most SS_CLI_TIMEOUT_MAX_S), their
 * long forms --host, --port, --timeout (also as --opt=VALUE), the short
 * forms glued (-p7070), --help, and -V / --version.
 * Returns 0 with *o filled, or -1 with a one-line message in err (NUL
 * terminated, truncated to errlen). */
int ss_cli_parse_options(int argc, char **argv, struct ss_cli_options *o, char *err,
			 size_t errlen);

/* Joins args[0..n) with single spaces and appends '\n'. Returns a malloc'd
 * NUL-terminated string (*len set to its length, newline included), so the
 * line holds exactly n tokens, args[i] being token i. Returns NULL with errno
 * EINVAL and a one-line message in err (naming the argument by position and
 * content) if n is 0 or an argument is empty or contains a space, a tab,
 * '\r' or '\n'; or NULL with errno ENOMEM. */
char *ss_cli_join_args(char *const *args, int n, size_t *len, char *err, size_t errlen);

/* What a request line expects back. */
enum ss_cli_reply {
	SS_CLI_REPLY_NONE = 0,  /* no token: the server sends nothing */
	SS_CLI_REPLY_LINE = 1,  /* one line */
	SS_CLI_REPLY_ROWS = 2,  /* lines then "END" (or one error line): STATS, HISTORY, LIST */
	SS_CLI_REPLY_QUIT = 3,  /* one line, then the server closes */
};

/* Classifies a request as ss_text_parse made it, as the server would: STATS
 * and QUIT (case-insensitively) are only themselves with no argument; with
 * arguments the server answers them with one ERR line. HISTORY_CHECKPOINT
 * and LIST_CHECKPOINTS are SS_CLI_REPLY_ROWS whatever their arguments: the
 * server's reply to bad ones is one ERR line, which ends a ROWS reply. */
enum ss_cli_reply ss_cli_classify(const struct ss_request *req);

/* Returns the length (final newline included) of the complete reply of kind
 * kind at the start of buf[0..len), or 0 if it is not complete yet. kind is
 * not SS_CLI_REPLY_NONE. A ROWS reply ends at a line "END", or after its
 * first line if that is an error reply. */
size_t ss_cli_reply_end(const char *buf, size_t len, enum ss_cli_reply kind);

/* Whether the one-line reply line[0..len) (its '\n' optional) is a
 * CONFLICT: "CONFLICT", a space and something after it. */
int ss_cli_is_conflict(const char *line, size_t len);


/* The whole program. Returns an exit code (enum ss_cli_exit). */
int ss_cli_main(int argc, char **argv);

#endif
