/*
 * test_backup.c - an online backup (store.h: ss_store_backup_begin) is a
 * compaction that writes a new data directory: a walk over the live table
 * with commits between its steps, catch-up rounds, then the finish. What
 * it must show: the backup replays to exactly the store's state as of the
 * revision the finish returns - every version, history and the revision
 * counter included - restricted to the prefix when there is one, whatever
 * the tail holds (names under the prefix and outside it, DELs, groups that
 * mix both, escaped bytes, a group larger than the filter's first buffer);
 * a failure anywhere leaves neither DIR nor DIR.partial and the live store
 * writable; a target in use is refused; and ss_store_restore copies with
 * the same guarantee.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statestored/limits.h"
#include "statestored/snapshot.h"
#include "sstest.h"

#define NOW 1000000

struct fx {
	struct sstest_fixture *f;
	char *target;  /* <tmpdir>/bk: DIR */
	char *partial; /* DIR.partial */
	char *parent;  /* the tmpdir holding both */
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	if (sstest_setup((void **)&x->f) < 0)
		return -1;
	x->parent = sstest_tmpdir();
	x->target = sstest_path(x->parent, "bk");
	x->partial = sstest_path(x->parent, "bk.partial");
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	sstest_rmdir(x->parent);
	free(x->parent);
	free(x->target);
	free(x->partial);
	sstest_teardown((void **)&x->f);
	free(x);
	return 0;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The server's walk, in this thread: snapshot steps of one position, with
 * between_steps(s, step) called after each (it commits as it likes). */
static void walk(struct ss_store *s, const char *log, const char *prefix,
		 void (*between_steps)(struct ss_store *s, unsigned step))
{
	struct ss_snapshot snap;
	struct ss_snapshot_out out = {0};
	struct ss_error err = {0};
	uint64_t off = 0;
	unsigned step = 0;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), more;

	assert_true(fd >= 0);
	assert_int_equal(ss_snapshot_init(&snap, ss_store_table(s), NOW, 0, &err), 0);
	snap.prefix = prefix;
	snap.plen = prefix ? strlen(prefix) : 0;
	do {
		more = ss_snapshot_step(&snap, 1, &err);
		assert_true(more >= 0);
		out.len = 0;
		ss_snapshot_take(&snap, &out);
		assert_int_equal(ss_io_pwrite_all(&ss_io_posix, fd, out.p, out.len, (off_t)off), 0);
		off += out.len;
		if (between_steps)
			between_steps(s, step++);
	} while (more);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(close(fd), 0);
	ss_snapshot_free(&snap);
	ss_snapshot_out_free(&out);
}

/* Runs every catch-up round there is. */
static void rounds(struct ss_store *s)
{
	struct ss_compact_job job;
	struct ss_error err = {0};
	int r;

	while ((r = ss_store_compact_round(s, 0, &job, &err)) == 1) {
		ss_compact_job_run(&job);
		assert_int_equal(ss_store_compact_round_end(s, &job, &err), 0);
	}
	assert_int_equal(r, 0);
}

/* sstest_dump_full's lines of the names under prefix (its first line, the
 * revision, and the epochs, kept): the state a backup of prefix must
 * replay to. */
static char *only_prefix(char *dump, const char *prefix)
{
	char *out = calloc(1, strlen(dump) + 1), *line = dump, *nl;
	size_t n = 0;

	assert_non_null(out);
	for (int first = 1; *line; line = nl + 1, first = 0) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		if (first || !strncmp(line, "epochs ", 7) || !strncmp(line, prefix, strlen(prefix))) {
			memcpy(out + n, line, (size_t)(nl - line + 1));
			n += (size_t)(nl - line + 1);
		}
	}
	free(dump);
	return out;
}

static void commit_during_walk(struct ss_store *s, unsigned step)
{
	char name[32], value[32];

	/* Names on both sides of the cursor, in and out of the prefix. */
	snprintf(name, sizeof(name), "a/%03u", (step * 37) % 300);
	snprintf(value, sizeof(value), "walk%u", step);
	assert_int_equal(sstest_set(s, name, value, 0, NOW, NULL), 0);
	snprintf(name, sizeof(name), "b/%03u", (step * 11) % 300);
	assert_int_equal(sstest_set(s, name, value, 0, NOW, NULL), 0);
	if (step % 5 == 2) {
		snprintf(name, sizeof(name), "a/%03u", (step * 13) % 300);
		assert_int_equal(sstest_del(s, name, NOW, NULL), 0);
	}
}

