/*
 * commit.c - the commit cycle; see commit.h.
 *
 * How the cycle keeps the durability rules (server.c lists them all):
 *
 *   - nothing is acknowledged before it is durable: a batch's hooks run
 *     only after ss_store_sync (inline) or the syncer's fdatasync and
 *     ss_store_sync_end have returned 0, and after ss_store_apply;
 *   - nothing non-durable is visible: mutations reach the table (the only
 *     thing reads consult) in ss_store_apply, after the sync;
 *   - group commit: the open batch is written when the server runs the
 *     cycle, once per loop iteration after every ready socket was read;
 *   - at most one write is unsynced: while a batch's fdatasync runs on the
 *     syncer, the next one gathers and is written only once it is durable.
 */
#include <errno.h>
#include <string.h>

#include "common/clock.h"
#include "server/commit.h"
#include "server/server.h"

static int holding(const struct ss_commit *c)
{
	return c->gathering && c->open->nops < c->gather_target;
}

int ss_commit_ready(const struct ss_commit *c)
{
	return c->open->nops > 0 && !c->inflight && (!holding(c) || c->stopping);
}

int ss_commit_in_flight(const struct ss_commit *c)
{
	return c->inflight != NULL;
}

size_t ss_commit_unapplied(const struct ss_commit *c)
{
	size_t len = 0;

	if (c->inflight) /* its sync running, or held */
		(void)ss_batch_seal(c->inflight, &len);
	return len;
}

void ss_commit_set_disk_busy(struct ss_commit *c, int busy)
{
	c->disk_busy = busy;
	/* Right after a compaction's swap, the file system commits the rename
	 * and frees the old log's blocks, and the new log grows with each
	 * append: we measured single fdatasyncs of 15-25 ms. Start off the
	 * loop, until one is fast again. */
	if (!busy)
		c->disk_slow = 1;
}

void ss_commit_add_hook(struct ss_commit *c, struct ss_commit_hook *h)
{
	struct ss_commit_hook **p = &c->hooks;

	while (*p)
		p = &(*p)->next;
	h->next = NULL;
	*p = h;
}

static void count_fsync(struct ss_commit *c, uint64_t us)
{
	c->last_fsync_us = us;
	c->disk_slow = us >= SS_SYNC_SLOW_US;
	c->st.fsyncs++;
	c->st.fsync_us_total += us;
	if (us > c->st.fsync_us_max)
		c->st.fsync_us_max = us;
	ss_stat_hist_observe(&c->st.fsync_us, us);
}

/* Stops the server, once: after that the cycle writes nothing more. */
static void stop(struct ss_commit *c, int code, int keep_replies)
{
	c->stopped = 1;
	c->ops.fatal(c->ops.arg, code, keep_replies);
}

static void fsync_failed(struct ss_commit *c, const struct ss_error *err)
{
	ss_log_error(c->diag,
		     "%s; nothing of the last batch was acknowledged; exiting so that a restart "
		     "replays the log",
		     err->msg);
	stop(c, SS_EXIT_FSYNC, 0);
}

/* Ends b: counts it, tells every hook, empties it. A write whose cut-back
 * failed too leaves the store refusing every write: nothing more is
 * executed (the hooks see refusing set), and once the hooks have queued
 * their replies the server stops. Returns -1 if it stopped. */
static int end_batch(struct ss_commit *c, struct ss_batch *b, int written, int errnum)
{
	c->seq++;
	if (written)
		c->st.commits += b->nrecs;
	else
		c->st.write_errors += b->nrecs;
	if (!written && ss_store_state(c->store) != SS_STORE_OK)
		c->refusing = 1;
	for (struct ss_commit_hook *h = c->hooks; h; h = h->next)
		h->done(h->arg, b, written, errnum, c->seq);
	ss_batch_reset(b);
	for (struct ss_commit_hook *h = c->hooks; h; h = h->next)
		if (h->resume)
			h->resume(h->arg);
	if (c->refusing) {
		ss_log_error(c->diag, "the log refuses every further write until it is reopened; "
				      "exiting so that a restart replays it");
		stop(c, SS_EXIT_ERROR, 1);
		return -1;
	}
	return 0;
}

static int apply_and_end(struct ss_commit *c, struct ss_batch *b, int64_t now_ms);

static uint64_t last_rev(const struct ss_batch *b)
{
	uint64_t rev = 0;

	for (size_t i = 0; i < b->nops; i++)
		if (b->ops[i].type != SS_OP_REPLY && b->ops[i].rev > rev)
			rev = b->ops[i].rev;
	return rev;
}

/* b is durable: apply it, end it - unless the gate holds it for the
 * replicas (then it stays c->inflight, and the next batch waits). Returns
 * -1 if the server stopped. */
static int durable(struct ss_commit *c, struct ss_batch *b, int64_t now_ms)
{
	if (c->gate && b->nrecs > 0 && !c->held &&
	    c->gate->held(c->gate->arg, b, last_rev(b), ss_store_log_bytes(c->store))) {
		c->inflight = b;
		c->held = 1;
		return 0;
	}
	return apply_and_end(c, b, now_ms);
}

