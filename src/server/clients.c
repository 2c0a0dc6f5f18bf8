/*
 * clients.c - the server's clients and their registry; see clients.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "net/listener.h"
#include "server/clients.h"
#include "server/repl.h"

#define NS_PER_S 1000000000ull
/* The timer is set this much past the next deadline: libev counts from
 * the loop's wakeup, which is earlier than our clock's reading, and a
 * timer that fired a hair early would only be set again. */
#define TMO_SLACK_S 0.001
/* Clients closed per timer callback at most; the rest are closed a
 * millisecond later (TMO_SLACK_S), after the other clients' events. A
 * close costs about 15 us (close(2), the free, the log line): 10,000 drip
 * connections opened together fall due together, and one callback took up
 * to 7 ms of CPU for them; 64 keeps one near a millisecond. */
#define TMO_CLOSE_MAX 64

static void retime(struct ss_clients *reg, struct ss_client *cl);

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
	ss_timeouts_set(&reg->tmo, &cl->tmo, SS_TMO_NONE, 0);
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
	/* A client on the reap list is freed by the reap, which holds it. */
	if (cl->conn.fd < 0 && s->pending == 0 && !s->compact_wait && !s->batch_wait &&
	    !s->auth_wait && !cl->reaped)
		unlink_free(reg, cl);
	else
		retime(reg, cl);
}

/* The longest request cl may send: an unauthenticated connection on a
 * server with users is held to a short one, so that it cannot make the
 * daemon buffer megabytes before saying who it is. */
static size_t max_line(const struct ss_client *cl)
{
	size_t m = cl->reg->max_line;

	if (cl->reg->auth && !cl->s.client.user && m > SS_AUTH_PREAUTH_LINE)
		m = SS_AUTH_PREAUTH_LINE;
	return m;
}

/* A replica's link: its ACKs in, the stream out. */
static void run_link(struct ss_clients *reg, struct ss_client *cl)
{
	if (ss_repl_link_io(cl->link) < 0) {
		ss_buf_consume(&cl->s.out, ss_buf_size(&cl->s.out));
		ss_conn_close(&cl->conn);
	}
	settle(reg, cl);
}

/* REPLSYNC was accepted: the server makes the connection a link. */
static void become_link(struct ss_clients *reg, struct ss_client *cl)
{
	cl->s.repl_wait = 0;
	cl->link = reg->adopt ? reg->adopt(reg->adopt_arg, cl) : NULL;
	if (!cl->link) {
		cl->s.close_after = 1; /* after the ERR the server appended */
		settle(reg, cl);
		return;
	}
	run_link(reg, cl);
}

/* Executes the complete requests in cl's input until one must wait. */
static void run(struct ss_clients *reg, struct ss_client *cl)
{
	struct ss_session_env env;

	if (cl->link) {
		run_link(reg, cl);
		return;
	}
	reg->env(reg->env_arg, &env);
	env.rejected = &reg->rejected;
	env.max_line = max_line(cl);
	if (reg->auth) {
		env.acl = reg->auth->acl;
		env.denied = &reg->auth->st.denied;
		/* A verified client certificate whose CN names a user
		 * authenticates the connection as that user, once: at its
		 * first request (a RESET then ends it, as an AUTH's). */
		if (env.acl && !cl->cn_checked && cl->conn.peer_cn[0]) {
			cl->cn_checked = 1;
			cl->s.client.user =
				ss_acl_find(env.acl, cl->conn.peer_cn, strlen(cl->conn.peer_cn));
		}
	}
	/* A TLS ClientHello (a handshake record: 0x16) on the plain port: no
	 * request of ours starts with that byte. Closed at once, with a line in
	 * the log, rather than answered with errors the client cannot read. */
	if (!cl->first_seen && ss_buf_size(&cl->s.in) > 0) {
		cl->first_seen = 1;
		if (cl->conn.tp == &ss_transport_tcp && ss_buf_head(&cl->s.in)[0] == 0x16) {
			reg->tls_on_plain++;
			ss_log_info(reg->diag, "client %llu (%s): a TLS handshake on the plain port; "
					       "closed (the TLS port is --tls-port)",
				    (unsigned long long)cl->s.client.id, cl->s.client.addr);
			ss_buf_consume(&cl->s.in, ss_buf_size(&cl->s.in));
			ss_conn_close(&cl->conn);
			settle(reg, cl);
			return;
		}
	}
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
	if (cl->s.repl_wait) {
		become_link(reg, cl);
		return;
	}
	if (cl->s.auth_wait && !cl->auth_queued && reg->auth) {
		cl->auth_queued = 1;
		ss_auth_submit(reg->auth, &cl->s, cl->s.client.addr); /* may resume it at once */
		return;
	}
	settle(reg, cl);
}

void ss_clients_auth_done(void *arg, struct ss_session *s)
{
	struct ss_client *cl = ss_client_of(s);

	(void)arg;
	s->auth_wait = 0;
	cl->auth_queued = 0;
	run(cl->reg, cl);
}

