/*
 * test_compact.c - compaction rewrites the log as the live state: the same
 * state before and after and across a reopen, expired entries gone, written
 * as groups, and at every failure or crash point either the old log or the
 * new one, complete. The non-blocking form - the snapshot walked in steps
 * over the live table while the store commits to the old log, then
 * catch-up rounds copy that tail across - ends with everything in the new
 * log, or, on abort or failure, in the old. Revisions, commit times,
 * histories and the store's revision survive it exactly; the revision
 * never goes down. (That a walk the table changes under replays exactly
 * however the commits fall between its steps: test_snapshot.c.)
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

#include "statestored/snapshot.h"
#include "sstest.h"

#define NOW 1000000

static char *dump(struct ss_store *s)
{
	return sstest_dump(ss_store_table(s), NOW);
}

/* Reads the log at path as a snapshot must be: the header, then groups of
 * 1..SS_SNAPSHOT_GROUP_MAX records: first one REVISION record holding rev
 * (none if rev is 0), then SET records and nothing else. Returns the
 * number of groups; *sets gets the number of SET records. */
static size_t snapshot_groups(const char *path, uint64_t rev, size_t *sets)
{
	size_t len, pos = strlen(SS_LOG_HEADER), used, groups = 0, recs = 0;
	char *buf = sstest_read_file(path, &len);
	struct ss_record r;

	assert_non_null(buf);
	assert_memory_equal(buf, SS_LOG_HEADER, pos);
	*sets = 0;
	while (pos < len) {
		assert_int_equal(ss_record_decode(buf + pos, len - pos, &r, &used), SS_DEC_OK);
		assert_int_equal(r.type, SS_REC_GROUP);
		assert_true(r.count >= 1 && r.count <= SS_SNAPSHOT_GROUP_MAX);
		pos += used;
		groups++;
		for (uint32_t k = 0; k < r.count; k++, recs++) {
			struct ss_record x;

			assert_int_equal(ss_record_decode(buf + pos, len - pos, &x, &used),
					 SS_DEC_OK);
			if (recs == 0 && rev > 0) {
				assert_int_equal(x.type, SS_REC_REV);
				assert_int_equal(x.rev, rev);
			} else {
				assert_int_equal(x.type, SS_REC_SET);
				assert_true(x.rev >= 1 && x.rev <= rev);
				(*sets)++;
			}
			pos += used;
		}
	}
	free(buf);
	return groups;
}

/* Fills s with entries of many sizes, overwrites, deletes and TTLs (some
 * already expired at NOW). */
static void fill(struct ss_store *s, int n)
{
	char name[64];
	char *value = malloc(SS_VALUE_MAX + 1);
	uint32_t x = 12345;

	for (int i = 0; i < n; i++) {
		size_t vlen;
		int64_t expire;

		x = x * 1103515245u + 12345u;
		vlen = i % 10 == 0 ? SS_VALUE_MAX : (i % 3 == 0 ? 1 : (x >> 8) % 2000 + 1);
		memset(value, 'a' + (int)(x % 26), vlen);
		value[vlen] = '\0';
		expire = i % 4 == 1 ? NOW + 1 + i : (i % 4 == 2 ? NOW + 100000 + i : 0);
		snprintf(name, sizeof(name), "pipeline-%d", i % (n / 2 + 1));
		assert_int_equal(sstest_set(s, name, value, expire, NOW - 10, NULL), 0);
		if (i % 7 == 0)
			assert_int_equal(sstest_del(s, name, NOW - 10, NULL), 0);
	}
	/* And two that were live when written but are expired at NOW. */
	assert_int_equal(sstest_set(s, "expires-at-now", "x", NOW, NOW - 10, NULL), 0);
	assert_int_equal(sstest_set(s, "expired-before", "x", NOW - 5, NOW - 10, NULL), 0);
	free(value);
}

static void test_state_is_identical_before_and_after(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	char *before;
	uint64_t old_bytes, rev;
	size_t groups, sets;

	fill(s, 300);
	before = dump(s);
	rev = ss_table_revision(ss_store_table(s));
	old_bytes = ss_store_log_bytes(s);
	assert_int_equal(ss_store_log_bytes_compacted(s), strlen(SS_LOG_HEADER));
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	sstest_assert_state(s, before, NOW);
	assert_true(ss_store_log_bytes(s) < old_bytes);
	assert_int_equal(ss_store_log_bytes(s), ss_store_log_bytes_compacted(s));
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	ss_store_close(s);
	groups = snapshot_groups(fx->log, rev, &sets);

	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	sstest_assert_state(s, before, NOW);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.expired, 0);
	/* The revision, then one SET per live entry (no history kept), in
	 * groups, nothing else. */
	assert_int_equal(sets, ss_table_count(ss_store_table(s)));
	assert_int_equal(rep.records, sets + 1);
	assert_int_equal(ss_table_revision(ss_store_table(s)), rev);
	assert_int_equal(rep.groups, groups);
	ss_store_close(s);
	free(before);
}

