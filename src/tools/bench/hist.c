/*
 * hist.c - log-linear latency histogram; see hist.h for the scheme.
 *
 * Index layout, with S = SS_HIST_SUB: a value v < 2S is its own index. For
 * larger v with highest set bit m, let e = m - SUB_BITS (>= 1) and
 * top = v >> e, which lies in [S, 2S); the index is e * S + top. Consecutive
 * magnitudes therefore occupy consecutive runs of S indexes with no gaps,
 * and the largest index is (64 - SUB_BITS) * S + S - 1.
 */
#include "tools/bench/hist.h"

#include <string.h>

void ss_hist_init(struct ss_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t ss_hist_index(uint64_t v)
{
	if (v < 2 * (uint64_t)SS_HIST_SUB)
		return (size_t)v;
	unsigned m = 63u - (unsigned)__builtin_clzll(v);
	unsigned e = m - SS_HIST_SUB_BITS;
	return (size_t)e * SS_HIST_SUB + (size_t)(v >> e);
}

static unsigned bucket_shift(size_t i, uint64_t *top)
{
	if (i < 2 * (size_t)SS_HIST_SUB) {
		*top = i;
		return 0;
	}
	unsigned e = (unsigned)(i / SS_HIST_SUB) - 1;
	*top = i - (size_t)e * SS_HIST_SUB;
	return e;
}

uint64_t ss_hist_bucket_low(size_t i)
{
	uint64_t top;
	unsigned e = bucket_shift(i, &top);
	return top << e;
}

uint64_t ss_hist_bucket_high(size_t i)
{
	uint64_t top;
	unsigned e = bucket_shift(i, &top);
	/* (top + 1) << e overflows for the very last bucket: build it from the
	 * low end instead. */
	return (top << e) + ((e == 0 ? 1 : (uint64_t)1 << e) - 1);
}

void ss_hist_record(struct ss_hist *h, uint64_t v)
{
	h->buckets[ss_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void ss_hist_merge(struct ss_hist *dst, const struct ss_hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = 0; i < SS_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t ss_hist_percentile(const struct ss_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* rank = ceil(p/100 * count). 99.9 has no exact binary form, so allow
	 * for rounding: 99.9% of 1000 must be rank 999, not 1000. */
	double want = p / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want - 1e-9 * want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < SS_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t hi = ss_hist_bucket_high(i);
			return hi < h->max ? hi : h->max;
		}
	}
	return h->max;
}

double ss_hist_mean(const struct ss_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
