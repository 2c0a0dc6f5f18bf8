/*
 * server.c - the daemon: startup, the loop, signals, background expiry,
 * the quota and compaction control; see server.h.
 *
 * The parts it wires together, each a module of its own: the listener
 * (net/listener.c) hands new connections to the clients' registry
 * (clients.c), which runs their sessions (cmd/session.c); the commit cycle
 * (commit.c) writes, syncs and applies what they stage and tells its hooks
 * - the registry's replies among them; the compactor (compactor.c) rewrites
 * the log beside it; every figure is a row of stats.c.
 *
 * The durability contract lives across them, so here is where each rule
 * is kept.
 *
 * 1. Nothing is acknowledged before it is durable: a mutation's reply is
 *    produced only by a commit hook, which runs after ss_store_sync()
 *    (inline) or the syncer's fdatasync and ss_store_sync_end() have
 *    returned 0, and after ss_store_apply (commit.c).
 * 2. Nothing non-durable is visible: mutations are staged in the open batch
 *    and reach the table (the only thing reads consult) in ss_store_apply,
 *    after the sync. A connection that has staged a mutation executes no
 *    read until that mutation is answered (the dispatcher answers SS_CMD_WAIT
 *    and the connection pauses), so even the writer cannot read ahead.
 * 3. Per-connection order: replies are appended to the connection's output
 *    in execution order; a connection with staged mutations only stages more
 *    (valid writes) and those are answered in batch order (session.c).
 * 4. Group commit: the cycle runs in the ev_prepare watcher below, once per
 *    loop iteration after every ready socket has been read: one write and
 *    one fdatasync for all of them. While the disk is slow (a compaction
 *    runs, or the last fdatasync took a millisecond or more), and with
 *    --sync-thread when several connections wait, the fdatasync runs on the
 *    syncer thread while the loop reads and stages the next batch, which is
 *    written only once this one is durable (so at most one write is ever
 *    unsynced, which replay's torn-tail rule needs) (commit.c).
 * 5. A failed write: the store cuts the log back; every op of the batch gets
 *    an error and nothing reaches the table. Later batches are tried
 *    normally. If the cut-back failed too, the store refuses every later
 *    write until it is reopened: the errors go out, and the process exits
 *    SS_EXIT_ERROR rather than serve on, refusing everything.
 * 6. A failed fdatasync: nothing of the batch is answered, the loop stops and
 *    the process exits SS_EXIT_FSYNC. Retrying fsync after a failure can
 *    report success for pages the kernel already dropped.
 * 7. COMPACT walks the table in slices between the loop's other work and
 *    snapshots what it finds; every batch written after the walk began (or
 *    in flight as it began) stays in the old log as the tail and is copied
 *    across, and the finish - the last of the tail, sync, rename - waits
 *    until no fdatasync is in flight, so every acknowledged batch is in the
 *    new log (compactor.c).
 *    If only the directory fsync after the rename failed, the store is
 *    poisoned as after a failed fdatasync: COMPACT gets its error, then the
 *    process exits SS_EXIT_FSYNC.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "net/listener.h"
#include "net/tls.h"
#include "cmd/pending.h"
#include "server/auth.h"
#include "server/clients.h"
#include "server/commit.h"
#include "server/compactor.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/options.h"
#include "server/server.h"
#include "server/srv.h"
#include "server/stats.h"
#include "statestored/store.h"

/* Descriptors kept for the daemon's own files beyond its clients: the log,
 * a replaced log, the temp file, LOCK, the listener and its spare, the
 * loop's own, the threads', stdio. Redis keeps 32 too. */
#define SS_RESERVED_FDS 32
/* Background expiry: slots examined per round, rounds per tick at most. */
#define SS_EXPIRE_SLOTS 1024
#define SS_EXPIRE_ROUNDS 16
#define SS_EXPIRE_PERIOD 0.1


/* Fills CONFIG GET's rows with the effective values: the port bound (for
 * --port 0), the clients served (fewer than asked when descriptors are
 * short), the log level in force. */
static int config_rows(struct ss_server *srv)
{
	struct ss_server_config eff = *srv->cfg;

	eff.port = ss_listener_port(&srv->listener);
	eff.tls_port = ss_listener_port(&srv->tls_listener);
	eff.max_clients = srv->max_clients;
	eff.log_level = (int)srv->diag->level;
	/* The metrics port bound, for --metrics ADDR:0. */
	char addr[64];
	int port;
	if (srv->metrics_on &&
	    ss_metrics_parse_addr(srv->cfg->metrics, addr, sizeof(addr), &port) == 0) {
		snprintf(srv->metrics_addr, sizeof(srv->metrics_addr),
			 strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr,
			 ss_http_port(&srv->metrics.http));
		eff.metrics = srv->metrics_addr;
	}
	if (ss_options_view_init(&srv->config, &eff) < 0) {
		ss_log_error(srv->diag, "out of memory for CONFIG GET's rows");
		return -1;
	}
	return 0;
}

/* CLIENT LIST: a line for each connection. */
static int server_clients(void *arg, struct ss_buf *out)
{
	struct ss_server *srv = arg;

	for (struct ss_client *cl = srv->clients.head; cl; cl = cl->next)
		if (cl->conn.fd >= 0 && ss_cmd_client_info(&cl->s.client, srv->auth.acl != NULL, out) < 0)
			return -1;
	return 0;
}

static long long server_kill(void *arg, const struct ss_client_filter *f)
{
	struct ss_server *srv = arg;
	return ss_clients_kill(&srv->clients, f);
}

static int64_t now_ms(const struct ss_server *srv) { return (int64_t)(ev_now(srv->loop) * 1000.0); }

