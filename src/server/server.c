/*
 * server.c - the event loop, the listener, signals, background expiry and the
 * commit cycle; see server.h.
 *
 * The durability contract lives here, so here is how each rule is kept.
 *
 * 1. Nothing is acknowledged before it is durable: a mutation's reply is
 *    produced only by durable(), after ss_store_sync() (inline) or the
 *    syncer's fdatasync and ss_store_sync_end() have returned 0.
 * 2. Nothing non-durable is visible: mutations are staged in the open batch
 *    and reach the table (the only thing reads consult) in ss_store_apply,
 *    after the sync. A connection that has staged a mutation executes no
 *    read until that mutation is answered (the dispatcher answers SS_CMD_WAIT
 *    and the connection pauses), so even the writer cannot read ahead.
 * 3. Per-connection order: replies are appended to the connection's output
 *    in execution order; a connection with staged mutations only stages more
 *    (valid writes) and those are answered in batch order.
 * 4. Group commit: the batch is written in the ev_prepare watcher, which runs
 *    once per loop iteration after every ready socket has been read: one
 *    write and one fdatasync for all of them. While the disk is slow (a
 *    compaction runs, or the last fdatasync took a millisecond or more),
 *    and with --sync-thread when several connections wait, the fdatasync
 *    runs on the syncer thread while the loop reads
 *    and stages the next batch, which is written only once this one is
 *    durable (so at most one write is ever unsynced, which replay's
 *    torn-tail rule needs), after gathering the clients just answered.
 * 5. A failed write: the store cuts the log back; every op of the batch gets
 *    ERR and nothing reaches the table. Later batches are tried normally.
 *    If the cut-back failed too, the store refuses every later write until
 *    it is reopened: the ERRs go out, and the process exits SS_EXIT_ERROR
 *    rather than serve on, refusing everything, until someone notices.
 * 6. A failed fdatasync: nothing of the batch is answered, the loop stops and
 *    the process exits SS_EXIT_FSYNC. Retrying fsync after a failure can
 *    report success for pages the kernel already dropped.
 * 7. COMPACT forks a child that snapshots the applied batches; every batch
 *    written after the fork (or in flight at it) is kept as the tail, and the
 *    finish - append the tail, sync, rename - waits until no fdatasync is in
 *    flight, so every acknowledged batch is in the new log.
 *    If only the directory fsync after the rename failed, the store is
 *    poisoned as after a failed fdatasync: COMPACT gets its ERR, then the
 *    process exits SS_EXIT_FSYNC.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/clock.h"
#include "server/compactor.h"
#include "net/conn.h"
#include "cmd/session.h"
#include "net/listener.h"
#include "server/server.h"
#include "statestored/store.h"
#include "server/syncer.h"

/* A batch stops taking new mutations past this size; they wait one commit. */
#define SS_BATCH_SOFT_MAX (8u * 1024 * 1024)
/* An fdatasync slower than this marks the disk as slow: the next ones run on
 * the syncer thread, off the loop, until one is fast again. */
#define SS_SYNC_SLOW_US 1000
/* Descriptors kept for the daemon's own files beyond its clients: the log,
 * a replaced log, the temp file, LOCK, the listener and its spare, the
 * loop's own, the syncer's, stdio. Redis keeps 32 too. */
#define SS_RESERVED_FDS 32
/* How long a start waits for a LOCK held by the snapshot writer of a
 * daemon that is gone (see lock_holder_gone). */
#define SS_LOCK_WAIT_US (10 * 1000 * 1000)
/* Background expiry: slots examined per round, rounds per tick at most. */
#define SS_EXPIRE_SLOTS 1024
#define SS_EXPIRE_ROUNDS 16
#define SS_EXPIRE_PERIOD 0.1

struct ss_stats {
	uint64_t commits;      /* mutations acknowledged */
	uint64_t batches;      /* batches written */
	uint64_t fsyncs;
	uint64_t fsyncs_background; /* of which on the syncer thread */
	uint64_t fsync_us_total, fsync_us_max;
	uint64_t write_errors; /* mutations refused because the write failed */
	uint64_t rejected;     /* ERR replies */
	uint64_t auto_compactions;
	uint64_t expired;      /* entries removed by background expiry */
	uint64_t connections;  /* accepted over the lifetime */
	uint64_t refused;      /* connections turned away at max clients */
};

