/*
 * test_replay.c - opening a data directory: creating the log, replaying
 * hand-made logs, cutting torn tails (at every byte, and with pages of the
 * last group lost in any order), and refusing corruption - damage followed
 * by a complete group - with a message that says where it is. Revisions,
 * commit times and histories come back exactly, and a multi-commit torn
 * anywhere is replayed not at all.
 *
 * Record counts and numbers count lines after the header, GROUP lines
 * included: a log of n single commits has 2n records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sstest.h"

#define NOW 1000000

/* Opens dir expecting failure; returns the error. */
static struct ss_error open_fails(const char *dir, int64_t now_ms)
{
	struct ss_store_options opt = {.dir = dir, .replay_thread_min = sstest_replay_thread_min};
	struct ss_error err = {0};
	struct ss_store *s = (struct ss_store *)&err;

	assert_int_equal(ss_store_open(&s, &opt, now_ms, NULL, &err), -1);
	assert_null(s);
	return err;
}

static void test_missing_log_and_directory_are_created(void **state)
{
	struct sstest_fixture *fx = *state;
	char *sub = sstest_path(fx->dir, "data");
	char *log = sstest_path(sub, SS_LOG_FILE);
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(sub, NULL, 0, NOW, &rep);

	assert_int_equal(rep.records, 0);
	assert_int_equal(rep.groups, 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.log_bytes, strlen(SS_LOG_HEADER));
	assert_int_equal(ss_store_log_bytes(s), strlen(SS_LOG_HEADER));
	sstest_assert_file_equals(log, SS_LOG_HEADER, strlen(SS_LOG_HEADER));
	sstest_assert_state(s, "", NOW);
	ss_store_close(s);
	free(log);
	free(sub);
}

static void test_empty_file_gets_a_header(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_write_file(fx->log, "", 0);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 0);
	assert_int_equal(rep.groups, 0);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_file_equals(fx->log, SS_LOG_HEADER, strlen(SS_LOG_HEADER));
	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 1);
	assert_int_equal(rep.groups, 1);
	sstest_assert_state(s, "a 1 0\n", NOW);
	ss_store_close(s);
}

static void test_header_only_log_is_empty(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 0);
	assert_int_equal(rep.groups, 0);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.log_bytes, fx->l.len);
	sstest_assert_state(s, "", NOW);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, SS_LOG_HEADER, strlen(SS_LOG_HEADER));
}

static void test_torn_header_is_rewritten(void **state)
{
	struct sstest_fixture *fx = *state;
	const size_t hlen = strlen(SS_LOG_HEADER);
	char buf[64];

	for (size_t n = 1; n < hlen; n++) {
		for (int zeros = 0; zeros <= 1; zeros++) {
			struct ss_open_report rep;
			struct ss_store *s;
			size_t len = zeros ? hlen : n;

			memset(buf, 0, sizeof(buf));
			memcpy(buf, SS_LOG_HEADER, n);
			sstest_write_file(fx->log, buf, len);
			s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
			assert_int_equal(rep.torn_bytes, len);
			assert_int_equal(rep.records, 0);
			assert_int_equal(rep.groups, 0);
			ss_store_close(s);
			sstest_assert_file_equals(fx->log, SS_LOG_HEADER, hlen);
		}
	}
}

static void test_hand_made_log_replays_in_order(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_del(&fx->l, "a");
	sstest_log_set(&fx->l, "b", "3", 0);
	sstest_log_set(&fx->l, "c", "x", NOW + 5000);
	sstest_log_del(&fx->l, "never-existed");
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 6);
	assert_int_equal(rep.groups, 6);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.expired, 0);
	assert_int_equal(rep.log_bytes, fx->l.len);
	sstest_assert_state(s, "b 3 0\nc x 1005000\n", NOW);
	ss_store_close(s);
	/* Opening changed nothing. */
	sstest_assert_file_equals(fx->log, fx->l.buf, fx->l.len);
}

/* Writes the log cut at every byte of [from, l->len), opens it, and checks
 * that the state is want, the tail was cut back to from, and that the log
 * takes appends that survive another reopen. */
static void check_torn_at_every_byte(struct sstest_fixture *fx, size_t from, uint64_t commits,
				     const char *want)
{
	for (size_t cut = from; cut < fx->l.len; cut++) {
		struct ss_open_report rep;
		struct ss_store *s;
		char *after = malloc(strlen(want) + 32);

		sstest_log_write(&fx->l, fx->log, cut);
		s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
		assert_int_equal(rep.torn_bytes, cut - from);
		assert_int_equal(rep.records, commits);
		assert_int_equal(rep.groups, commits);
		assert_int_equal(rep.log_bytes, from);
		assert_int_equal(sstest_file_size(fx->log), from);
		sstest_assert_state(s, want, NOW);
		assert_int_equal(sstest_set(s, "zz-after", "ok", 0, NOW, NULL), 0);
		ss_store_close(s);

		s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
		assert_int_equal(rep.torn_bytes, 0);
		assert_int_equal(rep.records, commits + 1);
		assert_int_equal(rep.groups, commits + 1);
		sprintf(after, "%szz-after ok 0\n", want);
		sstest_assert_state(s, after, NOW);
		ss_store_close(s);
		free(after);
	}
}

static void test_torn_at_every_byte_of_the_last_record(void **state)
{
	struct sstest_fixture *fx = *state;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "b", "2", NOW + 10);
	sstest_log_set(&fx->l, "c", "last-value", 1700000000000);
	check_torn_at_every_byte(fx, fx->l.off[4], 2, "a 1 0\nb 2 1000010\n");
}

static void test_torn_at_every_byte_of_a_last_del(void **state)
{
	struct sstest_fixture *fx = *state;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_del(&fx->l, "a");
	check_torn_at_every_byte(fx, fx->l.off[2], 1, "a 1 0\n");
}

