/*
 * syncer.h - fdatasync off the loop thread, so the loop can read, parse and
 * answer reads while the disk works.
 *
 * One helper thread, one request at a time: the loop submits a descriptor,
 * the thread calls ss_io_fdatasync on it and wakes the loop (ev_async), and
 * the done callback runs on the loop thread with the result. A request may
 * be a job instead (ss_syncer_run): a function the thread calls, which
 * leaves its result where its argument says. The thread
 * touches nothing else: no table, no store, no connection. Everything the
 * result means (poisoning the log, acknowledging the batch) is decided on the
 * loop thread, so the state has one owner.
 *
 * While a request is in flight the caller must not close, write or replace
 * the descriptor.
 */
#ifndef STATESTORED_SYNCER_H
#define STATESTORED_SYNCER_H

#include <ev.h>
#include <pthread.h>

#include "statestored/io.h"

struct ss_syncer;

/* rc is 0 or -1; errnum is the errno of a failure. Runs on the loop thread. */
typedef void (*ss_syncer_done_fn)(struct ss_syncer *s, int rc, int errnum, void *arg);

struct ss_syncer {
	struct ev_loop *loop;
	const struct ss_io *io;
	ss_syncer_done_fn done;
	void *arg;
	ev_async wake_w;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started; /* the thread exists */
	int fd;      /* the request: -1 for none */
	void (*job)(void *); /* or this, with job_arg: NULL for none */
	void *job_arg;
	int close_fd; /* a descriptor to close on the thread: -1 for none */
	int busy;    /* a request is submitted and not yet delivered to done */
	int finished, rc, errnum; /* the thread's answer, under mu */
	int quit;
};

/* Starts the thread. Returns 0, or -1 with errno (the caller then syncs
 * inline). */
int ss_syncer_init(struct ss_syncer *s, struct ev_loop *loop, const struct ss_io *io,
		   ss_syncer_done_fn done, void *arg);

/* Asks for fdatasync(fd); done follows on the loop thread. Not while busy. */
void ss_syncer_submit(struct ss_syncer *s, int fd);

/* Asks for job(arg) on the thread; done follows on the loop thread with rc
 * 0. job must touch nothing the loop uses meanwhile. Not while busy. */
void ss_syncer_run(struct ss_syncer *s, void (*job)(void *), void *arg);

/* Closes fd on the thread (closing a replaced log frees its blocks, which
 * can take long). Fire and forget; a previous close still pending is done
 * first. Without a thread, closes it here. */
void ss_syncer_close(struct ss_syncer *s, int fd);

/* Blocks until the request in flight, if any, has finished, and delivers it
 * to done now. For shutdown. */
void ss_syncer_drain(struct ss_syncer *s);

/* Drains, stops and joins the thread. Safe on a syncer that never started. */
void ss_syncer_free(struct ss_syncer *s);

#endif
