/*
 * srv.h - the daemon's state, shared by the files that make up the server
 * proper: server.c (startup, the loop, signals, compaction control) and
 * role.c (replication: which role this node plays and the changes between
 * them). Not for the other modules, which get what they need as arguments.
 */
#ifndef STATESTORED_SERVER_SRV_H
#define STATESTORED_SERVER_SRV_H

#include <ev.h>
#include <stdint.h>

#include "cmd/cmd.h"
#include "cmd/pending.h"
#include "net/listener.h"
#include "net/tls.h"
#include "server/auth.h"
#include "server/clients.h"
#include "server/commit.h"
#include "server/compactor.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/options.h"
#include "server/repl.h"
#include "server/replica.h"
#include "server/server.h"
#include "server/stats.h"
#include "statestored/store.h"

struct replay_watch;

struct ss_server {
	const struct ss_server_config *cfg;
	const struct ss_diag *diag;
	struct ev_loop *loop;
	struct ss_store *store;
	struct ss_listener listener;     /* plain TCP (--port); fd -1 for --port none */
	struct ss_listener tls_listener; /* --tls-port; fd -1 without */
	struct ss_tls *tls;              /* the TLS side, for --tls-port and --metrics-tls */
	struct ss_clients clients;
	struct ss_commit commit;
	struct ss_compactor compactor;
	struct ss_notify notify; /* systemd's NOTIFY_SOCKET, if any */
	struct ss_metrics metrics; /* --metrics: the HTTP endpoints */
	struct ss_auth auth;       /* the users, and the password-check thread */
	struct ss_acl *acl;        /* the users as loaded, until auth takes them */
	int metrics_on;
	ev_signal sigterm_w, sigint_w;
	ev_signal other_w[3]; /* SIGHUP, SIGUSR1, SIGUSR2: logged, ignored */
	ev_prepare prepare_w;  /* runs the commit cycle before the loop blocks */
	ev_timer expire_w;
	size_t expire_cursor;
	int max_clients; /* --max-clients, or fewer if descriptors are short */
	int quota_alarm; /* the log is past --quota-bytes (logged when it changes) */
	int run_seen;    /* a compaction or backup ran during this loop iteration */
	int run_backup;  /* ... and it was a backup */
	uint64_t compaction_loop_max_us; /* longest iteration while the last one ran */
	uint64_t backup_loop_max_us;     /* the same for the last backup */
	struct ss_loop_stats loop_stats;
	int compact_requested; /* some connection's COMPACT waits for a run */
	uint64_t backups_queued; /* BACKUPs waiting for their turn */
	uint64_t backup_seq;     /* numbers them, for their order */
	uint64_t auto_compactions;
	uint64_t expired;
	uint64_t replay_us; /* how long open_store's replay took */
	int shutting_down;
	int exit_code;
	double started;
	struct ss_pending pending; /* staged state for conditions, and revisions */
	struct ss_commit_hook pending_hook;
	/* Replication (role.c): the primary's side, the replica's side, and
	 * what commands see of them. */
	struct ss_repl repl;
	struct ss_replica replica;
	struct ss_cmd_repl cmd_repl;
	int is_replica;
	int repl_backup;          /* the compactor's run is a full sync's backup */
	struct replay_watch *watch; /* open_store's, while it runs */
	/* The next open holds back what follows open_hold_rev (store.h:
	 * hold); held_from: where the last open's held groups begin. */
	int open_hold;
	uint64_t open_hold_rev;
	uint64_t held_from;
	/* CONFIG GET's rows: the options as the daemon runs them. */
	struct ss_options_view config;
	char metrics_addr[96]; /* ... the metrics address bound, which they show */
};

/* ---- server.c ---- */

/* Stops the loop after a failure; the process exits with code. */
void ss_srv_stop(struct ss_server *srv, int code, int keep_replies);
/* Opens the store (opt's truncate fields as given), logging what the open
 * found. Returns SS_EXIT_OK, or the exit code its failure means. */
int ss_srv_open_store(struct ss_server *srv, int truncate, uint64_t truncate_rev,
		      uint64_t *discarded);
/* The store's options, as open_store passes them. */
void ss_srv_store_options(struct ss_server *srv, struct ss_store_options *opt);
int64_t ss_srv_wall_ms(void);
/* Starts what waits for the compactor, if it is free (automatic: a
 * compaction for the log's growth too). */
void ss_srv_start_next(struct ss_server *srv, int automatic);

/* ---- role.c ---- */

/* Sets up replication once the loop, the commit cycle and the clients
 * exist: a primary, or a replica of --replica-of. Returns 0, or -1. */
int ss_role_init(struct ss_server *srv);
void ss_role_free(struct ss_server *srv);
/* STATS' and INFO replication's text rows; and the figures of the stats
 * table's replication rows. */
int ss_role_rows(void *arg, const struct ss_proto *proto, struct ss_buf *out);
void ss_role_figures(const struct ss_server *srv, struct ss_repl_figures *f);
/* Bytes written to the log and not applied (a compaction's tail). */
size_t ss_role_unapplied(const struct ss_server *srv);
/* A compaction finished (renamed: the log was replaced). */
void ss_role_log_replaced(struct ss_server *srv);

#endif