static void test_torn_group_applies_none_of_it(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "c", "3", 0);
	sstest_log_group(&fx->l, 3);
	sstest_log_set(&fx->l, "a", "2", 0);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_del(&fx->l, "c");
	/* Whole: all of the group is applied. */
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_state(s, "a 2 0\nb 2 0\n", NOW);
	ss_store_close(s);
	/* Torn anywhere inside: none of it, cut back to before the GROUP. */
	check_torn_at_every_byte(fx, fx->l.off[4], 2, "a 1 0\nc 3 0\n");
}

static void test_zero_filled_tail_is_the_end_of_the_log(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	char zeros[8192] = {0};
	size_t end;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "b", "2", 0);
	end = fx->l.len;
	sstest_log_raw(&fx->l, zeros, sizeof(zeros));
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 2);
	assert_int_equal(rep.groups, 2);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.log_bytes, end);
	assert_int_equal(ss_store_log_bytes(s), end);
	sstest_assert_state(s, "a 1 0\nb 2 0\n", NOW);
	/* The next record goes right after the last one, over the zeros. */
	assert_int_equal(sstest_set(s, "c", "3", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 3);
	assert_int_equal(rep.groups, 3);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_state(s, "a 1 0\nb 2 0\nc 3 0\n", NOW);
	ss_store_close(s);
}

static void test_partial_record_then_zeros_is_torn(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	char zeros[100] = {0};
	size_t end;

	sstest_log_set(&fx->l, "a", "1", 0);
	end = fx->l.len;
	sstest_log_raw(&fx->l, "SET_CHECKPOINT b 2", 18);
	sstest_log_raw(&fx->l, zeros, sizeof(zeros));
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	/* The 18 bytes of the torn record; the zeros after it are cut too
	 * (the file size below) but are not torn data. */
	assert_int_equal(rep.torn_bytes, 18);
	assert_int_equal(sstest_file_size(fx->log), end);
	sstest_assert_state(s, "a 1 0\n", NOW);
	ss_store_close(s);
}

static void test_garbage_tail_without_later_records_is_torn(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	const char *junk = "SET_CHECKPOINT b 2 0 00000000\nnot a record\nDEL_CHECK";
	size_t end;

	sstest_log_set(&fx->l, "a", "1", 0);
	end = fx->l.len;
	sstest_log_raw(&fx->l, junk, strlen(junk));
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, strlen(junk));
	assert_int_equal(sstest_file_size(fx->log), end);
	sstest_assert_state(s, "a 1 0\n", NOW);
	ss_store_close(s);
}

/* Flips each byte of record idx (0-based) in turn and expects a refusal
 * naming that record's offset and number, with the file left alone. */
static void check_corrupt_record(struct sstest_fixture *fx, size_t idx)
{
	size_t start = fx->l.off[idx], end = fx->l.off[idx + 1];
	char want_off[64], want_rec[64];

	snprintf(want_off, sizeof(want_off), "byte offset %zu ", start);
	snprintf(want_rec, sizeof(want_rec), "(record %zu)", idx + 1);
	for (size_t i = start; i < end; i++) {
		struct ss_error err;

		fx->l.buf[i] ^= 0x01;
		sstest_log_write(&fx->l, fx->log, fx->l.len);
		err = open_fails(fx->dir, NOW);
		assert_int_equal(err.kind, SS_ERR_CORRUPT);
		if (!strstr(err.msg, want_off) || !strstr(err.msg, want_rec) ||
		    !strstr(err.msg, fx->log))
			fail_msg("flip at %zu: message \"%s\" lacks \"%s\", \"%s\" or the path", i,
				 err.msg, want_off, want_rec);
		sstest_assert_file_equals(fx->log, fx->l.buf, fx->l.len);
		fx->l.buf[i] ^= 0x01;
	}
}

static void test_corruption_mid_log_is_refused_with_offset_and_record(void **state)
{
	struct sstest_fixture *fx = *state;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_set(&fx->l, "c", "some-longer-value", 1700000000000);
	sstest_log_del(&fx->l, "a");
	sstest_log_set(&fx->l, "d", "4", 0);
	check_corrupt_record(fx, 4); /* the GROUP line of c */
	check_corrupt_record(fx, 5); /* c */
	check_corrupt_record(fx, 6);
	check_corrupt_record(fx, 7); /* the DEL */
}

static void test_corruption_inside_a_group_is_refused(void **state)
{
	struct sstest_fixture *fx = *state;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_group(&fx->l, 2);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_set(&fx->l, "c", "3", 0);
	sstest_log_set(&fx->l, "d", "4", 0);
	check_corrupt_record(fx, 2); /* the GROUP line itself */
	check_corrupt_record(fx, 3);
	check_corrupt_record(fx, 4);
}

static void test_nested_group_is_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_error err;

	sstest_log_group(&fx->l, 2);
	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_group(&fx->l, 1);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
}

static void test_zeros_followed_by_a_valid_record_are_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	char zeros[5000] = {0};
	char want[64];
	struct ss_error err;
	size_t at;

	sstest_log_set(&fx->l, "a", "1", 0);
	at = fx->l.len;
	sstest_log_raw(&fx->l, zeros, sizeof(zeros));
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
	snprintf(want, sizeof(want), "byte offset %zu (record 3)", at);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	sstest_assert_file_equals(fx->log, fx->l.buf, fx->l.len);
}

static void test_zeroed_record_between_valid_ones_is_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_error err;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_set(&fx->l, "c", "3", 0);
	/* A lost page: record 2 reads as zeros, its newline included. */
	memset(fx->l.buf + fx->l.off[1], 0, fx->l.off[2] - fx->l.off[1]);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
}

