/*
 * session.h - one client's requests, from its input bytes to its replies.
 *
 * A session is the part of a connection that has nothing to do with
 * sockets: the input and output buffers, the count of staged mutations that
 * still owe a reply, and the flags that pause execution. This module runs
 * the complete requests in the input through the parser and the command
 * dispatcher, and answers a session's ops once their batch is committed. It
 * keeps three of the server's invariants (server.c lists them all):
 *
 *   - replies leave in request order: while mutations owe replies, only
 *     further valid mutations execute (they are answered in batch order);
 *     anything that would reply at once waits for the next commit;
 *   - nothing unsynced is read: a read never runs while the same session
 *     has staged mutations, and mutations reach the table only through the
 *     server's commit;
 *   - a session never holds more than one line of input or, once its
 *     output passes SS_SESSION_OUT_HIGH, executes nothing more until the
 *     output is sent (backpressure).
 *
 * It does no I/O and keeps no state of its own: the server (conn.c moves the
 * bytes, clients.c runs it, commit.c commits) and the fuzz harness
 * tests/fuzz/fuzz_conn.c drive the same code.
 */
#ifndef STATESTORED_SESSION_H
#define STATESTORED_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "statestored/batch.h"
#include "common/buf.h"
#include "cmd/cmd.h"
#include "proto/proto.h"
#include "statestored/table.h"

/* Unsent output past which a session executes nothing more. */
#define SS_SESSION_OUT_HIGH (256 * 1024)
/* Bytes taken per read; an idle session's buffers shrink back to this. */
#define SS_SESSION_READ_STEP (16 * 1024)

/* Where a session's COMPACT is. */
enum ss_compact_wait {
	SS_COMPACT_NONE = 0,   /* no COMPACT waits */
	SS_COMPACT_QUEUED,     /* for the next compaction to start */
	SS_COMPACT_RUNNING,    /* for the one that runs now to end */
	SS_BACKUP_QUEUED,      /* a BACKUP waits for its turn (backup_*) */
	SS_BACKUP_RUNNING,     /* ... its backup runs */
};

/* A queued BACKUP's arguments, copied out of the request. */
struct ss_backup_request {
	char *dir;
	char *prefix; /* NULL: every name */
	size_t plen;
	uint64_t seq; /* the order BACKUPs arrived in */
};

struct ss_session {
	const struct ss_proto *proto; /* the wire format of its latest request */
	struct ss_client_state client; /* what RESP commands keep per connection */
	struct ss_buf in, out;
	size_t pending;            /* staged mutations not yet answered */
	unsigned closed : 1;       /* the connection is gone: execute nothing */
	unsigned eof : 1;          /* the peer shut its side */
	unsigned close_after : 1;  /* close once out is sent (QUIT, line too long) */
	unsigned batch_wait : 1;   /* waiting for room in the open batch */
	unsigned need_more : 1;    /* in holds no complete request */
	unsigned auth_wait : 1;    /* an AUTH waits for the server's slow check
				    * (client.auth_*): the server clears it */
	unsigned repl_wait : 1;    /* a REPLSYNC asked to become a replica's
				    * link (repl): the server takes the connection */
	enum ss_compact_wait compact_wait;
	struct ss_backup_request backup; /* while compact_wait is SS_BACKUP_* */
	uint64_t mark;             /* the commit that last answered it (ss_session_answer) */
};