static int apply_and_end(struct ss_commit *c, struct ss_batch *b, int64_t now_ms)
{
	if (ss_store_apply(c->store, b, now_ms) < 0) {
		ss_log_error(c->diag, "out of memory applying a durable batch; exiting so that a "
				      "restart replays the log");
		stop(c, SS_EXIT_ERROR, 0);
		return -1;
	}
	return end_batch(c, b, 1, 0);
}

/* Whether to hand this batch's fdatasync to the syncer thread.
 *
 * While the disk is slow - a snapshot writer floods it, or the last
 * fdatasync took SS_SYNC_SLOW_US or more (after a compaction's swap, say) -
 * always: one sync can then take tens of milliseconds, and on the loop it
 * would stall every reader, not only the writers waiting for it.
 *
 * Otherwise only with --sync-thread, and only when other clients can use
 * the loop meanwhile: on the 2-vCPU machine we measured, inline syncing did
 * 74-79k SETs/s with 50 connections against 32-58k with the thread (the
 * wake-ups made each sync 330-550 us instead of 190-205 us), and with a
 * single waiting connection the thread's context switches are pure latency. */
static int sync_in_background(const struct ss_commit *c, const struct ss_batch *b)
{
#ifdef SS_BENCH_NOSYNC
	/* Nothing to wait for: a handoff would only add latency. */
	(void)c;
	(void)b;
	return 0;
#else
	if (!c->syncer.started || c->stopping)
		return 0;
	if (c->disk_slow || c->disk_busy)
		return 1;
	if (!c->sync_thread)
		return 0;
	for (size_t i = 1; i < b->nops; i++)
		if (b->ops[i].owner != b->ops[0].owner)
			return 1;
	return 0;
#endif
}

static void stop_gathering(struct ss_commit *c)
{
	c->gathering = 0;
	ev_timer_stop(c->loop, &c->gather_w);
}

/* Gathering. With the syncer, clients fall into two cohorts: those answered
 * by the batch just synced, and those whose requests gathered meanwhile.
 * Writing the gathered batch at once would sync each cohort separately, half
 * the clients per fdatasync. So after a background sync the open batch waits
 * until the clients just answered have had time to send again - until it
 * holds as many ops as both cohorts did, or half a sync's time (50 us to
 * 1 ms) has passed - and one fdatasync carries them all. */
static void start_gathering(struct ss_commit *c, size_t target)
{
	uint64_t us = c->last_fsync_us / 2;

	if (us < 50)
		us = 50;
	if (us > 1000)
		us = 1000;
	c->gathering = 1;
	c->gather_target = target;
	ev_timer_set(&c->gather_w, (double)us / 1e6, 0.);
	ev_timer_start(c->loop, &c->gather_w);
}

static void on_gathered(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_commit *c = w->data;
	c->gathering = 0; /* the next cycle commits what is there */
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents; /* only keeps the loop from blocking; the cycle commits */
}

static int64_t now_ms(const struct ss_commit *c)
{
	return (int64_t)(ev_now(c->loop) * 1000.0);
}

/* What follows every cycle: the server resumes what waited, and the loop
 * must not block while mutations are staged and nothing in flight will
 * wake it. */
static void cycle_end(struct ss_commit *c)
{
	c->ops.after(c->ops.arg);
	int spin = c->open->nops > 0 && !c->inflight && !holding(c);
	if (spin && !ev_is_active(&c->spin_w))
		ev_idle_start(c->loop, &c->spin_w);
	else if (!spin && ev_is_active(&c->spin_w))
		ev_idle_stop(c->loop, &c->spin_w);
}

void ss_commit_run(struct ss_commit *c)
{
	struct ss_batch *b = c->open;
	struct ss_error err;

	if (c->stopped)
		return;
	if (ss_commit_ready(c)) {
		stop_gathering(c);
		/* Connections the hooks resume stage into the other batch. */
		c->open = b == &c->batches[0] ? &c->batches[1] : &c->batches[0];
		/* A batch of replies only (each a decision against the batch
		 * before, which is durable by now) has nothing to write. */
		int empty = b->nrecs == 0;
		int written = empty || ss_store_write(c->store, b, &err) == 0;
		if (written && !empty) {
			c->st.batches++;
			ss_stat_hist_observe(&c->st.batch_records, b->nrecs);
		}
		if (empty) {
			if (durable(c, b, now_ms(c)) < 0)
				return;
		} else if (!written) {
			ss_log_warn(c->diag, "%s; %zu mutations refused", err.msg, b->nrecs);
			if (end_batch(c, b, 0, err.sys_errno) < 0)
				return;
		} else if (sync_in_background(c, b)) {
			int fd = ss_store_sync_begin(c->store, &err);
			if (fd < 0) {
				ss_log_error(c->diag, "%s", err.msg);
				stop(c, SS_EXIT_FSYNC, 0);
				return;
			}
			c->inflight = b;
			c->sync_started = ss_clock_us();
			ss_syncer_submit(&c->syncer, fd);
		} else {
			uint64_t t0 = ss_clock_us();
			int rc = ss_store_sync(c->store, &err);
			count_fsync(c, ss_clock_us() - t0);
			if (rc < 0) {
				fsync_failed(c, &err);
				return;
			}
			if (durable(c, b, now_ms(c)) < 0)
				return;
		}
	}
	cycle_end(c);
}

