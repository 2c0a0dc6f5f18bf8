/*
 * test_hold.c - opening with a hold (ss_store_options.hold): a replica's
 * restart applies what its primary had committed (revisions up to
 * hold_rev) and keeps the rest in the log, untouched, for the caller to
 * read from held_from on.
 *
 * Hand-made logs: a log of several groups held at every revision (one
 * group spanning the hold, an EPOCH at it), on one thread and through the
 * decoder thread, against the same log with the held records left out by
 * hand; compacted and backed-up logs whose REVISION records raise the hold
 * (the snapshot's records before a REVISION are applied, even those first
 * skipped); held, held_from and hold_rev exact; the log byte-identical
 * after every open. Crash states are not covered and need not be: an open
 * with a hold writes nothing a clean log does not get without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sstest.h"

#define NOW 1000000

struct rec {
	char type; /* 'S' SET, 'D' DEL, 'E' EPOCH, 'R' REVISION */
	const char *name, *value;
	uint64_t rev, epoch;
};

struct group {
	size_t n;
	struct rec r[4];
};

/* Writes groups to l, leaving out every SET, DEL and EPOCH past limit
 * (and groups left empty); off[g] is where group g starts. */
static void build(struct sstest_log *l, const struct group *gs, size_t ng, uint64_t limit,
		  size_t *off)
{
	for (size_t g = 0; g < ng; g++) {
		uint32_t n = 0;
		for (size_t k = 0; k < gs[g].n; k++)
			n += gs[g].r[k].type == 'R' || gs[g].r[k].rev <= limit;
		if (off)
			off[g] = l->len;
		if (n == 0)
			continue;
		sstest_log_group(l, n);
		for (size_t k = 0; k < gs[g].n; k++) {
			const struct rec *r = &gs[g].r[k];
			if (r->type != 'R' && r->rev > limit)
				continue;
			if (r->type == 'S')
				sstest_log_set_at(l, r->name, strlen(r->name), r->value,
						  strlen(r->value), 0, r->rev,
						  SSTEST_LOG_COMMIT_MS(r->rev));
			else if (r->type == 'D')
				sstest_log_del_at(l, r->name, strlen(r->name), r->rev,
						  SSTEST_LOG_COMMIT_MS(r->rev));
			else if (r->type == 'E')
				sstest_log_epoch(l, r->epoch, r->rev);
			else
				sstest_log_revision(l, r->rev);
		}
	}
}

static struct ss_store *open_hold(const char *dir, uint64_t hold_rev, struct ss_open_report *rep)
{
	struct ss_store_options opt = {.dir = dir,
				       .replay_thread_min = sstest_replay_thread_min,
				       .hold = 1,
				       .hold_rev = hold_rev};
	struct ss_error err = {0};
	struct ss_store *s = NULL;

	if (ss_store_open(&s, &opt, NOW, rep, &err) < 0)
		fail_msg("ss_store_open %s holding at %llu: %s", dir, (unsigned long long)hold_rev,
			 err.msg);
	return s;
}

/* The table's state as text: entries with history, revision, epochs. */
static char *state_of(struct ss_store *s)
{
	struct ss_table *t = ss_store_table(s);
	const struct ss_epoch *ep;
	size_t nep = ss_table_epochs(t, &ep);
	char *dump = sstest_dump_full(t, NOW), *out;
	size_t len = strlen(dump) + 1 + nep * 48, at;

	out = malloc(len);
	assert_non_null(out);
	at = (size_t)snprintf(out, len, "%s", dump);
	for (size_t i = 0; i < nep; i++)
		at += (size_t)snprintf(out + at, len - at, "epoch %llu@%llu\n",
				       (unsigned long long)ep[i].epoch,
				       (unsigned long long)ep[i].rev);
	free(dump);
	return out;
}

/* The state a plain open of the log file path gives, in a directory of
 * its own. */
static char *plain_state(struct sstest_fixture *fx, const struct sstest_log *l)
{
	char *dir = sstest_path(fx->dir, "plain");
	char *log = sstest_path(dir, SS_LOG_FILE);
	struct ss_store *s;
	char *st;

	sstest_rmdir(dir);
	s = sstest_open(dir, NULL, 0, NOW, NULL); /* creates the directory */
	ss_store_close(s);
	sstest_log_write(l, log, l->len);
	s = sstest_open(dir, NULL, 0, NOW, NULL);
	st = state_of(s);
	ss_store_close(s);
	sstest_rmdir(dir);
	free(log);
	free(dir);
	return st;
}

/* Opens fx's log (full) holding at h: the state is want, the report says
 * held, held_from and hold_rev, and the file is what it was. */
