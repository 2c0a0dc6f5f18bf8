/*
 * test_install.c - a replica's full sync (store.h: ss_store_install): the
 * log a primary sent, written to statestored.log.sync, becomes the store's
 * log only if the replay code would open it whole; a torn, corrupt or
 * missing download is refused with the old store open and untouched. And
 * the log's descriptor a primary streams from (ss_store_log_fd).
 *
 * Crash safety (old log or new, whole, at any crash point) is the
 * "install" crash-state workload's (tests/support/crashwl.c).
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
#include <unistd.h>

#include "sstest.h"

#define NOW INT64_C(1700000000000)

struct fx {
	struct sstest_fixture *f; /* the replica's directory */
	char *primary;            /* the primary's */
	char *sync;               /* the replica's SS_LOG_SYNC_FILE */
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	if (sstest_setup((void **)&x->f) < 0)
		return -1;
	x->primary = sstest_tmpdir();
	x->sync = sstest_path(x->f->dir, SS_LOG_SYNC_FILE);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	sstest_rmdir(x->primary);
	free(x->primary);
	free(x->sync);
	sstest_teardown((void **)&x->f);
	free(x);
	return 0;
}

static struct ss_store_options options(const struct fx *x)
{
	return (struct ss_store_options){.dir = x->f->dir, .history = 2};
}

/* A primary with a history: promoted twice, writes, a compaction (a full
 * sync sends a snapshot), more writes. Returns its log's bytes and their
 * state (sstest_dump_full) in *dump. */
