/*
 * commit.h - the commit cycle: group commit, the commit seam.
 *
 * Requests are executed as they are read. Reads answer at once from the
 * table, which holds only durable state. Mutations are staged into the
 * open batch (ss_commit_open) and their connections wait. Once per loop
 * iteration, just before the loop would block, the server calls
 * ss_commit_run: the whole batch - every mutation that arrived in that
 * iteration, from every connection - goes to the log in one write and one
 * fdatasync; only then is it applied to the table, and then each hook is
 * told, in commit order. The replies are one hook; the replication feed
 * and the metrics will be others. No hook edits the cycle.
 *
 * The fdatasync runs inline, or on the syncer thread while the loop reads
 * and stages the next batch: while the disk is slow (the last sync took
 * SS_SYNC_SLOW_US or more, or the server says a compaction floods it), and
 * with --sync-thread whenever the batch holds several clients' writes. A
 * batch is written only once the one before it is durable, so at most one
 * write is ever unsynced (replay's torn-tail rule depends on it).
 *
 * What a failure does: a failed write is cut back by the store, and every
 * op of the batch is told so (written 0); if even the cut-back failed, the
 * store refuses all further writes and the cycle stops the server after
 * the hooks ran (ops->fatal with keep_replies 1: the errors go out). A
 * failed fdatasync stops the server at once, answering nothing (ops->fatal
 * with keep_replies 0): retrying an fsync can report success for pages the
 * kernel already dropped.
 */
#ifndef STATESTORED_SERVER_COMMIT_H
#define STATESTORED_SERVER_COMMIT_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "server/stats.h"
#include "server/syncer.h"
#include "statestored/batch.h"
#include "statestored/store.h"

/* A batch stops taking new mutations past this size; they wait one commit. */
#define SS_BATCH_SOFT_MAX (8u * 1024 * 1024)
/* An fdatasync slower than this marks the disk as slow: the next ones run on
 * the syncer thread, off the loop, until one is fast again. */
#define SS_SYNC_SLOW_US 1000

/* Told of every batch the cycle ends, in commit order, on the loop.
 *
 * done: b was written, synced and applied (written 1; each op's result is
 * set), or its write failed (written 0, errnum its errno) and nothing of it
 * is in the log or the table. seq numbers the cycle's batches from 1. done
 * only looks: it must not let anything run that could stage into the open
 * batch or free what an op's owner points to, since every hook's done sees
 * the same b.
 *
 * resume (may be NULL): once every hook's done ran and b was emptied, a
 * hook may let things go on - the clients just answered run their next
 * requests, which may stage into the open batch or end a connection. */
struct ss_commit_hook {
	void (*done)(void *arg, struct ss_batch *b, int written, int errnum, uint64_t seq);
	void (*resume)(void *arg);
	void *arg;
	struct ss_commit_hook *next;
};

/* The replication gate (server/repl.h): told of every batch once it is
 * durable here, before it is applied. held returns 1 to hold the batch -
 * written and synced, not applied, its clients unanswered - until the gate
 * calls ss_commit_release (enough replicas have it durably) or
 * ss_commit_abandon; 0 lets it be applied at once. last_rev is the highest
 * revision among its records, log_end where the log ends after it. While a
 * batch is held the next one gathers but is not written. */
struct ss_commit_gate {
	int (*held)(void *arg, struct ss_batch *b, uint64_t last_rev, uint64_t log_end);
	void *arg;
};

/* The server's part. */
struct ss_commit_ops {
	/* After every cycle and every durable batch: resume what waited. */
	void (*after)(void *arg);
	/* Service must stop with exit code: keep_replies 1 sends what is
	 * queued first (the store refuses writes), 0 drops it (a sync failed,
	 * or applying a durable batch ran out of memory). */
	void (*fatal)(void *arg, int code, int keep_replies);
	void *arg;
};

struct ss_commit_stats {
	uint64_t commits;           /* mutations acknowledged */
	uint64_t batches;           /* batches written */
	uint64_t fsyncs;
	uint64_t fsyncs_background; /* of which on the syncer thread */
	uint64_t fsync_us_total, fsync_us_max;
	uint64_t write_errors;      /* mutations refused because the write failed */
	struct ss_stat_hist fsync_us;      /* each fdatasync's time, in microseconds */
	struct ss_stat_hist batch_records; /* each written batch's records */
};

