/*
 * test_store_faults.c - what the store does when the file system fails:
 * a failed append leaves no trace in the log or the table and the next one
 * works; a failed sync poisons; a failed cut-back breaks; preallocation
 * falls back to plain appends on a full disk.
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
#define PREALLOC (256 * 1024)

static char *dump(struct ss_store *s)
{
	return sstest_dump(ss_store_table(s), NOW);
}

/* A batch of several records, so a partial write holds whole records that
 * must not survive. */
static void make_batch(struct ss_batch *b)
{
	char name[32], value[200];

	ss_batch_init(b);
	for (int i = 0; i < 8; i++) {
		struct ss_record r = {.type = SS_REC_SET, .name = name, .value = value,
				      .rev = (uint64_t)i + 1000, .commit_ms = NOW};

		snprintf(name, sizeof(name), "batch-%d", i);
		memset(value, 'a' + i, sizeof(value) - 1);
		value[sizeof(value) - 1] = '\0';
		r.nlen = strlen(name);
		r.vlen = strlen(value);
		assert_int_equal(ss_batch_add(b, &r, NULL), 0);
	}
}

/* Fails one append (with err on the first call of op, from then on if
 * persistent; a one-off short write is followed by EIO) and checks that the log's bytes up to
 * its end and the table are as before, that the file holds nothing of the
 * batch, and that the next write works and survives a reopen. */
static void check_failed_append(struct sstest_fixture *fx, size_t prealloc, enum sstest_op op,
				int err, int persistent, int want_errno)
{
	struct ss_store *s;
	struct ss_batch b;
	struct ss_error e = {0};
	char *before, *after, *log_before, *log_after;
	size_t len_before, len;
	uint64_t end;

	s = sstest_reset(fx, prealloc, NOW);
	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(s, "b", "2", NOW + 50, NOW, NULL), 0);
	before = dump(s);
	end = ss_store_log_bytes(s);
	log_before = sstest_read_file(fx->log, &len_before);
	make_batch(&b);

	sstest_fault_io_arm(&fx->f, op, 1, err, persistent);
	if (err == SSTEST_SHORT_WRITE && !persistent) /* then the retry fails */
		sstest_fault_io_arm(&fx->f, op, 2, EIO, 0);
	assert_int_equal(ss_store_write(s, &b, &e), -1);
	assert_true(fx->f.injected >= 1);
	sstest_fault_io_disarm(&fx->f);
	assert_int_equal(ss_store_state(s), SS_STORE_OK); /* cut back: writable */
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_int_equal(e.sys_errno, want_errno);
	assert_non_null(strstr(e.msg, fx->log));
	assert_non_null(strstr(e.msg, strerror(want_errno)));
	assert_int_equal(ss_store_log_bytes(s), end);
	after = dump(s);
	assert_string_equal(before, after);
	free(after);
	/* Byte for byte what it was; past the end, at most zeros. */
	log_after = sstest_read_file(fx->log, &len);
	assert_true(len >= end);
	assert_memory_equal(log_after, log_before, end);
	for (size_t i = end; i < len; i++)
		assert_int_equal(log_after[i], 0);
	free(log_after);

	/* The next write succeeds and is the only thing added. */
	if (sstest_set(s, "c", "3", 0, NOW, &e) < 0)
		fail_msg("write after a failed append: %s", e.msg);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_value(s, "batch-0", NULL, NOW);
	sstest_assert_value(s, "c", "3", NOW);
	assert_int_equal(sstest_del(s, "c", NOW, NULL), 0);
	after = dump(s);
	assert_string_equal(before, after);
	ss_store_close(s);
	free(after);
	free(before);
	free(log_before);
	ss_batch_free(&b);
}

static void test_failed_append_leaves_log_and_table_unchanged(void **state)
{
	struct sstest_fixture *fx = *state;

	check_failed_append(fx, 0, SSTEST_OP_PWRITE, ENOSPC, 0, ENOSPC);
	check_failed_append(fx, 0, SSTEST_OP_PWRITE, EIO, 0, EIO);
	/* Half the batch, whole records among it, reaches the file before
	 * the failure. */
	check_failed_append(fx, 0, SSTEST_OP_PWRITE, SSTEST_SHORT_WRITE, 0, EIO);
	/* Short writes until one makes no progress. */
	check_failed_append(fx, 0, SSTEST_OP_PWRITE, SSTEST_SHORT_WRITE, 1, EIO);
}

