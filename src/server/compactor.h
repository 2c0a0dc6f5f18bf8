/*
 * compactor.h - COMPACT without stopping the loop.
 *
 * A forked child writes the snapshot of its copy-on-write image of the table
 * to the temp file, while the parent goes on serving and logging to the old
 * log. When the child has exited 0, catch-up rounds on the compactor's own
 * helper thread copy what the parent logged meanwhile (the tail) from the
 * old log to the temp file and sync it, until little is left; then the
 * finish, on the loop, copies that little, syncs, and renames the temp file
 * over the log (store.h, steps 1-5). The loop stalls only for fork() and
 * that finish, never for the snapshot or the bulk of the tail.
 *
 * Why this loses nothing: every batch the parent applied before the fork is
 * in the child's image, so in the snapshot; every batch written after it
 * (or in flight at it) is in the tail. The finish runs between commits,
 * once no fdatasync is in flight, so no batch is ever written to the old
 * log and missed.
 */
#ifndef STATESTORED_COMPACTOR_H
#define STATESTORED_COMPACTOR_H

#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/diag.h"
#include "statestored/store.h"
#include "server/syncer.h"

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

/* Called in the child right after fork, to close what the child must not
 * keep open (client sockets: their connection must end when the parent
 * closes them, not when the child exits). */
typedef void (*ss_compactor_child_fn)(void *arg);

/* The caller's part. */
struct ss_compactor_ops {
	ss_compactor_done_fn done;
	ss_compactor_child_fn in_child; /* may be NULL */
	/* If set and it returns 0 when the tail is caught up, the finish waits
	 * for the caller's ss_compactor_finish (the log is busy: a sync runs
	 * on it). */
	int (*may_finish)(void *arg);
	void *arg;
};

struct ss_compactor_stats {
	uint64_t runs, failures;
	uint64_t last_us;       /* duration of the last successful run */
	uint64_t last_stall_us; /* fork + finish of the last run: the loop's stall */
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
	char child_why[512];
	pid_t pid;         /* the child, 0 when idle */
	int why_fd;        /* read end of a pipe: the child's error message */
	ev_child child_w;
	struct ss_syncer worker;   /* runs the catch-up rounds */
	struct ss_compact_job job; /* the round in flight */
	unsigned rounds;
	uint64_t tail_from;        /* the old log's bytes from here on are not copied yet */
	uint64_t tail_off_loop, tail_on_loop; /* tail bytes copied by rounds, by the finish */
	uint64_t started_us;
	uint64_t log_before;
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
 * Must not be called while one runs. The snapshot writer dies with the
 * process that forked it (PR_SET_PDEATHSIG). */
int ss_compactor_start(struct ss_compactor *c, int64_t now_ms, size_t unapplied,
		       struct ss_error *err);

static inline int ss_compactor_running(const struct ss_compactor *c)
{
	return c->pid != 0 || c->catching_up || c->finish_pending;
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

/* Completes a compaction whose tail is caught up (finish_pending): copies
 * the rest of the tail and renames, or gives up; then calls done. The log
 * it replaced is closed on the compactor's thread (freeing its blocks can
 * take tens of milliseconds). */
void ss_compactor_finish(struct ss_compactor *c);

/* Kills and reaps a running child, waits for a round in flight, and
 * removes the temp file; done is not called. For shutdown. */
void ss_compactor_cancel(struct ss_compactor *c);

void ss_compactor_free(struct ss_compactor *c);

#endif
