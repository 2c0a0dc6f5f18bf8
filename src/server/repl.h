/*
 * repl.h - the primary's side of replication: the replicas' links, the
 * stream of the log's groups to them, their acknowledgements, the sync
 * set and the gate that holds a batch until enough replicas have it.
 *
 * A replica connects as a client, authenticates (the replication role)
 * and sends REPLSYNC <epoch> <rev> <port> [FULL]. From then on its
 * connection is a link: the primary streams its log's groups from the
 * point the replica holds, read back from the log file with pread once
 * they are durable here, and the replica answers ACK <rev> once its own
 * log holds them durably. Between groups the stream carries control
 * lines: COMMIT <rev> (everything up to rev is acknowledged: the replica
 * may apply it), PING <unix_ms> <rev> and SYNCSET <ids>.
 *
 * Reading the stream from the log, rather than queueing each batch for
 * each replica, is what bounds a slow replica: it costs at most
 * --repl-buffer bytes of read-ahead, however far behind it is, and falls
 * back to nothing but its cursor in the log.
 *
 * The gate (commit.h): with --sync-replicas N, a durable batch is held -
 * not applied, its clients unanswered - until N members of the sync set
 * acknowledged its last revision. The sync set is the first N replicas
 * that caught up with everything acknowledged; a member leaves only by
 * disconnecting, and a newcomer joins only once it holds everything
 * acknowledged so far. So every acknowledged write is durable on every
 * member (README: Replication).
 */
#ifndef STATESTORED_SERVER_REPL_H
#define STATESTORED_SERVER_REPL_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/diag.h"
#include "server/commit.h"
#include "statestored/store.h"

/* The commit point: the last revision this node knows was acknowledged
 * to clients (a primary's) or committed by its primary (a replica's), kept
 * in the data directory so that a restart as a replica applies no more of
 * its log than that (the rest waits for the primary's COMMIT). Written
 * with every commit, never fdatasync'd: it is advice that only ever lags -
 * a lost or torn update makes a restart hide more, never show what was
 * not committed. */
#define SS_REPL_COMMIT_FILE "replication.commit"

/* A replica's link on the primary. */
struct ss_repl_link;

struct ss_repl_idx {
	uint64_t rev, end; /* a durable group's last revision; where it ends */
};

struct ss_repl_stats {
	uint64_t partial_syncs, full_syncs;
	uint64_t sync_waits;    /* batches held for replicas */
	uint64_t sync_timeouts; /* --sync-timeout expiries */
};

/* The options (server.h). */
struct ss_repl_config {
	unsigned sync_replicas;  /* --sync-replicas */
	double sync_timeout;     /* --sync-timeout, seconds; 0: wait */
	size_t buffer;           /* --repl-buffer */
	double timeout;          /* --repl-timeout, seconds; 0: never */
};

/* The server's part: a link's client connection is the server's. kick
 * sends what the link queued; close closes it (its closed callback then
 * calls ss_repl_link_closed). */
struct ss_repl_ops {
	void (*kick)(void *client);
	void (*close)(void *client);
	/* A replica waits for a full sync: start its backup when the
	 * compactor is free (ss_repl_wants_backup). */
	void (*want_backup)(void *arg);
	void *arg;
};

struct ss_repl {
	struct ss_repl_ops ops;
	struct ev_loop *loop;
	const struct ss_diag *diag;
	struct ss_store *store;
	struct ss_commit *commit;
	const char *data_dir;
	unsigned sync_replicas;  /* --sync-replicas */
	double sync_timeout;     /* --sync-timeout, seconds; 0: wait */
	size_t buffer;           /* --repl-buffer */
	double timeout;          /* --repl-timeout, seconds */
	int active;              /* this node is the primary */
	int fenced;              /* a newer epoch exists */
	uint64_t fenced_epoch;
	/* The durable groups since base: a replica holding base_rev or any
	 * indexed revision can be streamed to from the log (a partial sync). */
	struct ss_repl_idx *idx;
	size_t nidx, capidx;
	uint64_t base_rev, base_off;
	int base_mixed; /* the group at base_off may hold records up to base_rev */
	uint64_t durable_rev, durable_end; /* the log's durable groups end here */
	uint64_t commit_rev;               /* acknowledged to clients */
	uint64_t held_rev;                 /* the held batch's last revision, or 0 */
	uint64_t held_end;                 /* ... and where it ends in the log */
	struct ss_repl_link *links;
	size_t nlinks;
	struct ss_repl_link **set; /* the sync set: sync_replicas slots */
	ev_timer tick_w;           /* every second: PINGs, dead links */
	ev_timer wait_w;           /* --sync-timeout */
	ev_idle release_w;         /* the held batch's release, from the loop */
	size_t open_seen;          /* ops of the open batch at the last timeout */
	/* Full sync: a backup of the store is made (by the server's
	 * compactor) into full_dir, then streamed to the links that asked. */
	int full_wanted, full_running;
	char *full_dir;
	char *full_log;
	struct ss_commit_gate gate;
	int commit_fd;           /* SS_REPL_COMMIT_FILE, once written; -1 */
	uint64_t noted_commit;   /* ... what it says */
	unsigned commit_warned;
	struct ss_repl_stats st;
};

