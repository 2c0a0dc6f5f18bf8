/*
 * syncer.c - the fdatasync thread; see syncer.h.
 *
 * Why a thread and not io_uring's fsync: both hand the wait to the kernel
 * or to a worker while the loop goes on, but the thread calls the same
 * ss_io table as everything else, so fault injection and the crash tests
 * see these syncs too, and it needs no extra library. It costs two context
 * switches per batch, which on the machine we measured made it slower than
 * syncing inline, so the server uses it only when asked or while a
 * compaction floods the disk (see commit.c). It also closes descriptors
 * handed to it: closing a replaced log can take tens of milliseconds. And
 * it runs jobs: the compactor has a syncer of its own whose requests are
 * catch-up rounds (copy the tail, fdatasync it), so that they never queue
 * behind, or ahead of, a commit's fdatasync.
 */
#include <errno.h>
#include <string.h>

#include "engine/thread.h"
#include "server/syncer.h"

static void *sync_main(void *arg)
{
	struct ss_syncer *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->fd < 0 && !s->job && s->close_fd < 0 && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->close_fd >= 0) {
			int cfd = s->close_fd;
			s->close_fd = -1;
			pthread_mutex_unlock(&s->mu);
			s->io->close(s->io->ctx, cfd);
			pthread_mutex_lock(&s->mu);
			pthread_cond_broadcast(&s->cv);
			continue;
		}
		if (s->fd < 0 && !s->job)
			break; /* quit, nothing left to do */
		int fd = s->fd, rc = 0, e = 0;
		void (*job)(void *) = s->job;
		pthread_mutex_unlock(&s->mu);
		if (job) {
			job(s->job_arg);
		} else {
			rc = ss_io_fdatasync(s->io, fd);
			e = rc < 0 ? errno : 0;
		}
		pthread_mutex_lock(&s->mu);
		s->fd = -1;
		s->job = NULL;
		s->rc = rc;
		s->errnum = e;
		s->finished = 1;
		pthread_cond_broadcast(&s->cv);
		ev_async_send(s->loop, &s->wake_w);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Hands a finished request to done, on the loop thread. */
static void deliver(struct ss_syncer *s)
{
	int rc, e;

	pthread_mutex_lock(&s->mu);
	if (!s->finished) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->finished = 0;
	rc = s->rc;
	e = s->errnum;
	pthread_mutex_unlock(&s->mu);
	s->busy = 0;
	s->done(s, rc, e, s->arg);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	deliver(w->data);
}

int ss_syncer_init(struct ss_syncer *s, struct ev_loop *loop, const struct ss_io *io,
		   ss_syncer_done_fn done, void *arg)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->io = io ? io : &ss_io_posix;
	s->done = done;
	s->arg = arg;
	s->fd = -1;
	s->close_fd = -1;
	ev_async_init(&s->wake_w, on_wake);
	s->wake_w.data = s;
	if ((rc = pthread_mutex_init(&s->mu, NULL)) != 0)
		goto fail;
	if ((rc = pthread_cond_init(&s->cv, NULL)) != 0) {
		pthread_mutex_destroy(&s->mu);
		goto fail;
	}
	rc = ss_thread_start(&s->thread, sync_main, s);
	if (rc != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		goto fail;
	}
	s->started = 1;
	ev_async_start(loop, &s->wake_w);
	return 0;
fail:
	errno = rc;
	return -1;
}

void ss_syncer_submit(struct ss_syncer *s, int fd)
{
	pthread_mutex_lock(&s->mu);
	s->fd = fd;
	s->busy = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void ss_syncer_run(struct ss_syncer *s, void (*job)(void *), void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->job = job;
	s->job_arg = arg;
	s->busy = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void ss_syncer_close(struct ss_syncer *s, int fd)
{
	if (!s->started) {
		s->io->close(s->io->ctx, fd);
		return;
	}
	pthread_mutex_lock(&s->mu);
	while (s->close_fd >= 0)
		pthread_cond_wait(&s->cv, &s->mu);
	s->close_fd = fd;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void ss_syncer_drain(struct ss_syncer *s)
{
	if (!s->started || !s->busy)
		return;
	pthread_mutex_lock(&s->mu);
	while (!s->finished)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	deliver(s);
}

void ss_syncer_free(struct ss_syncer *s)
{
	if (!s->started)
		return;
	/* Wait for a request in flight without delivering it: the caller is
	 * tearing down and done may touch what is gone. */
	pthread_mutex_lock(&s->mu);
	while (s->fd >= 0 || s->job || s->close_fd >= 0)
		pthread_cond_wait(&s->cv, &s->mu);
	s->quit = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	ev_async_stop(s->loop, &s->wake_w);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	s->started = 0;
}
