/*
 * compactor.c - COMPACT as a walk of the table in slices on the loop, its
 * bytes written and the tail copied on a helper thread; see compactor.h.
 *
 * The walk and the writes overlap: while the thread writes one chunk of
 * snapshot bytes, the loop's slices fill the next. The walk waits (its idle
 * watcher stops, so the loop blocks as usual) only when a chunk is ready,
 * SS_COMPACT_AHEAD more is waiting, and the thread is still busy: memory
 * stays bounded whatever the disk's speed (two buffers of about 7 MB,
 * reused all through the walk and freed at its end).
 *
 * The tail - the batches the loop logged while the walk ran - stays in the
 * old log until it is copied to the snapshot, in rounds on the same thread:
 * copy what has been logged so far, fdatasync, and again while the loop
 * logs more, until little is left; only that little is copied on the loop,
 * in the finish. Keeping the tail in memory instead cost the loop up to
 * 94 ms per doubling of the buffer (measured with the forked writer the
 * walk replaced, whose copy-on-write made every grown page a fault), and
 * appending a 10 MB tail and syncing it in the finish cost 30-57 ms more
 * (30-50 KB values on 2 vCPUs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "server/compactor.h"
#include "common/clock.h"

/* What the run writes, for messages. */
static const char *target(const struct ss_compactor *c)
{
	return c->backup ? "backup" : "compacted log";
}

/* Logs the end of a backup, counts it, and tells the caller. */
static void conclude_backup(struct ss_compactor *c, const char *failure)
{
	if (failure) {
		c->st.backup_failures++;
		ss_log_error(c->diag, "backup failed: %s", failure);
	} else {
		c->st.backups++;
		c->st.last_backup_us = ss_clock_us() - c->started_us;
		c->st.last_backup_revision = c->backup_rev;
		ss_log_info(c->diag,
			    "backup: revision %llu, %llu entries walked in %llu slices (the "
			    "longest %.2f ms), %.1f ms in all",
			    (unsigned long long)c->backup_rev, (unsigned long long)c->snap.entries,
			    (unsigned long long)c->walk.slices, (double)c->walk.slice_max_us / 1000.0,
			    (double)c->st.last_backup_us / 1000.0);
	}
	ss_snapshot_free(&c->snap);
	ss_snapshot_out_free(&c->flight);
	c->backup = 0; /* before the call, which may start the next run */
	c->ops.backup_done(c, failure, failure ? 0 : c->backup_rev, c->ops.arg);
}

/* Logs the end of a compaction, counts it, and tells the caller. */
static void conclude(struct ss_compactor *c, const char *failure)
{
	if (c->backup) {
		conclude_backup(c, failure);
		return;
	}
	c->st.last_walk = c->walk;
	if (failure) {
		c->st.failures++;
		ss_log_error(c->diag, "compaction failed: %s", failure);
	} else {
		c->st.runs++;
		c->st.last_us = ss_clock_us() - c->started_us;
		ss_log_info(c->diag,
			"compaction: log %llu -> %llu bytes in %.1f ms (%llu entries walked in %llu "
			"slices, %.1f ms in all, the longest %.2f ms; tail: %llu bytes copied in "
			"%u rounds off the loop, %llu on it; start and finish stalled the loop "
			"%.2f ms)",
			    (unsigned long long)c->log_before,
			    (unsigned long long)ss_store_log_bytes(c->store),
			    (double)c->st.last_us / 1000.0, (unsigned long long)c->snap.entries,
			    (unsigned long long)c->walk.slices, (double)c->walk.walk_us / 1000.0,
			    (double)c->walk.slice_max_us / 1000.0,
			    (unsigned long long)c->tail_off_loop, c->rounds,
			    (unsigned long long)c->tail_on_loop, (double)c->walk.stall_us / 1000.0);
	}
	ss_snapshot_free(&c->snap);
	ss_snapshot_out_free(&c->flight);
	c->ops.done(c, failure, c->ops.arg);
}

