/*
 * role.c - which role this node plays in replication, and the changes
 * between them; see srv.h.
 *
 * A primary runs the commit cycle for clients' writes, with repl.c's gate
 * on it and its links to the replicas. A replica refuses writes (READONLY)
 * and runs replica.c, which writes the primary's groups to the log itself.
 *
 *   start           --replica-of: a replica; else a primary.
 *   REPLICAOF NO ONE on a replica: promotion. What the replica wrote is
 *                   applied (its log is the history now), a new epoch -
 *                   one past every epoch it knows - is written to the log
 *                   and synced before OK, and the revisions go on from its
 *                   own: they never go back.
 *   REPLICAOF H P   on a primary: demotion. Writes are refused at once; a
 *                   batch durable here but not acknowledged is answered
 *                   with "outcome unknown" and dropped from memory; the
 *                   store is reopened (the table is the log again), and
 *                   the new primary decides by REPLSYNC what of its tail to
 *                   keep (TRUNCATE: what it never had).
 *                   On a replica: it follows H P instead.
 *
 * A full sync's install and a cut replace the store under every module
 * that holds it; swap_store is the one place that tells them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv.h"
#include "statestored/table.h"

static void refresh(struct ss_server *srv)
{
	struct ss_cmd_repl *c = &srv->cmd_repl;

	c->readonly = srv->is_replica      ? SS_CMD_RO_REPLICA
		      : srv->repl.fenced   ? SS_CMD_RO_FENCED
					   : SS_CMD_WRITABLE;
	c->epoch = srv->store ? ss_table_epoch(ss_store_table(srv->store)) : 0;
	c->fenced_epoch = srv->repl.fenced_epoch;
}

/* The store changed under everything that holds it. */
static void swap_store(struct ss_server *srv)
{
	struct ss_store *s = srv->store;

	srv->commit.store = s;
	srv->compactor.store = s;
	ss_repl_reset(&srv->repl, s);
	ss_replica_set_store(&srv->replica, s);
	ss_pending_set_rev(&srv->pending, ss_table_revision(ss_store_table(s)));
	refresh(srv);
}

/* A compaction or backup in the way of a store swap is given up; what
 * waits for it is told. */
static void stop_compactor(struct ss_server *srv, const char *why)
{
	if (!ss_compactor_running(&srv->compactor))
		return;
	int backup = srv->compactor.backup;
	ss_compactor_cancel(&srv->compactor);
	ss_commit_set_disk_busy(&srv->commit, 0);
	if (srv->repl_backup) {
		srv->repl_backup = 0;
		ss_repl_backup_done(&srv->repl, why, 0);
	} else if (backup) {
		ss_clients_backup_ended(&srv->clients, why, 0);
	} else {
		ss_clients_compact_ended(&srv->clients, SS_COMPACT_RUNNING, why);
	}
}

/* The store was closed and could not be opened again: every module
 * points at it, and the caller's stack too. Nothing is owed that a restart
 * would not find in the log (what was acknowledged is durable there), so
 * the process exits here, at once, rather than unwind through them. */
static void lost_store(struct ss_server *srv) __attribute__((noreturn));
static void lost_store(struct ss_server *srv)
{
	ss_log_error(srv->diag, "cannot reopen the data directory; exiting (code %d) so that a "
				"restart replays the log",
		     SS_EXIT_ERROR);
	exit(SS_EXIT_ERROR);
}

/* Closes and reopens the store, cut back to rev if cut. Returns 0; 1 if
 * it cannot be cut there (reopened whole); -1 if the store is lost (the
 * server stops). */
static int reopen(struct ss_server *srv, int cut, uint64_t rev, uint64_t *discarded)
{
	stop_compactor(srv, "cancelled: replication replaced the log");
	ss_store_close(srv->store);
	srv->store = NULL;
	int rc = ss_srv_open_store(srv, cut, rev, discarded);
	if (rc == -1 && cut)
		rc = ss_srv_open_store(srv, 0, 0, NULL) == SS_EXIT_OK ? 1 : -2;
	if (rc < 0 || !srv->store)
		lost_store(srv);
	swap_store(srv);
	return rc;
}

/* ---- the replica's requests of the server ---------------------------- */

static int install(void *arg)
{
	struct ss_server *srv = arg;
	struct ss_store_options opt;
	struct ss_open_report rep;
	struct ss_error err;

	stop_compactor(srv, "cancelled: a full sync replaced the log");
	ss_srv_store_options(srv, &opt);
	if (ss_store_install(&srv->store, &opt, ss_srv_wall_ms(), &rep, &err) < 0) {
		ss_log_error(srv->diag, "replica: the full sync's file was refused: %s", err.msg);
		if (!srv->store)
			lost_store(srv);
		return -1;
	}
	swap_store(srv);
	ss_log_notice(srv->diag, "replica: full sync installed: %zu entries at revision %" PRIu64,
		      ss_table_count(ss_store_table(srv->store)),
		      ss_table_revision(ss_store_table(srv->store)));
	return 0;
}

