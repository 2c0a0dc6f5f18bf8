/*
 * stats.h - the daemon's figures, in one table.
 *
 * Every figure the daemon reports is one row here: its name, whether it is
 * a counter (only grows), a gauge (goes up and down) or a text, a line of
 * help that says its unit, and where its value comes from. STATS is one
 * view of the table (cmd STATS: "STAT <name> <value>" rows); a RESP INFO
 * and a Prometheus /metrics will be two more, generated from the same rows,
 * so a figure is added once and appears everywhere.
 */
#ifndef STATESTORED_SERVER_STATS_H
#define STATESTORED_SERVER_STATS_H

#include <stdint.h>

struct ss_clients;
struct ss_commit;
struct ss_compactor;
struct ss_store;

enum ss_stat_kind { SS_STAT_COUNTER, SS_STAT_GAUGE, SS_STAT_TEXT };

struct ss_stat {
	const char *name;
	enum ss_stat_kind kind;
	const char *help;
	unsigned long long value; /* a counter or a gauge */
	const char *text;         /* SS_STAT_TEXT */
};

/* What the rows read: each module keeps its own figures. */
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
	uint64_t quota_bytes;            /* --quota-bytes, 0 for none */
	int quota_exceeded;
};

/* Calls emit with each row, in table order, until it returns -1. Returns 0,
 * or -1 if emit did. */
int ss_stats_each(const struct ss_stats_sources *src,
		  int (*emit)(void *arg, const struct ss_stat *row), void *arg);

#endif