/* Whether the log is past --quota-bytes. A batch staged before it passed
 * may take the log past it by up to one batch (SS_BATCH_SOFT_MAX). */
static int over_quota(const struct ss_server *srv)
{
	return srv->cfg->quota_bytes > 0 && ss_store_log_bytes(srv->store) >= srv->cfg->quota_bytes;
}

/* Logs the quota alarm when it is raised and when it clears: after each
 * commit (the log grew) and each compaction (it shrank). */
static void watch_quota(struct ss_server *srv)
{
	int over = over_quota(srv);

	if (over == srv->quota_alarm)
		return;
	srv->quota_alarm = over;
	if (over)
		ss_log_warn(srv->diag,
			    "quota alarm: the log is %llu bytes, past --quota-bytes %llu; SETs are "
			    "refused until DEL_CHECKPOINT and COMPACT bring it under",
			    (unsigned long long)ss_store_log_bytes(srv->store),
			    (unsigned long long)srv->cfg->quota_bytes);
	else
		ss_log_notice(srv->diag,
			      "quota alarm cleared: the log is %llu bytes, under --quota-bytes %llu; "
			      "SETs are accepted again",
			      (unsigned long long)ss_store_log_bytes(srv->store),
			      (unsigned long long)srv->cfg->quota_bytes);
}

/* STATS: one row for each row of the stats table. */
struct stats_out {
	const struct ss_proto *proto;
	struct ss_buf *out;
	int rows;
};

/* A histogram shows as two rows: <name>_count and <name>_sum. */
static int emit_hist(struct stats_out *so, const struct ss_stat *row)
{
	char name[64], num[24];

	so->rows += 2;
	snprintf(name, sizeof(name), "%s_count", row->name);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)row->hist->count);
	if (so->proto->row(so->out, name, num) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s_sum", row->name);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)row->hist->sum);
	return so->proto->row(so->out, name, num);
}

static int emit_row(void *arg, const struct ss_stat *row)
{
	struct stats_out *so = arg;
	char num[24];

	if (row->kind == SS_STAT_HISTOGRAM)
		return emit_hist(so, row);
	so->rows++;
	if (row->kind == SS_STAT_TEXT)
		return so->proto->row(so->out, row->name, row->text);
	snprintf(num, sizeof(num), "%llu", row->value);
	return so->proto->row(so->out, row->name, num);
}

static const char *unready(void *arg);

/* What the stats table's rows read (STATS and /metrics). */
static void stats_sources(void *arg, struct ss_stats_sources *src)
{
	struct ss_server *srv = arg;

	*src = (struct ss_stats_sources){
		.commit = &srv->commit,
		.compactor = &srv->compactor,
		.clients = &srv->clients,
		.store = srv->store,
		.uptime_s = ev_now(srv->loop) - srv->started,
		.max_clients = srv->max_clients,
		.auto_compactions = srv->auto_compactions,
		.expired = srv->expired,
		.compaction_loop_max_us = srv->compaction_loop_max_us,
		.backup_loop_max_us = srv->backup_loop_max_us,
		.loop = &srv->loop_stats,
		.quota_bytes = srv->cfg->quota_bytes,
		.quota_exceeded = over_quota(srv),
		.replay_us = srv->replay_us,
		.rss_bytes = ss_stats_rss_bytes(),
		.ready = unready(srv) == NULL,
		.commit_latency = srv->metrics_on ? &srv->metrics.latency : NULL,
		.auth = &srv->auth.st,
		.tls = srv->tls ? ss_tls_stats(srv->tls) : NULL,
	};
	ss_role_figures(srv, &src->repl);
}

/* /readyz: why the daemon is not ready, or NULL. It listens only once the
 * log is replayed, so a reply means the replay is done. A store that
 * refuses writes stops the daemon at once (server.c's rules 5 and 6), so
 * that reason shows only between the failure and the exit. Past the quota
 * SETs are refused: not ready, so that the readiness alert tells the
 * operator, who must DEL and COMPACT (reads, DELs and COMPACT go on). */
static const char *unready(void *arg)
{
	struct ss_server *srv = arg;

	if (srv->commit.refusing || ss_store_state(srv->store) != SS_STORE_OK)
		return "the log refuses writes after a failed write or sync; the daemon exits so "
		       "that a restart replays it";
	if (srv->shutting_down)
		return "shutting down";
	if (over_quota(srv))
		return "the log is past --quota-bytes: SETs are refused until DEL_CHECKPOINT and "
		       "COMPACT bring it under";
	return NULL;
}

static int server_stats(void *arg, const struct ss_proto *proto, struct ss_buf *out)
{
	struct ss_server *srv = arg;
	struct ss_stats_sources src;
	struct stats_out so = {proto, out, 0};

	stats_sources(srv, &src);
	if (ss_stats_each(&src, emit_row, &so) < 0)
		return -1;
	int n = ss_role_rows(srv, proto, out);
	return n < 0 ? -1 : so.rows + n;
}

/* The commit hook of the staged state (pending.h). */
static void pending_done(void *arg, struct ss_batch *b, int written, int errnum, uint64_t seq)
{
	(void)errnum;
	(void)seq;
	ss_pending_done(arg, b, written);
}