/* A tail the filter must get right: escaped bytes in a name and a value
 * under the prefix and outside it, a group that mixes both, a DEL, and a
 * group of 20 64 KiB values (over 1 MiB with escaping, past the filter's
 * first buffer). */
static void commit_tail(struct ss_store *s)
{
	static char big[SS_VALUE_MAX + 1];
	const char *names[3] = {"a/mixed", "b/mixed", "a/other"};
	const char *values[3] = {"m1", "m2", "m3"};
	const char *bnames[20];
	const char *bvalues[20];
	char store[20][8];

	assert_int_equal(sstest_set_bytes(s, "a/\x01 \xff", 6, "v \n\x00", 4, 0, NOW, NULL), 0);
	assert_int_equal(sstest_set_bytes(s, "b/\x01 \xff", 6, "w \n\x00", 4, 0, NOW, NULL), 0);
	assert_int_equal(sstest_multi_set(s, names, values, 3, NOW, NULL), 0);
	assert_int_equal(sstest_del(s, "a/001", NOW, NULL), 0);
	/* A promotion in the tail: an epoch belongs to no name, so a backup
	 * of any prefix keeps it. */
	assert_int_equal(sstest_epoch(s, 2, ss_table_revision(ss_store_table(s)), NOW, NULL), 0);
	memset(big, '\n', SS_VALUE_MAX); /* escaped to 4 bytes each */
	for (int i = 0; i < 20; i++) {
		snprintf(store[i], sizeof(store[i]), "a/big%d", i);
		bnames[i] = store[i];
		bvalues[i] = i % 2 ? big : "x";
	}
	assert_int_equal(sstest_multi_set(s, bnames, bvalues, 20, NOW, NULL), 0);
}

/* Asserts a store opened on the target holds want (a sstest_dump_full),
 * which it frees. */
static void assert_target_holds(struct fx *x, char *want)
{
	struct ss_store *b = sstest_open_history(x->target, NULL, 0, 3, NOW, NULL);
	char *got = sstest_dump_full(ss_store_table(b), NOW);

	assert_string_equal(got, want);
	free(got);
	free(want);
	ss_store_close(b);
}

static struct ss_store *filled(struct fx *x)
{
	struct ss_store *s = sstest_open_history(x->f->dir, NULL, 0, 3, NOW, NULL);
	char name[32];

	/* An epoch in the snapshot's part (and at revision 0). */
	assert_int_equal(sstest_epoch(s, 1, 0, NOW, NULL), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 300; i++) {
			snprintf(name, sizeof(name), "%c/%03d", i % 2 ? 'a' : 'b', i);
			assert_int_equal(sstest_set(s, name, round ? "two" : "one", 0, NOW, NULL), 0);
			snprintf(name, sizeof(name), "%c/%03d", i % 2 ? 'b' : 'a', i);
			assert_int_equal(sstest_set(s, name, "x", 0, NOW, NULL), 0);
		}
	return s;
}