static void check_hold(struct sstest_fixture *fx, const struct sstest_log *full, uint64_t h,
		       const char *want, uint64_t held, uint64_t held_from, uint64_t hold_rev)
{
	struct ss_open_report rep;
	struct ss_store *s;
	char *st;

	sstest_log_write(full, fx->log, full->len);
	s = open_hold(fx->dir, h, &rep);
	st = state_of(s);
	assert_string_equal(st, want);
	assert_int_equal(rep.held, held);
	assert_int_equal(rep.held_from, held_from);
	assert_int_equal(rep.hold_rev, hold_rev);
	assert_int_equal(rep.discarded, 0);
	assert_int_equal(rep.log_bytes, full->len);
	assert_int_equal(ss_store_log_bytes(s), full->len);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, full->buf, full->len);
	free(st);
}

/* Groups 0..6; group 3 spans revisions 5 to 7, group 4 is an EPOCH at 7. */
static const struct group LOG_GROUPS[] = {
	{1, {{'S', "a", "1", 1, 0}}},
	{2, {{'S', "b", "2", 2, 0}, {'S', "c", "3", 3, 0}}},
	{1, {{'D', "a", "", 4, 0}}},
	{3, {{'S', "d", "5", 5, 0}, {'S', "e", "6", 6, 0}, {'S', "a", "7", 7, 0}}},
	{1, {{'E', "", "", 7, 2}}},
	{2, {{'S', "g", "8", 8, 0}, {'D', "b", "", 9, 0}}},
	{2, {{'S', "c", "10", 10, 0}, {'S', "h", "11", 11, 0}}},
};
#define NGROUPS (sizeof(LOG_GROUPS) / sizeof(LOG_GROUPS[0]))

static void check_every_hold(struct sstest_fixture *fx)
{
	struct sstest_log *full = malloc(sizeof(*full));
	size_t off[NGROUPS];

	assert_non_null(full);
	sstest_log_init(full);
	build(full, LOG_GROUPS, NGROUPS, UINT64_MAX, off);
	for (uint64_t h = 0; h <= 12; h++) {
		struct sstest_log *cut = malloc(sizeof(*cut));
		uint64_t held = 0, held_from = full->len;

		assert_non_null(cut);
		sstest_log_init(cut);
		build(cut, LOG_GROUPS, NGROUPS, h, NULL);
		for (size_t g = NGROUPS; g-- > 0;)
			for (size_t k = 0; k < LOG_GROUPS[g].n; k++)
				if (LOG_GROUPS[g].r[k].rev > h) {
					held += LOG_GROUPS[g].r[k].type != 'E';
					held_from = off[g];
				}
		char *want = plain_state(fx, cut);
		check_hold(fx, full, h, want, held, held_from, h);
		free(want);
		sstest_log_free(cut);
		free(cut);
	}
	/* Nothing was discarded: a plain open sees all of it. */
	char *all = plain_state(fx, full);
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	char *st = state_of(s);
	assert_string_equal(st, all);
	ss_store_close(s);
	free(st);
	free(all);
	sstest_log_free(full);
	free(full);
}

static void test_hold_at_every_revision_applies_exactly_what_is_at_or_below_it(void **state)
{
	check_every_hold(*state);
}

static void test_hold_through_the_decoder_thread_is_the_same(void **state)
{
	size_t saved = sstest_replay_thread_min;

	sstest_replay_thread_min = 1;
	check_every_hold(*state);
	sstest_replay_thread_min = saved;
}

static void test_hold_spanning_a_group_holds_the_whole_group_from_its_start(void **state)
{
	struct sstest_fixture *fx = *state;
	struct sstest_log *full = malloc(sizeof(*full));
	size_t off[NGROUPS];

	assert_non_null(full);
	sstest_log_init(full);
	build(full, LOG_GROUPS, NGROUPS, UINT64_MAX, off);
	/* Revision 5 is the first of group 3: d is seen, e and a@7 are not,
	 * and the caller reads from group 3's start (d applied, its rev <= 5). */
	sstest_log_write(full, fx->log, full->len);
	struct ss_open_report rep;
	struct ss_store *s = open_hold(fx->dir, 5, &rep);
	sstest_assert_state(s, "b 2 0\nc 3 0\nd 5 0\n", NOW);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 5);
	assert_int_equal(rep.held, 6);
	assert_int_equal(rep.held_from, off[3]);
	assert_int_equal(rep.hold_rev, 5);
	ss_store_close(s);
	/* The EPOCH at 7 is kept with a hold at 7, the write of 8 is not. */
	s = open_hold(fx->dir, 7, &rep);
	const struct ss_epoch *ep;
	assert_int_equal(ss_table_epochs(ss_store_table(s), &ep), 1);
	assert_int_equal(ep[0].epoch, 2);
	assert_int_equal(ep[0].rev, 7);
	assert_int_equal(rep.held, 4);
	assert_int_equal(rep.held_from, off[5]);
	ss_store_close(s);
	/* At 6 the EPOCH is held too, but not counted in held. */
	s = open_hold(fx->dir, 6, &rep);
	assert_int_equal(ss_table_epochs(ss_store_table(s), &ep), 0);
	assert_int_equal(rep.held, 5);
	assert_int_equal(rep.held_from, off[3]);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, full->buf, full->len);
	sstest_log_free(full);
	free(full);
}

