/*
 * cmd.c - the command table and the command handlers; see cmd.h.
 *
 * Each command is one row: its canonical name, its argument counts, and a
 * handler. The dispatcher checks the argument count, so handlers start from a
 * request of the right shape; they validate each argument, then read the
 * table or stage a record. Reads see only the table, which holds nothing
 * that is not durable: staged mutations become visible when the server
 * applies their batch after the fdatasync.
 */
#include <errno.h>
#include <string.h>

#include "cmd/cmd.h"
#include "statestored/limits.h"
#include "common/numparse.h"

struct ss_cmd {
	const char *name;
	int min_args, max_args; /* arguments after the name */
	enum ss_cmd_status (*run)(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);
};

static enum ss_cmd_status reply(struct ss_cmd_env *env, struct ss_buf *out, const char *line)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (ss_buf_puts(out, line) < 0 || ss_buf_puts(out, "\n") < 0)
		return SS_CMD_NOMEM;
	return SS_CMD_REPLIED;
}

/* Replies "ERR <why>", or "ERR <why> '<what>'" when what is not NULL. */
static enum ss_cmd_status reply_err(struct ss_cmd_env *env, struct ss_buf *out, const char *why,
				    const char *what)
{
	if (!env->may_reply)
		return SS_CMD_WAIT;
	if (env->rejected)
		(*env->rejected)++;
	int rc = what ? ss_buf_printf(out, "ERR %s '%s'\n", why, what)
		      : ss_buf_printf(out, "ERR %s\n", why);
	return rc < 0 ? SS_CMD_NOMEM : SS_CMD_REPLIED;
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
		return reply_err(env, out, why, NULL);

	int64_t expire_ms = 0;
	if (req->argc == 4) {
		int64_t ttl;
		if (parse_ttl(&req->argv[3], &ttl) < 0)
			return reply_err(env, out, "invalid ttl", NULL);
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
		return reply_err(env, out, why, NULL);
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
		*st = reply_err(env, out, why, NULL);
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
		return reply(env, out, "NULL");
	/* Only a log written before NULL was refused can hold it: say so,
	 * rather than let the checkpoint read back as missing. */
	if (reserved_value(e.value, e.vlen))
		return reply_err(env, out,
				 "the stored value is 'NULL', which reads as missing; set it again",
				 NULL);
	if (ss_buf_append(out, e.value, e.vlen) < 0 || ss_buf_puts(out, "\n") < 0)
		return SS_CMD_NOMEM;
	return SS_CMD_REPLIED;
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
	if (ss_buf_printf(out, "%lld\n", secs) < 0)
		return SS_CMD_NOMEM;
	return SS_CMD_REPLIED;
}

static enum ss_cmd_status cmd_ping(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	return reply(env, out, "PONG");
}

static enum ss_cmd_status cmd_quit(const struct ss_request *req, struct ss_cmd_env *env,
				   struct ss_buf *out)
{
	(void)req;
	enum ss_cmd_status st = reply(env, out, "OK");
	return st == SS_CMD_REPLIED ? SS_CMD_QUIT : st;
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
	if (env->stats)
		env->stats(env->stats_arg, out);
	if (ss_buf_puts(out, "END\n") < 0) {
		/* Drop a partial STATS rather than send it unframed. */
		out->len = out->off + before;
		return SS_CMD_NOMEM;
	}
	return SS_CMD_REPLIED;
}

static const struct ss_cmd commands[] = {
	{"SET_CHECKPOINT", 2, 3, cmd_set},
	{"GET_CHECKPOINT", 1, 1, cmd_get},
	{"DEL_CHECKPOINT", 1, 1, cmd_del},
	{"TTL_CHECKPOINT", 1, 1, cmd_ttl},
	{"COMPACT", 0, 0, cmd_compact},
	{"PING", 0, 0, cmd_ping},
	{"QUIT", 0, 0, cmd_quit},
	{"STATS", 0, 0, cmd_stats},
};

enum ss_cmd_status ss_cmd_execute(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out)
{
	const struct ss_cmd *cmd = NULL;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (ss_token_is(&req->argv[0], commands[i].name)) {
			cmd = &commands[i];
			break;
		}
	}
	if (!cmd) {
		/* Echo at most 64 bytes of the name, printable bytes only. */
		char name[65];
		size_t n = req->argv[0].n < 64 ? req->argv[0].n : 64;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)req->argv[0].p[i];
			name[i] = ss_is_token_char(c) ? (char)c : '?';
		}
		name[n] = '\0';
		return reply_err(env, out, "unknown command", name);
	}
	if (req->too_many)
		return reply_err(env, out, "too many arguments", NULL);
	int nargs = req->argc - 1;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return reply_err(env, out, "wrong number of arguments for", cmd->name);
	return cmd->run(req, env, out);
}

int ss_cmd_reply_op(const struct ss_op *op, struct ss_buf *out)
{
	if (op->type == SS_REC_DEL)
		return ss_buf_puts(out, op->result ? "1\n" : "0\n");
	return ss_buf_puts(out, "OK\n");
}

int ss_cmd_reply_write_failed(int errnum, struct ss_buf *out)
{
	return ss_buf_printf(out, "ERR log write failed: %s\n", strerror(errnum));
}

int ss_cmd_reply_compact(const char *failure, struct ss_buf *out)
{
	if (!failure)
		return ss_buf_puts(out, "OK\n");
	return ss_buf_printf(out, "ERR compaction failed: %s\n", failure);
}