/* The finish, once no round runs and the caller's log is free. */
void ss_compactor_finish(struct ss_compactor *c)
{
	struct ss_error err;
	uint64_t t0 = ss_clock_us();

	c->finish_pending = 0;
	c->tail_on_loop = ss_store_log_bytes(c->store) - c->tail_from;
	int rc = c->backup ? ss_store_backup_finish(c->store, &c->backup_rev, &err)
			   : ss_store_compact_finish(c->store, &err);
	c->walk.stall_us += ss_clock_us() - t0;
	int old = ss_store_take_retired_fd(c->store);
	if (old >= 0)
		ss_syncer_close(&c->worker, old);
	conclude(c, rc < 0 ? err.msg : NULL);
}

static void run_job(void *arg)
{
	struct ss_compactor *c = arg;

	ss_compact_job_run(&c->job);
}

/* Takes the result of the round in c->job, wherever it ran. Returns 0, or
 * -1 once the compaction has failed and is concluded. */
static int round_done(struct ss_compactor *c)
{
	struct ss_error err;

	if (ss_store_compact_round_end(c->store, &c->job, &err) < 0) {
		conclude(c, err.msg);
		return -1;
	}
	c->tail_off_loop += c->job.written;
	c->tail_from = c->job.to;
	return 0;
}

/* Catch-up: starts the next round, or the finish once the tail left is
 * small (or the rounds do not converge: the finish copies the rest). */
static void catch_up(struct ss_compactor *c)
{
	struct ss_error err;

	for (;;) {
		uint64_t min = c->rounds == 0 ? 0 : SS_COMPACT_FINAL_MAX;
		if (c->rounds >= SS_COMPACT_ROUNDS_MAX)
			min = UINT64_MAX;
		int r = ss_store_compact_round(c->store, min, &c->job, &err);
		if (r < 0) {
			conclude(c, err.msg);
			return;
		}
		if (r == 0) {
			c->finish_pending = 1;
			if (!c->ops.may_finish || c->ops.may_finish(c->ops.arg))
				ss_compactor_finish(c);
			return;
		}
		c->rounds++;
		if (c->worker.started) {
			c->catching_up = 1;
			ss_syncer_run(&c->worker, run_job, c);
			return;
		}
		/* No thread: the round runs here. */
		ss_compact_job_run(&c->job);
		if (round_done(c) < 0)
			return;
	}
}

static void write_done(struct ss_compactor *c);

/* A write of snapshot bytes or a round finished on the helper thread. */
static void on_round(struct ss_syncer *sy, int rc, int errnum, void *arg)
{
	struct ss_compactor *c = arg;
	(void)sy;
	(void)rc;
	(void)errnum; /* the job's own result is in c->job */

	if (c->cancelling)
		return;
	if (c->writing) {
		write_done(c);
		return;
	}
	c->catching_up = 0;
	if (round_done(c) == 0)
		catch_up(c);
}

static void walk_stop(struct ss_compactor *c)
{
	c->walking = 0;
	ev_check_stop(c->loop, &c->walk_w);
	ev_idle_stop(c->loop, &c->spin_w);
}

/* Closes the temp file's descriptor the snapshot was written through.
 * Returns 0, or -1 with errno. */
static int snap_close(struct ss_compactor *c)
{
	int fd = c->snap_fd;

	c->snap_fd = -1;
	return fd >= 0 ? c->io->close(c->io->ctx, fd) : 0;
}

/* Waits for the job on the worker, if any (a write or a round), and drops
 * its result: it uses descriptors and a buffer the caller is about to
 * close or free. */
static void drop_job(struct ss_compactor *c)
{
	if (!c->writing && !c->catching_up)
		return;
	c->cancelling = 1;
	ss_syncer_drain(&c->worker);
	c->cancelling = 0;
	c->writing = c->catching_up = 0;
}

/* The walk or its writing failed: the temp file goes, the caller hears.
 * A write the walk overlapped ends first. */
static void snap_failed(struct ss_compactor *c, const char *why)
{
	walk_stop(c);
	drop_job(c);
	(void)snap_close(c);
	ss_store_compact_abort(c->store);
	conclude(c, why);
}

static void run_write(void *arg)
{
	struct ss_snapshot_job *j = arg;

	j->errnum = 0;
	j->failed = NULL;
	if (j->n > 0 && ss_io_pwrite_all(j->io, j->fd, j->p, j->n, (off_t)j->off) < 0)
		j->failed = "write";
	else if (j->sync && ss_io_fdatasync(j->io, j->fd) < 0)
		j->failed = "fdatasync";
	if (j->failed)
		j->errnum = errno ? errno : EIO;
}

