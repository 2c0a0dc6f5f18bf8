/*
 * cmd.h - the command table and dispatcher: one parsed request in, a reply
 * or a staged mutation out.
 *
 * The dispatcher reads the table (durable state only) and appends mutations
 * to the open batch; it never writes the log, never touches a socket and
 * reads no clock. The server decides when a batch is committed and then
 * calls ss_cmd_reply_op for each of its ops.
 */
#ifndef STATESTORED_CMD_H
#define STATESTORED_CMD_H

#include <stdint.h>

#include "statestored/batch.h"
#include "common/buf.h"
#include "proto/proto.h"
#include "statestored/table.h"

struct ss_cmd_env {
	struct ss_table *table; /* durable state, for reads */
	struct ss_batch *batch; /* the open batch, for mutations */
	void *owner;            /* recorded in each staged op */
	int64_t now_ms;         /* unix ms, for TTLs */
	int may_reply;          /* 0 while the caller still owes earlier replies */
	int quota_exceeded;     /* the log is past its quota: refuse SETs */
	uint64_t *rejected;     /* incremented for each ERR reply */
	/* Appends the STATS lines (without END). */
	void (*stats)(void *arg, struct ss_buf *out);
	void *stats_arg;
};

enum ss_cmd_status {
	SS_CMD_REPLIED, /* the reply was appended to out */
	SS_CMD_STAGED,  /* a mutation joined env->batch; its reply follows the commit */
	SS_CMD_WAIT,    /* nothing done: the command answers at once but may_reply
			 * is 0; run it again once earlier replies are out */
	SS_CMD_COMPACT, /* the caller compacts, then calls ss_cmd_reply_compact */
	SS_CMD_QUIT,    /* "OK" appended; close the connection after sending it */
	SS_CMD_NOMEM,   /* out of memory: nothing staged, nothing appended */
};

/* Executes req (argc >= 1). Valid writes never wait: they are staged behind
 * the caller's earlier staged writes, whose replies come first anyway. */
enum ss_cmd_status ss_cmd_execute(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);

/* Appends the reply of a committed op ("OK", or "1"/"0" for a delete). */
int ss_cmd_reply_op(const struct ss_op *op, struct ss_buf *out);

/* Appends the reply of an op whose batch could not be written: errnum is the
 * write's errno. */
int ss_cmd_reply_write_failed(int errnum, struct ss_buf *out);

/* Appends COMPACT's reply: "OK", or "ERR compaction failed: <why>". */
int ss_cmd_reply_compact(const char *failure, struct ss_buf *out);

#endif