static void test_expired_entries_are_dropped(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, 1000, NULL);

	assert_int_equal(sstest_set(s, "short", "1", 2000, 1000, NULL), 0);
	assert_int_equal(sstest_set(s, "long", "2", 9000, 1000, NULL), 0);
	assert_int_equal(sstest_set(s, "forever", "3", 0, 1000, NULL), 0);
	assert_int_equal(ss_store_compact(s, 2000, NULL), 0);
	ss_store_close(s);
	/* Even opened with an earlier clock, "short" is gone from the log;
	 * "long" keeps its absolute expiry. */
	s = sstest_open(fx->dir, NULL, 0, 1000, &rep);
	assert_int_equal(rep.records, 3); /* the revision, long, forever */
	assert_int_equal(rep.groups, 1);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 3);
	sstest_assert_value(s, "short", NULL, 1000);
	sstest_assert_value(s, "long", "2", 8999);
	sstest_assert_value(s, "forever", "3", 1000);
	sstest_assert_value(s, "long", NULL, 9000);
	ss_store_close(s);
}

static void test_appends_after_compaction_go_to_the_new_log(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 4096, NOW, NULL);
	uint64_t compacted;

	for (int i = 0; i < 50; i++)
		assert_int_equal(sstest_set(s, "a", i % 2 ? "odd" : "even", 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(s, "b", "keep", 0, NOW, NULL), 0);
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	compacted = ss_store_log_bytes(s);
	assert_int_equal(sstest_file_size(fx->log), compacted); /* no preallocated zeros */
	assert_int_equal(sstest_set(s, "c", "new", 0, NOW, NULL), 0);
	assert_int_equal(sstest_del(s, "b", NOW, NULL), 0);
	assert_true(ss_store_log_bytes(s) > compacted);
	assert_int_equal(ss_store_log_bytes_compacted(s), compacted);
	assert_true(sstest_file_size(fx->log) >= (long long)ss_store_log_bytes(s));
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, 5); /* the snapshot's 3 records, 2 commits of 1 */
	assert_int_equal(rep.groups, 3);
	sstest_assert_value(s, "a", "odd", NOW);
	sstest_assert_value(s, "b", NULL, NOW);
	sstest_assert_value(s, "c", "new", NOW);
	ss_store_close(s);
}

static void test_compaction_spanning_many_buffers(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	char *value = malloc(SS_VALUE_MAX + 1);
	char *before;
	char name[32];

	memset(value, 'v', SS_VALUE_MAX);
	value[SS_VALUE_MAX] = '\0';
	for (int i = 0; i < 100; i++) { /* about 6.5 MB */
		snprintf(name, sizeof(name), "big-%d", i);
		assert_int_equal(sstest_set(s, name, value, 0, NOW, NULL), 0);
	}
	before = dump(s);
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_state(s, before, NOW);
	ss_store_close(s);
	free(before);
	free(value);
}

/* Crash after the temp file was (partly or wholly) written, before the
 * rename: the old log is the log, and the temp file is removed at open. */
static void test_crash_before_the_rename_keeps_the_old_log(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	char *before, *log_before;
	size_t len_before;

	fill(s, 40);
	before = dump(s);
	log_before = sstest_read_file(fx->log, &len_before);
	/* The compactor got as far as a complete, synced temp file... */
	assert_int_equal(ss_snapshot_write(ss_store_table(s), NOW, fx->tmp, &ss_io_posix, NULL), 0);
	assert_true(sstest_file_size(fx->tmp) > 0);
	ss_store_close(s); /* ...and the process died. */

	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 1);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	sstest_assert_state(s, before, NOW);
	ss_store_close(s);
	sstest_assert_file_equals(fx->log, log_before, len_before);

	/* A temp file torn mid-write changes nothing either. */
	sstest_write_file(fx->tmp, "statestored-log 2\nSET_CHECKPOINT half", 36);
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 1);
	sstest_assert_state(s, before, NOW);
	ss_store_close(s);
	free(before);
	free(log_before);
}

/* Crash after the rename, before the directory fsync: the new log is the
 * log, and it is complete. */
static void test_crash_after_the_rename_has_the_new_log(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	char *before;
	size_t groups, sets;
	uint64_t rev;

	fill(s, 40);
	before = dump(s);
	rev = ss_table_revision(ss_store_table(s));
	assert_int_equal(ss_snapshot_write(ss_store_table(s), NOW, fx->tmp, &ss_io_posix, NULL), 0);
	assert_int_equal(rename(fx->tmp, fx->log), 0);
	ss_store_close(s);
	groups = snapshot_groups(fx->log, rev, &sets);

	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.removed_tmp, 0);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_state(s, before, NOW);
	assert_int_equal(sets, ss_table_count(ss_store_table(s)));
	assert_int_equal(rep.records, sets + 1);
	assert_int_equal(rep.groups, groups);
	assert_int_equal(ss_table_revision(ss_store_table(s)), rev);
	ss_store_close(s);
	free(before);
}

/* After one injected fault made a compaction step fail with e (errno err):
 * the old log is still the log, byte for byte log_before[0..len_before),
 * without a temp file; the table still holds want; and the store takes an
 * append that a reopen replays. Closes s. */
