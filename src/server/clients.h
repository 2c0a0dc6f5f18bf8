/*
 * clients.h - the server's connected clients: each a connection (net/conn.h)
 * and the session that runs its requests (cmd/session.h), and the registry
 * of them all.
 *
 * The registry accepts (or refuses) new connections, runs a client's
 * requests when its input arrives or when it may go on, answers the ops of
 * every batch the commit cycle ends (its commit hook), resumes the clients
 * a full batch paused, answers COMPACTs, and frees a client once nothing
 * refers to it: no staged op awaits a reply, no COMPACT, no batch wait.
 *
 * It also closes the clients that hold their slots without using them
 * (timeouts.h): one idle past --timeout, and one that has held an
 * incomplete request past --request-timeout. A client that waits on the
 * server (its staged ops, its COMPACT or BACKUP, its unsent replies) is
 * neither. The clock is the monotonic one (common/clock.h): a step of the
 * wall clock must not close every client at once, nor keep one forever.
 */
#ifndef STATESTORED_SERVER_CLIENTS_H
#define STATESTORED_SERVER_CLIENTS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/session.h"
#include "common/diag.h"
#include "net/conn.h"
#include "proto/proto.h"
#include "server/auth.h"
#include "server/commit.h"
#include "server/timeouts.h"

struct ss_clients;

struct ss_client {
	struct ss_tmo_node tmo; /* its place on a timeout's list */
	struct ss_conn conn;
	struct ss_session s;
	struct ss_clients *reg;
	struct ss_client *prev, *next;
	unsigned auth_queued : 1; /* its AUTH is with the password-check thread */
	unsigned reaped : 1;      /* closed by the server, on the reap list */
	unsigned cn_checked : 1;  /* its certificate's CN was looked up */
	unsigned first_seen : 1;  /* its first byte was looked at */
	/* A replica's link (server/repl.h) since its REPLSYNC: its input
	 * is the link's ACKs, its output the stream. */
	struct ss_repl_link *link;
};

/* The client whose session owns an op (ss_op.owner). */
static inline struct ss_client *ss_client_of(struct ss_session *s)
{
	return (struct ss_client *)((char *)s - offsetof(struct ss_client, s));
}

/* Fills the environment a session runs in (the server's part: the table,
 * the open batch, the clock, limits, whether to stop). */
typedef void (*ss_clients_env_fn)(void *arg, struct ss_session_env *env);

struct ss_repl_link;

struct ss_clients {
	/* A REPLSYNC was accepted: the server makes cl a replica's link
	 * (NULL: refused, the reason appended to cl's output). */
	struct ss_repl_link *(*adopt)(void *arg, struct ss_client *cl);
	void *adopt_arg;
	struct ev_loop *loop;
	const struct ss_diag *diag;
	const struct ss_proto *proto; /* what new clients speak */
	size_t max_line;
	int max_clients;
	ss_clients_env_fn env;
	void *env_arg;
	struct ss_client *head; /* every client not yet freed */
	size_t n;
	struct ss_client **touched; /* scratch: clients one batch answered */
	size_t ntouched, touchcap;
	struct ss_client **waiters; /* paused by a full batch */
	size_t nwaiters, waitcap;
	struct ss_client **reap; /* closed by the server: freed by ss_clients_reap */
	size_t nreap, reapcap;
	struct ss_commit_hook replies; /* answers each batch's ops */
	uint64_t connections; /* accepted over the lifetime */
	uint64_t refused;     /* turned away: max clients, or out of descriptors */
	uint64_t rejected;    /* error replies */
	uint64_t tls_on_plain; /* TLS handshakes closed on the plain port */
	/* Authentication (auth.h), or NULL: none. */
	struct ss_auth *auth;
	/* Optional: told of each COMPACT and BACKUP as it is answered, which
	 * is long after the session ran it (the metrics count it then). */
	void (*answered)(void *arg, const struct ss_session *s, const char *cmd, int failed);
	void *answered_arg;
	struct ss_timeouts tmo; /* --timeout and --request-timeout, in ns */
	ev_timer tmo_w;         /* at the next deadline of tmo */
	uint64_t tmo_at;        /* ... which is this, while it is active */
	uint64_t idle_timeouts;    /* clients closed by --timeout */
	uint64_t request_timeouts; /* ... by --request-timeout */
};

