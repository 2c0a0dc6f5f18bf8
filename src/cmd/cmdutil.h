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

/* The status of a reply the handler appended: rc is the appends' result. */
static inline enum ss_cmd_status ss_cmd_replied(int rc)
{
	return rc < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
}

/* RESP only: an error reply whose text starts with its own code ("ERR
 * ...", "WRONGPASS ...", "NOPROTO ..."); counted, held while earlier
 * replies are owed, as ss_cmd_error. */
enum ss_cmd_status ss_cmd_fail(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Copies at most max bytes of t into buf (max + 1 bytes) for an error
 * message, printable bytes only ('?' for the others): a reply line must
 * never carry a '\r', a NUL or other control bytes a client sent. Returns
 * buf. */
const char *ss_cmd_echo(const struct ss_token *t, char *buf, size_t max);
/* Redis's echo: the bytes as they are, up to the first NUL (Redis prints
 * arguments as C strings); the error writer turns CR and LF into spaces. */
const char *ss_cmd_echo_any(const struct ss_token *t, char *buf, size_t max);
/* name in lower case, into buf of size bytes. */
const char *ss_cmd_lower(const char *name, char *buf, size_t size);

/* ---- access (auth.c) ---- */

/* 0 if the connection may run cmd's request (cmd NULL: an unknown
 * command, which needs only authentication); else 1, the refusal (NOAUTH,
 * NOPERM) appended and its status in *st. */
int ss_cmd_access(const struct ss_cmd *cmd, const struct ss_request *req, struct ss_cmd_env *env,
		  struct ss_buf *out, enum ss_cmd_status *st);
/* 1 if the connection may see the pipeline name[0..n) (LIST, SCAN...). */
int ss_cmd_visible(const struct ss_cmd_env *env, const char *name, size_t n);

enum ss_auth { SS_AUTH_OK, SS_AUTH_WRONG, SS_AUTH_BUSY, SS_AUTH_SLOW, SS_AUTH_NOMEM };
/* Authenticates the connection as user with pass: at once if the user's
 * hash remembers the password (OK), or refused (WRONG: also the rerun of an
 * AUTH the slow check refused), or SLOW: the credentials were left in the
 * client state for the server's KDF (return SS_CMD_AUTH). */
enum ss_auth ss_cmd_authenticate(struct ss_cmd_env *env, const struct ss_token *user,
				 const struct ss_token *pass);
/* 1 if t is the user AUTH <password> names ("default", case sensitive). */
int ss_cmd_is_default_user(const struct ss_token *t);
/* The WRONGPASS refusal, in the connection's protocol; and the reply to
 * any result but OK and SLOW (WRONGPASS, busy, out of memory). */
enum ss_cmd_status ss_cmd_wrongpass(struct ss_cmd_env *env, struct ss_buf *out);
enum ss_cmd_status ss_cmd_auth_refused(struct ss_cmd_env *env, struct ss_buf *out, enum ss_auth r);
/* AUTH [user] password, both protocols. */
enum ss_cmd_status ss_cmd_auth(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out);

/* ---- replication (replication.c) ---- */

/* 0 if req may run on this node; else 1: it writes and the node does not
 * take writes (a replica: READONLY; a fenced primary), the refusal
 * appended and its status in *st. */
int ss_cmd_refuse_write(const struct ss_cmd *cmd, const struct ss_request *req,
			struct ss_cmd_env *env, struct ss_buf *out, enum ss_cmd_status *st);
enum ss_cmd_status ss_cmd_replicaof(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out);
enum ss_cmd_status ss_cmd_replsync(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out);

/* NULL if t is a valid pipeline name, else the reason it is refused. */
const char *ss_cmd_check_name(const struct ss_cmd_env *env, const struct ss_token *t);

/* Whether p[0..n) can travel in a text reply: token bytes only (limits.h).
 * A value or name written over RESP may hold any byte; the text protocol
 * answers SS_NOT_TEXT rather than show it, and LIST_CHECKPOINTS leaves it
 * out, so a text reply never breaks its framing. */
int ss_cmd_text_safe(const char *p, size_t n);
#define SS_NOT_TEXT "the value holds bytes the text protocol cannot carry; read it over RESP"

/* Parses a count: 1..max. Returns 0 and *out, or -1. */
int ss_cmd_parse_count(const struct ss_token *t, uint64_t max, uint64_t *out);

/* Scan cursors (list.c): a table position with a 16-bit check, so that a
 * cursor the server never issued is refused. decode returns 0 and the
 * position, or -1. */
uint64_t ss_cmd_cursor_encode(uint64_t pos);
int ss_cmd_cursor_decode(uint64_t c, uint64_t *pos);

/* A name's state as the next staged command will find it: the staged
 * state (pending.h) if any, else the table's. */
struct ss_cmd_cur {
	uint64_t rev; /* 0: absent */
	int64_t expire_ms;
	const char *value; /* escaped (record.h) if esc */
	size_t vlen;
	int esc;
	int staged;        /* found in the staged state, not (only) the table */
	struct ss_entry e; /* holds a value read from the table */
};
void ss_cmd_current(struct ss_cmd_env *env, const char *name, size_t nlen, struct ss_cmd_cur *c);
/* The raw bytes of c's value, into buf (SS_VALUE_MAX bytes); their length. */
size_t ss_cmd_cur_value(const struct ss_cmd_cur *c, char *buf);

/* Stages n records (one revision, one group when n > 1) whose last op
 * answers with reply (0: none), or a reply-only op. SS_CMD_STAGED, or
 * SS_CMD_NOMEM with nothing staged (inside EXEC, whose rollback takes
 * back what the transaction staged, a failed reply may leave the records:
 * EXEC rewinds them). */
enum ss_cmd_status ss_cmd_stage(struct ss_cmd_env *env, struct ss_record *rs, size_t n,
				int reply);
enum ss_cmd_status ss_cmd_stage_reply(struct ss_cmd_env *env, int reply, uint64_t rev,
				      const char *p, size_t n);

/* A SET record of name and value (raw bytes), expiring at expire_ms (0:
 * never); the revision and commit time are ss_cmd_stage's. */
struct ss_record ss_cmd_set_record(const struct ss_token *name, const char *value, size_t vlen,
				   int64_t expire_ms);

/* The distinct names among argv[first], argv[first + step], ...: for
 * each, the last argument that holds it, in a new array (*n entries) the
 * caller frees; NULL on ENOMEM. */
const struct ss_token **ss_cmd_distinct(const struct ss_request *req, int first, int step,
					size_t *n);

/* NULL, or why a write that adds is refused now (--quota-bytes). */
const char *ss_cmd_check_quota(const struct ss_cmd_env *env);

/* Glob patterns (glob.c). Whether s[0..slen) matches the glob-style
 * pattern p[0..plen) (Redis's
 * rules: * ? [a-z] [^a] and \ to quote), ignoring ASCII case if nocase. */
int ss_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase);
/* The literal start of a pattern: the bytes before its first special one,
 * which a scan can use as a prefix. */
