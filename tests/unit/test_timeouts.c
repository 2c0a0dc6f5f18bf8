/*
 * test_timeouts.c - the clients' deadline lists (server/timeouts.h) on a
 * fake clock: clients fall due in the order their clocks started, activity
 * moves an idle client's deadline, an incomplete request's clock runs on
 * until the request completes, a timeout of 0 never falls due, and after
 * any sequence of state changes the lists agree with a brute-force model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "server/timeouts.h"

#define IDLE 100
#define REQ 30

static void idle_clients_fall_due_in_the_order_they_went_idle(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node a = {0}, b = {0}, c = {0};

	(void)state;
	ss_timeouts_init(&t, IDLE, REQ);
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 10);
	ss_timeouts_set(&t, &b, SS_TMO_IDLE, 20);
	ss_timeouts_set(&t, &c, SS_TMO_IDLE, 30);
	assert_int_equal(ss_timeouts_next(&t), 10 + IDLE);
	assert_null(ss_timeouts_due(&t, 10 + IDLE - 1));
	/* Due at its deadline, not a tick later. */
	assert_ptr_equal(ss_timeouts_due(&t, 10 + IDLE), &a);
	/* a is active again: b is next, and a goes to the back. */
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 40);
	assert_int_equal(ss_timeouts_next(&t), 20 + IDLE);
	assert_ptr_equal(ss_timeouts_due(&t, 1000), &b);
	ss_timeouts_set(&t, &b, SS_TMO_NONE, 1000);
	assert_ptr_equal(ss_timeouts_due(&t, 1000), &c);
	ss_timeouts_set(&t, &c, SS_TMO_NONE, 1000);
	assert_ptr_equal(ss_timeouts_due(&t, 1000), &a);
	ss_timeouts_set(&t, &a, SS_TMO_NONE, 1000);
	assert_null(ss_timeouts_due(&t, 1000));
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
}

static void an_incomplete_request_keeps_its_clock_until_it_completes(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node a = {0};

	(void)state;
	ss_timeouts_init(&t, IDLE, REQ);
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 0);
	/* The first byte at 5; more bytes, still incomplete, at 20 and 34. */
	ss_timeouts_set(&t, &a, SS_TMO_REQUEST, 5);
	ss_timeouts_set(&t, &a, SS_TMO_REQUEST, 20);
	ss_timeouts_set(&t, &a, SS_TMO_REQUEST, 34);
	assert_int_equal(ss_timeouts_next(&t), 5 + REQ);
	assert_ptr_equal(ss_timeouts_due(&t, 5 + REQ), &a);
	/* Completed at 34 instead: idle from then, and the next partial
	 * request starts a clock of its own. */
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 34);
	assert_int_equal(ss_timeouts_next(&t), 34 + IDLE);
	ss_timeouts_set(&t, &a, SS_TMO_REQUEST, 50);
	assert_int_equal(ss_timeouts_next(&t), 50 + REQ);
	assert_null(ss_timeouts_due(&t, 50 + REQ - 1));
}

static void the_earlier_deadline_of_the_two_kinds_comes_first(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node idle = {0}, req = {0};

	(void)state;
	ss_timeouts_init(&t, IDLE, REQ);
	ss_timeouts_set(&t, &idle, SS_TMO_IDLE, 0);  /* due at 100 */
	ss_timeouts_set(&t, &req, SS_TMO_REQUEST, 50); /* due at 80 */
	assert_int_equal(ss_timeouts_next(&t), 80);
	assert_ptr_equal(ss_timeouts_due(&t, 200), &req);
	assert_int_equal(req.kind, SS_TMO_REQUEST);
	ss_timeouts_set(&t, &req, SS_TMO_NONE, 200);
	assert_ptr_equal(ss_timeouts_due(&t, 200), &idle);
	assert_int_equal(idle.kind, SS_TMO_IDLE);
}

static void a_timeout_of_zero_never_falls_due(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node a = {0}, b = {0};

	(void)state;
	ss_timeouts_init(&t, 0, REQ);
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 0);
	assert_int_equal(a.kind, SS_TMO_NONE);
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
	assert_null(ss_timeouts_due(&t, UINT64_MAX));
	ss_timeouts_init(&t, IDLE, 0);
	ss_timeouts_set(&t, &b, SS_TMO_REQUEST, 0);
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
	/* A request timeout of 0 still takes it off the idle list. */
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 0);
	ss_timeouts_set(&t, &a, SS_TMO_REQUEST, 1);
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
}

static void a_deadline_past_the_clock_range_does_not_wrap(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node a = {0};

	(void)state;
	ss_timeouts_init(&t, UINT64_MAX - 5, REQ);
	ss_timeouts_set(&t, &a, SS_TMO_IDLE, 10);
	assert_int_equal(ss_timeouts_next(&t), UINT64_MAX);
	assert_null(ss_timeouts_due(&t, 1000));
}

/* Random state changes against a model that keeps each node's kind and
 * start and finds the next deadline by scanning them all. */
#define NODES 64
static void the_lists_agree_with_a_brute_force_model(void **state)
{
	struct ss_timeouts t;
	struct ss_tmo_node n[NODES] = {{0}};
	enum ss_tmo_kind kind[NODES] = {0};
	uint64_t since[NODES] = {0}, now = 1, limit[SS_TMO_KINDS] = {0, IDLE, REQ};

	(void)state;
	srand(17);
	ss_timeouts_init(&t, IDLE, REQ);
	for (int step = 0; step < 200000; step++) {
		now += (uint64_t)(rand() % 3);
		int i = rand() % NODES;
		enum ss_tmo_kind k = (enum ss_tmo_kind)(rand() % SS_TMO_KINDS);
		ss_timeouts_set(&t, &n[i], k, now);
		if (!(k == SS_TMO_REQUEST && kind[i] == SS_TMO_REQUEST))
			since[i] = now;
		kind[i] = k;
		/* What the model says is next, and whether anything is due. */
		uint64_t next = UINT64_MAX;
		for (int j = 0; j < NODES; j++)
			if (kind[j] != SS_TMO_NONE && since[j] + limit[kind[j]] < next)
				next = since[j] + limit[kind[j]];
		assert_int_equal(ss_timeouts_next(&t), next);
		for (int j = 0; j < NODES; j++)
			assert_int_equal(n[j].kind, kind[j]);
		/* Now and then, the timer fires: every due node comes off,
		 * earliest first, and nothing else. */
		if (rand() % 16 == 0) {
			struct ss_tmo_node *d;
			uint64_t last = 0;
			while ((d = ss_timeouts_due(&t, now)) != NULL) {
				int j = (int)(d - n);
				uint64_t at = since[j] + limit[kind[j]];
				assert_true(at <= now && at >= last);
				last = at;
				ss_timeouts_set(&t, d, SS_TMO_NONE, now);
				kind[j] = SS_TMO_NONE;
			}
			for (int j = 0; j < NODES; j++)
				assert_true(kind[j] == SS_TMO_NONE || since[j] + limit[kind[j]] > now);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(idle_clients_fall_due_in_the_order_they_went_idle),
		cmocka_unit_test(an_incomplete_request_keeps_its_clock_until_it_completes),
		cmocka_unit_test(the_earlier_deadline_of_the_two_kinds_comes_first),
		cmocka_unit_test(a_timeout_of_zero_never_falls_due),
		cmocka_unit_test(a_deadline_past_the_clock_range_does_not_wrap),
		cmocka_unit_test(the_lists_agree_with_a_brute_force_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