/* The environment a client's session runs in. */
static void session_env(void *arg, struct ss_session_env *env)
{
	struct ss_server *srv = arg;

	*env = (struct ss_session_env){
		.table = ss_store_table(srv->store),
		.batch = ss_commit_open(&srv->commit),
		.pending = &srv->pending,
		.now_ms = now_ms(srv),
		.max_line = srv->cfg->max_line,
		.batch_max_bytes = SS_BATCH_SOFT_MAX,
		.stopping = srv->shutting_down || srv->commit.refusing,
		.quota_exceeded = over_quota(srv),
		.compact_requested = &srv->compact_requested,
		.backups_queued = &srv->backups_queued,
		.backup_seq = &srv->backup_seq,
		.stats = server_stats,
		.clients = server_clients,
		.kill = server_kill,
		.stats_arg = srv,
		.config = srv->config.rows,
		.nconfig = srv->config.n,
		.observe = srv->metrics_on ? ss_metrics_observe : NULL,
		.observe_arg = &srv->metrics,
		.repl = &srv->cmd_repl,
	};
}

/* Stops the loop after a failure that makes further service unsafe:
 * keep_replies sends what is queued (the errors that say what failed)
 * first, best effort, as on SIGTERM; otherwise it is dropped. The process
 * then exits with code. */
void ss_srv_stop(struct ss_server *srv, int code, int keep_replies)
{
	char why[64];

	snprintf(why, sizeof(why), "stopping after a failure (exit %d)", code);
	ss_notify_stopping(&srv->notify, why);
	srv->exit_code = code;
	srv->shutting_down = 1;
	ss_listener_stop(&srv->listener);
	ss_listener_stop(&srv->tls_listener);
	if (keep_replies) {
		ss_clients_flush_all(&srv->clients);
	} else {
		/* The clients first: cancelling waits for the compactor's job
		 * in flight, which a failing disk may hold up. */
		ss_clients_drop_all(&srv->clients);
		ss_compactor_cancel(&srv->compactor);
	}
	ev_break(srv->loop, EVBREAK_ALL);
}

static void commit_fatal(void *arg, int code, int keep_replies)
{
	ss_srv_stop(arg, code, keep_replies);
}

/* Automatic compaction: the log has grown past both thresholds. */
static int log_outgrown(const struct ss_server *srv)
{
	uint64_t bytes = ss_store_log_bytes(srv->store);
	uint64_t base = ss_store_log_bytes_compacted(srv->store);

	return srv->cfg->auto_compact_min > 0 && bytes >= srv->cfg->auto_compact_min &&
	       bytes * 100 >= base * srv->cfg->auto_compact_growth;
}

/* Starts a compaction for the queued COMPACTs (or for the log's growth). */
static void compact_start(struct ss_server *srv, int automatic)
{
	struct ss_error err;

	srv->compact_requested = 0;
	/* A batch written but not yet applied is not in the table the walk
	 * reads: it belongs to the tail. */
	if (ss_compactor_start(&srv->compactor, now_ms(srv), ss_role_unapplied(srv),
			       &err) < 0) {
		ss_log_error(srv->diag, "compaction failed to start: %s", err.msg);
		ss_clients_compact_ended(&srv->clients, SS_COMPACT_QUEUED, err.msg);
		return;
	}
	if (automatic)
		srv->auto_compactions++;
	srv->compaction_loop_max_us = 0;
	srv->run_seen = 1;
	srv->run_backup = 0;
	ss_commit_set_disk_busy(&srv->commit, 1);
	ss_clients_compact_started(&srv->clients);
}

/* Starts the next BACKUP in line, if any; one that cannot start is
 * answered at once, and the next one tried. */
static void backup_start(struct ss_server *srv)
{
	const struct ss_backup_request *b;
	struct ss_error err;

	while (srv->backups_queued > 0 && !ss_compactor_running(&srv->compactor) &&
	       (b = ss_clients_backup_next(&srv->clients)) != NULL) {
		srv->backups_queued--;
		if (ss_compactor_backup(&srv->compactor, now_ms(srv),
					ss_role_unapplied(srv), b->dir, b->prefix, b->plen,
					&err) == 0) {
			srv->backup_loop_max_us = 0;
			srv->run_seen = srv->run_backup = 1;
			ss_commit_set_disk_busy(&srv->commit, 1);
			return;
		}
		ss_log_error(srv->diag, "backup failed to start: %s", err.msg);
		ss_clients_backup_ended(&srv->clients, err.msg, 0);
	}
}

/* A full sync's backup, for the replicas that wait for one. */
static void repl_backup_start(struct ss_server *srv)
{
	struct ss_error err;

	if (ss_compactor_backup(&srv->compactor, now_ms(srv), ss_role_unapplied(srv),
				ss_repl_backup_dir(&srv->repl), "", 0, &err) < 0) {
		ss_log_error(srv->diag, "full sync: the backup failed to start: %s", err.msg);
		ss_repl_backup_done(&srv->repl, err.msg, 0);
		return;
	}
	ss_repl_backup_started(&srv->repl);
	srv->repl_backup = 1;
	srv->backup_loop_max_us = 0;
	srv->run_seen = srv->run_backup = 1;
	ss_commit_set_disk_busy(&srv->commit, 1);
}

/* What runs next on the compactor, once it is free: queued COMPACTs, then
 * queued BACKUPs, then a compaction for the log's growth. */
void ss_srv_start_next(struct ss_server *srv, int automatic)
{
	if (ss_compactor_running(&srv->compactor) || srv->shutting_down)
		return;
	if (srv->compact_requested)
		compact_start(srv, 0);
	else if (srv->backups_queued > 0)
		backup_start(srv);
	else if (ss_repl_wants_backup(&srv->repl))
		repl_backup_start(srv);
	else if (automatic && log_outgrown(srv))
		compact_start(srv, 1);
}