size_t ss_glob_literal_prefix(const char *p, size_t n);

/* The RESP-only commands (redis.c): the row req names, or NULL. */
const struct ss_cmd *ss_redis_lookup(const struct ss_token *name);
const struct ss_cmd *ss_redis_table(size_t *n);

/* Transactions (multi.c). ss_multi_queue queues req for EXEC (answering
 * QUEUED), or refuses it (and the EXEC) if cmd may not run in one;
 * ss_multi_reset frees a client's queue and watches. */
enum ss_cmd_status ss_multi_queue(const struct ss_request *req, const struct ss_cmd *cmd,
				  struct ss_cmd_env *env, struct ss_buf *out);
void ss_multi_reset(struct ss_client_state *c);
enum ss_cmd_status ss_cmd_multi(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out);
enum ss_cmd_status ss_cmd_exec(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out);
enum ss_cmd_status ss_cmd_discard(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);
enum ss_cmd_status ss_cmd_watch(const struct ss_request *req, struct ss_cmd_env *env,
				struct ss_buf *out);
enum ss_cmd_status ss_cmd_unwatch(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);

/* LIST_CHECKPOINTS (list.c). */
enum ss_cmd_status ss_cmd_list(const struct ss_request *req, struct ss_cmd_env *env,
			       struct ss_buf *out);

#endif