/* What the server lends a session for one ss_session_execute call. */
struct ss_session_env {
	struct ss_table *table;  /* durable state, for reads */
	struct ss_batch *batch;  /* the open batch, for mutations */
	struct ss_pending *pending; /* staged state, revisions (pending.h) */
	int64_t now_ms;          /* unix ms, for TTLs */
	size_t max_line;         /* longest request line, without "\r\n" */
	size_t batch_max_bytes;  /* the open batch takes no more past this size */
	int stopping;            /* shutting down: execute nothing */
	int quota_exceeded;      /* the log is past its quota: SETs are refused */
	uint64_t *rejected;      /* incremented for each ERR reply */
	int *compact_requested;  /* set to 1 when a COMPACT is queued */
	uint64_t *backups_queued; /* incremented when a BACKUP is queued */
	uint64_t *backup_seq;     /* numbers the queued BACKUPs */
	/* Appends STATS' rows and CLIENT LIST's lines (cmd.h). */
	int (*stats)(void *arg, const struct ss_proto *proto, struct ss_buf *out);
	int (*clients)(void *arg, struct ss_buf *out);
	long long (*kill)(void *arg, const struct ss_client_filter *f);
	void *stats_arg;
	const struct ss_cmd_config *config; /* CONFIG GET's settings */
	size_t nconfig;
	const struct ss_acl *acl; /* the users, or NULL: no authentication */
	uint64_t *denied;         /* optional: counts NOAUTH and NOPERM */
	const struct ss_cmd_repl *repl; /* replication, or NULL */
	/* Optional, NULL in the daemon: called after each request has run,
	 * before its input is consumed, with what the dispatcher saw (req is
	 * NULL for an over-long line, answered without the dispatcher), its
	 * status, and the sizes of s->out and the batch before it ran (s->pending
	 * is still the count before it). The fuzz harness checks every result
	 * against a reference through it. */
	void (*observe)(void *arg, const struct ss_session *s, const struct ss_request *req,
			enum ss_cmd_status st, size_t out_before, size_t nops_before);
	void *observe_arg;
};

enum ss_session_result {
	SS_SESSION_IDLE, /* nothing more to execute until more input or a commit */
	SS_SESSION_HIGH, /* output at the high mark: send it, then call again */
	SS_SESSION_FULL, /* the open batch is full: call again after the next commit */
	SS_SESSION_NOMEM, /* out of memory: the caller closes the connection */
};

/* Initialises s: empty buffers, nothing pending, client id id. Each
 * request is parsed and answered in the protocol its first byte names:
 * '*' is RESP (in the version HELLO chose, 2 until then), anything else
 * the text protocol. A session switches protocol only between replies:
 * a request in the other protocol waits until every reply owed is out. */
void ss_session_init(struct ss_session *s, uint64_t id);
void ss_session_free(struct ss_session *s);

/* Frees a BACKUP's arguments once it is answered. */
void ss_session_backup_clear(struct ss_session *s);

/* How many bytes may be read into s->in now: what fits under max_line
 * (plus "\r\n"), at most SS_SESSION_READ_STEP. 0 means stop reading. */
size_t ss_session_room(const struct ss_session *s, size_t max_line);

/* After output was sent: frees empty buffers larger than a read step, so an
 * idle session costs little. */
void ss_session_trim(struct ss_session *s);

/* Executes the complete requests in s->in until one must wait, and says why
 * it stopped. Ops it stages record s as their owner. A COMPACT sets
 * s->compact_wait to SS_COMPACT_QUEUED and *env->compact_requested; the
 * caller runs the compaction and answers with ss_cmd_reply_compact. An
 * over-long request is answered with the error "line too long" (once
 * earlier replies are out), and the session closes after it. */
enum ss_session_result ss_session_execute(struct ss_session *s, const struct ss_session_env *env);

/* Answers op of b, owned by a session, after b's commit (number seq, not
 * 0): its reply if written, else the write's ERR (errnum); one reply fewer
 * is pending. An op that owes no reply (all but the last of a
 * multi-commit) does nothing and returns 0. Returns SS_ANSWER_FIRST the first time seq answers this
 * session (the caller resumes it once the whole batch is answered), plus
 * SS_ANSWER_NOMEM if the reply could not be appended (the caller closes the
 * connection). */
#define SS_ANSWER_FIRST 1
#define SS_ANSWER_NOMEM 2
int ss_session_answer(const struct ss_batch *b, const struct ss_op *op, int written, int errnum,
		      uint64_t seq);

/* An op of s staged or held, answered early with the error msg instead
 * (ss_commit_abandon: its outcome is unknown); one reply fewer is pending.
 * Returns 0, or -1 if the reply could not be appended. */
int ss_session_abandon(struct ss_session *s, const char *msg);

/* 1 if the session is finished: closed, or closing with nothing left to
 * send, or at EOF with every reply sent and no complete line left. */
int ss_session_done(const struct ss_session *s);

/* 1 if s->in holds an incomplete request (a partial line or RESP frame),
 * as the last ss_session_execute found it; a session whose execution
 * waits (its COMPACT or BACKUP, replies owed before a switch of protocol,
 * a full batch) is judged when it runs again. */
int ss_session_partial(const struct ss_session *s);

#endif