static void check_old_log_kept(struct sstest_fixture *fx, struct ss_store *s,
			       const struct ss_error *e, int err, const char *log_before,
			       size_t len_before, const char *want)
{
	assert_int_equal(fx->f.injected, 1);
	assert_int_equal(e->kind, SS_ERR_IO);
	assert_int_equal(e->sys_errno, err);
	assert_non_null(strstr(e->msg, fx->tmp));
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	sstest_assert_file_equals(fx->log, log_before, len_before);
	assert_int_equal(ss_store_log_bytes_compacted(s), strlen(SS_LOG_HEADER));
	sstest_assert_state(s, want, NOW);
	/* Still the log, still appendable. */
	assert_int_equal(sstest_set(s, "after-failure", "1", 0, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_value(s, "after-failure", "1", NOW);
	assert_int_equal(sstest_del(s, "after-failure", NOW, NULL), 0);
	sstest_assert_state(s, want, NOW);
	ss_store_close(s);
}

/* Injects one failure into compaction and checks that the old log is still
 * the log, unchanged, without a temp file, and takes appends. */
static void check_failure_keeps_the_old_log(struct sstest_fixture *fx, enum sstest_op op,
					    unsigned long nth, int err)
{
	struct ss_store *s = sstest_reset(fx, 0, NOW);
	struct ss_error e = {0};
	char *before, *log_before;
	size_t len_before;

	fill(s, 60);
	before = dump(s);
	log_before = sstest_read_file(fx->log, &len_before);
	sstest_fault_io_arm(&fx->f, op, nth, err, 0);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	assert_int_equal(ss_store_log_bytes(s), len_before);
	check_old_log_kept(fx, s, &e, err, log_before, len_before, before);
	free(before);
	free(log_before);
}

static void test_failures_before_the_rename_keep_the_old_log(void **state)
{
	struct sstest_fixture *fx = *state;

	check_failure_keeps_the_old_log(fx, SSTEST_OP_OPEN, 1, EACCES);  /* creating tmp */
	check_failure_keeps_the_old_log(fx, SSTEST_OP_PWRITE, 1, ENOSPC); /* writing tmp */
	check_failure_keeps_the_old_log(fx, SSTEST_OP_PWRITE, 1, EIO);
	check_failure_keeps_the_old_log(fx, SSTEST_OP_FDATASYNC, 1, EIO); /* syncing tmp */
	check_failure_keeps_the_old_log(fx, SSTEST_OP_CLOSE, 1, EIO);     /* closing tmp */
	check_failure_keeps_the_old_log(fx, SSTEST_OP_OPEN, 2, EMFILE);   /* reopening tmp */
	check_failure_keeps_the_old_log(fx, SSTEST_OP_RENAME, 1, EIO);
	check_failure_keeps_the_old_log(fx, SSTEST_OP_RENAME, 1, ENOSPC);
}

static void test_failure_midway_through_a_large_snapshot(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	char *value = malloc(SS_VALUE_MAX + 1);
	struct ss_error e;
	char name[32];

	memset(value, 'v', SS_VALUE_MAX);
	value[SS_VALUE_MAX] = '\0';
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "big-%d", i);
		assert_int_equal(sstest_set(s, name, value, 0, NOW, NULL), 0);
	}
	/* The disk fills midway: the first write of snapshot bytes (all of
	 * them, or the first of several) stores half of them, and the retry
	 * of the rest fails. The snapshot must not be completed by a retry
	 * that skips the rest. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 1, SSTEST_SHORT_WRITE, 0);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_PWRITE, 2, ENOSPC, 0);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	assert_int_equal(fx->f.injected, 2);
	assert_int_equal(e.sys_errno, ENOSPC);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* And once the disk has room again, compaction works. */
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	assert_int_equal(ss_table_count(ss_store_table(s)), 60);
	ss_store_close(s);
	free(value);
}

static void test_directory_fsync_failure_after_rename_poisons(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ss_error e = {0};
	char *before;

	fill(s, 30);
	before = dump(s);
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FSYNC, 1, EIO, 0);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	assert_int_equal(e.kind, SS_ERR_IO);
	assert_int_equal(e.sys_errno, EIO);
	/* The new file is the log... */
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	assert_int_equal(ss_store_log_bytes(s), ss_store_log_bytes_compacted(s));
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* ...but nothing more may be acknowledged. */
	assert_int_equal(sstest_set(s, "x", "1", 0, NOW, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	assert_int_equal(ss_store_sync(s, &e), -1);
	assert_int_equal(ss_store_compact(s, NOW, &e), -1);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_state(s, before, NOW);
	ss_store_close(s);
	free(before);
}

static void test_a_large_snapshot_is_written_as_several_groups(void **state)
{
	struct sstest_fixture *fx = *state;
	const size_t n = 2 * SS_SNAPSHOT_GROUP_MAX + 1000;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	struct ss_batch b;
	char name[32], *before;
	size_t groups, sets;

	/* One commit of n SETs: itself one group of n records. */
	ss_batch_init(&b);
	for (size_t i = 0; i < n; i++) {
		struct ss_record r = {.type = SS_REC_SET, .name = name, .value = "v", .rev = i + 1};

		r.nlen = (size_t)snprintf(name, sizeof(name), "entry-%zu", i);
		r.vlen = 1;
		assert_int_equal(ss_batch_add(&b, &r, NULL), 0);
	}
	assert_int_equal(sstest_commit(s, &b, NOW, NULL), 0);
	ss_batch_free(&b);
	before = dump(s);
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	ss_store_close(s);

	groups = snapshot_groups(fx->log, n, &sets);
	assert_int_equal(sets, n);
	assert_int_equal(groups, 3); /* 4096 + 4096 + 1001 small records */
	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.records, n + 1);
	assert_int_equal(rep.groups, groups);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_state(s, before, NOW);
	ss_store_close(s);
	free(before);
}

