/*
 * server.h - the daemon: one libev loop that owns the listener, the
 * clients, the signals, background expiry, the commit cycle (commit.h) and
 * the compactor (compactor.h). server.c says how they keep the durability
 * contract.
 */
#ifndef STATESTORED_SERVER_H
#define STATESTORED_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "statestored/io.h"

/* Process exit codes (also the daemon's documented exit status). */
enum ss_exit {
	SS_EXIT_OK = 0,      /* clean shutdown on SIGTERM / SIGINT */
	SS_EXIT_ERROR = 1,   /* any other failure: bind, out of memory, I/O at open,
			      * a failed log write that could not be cut back */
	SS_EXIT_USAGE = 2,   /* bad command line */
	SS_EXIT_LOCKED = 3,  /* the data directory is held by another process */
	SS_EXIT_CORRUPT = 4, /* the log is corrupt or of an unknown version */
	SS_EXIT_FSYNC = 5,   /* fdatasync failed: nothing of that batch was acknowledged;
			      * or the directory fsync after a compaction's rename */
};

struct ss_server_config {
	const char *bind_addr;  /* numeric IPv4 or IPv6 address */
	int port;               /* 0: an ephemeral port, logged at startup; -1: none */
	const char *data_dir;
	int max_clients;
	size_t max_line;
	/* Close a client idle this many seconds (--timeout), or holding an
	 * incomplete request this long (--request-timeout); 0: never. */
	unsigned timeout_s;
	unsigned request_timeout_s;
	size_t prealloc_bytes;  /* see store.h */
	unsigned history;       /* --history: earlier versions kept per checkpoint */
	/* Compact by itself once the log passes auto_compact_min bytes (0: never)
	 * and auto_compact_growth percent of its size after the last compaction. */
	uint64_t auto_compact_min;
	unsigned auto_compact_growth;
	/* Run a batch's fdatasync on the helper thread when several connections
	 * wait (commit.h). Off by default: measured slower here. */
	int sync_thread;
	/* Past this many log bytes, SETs are refused (reads, DELs and COMPACT
	 * go on) until the log is back under it; 0: no quota. */
	uint64_t quota_bytes;
	/* --metrics ADDR:PORT: serve /metrics, /healthz and /readyz over HTTP
	 * there (metrics.h); "": off. */
	const char *metrics;
	/* Authentication (server/auth.h): an ACL file, or one password for
	 * the user "default" ("": neither); and whether a non-loopback bind
	 * may serve without either (protected mode refuses it otherwise). */
	const char *acl_file;
	const char *requirepass_file;
	int insecure_no_auth;
	/* TLS (net/tls.h): its port beside the plain one (-1: none, 0: an
	 * ephemeral one), the PEM files, whether clients must present a
	 * certificate (enum ss_tls_auth), and whether --metrics serves HTTPS
	 * with the same files. */
	int tls_port;
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *tls_ca_cert_file;
	int tls_auth_clients;
	int metrics_tls;
	/* Replication (server/repl.h, server/replica.h): the primary to
	 * follow at start ("": none), the credentials to follow it with, the
	 * replicas a write waits for, how long at most (ms, 0: forever), a
	 * replica's read-ahead, and how long a silent link lives (s). */
	const char *replica_of;
	const char *primary_auth_file;
	unsigned sync_replicas;
	unsigned sync_timeout_ms;
	size_t repl_buffer;
	unsigned repl_timeout_s;
	int log_level;           /* enum ss_level: the daemon's log (diag.h) */
	const char *config_file; /* --config FILE, or "" */
	const struct ss_io *io; /* NULL: ss_io_posix */
	/* A test program's hook (tests/progs/statestored-faulty.c), called at
	 * each of replay's progress points after the daemon's own; NULL. */
	void (*replay_hook)(void *arg);
	void *replay_hook_arg;
	const struct ss_diag *diag;
};

/* Opens the store, replays it, listens and serves until SIGTERM or SIGINT
 * or a fatal error. Returns an enum ss_exit code. */
int ss_server_run(const struct ss_server_config *cfg);

#endif