/* A commit of "a", then a batch of n SETs k0..k<n-1> of 300-byte values:
 * lines G0 a1, then the batch's GROUP line at off[2] and its records at
 * off[3 .. 3 + n). Returns the state the first commit alone leaves. */
static const char *log_one_then_a_batch(struct sstest_fixture *fx, int n)
{
	char name[32], value[301];

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_group(&fx->l, (uint32_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		memset(value, 'a' + i % 26, 300);
		value[300] = '\0';
		sstest_log_set(&fx->l, name, value, 0);
	}
	return "a 1 0\n";
}

/* Index of the line holding byte at. */
static size_t line_of(const struct sstest_log *l, size_t at)
{
	size_t i = 0;

	while (i + 1 < l->nrec && l->off[i + 1] <= at)
		i++;
	return i;
}

/* Power failed during the batch's fdatasync and only some of its pages
 * reached the disk: [z0, z1) reads as zeros, while records of the same
 * batch after it are intact, and the preallocated zeros follow. The batch
 * was never acknowledged: the log opens, cut back to before its GROUP line,
 * and takes appends. */
static void check_lost_pages_of_the_last_group(struct sstest_fixture *fx, size_t z0, size_t z1,
					       const char *want)
{
	char zeros[65536] = {0};
	struct sstest_log l = fx->l;
	struct ss_open_report rep;
	struct ss_store *s;
	size_t from = fx->l.off[2];
	char *buf = malloc(fx->l.len + sizeof(zeros));

	memcpy(buf, fx->l.buf, fx->l.len);
	memset(buf + z0, 0, z1 - z0);
	memcpy(buf + fx->l.len, zeros, sizeof(zeros));
	l.buf = buf;
	l.len = fx->l.len + sizeof(zeros);
	sstest_log_write(&l, fx->log, l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 1);
	assert_int_equal(rep.groups, 1);
	/* The torn write's bytes, up to its last one that reached the disk;
	 * not the preallocated zeros after it. */
	assert_int_equal(rep.torn_bytes, (z1 >= fx->l.len ? z0 : fx->l.len) - from);
	assert_int_equal(rep.log_bytes, from);
	assert_int_equal(sstest_file_size(fx->log), from);
	sstest_assert_state(s, want, NOW);
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.records, 2);
	assert_int_equal(rep.groups, 2);
	sstest_assert_state(s, "a 1 0\nb 2 0\n", NOW);
	ss_store_close(s);
	free(buf);
}

static void test_lost_pages_inside_the_last_group_are_a_torn_tail(void **state)
{
	struct sstest_fixture *fx = *state;
	const int n = 40;
	const char *want = log_one_then_a_batch(fx, n);
	size_t start = fx->l.off[2], end = fx->l.len;

	assert_true(end - start > 3 * 4096);
	/* A middle page: zeros, then valid records of the same group. */
	check_lost_pages_of_the_last_group(fx, 4096, 8192, want);
	/* Two pages, one of them holding the GROUP line. */
	check_lost_pages_of_the_last_group(fx, start, 8192, want);
	/* Only the GROUP line. */
	check_lost_pages_of_the_last_group(fx, start, fx->l.off[3], want);
	/* Everything but the first record and the last page. */
	check_lost_pages_of_the_last_group(fx, fx->l.off[4], (end / 4096) * 4096, want);
	/* Only a few bytes inside one record. */
	check_lost_pages_of_the_last_group(fx, fx->l.off[20] + 7, fx->l.off[20] + 9, want);
	/* The last record. */
	check_lost_pages_of_the_last_group(fx, fx->l.off[2 + n], end, want);
}

/* The same damage with a complete group after it: that group was written
 * after the damaged one's fdatasync returned, so the damaged one had been
 * acknowledged. Refused, naming the line where the damage starts. */
static void check_damage_then_a_group_is_corrupt(struct sstest_fixture *fx, size_t z0, size_t z1)
{
	struct sstest_log l = fx->l;
	char *buf = malloc(fx->l.len);
	size_t line = line_of(&fx->l, z0);
	char want_off[64], want_rec[64];
	struct ss_error err;

	memcpy(buf, fx->l.buf, fx->l.len);
	memset(buf + z0, 0, z1 - z0);
	l.buf = buf;
	sstest_log_write(&l, fx->log, l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
	snprintf(want_off, sizeof(want_off), "byte offset %zu ", fx->l.off[line]);
	snprintf(want_rec, sizeof(want_rec), "(record %zu)", line + 1);
	if (!strstr(err.msg, want_off) || !strstr(err.msg, want_rec) || !strstr(err.msg, fx->log))
		fail_msg("zeros at [%zu, %zu): message \"%s\" lacks \"%s\", \"%s\" or the path", z0,
			 z1, err.msg, want_off, want_rec);
	sstest_assert_file_equals(fx->log, buf, l.len);
	free(buf);
}

static void test_lost_pages_followed_by_a_complete_group_are_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	const int n = 40;
	size_t start, end;

	log_one_then_a_batch(fx, n);
	start = fx->l.off[2];
	end = fx->l.len;
	sstest_log_set(&fx->l, "after", "1", 0);
	check_damage_then_a_group_is_corrupt(fx, 4096, 8192);
	check_damage_then_a_group_is_corrupt(fx, start, 8192);
	check_damage_then_a_group_is_corrupt(fx, start, fx->l.off[3]);
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[20] + 7, fx->l.off[20] + 9);
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[2 + n], end);
	/* The record count of the next group is damaged, with one after it. */
	sstest_log_set(&fx->l, "after-2", "1", 0);
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[3 + n] + 6, fx->l.off[3 + n] + 7);
}