struct ss_server {
	const struct ss_server_config *cfg;
	const struct ss_diag *diag;
	struct ev_loop *loop;
	struct ss_store *store;
	struct ss_listener listener;
	ev_signal sigterm_w, sigint_w;
	ev_signal other_w[3]; /* SIGHUP, SIGUSR1, SIGUSR2: logged, ignored */
	int max_clients; /* --max-clients, or fewer if descriptors are short */
	int quota_alarm; /* the log is past --quota-bytes (logged when it changes) */
	ev_prepare commit_w;
	int compaction_seen; /* a compaction ran during this loop iteration */
	uint64_t compaction_loop_max_us; /* longest iteration while the last one ran */
	ev_idle spin_w;
	ev_timer gather_w;   /* bounds the wait for a fuller batch */
	int gathering;       /* holding the open batch until gather_target ops */
	size_t gather_target;
	uint64_t last_fsync_us;
	int disk_slow; /* the last fdatasync took SS_SYNC_SLOW_US or more */
	ev_timer expire_w;
	size_t expire_cursor;
	struct ss_batch batches[2];
	struct ss_batch *open;     /* where mutations are staged */
	struct ss_batch *inflight; /* written, its fdatasync running on the syncer */
	struct ss_syncer syncer;
	uint64_t sync_started;
	struct ss_conn_hooks hooks;
	struct ss_conn *conns; /* every connection not yet freed */
	size_t nclients;
	struct ss_conn **touched; /* scratch: connections of one batch */
	size_t ntouched, touchcap;
	struct ss_conn **waiters; /* paused by a full batch */
	size_t nwaiters, waitcap;
	uint64_t commit_seq;
	int compact_requested; /* some connection's COMPACT waits for a run */
	struct ss_compactor compactor;
	int shutting_down;
	int exit_code;
	double started;
	struct ss_stats st;
};

static int64_t now_ms(const struct ss_server *srv) { return (int64_t)(ev_now(srv->loop) * 1000.0); }

static void server_stats(void *arg, struct ss_buf *out);

/* Appends c to a growable array of connections. Returns 0 or -1 (ENOMEM). */
static int conn_array_push(struct ss_conn ***arr, size_t *n, size_t *cap, struct ss_conn *c)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct ss_conn **p = realloc(*arr, ncap * sizeof(*p));
		if (!p)
			return -1;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = c;
	return 0;
}

static void conn_unlink_free(struct ss_server *srv, struct ss_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ss_conn_free(c);
	free(c);
	srv->nclients--;
}

/* Sends what can be sent, closes a finished connection, and frees it once
 * nothing refers to it any more (no staged op, no COMPACT, no batch wait). */
static void settle(struct ss_server *srv, struct ss_conn *c)
{
	struct ss_session *s = &c->s;

	if (c->fd >= 0 && ss_conn_flush(c) < 0) {
		ss_buf_consume(&s->out, ss_buf_size(&s->out));
		ss_conn_close(c);
	}
	if (c->fd >= 0 && ss_session_done(s))
		ss_conn_close(c);
	if (c->fd < 0 && s->pending == 0 && !s->compact_wait && !s->batch_wait)
		conn_unlink_free(srv, c);
}

/* Whether the log is past --quota-bytes. A batch staged before it passed
 * may take the log past it by up to one batch (SS_BATCH_SOFT_MAX). */
static int over_quota(const struct ss_server *srv)
{
	return srv->cfg->quota_bytes > 0 && ss_store_log_bytes(srv->store) >= srv->cfg->quota_bytes;
}

/* Logs the quota alarm when it is raised and when it clears: after each
 * commit (the log grew) and each compaction (it shrank). */
static void watch_quota(struct ss_server *srv)
{
	int over = over_quota(srv);

	if (over == srv->quota_alarm)
		return;
	srv->quota_alarm = over;
	if (over)
		ss_warn(srv->diag,
			"quota alarm: the log is %llu bytes, past --quota-bytes %llu; SETs are "
			"refused until DEL_CHECKPOINT and COMPACT bring it under",
			(unsigned long long)ss_store_log_bytes(srv->store),
			(unsigned long long)srv->cfg->quota_bytes);
	else
		ss_notice(srv->diag, "quota alarm cleared: the log is %llu bytes, under --quota-bytes "
				     "%llu; SETs are accepted again",
			  (unsigned long long)ss_store_log_bytes(srv->store),
			  (unsigned long long)srv->cfg->quota_bytes);
}

/* Executes the complete requests in c's input until one must wait. */
static void process_input(struct ss_server *srv, struct ss_conn *c)
{
	struct ss_session_env env = {
		.table = ss_store_table(srv->store),
		.batch = srv->open,
		.now_ms = now_ms(srv),
		.max_line = srv->cfg->max_line,
		.batch_max_bytes = SS_BATCH_SOFT_MAX,
		.stopping = srv->shutting_down,
		.quota_exceeded = over_quota(srv),
		.rejected = &srv->st.rejected,
		.compact_requested = &srv->compact_requested,
		.stats = server_stats,
		.stats_arg = srv,
	};

	for (;;) {
		enum ss_session_result r = ss_session_execute(&c->s, &env);
		/* Backpressure: past the high mark, execute nothing more until
		 * the client has read enough; on_writable resumes us once the
		 * output drains below the mark. But the flush may drain it at
		 * once, and then no writable event would come: go on now. */
		if (r == SS_SESSION_HIGH && ss_conn_flush(c) == 0 &&
		    ss_buf_size(&c->s.out) < SS_SESSION_OUT_HIGH)
			continue;
		if (r == SS_SESSION_FULL && !c->s.batch_wait &&
		    conn_array_push(&srv->waiters, &srv->nwaiters, &srv->waitcap, c) == 0)
			c->s.batch_wait = 1;
		if (r == SS_SESSION_NOMEM) {
			ss_error(srv->diag, "out of memory serving a request; closing the connection");
			ss_conn_close(c);
		}
		break;
	}
	settle(srv, c);
}