static int cut(void *arg, uint64_t rev, uint64_t *discarded)
{
	*discarded = 0;
	return reopen(arg, 1, rev, discarded);
}

static void fatal(void *arg, int code)
{
	ss_srv_stop(arg, code, 0);
}

static struct ss_repl_link *adopt(void *arg, struct ss_client *cl)
{
	struct ss_server *srv = arg;
	const struct ss_client_state *c = &cl->s.client;

	struct ss_repl_link *l = ss_repl_adopt(&srv->repl, cl, &cl->s.in, &cl->s.out, c->addr,
					       c->repl_epoch, c->repl_rev, c->repl_port,
					       c->repl_full);
	refresh(srv); /* a REPLSYNC from a newer epoch fences us */
	return l;
}

static void want_backup(void *arg)
{
	ss_srv_start_next(arg, 0);
}

/* ---- promotion and demotion -------------------------------------------- */

static const char *promote(struct ss_server *srv)
{
	struct ss_table *t = ss_store_table(srv->store);
	struct ss_batch b;
	struct ss_error err;

	if (ss_replica_stop(&srv->replica) < 0)
		return "out of memory";
	uint64_t epoch = ss_table_epoch(t);
	if (srv->replica.primary_epoch > epoch)
		epoch = srv->replica.primary_epoch;
	epoch++;
	uint64_t rev = ss_table_revision(t);
	struct ss_record r = {.type = SS_REC_EPOCH, .epoch = epoch, .rev = rev};
	ss_batch_init(&b);
	int rc = ss_batch_add(&b, &r, NULL);
	if (rc == 0 && ss_store_write(srv->store, &b, &err) < 0) {
		ss_log_error(srv->diag, "promotion: %s", err.msg);
		rc = -1;
	}
	if (rc == 0 && ss_store_sync(srv->store, &err) < 0) {
		ss_log_error(srv->diag, "promotion: %s; exiting so that a restart replays the log",
			     err.msg);
		ss_batch_free(&b);
		ss_srv_stop(srv, SS_EXIT_FSYNC, 0);
		return "the log's fdatasync failed";
	}
	if (rc == 0)
		rc = ss_store_apply(srv->store, &b, ss_srv_wall_ms());
	ss_batch_free(&b);
	if (rc < 0) {
		/* Still a replica of nobody: say so, and let REPLICAOF be retried. */
		return "cannot write the new epoch to the log";
	}
	ss_repl_note_group(&srv->repl, rev, ss_store_log_bytes(srv->store));
	srv->is_replica = 0;
	ss_pending_set_rev(&srv->pending, rev);
	ss_repl_activate(&srv->repl, srv->store);
	refresh(srv);
	ss_log_notice(srv->diag, "promoted: epoch %" PRIu64 " from revision %" PRIu64, epoch, rev);
	return NULL;
}

static const char *demote(struct ss_server *srv)
{
	srv->is_replica = 1;
	refresh(srv); /* from now on every write meets READONLY */
	ss_commit_demote(&srv->commit,
			 "this node stopped being the primary before enough replicas had the "
			 "write; the outcome is unknown, GETREV_CHECKPOINT resolves it",
			 "this node stopped being the primary: the write was not made; send it to "
			 "the new primary",
			 EROFS);
	ss_repl_deactivate(&srv->repl);
	/* The table becomes what was acknowledged; the rest of the log
	 * waits for the new primary (which may cut it). */
	srv->open_hold = 1;
	srv->open_hold_rev = srv->repl.commit_rev;
	int rc = reopen(srv, 0, 0, NULL);
	srv->open_hold = 0;
	if (rc < 0)
		return "cannot reopen the data directory";
	if (ss_replica_load_held(&srv->replica, srv->store, srv->held_from) < 0) {
		ss_srv_stop(srv, SS_EXIT_ERROR, 0);
		return "cannot read back the log";
	}
	ss_log_notice(srv->diag, "demoted: this node follows another primary from now on");
	return NULL;
}

static const char *replicaof(void *arg, const char *host, const char *port)
{
	struct ss_server *srv = arg;

	if (!host)
		return srv->is_replica ? promote(srv) : NULL;
	if (!srv->is_replica) {
		if (ss_compactor_running(&srv->compactor))
			return "a compaction or backup is running; retry when it ends";
		const char *why = demote(srv);
		if (why)
			return why;
	}
	ss_replica_start(&srv->replica, srv->store, host, port);
	return NULL;
}

