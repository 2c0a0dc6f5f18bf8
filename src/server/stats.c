/*
 * stats.c - the table of the daemon's figures; see stats.h.
 */
#include <unistd.h>

#include "server/clients.h"
#include "server/commit.h"
#include "server/compactor.h"
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

/* One getter per row: what it reads. */
#define GET(fn, expr) \
	static ull fn(src_t *s) { return (ull)(expr); }

GET(uptime, s->uptime_s)
GET(pid, ((void)s, getpid()))
GET(clients, s->clients->n)
GET(max_clients, s->max_clients)
GET(connections, s->clients->connections)
GET(refused, s->clients->refused)
GET(entries, ss_table_count(ss_store_table(s->store)))
GET(revision, ss_table_revision(ss_store_table(s->store)))
GET(history, ss_table_history_depth(ss_store_table(s->store)))
GET(table_bytes, ss_table_memory(ss_store_table(s->store)))
GET(log_bytes, ss_store_log_bytes(s->store))
GET(log_compacted, ss_store_log_bytes_compacted(s->store))
GET(commits, s->commit->st.commits)
GET(batches, s->commit->st.batches)
GET(fsyncs, s->commit->st.fsyncs)
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

#define C SS_STAT_COUNTER
#define G SS_STAT_GAUGE

static const struct {
	const char *name;
	enum ss_stat_kind kind;
	const char *help;
	ull (*get)(src_t *s);
} rows[] = {
	{"uptime_s", G, "seconds since the daemon started", uptime},
	{"pid", G, "the daemon's process id", pid},
	{"clients", G, "connections open now", clients},
	{"max_clients", G, "connections served at once (--max-clients, or fewer if descriptors "
			   "are short)", max_clients},
	{"connections", C, "connections accepted since start", connections},
	{"refused_connections", C, "connections refused: max clients reached, or out of "
				   "descriptors", refused},
	{"entries", G, "live checkpoints in the table", entries},
	{"revision", G, "the store's revision: that of the last acknowledged mutation", revision},
	{"history", G, "--history: earlier versions kept per checkpoint", history},
	{"table_bytes", G, "bytes the table holds for its entries", table_bytes},
	{"log_bytes", G, "the log's logical size in bytes", log_bytes},
	{"log_bytes_compacted", G, "the log's size in bytes after the last compaction or at "
				   "startup", log_compacted},
	{"commits", C, "records committed: a pipeline set or deleted (a multi-commit counts each)", commits},
	{"batches", C, "batches written to the log", batches},
	{"fsyncs", C, "fdatasyncs of the log", fsyncs},
	{"fsyncs_background", C, "fdatasyncs of the log run on the helper thread", fsyncs_bg},
	{"fsync_us_mean", G, "mean fdatasync time in microseconds", fsync_mean},
	{"fsync_us_max", G, "longest fdatasync in microseconds", fsync_max},
	{"write_errors", C, "mutations refused because the log write failed", write_errors},
	{"rejected", C, "error replies", rejected},
	{"compacting", G, "1 while a compaction runs", compacting},
	{"compactions", C, "compactions that completed", compactions},
	{"auto_compactions", C, "compactions started by the log's growth", auto_compactions},
	{"compaction_failures", C, "compactions that failed, those that could not start included",
	 compaction_failures},
	{"last_compaction_ms", G, "how long the last compaction took, in milliseconds",
	 last_compaction_ms},
	{"last_compaction_stall_us", G, "how long the last compaction's start and finish blocked "
					"the loop, in microseconds", last_compaction_stall},
	{"last_compaction_slices", G, "slices the last compaction's walk of the table took, one "
				      "per loop iteration at most", last_compaction_slices},
	{"last_compaction_slice_max_us", G, "the last compaction's longest slice, in microseconds",
	 last_compaction_slice_max},
	{"last_compaction_loop_max_us", G, "the loop's longest iteration while the last compaction "
					   "ran, in microseconds", last_compaction_loop_max},
	{"backups", C, "BACKUPs that completed", backups},
	{"backup_failures", C, "BACKUPs that failed, those that could not start included",
	 backup_failures},
	{"last_backup_ms", G, "how long the last completed BACKUP took, in milliseconds",
	 last_backup_ms},
	{"last_backup_revision", G, "the revision the last completed BACKUP covers",
	 last_backup_revision},
	{"last_backup_loop_max_us", G, "the loop's longest iteration while the last BACKUP ran, "
				       "in microseconds", last_backup_loop_max},
	{"expired", C, "entries removed by background expiry", expired},
	{"loop_iterations", C, "event-loop iterations: wakeups handled", loop_iterations},
	{"loop_max_us", G, "the loop's longest iteration since start, in microseconds", loop_max},
	{"loop_slow_1ms", C, "loop iterations longer than 1 ms", loop_slow_1},
	{"loop_slow_2ms", C, "loop iterations longer than 2 ms", loop_slow_2},
	{"loop_slow_5ms", C, "loop iterations longer than 5 ms", loop_slow_5},
	{"loop_slow_10ms", C, "loop iterations longer than 10 ms", loop_slow_10},
	{"loop_slow_50ms", C, "loop iterations longer than 50 ms", loop_slow_50},
	{"quota_bytes", G, "--quota-bytes: past this log size SETs are refused (0: none)",
	 quota_bytes},
	{"quota_exceeded", G, "1 while SETs are refused for the quota", quota_exceeded},
};

int ss_stats_each(const struct ss_stats_sources *src,
		  int (*emit)(void *arg, const struct ss_stat *row), void *arg)
{
	struct ss_stat row = {.name = "version", .kind = SS_STAT_TEXT,
			      .help = "the daemon's version", .text = SS_VERSION};

	if (emit(arg, &row) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		row = (struct ss_stat){.name = rows[i].name, .kind = rows[i].kind,
				       .help = rows[i].help, .value = rows[i].get(src)};
		if (emit(arg, &row) < 0)
			return -1;
	}
	return 0;
}