static void test_failed_append_inside_preallocated_space(void **state)
{
	struct sstest_fixture *fx = *state;

	/* The first pwrite after open is the data (the region is already
	 * preallocated by the earlier sets); the zeros are rewritten. */
	check_failed_append(fx, PREALLOC, SSTEST_OP_PWRITE, EIO, 0, EIO);
	check_failed_append(fx, PREALLOC, SSTEST_OP_PWRITE, ENOSPC, 0, ENOSPC);
	check_failed_append(fx, PREALLOC, SSTEST_OP_PWRITE, SSTEST_SHORT_WRITE, 0, EIO);
}

static void test_short_write_once_is_retried(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ss_batch b;

	make_batch(&b);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, SSTEST_SHORT_WRITE, 0);
	assert_int_equal(ss_store_write(s, &b, NULL), 0);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EINTR, 0);
	assert_int_equal(ss_store_sync(s, NULL), 0);
	assert_int_equal(fx->f.injected, 2);
	assert_int_equal(ss_store_apply(s, &b, NOW), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	assert_int_equal(ss_table_count(ss_store_table(s)), 8);
	ss_store_close(s);
	ss_batch_free(&b);
}

static void test_sync_failure_poisons_the_store(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ss_error e = {0};
	unsigned long pwrites, syncs;
	struct ss_batch b;

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	make_batch(&b);
	assert_int_equal(ss_store_write(s, &b, NULL), 0);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EIO, 0);
	assert_int_equal(ss_store_state(s), SS_STORE_OK);
	assert_int_equal(ss_store_sync(s, &e), -1);
	assert_int_equal(ss_store_state(s), SS_STORE_POISONED);
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_int_equal(e.sys_errno, EIO);
	assert_non_null(strstr(e.msg, fx->log));
	syncs = fx->f.calls[SSTEST_OP_FDATASYNC];
	/* Everything later fails, without touching the file, even though the
	 * fault was a one-off: a retried fsync would prove nothing. */
	pwrites = fx->f.calls[SSTEST_OP_PWRITE];
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	assert_int_equal(ss_store_write(s, &b, &e), -1);
	assert_int_equal(ss_store_sync(s, &e), -1);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	assert_int_equal(fx->f.calls[SSTEST_OP_PWRITE], pwrites);
	assert_int_equal(fx->f.calls[SSTEST_OP_FDATASYNC], syncs);
	ss_store_close(s);
	/* A restart replays the log: what was acknowledged, not the batch
	 * whose sync failed. */
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_value(s, "a", "1", NOW);
	sstest_assert_value(s, "batch-0", NULL, NOW);
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, NULL), 0);
	ss_store_close(s);
	ss_batch_free(&b);
}

static void test_failed_cut_back_breaks_the_store(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ss_error e = {0};
	unsigned long pwrites;
	struct ss_batch b;

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	make_batch(&b);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, EIO, 0);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FTRUNCATE, 1, EIO, 0);
	assert_int_equal(ss_store_write(s, &b, &e), -1);
	assert_int_equal(fx->f.injected, 2);
	assert_int_equal(ss_store_state(s), SS_STORE_BROKEN);
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_int_equal(e.sys_errno, EIO);
	assert_non_null(strstr(e.msg, "cut"));
	/* Broken: no more writes, even with the disk healthy again. */
	pwrites = fx->f.calls[SSTEST_OP_PWRITE];
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	assert_int_equal(ss_store_sync(s, &e), -1);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	assert_int_equal(fx->f.calls[SSTEST_OP_PWRITE], pwrites);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_value(s, "a", "1", NOW);
	ss_store_close(s);
	ss_batch_free(&b);
}

static void test_failed_zero_rewrite_breaks_the_store(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, PREALLOC, NOW, NULL);
	struct ss_error e = {0};
	struct ss_batch b;

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	make_batch(&b);
	/* The data write fails inside the preallocated region, and so does
	 * rewriting zeros over it. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, EIO, 1);
	assert_int_equal(ss_store_write(s, &b, &e), -1);
	assert_true(fx->f.injected >= 2);
	sstest_fault_io_disarm(&fx->f);
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	ss_store_close(s);
	ss_batch_free(&b);
}

static void test_preallocation_keeps_zeros_past_the_logical_end(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, PREALLOC, NOW, NULL);
	char *value = malloc(SS_VALUE_MAX + 1);
	char name[32];

	memset(value, 'p', SS_VALUE_MAX);
	value[SS_VALUE_MAX] = '\0';
	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	assert_int_equal(sstest_file_size(fx->log), strlen(SS_LOG_HEADER) + PREALLOC);
	assert_true(ss_store_log_bytes(s) < PREALLOC);
	/* Past the zero-filled region: extended by whole chunks. */
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "big-%d", i);
		assert_int_equal(sstest_set(s, name, value, 0, NOW, NULL), 0);
	}
	assert_int_equal(sstest_file_size(fx->log), strlen(SS_LOG_HEADER) + 2 * PREALLOC);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, PREALLOC, NOW, &rep);
	assert_int_equal(rep.records, 6); /* 6 commits of a record each */
	assert_int_equal(rep.groups, 6);
	assert_int_equal(rep.torn_bytes, 0);
	assert_true(rep.log_bytes < (uint64_t)sstest_file_size(fx->log));
	assert_int_equal(sstest_set(s, "after", "reopen", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 7);
	assert_int_equal(rep.groups, 7);
	sstest_assert_value(s, "after", "reopen", NOW);
	ss_store_close(s);
	free(value);
}