/* Commits one batch of k mutations of name (a SET of value, or a DEL if
 * value is NULL; k > 1 adds names name-1.. too). */
static void commit(struct ss_store *s, const char *name, const char *value, int k)
{
	uint64_t rev = ss_table_revision(ss_store_table(s));
	struct ss_batch b;
	char nm[64];

	ss_batch_init(&b);
	for (int i = 0; i < k; i++) {
		struct ss_record r = {.type = value ? SS_REC_SET : SS_REC_DEL,
				      .name = nm,
				      .rev = ++rev,
				      .commit_ms = NOW};

		r.nlen = (size_t)(i == 0 ? snprintf(nm, sizeof(nm), "%s", name) :
					   snprintf(nm, sizeof(nm), "%s-%d", name, i));
		if (value) {
			r.value = value;
			r.vlen = strlen(value);
		}
		assert_int_equal(ss_batch_add(&b, &r, NULL), 0);
	}
	assert_int_equal(sstest_commit(s, &b, NOW, NULL), 0);
	ss_batch_free(&b);
}

/* Commits while a compaction runs: overwrite and delete entries the
 * snapshot holds, add new ones, some batches of many. Batches from..to-1
 * of 40, then one more named tag. */
static void commit_during_snapshot(struct ss_store *s, int from, int to, const char *tag)
{
	char name[64];

	for (int i = from; i < to; i++) {
		snprintf(name, sizeof(name), "pipeline-%d", i);
		if (i % 5 == 0)
			commit(s, name, NULL, 1);
		else
			commit(s, name, i % 2 ? "after-begin" : "x", i % 3 + 1);
	}
	commit(s, tag, "1", 7);
}

/* A compaction's start and its whole walk, with nothing committed
 * between: the snapshot holds the table as it is, at NOW. */
static void walk_snapshot(struct ss_store *s)
{
	struct sstest_walk w;

	sstest_walk_begin(&w, s, 0, NOW, NULL);
	(void)sstest_walk_end(&w);
}

/* One catch-up round as a caller with a thread runs it, with commits made
 * while the job is out (they land past what it copies). Returns what
 * ss_store_compact_round returned. */
static int round_with_commits(struct ss_store *s, uint64_t min, int from, int to, const char *tag)
{
	struct ss_compact_job job;
	int r = ss_store_compact_round(s, min, &job, NULL);

	if (r != 1)
		return r;
	assert_true(job.to > job.from);
	assert_int_equal(job.to, ss_store_log_bytes(s));
	commit_during_snapshot(s, from, to, tag);
	ss_compact_job_run(&job);
	assert_int_equal(job.errnum, 0);
	assert_int_equal(ss_store_compact_round_end(s, &job, NULL), 0);
	return 1;
}

static void test_walked_snapshot_plus_tail_holds_everything(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_open_report rep;
	struct ss_store *s = sstest_open(fx->dir, NULL, 4096, NOW, NULL);
	struct sstest_walk w;
	char *want;
	uint64_t old_bytes;

	fill(s, 200);
	sstest_walk_begin(&w, s, 0, NOW, NULL);
	assert_int_equal(sstest_file_size(fx->tmp), 0);
	/* Commits before the walk reaches their names: in the tail, and in
	 * the snapshot too. Then commits after it: in the tail only. */
	commit_during_snapshot(s, 0, 8, "before-walk");
	while (sstest_walk_step(&w, 1))
		;
	commit_during_snapshot(s, 8, 15, "before-rounds");
	(void)sstest_walk_end(&w);
	/* Two rounds, each with commits while it copies, then the finish
	 * copies what those left. */
	assert_int_equal(round_with_commits(s, 0, 15, 30, "during-round-1"), 1);
	assert_int_equal(round_with_commits(s, 0, 30, 40, "during-round-2"), 1);
	old_bytes = ss_store_log_bytes(s);
	/* More than a little left: another round; not so with a large min. */
	struct ss_compact_job job;
	assert_int_equal(ss_store_compact_round(s, old_bytes, &job, NULL), 0);
	assert_int_equal(ss_store_compact_finish(s, NULL), 0);

	want = dump(s);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	assert_true(ss_store_log_bytes(s) < old_bytes);
	assert_int_equal(ss_store_log_bytes(s), ss_store_log_bytes_compacted(s));
	assert_int_equal(sstest_file_size(fx->log), ss_store_log_bytes(s));
	/* Appends go to the new file, preallocated afresh. */
	assert_int_equal(sstest_set(s, "after-finish", "1", 0, NOW, NULL), 0);
	assert_true(sstest_file_size(fx->log) > (long long)ss_store_log_bytes(s));
	sstest_assert_value(s, "after-finish", "1", NOW);
	assert_int_equal(sstest_del(s, "after-finish", NOW, NULL), 0);
	ss_store_close(s);

	s = sstest_open(fx->dir, NULL, 0, NOW, &rep);
	assert_int_equal(rep.torn_bytes, 0);
	sstest_assert_state(s, want, NOW);
	sstest_assert_value(s, "pipeline-1", "after-begin", NOW);
	sstest_assert_value(s, "pipeline-5", NULL, NOW);
	sstest_assert_value(s, "before-walk-6", "1", NOW);
	sstest_assert_value(s, "before-rounds-6", "1", NOW);
	sstest_assert_value(s, "during-round-1-6", "1", NOW);
	sstest_assert_value(s, "during-round-2-6", "1", NOW);
	ss_store_close(s);
	free(want);
}

