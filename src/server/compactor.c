/*
 * compactor.c - COMPACT in a forked child; see compactor.h.
 *
 * The child does as little as it can: it lets the server close the sockets
 * it inherited (a client connection must end when the parent closes it, not
 * when the child exits), writes and fsyncs the snapshot through the same io
 * table, and leaves with _exit, which runs no atexit handler and flushes no
 * stdio buffer it shares with the parent. It does not close descriptors
 * wholesale: the io table's context may own some.
 *
 * The tail - the batches the parent logged while the child wrote - stays
 * in the old log until it is copied to the snapshot, in rounds on a helper
 * thread (a syncer of the compactor's own): copy what has been logged so
 * far, fdatasync, and again while the parent logs more, until little is
 * left; only that little is copied on the loop, in the finish. Keeping the
 * tail in memory instead cost the loop up to 94 ms per doubling of the
 * buffer (its pages are shared with the child, so every one copied took a
 * copy-on-write fault), and appending a 10 MB tail and syncing it in the
 * finish cost 30-57 ms more (measured with 30-50 KB values on 2 vCPUs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/compactor.h"
#include "common/clock.h"
#include "statestored/snapshot.h"

/* Logs the end of a compaction, counts it, and tells the caller. */
static void conclude(struct ss_compactor *c, const char *failure)
{
	if (failure) {
		c->st.failures++;
		ss_log_error(c->diag, "compaction failed: %s", failure);
	} else {
		c->st.runs++;
		c->st.last_us = ss_clock_us() - c->started_us;
		ss_log_info(c->diag,
			"compaction: log %llu -> %llu bytes in %.1f ms (tail: %llu bytes copied in "
			"%u rounds off the loop, %llu on it; the loop stalled %.2f ms)",
			    (unsigned long long)c->log_before,
			    (unsigned long long)ss_store_log_bytes(c->store),
			    (double)c->st.last_us / 1000.0, (unsigned long long)c->tail_off_loop,
			    c->rounds, (unsigned long long)c->tail_on_loop,
			    (double)c->st.last_stall_us / 1000.0);
	}
	c->ops.done(c, failure, c->ops.arg);
}

/* The finish, once no round runs and the caller's log is free. */
void ss_compactor_finish(struct ss_compactor *c)
{
	struct ss_error err;
	uint64_t t0 = ss_clock_us();

	c->finish_pending = 0;
	c->tail_on_loop = ss_store_log_bytes(c->store) - c->tail_from;
	int rc = ss_store_compact_finish(c->store, &err);
	c->st.last_stall_us += ss_clock_us() - t0;
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
	c->tail_off_loop += c->job.to - c->job.from;
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

/* A round finished on the helper thread. */
static void on_round(struct ss_syncer *sy, int rc, int errnum, void *arg)
{
	struct ss_compactor *c = arg;
	(void)sy;
	(void)rc;
	(void)errnum; /* the job's own result is in c->job */

	c->catching_up = 0;
	if (c->cancelling)
		return;
	if (round_done(c) == 0)
		catch_up(c);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct ss_compactor *c = w->data;
	char why[600];
	(void)revents;

	ev_child_stop(loop, w);
	c->pid = 0;
	/* The child wrote its reason, if any, before exiting (one write of
	 * less than PIPE_BUF: all of it or nothing). */
	ssize_t n = read(c->why_fd, c->child_why, sizeof(c->child_why) - 1);
	c->child_why[n > 0 ? n : 0] = '\0';
	close(c->why_fd);
	c->why_fd = -1;
	int status = w->rstatus;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		catch_up(c);
		return;
	}
	if (WIFEXITED(status) && c->child_why[0])
		snprintf(why, sizeof(why), "%s", c->child_why);
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "the snapshot writer died of signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "the snapshot writer failed (exit %d)", WEXITSTATUS(status));
	ss_store_compact_abort(c->store);
	conclude(c, why);
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
	c->why_fd = -1;
	ev_child_init(&c->child_w, on_child, 0, 0);
	c->child_w.data = c;
	return ss_syncer_init(&c->worker, loop, c->io, on_round, c);
}

/* In the child: ends it with the reason on the pipe (one write of less than
 * PIPE_BUF, so all of it or nothing), for the parent to report. */
