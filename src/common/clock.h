/*
 * clock.h - the monotonic clock, for measuring durations (fsync times,
 * stalls, timeouts, latencies). Wall-clock time - for TTLs - comes from the
 * event loop (ev_now) and is passed to the engine as a parameter.
 */
#ifndef STATESTORED_CLOCK_H
#define STATESTORED_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC. clock_gettime cannot fail for this clock
 * given a valid pointer. */
static inline uint64_t ss_clock_ns(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t ss_clock_us(void) { return ss_clock_ns() / 1000u; }
static inline int64_t ss_clock_ms(void) { return (int64_t)(ss_clock_ns() / 1000000u); }

#endif