/* A batch written but not yet applied as the walk begins (its sync in
 * flight on the syncer): begin's unapplied puts it in the tail. The walk
 * misses it if it is over before the batch is applied, and finds it (so
 * the snapshot holds it too, and replay takes it once) if not. */
static void test_a_batch_unapplied_as_the_walk_begins_is_in_the_tail(void **state)
{
	struct sstest_fixture *fx = *state;

	for (int walk_first = 0; walk_first < 2; walk_first++) {
		struct ss_store *s = sstest_reset(fx, 0, NOW);
		struct ss_record r = {.type = SS_REC_SET, .name = "inflight", .nlen = 8,
				      .value = "v", .vlen = 1, .commit_ms = NOW};
		struct sstest_walk w;
		struct ss_batch b;
		size_t len;
		char *want;

		fill(s, 20);
		r.rev = ss_table_revision(ss_store_table(s)) + 1;
		ss_batch_init(&b);
		assert_int_equal(ss_batch_add(&b, &r, NULL), 0);
		assert_int_equal(ss_store_write(s, &b, NULL), 0);
		(void)ss_batch_seal(&b, &len);
		sstest_walk_begin(&w, s, len, NOW, NULL);
		if (walk_first) {
			while (sstest_walk_step(&w, 1))
				;
		}
		assert_int_equal(ss_store_sync(s, NULL), 0);
		assert_int_equal(ss_store_apply(s, &b, NOW), 0);
		(void)sstest_walk_end(&w);
		assert_int_equal(ss_store_compact_finish(s, NULL), 0);
		want = sstest_dump_full(ss_store_table(s), NOW);
		ss_store_close(s);
		s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
		sstest_assert_value(s, "inflight", "v", NOW);
		char *got = sstest_dump_full(ss_store_table(s), NOW);
		assert_string_equal(got, want);
		ss_store_close(s);
		ss_batch_free(&b);
		free(got);
		free(want);
	}
}

static void test_abort_leaves_the_old_log(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, NULL, 4096, NOW, NULL);
	struct sstest_walk w;
	const char *tmp;
	char *want, *log_before;
	size_t len_before;

	fill(s, 60);
	/* A stale temp file is removed by begin. */
	sstest_write_file(fx->tmp, "statestored-log 2\nGROUP", 24);
	assert_int_equal(ss_store_compact_begin(s, 0, &tmp, NULL), 0);
	assert_string_equal(tmp, fx->tmp);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	sstest_walk_begin(&w, s, 0, NOW, NULL);
	commit_during_snapshot(s, 0, 40, "new-since-begin");
	(void)sstest_walk_end(&w);
	assert_int_equal(round_with_commits(s, 0, 0, 10, "during-round"), 1);
	want = dump(s);
	log_before = sstest_read_file(fx->log, &len_before);
	ss_store_compact_abort(s);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	sstest_assert_file_equals(fx->log, log_before, len_before);
	assert_int_equal(ss_store_log_bytes_compacted(s), strlen(SS_LOG_HEADER));
	/* The old log takes appends as before. */
	assert_int_equal(sstest_set(s, "after-abort", "1", 0, NOW, NULL), 0);
	assert_int_equal(sstest_del(s, "after-abort", NOW, NULL), 0);
	ss_store_close(s);
	s = sstest_open(fx->dir, NULL, 0, NOW, NULL);
	sstest_assert_state(s, want, NOW);
	ss_store_close(s);
	free(want);
	free(log_before);
}

/* Where check_tail_failure_keeps_the_old_log injects its fault. */
enum tail_step {
	IN_A_ROUND,        /* the first catch-up round */
	IN_THE_FINISH,     /* the finish, after a round and one more commit */
	IN_A_LONE_FINISH,  /* a finish with no round before it */
};

/* Fails a background compaction with err on the nth call of op (counted
 * from the step) and checks that the old log is the log, unchanged,
 * without a temp file, and appendable, and that it replays to everything. */
static void check_tail_failure_keeps_the_old_log(struct sstest_fixture *fx, enum tail_step step,
						 enum sstest_op op, unsigned long nth, int err)
{
	struct ss_store *s = sstest_reset(fx, 4096, NOW);
	struct ss_compact_job job;
	struct ss_error e = {0};
	struct sstest_walk w;
	char *want, *log_before;
	size_t len_before;