void ss_clients_init(struct ss_clients *reg, struct ev_loop *loop, const struct ss_diag *diag,
		     size_t max_line, int max_clients, ss_clients_env_fn env, void *env_arg);
/* Sets --timeout and --request-timeout, in seconds (0: off), before the
 * first client is accepted. */
void ss_clients_set_timeouts(struct ss_clients *reg, unsigned idle_s, unsigned request_s);

/* 1 if cl holds an incomplete request, which --request-timeout bounds: a
 * partial line or RESP frame, or a TLS handshake under way. The one test
 * of "incomplete": a new state that must not last (authentication not yet
 * done, say) is one more clause here, and its clock starts when the
 * client enters it (for a state a client starts in: at accept). */
int ss_client_incomplete(const struct ss_client *cl);

/* Closes and frees every client. */
void ss_clients_free(struct ss_clients *reg);

/* A new connection (a listener's callback) on transport tp (plain TCP or
 * TLS: both count against max_clients): served, or, when the process is
 * out of descriptors (shed) or max_clients are connected, refused with the
 * error "max clients reached" (where tp can say it), closed and counted. */
void ss_clients_accept(struct ss_clients *reg, const struct ss_transport *tp, int fd, int shed);

/* Resumes the clients a full batch paused (after a commit made room). */
/* ss_commit_abandon's part (commit.h: the abandon callback, arg the
 * registry): answers b's ops that owe a reply with the error msg and marks
 * them answered; their clients go on at once. */
void ss_clients_abandon(void *arg, struct ss_batch *b, size_t nops, const char *msg);

/* A link's client: send what its link queued (repl.h's kick), or close
 * it (repl.h's close). arg is the client. */
void ss_clients_kick(void *client);
void ss_clients_close(void *client);

void ss_clients_resume_waiters(struct ss_clients *reg);

/* COMPACT: the compaction that starts now takes every queued request, and
 * the one that ended answers those it took (failure NULL: ok). */
void ss_clients_compact_started(struct ss_clients *reg);
void ss_clients_compact_ended(struct ss_clients *reg, enum ss_compact_wait which,
			      const char *failure);

/* BACKUP: they run one at a time, in the order they arrived. next marks
 * the oldest queued one running and returns its arguments (NULL if none
 * is queued); ended answers the running one (failure NULL: OK rev). */
const struct ss_backup_request *ss_clients_backup_next(struct ss_clients *reg);
void ss_clients_backup_ended(struct ss_clients *reg, const char *failure, uint64_t rev);

/* CLIENT KILL: closes the connections f matches, dropping their unsent
 * replies; the count. They are freed by the next ss_clients_reap. */
long long ss_clients_kill(struct ss_clients *reg, const struct ss_client_filter *f);

/* Frees the clients the server closed (CLIENT KILL, a reload) once nothing
 * refers to them: from the loop's prepare watcher, outside any walk. */
void ss_clients_reap(struct ss_clients *reg);

/* An AUTH's password check was answered (auth.h's resume): s runs again. */
void ss_clients_auth_done(void *reg, struct ss_session *s);

/* The users changed (SIGHUP): moves each client to its user in next, and
 * disconnects those whose user is gone or has a new password. */
void ss_clients_rebind(void *reg, struct ss_acl *next);

/* Shutdown and fatal stops: sends what is queued (best effort) and closes
 * the connections that fail; or drops every reply and closes them all. */
void ss_clients_flush_all(struct ss_clients *reg);
void ss_clients_drop_all(struct ss_clients *reg);


#endif
