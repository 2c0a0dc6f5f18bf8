/*
 * proto.h - the protocol seam: a wire format is a parser and a set of reply
 * primitives, and nothing else.
 *
 * Each request is read and answered in one protocol (struct ss_proto),
 * which the session picks by the request's first byte. The parser turns
 * its input bytes into one request at a time; the command handlers (cmd.h)
 * answer only through the reply primitives - ok, error, integer, value,
 * null, a status word, named rows - and never write protocol bytes
 * themselves. So a handler does not know which wire format it speaks, a
 * new wire format is one new file that fills this table, and a new command
 * is one table row and one handler, whatever the format.
 *
 * Every function here is pure: bytes in, bytes appended to a buffer out;
 * no connection state, no I/O.
 */
#ifndef STATESTORED_PROTO_PROTO_H
#define STATESTORED_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "statestored/limits.h"

struct ss_token {
	const char *p;
	size_t n;
};

/* Tokens a request keeps without allocating. */
#define SS_ARGS_INLINE 16

/* A parsed request. ss_request_init before the first parse and
 * ss_request_free after the last: a request of more than SS_ARGS_INLINE
 * tokens keeps them in an array it allocates and reuses. */
struct ss_request {
	int argc;     /* tokens kept in argv, at most SS_ARGS_MAX */
	int too_many; /* 1 if the request had more than SS_ARGS_MAX tokens */
	int nomem;    /* 1 if the token array could not grow: argv is cut */
	/* When parse returns -1: why, or NULL for a text line too long. */
	const char *error;
	char errbuf[64];
	struct ss_token *argv;
	struct ss_token inline_argv[SS_ARGS_INLINE];
	struct ss_token *heap;
	size_t heap_cap;
};

void ss_request_init(struct ss_request *req);
void ss_request_free(struct ss_request *req);
/* Appends the token p[0..n) to req->argv (for parsers). Returns 0, or -1
 * with req->nomem set, or with req->too_many set past SS_ARGS_MAX. */
int ss_request_add(struct ss_request *req, const char *p, size_t n);

struct ss_proto {
	const char *name;
	int resp; /* 0: the text protocol; 2 or 3: that RESP version */
	/* Parses the first request of buf[0..len) (buf may be NULL when len
	 * is 0), whose size is bounded by max_line. Returns > 0, the bytes it
	 * took, with *req filled (its tokens point into buf; argc 0 is an
	 * empty request, which gets no reply); 0 if more bytes are needed; -1
	 * if the request is too long or malformed (req->error; the caller
	 * answers and closes). */
	long (*parse)(const char *buf, size_t len, size_t max_line, struct ss_request *req);
	/* The replies. Each appends one complete reply to out and returns 0,
	 * or -1 with errno ENOMEM, having appended nothing. */
	int (*ok)(struct ss_buf *out);
	int (*status)(struct ss_buf *out, const char *word); /* a word: PONG */
	int (*error)(struct ss_buf *out, const char *msg);   /* msg: the reason */
	int (*integer)(struct ss_buf *out, long long v);
	int (*value)(struct ss_buf *out, const char *p, size_t n);
	int (*null)(struct ss_buf *out); /* no such checkpoint */
	/* Named rows (STATS): rows_begin, then row for each, then rows_end.
	 * rows_end is told where the rows began (ss_buf_size(out) after
	 * rows_begin, or after cursor), how many there were, and whether they
	 * were name-value pairs (row) rather than versions or listed rows: a
	 * format that counts ahead puts its header there. A caller that fails
	 * midway drops what it appended. */
	int (*rows_begin)(struct ss_buf *out);
	int (*row)(struct ss_buf *out, const char *name, const char *value);
	int (*rows_end)(struct ss_buf *out, size_t at, size_t n, int pairs);
	/* Revisions. ok_rev: a commit took revision rev. conflict: a
	 * condition failed; the current revision (0: absent), and the
	 * pipeline that failed it for a multi-commit (name NULL otherwise).
	 * rev_value: a checkpoint with its revision. */
	int (*ok_rev)(struct ss_buf *out, uint64_t rev);
	int (*conflict)(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev);
	int (*rev_value)(struct ss_buf *out, uint64_t rev, const char *p, size_t n);
	/* Versions (HISTORY): rows_begin, version for each, rows_end.
	 * Listings (LIST): cursor, listed for each, rows_end. */
	int (*version)(struct ss_buf *out, uint64_t rev, int64_t commit_ms, const char *p,
		       size_t n);
	int (*cursor)(struct ss_buf *out, uint64_t next);
	int (*listed)(struct ss_buf *out, const char *name, size_t nlen, uint64_t rev,
		      int64_t commit_ms, const char *p, size_t n);
};

/* error() with a printf format; the message is cut at 1 KiB. */
int ss_proto_errorf(const struct ss_proto *p, struct ss_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Returns 1 if the token equals the upper-case word w ignoring ASCII case. */
int ss_token_is(const struct ss_token *t, const char *w);

/* ---- the text protocol (text.c) -------------------------------------
 *
 * Framing: a request is a line ending in '\n'; one '\r' before the '\n' is
 * dropped. Tokens are separated by runs of spaces or tabs. A line holding
 * no token is an empty request (argc 0), which callers ignore. A line may
 * hold at most max_line bytes before its "\r\n" or '\n' (the '\r' that
 * ends a line does not count; any other '\r' does), so a caller that
 * buffers max_line + 2 bytes always holds a whole line or knows it is too
 * long.
 *
 * Replies are one line each: OK, the status word, "ERR <reason>", the
 * integer in decimal, the value as is, NULL; rows are "STAT <name>
 * <value>" lines and then END. Revisions: "OK <rev>", "CONFLICT
 * [<name> ]<rev>", "<rev> <value>"; versions are "<rev> <commit_ms>
 * <value>" lines and then END; a listing is "CURSOR <next>", then
 * "<name> <rev> <commit_ms> <value>" lines, then END.
 */
extern const struct ss_proto ss_proto_text;

/* The text parser, also for clients that must frame lines as the server
 * does (statestore-cli). */
long ss_text_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req);

/* Whether the text reply line[0..len) (its '\n' optional) is an error:
 * "ERR", a space and a reason. A value never holds a space, so a value ERR
 * is not one. */
int ss_text_is_error(const char *line, size_t len);

#endif
