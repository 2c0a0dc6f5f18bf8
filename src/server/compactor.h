/*
 * compactor.h - COMPACT without stopping the loop, and without fork.
 *
 * The loop walks the table itself, in slices of bounded time (one per loop
 * iteration, SS_COMPACT_SLICE_US), and turns what it walks into snapshot
 * bytes (snapshot.h); the compactor's helper thread writes those bytes to
 * the temp file while the loop walks on, and fdatasyncs it at the end.
 * Then catch-up rounds on the same thread copy what the loop logged
 * meanwhile (the tail) from the old log to the temp file and sync it,
 * until little is left; then the finish, on the loop, copies that little,
 * syncs, and renames the temp file over the log (store.h, steps 1-5).
 *
 * Why this loses nothing: every batch applied before the walk began is in
 * the table the walk reads, and every entry present for the whole walk is
 * in the snapshot (ss_table_scan's guarantee, whatever the table's
 * resizing does); every batch written after the walk began (or in flight
 * as it began) is in the tail, and replay applies the tail over the
 * snapshot skipping what the snapshot already holds (snapshot.h). The
 * finish runs between commits, once no fdatasync is in flight, so no batch
 * is ever written to the old log and missed.
 *
 * Why not fork: the fork's page-table copy and the copy-on-write faults
 * after it grow with the table (20 ms and more at 10M entries), and the
 * child doubles the memory a write-heavy table needs. A slice costs the
 * loop at most SS_COMPACT_SLICE_US and grows with nothing.
 */
#ifndef STATESTORED_COMPACTOR_H
#define STATESTORED_COMPACTOR_H

#include <ev.h>
#include <stdint.h>

#include "common/diag.h"
#include "statestored/snapshot.h"
#include "statestored/store.h"
#include "server/syncer.h"

/* The walk's time per loop iteration: a slice stops once it has run this
 * long (checked after every cursor position: a block of home buckets whose
 * entries hold about SS_SNAPSHOT_BLOCK_BYTES). */
#define SS_COMPACT_SLICE_US 1000
/* Snapshot bytes go to the helper thread in writes of at least this much;
 * the walk waits while this much more is ready and the thread is busy. */
#define SS_COMPACT_CHUNK (1024u * 1024)
#define SS_COMPACT_AHEAD (4u * 1024 * 1024)

/* Catch-up rounds go on while more than this is left of the tail; the
 * finish copies the rest on the loop (about 1 ms of copying and syncing). */
#define SS_COMPACT_FINAL_MAX (256u * 1024)
/* ... but not forever: writers faster than the rounds end them here, and
 * the finish copies whatever is left. */
#define SS_COMPACT_ROUNDS_MAX 16

struct ss_compactor;

/* Called once per compaction, from the loop: failure is NULL on success or
 * the reason it failed. */
typedef void (*ss_compactor_done_fn)(struct ss_compactor *c, const char *failure, void *arg);

/* The caller's part. */
struct ss_compactor_ops {
	ss_compactor_done_fn done;
	/* A backup's end: failure, or NULL and the revision it covers. */
	void (*backup_done)(struct ss_compactor *c, const char *failure, uint64_t rev, void *arg);
	/* If set and it returns 0 when the tail is caught up, the finish waits
	 * for the caller's ss_compactor_finish (the log is busy: a sync runs
	 * on it). */
	int (*may_finish)(void *arg);
	void *arg;
};

/* One run's walk: its slices, their total and longest time, and the
 * loop's one-off stalls (start + finish). */
struct ss_compactor_walk {
	uint64_t slices, walk_us, slice_max_us, stall_us;
};

struct ss_compactor_stats {
	uint64_t runs, failures;
	uint64_t last_us;       /* duration of the last successful run */
	struct ss_compactor_walk last_walk; /* the last compaction's */
	uint64_t backups, backup_failures; /* BACKUP: the same machine, counted apart */
	uint64_t last_backup_us;
	uint64_t last_backup_revision;
};

/* A write of snapshot bytes, run on the helper thread. */
struct ss_snapshot_job {
	const struct ss_io *io;
	int fd;
	const char *p;
	size_t n;
	uint64_t off;
	int sync; /* the last: fdatasync after writing */
	const char *failed; /* "write", "fdatasync", or NULL */
	int errnum;
};