static void on_backed_up(struct ss_compactor *cp, const char *failure, uint64_t rev, void *arg)
{
	struct ss_server *srv = arg;
	(void)cp;

	srv->run_seen = srv->run_backup = 1;
	ss_commit_set_disk_busy(&srv->commit, 0);
	if (srv->repl_backup) {
		srv->repl_backup = 0;
		ss_repl_backup_done(&srv->repl, failure, rev);
	} else {
		ss_clients_backup_ended(&srv->clients, failure, rev);
	}
	ss_srv_start_next(srv, 0);
}

static void on_compacted(struct ss_compactor *cp, const char *failure, void *arg)
{
	struct ss_server *srv = arg;
	(void)cp;

	srv->run_seen = 1;
	srv->run_backup = 0;
	ss_commit_set_disk_busy(&srv->commit, 0);
	if (!failure)
		ss_role_log_replaced(srv);
	watch_quota(srv);
	/* A failed directory fsync after the rename poisons the store. */
	int refusing = failure && ss_store_state(srv->store) != SS_STORE_OK;
	if (refusing)
		srv->shutting_down = 1; /* answer COMPACT, execute nothing more */
	ss_clients_compact_ended(&srv->clients, SS_COMPACT_RUNNING, failure);
	if (refusing) {
		ss_log_error(srv->diag, "the log refuses every further write until it is "
					"reopened; exiting so that a restart replays it");
		ss_srv_stop(srv, SS_EXIT_FSYNC, 1);
		return;
	}
	ss_srv_start_next(srv, 0);
}

/* The compactor may swap the log's descriptor only when no fdatasync runs
 * on it. A compaction also waits for a batch the replication gate holds:
 * its tail must end after it, and the index of the log the replicas are
 * streamed from restarts after it. A backup need not: its tail stops at
 * the last applied group (ss_store_limit_backup_tail) - and must not, or a
 * full sync for the only sync replica would wait for that replica. */
static int may_finish(const struct ss_server *srv)
{
	const struct ss_commit *c = &srv->commit;

	if (srv->compactor.backup)
		return !ss_commit_in_flight(c) || ss_commit_holding(c);
	return !ss_commit_in_flight(c);
}

static int compactor_may_finish(void *arg)
{
	const struct ss_server *srv = arg;
	return may_finish(srv);
}

/* After every commit cycle: the clients that found the batch full, a
 * compaction whose finish waited for the log, a pending compaction, the
 * quota. */
static void after_commit(void *arg)
{
	struct ss_server *srv = arg;

	/* A compaction whose finish waited for the log first: the quota and
	 * the clients resumed below see the log it leaves. */
	if (ss_compactor_finish_pending(&srv->compactor) && may_finish(srv))
		ss_compactor_finish(&srv->compactor);
	watch_quota(srv);
	ss_clients_resume_waiters(&srv->clients);
	ss_srv_start_next(srv, 1);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;

	if (srv->clients.nreap > 0)
		ss_clients_reap(&srv->clients);
	if (ss_commit_ready(&srv->commit) || srv->clients.nwaiters > 0 ||
	    ((srv->compact_requested || srv->backups_queued > 0) &&
	     !ss_compactor_running(&srv->compactor)))
		ss_commit_run(&srv->commit);
	/* Every iteration's time, from waking (ev_now, taken by libev right
	 * after the poll) to blocking again (stats.h); and the stall a
	 * compaction causes: the longest of them while one runs (its start,
	 * its slices and its finish included). Both are wall-clock times; a clock step
	 * counts as nothing (ss_loop_stats_note). */
	double busy = ss_loop_stats_note(&srv->loop_stats, (ev_time() - ev_now(loop)) * 1e6);
	if (srv->run_seen || ss_compactor_running(&srv->compactor)) {
		int backup = ss_compactor_running(&srv->compactor) ? srv->compactor.backup
								   : srv->run_backup;
		uint64_t *max = backup ? &srv->backup_loop_max_us : &srv->compaction_loop_max_us;
		if (busy > (double)*max)
			*max = (uint64_t)busy;
		srv->run_seen = 0;
	}
}

static void on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;
	struct ss_table *t = ss_store_table(srv->store);

	for (int round = 0; round < SS_EXPIRE_ROUNDS; round++) {
		size_t n = ss_table_expire_some(t, now_ms(srv), SS_EXPIRE_SLOTS, &srv->expire_cursor);
		srv->expired += n;
		if (n < SS_EXPIRE_SLOTS / 4)
			break; /* few expired here: come back next tick */
	}
}

