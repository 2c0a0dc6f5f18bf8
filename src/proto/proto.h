/*
 * proto.h - the request parser of the text protocol. Pure: bytes in, one
 * request (or "need more", or an error) out. No connection state, no I/O, no
 * allocation; a second wire format can sit beside it.
 *
 * Framing: a request is a line ending in '\n'; one '\r' before the '\n' is
 * dropped. Tokens are separated by runs of spaces or tabs. A line holding no
 * token is an empty request (argc 0), which callers ignore.
 */
#ifndef STATESTORED_PROTO_H
#define STATESTORED_PROTO_H

#include <stddef.h>

#include "statestored/limits.h"

struct ss_token {
	const char *p;
	size_t n;
};

struct ss_request {
	int argc;     /* tokens kept in argv, at most SS_ARGS_MAX */
	int too_many; /* 1 if the line had more than SS_ARGS_MAX tokens */
	struct ss_token argv[SS_ARGS_MAX];
};

/* Parses the first line of buf[0..len); buf may be NULL when len is 0. A
 * line may hold at most max_line bytes before its "\r\n" or '\n' (the '\r'
 * that ends a line does not count; any other '\r' does). So a caller that
 * buffers max_line + 2 bytes always holds a whole line or knows it is too
 * long. Returns:
 *   > 0  the bytes of the line, '\n' included; *req filled, its tokens
 *        pointing into buf;
 *   0    no '\n' yet and the bytes so far are within max_line: read more;
 *   -1   the line is longer than max_line (with or without its '\n').
 */
long ss_proto_parse(const char *buf, size_t len, size_t max_line, struct ss_request *req);

/* Returns 1 if the token equals the upper-case word w ignoring ASCII case. */
int ss_token_is(const struct ss_token *t, const char *w);

#endif
