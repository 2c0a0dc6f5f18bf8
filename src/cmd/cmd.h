/*
 * cmd.h - the command table and dispatcher: one parsed request in, a reply
 * or a staged mutation out.
 *
 * The dispatcher reads the table (durable state only) and appends mutations
 * to the open batch; it never writes the log, never touches a socket and
 * reads no clock. It replies only through the protocol it is handed
 * (proto.h), so the same handlers answer every wire format. The server
 * decides when a batch is committed and then calls ss_cmd_reply_op for
 * each of its ops.
 */
#ifndef STATESTORED_CMD_CMD_H
#define STATESTORED_CMD_CMD_H

#include <stdint.h>

#include "cmd/acl.h"
#include "cmd/pending.h"
#include "common/buf.h"
#include "proto/proto.h"
#include "statestored/batch.h"
#include "statestored/table.h"

/* A connection's state as the RESP commands see it and set it. */
struct ss_client_state {
	uint64_t id;    /* CLIENT ID: unique in the process, from 1 */
	int resp;       /* 2 or 3: the RESP version of its RESP replies (HELLO) */
	char *name;     /* CLIENT SETNAME, or NULL */
	char *lib_name; /* CLIENT SETINFO LIB-NAME, or NULL */
	char *lib_ver;  /* CLIENT SETINFO LIB-VER, or NULL */
	/* MULTI ... EXEC (multi.c): the queued requests, serialized; whether
	 * one was refused (EXEC aborts); the watched keys and the revision
	 * each had when watched. */
	int multi, multi_error;
	struct ss_buf queue;
	size_t nqueued, queued_args;
	struct ss_buf watched;
	size_t nwatched;
	struct ss_pending *watch_registry; /* where its watches are registered */
	uint64_t watch_failures;           /* its failures count at the first WATCH */
	uint64_t rand;                     /* RANDOMKEY's state */
	/* Authentication (acl.h), when the server has an ACL: the user this
	 * connection is, or NULL before AUTH. An AUTH whose password needs
	 * the slow check leaves the credentials here for the server, which
	 * runs the KDF off the loop, remembers a good password in the user
	 * (the rerun of the AUTH then passes the fast check) or sets
	 * auth_denied (the rerun answers WRONGPASS). */
	struct ss_acl_user *user;
	char addr[64]; /* the peer, "addr:port" (CLIENT LIST, CLIENT KILL, the log) */
	char auth_user[SS_ACL_USER_MAX + 1];
	size_t auth_ulen;
	char *auth_pass; /* malloc'd; wiped and freed by whoever takes it */
	size_t auth_plen;
	int auth_denied;
	/* REPLSYNC's request, for the server (SS_CMD_REPL). */
	uint64_t repl_epoch, repl_rev;
	int repl_port, repl_full;
};

void ss_client_init(struct ss_client_state *c, uint64_t id);
void ss_client_free(struct ss_client_state *c);
/* Wipes and frees the credentials an AUTH left for the slow check. */
void ss_cmd_auth_clear(struct ss_client_state *c);

struct ss_client_filter;

/* What writes meet on a node that is not a primary that takes them. */
enum ss_cmd_readonly {
	SS_CMD_WRITABLE = 0,
	SS_CMD_RO_REPLICA, /* a replica: READONLY */
	SS_CMD_RO_FENCED,  /* a primary that heard of a newer epoch */
};

/* The server's replication side, as commands see it (server/repl.h,
 * server/replica.h). */
struct ss_cmd_repl {
	enum ss_cmd_readonly readonly;
	uint64_t epoch, fenced_epoch; /* this node's epoch; the newer one */
	/* REPLICAOF host port, or NO ONE (host NULL): NULL, or why not. */
	const char *(*replicaof)(void *arg, const char *host, const char *port);
	/* INFO replication's rows (and STATS'): through proto->row. */
	int (*rows)(void *arg, const struct ss_proto *proto, struct ss_buf *out);
	/* WAIT: replicas that hold every write acknowledged so far. */
	unsigned (*holding)(void *arg);
	void *arg;
};