static void test_damaged_group_line_of_an_acknowledged_group_is_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_group(&fx->l, 3);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_set(&fx->l, "c", "3", 0);
	sstest_log_del(&fx->l, "a");
	sstest_log_set(&fx->l, "d", "4", 0);
	/* Its records are intact, but without their GROUP line they are not a
	 * group; the next group is complete. */
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[2], fx->l.off[3]);
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[2] + 3, fx->l.off[2] + 4);
	check_damage_then_a_group_is_corrupt(fx, fx->l.off[3] - 1, fx->l.off[3]); /* newline */
	/* The same damage in the last group: the known limit, a torn tail. */
	memset(fx->l.buf + fx->l.off[6], 0, fx->l.off[7] - fx->l.off[6]);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, fx->l.len - fx->l.off[6]);
	sstest_assert_state(s, "b 2 0\nc 3 0\n", NOW);
	ss_store_close(s);
}

static void test_a_record_outside_any_group_is_damage(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	struct ss_error err;
	char want[128];

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_bare_set(&fx->l, "b", "2", 0);
	/* Last: torn, cut. */
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 1);
	assert_int_equal(rep.groups, 1);
	assert_int_equal(rep.torn_bytes, fx->l.len - fx->l.off[2]);
	assert_int_equal(sstest_file_size(fx->log), fx->l.off[2]);
	sstest_assert_state(s, "a 1 0\n", NOW);
	ss_store_close(s);
	/* Bare records only after it: still torn. */
	sstest_log_bare_set(&fx->l, "c", "3", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, fx->l.len - fx->l.off[2]);
	ss_store_close(s);
	/* A complete group after it: corruption, naming it. */
	sstest_log_set(&fx->l, "d", "4", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
	snprintf(want, sizeof(want), "byte offset %zu (record 3) is a record outside any group",
		 fx->l.off[2]);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_a_group_cut_short_by_a_group_is_corruption(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_error err;
	char want[160];

	sstest_log_set(&fx->l, "a", "1", 0);
	sstest_log_group(&fx->l, 3);
	sstest_log_set(&fx->l, "b", "2", 0);
	sstest_log_set(&fx->l, "c", "3", 0);
	sstest_log_group(&fx->l, 1); /* where the third record of G3 should be */
	sstest_log_set(&fx->l, "d", "4", 0);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
	snprintf(want, sizeof(want),
		 "byte offset %zu (record 6) is a GROUP line inside the group that starts at byte "
		 "offset %zu",
		 fx->l.off[5], fx->l.off[2]);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_other_version_is_refused_naming_both_versions(void **state)
{
	struct sstest_fixture *fx = *state;
	const char *v3 = "statestored-log 3\nSOMETHING NEW\n";
	struct ss_error err;

	sstest_write_file(fx->log, v3, strlen(v3));
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_VERSION);
	if (!strstr(err.msg, "format version 3") || !strstr(err.msg, "versions 1 to 2"))
		fail_msg("message \"%s\" names not both versions", err.msg);
	sstest_assert_file_equals(fx->log, v3, strlen(v3));
}

static void test_not_a_log_is_refused(void **state)
{
	struct sstest_fixture *fx = *state;
	const char *junk = "hello, world\n";
	char zeros[4096] = {0};
	struct ss_error err;

	sstest_write_file(fx->log, junk, strlen(junk));
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "not a statestored log"));
	sstest_assert_file_equals(fx->log, junk, strlen(junk));
	/* A zero-filled file longer than a header is not a torn header. */
	sstest_write_file(fx->log, zeros, sizeof(zeros));
	err = open_fails(fx->dir, NOW);
	assert_int_equal(err.kind, SS_ERR_CORRUPT);
}

static void test_expired_set_at_replay_removes_the_earlier_value(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_log_set(&fx->l, "a", "old", 0);
	sstest_log_set(&fx->l, "a", "new", NOW - 1);
	sstest_log_set(&fx->l, "b", "gone-exactly-now", NOW);
	sstest_log_set(&fx->l, "c", "live", NOW + 1);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 4);
	assert_int_equal(rep.groups, 4);
	assert_int_equal(rep.expired, 2);
	sstest_assert_state(s, "c live 1000001\n", NOW);
	sstest_assert_value(s, "a", NULL, NOW);
	ss_store_close(s);
	/* Earlier, the newer value was live. */
	s = sstest_open(fx->dir, NULL, 0, NOW - 2, &rep);
	assert_int_equal(rep.expired, 0);
	sstest_assert_value(s, "a", "new", NOW - 2);
	ss_store_close(s);
}

static void test_ttl_is_absolute_across_reopen(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, 1000, NULL);

	assert_int_equal(sstest_set(s, "job", "v", 5000, 1000, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, 4999, &rep);
	assert_int_equal(rep.expired, 0);
	sstest_assert_value(s, "job", "v", 4999);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, 5000, &rep);
	assert_int_equal(rep.expired, 1);
	sstest_assert_value(s, "job", NULL, 5000);
	assert_int_equal(ss_table_count(ss_store_table(s)), 0);
	ss_store_close(s);
}

static void test_stale_temp_file_is_removed_at_open(void **state)
{
	struct sstest_fixture *fx = *state;
	char *tmp = sstest_path(fx->dir, SS_LOG_TMP_FILE);
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_write_file(tmp, "statestored-log 2\nSET_CHECK", 27);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 1);
	assert_int_equal(sstest_file_size(tmp), -1);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 0);
	ss_store_close(s);
	free(tmp);
}

/* Every record's revision and commit time are the entry's, the store's
 * revision is the highest seen - a REVISION record's included, even when
 * no entry holds it - and each SET over a live entry pushes the version it
 * replaces into the history. */
