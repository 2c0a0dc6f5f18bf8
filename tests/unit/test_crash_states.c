/*
 * test_crash_states.c - every crash state of the workloads in crashwl.c (or a
 * deterministic sample of them, bounded for CI) opens and holds what was
 * acknowledged and nothing that was not; plus the crash model itself, and
 * regression tests for what the exploration found.
 *
 * The larger exploration is scripts/crash_explore.sh.
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
#include <unistd.h>

#include "crashfs.h"
#include "crashx.h"
#include "sstest.h"

#define PREALLOC 16384

struct fixture {
	char *dir;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->dir = sstest_tmpdir();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	sstest_rmdir(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

/* --- the crash model ------------------------------------------------------ */

/* The content of name in the state where unit i persisted iff bit i of
 * mask; NULL (and *len 0) if the state has no such file. */
static char *state_file(const struct crashfs_point *pt, unsigned mask, const char *name,
			size_t *len)
{
	unsigned char on[32];
	struct crashfs_image img;
	char *out = NULL;

	assert_true(pt->nunits <= 32);
	for (size_t i = 0; i < pt->nunits; i++)
		on[i] = (mask >> i) & 1;
	crashfs_image_build(&img, pt, on);
	*len = 0;
	for (size_t i = 0; i < img.n; i++) {
		if (strcmp(img.ent[i].name, name) == 0) {
			*len = img.data[i].len;
			out = malloc(*len + 1);
			memcpy(out, img.data[i].buf, *len);
		}
	}
	crashfs_image_free(&img);
	return out;
}