static void on_conn_input(struct ss_conn *c, void *arg) { process_input(arg, c); }

/* Stops everything after a failure that makes further service unsafe. */
static void fatal_stop(struct ss_server *srv, int code)
{
	srv->exit_code = code;
	srv->shutting_down = 1;
	ss_compactor_cancel(&srv->compactor);
	for (struct ss_conn *c = srv->conns; c; c = c->next) {
		ss_buf_consume(&c->s.out, ss_buf_size(&c->s.out));
		ss_conn_close(c);
	}
	ev_break(srv->loop, EVBREAK_ALL);
}

/* Stops after a failure that left the store refusing every write until it
 * is reopened. Unlike fatal_stop, the replies already made (the ERRs that
 * say what failed) still go out, best effort, as on SIGTERM; the caller has
 * set shutting_down before resuming connections, so nothing more is
 * executed. The process then exits with code. */
static void stop_refusing(struct ss_server *srv, int code)
{
	ss_error(srv->diag,
		 "the log refuses every further write until it is reopened; exiting so that a "
		 "restart replays it");
	srv->exit_code = code;
	srv->shutting_down = 1;
	ss_listener_stop(&srv->listener);
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->fd >= 0 && ss_conn_flush(c) < 0)
			ss_conn_close(c);
	ev_break(srv->loop, EVBREAK_ALL);
}

static void count_fsync(struct ss_server *srv, uint64_t us)
{
	srv->last_fsync_us = us;
	srv->disk_slow = us >= SS_SYNC_SLOW_US;
	srv->st.fsyncs++;
	srv->st.fsync_us_total += us;
	if (us > srv->st.fsync_us_max)
		srv->st.fsync_us_max = us;
}

static void fsync_failed(struct ss_server *srv, const struct ss_error *err)
{
	ss_error(srv->diag,
		 "%s; nothing of the last batch was acknowledged; exiting so that a restart "
		 "replays the log",
		 err->msg);
	fatal_stop(srv, SS_EXIT_FSYNC);
}

/* fdatasync on the loop thread, timed. Returns 0, or -1 after stopping the
 * server. */
static int sync_log(struct ss_server *srv)
{
	struct ss_error err;
	uint64_t t0 = ss_clock_us();
	int rc = ss_store_sync(srv->store, &err);

	count_fsync(srv, ss_clock_us() - t0);
	if (rc < 0) {
		fsync_failed(srv, &err);
		return -1;
	}
	return 0;
}

/* Answers every COMPACT in the given wait state and resumes its connection. */
static void reply_compact(struct ss_server *srv, unsigned state, const char *failure)
{
	struct ss_conn *next;
	for (struct ss_conn *c = srv->conns; c; c = next) {
		next = c->next;
		if (c->s.compact_wait != state)
			continue;
		c->s.compact_wait = 0;
		if (ss_cmd_reply_compact(failure, &c->s.out) < 0)
			ss_conn_close(c);
		if (failure)
			srv->st.rejected++;
		process_input(srv, c);
	}
}

/* Starts a compaction for the queued COMPACTs (or for the log's growth). */
static void compact_start(struct ss_server *srv, int automatic)
{
	struct ss_error err;
	size_t unapplied = 0;

	srv->compact_requested = 0;
	/* A batch written but not yet applied is not in the child's image of
	 * the table: it belongs to the tail. */
	if (srv->inflight)
		(void)ss_batch_seal(srv->inflight, &unapplied);
	if (ss_compactor_start(&srv->compactor, now_ms(srv), unapplied, &err) < 0) {
		ss_error(srv->diag, "compaction failed to start: %s", err.msg);
		reply_compact(srv, 1, err.msg);
		return;
	}
	if (automatic)
		srv->st.auto_compactions++;
	srv->compaction_loop_max_us = 0;
	srv->compaction_seen = 1;
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->s.compact_wait == 1)
			c->s.compact_wait = 2;
}