struct ss_cmd_env {
	const struct ss_proto *proto; /* the wire format to reply in */
	struct ss_client_state *client; /* the connection's state */
	struct ss_table *table; /* durable state, for reads */
	struct ss_batch *batch; /* the open batch, for mutations */
	struct ss_pending *pending; /* staged state and the revision counter */
	void *owner;            /* recorded in each staged op */
	int64_t now_ms;         /* unix ms, for TTLs and commit times */
	/* While EXEC runs its queued commands: where their replies go, at
	 * once, each decided against the staged state. Writes stage records
	 * with no reply of their own; EXEC answers for them all. */
	struct ss_buf *exec;
	char *scratch; /* while EXEC runs: SS_VALUE_MAX bytes for a value read */
	int may_reply;          /* 0 while the caller still owes earlier replies */
	int quota_exceeded;     /* the log is past its quota: refuse SETs */
	uint64_t *rejected;     /* incremented for each error reply */
	uint64_t *denied;       /* optional: incremented for each NOAUTH and NOPERM */
	/* Appends STATS' rows through proto->row; returns how many, or -1
	 * (ENOMEM). */
	int (*stats)(void *arg, const struct ss_proto *proto, struct ss_buf *out);
	/* Optional: appends a CLIENT LIST line for every connection
	 * (ss_cmd_client_info); 0, or -1 (ENOMEM). */
	int (*clients)(void *arg, struct ss_buf *out);
	/* Optional: disconnects the other connections f matches (CLIENT
	 * KILL); the count. */
	long long (*kill)(void *arg, const struct ss_client_filter *f);
	void *stats_arg; /* for stats, clients and kill */
	/* The settings CONFIG GET shows, by their option names. */
	const struct ss_cmd_config *config;
	size_t nconfig;
	/* The users (acl.h), or NULL: no authentication, every command open
	 * to every connection. */
	const struct ss_acl *acl;
	/* Replication, or NULL: a node on its own (tests, fuzzers). */
	const struct ss_cmd_repl *repl;
};

struct ss_cmd_config {
	const char *name;
	const char *value;
	int alias; /* Redis's name for a setting also shown by its own (dir,
		    * maxclients): RESP's CONFIG GET only */
};

/* A connection's CLIENT LIST line (acl: whether the server has users). 0,
 * or -1 (ENOMEM). */
int ss_cmd_client_info(const struct ss_client_state *c, int acl, struct ss_buf *out);

/* CLIENT KILL's filters: each given one must match (0 / NULL: any). */
struct ss_client_filter {
	uint64_t id;
	const struct ss_token *user, *addr;
	const struct ss_client_state *skip; /* SKIPME yes: the caller */
	int acl; /* the server has users (else every connection is "default") */
};
/* 1 if c matches f. */
int ss_cmd_client_match(const struct ss_client_state *c, const struct ss_client_filter *f);

enum ss_cmd_status {
	SS_CMD_REPLIED, /* the reply was appended to out */
	SS_CMD_STAGED,  /* a mutation joined env->batch; its reply follows the commit */
	SS_CMD_WAIT,    /* nothing done: the command answers at once but may_reply
			 * is 0; run it again once earlier replies are out */
	SS_CMD_COMPACT, /* the caller compacts, then calls ss_cmd_reply_compact */
	SS_CMD_BACKUP,  /* BACKUP <dir> [prefix], checked: the caller backs up,
			 * then calls ss_cmd_reply_backup */
	SS_CMD_QUIT,    /* ok appended; close the connection after sending it */
	SS_CMD_AUTH,    /* nothing appended: the password needs the slow check
			 * (client->auth_*); run the request again after it */
	SS_CMD_FULL,    /* nothing done: the open batch lacks room (EXEC); run it
			 * again after the next commit */
	SS_CMD_NOMEM,   /* out of memory: nothing staged, nothing appended */
	SS_CMD_REPL,    /* REPLSYNC, checked (client->repl_*): the connection
			 * becomes a replica's link; nothing appended */
};

/* A command's role, which decides who may run it (acl.h): it reads
 * checkpoints, writes them, does both (a write that answers a value, as
 * GETSET: a user needs both roles), administers the daemon, concerns only
 * the connection (any authenticated user), or is open before AUTH (AUTH,
 * HELLO, PING, QUIT). Every command has exactly one. */
enum ss_cmd_role {
	SS_CMD_READ = 1,
	SS_CMD_WRITE = 2,
	SS_CMD_RW = SS_CMD_READ | SS_CMD_WRITE,
	SS_CMD_ADMIN = 4,
	SS_CMD_CONN = 8,
	SS_CMD_OPEN = 16,
	SS_CMD_REPLICATION = 32, /* REPLSYNC: a replica following this node */
};