static void on_new_client(struct ss_listener *l, int fd, int shed, void *arg)
{
	struct ss_server *srv = arg;
	const struct ss_transport *tp =
		l == &srv->tls_listener ? ss_tls_transport(srv->tls) : &ss_transport_tcp;

	ss_clients_accept(&srv->clients, tp, fd, shed);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;

	ss_log_info(srv->diag, "%s received: finishing the batch in flight and shutting down",
		    w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Before the drain, which may wait on the disk: the manager then
	 * counts it against TimeoutStopSec, not against the watchdog. */
	ss_notify_stopping(&srv->notify, w->signum == SIGTERM ? "SIGTERM received: shutting down"
							      : "SIGINT received: shutting down");
	srv->shutting_down = 1;
	ss_listener_stop(&srv->listener);
	ss_listener_stop(&srv->tls_listener);
	/* A snapshot in progress is dropped: the log it would replace is
	 * complete, and the next start can compact again. */
	ss_compactor_cancel(&srv->compactor);
	/* The batch in flight is answered, then the open one committed. */
	if (srv->exit_code == SS_EXIT_OK)
		ss_commit_drain(&srv->commit);
	ss_clients_flush_all(&srv->clients);
	ev_break(loop, EVBREAK_ALL);
}

/* SIGHUP (closing the terminal that started us, or a reload request) and
 * SIGUSR1/2 would end the process by default, without a word. SIGHUP
 * reloads the files there are to reload (the users; the TLS certificate
 * and key), each keeping what is in force if its new files are bad;
 * SIGUSR1/2 are logged and ignored. */
static void on_other_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;

	if (w->signum == SIGHUP && (srv->auth.acl || srv->tls)) {
		ss_log_notice(srv->diag, "SIGHUP received: reloading%s%s",
			      srv->auth.acl ? " the users" : "",
			      !srv->tls ? "" : srv->auth.acl ? " and the TLS certificate"
							     : " the TLS certificate");
		if (srv->auth.acl)
			ss_auth_reload(&srv->auth, ss_clients_rebind, &srv->clients);
		if (srv->tls)
			ss_tls_reload(srv->tls); /* a failure is logged and counted; the old pair stays */
		return;
	}
	ss_log_notice(srv->diag, "%s received: nothing to reload; carrying on",
		      w->signum == SIGHUP ? "SIGHUP" : w->signum == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

/* Replay's progress, logged and sent as a STATUS line once a second. */
struct replay_watch {
	struct ss_server *srv;
	uint64_t last_ns;      /* the start, or the last line */
	uint64_t last_records; /* records at that time */
};

#define SS_REPLAY_PROGRESS_NS 1000000000u

/* The store calls this every SS_STORE_PROGRESS_RECORDS records (about
 * every 13 ms): one clock read, a line once a second has passed. */
static void replay_progress(void *arg, const struct ss_replay_progress *p)
{
	struct replay_watch *w = arg;
	const struct ss_server_config *cfg = w->srv->cfg;
	uint64_t now = ss_clock_ns();

	if (now - w->last_ns >= SS_REPLAY_PROGRESS_NS) {
		double pct = p->total ? 100.0 * (double)p->bytes / (double)p->total : 100.0;
		double rate = (double)(p->records - w->last_records) * 1e9 / (double)(now - w->last_ns);
		ss_log_info(w->srv->diag,
			    "replaying the log: %llu records, %.1f%% of %llu bytes, %.0f records/s",
			    (unsigned long long)p->records, pct, (unsigned long long)p->total, rate);
		ss_notify_send(&w->srv->notify,
			       "STATUS=replaying the log: %llu records, %.1f%% of %llu bytes, "
			       "%.0f records/s",
			       (unsigned long long)p->records, pct, (unsigned long long)p->total,
			       rate);
		w->last_ns = now;
		w->last_records = p->records;
	}
	if (cfg->replay_hook)
		cfg->replay_hook(cfg->replay_hook_arg);
}

void ss_srv_store_options(struct ss_server *srv, struct ss_store_options *opt)
{
	const struct ss_server_config *cfg = srv->cfg;

	*opt = (struct ss_store_options){.dir = cfg->data_dir,
					 .io = cfg->io,
					 .prealloc_bytes = cfg->prealloc_bytes,
					 .history = cfg->history,
					 .progress = srv->watch ? replay_progress : NULL,
					 .progress_arg = srv->watch};
}

int64_t ss_srv_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ss_srv_open_store(struct ss_server *srv, int truncate, uint64_t truncate_rev,
		      uint64_t *discarded)
{
	const struct ss_server_config *cfg = srv->cfg;
	struct replay_watch watch = {.srv = srv, .last_ns = ss_clock_ns()};
	struct ss_store_options opt;
	struct ss_open_report rep;
	struct ss_error err;

	srv->watch = &watch;
	ss_srv_store_options(srv, &opt);
	opt.truncate = truncate;
	opt.truncate_rev = truncate_rev;
	/* A replica's open holds back what its primary had not committed
	 * (role.c queues it for the primary's COMMIT). */
	opt.hold = srv->open_hold && !truncate;
	opt.hold_rev = srv->open_hold_rev;
	int64_t wall_ms = ss_srv_wall_ms();
	uint64_t t0 = ss_clock_us();
	/* systemd shows STATUS in `systemctl status`: this one, then the
	 * replay's progress once a second if it takes that long, then READY=1. */
	ss_notify_send(&srv->notify, "STATUS=replaying the log in %s", cfg->data_dir);
	int rc = ss_store_open(&srv->store, &opt, wall_ms, &rep, &err);
	srv->watch = NULL;
	if (rc < 0 && err.kind == SS_ERR_TRUNCATE) {
		ss_log_notice(srv->diag, "%s", err.msg);
		return -1; /* the caller full-syncs instead */
	}
	if (rc < 0) {
		ss_log_error(srv->diag, "cannot open the data directory: %s", err.msg);
		ss_notify_send(&srv->notify, "STATUS=cannot open the data directory: %s", err.msg);
		switch (err.kind) {
		case SS_ERR_LOCKED:
			return SS_EXIT_LOCKED;
		case SS_ERR_CORRUPT:
		case SS_ERR_VERSION:
			return SS_EXIT_CORRUPT;
		default:
			return SS_EXIT_ERROR;
		}
	}
	uint64_t dt = ss_clock_us() - t0;
	srv->replay_us = dt;
	if (rep.lock_pid_errno)
		ss_log_warn(srv->diag,
			"cannot record the pid in %s/%s (%s): a start after a crash cannot tell "
			"whether the lock's holder still runs",
			cfg->data_dir, SS_LOCK_FILE, strerror(rep.lock_pid_errno));
	if (rep.removed_tmp)
		ss_log_info(srv->diag, "removed a stale compaction temp file");
	if (rep.removed_sync)
		ss_log_info(srv->diag, "removed a full sync's file left unfinished");
	if (discarded)
		*discarded = rep.discarded;
	srv->held_from = opt.hold ? rep.held_from : rep.log_bytes;
	if (opt.hold && rep.held_from < rep.log_bytes)
		ss_log_notice(srv->diag, "held back %llu records past revision %llu, the last known "
					 "committed: applied once the primary commits them",
			      (unsigned long long)rep.held, (unsigned long long)rep.hold_rev);
	if (rep.upgraded_from)
		ss_log_notice(srv->diag,
			      "the log was in format version %d: rewritten in version %d, with "
			      "revisions 1 to %llu given in log order (commit times unknown: 0)",
			      rep.upgraded_from, SS_LOG_VERSION,
			      (unsigned long long)ss_table_revision(ss_store_table(srv->store)));
	if (rep.torn_bytes > 0)
		ss_log_warn(srv->diag, "the log had a torn tail: cut %llu bytes after the last valid record",
			(unsigned long long)rep.torn_bytes);
	ss_log_info(srv->diag,
		"replayed %llu records in %llu groups in %.1f ms: %zu entries loaded, "
		"%llu expired dropped, %llu torn bytes cut, log %llu bytes",
		(unsigned long long)rep.records, (unsigned long long)rep.groups, (double)dt / 1000.0,
		ss_table_count(ss_store_table(srv->store)), (unsigned long long)rep.expired,
		(unsigned long long)rep.torn_bytes, (unsigned long long)rep.log_bytes);
	return SS_EXIT_OK;
}

/* Makes room for --max-clients connections under the descriptor limit:
 * raises the soft RLIMIT_NOFILE towards the hard one, as Redis does, and
 * where even that is too low, serves fewer clients and says so. Otherwise
 * accept would fail with EMFILE long before --max-clients, and those
 * clients could only be shed. */
static void fit_descriptors(struct ss_server *srv)
{
	struct rlimit rl;
	/* --metrics: its listener, the listener's spare and its connections;
	 * --tls-port: its listener and spare (its clients count in
	 * --max-clients, as the plain port's do). */
	int reserved = SS_RESERVED_FDS +
		       (srv->cfg->metrics && srv->cfg->metrics[0] ? SS_HTTP_CONNS_MAX + 2 : 0) +
		       (srv->cfg->tls_port >= 0 ? 2 : 0);
	rlim_t need = (rlim_t)srv->cfg->max_clients + (rlim_t)reserved;

	srv->max_clients = srv->cfg->max_clients;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		ss_log_warn(srv->diag, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			ss_log_warn(srv->diag, "cannot raise the descriptor limit from %llu to %llu: %s",
				(unsigned long long)rl.rlim_cur, (unsigned long long)want.rlim_cur,
				strerror(errno));
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		long long fit = (long long)rl.rlim_cur - reserved;
		srv->max_clients = fit > 0 ? (int)fit : 1;
		ss_log_warn(srv->diag,
			"--max-clients %d lowered to %d: the descriptor limit is %llu (hard limit "
			"%llu), and %d descriptors are kept for the daemon's own files",
			srv->cfg->max_clients, srv->max_clients, (unsigned long long)rl.rlim_cur,
			(unsigned long long)rl.rlim_max, reserved);
	}
}

/* --metrics: binds its port before the replay, as the clients' port is,
 * so that a port in use is found at once. 0, or -1 after logging why. */
static int bind_metrics(struct ss_server *srv)
{
	struct ss_metrics_ops ops = {.sources = stats_sources, .unready = unready, .arg = srv};
	char addr[64];
	int port;

	if (ss_metrics_parse_addr(srv->cfg->metrics, addr, sizeof(addr), &port) < 0) {
		ss_log_error(srv->diag, "bad --metrics address '%s'", srv->cfg->metrics);
		return -1;
	}
	if (ss_metrics_init(&srv->metrics, &srv->commit, &ops) < 0) {
		ss_log_error(srv->diag, "out of memory setting up the metrics");
		return -1;
	}
	srv->metrics_on = 1;
	return ss_metrics_bind(&srv->metrics, addr, port, srv->diag);
}

/* The users (--acl-file, --requirepass-file), and protected mode: a
 * daemon bound to an address other hosts can reach does not serve
 * without them unless told to (--insecure-no-auth). 0, or -1 after logging
 * why (exit 2). */
static int load_users(struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;

	if (cfg->acl_file[0] && cfg->requirepass_file[0]) {
		ss_log_error(srv->diag, "--acl-file and --requirepass-file: give one (an ACL file "
					"may define the user 'default')");
		return -1;
	}
	if (ss_auth_load(cfg->acl_file, cfg->requirepass_file, NULL, srv->diag, &srv->acl) < 0)
		return -1;
	/* Authenticated too: TLS only (--port none), every client with a
	 * certificate the CA vouches for (--tls-auth-clients yes). */
	int mtls_only = cfg->port < 0 && cfg->tls_port >= 0 && cfg->tls_auth_clients == SS_TLS_AUTH_YES;
	if (srv->acl || mtls_only || ss_listener_address_loopback(cfg->bind_addr))
		return 0;
	if (cfg->insecure_no_auth) {
		ss_log_warn(srv->diag, "serving %s without authentication (--insecure-no-auth): "
				       "anyone who can reach the port can change every checkpoint",
			    cfg->bind_addr);
		return 0;
	}
	ss_log_error(srv->diag,
		     "protected mode: refusing to serve %s, an address other hosts can reach, "
		     "without authentication. Give --acl-file FILE or --requirepass-file FILE "
		     "(statestored --hash-password makes the hashes), serve TLS only with client "
		     "certificates (--port none --tls-auth-clients yes), bind 127.0.0.1, or, if a "
		     "firewall or private network already guards the port, --insecure-no-auth",
		     cfg->bind_addr);
	return -1;
}

/* --tls-port and --metrics-tls: the certificate and key are read now,
 * before the replay, so that a bad file is found at once; and the TLS
 * port is bound. 0, or -1 after logging why. */
static int setup_tls(struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;
	static const char *const auth[] = {"no", "optional", "yes"};

	if (cfg->tls_port < 0 && !cfg->metrics_tls)
		return 0;
	struct ss_tls_files files = {.cert_file = cfg->tls_cert_file,
				     .key_file = cfg->tls_key_file,
				     .ca_file = cfg->tls_ca_cert_file,
				     .auth = cfg->tls_auth_clients};
	srv->tls = ss_tls_new(&files, srv->diag);
	if (!srv->tls)
		return -1;
	ss_log_info(srv->diag, "TLS: certificate %s, client certificates %s", cfg->tls_cert_file,
		    auth[cfg->tls_auth_clients]);
	if (cfg->tls_port < 0)
		return 0;
	return ss_listener_bind(&srv->tls_listener, cfg->bind_addr, cfg->tls_port, srv->diag);
}

static void server_cleanup(struct ss_server *srv)
{
	ss_auth_free(&srv->auth); /* first: its jobs point at clients' sessions */
	ss_acl_free(srv->acl);    /* if auth never took them */
	ss_commit_free(&srv->commit);
	ss_compactor_free(&srv->compactor);
	ss_clients_free(&srv->clients); /* before pending: a client unwatches its keys there */
	ss_role_free(srv); /* after the clients: a link's client tells it when it closes */
	if (srv->metrics_on)
		ss_metrics_free(&srv->metrics);
	ss_pending_free(&srv->pending);
	ss_listener_close(&srv->listener);
	ss_listener_close(&srv->tls_listener);
	ss_tls_free(srv->tls); /* after the connections, which hold its context */
	ss_store_close(srv->store);
	ss_options_view_free(&srv->config);
	ss_notify_close(&srv->notify); /* its watchdog timer is on the loop */
	if (srv->loop)
		ev_loop_destroy(srv->loop);
}

static void block_stop_signals(struct ss_server *srv)
{
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
		ss_log_warn(srv->diag, "cannot block signals for the shutdown: %s", strerror(rc));
}

/* The loop's watchers: signals, the commit cycle, background expiry. */
static void start_watchers(struct ss_server *srv)
{
	static const int others[] = {SIGHUP, SIGUSR1, SIGUSR2};

	ev_signal_init(&srv->sigterm_w, on_signal, SIGTERM);
	ev_signal_init(&srv->sigint_w, on_signal, SIGINT);
	srv->sigterm_w.data = srv->sigint_w.data = srv;
	ev_signal_start(srv->loop, &srv->sigterm_w);
	ev_signal_start(srv->loop, &srv->sigint_w);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ev_signal_init(&srv->other_w[i], on_other_signal, others[i]);
		srv->other_w[i].data = srv;
		ev_signal_start(srv->loop, &srv->other_w[i]);
	}
	ev_prepare_init(&srv->prepare_w, on_prepare);
	srv->prepare_w.data = srv;
	ev_prepare_start(srv->loop, &srv->prepare_w);
	ev_timer_init(&srv->expire_w, on_expire, SS_EXPIRE_PERIOD, SS_EXPIRE_PERIOD);
	srv->expire_w.data = srv;
	ev_timer_start(srv->loop, &srv->expire_w);
}

int ss_server_run(const struct ss_server_config *cfg)
{
	struct ss_server srv_s, *srv = &srv_s;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->diag = cfg->diag;
	srv->listener.fd = srv->listener.spare_fd = -1;
	srv->tls_listener.fd = srv->tls_listener.spare_fd = -1;
	ss_notify_init(&srv->notify, srv->diag);

	ss_log_notice(srv->diag, "statestored %s starting: pid %d, data dir %s", SS_VERSION,
		      (int)getpid(), cfg->data_dir);
#ifdef SS_BENCH_NOSYNC
	ss_log_warn(srv->diag, "BENCH-ONLY BUILD: fdatasync is disabled, acknowledged writes are "
			       "NOT durable");
#endif
	fit_descriptors(srv);
	int code = SS_EXIT_USAGE;
	if (load_users(srv) < 0)
		goto out;
	/* Bind first, so that a port in use or a bad address is found before
	 * the data directory is created or replayed; listen only after the
	 * replay, so that nobody connects to a daemon that cannot serve yet. */
	code = SS_EXIT_ERROR;
	if (cfg->port >= 0 &&
	    ss_listener_bind(&srv->listener, cfg->bind_addr, cfg->port, srv->diag) < 0)
		goto out;
	if (setup_tls(srv) < 0)
		goto out;
	if (cfg->metrics && cfg->metrics[0] && bind_metrics(srv) < 0)
		goto out;
	/* A replica's restart: its commit point says how much of its log to
	 * apply (none known: only what a snapshot holds; the rest waits for
	 * the primary). */
	if (cfg->replica_of && cfg->replica_of[0]) {
		srv->open_hold = 1;
		if (ss_repl_commit_read(cfg->data_dir, &srv->open_hold_rev) < 0)
			srv->open_hold_rev = 0;
	}
	code = ss_srv_open_store(srv, 0, 0, NULL);
	srv->open_hold = 0;
	if (code != SS_EXIT_OK)
		goto out;
	watch_quota(srv);
	if (cfg->quota_bytes > 0 &&
	    (cfg->auto_compact_min == 0 || cfg->auto_compact_min >= cfg->quota_bytes))
		ss_log_warn(srv->diag,
			    "automatic compaction (--auto-compact-min %llu) cannot run before the log "
			    "reaches --quota-bytes %llu: lower --auto-compact-min, or COMPACT by hand",
			    (unsigned long long)cfg->auto_compact_min,
			    (unsigned long long)cfg->quota_bytes);

	code = SS_EXIT_ERROR;
	/* The default loop: the one that handles signals. */
	srv->loop = ev_default_loop(EVFLAG_AUTO);
	if (!srv->loop) {
		ss_log_error(srv->diag, "cannot create the event loop");
		goto out;
	}
	ss_clients_init(&srv->clients, srv->loop, srv->diag, cfg->max_line, srv->max_clients,
			session_env, srv);
	struct ss_acl *users = srv->acl;
	srv->acl = NULL; /* the auth's now, even if it fails */
	if (ss_auth_init(&srv->auth, srv->loop, srv->diag, cfg->acl_file, cfg->requirepass_file,
			 users, ss_clients_auth_done, &srv->clients) < 0)
		goto out;
	if (srv->auth.acl)
		srv->clients.auth = &srv->auth;
	struct ss_commit_ops cops = {.after = after_commit, .fatal = commit_fatal, .arg = srv};
	ss_commit_init(&srv->commit, srv->loop, srv->store, cfg->io, srv->diag, cfg->sync_thread,
		       &cops);
	/* The staged state forgets a batch before its clients run again. */
	ss_pending_init(&srv->pending, ss_table_revision(ss_store_table(srv->store)));
	srv->pending_hook = (struct ss_commit_hook){.done = pending_done, .arg = &srv->pending};
	ss_commit_add_hook(&srv->commit, &srv->pending_hook);
	ss_commit_add_hook(&srv->commit, &srv->clients.replies);
	srv->commit.abandon = ss_clients_abandon;
	srv->commit.abandon_arg = &srv->clients;
	/* After the replies: a mutation's latency ends once its reply is
	 * queued. */
	if (srv->metrics_on) {
		ss_commit_add_hook(&srv->commit, &srv->metrics.hook);
		srv->clients.answered = ss_metrics_answered;
		srv->clients.answered_arg = &srv->metrics;
	}
	struct ss_compactor_ops kops = {.done = on_compacted,
					.backup_done = on_backed_up,
					.may_finish = compactor_may_finish,
					.arg = srv};
	if (ss_compactor_init(&srv->compactor, srv->loop, srv->store, cfg->io, srv->diag, &kops) <
	    0)
		ss_log_warn(srv->diag, "no compaction thread (%s): the tail is copied on the loop",
			    strerror(errno));
	ss_clients_set_timeouts(&srv->clients, cfg->timeout_s, cfg->request_timeout_s);
	if (ss_role_init(srv) < 0)
		goto out;
	if ((cfg->port >= 0 &&
	     ss_listener_start(&srv->listener, srv->loop, on_new_client, srv) < 0) ||
	    (cfg->tls_port >= 0 &&
	     ss_listener_start(&srv->tls_listener, srv->loop, on_new_client, srv) < 0))
		goto out;
	if (srv->metrics_on) {
		if (cfg->metrics_tls)
			srv->metrics.http.tp = ss_tls_transport(srv->tls);
		if (ss_metrics_start(&srv->metrics, srv->loop) < 0)
			goto out;
		/* Not "listening on": that line says the daemon is ready. */
		ss_log_notice(srv->diag, "metrics over %s at %s, port %d: /metrics, /healthz, "
					 "/readyz", cfg->metrics_tls ? "HTTPS" : "HTTP", cfg->metrics,
			      ss_http_port(&srv->metrics.http));
	}
	srv->started = ev_now(srv->loop);
	if (config_rows(srv) < 0)
		goto out;
	start_watchers(srv);

	/* The ports as harness.py reads them: the plain one first. */
	char tls_note[48] = "";
	if (cfg->tls_port >= 0)
		snprintf(tls_note, sizeof(tls_note), cfg->port >= 0 ? ", TLS on port %d" : ", TLS only",
			 ss_listener_port(&srv->tls_listener));
	ss_log_notice(srv->diag, "listening on %s:%d%s (max clients %d, max line %zu bytes)",
		      cfg->bind_addr,
		      ss_listener_port(cfg->port >= 0 ? &srv->listener : &srv->tls_listener),
		      tls_note, srv->max_clients, cfg->max_line);
	/* Only now is the daemon what READY=1 promises: the log is replayed,
	 * the store takes writes and the listener accepts, so a unit ordered
	 * After= this one can connect at once. */
	char status[128];
	snprintf(status, sizeof(status), "ready: %zu entries, revision %llu",
		 ss_table_count(ss_store_table(srv->store)),
		 (unsigned long long)ss_table_revision(ss_store_table(srv->store)));
	ss_notify_ready(&srv->notify, srv->loop, status);
	srv->exit_code = SS_EXIT_OK;
	ev_run(srv->loop, 0);
	/* The exit code is decided. Tearing down stops the signal watchers,
	 * which puts back the default action, and a SIGTERM that arrives then
	 * (a supervisor reacting to the closed sockets) would kill us and
	 * turn exit 5, "restart to replay", into a death by signal. Blocked,
	 * it is dropped at exit. */
	block_stop_signals(srv);
	code = srv->exit_code;
	if (code == SS_EXIT_OK)
		ss_log_notice(srv->diag, "shut down cleanly");
out:
	server_cleanup(srv);
	return code;
}
