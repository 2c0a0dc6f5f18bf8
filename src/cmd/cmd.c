/*
 * cmd.c - the command table and the command handlers; see cmd.h.
 *
 * Each command is one row: its canonical name, its argument counts, its
 * role, and a handler. The dispatcher checks the argument count, so
 * handlers start from a request of the right shape; they validate each
 * argument, then read the table or stage a record. Reads see only the
 * table, which holds nothing that is not durable: staged mutations become
 * visible when the server applies their batch after the fdatasync.
 *
 * Handlers reply only through the connection's protocol (env->proto): they
 * say "ok", "this value", "no such checkpoint", never which bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "common/numparse.h"
#include "statestored/limits.h"

/* The reply primitives' result as a status. */
static enum ss_cmd_status replied(int rc)
{
	return rc < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
}

/* Replies with the error msg (formatted) and counts it. */
static enum ss_cmd_status reply_err(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt,
				    ...) __attribute__((format(printf, 3, 4)));
static enum ss_cmd_status reply_err(struct ss_cmd_env *env, struct ss_buf *out, const char *fmt,
				    ...)
{
	char msg[1024];
	va_list ap;

	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (env->rejected)
		(*env->rejected)++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return replied(env->proto->error(out, msg));
}

/* Checks a name or value token. Returns NULL or the reason it is refused. */
static const char *check_token(const struct ss_token *t, size_t max, const char *too_long,
			       const char *invalid)
{
	if (t->n > max)
		return too_long;
	for (size_t i = 0; i < t->n; i++)
		if (!ss_is_token_char((unsigned char)t->p[i]))
			return invalid;
	return NULL;
}

static const char *check_name(const struct ss_token *t)
{
	return check_token(t, SS_NAME_MAX, "name too long", "invalid name");
}

/* Parses a TTL in seconds: decimal digits (leading zeros allowed),
 * 1..SS_TTL_MAX_S. */