static void child_fail(int why_fd, const char *msg)
{
	if (write(why_fd, msg, strlen(msg)) < 0)
		_exit(2); /* the parent reports the exit code instead */
	_exit(1);
}

/* The snapshot writer, right after fork: never returns. */
static void run_child(struct ss_compactor *c, pid_t parent, int why_fd, const char *tmp,
		      int64_t now_ms)
{
	struct ss_error cerr;
	char msg[128];

	/* Die with the parent. An orphan would hold the data directory's LOCK
	 * (it shares the parent's descriptors) until its snapshot is done,
	 * and a restart after a crash would find the directory in use. The
	 * lock must stay held while it runs - it keeps the orphan from
	 * truncating a new daemon's temp file - so the orphan must go. The
	 * getppid check closes the race of a parent that died before prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		snprintf(msg, sizeof(msg), "the snapshot writer cannot follow its parent: %s",
			 strerror(errno));
		child_fail(why_fd, msg);
	}
	if (getppid() != parent)
		_exit(3);
	if (c->ops.in_child)
		c->ops.in_child(c->ops.arg);
	if (ss_snapshot_write(ss_store_table(c->store), now_ms, tmp, c->io, &cerr) < 0)
		child_fail(why_fd, cerr.msg);
	_exit(0);
}

/* A compaction that could not start: the temp file goes, *err says why.
 * Returns -1. */
static int start_failed(struct ss_compactor *c, int errnum, const char *what,
			struct ss_error *err)
{
	ss_store_compact_abort(c->store);
	err->kind = SS_ERR_IO;
	err->sys_errno = errnum;
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, strerror(errnum));
	return -1;
}

/* Forks the snapshot writer. Returns 0, or -1 with *err. */
static int start_writer(struct ss_compactor *c, int64_t now_ms, size_t unapplied,
			struct ss_error *err)
{
	const char *tmp;
	int pipefd[2];
	pid_t parent = getpid();

	if (ss_store_compact_begin(c->store, unapplied, &tmp, err) < 0)
		return -1;
	c->started_us = ss_clock_us();
	c->log_before = ss_store_log_bytes(c->store);
	c->tail_from = c->log_before - unapplied;
	c->rounds = 0;
	c->tail_off_loop = c->tail_on_loop = 0;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return start_failed(c, errno, "cannot create a pipe", err);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return start_failed(c, e, "cannot fork the snapshot writer", err);
	}
	if (pid == 0)
		run_child(c, parent, pipefd[1], tmp, now_ms);
	close(pipefd[1]);
	c->why_fd = pipefd[0];
	c->pid = pid;
	c->st.last_stall_us = ss_clock_us() - c->started_us;
	ev_child_set(&c->child_w, pid, 0);
	ev_child_start(c->loop, &c->child_w);
	ss_log_debug(c->diag, "compaction started: snapshot writer pid %d, %zu entries", (int)pid,
		     ss_table_count(ss_store_table(c->store)));
	return 0;
}

int ss_compactor_start(struct ss_compactor *c, int64_t now_ms, size_t unapplied,
		       struct ss_error *err)
{
	if (start_writer(c, now_ms, unapplied, err) < 0) {
		c->st.failures++; /* a compaction that cannot start has failed too */
		return -1;
	}
	return 0;
}

void ss_compactor_cancel(struct ss_compactor *c)
{
	if (c->catching_up) {
		/* The round must end before the temp file's descriptor is
		 * closed; its result is dropped. */
		c->cancelling = 1;
		ss_syncer_drain(&c->worker);
		c->cancelling = 0;
		ss_store_compact_abort(c->store);
	}
	if (c->finish_pending) {
		c->finish_pending = 0;
		ss_store_compact_abort(c->store);
	}
	if (!c->pid)
		return;
	ev_child_stop(c->loop, &c->child_w);
	if (kill(c->pid, SIGKILL) < 0 && errno != ESRCH)
		ss_log_warn(c->diag, "cannot stop the snapshot writer %d: %s", (int)c->pid,
			    strerror(errno));
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
	close(c->why_fd);
	c->why_fd = -1;
	ss_store_compact_abort(c->store);
}

void ss_compactor_free(struct ss_compactor *c)
{
	ss_compactor_cancel(c);
	ss_syncer_free(&c->worker);
}
