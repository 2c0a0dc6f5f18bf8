/*
 * thread.h - starting a helper thread that takes no signals.
 *
 * Signals go to the loop's thread, whose handlers libev installed; a
 * helper that took SIGTERM would run no handler and could leave the loop
 * asleep. A thread inherits the mask it is created with, so the mask is
 * full around the create and restored after.
 */
#ifndef STATESTORED_ENGINE_THREAD_H
#define STATESTORED_ENGINE_THREAD_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread. Returns 0 or
 * pthread_create's error number. */
int ss_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