static int parse_ttl(const struct ss_token *t, int64_t *out)
{
	uint64_t v;

	if (ss_parse_u64(t->p, t->n, &v) < 0 || v < 1 || v > SS_TTL_MAX_S)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static enum ss_cmd_status stage(struct ss_cmd_env *env, const struct ss_record *r)
{
	if (ss_batch_add(env->batch, r, env->owner) < 0)
		return SS_CMD_NOMEM;
	return SS_CMD_STAGED;
}

/* The one value the text protocol cannot tell apart from an answer: GET
 * replies NULL for a missing checkpoint. (An error reply is "ERR" and a
 * space and a reason, and no value holds a space, so no value can pass
 * for an error.) */
static int reserved_value(const char *p, size_t n)
{
	return n == 4 && memcmp(p, "NULL", 4) == 0;
}

static enum ss_cmd_status cmd_set(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const char *why = check_name(&req->argv[1]);
	if (!why)
		why = check_token(&req->argv[2], SS_VALUE_MAX, "value too long", "invalid value");
	if (!why && reserved_value(req->argv[2].p, req->argv[2].n))
		why = "reserved value 'NULL': GET_CHECKPOINT answers NULL for a missing checkpoint";
	/* Past the quota a SET is refused, but a DEL and COMPACT go on: they
	 * are how the log gets back under it. */
	if (!why && env->quota_exceeded)
		why = "quota exceeded: the log has passed --quota-bytes; delete checkpoints and "
		      "COMPACT to make room";
	if (why)
		return reply_err(env, out, "%s", why);

	int64_t expire_ms = 0;
	if (req->argc == 4) {
		int64_t ttl;
		if (parse_ttl(&req->argv[3], &ttl) < 0)
			return reply_err(env, out, "invalid ttl");
		expire_ms = env->now_ms + ttl * 1000;
	}
	struct ss_record r = {
		.type = SS_REC_SET,
		.name = req->argv[1].p,
		.nlen = req->argv[1].n,
		.value = req->argv[2].p,
		.vlen = req->argv[2].n,
		.expire_ms = expire_ms,
	};
	return stage(env, &r);
}

static enum ss_cmd_status cmd_del(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const char *why = check_name(&req->argv[1]);
	if (why)
		return reply_err(env, out, "%s", why);
	struct ss_record r = {.type = SS_REC_DEL, .name = req->argv[1].p, .nlen = req->argv[1].n};
	return stage(env, &r);
}

/* The read commands' common start: checks the name, then looks it up.
 * Returns 1 with *found set when the caller goes on to answer, or 0 with
 * *st the status to return (an error was answered, or WAIT). */
static int read_entry(const struct ss_request *req, struct ss_cmd_env *env, struct ss_buf *out,
		      struct ss_entry *e, int *found, enum ss_cmd_status *st)
{
	const char *why = check_name(&req->argv[1]);
	if (why) {
		*st = reply_err(env, out, "%s", why);
		return 0;
	}
	if (!env->may_reply) {
		*st = SS_CMD_WAIT;
		return 0;
	}
	*found = ss_table_get(env->table, req->argv[1].p, req->argv[1].n, env->now_ms, e);
	return 1;
}

static enum ss_cmd_status cmd_get(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct ss_entry e;
	int found = 0;
	enum ss_cmd_status st;

	if (!read_entry(req, env, out, &e, &found, &st))
		return st;
	if (!found)
		return replied(env->proto->null(out));
	/* Only a log written before NULL was refused can hold it: say so,
	 * rather than let the checkpoint read back as missing. */
	if (reserved_value(e.value, e.vlen))
		return reply_err(env, out,
				 "the stored value is 'NULL', which reads as missing; set it again");
	return replied(env->proto->value(out, e.value, e.vlen));
}

static enum ss_cmd_status cmd_ttl(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	struct ss_entry e;
	int found = 0;
	enum ss_cmd_status st;
	long long secs;

	if (!read_entry(req, env, out, &e, &found, &st))
		return st;
	if (!found)
		secs = -2;
	else if (e.expire_ms == 0)
		secs = -1;
	else /* rounded up: an entry with 1 ms left still has "1" second */
		secs = (e.expire_ms - env->now_ms + 999) / 1000;
	return replied(env->proto->integer(out, secs));
}

static enum ss_cmd_status cmd_ping(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return replied(env->proto->status(out, "PONG"));
}

static enum ss_cmd_status cmd_quit(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	return env->proto->ok(out) < 0 ? SS_CMD_NOMEM : SS_CMD_QUIT;
}

static enum ss_cmd_status cmd_compact(const struct ss_request *req, struct ss_cmd_env *env,
				      struct ss_buf *out)
{
	(void)req;
	(void)out;
	return env->may_reply ? SS_CMD_COMPACT : SS_CMD_WAIT;
}

static enum ss_cmd_status cmd_stats(const struct ss_request *req, struct ss_cmd_env *env,
				    struct ss_buf *out)
{
	(void)req;
	if (!env->may_reply)
		return SS_CMD_WAIT;
	size_t before = ss_buf_size(out);
	int rc = env->proto->rows_begin(out);
	if (rc == 0 && env->stats)
		rc = env->stats(env->stats_arg, env->proto, out);
	if (rc == 0)
		rc = env->proto->rows_end(out);
	if (rc < 0) {
		/* Drop a partial reply rather than send it unframed. */
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

/* A row of the table. The role must be one of READ, WRITE, ADMIN or CONN:
 * anything else, or none, does not compile. */
#define CMD(name, min, max, role, run) {name, min, max, SS_CMD_##role, run}

static const struct ss_cmd commands[] = {
	CMD("SET_CHECKPOINT", 2, 3, WRITE, cmd_set),
	CMD("GET_CHECKPOINT", 1, 1, READ, cmd_get),
	CMD("DEL_CHECKPOINT", 1, 1, WRITE, cmd_del),
	CMD("TTL_CHECKPOINT", 1, 1, READ, cmd_ttl),
	CMD("COMPACT", 0, 0, ADMIN, cmd_compact),
	CMD("PING", 0, 0, CONN, cmd_ping),
	CMD("QUIT", 0, 0, CONN, cmd_quit),
	CMD("STATS", 0, 0, READ, cmd_stats),
};

const struct ss_cmd *ss_cmd_table(size_t *n)
{
	*n = sizeof(commands) / sizeof(commands[0]);
	return commands;
}

const struct ss_cmd *ss_cmd_lookup(const struct ss_token *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (ss_token_is(name, commands[i].name))
			return &commands[i];
	return NULL;
}

enum ss_cmd_status ss_cmd_execute(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const struct ss_cmd *cmd = ss_cmd_lookup(&req->argv[0]);

	if (!cmd) {
		/* Echo at most 64 bytes of the name, printable bytes only. */
		char name[65];
		size_t n = req->argv[0].n < 64 ? req->argv[0].n : 64;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)req->argv[0].p[i];
			name[i] = ss_is_token_char(c) ? (char)c : '?';
		}
		name[n] = '\0';
		return reply_err(env, out, "unknown command '%s'", name);
	}
	if (req->too_many)
		return reply_err(env, out, "too many arguments");
	int nargs = req->argc - 1;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return reply_err(env, out, "wrong number of arguments for '%s'", cmd->name);
	return cmd->run(req, env, out);
}

int ss_cmd_reply_op(const struct ss_proto *proto, const struct ss_op *op, struct ss_buf *out)
{
	if (op->type == SS_REC_DEL)
		return proto->integer(out, op->result ? 1 : 0);
	return proto->ok(out);
}

int ss_cmd_reply_write_failed(const struct ss_proto *proto, int errnum, struct ss_buf *out)
{
	return ss_proto_errorf(proto, out, "log write failed: %s", strerror(errnum));
}

int ss_cmd_reply_compact(const struct ss_proto *proto, const char *failure, struct ss_buf *out)
{
	if (!failure)
		return proto->ok(out);
	return ss_proto_errorf(proto, out, "compaction failed: %s", failure);
}
