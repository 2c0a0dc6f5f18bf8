/*
 * compactor.h - COMPACT without stopping the loop.
 *
 * A forked child writes the snapshot of its copy-on-write image of the table
 * to the temp file, while the parent goes on serving. The parent keeps the
 * exact bytes of every batch it logs meanwhile (the tail); when the child has
 * exited 0 it appends the tail to the temp file, syncs it and renames it over
 * the log (ss_store_compact_finish). The loop stalls only for fork() and for
 * that finish, never for the snapshot itself.
 *
 * Why this loses nothing: every batch the parent applied before the fork is
 * in the child's image, so in the snapshot; every batch written after it is
 * in the tail. The finish runs between commits (the server's commit is
 * synchronous), so no batch is ever written to the old log and missed.
 */
#ifndef STATESTORED_COMPACTOR_H
#define STATESTORED_COMPACTOR_H

#include <ev.h>
#include <stdint.h>
#include <sys/types.h>

#include "batch.h"
#include "buf.h"
#include "diag.h"
#include "store.h"

struct ss_compactor;

/* Called once per compaction, from the loop: failure is NULL on success or
 * the reason it failed. */
typedef void (*ss_compactor_done_fn)(struct ss_compactor *c, const char *failure, void *arg);

/* Called in the child right after fork, to close what the child must not
 * keep open (client sockets: their connection must end when the parent
 * closes them, not when the child exits). */
typedef void (*ss_compactor_child_fn)(void *arg);

struct ss_compactor {
	struct ev_loop *loop;
	struct ss_store *store;
	const struct ss_io *io;
	const struct ss_diag *diag;
	ss_compactor_done_fn done;
	ss_compactor_child_fn in_child;
	/* If set and it returns 0 when the snapshot is ready, the finish waits
	 * for the caller's ss_compactor_finish (the log is busy). */
	int (*may_finish)(void *arg);
	int finish_pending;
	int child_status;
	char child_why[512];
	void *arg;
	pid_t pid;         /* the child, 0 when idle */
	int why_fd;        /* read end of a pipe: the child's error message */
	ev_child child_w;
	struct ss_buf tail; /* batches logged since the fork */
	int tail_lost;      /* out of memory keeping the tail: give up */
	uint64_t started_us;
	uint64_t log_before;
	/* For STATS and the log. */
	uint64_t runs, failures;
	uint64_t last_us;       /* duration of the last successful run */
	uint64_t last_stall_us; /* fork + finish of the last run: the loop's stall */
};

void ss_compactor_init(struct ss_compactor *c, struct ev_loop *loop, struct ss_store *store,
		       const struct ss_io *io, const struct ss_diag *diag, ss_compactor_done_fn done,
		       ss_compactor_child_fn in_child, void *arg);

/* Starts a compaction of the table as of now. Returns 0 (done will be called
 * later), or -1 with *err if it could not start (done is not called; it
 * counts in failures). Must not be called while one runs. The snapshot
 * writer dies with the process that forked it (PR_SET_PDEATHSIG). */
int ss_compactor_start(struct ss_compactor *c, int64_t now_ms, struct ss_error *err);

static inline int ss_compactor_running(const struct ss_compactor *c)
{
	return c->pid != 0 || c->finish_pending;
}

/* Completes a compaction whose snapshot writer has exited (finish_pending):
 * appends the tail and renames, or gives up; then calls done. */
void ss_compactor_finish(struct ss_compactor *c);

/* After each successful ss_store_write while running: keeps the batch's
 * bytes for the tail. */
void ss_compactor_logged(struct ss_compactor *c, struct ss_batch *b);

/* Kills and reaps a running child and removes the temp file; done is not
 * called. For shutdown. */
void ss_compactor_cancel(struct ss_compactor *c);

void ss_compactor_free(struct ss_compactor *c);

#endif
