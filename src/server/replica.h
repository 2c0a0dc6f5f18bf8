/*
 * replica.h - the replica's side of replication: the link to the primary,
 * the stream's groups written to this node's own log, and applied once
 * the primary says they are committed.
 *
 * The replica connects (non-blocking), authenticates with
 * --primary-auth-file's credentials, and sends REPLSYNC with the epoch and
 * the revision its log holds durably. Then, for every group the primary
 * streams: each record is decoded and CRC-checked, re-encoded and compared
 * byte for byte with what arrived (so the log holds exactly what the
 * primary's holds), gathered with the other complete groups of the same
 * read into one group - one write, one fdatasync - and acknowledged (ACK
 * <rev>) once durable. It is applied to the table, where readers see it,
 * only when a COMMIT line covers it: nothing the primary has not
 * acknowledged is visible here either.
 *
 * A full sync's file goes to statestored.log.sync, is fdatasync'd and
 * checked, and only then renamed over the log (the server's install); a
 * TRUNCATE reopens the store cut back to the common revision (the
 * server's cut). Everything runs on the loop; the fdatasync too.
 */
#ifndef STATESTORED_SERVER_REPLICA_H
#define STATESTORED_SERVER_REPLICA_H

#include <ev.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/diag.h"
#include "net/conn.h"
#include "server/repl.h"
#include "statestored/batch.h"
#include "statestored/io.h"
#include "statestored/store.h"

/* The server's part. */
struct ss_replica_ops {
	/* DIR/statestored.log.sync is complete and synced: make it the log
	 * (ss_store_install) and tell the replica the new store
	 * (ss_replica_set_store). Returns 0; -1 if the file was refused (the
	 * old store stays); the server exits if the store is lost. */
	int (*install)(void *arg);
	/* Reopen the store cut back to rev (a deposed primary's tail).
	 * Returns 0 with *discarded; 1 if it cannot be cut there (a full sync
	 * is needed); -1 on failure (the server exits). */
	int (*cut)(void *arg, uint64_t rev, uint64_t *discarded);
	/* The store refuses writes: stop the server with this exit code. */
	void (*fatal)(void *arg, int code);
	void *arg;
};

struct ss_replica_stats {
	uint64_t full_syncs, partial_syncs, truncated_records, groups, records;
	uint64_t fsyncs, protocol_errors;
};

struct ss_replica {
	struct ev_loop *loop;
	const struct ss_diag *diag;
	const struct ss_io *io;
	struct ss_replica_ops ops;
	struct ss_store *store;
	struct ss_repl *repl;      /* the index of this node's log */
	const char *data_dir;
	char host[256], port[16];
	int my_port;
	char user[128], *pass;     /* --primary-auth-file; user "" if none */
	int active;
	int state;
	int fd;
	struct ss_conn conn;
	int conn_up;
	struct ss_buf in, out;
	ev_io connect_w;
	ev_timer retry_w, tick_w;
	/* The stream: the complete groups of this read, gathered in done;
	 * a group in progress continues in done past mark, its bytes kept at
	 * the head of in (parse_off of them decoded). */
	struct ss_batch done;
	struct ss_batch_mark mark;
	uint32_t group_left;
	uint64_t group_floor;       /* the group in progress's SET and DEL
				     * revisions must pass this: the last of
				     * the groups before it */
	size_t parse_off;
	uint64_t last_rev;          /* the last revision received */
	uint64_t last_epoch;        /* the epoch of this node's log */
	uint64_t durable_rev;       /* the log holds everything up to it */
	/* Written, not yet applied: waiting for COMMIT. */
	struct ss_batch **queue;
	uint64_t *queue_rev;
	size_t nqueue, capqueue;
	uint64_t primary_commit, primary_epoch, primary_rev;
	double caught_up;           /* when lag was last 0 */
	int in_set;
	char syncset[1200];
	int force_full;
	int just_cut;               /* the last handshake ended in a cut */
	int testing;                /* fed by ss_replica_test_feed: no socket */
	int stopping;               /* the server was told to stop */
	double timeout;             /* --repl-timeout */
	double heard;               /* when the primary last sent anything */
	char *scratch;              /* a record's name and value unescaped */
	/* A full sync's file. */
	int sync_fd;
	uint64_t sync_len, sync_got;
	struct ss_replica_stats st;
};

/* timeout: --repl-timeout, seconds (0: never). */
int ss_replica_init(struct ss_replica *rp, struct ev_loop *loop, const struct ss_diag *diag,
		    const struct ss_io *io, struct ss_repl *repl, const char *data_dir, int my_port,
		    const char *auth_file, double timeout, const struct ss_replica_ops *ops);
void ss_replica_free(struct ss_replica *rp);

/* Follows host:port from now on (again: a new primary). */
void ss_replica_start(struct ss_replica *rp, struct ss_store *store, const char *host,
		      const char *port);
/* Stops following (promotion, shutdown): the link closes; what is
 * written and not yet applied is applied (a promoted node's log is the
 * history now). Returns 0, or -1 (out of memory applying: exit). */
int ss_replica_stop(struct ss_replica *rp);
void ss_replica_set_store(struct ss_replica *rp, struct ss_store *store);

/* After store was opened holding back what followed the commit point
 * (store.h: hold) - a restart as a replica, a demotion: the log's groups
 * from offset from on are queued for the primary's COMMIT, as if they had
 * just arrived and been written. Call before ss_replica_start. Returns 0,
 * or -1 (the log could not be read back: the caller exits). */
int ss_replica_load_held(struct ss_replica *rp, struct ss_store *store, uint64_t from);

/* Bytes written to the log and not applied (a compaction's tail must
 * include them). */
size_t ss_replica_unapplied(const struct ss_replica *rp);

/* For tests and fuzzers: the replica as if it had just sent REPLSYNC for
 * store's state on a connection, then fed bytes as if they arrived from
 * the primary (nothing is sent back; a handshake that would reconnect
 * goes on as if it had). feed returns 0 while the link would be up, -1
 * once it dropped. The ops (install, cut, fatal) are called as in the
 * daemon. */
void ss_replica_test_begin(struct ss_replica *rp, struct ss_store *store);
int ss_replica_test_feed(struct ss_replica *rp, const void *p, size_t n);

/* How far behind the primary (by its last PING) this replica is, in
 * revisions and in *ms since it was last caught up; whether the link is
 * up (streaming, or a full sync's file arriving). */
uint64_t ss_replica_lag(const struct ss_replica *rp, uint64_t *ms);
int ss_replica_link_up(const struct ss_replica *rp);

/* The text rows of the replica's side (its primary, the link, the sync
 * set as last heard), for INFO replication and STATS. */
typedef int (*ss_replica_row_fn)(void *arg, const char *name, const char *value);
int ss_replica_rows(struct ss_replica *rp, ss_replica_row_fn row, void *arg);

#endif
