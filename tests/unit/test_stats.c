/*
 * test_stats.c - the loop's iteration figures (stats.h): each iteration
 * counts once, in every "longer than" bucket it passes and no other, the
 * longest is kept, and a clock step is not a stall.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_iteration_counts_in_the_buckets_it_passes),
		cmocka_unit_test(the_buckets_are_1_2_5_10_and_50_ms),
		cmocka_unit_test(a_clock_step_counts_as_an_iteration_of_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