static unsigned holding(void *arg)
{
	const struct ss_server *srv = arg;
	return srv->is_replica ? 0 : ss_repl_holding_all(&srv->repl);
}

/* ---- rows ------------------------------------------------------------------- */

struct rows {
	const struct ss_proto *proto;
	struct ss_buf *out;
	int n;
};

static int row(void *arg, const char *name, const char *value)
{
	struct rows *r = arg;

	r->n++;
	return r->proto->row(r->out, name, value);
}

int ss_role_rows(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct ss_server *srv = arg;
	struct rows r = {proto, out, 0};

	refresh(srv);
	if (row(&r, "role", srv->is_replica ? "replica" : "primary") < 0)
		return -1;
	int rc = srv->is_replica ? ss_replica_rows(&srv->replica, row, &r)
				 : ss_repl_rows(&srv->repl, row, &r);
	return rc < 0 ? -1 : r.n;
}

void ss_role_figures(const struct ss_server *srv, struct ss_repl_figures *f)
{
	const struct ss_repl *rp = &srv->repl;
	const struct ss_replica *ra = &srv->replica;

	*f = (struct ss_repl_figures){
		.replica = srv->is_replica,
		.epoch = ss_table_epoch(ss_store_table(srv->store)),
		.fenced = rp->fenced,
		.durable_revision = srv->is_replica ? ra->durable_rev : rp->durable_rev,
		.sync_replicas = rp->sync_replicas,
		.connected_replicas = rp->nlinks,
		.writes_waiting = ss_repl_writes_waiting(rp),
		.sync_waits = rp->st.sync_waits,
		.sync_timeouts = rp->st.sync_timeouts,
		.full_syncs = rp->st.full_syncs + ra->st.full_syncs,
		.partial_syncs = rp->st.partial_syncs + ra->st.partial_syncs,
		.truncated_records = ra->st.truncated_records,
		.primary_link = srv->is_replica && ss_replica_link_up(ra),
		.primary_epoch = ra->primary_epoch,
		.primary_commit = ra->primary_commit,
		.replica_fsyncs = ra->st.fsyncs,
	};
	f->lag_revisions = srv->is_replica ? ss_replica_lag(ra, &f->lag_ms) : ss_repl_lag(rp, &f->lag_ms);
}

size_t ss_role_unapplied(const struct ss_server *srv)
{
	return ss_commit_unapplied(&srv->commit) + ss_replica_unapplied(&srv->replica);
}

void ss_role_log_replaced(struct ss_server *srv)
{
	ss_repl_log_replaced(&srv->repl, srv->is_replica
						 ? srv->replica.durable_rev
						 : ss_table_revision(ss_store_table(srv->store)));
}

/* ---- setup -------------------------------------------------------------------- */

int ss_role_init(struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;
	struct ss_repl_config rc = {.sync_replicas = cfg->sync_replicas,
				    .sync_timeout = cfg->sync_timeout_ms / 1000.0,
				    .buffer = cfg->repl_buffer,
				    .timeout = cfg->repl_timeout_s};
	struct ss_repl_ops rops = {.kick = ss_clients_kick,
				   .close = ss_clients_close,
				   .want_backup = want_backup,
				   .arg = srv};
	struct ss_replica_ops pops = {.install = install, .cut = cut, .fatal = fatal, .arg = srv};
	int port = cfg->port >= 0 ? ss_listener_port(&srv->listener)
				  : ss_listener_port(&srv->tls_listener);

	ss_repl_init(&srv->repl, srv->loop, srv->diag, srv->store, &srv->commit, cfg->data_dir, &rc,
		     &rops);
	if (ss_replica_init(&srv->replica, srv->loop, srv->diag, cfg->io, &srv->repl,
			    cfg->data_dir, port, cfg->primary_auth_file, cfg->repl_timeout_s, &pops) < 0)
		return -1;
	srv->clients.adopt = adopt;
	srv->clients.adopt_arg = srv;
	srv->cmd_repl = (struct ss_cmd_repl){
		.replicaof = replicaof, .rows = ss_role_rows, .holding = holding, .arg = srv};
	if (cfg->replica_of && cfg->replica_of[0]) {
		char host[256], p[16];
		if (ss_options_split_hostport(cfg->replica_of, host, sizeof host, p, sizeof p) < 0)
			return -1; /* the option's check let it through: cannot happen */
		srv->is_replica = 1;
		if (ss_replica_load_held(&srv->replica, srv->store, srv->held_from) < 0)
			return -1;
		ss_replica_start(&srv->replica, srv->store, host, p);
	} else {
		ss_repl_activate(&srv->repl, srv->store);
	}
	refresh(srv);
	return 0;
}

void ss_role_free(struct ss_server *srv)
{
	ss_replica_free(&srv->replica);
	ss_repl_free(&srv->repl);
}