/* A compacted log: the snapshot's first REVISION (5), a record the walk
 * took past it (c@7) in a group of its own, the closing REVISION (7),
 * then the tail from the mark (6, 7 again, 8, 9). */
static const struct group COMPACTED[] = {
	{4, {{'R', "", "", 5, 0}, {'E', "", "", 0, 1}, {'S', "a", "2", 2, 0}, {'S', "b", "5", 5, 0}}},
	{1, {{'S', "c", "7", 7, 0}}},
	{1, {{'R', "", "", 7, 0}}},
	{1, {{'S', "d", "6", 6, 0}}},
	{1, {{'S', "c", "7", 7, 0}}},
	{2, {{'S', "e", "8", 8, 0}, {'D', "a", "", 9, 0}}},
	{1, {{'S', "f", "10", 10, 0}}},
};
#define NCOMPACTED (sizeof(COMPACTED) / sizeof(COMPACTED[0]))

static void test_revision_above_the_hold_raises_it_and_applies_the_snapshot(void **state)
{
	struct sstest_fixture *fx = *state;
	struct sstest_log *full = malloc(sizeof(*full));
	size_t off[NCOMPACTED];

	assert_non_null(full);
	sstest_log_init(full);
	build(full, COMPACTED, NCOMPACTED, UINT64_MAX, off);
	/* Held at 0, 3, 5 or 6: the first REVISION raises the hold to 5, c@7
	 * is skipped, then the REVISION of 7 vouches for it (applied after
	 * all) and raises the hold to 7; the tail's 8, 9 and 10 are held,
	 * from group 5 on (3 SET and DEL records). */
	struct sstest_log *cut = malloc(sizeof(*cut));
	assert_non_null(cut);
	sstest_log_init(cut);
	build(cut, COMPACTED, NCOMPACTED, 7, NULL);
	char *want7 = plain_state(fx, cut);
	assert_non_null(strstr(want7, "\nc expire"));
	assert_non_null(strstr(want7, "\nd expire"));
	assert_non_null(strstr(want7, "revision 7\n"));
	static const uint64_t below[] = {0, 3, 5, 6, 7};
	for (size_t i = 0; i < sizeof(below) / sizeof(below[0]); i++)
		check_hold(fx, full, below[i], want7, 3, off[5], 7);
	/* Held at 8: only D a@9 and f@10, from group 5 (e@8 in it applied). */
	sstest_log_free(cut);
	sstest_log_init(cut);
	build(cut, COMPACTED, NCOMPACTED, 8, NULL);
	char *want8 = plain_state(fx, cut);
	check_hold(fx, full, 8, want8, 2, off[5], 8);
	/* Held at 10 or above: nothing, held_from is the log's end. */
	char *all = plain_state(fx, full);
	check_hold(fx, full, 10, all, 0, full->len, 10);
	check_hold(fx, full, 99, all, 0, full->len, 99);
	free(all);
	free(want8);
	free(want7);
	sstest_log_free(cut);
	free(cut);
	sstest_log_free(full);
	free(full);
}

/* A backup a full sync installed, then what the replica appended: the
 * snapshot (REVISION 2), the backup's tail (3, 4), its closing REVISION
 * (4), then 5 and 6 with an EPOCH at 5 between them. */
static const struct group BACKED_UP[] = {
	{2, {{'R', "", "", 2, 0}, {'S', "a", "2", 2, 0}}},
	{1, {{'S', "b", "3", 3, 0}}},
	{1, {{'D', "a", "", 4, 0}}},
	{1, {{'R', "", "", 4, 0}}},
	{1, {{'S', "c", "5", 5, 0}}},
	{1, {{'E', "", "", 5, 3}}},
	{1, {{'S', "d", "6", 6, 0}}},
};
#define NBACKED (sizeof(BACKED_UP) / sizeof(BACKED_UP[0]))

