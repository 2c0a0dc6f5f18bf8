/*
 * clients.c - the server's clients and their registry; see clients.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/clients.h"

/* Appends cl to a growable array of clients. Returns 0 or -1 (ENOMEM). */
static int push(struct ss_client ***arr, size_t *n, size_t *cap, struct ss_client *cl)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct ss_client **p = realloc(*arr, ncap * sizeof(*p));
		if (!p)
			return -1;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = cl;
	return 0;
}

static void unlink_free(struct ss_clients *reg, struct ss_client *cl)
{
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		reg->head = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	ss_conn_close(&cl->conn);
	ss_session_free(&cl->s);
	free(cl);
	reg->n--;
}

/* Sends what can be sent, closes a finished connection, and frees the
 * client once nothing refers to it any more. */
static void settle(struct ss_clients *reg, struct ss_client *cl)
{
	struct ss_session *s = &cl->s;

	if (cl->conn.fd >= 0 && ss_conn_flush(&cl->conn) < 0) {
		ss_buf_consume(&s->out, ss_buf_size(&s->out));
		ss_conn_close(&cl->conn);
	}
	if (cl->conn.fd >= 0 && ss_session_done(s))
		ss_conn_close(&cl->conn);
	if (cl->conn.fd < 0 && s->pending == 0 && !s->compact_wait && !s->batch_wait)
		unlink_free(reg, cl);
}

/* Executes the complete requests in cl's input until one must wait. */
static void run(struct ss_clients *reg, struct ss_client *cl)
{
	struct ss_session_env env;

	reg->env(reg->env_arg, &env);
	env.rejected = &reg->rejected;
	for (;;) {
		enum ss_session_result r = ss_session_execute(&cl->s, &env);
		/* Backpressure: past the high mark, execute nothing more until
		 * the client has read enough; the connection resumes us once
		 * the output drains below the mark. But the flush may drain it
		 * at once, and then no writable event would come: go on now. */
		if (r == SS_SESSION_HIGH && ss_conn_flush(&cl->conn) == 0 &&
		    ss_buf_size(&cl->s.out) < SS_SESSION_OUT_HIGH)
			continue;
		if (r == SS_SESSION_FULL && !cl->s.batch_wait &&
		    push(&reg->waiters, &reg->nwaiters, &reg->waitcap, cl) == 0)
			cl->s.batch_wait = 1;
		if (r == SS_SESSION_NOMEM) {
			ss_log_error(reg->diag,
				     "out of memory serving a request; closing the connection");
			ss_conn_close(&cl->conn);
		}
		break;
	}
	settle(reg, cl);
}

/* ---- the connection's owner ------------------------------------------ */

static size_t client_room(void *arg)
{
	struct ss_client *cl = arg;
	const struct ss_session *s = &cl->s;

	if (s->eof || s->close_after || ss_buf_size(&s->out) >= SS_SESSION_OUT_HIGH)
		return 0;
	return ss_session_room(s, cl->reg->max_line);
}

static void client_input(struct ss_conn *c, void *arg)
{
	struct ss_client *cl = arg;
	(void)c;
	run(cl->reg, cl);
}

static void client_hangup(void *arg, int error)
{
	struct ss_client *cl = arg;

	cl->s.eof = 1;
	if (error)
		cl->s.close_after = 1;
}

static int client_done(void *arg)
{
	struct ss_client *cl = arg;
	return ss_session_done(&cl->s);
}

static void client_sent(void *arg)
{
	struct ss_client *cl = arg;
	ss_session_trim(&cl->s);
}

static void client_closed(void *arg)
{
	struct ss_client *cl = arg;
	cl->s.closed = 1;
}

static const struct ss_conn_owner client_owner = {
	.out_high = SS_SESSION_OUT_HIGH,
	.room = client_room,
	.input = client_input,
	.hangup = client_hangup,
	.done = client_done,
	.sent = client_sent,
	.closed = client_closed,
};

/* ---- the registry ----------------------------------------------------- */

/* Turns a client away: tells it why, where its transport can, and counts
 * it. */
static void refuse(struct ss_clients *reg, const struct ss_transport *tp, int fd)
{
	struct ss_buf msg;

	ss_buf_init(&msg);
	if (reg->proto->error(&msg, "max clients reached") < 0)
		ss_buf_consume(&msg, ss_buf_size(&msg));
	if (tp->refuse(fd, ss_buf_head(&msg), ss_buf_size(&msg)) < 0)
		ss_log_debug(reg->diag, "refusing a client: %s", strerror(errno));
	ss_buf_free(&msg);
	reg->refused++;
}

void ss_clients_accept(struct ss_clients *reg, const struct ss_transport *tp, int fd, int shed)
{
	if (shed || reg->n >= (size_t)reg->max_clients) {
		refuse(reg, tp, fd);
		return;
	}
	struct ss_client *cl = malloc(sizeof(*cl));
	if (!cl) {
		ss_log_error(reg->diag, "out of memory accepting a connection");
		tp->refuse(fd, NULL, 0);
		return;
	}
	memset(cl, 0, sizeof(*cl));
	cl->reg = reg;
	ss_session_init(&cl->s, reg->connections + 1); /* ids from 1, never reused */
	if (ss_conn_init(&cl->conn, reg->loop, fd, tp, &cl->s.in, &cl->s.out, &client_owner, cl) <
	    0) {
		ss_log_error(reg->diag, "out of memory accepting a %s connection", tp->name);
		tp->refuse(fd, NULL, 0);
		ss_session_free(&cl->s);
		free(cl);
		return;
	}
	cl->next = reg->head;
	if (reg->head)
		reg->head->prev = cl;
	reg->head = cl;
	reg->n++;
	reg->connections++;
}

