/*
 * stats.h - the daemon's figures, in one table.
 *
 * Every figure the daemon reports is one row here: its name, whether it is
 * a counter (only grows), a gauge (goes up and down) or a text, a line of
 * help that says its unit, and where its value comes from. STATS is one
 * view of the table (cmd STATS: "STAT <name> <value>" rows); RESP INFO and
 * the Prometheus /metrics (metrics.c) are two more, generated from the same
 * rows, so a figure is added once and appears everywhere.
 *
 * For /metrics a row also carries its Prometheus name (without the
 * "statestored_" prefix and the "_total" a counter gets) and the factor
 * that turns its value into base units (1e-6 for a _us row: seconds); a
 * row without a Prometheus name is not exported (the pid, a figure of the
 * last compaction that another row already gives). A histogram is a row
 * kind of its own: fixed log-spaced buckets, counted in O(1).
 */
#ifndef STATESTORED_SERVER_STATS_H
#define STATESTORED_SERVER_STATS_H

#include <stdint.h>

struct ss_auth_stats;
struct ss_clients;
struct ss_commit;
struct ss_compactor;
struct ss_store;
struct ss_tls_stats;

enum ss_stat_kind { SS_STAT_COUNTER, SS_STAT_GAUGE, SS_STAT_TEXT, SS_STAT_HISTOGRAM };

/* A histogram of n buckets whose upper bounds are base << k (k < n), in the
 * row's unit (microseconds, records), and a last one for what is larger
 * (+Inf). The bounds double, so an observation finds its bucket with one
 * count of leading zeros. */
#define SS_STAT_HIST_MAX 24
struct ss_stat_hist {
	uint64_t base;
	int n;
	uint64_t buckets[SS_STAT_HIST_MAX + 1]; /* not cumulative; [n]: the rest */
	uint64_t count, sum;
};

/* An empty histogram of n (<= SS_STAT_HIST_MAX) buckets from base up. */
void ss_stat_hist_init(struct ss_stat_hist *h, uint64_t base, int n);
/* Counts one observation of v. */
void ss_stat_hist_observe(struct ss_stat_hist *h, uint64_t v);
/* Fixed shapes: latencies in microseconds from 50 us to 13.1 s (19
 * buckets); batch sizes in records from 1 to 4096 (13 buckets). */
void ss_stat_hist_latency(struct ss_stat_hist *h);
void ss_stat_hist_records(struct ss_stat_hist *h);

struct ss_stat {
	const char *name;
	enum ss_stat_kind kind;
	const char *help;
	unsigned long long value; /* a counter or a gauge */
	const char *text;         /* SS_STAT_TEXT */
	const struct ss_stat_hist *hist; /* SS_STAT_HISTOGRAM */
	/* /metrics: the family's name, NULL for a row it leaves out; and what
	 * a value (a histogram's bounds and sum) is multiplied by to be in
	 * base units. */
	const char *prom;
	double scale;
};

/* How long the event loop's iterations take: from waking (ev_now, taken
 * right after the poll) to blocking again. slow[k] counts the iterations
 * longer than SS_LOOP_SLOW_MS[k] ms. An iteration is everything the loop
 * did for the events of one wakeup, so a command's own time is at most its
 * iteration's; on a daemon serving one client, slow[k] counts its slow
 * commands. */
#define SS_LOOP_SLOW_N 5
extern const unsigned SS_LOOP_SLOW_MS[SS_LOOP_SLOW_N]; /* 1, 2, 5, 10, 50 */

struct ss_loop_stats {
	uint64_t iterations;
	uint64_t max_us; /* the longest iteration since start */
	uint64_t slow[SS_LOOP_SLOW_N];
};

/* Counts one iteration of busy_us microseconds (wall clock) and returns the
 * time it counted. A value that is negative, not a number or 1000 s or more
 * (a clock step, not a stall) counts as an iteration of 0. */
double ss_loop_stats_note(struct ss_loop_stats *st, double busy_us);

/* What the rows read: each module keeps its own figures. */
/* Replication's figures (role.c fills them; 0 where a role has none). */
struct ss_repl_figures {
	uint64_t replica, epoch, fenced, durable_revision, sync_replicas, connected_replicas;
	uint64_t writes_waiting, sync_waits, sync_timeouts, full_syncs, partial_syncs;
	uint64_t truncated_records, primary_link, primary_epoch, primary_commit;
	uint64_t lag_revisions, lag_ms;
	uint64_t replica_fsyncs; /* a replica's fdatasyncs of what it received */
};

struct ss_stats_sources {
	const struct ss_commit *commit;
	const struct ss_compactor *compactor;
	const struct ss_clients *clients;
	struct ss_store *store;
	double uptime_s;
	int max_clients;                 /* the effective limit */
	uint64_t auto_compactions;       /* started by the log's growth */
	uint64_t expired;                /* entries removed by background expiry */
	uint64_t compaction_loop_max_us; /* longest loop iteration while the last one ran */
	uint64_t backup_loop_max_us;     /* ... while the last backup ran */
	const struct ss_loop_stats *loop;
	uint64_t quota_bytes;            /* --quota-bytes, 0 for none */
	int quota_exceeded;
	uint64_t replay_us;              /* how long the startup's replay took */
	uint64_t rss_bytes;              /* resident set size now, 0 if unknown */
	int ready;                       /* what /readyz answers: 1 for 200 */
	const struct ss_stat_hist *commit_latency; /* a mutation's arrival to its reply */
	const struct ss_auth_stats *auth;          /* authentication's counters */
	const struct ss_tls_stats *tls;  /* NULL without TLS: its rows are 0 */
	struct ss_repl_figures repl;
};

/* The resident set size from /proc/self/statm, in bytes; 0 if it cannot be
 * read. */
uint64_t ss_stats_rss_bytes(void);

/* Calls emit with each row, in table order, until it returns -1. Returns 0,
 * or -1 if emit did. */
int ss_stats_each(const struct ss_stats_sources *src,
		  int (*emit)(void *arg, const struct ss_stat *row), void *arg);

#endif