static void backup_matches(void **state, const char *prefix)
{
	struct fx *x = *state;
	struct ss_store *s = filled(x);
	struct ss_error err = {0};
	const char *log;
	uint64_t rev;

	assert_int_equal(ss_store_backup_begin(s, 0, x->target, prefix,
					       prefix ? strlen(prefix) : 0, &log, &err), 0);
	assert_true(exists(x->partial));
	walk(s, log, prefix, commit_during_walk);
	commit_tail(s);
	rounds(s);
	/* Logged after the last round: the finish copies it. */
	assert_int_equal(sstest_set(s, "a/late", "l", 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(s, "b/late", "l", 0, NOW, NULL), 0);
	assert_int_equal(ss_store_backup_finish(s, &rev, &err), 0);
	assert_int_equal(rev, ss_table_revision(ss_store_table(s)));
	assert_false(exists(x->partial));
	char *want = sstest_dump_full(ss_store_table(s), NOW);
	if (prefix)
		want = only_prefix(want, prefix);

	/* The live store goes on. */
	assert_int_equal(sstest_set(s, "a/after", "z", 0, NOW, NULL), 0);
	ss_store_close(s);
	assert_target_holds(x, want);
}

static void test_full_backup_replays_to_the_state_as_of_its_revision(void **state)
{
	backup_matches(state, NULL);
}

static void test_prefix_backup_holds_exactly_the_prefix(void **state)
{
	backup_matches(state, "a/");
}

/* Every call of the finish failed in turn: no DIR, no DIR.partial, and the
 * live store still takes writes. (The walk's own writes are the caller's:
 * the server's failure path aborts, covered by the daemon's tests.) */
static void test_a_failed_finish_leaves_nothing(void **state)
{
	struct fx *x = *state;
	/* The finish's n-th call of each kind: the open of the backup's log,
	 * the tail's write, its fdatasync, the fsync of DIR.partial (nothing
	 * renamed yet), the rename, and the parent's fsync after it (the
	 * renamed backup is removed again). */
	static const struct {
		enum sstest_op op;
		unsigned long nth;
	} ops[] = {{SSTEST_OP_OPEN, 1},  {SSTEST_OP_PWRITE, 1}, {SSTEST_OP_FDATASYNC, 1},
		   {SSTEST_OP_FSYNC, 1}, {SSTEST_OP_RENAME, 1}, {SSTEST_OP_FSYNC, 2}};
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		struct ss_store *s = sstest_reset(x->f, 0, NOW);
		struct ss_error err = {0};
		const char *log;
		uint64_t rev;

		assert_int_equal(sstest_set(s, "a/1", "v", 0, NOW, NULL), 0);
		assert_int_equal(ss_store_backup_begin(s, 0, x->target, "a/", 2, &log, &err), 0);
		walk(s, log, "a/", NULL);
		assert_int_equal(sstest_set(s, "a/2", "w", 0, NOW, NULL), 0);
		sstest_fault_io_arm(&x->f->f, ops[k].op, ops[k].nth, EIO, 0);
		if (ss_store_backup_finish(s, &rev, &err) != -1)
			fail_msg("case %zu: the finish succeeded", k);
		assert_int_equal(err.sys_errno, EIO);
		assert_false(exists(x->target));
		assert_false(exists(x->partial));
		sstest_fault_io_disarm(&x->f->f);
		assert_int_equal(ss_store_state(s), SS_STORE_OK);
		assert_int_equal(sstest_set(s, "a/3", "x", 0, NOW, NULL), 0);
		ss_store_close(s);
	}
}

static void test_targets_in_use_are_refused(void **state)
{
	struct fx *x = *state;
	struct ss_store *s = sstest_reset(x->f, 0, NOW);
	struct ss_error err = {0};
	const char *log;
	char *inside = sstest_path(x->target, "file");

	/* DIR.partial left by an interrupted backup. */
	assert_int_equal(mkdir(x->partial, 0700), 0);
	assert_int_equal(ss_store_backup_begin(s, 0, x->target, NULL, 0, &log, &err), -1);
	assert_int_equal(err.sys_errno, EEXIST);
	assert_non_null(strstr(err.msg, "interrupted backup"));
	assert_int_equal(rmdir(x->partial), 0);
	/* A non-empty directory. */
	assert_int_equal(mkdir(x->target, 0700), 0);
	sstest_write_file(inside, "x", 1);
	assert_int_equal(ss_store_backup_begin(s, 0, x->target, NULL, 0, &log, &err), -1);
	assert_int_equal(err.sys_errno, ENOTEMPTY);
	assert_false(exists(x->partial));
	/* Restore refuses it too, and leaves it alone. */
	assert_int_equal(ss_store_restore(&ss_io_posix, x->f->log,
					  (uint64_t)sstest_file_size(x->f->log), x->target, &err),
			 -1);
	assert_int_equal(err.sys_errno, ENOTEMPTY);
	assert_true(exists(inside));
	free(inside);
	/* A target that takes a name the store uses in its data directory:
	 * its compaction's temp file, which would make every later compaction
	 * and start fail. (Another name there is allowed.) */
	char *in_data = sstest_path(x->f->dir, "statestored.log.tmp");
	assert_int_equal(ss_store_backup_begin(s, 0, in_data, NULL, 0, &log, &err), -1);
	assert_int_equal(err.sys_errno, EINVAL);
	assert_false(exists(in_data));
	free(in_data);
	assert_int_equal(ss_store_compact(s, NOW, &err), 0);
	ss_store_close(s);
}

static void test_restore_copies_a_log_into_a_new_directory(void **state)
{
	struct fx *x = *state;
	struct ss_store *s = filled(x);
	struct ss_error err = {0};
	char *want = sstest_dump_full(ss_store_table(s), NOW);

	ss_store_close(s);
	assert_int_equal(ss_store_restore(&ss_io_posix, x->f->log,
					  (uint64_t)sstest_file_size(x->f->log), x->target, &err),
			 0);
	assert_false(exists(x->partial));
	assert_target_holds(x, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_full_backup_replays_to_the_state_as_of_its_revision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_backup_holds_exactly_the_prefix,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_finish_leaves_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_targets_in_use_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_copies_a_log_into_a_new_directory,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
