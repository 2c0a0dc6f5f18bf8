/*
 * metrics.h - the daemon's HTTP endpoints (--metrics ADDR:PORT): /metrics in
 * the Prometheus text format 0.0.4, /healthz and /readyz.
 *
 * /metrics is a view of the stats table (stats.h), as STATS is: each row
 * with a Prometheus name becomes one family, "statestored_<name>" (counters
 * end in "_total"), its value in base units; histogram rows get cumulative
 * buckets. One family is not a row: the commands by protocol, name and
 * result, which this module counts itself. It watches every request a
 * session executes (ss_session_env.observe) and every batch the commit
 * cycle ends (its commit hook): a request answered at once counts when it
 * runs, a staged mutation when its batch ends - ok, error (its write
 * failed) or conflict - and then its commit latency too, from the loop's
 * wakeup that read it to the moment its reply was queued.
 *
 * /healthz answers 200 whenever the loop runs. /readyz answers 200 when the
 * server's ready callback gives no reason, else 503 and the reason. The
 * listener only listens once the log is replayed (as the clients' does), so
 * during the replay both probes find the port closed.
 */
#ifndef STATESTORED_SERVER_METRICS_H
#define STATESTORED_SERVER_METRICS_H

#include <stdint.h>

#include "cmd/session.h"
#include "net/http.h"
#include "server/commit.h"
#include "server/stats.h"

/* What the server tells the endpoints: the table's sources, and why the
 * daemon is not ready (NULL: it is). */
struct ss_metrics_ops {
	void (*sources)(void *arg, struct ss_stats_sources *src);
	const char *(*unready)(void *arg);
	void *arg;
};

/* A staged op's command and arrival, until its batch ends. */
struct ss_metrics_track {
	const struct ss_batch *b;
	uint16_t *cmd;
	double *t;
	size_t n, cap;
};

struct ss_metrics {
	struct ss_http_server http;
	struct ev_loop *loop;
	struct ss_commit *commit;
	struct ss_metrics_ops ops;
	size_t ntext, ncmds;           /* commands: text's table, then RESP's, then 2 unknown */
	uint64_t (*counts)[3];         /* [command][ok, error, conflict] */
	struct ss_metrics_track track[2];
	struct ss_stat_hist latency;        /* commit latency, in microseconds */
	struct ss_commit_hook hook;
	int listening;
};

/* Sets m up (no socket yet). Returns 0, or -1 (ENOMEM). */
int ss_metrics_init(struct ss_metrics *m, struct ss_commit *commit,
		    const struct ss_metrics_ops *ops);
/* Binds addr:port; 0 or -1 after logging why. */
int ss_metrics_bind(struct ss_metrics *m, const char *addr, int port,
		    const struct ss_diag *diag);
/* Listens and serves on loop; 0 or -1 after logging why. */
int ss_metrics_start(struct ss_metrics *m, struct ev_loop *loop);
void ss_metrics_free(struct ss_metrics *m);

/* ss_session_env.observe: counts a request (arg is the struct ss_metrics). */
/* A COMPACT or BACKUP answered (clients.h: answered), counted then. */
void ss_metrics_answered(void *arg, const struct ss_session *s, const char *cmd, int failed);
void ss_metrics_observe(void *arg, const struct ss_session *s, const struct ss_request *req,
			enum ss_cmd_status st, size_t out_before, size_t nops_before);

/* Splits "ADDR:PORT" (an IPv6 address in brackets: "[::1]:9100") into
 * addr[addrsz] and port, checking both (a numeric address, a port from 0
 * to 65535). Returns 0, or -1 if it is not that. */
int ss_metrics_parse_addr(const char *s, char *addr, size_t addrsz, int *port);
/* 1 if s is such an ADDR:PORT, else 0. For checking options early. */
int ss_metrics_addr_ok(const char *s);

/* The routing (an ss_http_handler_fn; arg is the struct ss_metrics):
 * /metrics, /healthz, /readyz, else 404. */
int ss_metrics_handle(void *arg, const char *path, size_t len, struct ss_http_reply *r);

/* Appends the Prometheus exposition of src and m's own families to out.
 * 0, or -1 (ENOMEM). */
int ss_metrics_write(const struct ss_metrics *m, const struct ss_stats_sources *src,
		     struct ss_buf *out);

#endif
