/*
 * session.c - executing one client's requests in order; see session.h.
 */
#include <string.h>

#include "cmd/session.h"

void ss_session_init(struct ss_session *s, const struct ss_proto *proto)
{
	memset(s, 0, sizeof(*s));
	s->proto = proto;
	ss_buf_init(&s->in);
	ss_buf_init(&s->out);
}

void ss_session_free(struct ss_session *s)
{
	ss_buf_free(&s->in);
	ss_buf_free(&s->out);
}

size_t ss_session_room(const struct ss_session *s, size_t max_line)
{
	size_t cap = max_line + 2, used = ss_buf_size(&s->in);
	size_t room = used < cap ? cap - used : 0;

	/* Modest steps: the buffer grows to the line limit only for a client
	 * that really sends long lines. */
	return room < SS_SESSION_READ_STEP ? room : SS_SESSION_READ_STEP;
}

void ss_session_trim(struct ss_session *s)
{
	ss_buf_shrink(&s->out, SS_SESSION_READ_STEP);
	ss_buf_shrink(&s->in, SS_SESSION_READ_STEP);
}

enum ss_session_result ss_session_execute(struct ss_session *s, const struct ss_session_env *env)
{
	struct ss_request req;
	enum ss_session_result res = SS_SESSION_IDLE;
	struct ss_cmd_env cmd = {
		.proto = s->proto,
		.table = env->table,
		.batch = env->batch,
		.pending = env->pending,
		.owner = s,
		.now_ms = env->now_ms,
		.quota_exceeded = env->quota_exceeded,
		.rejected = env->rejected,
		.stats = env->stats,
		.stats_arg = env->stats_arg,
	};

	ss_request_init(&req);
	while (!s->closed && !s->close_after && !s->compact_wait && !env->stopping) {
		if (ss_buf_size(&s->out) >= SS_SESSION_OUT_HIGH) {
			res = SS_SESSION_HIGH;
			break;
		}
		long n = s->proto->parse(ss_buf_head(&s->in), ss_buf_size(&s->in), env->max_line,
					 &req);
		if (n == 0)
			break;
		if (n < 0) {
			if (s->pending > 0)
				break; /* answer once the earlier replies are out */
			size_t before = ss_buf_size(&s->out);
			(*env->rejected)++;
			s->close_after = 1;
			if (s->proto->error(&s->out, "line too long") < 0) {
				res = SS_SESSION_NOMEM;
				break;
			}
			if (env->observe)
				env->observe(env->observe_arg, s, NULL, SS_CMD_REPLIED, before,
					     env->batch->nops);
			ss_buf_consume(&s->in, ss_buf_size(&s->in));
			break;
		}
		if (req.argc == 0) {
			ss_buf_consume(&s->in, (size_t)n);
			continue;
		}
		if (env->batch->len >= env->batch_max_bytes || env->batch->nops >= SS_GROUP_MAX) {
			res = SS_SESSION_FULL;
			break;
		}
		size_t out_before = ss_buf_size(&s->out), nops_before = env->batch->nops;
		cmd.may_reply = s->pending == 0;
		enum ss_cmd_status st = ss_cmd_execute(&req, &cmd, &s->out);
		if (env->observe)
			env->observe(env->observe_arg, s, &req, st, out_before, nops_before);
		if (st == SS_CMD_WAIT)
			break;
		if (st == SS_CMD_NOMEM) {
			res = SS_SESSION_NOMEM;
			break;
		}
		ss_buf_consume(&s->in, (size_t)n);
		if (st == SS_CMD_STAGED) {
			s->pending++;
		} else if (st == SS_CMD_COMPACT) {
			s->compact_wait = SS_COMPACT_QUEUED;
			*env->compact_requested = 1;
		} else if (st == SS_CMD_QUIT) {
			s->close_after = 1;
		}
	}
	ss_request_free(&req);
	return res;
}

int ss_session_answer(const struct ss_batch *b, const struct ss_op *op, int written, int errnum,
		      uint64_t seq)
{
	struct ss_session *s = op->owner;

	if (!op->reply)
		return 0;
	int rc = written ? ss_cmd_reply_op(s->proto, b, op, &s->out)
			 : ss_cmd_reply_write_failed(s->proto, errnum, &s->out);
	int flags = rc < 0 ? SS_ANSWER_NOMEM : 0;

	s->pending--;
	if (s->mark != seq) {
		s->mark = seq;
		flags |= SS_ANSWER_FIRST;
	}
	return flags;
}

int ss_session_done(const struct ss_session *s)
{
	if (s->closed)
		return 1;
	if (s->pending > 0 || s->compact_wait || ss_buf_size(&s->out) > 0)
		return 0;
	if (s->close_after)
		return 1;
	/* At EOF, complete lines still buffered are requests to answer. */
	return s->eof && (ss_buf_size(&s->in) == 0 ||
			  !memchr(ss_buf_head(&s->in), '\n', ss_buf_size(&s->in)));
}
