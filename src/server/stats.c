/*
 * stats.c - the table of the daemon's figures; see stats.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "net/tls.h"
#include "server/clients.h"
#include "server/commit.h"
#include "server/compactor.h"
#include "server/auth.h"
#include "server/stats.h"
#include "statestored/store.h"
#include "statestored/table.h"

typedef unsigned long long ull;
typedef const struct ss_stats_sources src_t;

const unsigned SS_LOOP_SLOW_MS[SS_LOOP_SLOW_N] = {1, 2, 5, 10, 50};

double ss_loop_stats_note(struct ss_loop_stats *st, double busy_us)
{
	st->iterations++;
	if (!(busy_us > 0 && busy_us < 1e9))
		return 0;
	if (busy_us > (double)st->max_us)
		st->max_us = (uint64_t)busy_us;
	for (int k = 0; k < SS_LOOP_SLOW_N; k++)
		if (busy_us > SS_LOOP_SLOW_MS[k] * 1000.0)
			st->slow[k]++;
	return busy_us;
}

void ss_stat_hist_init(struct ss_stat_hist *h, uint64_t base, int n)
{
	*h = (struct ss_stat_hist){.base = base, .n = n > SS_STAT_HIST_MAX ? SS_STAT_HIST_MAX : n};
}

void ss_stat_hist_latency(struct ss_stat_hist *h) { ss_stat_hist_init(h, 50, 19); }
void ss_stat_hist_records(struct ss_stat_hist *h) { ss_stat_hist_init(h, 1, 13); }

void ss_stat_hist_observe(struct ss_stat_hist *h, uint64_t v)
{
	/* The first k with v <= base << k: q = ceil(v / base), and k is the
	 * bit length of q - 1. */
	uint64_t q = v / h->base + (v % h->base != 0);
	int k = q <= 1 ? 0 : 64 - __builtin_clzll(q - 1);

	h->buckets[k < h->n ? k : h->n]++;
	h->count++;
	h->sum += v;
}