	fill(s, 40);
	sstest_walk_begin(&w, s, 0, NOW, NULL);
	commit_during_snapshot(s, 0, 40, "new-since-begin");
	(void)sstest_walk_end(&w);
	if (step == IN_THE_FINISH) {
		assert_int_equal(round_with_commits(s, 0, 0, 5, "during-round"), 1);
		commit(s, "after-round", "r", 1);
	}
	want = dump(s);
	log_before = sstest_read_file(fx->log, &len_before);
	sstest_fault_io_arm(&fx->f, op, nth, err, 0);
	if (step == IN_A_ROUND) {
		int r = ss_store_compact_round(s, 0, &job, &e);
		if (r == 1) {
			ss_compact_job_run(&job);
			r = ss_store_compact_round_end(s, &job, &e);
		}
		assert_int_equal(r, -1);
	} else {
		assert_int_equal(ss_store_compact_finish(s, &e), -1);
	}
	check_old_log_kept(fx, s, &e, err, log_before, len_before, want);
	free(want);
	free(log_before);
}

static void test_tail_failures_keep_the_old_log_appendable(void **state)
{
	struct sstest_fixture *fx = *state;

	/* In a round: opening the snapshot, the copy, its sync. */
	check_tail_failure_keeps_the_old_log(fx, IN_A_ROUND, SSTEST_OP_OPEN, 1, EMFILE);
	check_tail_failure_keeps_the_old_log(fx, IN_A_ROUND, SSTEST_OP_PWRITE, 1, ENOSPC);
	check_tail_failure_keeps_the_old_log(fx, IN_A_ROUND, SSTEST_OP_FDATASYNC, 1, EIO);
	/* In the finish after a round: the last copy, its sync, the rename. */
	check_tail_failure_keeps_the_old_log(fx, IN_THE_FINISH, SSTEST_OP_PWRITE, 1, ENOSPC);
	check_tail_failure_keeps_the_old_log(fx, IN_THE_FINISH, SSTEST_OP_FDATASYNC, 1, EIO);
	check_tail_failure_keeps_the_old_log(fx, IN_THE_FINISH, SSTEST_OP_RENAME, 1, EIO);
	/* In a finish with no round: opening the snapshot, the copy, its sync. */
	check_tail_failure_keeps_the_old_log(fx, IN_A_LONE_FINISH, SSTEST_OP_OPEN, 1, EMFILE);
	check_tail_failure_keeps_the_old_log(fx, IN_A_LONE_FINISH, SSTEST_OP_PWRITE, 1, ENOSPC);
	check_tail_failure_keeps_the_old_log(fx, IN_A_LONE_FINISH, SSTEST_OP_FDATASYNC, 1, EIO);
}

static void test_finish_on_a_poisoned_store_fails_and_removes_the_temp(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, &fx->f.io, 0, NOW, NULL);
	struct ss_compact_job job;
	struct ss_error e = {0};
	const char *tmp;

	fill(s, 20);
	walk_snapshot(s);
	/* A commit's sync fails meanwhile: the server would exit; the store
	 * takes nothing more, the snapshot included. */
	sstest_fault_io_arm(&fx->f, SSTEST_OP_FDATASYNC, 1, EIO, 0);
	assert_int_equal(sstest_set(s, "doomed", "1", 0, NOW, &e), -1);
	assert_int_equal(ss_store_compact_round(s, 0, &job, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	assert_int_equal(sstest_file_size(fx->tmp), -1);
	assert_int_equal(ss_store_compact_begin(s, 0, &tmp, &e), -1);
	assert_int_equal(e.sys_errno, EIO);
	ss_store_close(s);
}

/* The full state (revisions, commit times, histories) of s at now_ms. */
static char *dump_full(struct ss_store *s, int64_t now_ms)
{
	return sstest_dump_full(ss_store_table(s), now_ms);
}

/* Reopens fx->dir with the given history depth and asserts its full state
 * at now_ms is want. Returns the store. */
static struct ss_store *reopen_as(struct sstest_fixture *fx, struct ss_store *s, unsigned depth,
				  int64_t now_ms, const char *want)
{
	char *got;

	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, depth, now_ms, NULL);
	got = dump_full(s, now_ms);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "reopened with depth %u:\n%s\nwant:\n%s\n", depth, got, want);
	assert_string_equal(got, want);
	free(got);
	return s;
}

/* A revision is never reused: the store's revision survives compaction
 * even when the names that took the highest revisions are deleted or
 * expired and so left out of the snapshot. */