/* Closes cl at once, its unsent replies dropped. It is freed later, by
 * ss_clients_reap (or by the settle after its last reply): the caller may
 * be inside a walk of the clients (a CLIENT KILL rerun from the loop that
 * answers a batch or a COMPACT), which must not find it freed. */
static void disconnect(struct ss_clients *reg, struct ss_client *cl)
{
	ss_buf_consume(&cl->s.out, ss_buf_size(&cl->s.out));
	ss_conn_close(&cl->conn);
	if (!cl->reaped && push(&reg->reap, &reg->nreap, &reg->reapcap, cl) == 0)
		cl->reaped = 1;
}

void ss_clients_kick(void *client)
{
	struct ss_client *cl = client;
	settle(cl->reg, cl);
}

void ss_clients_close(void *client)
{
	struct ss_client *cl = client;
	disconnect(cl->reg, cl);
}

void ss_clients_reap(struct ss_clients *reg)
{
	size_t n = reg->nreap;

	reg->nreap = 0;
	for (size_t i = 0; i < n; i++) {
		reg->reap[i]->reaped = 0;
		settle(reg, reg->reap[i]);
	}
}

long long ss_clients_kill(struct ss_clients *reg, const struct ss_client_filter *f)
{
	struct ss_client *nx;
	long long n = 0;

	for (struct ss_client *cl = reg->head; cl; cl = nx) {
		nx = cl->next;
		if (cl->conn.fd < 0 || !ss_cmd_client_match(&cl->s.client, f))
			continue;
		ss_log_info(reg->diag, "CLIENT KILL: disconnecting client %llu (%s)",
			    (unsigned long long)cl->s.client.id, cl->s.client.addr);
		disconnect(reg, cl);
		n++;
	}
	return n;
}

void ss_clients_rebind(void *arg, struct ss_acl *next)
{
	struct ss_clients *reg = arg;

	struct ss_client *nx;

	for (struct ss_client *cl = reg->head; cl; cl = nx) {
		nx = cl->next;
		const struct ss_acl_user *was = cl->s.client.user;
		if (!ss_auth_rebind(&cl->s.client, next))
			continue;
		ss_log_notice(reg->diag, "disconnecting client %llu (%s): user '%s' %s",
			      (unsigned long long)cl->s.client.id, cl->s.client.addr, was->name,
			      ss_acl_find(next, was->name, was->nlen) ? "has a new password"
								      : "was removed");
		cl->s.client.user = NULL;
		disconnect(reg, cl);
	}
}

/* ---- the connection's owner ------------------------------------------ */

static size_t client_room(void *arg)
{
	struct ss_client *cl = arg;
	const struct ss_session *s = &cl->s;

	/* A link's ACKs are read however much of the stream is queued. */
	if (cl->link)
		return s->eof || ss_buf_size(&s->in) >= 4096 ? 0 : 4096 - ss_buf_size(&s->in);
	if (s->eof || s->close_after || ss_buf_size(&s->out) >= SS_SESSION_OUT_HIGH)
		return 0;
	return ss_session_room(s, max_line(cl));
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
	retime(cl->reg, cl); /* the client read its replies: it may be idle now */
}