struct ss_compactor {
	struct ev_loop *loop;
	struct ss_store *store;
	const struct ss_io *io;
	const struct ss_diag *diag;
	struct ss_compactor_ops ops;
	int finish_pending; /* the tail is caught up: the finish waits for the log */
	int catching_up;    /* a round runs on the worker */
	int cancelling;     /* dropping a round's result */
	int walking;        /* the walk goes on: a slice per loop iteration */
	int writing;        /* snapshot bytes are being written on the worker */
	struct ss_snapshot snap;
	struct ss_snapshot_out flight; /* the bytes being written */
	struct ss_snapshot_job wjob;
	const char *tmp_path; /* the temp file (the store's) */
	int snap_fd;        /* the temp file, while the snapshot is written */
	uint64_t snap_len;  /* bytes of it written */
	ev_check walk_w;    /* runs a slice */
	ev_idle spin_w;     /* keeps the loop from blocking while slices remain */
	struct ss_syncer worker;   /* writes the snapshot, runs the catch-up rounds */
	struct ss_compact_job job; /* the round in flight */
	unsigned rounds;
	uint64_t tail_from;        /* the old log's bytes from here on are not copied yet */
	uint64_t tail_off_loop, tail_on_loop; /* tail bytes copied by rounds, by the finish */
	uint64_t started_us;
	uint64_t log_before;
	int backup;                 /* this run is a BACKUP (ss_compactor_backup) */
	uint64_t backup_rev;        /* ... and the revision it covers, once finished */
	struct ss_compactor_walk walk; /* this run's */
	struct ss_compactor_stats st; /* for STATS and the log */
};

/* Returns 0, or -1 with errno if the helper thread cannot start: then the
 * rounds run on the loop, and the compactor works all the same. */
int ss_compactor_init(struct ss_compactor *c, struct ev_loop *loop, struct ss_store *store,
		      const struct ss_io *io, const struct ss_diag *diag,
		      const struct ss_compactor_ops *ops);

/* Starts a compaction of the table as of now; unapplied is the size of a
 * batch written but not yet applied (its sync in flight), 0 if none: it
 * belongs to the tail. Returns 0 (done will be called later), or -1 with
 * *err if it could not start (done is not called; it counts in failures).
 * Must not be called while one runs. */
int ss_compactor_start(struct ss_compactor *c, int64_t now_ms, size_t unapplied,
		       struct ss_error *err);

/* A BACKUP to the new data directory dir, of the names that start with
 * prefix[0..plen) (plen 0: every name), with the same walk, rounds and
 * finish (store.h: ss_store_backup_begin); ops.backup_done is called
 * where a compaction's done would be. Same contract as ss_compactor_start
 * otherwise. */
int ss_compactor_backup(struct ss_compactor *c, int64_t now_ms, size_t unapplied, const char *dir,
			const char *prefix, size_t plen, struct ss_error *err);

static inline int ss_compactor_running(const struct ss_compactor *c)
{
	return c->walking || c->writing || c->catching_up || c->finish_pending;
}

/* Running, and a compaction (not a backup). */
static inline int ss_compactor_compacting(const struct ss_compactor *c)
{
	return ss_compactor_running(c) && !c->backup;
}

/* Whether the tail is caught up and the finish waits for the caller. */
static inline int ss_compactor_finish_pending(const struct ss_compactor *c)
{
	return c->finish_pending;
}

static inline const struct ss_compactor_stats *ss_compactor_stats(const struct ss_compactor *c)
{
	return &c->st;
}

/* The walk of the compaction running, or else of the last one. */
static inline struct ss_compactor_walk ss_compactor_walk_stats(const struct ss_compactor *c)
{
	if (ss_compactor_compacting(c))
		return c->walk;
	return c->st.last_walk;
}

/* Completes a compaction whose tail is caught up (finish_pending): copies
 * the rest of the tail and renames, or gives up; then calls done. The log
 * it replaced is closed on the compactor's thread (freeing its blocks can
 * take tens of milliseconds). */
void ss_compactor_finish(struct ss_compactor *c);

/* Stops the walk, waits for a write or round in flight, and removes the
 * temp file; done is not called. For shutdown. */
void ss_compactor_cancel(struct ss_compactor *c);

void ss_compactor_free(struct ss_compactor *c);

#endif