/* Hands the walk's bytes to the thread when there are enough of them (or
 * the walk is over: the rest, and the fdatasync) and it is free. */
static void pump(struct ss_compactor *c)
{
	if (c->writing || (!c->snap.done && c->snap.out.len < SS_COMPACT_CHUNK))
		return;
	c->flight.len = 0;
	ss_snapshot_take(&c->snap, &c->flight);
	c->wjob = (struct ss_snapshot_job){.io = c->io, .fd = c->snap_fd, .p = c->flight.p,
					   .n = c->flight.len, .off = c->snap_len,
					   .sync = c->snap.done};
	if (c->snap.done)
		walk_stop(c);
	c->writing = 1;
	if (c->worker.started) {
		ss_syncer_run(&c->worker, run_write, &c->wjob);
		return;
	}
	run_write(&c->wjob); /* no thread: here */
	write_done(c);
}

/* A write of snapshot bytes finished, wherever it ran. */
static void write_done(struct ss_compactor *c)
{
	char why[600];

	c->writing = 0;
	if (c->wjob.failed) {
		snprintf(why, sizeof(why), "cannot %s the %s %s: %s", c->wjob.failed, target(c),
			 c->tmp_path, strerror(c->wjob.errnum));
		snap_failed(c, why);
		return;
	}
	c->snap_len += c->wjob.n;
	if (!c->wjob.sync) {
		if (c->walking && !c->snap.done)
			ev_idle_start(c->loop, &c->spin_w); /* in case the walk waited */
		pump(c);
		return;
	}
	if (snap_close(c) < 0) {
		snprintf(why, sizeof(why), "cannot close the %s %s: %s", target(c), c->tmp_path,
			 strerror(errno));
		ss_store_compact_abort(c->store);
		conclude(c, why);
		return;
	}
	catch_up(c);
}

/* One slice of the walk, once per loop iteration (an ev_check, so right
 * after the poll, before the iteration's other work). */
static void on_walk(struct ev_loop *loop, ev_check *w, int revents)
{
	struct ss_compactor *c = w->data;
	struct ss_error err;
	(void)loop;
	(void)revents;

	if (!c->walking)
		return;
	if (c->snap.done || c->snap.out.len >= SS_COMPACT_CHUNK + SS_COMPACT_AHEAD) {
		/* Only the thread can move things on (write_done): no spinning
		 * meanwhile. */
		ev_idle_stop(c->loop, &c->spin_w);
		pump(c);
		return;
	}
	uint64_t t0 = ss_clock_us(), t;
	int more;
	do {
		more = ss_snapshot_step(&c->snap, 1, &err);
		t = ss_clock_us();
	} while (more > 0 && t - t0 < SS_COMPACT_SLICE_US &&
		 c->snap.out.len < SS_COMPACT_CHUNK + SS_COMPACT_AHEAD);
	c->walk.slices++;
	c->walk.walk_us += t - t0;
	if (t - t0 > c->walk.slice_max_us)
		c->walk.slice_max_us = t - t0;
	if (more < 0) {
		snap_failed(c, err.msg);
		return;
	}
	pump(c);
}

/* The idle watcher only keeps the loop from blocking: the slice runs in
 * on_walk. */
static void on_spin(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

int ss_compactor_init(struct ss_compactor *c, struct ev_loop *loop, struct ss_store *store,
		      const struct ss_io *io, const struct ss_diag *diag,
		      const struct ss_compactor_ops *ops)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->store = store;
	c->io = io ? io : &ss_io_posix;
	c->diag = diag;
	c->ops = *ops;
	c->snap_fd = -1;
	ev_check_init(&c->walk_w, on_walk);
	c->walk_w.data = c;
	ev_idle_init(&c->spin_w, on_spin);
	return ss_syncer_init(&c->worker, loop, c->io, on_round, c);
}