static void on_compacted(struct ss_compactor *cp, const char *failure, void *arg)
{
	struct ss_server *srv = arg;
	int old = ss_store_take_retired_fd(srv->store);
	(void)cp;

	srv->compaction_seen = 1;
	if (old >= 0)
		ss_syncer_close(&srv->syncer, old);
	/* Right after the swap, the file system commits the rename and frees
	 * the old log's blocks, and the new log grows with each append: we
	 * measured single fdatasyncs of 15-25 ms. Start off the loop. */
	srv->disk_slow = 1;

	watch_quota(srv);
	/* A failed directory fsync after the rename poisons the store. */
	int refusing = failure && ss_store_state(srv->store) != SS_STORE_OK;
	if (refusing)
		srv->shutting_down = 1; /* answer COMPACT, execute nothing more */
	reply_compact(srv, 2, failure);
	if (refusing) {
		stop_refusing(srv, SS_EXIT_FSYNC);
		return;
	}
	if (srv->compact_requested && !srv->shutting_down)
		compact_start(srv, 0);
}

/* The compactor may swap the log's descriptor only when no fdatasync runs
 * on it. */
static int no_sync_in_flight(void *arg)
{
	const struct ss_server *srv = arg;
	return srv->inflight == NULL;
}

/* In the snapshot writer, right after fork: the sockets are the parent's. */
static void close_sockets(void *arg)
{
	struct ss_server *srv = arg;

	ss_listener_close_fds(&srv->listener);
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->fd >= 0)
			close(c->fd);
}

/* Automatic compaction: the log has grown past both thresholds. */
static int log_outgrown(const struct ss_server *srv)
{
	uint64_t bytes = ss_store_log_bytes(srv->store);
	uint64_t base = ss_store_log_bytes_compacted(srv->store);

	return srv->cfg->auto_compact_min > 0 && bytes >= srv->cfg->auto_compact_min &&
	       bytes * 100 >= base * srv->cfg->auto_compact_growth;
}

/* Gathering. With the syncer, clients fall into two cohorts: those answered
 * by the batch just synced, and those whose requests gathered meanwhile.
 * Writing the gathered batch at once would sync each cohort separately, half
 * the clients per fdatasync. So after a background sync the open batch waits
 * until the clients just answered have had time to send again - until it
 * holds as many ops as both cohorts did, or half a sync's time (50 us to
 * 1 ms) has passed - and one fdatasync carries them all. */
static int holding(const struct ss_server *srv)
{
	return srv->gathering && srv->open->nops < srv->gather_target;
}

static void stop_gathering(struct ss_server *srv)
{
	srv->gathering = 0;
	ev_timer_stop(srv->loop, &srv->gather_w);
}

static void start_gathering(struct ss_server *srv, size_t target)
{
	uint64_t us = srv->last_fsync_us / 2;

	if (us < 50)
		us = 50;
	if (us > 1000)
		us = 1000;
	srv->gathering = 1;
	srv->gather_target = target;
	ev_timer_set(&srv->gather_w, (double)us / 1e6, 0.);
	ev_timer_start(srv->loop, &srv->gather_w);
}

static void on_gathered(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;
	srv->gathering = 0; /* on_prepare commits what is there */
}

/* Answers every op of b - its result, or ERR if the write failed (errnum) -
 * then empties b and resumes the connections that waited on it. Returns -1
 * if the server stopped. */
static int answer(struct ss_server *srv, struct ss_batch *b, int written, int errnum)
{
	srv->commit_seq++;
	srv->ntouched = 0;
	for (size_t i = 0; i < b->nops; i++) {
		struct ss_conn *c = ss_conn_of(b->ops[i].owner);
		int r = ss_session_answer(&b->ops[i], written, errnum, srv->commit_seq);
		if (r & SS_ANSWER_NOMEM)
			ss_conn_close(c);
		if (written) {
			srv->st.commits++;
		} else {
			srv->st.write_errors++;
			srv->st.rejected++;
		}
		if ((r & SS_ANSWER_FIRST) &&
		    conn_array_push(&srv->touched, &srv->ntouched, &srv->touchcap, c) < 0)
			c->s.mark = 0; /* cannot track it: it resumes on its next event */
	}
	/* A write whose cut-back failed too leaves the store broken. */
	int refusing = !written && ss_store_state(srv->store) != SS_STORE_OK;
	if (refusing)
		srv->shutting_down = 1; /* send the ERRs, execute nothing more */
	ss_batch_reset(b);
	for (size_t i = 0; i < srv->ntouched; i++)
		process_input(srv, srv->touched[i]);
	if (refusing) {
		stop_refusing(srv, SS_EXIT_ERROR);
		return -1;
	}
	return 0;
}