static void test_an_unsynced_write_tears_into_any_subset_of_its_sectors(void **state)
{
	struct fixture *fx = *state;
	struct crashfs c;
	struct crashfs_point pt;
	char *path = sstest_path(fx->dir, "f"), *got, buf[1300];
	size_t len;
	int fd;

	memset(buf, 'x', sizeof(buf));
	crashfs_init(&c, fx->dir);
	fd = c.io.open(c.io.ctx, path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(c.io.pwrite(c.io.ctx, fd, buf, sizeof(buf), 100), sizeof(buf));
	c.io.close(c.io.ctx, fd);

	crashfs_point_init(&pt, &c, crashfs_nops(&c), 512);
	/* The creation, and the pieces [100,512) [512,1024) [1024,1400). */
	assert_int_equal(pt.nunits, 4);
	assert_int_equal(pt.units[1].len, 412);
	assert_int_equal(pt.units[3].len, 376);
	got = state_file(&pt, 0x0, "f", &len); /* the creation did not persist */
	assert_null(got);
	got = state_file(&pt, 0x1, "f", &len); /* an empty file */
	assert_non_null(got);
	assert_int_equal(len, 0);
	free(got);
	got = state_file(&pt, 0x1 | 0x4, "f", &len); /* only the middle piece: holes */
	assert_int_equal(len, 1024);
	assert_int_equal(got[0], 0);
	assert_int_equal(got[511], 0);
	assert_int_equal(got[512], 'x');
	free(got);
	got = state_file(&pt, 0xf, "f", &len);
	assert_int_equal(len, 1400);
	assert_int_equal(got[100], 'x');
	free(got);
	crashfs_point_free(&pt);
	crashfs_free(&c);
	free(path);
}

static void test_fsync_makes_data_durable_and_directory_fsync_names(void **state)
{
	struct fixture *fx = *state;
	struct crashfs c;
	struct crashfs_point pt;
	char *a = sstest_path(fx->dir, "a"), *b = sstest_path(fx->dir, "b"), *got;
	size_t len;
	int fd, dfd;

	crashfs_init(&c, fx->dir);
	fd = c.io.open(c.io.ctx, a, O_RDWR | O_CREAT, 0644);
	assert_int_equal(c.io.pwrite(c.io.ctx, fd, "hello", 5, 0), 5);
	assert_int_equal(c.io.fdatasync(c.io.ctx, fd), 0);
	dfd = c.io.open(c.io.ctx, fx->dir, O_RDONLY | O_DIRECTORY, 0);
	assert_int_equal(c.io.fsync(c.io.ctx, dfd), 0);
	c.io.close(c.io.ctx, dfd);
	/* Renamed, then written through the old fd: the inode moved. */
	assert_int_equal(c.io.rename(c.io.ctx, a, b), 0);
	assert_int_equal(c.io.pwrite(c.io.ctx, fd, "J", 1, 0), 1);
	c.io.close(c.io.ctx, fd);

	crashfs_point_init(&pt, &c, crashfs_nops(&c), 512);
	assert_int_equal(pt.nunits, 2); /* the rename, the write */
	got = state_file(&pt, 0x0, "a", &len);
	assert_memory_equal(got, "hello", 5);
	free(got);
	got = state_file(&pt, 0x2, "a", &len);
	assert_memory_equal(got, "Jello", 5);
	free(got);
	got = state_file(&pt, 0x1, "b", &len); /* renamed, the write lost */
	assert_memory_equal(got, "hello", 5);
	free(got);
	assert_null(state_file(&pt, 0x1, "a", &len));
	crashfs_point_free(&pt);
	crashfs_free(&c);
	free(a);
	free(b);
}

static void test_small_points_are_enumerated_and_large_ones_sampled(void **state)
{
	struct fixture *fx = *state;
	struct crashfs c;
	struct crashfs_point pt;
	struct crashfs_iter it;
	unsigned char on[64];
	char *path = sstest_path(fx->dir, "f"), buf[8192] = {0};
	size_t n = 0;
	int fd;

	crashfs_init(&c, fx->dir);
	fd = c.io.open(c.io.ctx, path, O_RDWR | O_CREAT, 0644);
	assert_int_equal(c.io.pwrite(c.io.ctx, fd, buf, 1024, 0), 1024);
	crashfs_point_init(&pt, &c, crashfs_nops(&c), 512);
	crashfs_iter_init(&it, &pt, 100, 1);
	assert_true(it.exhaustive);
	while (crashfs_iter_next(&it, on))
		n++;
	assert_int_equal(n, 8);
	crashfs_point_free(&pt);

	assert_int_equal(c.io.pwrite(c.io.ctx, fd, buf, sizeof(buf), 1024), sizeof(buf));
	c.io.close(c.io.ctx, fd);
	crashfs_point_init(&pt, &c, crashfs_nops(&c), 512);
	crashfs_iter_init(&it, &pt, 100, 1);
	assert_false(it.exhaustive);
	for (n = 0; crashfs_iter_next(&it, on); n++) {
		for (size_t i = 0; n < 2 && i < pt.nunits; i++)
			assert_int_equal(on[i], n == 0); /* all, then none */
	}
	assert_int_equal(n, 100);
	crashfs_point_free(&pt);
	crashfs_free(&c);
	free(path);
}

/* --- regressions: what the exploration found ------------------------------- */

#define T0 INT64_C(1700000000000)

/* Found by every workload: one batch is one pwrite of several sectors, and
 * a disk need not write them in order. If a crash keeps a later sector of a
 * batch never acknowledged but loses an earlier one, the log ends in a
 * damaged record followed by a valid one. Replay took that for corruption
 * and refused to start (SS_ERR_CORRUPT) although nothing acknowledged was
 * damaged; and when the lost sector was the last, it applied the batch's
 * first records without the rest. Each state with exactly one sector of the
 * batch lost must open, with the acknowledged batch and all or none of the
 * torn one. */
static void a_batch_torn_at_any_one_sector_opens_whole_or_not_at_all(const char *dir,
								   size_t prealloc)
{
	struct crashx_run r;
	struct crashfs_point pt;
	struct crashfs_image img;
	unsigned char on[64];
	size_t k, bad = 0;

	crashx_run_init(&r, "torn-batch", prealloc, NULL);
	crashx_run_open(&r, T0);
	crashx_run_set(&r, "a", 600, 0);
	crashx_run_commit(&r, T0);
	crashx_run_set(&r, "b", 1500, 0);
	crashx_run_set(&r, "c", 1500, 0);
	crashx_run_write_only(&r);
	k = crashfs_nops(&r.fs);
	crashx_run_close(&r);

	crashfs_point_init(&pt, &r.fs, k, 512);
	assert_in_range(pt.nunits, 5, sizeof(on));
	for (size_t lost = 0; lost < pt.nunits; lost++) {
		char *msg;

		assert_int_equal(pt.units[lost].op, pt.units[0].op); /* one write */
		memset(on, 1, pt.nunits);
		on[lost] = 0;
		crashfs_image_build(&img, &pt, on);
		crashfs_image_write(&img, dir);
		crashfs_image_free(&img);
		msg = crashx_check(&r.m, k, dir, prealloc, T0 + 10, 1);
		if (msg) {
			char *where = crashfs_state_describe(&pt, on);

			fprintf(stderr, "prealloc %zu, %s: %s\n", prealloc, where, msg);
			free(where);
			free(msg);
			bad++;
		}
	}
	crashfs_point_free(&pt);
	crashx_run_free(&r);
	assert_int_equal(bad, 0);
}

static void test_a_batch_torn_at_any_one_sector_opens_whole_or_not_at_all(void **state)
{
	struct fixture *fx = *state;

	a_batch_torn_at_any_one_sector_opens_whole_or_not_at_all(fx->dir, 0);
}

/* The same inside the preallocated region: the lost sector reads as zeros. */
static void test_a_preallocated_batch_torn_at_any_one_sector_opens(void **state)
{
	struct fixture *fx = *state;

	a_batch_torn_at_any_one_sector_opens_whole_or_not_at_all(fx->dir, PREALLOC);
}

/* --- the workloads ----------------------------------------------------------- */

static struct crashx_opts ci_opts(void)
{
	return (struct crashx_opts){.max_states = 128,
				    .seed = 20240601,
				    .chunk = 512,
				    .atomic_batches = 1,
				    .out = stderr,
				    .max_reports = 3};
}

/* Explores workload with preallocation off and on; fails after both if
 * either found a violation. */
static void explore(const char *workload)
{
	struct crashx_opts o = ci_opts();
	const struct crashx_workload *w = NULL;
	const size_t prealloc[] = {0, PREALLOC};
	size_t violations = 0;
	char first[2048] = "";

	for (size_t i = 0; i < crashx_nworkloads; i++) {
		if (strcmp(crashx_workloads[i].name, workload) == 0)
			w = &crashx_workloads[i];
	}
	assert_non_null(w);
	for (size_t p = 0; p < 2; p++) {
		struct crashx_result res = {0};

		crashx_run_workload(w, prealloc[p], &o, &res);
		printf("crash states: %-15s prealloc %-6zu %4zu crash points, %6zu states "
		       "checked, %zu violations\n",
		       workload, prealloc[p], res.points, res.states, res.violations);
		violations += res.violations;
		if (!first[0] && res.first)
			snprintf(first, sizeof(first), "%s", res.first);
		crashx_result_free(&res);
	}
	if (violations)
		fail_msg("%zu violations; the first: %s", violations, first);
}

static void test_every_crash_state_of_sets_holds_what_was_acknowledged(void **state)
{
	(void)state;
	explore("sets");
}

static void test_every_crash_state_of_syncs_on_the_thread_holds_what_was_acknowledged(void **state)
{
	(void)state;
	explore("split-sync");
}

static void test_every_crash_state_of_large_values_holds_them_whole(void **state)
{
	(void)state;
	explore("big");
}

static void test_every_crash_state_of_large_batches_holds_whole_batches(void **state)
{
	(void)state;
	explore("many");
}

static void test_every_crash_state_keeps_expiries_absolute(void **state)
{
	(void)state;
	explore("ttl");
}

static void test_every_crash_state_keeps_acknowledged_deletes(void **state)
{
	(void)state;
	explore("dels");
}

static void test_every_crash_state_of_a_compaction_is_the_old_log_or_the_new(void **state)
{
	(void)state;
	explore("compact");
}

static void test_every_crash_state_of_a_compaction_with_a_tail_loses_nothing(void **state)
{
	(void)state;
	explore("compact-bg");
}

/* The walk as the server runs it: snapshot steps over the live table with
 * commits between them (names walked and not yet reached), the tail
 * overlapping the snapshot. */
static void test_every_crash_state_of_a_walk_under_commits_loses_nothing(void **state)
{
	(void)state;
	explore("compact-walk");
}

/* BACKUP: whatever persisted of DIR.partial, its rename and the live log,
 * a DIR that is there holds exactly the state as of the finish's revision,
 * and the live store what was acknowledged. */
static void test_every_crash_state_of_a_backup_is_no_backup_or_a_whole_one(void **state)
{
	(void)state;
	explore("backup");
}

/* ... and of a store never written: its backup is an empty one, at
 * revision 0 (it once failed, a REVISION record of 0 being invalid). */
static void test_every_crash_state_of_a_backup_of_nothing_is_an_empty_one(void **state)
{
	(void)state;
	explore("backup-empty");
}

static void test_every_crash_state_after_a_torn_tail_was_cut_opens(void **state)
{
	(void)state;
	explore("torn-append");
}

static void test_every_crash_state_holds_multi_commits_whole_or_not_at_all(void **state)
{
	(void)state;
	explore("multi");
}

static void test_every_crash_state_keeps_cas_revisions_and_commit_times(void **state)
{
	(void)state;
	explore("cas");
}

static void test_every_crash_state_keeps_rollbacks_and_their_histories(void **state)
{
	(void)state;
	explore("rollback");
}

static void test_every_crash_state_holds_transactions_whole_or_not_at_all(void **state)
{
	(void)state;
	explore("txn");
}

static void test_every_crash_state_of_snapshots_keeps_histories_and_revision(void **state)
{
	(void)state;
	explore("history-compact");
}

/* Replication: a replica logs the primary's groups it decoded and
 * re-encoded, and applies them later; every state is whole groups, and
 * holds a prefix of the epochs. */
static void test_every_crash_state_of_a_replica_holds_whole_received_groups(void **state)
{
	(void)state;
	explore("replica");
}

/* A full sync: a torn download is refused with the old store untouched;
 * a whole one replaces the log - every state is the old log or the new. */
static void test_every_crash_state_of_a_full_sync_is_the_old_log_or_the_new(void **state)
{
	(void)state;
	explore("install");
}

/* A deposed primary's cut: every state is the old log or the cut one, and
 * once the open returned, what it discarded never comes back. */
static void test_every_crash_state_of_a_cut_is_the_old_log_or_the_cut_one(void **state)
{
	(void)state;
	explore("truncate");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_an_unsynced_write_tears_into_any_subset_of_its_sectors),
		T(test_fsync_makes_data_durable_and_directory_fsync_names),
		T(test_small_points_are_enumerated_and_large_ones_sampled),
		T(test_a_batch_torn_at_any_one_sector_opens_whole_or_not_at_all),
		T(test_a_preallocated_batch_torn_at_any_one_sector_opens),
		cmocka_unit_test(test_every_crash_state_of_sets_holds_what_was_acknowledged),
		cmocka_unit_test(test_every_crash_state_of_syncs_on_the_thread_holds_what_was_acknowledged),
		cmocka_unit_test(test_every_crash_state_of_large_values_holds_them_whole),
		cmocka_unit_test(test_every_crash_state_of_large_batches_holds_whole_batches),
		cmocka_unit_test(test_every_crash_state_keeps_expiries_absolute),
		cmocka_unit_test(test_every_crash_state_keeps_acknowledged_deletes),
		cmocka_unit_test(test_every_crash_state_of_a_compaction_is_the_old_log_or_the_new),
		cmocka_unit_test(test_every_crash_state_of_a_compaction_with_a_tail_loses_nothing),
		cmocka_unit_test(test_every_crash_state_of_a_walk_under_commits_loses_nothing),
		cmocka_unit_test(test_every_crash_state_of_a_backup_is_no_backup_or_a_whole_one),
		cmocka_unit_test(test_every_crash_state_of_a_backup_of_nothing_is_an_empty_one),
		cmocka_unit_test(test_every_crash_state_after_a_torn_tail_was_cut_opens),
		cmocka_unit_test(test_every_crash_state_holds_multi_commits_whole_or_not_at_all),
		cmocka_unit_test(test_every_crash_state_keeps_cas_revisions_and_commit_times),
		cmocka_unit_test(test_every_crash_state_keeps_rollbacks_and_their_histories),
		cmocka_unit_test(test_every_crash_state_of_snapshots_keeps_histories_and_revision),
		cmocka_unit_test(test_every_crash_state_holds_transactions_whole_or_not_at_all),
		cmocka_unit_test(test_every_crash_state_of_a_replica_holds_whole_received_groups),
		cmocka_unit_test(test_every_crash_state_of_a_full_sync_is_the_old_log_or_the_new),
		cmocka_unit_test(test_every_crash_state_of_a_cut_is_the_old_log_or_the_cut_one),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