struct ss_commit {
	struct ev_loop *loop;
	struct ss_store *store;
	const struct ss_diag *diag;
	struct ss_commit_ops ops;
	struct ss_commit_hook *hooks;
	int sync_thread;  /* --sync-thread */
	int disk_busy;    /* the server says: a compaction floods the disk */
	int refusing;     /* the store refuses writes: execute nothing more */
	int stopping;     /* shutting down: sync inline */
	int stopped;      /* ops->fatal was called: the cycle does nothing more */
	struct ss_batch batches[2];
	struct ss_batch *open;     /* where mutations are staged */
	struct ss_batch *inflight; /* written, its fdatasync running on the syncer;
				    * or, with held set, durable and held by the gate */
	int held;
	const struct ss_commit_gate *gate; /* NULL: every durable batch is applied */
	/* Answers b's first nops ops that owe a reply with the error msg,
	 * and marks them answered (the clients' part, ss_commit_abandon). */
	void (*abandon)(void *arg, struct ss_batch *b, size_t nops, const char *msg);
	void *abandon_arg;
	struct ss_syncer syncer;
	uint64_t sync_started;
	uint64_t last_fsync_us;
	int disk_slow;       /* the last fdatasync took SS_SYNC_SLOW_US or more */
	ev_idle spin_w;      /* keeps the loop from blocking while a batch is ready */
	ev_timer gather_w;   /* bounds the wait for a fuller batch */
	int gathering;       /* holding the open batch until gather_target ops */
	size_t gather_target;
	uint64_t seq;
	struct ss_commit_stats st;
};

/* Sets c up; starts the syncer thread (if it cannot, syncs run inline and
 * this says so on diag). */
void ss_commit_init(struct ss_commit *c, struct ev_loop *loop, struct ss_store *store,
		    const struct ss_io *io, const struct ss_diag *diag, int sync_thread,
		    const struct ss_commit_ops *ops);
void ss_commit_free(struct ss_commit *c);

/* Adds a hook; hooks run in the order added. */
void ss_commit_add_hook(struct ss_commit *c, struct ss_commit_hook *h);

/* The open batch, where mutations are staged. */
static inline struct ss_batch *ss_commit_open(struct ss_commit *c) { return c->open; }

/* Whether the open batch is waiting to be written (it has ops, none is in
 * flight, and it is not being held for a fuller batch). */
int ss_commit_ready(const struct ss_commit *c);

/* Writes and syncs the open batch if it is ready, ends it (hooks), then
 * calls ops->after. The server calls it just before the loop blocks. */
void ss_commit_run(struct ss_commit *c);

/* Whether a batch is written but not applied: its sync on the thread, or
 * held by the gate (ss_commit_holding); and its size: a compaction's tail
 * must include it. */
int ss_commit_in_flight(const struct ss_commit *c);
size_t ss_commit_unapplied(const struct ss_commit *c);

/* A compaction starts (1) or ends (0): syncs go off the loop meanwhile,
 * and once it ended until one is fast again. */
void ss_commit_set_disk_busy(struct ss_commit *c, int busy);

/* The gate's answers for the held batch: release applies it and answers
 * its clients as usual (a no-op when nothing is held). abandon answers the
 * clients of the held batch and of the open one with the error msg (their
 * outcome is unknown to them now) and leaves both as they are: the held
 * one keeps its revisions where the log has them, and a later release
 * applies it with nobody left to tell; the open one is written after it. */
void ss_commit_release(struct ss_commit *c);
void ss_commit_abandon(struct ss_commit *c, const char *msg);
/* The same in parts: the held batch's clients (held_msg), and those of
 * the open batch's first open_ops ops (open_msg: not written yet). */
void ss_commit_abandon_parts(struct ss_commit *c, const char *held_msg, size_t open_ops,
			     const char *open_msg);
/* Whether a batch is held, and its last revision. */
static inline int ss_commit_holding(const struct ss_commit *c) { return c->held; }

/* This node stops being the primary: waits for a sync in flight; a held
 * batch's clients are answered with msg (the write is durable here, but
 * its outcome is unknown) and the batch is ended unapplied; the open
 * batch's, never written, with open_msg. Both end as failed writes
 * (errnum), so their revisions are given back; nothing of either reaches
 * the table (the caller reopens the store). */
void ss_commit_demote(struct ss_commit *c, const char *msg, const char *open_msg, int errnum);

/* Shutdown: waits for the batch in flight and ends it, then commits the
 * open batch inline. */
void ss_commit_drain(struct ss_commit *c);

#endif
