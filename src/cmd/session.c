/*
 * session.c - executing one client's requests in order; see session.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/password.h"
#include "cmd/session.h"
#include "proto/resp.h"

void ss_session_init(struct ss_session *s, uint64_t id)
{
	memset(s, 0, sizeof(*s));
	s->proto = &ss_proto_text;
	ss_client_init(&s->client, id);
	ss_buf_init(&s->in);
	ss_buf_init(&s->out);
}

void ss_session_free(struct ss_session *s)
{
	ss_session_backup_clear(s);
	ss_client_free(&s->client);
	ss_buf_free(&s->in);
	ss_buf_free(&s->out);
}

void ss_session_backup_clear(struct ss_session *s)
{
	free(s->backup.dir);
	free(s->backup.prefix);
	s->backup = (struct ss_backup_request){0};
}

/* Copies a checked BACKUP's arguments and queues it. 0, or -1 (ENOMEM). */
static int queue_backup(struct ss_session *s, const struct ss_request *req,
			const struct ss_session_env *env)
{
	struct ss_backup_request b = {0};

	b.dir = strndup(req->argv[1].p, req->argv[1].n);
	if (req->argc > 2) {
		b.plen = req->argv[2].n;
		b.prefix = malloc(b.plen);
		if (b.prefix)
			memcpy(b.prefix, req->argv[2].p, b.plen);
	}
	if (!b.dir || (req->argc > 2 && !b.prefix)) {
		free(b.dir);
		free(b.prefix);
		return -1;
	}
	b.seq = ++*env->backup_seq;
	s->backup = b;
	s->compact_wait = SS_BACKUP_QUEUED;
	++*env->backups_queued;
	return 0;
}

/* The protocol of the request at the head of the input. */
static const struct ss_proto *proto_of(const struct ss_session *s)
{
	if (ss_buf_head(&s->in)[0] != '*')
		return &ss_proto_text;
	return s->client.resp == 3 ? &ss_proto_resp3 : &ss_proto_resp2;
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
		.client = &s->client,
		.table = env->table,
		.batch = env->batch,
		.pending = env->pending,
		.owner = s,
		.now_ms = env->now_ms,
		.quota_exceeded = env->quota_exceeded,
		.rejected = env->rejected,
		.stats = env->stats,
		.clients = env->clients,
		.kill = env->kill,
		.stats_arg = env->stats_arg,
		.config = env->config,
		.nconfig = env->nconfig,
		.acl = env->acl,
		.denied = env->denied,
		.repl = env->repl,
	};

	ss_request_init(&req);
	while (!s->closed && !s->close_after && !s->compact_wait && !s->auth_wait &&
	       !s->repl_wait && !env->stopping) {
		if (ss_buf_size(&s->out) >= SS_SESSION_OUT_HIGH) {
			res = SS_SESSION_HIGH;
			break;
		}
		s->need_more = ss_buf_size(&s->in) == 0;
		if (s->need_more)
			break;
		const struct ss_proto *p = proto_of(s);
		if (p != s->proto) {
			if (s->pending > 0)
				break; /* switch once the earlier replies are out */
			s->proto = cmd.proto = p;
		}
		long n = p->parse(ss_buf_head(&s->in), ss_buf_size(&s->in), env->max_line, &req);
		s->need_more = n == 0;
		if (n == 0)
			break;
		if (n < 0) {
			if (s->pending > 0)
				break; /* answer once the earlier replies are out */
			size_t before = ss_buf_size(&s->out);
			(*env->rejected)++;
			s->close_after = 1;
			if (s->proto->error(&s->out, req.error ? req.error : "line too long") < 0) {
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
		if (env->batch->len >= env->batch_max_bytes ||
		    env->batch->auxlen >= env->batch_max_bytes || env->batch->nops >= SS_GROUP_MAX) {
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
		if (st == SS_CMD_AUTH) {
			/* The request stays in the input: it runs again once
			 * the server's slow check has answered. */
			s->auth_wait = 1;
			break;
		}
		if (st == SS_CMD_FULL) {
			res = SS_SESSION_FULL;
			break;
		}
		if (st == SS_CMD_REPL) {
			/* The server takes the connection over; what follows
			 * the request in the input is the replica's. */
			ss_buf_consume(&s->in, (size_t)n);
			s->repl_wait = 1;
			break;
		}
		if (st == SS_CMD_NOMEM) {
			res = SS_SESSION_NOMEM;
			break;
		}
		if (st == SS_CMD_BACKUP && queue_backup(s, &req, env) < 0) {
			res = SS_SESSION_NOMEM;
			break;
		}
		/* A password is not left behind in the input buffer. */
		if (ss_token_is(&req.argv[0], "AUTH") || ss_token_is(&req.argv[0], "HELLO"))
			ss_password_wipe(ss_buf_head(&s->in), (size_t)n);
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

int ss_session_abandon(struct ss_session *s, const char *msg)
{
	int rc = ss_proto_errorf(s->proto, &s->out, "%s", msg);

	s->pending--;
	return rc;
}

int ss_session_done(const struct ss_session *s)
{
	if (s->closed)
		return 1;
	if (s->pending > 0 || s->compact_wait || s->auth_wait || ss_buf_size(&s->out) > 0)
		return 0;
	if (s->close_after)
		return 1;
	/* At EOF, complete requests still buffered are to be answered; an
	 * incomplete one never will be. */
	if (!s->eof || ss_buf_size(&s->in) == 0)
		return s->eof;
	if (proto_of(s) != &ss_proto_text)
		return s->need_more; /* as the last ss_session_execute found */
	return !memchr(ss_buf_head(&s->in), '\n', ss_buf_size(&s->in));
}

int ss_session_partial(const struct ss_session *s)
{
	/* need_more is set whenever the parser runs out of bytes, and every
	 * read runs the session again, which clears it or sets it anew. */
	return s->need_more && ss_buf_size(&s->in) > 0;
}