static void test_preallocation_enospc_falls_back_to_plain_append(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, PREALLOC, NOW, NULL);
	struct ss_error e = {0};

	/* The first pwrite of the first append is zero-filling ahead. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, ENOSPC, 0);
	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, &e), 0);
	assert_int_equal(fx->f.injected, 1);
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* Every zero-fill failing: still takes writes. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, ENOSPC, 0);
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, &e), 0);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, ENOSPC, 0);
	assert_int_equal(sstest_set(s, "c", "3", 0, NOW, &e), 0);
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* Truly full: the data write itself fails, and nothing of it stays. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, ENOSPC, 1);
	assert_int_equal(sstest_set(s, "d", "4", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, ENOSPC);
	sstest_fault_io_disarm(&fx->f);
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* Space again: preallocation resumes. */
	assert_int_equal(sstest_set(s, "e", "5", 0, NOW, &e), 0);
	assert_true(sstest_file_size(fx->log) > (long long)ss_store_log_bytes(s));
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 4);
	assert_int_equal(rep.groups, 4);
	sstest_assert_value(s, "d", NULL, NOW);
	sstest_assert_value(s, "e", "5", NOW);
	ss_store_close(s);
}

static void test_preallocation_eio_fails_the_write_cleanly(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, PREALLOC, NOW, NULL);
	struct ss_error e = {0};

	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 2, EIO, 0); /* second zero chunk */
	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	assert_int_equal(sstest_file_size(fx->log), strlen(SS_LOG_HEADER));
	assert_int_equal(sstest_set(s, "b", "2", 0, NOW, &e), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_value(s, "a", NULL, NOW);
	sstest_assert_value(s, "b", "2", NOW);
	ss_store_close(s);
}

static void test_open_fails_cleanly_when_the_torn_tail_cannot_be_cut(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store_options opt = {.dir = fx->dir, .io = &fx->f.io};
	struct ss_error e = {0};
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	struct ss_open_report rep;
	long long size;

	assert_int_equal(sstest_set(s, "a", "1", 0, NOW, NULL), 0);
	ss_store_close(s);
	size = sstest_file_size(fx->log);
	sstest_truncate(fx->log, size - 3);
	/* The first ftruncate is LOCK's (its pid record), the second the cut. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FTRUNCATE, 2, EIO, 0);
	assert_int_equal(ss_store_open(&s, &opt, NOW, NULL, &e), -1);
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_non_null(strstr(e.msg, fx->log));
	assert_int_equal(sstest_file_size(fx->log), size - 3);
	/* The lock was released: a healthy open works and cuts. */
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, size - 3 - strlen(SS_LOG_HEADER));
	ss_store_close(s);
}

static void test_open_fails_cleanly_when_the_header_cannot_be_written(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store_options opt = {.dir = fx->dir, .io = &fx->f.io};
	struct ss_error e = {0};
	struct ss_store *s;

	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EIO, 0);
	assert_int_equal(ss_store_open(&s, &opt, NOW, NULL, &e), -1);
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_non_null(strstr(e.msg, fx->log));
	sstest_fault_io_disarm(&fx->f);
	s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	assert_int_equal(ss_store_log_bytes(s), strlen(SS_LOG_HEADER));
	ss_store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_failed_append_leaves_log_and_table_unchanged),
		T(test_failed_append_inside_preallocated_space),
		T(test_short_write_once_is_retried),
		T(test_sync_failure_poisons_the_store),
		T(test_failed_cut_back_breaks_the_store),
		T(test_failed_zero_rewrite_breaks_the_store),
		T(test_preallocation_keeps_zeros_past_the_logical_end),
		T(test_preallocation_enospc_falls_back_to_plain_append),
		T(test_preallocation_eio_fails_the_write_cleanly),
		T(test_open_fails_cleanly_when_the_torn_tail_cannot_be_cut),
		T(test_open_fails_cleanly_when_the_header_cannot_be_written),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