static char *primary_log(const struct fx *x, size_t *len, char **dump)
{
	struct ss_store *p = sstest_open_history(x->primary, NULL, 0, 2, NOW, NULL);
	struct ss_error err = {0};
	char *path = sstest_path(x->primary, SS_LOG_FILE), *buf;

	assert_int_equal(sstest_epoch(p, 1, 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(p, "a", "1", 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(p, "b b", "x\ny", 0, NOW, NULL), 0);
	assert_int_equal(sstest_epoch(p, 2, 2, NOW, NULL), 0);
	assert_int_equal(sstest_set(p, "a", "2", 0, NOW + 1, NULL), 0);
	assert_int_equal(ss_store_compact(p, NOW + 1, &err), 0);
	assert_int_equal(sstest_set(p, "c", "3", NOW + 100000, NOW + 2, NULL), 0);
	*dump = sstest_dump_full(ss_store_table(p), NOW + 3);
	ss_store_close(p);
	buf = sstest_read_file(path, len);
	assert_non_null(buf);
	free(path);
	return buf;
}

/* The replica's own state before the sync: other names, another epoch. */
static struct ss_store *replica(const struct fx *x)
{
	struct ss_store *s = sstest_open_history(x->f->dir, NULL, 0, 2, NOW, NULL);

	assert_int_equal(sstest_epoch(s, 1, 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(s, "a", "old", 0, NOW, NULL), 0);
	assert_int_equal(sstest_set(s, "z", "old", 0, NOW, NULL), 0);
	return s;
}

/* A whole download becomes the log: the state, histories, revision and
 * epochs are the primary's, the file is gone, the new store takes writes
 * after the primary's revision, and a restart replays the same. */
static void test_a_whole_full_sync_becomes_the_log(void **state)
{
	struct fx *x = *state;
	struct ss_store_options opt = options(x);
	struct ss_store *s = replica(x), *old = s;
	struct ss_open_report rep;
	struct ss_error err = {0};
	size_t len, got_len;
	char *want, *buf = primary_log(x, &len, &want), *got, *log;

	sstest_write_file(x->sync, buf, len);
	assert_int_equal(ss_store_install(&s, &opt, NOW + 3, &rep, &err), 0);
	assert_non_null(s);
	(void)old; /* closed: not to be touched */
	assert_int_equal(err.kind, SS_ERR_NONE);
	assert_int_equal(sstest_file_size(x->sync), -1);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.removed_sync, 0);
	got = sstest_dump_full(ss_store_table(s), NOW + 3);
	assert_string_equal(got, want);
	free(got);
	assert_non_null(strstr(want, "epochs 1@0 2@2\n"));
	log = sstest_read_file(x->f->log, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(log, buf, len);
	free(log);
	assert_int_equal(sstest_set(s, "d", "4", 0, NOW + 4, NULL), 0);
	assert_int_equal(ss_table_revision(ss_store_table(s)), 5);
	want = (free(want), sstest_dump_full(ss_store_table(s), NOW + 4));
	ss_store_close(s);
	s = sstest_open_history(x->f->dir, NULL, 0, 2, NOW + 4, NULL);
	got = sstest_dump_full(ss_store_table(s), NOW + 4);
	assert_string_equal(got, want);
	ss_store_close(s);
	free(got);
	free(want);
	free(buf);
}

/* Asserts install refuses the sync file holding buf[0..len) with kind,
 * removes it, and leaves s (holding `before`) open, unchanged and
 * writable. */
static void assert_refused(struct fx *x, struct ss_store **s, const char *buf, size_t len,
			   enum ss_err_kind kind, const char *words)
{
	struct ss_store_options opt = options(x);
	struct ss_store *before = *s;
	struct ss_error err = {0};
	char *dump = sstest_dump_full(ss_store_table(*s), NOW), *after;

	if (buf)
		sstest_write_file(x->sync, buf, len);
	assert_int_equal(ss_store_install(s, &opt, NOW, NULL, &err), -1);
	assert_ptr_equal(*s, before);
	assert_int_equal(err.kind, kind);
	if (!strstr(err.msg, words))
		fail_msg("the refusal \"%s\" does not say \"%s\"", err.msg, words);
	assert_int_equal(sstest_file_size(x->sync), -1);
	after = sstest_dump_full(ss_store_table(*s), NOW);
	assert_string_equal(after, dump);
	assert_int_equal(sstest_set(*s, "still", "writable", 0, NOW, NULL), 0);
	free(dump);
	free(after);
}

/* Cut off anywhere inside its last group, the download is torn: a start
 * would cut it, so install refuses it rather than lose its end. Damage
 * before a complete group is corruption; a file that is no log, an empty
 * one, a torn header and a missing file are refused too. */
static void test_a_torn_corrupt_or_missing_full_sync_is_refused(void **state)
{
	struct fx *x = *state;
	struct ss_store *s = replica(x);
	size_t len;
	char *want, *buf = primary_log(x, &len, &want);
	size_t last = len - 6; /* where the last group's GROUP line starts */

	while (last > 0 && memcmp(buf + last - 1, "\nGROUP", 6) != 0)
		last--;
	assert_true(last > 0);
	/* Every cut inside the last group (not at its GROUP line's first
	 * byte: there the file ends at a group boundary and is whole). */
	for (size_t cut = last + 1; cut < len; cut++)
		assert_refused(x, &s, buf, cut, SS_ERR_CORRUPT, "incomplete");
	/* A byte of the first group flipped. */
	buf[strlen(SS_LOG_HEADER) + 30] ^= 1;
	assert_refused(x, &s, buf, len, SS_ERR_CORRUPT, "corrupt");
	assert_refused(x, &s, "hello\n", 6, SS_ERR_CORRUPT, "not a statestored log");
	assert_refused(x, &s, "", 0, SS_ERR_CORRUPT, "header");
	assert_refused(x, &s, SS_LOG_HEADER, 10, SS_ERR_CORRUPT, "header");
	assert_refused(x, &s, "statestored-log 9\n", 18, SS_ERR_VERSION, "version 9");
	assert_refused(x, &s, NULL, 0, SS_ERR_IO, "No such file");
	ss_store_close(s);
	free(want);
	free(buf);
}

/* The descriptor reads the log's durable bytes; a compaction switches it
 * to the new file. */
static void test_the_log_fd_reads_the_log_and_follows_a_compaction(void **state)
{
	struct fx *x = *state;
	struct ss_store *s = replica(x);
	struct ss_error err = {0};
	char buf[4096], *want;
	size_t len;
	ssize_t n;
	int fd = ss_store_log_fd(s);

	assert_true(fd >= 0);
	want = sstest_read_file(x->f->log, &len);
	assert_int_equal(len, ss_store_log_bytes(s));
	n = pread(fd, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(buf, want, len);
	free(want);
	assert_int_equal(sstest_set(s, "a", "new", 0, NOW, NULL), 0);
	assert_int_equal(ss_store_compact(s, NOW, &err), 0);
	fd = ss_store_log_fd(s);
	want = sstest_read_file(x->f->log, &len);
	n = pread(fd, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(buf, want, len);
	free(want);
	ss_store_close(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_a_whole_full_sync_becomes_the_log),
		T(test_a_torn_corrupt_or_missing_full_sync_is_refused),
		T(test_the_log_fd_reads_the_log_and_follows_a_compaction),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