/* b is durable: apply it, answer it. Returns -1 if the server stopped. */
static int durable(struct ss_server *srv, struct ss_batch *b)
{
	if (ss_store_apply(srv->store, b, now_ms(srv)) < 0) {
		ss_error(srv->diag, "out of memory applying a durable batch; exiting so that a "
				    "restart replays the log");
		fatal_stop(srv, SS_EXIT_ERROR);
		return -1;
	}
	return answer(srv, b, 1, 0);
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
static int sync_in_background(const struct ss_server *srv, const struct ss_batch *b)
{
#ifdef SS_BENCH_NOSYNC
	/* Nothing to wait for: a handoff would only add latency. */
	(void)b;
	return 0;
#endif
	if (!srv->syncer.started || srv->shutting_down)
		return 0;
	if (srv->disk_slow || ss_compactor_running(&srv->compactor))
		return 1;
	if (!srv->cfg->sync_thread)
		return 0;
	for (size_t i = 1; i < b->nops; i++)
		if (b->ops[i].owner != b->ops[0].owner)
			return 1;
	return 0;
}

/* What follows every commit: connections that found the batch full, a
 * pending compaction, and whether the loop may block. */
static void after_commit(struct ss_server *srv)
{
	watch_quota(srv);
	size_t nwait = srv->nwaiters;
	srv->nwaiters = 0;
	for (size_t i = 0; i < nwait && i < srv->waitcap; i++) {
		struct ss_conn *c = srv->waiters[i];
		c->s.batch_wait = 0;
		process_input(srv, c);
	}

	if (!ss_compactor_running(&srv->compactor) && !srv->shutting_down) {
		if (srv->compact_requested)
			compact_start(srv, 0);
		else if (log_outgrown(srv))
			compact_start(srv, 1);
	}

	/* Mutations staged by the connections just resumed, and nothing in
	 * flight to wake us: do not block. */
	int spin = srv->open->nops > 0 && !srv->inflight && !holding(srv);
	if (spin && !ev_is_active(&srv->spin_w))
		ev_idle_start(srv->loop, &srv->spin_w);
	else if (!spin && ev_is_active(&srv->spin_w))
		ev_idle_stop(srv->loop, &srv->spin_w);
}

/* Writes the open batch to the log and makes it durable: inline, or through
 * the syncer while the loop goes on (the next batch gathers meanwhile and is
 * written only after this one is durable, so at most one write is ever
 * unsynced: replay's torn-tail rule depends on it). */
static void commit(struct ss_server *srv)
{
	struct ss_batch *b = srv->open;
	struct ss_error err;

	if (b->nops > 0 && !srv->inflight && (!holding(srv) || srv->shutting_down)) {
		stop_gathering(srv);
		if (ss_store_write(srv->store, b, &err) < 0) {
			ss_warn(srv->diag, "%s; %zu mutations refused", err.msg, b->nops);
			if (answer(srv, b, 0, err.sys_errno) < 0)
				return;
		} else {
			srv->st.batches++;
			if (sync_in_background(srv, b)) {
				int fd = ss_store_sync_begin(srv->store, &err);
				if (fd < 0) {
					ss_error(srv->diag, "%s", err.msg);
					fatal_stop(srv, SS_EXIT_FSYNC);
					return;
				}
				srv->inflight = b;
				srv->open = b == &srv->batches[0] ? &srv->batches[1] : &srv->batches[0];
				srv->sync_started = ss_clock_us();
				ss_syncer_submit(&srv->syncer, fd);
			} else {
				if (sync_log(srv) < 0 || durable(srv, b) < 0)
					return;
			}
		}
	}
	after_commit(srv);
}

/* The syncer finished the batch in flight. */
static void on_synced(struct ss_syncer *sy, int rc, int errnum, void *arg)
{
	struct ss_server *srv = arg;
	struct ss_batch *b = srv->inflight;
	struct ss_error err;
	(void)sy;

	count_fsync(srv, ss_clock_us() - srv->sync_started);
	srv->st.fsyncs_background++;
	srv->inflight = NULL;
	if (ss_store_sync_end(srv->store, rc, errnum, &err) < 0) {
		fsync_failed(srv, &err);
		return;
	}
	size_t target = b->nops + srv->open->nops;
	if (durable(srv, b) < 0)
		return;
	if (srv->open->nops < target && !srv->shutting_down)
		start_gathering(srv, target);
	/* A compaction whose snapshot is ready waited for this: the log's
	 * descriptor was busy. */
	if (srv->compactor.finish_pending)
		ss_compactor_finish(&srv->compactor);
	after_commit(srv);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;
	if ((srv->open->nops > 0 && !srv->inflight && !holding(srv)) || srv->nwaiters > 0 ||
	    (srv->compact_requested && !ss_compactor_running(&srv->compactor)))
		commit(srv);
	/* The event-loop stall a compaction causes: the longest iteration,
	 * from waking (ev_now, taken by libev right after the poll) to
	 * blocking again, while one runs (the fork and the finish included).
	 * Both are wall-clock times; a clock step counts as nothing. */
	if (srv->compaction_seen || ss_compactor_running(&srv->compactor)) {
		double busy = (ev_time() - ev_now(loop)) * 1e6;
		if (busy > (double)srv->compaction_loop_max_us && busy < 1e9)
			srv->compaction_loop_max_us = (uint64_t)busy;
		srv->compaction_seen = 0;
	}
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents; /* only keeps the loop from blocking; on_prepare commits */
}

static void on_expire(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;
	struct ss_table *t = ss_store_table(srv->store);

	for (int round = 0; round < SS_EXPIRE_ROUNDS; round++) {
		size_t n = ss_table_expire_some(t, now_ms(srv), SS_EXPIRE_SLOTS, &srv->expire_cursor);
		srv->st.expired += n;
		if (n < SS_EXPIRE_SLOTS / 4)
			break; /* few expired here: come back next tick */
	}
}

/* Turns a client away: tells it why and counts it. */
static void refuse_client(struct ss_server *srv, int fd)
{
	static const char msg[] = "ERR max clients reached\n";

	/* Best effort: the socket is new, its buffer empty. */
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		ss_debug(srv->diag, "refusing a client: %s", strerror(errno));
	close(fd);
	srv->st.refused++;
}

/* A new client, from the listener; shed when the process is out of
 * descriptors. */
static void on_new_client(struct ss_listener *l, int fd, int shed, void *arg)
{
	struct ss_server *srv = arg;
	(void)l;

	if (shed || srv->nclients >= (size_t)srv->max_clients) {
		refuse_client(srv, fd);
		return;
	}
	struct ss_conn *c = malloc(sizeof(*c));
	if (!c) {
		ss_error(srv->diag, "out of memory accepting a connection");
		close(fd);
		return;
	}
	ss_conn_init(c, srv->loop, fd, srv->cfg->max_line, &srv->hooks);
	c->prev = NULL;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nclients++;
	srv->st.connections++;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	struct ss_server *srv = w->data;

	ss_info(srv->diag, "%s received: finishing the batch in flight and shutting down",
		w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	srv->shutting_down = 1;
	ss_listener_stop(&srv->listener);
	/* A snapshot in progress is dropped: the log it would replace is
	 * complete, and the next start can compact again. */
	ss_compactor_cancel(&srv->compactor);
	/* The batch whose fdatasync is running is answered first, then the
	 * open one is written and synced inline. */
	ss_syncer_drain(&srv->syncer);
	if (srv->exit_code == SS_EXIT_OK)
		commit(srv);
	for (struct ss_conn *c = srv->conns; c; c = c->next)
		if (c->fd >= 0 && ss_conn_flush(c) < 0)
			ss_conn_close(c);
	ev_break(loop, EVBREAK_ALL);
}

/* SIGHUP (closing the terminal that started us, or a reload request) and
 * SIGUSR1/2 would end the process by default, without a word. SIGHUP will
 * be the reload signal once there are files to reload (ACL, TLS); until
 * then these are logged and ignored. */
static void on_other_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	struct ss_server *srv = w->data;

	ss_notice(srv->diag, "%s received: nothing to reload; carrying on",
		  w->signum == SIGHUP ? "SIGHUP" : w->signum == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
}

static void server_stats(void *arg, struct ss_buf *out)
{
	struct ss_server *srv = arg;
	const struct ss_stats *s = &srv->st;
	struct ss_table *t = ss_store_table(srv->store);
	unsigned long long mean = s->fsyncs ? s->fsync_us_total / s->fsyncs : 0;
	const struct {
		const char *name;
		unsigned long long v;
	} rows[] = {
		{"uptime_s", (unsigned long long)(ev_now(srv->loop) - srv->started)},
		{"pid", (unsigned long long)getpid()},
		{"clients", srv->nclients},
		{"max_clients", (unsigned long long)srv->max_clients},
		{"connections", s->connections},
		{"refused_connections", s->refused},
		{"entries", ss_table_count(t)},
		{"table_bytes", ss_table_memory(t)},
		{"log_bytes", ss_store_log_bytes(srv->store)},
		{"log_bytes_compacted", ss_store_log_bytes_compacted(srv->store)},
		{"commits", s->commits},
		{"batches", s->batches},
		{"fsyncs", s->fsyncs},
		{"fsyncs_background", s->fsyncs_background},
		{"fsync_us_mean", mean},
		{"fsync_us_max", s->fsync_us_max},
		{"write_errors", s->write_errors},
		{"rejected", s->rejected},
		{"compacting", (unsigned long long)ss_compactor_running(&srv->compactor)},
		{"compactions", srv->compactor.runs},
		{"auto_compactions", s->auto_compactions},
		{"compaction_failures", srv->compactor.failures},
		{"last_compaction_ms", srv->compactor.last_us / 1000},
		{"last_compaction_stall_us", srv->compactor.last_stall_us},
		{"last_compaction_loop_max_us", srv->compaction_loop_max_us},
		{"expired", s->expired},
		{"quota_bytes", srv->cfg->quota_bytes},
		{"quota_exceeded", (unsigned long long)over_quota(srv)},
	};

	ss_buf_printf(out, "STAT version %s\n", SS_VERSION);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ss_buf_printf(out, "STAT %s %llu\n", rows[i].name, rows[i].v);
}

/* Whether the process that recorded pid in LOCK is gone - exited, or a
 * zombie not yet reaped - though the LOCK is still held. Then the holder
 * is a snapshot writer that process forked, which dies with its parent
 * (compactor.c) but may take a moment to release its descriptors: the
 * kernel tears down its copy of the table first. */
static int lock_holder_gone(long pid)
{
	char path[64], buf[256];

	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) < 0)
		return errno == ESRCH;
	/* It exists: a zombie (state Z or X after the name) is gone too. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *end = strrchr(buf, ')');
	return end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

static int open_store(struct ss_server *srv)
{
	const struct ss_server_config *cfg = srv->cfg;
	struct ss_store_options opt = {
		.dir = cfg->data_dir, .io = cfg->io, .prealloc_bytes = cfg->prealloc_bytes};
	struct ss_open_report rep;
	struct ss_error err;
	struct timespec ts;
	uint64_t waited_us = 0, t0;
	int rc;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		t0 = ss_clock_us();
		rc = ss_store_open(&srv->store, &opt, wall_ms, &rep, &err);
		if (rc == 0 || err.kind != SS_ERR_LOCKED || !lock_holder_gone(rep.lock_pid) ||
		    waited_us >= SS_LOCK_WAIT_US)
			break;
		if (waited_us == 0)
			ss_warn(srv->diag,
				"the data directory is locked, but its owner, pid %ld, is gone: "
				"waiting up to %d s for the snapshot writer it left to exit",
				rep.lock_pid, SS_LOCK_WAIT_US / 1000000);
		struct timespec pause = {0, 10 * 1000 * 1000};
		nanosleep(&pause, NULL);
		waited_us += ss_clock_us() - t0;
	}
	if (rc < 0) {
		ss_error(srv->diag, "cannot open the data directory: %s", err.msg);
		switch (err.kind) {
		case SS_ERR_LOCKED:
			return SS_EXIT_LOCKED;
		case SS_ERR_CORRUPT:
		case SS_ERR_VERSION:
			return SS_EXIT_CORRUPT;
		default:
			return SS_EXIT_ERROR;
		}
	}
	uint64_t dt = ss_clock_us() - t0;
	if (waited_us > 0)
		ss_info(srv->diag, "the lock was free after %.1f ms", (double)waited_us / 1000.0);
	if (rep.lock_pid_errno)
		ss_warn(srv->diag,
			"cannot record the pid in %s/%s (%s): a start after a crash cannot tell "
			"whether the lock's holder still runs",
			cfg->data_dir, SS_LOCK_FILE, strerror(rep.lock_pid_errno));
	if (rep.removed_tmp)
		ss_info(srv->diag, "removed a stale compaction temp file");
	if (rep.torn_bytes > 0)
		ss_warn(srv->diag, "the log had a torn tail: cut %llu bytes after the last valid record",
			(unsigned long long)rep.torn_bytes);
	ss_info(srv->diag,
		"replayed %llu records in %llu groups in %.1f ms: %zu entries loaded, "
		"%llu expired dropped, %llu torn bytes cut, log %llu bytes",
		(unsigned long long)rep.records, (unsigned long long)rep.groups, (double)dt / 1000.0,
		ss_table_count(ss_store_table(srv->store)), (unsigned long long)rep.expired,
		(unsigned long long)rep.torn_bytes, (unsigned long long)rep.log_bytes);
	return SS_EXIT_OK;
}

/* Makes room for --max-clients connections under the descriptor limit:
 * raises the soft RLIMIT_NOFILE towards the hard one, as Redis does, and
 * where even that is too low, serves fewer clients and says so. Otherwise
 * accept would fail with EMFILE long before --max-clients, and those
 * clients could only be shed. */
static void fit_descriptors(struct ss_server *srv)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)srv->cfg->max_clients + SS_RESERVED_FDS;

	srv->max_clients = srv->cfg->max_clients;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		ss_warn(srv->diag, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			ss_warn(srv->diag, "cannot raise the descriptor limit from %llu to %llu: %s",
				(unsigned long long)rl.rlim_cur, (unsigned long long)want.rlim_cur,
				strerror(errno));
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		long long fit = (long long)rl.rlim_cur - SS_RESERVED_FDS;
		srv->max_clients = fit > 0 ? (int)fit : 1;
		ss_warn(srv->diag,
			"--max-clients %d lowered to %d: the descriptor limit is %llu (hard limit "
			"%llu), and %d descriptors are kept for the daemon's own files",
			srv->cfg->max_clients, srv->max_clients, (unsigned long long)rl.rlim_cur,
			(unsigned long long)rl.rlim_max, SS_RESERVED_FDS);
	}
}

