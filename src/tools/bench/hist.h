/*
 * hist.h - a fixed-size log-linear latency histogram (HDR style).
 *
 * Values (nanoseconds, in the bench) below 2 * SS_HIST_SUB are counted
 * exactly. Above that, each power-of-two range [2^m, 2^(m+1)) is split into
 * SS_HIST_SUB equal buckets, so a value is known to within 1/SS_HIST_SUB
 * (0.8%) of itself at any magnitude. The whole 64-bit range fits in a fixed
 * array inside the struct: recording is a few instructions and never
 * allocates, which is what a load generator needs on its hot path.
 *
 * Percentiles report the highest value of the bucket holding the requested
 * rank (never above the exact maximum), so they err on the pessimistic side
 * by at most one bucket width.
 */
#ifndef STATESTORED_HIST_H
#define STATESTORED_HIST_H

#include <stddef.h>
#include <stdint.h>

#define SS_HIST_SUB_BITS 7
#define SS_HIST_SUB (1u << SS_HIST_SUB_BITS) /* buckets per power of two */
/* Indexes 0..2*SUB-1 are exact; every further magnitude adds SUB buckets. */
#define SS_HIST_BUCKETS ((64 - SS_HIST_SUB_BITS + 1) * SS_HIST_SUB)

struct ss_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum; /* for the mean; a double cannot overflow */
	uint64_t buckets[SS_HIST_BUCKETS];
};

/* Empties h. */
void ss_hist_init(struct ss_hist *h);

/* Counts one value. */
void ss_hist_record(struct ss_hist *h, uint64_t v);

/* Adds every count of src into dst. */
void ss_hist_merge(struct ss_hist *dst, const struct ss_hist *src);

/* Returns the bucket index that v falls in (0 <= index < SS_HIST_BUCKETS). */
size_t ss_hist_index(uint64_t v);

/* Returns the lowest and highest value that map to bucket index i. */
uint64_t ss_hist_bucket_low(size_t i);
uint64_t ss_hist_bucket_high(size_t i);

/* Returns the value at percentile p (0 < p <= 100): the highest value of the
 * bucket holding the ceil(p/100 * count)-th smallest value, capped at the
 * maximum. p <= 0 returns the minimum. Returns 0 for an empty histogram. */
uint64_t ss_hist_percentile(const struct ss_hist *h, double p);

/* Returns the mean, or 0 for an empty histogram. */
double ss_hist_mean(const struct ss_hist *h);

#endif
