/*
 * thread.c - starting a helper thread that takes no signals; see thread.h.
 */
#include <signal.h>

#include "engine/thread.h"

int ss_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, prev;
	int rc;

	sigfillset(&all);
	rc = pthread_sigmask(SIG_SETMASK, &all, &prev);
	if (rc != 0)
		return rc;
	rc = pthread_create(t, NULL, fn, arg);
	(void)pthread_sigmask(SIG_SETMASK, &prev, NULL); /* cannot fail: prev is valid */
	return rc;
}