/* The syncer finished the batch in flight. */
static void on_synced(struct ss_syncer *sy, int rc, int errnum, void *arg)
{
	struct ss_commit *c = arg;
	struct ss_batch *b = c->inflight;
	struct ss_error err;
	(void)sy;

	count_fsync(c, ss_clock_us() - c->sync_started);
	c->st.fsyncs_background++;
	c->inflight = NULL;
	if (ss_store_sync_end(c->store, rc, errnum, &err) < 0) {
		fsync_failed(c, &err);
		return;
	}
	size_t target = b->nops + c->open->nops;
	if (durable(c, b, now_ms(c)) < 0)
		return;
	if (c->open->nops < target && !c->stopping)
		start_gathering(c, target);
	cycle_end(c);
}

void ss_commit_release(struct ss_commit *c)
{
	struct ss_batch *b = c->inflight;

	if (!c->held || c->stopped)
		return;
	c->held = 0;
	c->inflight = NULL;
	if (apply_and_end(c, b, now_ms(c)) < 0)
		return;
	cycle_end(c);
}

void ss_commit_abandon_parts(struct ss_commit *c, const char *held_msg, size_t open_ops,
			     const char *open_msg)
{
	if (!c->abandon)
		return;
	/* The open batch first: the clients the held batch's answers let go
	 * on stage into it, and theirs are new requests. */
	if (open_ops > c->open->nops)
		open_ops = c->open->nops;
	if (open_ops)
		c->abandon(c->abandon_arg, c->open, open_ops, open_msg);
	if (c->held)
		c->abandon(c->abandon_arg, c->inflight, c->inflight->nops, held_msg);
}

void ss_commit_abandon(struct ss_commit *c, const char *msg)
{
	ss_commit_abandon_parts(c, msg, c->open->nops, msg);
}

void ss_commit_demote(struct ss_commit *c, const char *msg, const char *open_msg, int errnum)
{
	/* A sync in flight ends first; with the gate still in place, a batch
	 * it made durable is held, not acknowledged. */
	ss_syncer_drain(&c->syncer);
	if (c->stopped)
		return;
	if (c->held) {
		struct ss_batch *b = c->inflight;
		if (c->abandon)
			c->abandon(c->abandon_arg, b, b->nops, msg);
		c->held = 0;
		c->inflight = NULL;
		if (end_batch(c, b, 0, errnum) < 0)
			return;
	}
	if (c->open->nops > 0) {
		struct ss_batch *b = c->open;
		c->open = b == &c->batches[0] ? &c->batches[1] : &c->batches[0];
		if (c->abandon)
			c->abandon(c->abandon_arg, b, b->nops, open_msg);
		(void)end_batch(c, b, 0, errnum);
	}
}

void ss_commit_drain(struct ss_commit *c)
{
	c->stopping = 1;
	/* The batch whose fdatasync is running is ended first, then the open
	 * one is written and synced inline. */
	ss_syncer_drain(&c->syncer);
	ss_commit_run(c); /* nothing, if the drained sync stopped the server */
}

void ss_commit_init(struct ss_commit *c, struct ev_loop *loop, struct ss_store *store,
		    const struct ss_io *io, const struct ss_diag *diag, int sync_thread,
		    const struct ss_commit_ops *ops)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->store = store;
	c->diag = diag;
	c->ops = *ops;
	c->sync_thread = sync_thread;
	ss_stat_hist_latency(&c->st.fsync_us);
	ss_stat_hist_records(&c->st.batch_records);
	ss_batch_init(&c->batches[0]);
	ss_batch_init(&c->batches[1]);
	c->open = &c->batches[0];
	ev_idle_init(&c->spin_w, on_idle);
	ev_timer_init(&c->gather_w, on_gathered, 0., 0.);
	c->gather_w.data = c;
	if (ss_syncer_init(&c->syncer, loop, io, on_synced, c) < 0)
		ss_log_warn(diag, "no fdatasync thread (%s): syncing on the loop", strerror(errno));
}

void ss_commit_free(struct ss_commit *c)
{
	ss_syncer_free(&c->syncer);
	if (c->loop) {
		ev_idle_stop(c->loop, &c->spin_w);
		ev_timer_stop(c->loop, &c->gather_w);
	}
	ss_batch_free(&c->batches[0]);
	ss_batch_free(&c->batches[1]);
}