static void test_the_store_revision_never_goes_down_through_compaction(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open(fx->dir, NULL, 0, 1000, NULL);

	assert_int_equal(sstest_set(s, "a", "1", 0, 1000, NULL), 0);
	assert_int_equal(sstest_set(s, "b", "2", 0, 1001, NULL), 0);
	assert_int_equal(sstest_del(s, "b", 1002, NULL), 0); /* the highest revision */
	assert_int_equal(ss_table_revision(ss_store_table(s)), 3);
	assert_int_equal(ss_store_compact(s, 1003, NULL), 0);
	s = reopen_as(fx, s, 0, 1003, "revision 3\na expire 0: 1@1000=1\n");
	/* The next commit takes 4, not 3 again. */
	assert_int_equal(sstest_set(s, "b", "again", 0, 1004, NULL), 0);
	s = reopen_as(fx, s, 0, 1004, "revision 4\na expire 0: 1@1000=1\nb expire 0: 4@1004=again\n");
	/* The newest revision taken by an entry that expires before the
	 * compaction. */
	assert_int_equal(sstest_set(s, "short", "x", 2000, 1005, NULL), 0);
	assert_int_equal(ss_store_compact(s, 2000, NULL), 0);
	s = reopen_as(fx, s, 0, 2000,
		      "revision 5\na expire 0: 1@1000=1\nb expire 0: 4@1004=again\n");
	/* Every pipeline deleted: the log holds the revision alone. */
	assert_int_equal(sstest_del(s, "a", 2001, NULL), 0);
	assert_int_equal(sstest_del(s, "b", 2002, NULL), 0);
	assert_int_equal(ss_store_compact(s, 2003, NULL), 0);
	s = reopen_as(fx, s, 0, 2003, "revision 7\n");
	{
		size_t sets;

		assert_int_equal(snapshot_groups(fx->log, 7, &sets), 1);
		assert_int_equal(sets, 0);
	}
	/* Compacting again, and again, keeps it. */
	assert_int_equal(ss_store_compact(s, 2004, NULL), 0);
	assert_int_equal(ss_store_compact(s, 2005, NULL), 0);
	s = reopen_as(fx, s, 0, 2005, "revision 7\n");
	assert_int_equal(sstest_set(s, "c", "1", 0, 2006, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 8);
	ss_store_close(s);
}

/* Several versions per name, at history depth 3: a snapshot writes each
 * name's history oldest first before its current version, so compaction
 * and reopen give back every version exactly - revision, commit time and
 * value - and the store's revision. */
static void fill_history(struct ss_store *s)
{
	const char *mnames[] = {"multi-a", "multi-b"}, *mvalues[] = {"m1", "m2"};
	char value[32];

	for (int i = 0; i < 6; i++) { /* more versions than the depth */
		snprintf(value, sizeof(value), "deep-%d", i);
		assert_int_equal(sstest_set(s, "deep", value, 0, 1000 + i, NULL), 0);
	}
	assert_int_equal(sstest_set(s, "two", "t1", 0, 1010, NULL), 0);
	assert_int_equal(sstest_set(s, "two", "t2", 50000, 1011, NULL), 0); /* live TTL */
	assert_int_equal(sstest_set(s, "one", "o1", 0, 1012, NULL), 0);
	assert_int_equal(sstest_set_bytes(s, "any\0 bytes\n", 11, "v\\1", 3, 0, 1013, NULL), 0);
	assert_int_equal(sstest_set_bytes(s, "any\0 bytes\n", 11, "\xff\x7f", 2, 0, 1014, NULL),
			 0);
	assert_int_equal(sstest_multi_set(s, mnames, mvalues, 2, 1015, NULL), 0);
	assert_int_equal(sstest_multi_set(s, mnames, mvalues + 1, 1, 1016, NULL), 0);
	assert_int_equal(sstest_set(s, "reborn", "r1", 0, 1017, NULL), 0);
	assert_int_equal(sstest_set(s, "reborn", "r2", 0, 1018, NULL), 0);
	assert_int_equal(sstest_del(s, "reborn", 1019, NULL), 0); /* drops the history */
	assert_int_equal(sstest_set(s, "reborn", "r3", 0, 1020, NULL), 0);
	assert_int_equal(sstest_set(s, "lapsed", "l1", 1500, 1021, NULL), 0);
	assert_int_equal(sstest_set(s, "lapsed", "l2", 0, 2000, NULL), 0); /* over an expired one */
	assert_int_equal(sstest_set(s, "gone", "g1", 0, 2001, NULL), 0);
	assert_int_equal(sstest_del(s, "gone", 2002, NULL), 0);
}

static const char history_want[] = "revision 21\n"
				   "any\\x00\\x20bytes\\x0a expire 0: 11@1014=\\xff\\x7f "
				   "10@1013=v\\x5c1\n"
				   "deep expire 0: 6@1005=deep-5 5@1004=deep-4 4@1003=deep-3 "
				   "3@1002=deep-2\n"
				   "lapsed expire 0: 19@2000=l2\n"
				   "multi-a expire 0: 13@1016=m2 12@1015=m1\n"
				   "multi-b expire 0: 12@1015=m2\n"
				   "one expire 0: 9@1012=o1\n"
				   "reborn expire 0: 17@1020=r3\n"
				   "two expire 50000: 8@1011=t2 7@1010=t1\n";

static void test_history_survives_compaction_and_reopen_exactly(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open_history(fx->dir, NULL, 0, 3, 1000, NULL);
	char *before, *after;
	size_t sets;

	fill_history(s);
	before = dump_full(s, 2003);
	assert_string_equal(before, history_want);
	/* Replay of the log as written. */
	s = reopen_as(fx, s, 3, 2003, history_want);
	/* Compaction changes no state... */
	assert_int_equal(ss_store_compact(s, 2003, NULL), 0);
	after = dump_full(s, 2003);
	assert_string_equal(after, before);
	free(after);
	/* ...writes the revision and every version as a SET... */
	assert_int_equal(snapshot_groups(fx->log, 21, &sets), 1);
	assert_int_equal(sets, 2 + 4 + 1 + 1 + 2 + 1 + 1 + 2);
	/* ...and the compacted log replays to it exactly, and again after a
	 * second compaction of the replayed state. */
	s = reopen_as(fx, s, 3, 2003, history_want);
	assert_int_equal(ss_store_compact(s, 2003, NULL), 0);
	s = reopen_as(fx, s, 3, 2003, history_want);
	/* A deeper store reads the same; a shallower one keeps less. */
	s = reopen_as(fx, s, 10, 2003, history_want);
	s = reopen_as(fx, s, 1, 2003,
		      "revision 21\n"
		      "any\\x00\\x20bytes\\x0a expire 0: 11@1014=\\xff\\x7f 10@1013=v\\x5c1\n"
		      "deep expire 0: 6@1005=deep-5 5@1004=deep-4\n"
		      "lapsed expire 0: 19@2000=l2\n"
		      "multi-a expire 0: 13@1016=m2 12@1015=m1\n"
		      "multi-b expire 0: 12@1015=m2\n"
		      "one expire 0: 9@1012=o1\n"
		      "reborn expire 0: 17@1020=r3\n"
		      "two expire 50000: 8@1011=t2 7@1010=t1\n");
	/* Past "two"'s expiry, a compaction drops it with its history; the
	 * store's revision stays. */
	ss_store_close(s);
	s = sstest_open_history(fx->dir, NULL, 0, 3, 50000, NULL);
	assert_int_equal(ss_store_compact(s, 50000, NULL), 0);
	s = reopen_as(fx, s, 3, 1000,
		      "revision 21\n"
		      "any\\x00\\x20bytes\\x0a expire 0: 11@1014=\\xff\\x7f 10@1013=v\\x5c1\n"
		      "deep expire 0: 6@1005=deep-5 5@1004=deep-4 4@1003=deep-3 3@1002=deep-2\n"
		      "lapsed expire 0: 19@2000=l2\n"
		      "multi-a expire 0: 13@1016=m2 12@1015=m1\n"
		      "multi-b expire 0: 12@1015=m2\n"
		      "one expire 0: 9@1012=o1\n"
		      "reborn expire 0: 17@1020=r3\n");
	ss_store_close(s);
	free(before);
}

/* The non-blocking form: the walked snapshot holds the histories as the
 * walk found them, the tail the versions committed since it began -
 * some of which the snapshot holds too; together they replay to the full
 * state. */
static void test_walked_snapshot_plus_tail_keeps_histories(void **state)
{
	struct sstest_fixture *fx = *state;
	struct ss_store *s = sstest_open_history(fx->dir, NULL, 4096, 3, 1000, NULL);
	struct sstest_walk w;
	char *want;

	fill_history(s);
	sstest_walk_begin(&w, s, 0, NOW, NULL);
	/* Versions pushed after the walk began, before it reached their
	 * names: in the tail, and in the snapshot with the versions they
	 * pushed down; "reborn" is in neither but the tail's DEL. */
	assert_int_equal(sstest_set(s, "deep", "deep-6", 0, 3000, NULL), 0);
	assert_int_equal(sstest_set(s, "one", "o2", 0, 3001, NULL), 0);
	assert_int_equal(sstest_del(s, "reborn", 3002, NULL), 0);
	(void)sstest_walk_end(&w);
	assert_int_equal(round_with_commits(s, 0, 0, 3, "during-round"), 1);
	assert_int_equal(sstest_set(s, "deep", "deep-7", 0, 3003, NULL), 0);
	assert_int_equal(ss_store_compact_finish(s, NULL), 0);
	/* At the walk's clock, NOW: "two" has expired. */
	want = dump_full(s, NOW);
	assert_non_null(strstr(want, "deep expire 0: 38@3003=deep-7 22@3000=deep-6 6@1005=deep-5 "
				     "5@1004=deep-4\n"));
	assert_non_null(strstr(want, "one expire 0: 23@3001=o2 9@1012=o1\n"));
	assert_null(strstr(want, "reborn"));
	s = reopen_as(fx, s, 3, NOW, want);
	assert_int_equal(ss_store_compact(s, NOW, NULL), 0);
	s = reopen_as(fx, s, 3, NOW, want);
	ss_store_close(s);
	free(want);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sstest_setup, sstest_teardown)
	const struct CMUnitTest tests[] = {
		T(test_state_is_identical_before_and_after),
		T(test_expired_entries_are_dropped),
		T(test_appends_after_compaction_go_to_the_new_log),
		T(test_compaction_spanning_many_buffers),
		T(test_crash_before_the_rename_keeps_the_old_log),
		T(test_crash_after_the_rename_has_the_new_log),
		T(test_failures_before_the_rename_keep_the_old_log),
		T(test_failure_midway_through_a_large_snapshot),
		T(test_directory_fsync_failure_after_rename_poisons),
		T(test_a_large_snapshot_is_written_as_several_groups),
		T(test_walked_snapshot_plus_tail_holds_everything),
		T(test_a_batch_unapplied_as_the_walk_begins_is_in_the_tail),
		T(test_abort_leaves_the_old_log),
		T(test_tail_failures_keep_the_old_log_appendable),
		T(test_finish_on_a_poisoned_store_fails_and_removes_the_temp),
		T(test_the_store_revision_never_goes_down_through_compaction),
		T(test_history_survives_compaction_and_reopen_exactly),
		T(test_walked_snapshot_plus_tail_keeps_histories),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