/* Starts a run: a compaction, or a backup to dir (non-NULL) of prefix. */
static int start(struct ss_compactor *c, int64_t now_ms, size_t unapplied, const char *dir,
		 const char *prefix, size_t plen, struct ss_error *err)
{
	uint64_t t0 = ss_clock_us();

	if (ss_compactor_running(c)) {
		err->kind = SS_ERR_IO;
		err->sys_errno = EBUSY;
		snprintf(err->msg, sizeof(err->msg), "a %s is already running",
			 c->backup ? "backup" : "compaction");
		/* Counted, and the run going on left as it is (c->backup). */
		if (dir)
			c->st.backup_failures++;
		else
			c->st.failures++;
		return -1;
	}
	c->backup = dir != NULL;
	const char *what = target(c);
	if ((dir ? ss_store_backup_begin(c->store, unapplied, dir, prefix, plen, &c->tmp_path, err)
		 : ss_store_compact_begin(c->store, unapplied, &c->tmp_path, err)) < 0)
		goto failed;
	c->snap_fd = ss_io_open(c->io, c->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->snap_fd < 0) {
		err->kind = SS_ERR_IO;
		err->sys_errno = errno;
		snprintf(err->msg, sizeof(err->msg), "cannot create the %s %s: %s", what,
			 c->tmp_path, strerror(errno));
		ss_store_compact_abort(c->store);
		goto failed;
	}
	/* Both buffers at their full size now, so that no slice grows one:
	 * the walk stops adding once CHUNK + AHEAD are waiting, and one step
	 * adds at most a block's records and the group they close. */
	size_t reserve = SS_COMPACT_CHUNK + SS_COMPACT_AHEAD + SS_SNAPSHOT_BLOCK_BYTES +
			 SS_SNAPSHOT_GROUP_BYTES + SS_RECORD_MAX;
	int rc = ss_snapshot_init(&c->snap, ss_store_table(c->store), now_ms, reserve, err);
	if (rc == 0 && ss_snapshot_out_reserve(&c->flight, reserve) < 0) {
		err->kind = SS_ERR_NOMEM;
		err->sys_errno = ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "out of memory for the %s's buffers",
			 dir ? "backup" : "compaction");
		rc = -1;
	}
	if (rc < 0) {
		ss_snapshot_free(&c->snap);
		(void)snap_close(c);
		ss_store_compact_abort(c->store);
		goto failed;
	}
	c->snap.prefix = prefix;
	c->snap.plen = plen;
	c->started_us = t0;
	c->log_before = ss_store_log_bytes(c->store);
	c->tail_from = c->log_before - unapplied;
	c->rounds = 0;
	c->tail_off_loop = c->tail_on_loop = 0;
	c->snap_len = 0;
	c->walk = (struct ss_compactor_walk){0};
	c->walking = 1;
	ev_check_start(c->loop, &c->walk_w);
	ev_idle_start(c->loop, &c->spin_w);
	c->walk.stall_us = ss_clock_us() - t0;
	ss_log_debug(c->diag, "%s started: walking %zu entries", dir ? "backup" : "compaction",
		     ss_table_count(ss_store_table(c->store)));
	return 0;
failed:
	/* one that cannot start has failed too */
	if (dir)
		c->st.backup_failures++;
	else
		c->st.failures++;
	c->backup = 0;
	return -1;
}

int ss_compactor_start(struct ss_compactor *c, int64_t now_ms, size_t unapplied,
		       struct ss_error *err)
{
	return start(c, now_ms, unapplied, NULL, NULL, 0, err);
}

int ss_compactor_backup(struct ss_compactor *c, int64_t now_ms, size_t unapplied, const char *dir,
			const char *prefix, size_t plen, struct ss_error *err)
{
	return start(c, now_ms, unapplied, dir, plen ? prefix : NULL, plen, err);
}

void ss_compactor_cancel(struct ss_compactor *c)
{
	if (!c->loop)
		return; /* never initialized (a start that failed early) */
	if (c->catching_up || c->writing) {
		drop_job(c); /* before the temp file's descriptor is closed */
		ss_store_compact_abort(c->store);
	}
	if (c->finish_pending) {
		c->finish_pending = 0;
		ss_store_compact_abort(c->store);
	}
	if (c->walking)
		walk_stop(c);
	if (c->snap_fd >= 0) {
		(void)snap_close(c);
		ss_store_compact_abort(c->store);
	}
	ss_snapshot_free(&c->snap);
	ss_snapshot_out_free(&c->flight);
}

void ss_compactor_free(struct ss_compactor *c)
{
	ss_compactor_cancel(c);
	ss_syncer_free(&c->worker);
}