static void test_replay_restores_revisions_commit_times_and_history(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	char *dump;

	sstest_log_revision(&fx->l, 40);
	sstest_log_set_at(&fx->l, "a", 1, "1", 1, 0, 41, 1000);
	sstest_log_set_at(&fx->l, "a", 1, "2", 1, 0, 42, 2000);
	sstest_log_set_at(&fx->l, "a b", 3, "x\n\0", 3, NOW + 9, 43, 3000);
	sstest_log_group(&fx->l, 2); /* a multi-commit: one revision */
	sstest_log_set_at(&fx->l, "a", 1, "3", 1, 0, 44, 4000);
	sstest_log_set_at(&fx->l, "c", 1, "4", 1, 0, 44, 4000);
	sstest_log_set_at(&fx->l, "d", 1, "5", 1, 0, 45, 5000);
	sstest_log_del_at(&fx->l, "d", 1, 46, 6000);
	sstest_log_set_at(&fx->l, "d", 1, "6", 1, 0, 47, 7000); /* no history after a DEL */
	sstest_log_revision(&fx->l, 50);
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open_history(fx->dir, NULL, 0, 3, NOW, &rep);
	assert_int_equal(rep.groups, 9);
	assert_int_equal(rep.records, 10);
	dump = sstest_dump_full(ss_store_table(s), NOW);
	assert_string_equal(dump, "revision 50\n"
				  "a expire 0: 44@4000=3 42@2000=2 41@1000=1\n"
				  "a\\x20b expire 1000009: 43@3000=x\\x0a\\x00\n"
				  "c expire 0: 44@4000=4\n"
				  "d expire 0: 47@7000=6\n");
	free(dump);
	ss_store_close(s);
	/* With no history kept, only the current versions. */
	s = sstest_open_history(fx->dir, NULL, 0, 0, NOW, NULL);
	dump = sstest_dump_full(ss_store_table(s), NOW);
	assert_string_equal(dump, "revision 50\n"
				  "a expire 0: 44@4000=3\n"
				  "a\\x20b expire 1000009: 43@3000=x\\x0a\\x00\n"
				  "c expire 0: 44@4000=4\n"
				  "d expire 0: 47@7000=6\n");
	free(dump);
	ss_store_close(s);
}

/* Commits through the store: each takes the next revision, its commit
 * time, and a reopen gives them back exactly. */
static void test_revisions_of_commits_survive_reopen(void **state)
{
	struct sstest_fixture *fx = *state;
	const char *names[] = {"m1", "m2", "m3"}, *values[] = {"x", "y", "z"};
	struct ss_store *s = sstest_open_history(fx->dir, NULL, 0, 2, 1000, NULL);
	char *before, *after;

	assert_int_equal(ss_table_revision(ss_store_table(s)), 0);
	assert_int_equal(sstest_set(s, "a", "1", 0, 1000, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "2", 0, 1001, NULL), 0);
	assert_int_equal(sstest_multi_set(s, names, values, 3, 1002, NULL), 0);
	assert_int_equal(sstest_set(s, "gone", "1", 0, 1003, NULL), 0);
	assert_int_equal(sstest_del(s, "gone", 1004, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 5);
	before = sstest_dump_full(ss_store_table(s), 1005);
	assert_string_equal(before, "revision 5\n"
				    "a expire 0: 2@1001=2 1@1000=1\n"
				    "m1 expire 0: 3@1002=x\n"
				    "m2 expire 0: 3@1002=y\n"
				    "m3 expire 0: 3@1002=z\n");
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 2, 1005, NULL);
	after = sstest_dump_full(ss_store_table(s), 1005);
	assert_string_equal(after, before);
	/* The next commit continues from the replayed revision. */
	assert_int_equal(sstest_set(s, "b", "1", 0, 1006, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 6);
	ss_store_close(s);
	free(before);
	free(after);
}

/* A multi-commit is one group: torn at any byte of it, none of its
 * records is applied - neither values nor the revision they share - and
 * the log is cut back to before its GROUP line. */
static void test_a_multi_commit_torn_at_every_byte_applies_none_of_it(void **state)
{
	struct sstest_fixture *fx = *state;
	char name[8];
	size_t from;

	sstest_log_set_at(&fx->l, "a", 1, "1", 1, 0, 1, 100);
	sstest_log_set_at(&fx->l, "k1", 2, "old", 3, 0, 2, 200);
	from = fx->l.len;
	sstest_log_group(&fx->l, 5);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		sstest_log_set_at(&fx->l, name, strlen(name), "v\\ w", 4, 0, 3, 300);
	}
	sstest_log_del_at(&fx->l, "a", 1, 3, 300);
	for (size_t cut = from; cut < fx->l.len; cut++) {
		struct ss_open_report rep;
		struct ss_store *s;
		char *dump;

		sstest_log_write(&fx->l, fx->log, cut);
		s = sstest_open_history(fx->dir, NULL, 0, 4, NOW, &rep);
		assert_int_equal(rep.torn_bytes, cut - from);
		assert_int_equal(rep.groups, 2);
		assert_int_equal(rep.log_bytes, from);
		assert_int_equal(sstest_file_size(fx->log), from);
		dump = sstest_dump_full(ss_store_table(s), NOW);
		assert_string_equal(dump, "revision 2\n"
					  "a expire 0: 1@100=1\n"
					  "k1 expire 0: 2@200=old\n");
		free(dump);
		/* The revision the torn group took is free again: it was
		 * never acknowledged. */
		assert_int_equal(sstest_set(s, "k1", "new", 0, 400, NULL), 0);
		ss_store_close(s);
		s = sstest_open_history(fx->dir, NULL, 0, 4, NOW, &rep);
		assert_int_equal(rep.torn_bytes, 0);
		dump = sstest_dump_full(ss_store_table(s), NOW);
		assert_string_equal(dump, "revision 3\n"
					  "a expire 0: 1@100=1\n"
					  "k1 expire 0: 3@400=new 2@200=old\n");
		free(dump);
		ss_store_close(s);
	}
	/* Whole, all of it. */
	{
		struct ss_store *s;
		char *dump;

		sstest_log_write(&fx->l, fx->log, fx->l.len);
		s = sstest_open_history(fx->dir, NULL, 0, 4, NOW, NULL);
		dump = sstest_dump_full(ss_store_table(s), NOW);
		assert_string_equal(dump, "revision 3\n"
					  "k0 expire 0: 3@300=v\\x5c\\x20w\n"
					  "k1 expire 0: 3@300=v\\x5c\\x20w 2@200=old\n"
					  "k2 expire 0: 3@300=v\\x5c\\x20w\n"
					  "k3 expire 0: 3@300=v\\x5c\\x20w\n");
		free(dump);
		ss_store_close(s);
	}
}