static void test_backup_revision_vouches_for_its_tail(void **state)
{
	struct sstest_fixture *fx = *state;
	struct sstest_log *full = malloc(sizeof(*full)), *cut = malloc(sizeof(*cut));
	size_t off[NBACKED];

	assert_non_null(full);
	assert_non_null(cut);
	sstest_log_init(full);
	build(full, BACKED_UP, NBACKED, UINT64_MAX, off);
	sstest_log_init(cut);
	build(cut, BACKED_UP, NBACKED, 4, NULL);
	char *want4 = plain_state(fx, cut);
	/* b@3 and DEL a@4 are skipped, then applied when REVISION 4 comes. */
	assert_non_null(strstr(want4, "\nb expire"));
	assert_null(strstr(want4, "\na expire"));
	for (uint64_t h = 0; h <= 4; h++)
		check_hold(fx, full, h, want4, 2, off[4], 4);
	/* At 5 the EPOCH at 5 is kept; only d is held. */
	sstest_log_free(cut);
	sstest_log_init(cut);
	build(cut, BACKED_UP, NBACKED, 5, NULL);
	char *want5 = plain_state(fx, cut);
	assert_non_null(strstr(want5, "epoch 3@5\n"));
	check_hold(fx, full, 5, want5, 1, off[6], 5);
	free(want5);
	free(want4);
	sstest_log_free(cut);
	free(cut);
	sstest_log_free(full);
	free(full);
}

static void test_a_real_compaction_below_the_hold_is_seen_whole(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_error err = {0};
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	const char *names[] = {"a", "b", "c", "d", "e"};

	for (size_t i = 0; i < 5; i++)
		assert_int_equal(sstest_set(s, names[i], "v", 0, NOW, &err), 0);
	assert_int_equal(sstest_del(s, "b", NOW, &err), 0);
	assert_int_equal(ss_store_compact(s, NOW, &err), 0); /* REVISION 6 */
	uint64_t snap = ss_store_log_bytes(s);
	assert_int_equal(sstest_set(s, "f", "v", 0, NOW, &err), 0);
	assert_int_equal(sstest_del(s, "a", NOW, &err), 0);
	ss_store_close(s);
	size_t len;
	char *before = sstest_read_file(fx->log, &len);
	/* Held at 2: the snapshot's REVISION 6 raises it; f@7 and DEL a@8 are
	 * held from the first group after the snapshot. */
	s = open_hold(fx->dir, 2, &rep);
	sstest_assert_state(s, "a v 0\nc v 0\nd v 0\ne v 0\n", NOW);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 6);
	assert_int_equal(rep.held, 2);
	assert_int_equal(rep.held_from, snap);
	assert_int_equal(rep.hold_rev, 6);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, before, len);
	/* Held at 7: only the DEL. */
	s = open_hold(fx->dir, 7, &rep);
	sstest_assert_state(s, "a v 0\nc v 0\nd v 0\ne v 0\nf v 0\n", NOW);
	assert_int_equal(rep.held, 1);
	assert_true(rep.held_from > snap);
	assert_int_equal(rep.hold_rev, 7);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, before, len);
	free(before);
}

static void test_hold_with_truncate_is_refused(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store_options opt = {
		.dir = fx->dir, .hold = 1, .hold_rev = 3, .truncate = 1, .truncate_rev = 3};
	struct ss_error err = {0};
	struct ss_store *s = (struct ss_store *)&err;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	assert_int_equal(ss_store_open(&s, &opt, NOW, NULL, &err), -1);
	assert_null(s);
	assert_int_equal(err.kind, SS_ERR_IO);
	assert_int_equal(err.sys_errno, EINVAL);
	sstest_assert_file_equals(fx->log, fx->l.buf, fx->l.len);
}

static void test_without_hold_the_report_says_nothing_of_it(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.held, 0);
	assert_int_equal(rep.held_from, 0);
	assert_int_equal(rep.hold_rev, 0);
	ss_store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_hold_at_every_revision_applies_exactly_what_is_at_or_below_it),
		T(test_hold_through_the_decoder_thread_is_the_same),
		T(test_hold_spanning_a_group_holds_the_whole_group_from_its_start),
		T(test_revision_above_the_hold_raises_it_and_applies_the_snapshot),
		T(test_backup_revision_vouches_for_its_tail),
		T(test_a_real_compaction_below_the_hold_is_seen_whole),
		T(test_hold_with_truncate_is_refused),
		T(test_without_hold_the_report_says_nothing_of_it),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