/* The commit hook: answers every op of b, and remembers each client it
 * answered; they go on in resume, once every hook has seen the batch. */
static void answer(void *arg, struct ss_batch *b, int written, int errnum, uint64_t seq)
{
	struct ss_clients *reg = arg;

	reg->ntouched = 0;
	for (size_t i = 0; i < b->nops; i++) {
		if (!b->ops[i].reply)
			continue; /* a multi-commit answers once, at its last op */
		struct ss_client *cl = ss_client_of(b->ops[i].owner);
		int r = ss_session_answer(b, &b->ops[i], written, errnum, seq);
		if (r & SS_ANSWER_NOMEM)
			ss_conn_close(&cl->conn);
		if (!written)
			reg->rejected++;
		if ((r & SS_ANSWER_FIRST) &&
		    push(&reg->touched, &reg->ntouched, &reg->touchcap, cl) < 0)
			cl->s.mark = 0; /* cannot track it: it resumes on its next event */
	}
}

static void resume_answered(void *arg)
{
	struct ss_clients *reg = arg;
	size_t n = reg->ntouched;

	reg->ntouched = 0;
	for (size_t i = 0; i < n; i++)
		run(reg, reg->touched[i]);
}

void ss_clients_resume_waiters(struct ss_clients *reg)
{
	size_t nwait = reg->nwaiters;

	reg->nwaiters = 0;
	for (size_t i = 0; i < nwait && i < reg->waitcap; i++) {
		struct ss_client *cl = reg->waiters[i];
		cl->s.batch_wait = 0;
		run(reg, cl);
	}
}

void ss_clients_compact_started(struct ss_clients *reg)
{
	for (struct ss_client *cl = reg->head; cl; cl = cl->next)
		if (cl->s.compact_wait == SS_COMPACT_QUEUED)
			cl->s.compact_wait = SS_COMPACT_RUNNING;
}

void ss_clients_compact_ended(struct ss_clients *reg, enum ss_compact_wait which,
			      const char *failure)
{
	struct ss_client *next;

	for (struct ss_client *cl = reg->head; cl; cl = next) {
		next = cl->next;
		if (cl->s.compact_wait != which)
			continue;
		cl->s.compact_wait = SS_COMPACT_NONE;
		if (reg->answered)
			reg->answered(reg->answered_arg, &cl->s, "COMPACT", failure != NULL);
		if (ss_cmd_reply_compact(cl->s.proto, failure, &cl->s.out) < 0)
			ss_conn_close(&cl->conn);
		if (failure)
			reg->rejected++;
		run(reg, cl);
	}
}

const struct ss_backup_request *ss_clients_backup_next(struct ss_clients *reg)
{
	struct ss_client *first = NULL;

	for (struct ss_client *cl = reg->head; cl; cl = cl->next)
		if (cl->s.compact_wait == SS_BACKUP_QUEUED &&
		    (!first || cl->s.backup.seq < first->s.backup.seq))
			first = cl;
	if (!first)
		return NULL;
	first->s.compact_wait = SS_BACKUP_RUNNING;
	return &first->s.backup;
}

void ss_clients_backup_ended(struct ss_clients *reg, const char *failure, uint64_t rev)
{
	struct ss_client *cl = reg->head;

	while (cl && cl->s.compact_wait != SS_BACKUP_RUNNING)
		cl = cl->next;
	if (!cl)
		return;
	cl->s.compact_wait = SS_COMPACT_NONE;
	ss_session_backup_clear(&cl->s);
	if (reg->answered)
		reg->answered(reg->answered_arg, &cl->s, "BACKUP", failure != NULL);
	if (ss_cmd_reply_backup(cl->s.proto, failure, rev, &cl->s.out) < 0)
		ss_conn_close(&cl->conn);
	if (failure)
		reg->rejected++;
	run(reg, cl);
}

void ss_clients_flush_all(struct ss_clients *reg)
{
	for (struct ss_client *cl = reg->head; cl; cl = cl->next)
		if (cl->conn.fd >= 0 && ss_conn_flush(&cl->conn) < 0)
			ss_conn_close(&cl->conn);
}

void ss_clients_drop_all(struct ss_clients *reg)
{
	for (struct ss_client *cl = reg->head; cl; cl = cl->next) {
		ss_buf_consume(&cl->s.out, ss_buf_size(&cl->s.out));
		ss_conn_close(&cl->conn);
	}
}

void ss_clients_init(struct ss_clients *reg, struct ev_loop *loop, const struct ss_diag *diag,
		     size_t max_line, int max_clients, ss_clients_env_fn env, void *env_arg)
{
	memset(reg, 0, sizeof(*reg));
	reg->loop = loop;
	reg->diag = diag;
	reg->proto = &ss_proto_text;
	reg->max_line = max_line;
	reg->max_clients = max_clients;
	reg->env = env;
	reg->env_arg = env_arg;
	reg->replies.done = answer;
	reg->replies.resume = resume_answered;
	reg->replies.arg = reg;
}

void ss_clients_free(struct ss_clients *reg)
{
	while (reg->head)
		unlink_free(reg, reg->head);
	free(reg->touched);
	free(reg->waiters);
}