/* What a replay of the log finds, through one thread or through the
 * decoder thread (logscan.c): the state, or the error. */
static char *replay_verdict(struct sstest_fixture *fx, size_t thread_min)
{
	struct ss_store_options opt = {.dir = fx->dir, .history = 4, .replay_thread_min = thread_min};
	struct ss_open_report rep;
	struct ss_error err = {0};
	struct ss_store *s;
	char *dump, *out;

	if (ss_store_open(&s, &opt, NOW, &rep, &err) < 0) {
		out = strdup(err.msg);
		assert_non_null(out);
		return out;
	}
	dump = sstest_dump_full(ss_store_table(s), NOW);
	ss_store_close(s);
	assert_true(asprintf(&out, "%llu records %llu groups %llu torn %llu bytes\n%s",
			     (unsigned long long)rep.records, (unsigned long long)rep.groups,
			     (unsigned long long)rep.torn_bytes, (unsigned long long)rep.log_bytes,
			     dump) > 0);
	free(dump);
	return out;
}

/* Replay hands blocks of whole groups from a decoder thread to the thread
 * that applies them (logscan.c). Across many blocks, a torn tail at every
 * byte of the last group, a tail torn mid-log and damage in the middle,
 * the decoder thread must find exactly what one thread finds. */
static void test_decoder_thread_replays_exactly_as_one_thread(void **state)
{
	struct sstest_fixture *fx = *state;
	size_t starts[7000], ngroups = 0, last;
	uint64_t rev = 0;
	char name[32], value[32];

	/* About 7,500 records in groups of 1 to 4: several blocks of 2048,
	 * groups straddling every block end. */
	srand(7);
	while (rev < 3000) {
		uint32_t n = 1 + (uint32_t)(rand() % 4);
		starts[ngroups++] = fx->l.len;
		rev++;
		sstest_log_group(&fx->l, n);
		for (uint32_t k = 0; k < n; k++) {
			int len = snprintf(name, sizeof name, "p%d", (int)(rev * 7 + k) % 997);
			if (rand() % 16 == 0) {
				sstest_log_del_at(&fx->l, name, (size_t)len, rev, 1000 + (int64_t)rev);
				continue;
			}
			int vlen = snprintf(value, sizeof value, "%llu", (unsigned long long)rev * 31);
			sstest_log_set_at(&fx->l, name, (size_t)len, value, (size_t)vlen, 0, rev,
					  1000 + (int64_t)rev);
		}
	}
	last = starts[ngroups - 1];
	/* Torn across the last group, every 11th byte; then whole. */
	for (size_t cut = last; cut <= fx->l.len;
	     cut = cut + 11 < fx->l.len || cut == fx->l.len ? cut + 11 : fx->l.len) {
		sstest_log_write(&fx->l, fx->log, cut);
		char *one = replay_verdict(fx, SIZE_MAX);
		sstest_log_write(&fx->l, fx->log, cut);
		char *two = replay_verdict(fx, 1);
		assert_string_equal(one, two);
		free(one);
		free(two);
	}
	/* Torn in the middle: the log ends inside a group of the third block. */
	{
		size_t cut = starts[ngroups / 2] + 5;
		sstest_log_write(&fx->l, fx->log, cut);
		char *one = replay_verdict(fx, SIZE_MAX);
		sstest_log_write(&fx->l, fx->log, cut);
		char *two = replay_verdict(fx, 1);
		assert_non_null(strstr(one, "groups 5 torn "));
		assert_string_equal(one, two);
		free(one);
		free(two);
	}
	/* Damaged in the middle, complete groups after it: refused alike. */
	{
		char *one, *two;
		size_t at = starts[ngroups / 2] + 3;
		fx->l.buf[at] ^= 0x01;
		sstest_log_write(&fx->l, fx->log, fx->l.len);
		one = replay_verdict(fx, SIZE_MAX);
		sstest_log_write(&fx->l, fx->log, fx->l.len);
		two = replay_verdict(fx, 1);
		assert_non_null(strstr(one, "is corrupt"));
		assert_string_equal(one, two);
		free(one);
		free(two);
	}
}

/* --- replication: epochs and cutting the log back ------------------------- */

/* Opens dir with truncate at cut, which must succeed. */
static struct ss_store *open_cut(const char *dir, uint64_t cut, int64_t now_ms,
				 struct ss_open_report *rep)
{
	struct ss_store_options opt = {.dir = dir, .history = 2, .truncate = 1,
				       .truncate_rev = cut,
				       .replay_thread_min = sstest_replay_thread_min};
	struct ss_error err = {0};
	struct ss_store *s = NULL;

	if (ss_store_open(&s, &opt, now_ms, rep, &err) < 0)
		fail_msg("ss_store_open with truncate at %llu: %s", (unsigned long long)cut,
			 err.msg);
	return s;
}

/* EPOCH records, hand-made and committed, replay into the table's epoch
 * history in order; an epoch takes no revision, so neither the counter
 * nor the next commit's revision moves; a repeated one is ignored. */