/* Sets r up for a primary on store (active 0 until ss_repl_activate). */
void ss_repl_init(struct ss_repl *r, struct ev_loop *loop, const struct ss_diag *diag,
		  struct ss_store *store, struct ss_commit *commit, const char *data_dir,
		  const struct ss_repl_config *cfg, const struct ss_repl_ops *ops);
void ss_repl_free(struct ss_repl *r);

/* This node becomes the primary (at start, or promoted): the index starts
 * at the store's revision and log end; the gate is installed. */
void ss_repl_activate(struct ss_repl *r, struct ss_store *store);
/* This node stops being the primary: every link is closed, the gate
 * removed (a held batch is abandoned by the caller first). */
void ss_repl_deactivate(struct ss_repl *r);

/* A client sent REPLSYNC: its connection becomes a link. conn is the
 * client's (ss_client); the link writes to out and is fed from in. addr
 * is the peer's "ip:port". Returns the link, or NULL (the client is
 * answered with ERR on out and should be closed). */
struct ss_repl_link *ss_repl_adopt(struct ss_repl *r, void *client, struct ss_buf *in,
				   struct ss_buf *out, const char *addr, uint64_t epoch, uint64_t rev,
				   int port, int full);
/* The link's input (ACKs) arrived or its output drained: read what came,
 * refill. Returns 0, or -1 if the link must close. */
int ss_repl_link_io(struct ss_repl_link *l);
/* The link's connection closed: forget it. */
void ss_repl_link_closed(struct ss_repl_link *l);
/* The client behind a link, for the server to close it. */
void *ss_repl_link_client(const struct ss_repl_link *l);

/* A compaction replaced the log: the index starts afresh at its end; a
 * link that was not caught up is dropped (it syncs again). */
void ss_repl_log_replaced(struct ss_repl *r, uint64_t log_rev);
/* The store was replaced or reopened (a full sync installed, a cut): the
 * index starts afresh at its end. */
void ss_repl_reset(struct ss_repl *r, struct ss_store *store);
/* A group written by other means than the commit cycle (a replica's
 * apply, a promotion's EPOCH) is durable: index it, so that this node can
 * serve partial syncs from its log once it is a primary. */
void ss_repl_note_group(struct ss_repl *r, uint64_t rev, uint64_t end);
/* The index starts afresh at revision rev, the group at offset off (which
 * may hold records up to rev: they are not sent again): a log whose
 * groups past off were held back at the open, and are indexed next. */
void ss_repl_rebase(struct ss_repl *r, uint64_t rev, uint64_t off);

/* Whether a full sync waits for the compactor; the backup's directory;
 * and its end (failure NULL, rev the revision it covers). */
int ss_repl_wants_backup(const struct ss_repl *r);
const char *ss_repl_backup_dir(struct ss_repl *r);
void ss_repl_backup_started(struct ss_repl *r);
void ss_repl_backup_done(struct ss_repl *r, const char *failure, uint64_t rev);

/* The commit point moved to rev: write it (above). */
void ss_repl_commit_note(struct ss_repl *r, uint64_t rev);
/* Reads data_dir's commit point. Returns 0 and *rev, or -1 if there is
 * none that reads whole. */
int ss_repl_commit_read(const char *data_dir, uint64_t *rev);

/* A newer epoch exists (a replica said so): stop acknowledging. */
void ss_repl_fence(struct ss_repl *r, uint64_t epoch);

/* The largest lag of a replica behind this node's durable revision, in
 * revisions, and in *ms milliseconds since it was last caught up. */
uint64_t ss_repl_lag(const struct ss_repl *r, uint64_t *ms);
/* Replicas whose log holds every write acknowledged so far (WAIT). */
unsigned ss_repl_holding_all(const struct ss_repl *r);
/* Writes waiting for the replicas: the held batch's and the open one's. */
size_t ss_repl_writes_waiting(const struct ss_repl *r);

/* The text rows of the primary's side (the sync set, each replica, what
 * writes wait for), for INFO replication and STATS; the figures are the
 * stats table's (stats.c). Calls row(arg, name, value) for each. */
typedef int (*ss_repl_row_fn)(void *arg, const char *name, const char *value);
int ss_repl_rows(struct ss_repl *r, ss_repl_row_fn row, void *arg);

#endif