static void server_cleanup(struct ss_server *srv)
{
	ss_syncer_free(&srv->syncer);
	ss_compactor_free(&srv->compactor);
	while (srv->conns)
		conn_unlink_free(srv, srv->conns);
	ss_listener_close(&srv->listener);
	ss_batch_free(&srv->batches[0]);
	ss_batch_free(&srv->batches[1]);
	free(srv->touched);
	free(srv->waiters);
	ss_store_close(srv->store);
	if (srv->loop)
		ev_loop_destroy(srv->loop);
}

int ss_server_run(const struct ss_server_config *cfg)
{
	struct ss_server srv_s, *srv = &srv_s;
	struct sigaction sa;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->diag = cfg->diag;
	srv->listener.fd = srv->listener.spare_fd = -1;
	ss_batch_init(&srv->batches[0]);
	ss_batch_init(&srv->batches[1]);
	srv->open = &srv->batches[0];

	/* A write to a closed socket must fail with EPIPE, not kill us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0) {
		ss_error(srv->diag, "sigaction(SIGPIPE): %s", strerror(errno));
		return SS_EXIT_ERROR;
	}

	ss_notice(srv->diag, "statestored %s starting: pid %d, data dir %s", SS_VERSION,
		  (int)getpid(), cfg->data_dir);
#ifdef SS_BENCH_NOSYNC
	ss_warn(srv->diag, "BENCH-ONLY BUILD: fdatasync is disabled, acknowledged writes are NOT durable");
#endif
	fit_descriptors(srv);
	/* Bind first, so that a port in use or a bad address is found before
	 * the data directory is created or replayed; listen only after the
	 * replay, so that nobody connects to a daemon that cannot serve yet. */
	int code = SS_EXIT_ERROR;
	if (ss_listener_bind(&srv->listener, cfg->bind_addr, cfg->port, srv->diag) < 0)
		goto out;
	code = open_store(srv);
	if (code != SS_EXIT_OK)
		goto out;
	watch_quota(srv);
	if (cfg->quota_bytes > 0 &&
	    (cfg->auto_compact_min == 0 || cfg->auto_compact_min >= cfg->quota_bytes))
		ss_warn(srv->diag,
			"automatic compaction (--auto-compact-min %llu) cannot run before the log "
			"reaches --quota-bytes %llu: lower --auto-compact-min, or COMPACT by hand",
			(unsigned long long)cfg->auto_compact_min,
			(unsigned long long)cfg->quota_bytes);

	code = SS_EXIT_ERROR;
	/* The default loop: it is the one libev lets watch child processes. */
	srv->loop = ev_default_loop(EVFLAG_AUTO);
	if (!srv->loop) {
		ss_error(srv->diag, "cannot create the event loop");
		goto out;
	}
	if (ss_listener_start(&srv->listener, srv->loop, on_new_client, srv) < 0)
		goto out;
	srv->started = ev_now(srv->loop);
	srv->hooks.on_input = on_conn_input;
	srv->hooks.arg = srv;
	if (ss_compactor_init(&srv->compactor, srv->loop, srv->store, cfg->io, srv->diag,
			      on_compacted, close_sockets, srv) < 0)
		ss_warn(srv->diag, "no compaction thread (%s): the tail is copied on the loop",
			strerror(errno));
	srv->compactor.may_finish = no_sync_in_flight;
	if (ss_syncer_init(&srv->syncer, srv->loop, cfg->io, on_synced, srv) < 0)
		ss_warn(srv->diag, "no fdatasync thread (%s): syncing on the loop", strerror(errno));

	ev_signal_init(&srv->sigterm_w, on_signal, SIGTERM);
	ev_signal_init(&srv->sigint_w, on_signal, SIGINT);
	static const int others[] = {SIGHUP, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		ev_signal_init(&srv->other_w[i], on_other_signal, others[i]);
		srv->other_w[i].data = srv;
		ev_signal_start(srv->loop, &srv->other_w[i]);
	}
	ev_prepare_init(&srv->commit_w, on_prepare);
	ev_idle_init(&srv->spin_w, on_idle);
	ev_timer_init(&srv->gather_w, on_gathered, 0., 0.);
	srv->gather_w.data = srv;
	ev_timer_init(&srv->expire_w, on_expire, SS_EXPIRE_PERIOD, SS_EXPIRE_PERIOD);
	srv->sigterm_w.data = srv->sigint_w.data = srv;
	srv->commit_w.data = srv->expire_w.data = srv;
	ev_signal_start(srv->loop, &srv->sigterm_w);
	ev_signal_start(srv->loop, &srv->sigint_w);
	ev_prepare_start(srv->loop, &srv->commit_w);
	ev_timer_start(srv->loop, &srv->expire_w);

	ss_notice(srv->diag, "listening on %s:%d (max clients %d, max line %zu bytes)",
		  cfg->bind_addr, ss_listener_port(&srv->listener), srv->max_clients, cfg->max_line);
	srv->exit_code = SS_EXIT_OK;
	ev_run(srv->loop, 0);
	code = srv->exit_code;
	if (code == SS_EXIT_OK)
		ss_notice(srv->diag, "shut down cleanly");
out:
	server_cleanup(srv);
	return code;
}
