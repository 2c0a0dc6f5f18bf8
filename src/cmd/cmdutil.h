/*
 * cmdutil.h - what the command handlers share across the cmd layer's
 * files: the error reply, argument checks, the echo of client bytes. Not
 * for other layers.
 */
#ifndef STATESTORED_CMD_CMDUTIL_H
#define STATESTORED_CMD_CMDUTIL_H

#include <stdint.h>

#include "cmd/cmd.h"

/* Replies with the error msg (formatted) and counts it; SS_CMD_WAIT while
 * earlier replies are owed. */
enum ss_cmd_status ss_cmd_error(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies at most max bytes of t into buf (max + 1 bytes) for an error
 * message, printable bytes only ('?' for the others): a reply line must
 * never carry a '\r', a NUL or other control bytes a client sent. Returns
 * buf. */
const char *ss_cmd_echo(const struct ss_token *t, char *buf, size_t max);

/* NULL if t is a valid pipeline name, else the reason it is refused. */
const char *ss_cmd_check_name(const struct ss_token *t);

/* Parses a count: 1..max. Returns 0 and *out, or -1. */
int ss_cmd_parse_count(const struct ss_token *t, uint64_t max, uint64_t *out);

/* LIST_CHECKPOINTS (list.c). */
enum ss_cmd_status ss_cmd_list(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out);

#endif
