/*
 * test_stats.c - the loop's iteration figures (stats.h): each iteration
 * counts once, in every "longer than" bucket it passes and no other, the
 * longest is kept, and a clock step is not a stall; and the histograms
 * /metrics exports count each value in its bucket.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/stats.h"

static void an_iteration_counts_in_the_buckets_it_passes(void **state)
{
	struct ss_loop_stats st = {0};

	(void)state;
	ss_loop_stats_note(&st, 500);	/* 0.5 ms: none */
	ss_loop_stats_note(&st, 1000);	/* exactly 1 ms: not longer than 1 ms */
	ss_loop_stats_note(&st, 1001);	/* > 1 */
	ss_loop_stats_note(&st, 2500);	/* > 1, > 2 */
	ss_loop_stats_note(&st, 12000); /* > 1, 2, 5, 10 */
	ss_loop_stats_note(&st, 60000); /* all */
	assert_int_equal(st.iterations, 6);
	const uint64_t want[SS_LOOP_SLOW_N] = {4, 3, 2, 2, 1};
	for (int k = 0; k < SS_LOOP_SLOW_N; k++)
		assert_int_equal(st.slow[k], want[k]);
	assert_int_equal(st.max_us, 60000);
	ss_loop_stats_note(&st, 7000); /* shorter than the longest: max stays */
	assert_int_equal(st.max_us, 60000);
	assert_int_equal(st.slow[2], 3);
}

static void the_buckets_are_1_2_5_10_and_50_ms(void **state)
{
	const unsigned want[SS_LOOP_SLOW_N] = {1, 2, 5, 10, 50};

	(void)state;
	for (int k = 0; k < SS_LOOP_SLOW_N; k++)
		assert_int_equal(SS_LOOP_SLOW_MS[k], want[k]);
}

static void a_clock_step_counts_as_an_iteration_of_nothing(void **state)
{
	struct ss_loop_stats st = {0};

	(void)state;
	ss_loop_stats_note(&st, -5000); /* the clock went back */
	ss_loop_stats_note(&st, 90000e6); /* 25 hours: a step forward */
	ss_loop_stats_note(&st, NAN);
	assert_int_equal(st.iterations, 3);
	assert_int_equal(st.max_us, 0);
	for (int k = 0; k < SS_LOOP_SLOW_N; k++)
		assert_int_equal(st.slow[k], 0);
}

/* A histogram's observation lands in the first bucket whose bound it does
 * not pass: checked against a plain walk of the bounds, for every value
 * around every bound. */
static void a_histogram_counts_each_value_in_the_first_bucket_it_fits(void **state)
{
	struct ss_stat_hist h;
	uint64_t want[SS_STAT_HIST_MAX + 1] = {0};
	uint64_t sum = 0, n = 0;

	(void)state;
	ss_stat_hist_latency(&h);
	assert_int_equal(h.base, 50);
	assert_int_equal(h.n, 19); /* 50 us .. 13.1 s */
	for (int k = 0; k <= h.n; k++) {
		uint64_t bound = h.base << (k < h.n ? k : h.n - 1);
		for (uint64_t v = bound > 2 ? bound - 2 : 0; v <= bound + 2; v++) {
			int b = 0;
			while (b < h.n && v > (h.base << b))
				b++;
			want[b]++;
			sum += v;
			n++;
			ss_stat_hist_observe(&h, v);
		}
	}
	ss_stat_hist_observe(&h, UINT64_MAX / 2); /* far past the last: +Inf */
	want[h.n]++;
	sum += UINT64_MAX / 2;
	n++;
	for (int k = 0; k <= h.n; k++)
		assert_int_equal(h.buckets[k], want[k]);
	assert_int_equal(h.count, n);
	assert_int_equal(h.sum, sum);

	ss_stat_hist_records(&h);
	assert_int_equal(h.n, 13); /* 1 .. 4096 records */
	ss_stat_hist_observe(&h, 1);
	ss_stat_hist_observe(&h, 3);
	ss_stat_hist_observe(&h, 4096);
	ss_stat_hist_observe(&h, 4097);
	assert_int_equal(h.buckets[0], 1);
	assert_int_equal(h.buckets[2], 1);
	assert_int_equal(h.buckets[12], 1);
	assert_int_equal(h.buckets[13], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_iteration_counts_in_the_buckets_it_passes),
		cmocka_unit_test(the_buckets_are_1_2_5_10_and_50_ms),
		cmocka_unit_test(a_clock_step_counts_as_an_iteration_of_nothing),
		cmocka_unit_test(a_histogram_counts_each_value_in_the_first_bucket_it_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