static void client_closed(void *arg)
{
	struct ss_client *cl = arg;
	cl->s.closed = 1;
	if (cl->link) {
		struct ss_repl_link *l = cl->link;
		cl->link = NULL;
		ss_repl_link_closed(l);
	}
	if (cl->auth_queued && cl->reg->auth)
		ss_auth_cancel(cl->reg->auth, &cl->s);
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

/* ---- timeouts ---------------------------------------------------------- */

int ss_client_incomplete(const struct ss_client *cl)
{
	const struct ss_auth *auth = cl->reg->auth;

	return cl->conn.handshaking || ss_session_partial(&cl->s) ||
	       (auth && auth->acl && !cl->s.client.user);
}

/* Which timeout runs for cl now: an incomplete request's; none while it
 * waits on the server (staged ops owed a reply, a COMPACT or BACKUP, room
 * in a full batch, replies not yet sent, requests not yet run); otherwise
 * the idle one. */
static enum ss_tmo_kind timed_for(const struct ss_client *cl)
{
	const struct ss_session *s = &cl->s;

	if (cl->conn.fd < 0 || cl->link)
		return SS_TMO_NONE; /* a link: --repl-timeout (repl.c) */
	if (ss_client_incomplete(cl))
		return SS_TMO_REQUEST;
	if (s->pending > 0 || s->compact_wait != SS_COMPACT_NONE || s->batch_wait ||
	    ss_buf_size(&s->out) > 0 || ss_buf_size(&s->in) > 0)
		return SS_TMO_NONE;
	return SS_TMO_IDLE;
}

/* Sets the timer for the next deadline if it is earlier than the one the
 * timer is set for. A deadline that moved later (its client was active)
 * leaves the timer early: it fires, finds nothing due, and is set again. */
static void arm(struct ss_clients *reg)
{
	uint64_t next = ss_timeouts_next(&reg->tmo);

	if (next == UINT64_MAX || (ev_is_active(&reg->tmo_w) && next >= reg->tmo_at))
		return;
	uint64_t now = ss_clock_ns();
	double after = next > now ? (double)(next - now) / (double)NS_PER_S : 0.0;
	ev_timer_stop(reg->loop, &reg->tmo_w);
	ev_timer_set(&reg->tmo_w, after + TMO_SLACK_S, 0.0);
	ev_timer_start(reg->loop, &reg->tmo_w);
	reg->tmo_at = next;
}

/* After anything that may change what cl is timed for: its input ran, its
 * output drained, it was accepted. O(1): a list unlink and append. */
static void retime(struct ss_clients *reg, struct ss_client *cl)
{
	ss_timeouts_set(&reg->tmo, &cl->tmo, timed_for(cl), ss_clock_ns());
	arm(reg);
}

/* Closes a client whose timeout fell due, through the usual path: it is
 * freed once nothing refers to it (its staged ops, answered later). */
static void expire(struct ss_clients *reg, struct ss_client *cl, enum ss_tmo_kind kind)
{
	uint64_t limit = reg->tmo.limit[kind] / NS_PER_S;

	if (kind == SS_TMO_IDLE) {
		reg->idle_timeouts++;
		ss_log_info(reg->diag, "client %llu (%s) closed: idle for %llu s (--timeout)",
			    (unsigned long long)cl->s.client.id, cl->s.client.addr,
			    (unsigned long long)limit);
	} else {
		reg->request_timeouts++;
		ss_log_info(reg->diag, "client %llu (%s) closed: %s for %llu s (--request-timeout)",
			    (unsigned long long)cl->s.client.id, cl->s.client.addr,
			    cl->conn.handshaking      ? "TLS handshake unfinished"
			    : ss_session_partial(&cl->s) ? "request incomplete"
						      : "not authenticated",
			    (unsigned long long)limit);
	}
	/* Replies it has not read are dropped with it. */
	ss_buf_consume(&cl->s.out, ss_buf_size(&cl->s.out));
	ss_conn_close(&cl->conn);
	settle(reg, cl);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ss_clients *reg = w->data;
	uint64_t now = ss_clock_ns();
	struct ss_tmo_node *n;
	int closed = 0;
	(void)loop;
	(void)revents;

	while (closed++ < TMO_CLOSE_MAX && (n = ss_timeouts_due(&reg->tmo, now)) != NULL) {
		struct ss_client *cl = (struct ss_client *)((char *)n - offsetof(struct ss_client, tmo));
		enum ss_tmo_kind kind = n->kind, state = timed_for(cl);
		/* Judged again at the deadline: a state that changed with no
		 * event of the client's (a TLS handshake finished inside a
		 * read that then found no data) moves it, from now, instead
		 * of closing it for what it no longer is. */
		ss_timeouts_set(&reg->tmo, n, state == kind ? SS_TMO_NONE : state, now);
		if (state == kind)
			expire(reg, cl, kind);
	}
	arm(reg);
}

void ss_clients_set_timeouts(struct ss_clients *reg, unsigned idle_s, unsigned request_s)
{
	ss_timeouts_init(&reg->tmo, (uint64_t)idle_s * NS_PER_S, (uint64_t)request_s * NS_PER_S);
}

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
	ss_peer_name(fd, cl->s.client.addr, sizeof(cl->s.client.addr));
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
	retime(reg, cl);
}

/* The commit hook: answers every op of b, and remembers each client it
 * answered; they go on in resume, once every hook has seen the batch. */
static void resume_answered(void *arg);

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

void ss_clients_abandon(void *arg, struct ss_batch *b, size_t nops, const char *msg)
{
	struct ss_clients *reg = arg;

	for (size_t i = 0; i < nops && i < b->nops; i++) {
		struct ss_op *op = &b->ops[i];
		if (!op->reply)
			continue;
		struct ss_client *cl = ss_client_of(op->owner);
		if (ss_session_abandon(op->owner, msg) < 0)
			ss_conn_close(&cl->conn);
		op->reply = 0;
		/* It goes on from the loop, with the waiters (this may run
		 * inside another client's request - REPLICAOF, a REPLSYNC that
		 * fences - or inside the resume of a batch's clients); waiting,
		 * it is not freed meanwhile. */
		if (!cl->s.batch_wait &&
		    push(&reg->waiters, &reg->nwaiters, &reg->waitcap, cl) == 0)
			cl->s.batch_wait = 1;
		if (cl->conn.fd >= 0 && ss_conn_flush(&cl->conn) < 0)
			ss_conn_close(&cl->conn);
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
	ss_timeouts_init(&reg->tmo, 0, 0);
	ev_timer_init(&reg->tmo_w, on_timeout, 0.0, 0.0);
	reg->tmo_w.data = reg;
}

void ss_clients_free(struct ss_clients *reg)
{
	if (reg->loop)
		ev_timer_stop(reg->loop, &reg->tmo_w);
	while (reg->head)
		unlink_free(reg, reg->head);
	free(reg->touched);
	free(reg->waiters);
	free(reg->reap);
}