uint64_t ss_stats_rss_bytes(void)
{
	char buf[128];
	unsigned long long size, resident;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (close(fd) < 0 || n <= 0)
		return 0;
	buf[n] = '\0';
	/* "size resident shared text lib data dt", in pages. */
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	long page = sysconf(_SC_PAGESIZE);
	return page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

/* One getter per row: what it reads. */
#define GET(fn, expr) \
	static ull fn(src_t *s) { return (ull)(expr); }

GET(uptime, s->uptime_s)
GET(pid, ((void)s, getpid()))
GET(clients, s->clients->n)
GET(max_clients, s->max_clients)
GET(connections, s->clients->connections)
GET(refused, s->clients->refused)
GET(idle_timeouts, s->clients->idle_timeouts)
GET(request_timeouts, s->clients->request_timeouts)
GET(entries, ss_table_count(ss_store_table(s->store)))
GET(revision, ss_table_revision(ss_store_table(s->store)))
GET(history, ss_table_history_depth(ss_store_table(s->store)))
GET(table_bytes, ss_table_memory(ss_store_table(s->store)))
GET(log_bytes, ss_store_log_bytes(s->store))
GET(log_compacted, ss_store_log_bytes_compacted(s->store))
GET(commits, s->commit->st.commits)
GET(batches, s->commit->st.batches)
GET(fsyncs, s->commit->st.fsyncs + s->repl.replica_fsyncs)
GET(fsyncs_bg, s->commit->st.fsyncs_background)
GET(fsync_mean, s->commit->st.fsyncs ? s->commit->st.fsync_us_total / s->commit->st.fsyncs : 0)
GET(fsync_max, s->commit->st.fsync_us_max)
GET(write_errors, s->commit->st.write_errors)
GET(rejected, s->clients->rejected)
GET(compacting, ss_compactor_compacting(s->compactor))
GET(compactions, ss_compactor_stats(s->compactor)->runs)
GET(auto_compactions, s->auto_compactions)
GET(compaction_failures, ss_compactor_stats(s->compactor)->failures)
GET(last_compaction_ms, ss_compactor_stats(s->compactor)->last_us / 1000)
GET(last_compaction_stall, ss_compactor_walk_stats(s->compactor).stall_us)
GET(last_compaction_loop_max, s->compaction_loop_max_us)
GET(last_compaction_slices, ss_compactor_walk_stats(s->compactor).slices)
GET(last_compaction_slice_max, ss_compactor_walk_stats(s->compactor).slice_max_us)
GET(backups, ss_compactor_stats(s->compactor)->backups)
GET(backup_failures, ss_compactor_stats(s->compactor)->backup_failures)
GET(last_backup_ms, ss_compactor_stats(s->compactor)->last_backup_us / 1000)
GET(last_backup_revision, ss_compactor_stats(s->compactor)->last_backup_revision)
GET(last_backup_loop_max, s->backup_loop_max_us)
GET(expired, s->expired)
GET(loop_iterations, s->loop->iterations)
GET(loop_max, s->loop->max_us)
GET(loop_slow_1, s->loop->slow[0])
GET(loop_slow_2, s->loop->slow[1])
GET(loop_slow_5, s->loop->slow[2])
GET(loop_slow_10, s->loop->slow[3])
GET(loop_slow_50, s->loop->slow[4])
GET(quota_bytes, s->quota_bytes)
GET(quota_exceeded, s->quota_exceeded)
GET(replay_us, s->replay_us)
GET(rss_bytes, s->rss_bytes)
GET(ready, s->ready)
GET(tls_on_plain, s->clients->tls_on_plain)
GET(auth_failures, s->auth ? s->auth->failures : 0)
GET(auth_denied, s->auth ? s->auth->denied : 0)
GET(auth_busy, s->auth ? s->auth->busy : 0)
GET(auth_checks, s->auth ? s->auth->kdf_runs : 0)
GET(auth_check_max, s->auth ? s->auth->kdf_us_max : 0)
GET(acl_reloads, s->auth ? s->auth->reloads : 0)
GET(acl_reload_failures, s->auth ? s->auth->reload_failures : 0)
GET(tls_handshakes, s->tls ? s->tls->handshakes : 0)
GET(tls_handshake_failures, s->tls ? s->tls->handshake_failures : 0)
GET(tls_renegotiations, s->tls ? s->tls->renegotiations_refused : 0)
GET(tls_reloads, s->tls ? s->tls->reloads : 0)
GET(tls_reload_failures, s->tls ? s->tls->reload_failures : 0)
GET(tls_not_after, s->tls && s->tls->not_after > 0 ? s->tls->not_after : 0)

#define HIST(fn, expr) \
	static const struct ss_stat_hist *fn(src_t *s) { return (expr); }

HIST(fsync_hist, &s->commit->st.fsync_us)
GET(repl_replica, s->repl.replica)
GET(repl_epoch, s->repl.epoch)
GET(repl_fenced, s->repl.fenced)
GET(repl_durable, s->repl.durable_revision)
GET(repl_sync_replicas, s->repl.sync_replicas)
GET(repl_connected, s->repl.connected_replicas)
GET(repl_waiting, s->repl.writes_waiting)
GET(repl_sync_waits, s->repl.sync_waits)
GET(repl_sync_timeouts, s->repl.sync_timeouts)
GET(repl_full, s->repl.full_syncs)
GET(repl_partial, s->repl.partial_syncs)
GET(repl_truncated, s->repl.truncated_records)
GET(repl_link, s->repl.primary_link)
GET(repl_primary_epoch, s->repl.primary_epoch)
GET(repl_primary_commit, s->repl.primary_commit)
GET(repl_lag, s->repl.lag_revisions)
GET(repl_lag_ms, s->repl.lag_ms)
HIST(latency_hist, s->commit_latency)
HIST(batch_hist, &s->commit->st.batch_records)

#define C SS_STAT_COUNTER
#define G SS_STAT_GAUGE

static const struct {
	const char *name;
	enum ss_stat_kind kind;
	const char *help;
	ull (*get)(src_t *s);
	const char *prom; /* /metrics: the family's name, NULL: not exported */
	double scale;     /* to base units */
} rows[] = {
	{"uptime_s", G, "seconds since the daemon started", uptime, "uptime_seconds", 1},
	{"pid", G, "the daemon's process id", pid, NULL, 0},
	{"clients", G, "connections open now", clients, "clients", 1},
	{"max_clients", G, "connections served at once (--max-clients, or fewer if descriptors "
			   "are short)", max_clients, "max_clients", 1},
	{"connections", C, "connections accepted since start", connections, "connections", 1},
	{"refused_connections", C, "connections refused: max clients reached, or out of "
				   "descriptors", refused, "refused_connections", 1},
	{"idle_timeouts", C, "clients closed after --timeout seconds idle",
	 idle_timeouts, "idle_timeouts", 1},
	{"request_timeouts", C, "clients closed after holding an incomplete request (a partial "
				"line or RESP frame, a TLS handshake) for --request-timeout seconds",
	 request_timeouts, "request_timeouts", 1},
	{"entries", G, "live checkpoints in the table", entries, "entries", 1},
	{"revision", G, "the store's revision: that of the last acknowledged mutation",
	 revision, "revision", 1},
	{"history", G, "--history: earlier versions kept per checkpoint", history, "history", 1},
	{"table_bytes", G, "bytes the table holds for its entries", table_bytes, "table_bytes", 1},
	{"log_bytes", G, "the log's logical size in bytes", log_bytes, "log_bytes", 1},
	{"log_bytes_compacted", G, "the log's size in bytes after the last compaction or at "
				   "startup", log_compacted, "log_compacted_bytes", 1},
	{"commits", C, "records committed: a pipeline set or deleted (a multi-commit counts each)",
	 commits, "commits", 1},
	{"batches", C, "batches written to the log", batches, "batches", 1},
	{"fsyncs", C, "fdatasyncs of the log (a replica's of what it received included)", fsyncs,
	 "fsyncs", 1},
	{"fsyncs_background", C, "fdatasyncs of the log run on the helper thread",
	 fsyncs_bg, "background_fsyncs", 1},
	{"fsync_us_mean", G, "mean fdatasync time in microseconds", fsync_mean, NULL, 0},
	{"fsync_us_max", G, "longest fdatasync in microseconds",
	 fsync_max, "fsync_max_seconds", 1e-6},
	{"write_errors", C, "mutations refused because the log write failed",
	 write_errors, "write_errors", 1},
	{"rejected", C, "error replies", rejected, "error_replies", 1},
	{"compacting", G, "1 while a compaction runs", compacting, "compacting", 1},
	{"compactions", C, "compactions that completed", compactions, "compactions", 1},
	{"auto_compactions", C, "compactions started by the log's growth",
	 auto_compactions, "auto_compactions", 1},
	{"compaction_failures", C, "compactions that failed, those that could not start included",
	 compaction_failures, "compaction_failures", 1},
	{"last_compaction_ms", G, "how long the last compaction took, in milliseconds",
	 last_compaction_ms, "last_compaction_duration_seconds", 1e-3},
	{"last_compaction_stall_us", G, "how long the last compaction's start and finish blocked "
					"the loop, in microseconds",
	 last_compaction_stall, "last_compaction_stall_seconds", 1e-6},
	{"last_compaction_slices", G, "slices the last compaction's walk of the table took, one "
				      "per loop iteration at most",
	 last_compaction_slices, "last_compaction_slices", 1},
	{"last_compaction_slice_max_us", G, "the last compaction's longest slice, in microseconds",
	 last_compaction_slice_max, "last_compaction_slice_max_seconds", 1e-6},
	{"last_compaction_loop_max_us", G, "the loop's longest iteration while the last compaction "
					   "ran, in microseconds",
	 last_compaction_loop_max, "last_compaction_loop_max_seconds", 1e-6},
	{"backups", C, "BACKUPs that completed", backups, "backups", 1},
	{"backup_failures", C, "BACKUPs that failed, those that could not start included",
	 backup_failures, "backup_failures", 1},
	{"last_backup_ms", G, "how long the last completed BACKUP took, in milliseconds",
	 last_backup_ms, "last_backup_duration_seconds", 1e-3},
	{"last_backup_revision", G, "the revision the last completed BACKUP covers",
	 last_backup_revision, "last_backup_revision", 1},
	{"last_backup_loop_max_us", G, "the loop's longest iteration while the last BACKUP ran, "
				       "in microseconds",
	 last_backup_loop_max, "last_backup_loop_max_seconds", 1e-6},
	{"expired", C, "entries removed by background expiry", expired, "expired", 1},
	{"loop_iterations", C, "event-loop iterations: wakeups handled",
	 loop_iterations, "loop_iterations", 1},
	{"loop_max_us", G, "the loop's longest iteration since start, in microseconds",
	 loop_max, "loop_max_seconds", 1e-6},
	{"loop_slow_1ms", C, "loop iterations longer than 1 ms", loop_slow_1, "loop_slow_1ms", 1},
	{"loop_slow_2ms", C, "loop iterations longer than 2 ms", loop_slow_2, "loop_slow_2ms", 1},
	{"loop_slow_5ms", C, "loop iterations longer than 5 ms", loop_slow_5, "loop_slow_5ms", 1},
	{"loop_slow_10ms", C, "loop iterations longer than 10 ms",
	 loop_slow_10, "loop_slow_10ms", 1},
	{"loop_slow_50ms", C, "loop iterations longer than 50 ms",
	 loop_slow_50, "loop_slow_50ms", 1},
	{"quota_bytes", G, "--quota-bytes: past this log size SETs are refused (0: none)",
	 quota_bytes, "quota_bytes", 1},
	{"quota_exceeded", G, "1 while SETs are refused for the quota",
	 quota_exceeded, "quota_exceeded", 1},
	{"replay_us", G, "how long the replay of the log took at startup, in microseconds",
	 replay_us, "replay_duration_seconds", 1e-6},
	{"rss_bytes", G, "resident set size in bytes (/proc/self/statm)", rss_bytes,
	 "resident_memory_bytes", 1},
	{"ready", G, "1 while /readyz answers 200: the log is replayed and the store takes writes",
	 ready, "ready", 1},
	{"tls_on_plain_port", C, "connections closed at once for starting a TLS handshake on the "
				 "plain port",
	 tls_on_plain, "tls_on_plain_port", 1},
	{"auth_failures", C, "AUTHs refused for a wrong user or password", auth_failures,
	 "auth_failures", 1},
	{"auth_denied", C, "requests refused NOAUTH (before AUTH) or NOPERM (a role or a "
			   "namespace the user lacks)",
	 auth_denied, "auth_denied", 1},
	{"auth_busy", C, "AUTHs refused busy: too many password checks were queued (in all, or "
			 "from the client's host)",
	 auth_busy,
	 "auth_busy", 1},
	{"auth_checks", C, "password checks run by the KDF on the helper thread", auth_checks,
	 "auth_password_checks", 1},
	{"auth_check_us_max", G, "the longest password check, in microseconds", auth_check_max,
	 "auth_password_check_max_seconds", 1e-6},
	{"acl_reloads", C, "SIGHUP reloads of the users that took effect", acl_reloads,
	 "acl_reloads", 1},
	{"acl_reload_failures", C, "SIGHUP reloads refused (bad file): the users in force stay",
	 acl_reload_failures, "acl_reload_failures", 1},
	{"tls_handshakes", C, "TLS handshakes completed (clients and metrics)",
	 tls_handshakes, "tls_handshakes", 1},
	{"tls_handshake_failures", C, "TLS connections that failed or closed before their "
				      "handshake completed", tls_handshake_failures,
	 "tls_handshake_failures", 1},
	{"tls_renegotiations_refused", C, "TLS renegotiations clients asked for, each refused",
	 tls_renegotiations, "tls_renegotiations_refused", 1},
	{"tls_reloads", C, "SIGHUPs that put a new TLS certificate in force",
	 tls_reloads, "tls_reloads", 1},
	{"tls_reload_failures", C, "SIGHUPs whose TLS files were bad: the old certificate stayed",
	 tls_reload_failures, "tls_reload_failures", 1},
	{"tls_cert_not_after", G, "when the TLS certificate in force expires, in Unix seconds "
				  "(0: no TLS)", tls_not_after,
	 "tls_certificate_expiry_timestamp_seconds", 1},
	{"replica", G, "1 on a replica, 0 on a primary", repl_replica, "replica", 1},
	{"epoch", G, "the epoch of this node's log: raised by each promotion", repl_epoch,
	 "epoch", 1},
	{"fenced", G, "1 on a primary that heard of a newer epoch: it acknowledges no write",
	 repl_fenced, "fenced", 1},
	{"durable_revision", G, "the last revision this node's log holds durably (a replica "
				"applies it once committed)", repl_durable, "durable_revision", 1},
	{"sync_replicas", G, "--sync-replicas: replicas a write waits for", repl_sync_replicas,
	 "sync_replicas", 1},
	{"connected_replicas", G, "replicas streaming from this primary", repl_connected,
	 "connected_replicas", 1},
	{"writes_waiting", G, "writes durable here and waiting for --sync-replicas acks",
	 repl_waiting, "writes_waiting", 1},
	{"sync_waits", C, "batches held for replica acknowledgements", repl_sync_waits,
	 "sync_waits", 1},
	{"sync_timeouts", C, "--sync-timeout expiries: writes answered with an unknown outcome",
	 repl_sync_timeouts, "sync_timeouts", 1},
	{"full_syncs", C, "full syncs: served (primary) or installed (replica)", repl_full,
	 "full_syncs", 1},
	{"partial_syncs", C, "partial syncs: served (primary) or begun (replica)", repl_partial,
	 "partial_syncs", 1},
	{"truncated_records", C, "records a replica cut from its log: a deposed primary's "
				 "unreplicated tail", repl_truncated, "truncated_records", 1},
	{"primary_link", G, "a replica: 1 while its link to the primary is up", repl_link,
	 "primary_link_up", 1},
	{"primary_epoch", G, "a replica: its primary's epoch", repl_primary_epoch,
	 "primary_epoch", 1},
	{"primary_commit", G, "a replica: the revision its primary last said was committed",
	 repl_primary_commit, "primary_commit_revision", 1},
	{"lag_revisions", G, "a replica: revisions behind its primary; a primary: the most any "
			     "replica is behind", repl_lag, "replication_lag_revisions", 1},
	{"lag_ms", G, "... and for how long, in milliseconds", repl_lag_ms,
	 "replication_lag_seconds", 1e-3},
};

/* The histograms; STATS shows each as two rows, <name>_count and
 * <name>_sum (in the row's unit). */
static const struct {
	const char *name;
	const char *help;
	const struct ss_stat_hist *(*get)(src_t *s);
	const char *prom;
	double scale;
} hists[] = {
	{"fsync_us", "fdatasyncs of the log by their duration, in microseconds", fsync_hist,
	 "fsync_duration_seconds", 1e-6},
	{"commit_latency_us", "mutations by the time from their arrival (the loop's wakeup that "
			      "read them) to their reply, in microseconds", latency_hist,
	 "commit_latency_seconds", 1e-6},
	{"batch_records", "batches written to the log by their size in records", batch_hist,
	 "batch_size_records", 1},
};

int ss_stats_each(const struct ss_stats_sources *src,
		  int (*emit)(void *arg, const struct ss_stat *row), void *arg)
{
	struct ss_stat row = {.name = "version", .kind = SS_STAT_TEXT,
			      .help = "the daemon's version", .text = SS_VERSION,
			      .prom = "build_info", .scale = 1};

	if (emit(arg, &row) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		row = (struct ss_stat){.name = rows[i].name, .kind = rows[i].kind,
				       .help = rows[i].help, .value = rows[i].get(src),
				       .prom = rows[i].prom, .scale = rows[i].scale};
		if (emit(arg, &row) < 0)
			return -1;
	}
	for (size_t i = 0; i < sizeof(hists) / sizeof(hists[0]); i++) {
		const struct ss_stat_hist *h = hists[i].get(src);
		if (!h)
			continue;
		row = (struct ss_stat){.name = hists[i].name, .kind = SS_STAT_HISTOGRAM,
				       .help = hists[i].help, .hist = h, .prom = hists[i].prom,
				       .scale = hists[i].scale};
		if (emit(arg, &row) < 0)
			return -1;
	}
	return 0;
}