struct ss_cmd {
	const char *name;       /* canonical, upper case */
	int min_args, max_args; /* arguments after the name */
	enum ss_cmd_role role;
	enum ss_cmd_status (*run)(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);
	/* Where its keys are, for COMMAND: the first and last argument
	 * (-1: the last of the request) and the step; 0 0 0: no keys. */
	signed char first_key, last_key, key_step;
	const char *summary; /* for COMMAND DOCS */
	unsigned char multi; /* inside MULTI: SS_MULTI_QUEUE, _NOW or _REFUSE */
};

/* What a command does inside MULTI: queued for EXEC (writes, and the
 * reads that can see the transaction's own writes); run at once (EXEC,
 * DISCARD, WATCH, QUIT, RESET...); or refused, which aborts the EXEC
 * (reads of the whole store or of the server, which would not see them). */
enum { SS_MULTI_QUEUE = 0, SS_MULTI_NOW = 1, SS_MULTI_REFUSE = 2 };

/* The table, *n rows; and the row a request's first token names (case
 * insensitive), or NULL. */
const struct ss_cmd *ss_cmd_table(size_t *n);
const struct ss_cmd *ss_cmd_lookup(const struct ss_token *name);
/* The roles a request needs: its command's, except for CLIENT LIST and
 * CLIENT KILL, which are the administrator's. */
unsigned ss_cmd_request_role(const struct ss_cmd *cmd, const struct ss_request *req);

/* Executes req (argc >= 1). Valid writes never wait: they are staged behind
 * the caller's earlier staged writes, whose replies come first anyway. */
enum ss_cmd_status ss_cmd_execute(const struct ss_request *req, struct ss_cmd_env *env,
				  struct ss_buf *out);

/* What an op answers once its batch is durable (ss_op.reply; 0: none). */
enum ss_cmd_reply {
	SS_REPLY_OK = 1,       /* OK (SET_CHECKPOINT) */
	SS_REPLY_INT,          /* the integer rev (a reply op: DEL_CHECKPOINT's 0) */
	SS_REPLY_DELETED,      /* the integer 1 (a DEL record) */
	SS_REPLY_OK_REV,       /* OK <rev> */
	SS_REPLY_CONFLICT,     /* CONFLICT <rev> */
	SS_REPLY_CONFLICT_AT,  /* CONFLICT <name> <rev>, the name in aux */
	SS_REPLY_NO_REV,       /* ERR no revision <rev> in history */
	SS_REPLY_NIL,          /* no value (RESP: SET NX that did not set) */
	SS_REPLY_BULK,         /* the value in aux (RESP: GETSET's old value) */
	SS_REPLY_NIL_ARRAY,    /* RESP: EXEC refused by WATCH */
	SS_REPLY_RAW,          /* the reply's bytes in aux (RESP: EXEC's array) */
};

/* LIST_CHECKPOINTS' COUNT: default and most. */
#define SS_LIST_COUNT_DEFAULT 100
#define SS_LIST_COUNT_MAX 10000

/* Appends the reply of a committed op (ss_cmd_reply). 0 or -1 (ENOMEM), as
 * every reply below. */
int ss_cmd_reply_op(const struct ss_proto *proto, const struct ss_batch *b, const struct ss_op *op,
		    struct ss_buf *out);
/* The reply of kind with its number (a revision, a count) and bytes. */
int ss_cmd_render(const struct ss_proto *proto, int kind, uint64_t num, const char *p, size_t n,
		  struct ss_buf *out);

/* Appends the reply of an op whose batch could not be written: errnum is the
 * write's errno. */
int ss_cmd_reply_write_failed(const struct ss_proto *proto, int errnum, struct ss_buf *out);

/* BACKUP's longest directory argument, in bytes. */
#define SS_BACKUP_PATH_MAX 1024

/* Appends BACKUP's reply: OK <rev> (RESP: the integer rev), or the error
 * "backup failed: <why>". */
int ss_cmd_reply_backup(const struct ss_proto *proto, const char *failure, uint64_t rev,
			struct ss_buf *out);

/* Appends COMPACT's reply: ok, or the error "compaction failed: <why>". */
int ss_cmd_reply_compact(const struct ss_proto *proto, const char *failure, struct ss_buf *out);

#endif