static void test_epochs_replay_into_the_history_and_take_no_revision(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	char *dump;

	sstest_log_epoch(&fx->l, 1, 0); /* promoted before any write */
	sstest_log_set_at(&fx->l, "a", 1, "1", 1, 0, 1, 100);
	sstest_log_group(&fx->l, 2);
	sstest_log_epoch(&fx->l, 2, 1);
	sstest_log_set_at(&fx->l, "a", 1, "2", 1, 0, 2, 200);
	sstest_log_epoch(&fx->l, 2, 1); /* a snapshot's and its tail's */
	sstest_log_write(&fx->l, fx->log, fx->l.len);
	s = sstest_open_history(fx->dir, NULL, 0, 2, NOW, &rep);
	assert_int_equal(rep.groups, 4);
	assert_int_equal(rep.records, 5);
	assert_int_equal(ss_table_epoch(ss_store_table(s)), 2);
	dump = sstest_dump_full(ss_store_table(s), NOW);
	assert_string_equal(dump, "revision 2\n"
				  "epochs 1@0 2@1\n"
				  "a expire 0: 2@200=2 1@100=1\n");
	free(dump);
	/* Committed through the store, then replayed: the same. */
	assert_int_equal(sstest_epoch(s, 3, 2, NOW, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 2);
	assert_int_equal(ss_table_epoch(ss_store_table(s)), 3);
	assert_int_equal(sstest_set(s, "b", "1", 0, NOW, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 3);
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 2, NOW, NULL);
	dump = sstest_dump_full(ss_store_table(s), NOW);
	assert_string_equal(dump, "revision 3\n"
				  "epochs 1@0 2@1 3@2\n"
				  "a expire 0: 2@200=2 1@100=1\n"
				  "b expire 0: 3@1000000=1\n");
	free(dump);
	ss_store_close(s);
}

/* A log of eight commits and three epochs, for the cuts below:
 * a=1 (1), b=1 (2), epoch 2 after 2, a=2 (3), c=1 (4), DEL b (5), epoch 3
 * after 5, a=3 (6), epoch 4 after 6, d=1 (7). */
static void write_history(const char *dir)
{
	struct ss_store *s = sstest_open_history(dir, NULL, 0, 2, 1000, NULL);

	assert_int_equal(sstest_epoch(s, 1, 0, 1000, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "1", 0, 1001, NULL), 0);
	assert_int_equal(sstest_set(s, "b", "1", 0, 1002, NULL), 0);
	assert_int_equal(sstest_epoch(s, 2, 2, 1002, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "2", 0, 1003, NULL), 0);
	assert_int_equal(sstest_set(s, "c", "1", 0, 1004, NULL), 0);
	assert_int_equal(sstest_del(s, "b", 1005, NULL), 0);
	assert_int_equal(sstest_epoch(s, 3, 5, 1005, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "3", 0, 1006, NULL), 0);
	assert_int_equal(sstest_epoch(s, 4, 6, 1006, NULL), 0);
	assert_int_equal(sstest_set(s, "d", "1", 0, 1007, NULL), 0);
	ss_store_close(s);
}

/* A cut skips every SET and DEL past it (counted as discarded) and every
 * epoch that began past it, keeps one that began right at it, notes no
 * skipped revision, and rewrites the log: a plain reopen finds the cut
 * state, and a second cut finds nothing more to discard. */
static void test_a_cut_discards_what_is_past_it_durably(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	char *dump, *again;

	write_history(fx->dir);
	s = open_cut(fx->dir, 5, 2000, &rep);
	assert_int_equal(rep.discarded, 2); /* a=3, d=1 */
	assert_int_equal(rep.records, 8);   /* 4 epochs and 7 writes, less 2 and epoch 4 */
	assert_int_equal(ss_table_revision(ss_store_table(s)), 5);
	dump = sstest_dump_full(ss_store_table(s), 2000);
	assert_string_equal(dump, "revision 5\n"
				  "epochs 1@0 2@2 3@5\n"
				  "a expire 0: 3@1003=2 1@1001=1\n"
				  "c expire 0: 4@1004=1\n");
	/* The next write takes the revision after the cut. */
	assert_int_equal(sstest_set(s, "e", "1", 0, 2001, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 6);
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 2, 2002, &rep);
	assert_int_equal(rep.discarded, 0);
	again = sstest_dump_full(ss_store_table(s), 2002);
	assert_string_equal(again, "revision 6\n"
				   "epochs 1@0 2@2 3@5\n"
				   "a expire 0: 3@1003=2 1@1001=1\n"
				   "c expire 0: 4@1004=1\n"
				   "e expire 0: 6@2001=1\n");
	ss_store_close(s);
	free(dump);
	free(again);
}

/* Cut at the log's own revision or past it: nothing is discarded and the
 * file is not rewritten. Cut right below an epoch's start: the epoch goes. */
static void test_a_cut_with_nothing_past_it_leaves_the_log_alone(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s;
	size_t before_len, after_len;
	char *before, *after, *dump;

	write_history(fx->dir);
	before = sstest_read_file(fx->log, &before_len);
	s = open_cut(fx->dir, 7, 2000, &rep);
	assert_int_equal(rep.discarded, 0);
	ss_store_close(s);
	s = open_cut(fx->dir, 1000, 2000, &rep);
	assert_int_equal(rep.discarded, 0);
	assert_int_equal(ss_table_epoch(ss_store_table(s)), 4);
	ss_store_close(s);
	after = sstest_read_file(fx->log, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	s = open_cut(fx->dir, 4, 2000, &rep);
	assert_int_equal(rep.discarded, 3); /* DEL b, a=3, d=1 */
	dump = sstest_dump_full(ss_store_table(s), 2000);
	assert_string_equal(dump, "revision 4\n"
				  "epochs 1@0 2@2\n"
				  "a expire 0: 3@1003=2 1@1001=1\n"
				  "b expire 0: 2@1002=1\n"
				  "c expire 0: 4@1004=1\n");
	ss_store_close(s);
	free(before);
	free(after);
	free(dump);
}

/* After a compaction, the log's snapshot is at the store's revision: a
 * cut below it would need versions the snapshot no longer has, so the
 * open fails with SS_ERR_TRUNCATE, saying so, and leaves the log as it
 * was; a cut at it, or between it and a later write, works. */
static void test_a_cut_below_the_snapshot_is_refused(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store_options opt = {.dir = fx->dir, .history = 2, .truncate = 1,
				       .truncate_rev = 4};
	struct ss_open_report rep;
	struct ss_error err = {0};
	struct ss_store *s;
	size_t before_len, after_len;
	char *before, *after;

	write_history(fx->dir);
	s = sstest_open_history(fx->dir, NULL, 0, 2, 2000, NULL);
	assert_int_equal(ss_store_compact(s, 2000, &err), 0);
	assert_int_equal(sstest_set(s, "f", "1", 0, 2001, NULL), 0);
	ss_store_close(s);
	before = sstest_read_file(fx->log, &before_len);
	assert_int_equal(ss_store_open(&s, &opt, 2002, &rep, &err), -1);
	assert_null(s);
	assert_int_equal(err.kind, SS_ERR_TRUNCATE);
	assert_non_null(strstr(err.msg, "cannot cut back to revision 4: the log's snapshot is "
					"at 7"));
	after = sstest_read_file(fx->log, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	s = open_cut(fx->dir, 7, 2002, &rep);
	assert_int_equal(rep.discarded, 1); /* f=1 */
	assert_int_equal(ss_table_epoch(ss_store_table(s)), 4);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 7);
	sstest_assert_state(s, "a 3 0\nc 1 0\nd 1 0\n", 2002);
	ss_store_close(s);
	free(before);
	free(after);
}

/* A full sync's file left by a crash is removed at open, like the
 * compaction's temp file, and reported. */
static void test_stale_sync_file_is_removed_at_open(void **state)
{
	struct sstest_fixture *fx = *state;
	char *sync = sstest_path(fx->dir, SS_LOG_SYNC_FILE);
	struct ss_open_report rep;
	struct ss_store *s;

	sstest_write_file(sync, "statestored-log 2\nGROUP", 23);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_sync, 1);
	assert_int_equal(rep.removed_tmp, 0);
	assert_int_equal(sstest_file_size(sync), -1);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_sync, 0);
	ss_store_close(s);
	free(sync);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_missing_log_and_directory_are_created),
		T(test_empty_file_gets_a_header),
		T(test_header_only_log_is_empty),
		T(test_torn_header_is_rewritten),
		T(test_hand_made_log_replays_in_order),
		T(test_torn_at_every_byte_of_the_last_record),
		T(test_torn_at_every_byte_of_a_last_del),
		T(test_torn_group_applies_none_of_it),
		T(test_zero_filled_tail_is_the_end_of_the_log),
		T(test_partial_record_then_zeros_is_torn),
		T(test_garbage_tail_without_later_records_is_torn),
		T(test_corruption_mid_log_is_refused_with_offset_and_record),
		T(test_corruption_inside_a_group_is_refused),
		T(test_nested_group_is_corruption),
		T(test_zeros_followed_by_a_valid_record_are_corruption),
		T(test_zeroed_record_between_valid_ones_is_corruption),
		T(test_lost_pages_inside_the_last_group_are_a_torn_tail),
		T(test_lost_pages_followed_by_a_complete_group_are_corruption),
		T(test_damaged_group_line_of_an_acknowledged_group_is_corruption),
		T(test_a_record_outside_any_group_is_damage),
		T(test_a_group_cut_short_by_a_group_is_corruption),
		T(test_other_version_is_refused_naming_both_versions),
		T(test_not_a_log_is_refused),
		T(test_expired_set_at_replay_removes_the_earlier_value),
		T(test_ttl_is_absolute_across_reopen),
		T(test_stale_temp_file_is_removed_at_open),
		T(test_replay_restores_revisions_commit_times_and_history),
		T(test_revisions_of_commits_survive_reopen),
		T(test_a_multi_commit_torn_at_every_byte_applies_none_of_it),
		T(test_decoder_thread_replays_exactly_as_one_thread),
		T(test_epochs_replay_into_the_history_and_take_no_revision),
		T(test_a_cut_discards_what_is_past_it_durably),
		T(test_a_cut_with_nothing_past_it_leaves_the_log_alone),
		T(test_a_cut_below_the_snapshot_is_refused),
		T(test_stale_sync_file_is_removed_at_open),
	};

	/* Then the verdicts again with every replay through the decoder
	 * thread, however small the log: order, torn tails, damage. */
	const struct CMUnitTest threaded[] = {
		T(test_hand_made_log_replays_in_order),
		T(test_torn_group_applies_none_of_it),
		T(test_zero_filled_tail_is_the_end_of_the_log),
		T(test_garbage_tail_without_later_records_is_torn),
		T(test_corruption_mid_log_is_refused_with_offset_and_record),
		T(test_corruption_inside_a_group_is_refused),
		T(test_lost_pages_inside_the_last_group_are_a_torn_tail),
		T(test_lost_pages_followed_by_a_complete_group_are_corruption),
		T(test_a_record_outside_any_group_is_damage),
		T(test_replay_restores_revisions_commit_times_and_history),
		T(test_a_multi_commit_torn_at_every_byte_applies_none_of_it),
		T(test_a_cut_discards_what_is_past_it_durably),
	};
#undef T
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	sstest_replay_thread_min = 1;
	return failed + cmocka_run_group_tests_name("decoder thread", threaded, NULL, NULL);
}
